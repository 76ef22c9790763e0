//! The mempool: where admitted transactions wait for a block. One pure type, used by the node
//! and by the deterministic simulator alike, so admission is simulated too.
//!
//! A transaction is admitted only if it is well formed for this chain and the next height (chain
//! id, `valid_until` window, operation limits, size, all under the parameters in force at that
//! height), its signature verifies, and its id is neither pending nor committed. The pool is
//! bounded by count and by bytes ([`MempoolLimits`]); when either is reached new transactions get
//! [`Rejection::MempoolFull`] and nothing already admitted is evicted (a client's acknowledged
//! submission is never silently dropped, except when it expires). Committed transactions leave
//! on commit, expired ones on each new height ([`Mempool::advance_to`]).
//!
//! Who may submit (the permission rule) and whether an id has committed are the store's to
//! answer: [`crate::Engine::admit`] asks both, then hands the transaction here.

use std::collections::BTreeMap;

use cassia_crypto::{GenesisHash, Hash};
use cassia_ledger::execution::{BlockContext, check_admissible};
use cassia_ledger::{Height, Parameters, Rejection, SignedTransaction, codec};

/// The pool's bounds (`[mempool]` in a node's config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolLimits {
    /// Most transactions held.
    pub max_transactions: usize,
    /// Most encoded bytes held.
    pub max_bytes: usize,
}

impl Default for MempoolLimits {
    /// The node's documented defaults: 50,000 transactions, 64 MiB.
    fn default() -> Self {
        MempoolLimits {
            max_transactions: 50_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Clone, Debug)]
struct Pending {
    tx: SignedTransaction,
    size: usize,
}

/// Pending transactions, first come first served.
#[derive(Clone, Debug)]
pub struct Mempool {
    chain_id: String,
    genesis: GenesisHash,
    parameters: Parameters,
    limits: MempoolLimits,
    /// Next height a block will have; admission checks `valid_until` against it.
    next_height: Height,
    next_sequence: u64,
    by_sequence: BTreeMap<u64, Hash>,
    by_id: BTreeMap<Hash, (u64, Pending)>,
    bytes: usize,
}

/// Whether a transaction's signature was already verified before admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Verified by the caller (e.g. with its whole gossip batch, in one batch verification).
    Verified,
    /// Not yet: admission verifies it.
    Unchecked,
}

impl Mempool {
    /// An empty pool for the chain `chain_id` with genesis `genesis`, admitting for
    /// `next_height` under `parameters` (those in force at that height).
    pub fn new(
        chain_id: String,
        genesis: GenesisHash,
        parameters: Parameters,
        limits: MempoolLimits,
        next_height: Height,
    ) -> Self {
        Mempool {
            chain_id,
            genesis,
            parameters,
            limits,
            next_height,
            next_sequence: 0,
            by_sequence: BTreeMap::new(),
            by_id: BTreeMap::new(),
            bytes: 0,
        }
    }

