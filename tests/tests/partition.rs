//! Network partitions between real `cassia node` processes (issue 8, point 2).
//!
//! Every connection between two nodes runs through a fault-injecting proxy link
//! ([`cassia_tests::proxy`]), so the test cuts running processes apart, under a steady
//! transaction load, and heals them: a minority commits nothing, the majority goes on, healing
//! restores progress, and at the end every node holds the same block and state root at every
//! height and every transaction a node acknowledged is committed.
//!
//! Every wait is bounded and fails saying what did not happen; nothing asserts on speed. The
//! figures (heights, blocks compared) are printed: `cargo test -p cassia-tests --test
//! partition -- --nocapture`.

use std::time::{Duration, Instant};

use cassia_api::Client;
use cassia_tests::agreement;
use cassia_tests::load::{Load, LoadReport};
use cassia_tests::process::ProcessCluster;

/// Generous: a loaded 2-core CI machine is slow, and nothing here measures speed.
const WAIT: Duration = Duration::from_secs(90);

/// How long a cut-off side is watched to show it commits nothing: several view-change
/// timeouts of the nodes, long enough for a commit to happen if a side could make one.
const QUIET_WINDOW: Duration = Duration::from_secs(4);

/// A side's heights count as settled after a cut when they are unchanged over this long
/// (messages received just before the cut may still complete a commit).
const SETTLE: Duration = Duration::from_millis(1_500);

/// Blocks the majority commits while the leader is cut off: at least 4, so that the cut-off
/// node's turn as leader comes (each attempt, committed or not, moves the leader by one).
const MAJORITY_BLOCKS: u64 = 6;

/// Transactions per second the load submits, round-robin over every node.
const LOAD_RATE: u32 = 20;

/// Blocks a load transaction stays valid: it outlives every partition of the test.
const LOAD_TTL: u64 = 1_000;

const NODES: [usize; 4] = [0, 1, 2, 3];

#[test]
fn a_cut_off_minority_commits_nothing_and_healing_restores_progress_without_a_fork() {
    let started = Instant::now();
    let cluster = ProcessCluster::start_partitionable(4);
    cluster.wait_for_height(&NODES, 2, WAIT);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let endpoints = NODES.iter().map(|&i| cluster.endpoint(i)).collect();
    let load = Load::start(endpoints, cluster.admin_key(1), LOAD_RATE, LOAD_TTL);

    let isolated = the_leader_cut_off_stays_put_while_the_majority_commits(&cluster, &runtime);
    healed_the_isolated_node_catches_up(&cluster, isolated);
    a_two_two_split_commits_nothing_until_healed(&cluster);

    let report = load.stop();
    assert!(
        report.acknowledged.len() > 50,
        "the load was mostly refused: {} acknowledged, refused {:?}",
        report.acknowledged.len(),
        report.refused
    );
    let height = every_acknowledged_transaction_committed(&cluster, &runtime, isolated, &report);
    cluster.wait_for_height(&NODES, height, WAIT);
    let compared = every_node_holds_the_same_blocks(&cluster, &runtime, height);
    eprintln!(
        "partition: no fork over {compared} heights x 4 nodes; {} acknowledged transactions \
         committed; refused by the load {:?}; {:.1} s",
        report.acknowledged.len(),
        report.refused,
        started.elapsed().as_secs_f64()
    );
}

/// The current leader is cut off from the three others: they keep committing blocks and
/// transactions, changing view when its turn comes; its height does not move.
fn the_leader_cut_off_stays_put_while_the_majority_commits(
    cluster: &ProcessCluster,
    runtime: &tokio::runtime::Runtime,
) -> usize {
    let leader = leader_index(cluster, runtime);
    let majority: Vec<usize> = NODES.into_iter().filter(|&i| i != leader).collect();
    let views_before = view_changes(cluster, &majority);
    cluster.partition(&[&[leader], &majority]);
    let isolated_tries_before = view_changes_of(cluster, &[leader]);
    let majority_at_cut = highest(cluster, &majority);
    let cut_at = settled_heights(cluster, &[leader])[0];
    let committed_before = cluster.metric(majority[0], "cassia_committed_transactions_total");
    let start = highest(cluster, &majority);
    cluster.wait_for_height(&majority, start + MAJORITY_BLOCKS, WAIT);
    wait_until(
        "the majority commits transactions while the leader is cut off",
        || cluster.metric(majority[0], "cassia_committed_transactions_total") > committed_before,
    );
    assert!(
        view_changes(cluster, &majority) > views_before,
        "the majority committed {MAJORITY_BLOCKS} blocks without a view change, so the cut-off \
         node{leader} never had a turn as leader"
    );
    // Its silence shows nothing unless it was trying: it must time out and start view changes.
    each_tries_to_change_view(cluster, &[leader], &isolated_tries_before);
    assert_eq!(
        cluster.height(leader),
        cut_at,
        "node{leader}, cut off alone, committed a block"
    );
    wait_until("the proxy refuses the cut-off node's redials", || {
        cluster.proxy().counters_of(leader).refused_while_blocked > 0
    });
    eprintln!(
        "partition: node{leader} (leader) cut off, stayed at height {cut_at}; the majority went \
         from {majority_at_cut} (at the cut) to {} and changed view {} times",
        highest(cluster, &majority),
        view_changes(cluster, &majority).saturating_sub(views_before)
    );
    leader
}

