//! Cassia's PBFT replica as a pure state machine.
//!
//! A [`Replica`] takes one [`Input`] at a time (a peer's message, a fired timer, a built or
//! validated block, a block fetched by sync, the next height's validator set) and returns the
//! [`Actions`] its host must carry out: persist, send, set a timer, commit, answer requests.
//! Nothing inside reads a clock, draws randomness, does I/O or spawns threads, so the same code
//! runs in the node and, seed for seed, in the deterministic simulator (`cassia-tests`).
//!
//! The protocol is Castro and Liskov's PBFT (OSDI 1999) with one block per height as the
//! sequence number: pre-prepare / prepare / commit with 2f+1 quorums (PBFT 4.2), view changes
//! carrying prepared certificates and a new view that must re-propose the highest prepared
//! block (PBFT 4.4), timeouts that double per failed view and the f+1 join rule (PBFT 4.5.2).
//! Commit votes are [`cassia_ledger::Vote`] signatures, so 2f+1 of them are a
//! [`cassia_ledger::CommitCertificate`] anyone can check offline.
//!
//! **The host's contract** (see [`io`]): apply each [`Actions`] in field order: make `persist`
//! durable *before* sending any of `messages`, then set the timer, then commit, then answer the
//! requests. That ordering is what lets a restarted replica never sign two different messages
//! for the same `(height, view, phase)` and never go back a view.
//!
//! Every buffer is bounded by a constant in [`limits`]; messages from non-validators, for
//! another chain, with bad signatures or outside the height/view window are dropped and counted
//! by [`DropReason`] in [`Replica::stats`].
//!
//! A single validator (n = 1, for development) decides alone:
//!
//! ```
//! use cassia_consensus::{Config, Input, Replica, Request};
//! use cassia_crypto::{GenesisHash, Hash, Keypair};
//! use cassia_ledger::{Block, BlockHeader, Validator, ValidatorSet};
//!
//! let key = Keypair::from_secret([7; 32]);
//! let validators = ValidatorSet {
//!     validators: vec![Validator {
//!         name: "v0".into(),
//!         organization: "org".into(),
//!         node_key: key.public(),
//!         p2p_address: String::new(),
//!     }],
//! };
//! let genesis = GenesisHash(Hash::of(b"the genesis"));
//! let config = Config { genesis, key: key.clone(), base_timeout_ms: 1_000 };
//! let mut replica = Replica::new(config, 1, validators.clone(), None).expect("a valid set");
//!
//! let started = replica.step(Input::Start);
//! assert!(started.persist.is_some(), "the starting point is made durable");
//! assert_eq!(started.requests, vec![Request::Propose { height: 1, view: 0 }]);
//!
//! // The host builds a block (in the node: cassia-engine executes the mempool's transactions).
//! let header = BlockHeader {
//!     height: 1,
//!     view: 0,
//!     parent: Hash::of(b"genesis"),
//!     timestamp_ms: 1,
//!     proposer: key.public(),
//!     tx_root: cassia_crypto::merkle::empty_root(), // no transactions
//!     receipts_root: Hash::ZERO,
//!     state_root: Hash::ZERO,
//!     validator_set_hash: validators.hash(),
//! };
//! let block = Block { header, transactions: vec![] };
//! let proposed = replica.step(Input::ProposalBuilt { height: 1, view: 0, block: block.clone() });
//! assert!(matches!(proposed.requests[..], [Request::Validate { height: 1, .. }]));
//!
//! // The host validates it; with n = 1 the prepare and commit quorums are this replica alone.
//! let decided = replica.step(Input::BlockValidated { height: 1, view: 0, block_hash: block.hash(), valid: true });
//! let commit = decided.commit.expect("committed");
//! assert!(commit.certificate.verify_for(&genesis, &validators, &block.hash()).is_ok());
//! assert_eq!(decided.requests, vec![Request::ValidatorSet { height: 2 }]);
//! ```

pub mod io;
pub mod limits;
pub mod message;
mod replica;
pub mod rule;
pub mod state;
pub mod stats;

pub use io::{
    Action, Actions, Commit, Evidence, Input, Outgoing, Recipient, Request, TimerCommand,
};
pub use limits::{
    HEIGHT_WINDOW, MAX_BUFFERED_BLOCKS_PER_SENDER, MAX_BUFFERED_PER_SENDER, MAX_FETCH_BLOCKS,
    MAX_SIGNED_PER_HEIGHT, MAX_TIMEOUT_DOUBLINGS, MAX_VALIDATORS, MAX_VIEW_AHEAD,
};
pub use message::{
    Message, NewView, Payload, PreparedCertificate, Proposal, SignedViewChange, StatementKind,
    ViewChange,
};
pub use replica::{Config, Replica, RestoreError, Status};
pub use state::{ConsensusState, Prepared};
pub use stats::{DropCounters, DropReason, Stats};
