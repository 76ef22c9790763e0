//! `cassia init`: lay out a node's home directory.
//!
//! ```text
//! HOME/
//!   config.toml     every setting with its default, commented
//!   genesis.json    the approved genesis (verified before it is copied)
//!   keys/           mode 0700
//!     node.key      mode 0600; generated unless --node-key is given
//!   data/           RocksDB
//! ```

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cassia_crypto::Keypair;
use cassia_crypto::keyfile::{self, KeyKind};
use cassia_node::config::DEFAULT_CONFIG_TOML;

use crate::files::{self, PassphraseArgs};

/// Lay out a node's home directory.
#[derive(Debug, clap::Args)]
pub struct Init {
    /// The node's home directory (created; must be empty if it exists).
    #[arg(long, value_name = "DIR")]
    home: PathBuf,
    /// The approved genesis file.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// Use this node key file instead of generating one.
    #[arg(long, value_name = "FILE")]
    node_key: Option<PathBuf>,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

impl Init {
    /// Runs the command.
    pub fn execute(self) -> Result<()> {
        let genesis = files::read_genesis(&self.genesis)?;
        genesis
            .verify()
            .with_context(|| format!("{} cannot start a chain", self.genesis.display()))?;
        if self.home.exists() && std::fs::read_dir(&self.home)?.next().is_some() {
            bail!(
                "{} exists and is not empty; choose a new directory",
                self.home.display()
            );
        }
        let keys = self.home.join("keys");
        std::fs::create_dir_all(&keys).with_context(|| format!("creating {}", keys.display()))?;
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700))?;
        std::fs::create_dir_all(self.home.join("data"))?;
        let key = match &self.node_key {
            Some(path) => files::read_key(path, &self.passphrase, KeyKind::Node)?,
            None => Keypair::try_generate()?,
        };
        keyfile::write(
            &keys.join("node.key"),
            KeyKind::Node,
            &key,
            self.passphrase.read()?.as_deref(),
        )?;
        std::fs::write(self.home.join("config.toml"), DEFAULT_CONFIG_TOML)?;
        files::write_genesis(&self.home.join("genesis.json"), &genesis)?;
        let role = if genesis.validator_set().contains(&key.public()) {
            "validator"
        } else {
            "observer"
        };
        println!(
            "initialised {} ({role} of chain {})",
            self.home.display(),
            genesis.chain_id
        );
        println!("node key:   {}", key.public());
        println!("peer id:    {}", key.public().peer_id()?);
        Ok(())
    }
}