    /// Admits `tx` after every check, or says why not. `committed` tells whether an id has
    /// already committed (the store's transaction index; its error is the caller's to report).
    /// `signature` says whether the caller already verified the signature (in a batch);
    /// otherwise it is verified here.
    pub fn admit(
        &mut self,
        tx: SignedTransaction,
        committed: impl FnOnce(&Hash) -> Result<bool, Rejection>,
        signature: SignatureCheck,
    ) -> Result<Hash, Rejection> {
        let context = BlockContext {
            chain_id: &self.chain_id,
            genesis: &self.genesis,
            height: self.next_height,
            parameters: &self.parameters,
        };
        check_admissible(&context, &tx)?;
        let id = tx.id();
        if self.by_id.contains_key(&id) || committed(&id)? {
            return Err(Rejection::Duplicate);
        }
        let size = codec::encode(&tx).len();
        if self.by_id.len() >= self.limits.max_transactions
            || self.bytes.saturating_add(size) > self.limits.max_bytes
        {
            return Err(Rejection::MempoolFull);
        }
        if signature == SignatureCheck::Unchecked {
            tx.verify_signature(&self.genesis)
                .map_err(|_| Rejection::BadSignature)?;
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.by_sequence.insert(sequence, id);
        self.by_id.insert(id, (sequence, Pending { tx, size }));
        self.bytes += size;
        Ok(id)
    }

    /// Whether `id` is pending.
    pub fn contains(&self, id: &Hash) -> bool {
        self.by_id.contains_key(id)
    }

    /// The pool's bounds.
    pub fn limits(&self) -> MempoolLimits {
        self.limits
    }

    /// The pending transaction `id`, if it is pending.
    pub fn get(&self, id: &Hash) -> Option<&SignedTransaction> {
        self.by_id.get(id).map(|(_, pending)| &pending.tx)
    }

    /// Pending transactions.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Encoded bytes pending.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The chain moved to `next_height`, where `parameters` are in force: later admissions are
    /// judged under them, and what can no longer commit is dropped.
    pub fn advance_to(&mut self, next_height: Height, parameters: &Parameters) {
        self.next_height = next_height;
        if self.parameters != *parameters {
            self.parameters = parameters.clone();
        }
        let expired: Vec<Hash> = self
            .by_id
            .iter()
            .filter(|(_, (_, pending))| pending.tx.tx.valid_until < next_height)
            .map(|(id, _)| *id)
            .collect();
        self.remove(&expired);
    }

    /// Whether the pool already checked the signature of exactly `tx` (same body, same
    /// signature bytes) when it admitted it. Block building and validation then skip it, so a
    /// node verifies each signature once. Comparing the signature bytes matters: a block may
    /// carry the same body with other signature bytes, which must be checked (the block commits
    /// to them, and evidence packages prove them).
    pub fn verified(&self, tx: &SignedTransaction) -> bool {
        self.by_id
            .get(&tx.id())
            .is_some_and(|(_, pending)| pending.tx.signature == tx.signature)
    }

    /// Up to `max_txs` transactions whose encodings total at most `max_bytes`, in the order they
    /// should execute. They stay in the pool until [`Mempool::remove`]d.
    pub fn take_for_block(&mut self, max_txs: usize, max_bytes: u64) -> Vec<SignedTransaction> {
        let mut taken = Vec::new();
        let mut bytes = 0u64;
        for id in self.by_sequence.values() {
            let (_, pending) = &self.by_id[id];
            let size = pending.size as u64;
            if taken.len() >= max_txs || bytes.saturating_add(size) > max_bytes {
                break;
            }
            bytes += size;
            taken.push(pending.tx.clone());
        }
        taken
    }

    /// Forgets transactions that committed or can never be included.
    pub fn remove(&mut self, ids: &[Hash]) {
        for id in ids {
            if let Some((sequence, pending)) = self.by_id.remove(id) {
                self.by_sequence.remove(&sequence);
                self.bytes -= pending.size;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cassia_crypto::Keypair;
    use cassia_ledger::{Operation, Transaction};

    use super::*;

    fn tx(key: &Keypair, nonce: u64, valid_until: Height) -> SignedTransaction {
        Transaction {
            chain_id: "c".into(),
            signer: key.public(),
            nonce,
            valid_until,
            op: Operation::Put {
                namespace: "n".into(),
                key: b"k".to_vec(),
                value: vec![0; 100],
            },
        }
        .sign(&chain(), key)
    }

    fn chain() -> GenesisHash {
        GenesisHash(Hash::of(b"c"))
    }

    fn pool(max_transactions: usize) -> Mempool {
        let limits = MempoolLimits {
            max_transactions,
            max_bytes: 1 << 20,
        };
        Mempool::new("c".into(), chain(), Parameters::default(), limits, 1)
    }

    const FRESH: fn(&Hash) -> Result<bool, Rejection> = |_| Ok(false);

    #[test]
    fn admission_checks_each_rule() {
        let key = Keypair::from_secret([1; 32]);
        let mut pool = pool(2);
        let first = tx(&key, 1, 10);
        assert!(
            pool.admit(first.clone(), FRESH, SignatureCheck::Unchecked)
                .is_ok()
        );
        assert_eq!(
            pool.admit(first, FRESH, SignatureCheck::Unchecked),
            Err(Rejection::Duplicate)
        );
        assert_eq!(
            pool.admit(tx(&key, 2, 10), |_| Ok(true), SignatureCheck::Unchecked),
            Err(Rejection::Duplicate)
        );
        assert!(matches!(
            pool.admit(tx(&key, 3, 0), FRESH, SignatureCheck::Unchecked),
            Err(Rejection::Expired { .. })
        ));
        assert!(matches!(
            pool.admit(tx(&key, 4, 1_000_000), FRESH, SignatureCheck::Unchecked),
            Err(Rejection::TooFarAhead { .. })
        ));
        let mut forged = tx(&key, 5, 10);
        forged.signature.0[0] ^= 1;
        assert_eq!(
            pool.admit(forged, FRESH, SignatureCheck::Unchecked),
            Err(Rejection::BadSignature)
        );
        let mut other_chain = tx(&key, 6, 10);
        other_chain.tx.chain_id = "other".into();
        assert!(matches!(
            pool.admit(other_chain, FRESH, SignatureCheck::Unchecked),
            Err(Rejection::WrongChain { .. })
        ));
        assert!(
            pool.admit(tx(&key, 7, 10), FRESH, SignatureCheck::Unchecked)
                .is_ok()
        );
        assert_eq!(
            pool.admit(tx(&key, 8, 10), FRESH, SignatureCheck::Unchecked),
            Err(Rejection::MempoolFull)
        );
    }

    #[test]
    fn commit_and_expiry_empty_the_pool() {
        let key = Keypair::from_secret([2; 32]);
        let mut pool = pool(10);
        let a = pool
            .admit(tx(&key, 1, 5), FRESH, SignatureCheck::Unchecked)
            .expect("admitted");
        pool.admit(tx(&key, 2, 50), FRESH, SignatureCheck::Unchecked)
            .expect("admitted");
        assert_eq!(pool.take_for_block(10, u64::MAX).len(), 2);
        pool.remove(&[a]);
        assert_eq!(pool.len(), 1);
        pool.advance_to(51, &Parameters::default());
        assert!(pool.is_empty());
        assert_eq!(pool.bytes(), 0);
    }

    #[test]
    fn the_pool_is_bounded_deduplicated_and_first_come_first_served() {
        let key = Keypair::from_secret([3; 32]);
        let mut pool = pool(2);
        let first = pool
            .admit(tx(&key, 1, 10), FRESH, SignatureCheck::Unchecked)
            .expect("room");
        assert_eq!(
            pool.admit(tx(&key, 1, 10), FRESH, SignatureCheck::Unchecked),
            Err(Rejection::Duplicate)
        );
        pool.admit(tx(&key, 2, 10), FRESH, SignatureCheck::Unchecked)
            .expect("room");
        assert_eq!(
            pool.admit(tx(&key, 3, 10), FRESH, SignatureCheck::Unchecked),
            Err(Rejection::MempoolFull)
        );
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
        pool.admit(tx(&key, 3, 10), FRESH, SignatureCheck::Unchecked)
            .expect("room again");
    }

    #[test]
    fn a_store_that_cannot_answer_is_not_taken_for_a_duplicate() {
        let key = Keypair::from_secret([4; 32]);
        let mut pool = pool(2);
        let failed = |_: &Hash| Err(Rejection::Unavailable("disk".into()));
        assert_eq!(
            pool.admit(tx(&key, 1, 10), failed, SignatureCheck::Unchecked),
            Err(Rejection::Unavailable("disk".into()))
        );
        assert!(pool.is_empty());
    }
}
