//! The replica: state, construction from the WAL, and the [`Replica::step`] dispatcher.
//!
//! Handlers live by protocol phase: [`normal`] (pre-prepare, prepare, commit), [`view_change`]
//! (timeouts, view change, new view) and [`sync`] (certificates, fetched blocks, validator sets).
//! `step` only admits a message (chain, membership, window, signature) and dispatches.
//!
//! Status per height:
//!
//! ```text
//!  Normal(v) --timeout / f+1 higher view changes--> ViewChanging(w > v)
//!  ViewChanging(w) --valid NewView(w' >= w)--> Normal(w')
//!  Normal(v) --2f+1 commits / certificate--> AwaitingValidators --Validators(h+1)--> Normal(0) at h+1
//! ```

mod buffer;
mod normal;
mod sync;
mod tally;
mod view_change;

use std::collections::{BTreeMap, BTreeSet};

use cassia_crypto::{GenesisHash, Hash, Keypair, PublicKey};
use cassia_ledger::{Block, CommitCertificate, Height, ValidatorSet, View};

use crate::io::{Actions, Evidence, Input, Outgoing, Recipient, Request, TimerCommand};
use crate::limits::{
    HEIGHT_WINDOW, MAX_SIGNED_PER_HEIGHT, MAX_TIMEOUT_DOUBLINGS, MAX_VALIDATORS, MAX_VIEW_AHEAD,
};
use crate::message::{Message, Payload, StatementKind};
use crate::state::{ConsensusState, Prepared};
use crate::stats::{DropReason, Stats, bump};
use buffer::{FutureBuffer, Position};
use tally::Tally;

/// What a replica needs to know about itself.
#[derive(Clone, Debug)]
pub struct Config {
    /// The chain's genesis hash, bound into every signature made and checked.
    pub genesis: GenesisHash,
    /// This validator's node key; the replica signs with it (ed25519 is deterministic).
    pub key: Keypair,
    /// Base view timeout in milliseconds (`Parameters::view_timeout_ms`).
    pub base_timeout_ms: u64,
}

/// Why a replica cannot resume from its WAL.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RestoreError {
    /// The WAL is for a height above the store's next one: the store lost a committed block.
    #[error("consensus WAL is at height {wal}, but the store's next height is {next}")]
    WalAheadOfStore {
        /// Height in the WAL.
        wal: Height,
        /// The store's tip + 1.
        next: Height,
    },
    /// The validator set is empty or larger than [`MAX_VALIDATORS`].
    #[error("a validator set must have 1..={MAX_VALIDATORS} members, got {0}")]
    BadValidatorSet(usize),
}

/// Where the replica is within a height.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// In a started view: handling the proposal and votes.
    Normal,
    /// Has asked to leave for `view` and waits for its new view.
    ViewChanging,
    /// Committed `height`; waits for the validator set of `height + 1`.
    AwaitingValidators,
}

/// The proposal of the current view.
#[derive(Clone, Debug)]
struct Proposed {
    hash: Hash,
    block: Block,
    /// The pre-prepare or new view that carried it (evidence if the leader equivocates).
    message: Message,
    validated: bool,
}

/// State of the current `(height, view)` in status Normal.
#[derive(Clone, Debug, Default)]
struct Round {
    proposal: Option<Proposed>,
    prepares: Tally,
    commits: Tally,
    /// The new view that started this view, re-sent to replicas that missed it.
    new_view: Option<Message>,
    /// Whether a proposal was requested from the host for this view.
    proposal_requested: bool,
}

/// A validator's latest view change at this height.
#[derive(Clone, Debug)]
struct ViewChangeEntry {
    view: View,
    message: Message,
}

/// Catch-up state: a certificate above our height was seen.
#[derive(Clone, Debug, Default)]
struct SyncState {
    /// Highest certified height seen.
    target: Option<Height>,
    /// Last height of the latest fetch asked for.
    requested_to: Option<Height>,
    /// Validators that signed the highest certificate.
    peers: Vec<PublicKey>,
}

