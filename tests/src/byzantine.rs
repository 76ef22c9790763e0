//! Byzantine behaviours as small swappable actors: the one set of attacks of the fault suite,
//! for the simulator and for real node processes alike.
//!
//! A Byzantine node runs the real engine (so it stays in step with the protocol and knows what
//! to attack) and a [`Behaviour`] that rewrites what it sends and may inject more when it hears
//! something. It holds its own validator key, so what it signs verifies: the honest replicas
//! must cope with *valid* lies. Every random choice comes from one seeded [`Rng`].
//!
//! | module | runs in | what |
//! |---|---|---|
//! | this one | the simulator ([`crate::cluster`]) | [`Behaviour`] and its actors; [`EquivocatingLeader::twin`] and [`DoubleVoter::twin`] make the conflicting statements |
//! | [`attacker`] | a real node (the `test-node` binary, `--byzantine LIST`) | the same twins, through cassia-node's interceptor, plus answers to sync requests |
//! | [`flood`] | the same node, its own task | garbage, oversized, far-future messages, at a flood rate or not |

pub mod attacker;
pub mod flood;

use cassia_consensus::{Message, Payload, PreparedCertificate, ViewChange};
use cassia_crypto::{GenesisHash, Hash, Keypair, PublicKey, Signature};
use cassia_ledger::{Block, CommitCertificate, ValidatorSignature, Vote, VoteKind};

use crate::rng::Rng;

/// Who a Byzantine message goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every other node.
    All,
    /// One node.
    One(usize),
}

/// What an actor knows and can use.
pub struct ActorContext<'a> {
    /// Its own (validator) key.
    pub key: &'a Keypair,
    /// The chain's genesis hash, which its signatures cover.
    pub genesis: &'a GenesisHash,
    /// Its index.
    pub me: usize,
    /// Validators' keys by index.
    pub keys: &'a [PublicKey],
    /// The run's randomness.
    pub rng: &'a mut Rng,
}

impl ActorContext<'_> {
    fn sign(&self, payload: Payload) -> Message {
        Message::sign(self.genesis, self.key, payload)
    }

    /// The other nodes, split in two halves at random.
    fn halves(&mut self) -> (Vec<usize>, Vec<usize>) {
        let others = (0..self.keys.len()).filter(|i| *i != self.me);
        others.partition(|_| self.rng.chance(500))
    }
}

/// A Byzantine behaviour.
pub trait Behaviour {
    /// Short name for traces.
    fn name(&self) -> &'static str;
    /// Rewrites one message the node's engine wants to send to `target`.
    fn outgoing(
        &mut self,
        context: &mut ActorContext<'_>,
        target: Target,
        message: Message,
    ) -> Vec<(Target, Message)> {
        let _ = context;
        vec![(target, message)]
    }
    /// Sees a message delivered to the node; may send more.
    fn incoming(
        &mut self,
        context: &mut ActorContext<'_>,
        message: &Message,
    ) -> Vec<(Target, Message)> {
        let _ = (context, message);
        Vec::new()
    }
}

/// Sends nothing at all.
pub struct Silent;

impl Behaviour for Silent {
    fn name(&self) -> &'static str {
        "silent"
    }
    fn outgoing(
        &mut self,
        _: &mut ActorContext<'_>,
        _: Target,
        _: Message,
    ) -> Vec<(Target, Message)> {
        Vec::new()
    }
}

/// As leader, sends one block to half the nodes and a different valid block to the other half
/// (for each pre-prepare and each new view it sends).
pub struct EquivocatingLeader;

impl EquivocatingLeader {
    /// The conflicting twin of a proposal `message` (a pre-prepare or a new view): the same
    /// `(height, view)`, the same block one millisecond later (so another hash), signed with
    /// the actor's key. `None` for any other message.
    pub fn twin(context: &ActorContext<'_>, message: &Message) -> Option<Message> {
        match message.payload.clone() {
            Payload::PrePrepare {
                mut proposal,
                block,
            } => {
                let block = one_millisecond_later(block);
                proposal.block_hash = block.hash();
                Some(context.sign(Payload::PrePrepare { proposal, block }))
            }
            Payload::NewView {
                mut new_view,
                block,
            } => {
                let block = one_millisecond_later(block);
                new_view.block_hash = block.hash();
                Some(context.sign(Payload::NewView { new_view, block }))
            }
            _ => None,
        }
    }
}

/// `block` with a timestamp one millisecond later: still valid-looking, another hash.
fn one_millisecond_later(mut block: Block) -> Block {
    block.header.timestamp_ms = block.header.timestamp_ms.saturating_add(1);
    block
}

impl Behaviour for EquivocatingLeader {
    fn name(&self) -> &'static str {
        "equivocating-leader"
    }
    fn outgoing(
        &mut self,
        context: &mut ActorContext<'_>,
        target: Target,
        message: Message,
    ) -> Vec<(Target, Message)> {
        match EquivocatingLeader::twin(context, &message) {
            Some(twin) => split(context, message, twin),
            None => vec![(target, message)],
        }
    }
}

