//! The Byzantine scenario with real processes: four nodes, one of them (node 3, f = 1) started
//! as the `test-node` binary with every attack on (`--byzantine`, see
//! [`crate::byzantine::attacker`]), under a steady transaction load sent to the three honest
//! nodes. While it runs, the honest nodes' heights and peak resident memory
//! (`process_peak_resident_memory_bytes`, the kernel's `VmHWM`) are sampled; at the end it
//! checks, over the honest nodes only:
//!
//! - **liveness**: heights advanced, and heights whose view-0 leader is the attacker were
//!   decided (in a later view when its proposals did not get through);
//! - **agreement**: the same block hash and state root at every height (GetBlock);
//! - **no equivocation** by an honest node (signed-statement logs, as `chaos` reads them), and,
//!   as a negative control, that the attacker's own log shows its equivocations;
//! - **durability**: every transaction an honest node acknowledged has a receipt (node 0's,
//!   proof checked) at a height where all honest nodes hold the same block;
//! - **the attacks were seen**: the honest nodes' rejection counters by reason.
//!
//! With `attacks: None` node 3 is honest: the same cluster and load, as the memory baseline.
//!
//! Every node logs its signed statements, so every node runs as `test-node` (honest ones with
//! `--signed-log` only); `cassia` itself (a plain `cargo build -p cassia-cli`) makes the devnet
//! homes. `cargo test -p cassia-tests` builds `test-node`; by hand,
//! `cargo build -p cassia-tests --bin test-node`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cassia_api::{BlockId, Client};
use cassia_crypto::Hash;
use cassia_ledger::records::GovAction;
use cassia_ledger::{Operation, Transaction};

use crate::agreement;
use crate::load::Load;
use crate::process::ProcessCluster;

/// The honest nodes.
pub const HONEST: [usize; 3] = [0, 1, 2];
/// The Byzantine node.
pub const BYZANTINE: usize = 3;
/// Every attack of `test-node --byzantine`.
pub const ALL_BEHAVIOURS: &str = "equivocate,double-vote,garbage,oversized,future,flood";
/// The attacks that send only validly signed traffic: conflicting statements, far-future
/// statements and the same in-window statement replayed, at the flood rate.
pub const SIGNED_BEHAVIOURS: &str = "equivocate,double-vote,future,replay,flood";
/// Transactions per second sent to the honest nodes.
pub const LOAD_RATE: u32 = 30;
/// The line `test-node --byzantine` logs at start.
pub const BANNER: &str = "BYZANTINE MODE ON";

/// Bounded waits: a loaded 2-core machine is slow, and nothing here measures speed.
const WAIT: Duration = Duration::from_secs(120);
/// How long the attacker may take to announce itself.
const BANNER_WAIT: Duration = Duration::from_secs(30);
/// Blocks a load transaction stays valid for.
const LOAD_TTL: u64 = 500;

/// How to run the scenario.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long the load (and the attack) runs.
    pub duration: Duration,
    /// The attacks of node 3 (a `test-node --byzantine` list); `None`: the honest baseline.
    pub attacks: Option<&'static str>,
    /// Interval between samples of heights and memory.
    pub sample_every: Duration,
    /// A directory to copy every node's log into at the end (the cluster's own is deleted).
    pub keep_logs: Option<std::path::PathBuf>,
}

/// The honest nodes at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Seconds since the load started.
    pub seconds: u64,
    /// Committed heights of the honest nodes.
    pub heights: Vec<u64>,
    /// Their peak resident memory so far, bytes (`VmHWM`).
    pub peak_rss_bytes: Vec<u64>,
    /// Their resident memory now, bytes (`VmRSS`).
    pub rss_bytes: Vec<u64>,
}

