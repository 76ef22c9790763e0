//! `cassia node`: run a node from its home directory until SIGINT or SIGTERM.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cassia_node::config::Config;

use crate::files::PassphraseArgs;

/// Run a node.
#[derive(Debug, clap::Args)]
pub struct Node {
    /// The node's home directory (made by `cassia init`).
    #[arg(long, value_name = "DIR")]
    home: PathBuf,
    /// Override `[metrics] listen`, e.g. 127.0.0.1:0.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Override `[network] listen`, e.g. /ip4/127.0.0.1/tcp/7100.
    #[arg(long, value_name = "MULTIADDR")]
    p2p_listen: Option<String>,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

impl Node {
    /// Runs the node; returns when it has shut down.
    pub fn execute(self) -> Result<()> {
        let mut config = Config::load(&self.home)?;
        if let Some(address) = self.metrics_listen {
            config.metrics_listen = address;
        }
        if let Some(address) = self.p2p_listen {
            config.p2p_listen = address;
        }
        init_logging(&config.log_level);
        let passphrase = self.passphrase.read()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        runtime.block_on(async move {
            let started = |addresses: &cassia_node::start::NodeAddresses, _| {
                println!("p2p:     {}", addresses.p2p.join(", "));
                println!("metrics: http://{}/metrics", addresses.metrics);
                println!("grpc:    http://{}", addresses.rpc);
            };
            cassia_node::start::run(config, passphrase, started, shutdown_signal()).await
        })?;
        tracing::info!("node stopped cleanly");
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
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

/// Logs to stderr with the config's filter; `RUST_LOG` overrides it.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: log files stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}
