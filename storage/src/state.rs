//! Reading the state: current values, the version of a key after any height, a key's history,
//! and the state tree's nodes; and the ledger's read traits over them, for execution and proofs.
//!
//! **A read that cannot fail loudly poisons.** Execution reads through the infallible
//! [`StateReader`](cassia_ledger::execution::StateReader): a failed read there is answered as
//! absent and poisons the database, so the next write (the consensus WAL save that must precede
//! any vote, or the block commit) is refused and the node stops. A vote never rests on a read
//! that failed. Failed or corrupt [`NodeReader`] reads poison it the same way.
//!
//! The `state_history` key carries the state key's length, so one key's versions are contiguous
//! and a longer key sharing its bytes never matches ([`crate::tables`]).

use cassia_crypto::Hash;
use cassia_ledger::Height;
use cassia_ledger::state_tree::{Node, NodeReader, TreeError};
use rocksdb::{Direction, IteratorMode};

use crate::tables::{self, STATE, StateHistory, StateNodes, Table};
use crate::{Database, StorageError};

/// One version of a state key: the height that set it and the value (`None`: deleted).
pub type StateVersion = (Height, Option<Vec<u8>>);

/// Bytes of the height at the end of a `state_history` key.
const HEIGHT_BYTES: usize = 8;

impl Database {
    /// The current value of state `key`.
    pub fn state_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db().get_cf(self.cf(STATE), key)?)
    }

    /// The version of state `key` in force after `height`: the last change at or before it.
    pub fn state_at(
        &self,
        key: &[u8],
        height: Height,
    ) -> Result<Option<StateVersion>, StorageError> {
        let prefix = tables::state_history_prefix(key);
        let start = tables::state_history_key(key, height);
        let mut iterator = self.db().iterator_cf(
            self.cf(StateHistory::NAME),
            IteratorMode::From(&start, Direction::Reverse),
        );
        let Some(entry) = iterator.next() else {
            return Ok(None);
        };
        let (raw_key, raw_value) = entry?;
        // A shorter key sharing the prefix cannot match: the prefix carries the key's length.
        let Some(height) = version_height(&prefix, &raw_key) else {
            return Ok(None);
        };
        Ok(Some((height, StateHistory::decode_value(&raw_value)?)))
    }

    /// Every change of state `key`, oldest first, at most `limit` entries from `from_height`.
    pub fn state_history(
        &self,
        key: &[u8],
        from_height: Height,
        limit: usize,
    ) -> Result<Vec<StateVersion>, StorageError> {
        let prefix = tables::state_history_prefix(key);
        let start = tables::state_history_key(key, from_height);
        let mut out = Vec::new();
        let iterator = self.db().iterator_cf(
            self.cf(StateHistory::NAME),
            IteratorMode::From(&start, Direction::Forward),
        );
        for entry in iterator {
            let (raw_key, raw_value) = entry?;
            if out.len() >= limit {
                break;
            }
            let Some(height) = version_height(&prefix, &raw_key) else {
                break;
            };
            out.push((height, StateHistory::decode_value(&raw_value)?));
        }
        Ok(out)
    }
}

/// The height of the `state_history` entry `raw_key` if it is a version of the key whose
/// prefix is `prefix`, or `None` if it belongs to another key.
fn version_height(prefix: &[u8], raw_key: &[u8]) -> Option<Height> {
    if !raw_key.starts_with(prefix) || raw_key.len() != prefix.len() + HEIGHT_BYTES {
        return None;
    }
    let height_bytes: [u8; HEIGHT_BYTES] = raw_key[prefix.len()..]
        .try_into()
        .expect("length checked above");
    Some(Height::from_be_bytes(height_bytes))
}

/// Execution reads state through this. A failed read cannot be reported through the
/// infallible [`StateReader`](cassia_ledger::execution::StateReader), so it poisons the
/// database: the next write (the consensus WAL save that must precede any vote, or the block
/// commit) is refused and the node stops, so a vote never rests on a read that failed.
impl cassia_ledger::execution::StateReader for Database {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.state_get(key).unwrap_or_else(|error| {
            self.poison(&format!("state read failed: {error}"));
            None
        })
    }

    fn contains_tx(&self, id: &Hash) -> bool {
        self.tx_location(id)
            .map(|l| l.is_some())
            .unwrap_or_else(|error| {
                self.poison(&format!("tx index read failed: {error}"));
                false
            })
    }
}

/// The state tree's nodes, for execution (the next state root) and proofs. A failed or corrupt
/// read poisons the database, as for
/// [`StateReader`](cassia_ledger::execution::StateReader) reads.
impl NodeReader for Database {
    fn node(&self, hash: &Hash) -> Result<Option<Node>, TreeError> {
        if let Some(node) = self.cached_node(hash) {
            return Ok(Some(node));
        }
        let node = self.get::<StateNodes>(hash).map_err(|error| {
            self.poison(&format!("state tree read failed: {error}"));
            TreeError::Storage(error.to_string())
        })?;
        if let Some(node) = node {
            self.cache_nodes(&[(*hash, node)]);
        }
        Ok(node)
    }
}
