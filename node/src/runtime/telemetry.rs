//! Telemetry: what the runtime tells the outside about itself. It keeps the committed tip as the
//! engine reports it (the stored tip at start, then each commit of an [`cassia_engine::Output`]),
//! and from that alone writes the Prometheus metrics and publishes the [`Head`] that the gRPC
//! server waits on. Nothing is read back from the metrics registry: it is written, never a
//! source of truth.
//!
//! Rejected peer input is counted here by reason (`transactions_invalid`, `sync_request_malformed`,
//! ...), merged with the replica's own drop counts when the metrics are refreshed. The map has one
//! entry per reason name, and the names are a fixed set in the code, so it stays small.
//!
//! Misbehaviour the replica proves (equivocation, an invalid new view) is counted the same way
//! (`evidence_equivocation`, `evidence_invalid_new_view`) and logged compactly: who, where, and
//! the digests of the statements, never the blocks they carry, and at most
//! [`MISBEHAVIOUR_LOGS_PER_MINUTE`] lines a minute. A Byzantine validator can sign conflicting
//! statements as fast as it likes; neither the log nor memory may grow with that.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use cassia_consensus::{Commit, Evidence, Message, Replica};
use cassia_crypto::Hash;
use cassia_engine::Tip;
use cassia_engine::mempool::Mempool;

use crate::head::{Head, HeadSender};
use crate::metrics::Metrics;
use crate::network::{NetworkHandle, Validation};

/// Misbehaviour lines logged per minute at most; the rest are only counted.
pub const MISBEHAVIOUR_LOGS_PER_MINUTE: u32 = 10;

/// The runtime's reporting room.
pub struct Telemetry {
    metrics: Arc<Metrics>,
    head: HeadSender,
    tip: Tip,
    /// When the current height started (the last commit, or the start).
    height_started: Instant,
    rejected: BTreeMap<String, u64>,
    /// The minute misbehaviour logging is counted in, and the lines logged in it.
    misbehaviour_logged: (Instant, u32),
}

impl Telemetry {
    /// Starts reporting from the stored `tip`.
    pub fn new(metrics: Arc<Metrics>, head: HeadSender, tip: Tip) -> Telemetry {
        metrics.set_tip(tip.height, tip.block_hash, tip.state_root);
        Telemetry {
            metrics,
            head,
            tip,
            height_started: Instant::now(),
            rejected: BTreeMap::new(),
            misbehaviour_logged: (Instant::now(), 0),
        }
    }

    /// The committed tip as last reported by the engine.
    pub fn tip(&self) -> &Tip {
        &self.tip
    }

    /// How long since the last commit (or the start).
    pub fn since_last_commit(&self) -> std::time::Duration {
        self.height_started.elapsed()
    }

    /// Counts one rejected peer input under `reason`; returns the gossip verdict for it.
    pub fn reject(&mut self, reason: &str) -> Validation {
        match self.rejected.get_mut(reason) {
            Some(count) => *count = count.saturating_add(1),
            None => {
                self.rejected.insert(reason.to_owned(), 1);
            }
        }
        Validation::Reject
    }

    /// A consensus message screened out before the replica (see [`Replica::screen`]): counted
    /// under the replica's own name for the reason; the gossip verdict penalises its sender
    /// only when the reason proves misbehaviour, and never relays it.
    pub fn screened(&mut self, reason: cassia_consensus::DropReason) -> Validation {
        let verdict = self.reject(&format!("consensus_{}", reason.name()));
        if reason.proves_misbehaviour() {
            verdict
        } else {
            Validation::Ignore
        }
    }

    /// Misbehaviour the replica proved: counted, and logged compactly within the rate bound.
    pub fn misbehaviour(&mut self, evidence: &Evidence) {
        let (reason, statements) = match evidence {
            Evidence::Equivocation { first, second } => (
                "evidence_equivocation",
                vec![first.as_ref(), second.as_ref()],
            ),
            Evidence::InvalidNewView(new_view) => {
                ("evidence_invalid_new_view", vec![new_view.as_ref()])
            }
        };
        self.reject(reason);
        let (minute, logged) = &mut self.misbehaviour_logged;
        if minute.elapsed() >= std::time::Duration::from_secs(60) {
            *minute = Instant::now();
            *logged = 0;
        }
        if *logged >= MISBEHAVIOUR_LOGS_PER_MINUTE {
            return;
        }
        *logged += 1;
        let Some(signed) = statements.first() else {
            return;
        };
        let digests: Vec<String> = statements.iter().map(|m| statement_digest(m)).collect();
        tracing::warn!(
            reason,
            signer = %signed.sender.to_hex(),
            height = signed.height(),
            view = signed.view(),
            kind = ?signed.kind(),
            statements = ?digests,
            "misbehaviour proven (more this minute are only counted)"
        );
    }

    /// A block committed (already durable).
    pub fn committed(&mut self, commit: &Commit, now_ms: u64) {
        let block = &commit.block;
        let transactions = block.transactions.len();
        self.tip = Tip::of(block);
        self.metrics
            .set_tip(self.tip.height, self.tip.block_hash, self.tip.state_root);
        self.metrics.commits.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .committed_transactions
            .fetch_add(transactions as u64, Ordering::Relaxed);
        self.metrics
            .observe_commit_latency(self.height_started.elapsed().as_secs_f64());
        self.height_started = Instant::now();
        // From the leader's timestamp to this commit: how long consensus took on this block.
        let since_proposal_ms = now_ms.saturating_sub(block.header.timestamp_ms);
        tracing::info!(
            height = self.tip.height,
            hash = %self.tip.block_hash.short(),
            txs = transactions,
            since_proposal_ms,
            "committed"
        );
    }

