//! What goes into a replica ([`Input`]) and what comes out ([`Actions`]).
//!
//! # The host's contract
//!
//! [`crate::Replica::step`] returns one [`Actions`] per input. The host applies it **in this
//! order**, finishing each before starting the next:
//!
//! 1. **persist**: make [`Actions::persist`] durable (synced WAL write). Every message in this
//!    batch that the replica signed is already in it; sending one before it is durable could let
//!    a crashed-and-restarted replica sign a conflicting message. If the write fails, the host
//!    must stop: it must not send, and must not feed the replica further inputs.
//! 2. **send**: [`Actions::messages`], in order.
//! 3. **timer**: [`Actions::timer`] replaces any timer set before (there is one view timer).
//! 4. **commit**: make [`Actions::commit`] durable (block, certificate and state, atomically).
//! 5. **requests**: answer each of [`Actions::requests`] with the input it names, later or at
//!    once. Answers that arrive late are recognised by their `(height, view)` and ignored.
//!
//! [`Actions::evidence`] can be stored or reported at any point. [`Actions::ordered`] gives the
//! same content as a flat list of [`Action`]s in exactly this order.

use cassia_crypto::{Hash, PublicKey};
use cassia_ledger::misbehaviour::{self, SignedBlockHash, StatementKind};
use cassia_ledger::{Block, CommitCertificate, Height, ValidatorSet, View, VoteKind};

use crate::message::{Message, Payload};
use crate::state::ConsensusState;

/// One event for the replica.
#[derive(Clone, Debug)]
pub enum Input {
    /// The host has (re)started the replica: arm the timer, re-send what the WAL holds for the
    /// current view, ask for a proposal if leader. Give it once, first.
    Start,
    /// A message from a peer, decoded but not verified: the replica checks chain, membership,
    /// window and signature itself, and drops what fails (see [`crate::DropReason`]).
    Message(Message),
    /// The view timer set by [`TimerCommand::Set`] fired. A stale generation is ignored.
    TimerFired {
        /// Height the timer was set for.
        height: Height,
        /// View the timer was set for.
        view: View,
        /// Generation the timer was set with.
        generation: u64,
    },
    /// Answer to [`Request::Propose`]: a block built on the committed tip.
    ProposalBuilt {
        /// Height asked for.
        height: Height,
        /// View asked for.
        view: View,
        /// The block; its header's view must be `view` and its proposer this replica.
        block: Block,
    },
    /// Answer to [`Request::Validate`].
    BlockValidated {
        /// Height asked for.
        height: Height,
        /// View asked for.
        view: View,
        /// The block checked.
        block_hash: Hash,
        /// Whether it is valid (structure, signatures, parent, timestamp, re-execution).
        valid: bool,
    },
    /// Answer to [`Request::FetchBlocks`]: one fetched block with its certificate, in height
    /// order. The replica checks the certificate and commits it like its own decision.
    SyncedBlock {
        /// The block.
        block: Block,
        /// Its commit certificate.
        certificate: CommitCertificate,
    },
    /// Answer to [`Request::ValidatorSet`]: the validator set and the base view timeout in force
    /// at `height` (governance may change either; both take effect where the chain says).
    Validators {
        /// Height the set applies to.
        height: Height,
        /// The set, in rotation order.
        validators: ValidatorSet,
        /// The chain's `view_timeout_ms` in force at `height`: view 0's timer, doubled per
        /// failed view.
        base_timeout_ms: u64,
    },
}

/// Who a message goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// Every other validator.
    All,
    /// One validator.
    One(PublicKey),
}

/// A message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Who to.
    pub to: Recipient,
    /// What.
    pub message: Message,
}

/// The view timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerCommand {
    /// Fire [`Input::TimerFired`] with these fields after `after_ms`, replacing any other timer.
    Set {
        /// Height.
        height: Height,
        /// View.
        view: View,
        /// Generation; only the latest is honoured.
        generation: u64,
        /// Delay in milliseconds.
        after_ms: u64,
    },
    /// Cancel the timer (the height committed; a new one is set when the next height starts).
    Cancel,
}

/// The committed block and its proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// The block.
    pub block: Block,
    /// 2f+1 commit signatures for it.
    pub certificate: CommitCertificate,
}

/// Work the replica asks of its host; each is answered by the [`Input`] it names.
#[allow(
    clippy::large_enum_variant,
    reason = "a step makes a handful of requests; boxing the block buys nothing"
)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Build a block for `(height, view)` on the committed tip; answer [`Input::ProposalBuilt`].
    Propose {
        /// Height.
        height: Height,
        /// View.
        view: View,
    },
    /// Validate `block` proposed at `(height, view)`; answer [`Input::BlockValidated`]. The
    /// header's view may be lower than `view` (a re-proposal); its proposer must then be the
    /// leader of the header's view.
    Validate {
        /// Height.
        height: Height,
        /// View it is proposed in.
        view: View,
        /// The block.
        block: Block,
    },
    /// Fetch committed blocks `from..=to` with certificates (from `peers`, who signed a
    /// certificate at `to` or above) and give them back as [`Input::SyncedBlock`] in order.
    FetchBlocks {
        /// First height wanted.
        from: Height,
        /// Last height wanted.
        to: Height,
        /// Validators known to have them.
        peers: Vec<PublicKey>,
    },
    /// Give the validator set in force at `height`; answer [`Input::Validators`]. The replica
    /// does nothing at `height` until then.
    ValidatorSet {
        /// Height.
        height: Height,
    },
}

