//! Property tests of the canonical encoding: every value round-trips to identical bytes, and
//! decoding arbitrary bytes never panics and never allocates more than the input justifies.

// A counting allocator needs `unsafe impl GlobalAlloc`; it only forwards to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use cassia_crypto::{Hash, PublicKey, Signature};
use cassia_ledger::codec::{self, ALLOCATION_FACTOR};
use cassia_ledger::records::{CoSignature, GovAction, Role};
use cassia_ledger::{
    Block, BlockHeader, CommitCertificate, Operation, Receipt, Rejection, SignedTransaction,
    Transaction, ValidatorSignature,
};
use proptest::prelude::*;

struct CountingAllocator;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|live| {
            live.set(live.get() + layout.size());
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
        });
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(layout.size())));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Peak bytes allocated on this thread while running `f`.
fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let value = f();
    (value, PEAK.with(Cell::get) - start)
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn public_key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(PublicKey)
}

fn signature() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&a);
        bytes[32..].copy_from_slice(&b);
        Signature(bytes)
    })
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        (
            ".{0,20}",
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 0..80)
        )
            .prop_map(|(namespace, key, value)| Operation::Put {
                namespace,
                key,
                value
            }),
        (
            hash(),
            ".{0,40}",
            prop::collection::vec((public_key(), signature()), 0..3)
        )
            .prop_map(|(digest, metadata, co)| Operation::Notarize {
                digest,
                metadata,
                co_signers: co
                    .into_iter()
                    .map(|(signer, signature)| CoSignature { signer, signature })
                    .collect(),
            }),
        (public_key(), any::<bool>()).prop_map(|(account, admin)| Operation::RegisterAccount {
            account,
            roles: if admin {
                vec![Role::Admin]
            } else {
                vec![Role::Writer, Role::Auditor]
            },
        }),
        (hash(), any::<bool>())
            .prop_map(|(proposal, approve)| Operation::Vote { proposal, approve }),
        (".{0,20}", ".{0,20}", ".{0,40}")
            .prop_map(|(code, kind, data)| Operation::AppendItemEvent { code, kind, data }),
        (public_key(), any::<u64>()).prop_map(|(node_key, effective_height)| {
            Operation::Propose {
                action: GovAction::RemoveValidator {
                    node_key,
                    proof: None,
                },
                effective_height,
            }
        }),
        (any::<u64>(), hash())
            .prop_map(|(height, block_hash)| Operation::ValidatorReady { height, block_hash }),
    ]
}

fn signed_transaction() -> impl Strategy<Value = SignedTransaction> {
    (
        "[a-z0-9-]{1,16}",
        public_key(),
        any::<u64>(),
        any::<u64>(),
        operation(),
        signature(),
    )
        .prop_map(
            |(chain_id, signer, nonce, valid_until, op, signature)| SignedTransaction {
                tx: Transaction {
                    chain_id,
                    signer,
                    nonce,
                    valid_until,
                    op,
                },
                signature,
            },
        )
}

fn header() -> impl Strategy<Value = BlockHeader> {
    (
        any::<u64>(),
        any::<u64>(),
        hash(),
        any::<u64>(),
        public_key(),
        hash(),
        hash(),
        hash(),
        hash(),
    )
        .prop_map(
            |(
                height,
                view,
                parent,
                timestamp_ms,
                proposer,
                tx_root,
                receipts_root,
                state_root,
                validator_set_hash,
            )| {
                BlockHeader {
                    height,
                    view,
                    parent,
                    timestamp_ms,
                    proposer,
                    tx_root,
                    receipts_root,
                    state_root,
                    validator_set_hash,
                }
            },
        )
}

fn certificate() -> impl Strategy<Value = CommitCertificate> {
    let signatures = prop::collection::vec(
        (public_key(), signature()).prop_map(|(validator, signature)| ValidatorSignature {
            validator,
            signature,
        }),
        0..8,
    );
    (any::<u64>(), any::<u64>(), hash(), signatures).prop_map(
        |(height, view, block_hash, signatures)| CommitCertificate {
            height,
            view,
            block_hash,
            signatures,
        },
    )
}

fn receipt() -> impl Strategy<Value = Receipt> {
    let failure = prop_oneof![
        Just(None),
        Just(Some(Rejection::Duplicate)),
        ".{0,30}".prop_map(|m| Some(Rejection::PermissionDenied(m))),
        (any::<u64>(), any::<u64>()).prop_map(|(v, h)| Some(Rejection::Expired {
            valid_until: v,
            height: h
        })),
    ];
    (hash(), any::<u64>(), any::<u32>(), failure).prop_map(|(tx_id, height, index, failure)| {
        Receipt {
            tx_id,
            height,
            index,
            failure,
        }
    })
}

/// Encode, decode, re-encode: the value and the bytes must come back identical.
fn round_trips<T>(value: &T) -> Result<(), TestCaseError>
where
    T: bincode::Encode + bincode::Decode<()> + PartialEq + std::fmt::Debug,
{
    let bytes = codec::encode(value);
    let decoded: T = codec::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&decoded, value);
    prop_assert_eq!(codec::encode(&decoded), bytes);
    Ok(())
}

/// Decoding `bytes` as `T` must not panic, and must stay within the allocation bound.
fn decodes_safely<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (_, peak) = peak_allocation(|| codec::decode::<T>(bytes).is_ok());
    let bound = (bytes.len() * ALLOCATION_FACTOR)
        .max(4096)
        .next_power_of_two()
        + 4096;
    prop_assert!(
        peak <= bound,
        "decoding {} bytes allocated {} (bound {})",
        bytes.len(),
        peak,
        bound
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn transactions_round_trip(tx in signed_transaction()) {
        round_trips(&tx)?;
    }

    #[test]
    fn blocks_round_trip(header in header(), transactions in prop::collection::vec(signed_transaction(), 0..6)) {
        round_trips(&Block { header, transactions })?;
    }

    #[test]
    fn certificates_and_receipts_round_trip(certificate in certificate(), receipt in receipt()) {
        round_trips(&certificate)?;
        round_trips(&receipt)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_overallocate(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        decodes_safely::<SignedTransaction>(&bytes)?;
        decodes_safely::<Block>(&bytes)?;
        decodes_safely::<CommitCertificate>(&bytes)?;
        decodes_safely::<Receipt>(&bytes)?;
        decodes_safely::<Vec<Vec<u8>>>(&bytes)?;
    }

    #[test]
    fn mutated_encodings_never_panic(tx in signed_transaction(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = codec::encode(&tx);
        for (position, value) in flips {
            let index = position % bytes.len();
            bytes[index] = value;
        }
        decodes_safely::<SignedTransaction>(&bytes)?;
    }
}

#[test]
fn a_length_prefix_claiming_gigabytes_allocates_nothing_big() {
    // A block whose transaction count claims 2^40 entries, in 200 bytes.
    let mut bytes = codec::encode(&Block {
        header: BlockHeader {
            height: 1,
            view: 0,
            parent: Hash::ZERO,
            timestamp_ms: 0,
            proposer: PublicKey([0; 32]),
            tx_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            state_root: Hash::ZERO,
            validator_set_hash: Hash::ZERO,
        },
        transactions: vec![],
    });
    let count_at = bytes.len() - 8;
    bytes[count_at..].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let (result, peak) = peak_allocation(|| codec::decode::<Block>(&bytes));
    assert!(result.is_err());
    assert!(peak < 64 * 1024, "allocated {peak} bytes");
}
