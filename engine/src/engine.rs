//! The engine: one replica, its store and mempool, and the loop that applies actions in order.
//!
//! Each host call (`start`, `on_message`, `on_timer`, `propose`, `on_synced_block`) feeds the
//! replica one input, then applies the returned [`Actions`] synchronously: **persist** (the WAL
//! write returns only when durable), collect **sends**, keep the **timer**, **commit** through
//! the store, answer **requests** that need no waiting (validation, validator sets) by feeding
//! the replica again. Only when that loop is done does the host get an [`Output`]: the messages
//! it returns were all persisted before the call returned, which is the persist-before-send
//! contract. If any store write fails the call returns `Err` and the host must stop without
//! sending anything from it.

use std::collections::{BTreeMap, VecDeque};

use cassia_consensus::{
    Actions, Commit, Config, Evidence, Input, MAX_FETCH_BLOCKS, Message, Outgoing, Replica,
    Request, RestoreError, TimerCommand,
};
use cassia_crypto::{GenesisHash, Hash, Keypair};
use cassia_ledger::execution::{BlockOutcome, check_permission};
use cassia_ledger::{
    Block, CommitCertificate, Height, Parameters, Rejection, SignedTransaction, View,
};

use crate::block::{
    BlockError, BuildContext, CheckContext, CheckMode, HEADER_ALLOWANCE_BYTES, build_block,
    check_block,
};
use crate::mempool::{Mempool, MempoolLimits, SignatureCheck};
use crate::store::{Store, StoreError};

/// Inputs one host call may chain (proposal, validation, votes, commit, next height...). More
/// means a bug in the replica or engine: the call fails with [`EngineError::Runaway`].
pub const MAX_STEPS_PER_CALL: usize = 1_000;

pub use cassia_ledger::genesis::MESSAGE_OVERHEAD_BYTES;

/// Largest encoded consensus message a peer may send on a chain with `parameters`: a maximal
/// block plus [`MESSAGE_OVERHEAD_BYTES`]. Larger ones are refused before they are decoded.
pub fn message_cap(parameters: &Parameters) -> usize {
    let cap = parameters
        .max_block_bytes
        .saturating_add(MESSAGE_OVERHEAD_BYTES);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// What the engine needs to know about its node. The chain's parameters are not here: the
/// engine reads those in force at each height from the store ([`Store::parameters`]), since
/// governance may change them.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Chain id.
    pub chain_id: String,
    /// The genesis hash: every signature this node makes or checks covers it.
    pub genesis: GenesisHash,
    /// This validator's node key.
    pub key: Keypair,
    /// The mempool's bounds.
    pub mempool: MempoolLimits,
}

/// A failure that must stop the node.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The WAL does not fit the store.
    #[error("consensus WAL: {0}")]
    Restore(#[from] RestoreError),
    /// A block with a valid certificate does not re-execute to its header: local state diverged.
    #[error(
        "certified block {height} is invalid here ({reason}); local state has diverged from the chain"
    )]
    CertifiedBlockInvalid {
        /// Height.
        height: Height,
        /// What failed.
        reason: BlockError,
    },
    /// One call chained more than [`MAX_STEPS_PER_CALL`] inputs.
    #[error("one call chained more than {MAX_STEPS_PER_CALL} consensus steps")]
    Runaway,
}

/// A request for blocks the host fetches from peers (then calls [`Engine::on_synced_block`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    /// First height.
    pub from: Height,
    /// Last height.
    pub to: Height,
    /// Validators that have them.
    pub peers: Vec<cassia_crypto::PublicKey>,
}

/// What the host must do after a call, once it returned `Ok` (everything in it is durable).
#[must_use = "the host must send the messages and set the timer"]
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// Send, in order.
    pub messages: Vec<Outgoing>,
    /// Set or cancel the view timer (the last command of the call).
    pub timer: Option<TimerCommand>,
    /// Call [`Engine::propose`] for this `(height, view)`, e.g. after the block interval.
    pub propose: Option<(Height, View)>,
    /// Fetch these blocks.
    pub fetch: Vec<Fetch>,
    /// Blocks committed during the call (already durable).
    pub committed: Vec<Commit>,
    /// Misbehaviour seen.
    pub evidence: Vec<Evidence>,
}

/// Counters of the engine's own (beyond the replica's [`cassia_consensus::Stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Peer messages that did not decode.
    pub undecodable_messages: u64,
    /// Proposals found invalid.
    pub invalid_proposals: u64,
    /// Fetched blocks refused (bad certificate, wrong height).
    pub rejected_synced_blocks: u64,
}

