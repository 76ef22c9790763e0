//! [`Database`]: the handle on one node's RocksDB, and the one path every write takes.
//!
//! **Invariants.**
//!
//! - **Every write is one synced batch.** All writes go through [`Database::write`], which
//!   writes one `WriteBatch` with `sync = true`: when it returns `Ok` the batch survives a crash,
//!   and after a crash the database holds all of the batch or none of it.
//! - **A failed write poisons the database.** If RocksDB reports any write error, every later
//!   write is refused with [`StorageError::Poisoned`], carrying the first failure's message:
//!   a node must stop rather than keep voting on a store it cannot trust. Reads still work. A
//!   failed read that cannot be reported to its caller poisons it too (see [`crate::state`]).
//! - **Typed column families go through their codec.** [`Database::get`] and [`Database::put`]
//!   are the only readers and writers of a [`Table`]; the raw families (`state` values, the
//!   consensus WAL, the genesis records in `metadata`) are bytes by design ([`crate::tables`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use cassia_crypto::Hash;
use cassia_ledger::state_tree::Node;
use rocksdb::{ColumnFamily, DB, WriteBatch, WriteOptions};

use crate::StorageError;
use crate::node_cache::NodeCache;
use crate::tables::Table;

/// The RocksDB database of one node. Share it behind an `Arc`; all methods take `&self`.
pub struct Database {
    db: DB,
    genesis_hash: Hash,
    /// Set by the first failed write, with its message.
    poisoned: AtomicBool,
    poison_reason: Mutex<String>,
    /// Recently written or read state-tree nodes ([`crate::node_cache`]).
    nodes: Mutex<NodeCache>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("genesis_hash", &self.genesis_hash)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Wraps an opened RocksDB for the chain with `genesis_hash`: healthy, with an empty node
    /// cache. [`Database::open`] checks the database before handing it out.
    pub(crate) fn new(db: DB, genesis_hash: Hash) -> Database {
        Database {
            db,
            genesis_hash,
            poisoned: AtomicBool::new(false),
            poison_reason: Mutex::new(String::new()),
            nodes: Mutex::new(NodeCache::default()),
        }
    }

    /// RocksDB itself, for reads of the raw column families and for iterators. Writes go
    /// through [`Database::write`].
    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    pub(crate) fn cf(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family in tables::ALL is opened in Database::open")
    }

    pub(crate) fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Value>, StorageError> {
        match self
            .db
            .get_pinned_cf(self.cf(T::NAME), T::encode_key(key))?
        {
            Some(bytes) => Ok(Some(T::decode_value(&bytes)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn put<T: Table>(&self, batch: &mut WriteBatch, key: &T::Key, value: &T::Value) {
        batch.put_cf(self.cf(T::NAME), T::encode_key(key), T::encode_value(value));
    }

    /// Writes `batch` synced, or poisons the database.
    pub(crate) fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        if self.poisoned.load(Ordering::Acquire) {
            let reason = self
                .poison_reason
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default();
            return Err(StorageError::Poisoned(reason));
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(batch, &options).map_err(|error| {
            self.poison(error.as_ref());
            StorageError::Database(error)
        })
    }

    pub(crate) fn poison(&self, reason: &str) {
        if let Ok(mut slot) = self.poison_reason.lock() {
            *slot = reason.to_string();
        }
        self.poisoned.store(true, Ordering::Release);
    }

    pub(crate) fn cached_node(&self, hash: &Hash) -> Option<Node> {
        // A poisoned lock only means another thread panicked mid-update of a cache whose every
        // entry is still a correct (hash, node) pair: keep using it.
        let mut cache = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(hash)
    }

    /// Caches durable tree nodes (stored under their own hash, so never stale).
    pub(crate) fn cache_nodes(&self, nodes: &[(Hash, Node)]) {
        let mut cache = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        for (hash, node) in nodes {
            cache.insert(*hash, *node);
        }
    }

    /// Whether an earlier write failed (the database then refuses all writes).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// The genesis hash this database belongs to.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_store_refuses_every_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Database::open(dir.path(), &Hash::of(b"g")).expect("opens");
        store
            .save_consensus_state(b"ok")
            .expect("healthy store writes");
        store.poison("disk full");
        let error = store.save_consensus_state(b"later").expect_err("poisoned");
        assert!(error.to_string().contains("disk full"), "{error}");
        assert!(store.is_poisoned());
        assert_eq!(
            store.load_consensus_state().expect("reads still work"),
            Some(b"ok".to_vec())
        );
    }
}
