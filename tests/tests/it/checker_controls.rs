//! Negative controls of the simulator's checker, one per invariant it checks
//! (`cassia_tests::checker`): each test plants exactly one fault and asserts that exactly that
//! violation, and nothing else, is reported. The faults are crafted objects fed to the same
//! `Checker` the simulator drives (`Cluster` calls `on_any_send`, `on_honest_send` and
//! `on_commit`), built from the fuzzer's fixture: a genesis of four validators and a three-block
//! chain built, executed and certified as the node does it. Equivocation is also planted in the
//! simulator itself (a replica restarted without its WAL), and the agreement checker's control
//! through the simulator is `negative_control.rs`.

use cassia_consensus::{Commit, Message, Payload, Proposal};
use cassia_crypto::Hash;
use cassia_ledger::{Block, Vote, VoteKind};
use cassia_tests::checker::Checker;
use cassia_tests::cluster::{Cluster, ClusterConfig};
use cassia_tests::fuzz::World;
use cassia_tests::fuzz::world::{certify, chain};
use cassia_tests::network::NetworkConfig;

/// The three validators whose commit votes certify a fixture block (a quorum of four).
const QUORUM: [usize; 3] = [0, 1, 2];

fn checker(world: &World) -> Checker {
    Checker::new(world.genesis.genesis_hash(), world.validators.clone())
}

/// The pre-prepare the leader of `block`'s height and view would send for it.
fn pre_prepare(world: &World, block: &Block) -> Message {
    let proposal = Proposal {
        height: block.height(),
        view: block.header.view,
        block_hash: block.hash(),
    };
    let leader = world.leader_key(block.height(), block.header.view);
    let payload = Payload::PrePrepare {
        proposal,
        block: block.clone(),
    };
    Message::sign(&chain(), leader, payload)
}

/// Fixture block `index` (0-based) as proposed and committed with its real certificate.
fn propose_and_commit(world: &World, checker: &mut Checker, node: usize, index: usize) {
    let chain_block = &world.chain[index];
    checker.on_any_send(&pre_prepare(world, &chain_block.block));
    let commit = Commit {
        block: chain_block.block.clone(),
        certificate: chain_block.certificate.clone(),
    };
    checker.on_commit(node, &commit);
}

fn prepare(world: &World, signer: usize, block: &Block) -> Message {
    let vote = Vote {
        kind: VoteKind::Prepare,
        height: block.height(),
        view: block.header.view,
        block_hash: block.hash(),
    };
    Message::sign(&chain(), &world.validator_keys[signer], Payload::Vote(vote))
}

#[test]
fn the_untampered_fixture_chain_shows_no_violation() {
    let world = World::new();
    let mut checker = checker(&world);
    for node in 0..4 {
        for index in 0..world.chain.len() {
            propose_and_commit(&world, &mut checker, node, index);
        }
    }
    let block = &world.chain[0].block;
    checker.on_honest_send(1, &prepare(&world, 1, block));
    checker.on_honest_send(1, &prepare(&world, 1, block));
    assert_eq!(checker.violations(), [] as [String; 0]);
    assert_eq!(checker.highest_committed(), 3);
}

#[test]
fn a_tampered_certificate_is_reported_as_exactly_a_certificate_violation() {
    let world = World::new();
    let mut checker = checker(&world);
    let chain_block = &world.chain[0];
    checker.on_any_send(&pre_prepare(&world, &chain_block.block));
    // Two commit votes of four: below the quorum of three.
    let mut certificate = chain_block.certificate.clone();
    certificate.signatures.truncate(2);
    let commit = Commit {
        block: chain_block.block.clone(),
        certificate,
    };
    checker.on_commit(0, &commit);
    assert_eq!(
        checker.violations(),
        ["certificate: node 0 committed height 1 with an invalid certificate"]
    );
}

#[test]
fn a_certificate_for_another_block_is_reported_as_exactly_a_certificate_violation() {
    let world = World::new();
    let mut checker = checker(&world);
    propose_and_commit(&world, &mut checker, 0, 0);
    let chain_block = &world.chain[1];
    checker.on_any_send(&pre_prepare(&world, &chain_block.block));
    // Block 1's valid certificate, presented for block 2.
    let commit = Commit {
        block: chain_block.block.clone(),
        certificate: world.chain[0].certificate.clone(),
    };
    checker.on_commit(1, &commit);
    assert_eq!(
        checker.violations(),
        ["certificate: node 1 committed height 2 with an invalid certificate"]
    );
}

#[test]
fn a_block_nobody_proposed_is_reported_as_exactly_a_validity_violation() {
    let world = World::new();
    let mut checker = checker(&world);
    let chain_block = &world.chain[0];
    let commit = Commit {
        block: chain_block.block.clone(),
        certificate: chain_block.certificate.clone(),
    };
    checker.on_commit(2, &commit);
    assert_eq!(
        checker.violations(),
        ["validity: node 2 committed height 1: never proposed"]
    );
}