/// A PBFT replica as a pure state machine: feed it [`Input`]s with [`Replica::step`], apply the
/// [`Actions`] it returns in their documented order. It reads no clock, draws no randomness,
/// does no I/O and spawns no threads.
#[derive(Debug)]
pub struct Replica {
    config: Config,
    me: PublicKey,
    height: Height,
    view: View,
    status: Status,
    validators: ValidatorSet,
    round: Round,
    view_changes: BTreeMap<PublicKey, ViewChangeEntry>,
    prepared: Option<Prepared>,
    signed: Vec<Message>,
    dirty: bool,
    timer_generation: u64,
    retransmits: u32,
    /// Validators answered since the timer was last armed (one answer each per timer period).
    answered: BTreeSet<PublicKey>,
    last_certificate: Option<CommitCertificate>,
    sync: SyncState,
    buffer: FutureBuffer,
    stats: Stats,
    out: Actions,
}

impl Replica {
    /// A replica about to decide `height` (the store's tip + 1) under `validators`, resuming from
    /// `persisted` (its WAL record) when that is for `height`. Give it [`Input::Start`] next.
    pub fn new(
        config: Config,
        height: Height,
        validators: ValidatorSet,
        persisted: Option<ConsensusState>,
    ) -> Result<Replica, RestoreError> {
        if validators.is_empty() || validators.len() > MAX_VALIDATORS {
            return Err(RestoreError::BadValidatorSet(validators.len()));
        }
        let me = config.key.public();
        let mut replica = Replica {
            config,
            me,
            height,
            view: 0,
            status: Status::Normal,
            validators,
            round: Round::default(),
            view_changes: BTreeMap::new(),
            prepared: None,
            signed: Vec::new(),
            dirty: true,
            timer_generation: 0,
            retransmits: 0,
            answered: BTreeSet::new(),
            last_certificate: None,
            sync: SyncState::default(),
            buffer: FutureBuffer::default(),
            stats: Stats::default(),
            out: Actions::default(),
        };
        match persisted {
            Some(state) if state.height > height => {
                return Err(RestoreError::WalAheadOfStore {
                    wal: state.height,
                    next: height,
                });
            }
            Some(state) if state.height == height => {
                replica.view = state.view;
                replica.status = if state.view_changing {
                    Status::ViewChanging
                } else {
                    Status::Normal
                };
                replica.signed = state.signed;
                replica.prepared = state.prepared;
            }
            // A WAL for a committed height says nothing about this one.
            _ => {}
        }
        Ok(replica)
    }

    /// Applies one input and returns what the host must do, in order (see [`Actions`]).
    pub fn step(&mut self, input: Input) -> Actions {
        match input {
            Input::Start => self.on_start(),
            Input::Message(message) => self.on_message(message),
            Input::TimerFired {
                height,
                view,
                generation,
            } => self.on_timer(height, view, generation),
            Input::ProposalBuilt {
                height,
                view,
                block,
            } => self.on_proposal_built(height, view, block),
            Input::BlockValidated {
                height,
                view,
                block_hash,
                valid,
            } => self.on_block_validated(height, view, block_hash, valid),
            Input::SyncedBlock { block, certificate } => self.on_synced_block(block, certificate),
            Input::Validators {
                height,
                validators,
                base_timeout_ms,
            } => self.on_validators(height, validators, base_timeout_ms),
        }
        self.drain_buffer();
        self.flush_persist();
        std::mem::take(&mut self.out)
    }

    /// Height being decided (or just committed, while awaiting the next validator set).
    pub fn height(&self) -> Height {
        self.height
    }

    /// Current view.
    pub fn view(&self) -> View {
        self.view
    }

    /// Where the replica is within the height.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The validator set in force at [`Replica::height`].
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Messages held for later heights or views.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The durable state as it stands (what the last `persist` action carried, or will).
    pub fn persistent_state(&self) -> ConsensusState {
        ConsensusState {
            height: self.height,
            view: self.view,
            view_changing: self.status == Status::ViewChanging,
            signed: self.signed.clone(),
            prepared: self.prepared.clone(),
        }
    }

    fn on_start(&mut self) {
        self.dirty = true;
        self.arm_timer();
        if self.status == Status::AwaitingValidators {
            return;
        }
        self.resume_signed();
        let leader = self.is_leader(self.view);
        if self.status == Status::Normal
            && self.view == 0
            && leader
            && self.round.proposal.is_none()
        {
            self.request_proposal();
        }
    }

