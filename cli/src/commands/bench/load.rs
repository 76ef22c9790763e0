//! Signing and offering the load, and the tally of what happens to each transaction.
//!
//! Every transaction is signed before it is offered ([`Signer`]), then submitted with its
//! instant recorded in [`Tally::pending`]; [`watch_commits`] removes it from there when its
//! block arrives and records the latency. In closed loop the pending entry also holds the
//! endpoint's slot, so a commit (or a refusal) is what lets the next transaction go.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Result;
use cassia_api::{ApiError, Client};
use cassia_crypto::{GenesisHash, Hash, Keypair};
use cassia_ledger::{Operation, SignedTransaction, Transaction, codec};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;

/// Most unanswered submissions per endpoint in open loop; when reached the generator waits
/// for an answer, so it falls behind its schedule (visible as `submitted < rate × duration`).
pub const MAX_OPEN_LOOP_IN_FLIGHT: usize = 1024;
/// Blocks after the current height each transaction stays valid (the default genesis allows
/// 1000, `max_tx_ttl`); at the default 200 ms block interval, about 100 s.
pub const TTL_BLOCKS: u64 = 500;
/// Most commit latencies recorded (8 bytes each); later commits are counted but not timed.
pub const MAX_LATENCY_SAMPLES: usize = 10_000_000;
/// Committed transactions whose receipts are read back after the run, to show they succeeded.
pub const RECEIPT_SAMPLE: usize = 16;
/// Transactions the closed-loop refill thread signs per batch.
const REFILL_BATCH: usize = 256;
/// Closed loop: the refill thread starts signing when fewer pre-signed transactions are left.
const REFILL_LOW_WATER: usize = 4096;

/// A signed transaction and its id, computed before the clock starts.
pub(super) struct Prepared {
    pub(super) id: Hash,
    pub(super) transaction: SignedTransaction,
}

/// Signs the run's transactions: `Notarize` of a distinct digest each, metadata padded to the
/// encoded size asked for.
#[derive(Clone)]
pub(super) struct Signer {
    key: Arc<Keypair>,
    chain_id: String,
    genesis: GenesisHash,
    /// Distinguishes this run's digests and nonces from every other run's.
    seed: u64,
    metadata: String,
    pub(super) tx_bytes: usize,
}

impl Signer {
    pub(super) fn new(
        key: Keypair,
        (chain_id, genesis): (String, GenesisHash),
        tx_bytes: usize,
    ) -> Result<Signer> {
        let mut signer = Signer {
            key: Arc::new(key),
            chain_id,
            genesis,
            seed: cassia_crypto::random_u64()?,
            metadata: String::new(),
            tx_bytes: 0,
        };
        let bare = codec::encode(&signer.sign(0, 0).transaction).len();
        signer.metadata = "cassia bench ".repeat(tx_bytes.saturating_sub(bare) / 13 + 1);
        signer.metadata.truncate(tx_bytes.saturating_sub(bare));
        // The metadata's length prefix may grow with it: trim until the size fits.
        while codec::encode(&signer.sign(0, 0).transaction).len() > tx_bytes
            && signer.metadata.pop().is_some()
        {}
        signer.tx_bytes = codec::encode(&signer.sign(0, 0).transaction).len();
        Ok(signer)
    }

    fn sign(&self, index: u64, valid_until: u64) -> Prepared {
        let digest = Hash::of_parts(&[
            b"cassia-bench",
            &self.seed.to_le_bytes(),
            &index.to_le_bytes(),
        ]);
        let transaction = Transaction {
            chain_id: self.chain_id.clone(),
            signer: self.key.public(),
            nonce: self.seed.wrapping_add(index),
            valid_until,
            op: Operation::Notarize {
                digest,
                metadata: self.metadata.clone(),
                co_signers: Vec::new(),
            },
        }
        .sign(&self.genesis, &self.key);
        Prepared {
            id: transaction.id(),
            transaction,
        }
    }

