//! RFC 6962 Merkle trees over a block's transactions, as a block's `tx_root` is built: each leaf
//! is the canonical encoding of a signed transaction with a 200-byte payload (389 bytes).
//!
//! - `merkle::root/leaves=N`: hash the N leaves, build the tree, take the root (throughput in
//!   leaves per second).
//! - `merkle::proof/leaves=N`: from a built tree, produce the inclusion proof of one leaf and
//!   check it against the root as a light client would, hashing the leaf itself (throughput in
//!   proofs per second). The leaf changes every iteration.
//!
//! `cargo bench -p cassia-benches --bench merkle`; ids `merkle::root/leaves=1000|10000`,
//! `merkle::proof/leaves=1000|10000`.

mod common;

use std::hint::black_box;

use cassia_crypto::merkle::{MerkleTree, leaf_hash};
use cassia_ledger::codec;
use common::{accounts, block_transactions};
use criterion::{Criterion, Throughput, criterion_main};

const SIZES: [u64; 2] = [1_000, 10_000];

/// The encoded transactions of a block of `count`.
fn leaves(count: u64) -> Vec<Vec<u8>> {
    block_transactions(&accounts(), 1, count)
        .iter()
        .map(codec::encode)
        .collect()
}

fn bench_root(c: &mut Criterion) {
    let mut group = c.benchmark_group("merkle::root");
    for count in SIZES {
        let leaves = leaves(count);
        group.throughput(Throughput::Elements(count));
        group.bench_function(format!("leaves={count}"), |b| {
            b.iter(|| MerkleTree::from_leaves(black_box(&leaves)).root());
        });
    }
    group.finish();
}

fn bench_proof(c: &mut Criterion) {
    let mut group = c.benchmark_group("merkle::proof");
    for count in SIZES {
        let leaves = leaves(count);
        let tree = MerkleTree::from_leaves(&leaves);
        let root = tree.root();
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("leaves={count}"), |b| {
            // Walk the leaves with a stride coprime to the count, so every proof path differs.
            let mut index = 0usize;
            b.iter(|| {
                index = (index + 7_919) % leaves.len();
                let proof = tree.proof(index).expect("index < leaf count");
                let valid = proof.verify(&root, &leaf_hash(black_box(&leaves[index])));
                assert!(valid, "leaf {index} proves against the root");
                proof
            });
        });
    }
    group.finish();
}

fn configured() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
}

/// criterion's generated group, kept private so it needs no docs.
mod group {
    criterion::criterion_group! {
        name = benches;
        config = super::configured();
        targets = super::bench_root, super::bench_proof
    }
}

criterion_main!(group::benches);
