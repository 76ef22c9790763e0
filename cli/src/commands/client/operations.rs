//! `cassia tx <operation>`: one subcommand per [`Operation`], each turned into the operation a
//! transaction carries. What needs the chain (its id for co-signatures, its tip for
//! `validator-ready`) comes from the node's status, in [`ChainTip`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use cassia_crypto::keyfile::{self, KeyKind};
use cassia_crypto::{GenesisHash, Hash, Keypair, PublicKey, Signature};
use cassia_ledger::execution::co_signing_bytes;
use cassia_ledger::misbehaviour::Equivocation;
use cassia_ledger::records::{CoSignature, GovAction, NamespaceAcl, Role};
use cassia_ledger::{Operation, Organization, Parameters, Validator, codec};

use super::batch::BatchProofs;
use crate::files::{self, PassphraseArgs};

/// What an operation may need from the chain, read from the node's status.
#[derive(Debug)]
pub struct ChainTip {
    /// The chain id.
    pub chain_id: String,
    /// The genesis hash (every signature is bound to it).
    pub genesis: GenesisHash,
    /// The last committed height.
    pub height: u64,
    /// Its block hash.
    pub block_hash: Hash,
}

/// The operations a transaction can carry.
#[derive(Debug, clap::Subcommand)]
pub enum TxOperation {
    /// Set a key in a namespace (registries, data sharing; writer).
    ///
    /// The signer's organization must own the namespace or be one of its writers.
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
    /// Anchor a document's digest (存证), optionally co-signed by other parties.
    Notarize(Notarize),
    /// Co-sign a document for someone else's notarization: prints `PUBKEY:SIG`, submits nothing.
    ///
    /// Signs (digest, metadata) with --key for the chain; the notarizing party passes the line
    /// to `tx notarize --co-signature`. The chain's genesis hash comes from the node
    /// (--endpoint) unless --genesis-hash gives it; then no node is needed.
    Cosign(Cosign),
    /// Register an account in the signer's organization (admin).
    RegisterAccount {
        /// The account's public key (64 hex characters).
        #[arg(long, value_name = "HEX", required_unless_present = "account_key")]
        account: Option<String>,
        /// Or the account's key file (only its public key is read).
        #[arg(long, value_name = "FILE", conflicts_with = "account")]
        account_key: Option<PathBuf>,
        /// A role; repeat for several.
        #[arg(long, value_enum, required = true)]
        role: Vec<RoleArg>,
    },
    /// Revoke an account of the signer's organization (admin).
    RevokeAccount {
        /// The account's public key (64 hex characters) or key file.
        #[arg(long, value_name = "HEX|FILE")]
        account: String,
    },
    /// Create a namespace owned by the signer's organization (admin).
    CreateNamespace(NamespaceArgs),
    /// Replace a namespace's access lists (admin of the owner organization).
    SetAcl(NamespaceArgs),
    /// Register a traceability item (一物一码) owned by the signer's organization (writer).
    RegisterItem {
        /// The item's unique code.
        #[arg(long)]
        code: String,
        /// What it is.
        #[arg(long)]
        product: String,
        /// Free-form metadata (e.g. JSON).
        #[arg(long, default_value = "")]
        metadata: String,
        /// Another organization that may append events; repeat for several.
        #[arg(long, value_name = "ORG")]
        authorize: Vec<String>,
    },
    /// Append an event to an item's history (writer).
    ///
    /// The signer's organization must own the item or be authorized by it.
    ItemEvent {
        /// The item's code.
        #[arg(long)]
        code: String,
        /// E.g. `custody`, `quality`, `shipped`.
        #[arg(long)]
        kind: String,
        /// Free-form data (e.g. JSON).
        #[arg(long, default_value = "")]
        data: String,
    },
    /// Anchor a batch of items (one per line of a file) by their Merkle root (writer).
    AnchorBatch(AnchorBatch),
    /// Propose a governance change (admin); prints the proposal id (the transaction id).
    #[command(subcommand)]
    Propose(ProposeAction),
    /// Vote for the signer's organization on a proposal (admin).
    #[command(group(clap::ArgGroup::new("decision").required(true).args(["yes", "no"])))]
    Vote {
        /// The proposal id (64 hex characters).
        #[arg(long, value_name = "HEX")]
        proposal: String,
        /// Approve.
        #[arg(long)]
        yes: bool,
        /// Reject.
        #[arg(long)]
        no: bool,
    },
    /// An approved validator proves it has caught up (--key is its node key).
    ///
    /// Names the node's latest block. A running node sends this itself; this is for an
    /// operator to resend it.
    ValidatorReady,
}

