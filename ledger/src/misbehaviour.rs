//! Proof that a validator equivocated: two statements of one kind for the same height and view,
//! about different blocks, both signed by it. An honest validator never signs both, so the
//! proof alone (with the chain's genesis hash) convicts the key, whoever presents it.
//!
//! The proof is compact: the block hashes and the two signatures, never the blocks. It covers
//! the statements a replica can catch being contradicted ([`StatementKind`]): the leader's
//! proposal and the prepare and commit votes. A node keeps the proofs its replica found
//! (`cassia_storage`), serves them over gRPC, and an organization can attach one to a
//! governance proposal to remove the validator (`GovAction::RemoveValidator`), where the ledger
//! checks it before anyone votes.

use bincode::{Decode, Encode};
use cassia_crypto::{GenesisHash, Hash, PublicKey, Signature};
use serde::{Deserialize, Serialize};

use crate::validators::{Proposal, Vote, VoteKind};
use crate::{Height, View};

/// Which statement was signed twice.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    /// A leader's proposal (pre-prepare).
    Proposal,
    /// A prepare vote.
    Prepare,
    /// A commit vote.
    Commit,
}

impl StatementKind {
    /// A stable lowercase name, for logs, metrics and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            StatementKind::Proposal => "proposal",
            StatementKind::Prepare => "prepare",
            StatementKind::Commit => "commit",
        }
    }
}

/// One of the two signed statements: the block it named, and the signature over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignedBlockHash {
    /// The block the statement is about.
    pub block_hash: Hash,
    /// The validator's signature over the statement.
    pub signature: Signature,
}

/// Two conflicting statements by `validator` at `(height, view)`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Equivocation {
    /// The validator's node key.
    pub validator: PublicKey,
    /// Which statement.
    pub kind: StatementKind,
    /// Height.
    pub height: Height,
    /// View.
    pub view: View,
    /// The first statement (the lower block hash, so one pair has one encoding).
    pub first: SignedBlockHash,
    /// The second statement.
    pub second: SignedBlockHash,
}

/// Why a proof of equivocation proves nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EquivocationError {
    /// Both statements name the same block: that is one statement (perhaps re-sent).
    #[error("both statements name block {0}: no conflict")]
    SameBlock(Hash),
    /// The pair is not in its canonical order (lower block hash first).
    #[error("the statements are not in canonical order (lower block hash first)")]
    NotCanonical,
    /// A signature does not verify for this chain's genesis and the named validator.
    #[error("the {which} signature does not verify for validator {validator} on this chain")]
    BadSignature {
        /// `"first"` or `"second"`.
        which: &'static str,
        /// The validator named.
        validator: PublicKey,
    },
}

impl Equivocation {
    /// The proof of `validator` signing `a` and `b` at `(height, view)`, in canonical order.
    pub fn new(
        validator: PublicKey,
        kind: StatementKind,
        (height, view): (Height, View),
        a: SignedBlockHash,
        b: SignedBlockHash,
    ) -> Equivocation {
        let (first, second) = if a.block_hash <= b.block_hash {
            (a, b)
        } else {
            (b, a)
        };
        Equivocation {
            validator,
            kind,
            height,
            view,
            first,
            second,
        }
    }

    /// The exact bytes the validator signed for `block_hash` (see
    /// `cassia_consensus::message` for every statement's layout).
    pub fn signing_bytes(&self, genesis: &GenesisHash, block_hash: Hash) -> Vec<u8> {
        let (height, view) = (self.height, self.view);
        let vote = |kind| Vote {
            kind,
            height,
            view,
            block_hash,
        };
        match self.kind {
            StatementKind::Proposal => Proposal {
                height,
                view,
                block_hash,
            }
            .signing_bytes(genesis),
            StatementKind::Prepare => vote(VoteKind::Prepare).signing_bytes(genesis),
            StatementKind::Commit => vote(VoteKind::Commit).signing_bytes(genesis),
        }
    }

