//! Cassia's node runtime: what turns the libraries into a node an agency runs.
//!
//! - [`config`]: `config.toml`, as written and as resolved.
//! - [`network`]: the permissioned libp2p network (membership gating, validated gossip,
//!   block-sync request-response).
//! - [`mempool`]: admission checks in front of a bounded pool.
//! - [`runtime`]: the event loop that drives the consensus engine from network, timers and
//!   submissions, and fetches missing blocks from peers.
//! - [`rpc`]: the gRPC server for integrators (`cassia.v1`).
//! - [`metrics`]: Prometheus `/metrics`, `/health` and `/status`.
//! - [`start`]: starting a node from its home directory.
//! - `byzantine` (test builds only, cargo feature `byzantine`): a mode in which the node attacks
//!   its peers, for the fault suite.
//!
//! ```
//! use cassia_node::config::{Config, DEFAULT_CONFIG_TOML};
//!
//! let config = Config::from_toml(DEFAULT_CONFIG_TOML, std::path::Path::new("/srv/cassia"))
//!     .expect("the documented defaults are valid");
//! assert_eq!(config.data_dir, std::path::Path::new("/srv/cassia/data"));
//! ```

#[cfg(feature = "byzantine")]
pub mod byzantine;
pub mod config;
pub mod head;
pub mod mempool;
pub mod metrics;
pub mod network;
pub mod rpc;
pub mod runtime;
pub mod start;
mod verifier;
