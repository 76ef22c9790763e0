//! Scenarios, written as stories. Each prints its seed on failure.

use cassia_consensus::DropReason;
use cassia_tests::byzantine::{HugeViews, Silent};
use cassia_tests::cluster::{Cluster, ClusterConfig};
use cassia_tests::network::NetworkConfig;

fn cluster(n: usize, seed: u64, network: NetworkConfig) -> Cluster {
    let mut cluster = Cluster::new(ClusterConfig {
        n,
        seed,
        network,
        trace: false,
        tx_interval_ms: 100,
    });
    cluster.start();
    cluster
}

fn assert_safe(cluster: &Cluster, seed: u64) {
    assert!(
        cluster.violations().is_empty(),
        "seed {seed}: {:#?}",
        cluster.violations()
    );
}

#[test]
fn a_single_validator_commits_alone() {
    let mut cluster = cluster(1, 1, NetworkConfig::calm());
    cluster
        .run_until_height(5, 10_000)
        .expect("n = 1 commits without peers");
    assert_safe(&cluster, 1);
}

#[test]
fn four_validators_commit_in_the_normal_case_without_view_changes() {
    let mut cluster = cluster(4, 2, NetworkConfig::calm());
    cluster
        .run_until_height(10, 30_000)
        .expect("seed 2: normal case commits");
    assert_safe(&cluster, 2);
    assert_eq!(
        cluster.checker().view_changes(),
        0,
        "seed 2: no view change on a calm network"
    );
}

#[test]
fn a_partitioned_replica_catches_up_by_sync_after_healing() {
    let seed = 3;
    let mut cluster = cluster(4, seed, NetworkConfig::calm());
    cluster.partition(&[&[0], &[1, 2, 3]]);
    cluster.run_until_height(0, 1).expect("trivially");
    cluster.run_for(5_000);
    assert_eq!(
        cluster.heights()[0],
        Some(0),
        "seed {seed}: the cut-off replica cannot commit alone"
    );
    cluster.heal();
    let ahead = cluster.checker().highest_committed();
    assert!(
        ahead >= 5,
        "seed {seed}: the majority kept committing ({ahead})"
    );
    cluster
        .run_until_height(ahead + 1, 60_000)
        .expect("the lagging replica catches up");
    assert!(
        cluster.replica_stats(0).expect("running").synced > 0,
        "seed {seed}: it caught up through sync"
    );
    assert_safe(&cluster, seed);
}

#[test]
fn no_quorum_anywhere_stalls_then_recovers_after_healing() {
    let seed = 4;
    let mut cluster = cluster(4, seed, NetworkConfig::calm());
    cluster.run_until_height(2, 10_000).expect("starts");
    cluster.partition(&[&[0, 1], &[2, 3]]);
    cluster.run_for(200);
    let stalled = cluster.checker().highest_committed();
    cluster.run_for(5_000);
    assert!(
        cluster.checker().highest_committed() <= stalled + 1,
        "seed {seed}: no quorum, no commits"
    );
    cluster.heal();
    cluster.check_liveness(60_000);
    assert_safe(&cluster, seed);
}

#[test]
fn a_silent_leader_is_replaced_by_a_view_change() {
    let seed = 5;
    let mut cluster = Cluster::new(ClusterConfig {
        n: 4,
        seed,
        network: NetworkConfig::calm(),
        trace: false,
        tx_interval_ms: 0,
    });
    cluster.set_behaviour(1, Box::new(Silent));
    cluster.start();
    cluster
        .run_until_height(6, 60_000)
        .expect("commits despite a silent validator");
    assert!(
        cluster.checker().view_changes() > 0,
        "seed {seed}: the silent leader's heights needed view changes"
    );
    assert_safe(&cluster, seed);
}

#[test]
fn every_replica_crashes_and_restarts_from_its_store_without_equivocating() {
    let seed = 6;
    let mut cluster = cluster(4, seed, NetworkConfig::lossy());
    for node in 0..4 {
        cluster.run_for(300);
        cluster.crash_before_send(node);
        cluster.run_for(150);
        cluster.crash((node + 1) % 4);
        cluster.run_for(150);
        cluster.restart_all();
    }
    cluster.check_liveness(60_000);
    assert_safe(&cluster, seed);
}

#[test]
fn huge_views_from_a_peer_are_dropped_and_harmless() {
    let seed = 7;
    let mut cluster = Cluster::new(ClusterConfig {
        n: 4,
        seed,
        network: NetworkConfig::calm(),
        trace: false,
        tx_interval_ms: 0,
    });
    cluster.set_behaviour(3, Box::new(HugeViews));
    cluster.start();
    cluster
        .run_until_height(8, 60_000)
        .expect("commits despite huge views");
    let stats = cluster.replica_stats(0).expect("running");
    let dropped = stats.drops.get(DropReason::ViewTooFarAhead)
        + stats.drops.get(DropReason::HeightTooFarAhead);
    assert!(
        dropped > 0,
        "seed {seed}: the huge views were seen and dropped: {:?}",
        stats.drops
    );
    assert_safe(&cluster, seed);
}
