//! Node configuration: `config.toml` in the node's home directory.
//!
//! Two layers, so that what a person writes and what the node uses are kept apart: [`RawConfig`]
//! is the file as written (every field optional, unknown fields refused so typos are caught),
//! and [`Config`] is the resolved, validated form with absolute paths and parsed addresses.
//! [`DEFAULT_CONFIG_TOML`] is the commented file `cassia init` writes: every setting with its
//! default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cassia_crypto::PublicKey;
use libp2p::Multiaddr;
use serde::Deserialize;

/// Most entries `[network] peer_addresses` may hold: more than any consortium has members, so
/// a file that names more is a mistake, not a deployment.
pub const MAX_PEER_ADDRESSES: usize = 1024;

/// The config file `cassia init` writes: every setting, its default and what it does.
pub const DEFAULT_CONFIG_TOML: &str = r#"# Cassia node configuration. Every setting is shown with its default value.
# Paths are relative to the node's home directory. Command-line flags override this file.

[node]
# Key file of this node: signs consensus messages; its public key is the node's libp2p PeerId.
key_file = "keys/node.key"
# Where RocksDB keeps blocks, state and the consensus WAL.
data_dir = "data"
# The chain's genesis file (verified at start: every organization must have approved it).
genesis_file = "genesis.json"

[network]
# libp2p listen address (TCP; Noise encryption; Yamux multiplexing).
listen = "/ip4/0.0.0.0/tcp/7100"
# Extra peers to dial at start, as multiaddresses; validators from the chain state are dialled anyway.
bootstrap = []
# Largest consensus or sync message accepted from a peer, in bytes.
max_message_bytes = 16777216
# Where to dial a member instead of the p2p address registered on chain, by node public key
# (hex), e.g. for a peer this node reaches through NAT or an internal network:
#   peer_addresses = { "6f1c...e2" = "/ip4/10.1.2.3/tcp/7100" }
# It applies to every dial of that member, also after governance changes the membership.
peer_addresses = {}

[rpc]
# gRPC listen address for integrators and the `cassia` client commands.
listen = "127.0.0.1:7200"
# Most concurrent SubscribeBlocks/SubscribeEvents streams; more get RESOURCE_EXHAUSTED.
max_subscribers = 64
# A subscriber that reads nothing for this long while the node has more to send is told
# (RESOURCE_EXHAUSTED, with the height to resume from) and dropped, so it holds no memory.
subscriber_timeout_ms = 10000

[metrics]
# Prometheus /metrics and health endpoint.
listen = "127.0.0.1:7300"

[mempool]
# Most pending transactions held; further submissions get "mempool full".
max_transactions = 50000
# Most bytes of pending transactions held.
max_bytes = 67108864

[log]
# tracing filter, e.g. "info" or "info,cassia_consensus=debug"; RUST_LOG overrides it.
level = "info"
"#;

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `[node]`
    pub node: RawNode,
    /// `[network]`
    pub network: RawNetwork,
    /// `[rpc]`
    pub rpc: RawRpc,
    /// `[metrics]`
    pub metrics: RawListen,
    /// `[mempool]`
    pub mempool: RawMempool,
    /// `[log]`
    pub log: RawLog,
}

/// `[node]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNode {
    /// Key file path.
    pub key_file: Option<PathBuf>,
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// Genesis file.
    pub genesis_file: Option<PathBuf>,
}

/// `[network]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNetwork {
    /// Listen multiaddress.
    pub listen: Option<String>,
    /// Bootstrap multiaddresses.
    pub bootstrap: Option<Vec<String>>,
    /// Message cap.
    pub max_message_bytes: Option<usize>,
    /// Dial-address overrides: node public key (hex) to multiaddress.
    pub peer_addresses: Option<BTreeMap<String, String>>,
}

/// A `listen = "host:port"` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawListen {
    /// Socket address.
    pub listen: Option<String>,
}

/// `[rpc]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRpc {
    /// Socket address.
    pub listen: Option<String>,
    /// Concurrent subscription cap.
    pub max_subscribers: Option<usize>,
    /// Slow-subscriber timeout, milliseconds.
    pub subscriber_timeout_ms: Option<u64>,
}

/// `[mempool]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMempool {
    /// Transaction cap.
    pub max_transactions: Option<usize>,
    /// Byte cap.
    pub max_bytes: Option<usize>,
}

