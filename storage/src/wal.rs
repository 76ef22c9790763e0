//! The consensus WAL: the consensus core's last saved state, as bytes this crate does not read.
//!
//! **Persist before send.** The host saves the core's state here, synced, before it sends any
//! message that depends on it (a vote, a proposal), and a restarted node resumes from the last
//! saved state, so it knows what it has already signed. The save goes through the database's one write path: it is refused once the database is poisoned,
//! which is what stops a node from voting after a failed write or read.
//!
//! One record under one key (`consensus_wal` / `b"replica"`, see [`crate::tables`]), replaced by
//! every save. Its bytes are the caller's: the node encodes the consensus core's state with the
//! canonical codec and decodes it with [`Database::decode_wal`], so damage comes back as
//! [`StorageError::Corrupt`] with the advice every corruption carries.

use cassia_ledger::codec;
use rocksdb::WriteBatch;

use crate::tables::{CONSENSUS_WAL, CONSENSUS_WAL_KEY};
use crate::{Database, StorageError};

impl Database {
    /// Saves the consensus core's state (synced) before any message that depends on it is sent.
    pub fn save_consensus_state(&self, bytes: &[u8]) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CONSENSUS_WAL), CONSENSUS_WAL_KEY, bytes);
        self.write(batch)
    }

    /// The consensus core's last saved state.
    pub fn load_consensus_state(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .db()
            .get_cf(self.cf(CONSENSUS_WAL), CONSENSUS_WAL_KEY)?)
    }

    /// Decodes a value stored with the canonical codec (helper for callers' typed WAL records).
    pub fn decode_wal<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<T, StorageError> {
        codec::decode(bytes).map_err(|e| StorageError::Corrupt(format!("consensus WAL: {e}")))
    }
}
