//! **Test builds only**: a Byzantine mode that turns a real `cassia node` into an attacker, so
//! the fault suite can show that honest processes keep committing, agree, and stay within their
//! memory bounds while one validator (f = 1 of 4) lies, equivocates and floods.
//!
//! This module exists only with the `byzantine` cargo feature of `cassia-node`, which only the
//! `cassia-tests` crate enables (as a dev-dependency feature). A production build
//! (`cargo build -p cassia-cli`, `--release`) contains none of this code, and its node refuses to
//! start when [`crate::start::BYZANTINE_ENV`] is set. With the feature compiled in, the mode is
//! still off unless that variable names the behaviours, e.g.
//! `CASSIA_BYZANTINE=equivocate,double-vote,garbage,oversized,future,flood` (or `all`).
//!
//! | behaviour | what the node does | what honest nodes must do |
//! |---|---|---|
//! | `equivocate` | each pre-prepare or new view it leads is followed by a twin for the same `(height, view)`: the same block one millisecond later (another hash), signed | keep one, drop the other as equivocation; change view if split |
//! | `double-vote` | each prepare and commit it casts is followed by one for a random digest | count at most one vote per validator |
//! | `garbage` | random bytes on the consensus and transaction topics, and as sync requests | reject (gossipsub then graylists the sender) or answer nothing |
//! | `oversized` | a signed pre-prepare one byte above the consensus decode cap, a transaction batch one above its count cap, a gossip payload one byte above `max_message_bytes`; sync responses one byte above the frame cap and the decode cap | refuse each before it costs more than the cap |
//! | `future` | signed votes, view changes, pre-prepares and certificates for height + 10^6, view 10^9 and views near `u64::MAX` | drop them outside the height and view windows |
//! | `flood` | the periodic attacks every [`FLOOD_TICK`] instead of every [`SLOW_TICK`] (hundreds of messages a second) | stay live, memory flat |
//!
//! The hooks are few: [`Attacker`] rewrites what the runtime publishes and answers sync
//! requests; [`spawn_flood`] runs the periodic attacks in their own task, reading the chain's
//! position from the head channel. Everything the attacker signs is signed with its own
//! validator key, so honest nodes face *valid-looking* lies. Invalid gossip (garbage, oversized)
//! starts only after [`INVALID_GOSSIP_DELAY`]: once an honest node rejects a peer's message,
//! gossipsub's peer scoring cuts that peer's gossip off within a heartbeat, and the signed
//! attacks should reach the honest replicas first.

use std::collections::BTreeSet;
use std::time::Duration;

use cassia_consensus::{Message, Payload, Proposal, ViewChange};
use cassia_crypto::{Hash, Keypair, Signature};
use cassia_ledger::{
    Block, BlockHeader, CommitCertificate, Height, Operation, Parameters, SignedTransaction,
    Transaction, ValidatorSignature, View, Vote, VoteKind, codec,
};
use tokio::time::{Instant, MissedTickBehavior};

use crate::head::HeadReceiver;
use crate::network::{GossipTopic, NetworkHandle, PublishError, SYNC_REQUEST_MAX_BYTES};
use crate::start::BYZANTINE_ENV;

/// Period of the attacks when `flood` is on: each tick sends [`FUTURE_PER_TICK`] far-future
/// messages, one garbage gossip message and one garbage sync request, so a few hundred a second.
pub const FLOOD_TICK: Duration = Duration::from_millis(10);

/// Period of the attacks without `flood`.
pub const SLOW_TICK: Duration = Duration::from_secs(1);

/// Invalid gossip (garbage, oversized) starts this long after the node does; see the module docs.
pub const INVALID_GOSSIP_DELAY: Duration = Duration::from_secs(10);

/// At most one oversized gossip message per this interval, flood or not: each costs the
/// receivers a signature check over up to `max_message_bytes`, and a 2-core test machine runs
/// four nodes.
pub const OVERSIZED_INTERVAL: Duration = Duration::from_secs(2);

/// The oversized kinds (gossip payload, consensus message, transaction batch), sent together
/// the first time: once honest nodes reject a peer's message, gossipsub prunes it from their
/// mesh at the next heartbeat, after which its gossip stops reaching them (see RELIABILITY.md),
/// so each kind must arrive before that heartbeat to be seen.
pub const OVERSIZED_BURST: u64 = 3;

/// Far-future messages sent per tick.
pub const FUTURE_PER_TICK: usize = 2;

