//! Reading commands over gRPC: `cassia query block|tx|receipt|state|history`, the chain's
//! records (`query account|namespace|item|batch|proposal|...`, in [`records`]) and
//! `cassia watch blocks|events`. Every proof the node sends is checked by the client crate
//! before anything is printed.

mod records;

use anyhow::{Context, Result};
use cassia_api::convert::kv_state_key;
use cassia_api::{BlockId, Client, Committed, certified_block_from, pb};
use cassia_crypto::Hash;

use super::client::{EndpointArgs, block_on};

/// Bytes as UTF-8 when they are printable text, else as hex.
fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(char::is_control) => text.to_string(),
        _ => format!("0x{}", hex::encode(bytes)),
    }
}

/// Prints a committed transaction's receipt.
pub fn print_receipt(committed: &Committed) {
    let receipt = &committed.receipt;
    println!("tx id:       {}", receipt.tx_id);
    println!("height:      {}", receipt.height);
    println!("index:       {}", receipt.index);
    println!("block hash:  {}", committed.header.hash());
    match &receipt.failure {
        None => println!("result:      success"),
        Some(failure) => println!("result:      failed: {failure}"),
    }
    println!("proof:       receipt is under the header's receipts_root (checked)");
}

/// Read blocks, transactions, receipts and state.
#[derive(Debug, clap::Args)]
pub struct Query {
    #[command(subcommand)]
    what: QueryWhat,
    #[command(flatten)]
    endpoint: EndpointArgs,
}

/// The state key options shared by `query state` and `query history`.
#[derive(Debug, clap::Args)]
struct KeyArgs {
    /// Namespace of a registry record.
    #[arg(long, requires = "record", conflicts_with = "digest")]
    namespace: Option<String>,
    /// The record's key (UTF-8).
    #[arg(long)]
    record: Option<String>,
    /// A notarized digest (64 hex characters).
    #[arg(long)]
    digest: Option<String>,
}