    /// Checks the proof on the chain `genesis`: two different blocks, in canonical order, each
    /// statement signed by `validator`. Whether the key was a validator at that height is the
    /// caller's to judge (a key that never was one proves nothing worth acting on).
    pub fn verify(&self, genesis: &GenesisHash) -> Result<(), EquivocationError> {
        if self.first.block_hash == self.second.block_hash {
            return Err(EquivocationError::SameBlock(self.first.block_hash));
        }
        if self.first.block_hash > self.second.block_hash {
            return Err(EquivocationError::NotCanonical);
        }
        for (which, statement) in [("first", &self.first), ("second", &self.second)] {
            let message = self.signing_bytes(genesis, statement.block_hash);
            self.validator
                .verify_raw(&message, &statement.signature)
                .map_err(|_| EquivocationError::BadSignature {
                    which,
                    validator: self.validator,
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use cassia_crypto::Keypair;

    use super::*;

    const CHAIN: GenesisHash = GenesisHash(Hash([7; 32]));

    fn signed(key: &Keypair, kind: StatementKind, block: &[u8]) -> SignedBlockHash {
        let proof = Equivocation::new(
            key.public(),
            kind,
            (5, 1),
            SignedBlockHash {
                block_hash: Hash::ZERO,
                signature: Signature([0; 64]),
            },
            SignedBlockHash {
                block_hash: Hash::ZERO,
                signature: Signature([0; 64]),
            },
        );
        let block_hash = Hash::of(block);
        SignedBlockHash {
            block_hash,
            signature: key.sign_raw(&proof.signing_bytes(&CHAIN, block_hash)),
        }
    }

    #[test]
    fn two_signed_blocks_for_one_height_and_view_convict_the_signer() {
        let key = Keypair::from_secret([3; 32]);
        for kind in [
            StatementKind::Proposal,
            StatementKind::Prepare,
            StatementKind::Commit,
        ] {
            let (a, b) = (signed(&key, kind, b"a"), signed(&key, kind, b"b"));
            let proof = Equivocation::new(key.public(), kind, (5, 1), a, b);
            assert_eq!(proof.verify(&CHAIN), Ok(()), "{kind:?}");
            assert_eq!(
                proof,
                Equivocation::new(key.public(), kind, (5, 1), b, a),
                "one pair, one proof"
            );
            let other_chain = GenesisHash(Hash([8; 32]));
            assert!(proof.verify(&other_chain).is_err());
            let mut framed = proof.clone();
            framed.validator = Keypair::from_secret([4; 32]).public();
            assert!(matches!(
                framed.verify(&CHAIN),
                Err(EquivocationError::BadSignature { .. })
            ));
            let mut later = proof.clone();
            later.view += 1;
            assert!(later.verify(&CHAIN).is_err(), "the signatures fix the view");
        }
    }

    #[test]
    fn the_same_block_twice_or_another_kind_proves_nothing() {
        let key = Keypair::from_secret([3; 32]);
        let a = signed(&key, StatementKind::Prepare, b"a");
        let same = Equivocation::new(key.public(), StatementKind::Prepare, (5, 1), a, a);
        assert_eq!(
            same.verify(&CHAIN),
            Err(EquivocationError::SameBlock(a.block_hash))
        );
        // A prepare and a commit for different blocks are not an equivocation: relabelled as
        // either kind, one signature fails.
        let commit = signed(&key, StatementKind::Commit, b"b");
        for kind in [StatementKind::Prepare, StatementKind::Commit] {
            let mixed = Equivocation::new(key.public(), kind, (5, 1), a, commit);
            assert!(mixed.verify(&CHAIN).is_err(), "{kind:?}");
        }
        let b = signed(&key, StatementKind::Prepare, b"b");
        let mut swapped = Equivocation::new(key.public(), StatementKind::Prepare, (5, 1), a, b);
        std::mem::swap(&mut swapped.first, &mut swapped.second);
        assert_eq!(swapped.verify(&CHAIN), Err(EquivocationError::NotCanonical));
    }
}
