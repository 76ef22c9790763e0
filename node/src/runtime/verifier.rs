//! Transaction signatures verified off the event loop.
//!
//! Verifying signatures is the largest single cost of admitting transactions (about 30 µs a
//! signature in a batch). Done on the event loop, a gossip batch of 512 held every consensus
//! message queued behind it for some 15 ms, and under load those waits added up to a good part
//! of every transaction's latency. Now the loop hands a batch to [`Verifier::start`], goes on
//! with consensus, and admits the batch when its result comes back on the channel the loop
//! selects on.
//!
//! **Bounds.** At most [`MAX_BATCHES_IN_FLIGHT`] batches are verified at once (each at most
//! [`super::admission::MAX_GOSSIP_BATCH`] transactions). Beyond that [`Verifier::start`] verifies
//! on the spot and hands the result straight back: memory stays bounded, and a flood slows
//! admission on this node, not its consensus.
//!
//! **Order.** Admission happens when a result comes back, so batches verified in parallel may
//! be admitted in another order than they arrived; each batch keeps its own order. The state may
//! move on meanwhile (a block commits some of the transactions): admission judges each
//! transaction on the state it finds, and only the signature verdict is carried over.

use cassia_crypto::{GenesisHash, Hash};
use cassia_ledger::{Rejection, SignedTransaction};
use tokio::sync::{mpsc, oneshot};

use crate::network::ValidationToken;
use cassia_engine::SignatureCheck;

/// Batches verified off the loop at once.
pub const MAX_BATCHES_IN_FLIGHT: usize = 4;
/// Batches with fewer signatures to check than this are verified on the spot: handing a batch to
/// another thread and back costs two wake-ups, as much as verifying a few signatures, and a
/// handful of signatures holds the loop for well under a millisecond.
pub const MIN_OFFLOADED_SIGNATURES: usize = 8;

/// Where a local submitter waits for its answer.
pub type Reply = oneshot::Sender<Result<Hash, Rejection>>;

/// Transactions waiting for their signatures, and who waits for the verdict.
#[derive(Debug)]
pub enum Batch {
    /// A peer's gossip batch: whether to relay it goes back to gossipsub.
    Gossip {
        /// The message's validation handle.
        validation: ValidationToken,
        /// Its transactions.
        transactions: Vec<SignedTransaction>,
    },
    /// Local submissions, each with its submitter's reply.
    Local(Vec<(SignedTransaction, Reply)>),
}

impl Batch {
    /// Its transactions, in order.
    pub fn transactions(&self) -> Vec<&SignedTransaction> {
        match self {
            Batch::Gossip { transactions, .. } => transactions.iter().collect(),
            Batch::Local(submissions) => submissions.iter().map(|(tx, _)| tx).collect(),
        }
    }
}

/// A batch with one signature verdict per transaction, in order.
#[derive(Debug)]
pub struct Verified {
    /// The batch.
    pub batch: Batch,
    /// `Verified` where the signature holds; `Unchecked` where it does not or was not checked
    /// (admission then checks it on its own, and refuses a bad one).
    pub checks: Vec<SignatureCheck>,
}

/// Hands batches to tokio's blocking pool and counts those in flight.
#[derive(Debug)]
pub struct Verifier {
    /// The chain whose signatures are checked.
    genesis: GenesisHash,
    results: mpsc::Sender<Verified>,
    in_flight: usize,
    /// Whether a batch of local submissions is being verified. The loop starts no other batch
    /// of them meanwhile: those arriving gather and are verified together next.
    local_in_flight: bool,
}

impl Verifier {
    /// A verifier of signatures made for the chain `genesis`, whose results arrive on the
    /// returned receiver (the event loop selects on it and calls [`Verifier::finished`] for
    /// each).
    pub fn new(genesis: GenesisHash) -> (Verifier, mpsc::Receiver<Verified>) {
        let (results, receiver) = mpsc::channel(MAX_BATCHES_IN_FLIGHT);
        let verifier = Verifier {
            genesis,
            results,
            in_flight: 0,
            local_in_flight: false,
        };
        (verifier, receiver)
    }