/// Outcomes of validated blocks kept until commit; more than this many at one height (each a
/// distinct valid proposal) clears the cache, and commit re-executes.
const MAX_CACHED_OUTCOMES: usize = 16;

/// A replica with its store and mempool, driven synchronously by a host.
pub struct Engine<S: Store> {
    config: EngineConfig,
    replica: Replica,
    store: S,
    mempool: Mempool,
    /// The chain parameters in force at the next height (the tip's + 1), re-read at each commit.
    parameters: Parameters,
    outcomes: BTreeMap<Hash, BlockOutcome>,
    stats: EngineStats,
}

impl<S: Store> Engine<S> {
    /// Opens the engine on `store` with an empty mempool: resumes the replica from the WAL at
    /// the store's tip + 1. Call [`Engine::start`] next.
    pub fn open(config: EngineConfig, store: S) -> Result<Self, EngineError> {
        let height = store
            .tip()?
            .height
            .checked_add(1)
            .expect("heights never reach u64::MAX");
        let validators = store.validator_set(height)?;
        let parameters = store.parameters(height)?;
        let mempool = Mempool::new(
            config.chain_id.clone(),
            config.genesis,
            parameters.clone(),
            config.mempool,
            height,
        );
        let replica_config = Config {
            genesis: config.genesis,
            key: config.key.clone(),
            base_timeout_ms: parameters.view_timeout_ms,
        };
        let replica = Replica::new(
            replica_config,
            height,
            validators,
            store.load_consensus_state()?,
        )?;
        Ok(Engine {
            config,
            replica,
            store,
            mempool,
            parameters,
            outcomes: BTreeMap::new(),
            stats: EngineStats::default(),
        })
    }

    /// Starts (or restarts) the replica.
    pub fn start(&mut self, now_ms: u64) -> Result<Output, EngineError> {
        self.drive(Input::Start, now_ms)
    }

    /// A peer's encoded message. Undecodable bytes are counted and ignored.
    pub fn on_message_bytes(&mut self, bytes: &[u8], now_ms: u64) -> Result<Output, EngineError> {
        match Message::from_bytes(bytes, message_cap(&self.parameters)) {
            Ok(message) => self.on_message(message, now_ms),
            Err(_) => {
                self.stats.undecodable_messages = self.stats.undecodable_messages.saturating_add(1);
                Ok(Output::default())
            }
        }
    }

    /// A peer's decoded message (the replica verifies it).
    pub fn on_message(&mut self, message: Message, now_ms: u64) -> Result<Output, EngineError> {
        self.drive(Input::Message(message), now_ms)
    }

    /// The timer set by an earlier [`Output::timer`] fired.
    pub fn on_timer(
        &mut self,
        height: Height,
        view: View,
        generation: u64,
        now_ms: u64,
    ) -> Result<Output, EngineError> {
        self.drive(
            Input::TimerFired {
                height,
                view,
                generation,
            },
            now_ms,
        )
    }

    /// Builds and proposes the block asked for by [`Output::propose`] (ignored if stale).
    pub fn propose(
        &mut self,
        height: Height,
        view: View,
        now_ms: u64,
    ) -> Result<Output, EngineError> {
        let tip = self.store.tip()?;
        if Some(height) != tip.height.checked_add(1) {
            return Ok(Output::default());
        }
        let validators = self.store.validator_set(height)?;
        let parameters = &self.store.parameters(height)?;
        let max_bytes = parameters
            .max_block_bytes
            .saturating_sub(HEADER_ALLOWANCE_BYTES);
        let candidates = self
            .mempool
            .take_for_block(parameters.max_block_txs as usize, max_bytes);
        let context = BuildContext {
            chain_id: &self.config.chain_id,
            genesis: &self.config.genesis,
            parameters,
            tip: &tip,
            validators: &validators,
            state: self.store.state(),
            proposer: self.config.key.public(),
            view,
            now_ms,
        };
        let mempool = &self.mempool;
        let (block, outcome, dropped) =
            build_block(&context, candidates, &|tx| mempool.verified(tx))
                .map_err(|error| StoreError::Corrupt(format!("building a block: {error}")))?;
        self.mempool.remove(&dropped);
        self.cache_outcome(block.hash(), outcome);
        self.drive(
            Input::ProposalBuilt {
                height,
                view,
                block,
            },
            now_ms,
        )
    }