/// A document digest and its metadata: what a notarization anchors and co-signers sign.
#[derive(Debug, clap::Args)]
pub struct DocumentArgs {
    /// The document to hash with blake3 (or give --digest).
    #[arg(long, value_name = "FILE", conflicts_with = "digest")]
    file: Option<PathBuf>,
    /// The digest, 64 hex characters.
    #[arg(long, value_name = "HEX")]
    digest: Option<String>,
    /// Metadata stored with it (co-signers sign it too).
    #[arg(long, default_value = "")]
    metadata: String,
}

impl DocumentArgs {
    /// The digest given, or the blake3 hash of the file given.
    fn digest(&self) -> Result<Hash> {
        match (&self.file, &self.digest) {
            (Some(path), _) => Ok(Hash::of(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )),
            (None, Some(hex)) => Ok(Hash::from_hex(hex)?),
            (None, None) => bail!("give --file or --digest"),
        }
    }
}

/// `tx notarize`.
#[derive(Debug, clap::Args)]
pub struct Notarize {
    #[command(flatten)]
    document: DocumentArgs,
    /// A co-signer's account key file: it signs here (sealed files use the same passphrase
    /// option as --key). Repeat for several.
    #[arg(long, value_name = "FILE")]
    co_signer_key: Vec<PathBuf>,
    /// A co-signature made elsewhere (`cassia tx cosign` prints one). Repeat for several.
    #[arg(long, value_name = "PUBKEYHEX:SIGHEX")]
    co_signature: Vec<String>,
}

impl Notarize {
    fn operation(&self, tip: &ChainTip, passphrase: &PassphraseArgs) -> Result<Operation> {
        let digest = self.document.digest()?;
        let metadata = self.document.metadata.clone();
        let message = co_signing_bytes(&tip.genesis, &digest, &metadata);
        let mut co_signers = Vec::new();
        for text in &self.co_signature {
            let co_signature = parse_co_signature(text)?;
            ensure!(
                co_signature
                    .signer
                    .verify_raw(&message, &co_signature.signature)
                    .is_ok(),
                "the co-signature of {} is not over this digest and metadata on chain {} with \
                 genesis {} (did the co-signer sign other metadata, or for another chain?)",
                co_signature.signer,
                tip.chain_id,
                tip.genesis
            );
            co_signers.push(co_signature);
        }
        for path in &self.co_signer_key {
            let key = files::read_key(path, passphrase, KeyKind::Account)?;
            co_signers.push(CoSignature {
                signer: key.public(),
                signature: key.sign_raw(&message),
            });
        }
        Ok(Operation::Notarize {
            digest,
            metadata,
            co_signers,
        })
    }
}

fn parse_co_signature(text: &str) -> Result<CoSignature> {
    let (public, signature) = text
        .split_once(':')
        .with_context(|| format!("co-signature {text:?} is not PUBKEYHEX:SIGHEX"))?;
    Ok(CoSignature {
        signer: PublicKey::from_hex(public).with_context(|| format!("co-signer key {public}"))?,
        signature: Signature::from_hex(signature)
            .with_context(|| format!("co-signature {signature}"))?,
    })
}

/// `tx cosign`.
#[derive(Debug, clap::Args)]
pub struct Cosign {
    #[command(flatten)]
    document: DocumentArgs,
}

impl Cosign {
    /// `PUBKEY:SIG`: `key`'s co-signature of the document on the chain `genesis` (from
    /// `--genesis-hash`, or else the node's status).
    pub fn sign(&self, key: &Keypair, genesis: &GenesisHash) -> Result<String> {
        let digest = self.document.digest()?;
        let message = co_signing_bytes(genesis, &digest, &self.document.metadata);
        Ok(format!(
            "{}:{}",
            key.public(),
            key.sign_raw(&message).to_hex()
        ))
    }
}

/// A role, as `--role` names it.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum RoleArg {
    /// Registers accounts, owns namespaces, votes in governance; also writes.
    Admin,
    /// Writes records, notarizations, items, events and batches.
    Writer,
    /// Reads and audits.
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Writer => Role::Writer,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}

/// A namespace and its access lists.
#[derive(Debug, clap::Args)]
pub struct NamespaceArgs {
    /// The namespace.
    #[arg(long)]
    namespace: String,
    /// An organization whose writers may put records; repeat for several.
    #[arg(long, value_name = "ORG")]
    writer: Vec<String>,
    /// An organization whose accounts may read through the API; repeat for several (none:
    /// every member may read).
    #[arg(long, value_name = "ORG")]
    reader: Vec<String>,
}

impl NamespaceArgs {
    fn into_parts(self) -> (String, NamespaceAcl) {
        let acl = NamespaceAcl {
            writers: self.writer,
            readers: self.reader,
        };
        (self.namespace, acl)
    }
}

