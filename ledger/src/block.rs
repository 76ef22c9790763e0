//! Blocks and block headers.
//!
//! The header of block `h` commits to the state *after* executing `h`: `tx_root` (RFC 6962 root
//! over the canonical encodings of its signed transactions), `receipts_root` (over the encodings
//! of their receipts) and `state_root`. Block 1's `parent` is the genesis hash.

use bincode::{Decode, Encode};
use cassia_crypto::merkle::{self, MerkleTree};
use cassia_crypto::{Hash, PublicKey};
use serde::{Deserialize, Serialize};

use crate::transaction::{Receipt, SignedTransaction};
use crate::{Height, View, codec};

/// What every block commits to.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Height, from 1 (0 is genesis).
    pub height: Height,
    /// View in which it was proposed.
    pub view: View,
    /// Hash of the previous header (the genesis hash for block 1).
    pub parent: Hash,
    /// Proposer's clock, milliseconds since the Unix epoch; checked against bounds by replicas.
    pub timestamp_ms: u64,
    /// Node key of the proposer (the leader of `(height, view)`).
    pub proposer: PublicKey,
    /// Merkle root of the block's signed transactions.
    pub tx_root: Hash,
    /// Merkle root of the receipts.
    pub receipts_root: Hash,
    /// Root of the state after this block.
    pub state_root: Hash,
    /// Hash of the validator set in force at this height.
    pub validator_set_hash: Hash,
}

impl BlockHeader {
    /// The block hash: blake3 of the header's canonical encoding.
    pub fn hash(&self) -> Hash {
        Hash::of(&codec::encode(self))
    }
}

/// A header and its transactions.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in execution order.
    pub transactions: Vec<SignedTransaction>,
}

impl Block {
    /// The block hash (of its header).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// Height.
    pub fn height(&self) -> Height {
        self.header.height
    }

    /// The Merkle tree over the transactions (leaf = canonical encoding of a signed transaction).
    pub fn tx_tree(&self) -> MerkleTree {
        tx_tree(&self.transactions)
    }

    /// Whether the transactions are the ones the header commits to (`tx_root`). A signature or
    /// certificate covers the header only: a body that does not match is another block's, or
    /// none, whatever vouches for the header.
    pub fn body_matches_header(&self) -> bool {
        self.tx_tree().root() == self.header.tx_root
    }
}

/// The Merkle tree over `transactions`.
pub fn tx_tree(transactions: &[SignedTransaction]) -> MerkleTree {
    MerkleTree::from_leaf_hashes(
        transactions
            .iter()
            .map(|tx| merkle::leaf_hash(&codec::encode(tx)))
            .collect(),
    )
}

/// The Merkle tree over `receipts`.
pub fn receipts_tree(receipts: &[Receipt]) -> MerkleTree {
    MerkleTree::from_leaf_hashes(
        receipts
            .iter()
            .map(|r| merkle::leaf_hash(&codec::encode(r)))
            .collect(),
    )
}
