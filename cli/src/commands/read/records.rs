//! `cassia query account|organization|namespace|notarization|item|batch|batch-item|proposal|
//! validators|parameters`: the chain's records, each read by its state key (the layout is in
//! [`cassia_ledger::execution::keys`]) with a state proof the client checks against the header
//! of the height read.
//!
//! A record prints as JSON on stdout (`query parameters` prints exactly what
//! `tx propose set-params --file` reads); the height read, the height that last set it and the
//! checked proof are noted on stderr. A record that is absent is an error: its absence is
//! proven too.

use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use cassia_api::{Client, StateValue, pb};
use cassia_crypto::Hash;
use cassia_ledger::execution::{NotarizationRecord, keys};
use cassia_ledger::records::{
    Account, BatchRecord, ItemEvent, ItemRecord, NamespaceRecord, OrganizationRecord,
    ProposalRecord,
};
use cassia_ledger::{Parameters, ValidatorSet, codec};
use serde::Serialize;

use crate::commands::client::batch::BatchProofs;
use crate::files;

/// Most item events one `query item` reads (each is one proven query).
const MAX_EVENTS: u32 = 10_000;

/// Which height's state to read.
#[derive(Debug, clap::Args)]
pub struct AtHeight {
    /// Height whose state to read (default: the latest).
    #[arg(long)]
    height: Option<u64>,
}

/// The records of the chain's state.
#[derive(Debug, clap::Subcommand)]
pub enum RecordQuery {
    /// A registered account: organization, roles, whether active.
    Account {
        /// Its public key (64 hex characters) or key file.
        #[arg(value_name = "HEX|FILE")]
        account: String,
        #[command(flatten)]
        at: AtHeight,
    },
    /// A member organization and whether it is active.
    Organization {
        /// Its id.
        id: String,
        #[command(flatten)]
        at: AtHeight,
    },
    /// A namespace: owner and access lists.
    Namespace {
        /// Its name.
        namespace: String,
        #[command(flatten)]
        at: AtHeight,
    },
    /// A notarization: signer, organization, height, metadata, checked co-signers.
    Notarization {
        /// The digest (64 hex characters).
        #[arg(value_name = "HEX")]
        digest: String,
        #[command(flatten)]
        at: AtHeight,
    },
    /// A traceability item and every event of its history, read at one height.
    Item {
        /// The item's code.
        code: String,
        #[command(flatten)]
        at: AtHeight,
        /// Most events to read (at most 10000).
        #[arg(long, default_value_t = 1000)]
        max_events: u32,
    },
    /// A batch anchor: Merkle root, item count, anchoring organization.
    Batch {
        /// The batch id.
        id: String,
        #[command(flatten)]
        at: AtHeight,
    },
    /// Check an item's proof against the batch root on chain; prints OK or fails.
    ///
    /// The proofs file is the one `tx anchor-batch --proofs-out` wrote.
    BatchItem {
        /// The proofs file.
        #[arg(long, value_name = "FILE")]
        proofs: PathBuf,
        /// The item, as its line in the items file.
        #[arg(long, value_name = "TEXT")]
        item: String,
        #[command(flatten)]
        at: AtHeight,
    },
    /// A governance proposal: action, votes by organization, status.
    Proposal {
        /// The proposal id (its proposing transaction's id, 64 hex characters).
        #[arg(value_name = "HEX")]
        id: String,
        #[command(flatten)]
        at: AtHeight,
    },
    /// The validator set in force for the block after the height read.
    Validators {
        #[command(flatten)]
        at: AtHeight,
    },
    /// The chain parameters in force for the block after the height read.
    Parameters {
        #[command(flatten)]
        at: AtHeight,
    },
}

/// A raw state key as the API names it.
fn raw(key: Vec<u8>) -> pb::StateKey {
    pb::StateKey {
        key: Some(pb::state_key::Key::Raw(key)),
    }
}

/// Reads `key` at `height` (proof checked by the client) and decodes it with `decode`; fails
/// naming `what` when it is absent.
async fn read<T, E: std::fmt::Display>(
    client: &mut Client,
    key: Vec<u8>,
    height: Option<u64>,
    what: &str,
    decode: fn(&[u8]) -> Result<T, E>,
) -> Result<(T, StateValue)> {
    let answer = client.query(raw(key), height).await?;
    let Some(bytes) = &answer.value else {
        bail!(
            "{what} is absent at height {} (its absence is proven against state root {})",
            answer.height,
            answer.header.state_root
        );
    };
    let record =
        decode(bytes).map_err(|e| anyhow::anyhow!("{what} does not decode as expected: {e}"))?;
    Ok((record, answer))
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("printing the record")?
    );
    Ok(())
}

fn note(answer: &StateValue) {
    eprintln!(
        "read at height {} (state root {}), last set at height {}; state proof checked",
        answer.height, answer.header.state_root, answer.modified_height
    );
}