/// Proof that a validator misbehaved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// Two different statements of one kind for the same `(height, view)`, both signed by the
    /// same validator.
    Equivocation {
        /// The first one seen.
        first: Box<Message>,
        /// The conflicting one.
        second: Box<Message>,
    },
    /// A new view, signed by its leader, whose proposal breaks the re-proposal rule or whose
    /// view changes do not prove what it claims.
    InvalidNewView(Box<Message>),
}

impl Evidence {
    /// The compact proof of an equivocation, for keeping and for a governance proposal: the two
    /// block hashes and signatures, without the messages' blocks. `None` for an invalid new view
    /// and for two conflicting new views, whose signed statements carry their view changes and
    /// are not reduced to a block hash (they are counted and logged only).
    pub fn equivocation(&self) -> Option<misbehaviour::Equivocation> {
        let Evidence::Equivocation { first, second } = self else {
            return None;
        };
        let statement = |message: &Message| -> Option<(StatementKind, SignedBlockHash)> {
            let (kind, block_hash) = match &message.payload {
                Payload::PrePrepare { proposal, .. } => {
                    (StatementKind::Proposal, proposal.block_hash)
                }
                Payload::Vote(vote) if vote.kind == VoteKind::Prepare => {
                    (StatementKind::Prepare, vote.block_hash)
                }
                Payload::Vote(vote) => (StatementKind::Commit, vote.block_hash),
                _ => return None,
            };
            let signature = message.signature;
            Some((
                kind,
                SignedBlockHash {
                    block_hash,
                    signature,
                },
            ))
        };
        let (kind, a) = statement(first)?;
        let (second_kind, b) = statement(second)?;
        let same_slot = kind == second_kind
            && first.sender == second.sender
            && (first.height(), first.view()) == (second.height(), second.view());
        same_slot.then(|| {
            misbehaviour::Equivocation::new(
                first.sender,
                kind,
                (first.height(), first.view()),
                a,
                b,
            )
        })
    }
}

/// Everything the host must do after one input, by field in the order it must do it.
#[must_use = "the host must apply the actions: persist, then send, then timer, then commit, then requests"]
#[derive(Clone, Debug, Default)]
pub struct Actions {
    /// 1. Make durable before anything below (see the module docs).
    pub persist: Option<ConsensusState>,
    /// 2. Send, in order, after `persist` is durable.
    pub messages: Vec<Outgoing>,
    /// 3. Set or cancel the view timer.
    pub timer: Option<TimerCommand>,
    /// 4. Commit durably.
    pub commit: Option<Commit>,
    /// 5. Answer later with the named inputs.
    pub requests: Vec<Request>,
    /// Misbehaviour seen; keep or report.
    pub evidence: Vec<Evidence>,
}

/// One action of [`Actions::ordered`].
#[derive(Clone, Debug)]
pub enum Action {
    /// Make the consensus state durable.
    Persist(ConsensusState),
    /// Send a message to every other validator.
    Broadcast(Message),
    /// Send a message to one validator.
    SendTo(PublicKey, Message),
    /// Set the view timer.
    SetTimer {
        /// Height.
        height: Height,
        /// View.
        view: View,
        /// Generation.
        generation: u64,
        /// Delay in milliseconds.
        after_ms: u64,
    },
    /// Cancel the view timer.
    CancelTimer,
    /// Commit a block with its certificate.
    Commit(Commit),
    /// Answer with a later input.
    Request(Request),
    /// Keep or report.
    Misbehaviour(Evidence),
}

impl Actions {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.persist.is_none()
            && self.messages.is_empty()
            && self.timer.is_none()
            && self.commit.is_none()
            && self.requests.is_empty()
            && self.evidence.is_empty()
    }

    /// The actions as a flat list in the order the host must apply them.
    pub fn ordered(self) -> Vec<Action> {
        let mut list = Vec::new();
        list.extend(self.persist.map(Action::Persist));
        list.extend(self.messages.into_iter().map(|out| match out.to {
            Recipient::All => Action::Broadcast(out.message),
            Recipient::One(key) => Action::SendTo(key, out.message),
        }));
        list.extend(self.timer.map(|timer| match timer {
            TimerCommand::Set {
                height,
                view,
                generation,
                after_ms,
            } => Action::SetTimer {
                height,
                view,
                generation,
                after_ms,
            },
            TimerCommand::Cancel => Action::CancelTimer,
        }));
        list.extend(self.commit.map(Action::Commit));
        list.extend(self.requests.into_iter().map(Action::Request));
        list.extend(self.evidence.into_iter().map(Action::Misbehaviour));
        list
    }
}
