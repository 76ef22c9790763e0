//! Opening a [`Database`]: RocksDB's options, the checks that refuse a database of another chain
//! or one that lost records, and the classification of RocksDB errors as damage.
//!
//! **Invariants.** A database that opens belongs to the genesis it was opened for, and its
//! recorded tip points at a stored header with the same hash. Damage (a checksum mismatch or
//! other corruption, or a file the database lists that is gone) is never used: it fails the open
//! with [`StorageError::Corrupt`] naming the directory. The one exception is the damage a crash
//! can cause, a torn last record of RocksDB's log, which is tolerated (every write is synced
//! before anyone acts on it, so that record was never acknowledged).
//!
//! **A database being created is marked as such.** A file named [`CREATION_MARKER`] is written
//! and synced in the directory before RocksDB creates anything there, and removed once the genesis
//! hash is written and synced. So a database without the marker always holds its genesis hash,
//! and one without it has lost records; a crash during creation (a node killed in its first
//! milliseconds) leaves the marker, and the next open empties the directory and creates the
//! database afresh: it held nothing but, at most, the genesis hash. (The genesis hash goes into
//! the same RocksDB log as the first blocks, so a truncated MANIFEST or a deleted log still
//! loses it with them and is caught.)

use std::path::Path;

use cassia_crypto::Hash;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBRecoveryMode, Options, WriteBatch,
};

use crate::tables::{self, GENESIS_KEY, Metadata, STATE, StateHistory, StateNodes, Table, TxIndex};
use crate::{Database, StorageError};

/// RocksDB's block cache, shared by every column family of one database.
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

/// Options of the database as a whole.
fn database_options() -> Options {
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
    // (RocksDB's default environment is process-wide: one database per node process.)
    if let Ok(mut env) = rocksdb::Env::new() {
        env.lower_thread_pool_cpu_priority();
        options.set_env(&env);
    }
    options
}

impl Database {
    /// Opens (creating if needed) the database at `path` for the chain with `genesis_hash`.
    ///
    /// Refuses a directory that belongs to another genesis, and checks the recorded tip is
    /// present (a truncated or damaged database is reported, not used).
    pub fn open(path: &Path, genesis_hash: &Hash) -> Result<Database, StorageError> {
        let marker = path.join(CREATION_MARKER);
        if marker.exists() {
            discard_cut_short_creation(path)?;
        }
        let fresh = !path.join("CURRENT").exists();
        if fresh {
            mark_creation(path)?;
        }
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let families = tables::ALL
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, column_family_options(name, &cache)));
        let db = DB::open_cf_descriptors(&database_options(), path, families)
            .map_err(|e| open_error(path, e))?;
        let database = Database::new(db, *genesis_hash);
        if fresh {
            let mut batch = WriteBatch::default();
            batch.put_cf(
                database.cf(Metadata::NAME),
                GENESIS_KEY,
                genesis_hash.as_bytes(),
            );
            database.write(batch)?;
            remove_synced(&marker, path)?;
        }
        database.bind_genesis(path)?;
        database.check_tip()?;
        Ok(database)
    }

    /// Checks the recorded genesis. Every database without the [`CREATION_MARKER`] has one:
    /// without it, RocksDB came back empty from lost or truncated files (a truncated MANIFEST, a
    /// deleted log), which must not pass for a fresh node.
    fn bind_genesis(&self, path: &Path) -> Result<(), StorageError> {
        let metadata = self.cf(Metadata::NAME);
        match self.db().get_cf(metadata, GENESIS_KEY)? {
            Some(bytes) => {
                let found = Hash(bytes.as_slice().try_into().map_err(|_| {
                    StorageError::Corrupt("metadata: genesis hash is not 32 bytes".into())
                })?);
                if found != self.genesis_hash() {
                    return Err(StorageError::WrongGenesis {
                        expected: self.genesis_hash(),
                        found,
                    });
                }
                Ok(())
            }
            None => Err(StorageError::Corrupt(format!(
                "the database in {} has lost its records (it holds no genesis hash)",
                path.display()
            ))),
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
}

/// The file that marks a database being created (see the module's invariants).
pub const CREATION_MARKER: &str = "CASSIA-CREATING";

/// `Io` error naming what was being done.
fn io(what: String) -> impl FnOnce(std::io::Error) -> StorageError {
    move |source| StorageError::Io { what, source }
}

/// Marks `path` (absent, or an empty directory) as holding a database being created: the
/// marker is written and synced, and the directory synced, before RocksDB creates anything.
///
/// A `path` that holds files but no database (no `CURRENT`) is refused: it is not ours to
/// discard, and RocksDB would otherwise start an empty database among them.
fn mark_creation(path: &Path) -> Result<(), StorageError> {
    if let Ok(mut entries) = std::fs::read_dir(path)
        && entries.next().is_some()
    {
        return Err(StorageError::Corrupt(format!(
            "{} holds files but no database (its CURRENT file is missing)",
            path.display()
        )));
    }
    std::fs::create_dir_all(path).map_err(io(format!("cannot create {}", path.display())))?;
    let marker = path.join(CREATION_MARKER);
    std::fs::File::create(&marker)
        .and_then(|file| file.sync_all())
        .map_err(io(format!("cannot write {}", marker.display())))?;
    sync_directory(path)
}

/// Empties `path`, a database whose creation a crash cut short (its [`CREATION_MARKER`] is
/// still there): it holds nothing but, at most, the genesis hash. The marker goes last, so a
/// crash in the middle leaves it for the next open to finish.
fn discard_cut_short_creation(path: &Path) -> Result<(), StorageError> {
    tracing::warn!(
        path = %path.display(),
        "the database's creation was cut short (a crash in the node's first start): creating it again"
    );
    let entries = std::fs::read_dir(path).map_err(io(format!("cannot list {}", path.display())))?;
    for entry in entries {
        let entry = entry.map_err(io(format!("cannot list {}", path.display())))?;
        if entry.file_name() == CREATION_MARKER {
            continue;
        }
        let entry = entry.path();
        let removed = if entry.is_dir() {
            std::fs::remove_dir_all(&entry)
        } else {
            std::fs::remove_file(&entry)
        };
        removed.map_err(io(format!("cannot remove {}", entry.display())))?;
    }
    remove_synced(&path.join(CREATION_MARKER), path)
}

/// Removes `file` from the directory `dir` and syncs the directory.
fn remove_synced(file: &Path, dir: &Path) -> Result<(), StorageError> {
    std::fs::remove_file(file).map_err(io(format!("cannot remove {}", file.display())))?;
    sync_directory(dir)
}

/// Syncs `dir`, so that the files created or removed in it are durable.
fn sync_directory(dir: &Path) -> Result<(), StorageError> {
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io(format!("cannot sync {}", dir.display())))
}

/// Whether RocksDB reports damage: a checksum mismatch or other corruption, or a file the
/// database lists that is gone.
pub(crate) fn is_damage(error: &rocksdb::Error) -> bool {
    error.kind() == rocksdb::ErrorKind::Corruption
        || error.as_ref().contains("No such file or directory")
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
