//! Faults the way deployments have them, between real processes (issue 14, part 6; figures in
//! RELIABILITY.md):
//!
//! - **clock skew**: replicas refuse a proposal whose timestamp is more than
//!   `max_clock_drift_ms` ahead of their own clocks, so a validator whose clock is ahead by less
//!   keeps proposing, and one ahead by more is outvoted: its heights are decided in a later
//!   view, by another leader, and nothing forks;
//! - **more than f validators killed at once under load**: the chain halts (no quorum), then
//!   resumes when they return, with every acknowledged transaction committed everywhere;
//! - **slow, one-way and flapping links** (the TCP proxy): the chain keeps committing;
//! - **a full disk, and fsync failing**, under a running validator: its store refuses every
//!   write after the first that failed, so it stops without voting on anything it could not make
//!   durable, and rejoins once restarted on a sound disk;
//! - **duplicated, reordered and late messages** (an interceptor on what each node publishes,
//!   since bytes under Noise cannot be duplicated or reordered): replicas count each statement
//!   once;
//! - **a validator added and another removed while nodes are being killed**;
//! - **a node killed right after acknowledging submissions nobody else saw** (it was cut off):
//!   its journal of submissions brings them back when it restarts, and they commit.
//!
//! Needs the `cassia` binary (`cargo build -p cassia-cli`) for the devnet; the nodes run as
//! `test-node` (`--signed-log`, `--clock-offset-ms`, `--max-file-bytes`, `--fail-fsync-when`,
//! `--disorder`), built by `cargo test -p cassia-tests`.

use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use cassia_api::{BlockId, Client};
use cassia_ledger::Validator;
use cassia_ledger::records::GovAction;
use cassia_tests::agreement;
use cassia_tests::governance::{Organizations, wait_for_validators};
use cassia_tests::load::{Load, LoadReport};
use cassia_tests::process::{DiskFault, ProcessCluster};

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

