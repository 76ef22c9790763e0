//! Client commands: `cassia status` and `cassia tx ...`, over gRPC (`--endpoint`). Reading
//! commands (`query`, `watch`) are in [`super::read`].

use std::path::PathBuf;

use anyhow::{Context, Result};
use cassia_api::Client;
use cassia_crypto::Hash;
use cassia_crypto::keyfile::KeyKind;
use cassia_ledger::{Operation, Transaction};

use crate::files::{self, PassphraseArgs};

/// Where the node's gRPC API is.
#[derive(Debug, clap::Args)]
pub struct EndpointArgs {
    /// gRPC endpoint of a node.
    #[arg(long, default_value = "http://127.0.0.1:7200", global = true)]
    pub endpoint: String,
}

/// Runs `future` on a single-threaded runtime.
pub fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(future)
}

/// Show a node's chain and consensus status.
#[derive(Debug, clap::Args)]
pub struct Status {
    #[command(flatten)]
    endpoint: EndpointArgs,
}

impl Status {
    /// Runs the command.
    pub fn execute(self) -> Result<()> {
        block_on(async {
            let status = Client::connect(&self.endpoint.endpoint)
                .await?
                .status()
                .await?;
            println!("chain id:    {}", status.chain_id);
            println!("height:      {}", status.height);
            println!("block hash:  {}", status.block_hash);
            println!("state root:  {}", status.state_root);
            println!("view:        {}", status.view);
            println!("leader:      {}", status.leader);
            println!("node key:    {}", status.node_key);
            println!("peers:       {}", status.connected_peers);
            println!("validators:  {}", status.validators.len());
            println!("version:     {}", status.version);
            Ok(())
        })
    }
}

/// Sign a transaction locally and submit it.
#[derive(Debug, clap::Args)]
pub struct Tx {
    #[command(subcommand)]
    operation: TxOperation,
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// The signer's account key file.
    #[arg(long, value_name = "FILE", global = true)]
    key: Option<PathBuf>,
    /// Blocks from the current height the transaction stays valid.
    #[arg(long, default_value_t = 100, global = true)]
    ttl: u64,
    /// Wait until the transaction commits and print its receipt.
    #[arg(long, global = true)]
    wait: bool,
    /// Longest wait with --wait, seconds.
    #[arg(long, default_value_t = 30, global = true, value_name = "SECONDS")]
    wait_secs: u64,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

/// The operations a transaction can carry.
#[derive(Debug, clap::Subcommand)]
enum TxOperation {
    /// Set a key in a namespace (registries, data sharing).
    Put {
        /// Namespace, e.g. `licences`.
        #[arg(long)]
        namespace: String,
        /// The record's key (UTF-8).
        #[arg(long = "record")]
        record: String,
        /// The value (UTF-8).
        #[arg(long)]
        value: String,
    },
    /// Anchor a document's digest (存证).
    Notarize {
        /// The document to hash with blake3 (or give --digest).
        #[arg(long, value_name = "FILE", conflicts_with = "digest")]
        file: Option<PathBuf>,
        /// The digest, 64 hex characters.
        #[arg(long)]
        digest: Option<String>,
        /// Metadata stored with it.
        #[arg(long, default_value = "")]
        metadata: String,
    },
}

impl TxOperation {
    fn into_operation(self) -> Result<Operation> {
        Ok(match self {
            TxOperation::Put {
                namespace,
                record,
                value,
            } => Operation::Put {
                namespace,
                key: record.into_bytes(),
                value: value.into_bytes(),
            },
            TxOperation::Notarize {
                file,
                digest,
                metadata,
            } => {
                let digest = match (file, digest) {
                    (Some(path), _) => Hash::of(
                        &std::fs::read(&path)
                            .with_context(|| format!("reading {}", path.display()))?,
                    ),
                    (None, Some(hex)) => Hash::from_hex(&hex)?,
                    (None, None) => anyhow::bail!("give --file or --digest"),
                };
                Operation::Notarize { digest, metadata }
            }
        })
    }
}

impl Tx {
    /// Runs the command.
    pub fn execute(self) -> Result<()> {
        let key_path = self
            .key
            .clone()
            .context("--key is required: the signer's account key file")?;
        let key = files::read_key(&key_path, &self.passphrase, KeyKind::Account)?;
        let op = self.operation.into_operation()?;
        block_on(async {
            let mut client = Client::connect(&self.endpoint.endpoint).await?;
            let status = client.status().await?;
            let tx = Transaction {
                chain_id: status.chain_id,
                signer: key.public(),
                nonce: cassia_crypto::random_u64()?,
                valid_until: status.height.saturating_add(self.ttl),
                op,
            }
            .sign(&key);
            if !self.wait {
                println!("{}", client.submit(&tx).await?);
                return Ok(());
            }
            let wait = std::time::Duration::from_secs(self.wait_secs);
            let committed = client.submit_and_wait(&tx, wait).await?;
            super::read::print_receipt(&committed);
            if let Some(failure) = &committed.receipt.failure {
                anyhow::bail!("transaction committed but failed: {failure}");
            }
            Ok(())
        })
    }
}
