//! The cluster fault harness: real node processes under a transaction load, one fault per
//! round, every link through the partition proxy. The faults, in turn: the current leader
//! killed with SIGKILL, a random validator killed, a random validator cut off by a partition,
//! a random validator stopped cleanly (SIGTERM), a random validator's sent bytes held (one
//! way); each lasts until the others have committed a few blocks, then the node returns. At the
//! end it checks what a consortium must be able to rely on:
//!
//! - **agreement**: every node holds the same block hash and state root at every height;
//! - **no equivocation**: no node signed two different statements for one
//!   `(height, view, kind)`, read from the log of every statement each node signed
//!   (`test-node --signed-log`, see [`crate::signed_log`], written before the statement leaves
//!   the node), and, judged from what the others received, no node kept a proof of
//!   equivocation against anyone (gRPC `Misbehaviour`);
//! - **durability**: every transaction a node acknowledged, as committed (SubmitAndWait) or as
//!   admitted by the background load (Submit), has a receipt on every node at the end. Each
//!   lost one of the load is traced: which node acknowledged it, when, and during which round's
//!   fault.
//!
//! `cargo run --release -p cassia-tests --bin chaos -- --rounds N` (or `--minutes M`, the soak)
//! prints `rounds: N, divergent blocks: 0, equivocations: 0, lost acknowledged txs: 0`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cassia_api::Client;
use cassia_crypto::Hash;
use cassia_ledger::{Operation, Transaction};

use crate::agreement;
use crate::load::{Acknowledgement, Load};
use crate::process::ProcessCluster;
use crate::rng::Rng;

/// Bounded waits: a loaded CI machine is slow, and nothing here measures speed.
const WAIT: Duration = Duration::from_secs(120);
/// The validators of the devnet the harness starts.
const NODES: [usize; 4] = [0, 1, 2, 3];

/// What the rounds found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChaosReport {
    /// Rounds run.
    pub rounds: u64,
    /// Heights at which two nodes hold different blocks or state roots.
    pub divergent_blocks: u64,
    /// `(signer, height, view, kind)` with more than one signed statement.
    pub equivocations: u64,
    /// `(node, transaction)` pairs where an acknowledged transaction (committed or admitted)
    /// has no receipt on that node at the end.
    pub lost_acknowledged: u64,
    /// Transactions acknowledged as committed (SubmitAndWait).
    pub acknowledged: u64,
    /// Transactions of the load a node acknowledged as admitted (Submit).
    pub admitted: u64,
    /// Signed statements read from the nodes' logs (the equivocation check's evidence).
    pub signed_statements: u64,
    /// Proofs of equivocation the nodes kept, from what they received (must be none).
    pub proofs_kept: u64,
    /// Highest height every node reached.
    pub height: u64,
}

impl std::fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rounds: {}, divergent blocks: {}, equivocations: {} (proofs kept by the others: \
             {}), lost acknowledged txs: {}",
            self.rounds,
            self.divergent_blocks,
            self.equivocations,
            self.proofs_kept,
            self.lost_acknowledged
        )
    }
}

/// When the harness stops starting rounds.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// After this many rounds.
    Rounds(u64),
    /// Once this much time has passed (the soak): the round under way finishes.
    Elapsed(Duration),
}

/// One round's fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    KillLeader,
    Kill,
    Partition,
    Stop,
    Mute,
}

impl Fault {
    /// The fault of round `round`: the five in turn.
    fn of_round(round: u64) -> Fault {
        [
            Fault::KillLeader,
            Fault::Kill,
            Fault::Partition,
            Fault::Stop,
            Fault::Mute,
        ][usize::try_from(round % 5).expect("below 5")]
    }
}