/// What a run found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ByzantineReport {
    /// Lowest honest height when the load started.
    pub start_height: u64,
    /// Lowest honest height at the end (every check covers `1..=end_height`).
    pub end_height: u64,
    /// Samples taken during the run.
    pub samples: Vec<Sample>,
    /// Heights at which two honest nodes hold different blocks or state roots.
    pub divergent_blocks: u64,
    /// `(signer, height, view, kind)` an honest node signed twice, differently.
    pub honest_equivocations: u64,
    /// The same, in the attacker's own log (the negative control).
    pub byzantine_equivocations: u64,
    /// Signed statements read from the honest nodes' logs.
    pub signed_statements: u64,
    /// Transactions the honest nodes acknowledged.
    pub acknowledged: u64,
    /// Of those, the ones some honest node has no receipt for.
    pub lost_acknowledged: u64,
    /// Heights in `1..=end_height` whose view-0 leader is the attacker.
    pub byzantine_led_heights: u64,
    /// Of those, the ones decided in a later view (a view change happened).
    pub byzantine_led_decided_later: u64,
    /// View changes started, summed over the honest nodes.
    pub view_changes: u64,
    /// Rejected peer messages by reason, summed over the honest nodes.
    pub rejections: BTreeMap<String, u64>,
    /// Gossip the honest nodes' network layer refused before the application saw it (above
    /// `max_message_bytes`), from their logs: the network keeps no per-reason metric.
    pub gossip_refused_by_network: u64,
    /// Gossip the honest nodes ignored because its author was over its budget, summed.
    pub gossip_rate_limited: u64,
    /// Proofs of equivocation the honest nodes kept (gRPC `Misbehaviour`), summed.
    pub kept_proofs: u64,
    /// Of those, the ones that do not verify on the chain or name anyone but the attacker.
    pub false_proofs: u64,
    /// What a proposal to remove the attacker, carrying one kept proof, came to: `None` if no
    /// proof was kept; else the committed receipt's failure (`Some(None)`: it succeeded).
    pub removal_proposal: Option<Option<String>>,
}

impl ByzantineReport {
    /// The largest peak resident memory of any honest node in any sample, bytes; `None` if no
    /// sample was taken (a memory bound must then fail, not pass on 0).
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        self.samples
            .iter()
            .flat_map(|s| s.peak_rss_bytes.iter().copied())
            .max()
    }

    /// Rejections for `reason` (0 if none).
    pub fn rejected(&self, reason: &str) -> u64 {
        self.rejections.get(reason).copied().unwrap_or(0)
    }
}

impl std::fmt::Display for ByzantineReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "heights {}..{}, divergent blocks: {}, honest equivocations: {}, lost acknowledged \
             txs: {} of {}, attacker-led heights decided in a later view: {} of {}, honest peak \
             RSS: {}",
            self.start_height,
            self.end_height,
            self.divergent_blocks,
            self.honest_equivocations,
            self.lost_acknowledged,
            self.acknowledged,
            self.byzantine_led_decided_later,
            self.byzantine_led_heights,
            self.peak_rss_bytes()
                .map_or("not sampled".into(), |bytes| format!(
                    "{:.1} MiB",
                    bytes as f64 / f64::from(1 << 20)
                ))
        )
    }
}

/// Runs the scenario on a fresh cluster; `progress` gets one line per sample.
pub fn run(options: Options, progress: impl Fn(&str)) -> ByzantineReport {
    let mut cluster = ProcessCluster::start_logging_signed(4);
    // Node 3 turns Byzantine at once: restarted with every attack (in the baseline, as it was).
    cluster.kill(BYZANTINE);
    if let Some(attacks) = options.attacks {
        cluster.set_byzantine(BYZANTINE, Some(attacks));
    }
    cluster.restart(BYZANTINE);
    if options.attacks.is_some() {
        wait_for_banner(&mut cluster);
    }
    cluster.wait_for_height(&HONEST, 2, WAIT);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut report = ByzantineReport {
        start_height: lowest_height(&cluster),
        ..ByzantineReport::default()
    };
    let endpoints = HONEST.iter().map(|&i| cluster.endpoint(i)).collect();
    let load = Load::start(endpoints, cluster.admin_key(1), LOAD_RATE, LOAD_TTL);
    report.samples = sample_for(&cluster, &options, &progress);
    let acknowledged = load.stop().acknowledged;
    // The attack is over; the checks below read a calmer cluster (three of four still commit).
    cluster.kill(BYZANTINE);
    report.acknowledged = acknowledged.len() as u64;
    report.lost_acknowledged = lost(&cluster, &runtime, &acknowledged);
    // Every receipt found is at or below node 0's tip, so comparing every honest node's blocks
    // up to it shows each acknowledged transaction committed on all of them.
    report.end_height = cluster.height(HONEST[0]);
    cluster.wait_for_height(&HONEST, report.end_height, WAIT);
    check_blocks(&cluster, &runtime, &mut report);
    (report.honest_equivocations, report.signed_statements) =
        agreement::equivocations(&cluster, &HONEST);
    report.byzantine_equivocations = agreement::equivocations(&cluster, &[BYZANTINE]).0;
    report.view_changes = HONEST
        .iter()
        .map(|&i| cluster.metric(i, "cassia_view_changes_total"))
        .sum();
    report.rejections = rejections(&cluster);
    report.gossip_rate_limited = HONEST
        .iter()
        .map(|&i| cluster.metric(i, "cassia_gossip_rate_limited_total"))
        .sum();
    report.gossip_refused_by_network = HONEST
        .iter()
        .map(|&i| cluster.log(i).matches("rejected gossip").count() as u64)
        .sum();
    check_proofs(&cluster, &runtime, &mut report);
    if let Some(dir) = &options.keep_logs {
        keep_logs(&cluster, dir);
    }
    report
}

