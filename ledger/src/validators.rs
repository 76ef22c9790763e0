//! Validator sets, votes and commit certificates.
//!
//! A commit certificate is 2f+1 signatures of distinct validators on the same
//! [`Vote`]`{ Commit, height, view, block_hash }`. Anyone holding the validator set in force at
//! that height can check it offline: that is what makes a committed record provable.

use bincode::{Decode, Encode};
use cassia_crypto::{Domain, GenesisHash, Hash, Keypair, PublicKey, Signature};
use serde::{Deserialize, Serialize};

use crate::{Height, View, codec};

/// One validator: its node key (consensus signatures, libp2p identity) and where to reach it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Validator {
    /// A readable name, e.g. `"nanning-dsj-1"`.
    pub name: String,
    /// The organization that runs it.
    pub organization: String,
    /// Node key.
    pub node_key: PublicKey,
    /// libp2p multiaddress, e.g. `/ip4/10.0.0.5/tcp/7100`.
    pub p2p_address: String,
}

/// The ordered validator set in force at some height. Order matters: it fixes leader rotation.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ValidatorSet {
    /// The validators, in rotation order.
    pub validators: Vec<Validator>,
}

impl ValidatorSet {
    /// Number of validators `n`.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Whether the set is empty (never the case for a valid genesis).
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// `f`, the number of faulty validators tolerated: the largest f with 3f + 1 <= n.
    pub fn max_faulty(&self) -> usize {
        self.len().saturating_sub(1) / 3
    }

    /// The quorum, `n - f` (2f + 1 when n = 3f + 1): any two quorums share an honest validator.
    pub fn quorum(&self) -> usize {
        self.len() - self.max_faulty()
    }

    /// Position of `key` in the set.
    pub fn index_of(&self, key: &PublicKey) -> Option<usize> {
        self.validators.iter().position(|v| &v.node_key == key)
    }

    /// Whether `key` is a validator.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.index_of(key).is_some()
    }

    /// The leader of `(height, view)`: `V[(h + v) mod n]`. Rotating per height limits what one
    /// slow leader can cost. Computed without overflow for any `u64` height and view.
    pub fn leader(&self, height: Height, view: View) -> &Validator {
        let n = self.len() as u64;
        assert!(n > 0, "a validator set is never empty");
        let index = (height % n + view % n) % n;
        &self.validators[usize::try_from(index).expect("index < n, which is a usize")]
    }

    /// Hash of the set: the node keys in order (names and addresses may change freely).
    pub fn hash(&self) -> Hash {
        let keys: Vec<PublicKey> = self.validators.iter().map(|v| v.node_key).collect();
        Hash::of(&codec::encode(&keys))
    }
}

/// The two voting phases of PBFT.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
pub enum VoteKind {
    /// PBFT phase 2.
    Prepare,
    /// PBFT phase 3; 2f+1 of these form a commit certificate.
    Commit,
}

/// What a validator signs when it votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub struct Vote {
    /// Phase.
    pub kind: VoteKind,
    /// Height (PBFT sequence number).
    pub height: Height,
    /// View.
    pub view: View,
    /// Hash of the block header voted for.
    pub block_hash: Hash,
}

impl Vote {
    /// The exact bytes a validator signs for this vote on the chain `genesis`.
    pub fn signing_bytes(&self, genesis: &GenesisHash) -> Vec<u8> {
        cassia_crypto::signing_bytes(Domain::Vote, genesis, &codec::encode(self))
    }

    /// Signs the vote.
    pub fn sign(&self, genesis: &GenesisHash, key: &Keypair) -> Signature {
        key.sign_raw(&self.signing_bytes(genesis))
    }
}

/// The tag before an encoded [`Proposal`] in its signed bytes (`Domain::Consensus`), which
/// other consensus statements share with their own tags (see `cassia_consensus::message`).
pub const PROPOSAL_TAG: u8 = 1;

