//! The canonical codec on a realistic signed transaction: a registry `Put` with a 200-byte value,
//! signed by an account (389 encoded bytes). `tx::encode` and `tx::decode` are the
//! canonical bincode encoding and its bounded decoding; `tx::id` is the transaction id (encode the
//! body, then blake3), which execution computes for every transaction.
//!
//! `cargo bench -p cassia-benches --bench tx`; ids `tx::encode`, `tx::decode`, `tx::id`.

mod common;

use std::hint::black_box;

use cassia_ledger::{SignedTransaction, codec};
use common::{accounts, put};
use criterion::{Criterion, criterion_main};

fn bench_codec(c: &mut Criterion) {
    let signed = put(&accounts(), 1, 0);
    let bytes = codec::encode(&signed);
    assert_eq!(
        codec::decode::<SignedTransaction>(&bytes).as_ref(),
        Ok(&signed),
        "the transaction round-trips"
    );

    c.bench_function("tx::encode", |b| {
        b.iter(|| codec::encode(black_box(&signed)));
    });
    c.bench_function("tx::decode", |b| {
        b.iter(|| codec::decode::<SignedTransaction>(black_box(&bytes)));
    });
    c.bench_function("tx::id", |b| b.iter(|| black_box(&signed).id()));
}

fn configured() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(2))
}

/// criterion's generated group, kept private so it needs no docs.
mod group {
    criterion::criterion_group! {
        name = benches;
        config = super::configured();
        targets = super::bench_codec
    }
}

criterion_main!(group::benches);