/// Votes for its block and, to some nodes, for another one too.
pub struct DoubleVoter;

impl DoubleVoter {
    /// The conflicting twin of a vote `message` (prepare or commit): the same kind, height and
    /// view for a random digest, signed with the actor's key. `None` for any other message.
    pub fn twin(context: &mut ActorContext<'_>, message: &Message) -> Option<Message> {
        let Payload::Vote(vote) = message.payload else {
            return None;
        };
        let other = Vote {
            block_hash: Hash(context.rng.bytes32()),
            ..vote
        };
        Some(context.sign(Payload::Vote(other)))
    }
}

impl Behaviour for DoubleVoter {
    fn name(&self) -> &'static str {
        "double-voter"
    }
    fn outgoing(
        &mut self,
        context: &mut ActorContext<'_>,
        target: Target,
        message: Message,
    ) -> Vec<(Target, Message)> {
        match DoubleVoter::twin(context, &message) {
            Some(twin) => split(context, message, twin),
            None => vec![(target, message)],
        }
    }
}

/// `message` to one random half of the other nodes, `twin` to the other half.
fn split(
    context: &mut ActorContext<'_>,
    message: Message,
    twin: Message,
) -> Vec<(Target, Message)> {
    let (left, right) = context.halves();
    let mut out: Vec<_> = left
        .into_iter()
        .map(|i| (Target::One(i), message.clone()))
        .collect();
    out.extend(right.into_iter().map(|i| (Target::One(i), twin.clone())));
    out
}

/// Bounded history of heard messages a [`Replayer`] re-sends.
const REPLAY_MEMORY: usize = 64;

/// Replays old messages (stale heights and views), and sends corrupted copies: flipped
/// signatures, another chain id, and messages signed by a key outside the validator set.
pub struct Replayer {
    heard: Vec<Message>,
    outsider: Keypair,
}

impl Replayer {
    /// A replayer whose outsider key comes from `seed`.
    pub fn new(seed: [u8; 32]) -> Replayer {
        Replayer {
            heard: Vec::new(),
            outsider: Keypair::from_secret(seed),
        }
    }
}

impl Behaviour for Replayer {
    fn name(&self) -> &'static str {
        "replayer"
    }
    fn outgoing(
        &mut self,
        context: &mut ActorContext<'_>,
        target: Target,
        message: Message,
    ) -> Vec<(Target, Message)> {
        let mut out = vec![(target, message.clone())];
        if !self.heard.is_empty() && context.rng.chance(300) {
            let old = self.heard[context.rng.index(self.heard.len())].clone();
            let mut corrupted = old.clone();
            corrupted.signature.0[context.rng.index(64)] ^= 1;
            // Signed for a copy of the chain: its own label, and relabelled as this chain's.
            let fork = GenesisHash(cassia_crypto::Hash::of_parts(&[
                b"fork of ",
                context.genesis.as_bytes(),
            ]));
            let foreign = Message::sign(&fork, context.key, message.payload.clone());
            let mut relabelled = foreign.clone();
            relabelled.genesis = *context.genesis;
            let outsider = Message::sign(context.genesis, &self.outsider, message.payload.clone());
            out.extend(
                [old, corrupted, foreign, relabelled, outsider]
                    .into_iter()
                    .map(|m| (Target::All, m)),
            );
        }
        out
    }
    fn incoming(
        &mut self,
        context: &mut ActorContext<'_>,
        message: &Message,
    ) -> Vec<(Target, Message)> {
        if self.heard.len() < REPLAY_MEMORY {
            self.heard.push(message.clone());
        } else {
            let slot = context.rng.index(REPLAY_MEMORY);
            self.heard[slot] = message.clone();
        }
        Vec::new()
    }
}

/// Whether an attacker that answers what it hears strikes now: on half the proposals it hears
/// (not on votes or on other attackers' messages, so attackers cannot feed each other forever).
fn triggers(context: &mut ActorContext<'_>, message: &Message) -> bool {
    matches!(
        message.payload,
        Payload::PrePrepare { .. } | Payload::NewView { .. }
    ) && context.rng.chance(500)
}

/// Sends certificates it cannot have: commit certificates for heights ahead with forged
/// signatures, and view changes with forged prepared certificates.
pub struct Forger;

impl Behaviour for Forger {
    fn name(&self) -> &'static str {
        "forger"
    }
    fn incoming(
        &mut self,
        context: &mut ActorContext<'_>,
        message: &Message,
    ) -> Vec<(Target, Message)> {
        if !triggers(context, message) {
            return Vec::new();
        }
        let forged: Vec<ValidatorSignature> = context
            .keys
            .iter()
            .map(|key| ValidatorSignature {
                validator: *key,
                signature: Signature([context.rng.bytes32()[0]; 64]),
            })
            .collect();
        let height = message.height().saturating_add(1 + context.rng.below(3));
        let block_hash = Hash(context.rng.bytes32());
        let decided = CommitCertificate {
            height,
            view: 0,
            block_hash,
            signatures: forged.clone(),
        };
        let prepared = PreparedCertificate {
            height: message.height(),
            view: 0,
            block_hash,
            signatures: forged,
        };
        let view_change = ViewChange {
            height: message.height(),
            view: message.view().saturating_add(1),
            prepared: Some(prepared),
        };
        vec![
            (Target::All, context.sign(Payload::Decided(decided))),
            (
                Target::All,
                context.sign(Payload::ViewChange {
                    view_change,
                    prepared_block: None,
                }),
            ),
        ]
    }
}

