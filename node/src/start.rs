//! Starting a node from its home directory: read and check everything, then run.

use std::sync::Arc;

use cassia_crypto::keyfile::{self, KeyKind};
use cassia_engine::store::Store as _;
use cassia_ledger::Genesis;
use tokio::sync::mpsc;

use crate::chain_store::ChainStore;
use crate::config::Config;
use crate::head::Head;
use crate::interceptor::{Interceptor, NoInterceptor, RunningNode};
use crate::metrics::{self, Metrics};
use crate::network::{Network, NetworkConfig};
use crate::rpc;
use crate::runtime::membership::chain_members;
use crate::runtime::{self, NodeCommand, Runtime, RuntimeParts, SUBMISSION_QUEUE};
use cassia_engine::MempoolLimits;

/// Why a node could not start or had to stop. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The genesis file is unreadable or not approved by every organization.
    #[error("genesis {path}: {reason}")]
    Genesis {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The node key could not be read.
    #[error(transparent)]
    Key(#[from] keyfile::KeyFileError),
    /// The store could not be opened.
    #[error(transparent)]
    Storage(#[from] cassia_storage::StorageError),
    /// The network could not start.
    #[error("network: {0}")]
    Network(#[from] crate::network::NetworkError),
    /// The metrics endpoint could not bind.
    #[error("metrics endpoint {address}: {source}")]
    Metrics {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The gRPC endpoint could not bind.
    #[error("gRPC endpoint {address}: {source}")]
    Rpc {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The async runtime could not start (threads, signal handlers).
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The engine stopped the node (failed write, diverged state, unreadable consensus WAL).
    /// The engine's message already holds its causes, so it is not also given as the error's
    /// source: `cassia` prints the chain of sources, and would print it three times.
    #[error("consensus engine stopped the node: {0}")]
    Engine(cassia_engine::EngineError),
}

impl From<cassia_engine::EngineError> for NodeError {
    fn from(error: cassia_engine::EngineError) -> NodeError {
        NodeError::Engine(error)
    }
}

/// Reads and verifies the genesis file named by `config`.
pub fn load_genesis(config: &Config) -> Result<Genesis, NodeError> {
    let path = config.genesis_file.display().to_string();
    let text = std::fs::read_to_string(&config.genesis_file).map_err(|e| NodeError::Genesis {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let genesis: Genesis = serde_json::from_str(&text).map_err(|e| NodeError::Genesis {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    genesis.verify().map_err(|e| NodeError::Genesis {
        path,
        reason: e.to_string(),
    })?;
    Ok(genesis)
}

/// The head before the runtime's first event: the stored tip, view 0.
fn initial_head(engine: &cassia_engine::Engine<ChainStore>) -> Head {
    let replica = engine.replica();
    let tip = engine.store().tip().ok();
    let height = tip.as_ref().map_or(0, |t| t.height);
    Head {
        height,
        block_hash: tip
            .as_ref()
            .map_or_else(|| engine.store().genesis().hash(), |t| t.block_hash),
        state_root: tip.map(|t| t.state_root).unwrap_or_default(),
        view: replica.view(),
        leader: replica
            .validators()
            .leader(height.saturating_add(1), replica.view())
            .node_key,
        peers: Vec::new(),
    }
}

/// Refuses a node whose `[network] max_message_bytes` cannot carry a maximal block of the chain
/// (with its consensus overhead): it could neither relay proposals nor serve blocks. Chain
/// parameters are validated against the default cap, so only a lowered setting trips this.
fn check_message_cap(
    config: &Config,
    parameters: &cassia_ledger::Parameters,
) -> Result<(), NodeError> {
    let needed = cassia_engine::message_cap(parameters);
    if config.max_message_bytes >= needed {
        return Ok(());
    }
    Err(NodeError::Config(crate::config::ConfigError::Invalid {
        setting: "network.max_message_bytes",
        message: format!(
            "{} bytes cannot carry this chain's blocks (max_block_bytes {} plus consensus \
             overhead needs {needed}); raise it to at least {needed}",
            config.max_message_bytes, parameters.max_block_bytes
        ),
    }))
}

/// The addresses a running node reports.
#[derive(Clone, Debug)]
pub struct NodeAddresses {
    /// libp2p listen addresses.
    pub p2p: Vec<String>,
    /// Metrics endpoint.
    pub metrics: std::net::SocketAddr,
    /// gRPC endpoint.
    pub rpc: std::net::SocketAddr,
}

impl NodeAddresses {
    /// What `cassia node` prints once everything listens, one address a line.
    pub fn print(&self) {
        println!("p2p:     {}", self.p2p.join(", "));
        println!("metrics: http://{}/metrics", self.metrics);
        println!("grpc:    http://{}", self.rpc);
    }
}

/// What a node binary does: runs the node of `config` with `interceptor` on a two-worker tokio
/// runtime, prints its addresses once it listens, and returns when SIGINT or SIGTERM has shut it
/// down cleanly.
pub fn run_until_signal(
    config: Config,
    passphrase: Option<String>,
    interceptor: Box<dyn Interceptor>,
) -> Result<(), NodeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(NodeError::Runtime)?;
    runtime.block_on(async move {
        let started = |addresses: &NodeAddresses, _| addresses.print();
        run_with(config, passphrase, interceptor, started, shutdown_signal()).await
    })?;
    tracing::info!("node stopped cleanly");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM: the `shutdown` a node binary passes to [`run`].
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the node can still be stopped with SIGKILL; it is crash-safe.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
    }
}

/// Logs to stderr with the config's filter (`log_level`); `RUST_LOG` overrides it. Colours only
/// on a terminal, so log files stay plain text.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the node of `config` until `shutdown` resolves. `passphrase` opens a sealed node key.
/// `on_started` is called once everything listens.
pub async fn run(
    config: Config,
    passphrase: Option<String>,
    on_started: impl FnOnce(&NodeAddresses, mpsc::Sender<NodeCommand>),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), NodeError> {
    run_with(
        config,
        passphrase,
        Box::new(NoInterceptor),
        on_started,
        shutdown,
    )
    .await
}

/// [`run`] with an [`Interceptor`]: how the fault suite's own node binaries watch or bend a
/// real node (`cassia node` passes [`NoInterceptor`]).
pub async fn run_with(
    config: Config,
    passphrase: Option<String>,
    mut interceptor: Box<dyn Interceptor>,
    on_started: impl FnOnce(&NodeAddresses, mpsc::Sender<NodeCommand>),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), NodeError> {
    let genesis = load_genesis(&config)?;
    let (kind, key) = keyfile::read(&config.key_file, passphrase.as_deref())?;
    if kind != KeyKind::Node {
        return Err(NodeError::Key(keyfile::KeyFileError::Malformed {
            path: config.key_file.display().to_string(),
            reason: "an account key was given where the node key is needed".into(),
        }));
    }
    let store = ChainStore::open(&config.data_dir, genesis.clone())?;
    // The chain's current membership (governance may have changed the genesis set).
    let members = chain_members(&store).map_err(cassia_engine::EngineError::from)?;
    let limits = MempoolLimits {
        max_transactions: config.mempool_max_transactions,
        max_bytes: config.mempool_max_bytes,
    };
    let shared_store = store.shared();
    let engine = runtime::open_engine(store, &key, limits)?;
    check_message_cap(&config, engine.parameters())?;
    let (head_sender, head_receiver) = tokio::sync::watch::channel(initial_head(&engine));
    let network_config = NetworkConfig::from_node_config(&config, genesis.chain_id.clone());
    let (network, events) =
        Network::spawn(network_config, &key, &members.network_members()).await?;
    let metrics = Arc::new(Metrics::default());
    let metrics_address = metrics::serve(config.metrics_listen, Arc::clone(&metrics))
        .await
        .map_err(|source| NodeError::Metrics {
            address: config.metrics_listen.to_string(),
            source,
        })?;
    let (commands, command_receiver) = mpsc::channel(SUBMISSION_QUEUE);
    let (stop_rpc, rpc_stopped) = tokio::sync::oneshot::channel::<()>();
    let rpc_stopped = async {
        let _ = rpc_stopped.await;
    };
    let api = rpc::Api::new(
        commands.clone(),
        shared_store,
        Arc::new(genesis.clone()),
        head_receiver,
        key.public(),
        rpc::SubscriptionLimits {
            max_subscribers: config.rpc_max_subscribers,
            idle_timeout: std::time::Duration::from_millis(config.rpc_subscriber_timeout_ms),
        },
    );
    let rpc_address = rpc::serve(config.rpc_listen, api, rpc_stopped)
        .await
        .map_err(|source| NodeError::Rpc {
            address: config.rpc_listen.to_string(),
            source,
        })?;
    let addresses = NodeAddresses {
        p2p: network
            .listen_addresses()
            .iter()
            .map(ToString::to_string)
            .collect(),
        metrics: metrics_address,
        rpc: rpc_address,
    };
    tracing::info!(chain = %genesis.chain_id, peer_id = %network.local_peer_id(), p2p = ?addresses.p2p,
        metrics = %metrics_address, rpc = %rpc_address, "node started");
    on_started(&addresses, commands);
    interceptor.started(&RunningNode {
        network: network.clone(),
        head: head_sender.subscribe(),
        key: key.clone(),
        genesis: Arc::new(genesis.clone()),
    });
    let parts = RuntimeParts {
        engine,
        network: network.clone(),
        events,
        commands: command_receiver,
        members,
        metrics,
        head: head_sender,
        interceptor,
    };
    let result = Runtime::run(parts, shutdown).await;
    let _ = stop_rpc.send(());
    network.shutdown().await;
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_whose_message_cap_cannot_carry_the_chains_blocks_is_refused() {
        let home = std::path::Path::new("/srv/cassia");
        let mut config = Config::from_toml(crate::config::DEFAULT_CONFIG_TOML, home)
            .expect("the documented defaults are valid");
        let parameters = cassia_ledger::Parameters::default();
        assert!(
            check_message_cap(&config, &parameters).is_ok(),
            "the defaults fit"
        );
        config.max_message_bytes = 1024 * 1024;
        let refused = check_message_cap(&config, &parameters)
            .expect_err("1 MiB cannot carry a 4 MiB block")
            .to_string();
        assert!(
            refused.contains("network.max_message_bytes") && refused.contains("raise it"),
            "{refused}"
        );
    }
}
