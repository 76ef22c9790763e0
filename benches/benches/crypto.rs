//! ed25519 costs on one core: signing and verifying a 200-byte transaction payload (with
//! Cassia's domain separation, so the signed bytes are the real ones), and batch verification of
//! 64 and 1024 signatures by distinct accounts. Throughput is in signatures per second.
//!
//! The same single sign and verify under SM2 (with the user-ID digest `Z`, default ID), and
//! SM3 against blake3 on the same payload, for the 国密 suite's figures (issue 15).
//!
//! `cargo bench -p cassia-benches --bench crypto`; ids `crypto::sign/bytes=200`,
//! `crypto::verify/bytes=200`, `crypto::batch_verify/n=64|1024`, `crypto::sm2_sign/bytes=200`,
//! `crypto::sm2_verify/bytes=200`, `crypto::hash/sm3|blake3`.

mod common;

use std::hint::black_box;

use cassia_crypto::{Domain, Keypair, PublicKey, Signature, signing_bytes, verify_batch};
use common::{GENESIS, PAYLOAD_BYTES, account, payload};
use criterion::{Criterion, SamplingMode, Throughput, criterion_main};

fn bench_sign_and_verify(c: &mut Criterion) {
    let key = account(1);
    let public = key.public();
    let message = payload(1, 0);
    let signature = key.sign(Domain::Transaction, &GENESIS, &message);
    assert!(
        public
            .verify(Domain::Transaction, &GENESIS, &message, &signature)
            .is_ok(),
        "the benchmark signature verifies"
    );

    let mut sign = c.benchmark_group("crypto::sign");
    sign.throughput(Throughput::Elements(1));
    sign.bench_function(format!("bytes={PAYLOAD_BYTES}"), |b| {
        b.iter(|| key.sign(Domain::Transaction, &GENESIS, black_box(&message)));
    });
    sign.finish();

    let mut verify = c.benchmark_group("crypto::verify");
    verify.throughput(Throughput::Elements(1));
    verify.bench_function(format!("bytes={PAYLOAD_BYTES}"), |b| {
        b.iter(|| {
            public.verify(
                Domain::Transaction,
                &GENESIS,
                black_box(&message),
                black_box(&signature),
            )
        });
    });
    verify.finish();
}

/// SM2 has no batch verification: each signature costs one double-scalar multiplication, and
/// the key's `Z` digest (two SM3 blocks of fixed data and the key) is part of every verify, as a
/// verifier holding only the key and the ID would compute it.
fn bench_sm2_and_sm3(c: &mut Criterion) {
    use cassia_crypto::sm::{DEFAULT_ID, Sm2Keypair, sm3};
    let key = Sm2Keypair::from_secret(&[7; 32], DEFAULT_ID).expect("a valid SM2 scalar");
    let public = key.public();
    let message = signing_bytes(Domain::Transaction, &GENESIS, &payload(1, 0));
    let signature = key.sign(&message);
    assert!(
        public.verify(DEFAULT_ID, &message, &signature).is_ok(),
        "the benchmark SM2 signature verifies"
    );

    let mut sign = c.benchmark_group("crypto::sm2_sign");
    sign.throughput(Throughput::Elements(1));
    sign.bench_function(format!("bytes={PAYLOAD_BYTES}"), |b| {
        b.iter(|| key.sign(black_box(&message)));
    });
    sign.finish();

    let mut verify = c.benchmark_group("crypto::sm2_verify");
    verify.throughput(Throughput::Elements(1));
    verify.bench_function(format!("bytes={PAYLOAD_BYTES}"), |b| {
        b.iter(|| public.verify(DEFAULT_ID, black_box(&message), black_box(&signature)));
    });
    verify.finish();

    let mut hash = c.benchmark_group("crypto::hash");
    hash.throughput(Throughput::Elements(1));
    hash.bench_function("sm3", |b| b.iter(|| sm3(black_box(&message))));
    hash.bench_function("blake3", |b| {
        b.iter(|| cassia_crypto::Hash::of(black_box(&message)));
    });
    hash.finish();
}

/// `n` signatures by `n` distinct accounts over distinct 200-byte payloads, laid out as
/// [`verify_batch`] takes them.
struct Batch {
    messages: Vec<Vec<u8>>,
    signatures: Vec<Signature>,
    keys: Vec<PublicKey>,
}

fn batch(n: u64) -> Batch {
    let signers: Vec<Keypair> = (0..n).map(|i| account(1_000 + i)).collect();
    let messages: Vec<Vec<u8>> = (0..n)
        .map(|i| signing_bytes(Domain::Transaction, &GENESIS, &payload(2, i)))
        .collect();
    let signatures = signers
        .iter()
        .zip(&messages)
        .map(|(key, message)| key.sign_raw(message))
        .collect();
    let keys = signers.iter().map(Keypair::public).collect();
    Batch {
        messages,
        signatures,
        keys,
    }
}

fn bench_batch_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("crypto::batch_verify");
    group.sampling_mode(SamplingMode::Flat);
    for n in [64u64, 1024] {
        let batch = batch(n);
        let messages: Vec<&[u8]> = batch.messages.iter().map(Vec::as_slice).collect();
        assert!(
            verify_batch(&messages, &batch.signatures, &batch.keys).is_ok(),
            "n = {n}: the batch verifies"
        );
        group.throughput(Throughput::Elements(n));
        group.bench_function(format!("n={n}"), |b| {
            b.iter(|| verify_batch(black_box(&messages), &batch.signatures, &batch.keys));
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
        targets = super::bench_sign_and_verify, super::bench_batch_verify, super::bench_sm2_and_sm3
    }
}

criterion_main!(group::benches);
