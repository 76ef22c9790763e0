//! The column families and their key/value codecs, each defined once.
//!
//! ```text
//! column family     key                                   value
//! ---------------   ------------------------------------  ---------------------------------
//! blocks            height (u64 BE)                       encode(Block)
//! headers           height (u64 BE)                       encode(BlockHeader)
//! block_index       block hash (32 bytes)                 height (u64 BE)
//! certificates      height (u64 BE)                       encode(CommitCertificate)
//! tx_index          tx id (32 bytes)                      encode(TxLocation)
//! receipts          height (u64 BE) ++ index (u32 BE)     encode(Receipt)
//! state             state key (bytes)                     value (bytes)
//! state_history     len (u32 BE) ++ state key ++ height   encode(Option<value>)
//! state_nodes       node hash (32 bytes)                  encode(state_tree::Node)
//! consensus_wal     b"replica"                            opaque bytes of the consensus core
//! metadata          b"tip" | b"genesis" | b"genesis_state" encode(ChainTip) | hash | root
//! misbehaviour      validator (32) ++ height (u64 BE) ++   encode(Equivocation)
//!                   view (u64 BE) ++ kind (u8)
//! submissions       sequence (u64 BE)                     encode(SignedTransaction)
//! ```
//!
//! Heights are big-endian so RocksDB's byte order is height order; the state-history key is
//! length-prefixed so one key's entries are contiguous and never interleave with a longer key
//! that shares its prefix.

use bincode::{Decode, Encode};
use cassia_crypto::Hash;
use cassia_crypto::PublicKey;
use cassia_ledger::misbehaviour::{Equivocation, StatementKind};
use cassia_ledger::state_tree::Node;
use cassia_ledger::{
    Block, BlockHeader, CommitCertificate, Height, Receipt, SignedTransaction, View, codec,
};

use crate::StorageError;

/// A column family with one key type and one value type.
pub trait Table {
    /// RocksDB column family name.
    const NAME: &'static str;
    /// Key type.
    type Key;
    /// Value type.
    type Value;
    /// Key bytes.
    fn encode_key(key: &Self::Key) -> Vec<u8>;
    /// Value bytes.
    fn encode_value(value: &Self::Value) -> Vec<u8>;
    /// Value from bytes; a failure means the database is corrupt.
    fn decode_value(bytes: &[u8]) -> Result<Self::Value, StorageError>;
}

fn decode_or_corrupt<T: Decode<()>>(table: &'static str, bytes: &[u8]) -> Result<T, StorageError> {
    codec::decode(bytes)
        .map_err(|e| StorageError::Corrupt(format!("{table}: undecodable value: {e}")))
}

