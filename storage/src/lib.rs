//! Cassia's store: one RocksDB per node holding blocks, commit certificates, receipts, indexes,
//! the authenticated state with its history, and the consensus WAL.
//!
//! Two rules make it trustworthy after a crash or a disk fault:
//!
//! 1. **One block, one synced batch.** [`Store::commit_block`] writes the block, its header,
//!    certificate, receipts, indexes, state changes, state history and the new tip in a single
//!    `WriteBatch` with `sync = true`. After a crash the store is before or after the block,
//!    never in between.
//! 2. **A failed write poisons the store.** If RocksDB reports any write error, the store refuses
//!    every later write with [`StorageError::Poisoned`]: a node must stop rather than keep voting
//!    on a store it cannot trust.
//!
//! The column families and their codecs are in [`tables`].
//!
//! ```
//! use cassia_crypto::Hash;
//! use cassia_storage::Store;
//!
//! let dir = tempfile::tempdir().expect("temp dir");
//! let store = Store::open(dir.path(), &Hash::of(b"genesis")).expect("opens");
//! assert_eq!(store.tip().expect("reads"), None);
//! // Opening the same directory for another chain is refused.
//! drop(store);
//! assert!(Store::open(dir.path(), &Hash::of(b"another genesis")).is_err());
//! ```

pub mod chain;
mod node_cache;
pub mod tables;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use cassia_crypto::Hash;
use cassia_ledger::execution::BlockOutcome;
use cassia_ledger::state_tree::{Node, NodeReader, TreeError};
use cassia_ledger::{Block, BlockHeader, CommitCertificate, Height, Receipt, codec};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBRecoveryMode, Direction,
    IteratorMode, Options, WriteBatch, WriteOptions,
};

use node_cache::NodeCache;

pub use chain::ChainStore;
use tables::{
    BlockIndex, Blocks, CONSENSUS_WAL, CONSENSUS_WAL_KEY, Certificates, ChainTip, GENESIS_KEY,
    GENESIS_STATE_KEY, Headers, Metadata, MetadataKey, Receipts, STATE, StateHistory, StateNodes,
    Table, TxIndex, TxLocation,
};

/// Failures of the store. Library callers decide; the node stops on any of them.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// RocksDB returned an error other than damage (which is [`StorageError::Corrupt`]; see the
    /// `From<rocksdb::Error>` conversion).
    #[error("database error: {0}")]
    Database(rocksdb::Error),
    /// A stored value does not decode, or the stored chain is inconsistent.
    #[error("database is corrupt: {0}; restore the data directory from a backup or resync it")]
    Corrupt(String),
    /// An earlier write failed; no further writes are accepted.
    #[error(
        "store refused the write: an earlier write failed ({0}); stop the node and check the disk"
    )]
    Poisoned(String),
    /// The data directory belongs to another chain.
    #[error(
        "data directory belongs to genesis {found}, not {expected}; use a fresh data directory"
    )]
    WrongGenesis {
        /// The genesis hash given.
        expected: Hash,
        /// The one recorded in the database.
        found: Hash,
    },
    /// A commit that would break the chain (wrong height, parent or certificate).
    #[error("refused commit: {0}")]
    InvalidCommit(String),
}

/// One version of a state key: the height that set it and the value (`None`: deleted).
pub type StateVersion = (Height, Option<Vec<u8>>);

/// The RocksDB store of one node. Share it behind an `Arc`; all methods take `&self`.
pub struct Store {
    db: DB,
    genesis_hash: Hash,
    /// Set by the first failed write, with its message.
    poisoned: AtomicBool,
    poison_reason: std::sync::Mutex<String>,
    /// Recently written or read state-tree nodes ([`node_cache`]).
    nodes: std::sync::Mutex<NodeCache>,
}

/// RocksDB's block cache, shared by every column family of one store.
const BLOCK_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Bloom filter bits per key in table files (about 1% false positives).
const BLOOM_BITS_PER_KEY: f64 = 10.0;
/// Share of each memtable spent on a whole-key bloom filter.
const MEMTABLE_BLOOM_RATIO: f64 = 0.05;

