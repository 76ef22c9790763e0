//! The journal of local submissions: transactions this node told its own clients it admitted
//! (`Submit` answers "admitted") and that have not left its mempool yet. The mempool lives in
//! memory, so without the journal a node killed between its answer and the block that carries
//! the transaction would lose what it acknowledged. The node writes each admitted batch here
//! (one synced write) before it answers, replays the journal into its mempool when it starts,
//! and forgets entries once their transactions have left the mempool (committed or expired).
//!
//! Entries are keyed by a sequence number the node assigns in admission order, so a replay
//! admits them in the order they were first admitted. The journal never holds more than the
//! mempool can (the node only journals what its mempool admitted, and forgets what left it).

use cassia_ledger::SignedTransaction;
use rocksdb::{IteratorMode, WriteBatch};

use crate::tables::{Submissions, Table};
use crate::{Database, StorageError};

impl Database {
    /// Journals admitted local submissions under consecutive sequence numbers from `first`,
    /// in one synced write: once this returns `Ok` they survive a crash.
    pub fn journal_submissions(
        &self,
        first: u64,
        transactions: &[SignedTransaction],
    ) -> Result<(), StorageError> {
        if transactions.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for (sequence, tx) in (first..).zip(transactions) {
            self.put::<Submissions>(&mut batch, &sequence, tx);
        }
        self.write(batch)
    }

    /// Forgets journal entries by sequence number (their transactions left the mempool). A
    /// forgotten entry that a crash brings back is harmless: its replay is refused as committed
    /// or expired, and forgotten again.
    pub fn forget_submissions(&self, sequences: &[u64]) -> Result<(), StorageError> {
        if sequences.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for sequence in sequences {
            batch.delete_cf(
                self.cf(Submissions::NAME),
                Submissions::encode_key(sequence),
            );
        }
        self.write(batch)
    }

    /// The journal in sequence order, at most `limit` entries (the replay reads no more than
    /// the mempool can hold).
    pub fn journaled_submissions(
        &self,
        limit: usize,
    ) -> Result<Vec<(u64, SignedTransaction)>, StorageError> {
        let iterator = self
            .db()
            .iterator_cf(self.cf(Submissions::NAME), IteratorMode::Start);
        let mut out = Vec::new();
        for entry in iterator.take(limit) {
            let (raw_key, raw_value) = entry?;
            let sequence = <[u8; 8]>::try_from(raw_key.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| {
                    StorageError::Corrupt(format!(
                        "{}: key of {} bytes, expected 8",
                        Submissions::NAME,
                        raw_key.len()
                    ))
                })?;
            out.push((sequence, Submissions::decode_value(&raw_value)?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use cassia_crypto::{GenesisHash, Hash, Keypair};
    use cassia_ledger::{Operation, Transaction};

    use super::*;

    fn tx(nonce: u64) -> SignedTransaction {
        let key = Keypair::from_secret([7; 32]);
        Transaction {
            chain_id: "test".into(),
            signer: key.public(),
            nonce,
            valid_until: 100,
            op: Operation::Put {
                namespace: "n".into(),
                key: b"k".to_vec(),
                value: nonce.to_be_bytes().to_vec(),
            },
        }
        .sign(&GenesisHash(Hash::of(b"genesis")), &key)
    }

    #[test]
    fn the_journal_survives_reopening_in_order_and_forgets_what_it_is_told() {
        let dir = tempfile::tempdir().expect("temp dir");
        let genesis = Hash::of(b"genesis");
        let database = Database::open(dir.path(), &genesis).expect("opens");
        database
            .journal_submissions(1, &[tx(1), tx(2), tx(3)])
            .expect("journals");
        database
            .journal_submissions(300, &[tx(300)])
            .expect("journals");
        database.forget_submissions(&[2, 99]).expect("forgets");
        drop(database);

        let database = Database::open(dir.path(), &genesis).expect("reopens");
        let journal = database.journaled_submissions(10).expect("reads");
        let sequences: Vec<u64> = journal.iter().map(|(s, _)| *s).collect();
        assert_eq!(sequences, [1, 3, 300], "in sequence order, 2 forgotten");
        assert_eq!(journal[0].1, tx(1));
        assert_eq!(database.journaled_submissions(2).expect("reads").len(), 2);
    }
}