/// `tx anchor-batch`.
#[derive(Debug, clap::Args)]
pub struct AnchorBatch {
    /// The batch's unique id.
    #[arg(long)]
    batch_id: String,
    /// The items, one per line; each line's bytes are one Merkle leaf.
    #[arg(long, value_name = "FILE")]
    items: PathBuf,
    /// Where to write every item's inclusion proof (JSON), for `query batch-item`. Written
    /// before the transaction is submitted.
    #[arg(long, value_name = "FILE")]
    proofs_out: Option<PathBuf>,
    /// Free-form metadata.
    #[arg(long, default_value = "")]
    metadata: String,
}

impl AnchorBatch {
    fn operation(self) -> Result<Operation> {
        let items = super::batch::read_items(&self.items)?;
        let proofs = BatchProofs::build(&self.batch_id, &items);
        eprintln!(
            "batch {}: {} items, root {}",
            self.batch_id, proofs.count, proofs.root
        );
        if let Some(path) = &self.proofs_out {
            proofs.write(path)?;
            eprintln!("proofs written to {}", path.display());
        }
        Ok(Operation::AnchorBatch {
            batch_id: self.batch_id,
            root: proofs.root,
            count: proofs.count,
            metadata: self.metadata,
        })
    }
}

/// The first block a governance change applies to.
#[derive(Debug, clap::Args)]
pub struct EffectiveHeight {
    /// The first block the change applies to: at least two blocks after the proposal is
    /// approved, so leave the other organizations time to vote.
    #[arg(long, value_name = "H")]
    effective_height: u64,
}

/// The governance changes.
#[derive(Debug, clap::Subcommand)]
pub enum ProposeAction {
    /// Admit an organization with its admin keys.
    AddOrg {
        /// Its short unique id.
        #[arg(long)]
        id: String,
        /// Its full name.
        #[arg(long)]
        name: String,
        /// An admin's public key (64 hex characters) or key file; repeat for several.
        #[arg(long, value_name = "HEX|FILE", required = true)]
        admin: Vec<String>,
        #[command(flatten)]
        when: EffectiveHeight,
    },
    /// Remove an organization (its validators must be removed first).
    RemoveOrg {
        /// Its id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        when: EffectiveHeight,
    },
    /// Add a validator (it joins once it has caught up and proved it).
    AddValidator {
        /// A readable name.
        #[arg(long)]
        name: String,
        /// The organization that runs it.
        #[arg(long)]
        org: String,
        /// Its node public key (64 hex characters).
        #[arg(long, value_name = "HEX", required_unless_present = "node_key_file")]
        node_key: Option<String>,
        /// Or its node key file (only the public key is read).
        #[arg(long, value_name = "FILE", conflicts_with = "node_key")]
        node_key_file: Option<PathBuf>,
        /// Its libp2p address, e.g. `/ip4/10.0.0.5/tcp/7100`.
        #[arg(long, value_name = "MULTIADDR")]
        p2p_address: String,
        #[command(flatten)]
        when: EffectiveHeight,
    },
    /// Remove a validator.
    RemoveValidator {
        /// Its node public key (64 hex characters) or key file.
        #[arg(long, value_name = "HEX|FILE")]
        node_key: String,
        /// Grounds: a proof that it equivocated, in hex as `cassia misbehaviour` prints it, or
        /// a file holding that. The chain checks it before the proposal opens.
        #[arg(long, value_name = "HEX|FILE")]
        proof: Option<String>,
        #[command(flatten)]
        when: EffectiveHeight,
    },
    /// Replace the chain parameters with a Parameters JSON file.
    ///
    /// `cassia query parameters` prints the current ones in that format; absent fields take
    /// their defaults, not their current values.
    SetParams {
        /// The Parameters JSON file.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        when: EffectiveHeight,
    },
}

impl ProposeAction {
    fn operation(self) -> Result<Operation> {
        let (action, when) = match self {
            ProposeAction::AddOrg {
                id,
                name,
                admin,
                when,
            } => {
                let admins = admin
                    .iter()
                    .map(|text| files::public_key_arg(text))
                    .collect::<Result<_>>()?;
                let organization = Organization { id, name, admins };
                (GovAction::AddOrganization { organization }, when)
            }
            ProposeAction::RemoveOrg { id, when } => (GovAction::RemoveOrganization { id }, when),
            ProposeAction::AddValidator {
                name,
                org,
                node_key,
                node_key_file,
                p2p_address,
                when,
            } => {
                let node_key =
                    public_key(node_key.as_deref(), node_key_file.as_deref(), KeyKind::Node)?;
                let validator = Validator {
                    name,
                    organization: org,
                    node_key,
                    p2p_address,
                };
                (GovAction::AddValidator { validator }, when)
            }
            ProposeAction::RemoveValidator {
                node_key,
                proof,
                when,
            } => {
                let node_key = files::public_key_arg(&node_key)?;
                let proof = proof.as_deref().map(read_proof).transpose()?.map(Box::new);
                (GovAction::RemoveValidator { node_key, proof }, when)
            }
            ProposeAction::SetParams { file, when } => {
                let parameters = read_parameters(&file)?;
                (GovAction::SetParameters { parameters }, when)
            }
        };
        Ok(Operation::Propose {
            action,
            effective_height: when.effective_height,
        })
    }
}

