//! The journal of local submissions (the store's side is `cassia_storage::submissions`): what
//! makes a `Submit` answer durable. The mempool lives in memory; the journal keeps, in the
//! store, each transaction this node told a client it admitted, until that transaction has left
//! the mempool (committed, or expired).
//!
//! - **Before the answer.** Each admitted local batch is journaled in one synced write, then
//!   its submitters are answered ([`super::admission`]).
//! - **At start.** The journal is replayed into the mempool, in admission order, and what is
//!   admitted again is gossiped; what is refused (it committed meanwhile, or expired) is
//!   forgotten.
//! - **After a reconnection.** A publish made while this node had no peers (a partition)
//!   reached no one, and its transactions would wait for this node's own turn to propose. So
//!   when a member connects, what the journal still holds is gossiped again, once the
//!   connection has had [`REGOSSIP_DELAY`] to join the gossip mesh, and at most once per
//!   [`REGOSSIP_DELAY`] however often peers come and go.
//! - **Forgetting.** Every [`SWEEP_INTERVAL`], entries whose transaction is no longer in the
//!   mempool are deleted in one write. One rule covers commits and expiry alike, and a deletion
//!   a crash undoes is harmless: the replay refuses that transaction and forgets it again.
//!
//! **Bound.** Only transactions the mempool admitted are journaled, and they are forgotten once
//! they leave it, so the journal holds at most what the mempool can (plus one sweep interval of
//! transactions that have just left).

use std::collections::HashMap;
use std::time::Duration;

use cassia_crypto::Hash;
use cassia_engine::Mempool;
use cassia_ledger::SignedTransaction;
use cassia_storage::{Database, StorageError};
use tokio::time::Instant;

/// How often entries whose transactions left the mempool are deleted.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// How long after a member connects the journal is gossiped again, and the least time between
/// two such gossips.
pub const REGOSSIP_DELAY: Duration = Duration::from_secs(1);

/// The journal's in-memory index: which pending transactions are journaled, under which
/// sequence number.
pub struct Journal {
    entries: HashMap<Hash, u64>,
    next_sequence: u64,
    next_sweep: Instant,
    regossip_at: Option<Instant>,
}

impl Journal {
    /// Reads the journal from `database`, at most `limit` entries (the mempool's capacity):
    /// the journal, empty until [`Journal::replayed`] is told what was admitted again, and the
    /// transactions to replay in order.
    pub fn open(
        database: &Database,
        limit: usize,
    ) -> Result<(Journal, Vec<(u64, SignedTransaction)>), StorageError> {
        let journaled = database.journaled_submissions(limit)?;
        let next_sequence = journaled.last().map_or(0, |(sequence, _)| sequence + 1);
        let journal = Journal {
            entries: HashMap::new(),
            next_sequence,
            next_sweep: Instant::now() + SWEEP_INTERVAL,
            regossip_at: None,
        };
        Ok((journal, journaled))
    }

    /// The replay's outcome: `kept` were admitted again and stay journaled, `refused` are
    /// forgotten.
    pub fn replayed(
        &mut self,
        database: &Database,
        kept: Vec<(u64, Hash)>,
        refused: &[u64],
    ) -> Result<(), StorageError> {
        self.entries.extend(kept.into_iter().map(|(s, id)| (id, s)));
        database.forget_submissions(refused)
    }

    /// Journals admitted local submissions in one synced write. When this returns `Ok` they
    /// survive a crash and their submitters may be told they were admitted.
    pub fn record(
        &mut self,
        database: &Database,
        admitted: &[SignedTransaction],
    ) -> Result<(), StorageError> {
        database.journal_submissions(self.next_sequence, admitted)?;
        for tx in admitted {
            self.entries.insert(tx.id(), self.next_sequence);
            self.next_sequence += 1;
        }
        Ok(())
    }

    /// Transactions journaled and still pending.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is journaled.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A member connected: gossip the journal again soon (see the module docs).
    /// Connections coming up while one is scheduled join it, so a flapping peer cannot make
    /// re-gossips more frequent than one per [`REGOSSIP_DELAY`].
    pub fn peer_connected(&mut self, now: Instant) {
        self.regossip_at.get_or_insert(now + REGOSSIP_DELAY);
    }

