//! [`ChainStore`]: the node's RocksDB [`Database`] seen through the engine's [`EngineStore`]
//! trait.
//!
//! The engine reads the tip with its timestamp, the state, blocks with certificates and the
//! validator set per height, and writes blocks and the consensus WAL. This adapter maps those
//! onto the database and maps [`StorageError`]s onto the engine's [`StoreError`]s. It lives in
//! the node, not in `cassia-storage`, so that the storage crate knows neither the engine nor the
//! consensus core: the consensus state is encoded here, and the database keeps its bytes.

use std::path::Path;
use std::sync::Arc;

use cassia_consensus::ConsensusState;
use cassia_crypto::Hash;
use cassia_engine::store::{Store as EngineStore, StoreError, Tip};
use cassia_ledger::execution::genesis::genesis_outcome;
use cassia_ledger::execution::{BlockOutcome, StateReader, keys};
use cassia_ledger::{Block, CommitCertificate, Genesis, Height, Parameters, ValidatorSet, codec};
use cassia_storage::{Database, StorageError};

/// A node's chain: its RocksDB database and the genesis it belongs to.
pub struct ChainStore {
    database: Arc<Database>,
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
    /// Opens the database at `path` for `genesis` (refusing a directory of another chain) and
    /// writes the genesis state if it is not there yet.
    pub fn open(path: &Path, genesis: Genesis) -> Result<ChainStore, StorageError> {
        let database = Arc::new(Database::open(path, &genesis.hash())?);
        database.init_genesis_state(&genesis_outcome(&genesis))?;
        Ok(ChainStore { database, genesis })
    }