    /// Signs transactions `first..first + count` on every core.
    pub(super) fn sign_many(&self, first: u64, count: usize, valid_until: u64) -> Vec<Prepared> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = count.div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count)
                .step_by(chunk)
                .map(|start| {
                    let end = (start + chunk).min(count);
                    scope.spawn(move || {
                        (start..end)
                            .map(|i| self.sign(first + u64::try_from(i).unwrap_or(0), valid_until))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("a signing thread does not panic"))
                .collect()
        })
    }
}

/// Closed loop: when fewer than [`REFILL_LOW_WATER`] pre-signed transactions are left, signs
/// more, until the run drops the pool.
pub(super) fn refill_pool(
    signer: &Signer,
    mut next: u64,
    sender: &mpsc::Sender<Prepared>,
    tally: &Tally,
) {
    let threshold = sender.max_capacity().saturating_sub(REFILL_LOW_WATER);
    loop {
        // Nothing is signed while the pre-signed pool lasts.
        while sender.capacity() < threshold {
            if sender.is_closed() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let valid_until = tally.height.load(Ordering::Relaxed) + TTL_BLOCKS;
        for prepared in signer.sign_many(next, REFILL_BATCH, valid_until) {
            if sender.blocking_send(prepared).is_err() {
                return;
            }
        }
        next += REFILL_BATCH as u64;
        tally
            .signed_during_run
            .fetch_add(REFILL_BATCH as u64, Ordering::Relaxed);
    }
}

/// How long a submission holds its endpoint's slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hold {
    /// Until the node answers `Submit` (open loop: bounds unanswered calls only).
    UntilAnswered,
    /// Until the transaction is seen committed or is refused (closed loop).
    UntilCommitted,
}

