//! `cassia genesis ...`: the multi-organization ceremony, by exchanging one JSON file.
//!
//! 1. One organization runs `genesis create`.
//! 2. The file goes round: each organization runs `genesis add-org` (its admin keys) and
//!    `genesis add-validator` (its nodes). Any change drops approvals made so far, since they
//!    covered the old hash.
//! 3. When the content is final, every organization runs `genesis sign` on its copy; `genesis
//!    merge` gathers the approvals of copies with the same hash into one file.
//! 4. `genesis verify` prints the hash and who has approved; it fails until all have.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cassia_crypto::keyfile::KeyKind;
use cassia_ledger::{Genesis, Organization, Parameters, Validator};

use crate::files::{self, PassphraseArgs};

/// Genesis ceremony steps.
#[derive(Debug, clap::Subcommand)]
pub enum GenesisCommand {
    /// Start a new genesis file.
    Create(Create),
    /// Add a member organization with its admin keys.
    AddOrg(AddOrg),
    /// Add a validator node of a member organization.
    AddValidator(AddValidator),
    /// Approve the genesis hash as an organization admin.
    Sign(Sign),
    /// Gather approvals from other copies of the same genesis.
    Merge(Merge),
    /// Check the genesis; print its hash and which organizations approved.
    Verify(Verify),
}

impl GenesisCommand {
    /// Runs the step.
    pub fn execute(self) -> Result<()> {
        match self {
            GenesisCommand::Create(c) => c.execute(),
            GenesisCommand::AddOrg(c) => c.execute(),
            GenesisCommand::AddValidator(c) => c.execute(),
            GenesisCommand::Sign(c) => c.execute(),
            GenesisCommand::Merge(c) => c.execute(),
            GenesisCommand::Verify(c) => c.execute(),
        }
    }
}

/// Start a new genesis file.
#[derive(Debug, clap::Args)]
pub struct Create {
    /// Chain id: 1..=64 characters of a-z, 0-9, '.', '_', '-'.
    #[arg(long)]
    chain_id: String,
    /// The genesis file to create; refuses to overwrite.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Genesis time, milliseconds since the Unix epoch (default: now).
    #[arg(long)]
    time_ms: Option<u64>,
    /// Target milliseconds between blocks.
    #[arg(long)]
    block_interval_ms: Option<u64>,
    /// Base view-change timeout, milliseconds.
    #[arg(long)]
    view_timeout_ms: Option<u64>,
    /// Most transactions per block.
    #[arg(long)]
    max_block_txs: Option<u32>,
}

impl Create {
    fn execute(self) -> Result<()> {
        if self.out.exists() {
            bail!(
                "{} already exists; refusing to overwrite a genesis",
                self.out.display()
            );
        }
        let mut parameters = Parameters::default();
        parameters.block_interval_ms = self
            .block_interval_ms
            .unwrap_or(parameters.block_interval_ms);
        parameters.view_timeout_ms = self.view_timeout_ms.unwrap_or(parameters.view_timeout_ms);
        parameters.max_block_txs = self.max_block_txs.unwrap_or(parameters.max_block_txs);
        parameters.validate()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("system clock")?;
        let genesis = Genesis {
            chain_id: self.chain_id,
            genesis_time_ms: self
                .time_ms
                .unwrap_or(u64::try_from(now.as_millis()).context("clock overflow")?),
            organizations: Vec::new(),
            validators: Vec::new(),
            parameters,
            approvals: Vec::new(),
        };
        if let Err(error @ cassia_ledger::GenesisError::BadChainId(_)) =
            genesis.validate_structure()
        {
            bail!(error);
        }
        files::write_genesis(&self.out, &genesis)?;
        println!(
            "created {} for chain {}",
            self.out.display(),
            genesis.chain_id
        );
        Ok(())
    }
}

/// Loads, changes and saves a genesis whose content changes: approvals of the old hash go.
fn amend(path: &Path, change: impl FnOnce(&mut Genesis) -> Result<()>) -> Result<()> {
    let mut genesis = files::read_genesis(path)?;
    change(&mut genesis)?;
    if !genesis.approvals.is_empty() {
        eprintln!(
            "note: the content changed, so {} earlier approval(s) were dropped",
            genesis.approvals.len()
        );
        genesis.approvals.clear();
    }
    files::write_genesis(path, &genesis)?;
    println!("genesis hash is now {}", genesis.hash());
    Ok(())
}

/// Add a member organization with its admin keys.
#[derive(Debug, clap::Args)]
pub struct AddOrg {
    /// The genesis file to change.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// Short unique id, e.g. `gxdsj`.
    #[arg(long)]
    id: String,
    /// Full name.
    #[arg(long)]
    name: String,
    /// Admin public key (hex) or account key file; repeat for several admins.
    #[arg(long = "admin", required = true)]
    admins: Vec<String>,
}

