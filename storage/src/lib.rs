//! Cassia's store: one RocksDB per node holding blocks, commit certificates, receipts, indexes,
//! the authenticated state with its history, and the consensus WAL.
//!
//! Two rules make it trustworthy after a crash or a disk fault:
//!
//! 1. **One block, one synced batch.** [`Database::commit_block`] writes the block, its header,
//!    certificate, receipts, indexes, state changes, state history and the new tip in a single
//!    `WriteBatch` with `sync = true`. After a crash the store is before or after the block,
//!    never in between.
//! 2. **A failed write poisons the store.** If RocksDB reports any write error, the store refuses
//!    every later write with [`StorageError::Poisoned`]: a node must stop rather than keep voting
//!    on a store it cannot trust.
//!
//! The crate knows the ledger's types but neither the consensus core nor the engine: the
//! consensus WAL is bytes here, and the node adapts a [`Database`] to the engine's `Store` trait
//! (`cassia_node::chain_store`).
//!
//! The column families and their codecs are in [`tables`]. The rest, by file: `error.rs`
//! ([`StorageError`]), `database.rs` (the handle and its one write path), `open.rs` (opening,
//! and telling damage from other errors), `commit.rs` (blocks and the genesis state), `reads.rs`
//! (blocks, certificates, the transaction index, receipts), `state.rs` (state values, versions,
//! history, tree nodes), `wal.rs` (the consensus WAL), `node_cache.rs` (the tree-node cache),
//! [`misbehaviour`] (proofs of equivocation the replica found).
//!
//! ```
//! use cassia_crypto::Hash;
//! use cassia_storage::Database;
//!
//! let dir = tempfile::tempdir().expect("temp dir");
//! let database = Database::open(dir.path(), &Hash::of(b"genesis")).expect("opens");
//! assert_eq!(database.tip().expect("reads"), None);
//! // Opening the same directory for another chain is refused.
//! drop(database);
//! assert!(Database::open(dir.path(), &Hash::of(b"another genesis")).is_err());
//! ```

mod commit;
mod database;
mod error;
pub mod misbehaviour;
mod node_cache;
mod open;
mod reads;
mod state;
pub mod submissions;
pub mod tables;
mod wal;

pub use database::Database;
pub use error::StorageError;
pub use open::CREATION_MARKER;
pub use state::StateVersion;
