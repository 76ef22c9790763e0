//! Faults the way deployments have them, between real processes (issue 14, part 6; figures in
//! RELIABILITY.md):
//!
//! - **clock skew**: replicas refuse a proposal whose timestamp is more than
//!   `max_clock_drift_ms` ahead of their own clocks, so a validator whose clock is ahead by less
//!   keeps proposing, and one ahead by more is outvoted: its heights are decided in a later
//!   view, by another leader, and nothing forks;
//! - **more than f validators killed at once under load**: the chain halts (no quorum), then
//!   resumes when they return, with every acknowledged transaction committed everywhere.
//!
//! Needs the `cassia` binary (`cargo build -p cassia-cli`) for the devnet; the nodes run as
//! `test-node` (`--signed-log`, `--clock-offset-ms`), built by `cargo test -p cassia-tests`.

use std::time::Duration;

use cassia_api::{BlockId, Client};
use cassia_tests::agreement;
use cassia_tests::load::Load;
use cassia_tests::process::ProcessCluster;

const WAIT: Duration = Duration::from_secs(120);
/// Its clock is ahead by half the allowed drift.
const WITHIN: usize = 3;
/// Its clock is ahead by three times the allowed drift.
const BEYOND: usize = 2;
const ALL: [usize; 4] = [0, 1, 2, 3];
/// Heights to run after the clocks are skewed: four rounds of the leader rotation.
const HEIGHTS: u64 = 16;

#[test]
fn a_node_within_the_drift_keeps_proposing_and_one_beyond_it_is_outvoted_without_a_fork() {
    let mut cluster = ProcessCluster::start_logging_signed(4);
    let genesis = cluster.genesis();
    let drift = i64::try_from(genesis.parameters.max_clock_drift_ms).expect("a few seconds");
    for (node, offset_ms) in [(WITHIN, drift / 2), (BEYOND, drift * 3)] {
        cluster.kill(node);
        cluster.set_clock_offset(node, offset_ms);
        cluster.restart(node);
    }
    cluster.wait_for_height(&ALL, 1, WAIT);
    let start = ALL.iter().map(|&i| cluster.height(i)).max().unwrap_or(0);
    cluster.wait_for_height(&[0, 1, WITHIN], start + HEIGHTS, WAIT);
    let end = [0, 1, WITHIN]
        .iter()
        .map(|&i| cluster.height(i))
        .min()
        .unwrap_or(0);
    // The node ahead follows the chain: others' blocks are in its past.
    cluster.wait_for_height(&ALL, end, WAIT);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let divergent = agreement::divergent_heights(&cluster, &runtime, &ALL, end);
    assert!(divergent.is_empty(), "forked at heights {divergent:?}");
    assert_eq!(
        agreement::equivocations(&cluster, &ALL).0,
        0,
        "a node equivocated"
    );

    // The negative control: the others did refuse what the node beyond the drift proposed.
    let refused: u64 = [0, 1, WITHIN]
        .iter()
        .map(|&i| cluster.metric(i, "cassia_invalid_proposals_total"))
        .sum();
    assert!(
        refused > 0,
        "no proposal was refused: was the clock skewed?"
    );

    let validators = genesis.validator_set();
    let key = |node: usize| genesis.validators[node].node_key;
    let (mut within_led, mut within_proposed) = (0, 0);
    let (mut beyond_led, mut beyond_proposed) = (0, 0);
    runtime.block_on(async {
        let mut client = Client::connect(&cluster.endpoint(0))
            .await
            .expect("node 0 answers gRPC");
        for height in start + 1..=end {
            let header = client
                .block(BlockId::Height(height), true)
                .await
                .unwrap_or_else(|e| panic!("block {height}: {e}"))
                .block
                .header;
            let leader = validators.leader(height, 0).node_key;
            if leader == key(WITHIN) {
                within_led += 1;
                within_proposed += u64::from(header.view == 0 && header.proposer == leader);
            }
            if leader == key(BEYOND) {
                beyond_led += 1;
            }
            beyond_proposed += u64::from(header.proposer == key(BEYOND));
        }
    });
    eprintln!(
        "heights {}..={end}: node {WITHIN} (+{} ms) led {within_led}, proposed {within_proposed} \
         in view 0; node {BEYOND} (+{} ms) led {beyond_led}, proposed {beyond_proposed}; \
         proposals refused: {refused}",
        start + 1,
        drift / 2,
        drift * 3
    );
    assert!(
        within_led > 0 && within_proposed > 0,
        "the node within the drift never had its proposal committed"
    );
    assert!(
        beyond_led > 0,
        "the node beyond the drift never led a height"
    );
    assert_eq!(
        beyond_proposed, 0,
        "a block proposed from beyond the allowed drift was committed"
    );
}

