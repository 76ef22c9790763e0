//! `cassia node`: run a node from its home directory until SIGINT or SIGTERM.

use std::path::PathBuf;

use anyhow::Result;
use cassia_node::config::Config;
use cassia_node::interceptor::NoInterceptor;
use cassia_node::start;

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
        start::init_logging(&config.log_level);
        let passphrase = self.passphrase.read()?;
        start::run_until_signal(config, passphrase, Box::new(NoInterceptor))?;
        Ok(())
    }
}
