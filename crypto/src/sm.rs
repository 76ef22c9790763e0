//! 国密: the Chinese commercial-cryptography algorithms a chain of the SM suite is built from
//! (issue 15). SM3 hashing (GB/T 32905), SM2 signatures and public-key encryption (GB/T 32918,
//! GM/T 0003) and SM4 (GB/T 32907) in GCM mode (RFC 8998), from RustCrypto's `sm2`, `sm3`,
//! `sm4` and `aes-gcm` crates. This module only wraps them in types with fixed encodings and
//! clear errors; it holds no arithmetic of its own.
//!
//! Conventions, each what the standards and the other 国密 implementations use, so signatures
//! and ciphertexts made here are accepted elsewhere and the reverse (checked against the
//! standards' examples and the independent `gmssl` implementation in `tests/sm_interop.rs`):
//!
//! - **Signatures** are SM2 over `e = SM3(Z || message)`, where `Z` is the signer's user-ID
//!   digest (GB/T 32918.2 §5.5: the ID's bit length, the ID, the curve's `a`, `b`, generator and
//!   the public key). The ID is [`DEFAULT_ID`] unless a chain names its own. Encoded as the 64
//!   bytes `r || s`, big-endian. The nonce `k` is derived as in RFC 6979 (with SM3) from the key
//!   and `e`, so signing needs no random source and cannot leak the key through a weak one;
//!   verifiers cannot tell it from a random `k`.
//! - **Public keys** are SEC1 points; [`Sm2PublicKey`] keeps the 33-byte compressed form and
//!   accepts the 65-byte uncompressed one. A point not on the curve, or the identity, is refused.
//! - **Encryption** is SM2 public-key encryption with the ciphertext laid out `C1 || C3 || C2`
//!   (GB/T 32918.4-2016; the 2010 draft's `C1 || C2 || C3` is not produced or accepted), `C1`
//!   uncompressed with its `04` prefix.
//! - **SM4-GCM** takes a 16-byte key and a 12-byte nonce and appends the 16-byte tag.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use sm2::dsa::signature::{Signer, Verifier};
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm3::Digest;

use crate::CryptoError;

/// The user ID GB/T 32918 and GM/T 0009 name as the default ("1234567812345678"), used for `Z`
/// when a chain does not set its own.
pub const DEFAULT_ID: &str = "1234567812345678";

/// The SM3 digest of `bytes`.
pub fn sm3(bytes: &[u8]) -> [u8; 32] {
    sm3::Sm3::digest(bytes).into()
}

/// The SM3 digest of the concatenation of `parts`, without building it.
pub fn sm3_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = sm3::Sm3::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// n - 1, for the SM2 curve's group order n: the one scalar below n that is not a secret key.
const SECRET_LIMIT: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0x72, 0x03, 0xDF, 0x6B, 0x21, 0xC6, 0x05, 0x2B, 0x53, 0xBB, 0xF4, 0x09, 0x39, 0xD5, 0x41, 0x22,
];

/// An SM2 key pair, for signing under one user ID and for decrypting.
#[derive(Clone)]
pub struct Sm2Keypair {
    signing: sm2::dsa::SigningKey,
}

impl std::fmt::Debug for Sm2Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sm2Keypair")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

impl Sm2Keypair {
    /// A new key pair from the operating system's random source, signing under `id`.
    pub fn generate(id: &str) -> Result<Sm2Keypair, CryptoError> {
        loop {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| CryptoError::Random(e.to_string()))?;
            // A scalar of 0 or at least the group order has probability about 2^-224: draw again.
            match Sm2Keypair::from_secret(&secret, id) {
                Err(CryptoError::MalformedSm2SecretKey) => continue,
                other => return other,
            }
        }
    }

    /// The key pair with secret scalar `secret` (32 bytes, big-endian, in `[1, n-2]`), signing
    /// under `id`.
    pub fn from_secret(secret: &[u8; 32], id: &str) -> Result<Sm2Keypair, CryptoError> {
        // GB/T 32918.1 §6.1: d in [1, n-2]. `SecretKey` refuses 0 and n or more; d = n-1 is
        // refused here, since signing divides by 1 + d.
        if *secret == SECRET_LIMIT {
            return Err(CryptoError::MalformedSm2SecretKey);
        }
        let secret_key =
            sm2::SecretKey::from_slice(secret).map_err(|_| CryptoError::MalformedSm2SecretKey)?;
        // `SigningKey::new` refuses an ID longer than the 2^16 bits `Z` can state.
        let signing = sm2::dsa::SigningKey::new(id, &secret_key)
            .map_err(|_| CryptoError::MalformedSm2SecretKey)?;
        Ok(Sm2Keypair { signing })
    }

    /// The secret scalar, 32 bytes big-endian (for key files).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes().into()
    }

    /// The public key.
    pub fn public(&self) -> Sm2PublicKey {
        Sm2PublicKey::from_point(self.signing.verifying_key().as_affine())
    }

    /// The SM2 signature of `message` under this key's user ID.
    pub fn sign(&self, message: &[u8]) -> Sm2Signature {
        let signature: sm2::dsa::Signature = self
            .signing
            .try_sign(message)
            // Fails only if r = 0 or r + k = n for the derived k: probability about 2^-256.
            .expect("SM2 signing with a key in [1, n-2] succeeds");
        Sm2Signature(signature.to_bytes().into())
    }

    /// Decrypts an SM2 ciphertext (`C1 || C3 || C2`) made for this key's public key.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let secret = self.signing.as_nonzero_scalar();
        sm2::pke::DecryptingKey::new_with_mode(*secret, sm2::pke::Mode::C1C3C2)
            .decrypt(ciphertext)
            .map_err(|_| CryptoError::DecryptionFailed)
    }
}

