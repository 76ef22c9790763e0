//! Transactions, their operations and receipts.
//!
//! Replay protection needs no sequential nonces: a transaction's id is the hash of its canonical
//! encoding (which includes a random `nonce`), an id commits at most once, and `valid_until` may
//! be at most `max_tx_ttl` blocks ahead, so a node only has to remember ids for that window.

use bincode::{Decode, Encode};
use cassia_crypto::{CryptoError, Domain, Hash, Keypair, PublicKey, Signature};
use serde::{Deserialize, Serialize};

use crate::Height;
use crate::codec;

/// Longest namespace name, in bytes.
pub const MAX_NAMESPACE_BYTES: usize = 64;
/// Longest state key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Longest value or metadata, in bytes. Larger documents are anchored by digest.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// What a transaction does. Each variant is executed deterministically by [`crate::execution`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Set `key` in `namespace` to `value` (registries, data sharing).
    Put {
        /// Namespace, e.g. `"licences"`.
        namespace: String,
        /// Key within the namespace.
        #[serde(with = "hex_bytes")]
        key: Vec<u8>,
        /// New value.
        #[serde(with = "hex_bytes")]
        value: Vec<u8>,
    },
    /// Anchor a document digest with metadata (存证). A digest is notarized at most once.
    Notarize {
        /// Digest of the document (the integrator chooses the hash function; blake3 or SHA-256).
        digest: Hash,
        /// Free-form metadata, e.g. JSON describing the document.
        metadata: String,
    },
}

/// The signed body of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Transaction {
    /// The chain this transaction is for; other chains refuse it.
    pub chain_id: String,
    /// The account that signs it.
    pub signer: PublicKey,
    /// Random, so that two otherwise equal transactions have different ids.
    pub nonce: u64,
    /// The last height at which it may commit.
    pub valid_until: Height,
    /// What it does.
    pub op: Operation,
}

impl Transaction {
    /// The transaction id: blake3 of the canonical encoding of this body.
    pub fn id(&self) -> Hash {
        Hash::of(&codec::encode(self))
    }

    /// Signs this transaction with `key` (which should be `self.signer`).
    pub fn sign(self, key: &Keypair) -> SignedTransaction {
        let signature = key.sign(Domain::Transaction, &self.chain_id, &codec::encode(&self));
        SignedTransaction {
            tx: self,
            signature,
        }
    }
}

/// A transaction with its signer's signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignedTransaction {
    /// The body.
    pub tx: Transaction,
    /// `signer`'s signature over the body, domain [`Domain::Transaction`], bound to the chain id.
    pub signature: Signature,
}

impl SignedTransaction {
    /// The id of the body.
    pub fn id(&self) -> Hash {
        self.tx.id()
    }

    /// The exact bytes the signature covers (for batch verification).
    pub fn signing_bytes(&self) -> Vec<u8> {
        cassia_crypto::signing_bytes(
            Domain::Transaction,
            &self.tx.chain_id,
            &codec::encode(&self.tx),
        )
    }

    /// Checks the signature.
    pub fn verify_signature(&self) -> Result<(), CryptoError> {
        self.tx
            .signer
            .verify_raw(&self.signing_bytes(), &self.signature)
    }
}

/// Why a transaction was refused. Stable codes: the gRPC API and CLI map them to statuses.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize, thiserror::Error)]
pub enum Rejection {
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The transaction names another chain.
    #[error("wrong chain: expected {expected}, got {got}")]
    WrongChain {
        /// This chain's id.
        expected: String,
        /// The id in the transaction.
        got: String,
    },
    /// `valid_until` has passed.
    #[error("expired: valid until height {valid_until}, chain is at {height}")]
    Expired {
        /// The transaction's last valid height.
        valid_until: Height,
        /// The height it was checked at.
        height: Height,
    },
    /// `valid_until` is further ahead than the chain allows.
    #[error("valid_until {valid_until} is beyond the allowed {max} (height + max_tx_ttl)")]
    TooFarAhead {
        /// The transaction's last valid height.
        valid_until: Height,
        /// The largest allowed value.
        max: Height,
    },
    /// The id has already committed (or is already pending).
    #[error("duplicate transaction")]
    Duplicate,
    /// The signer lacks a permission.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The operation's fields are invalid.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The encoded transaction is too large.
    #[error("too large: {size} bytes, limit {limit}")]
    TooLarge {
        /// Encoded size.
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// The mempool is full; retry later.
    #[error("mempool full")]
    MempoolFull,
}

/// Outcome of one executed transaction. A committed transaction always has a receipt, even when
/// its operation failed (the failure is recorded, the id is spent).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Receipt {
    /// The transaction.
    pub tx_id: Hash,
    /// Block height it committed at.
    pub height: Height,
    /// Position in the block.
    pub index: u32,
    /// `None` on success, else why the operation failed.
    pub failure: Option<Rejection>,
}

impl Receipt {
    /// Whether the operation took effect.
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }
}

/// Serde helper: byte vectors as hex strings in JSON.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as lowercase hex.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    /// Parses hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}