/// Open loop: transaction `k` at `k / rate` seconds, round-robin over the endpoints.
pub(super) async fn offer_open_loop(
    clients: Vec<Client>,
    mut pool: mpsc::Receiver<Prepared>,
    rate: u32,
    deadline: Instant,
    tally: Arc<Tally>,
) {
    let slots: Vec<Arc<Semaphore>> = clients
        .iter()
        .map(|_| Arc::new(Semaphore::new(MAX_OPEN_LOOP_IN_FLIGHT)))
        .collect();
    let mut submissions = JoinSet::new();
    let mut sent: u64 = 0;
    'run: while Instant::now() < deadline {
        let elapsed = tally.start().elapsed().as_micros();
        let due = u64::try_from(elapsed * u128::from(rate) / 1_000_000).unwrap_or(u64::MAX);
        while sent < due {
            let endpoint = usize::try_from(sent % clients.len() as u64).unwrap_or(0);
            let Ok(slot) = Arc::clone(&slots[endpoint]).acquire_owned().await else {
                break 'run;
            };
            let Some(prepared) = pool.recv().await else {
                break 'run;
            };
            let (mut client, tally) = (clients[endpoint].clone(), Arc::clone(&tally));
            submissions.spawn(async move {
                submit_one(&mut client, prepared, &tally, slot, Hold::UntilAnswered).await;
            });
            sent += 1;
            while submissions.try_join_next().is_some() {}
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    while submissions.join_next().await.is_some() {}
}

/// Closed loop: per endpoint, at most `in_flight` transactions submitted and not yet seen
/// committed (or refused); each commit frees a slot for the next submission at once.
pub(super) async fn offer_closed_loop(
    clients: Vec<Client>,
    pool: mpsc::Receiver<Prepared>,
    in_flight: usize,
    deadline: Instant,
    tally: Arc<Tally>,
) {
    let pool = Arc::new(tokio::sync::Mutex::new(pool));
    let mut dispatchers = JoinSet::new();
    for client in clients {
        let (pool, tally) = (Arc::clone(&pool), Arc::clone(&tally));
        let slots = Arc::new(Semaphore::new(in_flight));
        dispatchers.spawn(async move {
            let mut submissions = JoinSet::new();
            let deadline = tokio::time::Instant::from_std(deadline);
            while let Ok(Ok(slot)) =
                tokio::time::timeout_at(deadline, Arc::clone(&slots).acquire_owned()).await
            {
                let Some(prepared) = pool.lock().await.recv().await else {
                    break;
                };
                let (mut client, tally) = (client.clone(), Arc::clone(&tally));
                submissions.spawn(async move {
                    submit_one(&mut client, prepared, &tally, slot, Hold::UntilCommitted).await;
                });
                while submissions.try_join_next().is_some() {}
            }
            while submissions.join_next().await.is_some() {}
        });
    }
    while dispatchers.join_next().await.is_some() {}
}

/// Submits one transaction; `slot` is given back as `hold` says.
async fn submit_one(
    client: &mut Client,
    prepared: Prepared,
    tally: &Tally,
    slot: OwnedSemaphorePermit,
    hold: Hold,
) {
    let (held_until_commit, held_until_answer) = match hold {
        Hold::UntilCommitted => (Some(slot), None),
        Hold::UntilAnswered => (None, Some(slot)),
    };
    tally.submitting(prepared.id, held_until_commit);
    let result = client.submit(&prepared.transaction).await;
    drop(held_until_answer);
    match result {
        Ok(_) => {
            tally.acknowledged.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) => tally.rejected(&prepared.id, reason_of(&error)),
    }
}

/// The rejection reason: the gRPC status code, or what else went wrong.
fn reason_of(error: &ApiError) -> String {
    match error {
        ApiError::Status(status) => format!("{:?}", status.code()),
        ApiError::Connect { .. } => "connect".into(),
        ApiError::Malformed(_) => "malformed_response".into(),
    }
}

/// Follows committed blocks from `from_height`, timing this run's transactions.
pub(super) async fn watch_commits(
    mut client: Client,
    from_height: u64,
    tally: Arc<Tally>,
) -> Result<()> {
    let mut stream = client.subscribe_blocks(from_height, true).await?;
    while let Some(response) = stream.message().await? {
        let arrival = Instant::now();
        let block = cassia_api::certified_block_from(&response)?;
        tally.committed_block(block.block.header.height, &block.tx_ids, arrival);
    }
    Ok(())
}

/// Locks a mutex, ignoring poisoning (the tallies stay meaningful if a task panicked).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Everything the run counts, shared by the submitting tasks, the watcher and the progress
/// line.
pub(super) struct Tally {
    /// When the clock started ([`Tally::start`]).
    pub(super) started: OnceLock<Instant>,
    pub(super) first_submission: OnceLock<Instant>,
    pub(super) submitted: AtomicU64,
    pub(super) acknowledged: AtomicU64,
    pub(super) committed: AtomicU64,
    pub(super) signed_during_run: AtomicU64,
    /// Last committed height the watcher saw.
    pub(super) height: AtomicU64,
    /// Submitted transactions not yet committed nor refused.
    pending: Mutex<HashMap<Hash, Pending>>,
    pub(super) outcome: Mutex<Outcome>,
}

/// A submitted transaction not yet seen committed nor refused.
struct Pending {
    submitted: Instant,
    /// Closed loop: the endpoint's slot, freed when this entry is removed.
    _slot: Option<OwnedSemaphorePermit>,
}

/// The parts of [`Tally`] that are more than counters.
#[derive(Default)]
pub(super) struct Outcome {
    pub(super) latencies_micros: Vec<u64>,
    pub(super) rejected: BTreeMap<String, u64>,
    pub(super) last_commit: Option<Instant>,
    pub(super) blocks: BlockStats,
    /// The first [`RECEIPT_SAMPLE`] of this run's committed transactions, whose receipts are
    /// read back after the run.
    pub(super) receipt_sample: Vec<Hash>,
}

/// Blocks the watcher saw after the clock started.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(super) struct BlockStats {
    /// Blocks seen.
    pub(super) count: u64,
    /// Transactions in them (of any client).
    pub(super) transactions: u64,
    /// Most transactions in one block.
    pub(super) max_transactions: u64,
    #[serde(skip)]
    pub(super) first_arrival: Option<Instant>,
    #[serde(skip)]
    pub(super) last_arrival: Option<Instant>,
}

