//! Client commands: `cassia status` and `cassia tx ...`, over gRPC (`--endpoint`). Each
//! `tx` subcommand ([`operations`]) signs one transaction locally with `--key` and submits it;
//! with `--wait` it prints the receipt and exits 1 when the operation failed. Reading commands
//! (`query`, `watch`) are in [`super::read`].

pub mod batch;
mod operations;

use std::path::PathBuf;

use anyhow::{Context, Result, ensure};
use cassia_api::Client;
use cassia_crypto::{GenesisHash, Hash};
use cassia_ledger::{Operation, Transaction};
use operations::{ChainTip, TxOperation};

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
            println!("genesis:     {}", status.genesis);
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

/// List the proofs of equivocation a node kept.
///
/// Each is checked against the chain's genesis hash (from `--genesis-hash`, or else the node's
/// status) and printed with its proof in hex: `cassia tx propose remove-validator --proof HEX`
/// takes that line as the grounds of a proposal to remove the validator.
#[derive(Debug, clap::Args)]
pub struct Misbehaviour {
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// Most proofs to list (at most 1024).
    #[arg(long, default_value_t = 256)]
    limit: u32,
    /// The genesis hash to check the proofs against (`cassia genesis verify` prints it).
    #[arg(long, value_name = "HEX")]
    genesis_hash: Option<String>,
}

impl Misbehaviour {
    /// Runs the command.
    pub fn execute(self) -> Result<()> {
        block_on(async {
            let mut client = Client::connect(&self.endpoint.endpoint).await?;
            let genesis = match &self.genesis_hash {
                Some(text) => GenesisHash(
                    Hash::from_hex(text).with_context(|| format!("--genesis-hash {text:?}"))?,
                ),
                None => client.status().await?.genesis,
            };
            let proofs = client.misbehaviour(self.limit).await?;
            if proofs.is_empty() {
                println!("no proof of equivocation kept");
            }
            for proof in proofs {
                let verdict = match proof.verify(&genesis) {
                    Ok(()) => "verified".to_string(),
                    Err(error) => format!("DOES NOT VERIFY: {error}"),
                };
                println!(
                    "validator {} signed two {}s at height {} view {} ({verdict})",
                    proof.validator,
                    proof.kind.name(),
                    proof.height,
                    proof.view
                );
                println!(
                    "  blocks {} {}",
                    proof.first.block_hash, proof.second.block_hash
                );
                println!(
                    "  proof  {}",
                    hex::encode(cassia_ledger::codec::encode(&proof))
                );
            }
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
    /// The signer's key file (an account key; a node key for `validator-ready`).
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
    /// The genesis hash to sign for (`cassia genesis verify` prints it). Without it, the node's
    /// word is taken; with it, a node on another chain is refused before anything is signed.
    #[arg(long, value_name = "HEX", global = true)]
    genesis_hash: Option<String>,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

impl Tx {
    /// Runs the command.
    pub fn execute(self) -> Result<()> {
        let key_path = self
            .key
            .clone()
            .context("--key is required: the signer's key file")?;
        let key = files::read_key(&key_path, &self.passphrase, self.operation.key_kind())?;
        block_on(async {
            let pinned = self.pinned_genesis()?;
            if let TxOperation::Cosign(cosign) = &self.operation {
                // Co-signing needs no node when the genesis hash is given.
                let genesis = match pinned {
                    Some(genesis) => genesis,
                    None => self.connect().await?.status().await?.genesis,
                };
                println!("{}", cosign.sign(&key, &genesis)?);
                return Ok(());
            }
            let mut client = self.connect().await?;
            let status = client.status().await?;
            if let Some(pinned) = pinned {
                ensure!(
                    pinned == status.genesis,
                    "the node is on chain {:?} with genesis {}, not genesis {pinned}: nothing \
                     was signed",
                    status.chain_id,
                    status.genesis
                );
            }
            let tip = ChainTip {
                chain_id: status.chain_id,
                genesis: status.genesis,
                height: status.height,
                block_hash: status.block_hash,
            };
            let valid_until = tip.height.saturating_add(self.ttl);
            let op = self.operation.into_operation(&tip, &self.passphrase)?;
            let is_proposal = matches!(op, Operation::Propose { .. });
            let tx = Transaction {
                chain_id: tip.chain_id,
                signer: key.public(),
                nonce: cassia_crypto::random_u64()?,
                valid_until,
                op,
            }
            .sign(&tip.genesis, &key);
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
            if is_proposal {
                println!("proposal id: {}", committed.receipt.tx_id);
            }
            Ok(())
        })
    }

    async fn connect(&self) -> Result<Client> {
        Ok(Client::connect(&self.endpoint.endpoint).await?)
    }

    /// `--genesis-hash`, parsed.
    fn pinned_genesis(&self) -> Result<Option<GenesisHash>> {
        self.genesis_hash
            .as_deref()
            .map(|text| {
                Hash::from_hex(text)
                    .map(GenesisHash)
                    .with_context(|| format!("--genesis-hash {text:?}"))
            })
            .transpose()
    }
}
