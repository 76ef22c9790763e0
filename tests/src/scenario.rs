//! Named scenarios: each builds a cluster from a seed, injects its faults, heals, and checks
//! progress and liveness. [`run`] is what the tests and the `simulate` binary call.

use crate::byzantine::{
    Behaviour, Colluder, DoubleVoter, EquivocatingLeader, Forger, HugeViews, Replayer, Silent,
};
use crate::cluster::{Cluster, ClusterConfig};
use crate::network::NetworkConfig;
use crate::rng::Rng;

/// Heights every honest node must reach in a run (after the faults heal).
pub const TARGET_HEIGHT: u64 = 6;
/// Virtual time allowed to reach [`TARGET_HEIGHT`] after healing.
pub const PROGRESS_BOUND_MS: u64 = 120_000;
/// Liveness: after healing (at most f faulty), every honest node commits a new block within this
/// virtual time. Covers a few maximal view timeouts (200 ms x 64) plus sync.
pub const LIVENESS_BOUND_MS: u64 = 60_000;
/// How long faults are active before the network heals.
const FAULT_PHASE_MS: u64 = 1_500;

/// A fault scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// No faults; small latency.
    Calm,
    /// Loss, duplication, reordering.
    Lossy,
    /// Partitions (minority cut off, or no quorum anywhere), then heal.
    Partition,
    /// Honest nodes crash (some between persist and send) and restart.
    CrashRestart,
    /// f equivocating leaders.
    Equivocator,
    /// f double voters.
    DoubleVoter,
    /// f silent nodes.
    Silent,
    /// f replayers of stale and corrupted messages.
    Replayer,
    /// f forgers of certificates.
    Forger,
    /// f senders of huge heights and views.
    HugeViews,
    /// f random Byzantine kinds, a lossy network, a partition and crashes together.
    Mixed,
    /// Negative control: f + 1 colluders. The checker must report a violation.
    NegativeControl,
}

impl Scenario {
    /// Every scenario with at most f faulty nodes: none may show a violation.
    pub const SAFE: [Scenario; 11] = [
        Scenario::Calm,
        Scenario::Lossy,
        Scenario::Partition,
        Scenario::CrashRestart,
        Scenario::Equivocator,
        Scenario::DoubleVoter,
        Scenario::Silent,
        Scenario::Replayer,
        Scenario::Forger,
        Scenario::HugeViews,
        Scenario::Mixed,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Calm => "calm",
            Scenario::Lossy => "lossy",
            Scenario::Partition => "partition",
            Scenario::CrashRestart => "crash-restart",
            Scenario::Equivocator => "equivocator",
            Scenario::DoubleVoter => "double-voter",
            Scenario::Silent => "silent",
            Scenario::Replayer => "replayer",
            Scenario::Forger => "forger",
            Scenario::HugeViews => "huge-views",
            Scenario::Mixed => "mixed",
            Scenario::NegativeControl => "negative-control",
        }
    }

    /// Parses [`Scenario::name`].
    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::SAFE
            .into_iter()
            .chain([Scenario::NegativeControl])
            .find(|s| s.name() == name)
    }

    fn network(self) -> NetworkConfig {
        match self {
            Scenario::Lossy | Scenario::Mixed => NetworkConfig::lossy(),
            _ => NetworkConfig::calm(),
        }
    }
}

/// What one run found.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// Scenario.
    pub scenario: Scenario,
    /// Validators.
    pub n: usize,
    /// Seed.
    pub seed: u64,
    /// Invariant violations (empty when all is well).
    pub violations: Vec<String>,
    /// Highest height committed by an honest node.
    pub commits: u64,
    /// New views completed by honest leaders.
    pub view_changes: u64,
    /// Digest of the whole trace.
    pub digest: u64,
    /// Readable trace (if asked for).
    pub trace: Vec<String>,
    /// Events processed.
    pub steps: u64,
}

