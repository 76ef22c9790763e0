//! Deterministic execution of a block's transactions.
//!
//! The primary executes to build a header; every replica re-executes to check it. Nothing here
//! reads a clock, draws randomness or iterates a hash map: the same inputs give the same receipts,
//! state changes and roots on every machine.
//!
//! A block executes in three steps:
//!
//! 1. record the parent's hash in the state (so `ValidatorReady` can name a recent block);
//! 2. each transaction: admissibility (chain, validity window, size, well-formed fields; a
//!    block holding an inadmissible one is invalid), then its operation's handler
//!    (`operations/`): *authorize* reads the state to decide whether the signer may, then
//!    *execute* checks the remaining preconditions and only then writes, so a failed operation
//!    leaves no trace but its failed receipt. Mempool admission runs *authorize* alone
//!    ([`check_permission`]);
//! 3. governance changes due at the next height take effect ([`governance`]), so the state
//!    after block `h` holds the validator set and parameters in force for block `h + 1`.
//!
//! The checks the handlers, governance and read permission share are in `checks.rs`.
//! The state key layout is in [`keys`]. `state_root` is the root of the sparse Merkle tree over
//! all state keys and values ([`crate::state_tree`]): every replica agrees on the whole state,
//! and any key's value or absence at any height can be proven against that height's header.

mod checks;
pub mod genesis;
pub mod governance;
pub mod keys;
mod operations;

use std::collections::{BTreeMap, BTreeSet};

use bincode::{Decode, Encode};
use cassia_crypto::{Domain, GenesisHash, Hash, PublicKey};
use serde::{Deserialize, Serialize};

use crate::state_tree::{self, MemoryNodes, Node, NodeReader, TreeError};
use crate::transaction::{Receipt, Rejection, SignedTransaction};
use crate::{Height, Parameters, codec};

pub use governance::{pending_validators, validator_set};
pub use keys::{kv as kv_key, notarization as notarization_key};

/// Longest item code, batch id or organization id, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest short text field (product, event kind), in bytes.
pub const MAX_LABEL_BYTES: usize = 256;
/// Most organizations in an access list or an item's authorized list.
pub const MAX_LIST: usize = 64;
/// Most co-signers of one notarization.
pub const MAX_CO_SIGNERS: usize = 16;

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
    /// The signer's organization.
    pub organization: String,
    /// Height at which it committed.
    pub height: Height,
    /// The notarizing transaction.
    pub tx_id: Hash,
    /// Metadata given.
    pub metadata: String,
    /// Keys of the co-signers whose signatures were checked.
    pub co_signers: Vec<PublicKey>,
}

/// The bytes a co-signer signs for `(digest, metadata)` on the chain `genesis` (domain
/// `Evidence`).
pub fn co_signing_bytes(genesis: &GenesisHash, digest: &Hash, metadata: &str) -> Vec<u8> {
    cassia_crypto::signing_bytes(
        Domain::Evidence,
        genesis,
        &codec::encode(&(digest, metadata.to_string())),
    )
}

/// The chain facts a block executes under.
#[derive(Clone, Debug)]
pub struct BlockContext<'a> {
    /// This chain's id: a transaction naming another is refused with a clear reason.
    pub chain_id: &'a str,
    /// This chain's genesis hash, which every signature covers (co-signatures here).
    pub genesis: &'a GenesisHash,
    /// Height of the block being executed.
    pub height: Height,
    /// Chain parameters in force.
    pub parameters: &'a Parameters,
}

/// The block a new block builds on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parent {
    /// Its hash (the genesis hash for block 1).
    pub hash: Hash,
    /// The state root after it.
    pub state_root: Hash,
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
/// that will propose at that height). Signatures are checked separately, in batches; permission
/// depends on the state and is checked by execution (and by [`check_permission`] at admission).
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
    operations::check_fields(context.genesis, &tx.tx.op)
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

/// Executes `transactions` on top of `state` (the state after `parent`).
///
/// A transaction that is not admissible (wrong chain, expired, duplicate, malformed) makes the
/// whole block invalid: a correct leader never proposes one. A transaction whose operation fails
/// (e.g. a permission is missing, a digest already notarized) still commits, with a failed
/// receipt.
pub fn execute_block(
    context: &BlockContext<'_>,
    state: &dyn StateReader,
    parent: &Parent,
    transactions: &[SignedTransaction],
) -> Result<BlockOutcome, BlockRejection> {
    let mut overlay = Overlay::new(state);
    if let Some(previous) = context.height.checked_sub(1) {
        overlay.put_record(keys::block_hash(previous), &parent.hash);
    }
    let mut seen = BTreeSet::new();
    let mut receipts = Vec::with_capacity(transactions.len());
    for (index, tx) in transactions.iter().enumerate() {
        let id = tx.id();
        let inadmissible = |reason| BlockRejection::Inadmissible { index, id, reason };
        check_admissible(context, tx).map_err(inadmissible)?;
        if !seen.insert(id) || state.contains_tx(&id) {
            return Err(inadmissible(Rejection::Duplicate));
        }
        let step = Step {
            height: context.height,
            signer: tx.tx.signer,
            tx_id: id,
        };
        let failure = operations::apply(&mut overlay, &step, &tx.tx.op).err();
        receipts.push(Receipt {
            tx_id: id,
            height: context.height,
            index: u32::try_from(index).expect("max_block_txs keeps the index within u32"),
            failure,
        });
    }
    governance::end_block(&mut overlay, context.height);
    let tree = state_tree::update(state, &parent.state_root, &overlay.changes)
        .map_err(BlockRejection::State)?;
    Ok(BlockOutcome {
        receipts,
        changes: overlay.changes,
        state_root: tree.root,
        tree_nodes: tree.new_nodes,
    })
}

