//! Cassia's engine: the glue between the pure consensus replica and the world, applying its
//! actions in the documented order (persist, send, timer, commit, requests), synchronously and
//! without tokio or libp2p.
//!
//! It admits transactions ([`Engine::admit`]: permission, form, duplicates, signature) into its
//! bounded [`Mempool`], builds proposals (transactions from the mempool, executed with
//! [`cassia_ledger::execution::execute_block`] to fill the header's roots), validates proposed
//! blocks ([`block`]), persists the consensus WAL through a [`Store`] before handing back any
//! message to send, commits blocks with their certificates and outcomes atomically, and applies
//! blocks fetched by sync after checking their certificates. The node (tokio, libp2p, RocksDB)
//! and the deterministic simulator (virtual clock and network, [`MemoryStore`]) are two hosts of
//! this same engine: a host moves bytes and timers, the engine decides.
//!
//! A one-validator development chain:
//!
//! ```
//! use cassia_crypto::Keypair;
//! use cassia_engine::{Engine, EngineConfig, MemoryStore, MempoolLimits, Store};
//! use cassia_ledger::{Genesis, Organization, Parameters, Validator};
//!
//! let key = Keypair::from_secret([1; 32]);
//! let genesis = Genesis {
//!     chain_id: "dev".into(),
//!     genesis_time_ms: 1_000,
//!     organizations: vec![Organization { id: "org".into(), name: "Org".into(), admins: vec![key.public()] }],
//!     validators: vec![Validator {
//!         name: "v0".into(),
//!         organization: "org".into(),
//!         node_key: key.public(),
//!         p2p_address: String::new(),
//!     }],
//!     parameters: Parameters::default(),
//!     approvals: vec![],
//! };
//! let config = EngineConfig {
//!     chain_id: genesis.chain_id.clone(),
//!     genesis: genesis.genesis_hash(),
//!     key,
//!     mempool: MempoolLimits::default(),
//! };
//! let mut engine = Engine::open(config, MemoryStore::new(&genesis))?;
//!
//! let started = engine.start(2_000)?;
//! assert_eq!(started.propose, Some((1, 0)), "the leader of height 1 is asked to propose");
//! let proposed = engine.propose(1, 0, 2_000)?;
//! assert_eq!(proposed.committed.len(), 1, "alone, a validator commits at once");
//! assert_eq!(engine.store().tip()?.height, 1);
//! assert_eq!(proposed.propose, Some((2, 0)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod block;
mod engine;
pub mod mempool;
pub mod store;

pub use engine::{
    Engine, EngineConfig, EngineError, EngineStats, Fetch, MAX_STEPS_PER_CALL,
    MESSAGE_OVERHEAD_BYTES, Output, message_cap,
};
pub use mempool::{Mempool, MempoolLimits, SignatureCheck};
pub use store::{MemoryStore, Store, StoreError, Tip};