/// Healed, the node that was cut off fetches what it missed and commits with the others again.
fn healed_the_isolated_node_catches_up(cluster: &ProcessCluster, isolated: usize) {
    cluster.heal();
    let target = highest(cluster, &NODES) + 2;
    cluster.wait_for_height(&NODES, target, WAIT);
    eprintln!("partition: healed; node{isolated} caught up to height {target} with the others");
}

/// Split 2|2, neither side has the 3 votes a block needs: no node's height moves, while every
/// node tries (starts view changes). Healed, the four commit again.
fn a_two_two_split_commits_nothing_until_healed(cluster: &ProcessCluster) {
    cluster.partition(&[&[0, 1], &[2, 3]]);
    let tries_before = view_changes_of(cluster, &NODES);
    let settled = settled_heights(cluster, &NODES);
    std::thread::sleep(QUIET_WINDOW);
    each_tries_to_change_view(cluster, &NODES, &tries_before);
    let later: Vec<u64> = NODES.iter().map(|&i| cluster.height(i)).collect();
    assert_eq!(
        later, settled,
        "a side of 2 of 4 validators committed during the split (heights of node0..node3)"
    );
    cluster.heal();
    let target = highest(cluster, &NODES) + 3;
    cluster.wait_for_height(&NODES, target, WAIT);
    eprintln!(
        "partition: split 2|2 at heights {settled:?}, flat for {QUIET_WINDOW:?}; healed, all \
         reached {target}"
    );
}

/// Every transaction the load had acknowledged has a receipt on the node that was cut off
/// (bounded wait); returns the highest height one committed at.
fn every_acknowledged_transaction_committed(
    cluster: &ProcessCluster,
    runtime: &tokio::runtime::Runtime,
    node: usize,
    report: &LoadReport,
) -> u64 {
    runtime.block_on(async {
        let mut client = connect(cluster, node).await;
        let deadline = Instant::now() + WAIT;
        let mut highest_commit = 0;
        for id in &report.acknowledged {
            let committed = loop {
                match client.receipt(id).await {
                    Ok(committed) => break committed,
                    Err(error) => assert!(
                        Instant::now() < deadline,
                        "acknowledged transaction {id} is not committed on node{node}: {error}"
                    ),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            highest_commit = highest_commit.max(committed.header.height);
        }
        highest_commit
    })
}

/// Compares every node's block hash and state root at every height `1..=height` (so a
/// transaction committed on one node is committed on all); returns the heights compared.
fn every_node_holds_the_same_blocks(
    cluster: &ProcessCluster,
    runtime: &tokio::runtime::Runtime,
    height: u64,
) -> u64 {
    let divergent = agreement::divergent_heights(cluster, runtime, &NODES, height);
    assert!(
        divergent.is_empty(),
        "fork: the nodes hold different blocks or state roots at heights {divergent:?}"
    );
    height
}

/// The node the first answering node names as leader of the next block.
fn leader_index(cluster: &ProcessCluster, runtime: &tokio::runtime::Runtime) -> usize {
    let keys: Vec<String> = NODES
        .iter()
        .map(|&i| cluster.node_key(i).to_hex())
        .collect();
    runtime.block_on(async {
        let status = connect(cluster, 0)
            .await
            .status()
            .await
            .expect("node0 answers Status");
        keys.iter()
            .position(|key| *key == status.leader)
            .unwrap_or_else(|| panic!("leader {} is none of the nodes", status.leader))
    })
}

async fn connect(cluster: &ProcessCluster, node: usize) -> Client {
    Client::connect(&cluster.endpoint(node))
        .await
        .unwrap_or_else(|e| panic!("node{node} does not answer gRPC: {e}"))
}

/// The heights of `which` once they stop moving for [`SETTLE`]; panics if they keep moving.
fn settled_heights(cluster: &ProcessCluster, which: &[usize]) -> Vec<u64> {
    let heights = || -> Vec<u64> { which.iter().map(|&i| cluster.height(i)).collect() };
    let deadline = Instant::now() + WAIT;
    let mut last = heights();
    loop {
        std::thread::sleep(SETTLE);
        let now = heights();
        if now == last {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "nodes {which:?} cut off from a quorum kept committing: {last:?} -> {now:?}"
        );
        last = now;
    }
}

fn highest(cluster: &ProcessCluster, which: &[usize]) -> u64 {
    which.iter().map(|&i| cluster.height(i)).max().unwrap_or(0)
}

fn view_changes(cluster: &ProcessCluster, which: &[usize]) -> u64 {
    which
        .iter()
        .map(|&i| cluster.metric(i, "cassia_view_changes_total"))
        .sum()
}

/// Each node's `cassia_view_changes_total` (view changes it started), in the order of `which`.
fn view_changes_of(cluster: &ProcessCluster, which: &[usize]) -> Vec<u64> {
    which
        .iter()
        .map(|&i| cluster.metric(i, "cassia_view_changes_total"))
        .collect()
}

/// Waits until every node of `which` has started a view change since `before` was read (still
/// cut off): a side that commits nothing because it stopped trying proves nothing.
fn each_tries_to_change_view(cluster: &ProcessCluster, which: &[usize], before: &[u64]) {
    for (&node, &earlier) in which.iter().zip(before) {
        wait_until(
            &format!("node{node}, without a quorum, starts a view change (it had {earlier})"),
            || cluster.metric(node, "cassia_view_changes_total") > earlier,
        );
    }
}

/// Polls `condition` until it holds; panics naming `what` after [`WAIT`].
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "within {WAIT:?}, not: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