/// `Submit` answers "admitted" only once the transaction is in the node's journal of
/// submissions. Node 3 is cut off, so what it acknowledges reaches no one and cannot commit;
/// then it is SIGKILLed, so its mempool is gone, and restarted with the links healed. Every
/// transaction it acknowledged commits on all four. (Without the journal none would: the
/// transactions existed only in the killed node's memory.)
#[test]
fn submissions_acknowledged_by_a_node_killed_before_anyone_saw_them_still_commit() {
    const VICTIM: usize = 3;
    const SUBMITTED: u64 = 40;
    let mut cluster = ProcessCluster::start_partitionable(4);
    cluster.wait_for_height(&ALL, 2, WAIT);
    cluster.partition(&[&[VICTIM], &[0, 1, 2]]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let key = cluster.admin_key(1);
    let acknowledged: Vec<cassia_crypto::Hash> = runtime.block_on(async {
        let mut client = Client::connect(&cluster.endpoint(VICTIM))
            .await
            .expect("node3 answers gRPC");
        let status = client.status().await.expect("node3 answers Status");
        let mut acknowledged = Vec::new();
        for nonce in 0..SUBMITTED {
            let tx = cassia_ledger::Transaction {
                chain_id: status.chain_id.clone(),
                signer: key.public(),
                nonce: 1 << 40 | nonce,
                valid_until: status.height + 1_000,
                op: cassia_ledger::Operation::Notarize {
                    digest: cassia_crypto::Hash::of(format!("journal {nonce}").as_bytes()),
                    metadata: String::new(),
                    co_signers: Vec::new(),
                },
            }
            .sign(&status.genesis, &key);
            let id = client
                .submit(&tx)
                .await
                .unwrap_or_else(|e| panic!("node3 refused submission {nonce}: {e}"));
            acknowledged.push(id);
        }
        acknowledged
    });
    let cut_off_at = cluster.height(VICTIM);
    cluster.kill(VICTIM);
    cluster.heal();
    cluster.restart(VICTIM);
    cluster.wait_for_height(&ALL, cluster.height(0) + 2, WAIT);
    let missing = agreement::missing_receipts(&cluster, &runtime, &ALL, &acknowledged, WAIT);
    let end = ALL.iter().map(|&i| cluster.height(i)).min().unwrap_or(0);
    eprintln!(
        "node3 acknowledged {} while cut off at height {cut_off_at}, was killed and restarted; \
         {} node-transaction pairs missing at height {end}",
        acknowledged.len(),
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "acknowledged by the killed node but never committed: {missing:?}"
    );
    assert!(
        cluster
            .log(VICTIM)
            .contains("replayed the journal of acknowledged submissions"),
        "node3 did not replay its journal"
    );
    let divergent = agreement::divergent_heights(&cluster, &runtime, &ALL, end);
    assert!(divergent.is_empty(), "forked at heights {divergent:?}");
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

/// The validator the disk faults hit.
const FAULTY: usize = 3;

/// How much its files may grow past their size at the restart that caps them: its store's log
/// (every block, and every consensus-WAL save before a vote) reaches it within seconds under
/// load, long before the signed-statement log grows that much.
const HEADROOM_BYTES: u64 = 256 << 10;

/// The disk fills up under a running validator: node 3 is restarted with every file it writes
/// capped a little above the largest it has (`test-node --max-file-bytes`), so once its store's
/// log reaches that size a write fails as on a full disk.
#[test]
fn a_full_disk_stops_the_node_and_it_rejoins_once_there_is_room() {
    a_disk_fault_stops_the_node_and_it_rejoins(
        |cluster| {
            let home = cluster.root().join(format!("devnet/node{FAULTY}"));
            let max_file_bytes = largest_file_bytes(&home) + HEADROOM_BYTES;
            cluster.set_disk_fault(FAULTY, Some(DiskFault::Full { max_file_bytes }));
            cluster.restart(FAULTY);
        },
        "File too large",
    );
}

/// fsync starts failing under a running validator (`test-node --fail-fsync-when`: from the
/// moment a trigger file appears, every fsync and fdatasync returns EIO, as on a disk whose
/// writeback failed).
#[test]
fn a_failing_fsync_stops_the_node_and_it_rejoins_once_the_disk_is_sound() {
    a_disk_fault_stops_the_node_and_it_rejoins(
        |cluster| {
            let trigger = cluster.root().join("fsync-fails");
            cluster.set_disk_fault(FAULTY, Some(DiskFault::FsyncFailsWhen(trigger.clone())));
            cluster.restart(FAULTY);
            cluster.wait_for_height(&[FAULTY], cluster.height(0) + 3, WAIT);
            std::fs::write(&trigger, b"").expect("create the trigger file");
        },
        "Input/output error",
    );
}

/// One disk fault under a running validator and load. `fault` (given the cluster with node 3
/// stopped) restarts node 3 with it; its store's first failed write poisons the store, which
/// refuses every later write, including the consensus-WAL save that must precede any vote, so
/// the node stops, its log naming the failure (`failure`); the other three keep committing.
/// Restarted on a sound disk, it recovers its store and rejoins: every node holds the same chain
/// and every acknowledged transaction, and its signed-statement log, from before the fault and
/// after, holds no two conflicting statements.
fn a_disk_fault_stops_the_node_and_it_rejoins(
    fault: impl FnOnce(&mut ProcessCluster),
    failure: &str,
) {
    let mut cluster = ProcessCluster::start_logging_signed(4);
    cluster.wait_for_height(&ALL, 2, WAIT);
    let endpoints = ALL.iter().map(|&i| cluster.endpoint(i)).collect();
    let load = Load::start(endpoints, cluster.admin_key(1), 40, 1_000);
    cluster.wait_for_height(&ALL, cluster.height(0) + 3, WAIT);
    cluster.kill(FAULTY);
    fault(&mut cluster);
    let deadline = std::time::Instant::now() + WAIT;
    while !cluster.exited(FAULTY) {
        assert!(
            std::time::Instant::now() < deadline,
            "node {FAULTY} still runs {WAIT:?} after its disk fault, at height {}",
            cluster.height(FAULTY)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = cluster.log(FAULTY);
    assert!(
        log.contains(failure),
        "node {FAULTY} stopped, but its log does not name the failure {failure:?}: {log}"
    );
    let signed_before = agreement::equivocations(&cluster, &[FAULTY]).1;
    let stopped_at = cluster.height(0);
    cluster.wait_for_height(&[0, 1, 2], stopped_at + 5, WAIT);

    cluster.kill(FAULTY); // reaps the exited process
    cluster.set_disk_fault(FAULTY, None);
    cluster.restart(FAULTY);
    let target = cluster.height(0) + 5;
    cluster.wait_for_height(&ALL, target, WAIT);
    let report = load.stop();
    let ended = end_checks(&cluster, &ALL, &report);
    let (equivocations, signed) = agreement::equivocations(&cluster, &ALL);
    eprintln!(
        "node {FAULTY} stopped on {failure:?} while the others were at {stopped_at}, having \
         signed {signed_before} statements; rejoined; {ended}; {signed} statements signed in all"
    );
    assert_eq!(
        equivocations, 0,
        "a node equivocated (one that signed past its failed write and then again would show here)"
    );
}

/// The size of the largest file under `dir`.
fn largest_file_bytes(dir: &std::path::Path) -> u64 {
    let mut largest = 0;
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        largest = largest.max(if meta.is_dir() {
            largest_file_bytes(&entry.path())
        } else {
            meta.len()
        });
    }
    largest
}

/// Every node's consensus messages held back, published twice and published again seconds late
/// (`test-node --disorder`, [`cassia_tests::disorder`]: what the TCP proxy cannot do under
/// Noise), under load: replicas count each statement once, so the chain keeps committing, every
/// node holds the same chain and every acknowledged transaction, and no statement conflicts.
#[test]
fn duplicated_reordered_and_late_messages_under_load_lose_nothing() {
    /// Each of the three disorders hits this many messages in a hundred.
    const PERCENT: u8 = 30;
    const HEIGHTS: u64 = 30;
    let mut cluster = ProcessCluster::start_logging_signed(4);
    for node in ALL {
        cluster.kill(node);
        cluster.set_disorder(node, Some(PERCENT));
        cluster.restart(node);
    }
    cluster.wait_for_height(&ALL, 2, WAIT);
    let endpoints = ALL.iter().map(|&i| cluster.endpoint(i)).collect();
    let load = Load::start(endpoints, cluster.admin_key(1), 20, 1_000);
    let start = cluster.height(0);
    cluster.wait_for_height(&ALL, start + HEIGHTS, WAIT);
    // The last report of every node, after the run: the disorder did happen, on every node.
    std::thread::sleep(cassia_tests::disorder::REPORT_EVERY * 2);
    let report = load.stop();
    let ended = end_checks(&cluster, &ALL, &report);
    let mut done = Vec::new();
    for node in ALL {
        let log = cluster.log(node);
        let line = log
            .lines()
            .rfind(|line| line.contains("disorder: messages held back"))
            .unwrap_or_else(|| panic!("node {node} never reported its disorder: {log}"));
        let counts = ["held", "duplicated", "late"].map(|field| field_value(line, field));
        assert!(
            counts.iter().all(|&count| count > 0),
            "node {node} did not disorder all three ways: {line}"
        );
        done.push(counts);
    }
    let views = ALL.map(|i| cluster.metric(i, "cassia_view_changes_total"));
    eprintln!(
        "{HEIGHTS} heights from {start} at {PERCENT}%; (held, duplicated, late) per node {done:?}; \
         view changes {views:?}; {ended}"
    );
    assert_eq!(
        agreement::equivocations(&cluster, &ALL).0,
        0,
        "a node equivocated"
    );
}

/// The number after `field=` in a log line (0 if absent).
fn field_value(line: &str, field: &str) -> u64 {
    let key = format!("{field}=");
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&key))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// A 5th validator added and an original one removed by governance while validators are killed
/// (SIGKILL) and restarted one at a time, the newcomer among them from its start, under load.
/// Each change must pass, the newcomer catch up and join, and the chain go on; at the end the
/// remaining four hold the same chain and every acknowledged transaction, the removed node's
/// chain is a prefix of theirs, and no node (the newcomer included) signed conflicting statements.
#[test]
fn a_validator_is_added_and_another_removed_while_nodes_are_killed() {
    /// Killed in turn; node 0 takes the governance transactions and is spared.
    const DOWN: Duration = Duration::from_millis(1_500);
    const UP: Duration = Duration::from_millis(1_500);
    const REMOVED: usize = 1;
    let mut cluster = ProcessCluster::start_logging_signed(4);
    cluster.wait_for_height(&ALL, 2, WAIT);
    // Not to the node being removed: once out, no member takes what it holds.
    let endpoints = [0, 2, 3].iter().map(|&i| cluster.endpoint(i)).collect();
    let load = Load::start(endpoints, cluster.admin_key(3), 20, 1_000);
    let newcomer = cluster.start_outsider();
    let orgs = Organizations::of(&cluster);
    let added = Validator {
        name: "node4".into(),
        organization: "org0".into(),
        node_key: cluster.node_key(newcomer),
        p2p_address: cluster.p2p_address(newcomer),
    };
    let removed = cluster.node_key(REMOVED);
    let gateway = cluster.endpoint(0);
    let governed = AtomicBool::new(false);
    // Each change is proposed while a node is down: the governance thread waits for a kill.
    let (went_down, a_node_is_down) = std::sync::mpsc::channel::<usize>();
    let mut killed = Vec::new();
    std::thread::scope(|scope| {
        let governed = &governed;
        let governance = scope.spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let next_kill = || {
                while a_node_is_down.try_recv().is_ok() {}
                a_node_is_down
                    .recv_timeout(WAIT)
                    .unwrap_or_else(|e| panic!("no node was killed within {WAIT:?}: {e}"))
            };
            runtime.block_on(async {
                let mut client = Client::connect(&gateway).await.expect("node 0 answers");
                next_kill();
                let add = GovAction::AddValidator { validator: added };
                orgs.pass(&mut client, add, 1_000).await;
                wait_for_validators(&mut client, 5, "the newcomer never joined", WAIT).await;
                next_kill();
                let remove = GovAction::RemoveValidator {
                    node_key: removed,
                    proof: None,
                };
                orgs.pass(&mut client, remove, 2_000).await;
                wait_for_validators(&mut client, 4, "node 1 was never removed", WAIT).await;
            });
            governed.store(true, Ordering::Release);
        });
        // The newcomer first: it is killed while it syncs, before it has joined.
        let victims = [newcomer, 2, 3, REMOVED];
        let deadline = std::time::Instant::now() + WAIT * 3;
        while !governed.load(Ordering::Acquire) && !governance.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "the two changes did not pass within {:?} (killed so far: {killed:?})",
                WAIT * 3
            );
            let victim = victims[killed.len() % victims.len()];
            cluster.kill(victim);
            killed.push(victim);
            let _ = went_down.send(victim);
            std::thread::sleep(DOWN);
            cluster.restart(victim);
            std::thread::sleep(UP);
        }
        if let Err(panic) = governance.join() {
            std::panic::resume_unwind(panic);
        }
    });
    let remaining = [0, 2, 3, newcomer];
    let target = cluster.height(0) + 5;
    cluster.wait_for_height(&remaining, target, WAIT);
    let report = load.stop();
    let ended = end_checks(&cluster, &remaining, &report);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let removed_at = cluster.height(REMOVED);
    let divergent = agreement::divergent_heights(&cluster, &runtime, &[0, REMOVED], removed_at);
    assert!(
        divergent.is_empty(),
        "the removed node forked at heights {divergent:?}"
    );
    let everyone = [0, 1, 2, 3, newcomer];
    let (equivocations, signed) = agreement::equivocations(&cluster, &everyone);
    eprintln!(
        "added node {newcomer}, removed node {REMOVED} while killing {killed:?}; {ended}; the \
         removed node stopped at {removed_at}; {signed} statements signed"
    );
    assert_eq!(equivocations, 0, "a node equivocated");
}