/// The leader's statement in a pre-prepare: "at `(height, view)` I propose `block_hash`". Kept
/// here, beside [`Vote`], so that proofs of equivocation ([`crate::misbehaviour`]) can be
/// checked by the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub struct Proposal {
    /// Height (PBFT sequence number).
    pub height: Height,
    /// View; pre-prepares exist in view 0 only (later views propose in their new view).
    pub view: View,
    /// Hash of the proposed block's header.
    pub block_hash: Hash,
}

impl Proposal {
    /// The exact bytes the leader signs for this proposal on the chain `genesis`.
    pub fn signing_bytes(&self, genesis: &GenesisHash) -> Vec<u8> {
        let mut payload = vec![PROPOSAL_TAG];
        payload.extend_from_slice(&codec::encode(self));
        cassia_crypto::signing_bytes(Domain::Consensus, genesis, &payload)
    }
}

/// A validator's signature inside a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ValidatorSignature {
    /// The validator's node key.
    pub validator: PublicKey,
    /// Its signature on the certificate's vote.
    pub signature: Signature,
}

/// Checks that `signatures` come from distinct members of `validators` and reach its quorum
/// (the signatures themselves are the caller's to verify, e.g. in one batch). Every quorum
/// certificate, commit or prepared, is checked through this one rule.
pub fn check_signers(
    signatures: &[ValidatorSignature],
    validators: &ValidatorSet,
) -> Result<(), CertificateError> {
    let mut seen = std::collections::BTreeSet::new();
    for entry in signatures {
        if !validators.contains(&entry.validator) {
            return Err(CertificateError::NotAValidator(entry.validator));
        }
        if !seen.insert(entry.validator) {
            return Err(CertificateError::DuplicateSigner(entry.validator));
        }
    }
    if seen.len() < validators.quorum() {
        return Err(CertificateError::NoQuorum {
            got: seen.len(),
            quorum: validators.quorum(),
        });
    }
    Ok(())
}

/// Proof that a block committed: 2f+1 commit votes from the validator set in force.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CommitCertificate {
    /// Height of the block.
    pub height: Height,
    /// View in which it committed.
    pub view: View,
    /// Hash of its header.
    pub block_hash: Hash,
    /// Commit signatures, one per validator, sorted by validator key.
    pub signatures: Vec<ValidatorSignature>,
}

/// Why a certificate does not prove what it claims.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    /// Fewer distinct validator signatures than the quorum.
    #[error("{got} distinct validator signatures, quorum is {quorum}")]
    NoQuorum {
        /// Distinct validators that signed.
        got: usize,
        /// Required.
        quorum: usize,
    },
    /// A signer is not in the validator set.
    #[error("signer {0} is not a validator at this height")]
    NotAValidator(PublicKey),
    /// The same validator appears twice.
    #[error("validator {0} signed twice")]
    DuplicateSigner(PublicKey),
    /// A signature does not verify.
    #[error("signature of {0} does not verify")]
    BadSignature(PublicKey),
    /// The certificate is for another block.
    #[error("certificate is for block {got}, expected {expected}")]
    WrongBlock {
        /// The block hash expected.
        expected: Hash,
        /// The one in the certificate.
        got: Hash,
    },
}

impl CommitCertificate {
    /// The vote every signature in this certificate covers.
    pub fn vote(&self) -> Vote {
        Vote {
            kind: VoteKind::Commit,
            height: self.height,
            view: self.view,
            block_hash: self.block_hash,
        }
    }