/// Most sync requests of this node waiting for an answer; more ticks send none.
pub const MAX_SYNC_REQUESTS_IN_FLIGHT: usize = 4;

/// Largest random payload of a garbage message.
pub const MAX_GARBAGE_BYTES: usize = 4096;

/// How far ahead far-future heights are.
pub const FUTURE_HEIGHTS: Height = 1_000_000;

/// A far-future view.
pub const FUTURE_VIEW: View = 1_000_000_000;

/// How often the flood task logs what it sent.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// One attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Behaviour {
    /// Conflicting proposals for one `(height, view)`.
    Equivocate,
    /// Conflicting prepare and commit votes.
    DoubleVote,
    /// Random bytes on every topic and the sync protocol.
    Garbage,
    /// Messages just above the honest caps.
    Oversized,
    /// Signed messages for far-future heights and views.
    Future,
    /// The periodic attacks at a high rate.
    Flood,
}

impl Behaviour {
    /// Every behaviour.
    pub const ALL: [Behaviour; 6] = [
        Behaviour::Equivocate,
        Behaviour::DoubleVote,
        Behaviour::Garbage,
        Behaviour::Oversized,
        Behaviour::Future,
        Behaviour::Flood,
    ];

    /// Its name in [`BYZANTINE_ENV`].
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Equivocate => "equivocate",
            Behaviour::DoubleVote => "double-vote",
            Behaviour::Garbage => "garbage",
            Behaviour::Oversized => "oversized",
            Behaviour::Future => "future",
            Behaviour::Flood => "flood",
        }
    }
}

/// [`BYZANTINE_ENV`] names something that is not a behaviour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{BYZANTINE_ENV}: unknown behaviour {name:?}; known: all, equivocate, double-vote, garbage, \
     oversized, future, flood (comma-separated)"
)]
pub struct UnknownBehaviour {
    /// The name given.
    pub name: String,
}

/// The behaviours a node runs (never empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mode {
    behaviours: BTreeSet<Behaviour>,
}

impl Mode {
    /// Parses a comma-separated list (`all` is every behaviour); `None` if it names none.
    pub fn parse(list: &str) -> Result<Option<Mode>, UnknownBehaviour> {
        let mut behaviours = BTreeSet::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                behaviours.extend(Behaviour::ALL);
                continue;
            }
            let behaviour = Behaviour::ALL
                .into_iter()
                .find(|b| b.name() == name)
                .ok_or_else(|| UnknownBehaviour { name: name.into() })?;
            behaviours.insert(behaviour);
        }
        Ok((!behaviours.is_empty()).then_some(Mode { behaviours }))
    }

    /// The mode [`BYZANTINE_ENV`] asks for (`None` when unset or empty: an honest node).
    pub fn from_env() -> Result<Option<Mode>, UnknownBehaviour> {
        match std::env::var(BYZANTINE_ENV) {
            Ok(list) => Mode::parse(&list),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(UnknownBehaviour {
                name: "(not UTF-8)".into(),
            }),
        }
    }

    /// Whether `behaviour` is on.
    pub fn has(&self, behaviour: Behaviour) -> bool {
        self.behaviours.contains(&behaviour)
    }

    /// The names, comma-separated, for the startup warning.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.behaviours.iter().map(|b| b.name()).collect();
        names.join(",")
    }

    /// The message cap this node gives its own network: twice the honest one with `oversized`
    /// (so it can send and answer what honest nodes refuse), else the honest one.
    pub fn own_message_cap(&self, honest: usize) -> usize {
        if self.has(Behaviour::Oversized) {
            honest.saturating_mul(2)
        } else {
            honest
        }
    }
}

/// The caps honest nodes of this chain apply, which the oversized attacks exceed by one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HonestCaps {
    /// Gossip payloads and sync response frames (`[network] max_message_bytes`).
    pub max_message_bytes: usize,
    /// Decoding a consensus message (`max_block_bytes` + 1 MiB).
    pub consensus_message_bytes: usize,
    /// Decoding a sync response (2 x `max_block_bytes`).
    pub sync_response_bytes: usize,
}

impl HonestCaps {
    /// The caps of a node configured with `max_message_bytes` on a chain with `parameters`:
    /// the very functions the runtime applies them with.
    pub fn new(max_message_bytes: usize, parameters: &Parameters) -> HonestCaps {
        HonestCaps {
            max_message_bytes,
            consensus_message_bytes: cassia_engine::message_cap(parameters),
            sync_response_bytes: crate::runtime::sync_response_cap(parameters),
        }
    }
}

