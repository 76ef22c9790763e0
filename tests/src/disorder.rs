//! Duplication and reordering of an honest node's consensus messages, as a lossy network and
//! gossip's many paths deliver them (issue 14, part 6): `test-node --disorder PERCENT`.
//!
//! The fault suite's TCP proxy ([`crate::proxy`]) can delay, block and hold bytes, but cannot
//! duplicate or reorder messages: every connection is a Noise session, and a repeated or moved
//! byte only breaks it. So the disorder is made one layer up, on what the node publishes: each
//! message it signs (already durable, so nothing here changes what it has committed to) is, by
//! independent draws of `PERCENT` in a hundred,
//!
//! - **held back** for [`HOLD_MS`] (a random span within it) and published then, so that the
//!   messages it signs meanwhile overtake it;
//! - **published twice** at once;
//! - **published again late**, after [`LATE_MS`], when its height may long be decided (a stale
//!   copy, as a peer that reconnects or a slow path delivers it).
//!
//! Every publish is a new gossip message (its own sequence number), so receivers see the copies
//! as gossip does not dedupe them; the node's replica must ignore what it has already counted.
//! Bounded: the queue to the publishing task and the task's schedule hold at most
//! [`MAX_WAITING`] messages each; past that a message is published at once, unheld.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cassia_consensus::Message;
use cassia_node::interceptor::{Interceptor, RunningNode};
use cassia_node::network::{GossipTopic, NetworkHandle, PublishError};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::rng::Rng;

/// How long a held-back message waits, in milliseconds (drawn uniformly).
pub const HOLD_MS: Range<u64> = 20..400;

/// How long before a late copy is published again, in milliseconds (drawn uniformly).
pub const LATE_MS: Range<u64> = 1_000..4_000;

/// Most messages waiting to be published (held back or late copies) in the queue to the
/// publishing task, and again in its schedule.
pub const MAX_WAITING: usize = 512;

/// How often the task logs what it has done (`disorder: held=… duplicated=… late=…`).
pub const REPORT_EVERY: Duration = Duration::from_secs(2);

/// What was done to the node's messages so far.
#[derive(Debug, Default)]
pub struct DisorderCounts {
    /// Messages held back (overtaken by later ones).
    pub held: AtomicU64,
    /// Messages published twice at once.
    pub duplicated: AtomicU64,
    /// Late copies published.
    pub late: AtomicU64,
}

/// The interceptor: duplicates and reorders what the node publishes.
pub struct Disorder {
    percent: u64,
    rng: Rng,
    counts: Arc<DisorderCounts>,
    /// To the publishing task; `None` before [`Interceptor::started`].
    waiting: Option<mpsc::Sender<(Instant, Message)>>,
}

impl Disorder {
    /// Disorder with each draw succeeding `percent` times in a hundred (clamped to 100).
    pub fn new(percent: u8, seed: u64) -> Disorder {
        Disorder {
            percent: u64::from(percent.min(100)),
            rng: Rng::new(seed),
            counts: Arc::default(),
            waiting: None,
        }
    }

    /// What it has done so far.
    pub fn counts(&self) -> Arc<DisorderCounts> {
        Arc::clone(&self.counts)
    }

    fn draw(&mut self) -> bool {
        self.rng.below(100) < self.percent
    }

    fn after(&mut self, range: Range<u64>) -> Instant {
        let ms = range.start + self.rng.below(range.end - range.start);
        Instant::now() + Duration::from_millis(ms)
    }

    /// Queues `message` for `at`; gives it back if the queue is full or not running.
    fn wait(&mut self, at: Instant, message: Message) -> Option<Message> {
        let Some(waiting) = &self.waiting else {
            return Some(message);
        };
        match waiting.try_send((at, message)) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full((_, message)))
            | Err(mpsc::error::TrySendError::Closed((_, message))) => Some(message),
        }
    }
}

impl Interceptor for Disorder {
    fn started(&mut self, node: &RunningNode) {
        let (sender, receiver) = mpsc::channel(MAX_WAITING);
        self.waiting = Some(sender);
        tokio::spawn(publish_when_due(
            node.network.clone(),
            receiver,
            Arc::clone(&self.counts),
        ));
    }

    fn outgoing_consensus(&mut self, message: Message) -> Vec<Message> {
        let mut out = Vec::with_capacity(2);
        if self.draw() {
            let at = self.after(HOLD_MS);
            match self.wait(at, message.clone()) {
                None => {
                    self.counts.held.fetch_add(1, Ordering::Relaxed);
                }
                Some(unheld) => out.push(unheld),
            }
        } else {
            out.push(message.clone());
        }
        if self.draw() {
            out.push(message.clone());
            self.counts.duplicated.fetch_add(1, Ordering::Relaxed);
        }
        if self.draw() {
            let at = self.after(LATE_MS);
            // A late copy that finds the queue full is dropped: the message itself went out.
            let _ = self.wait(at, message);
        }
        out
    }
}