#[test]
fn a_block_off_the_committed_chain_is_reported_as_exactly_a_validity_violation() {
    let world = World::new();
    let mut checker = checker(&world);
    propose_and_commit(&world, &mut checker, 0, 0);
    // Block 2 with another parent than the committed block 1: proposed by its leader and
    // certified as it stands, so only the chain link is wrong.
    let mut block = world.chain[1].block.clone();
    block.header.parent = Hash::of(b"a block nobody committed");
    checker.on_any_send(&pre_prepare(&world, &block));
    let certificate = certify(&world.validator_keys, &QUORUM, &block.header);
    checker.on_commit(0, &Commit { block, certificate });
    assert_eq!(
        checker.violations(),
        ["validity: node 0 committed height 2: does not extend the committed chain"]
    );
}

#[test]
fn a_block_proposed_by_a_non_leader_is_reported_as_exactly_a_validity_violation() {
    let world = World::new();
    let mut checker = checker(&world);
    let mut block = world.chain[0].block.clone();
    let leader = world.leader_key(1, block.header.view).public();
    let other = world
        .validator_keys
        .iter()
        .map(|key| key.public())
        .find(|key| *key != leader)
        .expect("four validators");
    block.header.proposer = other;
    checker.on_any_send(&pre_prepare(&world, &block));
    let certificate = certify(&world.validator_keys, &QUORUM, &block.header);
    checker.on_commit(3, &Commit { block, certificate });
    assert_eq!(
        checker.violations(),
        ["validity: node 3 committed height 1: proposer is not the leader of its view"]
    );
}

#[test]
fn a_block_whose_transactions_do_not_match_its_header_is_reported_as_exactly_a_validity_violation()
{
    let world = World::new();
    let mut checker = checker(&world);
    let chain_block = &world.chain[0];
    let mut block = chain_block.block.clone();
    assert!(
        !block.transactions.is_empty(),
        "fixture block 1 has transactions"
    );
    // The header (and so the hash, the proposal and the certificate) stay; one transaction is
    // dropped from the body.
    block.transactions.pop();
    checker.on_any_send(&pre_prepare(&world, &block));
    let commit = Commit {
        block,
        certificate: chain_block.certificate.clone(),
    };
    checker.on_commit(0, &commit);
    assert_eq!(
        checker.violations(),
        [
            "validity: node 0 committed height 1: transactions do not match the header or are badly signed"
        ]
    );
}

#[test]
fn an_honest_node_signing_two_prepares_for_one_slot_is_reported_as_exactly_an_equivocation() {
    let world = World::new();
    let mut checker = checker(&world);
    let block = world.chain[0].block.clone();
    let mut twin = block.clone();
    twin.header.timestamp_ms += 1;
    assert_ne!(block.hash(), twin.hash(), "the twin is another block");
    // What a replica restarted without its WAL would do: prepare the block it had prepared,
    // then, having forgotten it, another one for the same (height, view).
    checker.on_honest_send(1, &prepare(&world, 1, &block));
    checker.on_honest_send(1, &prepare(&world, 1, &twin));
    // Another node preparing the twin is no equivocation.
    checker.on_honest_send(2, &prepare(&world, 2, &twin));
    assert_eq!(
        checker.violations(),
        ["equivocation: honest node 1 signed two Prepare at height 1 view 0"]
    );
}

/// A replica that loses its store (WAL included) and restarts from genesis, in the simulator.
/// `lose_store` false is the control: the same crash with the store kept.
fn restart_after_crash(seed: u64, node: usize, lose_store: bool) -> Vec<String> {
    let mut cluster = Cluster::new(ClusterConfig {
        n: 4,
        seed,
        network: NetworkConfig::calm(),
        trace: false,
        tx_interval_ms: 150,
    });
    cluster.start();
    cluster.run_for(500);
    if lose_store {
        cluster.crash_losing_store(node);
    } else {
        cluster.crash(node);
    }
    cluster.restart(node);
    cluster.run_for(5_000);
    cluster.violations().to_vec()
}

#[test]
fn a_replica_restarted_without_its_wal_signs_twice_and_the_simulator_reports_only_that() {
    // Seed 1: node 1 leads height 1 in view 0; restarted from genesis it proposes and prepares
    // height 1 again, another block (replay: this test with `--nocapture`).
    let (seed, node) = (1, 1);
    let kept = restart_after_crash(seed, node, false);
    assert_eq!(
        kept,
        [] as [String; 0],
        "seed {seed}: a crash with the store kept"
    );
    let violations = restart_after_crash(seed, node, true);
    println!("seed {seed}, node {node} restarted without its store: {violations:#?}");
    let prefix = format!("equivocation: honest node {node} signed two ");
    assert!(
        violations
            .iter()
            .any(|v| v.contains("two PrePrepare at height 1 view 0")),
        "seed {seed}: the second proposal was not reported: {violations:#?}"
    );
    assert!(
        violations.iter().all(|v| v.starts_with(&prefix)),
        "seed {seed}: a violation other than node {node}'s equivocation: {violations:#?}"
    );
}
