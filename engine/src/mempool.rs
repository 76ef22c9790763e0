//! Where pending transactions wait for a block: a small trait and a bounded in-memory pool.

use std::collections::BTreeMap;

use cassia_crypto::Hash;
use cassia_ledger::{Rejection, SignedTransaction, codec};

/// Pending transactions, as the engine sees them.
pub trait Mempool {
    /// Up to `max_txs` transactions whose encodings total at most `max_bytes`, in the order they
    /// should execute. They stay in the pool until [`Mempool::remove`]d.
    fn take_for_block(&mut self, max_txs: usize, max_bytes: u64) -> Vec<SignedTransaction>;
    /// Forgets transactions that committed or can never be included.
    fn remove(&mut self, ids: &[Hash]);
    /// Whether the pool already checked the signature of exactly `tx` (same body, same
    /// signature bytes) when it admitted it. Block building and validation then skip it, so a
    /// node verifies each signature once. Comparing the signature bytes matters: a block may
    /// carry the same body with other signature bytes, which must be checked (the block commits
    /// to them, and evidence packages prove them).
    fn verified(&self, tx: &SignedTransaction) -> bool {
        let _ = tx;
        false
    }
}

/// How many transactions a [`MemoryMempool`] holds by default. When full, new ones are refused
/// with [`Rejection::MempoolFull`] (clients retry later).
pub const DEFAULT_MEMPOOL_CAPACITY: usize = 100_000;

/// A bounded first-come-first-served pool. Signatures and admissibility are checked by whoever
/// inserts (the node's API); the engine re-checks when it builds a block.
#[derive(Clone, Debug)]
pub struct MemoryMempool {
    capacity: usize,
    next_sequence: u64,
    by_sequence: BTreeMap<u64, (Hash, SignedTransaction)>,
    by_id: BTreeMap<Hash, u64>,
}

impl MemoryMempool {
    /// A pool holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> MemoryMempool {
        MemoryMempool {
            capacity,
            next_sequence: 0,
            by_sequence: BTreeMap::new(),
            by_id: BTreeMap::new(),
        }
    }

    /// Adds `tx`; refuses duplicates and, when full, everything.
    pub fn insert(&mut self, tx: SignedTransaction) -> Result<Hash, Rejection> {
        let id = tx.id();
        if self.by_id.contains_key(&id) {
            return Err(Rejection::Duplicate);
        }
        if self.by_id.len() >= self.capacity {
            return Err(Rejection::MempoolFull);
        }
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.saturating_add(1);
        self.by_sequence.insert(sequence, (id, tx));
        self.by_id.insert(id, sequence);
        Ok(id)
    }

    /// Transactions held.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

impl Default for MemoryMempool {
    fn default() -> Self {
        MemoryMempool::new(DEFAULT_MEMPOOL_CAPACITY)
    }
}

impl Mempool for MemoryMempool {
    fn take_for_block(&mut self, max_txs: usize, max_bytes: u64) -> Vec<SignedTransaction> {
        let mut taken = Vec::new();
        let mut bytes = 0u64;
        for (_, tx) in self.by_sequence.values() {
            let size = codec::encode(tx).len() as u64;
            if taken.len() >= max_txs || bytes.saturating_add(size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(size);
            taken.push(tx.clone());
        }
        taken
    }

    fn remove(&mut self, ids: &[Hash]) {
        for id in ids {
            if let Some(sequence) = self.by_id.remove(id) {
                self.by_sequence.remove(&sequence);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cassia_crypto::{Hash, Keypair};
    use cassia_ledger::{Operation, Transaction};

    use super::*;

    fn tx(nonce: u64) -> SignedTransaction {
        let key = Keypair::from_secret([3; 32]);
        let op = Operation::Notarize {
            digest: Hash::of(&nonce.to_le_bytes()),
            metadata: String::new(),
            co_signers: Vec::new(),
        };
        Transaction {
            chain_id: "t".into(),
            signer: key.public(),
            nonce,
            valid_until: 10,
            op,
        }
        .sign(&key)
    }

    #[test]
    fn the_pool_is_bounded_deduplicated_and_first_come_first_served() {
        let mut pool = MemoryMempool::new(2);
        let first = pool.insert(tx(1)).expect("room");
        assert_eq!(pool.insert(tx(1)), Err(Rejection::Duplicate));
        pool.insert(tx(2)).expect("room");
        assert_eq!(pool.insert(tx(3)), Err(Rejection::MempoolFull));
        let taken = pool.take_for_block(1, u64::MAX);
        assert_eq!(
            taken.iter().map(SignedTransaction::id).collect::<Vec<_>>(),
            vec![first]
        );
        assert!(
            pool.take_for_block(10, 10).is_empty(),
            "nothing fits in 10 bytes"
        );
        pool.remove(&[first]);
        assert_eq!(pool.len(), 1);
        pool.insert(tx(3)).expect("room again");
    }
}