    /// Admits a peer's message (PBFT 4.2: check signature, membership and window) and routes it.
    fn on_message(&mut self, message: Message) {
        match self.screen(&message) {
            Ok(()) => self.route(message),
            Err(reason) => self.stats.drops.count(reason),
        }
    }

    /// The checks a peer's message must pass before the replica looks at it: chain, sender in
    /// the validator set, height and view window, shape (attached blocks match their signed
    /// hashes), then the signature, cheapest first. A host may call it for gossip validation, so
    /// that what this replica would drop is not relayed; it changes nothing.
    pub fn screen(&self, message: &Message) -> Result<(), DropReason> {
        if message.genesis != self.config.genesis {
            return Err(DropReason::WrongChain);
        }
        if !self.validators.contains(&message.sender) {
            return Err(DropReason::NotValidator);
        }
        if message.sender == self.me {
            return Err(DropReason::Duplicate);
        }
        self.check_window(message)?;
        if !self.well_formed(&message.payload) {
            return Err(DropReason::Malformed);
        }
        message
            .verify_signature(&self.config.genesis)
            .map_err(|_| DropReason::BadSignature)
    }

    /// Cheap checks before the signature: heights and views outside the window cost nothing.
    fn check_window(&self, message: &Message) -> Result<(), DropReason> {
        let (height, view) = (message.height(), message.view());
        let decided = message.kind() == StatementKind::Decided;
        let view_change = message.kind() == StatementKind::ViewChange;
        if height <= self.committed_height() && !view_change {
            return Err(DropReason::StaleHeight);
        }
        if height > self.height.saturating_add(HEIGHT_WINDOW) && !decided {
            return Err(DropReason::HeightTooFarAhead);
        }
        if height == self.height && view > self.view.saturating_add(MAX_VIEW_AHEAD) && !decided {
            return Err(DropReason::ViewTooFarAhead);
        }
        Ok(())
    }

    /// Size and shape limits that bound the work a message can cause.
    fn well_formed(&self, payload: &Payload) -> bool {
        let n = self.validators.len();
        match payload {
            // A signature covers the header hash only; a body that is not the header's would be
            // validated, voted on or committed as if it were the signed block.
            Payload::PrePrepare { proposal, block } => {
                block.height() == proposal.height
                    && block.hash() == proposal.block_hash
                    && block.body_matches_header()
            }
            Payload::Vote(_) => true,
            Payload::ViewChange {
                view_change,
                prepared_block,
            } => match (&view_change.prepared, prepared_block) {
                (None, None) => true,
                (Some(certificate), Some(block)) => {
                    certificate.signatures.len() <= n
                        && block.hash() == certificate.block_hash
                        && block.body_matches_header()
                }
                _ => false,
            },
            Payload::NewView { new_view, block } => {
                new_view.view_changes.len() <= n
                    && new_view.view_changes.iter().all(|vc| {
                        vc.view_change
                            .prepared
                            .as_ref()
                            .is_none_or(|c| c.signatures.len() <= n)
                    })
                    && block.height() == new_view.height
                    && block.hash() == new_view.block_hash
                    && block.body_matches_header()
            }
            Payload::Decided(certificate) => certificate.signatures.len() <= n,
        }
    }

    /// Sends an admitted message to its handler, or holds it until the replica gets there.
    fn route(&mut self, message: Message) {
        if message.kind() == StatementKind::Decided {
            return self.on_decided(message);
        }
        if message.height() <= self.committed_height() {
            // Only view changes get here (see `check_window`): their sender is behind.
            return self.on_stale_view_change(message);
        }
        if message.height() > self.height || self.status == Status::AwaitingValidators {
            return self.hold(message);
        }
        match message.payload.clone() {
            Payload::ViewChange { view_change, .. } => self.on_view_change(message, view_change),
            Payload::NewView { new_view, block } => self.on_new_view(message, new_view, block),
            _ if message.view() < self.view => self.stats.drops.count(DropReason::StaleView),
            _ if self.position().must_wait(&message) => self.hold(message),
            Payload::PrePrepare { proposal, block } => {
                self.on_pre_prepare(message, proposal, block)
            }
            Payload::Vote(vote) => self.on_vote(message, vote),
            Payload::Decided(_) => {}
        }
    }