impl AddOrg {
    fn execute(self) -> Result<()> {
        let admins = self
            .admins
            .iter()
            .map(|a| files::public_key_arg(a))
            .collect::<Result<Vec<_>>>()?;
        amend(&self.genesis, |genesis| {
            if genesis.organizations.iter().any(|o| o.id == self.id) {
                bail!(
                    "organization {:?} is already in {}",
                    self.id,
                    self.genesis.display()
                );
            }
            if self.id.is_empty() || self.id.len() > 64 {
                bail!("organization id must be 1..=64 characters");
            }
            genesis.organizations.push(Organization {
                id: self.id.clone(),
                name: self.name.clone(),
                admins,
            });
            Ok(())
        })
    }
}

/// Add a validator node of a member organization.
#[derive(Debug, clap::Args)]
pub struct AddValidator {
    /// The genesis file to change.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// Readable unique name of the node.
    #[arg(long)]
    name: String,
    /// Id of the organization running it (must already be a member).
    #[arg(long)]
    org: String,
    /// Node public key (hex) or node key file.
    #[arg(long)]
    node_key: String,
    /// libp2p address other validators dial, e.g. /ip4/10.0.0.5/tcp/7100.
    #[arg(long)]
    p2p_address: String,
}

impl AddValidator {
    fn execute(self) -> Result<()> {
        let node_key = files::public_key_arg(&self.node_key)?;
        if !self.p2p_address.starts_with('/') {
            bail!(
                "p2p address {:?} must be a multiaddress like /ip4/10.0.0.5/tcp/7100",
                self.p2p_address
            );
        }
        amend(&self.genesis, |genesis| {
            if !genesis.organizations.iter().any(|o| o.id == self.org) {
                bail!(
                    "organization {:?} is not a member yet; run `cassia genesis add-org` first",
                    self.org
                );
            }
            if let Some(existing) = genesis
                .validators
                .iter()
                .find(|v| v.node_key == node_key || v.name == self.name)
            {
                bail!(
                    "duplicate validator: {:?} already uses that node key or name",
                    existing.name
                );
            }
            genesis.validators.push(Validator {
                name: self.name.clone(),
                organization: self.org.clone(),
                node_key,
                p2p_address: self.p2p_address.clone(),
            });
            Ok(())
        })
    }
}

/// Approve the genesis hash as an organization admin.
#[derive(Debug, clap::Args)]
pub struct Sign {
    /// The genesis file to approve (the approval is added to it).
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// The organization approving.
    #[arg(long)]
    org: String,
    /// The admin's account key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(flatten)]
    passphrase: PassphraseArgs,
}

impl Sign {
    fn execute(self) -> Result<()> {
        let mut genesis = files::read_genesis(&self.genesis)?;
        genesis
            .validate_structure()
            .context("the genesis is not valid; fix it before signing")?;
        let key = files::read_key(&self.key, &self.passphrase, KeyKind::Account)?;
        genesis.approve(&self.org, &key)?;
        files::write_genesis(&self.genesis, &genesis)?;
        println!("{} approved genesis {}", self.org, genesis.hash());
        Ok(())
    }
}

/// Gather approvals from other copies of the same genesis.
#[derive(Debug, clap::Args)]
pub struct Merge {
    /// The genesis file to add approvals to.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// Signed copies to take approvals from.
    #[arg(required = true, value_name = "COPY")]
    copies: Vec<PathBuf>,
}

impl Merge {
    fn execute(self) -> Result<()> {
        let mut genesis = files::read_genesis(&self.genesis)?;
        let hash = genesis.hash();
        for path in &self.copies {
            let copy = files::read_genesis(path)?;
            if copy.hash() != hash {
                bail!(
                    "{} has hash {}, not {hash}: it is a different genesis",
                    path.display(),
                    copy.hash()
                );
            }
            for approval in copy.approvals {
                genesis
                    .approvals
                    .retain(|a| a.organization != approval.organization);
                genesis.approvals.push(approval);
            }
        }
        genesis
            .approvals
            .sort_by(|a, b| a.organization.cmp(&b.organization));
        genesis
            .valid_approvals()
            .context("a merged approval is invalid")?;
        files::write_genesis(&self.genesis, &genesis)?;
        println!(
            "{} now holds {} approval(s)",
            self.genesis.display(),
            genesis.approvals.len()
        );
        Ok(())
    }
}

/// Check the genesis; print its hash and which organizations approved.
#[derive(Debug, clap::Args)]
pub struct Verify {
    /// The genesis file.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
}

impl Verify {
    fn execute(self) -> Result<()> {
        let genesis = files::read_genesis(&self.genesis)?;
        genesis.validate_structure()?;
        let approved = genesis.valid_approvals()?;
        println!("chain id:     {}", genesis.chain_id);
        println!("genesis hash: {}", genesis.hash());
        println!(
            "validators:   {} (tolerates {} faulty)",
            genesis.validators.len(),
            genesis.validator_set().max_faulty()
        );
        for organization in &genesis.organizations {
            let mark = if approved.contains(&organization.id) {
                "signed "
            } else {
                "MISSING"
            };
            println!("  {mark} {} ({})", organization.id, organization.name);
        }
        genesis.verify()?;
        println!("ok: every organization approved this genesis");
        Ok(())
    }
}