    /// The engine's own counters.
    pub fn engine_stats(&self, stats: &cassia_engine::EngineStats) {
        self.metrics
            .invalid_proposals
            .store(stats.invalid_proposals, Ordering::Relaxed);
    }

    /// The mempool's size changed.
    pub fn mempool(&self, mempool: &Mempool) {
        self.metrics
            .mempool_size
            .store(mempool.len() as u64, Ordering::Relaxed);
    }

    /// Refreshes every gauge from the replica, the mempool and the network, and publishes the
    /// head if it changed.
    pub fn refresh(&self, replica: &Replica, mempool: &Mempool, network: &NetworkHandle) {
        self.metrics.view.store(replica.view(), Ordering::Relaxed);
        self.metrics
            .view_changes
            .store(replica.stats().view_changes, Ordering::Relaxed);
        self.mempool(mempool);
        let counters = network.counters();
        self.metrics
            .refused_connections
            .store(counters.refused_connections, Ordering::Relaxed);
        self.metrics
            .limited_connections
            .store(counters.limited_connections, Ordering::Relaxed);
        self.metrics
            .rate_limited_gossip
            .store(counters.rate_limited_messages, Ordering::Relaxed);
        self.refresh_rejections(replica);
        self.publish_head(replica, network);
    }

    /// The set of connected peers changed.
    pub fn peers_changed(&self, replica: &Replica, network: &NetworkHandle) {
        self.metrics
            .peers
            .store(network.connected_peers().len() as u64, Ordering::Relaxed);
        self.publish_head(replica, network);
    }

    /// Publishes the head if it changed (readers wake only on a change).
    fn publish_head(&self, replica: &Replica, network: &NetworkHandle) {
        let view = replica.view();
        let height = self.tip.height;
        let next = Head {
            height,
            block_hash: self.tip.block_hash,
            state_root: self.tip.state_root,
            view,
            leader: replica
                .validators()
                .leader(height.saturating_add(1), view)
                .node_key,
            peers: network
                .connected_peers()
                .iter()
                .map(ToString::to_string)
                .collect(),
        };
        self.head.send_if_modified(|current| {
            let changed = *current != next;
            if changed {
                *current = next;
            }
            changed
        });
    }

    /// Writes the rejection counts: the runtime's, plus the replica's drops by reason.
    pub fn refresh_rejections(&self, replica: &Replica) {
        let mut counts = self.rejected.clone();
        for (reason, count) in replica.stats().drops.iter() {
            // Added, not inserted: the runtime counts what it screens out under the same names.
            let total = counts
                .entry(format!("consensus_{}", reason.name()))
                .or_insert(0);
            *total = total.saturating_add(count);
        }
        self.metrics.set_rejected(counts);
    }
}

/// The digest of what `message`'s sender signed: enough to match the statement against another
/// node's log, a fixed size whatever block it carries.
fn statement_digest(message: &Message) -> String {
    Hash::of(&message.payload.signing_bytes(&message.genesis)).to_string()
}

#[cfg(test)]
mod tests {
    use cassia_consensus::Payload;
    use cassia_crypto::Keypair;
    use cassia_ledger::{Vote, VoteKind};

    use super::*;

    fn vote(key: &Keypair, block: u8) -> Box<Message> {
        let vote = Vote {
            kind: VoteKind::Prepare,
            height: 7,
            view: 0,
            block_hash: Hash([block; 32]),
        };
        let chain = cassia_crypto::GenesisHash(Hash::of(b"t"));
        Box::new(Message::sign(&chain, key, Payload::Vote(vote)))
    }

    #[test]
    fn misbehaviour_is_all_counted_and_logged_within_the_bound() {
        let tip = Tip {
            height: 0,
            block_hash: Hash([0; 32]),
            state_root: Hash([0; 32]),
            timestamp_ms: 0,
        };
        let head = tokio::sync::watch::channel(crate::head::Head {
            height: 0,
            block_hash: tip.block_hash,
            state_root: tip.state_root,
            view: 0,
            leader: Keypair::from_secret([1; 32]).public(),
            peers: Vec::new(),
        })
        .0;
        let mut telemetry = Telemetry::new(Arc::new(Metrics::default()), head, tip);
        let key = Keypair::from_secret([2; 32]);
        let evidence = Evidence::Equivocation {
            first: vote(&key, 1),
            second: vote(&key, 2),
        };
        for _ in 0..25 {
            telemetry.misbehaviour(&evidence);
        }
        assert_eq!(telemetry.rejected.get("evidence_equivocation"), Some(&25));
        assert_eq!(
            telemetry.misbehaviour_logged.1,
            MISBEHAVIOUR_LOGS_PER_MINUTE
        );
        assert_eq!(
            statement_digest(&vote(&key, 1)).len(),
            64,
            "a fixed-size digest"
        );
    }
}
