//! Cluster tests with real `cassia node` processes, real RocksDB and loopback networking.
//!
//! Each scenario starts its own consortium on free ports of a loopback address of its own, in a
//! temporary directory, and stops every process when it ends (also on failure). Waits are
//! bounded and name the node and height that was not reached.

use std::time::Duration;

use cassia_tests::agreement;
use cassia_tests::load::Load;
use cassia_tests::process::ProcessCluster;

/// Generous: loaded CI machines are slow, and nothing here measures speed.
const WAIT: Duration = Duration::from_secs(90);

/// Asserts every node in `which` committed the same block and state root at `height`.
fn assert_same_commit(cluster: &ProcessCluster, which: &[usize], height: u64) {
    let commits: Vec<_> = which
        .iter()
        .map(|&i| (i, cluster.commit_at(i, height)))
        .collect();
    let first = commits[0]
        .1
        .clone()
        .unwrap_or_else(|| panic!("node{} has no commit at {height}", commits[0].0));
    for (i, commit) in &commits {
        let commit = commit
            .clone()
            .unwrap_or_else(|| panic!("node{i} has no commit at {height}"));
        assert_eq!(
            commit, first,
            "node{i} differs from node{} at height {height}",
            commits[0].0
        );
    }
}

#[test]
fn transactions_submitted_to_any_node_commit_everywhere() {
    let cluster = ProcessCluster::start(4);
    cluster.wait_for_height(&[0, 1, 2, 3], 1, WAIT);
    let status = cluster.client(0, &["status"]);
    assert!(status.contains("chain id:    cassia-devnet"), "{status}");
    const TRANSACTIONS: u64 = 12;
    for n in 0..TRANSACTIONS {
        let node = usize::try_from(n % 4).expect("small");
        let digest = cassia_crypto::Hash::of(format!("document {n}").as_bytes()).to_hex();
        let id = cluster.client(
            node,
            &[
                "tx",
                "notarize",
                "--digest",
                &digest,
                "--metadata",
                "licence",
            ],
        );
        assert_eq!(id.trim().len(), 64, "a transaction id: {id}");
    }
    let deadline = std::time::Instant::now() + WAIT;
    for node in 0..4 {
        while cluster.metric(node, "cassia_committed_transactions_total") < TRANSACTIONS {
            assert!(
                std::time::Instant::now() < deadline,
                "node{node} did not commit all {TRANSACTIONS} transactions"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let height = cluster.height(0) + 1;
    cluster.wait_for_height(&[0, 1, 2, 3], height, WAIT);
    assert_same_commit(&cluster, &[0, 1, 2, 3], height);
}

/// Under a steady transaction load: kill -9 one validator, the other three keep committing
/// transactions; restarted, it catches up to the same block and state root, and every
/// transaction a surviving node acknowledged is committed and readable on it too.
#[test]
fn a_killed_validator_does_not_stop_the_others_and_catches_up_after_restart() {
    let mut cluster = ProcessCluster::start(4);
    cluster.wait_for_height(&[0, 1, 2, 3], 3, WAIT);
    let (_, key) =
        cassia_crypto::keyfile::read(&cluster.root().join("devnet/org0-admin.key"), None)
            .expect("admin key");
    let endpoints = [0, 1, 3]
        .iter()
        .map(|&i| format!("http://{}", cluster.nodes[i].rpc))
        .collect();
    let load = Load::start(endpoints, key, 100, 1000);
    cluster.wait_for_height(&[0, 1, 2, 3], 6, WAIT);
    cluster.kill(2);
    let before = cluster.height(0);
    let committed_before = cluster.metric(0, "cassia_committed_transactions_total");
    cluster.wait_for_height(&[0, 1, 3], before + 5, WAIT);
    let deadline = std::time::Instant::now() + WAIT;
    while cluster.metric(0, "cassia_committed_transactions_total") <= committed_before {
        assert!(
            std::time::Instant::now() < deadline,
            "the three survivors committed no transactions while node2 was down"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster.restart(2);
    let target = cluster.height(0) + 3;
    cluster.wait_for_height(&[0, 1, 2, 3], target, WAIT);
    let report = load.stop();
    assert!(
        report.acknowledged.len() > 50,
        "the load was mostly refused: {report:?}"
    );
    let target = cluster.height(0) + 2;
    cluster.wait_for_height(&[0, 1, 2, 3], target, WAIT);
    assert_same_commit(&cluster, &[0, 1, 2, 3], target);
    assert_all_committed(&cluster, 2, &report.acknowledged);
}

/// Every transaction in `ids` has a receipt on node `i` (bounded wait).
fn assert_all_committed(cluster: &ProcessCluster, i: usize, ids: &[cassia_crypto::Hash]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut client = cassia_api::Client::connect(&format!("http://{}", cluster.nodes[i].rpc))
            .await
            .expect("connect");
        let deadline = std::time::Instant::now() + WAIT;
        for id in ids {
            loop {
                match client.receipt(id).await {
                    Ok(_) => break,
                    Err(error) => assert!(
                        std::time::Instant::now() < deadline,
                        "acknowledged transaction {id} is not committed on node{i}: {error}"
                    ),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
}

#[test]
fn without_a_quorum_progress_halts_without_a_fork_and_resumes() {
    let mut cluster = ProcessCluster::start(4);
    cluster.wait_for_height(&[0, 1, 2, 3], 2, WAIT);
    assert!(
        cluster.stop(2),
        "node2 did not shut down cleanly on SIGTERM"
    );
    assert!(
        cluster.stop(3),
        "node3 did not shut down cleanly on SIGTERM"
    );
    let tries_before: Vec<u64> = [0, 1]
        .iter()
        .map(|&i| cluster.metric(i, "cassia_view_changes_total"))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let halted = cluster.height(0).max(cluster.height(1));
    std::thread::sleep(Duration::from_secs(3));
    // Halted, not idle: each survivor times out and starts view changes.
    for (node, earlier) in [0, 1].into_iter().zip(tries_before) {
        let deadline = std::time::Instant::now() + WAIT;
        while cluster.metric(node, "cassia_view_changes_total") <= earlier {
            assert!(
                std::time::Instant::now() < deadline,
                "node{node}, without a quorum, started no view change: its silence shows nothing"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let later = cluster.height(0).max(cluster.height(1));
    assert!(
        later <= halted + 1,
        "2 of 4 validators kept committing: {halted} -> {later}"
    );
    cluster.restart(2);
    cluster.restart(3);
    cluster.wait_for_height(&[0, 1, 2, 3], later + 2, WAIT);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let divergent = agreement::divergent_heights(&cluster, &runtime, &[0, 1, 2, 3], later + 2);
    assert!(
        divergent.is_empty(),
        "the four nodes hold different blocks or state roots at heights {divergent:?}"
    );
}

#[test]
fn a_node_outside_the_membership_is_refused_and_learns_nothing() {
    let mut cluster = ProcessCluster::start(4);
    cluster.wait_for_height(&[0, 1, 2, 3], 2, WAIT);
    let outsider = cluster.start_outsider();
    let deadline = std::time::Instant::now() + WAIT;
    let refused = |cluster: &ProcessCluster| -> u64 {
        (0..4)
            .map(|i| cluster.metric(i, "cassia_refused_connections_total"))
            .sum()
    };
    while refused(&cluster) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no validator counted a refused connection from the outsider"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let before = cluster.height(0);
    cluster.wait_for_height(&[0, 1, 2, 3], before + 3, WAIT);
    assert_eq!(
        cluster.height(outsider),
        0,
        "the outsider must neither receive gossip nor fetch blocks"
    );
}