    fn hold(&mut self, message: Message) {
        if !self.buffer.push(message) {
            self.stats.drops.count(DropReason::BufferFull);
        }
    }

    /// Handles buffered messages that became ready, until none is.
    fn drain_buffer(&mut self) {
        if self.status == Status::AwaitingValidators {
            return;
        }
        self.buffer.discard_stale(self.position(), &self.validators);
        while let Some(message) = self.buffer.pop_ready(self.position()) {
            self.route(message);
        }
    }

    fn position(&self) -> Position {
        Position {
            height: self.height,
            view: self.view,
            normal: self.status == Status::Normal,
        }
    }

    /// The highest committed height.
    fn committed_height(&self) -> Height {
        match self.status {
            Status::AwaitingValidators => self.height,
            _ => self.height.saturating_sub(1),
        }
    }

    fn is_leader(&self, view: View) -> bool {
        self.leader(view) == self.me
    }

    fn leader(&self, view: View) -> PublicKey {
        self.validators.leader(self.height, view).node_key
    }

    /// Signs `payload` unless a different statement of the same kind was already signed at this
    /// `(height, view)`, in which case nothing is signed. Returns the message to send: the new
    /// one, or the identical one signed before (from the WAL). This is the one place the replica
    /// signs, so no restart can make it equivocate.
    fn sign_once(&mut self, payload: Payload) -> Option<Message> {
        assert!(
            payload.height() == self.height && payload.view() >= self.view,
            "signing only at the current view"
        );
        // Only members of the set in force vote: a node added by governance follows the chain
        // as an observer until the height its membership takes effect.
        if !self.validators.contains(&self.me) {
            return None;
        }
        let (view, kind) = (payload.view(), payload.kind());
        let candidate = Message::sign(&self.config.genesis, &self.config.key, payload);
        if let Some(earlier) = self
            .signed
            .iter()
            .find(|m| m.view() == view && m.kind() == kind)
        {
            if earlier.same_statement(&candidate) {
                return Some(earlier.clone());
            }
            bump(&mut self.stats.refused_to_equivocate);
            return None;
        }
        self.signed.push(candidate.clone());
        assert!(
            self.signed.len() <= MAX_SIGNED_PER_HEIGHT,
            "older views are pruned before signing"
        );
        self.dirty = true;
        Some(candidate)
    }

    /// Forgets signed messages of views below the current one: the replica never signs there again.
    fn prune_signed(&mut self) {
        let view = self.view;
        self.signed.retain(|m| m.view() >= view);
    }

    fn broadcast(&mut self, message: Message) {
        self.out.messages.push(Outgoing {
            to: Recipient::All,
            message,
        });
    }

    fn send_to(&mut self, to: PublicKey, message: Message) {
        self.out.messages.push(Outgoing {
            to: Recipient::One(to),
            message,
        });
    }

    fn request(&mut self, request: Request) {
        self.out.requests.push(request);
    }

    fn report(&mut self, evidence: Evidence) {
        self.out.evidence.push(evidence);
    }

    fn request_proposal(&mut self) {
        if !self.round.proposal_requested {
            self.round.proposal_requested = true;
            self.request(Request::Propose {
                height: self.height,
                view: self.view,
            });
        }
    }

    /// PBFT 4.4: the view timer, doubled per failed view (capped), reset at each new height.
    fn arm_timer(&mut self) {
        self.timer_generation = self.timer_generation.saturating_add(1);
        self.answered.clear();
        let after_ms = self
            .config
            .base_timeout_ms
            .saturating_mul(1 << self.view.min(MAX_TIMEOUT_DOUBLINGS));
        self.out.timer = Some(TimerCommand::Set {
            height: self.height,
            view: self.view,
            generation: self.timer_generation,
            after_ms,
        });
    }

    fn cancel_timer(&mut self) {
        self.timer_generation = self.timer_generation.saturating_add(1);
        self.out.timer = Some(TimerCommand::Cancel);
    }

    /// Puts the durable state into the actions if it changed (before any later send).
    fn flush_persist(&mut self) {
        if self.dirty {
            self.out.persist = Some(self.persistent_state());
            self.dirty = false;
        }
    }
}
