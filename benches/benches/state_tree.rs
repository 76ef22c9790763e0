//! The sparse Merkle state tree's update, as each block's execution runs it: a block's changed
//! keys applied to a tree that already holds many keys, its nodes read from an in-memory map
//! (as from the store's node cache, so the tree's own work is measured, not RocksDB's).
//!
//! - `state_tree::update/changes=C,keys=K`: insert C new keys (32-byte digests, as notarizations
//!   write) into a tree of K keys, and take the new root (throughput in changed keys per
//!   second). Each iteration inserts other keys into the same tree.
//!
//! `cargo bench -p cassia-benches --bench state_tree`; ids
//! `state_tree::update/changes=1000,keys=10000|100000`.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::Duration;

use cassia_crypto::Hash;
use cassia_ledger::state_tree::{self, Node, NodeReader, TreeError};
use criterion::{Criterion, SamplingMode, Throughput, criterion_main};

const CHANGES: u64 = 1_000;
const EXISTING: [u64; 2] = [10_000, 100_000];

/// Stored nodes in a hash map, like the store's node cache.
#[derive(Default)]
struct Nodes(HashMap<Hash, Node>);

impl NodeReader for Nodes {
    fn node(&self, hash: &Hash) -> Result<Option<Node>, TreeError> {
        Ok(self.0.get(hash).copied())
    }
}

/// `count` changes inserting fresh digest keys, numbered from `first`.
fn insertions(first: u64, count: u64) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    (first..first + count)
        .map(|i| {
            let key = Hash::of(&i.to_le_bytes()).as_bytes().to_vec();
            (key, Some(i.to_le_bytes().to_vec()))
        })
        .collect()
}

fn bench_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("state_tree::update");
    group.sampling_mode(SamplingMode::Flat);
    for existing in EXISTING {
        let mut nodes = Nodes::default();
        let built = state_tree::update(&nodes, &state_tree::EMPTY, &insertions(0, existing))
            .expect("building from the empty tree reads nothing");
        nodes.0.extend(built.new_nodes);
        let root = built.root;
        // Enough distinct blocks of changes for every iteration criterion may run.
        let blocks: Vec<_> = (0..64)
            .map(|b| insertions(existing + b * CHANGES, CHANGES))
            .collect();
        group.throughput(Throughput::Elements(CHANGES));
        group.bench_function(format!("changes={CHANGES},keys={existing}"), |b| {
            let mut next = 0usize;
            b.iter(|| {
                let changes = &blocks[next % blocks.len()];
                next += 1;
                state_tree::update(&nodes, black_box(&root), changes).expect("every node stored")
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
        targets = super::bench_update
    }
}

criterion_main!(group::benches);
