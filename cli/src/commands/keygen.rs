//! `cassia keygen`: a new node or account key.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cassia_crypto::Keypair;
use cassia_crypto::keyfile::{self, KeyKind};

use crate::files::PassphraseArgs;

/// Generate a key, write it with mode 0600, print its public key and PeerId.
#[derive(Debug, clap::Args)]
pub struct Keygen {
    /// `node` (consensus and network identity) or `account` (transactions, governance).
    #[arg(long, value_enum, default_value = "account")]
    kind: Kind,
    /// Where to write the key; refuses to overwrite.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Kind {
    Node,
    Account,
}

impl Keygen {
    /// Runs the command.
    pub fn execute(self) -> Result<()> {
        let kind = match self.kind {
            Kind::Node => KeyKind::Node,
            Kind::Account => KeyKind::Account,
        };
        let key = Keypair::try_generate().context("generating a key")?;
        keyfile::write(&self.out, kind, &key, self.passphrase.read()?.as_deref())?;
        let public = key.public();
        println!("public key: {public}");
        println!(
            "peer id:    {}",
            public.peer_id().context("deriving the PeerId")?
        );
        println!("written to: {}", self.out.display());
        Ok(())
    }
}
