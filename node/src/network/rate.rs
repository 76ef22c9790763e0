//! Per-author gossip budgets: how much one member may publish on one topic.
//!
//! Gossip that is validly signed and in the height window costs every honest node a decode and
//! a signature check, and gossipsub relays whatever the application accepts. A member that
//! publishes far more than consensus or client traffic ever needs is cut at the first hop: each
//! (author, topic) has a token bucket of messages and of bytes, and a message over either is
//! reported `Ignore` before the application sees it, so it is neither judged nor relayed. The
//! author is not penalised: an honest node may burst (a leader catching up proposes blocks back
//! to back), and the bucket refills.
//!
//! The budgets are far above what an honest member sends. An honest validator signs a handful
//! of statements per height (proposal, prepare, commit, at most one view change and new view per
//! view, a relayed certificate), and blocks are at least `block_interval_ms` apart; its node
//! gossips client transactions in batches every `GOSSIP_FLUSH_INTERVAL` (50 ms).
//!
//! Memory is bounded: authors are members (the swarm task drops gossip from anyone else first),
//! and a bucket is forgotten when its author leaves the membership.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

use super::GossipTopic;

/// Messages per second one author may publish on the consensus topic, sustained.
pub const CONSENSUS_MESSAGES_PER_SECOND: u32 = 200;
/// Messages per second one author may publish on the transactions topic, sustained.
pub const TRANSACTION_MESSAGES_PER_SECOND: u32 = 100;
/// How many seconds of budget a bucket holds: the burst an author may send at once.
pub const BURST_SECONDS: u32 = 2;
/// Bytes per second one author may publish on one topic, in units of the largest gossip message
/// (`max_message_bytes`): a leader proposes at most a block or two a second.
pub const LARGEST_MESSAGES_PER_SECOND: u32 = 2;

/// One token bucket: `capacity` tokens, refilled at `rate` per second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    rate: f64,
    refilled: Instant,
}

impl Bucket {
    fn full(rate: f64, now: Instant) -> Bucket {
        let capacity = rate * f64::from(BURST_SECONDS);
        Bucket {
            tokens: capacity,
            capacity,
            rate,
            refilled: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.refilled = now;
    }
}

/// The message and byte buckets of one (author, topic).
#[derive(Debug, Clone, Copy)]
struct Budget {
    messages: Bucket,
    bytes: Bucket,
}

/// Every member's budgets, per topic.
#[derive(Debug)]
pub struct GossipBudgets {
    max_message_bytes: usize,
    budgets: HashMap<(PeerId, GossipTopic), Budget>,
}

impl GossipBudgets {
    /// Budgets for gossip of at most `max_message_bytes` a message.
    pub fn new(max_message_bytes: usize) -> GossipBudgets {
        GossipBudgets {
            max_message_bytes,
            budgets: HashMap::new(),
        }
    }

    /// Whether `author` may publish a message of `bytes` on `topic` at `now`; if so, it is
    /// charged for it. A refused message costs nothing.
    pub fn allow(
        &mut self,
        author: PeerId,
        topic: GossipTopic,
        bytes: usize,
        now: Instant,
    ) -> bool {
        let max_message_bytes = self.max_message_bytes as f64;
        let budget = self.budgets.entry((author, topic)).or_insert_with(|| {
            let messages = match topic {
                GossipTopic::Consensus => CONSENSUS_MESSAGES_PER_SECOND,
                GossipTopic::Transactions => TRANSACTION_MESSAGES_PER_SECOND,
            };
            Budget {
                messages: Bucket::full(f64::from(messages), now),
                bytes: Bucket::full(
                    max_message_bytes * f64::from(LARGEST_MESSAGES_PER_SECOND),
                    now,
                ),
            }
        });
        budget.messages.refill(now);
        budget.bytes.refill(now);
        let size = bytes as f64;
        if budget.messages.tokens < 1.0 || budget.bytes.tokens < size {
            return false;
        }
        budget.messages.tokens -= 1.0;
        budget.bytes.tokens -= size;
        true
    }

    /// Forgets the budgets of authors that are no longer members.
    pub fn retain_members(&mut self, is_member: impl Fn(&PeerId) -> bool) {
        self.budgets.retain(|(author, _), _| is_member(author));
    }

    /// How long an author that has spent its whole message budget waits for one message.
    pub fn refill_interval(topic: GossipTopic) -> Duration {
        let rate = match topic {
            GossipTopic::Consensus => CONSENSUS_MESSAGES_PER_SECOND,
            GossipTopic::Transactions => TRANSACTION_MESSAGES_PER_SECOND,
        };
        Duration::from_secs(1) / rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_and_each_author_and_topic_apart() {
        let mut budgets = GossipBudgets::new(1 << 20);
        let (a, b) = (PeerId::random(), PeerId::random());
        let start = Instant::now();
        let burst = (CONSENSUS_MESSAGES_PER_SECOND * BURST_SECONDS) as usize;
        let passed = (0..burst + 50)
            .filter(|_| budgets.allow(a, GossipTopic::Consensus, 100, start))
            .count();
        assert_eq!(passed, burst, "the burst, then nothing at the same instant");
        assert!(
            budgets.allow(b, GossipTopic::Consensus, 100, start),
            "another author has its own budget"
        );
        assert!(
            budgets.allow(a, GossipTopic::Transactions, 100, start),
            "another topic has its own budget"
        );
        let later = start + GossipBudgets::refill_interval(GossipTopic::Consensus);
        assert!(budgets.allow(a, GossipTopic::Consensus, 100, later));
        assert!(!budgets.allow(a, GossipTopic::Consensus, 100, later));
        // A second's budget after a long quiet spell is the burst, not more.
        let quiet = later + Duration::from_secs(3_600);
        let passed = (0..burst + 50)
            .filter(|_| budgets.allow(a, GossipTopic::Consensus, 100, quiet))
            .count();
        assert_eq!(passed, burst);
    }

    #[test]
    fn bytes_are_budgeted_too_and_departed_members_are_forgotten() {
        let largest = 1 << 20;
        let mut budgets = GossipBudgets::new(largest);
        let a = PeerId::random();
        let now = Instant::now();
        let largest_burst = (LARGEST_MESSAGES_PER_SECOND * BURST_SECONDS) as usize;
        let passed = (0..largest_burst + 3)
            .filter(|_| budgets.allow(a, GossipTopic::Consensus, largest, now))
            .count();
        assert_eq!(passed, largest_burst);
        assert!(
            !budgets.allow(a, GossipTopic::Consensus, 100, now),
            "the byte budget is spent"
        );
        budgets.retain_members(|peer| *peer != a);
        assert!(budgets.budgets.is_empty());
        assert!(budgets.allow(a, GossipTopic::Consensus, largest, now));
    }
}
