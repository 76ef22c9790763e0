//! `cassia evidence export|verify`: evidence packages a court or auditor checks offline.
//!
//! `export` fetches from one node, over gRPC, a committed transaction, its receipt, both
//! inclusion proofs, its block's header and commit certificate, and every validator-set change
//! before it (header, certificate and state proof of the new set); it checks each proof against
//! its header as it arrives, and writes the package (`docs/evidence-format.md`). With
//! `--genesis`, it also verifies the whole package before writing it.
//!
//! `verify` needs no node: the package and the chain's genesis file are enough. It prints what
//! the package proves, or `error: <reason>` and exits 1.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use cassia_api::convert::{header_from_pb, proof_from_pb, receipt_from_pb, transaction_from};
use cassia_api::{ApiError, BlockId, Client, pb};
use cassia_crypto::Hash;
use cassia_crypto::merkle::{self, InclusionProof};
use cassia_ledger::evidence::{
    self, EvidencePackage, EvidenceParts, MAX_PACKAGE_BYTES, VALIDATOR_SET_KEY, ValidatorSetChange,
};
use cassia_ledger::{BlockHeader, Height, Receipt, SignedTransaction, ValidatorSet, codec};

use super::client::{EndpointArgs, block_on};
use crate::files;

/// Versions asked for per `History` page while collecting validator-set changes.
const HISTORY_PAGE: u32 = 1000;

/// Evidence packages: export from a node, verify with no node.
#[derive(Debug, clap::Subcommand)]
pub enum EvidenceCommand {
    /// Fetch a committed transaction's evidence from a node and write it to a file.
    Export(Export),
    /// Check an evidence package offline, against the chain's genesis file only.
    Verify(Verify),
}

impl EvidenceCommand {
    /// Runs the subcommand.
    pub fn execute(self) -> Result<()> {
        match self {
            EvidenceCommand::Export(command) => command.execute(),
            EvidenceCommand::Verify(command) => command.execute(),
        }
    }
}

/// Fetch a committed transaction's evidence from a node and write it to a file.
#[derive(Debug, clap::Args)]
pub struct Export {
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// The transaction id (64 hex characters).
    #[arg(long, value_name = "ID")]
    tx: String,
    /// Where to write the package (JSON).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The chain's genesis file: the package is then verified against it before it is written.
    #[arg(long, value_name = "FILE")]
    genesis: Option<PathBuf>,
}

impl Export {
    /// Runs the command.
    pub fn execute(self) -> Result<()> {
        let id = Hash::from_hex(&self.tx).context("--tx must be a transaction id (64 hex)")?;
        let genesis = self
            .genesis
            .as_deref()
            .map(files::read_genesis)
            .transpose()?;
        let package = block_on(fetch_package(&self.endpoint.endpoint, &id))?;
        let bytes = package.to_bytes();
        if let Some(genesis) = &genesis {
            evidence::verify(&bytes, genesis).context(
                "the evidence the node sent does not verify against the genesis file; nothing \
                 was written",
            )?;
        }
        std::fs::write(&self.out, &bytes)
            .with_context(|| format!("writing {}", self.out.display()))?;
        println!(
            "wrote:         {} ({} bytes)",
            self.out.display(),
            bytes.len()
        );
        println!("transaction:   {id}");
        println!(
            "validator set: {} change(s) since genesis included",
            package.validator_set_changes.len()
        );
        match &genesis {
            Some(_) => println!("verified:      against the genesis file"),
            None => println!(
                "verified:      proofs against the node's headers only; check it with \
                 `cassia evidence verify {} --genesis <genesis.json>`",
                self.out.display()
            ),
        }
        Ok(())
    }
}

/// Check an evidence package offline, against the chain's genesis file only.
#[derive(Debug, clap::Args)]
pub struct Verify {
    /// The evidence package (written by `cassia evidence export`).
    #[arg(value_name = "PACKAGE")]
    package: PathBuf,
    /// The chain's genesis file, obtained from the consortium, not from the package's sender.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
}

impl Verify {
    /// Runs the command.
    pub fn execute(self) -> Result<()> {
        let genesis = files::read_genesis(&self.genesis)?;
        let bytes = read_bounded(&self.package)?;
        let verified = evidence::verify(&bytes, &genesis)
            .with_context(|| format!("{} is not valid evidence", self.package.display()))?;
        println!("evidence:      {} is valid", self.package.display());
        println!("{verified}");
        Ok(())
    }
}

/// Reads at most one byte more than [`MAX_PACKAGE_BYTES`], so a huge file is refused by
/// [`evidence::verify`] without being read whole.
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_PACKAGE_BYTES).unwrap_or(u64::MAX);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes)
}

/// A transaction, its receipt, their proofs and their header, each proof checked.
struct FetchedTransaction {
    transaction: SignedTransaction,
    transaction_proof: InclusionProof,
    receipt: Receipt,
    receipt_proof: InclusionProof,
    header: BlockHeader,
}

