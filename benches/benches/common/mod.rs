//! Inputs shared by the micro-benchmarks: accounts and realistic signed transactions.
//!
//! Each bench file includes this module (`mod common;`) and uses only part of it.
#![allow(
    dead_code,
    reason = "each bench binary uses only some of these helpers"
)]

use cassia_crypto::{GenesisHash, Hash, Keypair};
use cassia_ledger::execution::genesis::genesis_state;
use cassia_ledger::execution::{StateChanges, keys};
use cassia_ledger::records::{NamespaceAcl, NamespaceRecord};
use cassia_ledger::{
    Genesis, Height, Operation, Organization, Parameters, SignedTransaction, Transaction,
    Validator, codec,
};

/// The chain every benchmark transaction is signed for.
pub const CHAIN_ID: &str = "bench-chain";

/// The genesis hash every benchmark signature covers: a fixed value, since no benchmark checks a
/// genesis file, only that signatures made for this value verify for it.
pub const GENESIS: GenesisHash = GenesisHash(Hash([0xbe; 32]));

/// Size of a transaction's payload (the value of its `Put`), in bytes.
pub const PAYLOAD_BYTES: usize = 200;

/// How many distinct accounts sign the benchmark transactions, in rotation.
pub const ACCOUNTS: usize = 64;

/// How far ahead of its block a transaction's `valid_until` lies (within the default
/// `max_tx_ttl` of 1000 blocks).
pub const VALID_FOR_BLOCKS: Height = 100;

/// The namespace of every benchmark `Put`.
pub const NAMESPACE: &str = "registry";

/// A deterministic account key: the secret is blake3 of `seed`.
pub fn account(seed: u64) -> Keypair {
    Keypair::from_secret(Hash::of(&seed.to_le_bytes()).0)
}

/// [`ACCOUNTS`] distinct account keys.
pub fn accounts() -> Vec<Keypair> {
    (0..ACCOUNTS as u64).map(account).collect()
}

/// [`PAYLOAD_BYTES`] of incompressible-looking bytes, different for every `(height, index)`.
pub fn payload(height: Height, index: u64) -> Vec<u8> {
    let seed = Hash::of_parts(&[&height.to_le_bytes(), &index.to_le_bytes()]);
    seed.0.iter().copied().cycle().take(PAYLOAD_BYTES).collect()
}

/// The key (within [`NAMESPACE`]) that transaction `index` of the block at `height` writes.
pub fn record_key(height: Height, index: u64) -> Vec<u8> {
    format!("record-{height:08}-{index:06}").into_bytes()
}

/// The signed `Put` of a registry record: transaction `index` of the block at `height`,
/// admissible there (right chain id, `valid_until` within the window) and unique (its nonce and
/// key encode `(height, index)`).
pub fn put(keys: &[Keypair], height: Height, index: u64) -> SignedTransaction {
    let account_index =
        usize::try_from(index).expect("benchmark indexes fit in usize") % keys.len();
    let key = &keys[account_index];
    Transaction {
        chain_id: CHAIN_ID.into(),
        signer: key.public(),
        nonce: (height << 32) | index,
        valid_until: height + VALID_FOR_BLOCKS,
        op: Operation::Put {
            namespace: NAMESPACE.into(),
            key: record_key(height, index),
            value: payload(height, index),
        },
    }
    .sign(&GENESIS, key)
}

/// `count` transactions for the block at `height`, signed by the accounts in rotation.
pub fn block_transactions(keys: &[Keypair], height: Height, count: u64) -> Vec<SignedTransaction> {
    (0..count).map(|index| put(keys, height, index)).collect()
}

/// The state that lets the benchmark accounts write: one organization whose admins are
/// `keys` (admins hold writer rights), the genesis records, and [`NAMESPACE`] owned by it.
pub fn permissions_state(keys: &[Keypair]) -> StateChanges {
    let genesis = Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 0,
        organizations: vec![Organization {
            id: "bench".into(),
            name: "Bench".into(),
            admins: keys.iter().map(Keypair::public).collect(),
        }],
        validators: vec![Validator {
            name: "v0".into(),
            organization: "bench".into(),
            node_key: account(u64::MAX).public(),
            p2p_address: String::new(),
        }],
        parameters: Parameters::default(),
        approvals: vec![],
    };
    let mut changes = genesis_state(&genesis);
    let namespace = NamespaceRecord {
        owner: "bench".into(),
        acl: NamespaceAcl::default(),
        created: 0,
    };
    changes.insert(keys::namespace(NAMESPACE), Some(codec::encode(&namespace)));
    changes
}
