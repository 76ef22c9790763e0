//! The new-view rule (PBFT 4.4), computed the same way by the new leader and by every replica.
//!
//! Given 2f+1 view changes for view `v`, the proposal of `v` must be the block of the highest
//! prepared certificate among them (highest by view), or, when none carries one, a fresh block
//! whose header says view `v`. If a block committed in an earlier view, 2f+1 validators prepared
//! it, so at least one honest member of any 2f+1 view changes carries its certificate, and no
//! higher certificate can be for another block: the rule keeps committed blocks committed.

use std::collections::BTreeSet;

use cassia_crypto::{GenesisHash, Hash};
use cassia_ledger::{Height, ValidatorSet, View};

use crate::message::{PreparedCertificate, SignatureBatch, SignedViewChange, check_quorum};

/// What the proposal of a new view must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequiredProposal {
    /// The block with this hash (of the highest prepared certificate), whatever its header's view.
    Reproposal(Hash),
    /// Any valid block whose header's view is the new view.
    Fresh,
}

/// Why a set of view changes does not support a new view.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NewViewError {
    /// Fewer distinct validators than the quorum (or more entries than validators).
    #[error("{got} view changes from distinct validators, quorum is {quorum}")]
    NoQuorum {
        /// Distinct members.
        got: usize,
        /// Needed.
        quorum: usize,
    },
    /// A view change is for another height or view, or from a non-member.
    #[error("a view change does not belong to this new view")]
    Mismatch,
    /// A prepared certificate is for another height, not below the new view, or does not verify.
    #[error("a prepared certificate is invalid")]
    BadCertificate,
    /// Two certificates of the same view prepare different blocks (impossible with <= f faulty).
    #[error("conflicting prepared certificates in view {0}")]
    ConflictingCertificates(View),
    /// A signature does not verify.
    #[error("a view-change signature does not verify")]
    BadSignature,
}

/// Checks `view_changes` for `(height, view)` (membership, quorum, every signature and
/// certificate) and returns what the proposal must be.
pub fn check_view_changes(
    genesis: &GenesisHash,
    validators: &ValidatorSet,
    height: Height,
    view: View,
    view_changes: &[SignedViewChange],
) -> Result<RequiredProposal, NewViewError> {
    let quorum = validators.quorum();
    if view_changes.len() > validators.len() {
        return Err(NewViewError::NoQuorum {
            got: view_changes.len(),
            quorum,
        });
    }
    let mut signers = BTreeSet::new();
    let mut batch = SignatureBatch::default();
    for signed in view_changes {
        let statement = &signed.view_change;
        let belongs = statement.height == height
            && statement.view == view
            && validators.contains(&signed.signer);
        if !belongs || !signers.insert(signed.signer) {
            return Err(NewViewError::Mismatch);
        }
        batch.push(
            signed.signing_bytes(genesis),
            signed.signature,
            signed.signer,
        );
        if let Some(certificate) = &statement.prepared {
            if certificate.height != height || certificate.view >= view {
                return Err(NewViewError::BadCertificate);
            }
            check_quorum(
                &certificate.vote(),
                &certificate.signatures,
                genesis,
                validators,
                &mut batch,
            )
            .map_err(|_| NewViewError::BadCertificate)?;
        }
    }
    if signers.len() < quorum {
        return Err(NewViewError::NoQuorum {
            got: signers.len(),
            quorum,
        });
    }
    batch.verify().map_err(|_| NewViewError::BadSignature)?;
    required_proposal(
        view_changes
            .iter()
            .filter_map(|signed| signed.view_change.prepared.as_ref()),
    )
}

/// The rule itself, over already-verified certificates.
pub fn required_proposal<'a>(
    certificates: impl Iterator<Item = &'a PreparedCertificate>,
) -> Result<RequiredProposal, NewViewError> {
    let mut highest: Option<&PreparedCertificate> = None;
    for certificate in certificates {
        match highest {
            Some(best)
                if best.view == certificate.view && best.block_hash != certificate.block_hash =>
            {
                return Err(NewViewError::ConflictingCertificates(certificate.view));
            }
            Some(best) if best.view >= certificate.view => {}
            _ => highest = Some(certificate),
        }
    }
    Ok(highest.map_or(RequiredProposal::Fresh, |c| {
        RequiredProposal::Reproposal(c.block_hash)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(view: View, block: &[u8]) -> PreparedCertificate {
        PreparedCertificate {
            height: 5,
            view,
            block_hash: Hash::of(block),
            signatures: Vec::new(),
        }
    }

    #[test]
    fn the_highest_prepared_certificate_wins() {
        // (certificates as (view, block), required proposal)
        type Row<'a> = (&'a [(View, &'a [u8])], RequiredProposal);
        let table: &[Row<'_>] = &[
            (&[], RequiredProposal::Fresh),
            (&[(1, b"a")], RequiredProposal::Reproposal(Hash::of(b"a"))),
            (
                &[(1, b"a"), (3, b"b"), (2, b"c")],
                RequiredProposal::Reproposal(Hash::of(b"b")),
            ),
            (
                &[(3, b"b"), (3, b"b"), (0, b"a")],
                RequiredProposal::Reproposal(Hash::of(b"b")),
            ),
        ];
        for (certificates, expected) in table {
            let certificates: Vec<_> = certificates
                .iter()
                .map(|(view, block)| certificate(*view, block))
                .collect();
            assert_eq!(
                required_proposal(certificates.iter()),
                Ok(*expected),
                "{certificates:?}"
            );
        }
    }

    #[test]
    fn conflicting_certificates_of_one_view_are_refused() {
        let certificates = [certificate(2, b"a"), certificate(2, b"b")];
        assert_eq!(
            required_proposal(certificates.iter()),
            Err(NewViewError::ConflictingCertificates(2))
        );
    }
}
