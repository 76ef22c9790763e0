//! Transactions, their operations and receipts.
//!
//! Replay protection needs no sequential nonces: a transaction's id is the hash of its canonical
//! encoding (which includes a random `nonce`), an id commits at most once, and `valid_until` may
//! be at most `max_tx_ttl` blocks ahead, so a node only has to remember ids for that window.

use bincode::{Decode, Encode};
use cassia_crypto::{CryptoError, Domain, GenesisHash, Hash, Keypair, PublicKey, Signature};
use serde::{Deserialize, Serialize};

use crate::Height;
use crate::codec;
use crate::records::{CoSignature, GovAction, NamespaceAcl, Role};

/// Longest namespace name, in bytes.
pub const MAX_NAMESPACE_BYTES: usize = 64;
/// Longest state key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Longest value or metadata, in bytes. Larger documents are anchored by digest.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// What a transaction does. Each variant is executed deterministically by [`crate::execution`],
/// which also checks the signer's permission for it (see the variant's note).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Set `key` in `namespace` to `value` (registries, data sharing). Needs the writer role in
    /// the namespace's owner organization or one of its writer organizations.
    Put {
        /// Namespace, e.g. `"licences"` (created first with `CreateNamespace`).
        namespace: String,
        /// Key within the namespace.
        #[serde(with = "hex_bytes")]
        key: Vec<u8>,
        /// New value.
        #[serde(with = "hex_bytes")]
        value: Vec<u8>,
    },
    /// Anchor a document digest with metadata (存证). A digest is notarized at most once. Needs
    /// the writer role. Co-signers (parties to a contract, a seal) add their own signatures.
    Notarize {
        /// Digest of the document (the integrator chooses the hash function; blake3 or SHA-256).
        digest: Hash,
        /// Free-form metadata, e.g. JSON describing the document.
        metadata: String,
        /// Other parties' signatures over `(digest, metadata)`.
        #[serde(default)]
        co_signers: Vec<CoSignature>,
    },
    /// Register `account` in the signer's organization with `roles`. Needs the admin role.
    RegisterAccount {
        /// The account's key.
        account: PublicKey,
        /// Its roles.
        roles: Vec<Role>,
    },
    /// Revoke `account`. Needs the admin role in the account's organization.
    RevokeAccount {
        /// The account's key.
        account: PublicKey,
    },
    /// Create a namespace owned by the signer's organization. Needs the admin role.
    CreateNamespace {
        /// Its name.
        namespace: String,
        /// Who else may write and read.
        acl: NamespaceAcl,
    },
    /// Replace a namespace's access lists. Needs the admin role in the owner organization.
    SetNamespaceAcl {
        /// The namespace.
        namespace: String,
        /// The new lists.
        acl: NamespaceAcl,
    },
    /// Register a traceability item (一物一码) owned by the signer's organization. Needs the
    /// writer role.
    RegisterItem {
        /// The item's unique code.
        code: String,
        /// What it is.
        product: String,
        /// Free-form metadata.
        metadata: String,
        /// Other organizations that may append events.
        authorized: Vec<String>,
    },
    /// Append a custody, quality or other event to an item's history. Needs the writer role in
    /// the owner organization or an authorized one.
    AppendItemEvent {
        /// The item's code.
        code: String,
        /// E.g. `"custody"`, `"quality"`.
        kind: String,
        /// Free-form data.
        data: String,
    },
    /// Anchor a batch of items by the Merkle root of their leaves. Needs the writer role.
    AnchorBatch {
        /// The batch's unique id.
        batch_id: String,
        /// RFC 6962 root over the items' leaf strings.
        root: Hash,
        /// Number of items.
        count: u64,
        /// Free-form metadata.
        metadata: String,
    },
    /// Propose a governance change, effective from `effective_height`. Needs the admin role; the
    /// proposing organization votes yes.
    Propose {
        /// The change.
        action: GovAction,
        /// The first block it applies to (at least two blocks after approval).
        effective_height: Height,
    },
    /// Vote on a proposal for the signer's organization. Needs the admin role.
    Vote {
        /// The proposal (its proposing transaction's id).
        proposal: Hash,
        /// Yes or no.
        approve: bool,
    },
    /// An approved new validator proves it has caught up: signed with its node key, naming a
    /// recent block it holds.
    ValidatorReady {
        /// A recent height.
        height: Height,
        /// That block's hash.
        block_hash: Hash,
    },
}

impl Operation {
    /// The operation's name, as events and filters use it (snake case, stable).
    pub fn kind(&self) -> &'static str {
        match self {
            Operation::Put { .. } => "put",
            Operation::Notarize { .. } => "notarize",
            Operation::RegisterAccount { .. } => "register_account",
            Operation::RevokeAccount { .. } => "revoke_account",
            Operation::CreateNamespace { .. } => "create_namespace",
            Operation::SetNamespaceAcl { .. } => "set_namespace_acl",
            Operation::RegisterItem { .. } => "register_item",
            Operation::AppendItemEvent { .. } => "append_item_event",
            Operation::AnchorBatch { .. } => "anchor_batch",
            Operation::Propose { .. } => "propose",
            Operation::Vote { .. } => "vote",
            Operation::ValidatorReady { .. } => "validator_ready",
        }
    }
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

    /// Signs this transaction with `key` (which should be `self.signer`) for the chain `genesis`.
    pub fn sign(self, genesis: &GenesisHash, key: &Keypair) -> SignedTransaction {
        let signature = key.sign(Domain::Transaction, genesis, &codec::encode(&self));
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

    /// The exact bytes the signature covers on the chain `genesis` (for batch verification).
    pub fn signing_bytes(&self, genesis: &GenesisHash) -> Vec<u8> {
        cassia_crypto::signing_bytes(Domain::Transaction, genesis, &codec::encode(&self.tx))
    }

    /// Checks the signature as made for the chain `genesis`: the verifier's own chain, never one
    /// the transaction names.
    pub fn verify_signature(&self, genesis: &GenesisHash) -> Result<(), CryptoError> {
        self.tx
            .signer
            .verify_raw(&self.signing_bytes(genesis), &self.signature)
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
    /// The node could not read what admission needs (its store failed); the transaction was not
    /// judged. Retry later or at another node.
    #[error("node unavailable: {0}")]
    Unavailable(String),
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