/// Whether `tx`'s signer may do what it asks, judged on the committed `state`: the mempool's
/// early answer (PERMISSION_DENIED) so a client need not wait for a failed receipt.
///
/// Only the *authorize* step of the operation's handler runs: it reads the state and writes
/// nothing, and its error is exactly the `PermissionDenied` execution would give on the same
/// state. Other failures (a digest already notarized, a missing proposal) are left to the
/// receipt. Execution checks again, on the state the block actually sees. `_height`, the
/// height the transaction would execute at, decides no permission rule today.
pub fn check_permission(
    _height: Height,
    state: &dyn StateReader,
    tx: &SignedTransaction,
) -> Result<(), Rejection> {
    operations::authorize(&Overlay::new(state), &tx.tx.signer, &tx.tx.op)
}

/// The bytes a reader signs to query `raw_key` at `time_ms` on the chain `genesis` (domain
/// `Read`): the credential the gRPC API asks for on namespaces with a readers list.
pub fn read_signing_bytes(genesis: &GenesisHash, raw_key: &[u8], time_ms: u64) -> Vec<u8> {
    cassia_crypto::signing_bytes(
        Domain::Read,
        genesis,
        &codec::encode(&(raw_key.to_vec(), time_ms)),
    )
}

/// Whether `reader` (`None`: an anonymous caller) may read `raw_key` through the API.
///
/// Registry records of a namespace whose access list names readers are readable by accounts
/// of the owner organization and of those readers; every other key is readable by any caller
/// of a member's node. Every member node holds every block, so this governs what a node
/// answers, not what its operator can see: confidentiality from other member organizations
/// needs values encrypted before they are written.
pub fn read_permission(
    state: &dyn StateReader,
    raw_key: &[u8],
    reader: Option<&PublicKey>,
) -> Result<(), Rejection> {
    let Some(rest) = raw_key.strip_prefix(b"kv/") else {
        return Ok(());
    };
    let Some(end) = rest.iter().position(|b| *b == 0) else {
        return Ok(());
    };
    let namespace = String::from_utf8_lossy(&rest[..end]).into_owned();
    let overlay = Overlay::new(state);
    let Some(record) =
        overlay.record::<crate::records::NamespaceRecord>(&keys::namespace(&namespace))
    else {
        return Ok(());
    };
    if record.acl.readers.is_empty() {
        return Ok(());
    }
    let allowed = |organization: &str| {
        organization == record.owner || record.acl.readers.iter().any(|r| r == organization)
    };
    let Some(reader) = reader else {
        return Err(Rejection::PermissionDenied(format!(
            "namespace {namespace} is readable only by accounts of {} and {}: sign the query \
             with one (reader credential)",
            record.owner,
            record.acl.readers.join(", ")
        )));
    };
    // Any role reads: auditors exist for this.
    let account = checks::active_account(&overlay, reader)?;
    if allowed(&account.organization) {
        Ok(())
    } else {
        Err(Rejection::PermissionDenied(format!(
            "organization {} may not read namespace {namespace} (owner {}, readers: {})",
            account.organization,
            record.owner,
            record.acl.readers.join(", ")
        )))
    }
}

/// Who is executing what, for one transaction.
pub(crate) struct Step {
    pub height: Height,
    pub signer: PublicKey,
    pub tx_id: Hash,
}

/// The block's writes over the parent state: reads see earlier writes of the same block.
pub(crate) struct Overlay<'a> {
    state: &'a dyn StateReader,
    changes: StateChanges,
}

impl<'a> Overlay<'a> {
    fn new(state: &'a dyn StateReader) -> Overlay<'a> {
        Overlay {
            state,
            changes: StateChanges::new(),
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.changes.get(key) {
            Some(value) => value.clone(),
            None => self.state.get(key),
        }
    }

    /// A record stored with the canonical codec. Every replica holds the same bytes, so an
    /// undecodable record (never written by this code) reads as absent on every replica alike.
    pub(crate) fn record<T: Decode<()>>(&self, key: &[u8]) -> Option<T> {
        codec::decode(&self.get(key)?).ok()
    }

    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.changes.insert(key, Some(value));
    }

    pub(crate) fn put_record<T: Encode>(&mut self, key: Vec<u8>, value: &T) {
        self.put(key, codec::encode(value));
    }

    pub(crate) fn delete(&mut self, key: Vec<u8>) {
        self.changes.insert(key, None);
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
    /// The state right after `genesis` (height 0), with its tree.
    pub fn from_genesis(genesis: &crate::Genesis) -> MemoryState {
        let mut state = MemoryState::default();
        state.apply(&genesis::genesis_outcome(genesis));
        state
    }

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