    /// The underlying database, for queries.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// A shared handle on the database for readers on other tasks (the gRPC server). RocksDB
    /// reads are safe alongside the engine's writes, and each block commits in one atomic
    /// batch, so a reader that reads the tip first sees that block complete.
    pub fn shared(&self) -> Arc<Database> {
        Arc::clone(&self.database)
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The governance record `key` in force at `height`: its version after block `height - 1`.
    fn in_force<T: bincode::Decode<()>>(
        &self,
        key: &[u8],
        height: Height,
    ) -> Result<T, StoreError> {
        let version = self
            .database
            .state_at(key, height.saturating_sub(1))
            .map_err(store_error)?;
        let Some((_, Some(bytes))) = version else {
            return Err(StoreError::Corrupt(format!(
                "no {} in the state before height {height}",
                String::from_utf8_lossy(key)
            )));
        };
        codec::decode(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", String::from_utf8_lossy(key))))
    }
}

/// The engine's view of a storage failure. A poisoned database stays poisoned for the engine;
/// everything that says the data cannot be trusted is corruption, with the storage message (and
/// its advice) kept whole.
pub(crate) fn store_error(error: StorageError) -> StoreError {
    match error {
        StorageError::Database(e) => StoreError::Io(e.to_string()),
        io @ StorageError::Io { .. } => StoreError::Io(io.to_string()),
        StorageError::Poisoned(_) => StoreError::Poisoned,
        other @ (StorageError::Corrupt(_)
        | StorageError::WrongGenesis { .. }
        | StorageError::InvalidCommit(_)) => StoreError::Corrupt(other.to_string()),
    }
}

impl EngineStore for ChainStore {
    fn tip(&self) -> Result<Tip, StoreError> {
        let Some(tip) = self.database.tip().map_err(store_error)? else {
            return Ok(Tip::genesis(&self.genesis));
        };
        let header = self
            .database
            .header(tip.height)
            .map_err(store_error)?
            .ok_or_else(|| StoreError::Corrupt(format!("tip {} has no header", tip.height)))?;
        Ok(Tip {
            height: tip.height,
            block_hash: tip.block_hash,
            state_root: tip.state_root,
            timestamp_ms: header.timestamp_ms,
        })
    }

    fn state(&self) -> &dyn StateReader {
        self.database.as_ref()
    }

    fn contains_tx(&self, id: &Hash) -> Result<bool, StoreError> {
        Ok(self
            .database
            .tx_location(id)
            .map_err(store_error)?
            .is_some())
    }

    fn block(&self, height: Height) -> Result<Option<(Block, CommitCertificate)>, StoreError> {
        let block = self.database.block(height).map_err(store_error)?;
        let certificate = self.database.certificate(height).map_err(store_error)?;
        let (Some(block), Some(certificate)) = (block, certificate) else {
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
        // Database::commit_block refuses a block that does not extend the tip (InvalidCommit);
        // the engine only commits blocks on its tip, so a refusal means the two disagree.
        self.database
            .commit_block(block, certificate, outcome)
            .map_err(store_error)?;
        Ok(())
    }

    fn save_consensus_state(&mut self, state: &ConsensusState) -> Result<(), StoreError> {
        self.database
            .save_consensus_state(&codec::encode(state))
            .map_err(store_error)
    }

    fn load_consensus_state(&self) -> Result<Option<ConsensusState>, StoreError> {
        let Some(bytes) = self.database.load_consensus_state().map_err(store_error)? else {
            return Ok(None);
        };
        Database::decode_wal(&bytes).map(Some).map_err(store_error)
    }
}

/// A damaged consensus WAL stops the engine before it votes, with the storage message and its
/// advice (issue 8, item 6; the store-level cases are in `storage/tests/faults.rs`).
#[cfg(test)]
mod tests {
    use cassia_consensus::{Message, Payload};
    use cassia_crypto::Keypair;
    use cassia_engine::{Engine, EngineConfig, MempoolLimits};
    use cassia_ledger::{Organization, Validator, Vote, VoteKind};

    use super::*;

    const CHAIN: &str = "chain-store-test";

    /// What every refusal must tell the operator to do.
    const ADVICE: &str = "restore the data directory from a backup or resync it";

    /// The engine's key, the one validator's.
    fn validator_key() -> Keypair {
        Keypair::from_secret([9; 32])
    }

    fn test_genesis() -> Genesis {
        Genesis {
            chain_id: CHAIN.into(),
            genesis_time_ms: 0,
            organizations: vec![Organization {
                id: "org0".into(),
                name: "Org 0".into(),
                admins: vec![Keypair::from_secret([3; 32]).public()],
            }],
            validators: vec![Validator {
                name: "v0".into(),
                organization: "org0".into(),
                node_key: validator_key().public(),
                p2p_address: String::new(),
            }],
            parameters: Parameters::default(),
            approvals: vec![],
        }
    }

    /// A consensus WAL record as the replica writes it: a prepare vote signed at `height`.
    fn wal_record(height: Height) -> ConsensusState {
        let vote = Vote {
            kind: VoteKind::Prepare,
            height,
            view: 0,
            block_hash: Hash::of(b"proposal"),
        };
        ConsensusState {
            height,
            view: 0,
            view_changing: false,
            signed: vec![Message::sign(
                &test_genesis().genesis_hash(),
                &validator_key(),
                Payload::Vote(vote),
            )],
            prepared: None,
        }
    }

    /// A closed chain at genesis whose consensus WAL holds the replica's record for height 1.
    /// With `flush`, it was opened once more, so RocksDB moved its log into table files.
    fn closed_chain(flush: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut chain = ChainStore::open(dir.path(), test_genesis()).expect("opens");
        chain
            .save_consensus_state(&wal_record(1))
            .expect("WAL write");
        drop(chain);
        if flush {
            drop(ChainStore::open(dir.path(), test_genesis()).expect("reopens"));
        }
        dir
    }

    fn open_engine(dir: &Path) -> Result<(), String> {
        let genesis = test_genesis();
        let config = EngineConfig {
            chain_id: genesis.chain_id.clone(),
            genesis: genesis.genesis_hash(),
            key: validator_key(),
            mempool: MempoolLimits::default(),
        };
        let chain = ChainStore::open(dir, genesis).map_err(|e| e.to_string())?;
        Engine::open(config, chain)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// The table file of column family `family` (opened read-only to ask RocksDB).
    fn table_of(dir: &Path, family: &str) -> std::path::PathBuf {
        let db = rocksdb::DB::open_cf_for_read_only(
            &rocksdb::Options::default(),
            dir,
            cassia_storage::tables::ALL,
            false,
        )
        .expect("opens read-only");
        let live = db.live_files().expect("live files");
        let file = live
            .iter()
            .filter(|f| f.column_family_name == family)
            .max_by_key(|f| f.size)
            .unwrap_or_else(|| panic!("no table file for {family}"));
        dir.join(file.name.trim_start_matches('/'))
    }

    /// Flips every bit of `count` bytes at `offset` (clamped to the file).
    fn flip(path: &Path, offset: usize, count: usize) {
        let mut bytes = std::fs::read(path).expect("read");
        let start = offset.min(bytes.len());
        let end = (start + count).min(bytes.len());
        for byte in &mut bytes[start..end] {
            *byte ^= 0xff;
        }
        std::fs::write(path, bytes).expect("write");
    }

    #[test]
    fn an_unreadable_consensus_wal_stops_the_engine_before_it_votes() {
        let valid = codec::encode(&wal_record(1));
        let damaged: [(&str, Vec<u8>); 3] = [
            ("garbage", b"not a consensus state".to_vec()),
            ("truncated", valid[..valid.len() - 1].to_vec()),
            ("empty", Vec::new()),
        ];
        for (what, bytes) in damaged {
            let dir = closed_chain(false);
            open_engine(dir.path()).expect("the intact store opens");
            let database = Database::open(dir.path(), &test_genesis().hash()).expect("opens");
            database.save_consensus_state(&bytes).expect("write");
            drop(database);
            let message = open_engine(dir.path()).expect_err(what);
            println!("{what}: {message}");
            assert!(message.contains("consensus WAL"), "{what}: {message}");
            assert!(message.contains(ADVICE), "{what}: {message}");
        }
    }

    #[test]
    fn a_damaged_consensus_wal_table_stops_the_engine_before_it_votes() {
        let dir = closed_chain(true);
        // The WAL record's table block fails its checksum when the engine reads it at start.
        flip(&table_of(dir.path(), "consensus_wal"), 16, 16);
        let message = open_engine(dir.path()).expect_err("a damaged WAL is refused");
        println!("{message}");
        assert!(message.contains("Corruption"), "{message}");
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(message.contains(ADVICE), "{message}");
    }
}
