//! The Byzantine node's periodic attacks (`garbage`, `oversized`, `future`, at the `flood` rate
//! or not), in a task of their own that the [`super::attacker::Attacker`] starts with the node.
//! The task sends through the node's network and reads the chain's position from its head
//! channel, both taken from cassia-node's public API.
//!
//! Everything it signs is signed with the node's validator key, so honest nodes face
//! *valid-looking* lies. Invalid gossip (garbage, oversized) starts only after
//! [`INVALID_GOSSIP_DELAY`]: once an honest node rejects a peer's message, gossipsub's peer
//! scoring cuts that peer's gossip off within a heartbeat, and the signed attacks should reach
//! the honest replicas first.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cassia_consensus::{Message, Payload, Proposal, ViewChange};
use cassia_crypto::{GenesisHash, Hash, Keypair, Signature};
use cassia_ledger::{
    Block, BlockHeader, CommitCertificate, Height, Operation, SignedTransaction, Transaction,
    ValidatorSignature, View, Vote, VoteKind, codec,
};
use cassia_node::head::HeadReceiver;
use cassia_node::network::{GossipTopic, NetworkHandle, PublishError, SYNC_REQUEST_MAX_BYTES};
use cassia_node::runtime::MAX_GOSSIP_BATCH;
use tokio::time::{Instant, MissedTickBehavior};

use super::attacker::{Attack, HonestCaps, Mode};
use crate::rng::Rng;

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

/// Replayed statements sent per tick: 600 a second at the flood rate, three times an author's
/// consensus budget (`cassia_node::network::rate`).
pub const REPLAY_PER_TICK: usize = 6;

/// Most sync requests of this node waiting for an answer; more ticks send none.
pub const MAX_SYNC_REQUESTS_IN_FLIGHT: usize = 4;

/// Largest random payload of a garbage message (gossip, or an answer to a sync request).
pub const MAX_GARBAGE_BYTES: usize = 4096;

/// How far ahead far-future heights are.
pub const FUTURE_HEIGHTS: Height = 1_000_000;

/// A far-future view.
pub const FUTURE_VIEW: View = 1_000_000_000;

/// How often the flood task logs what it sent.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// What the flood task needs.
pub struct FloodContext {
    /// The attacks.
    pub mode: Mode,
    /// The honest caps.
    pub caps: HonestCaps,
    /// This node's key.
    pub key: Keypair,
    /// Chain id.
    pub chain_id: String,
    /// The genesis hash its signatures cover.
    pub genesis: GenesisHash,
    /// The network to attack through.
    pub network: NetworkHandle,
    /// The chain's position (committed height, view).
    pub head: HeadReceiver,
    /// The task's random choices (drawn from the attacker's seed).
    pub rng: Rng,
}

/// Starts the periodic attacks; the task ends when the network stops.
pub fn spawn(context: FloodContext) -> tokio::task::JoinHandle<()> {
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
    started: Instant,
    last_oversized: Option<Instant>,
    oversized_sent: u64,
    oversized: Option<Oversized>,
    turn: u64,
    sent: Sent,
    requests_in_flight: Arc<AtomicUsize>,
}

impl Flood {
    fn new(context: FloodContext) -> Flood {
        Flood {
            context,
            started: Instant::now(),
            last_oversized: None,
            oversized_sent: 0,
            oversized: None,
            turn: 0,
            sent: Sent::default(),
            requests_in_flight: Arc::default(),
        }
    }