/// `[log]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// tracing filter.
    pub level: Option<String>,
}

/// The resolved configuration the node runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The home directory everything is relative to.
    pub home: PathBuf,
    /// Node key file.
    pub key_file: PathBuf,
    /// RocksDB directory.
    pub data_dir: PathBuf,
    /// Genesis file.
    pub genesis_file: PathBuf,
    /// libp2p listen multiaddress.
    pub p2p_listen: String,
    /// Extra peers to dial.
    pub bootstrap: Vec<String>,
    /// Largest peer message, bytes.
    pub max_message_bytes: usize,
    /// Where to dial a member instead of its on-chain p2p address, by node key.
    pub peer_addresses: BTreeMap<PublicKey, Multiaddr>,
    /// gRPC address.
    pub rpc_listen: SocketAddr,
    /// Concurrent gRPC subscription cap.
    pub rpc_max_subscribers: usize,
    /// How long a subscriber may read nothing before it is dropped, milliseconds.
    pub rpc_subscriber_timeout_ms: u64,
    /// Metrics address.
    pub metrics_listen: SocketAddr,
    /// Mempool transaction cap.
    pub mempool_max_transactions: usize,
    /// Mempool byte cap.
    pub mempool_max_bytes: usize,
    /// tracing filter.
    pub log_level: String,
}

/// What is wrong with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML, or an unknown or mistyped setting.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (names the line and setting).
        message: String,
    },
    /// A value out of range.
    #[error("setting {setting}: {message}")]
    Invalid {
        /// `section.name`.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads `home/config.toml` (missing settings take their defaults).
    pub fn load(home: &Path) -> Result<Config, ConfigError> {
        let path = home.join("config.toml");
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text, home).map_err(|error| match error {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parses and resolves `text` for a node whose home is `home`.
    pub fn from_toml(text: &str, home: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "config".into(),
            message: e.to_string(),
        })?;
        Config::resolve(raw, home)
    }

    /// Fills defaults, makes paths absolute and checks ranges.
    pub fn resolve(raw: RawConfig, home: &Path) -> Result<Config, ConfigError> {
        let path = |value: Option<PathBuf>, default: &str| {
            home.join(value.unwrap_or_else(|| default.into()))
        };
        let socket = |setting: &'static str, value: Option<String>, default: &str| {
            let text = value.unwrap_or_else(|| default.to_string());
            text.parse::<SocketAddr>()
                .map_err(|e| ConfigError::Invalid {
                    setting,
                    message: format!("{text:?} is not host:port ({e})"),
                })
        };
        let config = Config {
            home: home.to_path_buf(),
            key_file: path(raw.node.key_file, "keys/node.key"),
            data_dir: path(raw.node.data_dir, "data"),
            genesis_file: path(raw.node.genesis_file, "genesis.json"),
            p2p_listen: raw
                .network
                .listen
                .unwrap_or_else(|| "/ip4/0.0.0.0/tcp/7100".into()),
            bootstrap: raw.network.bootstrap.unwrap_or_default(),
            max_message_bytes: raw.network.max_message_bytes.unwrap_or(16 * 1024 * 1024),
            peer_addresses: peer_addresses(raw.network.peer_addresses.unwrap_or_default())?,
            rpc_listen: socket("rpc.listen", raw.rpc.listen, "127.0.0.1:7200")?,
            rpc_max_subscribers: raw.rpc.max_subscribers.unwrap_or(64),
            rpc_subscriber_timeout_ms: raw.rpc.subscriber_timeout_ms.unwrap_or(10_000),
            metrics_listen: socket("metrics.listen", raw.metrics.listen, "127.0.0.1:7300")?,
            mempool_max_transactions: raw.mempool.max_transactions.unwrap_or(50_000),
            mempool_max_bytes: raw.mempool.max_bytes.unwrap_or(64 * 1024 * 1024),
            log_level: raw.log.level.unwrap_or_else(|| "info".into()),
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, message: &str| {
            Err(ConfigError::Invalid {
                setting,
                message: message.to_string(),
            })
        };
        if !self.p2p_listen.starts_with('/') {
            return invalid(
                "network.listen",
                "must be a multiaddress such as /ip4/0.0.0.0/tcp/7100",
            );
        }
        if !(64 * 1024..=256 * 1024 * 1024).contains(&self.max_message_bytes) {
            return invalid(
                "network.max_message_bytes",
                "must be between 64 KiB and 256 MiB",
            );
        }
        if self.rpc_max_subscribers == 0 || self.rpc_subscriber_timeout_ms == 0 {
            return invalid("rpc", "subscription limits must be positive");
        }
        if self.mempool_max_transactions == 0 || self.mempool_max_bytes == 0 {
            return invalid("mempool", "limits must be positive");
        }
        Ok(())
    }
}

