//! Cassia's node runtime: what turns the libraries into a node an agency runs.
//!
//! - [`config`]: `config.toml`, as written and as resolved.
//! - [`chain_store`]: the node's RocksDB database as the engine's store (blocks, state, WAL).
//! - [`network`]: the permissioned libp2p network (membership gating, validated gossip,
//!   block-sync request-response).
//! - [`runtime`]: the event loop that drives the consensus engine from network, timers and
//!   submissions, with one room per job: admission (signatures verified off the loop, then the
//!   engine's admission rule and mempool), block sync, membership, telemetry, timers.
//! - [`rpc`]: the gRPC server for integrators (`cassia.v1`).
//! - [`metrics`]: Prometheus `/metrics`, `/health` and `/status`.
//! - [`start`]: starting a node from its home directory.
//! - [`interceptor`]: the one seam through which the fault suite watches or bends a running node
//!   (a no-op in production).
//!
//! ```
//! use cassia_node::config::{Config, DEFAULT_CONFIG_TOML};
//!
//! let config = Config::from_toml(DEFAULT_CONFIG_TOML, std::path::Path::new("/srv/cassia"))
//!     .expect("the documented defaults are valid");
//! assert_eq!(config.data_dir, std::path::Path::new("/srv/cassia/data"));
//! ```

pub mod chain_store;
pub mod config;
pub mod head;
pub mod interceptor;
pub mod metrics;
pub mod network;
pub mod rpc;
pub mod runtime;
pub mod start;
