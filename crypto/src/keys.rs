//! ed25519 keys and domain-separated signatures.
//!
//! Signed bytes are never a bare payload. [`signing_bytes`] lays them out as
//!
//! ```text
//! +-----------+--------+--------------+---------+
//! | "cassia2" | domain | genesis hash | payload |
//! +-----------+--------+--------------+---------+
//!    7 bytes    1 byte     32 bytes
//! ```
//!
//! so that a signature is bound to what it was made for and to one chain. The chain is named by
//! its genesis hash ([`GenesisHash`]), not its chain id: the hash commits to the id and to the
//! founding organizations, validators and parameters, so a staging copy that reuses the
//! production chain id still cannot replay a single production signature, or the reverse.
//!
//! Keys are made and signatures produced with `ed25519-dalek` (standard ed25519); signatures are
//! verified under one rule, ZIP-215, by [`crate::verify`].

use std::fmt;

use bincode::{Decode, Encode};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::Hash;

/// Failures of key handling and verification.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The bytes are not a valid ed25519 public key (not a curve point).
    #[error("malformed public key: not a valid ed25519 point")]
    MalformedPublicKey,
    /// The bytes decode to a point but are not its canonical encoding (`y >= p`, or the sign bit
    /// set where `x = 0`), so one point would have two identities. Honest keys never look like
    /// this. Refused where keys enter the chain.
    #[error("public key is not canonically encoded")]
    NonCanonicalPublicKey,
    /// The key is one of the 8 small-order points: anyone can make signatures under it that
    /// verify for many messages. Refused where keys enter the chain.
    #[error("public key has small order (a weak key nobody owns)")]
    SmallOrderPublicKey,
    /// The key is a valid key plus a small-order (torsion) component, which no honest key
    /// generation produces. Refused where keys enter the chain, so that verifiers with other
    /// cofactor conventions agree on every signature of a registered key.
    #[error("public key has a small-order component")]
    MixedOrderPublicKey,
    /// A signature did not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// Hex text of the wrong length or with non-hex characters.
    #[error("malformed {what}: expected {expected_bytes} bytes as hex")]
    MalformedHex {
        /// What was being parsed.
        what: &'static str,
        /// How many bytes the hex should encode.
        expected_bytes: usize,
    },
    /// A chain id longer than the 255 bytes the signing layout allows.
    #[error("chain id longer than 255 bytes")]
    ChainIdTooLong,
    /// Batch inputs of different lengths.
    #[error("batch verification inputs differ in length")]
    BatchLengthMismatch,
    /// The operating system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
    /// The bytes are not an SM2 public key: not a SEC1 encoding of a point of the SM2 curve
    /// other than the identity.
    #[error("malformed SM2 public key: not a point of the SM2 curve")]
    MalformedSm2PublicKey,
    /// The bytes are not an SM2 secret key (a scalar in [1, n-2]), or the user ID is too long.
    #[error("malformed SM2 secret key: not a scalar in [1, n-2], or a user ID over 8 KiB")]
    MalformedSm2SecretKey,
    /// A ciphertext did not decrypt: altered, truncated, or made for another key.
    #[error("ciphertext does not decrypt: altered, truncated or meant for another key")]
    DecryptionFailed,
    /// Encryption failed (an empty plaintext, or the random source).
    #[error("encryption failed: the plaintext is empty or the random source failed")]
    EncryptionFailed,
}

/// What a signature is for. Part of every signed message, so signatures cannot cross purposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Domain {
    /// A transaction signed by an account.
    Transaction = 1,
    /// A prepare or commit vote of a validator; commit votes form commit certificates.
    Vote = 2,
    /// Other consensus messages: pre-prepare, view change, new view.
    Consensus = 3,
    /// An organization's approval of a genesis file.
    Genesis = 4,
    /// A co-signature on notarized evidence.
    Evidence = 5,
    /// A reader's credential on a query of an access-controlled namespace.
    Read = 6,
}

