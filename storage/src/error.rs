//! [`StorageError`]: every way a database operation fails, and how a RocksDB error maps onto it.
//!
//! Damage that RocksDB reports on a read (a block whose checksum fails, a listed file that is
//! gone) is [`StorageError::Corrupt`], whose message tells the operator what to do; damage found
//! at open is reported the same way, naming the directory (see [`crate::open`]). Other RocksDB
//! errors stay [`StorageError::Database`].

use cassia_crypto::Hash;

use crate::open::is_damage;

/// Failures of the database. Library callers decide; the node stops on any of them.
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
    /// A file-system step of creating or opening the data directory failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the path.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A commit that would break the chain (wrong height, parent or certificate).
    #[error("refused commit: {0}")]
    InvalidCommit(String),
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