impl Tally {
    pub(super) fn new(height: u64) -> Tally {
        Tally {
            started: OnceLock::new(),
            first_submission: OnceLock::new(),
            submitted: AtomicU64::new(0),
            acknowledged: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            signed_during_run: AtomicU64::new(0),
            height: AtomicU64::new(height),
            pending: Mutex::new(HashMap::new()),
            outcome: Mutex::new(Outcome::default()),
        }
    }

    /// Starts the clock (the first call does; later ones change nothing).
    pub(super) fn start(&self) -> Instant {
        *self.started.get_or_init(Instant::now)
    }

    fn submitting(&self, id: Hash, slot: Option<OwnedSemaphorePermit>) {
        let submitted = Instant::now();
        self.first_submission.get_or_init(|| submitted);
        let pending = Pending {
            submitted,
            _slot: slot,
        };
        lock(&self.pending).insert(id, pending);
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }

    fn rejected(&self, id: &Hash, reason: String) {
        lock(&self.pending).remove(id);
        *lock(&self.outcome).rejected.entry(reason).or_insert(0) += 1;
    }

    pub(super) fn pending(&self) -> usize {
        lock(&self.pending).len()
    }

    fn committed_block(&self, height: u64, tx_ids: &[Hash], arrival: Instant) {
        self.height.fetch_max(height, Ordering::Relaxed);
        let ours: Vec<(Hash, Instant)> = {
            let mut pending = lock(&self.pending);
            tx_ids
                .iter()
                .filter_map(|id| Some((*id, pending.remove(id)?.submitted)))
                .collect()
        };
        let mut outcome = lock(&self.outcome);
        if self
            .started
            .get()
            .is_some_and(|started| arrival >= *started)
        {
            outcome.blocks.record(tx_ids.len() as u64, arrival);
        }
        if !ours.is_empty() {
            outcome.record_commits(&ours, arrival);
            self.committed
                .fetch_add(ours.len() as u64, Ordering::Relaxed);
        }
    }
}

impl Outcome {
    /// Records this run's transactions committed in a block that arrived at `arrival`.
    fn record_commits(&mut self, ours: &[(Hash, Instant)], arrival: Instant) {
        for (id, submitted) in ours {
            if self.latencies_micros.len() < MAX_LATENCY_SAMPLES {
                let micros = arrival.saturating_duration_since(*submitted).as_micros();
                self.latencies_micros
                    .push(u64::try_from(micros).unwrap_or(u64::MAX));
            }
            if self.receipt_sample.len() < RECEIPT_SAMPLE {
                self.receipt_sample.push(*id);
            }
        }
        self.last_commit = Some(arrival);
    }
}

impl BlockStats {
    /// Records a block of `transactions` that arrived at `arrival`.
    fn record(&mut self, transactions: u64, arrival: Instant) {
        self.count += 1;
        self.transactions += transactions;
        self.max_transactions = self.max_transactions.max(transactions);
        self.first_arrival.get_or_insert(arrival);
        self.last_arrival = Some(arrival);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactions_are_padded_to_the_size_asked_for_and_distinct() {
        let signer = Signer::new(
            Keypair::generate(),
            ("bench".into(), GenesisHash(Hash::of(b"bench"))),
            200,
        )
        .expect("random seed");
        assert_eq!(signer.tx_bytes, 200);
        let pool = signer.sign_many(0, 10, 100);
        assert_eq!(pool.len(), 10);
        let ids: std::collections::BTreeSet<Hash> = pool.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), 10);
        assert!(
            pool.iter()
                .all(|p| codec::encode(&p.transaction).len() == 200)
        );
    }
}
