//! Deterministic execution of a block's transactions.
//!
//! The primary executes to build a header; every replica re-executes to check it. Nothing here
//! reads a clock, draws randomness or iterates a hash map: the same inputs give the same receipts,
//! state changes and roots on every machine.
//!
//! State keys (all bytes):
//!
//! ```text
//! kv/<namespace> 0x00 <key>   -> value                      (Operation::Put)
//! nz/<digest, 32 bytes>       -> encode(NotarizationRecord)  (Operation::Notarize)
//! ```
//!
//! `state_root` is the root of the sparse Merkle tree over all state keys and values
//! ([`crate::state_tree`]): every replica agrees on the whole state, not just on the transition,
//! and any key's value or absence at any height can be proven against that height's header.

use std::collections::{BTreeMap, BTreeSet};

use bincode::{Decode, Encode};
use cassia_crypto::{Hash, PublicKey};
use serde::{Deserialize, Serialize};

use crate::state_tree::{self, MemoryNodes, Node, NodeReader, TreeError};
use crate::transaction::{
    MAX_KEY_BYTES, MAX_NAMESPACE_BYTES, MAX_VALUE_BYTES, Operation, Receipt, Rejection,
    SignedTransaction,
};
use crate::{Height, Parameters, codec};

/// Read access to the committed state, its tree and the transaction index, as of the parent
/// block. The tree ([`NodeReader`]) lets execution compute the next `state_root`.
pub trait StateReader: NodeReader {
    /// The value of `key`, if any.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Whether transaction `id` has already committed.
    fn contains_tx(&self, id: &Hash) -> bool;
}

/// State changes of a block: key to new value (`None` deletes). Sorted, so deterministic.
pub type StateChanges = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// What a notarization stores.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct NotarizationRecord {
    /// Who notarized.
    pub signer: PublicKey,
    /// Height at which it committed.
    pub height: Height,
    /// The notarizing transaction.
    pub tx_id: Hash,
    /// Metadata given.
    pub metadata: String,
}

/// The state key of `key` in `namespace`.
pub fn kv_key(namespace: &str, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + namespace.len() + key.len());
    out.extend_from_slice(b"kv/");
    out.extend_from_slice(namespace.as_bytes());
    out.push(0);
    out.extend_from_slice(key);
    out
}

/// The state key of a notarized digest.
pub fn notarization_key(digest: &Hash) -> Vec<u8> {
    let mut out = b"nz/".to_vec();
    out.extend_from_slice(digest.as_bytes());
    out
}

/// The chain facts a block executes under.
#[derive(Clone, Debug)]
pub struct BlockContext<'a> {
    /// This chain's id.
    pub chain_id: &'a str,
    /// Height of the block being executed.
    pub height: Height,
    /// Chain parameters in force.
    pub parameters: &'a Parameters,
}

/// Result of executing a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
    /// The state changes to commit.
    pub changes: StateChanges,
    /// The state root after the block.
    pub state_root: Hash,
    /// The state tree nodes the block creates (children before parents), to store with it.
    pub tree_nodes: Vec<(Hash, Node)>,
}

/// Checks that `tx` may be included in a block at `context.height` (or admitted to a mempool
/// that will propose at that height). Signatures are checked separately, in batches.
pub fn check_admissible(
    context: &BlockContext<'_>,
    tx: &SignedTransaction,
) -> Result<(), Rejection> {
    if tx.tx.chain_id != context.chain_id {
        return Err(Rejection::WrongChain {
            expected: context.chain_id.to_string(),
            got: tx.tx.chain_id.clone(),
        });
    }
    if tx.tx.valid_until < context.height {
        return Err(Rejection::Expired {
            valid_until: tx.tx.valid_until,
            height: context.height,
        });
    }
    let max = context.height.saturating_add(context.parameters.max_tx_ttl);
    if tx.tx.valid_until > max {
        return Err(Rejection::TooFarAhead {
            valid_until: tx.tx.valid_until,
            max,
        });
    }
    let size = codec::encode(tx).len() as u64;
    if size > context.parameters.max_tx_bytes {
        return Err(Rejection::TooLarge {
            size,
            limit: context.parameters.max_tx_bytes,
        });
    }
    check_operation(&tx.tx.op)
}

fn check_operation(op: &Operation) -> Result<(), Rejection> {
    let malformed = |what: &str| Err(Rejection::Malformed(what.to_string()));
    match op {
        Operation::Put {
            namespace,
            key,
            value,
        } => {
            if namespace.is_empty()
                || namespace.len() > MAX_NAMESPACE_BYTES
                || namespace.contains('\0')
            {
                return malformed("namespace must be 1..=64 bytes without NUL");
            }
            if key.is_empty() || key.len() > MAX_KEY_BYTES {
                return malformed("key must be 1..=256 bytes");
            }
            if value.len() > MAX_VALUE_BYTES {
                return malformed("value larger than 64 KiB");
            }
        }
        Operation::Notarize { metadata, .. } => {
            if metadata.len() > MAX_VALUE_BYTES {
                return malformed("metadata larger than 64 KiB");
            }
        }
    }
    Ok(())
}