    async fn run(mut self) {
        let period = if self.context.mode.has(Attack::Flood) {
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
            if !mode.has(Attack::Future) {
                break;
            }
            self.turn = self.turn.wrapping_add(1);
            let message = self.future_message();
            self.publish(GossipTopic::Consensus, message.to_bytes())
                .await?;
        }
        if mode.has(Attack::Replay) {
            let bytes = self.replayed_view_change().to_bytes();
            for _ in 0..REPLAY_PER_TICK {
                self.publish(GossipTopic::Consensus, bytes.clone()).await?;
            }
        }
        if mode.has(Attack::Garbage) {
            self.garbage_request();
        }
        let invalid_gossip = self.started.elapsed() >= INVALID_GOSSIP_DELAY;
        while mode.has(Attack::Oversized) && invalid_gossip && self.oversized_due() {
            self.send_oversized().await?;
        }
        let oversized_first =
            !mode.has(Attack::Oversized) || self.oversized_sent >= OVERSIZED_BURST;
        if mode.has(Attack::Garbage) && invalid_gossip && oversized_first {
            let topic = if self.turn.is_multiple_of(2) {
                GossipTopic::Consensus
            } else {
                GossipTopic::Transactions
            };
            let bytes = self.context.rng.bytes_up_to(MAX_GARBAGE_BYTES);
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

    /// A view change to the view after the current one: in the window, validly signed, and the
    /// same statement every time (ed25519 is deterministic), so never an equivocation.
    fn replayed_view_change(&self) -> Message {
        let (committed, view) = {
            let head = self.context.head.borrow();
            (head.height, head.view)
        };
        let payload = Payload::ViewChange {
            view_change: ViewChange {
                height: committed.saturating_add(1),
                view: view.saturating_add(1),
                prepared: None,
            },
            prepared_block: None,
        };
        Message::sign(&self.context.genesis, &self.context.key, payload)
    }

    /// A correctly signed message far outside the honest windows, a different kind each turn.
    fn future_message(&mut self) -> Message {
        let (committed, view) = {
            let head = self.context.head.borrow();
            (head.height, head.view)
        };
        let height = committed.saturating_add(1);
        let far = height.saturating_add(FUTURE_HEIGHTS);
        let block_hash = Hash(self.context.rng.bytes32());
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
        Message::sign(&self.context.genesis, &self.context.key, payload)
    }

    fn future_proposal(&mut self, height: Height) -> Payload {
        let rng = &mut self.context.rng;
        let block = Block {
            header: BlockHeader {
                height,
                view: 0,
                parent: Hash(rng.bytes32()),
                timestamp_ms: 1,
                proposer: self.context.key.public(),
                tx_root: Hash::ZERO,
                receipts_root: Hash::ZERO,
                state_root: Hash(rng.bytes32()),
                validator_set_hash: Hash(rng.bytes32()),
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
            signature: commit.sign(&self.context.genesis, &self.context.key),
        }];
        signatures.extend((0..3).map(|_| ValidatorSignature {
            validator: Keypair::from_secret(self.context.rng.bytes32()).public(),
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
        let peers = self.context.network.connected_peers();
        let in_flight = Arc::clone(&self.requests_in_flight);
        if peers.is_empty() || in_flight.load(Ordering::Relaxed) >= MAX_SYNC_REQUESTS_IN_FLIGHT {
            return;
        }
        let peer = peers[self.context.rng.index(peers.len())];
        let request = self.context.rng.bytes_up_to(SYNC_REQUEST_MAX_BYTES);
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
                (&self.context.chain_id, &self.context.genesis),
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
fn build_oversized(
    key: &Keypair,
    (chain_id, genesis): (&str, &GenesisHash),
    caps: &HonestCaps,
) -> Oversized {
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
        .sign(genesis, key)
    };
    let batch: Vec<SignedTransaction> = (0..=MAX_GOSSIP_BATCH as u64)
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
        Message::sign(genesis, key, Payload::PrePrepare { proposal, block }).to_bytes()
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

/// A header for height 1, view 0, proposed by `key`, with zero roots.
pub(super) fn placeholder_header(key: &Keypair) -> BlockHeader {
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
    use cassia_ledger::Parameters;

    use super::*;

    #[test]
    fn oversized_messages_are_one_byte_above_each_cap() {
        let key = Keypair::from_secret([9; 32]);
        let parameters = Parameters {
            max_block_bytes: 4096,
            ..Parameters::default()
        };
        let caps = HonestCaps::new(64 * 1024, &parameters);
        let oversized = build_oversized(&key, ("c", &GenesisHash(Hash::of(b"c"))), &caps);
        assert_eq!(oversized.consensus.len(), caps.consensus_message_bytes + 1);
        assert!(Message::from_bytes(&oversized.consensus, usize::MAX).is_ok());
        assert!(Message::from_bytes(&oversized.consensus, caps.consensus_message_bytes).is_err());
        let batch: Vec<SignedTransaction> = codec::decode(&oversized.batch).expect("a batch");
        assert_eq!(batch.len(), MAX_GOSSIP_BATCH + 1);
        assert_eq!(oversized.gossip.len(), caps.max_message_bytes + 1);
    }
}
