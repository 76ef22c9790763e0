//! Every fuzz target, briefly (2,000 inputs each, fixed seed), so CI runs each decoder of peer
//! and client input against random, mutated and hostile structured inputs on every change. Long
//! runs use the binary: `cargo run --release -p cassia-tests --bin fuzz -- --target all
//! --iterations 1000000` (see RELIABILITY.md).

use cassia_tests::fuzz::alloc::CountingAllocator;
use cassia_tests::fuzz::{Options, Target, World, run};

// Measures every decode's memory peak, so the allocation bound is checked here too.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Inputs per target in CI.
const BRIEF_ITERATIONS: u64 = 2_000;

/// The CI seed (any failure prints its own seed and iteration to replay).
const SEED: u64 = 0x00c1_a551_a000;

fn fuzz_briefly(target: Target) {
    let world = World::new();
    let options = Options {
        target,
        iterations: BRIEF_ITERATIONS,
        seed: SEED,
        first: 0,
    };
    let report = run(&world, &options);
    println!("{report}");
    assert!(report.failure.is_none(), "{report}");
    assert_eq!(report.iterations, BRIEF_ITERATIONS);
    assert!(
        report.peak_decode_bytes.is_some(),
        "the counting allocator is installed"
    );
    // Inputs must reach past the decoder, or the target tests nothing behind it.
    assert!(report.decoded > BRIEF_ITERATIONS / 20, "{report}");
    assert!(report.accepted > 0, "{report}");
}

#[test]
fn consensus_messages() {
    fuzz_briefly(Target::ConsensusMessage);
}

#[test]
fn transactions() {
    fuzz_briefly(Target::Transaction);
}

#[test]
fn transaction_batches() {
    fuzz_briefly(Target::TransactionBatch);
}

#[test]
fn blocks() {
    fuzz_briefly(Target::Block);
}

#[test]
fn sync_requests() {
    fuzz_briefly(Target::SyncRequest);
}

#[test]
fn sync_responses() {
    fuzz_briefly(Target::SyncResponse);
}

#[test]
fn state_proofs() {
    fuzz_briefly(Target::StateProof);
}

#[test]
fn grpc_submit_requests() {
    fuzz_briefly(Target::GrpcSubmit);
}

#[test]
fn evidence_packages() {
    fuzz_briefly(Target::Evidence);
}

#[test]
fn every_input_replays_alone_from_its_seed_and_iteration() {
    let world = World::new();
    for target in Target::ALL {
        let whole = run(
            &world,
            &Options {
                target,
                iterations: 40,
                seed: 9,
                first: 0,
            },
        );
        let (mut decoded, mut accepted) = (0, 0);
        for first in 0..40 {
            let one = run(
                &world,
                &Options {
                    target,
                    iterations: 1,
                    seed: 9,
                    first,
                },
            );
            decoded += one.decoded;
            accepted += one.accepted;
        }
        assert_eq!(
            (whole.decoded, whole.accepted),
            (decoded, accepted),
            "{}: inputs depend only on (seed, iteration)",
            target.name()
        );
    }
}