/// Everything the package of transaction `id` holds, from the node at `endpoint`.
async fn fetch_package(endpoint: &str, id: &Hash) -> Result<EvidencePackage> {
    let fetched = fetch_transaction(endpoint, id).await?;
    let mut client = Client::connect(endpoint).await?;
    let height = fetched.header.height;
    let block = client.block(BlockId::Height(height), true).await?;
    ensure!(
        block.block.header == fetched.header,
        "the node sent two different headers for block {height}"
    );
    // Block 1's parent is the genesis hash.
    let genesis_hash = match height {
        1 => fetched.header.parent,
        _ => {
            client
                .block(BlockId::Height(1), true)
                .await?
                .block
                .header
                .parent
        }
    };
    let validator_set_changes = fetch_validator_set_changes(&mut client, height).await?;
    Ok(EvidencePackage::assemble(EvidenceParts {
        genesis_hash,
        transaction: fetched.transaction,
        transaction_proof: fetched.transaction_proof,
        receipt: fetched.receipt,
        receipt_proof: fetched.receipt_proof,
        header: fetched.header,
        certificate: block.certificate,
        validator_set_changes,
    }))
}

/// `GetTransaction` and `GetReceipt` with their inclusion proofs (the typed client checks and
/// drops them; a package keeps them).
async fn fetch_transaction(endpoint: &str, id: &Hash) -> Result<FetchedTransaction> {
    let mut service =
        pb::transaction_service_client::TransactionServiceClient::connect(endpoint.to_string())
            .await
            .with_context(|| format!("cannot connect to {endpoint}"))?;
    let request = pb::TransactionRequest {
        tx_id: id.as_bytes().to_vec(),
    };
    let response = service
        .get_transaction(request.clone())
        .await
        .map_err(ApiError::from)?
        .into_inner();
    let header = header_from_pb(response.header.as_ref())?;
    let transaction = transaction_from(&response.signed_transaction)?;
    ensure!(transaction.id() == *id, "the node sent another transaction");
    let transaction_proof = proof_from_pb(response.proof.as_ref())?;
    ensure!(
        transaction_proof.verify(
            &header.tx_root,
            &merkle::leaf_hash(&codec::encode(&transaction))
        ),
        "the node's transaction inclusion proof does not verify against its header"
    );
    let response = service
        .get_receipt(request)
        .await
        .map_err(ApiError::from)?
        .into_inner();
    let receipt = receipt_from_pb(response.receipt.as_ref())?;
    ensure!(
        receipt.tx_id == *id && header_from_pb(response.header.as_ref())? == header,
        "the node sent a receipt of another transaction or block"
    );
    let receipt_proof = proof_from_pb(response.proof.as_ref())?;
    ensure!(
        receipt_proof.verify(
            &header.receipts_root,
            &merkle::leaf_hash(&codec::encode(&receipt))
        ),
        "the node's receipt inclusion proof does not verify against its header"
    );
    Ok(FetchedTransaction {
        transaction,
        transaction_proof,
        receipt,
        receipt_proof,
        header,
    })
}

/// The state key of the validator set.
fn validator_set_key() -> pb::StateKey {
    pb::StateKey {
        key: Some(pb::state_key::Key::Raw(VALIDATOR_SET_KEY.to_vec())),
    }
}

/// Every validator-set change at heights `1..below`, each with its block's header and
/// certificate and the state proof of the new set (checked by the client).
async fn fetch_validator_set_changes(
    client: &mut Client,
    below: Height,
) -> Result<Vec<ValidatorSetChange>> {
    let mut changes = Vec::new();
    for (height, value) in validator_set_versions(client, below).await? {
        let block = client.block(BlockId::Height(height), true).await?;
        let state = client.query(validator_set_key(), Some(height)).await?;
        ensure!(
            state.header == block.block.header && state.value.as_ref() == Some(&value),
            "the node's validator set at height {height} disagrees between History, Query and \
             GetBlock"
        );
        let set: ValidatorSet = codec::decode(&value)
            .with_context(|| format!("the validator set written at height {height}"))?;
        changes.push(ValidatorSetChange::new(
            &block.block.header,
            &block.certificate,
            &state.proof,
            &set,
        ));
    }
    Ok(changes)
}

/// The versions of the validator-set key at heights `1..below` (height 0 is the genesis state,
/// which the genesis file gives), oldest first, read page by page.
async fn validator_set_versions(
    client: &mut Client,
    below: Height,
) -> Result<Vec<(Height, Vec<u8>)>> {
    let mut versions = Vec::new();
    let mut from = 1;
    loop {
        let page = client
            .history(validator_set_key(), from, HISTORY_PAGE)
            .await?;
        for version in page.versions {
            if version.height == 0 || version.height >= below {
                continue;
            }
            ensure!(
                version.present,
                "the node reports the validator set deleted at height {}",
                version.height
            );
            versions.push((version.height, version.value));
        }
        if page.next_from_height == 0 || page.next_from_height >= below {
            return Ok(versions);
        }
        // Each page starts strictly later, so the loop ends before `below`.
        ensure!(
            page.next_from_height > from,
            "the node's History pages do not advance (next page from {} after {from})",
            page.next_from_height
        );
        from = page.next_from_height;
    }
}