/// A queued message: its due time, then its arrival order (so equal times keep their order),
/// its encoding, and whether it is a late copy.
type Due = (Instant, u64, Vec<u8>, bool);

/// Publishes each queued message when it is due; ends when the node's network stops.
async fn publish_when_due(
    network: NetworkHandle,
    mut queued: mpsc::Receiver<(Instant, Message)>,
    counts: Arc<DisorderCounts>,
) {
    let mut due: BinaryHeap<Reverse<Due>> = BinaryHeap::new();
    let mut arrivals = 0u64;
    let mut report = tokio::time::interval(REPORT_EVERY);
    loop {
        let next = due.peek().map(|Reverse((at, ..))| *at);
        tokio::select! {
            // A full schedule stops taking more: the queue then fills, and the interceptor
            // publishes at once what it would have held.
            arrived = queued.recv(), if due.len() < MAX_WAITING => {
                let Some((at, message)) = arrived else { return };
                arrivals += 1;
                // A late copy is one due after the longest hold.
                let late = at > Instant::now() + Duration::from_millis(HOLD_MS.end);
                due.push(Reverse((at, arrivals, message.to_bytes(), late)));
            }
            () = sleep_until(next) => {
                while let Some(Reverse((at, ..))) = due.peek() {
                    if *at > Instant::now() {
                        break;
                    }
                    let Some(Reverse((_, _, bytes, late))) = due.pop() else { break };
                    // Only a stopped network ends the task; a copy refused (no peer connected
                    // in a partition, say) is lost, as on a real network.
                    match network.publish(GossipTopic::Consensus, bytes).await {
                        Err(PublishError::Stopped) => return,
                        Ok(_) if late => {
                            counts.late.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) | Err(_) => {}
                    }
                }
            }
            _ = report.tick() => tracing::warn!(
                held = counts.held.load(Ordering::Relaxed),
                duplicated = counts.duplicated.load(Ordering::Relaxed),
                late = counts.late.load(Ordering::Relaxed),
                "disorder: messages held back, published twice and published again late"
            ),
        }
    }
}

/// Sleeps until `at`, or forever if nothing waits.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use cassia_consensus::Payload;
    use cassia_crypto::{GenesisHash, Hash, Keypair};
    use cassia_ledger::{Vote, VoteKind};

    use super::*;

    fn vote() -> Message {
        let payload = Payload::Vote(Vote {
            kind: VoteKind::Prepare,
            height: 7,
            view: 0,
            block_hash: Hash::of(b"block"),
        });
        Message::sign(
            &GenesisHash(Hash::of(b"chain")),
            &Keypair::from_secret([3; 32]),
            payload,
        )
    }

    #[tokio::test]
    async fn at_a_hundred_percent_a_message_is_held_duplicated_and_copied_late() {
        let mut disorder = Disorder::new(100, 1);
        let (sender, mut queued) = mpsc::channel(MAX_WAITING);
        disorder.waiting = Some(sender);
        let now = Instant::now();
        let out = disorder.outgoing_consensus(vote());
        // The message itself is held; its duplicate goes at once.
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to_bytes(), vote().to_bytes());
        let (held_until, held) = queued.try_recv().expect("held back");
        let (late_at, late) = queued.try_recv().expect("a late copy");
        assert_eq!(held.to_bytes(), vote().to_bytes());
        assert_eq!(late.to_bytes(), vote().to_bytes());
        assert!(held_until >= now + Duration::from_millis(HOLD_MS.start));
        assert!(held_until < Instant::now() + Duration::from_millis(HOLD_MS.end));
        assert!(late_at >= now + Duration::from_millis(LATE_MS.start));
        let counts = disorder.counts();
        assert_eq!(counts.held.load(Ordering::Relaxed), 1);
        assert_eq!(counts.duplicated.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_full_queue_sends_the_message_at_once_instead_of_dropping_it() {
        let mut disorder = Disorder::new(100, 1);
        let (sender, _queued) = mpsc::channel(1);
        disorder.waiting = Some(sender);
        let _ = disorder.outgoing_consensus(vote());
        // The queue is full now: the message is sent unheld (and duplicated).
        let out = disorder.outgoing_consensus(vote());
        assert_eq!(out.len(), 2);
        assert_eq!(disorder.counts().held.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn nothing_is_disordered_at_zero_percent_and_everything_at_a_hundred() {
        let mut never = Disorder::new(0, 1);
        let mut always = Disorder::new(100, 1);
        for _ in 0..100 {
            assert!(!never.draw());
            assert!(always.draw());
        }
        let mut some = Disorder::new(30, 7);
        let hits = (0..10_000).filter(|_| some.draw()).count();
        assert!((2_500..3_500).contains(&hits), "{hits} of 10000 at 30%");
    }
}
