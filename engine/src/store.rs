//! The storage the engine needs, as a small trait, and an in-memory implementation.
//!
//! **Durability contract.** When [`Store::commit_block`] or [`Store::save_consensus_state`]
//! returns `Ok`, what it wrote survives a crash (a synced write). [`Store::commit_block`] is
//! atomic: after a crash the store is before or after the block, never between. After any failed
//! write a store must refuse every later write ([`StoreError::Poisoned`]): the node stops rather
//! than vote on a store it cannot trust.
//!
//! Everything a host keeps outside its store (the replica's volatile state, the mempool, caches,
//! timers) is lost in a crash; a restarted engine rebuilds from [`Store::tip`] and
//! [`Store::load_consensus_state`] alone. The simulator crashes nodes exactly that way, keeping
//! only their [`MemoryStore`].

use std::collections::BTreeMap;

use cassia_consensus::ConsensusState;
use cassia_crypto::Hash;
use cassia_ledger::execution::{BlockOutcome, MemoryState, StateReader, keys};
use cassia_ledger::{Block, CommitCertificate, Genesis, Height, Parameters, ValidatorSet, codec};

/// The committed chain's last block, as the engine builds on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tip {
    /// Height (0 before the first block).
    pub height: Height,
    /// Hash of its header (the genesis hash at height 0).
    pub block_hash: Hash,
    /// State root after it.
    pub state_root: Hash,
    /// Its timestamp (the genesis time at height 0).
    pub timestamp_ms: u64,
}

impl Tip {
    /// The tip of an empty chain: height 0, the genesis hash, the root of the genesis state
    /// ([`cassia_ledger::execution::genesis`]), and the genesis time. Every store must start from
    /// exactly this.
    pub fn genesis(genesis: &Genesis) -> Tip {
        Tip {
            height: 0,
            block_hash: genesis.hash(),
            state_root: cassia_ledger::execution::genesis::genesis_outcome(genesis).state_root,
            timestamp_ms: genesis.genesis_time_ms,
        }
    }

    /// The tip after `block`.
    pub fn of(block: &Block) -> Tip {
        Tip {
            height: block.height(),
            block_hash: block.hash(),
            state_root: block.header.state_root,
            timestamp_ms: block.header.timestamp_ms,
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// The device or database failed.
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// Stored bytes do not decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The block does not extend the tip.
    #[error("block {got} (parent {parent}) does not extend the tip at height {tip}")]
    NotNext {
        /// Tip height.
        tip: Height,
        /// Height of the block offered.
        got: Height,
        /// Its parent hash.
        parent: Hash,
    },
    /// A write failed earlier; the store refuses writes until restarted and checked.
    #[error("the store refuses writes after an earlier failed write")]
    Poisoned,
    /// No validator set is known for the height (it is beyond what the chain has scheduled).
    #[error("no validator set known for height {0}")]
    NoValidatorSet(Height),
}

/// What the engine reads and writes. Object safe: the node may hold a `Box<dyn Store>`.
pub trait Store {
    /// The last committed block.
    fn tip(&self) -> Result<Tip, StoreError>;
    /// The state as of the tip.
    fn state(&self) -> &dyn StateReader;
    /// Whether transaction `id` has committed.
    fn contains_tx(&self, id: &Hash) -> Result<bool, StoreError>;
    /// The committed block at `height` with its certificate.
    fn block(&self, height: Height) -> Result<Option<(Block, CommitCertificate)>, StoreError>;
    /// The validator set in force at `height`: the state's `gov/validators` after block
    /// `height - 1` (at most one height past the tip is ever asked for).
    fn validator_set(&self, height: Height) -> Result<ValidatorSet, StoreError>;
    /// The chain parameters in force at `height`: the state's `gov/params` after block
    /// `height - 1`.
    fn parameters(&self, height: Height) -> Result<Parameters, StoreError>;
    /// Atomically and durably: the block, its certificate, its outcome's state changes and
    /// receipts, and the new tip. The block must extend the tip.
    fn commit_block(
        &mut self,
        block: &Block,
        certificate: &CommitCertificate,
        outcome: &BlockOutcome,
    ) -> Result<(), StoreError>;
    /// Durably replaces the consensus WAL record.
    fn save_consensus_state(&mut self, state: &ConsensusState) -> Result<(), StoreError>;
    /// The last saved WAL record, if any.
    fn load_consensus_state(&self) -> Result<Option<ConsensusState>, StoreError>;
}

/// A [`Store`] in memory, for tests and the simulator. All of it counts as durable (writes
/// "sync" when they return); [`MemoryStore::fail_writes`] injects a failing device.
#[derive(Clone, Debug)]
pub struct MemoryStore {
    tip: Tip,
    state: MemoryState,
    blocks: BTreeMap<Height, (Block, CommitCertificate)>,
    /// Validator sets by the first height they apply to.
    validator_sets: BTreeMap<Height, ValidatorSet>,
    /// Parameters by the first height they apply to.
    parameters: BTreeMap<Height, Parameters>,
    /// The WAL record, kept encoded exactly as a real store would write it.
    wal: Option<Vec<u8>>,
    failing: bool,
    poisoned: bool,
}

impl MemoryStore {
    /// An empty chain for `genesis`.
    pub fn new(genesis: &Genesis) -> MemoryStore {
        MemoryStore {
            tip: Tip::genesis(genesis),
            state: MemoryState::from_genesis(genesis),
            blocks: BTreeMap::new(),
            validator_sets: BTreeMap::from([(1, genesis.validator_set())]),
            parameters: BTreeMap::from([(1, genesis.parameters.clone())]),
            wal: None,
            failing: false,
            poisoned: false,
        }
    }

    /// Makes every later write fail (and poison the store), as a dying disk would.
    pub fn fail_writes(&mut self) {
        self.failing = true;
    }

    /// Forces `validators` to be in force from `height` on, whatever the state says (for
    /// simulations of set changes without governance transactions).
    pub fn schedule_validator_set(&mut self, height: Height, validators: ValidatorSet) {
        self.validator_sets.insert(height, validators);
    }

    /// Forces `parameters` to be in force from `height` on, as an approved `set-params` would
    /// (for tests of hosts that must follow the parameters in force).
    pub fn schedule_parameters(&mut self, height: Height, parameters: Parameters) {
        self.parameters.insert(height, parameters);
    }

    fn check_writable(&mut self) -> Result<(), StoreError> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        if self.failing {
            self.poisoned = true;
            return Err(StoreError::Io("injected write failure".into()));
        }
        Ok(())
    }
}

impl Store for MemoryStore {
    fn tip(&self) -> Result<Tip, StoreError> {
        Ok(self.tip)
    }

