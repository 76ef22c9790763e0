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

/// The codec's worst case found by hand: a gossip batch of 7,000 minimal transactions whose last
/// value claims most of the decode budget. bincode allocates the batch's vector (7,000 in-memory
/// transactions) and then the claimed value, so the peak exceeds the codec's own budget by the
/// vector's size (RELIABILITY.md, "Fuzzing"); it must stay within the fuzzer's bound.
#[test]
fn a_batch_whose_last_value_claims_the_budget_stays_within_the_bound() {
    use cassia_ledger::codec::{self, ALLOCATION_FACTOR};
    use cassia_ledger::{Operation, SignedTransaction, Transaction};

    let tx = Transaction {
        chain_id: String::new(),
        signer: cassia_crypto::PublicKey([0; 32]),
        nonce: 0,
        valid_until: 0,
        op: Operation::Put {
            namespace: String::new(),
            key: Vec::new(),
            value: Vec::new(),
        },
    };
    let batch = vec![
        SignedTransaction {
            tx,
            signature: cassia_crypto::Signature([0; 64]),
        };
        7_000
    ];
    let mut bytes = codec::encode(&batch);
    let budget = (bytes.len() * ALLOCATION_FACTOR).next_power_of_two();
    let claim = budget / 20 * 17;
    // The last transaction's value length sits just before its 64-byte signature.
    let at = bytes.len() - 64 - 8;
    let claim_bytes = u64::try_from(claim).expect("a few MiB").to_le_bytes();
    bytes[at..at + 8].copy_from_slice(&claim_bytes);
    let world = World::new();
    let (verdict, peak) = cassia_tests::fuzz::check_input(&world, Target::TransactionBatch, &bytes);
    let peak = peak.expect("measured");
    println!(
        "{} bytes in: peak {peak} bytes, codec budget {budget}, fuzzer bound {}",
        bytes.len(),
        cassia_tests::fuzz::allocation_bound(bytes.len())
    );
    assert_eq!(verdict, Ok(cassia_tests::fuzz::Verdict::Rejected));
    assert!(
        peak >= claim as usize,
        "the claim was allocated: the case still reaches its point"
    );
}
