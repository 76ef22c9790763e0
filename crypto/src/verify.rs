//! The one ed25519 verification rule: ZIP-215, from `ed25519-zebra`, for single and batch
//! verification alike.
//!
//! # Why one rule
//!
//! Ed25519 implementations disagree on edge cases: signatures whose `R` or public key `A` has a
//! small-order (torsion) component, non-canonical point encodings, and whether the verification
//! equation is multiplied by the cofactor 8. A batch verifier that is not cofactored, such as
//! `ed25519_dalek::verify_batch`, lets a torsion component pass or fail depending on the random
//! coefficients and the other signatures of the batch. Before this module, single checks used
//! dalek's `verify_strict` and batches dalek's cofactorless batch: a Byzantine leader could make
//! a block whose certificate its voters accepted in one batch and a node syncing later refused in
//! another. Every signature that consensus, block validity, certificates, admission or evidence
//! depends on is therefore checked here, under [ZIP-215]:
//!
//! - `A` and `R` must decode to curve points; non-canonical encodings are accepted;
//! - `s` must be canonical (`s < L`);
//! - the cofactored equation `[8][s]B = [8]R + [8][k]A` must hold, `k = SHA-512(R || A || M)`
//!   over the bytes as given.
//!
//! Both forms, [`PublicKey::verify_raw`] and [`verify_batch`], decide by that equation, so their
//! verdicts agree on every input: a batch accepts if and only if every one of its signatures does
//! on its own (up to the 2^-128 chance that random coefficients cancel an invalid term, below).
//! `crypto/tests/zip215.rs` checks this on the ZIP-215 and "Taming the many EdDSAs" edge cases in
//! several batch compositions.
//!
//! # Why `ed25519-zebra` 5
//!
//! It implements ZIP-215 for Zcash (the Zcash Foundation maintains it), and version 5 is built on
//! curve25519-dalek 5, the same curve arithmetic as `ed25519-dalek` 3, which still makes our keys
//! and signatures (signatures are standard ed25519; only verification changed). The alternative,
//! `ed25519-consensus` 2.1 (the same rule, Penumbra's), runs on the older `curve25519-dalek-ng`
//! serial backend without the vectorised arithmetic, and on sha2 0.9 and thiserror 1.
//!
//! What ZIP-215 accepts that `verify_strict` refused: small-order `A` or `R`, and mixed-order `A`
//! or `R` (a valid signature plus a torsion component), because the cofactor clears the torsion.
//! That is harmless here. Agreement is what consensus needs, and every node now uses the same
//! rule everywhere; and small-order, mixed-order and non-canonical public keys are refused where
//! keys enter the chain ([`crate::PublicKey::check_usable`]: genesis, account registration,
//! validator and organization changes), so no registered key can sign "for every message".
//!
//! # Batch coefficients without randomness
//!
//! A batch verifier multiplies each signature's equation by a random 128-bit coefficient `z_i`,
//! so that invalid signatures cannot cancel out. The consensus crate verifies certificates with
//! [`verify_batch`] and must stay free of randomness, so the coefficients come from
//! `BatchCoefficients`: a blake3 extendable output seeded with a hash of every key, signature
//! and message of the batch. This is the Fiat-Shamir argument: whoever chose the signatures fixed
//! them before the coefficients existed, and cannot predict the coefficients without the hash, so
//! for any batch that holds an invalid signature the coefficients that would hide it are a
//! 2^-128 fraction of all coefficient choices; trying batch after batch gains one such chance per
//! attempt. The order in which `ed25519-zebra` draws coefficients (grouped by key, in hash-map
//! order) does not change the verdict, for the same reason.
//!
//! [ZIP-215]: https://zips.z.cash/zip-0215

use std::convert::Infallible;

use ed25519_zebra::{VerificationKey, VerificationKeyBytes, batch};

use crate::keys::{CryptoError, PublicKey, Signature};

/// Checks `signature` by `key` over `message` under ZIP-215.
pub(crate) fn verify_single(
    key: &PublicKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), CryptoError> {
    let key = VerificationKey::try_from(key.0).map_err(|_| CryptoError::MalformedPublicKey)?;
    key.verify(&ed25519_zebra::Signature::from_bytes(&signature.0), message)
        .map_err(|_| CryptoError::BadSignature)
}