/// Runs fault rounds on a fresh 4-node cluster until `until`; `seed` picks the victims.
pub fn run(until: Until, seed: u64, progress: impl Fn(&str)) -> ChaosReport {
    let started = std::time::Instant::now();
    let mut cluster = ProcessCluster::start_partitionable_logging_signed(4);
    cluster.wait_for_height(&[0, 1, 2, 3], 2, WAIT);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let endpoints = (0..4).map(|i| cluster.endpoint(i)).collect();
    let load = Load::start(endpoints, cluster.admin_key(1), 30, 500);
    let mut rng = Rng::new(seed);
    let mut report = ChaosReport::default();
    let mut acknowledged: Vec<Hash> = Vec::new();
    // When each round's fault began (since the load started, as the load's own clock reads),
    // its fault and victim: to trace a lost transaction to the round that lost it.
    let load_started = std::time::Instant::now();
    let mut faults: Vec<(Duration, Fault, usize)> = Vec::new();
    for round in 0.. {
        let more = match until {
            Until::Rounds(rounds) => round < rounds,
            Until::Elapsed(duration) => started.elapsed() < duration,
        };
        if !more {
            break;
        }
        let fault = Fault::of_round(round);
        let victim = if fault == Fault::KillLeader {
            leader_index(&cluster, &runtime).unwrap_or(0)
        } else {
            usize::try_from(rng.below(4)).unwrap_or(0)
        };
        let others: Vec<usize> = (0..4).filter(|&i| i != victim).collect();
        faults.push((load_started.elapsed(), fault, victim));
        match fault {
            Fault::KillLeader | Fault::Kill => cluster.kill(victim),
            Fault::Stop => {
                assert!(
                    cluster.stop(victim),
                    "node{victim} did not stop cleanly on SIGTERM"
                );
            }
            Fault::Partition => cluster.partition(&[&[victim], &others]),
            Fault::Mute => {
                for &to in &others {
                    cluster.proxy().hold(victim, to);
                }
            }
        }
        let survivors = others;
        let before = survivors
            .iter()
            .map(|&i| cluster.height(i))
            .max()
            .unwrap_or(0);
        cluster.wait_for_height(&survivors, before + 3, WAIT);
        acknowledged.extend(commit_some(&cluster, &runtime, survivors[0], round, 3));
        match fault {
            Fault::KillLeader | Fault::Kill | Fault::Stop => cluster.restart(victim),
            Fault::Partition => cluster.heal(),
            Fault::Mute => cluster.proxy().release(),
        }
        let target = cluster.height(survivors[0]) + 2;
        cluster.wait_for_height(&[0, 1, 2, 3], target, WAIT);
        progress(&format!(
            "round {} at {} s: {fault:?} node{victim}, all nodes at height {target} or above",
            round + 1,
            started.elapsed().as_secs(),
        ));
        report.rounds += 1;
    }
    let load = load.stop();
    let (admitted, origins) = (load.acknowledged, load.origins);
    progress(&format!(
        "load stopped; checking {} acknowledged transactions; the load's refused submissions \
         by reason: {:?}",
        acknowledged.len() + admitted.len(),
        load.refused
    ));
    let height = (0..4).map(|i| cluster.height(i)).min().unwrap_or(0);
    report.height = height;
    let divergent = agreement::divergent_heights(&cluster, &runtime, &NODES, height);
    report.divergent_blocks = divergent.len() as u64;
    (report.equivocations, report.signed_statements) = agreement::equivocations(&cluster, &NODES);
    report.proofs_kept = agreement::proofs_kept(&cluster, &runtime, &NODES);
    report.acknowledged = acknowledged.len() as u64;
    report.admitted = admitted.len() as u64;
    acknowledged.extend(admitted);
    let missing = agreement::missing_receipts(&cluster, &runtime, &NODES, &acknowledged, WAIT);
    for (node, id) in missing.iter().take(10) {
        progress(&format!(
            "node{node} has no receipt for acknowledged tx {id}"
        ));
    }
    report.lost_acknowledged = missing.len() as u64;
    trace_lost(&missing, &origins, &faults, &progress);
    report
}

/// Says, for each transaction of the load that some node lacks, which node acknowledged it,
/// when, and in which round's fault: the first 20, then a count of the lost ones acknowledged by
/// that round's victim.
fn trace_lost(
    missing: &[(usize, Hash)],
    origins: &BTreeMap<Hash, Acknowledgement>,
    faults: &[(Duration, Fault, usize)],
    progress: &impl Fn(&str),
) {
    let lost: BTreeSet<Hash> = missing.iter().map(|(_, id)| *id).collect();
    let mut by_victim = 0;
    let mut traced = 0;
    for id in &lost {
        let Some(origin) = origins.get(id) else {
            continue; // acknowledged as committed (SubmitAndWait), not by the load
        };
        traced += 1;
        let round = faults
            .iter()
            .rposition(|(began, ..)| *began <= origin.after);
        let during = round.map(|r| {
            let (_, fault, victim) = faults[r];
            by_victim += u64::from(victim == origin.endpoint);
            format!("round {} ({fault:?} node{victim})", r + 1)
        });
        if traced <= 20 {
            progress(&format!(
                "lost tx {id}: acknowledged by node{} at {:.1} s, {}",
                origin.endpoint,
                origin.after.as_secs_f64(),
                during.unwrap_or_else(|| "before the first round".into())
            ));
        }
    }
    if traced > 0 {
        progress(&format!(
            "{traced} lost transactions of the load; {by_victim} acknowledged by their round's victim"
        ));
    }
}

/// The node index of the current leader, as node 0 (or any answering node) reports it.
fn leader_index(cluster: &ProcessCluster, runtime: &tokio::runtime::Runtime) -> Option<usize> {
    let keys: Vec<String> = (0..4).map(|i| cluster.node_key(i).to_hex()).collect();
    runtime.block_on(async {
        for i in 0..4 {
            if let Ok(mut client) = Client::connect(&cluster.endpoint(i)).await
                && let Ok(status) = client.status().await
            {
                return keys.iter().position(|k| *k == status.leader);
            }
        }
        None
    })
}

/// Submits `count` notarizations to `node` and waits for each to commit; returns their ids.
fn commit_some(
    cluster: &ProcessCluster,
    runtime: &tokio::runtime::Runtime,
    node: usize,
    round: u64,
    count: u64,
) -> Vec<Hash> {
    let key = cluster.admin_key(0);
    runtime.block_on(async {
        let mut client = Client::connect(&cluster.endpoint(node))
            .await
            .unwrap_or_else(|e| panic!("node{node}, a survivor, does not answer gRPC: {e}"));
        let status = client
            .status()
            .await
            .unwrap_or_else(|e| panic!("node{node} does not answer Status: {e}"));
        let height = status.height;
        let mut ids = Vec::new();
        for n in 0..count {
            let tx = Transaction {
                chain_id: status.chain_id.clone(),
                signer: key.public(),
                nonce: round * 1_000 + n,
                valid_until: height + 500,
                op: Operation::Notarize {
                    digest: Hash::of(format!("chaos {round} {n}").as_bytes()),
                    metadata: "chaos".into(),
                    co_signers: Vec::new(),
                },
            }
            .sign(&status.genesis, &key);
            let committed = client
                .submit_and_wait(&tx, Duration::from_secs(60))
                .await
                .unwrap_or_else(|e| {
                    panic!("node{node}, a survivor, did not commit with 3 of 4 validators: {e}")
                });
            ids.push(committed.receipt.tx_id);
        }
        ids
    })
}
