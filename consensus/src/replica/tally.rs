//! Votes of one kind at the current `(height, view)`: one per validator, first one kept.

use std::collections::BTreeMap;

use cassia_crypto::{Hash, PublicKey, Signature};
use cassia_ledger::ValidatorSignature;

/// What happened to a vote offered to a [`Tally`].
pub(crate) enum Tallied {
    /// Counted.
    New,
    /// The same vote again.
    Duplicate,
    /// The validator already voted for another block: here is its first vote.
    Conflict {
        block_hash: Hash,
        signature: Signature,
    },
}

/// At most one vote per validator (so at most `n` entries).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    votes: BTreeMap<PublicKey, (Hash, Signature)>,
}

impl Tally {
    pub(crate) fn insert(
        &mut self,
        voter: PublicKey,
        block_hash: Hash,
        signature: Signature,
    ) -> Tallied {
        match self.votes.get(&voter) {
            Some((first, _)) if *first == block_hash => Tallied::Duplicate,
            Some((first, first_signature)) => Tallied::Conflict {
                block_hash: *first,
                signature: *first_signature,
            },
            None => {
                self.votes.insert(voter, (block_hash, signature));
                Tallied::New
            }
        }
    }

    pub(crate) fn count(&self, block_hash: &Hash) -> usize {
        self.votes
            .values()
            .filter(|(hash, _)| hash == block_hash)
            .count()
    }

    /// A block with at least `quorum` votes, if any (the smallest hash if, impossibly with at
    /// most f faulty validators, two have).
    pub(crate) fn quorum_block(&self, quorum: usize) -> Option<Hash> {
        let mut counts: BTreeMap<Hash, usize> = BTreeMap::new();
        for (hash, _) in self.votes.values() {
            *counts.entry(*hash).or_insert(0) += 1;
        }
        counts
            .into_iter()
            .find(|(_, count)| *count >= quorum)
            .map(|(hash, _)| hash)
    }

    /// The signatures for `block_hash`, sorted by validator key.
    pub(crate) fn signatures(&self, block_hash: &Hash) -> Vec<ValidatorSignature> {
        self.votes
            .iter()
            .filter(|(_, (hash, _))| hash == block_hash)
            .map(|(validator, (_, signature))| ValidatorSignature {
                validator: *validator,
                signature: *signature,
            })
            .collect()
    }
}