/// A small deterministic generator (SplitMix64): attacks need variety, not secrecy.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn seeded(key: &Keypair) -> Rng {
        let bytes = key.public().0;
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&bytes[..8]);
        Rng(u64::from_le_bytes(seed))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % (bound.max(1) as u64)).unwrap_or(0)
    }

    fn hash(&mut self) -> Hash {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        Hash(bytes)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let length = self.below(max.saturating_add(1));
        (0..length).map(|_| self.next().to_le_bytes()[0]).collect()
    }
}

/// The runtime's side of the mode: twins of what it publishes, and answers to sync requests.
pub struct Attacker {
    mode: Mode,
    caps: HonestCaps,
    rng: Rng,
    sync_answers: u64,
}

impl Attacker {
    /// An attacker running `mode` against nodes with `caps`, signing with `key`.
    pub fn new(mode: Mode, caps: HonestCaps, key: &Keypair) -> Attacker {
        Attacker {
            mode,
            caps,
            rng: Rng::seeded(key),
            sync_answers: 0,
        }
    }

    /// The extra messages to publish right after `message` (signed by `key`, this node).
    pub fn twins(&mut self, key: &Keypair, message: &Message) -> Vec<Message> {
        let sign = |payload| Message::sign(&message.chain_id, key, payload);
        match message.payload.clone() {
            Payload::PrePrepare {
                mut proposal,
                block,
            } if self.mode.has(Behaviour::Equivocate) => {
                let block = later_twin(block);
                proposal.block_hash = block.hash();
                vec![sign(Payload::PrePrepare { proposal, block })]
            }
            Payload::NewView {
                mut new_view,
                block,
            } if self.mode.has(Behaviour::Equivocate) => {
                let block = later_twin(block);
                new_view.block_hash = block.hash();
                vec![sign(Payload::NewView { new_view, block })]
            }
            Payload::Vote(vote) if self.mode.has(Behaviour::DoubleVote) => {
                let block_hash = self.rng.hash();
                vec![sign(Payload::Vote(Vote { block_hash, ..vote }))]
            }
            _ => Vec::new(),
        }
    }

    /// What to answer a sync request with instead of blocks, if anything: with `oversized`, in
    /// turn a frame one byte above the honest frame cap, one a byte above the decode cap, and
    /// (with `garbage`) random bytes.
    pub fn sync_response(&mut self) -> Option<Vec<u8>> {
        let turn = self.sync_answers % 3;
        self.sync_answers = self.sync_answers.wrapping_add(1);
        match turn {
            0 if self.mode.has(Behaviour::Oversized) => {
                Some(vec![0x5a; self.caps.max_message_bytes.saturating_add(1)])
            }
            1 if self.mode.has(Behaviour::Oversized) => {
                Some(vec![0x5a; self.caps.sync_response_bytes.saturating_add(1)])
            }
            _ if self.mode.has(Behaviour::Garbage) => Some(self.rng.bytes(MAX_GARBAGE_BYTES)),
            _ => None,
        }
    }
}

/// `block` one millisecond later: still valid, another hash.
fn later_twin(mut block: Block) -> Block {
    block.header.timestamp_ms = block.header.timestamp_ms.saturating_add(1);
    block
}

/// What the flood task needs.
pub struct FloodContext {
    /// The behaviours.
    pub mode: Mode,
    /// The honest caps.
    pub caps: HonestCaps,
    /// This node's key.
    pub key: Keypair,
    /// Chain id.
    pub chain_id: String,
    /// The network to attack through.
    pub network: NetworkHandle,
    /// The chain's position (committed height, view).
    pub head: HeadReceiver,
}

/// Starts the periodic attacks; the task ends when the network stops.
pub fn spawn_flood(context: FloodContext) -> tokio::task::JoinHandle<()> {
    tokio::spawn(Flood::new(context).run())
}

/// Counts of what the flood sent (for its log line).
#[derive(Debug, Default)]
struct Sent {
    published: u64,
    refused: u64,
    sync_requests: u64,
}

/// Messages built once and sent again (each is up to `max_message_bytes`).
struct Oversized {
    consensus: Vec<u8>,
    batch: Vec<u8>,
    gossip: Vec<u8>,
}