macro_rules! codec_table {
    ($(#[$doc:meta])* $name:ident, $cf:literal, $key:ty, $value:ty, |$k:ident| $encode_key:expr) => {
        $(#[$doc])*
        pub struct $name;
        impl Table for $name {
            const NAME: &'static str = $cf;
            type Key = $key;
            type Value = $value;
            fn encode_key($k: &$key) -> Vec<u8> {
                $encode_key
            }
            fn encode_value(value: &$value) -> Vec<u8> {
                codec::encode(value)
            }
            fn decode_value(bytes: &[u8]) -> Result<$value, StorageError> {
                decode_or_corrupt($cf, bytes)
            }
        }
    };
}

codec_table!(
    /// Blocks by height.
    Blocks, "blocks", Height, Block, |height| height.to_be_bytes().to_vec()
);
codec_table!(
    /// Headers by height (for light reads without the transactions).
    Headers, "headers", Height, BlockHeader, |height| height.to_be_bytes().to_vec()
);
codec_table!(
    /// Height by block hash.
    BlockIndex, "block_index", Hash, Height, |hash| hash.as_bytes().to_vec()
);
codec_table!(
    /// Commit certificates by height.
    Certificates, "certificates", Height, CommitCertificate, |height| height.to_be_bytes().to_vec()
);
codec_table!(
    /// Where each committed transaction is.
    TxIndex, "tx_index", Hash, TxLocation, |id| id.as_bytes().to_vec()
);
codec_table!(
    /// Receipts by (height, index in block).
    Receipts, "receipts", (Height, u32), Receipt, |key| {
        let mut bytes = key.0.to_be_bytes().to_vec();
        bytes.extend_from_slice(&key.1.to_be_bytes());
        bytes
    }
);
codec_table!(
    /// Every version of every state key: (key, height) to the value set then (`None` = deleted).
    StateHistory, "state_history", (Vec<u8>, Height), Option<Vec<u8>>, |key| state_history_key(&key.0, key.1)
);
codec_table!(
    /// Chain metadata.
    Metadata, "metadata", MetadataKey, ChainTip, |key| key.as_bytes().to_vec()
);

codec_table!(
    /// The state tree's nodes by hash (content-addressed: every historical root stays readable).
    StateNodes, "state_nodes", Hash, Node, |hash| hash.as_bytes().to_vec()
);

codec_table!(
    /// Proofs of equivocation the node's replica found, one per (validator, height, view,
    /// kind), so a validator's proofs are contiguous.
    Misbehaviour, "misbehaviour", (PublicKey, Height, View, StatementKind), Equivocation, |key| {
        let mut bytes = key.0.0.to_vec();
        bytes.extend_from_slice(&key.1.to_be_bytes());
        bytes.extend_from_slice(&key.2.to_be_bytes());
        bytes.push(key.3 as u8);
        bytes
    }
);

codec_table!(
    /// The journal of transactions this node acknowledged to its own clients and that have not
    /// left its mempool yet, in the order it admitted them ([`crate::submissions`]).
    Submissions, "submissions", u64, SignedTransaction, |sequence| sequence.to_be_bytes().to_vec()
);

/// Current state: raw key to raw value (no codec: values are the ledger's bytes).
pub const STATE: &str = "state";
/// The consensus core's persisted state (opaque bytes).
pub const CONSENSUS_WAL: &str = "consensus_wal";
/// The one key of [`CONSENSUS_WAL`].
pub const CONSENSUS_WAL_KEY: &[u8] = b"replica";

/// Every column family, in creation order.
pub const ALL: [&str; 13] = [
    Blocks::NAME,
    Headers::NAME,
    BlockIndex::NAME,
    Certificates::NAME,
    TxIndex::NAME,
    Receipts::NAME,
    STATE,
    StateHistory::NAME,
    StateNodes::NAME,
    CONSENSUS_WAL,
    Metadata::NAME,
    Misbehaviour::NAME,
    Submissions::NAME,
];

/// The state-history key of `key` at `height`.
pub fn state_history_key(key: &[u8], height: Height) -> Vec<u8> {
    let mut bytes = state_history_prefix(key);
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes
}

/// The prefix shared by all history entries of `key`.
pub fn state_history_prefix(key: &[u8]) -> Vec<u8> {
    let length = u32::try_from(key.len()).expect("state keys are capped far below 4 GiB");
    let mut bytes = Vec::with_capacity(4 + key.len() + 8);
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(key);
    bytes
}

/// Keys of the metadata column family.
#[derive(Clone, Copy, Debug)]
pub enum MetadataKey {
    /// The committed tip.
    Tip,
}

impl MetadataKey {
    fn as_bytes(&self) -> &'static [u8] {
        match self {
            MetadataKey::Tip => b"tip",
        }
    }
}

/// Metadata key holding the genesis hash the database belongs to.
pub const GENESIS_KEY: &[u8] = b"genesis";
/// Metadata key present once the genesis state is written (value: its root).
pub const GENESIS_STATE_KEY: &[u8] = b"genesis_state";

/// Where a committed transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TxLocation {
    /// Block height.
    pub height: Height,
    /// Index in the block.
    pub index: u32,
}

/// The last committed block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ChainTip {
    /// Its height.
    pub height: Height,
    /// Its hash.
    pub block_hash: Hash,
    /// The state root after it.
    pub state_root: Hash,
}
