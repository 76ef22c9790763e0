//! Evidence handler: notarizing a document digest, with co-signers (`Notarize`).
//!
//! A digest is notarized once: the first record stands, naming the signer's organization, the
//! height and the co-signers whose signatures over `(digest, metadata)` were checked. Evidence
//! packages built from it are verified offline ([`crate::evidence`]).

use std::collections::BTreeSet;

use cassia_crypto::{GenesisHash, Hash, PublicKey};

use super::handler::Handler;
use crate::execution::checks::{Denied, Unmet, check_blob, check_public_key, fresh, member};
use crate::execution::{MAX_CO_SIGNERS, NotarizationRecord, Overlay, Step, co_signing_bytes, keys};
use crate::records::{Account, CoSignature, Role};
use crate::transaction::Rejection;

/// `Notarize`: anchor `digest` with `metadata` and the co-signers' signatures.
pub(super) struct Notarize<'a> {
    pub(super) digest: &'a Hash,
    pub(super) metadata: &'a str,
    pub(super) co_signers: &'a [CoSignature],
}

impl Handler for Notarize<'_> {
    /// The notarizing account: its organization is recorded.
    type Permit = Account;

    fn check_fields(&self, genesis: &GenesisHash) -> Result<(), Rejection> {
        check_blob("metadata", self.metadata.len())?;
        check_co_signers(genesis, self.digest, self.metadata, self.co_signers)
    }

    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<Account, Denied> {
        // A notarization is its organization's attestation: only its writers make one.
        member(state, signer, Role::Writer)
    }

    fn execute(
        self,
        overlay: &mut Overlay<'_>,
        step: &Step,
        account: Account,
    ) -> Result<(), Unmet> {
        let key = fresh(overlay, keys::notarization(self.digest), || {
            format!("digest {} is already notarized", self.digest)
        })?;
        let record = NotarizationRecord {
            signer: step.signer,
            organization: account.organization,
            height: step.height,
            tx_id: step.tx_id,
            metadata: self.metadata.to_string(),
            co_signers: self.co_signers.iter().map(|c| c.signer).collect(),
        };
        overlay.put_record(key, &record);
        Ok(())
    }
}

/// Co-signatures: at most [`MAX_CO_SIGNERS`], distinct signers, each a valid signature over
/// `(digest, metadata)` on this chain. Checked at admission, so a block never carries a forged
/// co-signature.
fn check_co_signers(
    genesis: &GenesisHash,
    digest: &Hash,
    metadata: &str,
    co_signers: &[CoSignature],
) -> Result<(), Rejection> {
    if co_signers.len() > MAX_CO_SIGNERS {
        return Err(Rejection::Malformed(format!(
            "more than {MAX_CO_SIGNERS} co-signers"
        )));
    }
    let distinct: BTreeSet<_> = co_signers.iter().map(|c| c.signer).collect();
    if distinct.len() != co_signers.len() {
        return Err(Rejection::Malformed("a co-signer is listed twice".into()));
    }
    if co_signers.is_empty() {
        return Ok(());
    }
    let message = co_signing_bytes(genesis, digest, metadata);
    for co_signer in co_signers {
        check_public_key("co-signer key", &co_signer.signer)?;
        if co_signer
            .signer
            .verify_raw(&message, &co_signer.signature)
            .is_err()
        {
            return Err(Rejection::BadSignature);
        }
    }
    Ok(())
}