struct Flood {
    context: FloodContext,
    rng: Rng,
    started: Instant,
    last_oversized: Option<Instant>,
    oversized_sent: u64,
    oversized: Option<Oversized>,
    turn: u64,
    sent: Sent,
    requests_in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Flood {
    fn new(context: FloodContext) -> Flood {
        Flood {
            rng: Rng::seeded(&context.key),
            context,
            started: Instant::now(),
            last_oversized: None,
            oversized_sent: 0,
            oversized: None,
            turn: 0,
            sent: Sent::default(),
            requests_in_flight: std::sync::Arc::default(),
        }
    }

    async fn run(mut self) {
        let period = if self.context.mode.has(Behaviour::Flood) {
            FLOOD_TICK
        } else {
            SLOW_TICK
        };
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut report = tokio::time::interval(REPORT_INTERVAL);
        report.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if self.attack().await.is_err() {
                        tracing::info!("byzantine flood stopping: the network has stopped");
                        return;
                    }
                }
                _ = report.tick() => tracing::warn!(published = self.sent.published,
                    refused = self.sent.refused, sync_requests = self.sent.sync_requests,
                    "BYZANTINE MODE: flood so far"),
            }
        }
    }

    /// One tick: one message of each enabled periodic attack.
    async fn attack(&mut self) -> Result<(), PublishError> {
        self.turn = self.turn.wrapping_add(1);
        let mode = self.context.mode.clone();
        for _ in 0..FUTURE_PER_TICK {
            if !mode.has(Behaviour::Future) {
                break;
            }
            self.turn = self.turn.wrapping_add(1);
            let message = self.future_message();
            self.publish(GossipTopic::Consensus, message.to_bytes())
                .await?;
        }
        if mode.has(Behaviour::Garbage) {
            self.garbage_request();
        }
        let invalid_gossip = self.started.elapsed() >= INVALID_GOSSIP_DELAY;
        while mode.has(Behaviour::Oversized) && invalid_gossip && self.oversized_due() {
            self.send_oversized().await?;
        }
        let oversized_first =
            !mode.has(Behaviour::Oversized) || self.oversized_sent >= OVERSIZED_BURST;
        if mode.has(Behaviour::Garbage) && invalid_gossip && oversized_first {
            let topic = if self.turn.is_multiple_of(2) {
                GossipTopic::Consensus
            } else {
                GossipTopic::Transactions
            };
            let bytes = self.rng.bytes(MAX_GARBAGE_BYTES);
            self.publish(topic, bytes).await?;
        }
        Ok(())
    }

    /// Publishes `data`; only a stopped network is an error (no peers, refusals are counted).
    async fn publish(&mut self, topic: GossipTopic, data: Vec<u8>) -> Result<(), PublishError> {
        match self.context.network.publish(topic, data).await {
            Ok(_) => self.sent.published = self.sent.published.saturating_add(1),
            Err(PublishError::Stopped) => return Err(PublishError::Stopped),
            Err(_) => self.sent.refused = self.sent.refused.saturating_add(1),
        }
        Ok(())
    }

    /// A correctly signed message far outside the honest windows, a different kind each turn.
    fn future_message(&mut self) -> Message {
        let (committed, view) = {
            let head = self.context.head.borrow();
            (head.height, head.view)
        };
        let height = committed.saturating_add(1);
        let far = height.saturating_add(FUTURE_HEIGHTS);
        let block_hash = self.rng.hash();
        let payload = match self.turn % 5 {
            0 => vote(VoteKind::Prepare, far, view, block_hash),
            1 => vote(VoteKind::Commit, height, FUTURE_VIEW, block_hash),
            2 => Payload::ViewChange {
                view_change: ViewChange {
                    height,
                    view: u64::MAX - self.turn % 16,
                    prepared: None,
                },
                prepared_block: None,
            },
            3 => self.future_proposal(far),
            _ => self.future_certificate(far, block_hash),
        };
        Message::sign(&self.context.chain_id, &self.context.key, payload)
    }

    fn future_proposal(&mut self, height: Height) -> Payload {
        let block = Block {
            header: BlockHeader {
                height,
                view: 0,
                parent: self.rng.hash(),
                timestamp_ms: 1,
                proposer: self.context.key.public(),
                tx_root: Hash::ZERO,
                receipts_root: Hash::ZERO,
                state_root: self.rng.hash(),
                validator_set_hash: self.rng.hash(),
            },
            transactions: Vec::new(),
        };
        let proposal = Proposal {
            height,
            view: 0,
            block_hash: block.hash(),
        };
        Payload::PrePrepare { proposal, block }
    }

    /// A commit certificate for a far height with one real signature (ours) and forged ones.
    fn future_certificate(&mut self, height: Height, block_hash: Hash) -> Payload {
        let commit = Vote {
            kind: VoteKind::Commit,
            height,
            view: 0,
            block_hash,
        };
        let mut signatures = vec![ValidatorSignature {
            validator: self.context.key.public(),
            signature: commit.sign(&self.context.chain_id, &self.context.key),
        }];
        signatures.extend((0..3).map(|_| ValidatorSignature {
            validator: Keypair::from_secret(self.rng.hash().0).public(),
            signature: Signature([0x11; 64]),
        }));
        Payload::Decided(CommitCertificate {
            height,
            view: 0,
            block_hash,
            signatures,
        })
    }

    /// Sends random bytes as a sync request to a random connected peer, unless
    /// [`MAX_SYNC_REQUESTS_IN_FLIGHT`] are waiting.
    fn garbage_request(&mut self) {
        use std::sync::atomic::Ordering;
        let peers = self.context.network.connected_peers();
        let in_flight = std::sync::Arc::clone(&self.requests_in_flight);
        if peers.is_empty() || in_flight.load(Ordering::Relaxed) >= MAX_SYNC_REQUESTS_IN_FLIGHT {
            return;
        }
        let peer = peers[self.rng.below(peers.len())];
        let request = self.rng.bytes(SYNC_REQUEST_MAX_BYTES);
        let network = self.context.network.clone();
        in_flight.fetch_add(1, Ordering::Relaxed);
        self.sent.sync_requests = self.sent.sync_requests.saturating_add(1);
        tokio::spawn(async move {
            let _ = network.request(peer, request).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// The three kinds go out at once the first time (see [`OVERSIZED_BURST`]), then one per
    /// [`OVERSIZED_INTERVAL`].
    fn oversized_due(&self) -> bool {
        self.oversized_sent < OVERSIZED_BURST
            || self
                .last_oversized
                .is_none_or(|last| last.elapsed() >= OVERSIZED_INTERVAL)
    }

    /// One oversized message, the three kinds in turn.
    async fn send_oversized(&mut self) -> Result<(), PublishError> {
        self.last_oversized = Some(Instant::now());
        let kind = self.oversized_sent % OVERSIZED_BURST;
        self.oversized_sent = self.oversized_sent.saturating_add(1);
        let oversized = self.oversized.get_or_insert_with(|| {
            build_oversized(
                &self.context.key,
                &self.context.chain_id,
                &self.context.caps,
            )
        });
        let (topic, bytes) = match kind {
            0 => (GossipTopic::Transactions, oversized.gossip.clone()),
            1 => (GossipTopic::Consensus, oversized.consensus.clone()),
            _ => (GossipTopic::Transactions, oversized.batch.clone()),
        };
        self.publish(topic, bytes).await
    }
}

fn vote(kind: VoteKind, height: Height, view: View, block_hash: Hash) -> Payload {
    Payload::Vote(Vote {
        kind,
        height,
        view,
        block_hash,
    })
}

/// The three oversized gossip messages: a signed pre-prepare one byte above the consensus
/// decode cap, a batch of one transaction more than a batch may hold, and a payload one byte
/// above the gossip cap.
fn build_oversized(key: &Keypair, chain_id: &str, caps: &HonestCaps) -> Oversized {
    let transaction = |nonce: u64, metadata: String| {
        Transaction {
            chain_id: chain_id.to_string(),
            signer: key.public(),
            nonce,
            valid_until: 1,
            op: Operation::Notarize {
                digest: Hash::of(&nonce.to_le_bytes()),
                metadata,
                co_signers: Vec::new(),
            },
        }
        .sign(key)
    };
    let batch: Vec<SignedTransaction> = (0..=crate::runtime::MAX_GOSSIP_BATCH as u64)
        .map(|nonce| transaction(nonce, String::new()))
        .collect();
    let proposal_of = |metadata: String| {
        let block = Block {
            header: placeholder_header(key),
            transactions: vec![transaction(0, metadata)],
        };
        let proposal = Proposal {
            height: 1,
            view: 0,
            block_hash: block.hash(),
        };
        Message::sign(chain_id, key, Payload::PrePrepare { proposal, block }).to_bytes()
    };
    // The codec encodes integers at fixed width, so each metadata byte adds one encoded byte.
    let base = proposal_of(String::new()).len();
    let padding = caps
        .consensus_message_bytes
        .saturating_add(1)
        .saturating_sub(base);
    Oversized {
        consensus: proposal_of("x".repeat(padding)),
        batch: codec::encode(&batch),
        gossip: vec![0xa5; caps.max_message_bytes.saturating_add(1)],
    }
}

fn placeholder_header(key: &Keypair) -> BlockHeader {
    BlockHeader {
        height: 1,
        view: 0,
        parent: Hash::ZERO,
        timestamp_ms: 1,
        proposer: key.public(),
        tx_root: Hash::ZERO,
        receipts_root: Hash::ZERO,
        state_root: Hash::ZERO,
        validator_set_hash: Hash::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Keypair {
        Keypair::from_secret([9; 32])
    }

    #[test]
    fn behaviour_lists_parse_and_unknown_names_are_refused() {
        let mode = Mode::parse("equivocate, flood")
            .expect("known")
            .expect("some");
        assert!(mode.has(Behaviour::Equivocate) && mode.has(Behaviour::Flood));
        assert!(!mode.has(Behaviour::Garbage));
        let all = Mode::parse("all").expect("known").expect("some");
        assert!(Behaviour::ALL.iter().all(|b| all.has(*b)));
        assert_eq!(Mode::parse(" , ").expect("nothing named"), None);
        let error = Mode::parse("equivocate,explode").expect_err("unknown");
        assert_eq!(error.name, "explode");
        assert!(error.to_string().contains("double-vote"), "{error}");
    }

    #[test]
    fn an_equivocating_leader_signs_a_valid_twin_with_another_block() {
        let key = key();
        let mut attacker = Attacker::new(
            Mode::parse("equivocate").expect("known").expect("some"),
            HonestCaps::new(1 << 20, &Parameters::default()),
            &key,
        );
        let block = Block {
            header: placeholder_header(&key),
            transactions: Vec::new(),
        };
        let proposal = Proposal {
            height: 1,
            view: 0,
            block_hash: block.hash(),
        };
        let honest = Message::sign("c", &key, Payload::PrePrepare { proposal, block });
        let twins = attacker.twins(&key, &honest);
        let [twin] = &twins[..] else {
            panic!("one twin: {twins:?}")
        };
        assert!(twin.verify_signature().is_ok());
        assert_eq!(
            (twin.height(), twin.view()),
            (honest.height(), honest.view())
        );
        assert!(!twin.same_statement(&honest), "a conflicting statement");
        let Payload::PrePrepare { proposal, block } = &twin.payload else {
            panic!("a pre-prepare")
        };
        assert_eq!(proposal.block_hash, block.hash(), "still valid-looking");
    }

    #[test]
    fn a_double_voter_follows_each_vote_with_one_for_another_digest() {
        let key = key();
        let mut attacker = Attacker::new(
            Mode::parse("double-vote").expect("known").expect("some"),
            HonestCaps::new(1 << 20, &Parameters::default()),
            &key,
        );
        let honest = Message::sign("c", &key, vote(VoteKind::Commit, 5, 2, Hash::of(b"b")));
        let twins = attacker.twins(&key, &honest);
        assert_eq!(twins.len(), 1);
        assert_eq!(twins[0].kind(), honest.kind());
        assert!(twins[0].verify_signature().is_ok() && !twins[0].same_statement(&honest));
    }

    #[test]
    fn oversized_messages_are_one_byte_above_each_cap() {
        let key = key();
        let parameters = Parameters {
            max_block_bytes: 4096,
            ..Parameters::default()
        };
        let caps = HonestCaps::new(64 * 1024, &parameters);
        let oversized = build_oversized(&key, "c", &caps);
        assert_eq!(oversized.consensus.len(), caps.consensus_message_bytes + 1);
        assert!(Message::from_bytes(&oversized.consensus, usize::MAX).is_ok());
        assert!(Message::from_bytes(&oversized.consensus, caps.consensus_message_bytes).is_err());
        let batch: Vec<SignedTransaction> = codec::decode(&oversized.batch).expect("a batch");
        assert_eq!(batch.len(), crate::runtime::MAX_GOSSIP_BATCH + 1);
        assert_eq!(oversized.gossip.len(), caps.max_message_bytes + 1);
    }
}