    /// The flush tick: deletes entries whose transactions left `mempool` when a sweep is due,
    /// and returns what to gossip again when a re-gossip is due (the pending ones, in the order
    /// they were admitted).
    pub fn on_tick(
        &mut self,
        database: &Database,
        mempool: &Mempool,
        now: Instant,
    ) -> Result<Vec<SignedTransaction>, StorageError> {
        if now >= self.next_sweep {
            self.next_sweep = now + SWEEP_INTERVAL;
            let gone: Vec<(Hash, u64)> = self
                .entries
                .iter()
                .filter(|(id, _)| !mempool.contains(id))
                .map(|(id, sequence)| (*id, *sequence))
                .collect();
            if !gone.is_empty() {
                let sequences: Vec<u64> = gone.iter().map(|(_, sequence)| *sequence).collect();
                database.forget_submissions(&sequences)?;
                for (id, _) in gone {
                    self.entries.remove(&id);
                }
            }
        }
        match self.regossip_at {
            Some(at) if now >= at => {
                self.regossip_at = None;
                let mut pending: Vec<(u64, &Hash)> = self
                    .entries
                    .iter()
                    .map(|(id, sequence)| (*sequence, id))
                    .collect();
                pending.sort_unstable();
                Ok(pending
                    .into_iter()
                    .filter_map(|(_, id)| mempool.get(id).cloned())
                    .collect())
            }
            _ => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use cassia_crypto::{GenesisHash, Keypair};
    use cassia_engine::{MempoolLimits, SignatureCheck};
    use cassia_ledger::{Operation, Parameters, Transaction};

    use super::*;

    fn genesis() -> GenesisHash {
        GenesisHash(Hash::of(b"journal test"))
    }

    fn tx(nonce: u64) -> SignedTransaction {
        let key = Keypair::from_secret([9; 32]);
        Transaction {
            chain_id: "c".into(),
            signer: key.public(),
            nonce,
            valid_until: 100,
            op: Operation::Put {
                namespace: "n".into(),
                key: nonce.to_be_bytes().to_vec(),
                value: vec![1],
            },
        }
        .sign(&genesis(), &key)
    }

    fn mempool_with(transactions: &[SignedTransaction]) -> Mempool {
        let mut mempool = Mempool::new(
            "c".into(),
            genesis(),
            Parameters::default(),
            MempoolLimits::default(),
            1,
        );
        for tx in transactions {
            mempool
                .admit(tx.clone(), |_| Ok(false), SignatureCheck::Unchecked)
                .expect("admitted");
        }
        mempool
    }

    #[test]
    fn entries_are_forgotten_once_their_transactions_leave_the_mempool() {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = Database::open(dir.path(), &genesis().0).expect("opens");
        let (mut journal, replay) = Journal::open(&database, 100).expect("reads");
        assert!(replay.is_empty() && journal.is_empty());
        let (a, b, c) = (tx(1), tx(2), tx(3));
        journal
            .record(&database, &[a.clone(), b.clone(), c.clone()])
            .expect("journals");
        assert_eq!(journal.len(), 3);

        // b committed (or expired): it left the mempool.
        let mut mempool = mempool_with(&[a.clone(), b.clone(), c.clone()]);
        mempool.remove(&[b.id()]);
        let start = Instant::now();
        journal.on_tick(&database, &mempool, start).expect("ticks");
        assert_eq!(journal.len(), 3, "no sweep before the interval");
        journal
            .on_tick(&database, &mempool, start + SWEEP_INTERVAL * 2)
            .expect("ticks");
        assert_eq!(journal.len(), 2);

        // What a restart replays: a and c, in the order admitted, under their sequences.
        let (journal, replay) = Journal::open(&database, 100).expect("reads");
        let replayed: Vec<(u64, Hash)> = replay.iter().map(|(s, tx)| (*s, tx.id())).collect();
        assert_eq!(replayed, [(0, a.id()), (2, c.id())]);
        assert_eq!(
            journal.next_sequence, 3,
            "new entries never reuse a live sequence"
        );
    }

    #[test]
    fn a_connection_regossips_the_pending_entries_once_after_a_delay() {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = Database::open(dir.path(), &genesis().0).expect("opens");
        let (mut journal, _) = Journal::open(&database, 100).expect("reads");
        let pending: Vec<SignedTransaction> = (10..15).map(tx).collect();
        journal.record(&database, &pending).expect("journals");
        let mempool = mempool_with(&pending);
        let tick = |journal: &mut Journal, at: Instant| {
            journal.on_tick(&database, &mempool, at).expect("ticks")
        };

        let start = Instant::now();
        assert!(
            tick(&mut journal, start).is_empty(),
            "nothing before a connection"
        );
        journal.peer_connected(start);
        // Several peers coming up at once schedule one re-gossip.
        journal.peer_connected(start + REGOSSIP_DELAY / 2);
        assert!(tick(&mut journal, start + REGOSSIP_DELAY / 2).is_empty());
        let again = tick(&mut journal, start + REGOSSIP_DELAY);
        assert_eq!(again, pending, "every pending entry, in admission order");
        assert!(
            tick(&mut journal, start + REGOSSIP_DELAY * 3 / 2).is_empty(),
            "once"
        );

        // A flapping peer cannot make it more frequent than once per delay.
        journal.peer_connected(start + REGOSSIP_DELAY * 3 / 2);
        assert!(tick(&mut journal, start + REGOSSIP_DELAY * 19 / 10).is_empty());
        assert_eq!(tick(&mut journal, start + REGOSSIP_DELAY * 5 / 2), pending);
    }
}