/// Reads the proofs of equivocation every honest node kept, checks each against the genesis,
/// and proposes (as organization 0) to remove the attacker on the grounds of the first one.
fn check_proofs(
    cluster: &ProcessCluster,
    runtime: &tokio::runtime::Runtime,
    report: &mut ByzantineReport,
) {
    let genesis = cluster.genesis();
    let chain = genesis.genesis_hash();
    let attacker = genesis.validators[BYZANTINE].node_key;
    runtime.block_on(async {
        let mut grounds = None;
        for node in HONEST {
            let mut client = Client::connect(&cluster.endpoint(node))
                .await
                .unwrap_or_else(|e| panic!("node{node} does not answer gRPC: {e}"));
            let proofs = client
                .misbehaviour(0)
                .await
                .unwrap_or_else(|e| panic!("node{node} does not answer Misbehaviour: {e}"));
            report.kept_proofs += proofs.len() as u64;
            for proof in proofs {
                if proof.validator != attacker || proof.verify(&chain).is_err() {
                    report.false_proofs += 1;
                } else {
                    grounds.get_or_insert(proof);
                }
            }
        }
        let Some(proof) = grounds else {
            return;
        };
        let mut client = Client::connect(&cluster.endpoint(HONEST[0]))
            .await
            .expect("node 0 answered a moment ago");
        let height = client.status().await.expect("status").height;
        let proposal = Transaction {
            chain_id: genesis.chain_id.clone(),
            signer: cluster.admin_key(0).public(),
            nonce: cassia_crypto::random_u64().expect("random nonce"),
            valid_until: height + 100,
            op: Operation::Propose {
                action: GovAction::RemoveValidator {
                    node_key: attacker,
                    proof: Some(Box::new(proof)),
                },
                effective_height: height + 20,
            },
        }
        .sign(&chain, &cluster.admin_key(0));
        let committed = client
            .submit_and_wait(&proposal, WAIT)
            .await
            .unwrap_or_else(|e| panic!("the removal proposal with its proof was refused: {e}"));
        report.removal_proposal = Some(committed.receipt.failure.map(|f| f.to_string()));
    });
}

fn keep_logs(cluster: &ProcessCluster, dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    for i in 0..cluster.nodes.len() {
        let to = dir.join(format!("node{i}.log"));
        std::fs::write(&to, cluster.log(i)).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    }
}

