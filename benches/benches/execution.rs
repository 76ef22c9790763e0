//! Deterministic execution of a block: `execute_block` over an in-memory state, with blocks of
//! 1000 and 10000 admissible `Put` transactions (200-byte values, right chain id, `valid_until`
//! inside the window, new distinct keys). The parent state is that of 100 earlier blocks of 1000
//! such puts: 100000 keys in the authenticated state tree and 100000 committed transaction ids.
//!
//! Per transaction this is the admissibility check (which encodes it), the id (encode + blake3),
//! the duplicate check against the committed ids and the write into the block's change set; then
//! the state tree update over all changes gives the new `state_root` and the nodes to store.
//! Dropping the outcome is included. Signatures are not checked here (replicas batch-verify them
//! separately; see the crypto bench). Throughput is in transactions per second.
//!
//! `cargo bench -p cassia-benches --bench execution`; ids `execution::block/txs=1000|10000`.

mod common;

use std::hint::black_box;
use std::time::Duration;

use cassia_crypto::Hash;
use cassia_ledger::execution::{
    BlockContext, MemoryState, Parent, StateChanges, StateReader, execute_block, kv_key,
};
use cassia_ledger::{Parameters, state_tree};
use common::{
    CHAIN_ID, GENESIS, NAMESPACE, accounts, block_transactions, payload, permissions_state,
    record_key,
};
use criterion::{Criterion, SamplingMode, Throughput, criterion_main};

/// Earlier blocks, and the puts in each, that the parent state holds.
const EARLIER_BLOCKS: u64 = 100;
const EARLIER_PUTS_PER_BLOCK: u64 = 1_000;

/// The height the benchmark block executes at, right after the earlier blocks.
const HEIGHT: u64 = EARLIER_BLOCKS + 1;

/// The state after the earlier blocks, built directly (their transactions need not be signed or
/// kept: only their ids are looked up), and its root.
fn parent_state() -> (MemoryState, Hash) {
    let mut changes: StateChanges = (1..=EARLIER_BLOCKS)
        .flat_map(|height| {
            (0..EARLIER_PUTS_PER_BLOCK).map(move |index| {
                let key = kv_key(NAMESPACE, &record_key(height, index));
                (key, Some(payload(height, index)))
            })
        })
        .collect();
    changes.extend(permissions_state(&accounts()));
    let mut state = MemoryState {
        transactions: (0..EARLIER_BLOCKS * EARLIER_PUTS_PER_BLOCK)
            .map(|i| Hash::of(&i.to_le_bytes()))
            .collect(),
        ..MemoryState::default()
    };
    let tree = state_tree::update(&state, &state_tree::EMPTY, &changes)
        .expect("the empty tree reads no node");
    state.nodes.insert_all(tree.new_nodes);
    state.values = changes
        .into_iter()
        .filter_map(|(key, value)| Some((key, value?)))
        .collect();
    (state, tree.root)
}

fn bench_block(c: &mut Criterion) {
    let parameters = Parameters::default();
    let context = BlockContext {
        chain_id: CHAIN_ID,
        genesis: &GENESIS,
        height: HEIGHT,
        parameters: &parameters,
    };
    let (state, parent_root) = parent_state();
    let parent = Parent {
        hash: Hash::of(b"the parent block"),
        state_root: parent_root,
    };
    assert!(
        state.get(&kv_key(NAMESPACE, &record_key(1, 0))).is_some(),
        "the parent state holds the earlier puts"
    );
    let keys = accounts();
    let mut group = c.benchmark_group("execution::block");
    group.sampling_mode(SamplingMode::Flat);
    for count in [1_000u64, 10_000] {
        let transactions = block_transactions(&keys, HEIGHT, count);
        let outcome = execute_block(&context, &state, &parent, &transactions)
            .expect("every benchmark transaction is admissible");
        assert!(
            outcome.receipts.iter().all(|r| r.succeeded()),
            "every put succeeds"
        );
        group.throughput(Throughput::Elements(count));
        group.bench_function(format!("txs={count}"), |b| {
            b.iter(|| {
                execute_block(&context, &state, &parent, black_box(&transactions))
                    .expect("admissible")
            });
        });
    }
    group.finish();
}

fn configured() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

/// criterion's generated group, kept private so it needs no docs.
mod group {
    criterion::criterion_group! {
        name = benches;
        config = super::configured();
        targets = super::bench_block
    }
}

criterion_main!(group::benches);