/// A public key given as hex or as a key file, which must hold a key of `expected` kind.
fn public_key(hex: Option<&str>, file: Option<&Path>, expected: KeyKind) -> Result<PublicKey> {
    match (hex, file) {
        (Some(hex), _) => Ok(PublicKey::from_hex(hex).with_context(|| format!("key {hex}"))?),
        (None, Some(path)) => {
            let (found, key) = keyfile::read_public(path)?;
            ensure!(
                found == expected,
                "{} is a {found:?} key, but a {expected:?} key is needed here",
                path.display()
            );
            Ok(key)
        }
        (None, None) => bail!("give the {expected:?} key as hex or as a key file"),
    }
}

fn read_parameters(path: &Path) -> Result<Parameters> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading parameters {}", path.display()))?;
    let parameters: Parameters = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a Parameters JSON file", path.display()))?;
    parameters
        .validate()
        .with_context(|| format!("parameters in {}", path.display()))?;
    Ok(parameters)
}

impl TxOperation {
    /// The kind of key that signs it: a node key for `validator-ready`, else an account key.
    pub fn key_kind(&self) -> KeyKind {
        match self {
            TxOperation::ValidatorReady => KeyKind::Node,
            _ => KeyKind::Account,
        }
    }

    /// The operation, with what it needs from the chain's tip.
    pub fn into_operation(self, tip: &ChainTip, passphrase: &PassphraseArgs) -> Result<Operation> {
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
            TxOperation::Notarize(notarize) => notarize.operation(tip, passphrase)?,
            TxOperation::Cosign(_) => bail!("cosign submits no transaction"),
            TxOperation::RegisterAccount {
                account,
                account_key,
                role,
            } => Operation::RegisterAccount {
                account: public_key(account.as_deref(), account_key.as_deref(), KeyKind::Account)?,
                roles: role.into_iter().map(Role::from).collect(),
            },
            TxOperation::RevokeAccount { account } => Operation::RevokeAccount {
                account: files::public_key_arg(&account)?,
            },
            TxOperation::CreateNamespace(args) => {
                let (namespace, acl) = args.into_parts();
                Operation::CreateNamespace { namespace, acl }
            }
            TxOperation::SetAcl(args) => {
                let (namespace, acl) = args.into_parts();
                Operation::SetNamespaceAcl { namespace, acl }
            }
            TxOperation::RegisterItem {
                code,
                product,
                metadata,
                authorize,
            } => Operation::RegisterItem {
                code,
                product,
                metadata,
                authorized: authorize,
            },
            TxOperation::ItemEvent { code, kind, data } => {
                Operation::AppendItemEvent { code, kind, data }
            }
            TxOperation::AnchorBatch(anchor) => anchor.operation()?,
            TxOperation::Propose(action) => action.operation()?,
            TxOperation::Vote { proposal, yes, no } => {
                debug_assert!(yes != no, "clap's group makes --yes and --no exclusive");
                Operation::Vote {
                    proposal: Hash::from_hex(&proposal)
                        .with_context(|| format!("proposal id {proposal}"))?,
                    approve: yes,
                }
            }
            TxOperation::ValidatorReady => Operation::ValidatorReady {
                height: tip.height,
                block_hash: tip.block_hash,
            },
        })
    }
}

/// Most bytes of a `--proof` file (a proof is about 250 bytes; its hex twice that).
const MAX_PROOF_FILE_BYTES: u64 = 64 * 1024;

/// A proof of equivocation from its hex, or from a file holding its hex.
fn read_proof(text: &str) -> Result<Equivocation> {
    let hex_text = if Path::new(text).is_file() {
        let size = std::fs::metadata(text)
            .with_context(|| format!("--proof {text}"))?
            .len();
        ensure!(
            size <= MAX_PROOF_FILE_BYTES,
            "--proof {text}: {size} bytes, more than a proof ({MAX_PROOF_FILE_BYTES} at most)"
        );
        std::fs::read_to_string(text).with_context(|| format!("--proof {text}"))?
    } else {
        text.to_string()
    };
    let bytes = hex::decode(hex_text.trim())
        .context("--proof is neither a file nor hex (cassia misbehaviour prints the hex)")?;
    codec::decode(&bytes).map_err(|e| anyhow::anyhow!("--proof does not decode as a proof: {e}"))
}