    /// Checks quorum, membership, distinctness and every signature against `validators`.
    pub fn verify(
        &self,
        genesis: &GenesisHash,
        validators: &ValidatorSet,
    ) -> Result<(), CertificateError> {
        check_signers(&self.signatures, validators)?;
        let message = self.vote().signing_bytes(genesis);
        let messages: Vec<&[u8]> = self.signatures.iter().map(|_| message.as_slice()).collect();
        let signatures: Vec<Signature> = self.signatures.iter().map(|s| s.signature).collect();
        let keys: Vec<PublicKey> = self.signatures.iter().map(|s| s.validator).collect();
        if cassia_crypto::verify_batch(&messages, &signatures, &keys).is_ok() {
            return Ok(());
        }
        // The batch failed: find the culprit for a precise error.
        for entry in &self.signatures {
            if entry
                .validator
                .verify_raw(&message, &entry.signature)
                .is_err()
            {
                return Err(CertificateError::BadSignature(entry.validator));
            }
        }
        Err(CertificateError::BadSignature(self.signatures[0].validator))
    }

    /// Checks the certificate and that it is for `block_hash`.
    pub fn verify_for(
        &self,
        genesis: &GenesisHash,
        validators: &ValidatorSet,
        block_hash: &Hash,
    ) -> Result<(), CertificateError> {
        if &self.block_hash != block_hash {
            return Err(CertificateError::WrongBlock {
                expected: *block_hash,
                got: self.block_hash,
            });
        }
        self.verify(genesis, validators)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: u8) -> (Vec<Keypair>, ValidatorSet) {
        let keys: Vec<Keypair> = (0..n).map(|i| Keypair::from_secret([i + 1; 32])).collect();
        let validators = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Validator {
                name: format!("v{i}"),
                organization: "org".into(),
                node_key: k.public(),
                p2p_address: String::new(),
            })
            .collect();
        (keys, ValidatorSet { validators })
    }

    #[test]
    fn quorum_table() {
        // (n, f, quorum)
        for (n, f, q) in [
            (1, 0, 1),
            (2, 0, 2),
            (3, 0, 3),
            (4, 1, 3),
            (5, 1, 4),
            (7, 2, 5),
            (16, 5, 11),
        ] {
            let (_, validators) = set(n);
            assert_eq!(
                (validators.max_faulty(), validators.quorum()),
                (f, q),
                "n = {n}"
            );
        }
    }

    #[test]
    fn leader_rotates_and_never_overflows() {
        let (_, validators) = set(4);
        assert_eq!(validators.leader(0, 0).name, "v0");
        assert_eq!(validators.leader(1, 0).name, "v1");
        assert_eq!(validators.leader(1, 1).name, "v2");
        let _ = validators.leader(u64::MAX, u64::MAX);
    }

    #[test]
    fn certificate_checks() {
        let (keys, validators) = set(4);
        let block_hash = Hash::of(b"block");
        let vote = Vote {
            kind: VoteKind::Commit,
            height: 3,
            view: 0,
            block_hash,
        };
        let c = &GenesisHash(Hash::of(b"c"));
        let sign = |k: &Keypair| ValidatorSignature {
            validator: k.public(),
            signature: vote.sign(c, k),
        };
        let mut certificate = CommitCertificate {
            height: 3,
            view: 0,
            block_hash,
            signatures: keys[..3].iter().map(sign).collect(),
        };
        assert_eq!(certificate.verify_for(c, &validators, &block_hash), Ok(()));
        assert!(
            certificate
                .verify(&GenesisHash(Hash::of(b"other-chain")), &validators)
                .is_err()
        );
        certificate.signatures[2] = sign(&keys[0]);
        assert!(matches!(
            certificate.verify(c, &validators),
            Err(CertificateError::DuplicateSigner(_))
        ));
        certificate.signatures.pop();
        assert!(matches!(
            certificate.verify(c, &validators),
            Err(CertificateError::NoQuorum { .. })
        ));
        let outsider = Keypair::from_secret([99; 32]);
        certificate.signatures.push(sign(&outsider));
        assert!(matches!(
            certificate.verify(c, &validators),
            Err(CertificateError::NotAValidator(_))
        ));
        certificate.signatures.pop();
        let mut forged = sign(&keys[3]);
        forged.signature.0[10] ^= 1;
        certificate.signatures.push(forged);
        assert!(matches!(
            certificate.verify(c, &validators),
            Err(CertificateError::BadSignature(_))
        ));
    }
}