/// Waits until node 3 announces its attacks; fails at once, with its log, if it exits.
fn wait_for_banner(cluster: &mut ProcessCluster) {
    let deadline = Instant::now() + BANNER_WAIT;
    loop {
        let log = cluster.log(BYZANTINE);
        if log.contains(BANNER) {
            return;
        }
        assert!(
            !cluster.exited(BYZANTINE),
            "node{BYZANTINE} exited at start as `test-node --byzantine`: {log}"
        );
        assert!(
            Instant::now() < deadline,
            "node{BYZANTINE} did not log {BANNER:?} within {BANNER_WAIT:?}: {log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn lowest_height(cluster: &ProcessCluster) -> u64 {
    HONEST.iter().map(|&i| cluster.height(i)).min().unwrap_or(0)
}

/// Samples the honest nodes every `options.sample_every` until `options.duration` has passed.
fn sample_for(
    cluster: &ProcessCluster,
    options: &Options,
    progress: &impl Fn(&str),
) -> Vec<Sample> {
    let started = Instant::now();
    let mut samples = Vec::new();
    loop {
        let wait = options
            .sample_every
            .min(options.duration.saturating_sub(started.elapsed()));
        std::thread::sleep(wait);
        let sample = Sample {
            seconds: started.elapsed().as_secs(),
            heights: HONEST.iter().map(|&i| cluster.height(i)).collect(),
            peak_rss_bytes: HONEST
                .iter()
                .map(|&i| cluster.metric(i, "process_peak_resident_memory_bytes"))
                .collect(),
            rss_bytes: HONEST
                .iter()
                .map(|&i| cluster.metric(i, "process_resident_memory_bytes"))
                .collect(),
        };
        progress(&format!(
            "{:>4} s: honest heights {:?}, peak RSS MiB [{}], RSS now MiB [{}]",
            sample.seconds,
            sample.heights,
            mebibytes(&sample.peak_rss_bytes),
            mebibytes(&sample.rss_bytes)
        ));
        samples.push(sample);
        if started.elapsed() >= options.duration {
            return samples;
        }
    }
}

fn mebibytes(values: &[u64]) -> String {
    let shown: Vec<String> = values
        .iter()
        .map(|b| format!("{:.1}", *b as f64 / f64::from(1 << 20)))
        .collect();
    shown.join(", ")
}

/// Acknowledged transactions node 0 has no receipt for (with its proof checked), after a
/// bounded wait for the last ones to commit.
fn lost(cluster: &ProcessCluster, runtime: &tokio::runtime::Runtime, ids: &[Hash]) -> u64 {
    runtime.block_on(async {
        let deadline = Instant::now() + WAIT;
        let mut missing = 0;
        let node = HONEST[0];
        let mut client = Client::connect(&cluster.endpoint(node))
            .await
            .unwrap_or_else(|e| panic!("node{node} does not answer gRPC: {e}"));
        for id in ids {
            while client.receipt(id).await.is_err() {
                if Instant::now() >= deadline {
                    missing += 1;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        missing
    })
}

/// Agreement over `1..=end_height` ([`agreement::divergent_heights`]), and how the attacker's
/// heights were decided: the views of node 0's blocks, which every honest node shares when
/// none diverge.
fn check_blocks(
    cluster: &ProcessCluster,
    runtime: &tokio::runtime::Runtime,
    report: &mut ByzantineReport,
) {
    let divergent = agreement::divergent_heights(cluster, runtime, &HONEST, report.end_height);
    report.divergent_blocks = divergent.len() as u64;
    runtime.block_on(async {
        let node = HONEST[0];
        let mut client = Client::connect(&cluster.endpoint(node))
            .await
            .unwrap_or_else(|e| panic!("node{node} does not answer gRPC: {e}"));
        let status = client.status().await.expect("status");
        let attacker = cluster.node_key(BYZANTINE).to_hex();
        let n = status.validators.len() as u64;
        for height in 1..=report.end_height {
            let leader = usize::try_from(height % n).expect("below the validator count");
            if status.validators[leader] != attacker {
                continue;
            }
            let block = client.block(BlockId::Height(height), true).await;
            let view = block
                .unwrap_or_else(|e| panic!("block {height}: {e}"))
                .block
                .header
                .view;
            report.byzantine_led_heights += 1;
            report.byzantine_led_decided_later += u64::from(view > 0);
        }
    });
}

/// `cassia_rejected_messages_total` by reason, summed over the honest nodes.
fn rejections(cluster: &ProcessCluster) -> BTreeMap<String, u64> {
    let prefix = "cassia_rejected_messages_total{reason=\"";
    let mut counts = BTreeMap::new();
    for i in HONEST {
        let text = cluster
            .metrics(i)
            .unwrap_or_else(|| panic!("node{i} does not answer /metrics (wanted rejections)"));
        for line in text.lines() {
            let Some((reason, value)) = line
                .strip_prefix(prefix)
                .and_then(|rest| rest.split_once("\"} "))
            else {
                continue;
            };
            let value: u64 = value.trim().parse().unwrap_or_else(|e| {
                panic!("node{i}: rejections for {reason} unparseable ({value:?}): {e}")
            });
            *counts.entry(reason.to_string()).or_insert(0) += value;
        }
    }
    counts
}