/// The chain a signature is for: the hash of its genesis (approvals aside).
///
/// A type of its own so that no other hash (a block's, a transaction's) can be passed where a
/// signature's chain is meant. Verifiers always take it from their own genesis, never from the
/// signed object, so an object claiming another chain simply fails to verify.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct GenesisHash(pub Hash);

impl GenesisHash {
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl fmt::Display for GenesisHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for GenesisHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GenesisHash({})", self.0.short())
    }
}

/// The exact bytes an ed25519 signature covers for `domain` on the chain `genesis`.
pub fn signing_bytes(domain: Domain, genesis: &GenesisHash, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(40 + payload.len());
    bytes.extend_from_slice(b"cassia2");
    bytes.push(domain as u8);
    bytes.extend_from_slice(genesis.as_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// An ed25519 public key: an account's identity or a node's identity (and libp2p PeerId).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Parses 64 hex characters and checks the bytes are a valid key.
    pub fn from_hex(text: &str) -> Result<PublicKey, CryptoError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| CryptoError::MalformedHex {
            what: "public key",
            expected_bytes: 32,
        })?;
        let key = PublicKey(bytes);
        key.verifying_key()?;
        Ok(key)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn verifying_key(&self) -> Result<VerifyingKey, CryptoError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| CryptoError::MalformedPublicKey)
    }

    /// Checks `signature` over [`signing_bytes`]`(domain, genesis, payload)`.
    pub fn verify(
        &self,
        domain: Domain,
        genesis: &GenesisHash,
        payload: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let message = signing_bytes(domain, genesis, payload);
        self.verify_raw(&message, signature)
    }

    /// Checks `signature` over `message` exactly as given (already laid out by [`signing_bytes`]),
    /// under ZIP-215, the rule [`crate::verify_batch`] follows too (see [`crate::verify`]).
    pub fn verify_raw(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        crate::verify::verify_single(self, message, signature)
    }

    /// Whether the key may enter the chain (as a genesis admin or validator key, a registered
    /// account, an organization's admin or a new validator): a canonically encoded point of the
    /// prime-order subgroup other than the identity, which is what key generation always
    /// produces. ZIP-215 verification accepts signatures under small-order keys for many
    /// messages; refusing such keys at entry means no account or validator ever has one.
    pub fn check_usable(&self) -> Result<(), CryptoError> {
        let point = self.verifying_key()?.to_edwards();
        if point.compress().to_bytes() != self.0 {
            return Err(CryptoError::NonCanonicalPublicKey);
        }
        if point.is_small_order() {
            return Err(CryptoError::SmallOrderPublicKey);
        }
        if !point.is_torsion_free() {
            return Err(CryptoError::MixedOrderPublicKey);
        }
        Ok(())
    }

    /// Whether the key is one of the 8 small-order points, in any encoding.
    pub fn is_small_order(&self) -> bool {
        self.verifying_key()
            .is_ok_and(|key| key.to_edwards().is_small_order())
    }

    /// The libp2p PeerId of this key, as a node identity on the network.
    pub fn peer_id(&self) -> Result<libp2p_identity::PeerId, CryptoError> {
        let key = libp2p_identity::ed25519::PublicKey::try_from_bytes(&self.0)
            .map_err(|_| CryptoError::MalformedPublicKey)?;
        Ok(libp2p_identity::PublicKey::from(key).to_peer_id())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(&self.0[..4]))
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PublicKey::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 128 hex characters.
    pub fn from_hex(text: &str) -> Result<Signature, CryptoError> {
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| CryptoError::MalformedHex {
            what: "signature",
            expected_bytes: 64,
        })?;
        Ok(Signature(bytes))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0[..4]))
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Signature::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signing key with its public key. Never printed: `Debug` shows the public key only.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A new key from the operating system's random source.
    ///
    /// # Panics
    /// If the OS random source fails; a node cannot run safely without one.
    pub fn generate() -> Keypair {
        Keypair::try_generate().expect("the operating system's random source must work")
    }

    /// A new key from the operating system's random source, or the source's error.
    pub fn try_generate() -> Result<Keypair, CryptoError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| CryptoError::Random(e.to_string()))?;
        Ok(Keypair::from_secret(secret))
    }

    /// The key whose 32-byte secret seed is `secret`. Tests and simulators derive keys this way.
    pub fn from_secret(secret: [u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    /// The 32-byte secret seed. Handle with care: it is the key.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs [`signing_bytes`]`(domain, genesis, payload)`.
    pub fn sign(&self, domain: Domain, genesis: &GenesisHash, payload: &[u8]) -> Signature {
        self.sign_raw(&signing_bytes(domain, genesis, payload))
    }

    /// Signs `message` exactly as given (already laid out by [`signing_bytes`]).
    pub fn sign_raw(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }

    /// The libp2p keypair with the same secret, so a node's network identity is its node key.
    pub fn to_libp2p(&self) -> libp2p_identity::Keypair {
        let mut secret = self.secret_bytes();
        let secret = libp2p_identity::ed25519::SecretKey::try_from_bytes(&mut secret)
            .expect("any 32 bytes are a valid ed25519 secret seed");
        libp2p_identity::Keypair::from(libp2p_identity::ed25519::Keypair::from(secret))
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({:?})", self.public())
    }
}

/// A random `u64` from the operating system, e.g. a transaction nonce.
pub fn random_u64() -> Result<u64, CryptoError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify_batch;

    #[test]
    fn signatures_are_bound_to_domain_chain_and_payload() {
        let chain_a = &GenesisHash(Hash::of(b"chain-a"));
        let chain_b = &GenesisHash(Hash::of(b"chain-b"));
        let key = Keypair::from_secret([7; 32]);
        let sig = key.sign(Domain::Vote, chain_a, b"hello");
        let public = key.public();
        assert_eq!(public.verify(Domain::Vote, chain_a, b"hello", &sig), Ok(()));
        assert!(
            public
                .verify(Domain::Consensus, chain_a, b"hello", &sig)
                .is_err()
        );
        assert!(
            public
                .verify(Domain::Vote, chain_b, b"hello", &sig)
                .is_err()
        );
        assert!(
            public
                .verify(Domain::Vote, chain_a, b"hellO", &sig)
                .is_err()
        );
        let other = Keypair::from_secret([8; 32]).public();
        assert!(other.verify(Domain::Vote, chain_a, b"hello", &sig).is_err());
    }

    #[test]
    fn batch_verification_accepts_valid_and_rejects_one_bad() {
        let keys: Vec<_> = (0..16u8).map(|i| Keypair::from_secret([i; 32])).collect();
        let messages: Vec<Vec<u8>> = (0..16u8)
            .map(|i| signing_bytes(Domain::Transaction, &GenesisHash(Hash::of(b"c")), &[i]))
            .collect();
        let mut signatures: Vec<_> = keys
            .iter()
            .zip(&messages)
            .map(|(k, m)| k.sign_raw(m))
            .collect();
        let publics: Vec<_> = keys.iter().map(Keypair::public).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        assert_eq!(verify_batch(&refs, &signatures, &publics), Ok(()));
        signatures[5].0[0] ^= 1;
        assert!(verify_batch(&refs, &signatures, &publics).is_err());
        assert_eq!(
            verify_batch(&refs[..3], &signatures, &publics),
            Err(CryptoError::BatchLengthMismatch)
        );
    }

    #[test]
    fn peer_id_comes_from_the_public_key_alone() {
        let key = Keypair::from_secret([9; 32]);
        let from_public = key.public().peer_id().expect("valid key");
        let from_libp2p = key.to_libp2p().public().to_peer_id();
        assert_eq!(from_public, from_libp2p);
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let public = Keypair::from_secret([1; 32]).public();
        assert_eq!(PublicKey::from_hex(&public.to_hex()), Ok(public));
        assert!(PublicKey::from_hex("abcd").is_err());
        assert!(PublicKey::from_hex(&"zz".repeat(32)).is_err());
    }
}