impl KeyArgs {
    fn state_key(&self) -> Result<pb::StateKey> {
        match (&self.namespace, &self.record, &self.digest) {
            (Some(namespace), Some(record), None) => Ok(kv_state_key(namespace, record.as_bytes())),
            (None, None, Some(digest)) => Ok(pb::StateKey {
                key: Some(pb::state_key::Key::Notarization(
                    Hash::from_hex(digest)?.as_bytes().to_vec(),
                )),
            }),
            _ => anyhow::bail!("give --namespace and --record, or --digest"),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
enum QueryWhat {
    /// A block and its certificate, by height or hash; `latest` without either.
    Block {
        /// Height.
        #[arg(long, conflicts_with = "hash")]
        height: Option<u64>,
        /// Block hash (hex).
        #[arg(long)]
        hash: Option<String>,
    },
    /// A committed transaction, with its inclusion proof checked.
    Tx {
        /// Transaction id (hex).
        id: String,
    },
    /// A committed transaction's receipt, with its inclusion proof checked.
    Receipt {
        /// Transaction id (hex).
        id: String,
    },
    /// A key's value after a height (default: the latest).
    State {
        #[command(flatten)]
        key: KeyArgs,
        /// Height whose state to read.
        #[arg(long)]
        height: Option<u64>,
    },
    /// Every change of a key, oldest first.
    History {
        #[command(flatten)]
        key: KeyArgs,
        /// First height.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Most versions.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    #[command(flatten)]
    Record(records::RecordQuery),
}

impl Query {
    /// Runs the command.
    pub fn execute(self) -> Result<()> {
        block_on(async {
            let mut client = Client::connect(&self.endpoint.endpoint).await?;
            match self.what {
                QueryWhat::Block { height, hash } => {
                    let block = match (height, hash) {
                        (Some(height), _) => client.block(BlockId::Height(height), false).await?,
                        (None, Some(hash)) => {
                            client
                                .block(BlockId::Hash(Hash::from_hex(&hash)?), false)
                                .await?
                        }
                        (None, None) => client.latest(false).await?,
                    };
                    let header = &block.block.header;
                    println!("height:        {}", header.height);
                    println!("hash:          {}", header.hash());
                    println!("parent:        {}", header.parent);
                    println!("view:          {}", header.view);
                    println!("timestamp ms:  {}", header.timestamp_ms);
                    println!("proposer:      {}", header.proposer.to_hex());
                    println!("tx root:       {}", header.tx_root);
                    println!("receipts root: {}", header.receipts_root);
                    println!("state root:    {}", header.state_root);
                    println!(
                        "certificate:   {} signatures (view {})",
                        block.certificate.signatures.len(),
                        block.certificate.view
                    );
                    println!("transactions:  {}", block.tx_ids.len());
                    for id in &block.tx_ids {
                        println!("  {id}");
                    }
                }
                QueryWhat::Tx { id } => {
                    let committed = client.transaction(&Hash::from_hex(&id)?).await?;
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&committed.transaction)
                            .context("printing the transaction")?
                    );
                    print_receipt(&Committed {
                        receipt: committed.receipt,
                        header: committed.header,
                    });
                }
                QueryWhat::Receipt { id } => {
                    print_receipt(&client.receipt(&Hash::from_hex(&id)?).await?);
                }
                QueryWhat::State { key, height } => {
                    let answer = client.query(key.state_key()?, height).await?;
                    println!("height:        {}", answer.height);
                    println!("state root:    {}", answer.header.state_root);
                    match &answer.value {
                        Some(value) => {
                            println!("value:         {}", show(value));
                            println!("set at height: {}", answer.modified_height);
                        }
                        None => println!("value:         (absent)"),
                    }
                    println!(
                        "proof:         {} siblings, checked against the state root",
                        answer.proof.siblings.len()
                    );
                }
                QueryWhat::History { key, from, limit } => {
                    let page = client.history(key.state_key()?, from, limit).await?;
                    for version in &page.versions {
                        if version.present {
                            println!("{:>10}  {}", version.height, show(&version.value));
                        } else {
                            println!("{:>10}  (deleted)", version.height);
                        }
                    }
                    if page.next_from_height != 0 {
                        println!("more: --from {}", page.next_from_height);
                    }
                }
                QueryWhat::Record(query) => query.execute(&mut client).await?,
            }
            Ok(())
        })
    }
}

/// Follow the chain: blocks or events, from a height, resumable.
#[derive(Debug, clap::Args)]
pub struct Watch {
    #[command(subcommand)]
    what: WatchWhat,
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// First height (history is replayed from here, then new blocks follow).
    #[arg(long, default_value_t = 1, global = true)]
    from: u64,
    /// Stop after this many items (default: run until interrupted).
    #[arg(long, global = true)]
    limit: Option<u64>,
}

#[derive(Debug, clap::Subcommand)]
enum WatchWhat {
    /// One line per committed block.
    Blocks,
    /// One line per committed transaction.
    Events {
        /// Only this operation kind, as events name it (put, notarize, register_item, vote...).
        #[arg(long, default_value = "")]
        kind: String,
        /// Only this namespace.
        #[arg(long, default_value = "")]
        namespace: String,
    },
}

impl Watch {
    /// Runs the command.
    pub fn execute(self) -> Result<()> {
        block_on(async {
            let mut client = Client::connect(&self.endpoint.endpoint).await?;
            let limit = self.limit.unwrap_or(u64::MAX);
            let mut seen = 0;
            match self.what {
                WatchWhat::Blocks => {
                    let mut stream = client.subscribe_blocks(self.from, true).await?;
                    while seen < limit {
                        let Some(message) = stream.message().await? else {
                            break;
                        };
                        let block = certified_block_from(&message)?;
                        let header = &block.block.header;
                        println!(
                            "{} {} txs={} view={}",
                            header.height,
                            header.hash(),
                            block.tx_ids.len(),
                            header.view
                        );
                        seen += 1;
                    }
                }
                WatchWhat::Events { kind, namespace } => {
                    let request = pb::SubscribeEventsRequest {
                        from_height: self.from,
                        from_index: 0,
                        kind,
                        namespace,
                    };
                    let mut stream = client.subscribe_events(request).await?;
                    while seen < limit {
                        let Some(event) = stream.message().await? else {
                            break;
                        };
                        let subject = if event.kind == "notarize" {
                            format!("digest=0x{}", hex::encode(&event.digest))
                        } else {
                            format!("{}/{}", event.namespace, show(&event.key))
                        };
                        let result = if event.success {
                            "ok".to_string()
                        } else {
                            format!("failed: {}", event.failure)
                        };
                        println!(
                            "{}:{} {} {} 0x{} {}",
                            event.height,
                            event.index,
                            event.kind,
                            subject,
                            hex::encode(&event.tx_id),
                            result
                        );
                        seen += 1;
                    }
                }
            }
            Ok(())
        })
    }
}