/// Memtable size of [`RANDOM_KEYED_FAMILIES`].
const RANDOM_KEYED_WRITE_BUFFER_BYTES: usize = 16 * 1024 * 1024;
/// Column families whose keys arrive in random order: hashes (transaction ids, tree nodes) and
/// state keys (which hold digests, item codes, account keys), about ten per transaction.
/// Inserting each into a large sorted memtable (RocksDB's skip list, 64 MiB by default) costs a
/// cache miss per level and was the biggest cost of committing a block; a smaller memtable
/// keeps the list shallow and mostly in cache, at the price of more, smaller flushes
/// (sequential work that compaction merges cheaply).
const RANDOM_KEYED_FAMILIES: [&str; 4] =
    [TxIndex::NAME, StateNodes::NAME, STATE, StateHistory::NAME];

/// Options of the column family `name`. Most point lookups on the hot path are for keys that do
/// not exist (is this transaction id committed? is this digest notarized?): bloom filters in
/// the memtable and in every table file answer those without searching either.
fn column_family_options(name: &str, cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
    table.set_block_cache(cache);
    let mut options = Options::default();
    options.set_block_based_table_factory(&table);
    options.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM_RATIO);
    options.set_memtable_whole_key_filtering(true);
    if RANDOM_KEYED_FAMILIES.contains(&name) {
        options.set_write_buffer_size(RANDOM_KEYED_WRITE_BUFFER_BYTES);
    }
    options
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("genesis_hash", &self.genesis_hash)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` for the chain with `genesis_hash`.
    ///
    /// Refuses a directory that belongs to another genesis, and checks the recorded tip is
    /// present (a truncated or damaged database is reported, not used).
    pub fn open(path: &Path, genesis_hash: &Hash) -> Result<Store, StorageError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_paranoid_checks(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Every write is synced before anyone acts on it, so a crash can only tear the last,
        // unacknowledged record of RocksDB's log. Tolerate exactly that; a checksum mismatch
        // anywhere else fails the open. (The default, point-in-time recovery, would silently drop
        // every record after the damage: synced blocks and consensus WAL entries a vote rested on.)
        options.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
        // Compaction is background work that can wait a few milliseconds; validating, voting and
        // committing blocks cannot without adding to every transaction's latency. On a machine
        // the node shares (or whose cores it fills), its compaction threads yield the CPU.
        // (RocksDB's default environment is process-wide: one store per node process.)
        if let Ok(mut env) = rocksdb::Env::new() {
            env.lower_thread_pool_cpu_priority();
            options.set_env(&env);
        }
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let families = tables::ALL
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, column_family_options(name, &cache)));
        let existed = path.join("CURRENT").exists();
        let db =
            DB::open_cf_descriptors(&options, path, families).map_err(|e| open_error(path, e))?;
        let store = Store {
            db,
            genesis_hash: *genesis_hash,
            poisoned: AtomicBool::new(false),
            poison_reason: std::sync::Mutex::new(String::new()),
            nodes: std::sync::Mutex::new(NodeCache::default()),
        };
        store.bind_genesis(existed, path)?;
        store.check_tip()?;
        Ok(store)
    }

    /// Checks the recorded genesis, or records it in a new database. A database that existed
    /// before this open always has it: without it, RocksDB came back empty from lost or truncated
    /// files (a truncated MANIFEST, a deleted log), which must not pass for a fresh node.
    fn bind_genesis(&self, existed: bool, path: &Path) -> Result<(), StorageError> {
        let metadata = self.cf(Metadata::NAME);
        match self.db.get_cf(metadata, GENESIS_KEY)? {
            Some(bytes) => {
                let found = Hash(bytes.as_slice().try_into().map_err(|_| {
                    StorageError::Corrupt("metadata: genesis hash is not 32 bytes".into())
                })?);
                if found != self.genesis_hash {
                    return Err(StorageError::WrongGenesis {
                        expected: self.genesis_hash,
                        found,
                    });
                }
                Ok(())
            }
            None if existed => Err(StorageError::Corrupt(format!(
                "the database in {} has lost its records (it holds no genesis hash)",
                path.display()
            ))),
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(metadata, GENESIS_KEY, self.genesis_hash.as_bytes());
                self.write(batch)
            }
        }
    }

    /// The recorded tip must point at a stored block with the same hash.
    fn check_tip(&self) -> Result<(), StorageError> {
        let Some(tip) = self.tip()? else {
            return Ok(());
        };
        let header = self.header(tip.height)?.ok_or_else(|| {
            StorageError::Corrupt(format!("tip {} has no stored header", tip.height))
        })?;
        if header.hash() != tip.block_hash {
            return Err(StorageError::Corrupt(format!(
                "tip {} hash does not match its header",
                tip.height
            )));
        }
        Ok(())
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family in tables::ALL is opened in Store::open")
    }

    fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Value>, StorageError> {
        match self
            .db
            .get_pinned_cf(self.cf(T::NAME), T::encode_key(key))?
        {
            Some(bytes) => Ok(Some(T::decode_value(&bytes)?)),
            None => Ok(None),
        }
    }

    fn put<T: Table>(&self, batch: &mut WriteBatch, key: &T::Key, value: &T::Value) {
        batch.put_cf(self.cf(T::NAME), T::encode_key(key), T::encode_value(value));
    }

    /// Writes `batch` synced, or poisons the store.
    fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
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

    fn poison(&self, reason: &str) {
        if let Ok(mut slot) = self.poison_reason.lock() {
            *slot = reason.to_string();
        }
        self.poisoned.store(true, Ordering::Release);
    }

    fn cached_node(&self, hash: &Hash) -> Option<Node> {
        // A poisoned lock only means another thread panicked mid-update of a cache whose every
        // entry is still a correct (hash, node) pair: keep using it.
        let mut cache = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(hash)
    }

    /// Caches durable tree nodes (stored under their own hash, so never stale).
    fn cache_nodes(&self, nodes: &[(Hash, Node)]) {
        let mut cache = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        for (hash, node) in nodes {
            cache.insert(*hash, *node);
        }
    }

    /// Whether an earlier write failed (the store then refuses all writes).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// The genesis hash this store belongs to.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The last committed block, or `None` before block 1.
    pub fn tip(&self) -> Result<Option<ChainTip>, StorageError> {
        self.get::<Metadata>(&MetadataKey::Tip)
    }

    /// Commits `block` with its certificate and execution results in one synced batch.
    ///
    /// The caller has verified the certificate and executed the block; the store checks only
    /// that the block extends its tip and matches what it is given, and refuses otherwise.
    pub fn commit_block(
        &self,
        block: &Block,
        certificate: &CommitCertificate,
        outcome: &BlockOutcome,
    ) -> Result<ChainTip, StorageError> {
        let tip = self.tip()?;
        self.check_extends(tip.as_ref(), block, certificate, outcome)?;
        let height = block.height();
        let block_hash = block.hash();
        let mut batch = WriteBatch::default();
        self.put::<Blocks>(&mut batch, &height, block);
        self.put::<Headers>(&mut batch, &height, &block.header);
        self.put::<BlockIndex>(&mut batch, &block_hash, &height);
        self.put::<Certificates>(&mut batch, &height, certificate);
        for receipt in &outcome.receipts {
            self.put::<Receipts>(&mut batch, &(height, receipt.index), receipt);
        }
        // In key order (see `write_state`).
        let mut ids: Vec<(&Hash, u32)> = outcome
            .receipts
            .iter()
            .map(|receipt| (&receipt.tx_id, receipt.index))
            .collect();
        ids.sort_unstable();
        for (id, index) in ids {
            self.put::<TxIndex>(&mut batch, id, &TxLocation { height, index });
        }
        self.write_state(&mut batch, height, outcome);
        let new_tip = ChainTip {
            height,
            block_hash,
            state_root: block.header.state_root,
        };
        self.put::<Metadata>(&mut batch, &MetadataKey::Tip, &new_tip);
        self.write(batch)?;
        self.cache_nodes(&outcome.tree_nodes);
        Ok(new_tip)
    }

    /// Writes the genesis state (height 0: its values, history entries and tree nodes) unless
    /// it is there already; one synced batch, so a crash leaves it whole or absent.
    pub fn init_genesis_state(&self, outcome: &BlockOutcome) -> Result<(), StorageError> {
        if self
            .db
            .get_cf(self.cf(Metadata::NAME), GENESIS_STATE_KEY)?
            .is_some()
        {
            return Ok(());
        }
        if self.tip()?.is_some() {
            return Err(StorageError::Corrupt(
                "blocks are stored but the genesis state is not".into(),
            ));
        }
        let mut batch = WriteBatch::default();
        self.write_state(&mut batch, 0, outcome);
        batch.put_cf(
            self.cf(Metadata::NAME),
            GENESIS_STATE_KEY,
            outcome.state_root.as_bytes(),
        );
        self.write(batch)
    }

    /// Adds `outcome`'s tree nodes, state values and history entries at `height` to `batch`.
    fn write_state(&self, batch: &mut WriteBatch, height: Height, outcome: &BlockOutcome) {
        // In key order: RocksDB inserts a batch's entries into its sorted memtable one after
        // the other, and an entry next to the previous one reuses most of its search. Tree
        // nodes (keyed by hash) come children-first, in random key order, and searching the
        // memtable afresh for each was the largest cost of committing a block. (Changes and
        // their history entries are already sorted: `StateChanges` is a `BTreeMap`.)
        let mut nodes: Vec<&(Hash, Node)> = outcome.tree_nodes.iter().collect();
        nodes.sort_unstable_by_key(|(hash, _)| *hash);
        for (hash, node) in nodes {
            self.put::<StateNodes>(batch, hash, node);
        }
        let state = self.cf(STATE);
        for (key, value) in &outcome.changes {
            match value {
                Some(value) => batch.put_cf(state, key, value),
                None => batch.delete_cf(state, key),
            }
            self.put::<StateHistory>(batch, &(key.clone(), height), value);
        }
    }

    fn check_extends(
        &self,
        tip: Option<&ChainTip>,
        block: &Block,
        certificate: &CommitCertificate,
        outcome: &BlockOutcome,
    ) -> Result<(), StorageError> {
        let receipts = &outcome.receipts;
        let (expected_height, expected_parent) = match tip {
            Some(tip) => (tip.height + 1, tip.block_hash),
            None => (1, self.genesis_hash),
        };
        let refuse = |why: String| Err(StorageError::InvalidCommit(why));
        if block.height() != expected_height {
            return refuse(format!(
                "block height {} but the next height is {expected_height}",
                block.height()
            ));
        }
        if block.header.parent != expected_parent {
            return refuse(format!("block {} does not extend the tip", block.height()));
        }
        if certificate.block_hash != block.hash() || certificate.height != block.height() {
            return refuse(format!("certificate is not for block {}", block.height()));
        }
        if outcome.state_root != block.header.state_root {
            return refuse(format!(
                "execution result is not for block {} (state root differs)",
                block.height()
            ));
        }
        if receipts.len() != block.transactions.len() {
            return refuse(format!(
                "{} receipts for {} transactions",
                receipts.len(),
                block.transactions.len()
            ));
        }
        Ok(())
    }

    /// The block at `height`.
    pub fn block(&self, height: Height) -> Result<Option<Block>, StorageError> {
        self.get::<Blocks>(&height)
    }

    /// The header at `height`.
    pub fn header(&self, height: Height) -> Result<Option<BlockHeader>, StorageError> {
        self.get::<Headers>(&height)
    }

    /// The height of the block with `hash`.
    pub fn height_of(&self, hash: &Hash) -> Result<Option<Height>, StorageError> {
        self.get::<BlockIndex>(hash)
    }

    /// The commit certificate of the block at `height`.
    pub fn certificate(&self, height: Height) -> Result<Option<CommitCertificate>, StorageError> {
        self.get::<Certificates>(&height)
    }

    /// Where transaction `id` committed.
    pub fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StorageError> {
        self.get::<TxIndex>(id)
    }

    /// The receipt at `(height, index)`.
    pub fn receipt_at(&self, height: Height, index: u32) -> Result<Option<Receipt>, StorageError> {
        self.get::<Receipts>(&(height, index))
    }

    /// The receipt of transaction `id`.
    pub fn receipt(&self, id: &Hash) -> Result<Option<Receipt>, StorageError> {
        match self.tx_location(id)? {
            Some(location) => self.receipt_at(location.height, location.index),
            None => Ok(None),
        }
    }

    /// The current value of state `key`.
    pub fn state_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(STATE), key)?)
    }

    /// The receipts of the block at `height`, in block order.
    pub fn block_receipts(&self, height: Height) -> Result<Vec<Receipt>, StorageError> {
        let prefix = height.to_be_bytes();
        let iterator = self.db.iterator_cf(
            self.cf(Receipts::NAME),
            IteratorMode::From(&prefix, Direction::Forward),
        );
        let mut out = Vec::new();
        for entry in iterator {
            let (raw_key, raw_value) = entry?;
            if !raw_key.starts_with(&prefix) {
                break;
            }
            out.push(Receipts::decode_value(&raw_value)?);
        }
        Ok(out)
    }

    /// The version of state `key` in force after `height`: the last change at or before it.
    pub fn state_at(
        &self,
        key: &[u8],
        height: Height,
    ) -> Result<Option<StateVersion>, StorageError> {
        let prefix = tables::state_history_prefix(key);
        let start = tables::state_history_key(key, height);
        let mut iterator = self.db.iterator_cf(
            self.cf(StateHistory::NAME),
            IteratorMode::From(&start, Direction::Reverse),
        );
        let Some(entry) = iterator.next() else {
            return Ok(None);
        };
        let (raw_key, raw_value) = entry?;
        // A shorter key sharing the prefix cannot match: the prefix carries the key's length.
        if !raw_key.starts_with(&prefix) || raw_key.len() != prefix.len() + 8 {
            return Ok(None);
        }
        let height_bytes: [u8; 8] = raw_key[prefix.len()..]
            .try_into()
            .expect("length checked above");
        Ok(Some((
            Height::from_be_bytes(height_bytes),
            StateHistory::decode_value(&raw_value)?,
        )))
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
        let iterator = self.db.iterator_cf(
            self.cf(StateHistory::NAME),
            IteratorMode::From(&start, Direction::Forward),
        );
        for entry in iterator {
            let (raw_key, raw_value) = entry?;
            if out.len() >= limit
                || !raw_key.starts_with(&prefix)
                || raw_key.len() != prefix.len() + 8
            {
                break;
            }
            let height_bytes: [u8; 8] = raw_key[prefix.len()..]
                .try_into()
                .expect("length checked above");
            out.push((
                Height::from_be_bytes(height_bytes),
                StateHistory::decode_value(&raw_value)?,
            ));
        }
        Ok(out)
    }

    /// Saves the consensus core's state (synced) before any message that depends on it is sent.
    pub fn save_consensus_state(&self, bytes: &[u8]) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CONSENSUS_WAL), CONSENSUS_WAL_KEY, bytes);
        self.write(batch)
    }

    /// The consensus core's last saved state.
    pub fn load_consensus_state(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(CONSENSUS_WAL), CONSENSUS_WAL_KEY)?)
    }

    /// Decodes a value stored with the canonical codec (helper for callers' typed WAL records).
    pub fn decode_wal<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<T, StorageError> {
        codec::decode(bytes).map_err(|e| StorageError::Corrupt(format!("consensus WAL: {e}")))
    }
}

/// Whether RocksDB reports damage: a checksum mismatch or other corruption, or a file the
/// database lists that is gone.
fn is_damage(error: &rocksdb::Error) -> bool {
    error.kind() == rocksdb::ErrorKind::Corruption
        || error.as_ref().contains("No such file or directory")
}

/// Damage RocksDB detects on a read (a block whose checksum fails) becomes
/// [`StorageError::Corrupt`], whose message says what to do; other errors stay
/// [`StorageError::Database`].
impl From<rocksdb::Error> for StorageError {
    fn from(error: rocksdb::Error) -> StorageError {
        if is_damage(&error) {
            StorageError::Corrupt(error.to_string())
        } else {
            StorageError::Database(error)
        }
    }
}

/// A failed open: damage becomes [`StorageError::Corrupt`] naming the directory; anything else
/// (the directory is locked by another process, unreadable) stays a [`StorageError::Database`]
/// error, whose message names the file.
fn open_error(path: &Path, error: rocksdb::Error) -> StorageError {
    if is_damage(&error) {
        StorageError::Corrupt(format!(
            "the database in {} cannot be opened: {error}",
            path.display()
        ))
    } else {
        StorageError::Database(error)
    }
}

/// Execution reads state through this. A failed read cannot be reported through the
/// infallible [`StateReader`](cassia_ledger::execution::StateReader), so it poisons the store:
/// the next write (the consensus WAL save that must precede any vote, or the block commit) is
/// refused and the node stops, so a vote never rests on a read that failed.
impl cassia_ledger::execution::StateReader for Store {
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
/// read poisons the store, as for [`StateReader`](cassia_ledger::execution::StateReader) reads.
impl NodeReader for Store {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_store_refuses_every_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), &Hash::of(b"g")).expect("opens");
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