/// Why a block's transactions cannot be executed at all (the block is invalid).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockRejection {
    /// A transaction is not admissible at this height.
    #[error("transaction {index} ({id}) is not admissible: {reason}")]
    Inadmissible {
        /// Position in the block.
        index: usize,
        /// Its id.
        id: Hash,
        /// Why.
        reason: Rejection,
    },
    /// The parent's state tree could not be read: the local store is damaged or failing (the
    /// block may be fine; this node cannot judge it).
    #[error("the state tree could not be read: {0}")]
    State(TreeError),
}

/// Executes `transactions` on top of `state` (the parent's state, with root `parent_state_root`).
///
/// A transaction that is not admissible (wrong chain, expired, duplicate, malformed) makes the
/// whole block invalid: a correct leader never proposes one. A transaction whose operation fails
/// (e.g. a digest already notarized) still commits, with a failed receipt.
pub fn execute_block(
    context: &BlockContext<'_>,
    state: &dyn StateReader,
    parent_state_root: &Hash,
    transactions: &[SignedTransaction],
) -> Result<BlockOutcome, BlockRejection> {
    let mut overlay = Overlay {
        state,
        changes: StateChanges::new(),
    };
    let mut seen = BTreeSet::new();
    let mut receipts = Vec::with_capacity(transactions.len());
    for (index, tx) in transactions.iter().enumerate() {
        let id = tx.id();
        let inadmissible = |reason| BlockRejection::Inadmissible { index, id, reason };
        check_admissible(context, tx).map_err(inadmissible)?;
        if !seen.insert(id) || state.contains_tx(&id) {
            return Err(inadmissible(Rejection::Duplicate));
        }
        let failure = apply(&mut overlay, context.height, &id, tx).err();
        receipts.push(Receipt {
            tx_id: id,
            height: context.height,
            index: u32::try_from(index).expect("max_block_txs keeps the index within u32"),
            failure,
        });
    }
    let tree = state_tree::update(state, parent_state_root, &overlay.changes)
        .map_err(BlockRejection::State)?;
    Ok(BlockOutcome {
        receipts,
        changes: overlay.changes,
        state_root: tree.root,
        tree_nodes: tree.new_nodes,
    })
}

/// Reads see earlier writes of the same block.
struct Overlay<'a> {
    state: &'a dyn StateReader,
    changes: StateChanges,
}

impl Overlay<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.changes.get(key) {
            Some(value) => value.clone(),
            None => self.state.get(key),
        }
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.changes.insert(key, Some(value));
    }
}

fn apply(
    overlay: &mut Overlay<'_>,
    height: Height,
    id: &Hash,
    tx: &SignedTransaction,
) -> Result<(), Rejection> {
    match &tx.tx.op {
        Operation::Put {
            namespace,
            key,
            value,
        } => {
            overlay.put(kv_key(namespace, key), value.clone());
            Ok(())
        }
        Operation::Notarize { digest, metadata } => {
            let key = notarization_key(digest);
            if overlay.get(&key).is_some() {
                return Err(Rejection::Malformed(format!(
                    "digest {digest} is already notarized"
                )));
            }
            let record = NotarizationRecord {
                signer: tx.tx.signer,
                height,
                tx_id: *id,
                metadata: metadata.clone(),
            };
            overlay.put(key, codec::encode(&record));
            Ok(())
        }
    }
}

/// A [`StateReader`] over in-memory maps: for tests, simulators and tools.
#[derive(Clone, Debug, Default)]
pub struct MemoryState {
    /// Current values.
    pub values: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Committed transaction ids.
    pub transactions: BTreeSet<Hash>,
    /// Every state tree node written so far.
    pub nodes: MemoryNodes,
}

impl MemoryState {
    /// Applies a block's outcome.
    pub fn apply(&mut self, outcome: &BlockOutcome) {
        for (key, value) in &outcome.changes {
            match value {
                Some(value) => self.values.insert(key.clone(), value.clone()),
                None => self.values.remove(key),
            };
        }
        self.transactions
            .extend(outcome.receipts.iter().map(|r| r.tx_id));
        self.nodes.insert_all(outcome.tree_nodes.iter().copied());
    }
}

impl NodeReader for MemoryState {
    fn node(&self, hash: &Hash) -> Result<Option<Node>, TreeError> {
        self.nodes.node(hash)
    }
}

impl StateReader for MemoryState {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.values.get(key).cloned()
    }

    fn contains_tx(&self, id: &Hash) -> bool {
        self.transactions.contains(id)
    }
}