/// Verifies many signatures at once under ZIP-215; `Ok` only if every one is valid, that is,
/// exactly when [`PublicKey::verify_raw`] accepts each of them.
///
/// Each `messages[i]` must already be laid out by [`crate::signing_bytes`]. On `Err` (always
/// [`CryptoError::BadSignature`], a key that is not a point included, unless the inputs differ
/// in length) the caller does not learn which signature failed and should fall back to
/// one-by-one checks. Each
/// distinct key is decompressed once per batch and its terms are merged, so a batch of many
/// signatures by few signers (an integrator's service accounts, a certificate's validators)
/// costs less than one of distinct signers. The coefficients are derived from the batch itself
/// (see the module docs), so the verdict is a function of the inputs alone.
pub fn verify_batch(
    messages: &[&[u8]],
    signatures: &[Signature],
    keys: &[PublicKey],
) -> Result<(), CryptoError> {
    if messages.len() != signatures.len() || messages.len() != keys.len() {
        return Err(CryptoError::BatchLengthMismatch);
    }
    let mut verifier = batch::Verifier::new();
    for ((message, signature), key) in messages.iter().zip(signatures).zip(keys) {
        let signature = ed25519_zebra::Signature::from_bytes(&signature.0);
        verifier.queue((VerificationKeyBytes::from(key.0), signature, *message));
    }
    verifier
        .verify(BatchCoefficients::for_batch(messages, signatures, keys))
        .map_err(|_| CryptoError::BadSignature)
}

/// The batch verifier's coefficient source: the blake3 extendable output of a hash of the whole
/// batch. Deterministic, and unpredictable to whoever chose the signatures (see the module docs).
pub(crate) struct BatchCoefficients {
    output: blake3::OutputReader,
}

impl BatchCoefficients {
    /// The blake3 `derive_key` context; names the purpose and version of this derivation.
    const CONTEXT: &'static str = "cassia-crypto 2026-12-03 ed25519 batch coefficients v1";

    /// Seeds the output with every key, signature and message, each message prefixed with its
    /// length so that no two batches hash alike.
    pub(crate) fn for_batch(
        messages: &[&[u8]],
        signatures: &[Signature],
        keys: &[PublicKey],
    ) -> BatchCoefficients {
        let mut hasher = blake3::Hasher::new_derive_key(Self::CONTEXT);
        hasher.update(&(messages.len() as u64).to_le_bytes());
        for ((message, signature), key) in messages.iter().zip(signatures).zip(keys) {
            hasher.update(&key.0);
            hasher.update(&signature.0);
            hasher.update(&(message.len() as u64).to_le_bytes());
            hasher.update(message);
        }
        BatchCoefficients {
            output: hasher.finalize_xof(),
        }
    }
}

impl rand_core::TryRng for BatchCoefficients {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.output.fill(&mut bytes);
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0u8; 8];
        self.output.fill(&mut bytes);
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, destination: &mut [u8]) -> Result<(), Infallible> {
        self.output.fill(destination);
        Ok(())
    }
}

/// A hash output is as unpredictable as its input is to whoever cannot see it before choosing
/// the signatures: the property the batch verifier needs of its coefficients.
impl rand_core::TryCryptoRng for BatchCoefficients {}

#[cfg(test)]
mod tests {
    use rand_core::Rng;

    use super::*;

    #[test]
    fn coefficients_depend_on_every_input() {
        let key = PublicKey([9; 32]);
        let signature = Signature([1; 64]);
        let first = |messages: &[&[u8]], signatures: &[Signature], keys: &[PublicKey]| {
            BatchCoefficients::for_batch(messages, signatures, keys).next_u64()
        };
        let base = first(&[b"ab"], &[signature], &[key]);
        assert_eq!(base, first(&[b"ab"], &[signature], &[key]));
        assert_ne!(base, first(&[b"ac"], &[signature], &[key]));
        assert_ne!(base, first(&[b"ab"], &[Signature([2; 64])], &[key]));
        assert_ne!(base, first(&[b"ab"], &[signature], &[PublicKey([8; 32])]));
        // Moving a byte across the message boundary changes the seed too.
        let split = first(&[b"a", b"bc"], &[signature; 2], &[key; 2]);
        assert_ne!(split, first(&[b"ab", b"c"], &[signature; 2], &[key; 2]));
    }
}
