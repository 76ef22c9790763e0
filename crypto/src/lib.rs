//! Cassia's cryptography, in one place so that every signature and hash on the chain is made the
//! same way.
//!
//! - [`Hash`]: a 32-byte blake3 digest, the identity of transactions, blocks and state.
//! - [`Keypair`], [`PublicKey`], [`Signature`]: ed25519. Every signature is *domain separated*:
//!   the signed bytes start with a [`Domain`] tag and the chain's [`GenesisHash`], so a signature
//!   made for one purpose (say a consensus vote) or one chain can never be replayed as another,
//!   not even on a copy of the chain that reuses its chain id.
//! - [`verify_batch`]: ed25519 batch verification, several times faster per signature, under the
//!   same rule as single verification (ZIP-215), so the two agree on every input: [`verify`].
//! - [`merkle`]: RFC 6962 Merkle trees with inclusion proofs a verifier checks from the root alone.
//! - [`keyfile`]: key files written with mode 0600, optionally sealed with a passphrase
//!   (Argon2id + ChaCha20-Poly1305).
//! - [`PublicKey::peer_id`]: the libp2p identity of a node key, computable from the key alone.
//! - [`sm`]: the 国密 algorithms (SM2, SM3, SM4-GCM) the SM suite is to be built from; checked
//!   against the standards' examples and an independent implementation, not yet used by a chain.
//!
//! ```
//! use cassia_crypto::{Domain, GenesisHash, Hash, Keypair};
//!
//! let production = GenesisHash(Hash::of(b"the production genesis"));
//! let staging = GenesisHash(Hash::of(b"a staging copy with the same chain id"));
//! let key = Keypair::generate();
//! let signature = key.sign(Domain::Transaction, &production, b"payload");
//! assert!(key.public().verify(Domain::Transaction, &production, b"payload", &signature).is_ok());
//! // The same bytes under another domain or chain do not verify.
//! assert!(key.public().verify(Domain::Consensus, &production, b"payload", &signature).is_err());
//! assert!(key.public().verify(Domain::Transaction, &staging, b"payload", &signature).is_err());
//! ```

mod hash;
pub mod keyfile;
mod keys;
pub mod merkle;
pub mod sm;
pub mod verify;

pub use hash::Hash;
pub use keys::{
    CryptoError, Domain, GenesisHash, Keypair, PublicKey, Signature, random_u64, signing_bytes,
};
pub use verify::verify_batch;