/// An SM2 public key: a SEC1 compressed point (33 bytes), known to be on the curve.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sm2PublicKey([u8; 33]);

impl std::fmt::Debug for Sm2PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sm2PublicKey({})", hex::encode(self.0))
    }
}

impl Sm2PublicKey {
    fn from_point(point: &sm2::AffinePoint) -> Sm2PublicKey {
        let compressed = point.to_sec1_point(true);
        let mut bytes = [0u8; 33];
        bytes.copy_from_slice(compressed.as_bytes());
        Sm2PublicKey(bytes)
    }

    /// Parses a SEC1 point: 33 bytes compressed (`02`/`03` prefix) or 65 uncompressed (`04`).
    /// Refuses anything that is not a point of the curve other than the identity.
    pub fn from_sec1(bytes: &[u8]) -> Result<Sm2PublicKey, CryptoError> {
        let key = sm2::PublicKey::from_sec1_bytes(bytes)
            .map_err(|_| CryptoError::MalformedSm2PublicKey)?;
        Ok(Sm2PublicKey::from_point(key.as_affine()))
    }

    /// The compressed encoding.
    pub fn to_bytes(&self) -> [u8; 33] {
        self.0
    }

    /// The uncompressed encoding (`04 || x || y`), what most other tools print.
    pub fn to_uncompressed(&self) -> [u8; 65] {
        let mut bytes = [0u8; 65];
        bytes.copy_from_slice(self.point().to_sec1_point(false).as_bytes());
        bytes
    }

    fn point(&self) -> sm2::AffinePoint {
        *sm2::PublicKey::from_sec1_bytes(&self.0)
            .expect("an Sm2PublicKey holds a valid point")
            .as_affine()
    }

    /// Checks an SM2 signature of `message` by this key under user ID `id`.
    pub fn verify(
        &self,
        id: &str,
        message: &[u8],
        signature: &Sm2Signature,
    ) -> Result<(), CryptoError> {
        let key = sm2::dsa::VerifyingKey::from_affine(id, self.point())
            .map_err(|_| CryptoError::MalformedSm2PublicKey)?;
        // `from_slice` refuses r or s outside [1, n-1] (GB/T 32918.2 §7.1, B1 and B2).
        let signature =
            sm2::dsa::Signature::from_slice(&signature.0).map_err(|_| CryptoError::BadSignature)?;
        key.verify(message, &signature)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Encrypts `plaintext` (non-empty) to this key: `C1 || C3 || C2`, 97 bytes longer than the
    /// plaintext.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = sm2::PublicKey::from_affine(self.point())
            .map_err(|_| CryptoError::MalformedSm2PublicKey)?;
        sm2::pke::EncryptingKey::new_with_mode(key, sm2::pke::Mode::C1C3C2)
            .encrypt(&mut getrandom::SysRng, plaintext)
            .map_err(|_| CryptoError::EncryptionFailed)
    }
}

/// An SM2 signature: `r || s`, 32 bytes each, big-endian.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sm2Signature(pub [u8; 64]);

impl std::fmt::Debug for Sm2Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sm2Signature({})", hex::encode(self.0))
    }
}

type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, aes_gcm::aead::consts::U12>;

/// Encrypts `plaintext` with SM4-GCM under `key` and `nonce`, authenticating `aad` too: the
/// ciphertext followed by the 16-byte tag. A nonce must never be used twice with one key.
pub fn sm4_gcm_seal(key: &[u8; 16], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Sm4Gcm::new(key.into());
    cipher
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("SM4-GCM encrypts any plaintext shorter than 64 GiB")
}

/// Decrypts what [`sm4_gcm_seal`] made, or refuses it if the ciphertext, the tag or `aad`
/// were changed.
pub fn sm4_gcm_open(
    key: &[u8; 16],
    nonce: &[u8; 12],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Sm4Gcm::new(key.into());
    cipher
        .decrypt(nonce.into(), Payload { msg: sealed, aad })
        .map_err(|_| CryptoError::DecryptionFailed)
}

#[cfg(test)]
mod tests;