/// Reads, prints and notes one record.
async fn show<T: Serialize, E: std::fmt::Display>(
    client: &mut Client,
    key: Vec<u8>,
    at: AtHeight,
    what: &str,
    decode: fn(&[u8]) -> Result<T, E>,
) -> Result<()> {
    let (record, answer) = read(client, key, at.height, what, decode).await?;
    print_json(&record)?;
    note(&answer);
    Ok(())
}

impl RecordQuery {
    /// Runs the query against `client`.
    pub async fn execute(self, client: &mut Client) -> Result<()> {
        match self {
            RecordQuery::Account { account, at } => {
                let key = files::public_key_arg(&account)?;
                let what = format!("account {key}");
                show(
                    client,
                    keys::account(&key),
                    at,
                    &what,
                    codec::decode::<Account>,
                )
                .await
            }
            RecordQuery::Organization { id, at } => {
                let what = format!("organization {id}");
                let decode = codec::decode::<OrganizationRecord>;
                show(client, keys::organization(&id), at, &what, decode).await
            }
            RecordQuery::Namespace { namespace, at } => {
                let what = format!("namespace {namespace}");
                let decode = codec::decode::<NamespaceRecord>;
                show(client, keys::namespace(&namespace), at, &what, decode).await
            }
            RecordQuery::Notarization { digest, at } => {
                let digest = Hash::from_hex(&digest).with_context(|| format!("digest {digest}"))?;
                let what = format!("notarization of {digest}");
                let decode = codec::decode::<NotarizationRecord>;
                show(client, keys::notarization(&digest), at, &what, decode).await
            }
            RecordQuery::Item {
                code,
                at,
                max_events,
            } => item(client, &code, at, max_events).await,
            RecordQuery::Batch { id, at } => {
                let what = format!("batch {id}");
                show(
                    client,
                    keys::batch(&id),
                    at,
                    &what,
                    codec::decode::<BatchRecord>,
                )
                .await
            }
            RecordQuery::BatchItem { proofs, item, at } => {
                batch_item(client, &proofs, &item, at).await
            }
            RecordQuery::Proposal { id, at } => {
                let id = Hash::from_hex(&id).with_context(|| format!("proposal id {id}"))?;
                let what = format!("proposal {id}");
                let decode = codec::decode::<ProposalRecord>;
                show(client, keys::proposal(&id), at, &what, decode).await
            }
            RecordQuery::Validators { at } => {
                let key = keys::VALIDATORS.to_vec();
                let decode = codec::decode::<ValidatorSet>;
                show(client, key, at, "the validator set", decode).await
            }
            RecordQuery::Parameters { at } => {
                let key = keys::PARAMETERS.to_vec();
                let decode = codec::decode::<Parameters>;
                show(client, key, at, "the parameters", decode).await
            }
        }
    }
}

/// An item with its events, as `query item` prints it.
#[derive(Serialize)]
struct ItemHistory {
    item: ItemRecord,
    events: Vec<ItemEvent>,
}

/// The item and its events `0..min(events, max_events)`, all read at the item's height.
async fn item(client: &mut Client, code: &str, at: AtHeight, max_events: u32) -> Result<()> {
    let what = format!("item {code}");
    let (item, answer) = read(
        client,
        keys::item(code),
        at.height,
        &what,
        codec::decode::<ItemRecord>,
    )
    .await?;
    let shown = item.events.min(max_events).min(MAX_EVENTS);
    let mut events = Vec::with_capacity(usize::try_from(shown).unwrap_or(0));
    for sequence in 0..shown {
        let what = format!("event {sequence} of item {code}");
        let key = keys::item_event(code, sequence);
        let decode = codec::decode::<ItemEvent>;
        let (event, _) = read(client, key, Some(answer.height), &what, decode).await?;
        events.push(event);
    }
    let total = item.events;
    print_json(&ItemHistory { item, events })?;
    note(&answer);
    if shown < total {
        eprintln!("showing {shown} of {total} events (--max-events)");
    }
    Ok(())
}

/// Checks `item`'s proof from the proofs file against the batch root recorded on chain.
async fn batch_item(
    client: &mut Client,
    proofs: &std::path::Path,
    item: &str,
    at: AtHeight,
) -> Result<()> {
    let file = BatchProofs::read(proofs)?;
    let proof = file.proof_of(item)?;
    let what = format!("batch {}", file.batch_id);
    let key = keys::batch(&file.batch_id);
    let decode = codec::decode::<BatchRecord>;
    let (batch, answer) = read(client, key, at.height, &what, decode).await?;
    ensure!(
        proof.tree_size == batch.count,
        "the proof is for a tree of {} items, but batch {} anchored {}",
        proof.tree_size,
        file.batch_id,
        batch.count
    );
    ensure!(
        proof.verify(&batch.root),
        "the proof of {item:?} does not verify against batch {}'s root on chain {} (the \
         proofs file names root {})",
        file.batch_id,
        batch.root,
        file.root
    );
    println!(
        "OK: {item:?} is item {} of {} in batch {} (root {}), anchored by {} at height {} in \
         transaction {}",
        proof.index,
        batch.count,
        file.batch_id,
        batch.root,
        batch.organization,
        batch.height,
        batch.tx_id
    );
    note(&answer);
    Ok(())
}