    /// A block fetched by sync: its certificate is checked against the set in force at its
    /// height and it is re-executed before the replica commits it. Out-of-order or badly
    /// certified blocks are counted and ignored.
    pub fn on_synced_block(
        &mut self,
        block: Block,
        certificate: CommitCertificate,
        now_ms: u64,
    ) -> Result<Output, EngineError> {
        let tip = self.store.tip()?;
        let height = block.height();
        // Only the next block is looked at: a peer's height (0, or far ahead) must not reach the
        // store's validator-set lookup, which fails for heights it cannot know.
        if Some(height) != tip.height.checked_add(1) || certificate.height != height {
            self.stats.rejected_synced_blocks = self.stats.rejected_synced_blocks.saturating_add(1);
            return Ok(Output::default());
        }
        let validators = self.store.validator_set(height)?;
        // The certificate covers the header; the body counts only if it is the one the header
        // commits to. A peer that sends a real header and certificate around another body is
        // refused here: only a body that matches and still fails is local divergence.
        let certified = certificate
            .verify_for(&self.config.genesis, &validators, &block.hash())
            .is_ok()
            && block.body_matches_header();
        if !certified {
            self.stats.rejected_synced_blocks = self.stats.rejected_synced_blocks.saturating_add(1);
            return Ok(Output::default());
        }
        let outcome = self.check(&block, CheckMode::Certified)?;
        let outcome =
            outcome.map_err(|reason| EngineError::CertifiedBlockInvalid { height, reason })?;
        self.cache_outcome(block.hash(), outcome);
        self.drive(Input::SyncedBlock { block, certificate }, now_ms)
    }

    /// Committed blocks `from..=to` with certificates, to serve a peer's fetch (at most
    /// [`MAX_FETCH_BLOCKS`]).
    pub fn serve_blocks(
        &self,
        from: Height,
        to: Height,
    ) -> Result<Vec<(Block, CommitCertificate)>, EngineError> {
        let to = to.min(from.saturating_add(MAX_FETCH_BLOCKS - 1));
        let mut blocks = Vec::new();
        for height in from..=to {
            match self.store.block(height)? {
                Some(entry) => blocks.push(entry),
                None => break,
            }
        }
        Ok(blocks)
    }

    /// This node's key.
    pub fn node_key(&self) -> &Keypair {
        &self.config.key
    }

    /// The replica (height, view, stats).
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The mempool.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// The chain parameters in force at the next height: what a host sizes its caps by
    /// ([`message_cap`]) and admission judges transactions under.
    pub fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    /// Admission: the one rule every host (the node's gRPC and gossip, the simulator's client)
    /// puts a transaction through before it may wait for a block. The signer must be permitted
    /// the operation by the committed state (the authorize step only: nothing is executed); then
    /// the mempool checks form, expiry, size and duplicates under the parameters in force, and
    /// the signature unless `signature` says the caller verified it. A store that cannot say
    /// whether the id committed gives [`Rejection::Unavailable`], never a false "duplicate".
    pub fn admit(
        &mut self,
        tx: SignedTransaction,
        signature: SignatureCheck,
    ) -> Result<Hash, Rejection> {
        let next_height = self.replica.height().max(1);
        check_permission(next_height, self.store.state(), &tx)?;
        let store = &self.store;
        let committed = |id: &Hash| {
            store
                .contains_tx(id)
                .map_err(|error| Rejection::Unavailable(error.to_string()))
        };
        self.mempool.admit(tx, committed, signature)
    }

    /// Whether transaction `id` is pending or has committed: admission would refuse it as a
    /// duplicate before looking at its signature, so a host need not verify it.
    pub fn knows_transaction(&self, id: &Hash) -> Result<bool, StoreError> {
        Ok(self.mempool.contains(id) || self.store.contains_tx(id)?)
    }

    /// The engine's counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Gives back the store (what survives a crash).
    pub fn into_store(self) -> S {
        self.store
    }

    /// Feeds `first` and everything it chains, applying actions in the documented order.
    fn drive(&mut self, first: Input, now_ms: u64) -> Result<Output, EngineError> {
        let mut queue = VecDeque::from([first]);
        let mut output = Output::default();
        let mut steps = 0;
        while let Some(input) = queue.pop_front() {
            steps += 1;
            if steps > MAX_STEPS_PER_CALL {
                return Err(EngineError::Runaway);
            }
            let actions = self.replica.step(input);
            self.apply(actions, now_ms, &mut queue, &mut output)?;
        }
        Ok(output)
    }