    fn state(&self) -> &dyn StateReader {
        &self.state
    }

    fn contains_tx(&self, id: &Hash) -> Result<bool, StoreError> {
        Ok(self.state.contains_tx(id))
    }

    fn block(&self, height: Height) -> Result<Option<(Block, CommitCertificate)>, StoreError> {
        Ok(self.blocks.get(&height).cloned())
    }

    fn validator_set(&self, height: Height) -> Result<ValidatorSet, StoreError> {
        self.validator_sets
            .range(..=height)
            .next_back()
            .map(|(_, set)| set.clone())
            .ok_or(StoreError::NoValidatorSet(height))
    }

    fn parameters(&self, height: Height) -> Result<Parameters, StoreError> {
        self.parameters
            .range(..=height)
            .next_back()
            .map(|(_, parameters)| parameters.clone())
            .ok_or(StoreError::NoValidatorSet(height))
    }

    fn commit_block(
        &mut self,
        block: &Block,
        certificate: &CommitCertificate,
        outcome: &BlockOutcome,
    ) -> Result<(), StoreError> {
        let extends = Some(block.height()) == self.tip.height.checked_add(1)
            && block.header.parent == self.tip.block_hash;
        if !extends {
            return Err(StoreError::NotNext {
                tip: self.tip.height,
                got: block.height(),
                parent: block.header.parent,
            });
        }
        self.check_writable()?;
        self.state.apply(outcome);
        // Governance changes written by this block are in force from the next height.
        let next = block.height().saturating_add(1);
        if let Some(Some(bytes)) = outcome.changes.get(keys::VALIDATORS)
            && let Ok(set) = codec::decode::<ValidatorSet>(bytes)
        {
            self.validator_sets.insert(next, set);
        }
        if let Some(Some(bytes)) = outcome.changes.get(keys::PARAMETERS)
            && let Ok(parameters) = codec::decode::<Parameters>(bytes)
        {
            self.parameters.insert(next, parameters);
        }
        self.blocks
            .insert(block.height(), (block.clone(), certificate.clone()));
        self.tip = Tip::of(block);
        Ok(())
    }

    fn save_consensus_state(&mut self, state: &ConsensusState) -> Result<(), StoreError> {
        self.check_writable()?;
        self.wal = Some(codec::encode(state));
        Ok(())
    }

    fn load_consensus_state(&self) -> Result<Option<ConsensusState>, StoreError> {
        self.wal
            .as_deref()
            .map(|bytes| codec::decode(bytes).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use cassia_crypto::Keypair;
    use cassia_ledger::{Organization, Parameters, Validator};

    use super::*;

    fn genesis() -> Genesis {
        let key = Keypair::from_secret([5; 32]);
        Genesis {
            chain_id: "t".into(),
            genesis_time_ms: 7,
            organizations: vec![Organization {
                id: "o".into(),
                name: "O".into(),
                admins: vec![key.public()],
            }],
            validators: vec![Validator {
                name: "v".into(),
                organization: "o".into(),
                node_key: key.public(),
                p2p_address: String::new(),
            }],
            parameters: Parameters::default(),
            approvals: vec![],
        }
    }

    #[test]
    fn the_wal_round_trips_and_a_failed_write_poisons_the_store() {
        let mut store = MemoryStore::new(&genesis());
        assert_eq!(store.load_consensus_state(), Ok(None));
        let state = ConsensusState {
            height: 1,
            view: 3,
            view_changing: true,
            signed: vec![],
            prepared: None,
        };
        store
            .save_consensus_state(&state)
            .expect("memory writes succeed");
        assert_eq!(store.load_consensus_state(), Ok(Some(state.clone())));
        store.fail_writes();
        assert!(matches!(
            store.save_consensus_state(&state),
            Err(StoreError::Io(_))
        ));
        assert_eq!(
            store.save_consensus_state(&state),
            Err(StoreError::Poisoned)
        );
    }

    #[test]
    fn validator_sets_apply_from_their_first_height() {
        let genesis = genesis();
        let mut store = MemoryStore::new(&genesis);
        assert_eq!(store.tip(), Ok(Tip::genesis(&genesis)));
        let later = ValidatorSet { validators: vec![] };
        store.schedule_validator_set(10, later.clone());
        assert_eq!(store.validator_set(9), Ok(genesis.validator_set()));
        assert_eq!(store.validator_set(10), Ok(later.clone()));
        assert_eq!(store.validator_set(11), Ok(later));
        assert_eq!(store.validator_set(0), Err(StoreError::NoValidatorSet(0)));
    }
}