/// Sends validly signed messages with absurd heights and views (up to `u64::MAX`).
pub struct HugeViews;

impl Behaviour for HugeViews {
    fn name(&self) -> &'static str {
        "huge-views"
    }
    fn incoming(
        &mut self,
        context: &mut ActorContext<'_>,
        message: &Message,
    ) -> Vec<(Target, Message)> {
        if !triggers(context, message) {
            return Vec::new();
        }
        let height = message.height();
        let views = [
            u64::MAX,
            u64::MAX - 1,
            message
                .view()
                .saturating_add(cassia_consensus::MAX_VIEW_AHEAD),
            1 << 40,
        ];
        let view = views[context.rng.index(views.len())];
        let vote = Vote {
            kind: VoteKind::Commit,
            height,
            view,
            block_hash: Hash(context.rng.bytes32()),
        };
        let far = Vote {
            height: u64::MAX,
            ..vote
        };
        let view_change = ViewChange {
            height,
            view,
            prepared: None,
        };
        vec![
            (Target::All, context.sign(Payload::Vote(vote))),
            (Target::All, context.sign(Payload::Vote(far))),
            (
                Target::All,
                context.sign(Payload::ViewChange {
                    view_change,
                    prepared_block: None,
                }),
            ),
        ]
    }
}

/// Negative control only: f+1 colluders split the honest nodes into two groups. As leader, a
/// colluder sends one block to each group; every colluder votes prepare and commit for each
/// proposal it hears, but only to the group that block was meant for (the block with an even
/// timestamp goes to the first group), and never casts its engine's own votes. With f+1 of
/// them, each group gathers a quorum for its own block: agreement breaks.
pub struct Colluder {
    groups: [Vec<usize>; 2],
}

impl Colluder {
    /// A colluder attacking honest nodes split into `groups`.
    pub fn new(groups: [Vec<usize>; 2]) -> Colluder {
        Colluder { groups }
    }

    fn votes_for(
        &self,
        context: &mut ActorContext<'_>,
        message: &Message,
    ) -> Vec<(Target, Message)> {
        let (block_hash, timestamp_ms) = match &message.payload {
            Payload::PrePrepare { proposal, block } => {
                (proposal.block_hash, block.header.timestamp_ms)
            }
            Payload::NewView { new_view, block } => {
                (new_view.block_hash, block.header.timestamp_ms)
            }
            _ => return Vec::new(),
        };
        let group = &self.groups[usize::from(timestamp_ms % 2 == 1)];
        let (height, view) = (message.height(), message.view());
        let mut out = Vec::new();
        for kind in [VoteKind::Prepare, VoteKind::Commit] {
            let vote = context.sign(Payload::Vote(Vote {
                kind,
                height,
                view,
                block_hash,
            }));
            out.extend(group.iter().map(|node| (Target::One(*node), vote.clone())));
        }
        out
    }
}

impl Behaviour for Colluder {
    fn name(&self) -> &'static str {
        "colluder"
    }
    fn outgoing(
        &mut self,
        context: &mut ActorContext<'_>,
        target: Target,
        message: Message,
    ) -> Vec<(Target, Message)> {
        match message.payload.clone() {
            Payload::Vote(_) => Vec::new(),
            Payload::PrePrepare { .. } => {
                let twin =
                    EquivocatingLeader::twin(context, &message).expect("a pre-prepare has a twin");
                let fellows: Vec<usize> = (0..context.keys.len())
                    .filter(|i| *i != context.me && !self.groups.iter().any(|g| g.contains(i)))
                    .collect();
                let mut out = Vec::new();
                for proposal in [message, twin] {
                    out.extend(
                        fellows
                            .iter()
                            .map(|node| (Target::One(*node), proposal.clone())),
                    );
                    let Payload::PrePrepare { block, .. } = &proposal.payload else {
                        continue;
                    };
                    let group = &self.groups[usize::from(block.header.timestamp_ms % 2 == 1)];
                    out.extend(
                        group
                            .iter()
                            .map(|node| (Target::One(*node), proposal.clone())),
                    );
                    out.extend(self.votes_for(context, &proposal));
                }
                out
            }
            _ => vec![(target, message)],
        }
    }
    fn incoming(
        &mut self,
        context: &mut ActorContext<'_>,
        message: &Message,
    ) -> Vec<(Target, Message)> {
        self.votes_for(context, message)
    }
}