    /// Verifies the transactions of `batch` for which `wanted` is true (the others are left
    /// `Unchecked`). Returns the result at once when [`MAX_BATCHES_IN_FLIGHT`] are already
    /// being verified; otherwise it arrives later on the receiver.
    pub fn start(&mut self, batch: Batch, wanted: Vec<bool>) -> Option<Verified> {
        let signatures = wanted.iter().filter(|wanted| **wanted).count();
        if self.in_flight >= MAX_BATCHES_IN_FLIGHT || signatures < MIN_OFFLOADED_SIGNATURES {
            let checks = verify(&self.genesis, &batch.transactions(), &wanted);
            return Some(Verified { batch, checks });
        }
        self.in_flight += 1;
        self.local_in_flight |= matches!(batch, Batch::Local(_));
        let (results, genesis) = (self.results.clone(), self.genesis);
        tokio::task::spawn_blocking(move || {
            let checks = verify(&genesis, &batch.transactions(), &wanted);
            // The channel holds MAX_BATCHES_IN_FLIGHT results, one per batch in flight, so this
            // never waits; it fails only when the loop has stopped.
            let _ = results.blocking_send(Verified { batch, checks });
        });
        None
    }

    /// `result` came back from the receiver.
    pub fn finished(&mut self, result: &Verified) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if matches!(result.batch, Batch::Local(_)) {
            self.local_in_flight = false;
        }
    }

    /// Whether a batch of local submissions is being verified (the loop then starts no other).
    pub fn local_in_flight(&self) -> bool {
        self.local_in_flight
    }
}

/// One batch verification of the wanted signatures; if it fails, each on its own, to find the
/// bad ones.
fn verify(
    genesis: &GenesisHash,
    transactions: &[&SignedTransaction],
    wanted: &[bool],
) -> Vec<SignatureCheck> {
    let checked: Vec<&SignedTransaction> = transactions
        .iter()
        .zip(wanted)
        .filter(|(_, wanted)| **wanted)
        .map(|(tx, _)| *tx)
        .collect();
    let batch_holds = cassia_engine::block::verify_signatures(genesis, &checked).is_ok();
    transactions
        .iter()
        .zip(wanted)
        .map(|(tx, wanted)| {
            let holds = *wanted && (batch_holds || tx.verify_signature(genesis).is_ok());
            if holds {
                SignatureCheck::Verified
            } else {
                SignatureCheck::Unchecked
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use cassia_crypto::Keypair;
    use cassia_ledger::{Operation, Transaction};

    use super::*;

    fn tx(nonce: u64) -> SignedTransaction {
        let key = Keypair::from_secret([3; 32]);
        Transaction {
            chain_id: "c".into(),
            signer: key.public(),
            nonce,
            valid_until: 10,
            op: Operation::Put {
                namespace: "n".into(),
                key: b"k".to_vec(),
                value: vec![1],
            },
        }
        .sign(&chain(), &key)
    }

    fn chain() -> GenesisHash {
        GenesisHash(cassia_crypto::Hash::of(b"c"))
    }

    #[test]
    fn only_wanted_and_valid_signatures_are_marked_verified() {
        let mut forged = tx(2);
        forged.signature.0[0] ^= 1;
        let batch = [tx(1), forged, tx(3)];
        let refs: Vec<&SignedTransaction> = batch.iter().collect();
        let checks = verify(&chain(), &refs, &[true, true, false]);
        assert_eq!(
            checks,
            vec![
                SignatureCheck::Verified,
                SignatureCheck::Unchecked,
                SignatureCheck::Unchecked
            ]
        );
    }

    #[tokio::test]
    async fn beyond_the_bound_or_below_the_minimum_a_batch_is_verified_on_the_spot() {
        let (mut verifier, mut results) = Verifier::new(chain());
        let n = MIN_OFFLOADED_SIGNATURES;
        let local = || {
            Batch::Local(
                (0..n)
                    .map(|i| (tx(i as u64), oneshot::channel().0))
                    .collect(),
            )
        };
        let wanted = || vec![true; n];
        for _ in 0..MAX_BATCHES_IN_FLIGHT {
            assert!(verifier.start(local(), wanted()).is_none());
        }
        assert!(verifier.local_in_flight());
        let now = verifier
            .start(local(), wanted())
            .expect("verified on the spot");
        assert_eq!(now.checks, vec![SignatureCheck::Verified; n]);
        for _ in 0..MAX_BATCHES_IN_FLIGHT {
            let result = results.recv().await.expect("a result per batch in flight");
            assert_eq!(result.checks, vec![SignatureCheck::Verified; n]);
            verifier.finished(&result);
        }
        assert!(!verifier.local_in_flight());
        assert!(verifier.start(local(), wanted()).is_none(), "room again");
        let few = Batch::Local(vec![(tx(1), oneshot::channel().0)]);
        assert!(
            verifier.start(few, vec![true]).is_some(),
            "a batch of fewer than MIN_OFFLOADED_SIGNATURES is verified on the spot"
        );
    }
}
