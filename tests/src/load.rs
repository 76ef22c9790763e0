//! A steady transaction load for cluster tests: a background thread signs notarizations (any
//! organization admin may notarize) and submits them round-robin to a set of gRPC endpoints at
//! a fixed rate, remembering every transaction a node acknowledged (admitted) and counting
//! refusals by status code.
//!
//! Nodes that are down simply refuse (counted as `unavailable`); the load goes on, so tests can
//! kill and restart validators underneath it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use cassia_api::{ApiError, Client};
use cassia_crypto::{GenesisHash, Hash, Keypair};
use cassia_ledger::{Operation, Transaction};

/// What a load run did.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Ids of transactions a node admitted.
    pub acknowledged: Vec<Hash>,
    /// Which endpoint acknowledged each, and when: to trace a lost one to the fault that lost it.
    pub origins: BTreeMap<Hash, Acknowledgement>,
    /// Refusals by gRPC status code (or `connect`).
    pub refused: BTreeMap<String, u64>,
}

/// Where and when a transaction was acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The index of the endpoint (in the list given to [`Load::start`]).
    pub endpoint: usize,
    /// Time since the load started.
    pub after: Duration,
}

/// A running load; [`Load::stop`] ends it and returns the report.
pub struct Load {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<LoadReport>>,
}

impl Load {
    /// Starts submitting `rate` transactions per second over `endpoints`, signed by `key` for
    /// the chain the nodes report (as a client would), each valid for `ttl` blocks from the
    /// height its node reported.
    pub fn start(endpoints: Vec<String>, key: Keypair, rate: u32, ttl: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("load runtime");
            runtime.block_on(run(endpoints, key, rate.max(1), ttl, flag))
        });
        Load {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the load and returns what it did.
    pub fn stop(mut self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .map(|t| t.join().expect("the load thread panicked"))
            .unwrap_or_default()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

async fn run(
    endpoints: Vec<String>,
    key: Keypair,
    rate: u32,
    ttl: u64,
    stop: Arc<AtomicBool>,
) -> LoadReport {
    let mut report = LoadReport::default();
    let started = std::time::Instant::now();
    let mut clients: Vec<Option<Client>> = endpoints.iter().map(|_| None).collect();
    let mut heights = vec![0u64; endpoints.len()];
    let mut sent = vec![0u64; endpoints.len()];
    // What each node says the chain is: (chain id, genesis hash).
    let mut chains: Vec<Option<(String, GenesisHash)>> = endpoints.iter().map(|_| None).collect();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    let mut nonce = 0u64;
    while !stop.load(Ordering::SeqCst) {
        ticker.tick().await;
        let i = usize::try_from(nonce).unwrap_or(0) % endpoints.len();
        nonce += 1;
        if clients[i].is_none() {
            clients[i] = Client::connect(&endpoints[i]).await.ok();
        }
        let Some(client) = clients[i].as_mut() else {
            *report.refused.entry("connect".into()).or_insert(0) += 1;
            continue;
        };
        // Each node's height is asked again every 32 of its own submissions, so valid_until
        // follows the chain on every node. (It used to be asked when the global count was
        // 1 mod 32, which with round-robin is always the same node: the others' transactions
        // kept the valid_until of the first minute, and from about height 500 on were admitted
        // only to expire, or refused.)
        sent[i] += 1;
        if (sent[i] % 32 == 1 || chains[i].is_none())
            && let Ok(status) = client.status().await
        {
            heights[i] = status.height;
            chains[i] = Some((status.chain_id, status.genesis));
        }
        let Some((chain_id, genesis)) = chains[i].clone() else {
            *report.refused.entry("status".into()).or_insert(0) += 1;
            continue;
        };
        let tx = Transaction {
            chain_id,
            signer: key.public(),
            nonce,
            valid_until: heights[i] + ttl,
            op: Operation::Notarize {
                digest: Hash::of(&nonce.to_be_bytes()),
                metadata: "x".repeat(200),
                co_signers: Vec::new(),
            },
        }
        .sign(&genesis, &key);
        match client.submit(&tx).await {
            Ok(id) => {
                report.acknowledged.push(id);
                let acknowledgement = Acknowledgement {
                    endpoint: i,
                    after: started.elapsed(),
                };
                report.origins.insert(id, acknowledgement);
            }
            Err(ApiError::Status(status)) => {
                *report
                    .refused
                    .entry(format!("{:?}", status.code()))
                    .or_insert(0) += 1;
                if status.code() == tonic::Code::Unavailable {
                    clients[i] = None;
                }
            }
            Err(_) => {
                *report.refused.entry("other".into()).or_insert(0) += 1;
                clients[i] = None;
            }
        }
    }
    report
}