/// The checks every run here ends with, on `nodes`: every transaction the load had acknowledged
/// is committed on each, they hold the same blocks up to the lowest of their heights, and none
/// kept a proof that another equivocated. Returns a summary for the run's figures.
fn end_checks(cluster: &ProcessCluster, nodes: &[usize], report: &LoadReport) -> String {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let missing = agreement::missing_receipts(cluster, &runtime, nodes, &report.acknowledged, WAIT);
    let end = nodes.iter().map(|&i| cluster.height(i)).min().unwrap_or(0);
    let divergent = agreement::divergent_heights(cluster, &runtime, nodes, end);
    assert!(report.acknowledged.len() >= 50, "the load ran: {report:?}");
    assert!(
        missing.is_empty(),
        "acknowledged but not committed: {missing:?}"
    );
    assert!(divergent.is_empty(), "forked at heights {divergent:?}");
    // The durability check's negative control: an id never submitted is missing everywhere.
    let planted = cassia_crypto::Hash::of(b"never submitted");
    let found = agreement::missing_receipts(cluster, &runtime, nodes, &[planted], Duration::ZERO);
    let expected: Vec<_> = nodes.iter().map(|&node| (node, planted)).collect();
    assert_eq!(
        found, expected,
        "a transaction never submitted was not reported missing"
    );
    // What the others received, apart from each signer's own log.
    let proofs = agreement::proofs_kept(cluster, &runtime, nodes);
    assert_eq!(proofs, 0, "the nodes kept {proofs} proofs of equivocation");
    format!(
        "all at {end} or above; {} acknowledged, none missing; refused {:?}; no proof of \
         equivocation kept",
        report.acknowledged.len(),
        report.refused
    )
}