/// Resolves `[network] peer_addresses`: each key must be a node public key (64 hex characters
/// of a valid ed25519 point, as `cassia keygen` prints it) and each value a multiaddress.
fn peer_addresses(
    raw: BTreeMap<String, String>,
) -> Result<BTreeMap<PublicKey, Multiaddr>, ConfigError> {
    const SETTING: &str = "network.peer_addresses";
    let invalid = |message: String| ConfigError::Invalid {
        setting: SETTING,
        message,
    };
    if raw.len() > MAX_PEER_ADDRESSES {
        return Err(invalid(format!(
            "{} entries; at most {MAX_PEER_ADDRESSES} are allowed",
            raw.len()
        )));
    }
    raw.into_iter()
        .map(|(key, address)| {
            let node_key = PublicKey::from_hex(&key).map_err(|e| {
                invalid(format!(
                    "key {key:?} is not a node public key (64 hex characters): {e}"
                ))
            })?;
            let multiaddr = address.parse::<Multiaddr>().map_err(|e| {
                invalid(format!(
                    "address {address:?} of {key} is not a multiaddress such as \
                     /ip4/10.0.0.5/tcp/7100: {e}"
                ))
            })?;
            Ok((node_key, multiaddr))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_equals_empty_file() {
        let home = Path::new("/home/n");
        let from_defaults = Config::from_toml(DEFAULT_CONFIG_TOML, home).expect("defaults parse");
        let from_empty = Config::from_toml("", home).expect("empty parses");
        assert_eq!(from_defaults, from_empty);
    }

    #[test]
    fn typos_and_bad_values_are_named() {
        let home = Path::new("/h");
        let error = Config::from_toml("[rpc]\nlisen = \"x\"\n", home)
            .expect_err("typo")
            .to_string();
        assert!(error.contains("lisen"), "{error}");
        let error = Config::from_toml("[rpc]\nlisten = \"nowhere\"\n", home)
            .expect_err("bad")
            .to_string();
        assert!(error.contains("rpc.listen"), "{error}");
    }

    #[test]
    fn peer_addresses_resolve_to_node_keys_and_multiaddresses() {
        let key = cassia_crypto::Keypair::from_secret([7; 32]).public();
        let text = format!(
            "[network]\npeer_addresses = {{ \"{}\" = \"/ip4/127.0.0.1/tcp/7101\" }}\n",
            key.to_hex()
        );
        let config = Config::from_toml(&text, Path::new("/h")).expect("valid overrides");
        let expected: Multiaddr = "/ip4/127.0.0.1/tcp/7101".parse().expect("multiaddr");
        assert_eq!(config.peer_addresses.get(&key), Some(&expected));
        assert_eq!(config.peer_addresses.len(), 1);
    }

    #[test]
    fn bad_peer_address_keys_and_addresses_are_named() {
        let home = Path::new("/h");
        let key = cassia_crypto::Keypair::from_secret([7; 32])
            .public()
            .to_hex();
        let cases = [
            ("\"abc\" = \"/ip4/127.0.0.1/tcp/1\"".to_string(), "\"abc\""),
            (
                format!("\"{}\" = \"/ip4/127.0.0.1/tcp/1\"", "zz".repeat(32)),
                "zzzz",
            ),
            (format!("\"{key}\" = \"127.0.0.1:7100\""), "127.0.0.1:7100"),
            (format!("\"{key}\" = 7100"), "peer_addresses"),
        ];
        for (entry, named) in cases {
            let text = format!("[network]\npeer_addresses = {{ {entry} }}\n");
            let error = Config::from_toml(&text, home)
                .expect_err("refused")
                .to_string();
            assert!(error.contains("peer_addresses"), "{entry}: {error}");
            assert!(error.contains(named), "{entry}: {error}");
        }
    }
}