    /// Persist, then send, then timer, then commit, then requests.
    fn apply(
        &mut self,
        actions: Actions,
        now_ms: u64,
        queue: &mut VecDeque<Input>,
        output: &mut Output,
    ) -> Result<(), EngineError> {
        if let Some(state) = &actions.persist {
            self.store.save_consensus_state(state)?;
        }
        output.messages.extend(actions.messages);
        if let Some(timer) = actions.timer {
            output.timer = Some(timer);
        }
        if let Some(commit) = actions.commit {
            self.commit(&commit)?;
            output.propose = None;
            output.committed.push(commit);
        }
        for request in actions.requests {
            self.answer(request, now_ms, queue, output)?;
        }
        output.evidence.extend(actions.evidence);
        Ok(())
    }

    fn answer(
        &mut self,
        request: Request,
        now_ms: u64,
        queue: &mut VecDeque<Input>,
        output: &mut Output,
    ) -> Result<(), EngineError> {
        match request {
            Request::Propose { height, view } => output.propose = Some((height, view)),
            Request::Validate {
                height,
                view,
                block,
            } => {
                let block_hash = block.hash();
                let valid = self.validate(view, &block, now_ms)?;
                queue.push_back(Input::BlockValidated {
                    height,
                    view,
                    block_hash,
                    valid,
                });
            }
            Request::FetchBlocks { from, to, peers } => {
                output.fetch.push(Fetch { from, to, peers })
            }
            Request::ValidatorSet { height } => {
                let validators = self.store.validator_set(height)?;
                let base_timeout_ms = self.store.parameters(height)?.view_timeout_ms;
                queue.push_back(Input::Validators {
                    height,
                    validators,
                    base_timeout_ms,
                });
            }
        }
        Ok(())
    }

    /// Checks a proposal; a valid one's outcome is kept for its commit.
    ///
    /// A block whose outcome is already cached at this tip was built here (the leader validates
    /// its own pre-prepare like any replica) or found valid at an earlier view: it is valid
    /// again, since nothing it was checked against has changed but the view and the clock,
    /// which only move forward, and checking it again would execute the whole block a second
    /// time. (The cache is cleared on every commit.)
    fn validate(&mut self, view: View, block: &Block, now_ms: u64) -> Result<bool, EngineError> {
        if self.outcomes.contains_key(&block.hash()) {
            return Ok(true);
        }
        match self.check(block, CheckMode::Proposal { view, now_ms })? {
            Ok(outcome) => {
                self.cache_outcome(block.hash(), outcome);
                Ok(true)
            }
            Err(_) => {
                self.stats.invalid_proposals = self.stats.invalid_proposals.saturating_add(1);
                Ok(false)
            }
        }
    }

    fn check(
        &self,
        block: &Block,
        mode: CheckMode,
    ) -> Result<Result<BlockOutcome, BlockError>, EngineError> {
        let tip = self.store.tip()?;
        let height = block.height().max(1);
        let validators = self.store.validator_set(height)?;
        let parameters = self.store.parameters(height)?;
        let state = self.store.state();
        let context = CheckContext {
            chain_id: &self.config.chain_id,
            genesis: &self.config.genesis,
            parameters: &parameters,
            tip: &tip,
            validators: &validators,
            state,
            verified: &|tx| self.mempool.verified(tx),
        };
        Ok(check_block(&context, block, mode))
    }

    fn cache_outcome(&mut self, hash: Hash, outcome: BlockOutcome) {
        if self.outcomes.len() >= MAX_CACHED_OUTCOMES {
            self.outcomes.clear();
        }
        self.outcomes.insert(hash, outcome);
    }

    /// Makes a decided block durable (re-executing it if its outcome is not cached).
    fn commit(&mut self, commit: &Commit) -> Result<(), EngineError> {
        let hash = commit.block.hash();
        let outcome = match self.outcomes.remove(&hash) {
            Some(outcome) => outcome,
            None => self
                .check(&commit.block, CheckMode::Certified)?
                .map_err(|reason| EngineError::CertifiedBlockInvalid {
                    height: commit.block.height(),
                    reason,
                })?,
        };
        self.store
            .commit_block(&commit.block, &commit.certificate, &outcome)?;
        let ids: Vec<Hash> = commit.block.transactions.iter().map(|tx| tx.id()).collect();
        self.mempool.remove(&ids);
        self.outcomes.clear();
        // Governance may have changed the parameters for the next height: caps, admission and
        // the view timeout follow the ones in force, never the genesis ones.
        let next = commit.block.height().saturating_add(1);
        self.parameters = self.store.parameters(next)?;
        self.mempool.advance_to(next, &self.parameters);
        Ok(())
    }
}