/// Two of four validators (more than f = 1) killed at once under load: the other two cannot
/// commit, and keep taking transactions; when the two return, the chain resumes and every
/// transaction any node acknowledged, before, during or after, is committed on all four.
#[test]
fn more_than_f_killed_under_load_halts_then_resumes_with_nothing_lost() {
    const KILLED: [usize; 2] = [2, 3];
    const HALT: Duration = Duration::from_secs(6);
    let mut cluster = ProcessCluster::start_logging_signed(4);
    cluster.wait_for_height(&ALL, 2, WAIT);
    let endpoints = ALL.iter().map(|&i| cluster.endpoint(i)).collect();
    let load = Load::start(endpoints, cluster.admin_key(1), 20, 1_000);
    let before = cluster.height(0);
    cluster.wait_for_height(&ALL, before + 5, WAIT);
    for node in KILLED {
        cluster.kill(node);
    }
    let at_kill = cluster.height(0).max(cluster.height(1));
    std::thread::sleep(HALT);
    let during = cluster.height(0).max(cluster.height(1));
    // A block whose commit votes were already out may still commit: one height at most.
    assert!(
        during <= at_kill + 1,
        "two of four validators committed without a quorum: {at_kill} -> {during}"
    );
    for node in KILLED {
        cluster.restart(node);
    }
    cluster.wait_for_height(&ALL, during + 10, WAIT);
    let report = load.stop();
    let end = ALL.iter().map(|&i| cluster.height(i)).min().unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let missing = agreement::missing_receipts(&cluster, &runtime, &ALL, &report.acknowledged, WAIT);
    eprintln!(
        "heights {before}..{end}; halted at {at_kill}..={during} for {HALT:?}; {} acknowledged, \
         {} missing; refused {:?}",
        report.acknowledged.len(),
        missing.len(),
        report.refused
    );
    assert!(report.acknowledged.len() >= 50, "the load ran: {report:?}");
    assert!(
        missing.is_empty(),
        "acknowledged but not committed: {missing:?}"
    );
    let end = ALL.iter().map(|&i| cluster.height(i)).min().unwrap_or(0);
    let divergent = agreement::divergent_heights(&cluster, &runtime, &ALL, end);
    assert!(divergent.is_empty(), "forked at heights {divergent:?}");
    assert_eq!(
        agreement::equivocations(&cluster, &ALL).0,
        0,
        "a node equivocated"
    );
}

/// Links that are slow, one-way and flapping, under load: 40 ms on every chunk; then node 0
/// speaks to no one (it still hears everyone); then node 1 cut off and let back four times a
/// second apart. Three of four can always form a quorum, so the chain keeps committing through
/// each; at the end every node holds the same chain and every acknowledged transaction.
#[test]
fn slow_one_way_and_flapping_links_under_load_lose_nothing() {
    const PHASE: Duration = Duration::from_secs(6);
    let cluster = ProcessCluster::start_partitionable(4);
    cluster.wait_for_height(&ALL, 2, WAIT);
    let endpoints = ALL.iter().map(|&i| cluster.endpoint(i)).collect();
    let load = Load::start(endpoints, cluster.admin_key(1), 20, 1_000);
    let highest = |nodes: &[usize]| nodes.iter().map(|&i| cluster.height(i)).max().unwrap_or(0);
    let mut progress = Vec::new();

    cluster.proxy().set_delay(Duration::from_millis(40));
    let before = highest(&ALL);
    std::thread::sleep(PHASE);
    progress.push(("40 ms delay", before, highest(&ALL)));
    cluster.proxy().set_delay(Duration::ZERO);

    for to in [1, 2, 3] {
        cluster.proxy().hold(0, to);
    }
    let before = highest(&[1, 2, 3]);
    std::thread::sleep(PHASE);
    progress.push(("node 0 one-way mute", before, highest(&[1, 2, 3])));
    cluster.proxy().release();

    let before = highest(&[0, 2, 3]);
    for _ in 0..4 {
        cluster.partition(&[&[1], &[0, 2, 3]]);
        std::thread::sleep(Duration::from_millis(1_000));
        cluster.heal();
        std::thread::sleep(Duration::from_millis(1_000));
    }
    progress.push(("node 1 flapping", before, highest(&[0, 2, 3])));

    let target = highest(&ALL) + 5;
    cluster.wait_for_height(&ALL, target, WAIT);
    let report = load.stop();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let missing = agreement::missing_receipts(&cluster, &runtime, &ALL, &report.acknowledged, WAIT);
    let end = ALL.iter().map(|&i| cluster.height(i)).min().unwrap_or(0);
    let divergent = agreement::divergent_heights(&cluster, &runtime, &ALL, end);
    eprintln!(
        "phases (name, height before, after): {progress:?}; end height {end}; {} acknowledged, \
         {} missing; refused {:?}",
        report.acknowledged.len(),
        missing.len(),
        report.refused
    );
    for (phase, before, after) in &progress {
        assert!(
            after > before,
            "no block committed during {phase}: {progress:?}"
        );
    }
    assert!(report.acknowledged.len() >= 50, "the load ran: {report:?}");
    assert!(
        missing.is_empty(),
        "acknowledged but not committed: {missing:?}"
    );
    assert!(divergent.is_empty(), "forked at heights {divergent:?}");
}
