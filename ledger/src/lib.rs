//! Cassia's ledger: the data model every node and client agrees on, and its deterministic
//! execution.
//!
//! - [`Transaction`], [`SignedTransaction`], [`Operation`], [`Receipt`], [`Rejection`]
//! - [`Block`], [`BlockHeader`]
//! - [`ValidatorSet`], [`Vote`], [`CommitCertificate`]: who may vote and the proof that they did
//! - [`Genesis`]: organizations, validators, parameters and the organizations' approvals
//! - [`codec`]: the one canonical encoding, used for every hash and signature
//! - [`execution`]: executing a block's transactions against the parent state, with each
//!   operation's permission check, governance and the genesis state
//! - [`records`]: what the state holds: accounts and roles, organizations, namespaces,
//!   traceability items, proposals
//! - [`evidence`]: self-contained evidence packages and their offline verification
//!   (format: `docs/evidence-format.md`)
//! - [`misbehaviour`]: compact proofs that a validator equivocated, the grounds of a proposal
//!   to remove it
//! - [`state_tree`]: the authenticated state tree, with proofs of a key's value or absence
//!
//! No clock, randomness or I/O is used here: everything is a pure function of its inputs.
//!
//! ```
//! use cassia_crypto::{GenesisHash, Hash, Keypair};
//! use cassia_ledger::{Operation, Transaction, codec};
//!
//! let account = Keypair::from_secret([1; 32]);
//! // In a node or client: `genesis.genesis_hash()`, or the node's status.
//! let chain = GenesisHash(Hash::of(b"the gx-gov genesis"));
//! let signed = Transaction {
//!     chain_id: "gx-gov".into(),
//!     signer: account.public(),
//!     nonce: 42,
//!     valid_until: 100,
//!     op: Operation::Notarize {
//!         digest: Hash::of(b"contract.pdf"),
//!         metadata: "e-contract".into(),
//!         co_signers: Vec::new(),
//!     },
//! }
//! .sign(&chain, &account);
//! assert!(signed.verify_signature(&chain).is_ok());
//! let bytes = codec::encode(&signed);
//! assert_eq!(codec::decode::<cassia_ledger::SignedTransaction>(&bytes), Ok(signed));
//! ```

pub mod block;
pub mod codec;
pub mod evidence;
pub mod execution;
pub mod genesis;
pub mod misbehaviour;
pub mod records;
pub mod state_tree;
pub mod transaction;
pub mod validators;

pub use block::{Block, BlockHeader};
pub use genesis::{Approval, Genesis, GenesisError, Organization, Parameters};
pub use transaction::{Operation, Receipt, Rejection, SignedTransaction, Transaction};
pub use validators::{
    CertificateError, CommitCertificate, Validator, ValidatorSet, ValidatorSignature, Vote,
    VoteKind,
};

/// A block height: PBFT's sequence number. Genesis is height 0; the first block is 1.
pub type Height = u64;
/// A PBFT view number within a height.
pub type View = u64;