/// Runs `scenario` with `n` validators from `seed`.
pub fn run(scenario: Scenario, n: usize, seed: u64, trace: bool) -> RunReport {
    let config = ClusterConfig {
        n,
        seed,
        network: scenario.network(),
        trace,
        tx_interval_ms: 150,
    };
    let mut cluster = Cluster::new(config);
    let mut rng = Rng::new(seed ^ 0x5ce4_a710);
    let f = (n - 1) / 3;
    let byzantine = pick(
        &mut rng,
        n,
        if scenario == Scenario::NegativeControl {
            f + 1
        } else {
            f
        },
    );
    let honest: Vec<usize> = (0..n).filter(|i| !byzantine.contains(i)).collect();
    let (first, second) = honest.split_at(honest.len() / 2);
    let groups = [first.to_vec(), second.to_vec()];
    for &node in &byzantine {
        if let Some(behaviour) = behaviour(scenario, &mut rng, &groups) {
            cluster.set_behaviour(node, behaviour);
        }
    }
    cluster.start();
    inject_faults(scenario, &mut cluster, &mut rng, &byzantine);
    cluster.heal();
    cluster.restart_all();
    let progress = cluster.run_until_height(TARGET_HEIGHT, PROGRESS_BOUND_MS);
    if let (Err(failure), true) = (progress, scenario != Scenario::NegativeControl) {
        cluster.report(format!("progress: {failure}"));
    }
    if scenario != Scenario::NegativeControl {
        cluster.check_liveness(LIVENESS_BOUND_MS);
    }
    RunReport {
        scenario,
        n,
        seed,
        violations: cluster.violations().to_vec(),
        commits: cluster.checker().highest_committed(),
        view_changes: cluster.checker().view_changes() as u64,
        digest: cluster.trace().digest(),
        trace: cluster.trace().lines().to_vec(),
        steps: cluster.steps(),
    }
}

/// `count` distinct nodes out of `n`.
fn pick(rng: &mut Rng, n: usize, count: usize) -> Vec<usize> {
    let mut nodes: Vec<usize> = (0..n).collect();
    let mut chosen = Vec::new();
    for _ in 0..count.min(n) {
        chosen.push(nodes.remove(rng.index(nodes.len())));
    }
    chosen.sort_unstable();
    chosen
}

fn behaviour(
    scenario: Scenario,
    rng: &mut Rng,
    groups: &[Vec<usize>; 2],
) -> Option<Box<dyn Behaviour>> {
    let behaviour: Box<dyn Behaviour> = match scenario {
        Scenario::Equivocator => Box::new(EquivocatingLeader),
        Scenario::DoubleVoter => Box::new(DoubleVoter),
        Scenario::Silent => Box::new(Silent),
        Scenario::Replayer => Box::new(Replayer::new(rng.bytes32())),
        Scenario::Forger => Box::new(Forger),
        Scenario::HugeViews => Box::new(HugeViews),
        Scenario::NegativeControl => Box::new(Colluder::new(groups.clone())),
        Scenario::Mixed => match rng.below(6) {
            0 => Box::new(EquivocatingLeader),
            1 => Box::new(DoubleVoter),
            2 => Box::new(Silent),
            3 => Box::new(Replayer::new(rng.bytes32())),
            4 => Box::new(Forger),
            _ => Box::new(HugeViews),
        },
        Scenario::Calm | Scenario::Lossy | Scenario::Partition | Scenario::CrashRestart => {
            return None;
        }
    };
    Some(behaviour)
}

fn inject_faults(scenario: Scenario, cluster: &mut Cluster, rng: &mut Rng, byzantine: &[usize]) {
    match scenario {
        Scenario::Partition => partitions(cluster, rng),
        Scenario::CrashRestart => crashes(cluster, rng, byzantine),
        Scenario::Mixed => {
            partitions(cluster, rng);
            crashes(cluster, rng, byzantine);
        }
        _ => cluster.run_for(FAULT_PHASE_MS),
    }
}

/// A few partition episodes: a random minority cut off, or the nodes split with no quorum.
fn partitions(cluster: &mut Cluster, rng: &mut Rng) {
    let n = cluster.n();
    for _ in 0..1 + rng.below(2) {
        cluster.run_for(100 + rng.below(1_000));
        let mut nodes: Vec<usize> = (0..n).collect();
        let cut = 1 + rng.index(n / 2);
        let minority: Vec<usize> = (0..cut)
            .map(|_| nodes.remove(rng.index(nodes.len())))
            .collect();
        cluster.partition(&[&minority, &nodes]);
        cluster.run_for(300 + rng.below(2_000));
        cluster.heal();
    }
}

/// Honest nodes crash and restart; any number may be down at once (crashes are not Byzantine:
/// safety must hold regardless), some crash between persisting and sending.
fn crashes(cluster: &mut Cluster, rng: &mut Rng, byzantine: &[usize]) {
    let n = cluster.n();
    let honest: Vec<usize> = (0..n).filter(|i| !byzantine.contains(i)).collect();
    for _ in 0..2 + rng.below(3) {
        cluster.run_for(50 + rng.below(600));
        let node = honest[rng.index(honest.len())];
        if rng.chance(500) {
            cluster.crash_before_send(node);
            cluster.run_for(20 + rng.below(200));
        } else {
            cluster.crash(node);
        }
        cluster.run_for(50 + rng.below(800));
        cluster.restart(node);
    }
}
