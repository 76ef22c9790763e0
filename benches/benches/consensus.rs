//! Throughput of the consensus core: messages a replica admits and processes per second (each
//! one signature-checked), for a whole height of pre-prepare, prepares and commits.
//!
//! `cargo bench -p cassia-benches --bench consensus`; ids `consensus::step/n=4|7|16`.

use std::hint::black_box;

use cassia_consensus::{Config, Input, Message, Payload, Proposal, Replica};
use cassia_crypto::{GenesisHash, Hash, Keypair};
use cassia_ledger::{Block, BlockHeader, Validator, ValidatorSet, Vote, VoteKind};
use criterion::{BatchSize, Criterion, Throughput, criterion_main};

const GENESIS: GenesisHash = GenesisHash(Hash([0xbe; 32]));

/// One height as replica 0 (a backup) sees it: the leader's pre-prepare, then every other
/// validator's prepare and commit.
struct Height {
    config: Config,
    validators: ValidatorSet,
    block_hash: Hash,
    messages: Vec<Message>,
}

fn height(n: usize) -> Height {
    let keys: Vec<Keypair> = (0..n)
        .map(|i| Keypair::from_secret([u8::try_from(i + 1).expect("n < 255"); 32]))
        .collect();
    let validators = ValidatorSet {
        validators: keys
            .iter()
            .enumerate()
            .map(|(i, key)| Validator {
                name: format!("v{i}"),
                organization: "bench".into(),
                node_key: key.public(),
                p2p_address: String::new(),
            })
            .collect(),
    };
    let leader = &keys[1];
    let header = BlockHeader {
        height: 1,
        view: 0,
        parent: Hash::of(b"genesis"),
        timestamp_ms: 1,
        proposer: leader.public(),
        tx_root: cassia_crypto::merkle::empty_root(),
        receipts_root: Hash::ZERO,
        state_root: Hash::ZERO,
        validator_set_hash: validators.hash(),
    };
    let block = Block {
        header,
        transactions: Vec::new(),
    };
    let block_hash = block.hash();
    let proposal = Proposal {
        height: 1,
        view: 0,
        block_hash,
    };
    let mut messages = vec![Message::sign(
        &GENESIS,
        leader,
        Payload::PrePrepare { proposal, block },
    )];
    for kind in [VoteKind::Prepare, VoteKind::Commit] {
        let vote = Vote {
            kind,
            height: 1,
            view: 0,
            block_hash,
        };
        messages.extend(
            keys[1..]
                .iter()
                .map(|key| Message::sign(&GENESIS, key, Payload::Vote(vote))),
        );
    }
    let config = Config {
        genesis: GENESIS,
        key: keys[0].clone(),
        base_timeout_ms: 1_000,
    };
    Height {
        config,
        validators,
        block_hash,
        messages,
    }
}

/// Feeds the height to a fresh replica; returns whether it committed.
fn run(replica: &mut Replica, height: &Height) -> bool {
    let mut committed = false;
    let mut messages = height.messages.iter().cloned();
    if let Some(pre_prepare) = messages.next() {
        let _ = replica.step(Input::Message(pre_prepare));
    }
    let validated = Input::BlockValidated {
        height: 1,
        view: 0,
        block_hash: height.block_hash,
        valid: true,
    };
    committed |= replica.step(validated).commit.is_some();
    for message in messages {
        committed |= replica.step(Input::Message(message)).commit.is_some();
    }
    committed
}

fn fresh(height: &Height) -> Replica {
    let mut replica = Replica::new(height.config.clone(), 1, height.validators.clone(), None)
        .expect("a valid validator set");
    let _ = replica.step(Input::Start);
    replica
}

fn bench_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("consensus::step");
    for n in [4, 7, 16] {
        let height = height(n);
        assert!(
            run(&mut fresh(&height), &height),
            "n = {n}: the height commits"
        );
        group.throughput(Throughput::Elements(height.messages.len() as u64));
        group.bench_function(format!("n={n}"), |b| {
            b.iter_batched(
                || fresh(&height),
                |mut replica| black_box(run(&mut replica, &height)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

/// criterion's generated group, kept private so it needs no docs.
mod group {
    criterion::criterion_group!(benches, super::bench_step);
}

criterion_main!(group::benches);
