//! [`ChainStore`]: the RocksDB [`Store`] seen through the engine's [`EngineStore`] trait.
//!
//! The engine reads the tip with its timestamp, the state, blocks with certificates and the
//! validator set per height, and writes blocks and the consensus WAL. This adapter maps those
//! onto the column families and maps [`StorageError`]s onto the engine's [`StoreError`]s.

use cassia_consensus::ConsensusState;
use cassia_crypto::Hash;
use cassia_engine::store::{Store as EngineStore, StoreError, Tip};
use cassia_ledger::execution::{BlockOutcome, StateReader, keys};
use cassia_ledger::{Block, CommitCertificate, Genesis, Height, Parameters, ValidatorSet, codec};

use crate::{StorageError, Store};

/// A node's chain: its RocksDB store and the genesis it belongs to.
pub struct ChainStore {
    store: std::sync::Arc<Store>,
    genesis: Genesis,
}

impl std::fmt::Debug for ChainStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainStore")
            .field("chain_id", &self.genesis.chain_id)
            .finish_non_exhaustive()
    }
}

impl ChainStore {
    /// Opens the store at `path` for `genesis` (refusing a directory of another chain).
    pub fn open(path: &std::path::Path, genesis: Genesis) -> Result<ChainStore, StorageError> {
        let store = std::sync::Arc::new(Store::open(path, &genesis.hash())?);
        store.init_genesis_state(&cassia_ledger::execution::genesis::genesis_outcome(
            &genesis,
        ))?;
        Ok(ChainStore { store, genesis })
    }

    /// The underlying store, for queries.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A shared handle on the store for readers on other tasks (the gRPC server). RocksDB
    /// reads are safe alongside the engine's writes, and each block commits in one atomic
    /// batch, so a reader that reads the tip first sees that block complete.
    pub fn shared(&self) -> std::sync::Arc<Store> {
        std::sync::Arc::clone(&self.store)
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }
}

impl ChainStore {
    /// The governance record `key` in force at `height`: its version after block `height - 1`.
    fn in_force<T: bincode::Decode<()>>(
        &self,
        key: &[u8],
        height: Height,
    ) -> Result<T, StoreError> {
        let Some((_, Some(bytes))) = self.store.state_at(key, height.saturating_sub(1))? else {
            return Err(StoreError::Corrupt(format!(
                "no {} in the state before height {height}",
                String::from_utf8_lossy(key)
            )));
        };
        codec::decode(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", String::from_utf8_lossy(key))))
    }
}

impl From<StorageError> for StoreError {
    fn from(error: StorageError) -> StoreError {
        match error {
            StorageError::Database(e) => StoreError::Io(e.to_string()),
            StorageError::Poisoned(_) => StoreError::Poisoned,
            other @ (StorageError::Corrupt(_)
            | StorageError::WrongGenesis { .. }
            | StorageError::InvalidCommit(_)) => StoreError::Corrupt(other.to_string()),
        }
    }
}

impl EngineStore for ChainStore {
    fn tip(&self) -> Result<Tip, StoreError> {
        let Some(tip) = self.store.tip()? else {
            return Ok(Tip::genesis(&self.genesis));
        };
        let header = self
            .store
            .header(tip.height)?
            .ok_or_else(|| StoreError::Corrupt(format!("tip {} has no header", tip.height)))?;
        Ok(Tip {
            height: tip.height,
            block_hash: tip.block_hash,
            state_root: tip.state_root,
            timestamp_ms: header.timestamp_ms,
        })
    }

    fn state(&self) -> &dyn StateReader {
        self.store.as_ref()
    }

    fn contains_tx(&self, id: &Hash) -> Result<bool, StoreError> {
        Ok(self.store.tx_location(id)?.is_some())
    }

    fn block(&self, height: Height) -> Result<Option<(Block, CommitCertificate)>, StoreError> {
        let (Some(block), Some(certificate)) =
            (self.store.block(height)?, self.store.certificate(height)?)
        else {
            return Ok(None);
        };
        Ok(Some((block, certificate)))
    }

    fn validator_set(&self, height: Height) -> Result<ValidatorSet, StoreError> {
        self.in_force(keys::VALIDATORS, height)
    }

    fn parameters(&self, height: Height) -> Result<Parameters, StoreError> {
        self.in_force(keys::PARAMETERS, height)
    }

    fn commit_block(
        &mut self,
        block: &Block,
        certificate: &CommitCertificate,
        outcome: &BlockOutcome,
    ) -> Result<(), StoreError> {
        // Store::commit_block refuses a block that does not extend the tip (InvalidCommit);
        // the engine only commits blocks on its tip, so a refusal means the two disagree.
        self.store.commit_block(block, certificate, outcome)?;
        Ok(())
    }

    fn save_consensus_state(&mut self, state: &ConsensusState) -> Result<(), StoreError> {
        Ok(self.store.save_consensus_state(&codec::encode(state))?)
    }

    fn load_consensus_state(&self) -> Result<Option<ConsensusState>, StoreError> {
        let Some(bytes) = self.store.load_consensus_state()? else {
            return Ok(None);
        };
        Ok(Some(Store::decode_wal(&bytes)?))
    }
}
