//! Cassia's gRPC API for integrators: the `.proto` definitions (package `cassia.v1`, in
//! `api/proto/`), the generated client and server ([`pb`]), and [`Client`], a typed client that
//! takes and returns Cassia's own types. Depends on `cassia-ledger` and `cassia-crypto` only,
//! so integrators never build RocksDB or libp2p.
//!
//! ```no_run
//! use cassia_api::Client;
//! use cassia_crypto::Keypair;
//! use cassia_ledger::{Operation, Transaction};
//!
//! # async fn example() -> Result<(), cassia_api::ApiError> {
//! let mut client = Client::connect("http://127.0.0.1:7200").await?;
//! let status = client.status().await?;
//! let key = Keypair::generate();
//! let tx = Transaction {
//!     chain_id: status.chain_id.clone(),
//!     signer: key.public(),
//!     nonce: 1,
//!     valid_until: status.height + 100,
//!     op: Operation::Put { namespace: "licences".into(), key: b"GX-001".to_vec(), value: b"valid".to_vec() },
//! }
//! .sign(&status.genesis, &key);
//! let id = client.submit(&tx).await?;
//! println!("submitted {id}");
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use cassia_crypto::{GenesisHash, Hash, merkle};
use cassia_ledger::state_tree::StateProof;
use cassia_ledger::{Block, BlockHeader, CommitCertificate, Receipt, SignedTransaction, codec};

pub mod convert;

use convert::{hash_from, header_from_pb, proof_from_pb, receipt_from_pb};

/// Header naming a reader's account key (hex) on queries of access-controlled namespaces.
pub const READER_HEADER: &str = "x-cassia-reader";
/// Header with the credential's time, milliseconds since the Unix epoch.
pub const READER_TIME_HEADER: &str = "x-cassia-reader-time-ms";
/// Header with the reader's signature (hex) over
/// `cassia_ledger::execution::read_signing_bytes(genesis, raw_key, time_ms)`.
pub const READER_SIGNATURE_HEADER: &str = "x-cassia-reader-signature";

/// The encoded protobuf file descriptor set of `cassia.v1`, served by gRPC server reflection
/// (generated with the code by `tools/protogen`).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("generated/cassia.v1.bin");

/// Generated protobuf types, clients and servers of package `cassia.v1`.
///
/// The code is generated from `proto/cassia/v1/cassia.proto` by `tools/protogen` and checked
/// in, so that building the API needs no code generator and adds nothing to the build-time
/// crates RocksDB's bindings share (see README, "Building"). `scripts/test` fails when it is
/// stale; `cargo run --manifest-path tools/protogen/Cargo.toml` regenerates it.
#[allow(missing_docs, clippy::all, clippy::pedantic, reason = "generated code")]
pub mod pb {
    include!("generated/cassia.v1.rs");
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The endpoint could not be reached.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// Why.
        source: tonic::transport::Error,
    },
    /// The node answered with an error status (its message names the reason).
    #[error("{:?}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
    /// The node's answer is not what the API promises.
    #[error("malformed response: {0}")]
    Malformed(String),
}

/// A node's status, in Cassia's types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// Chain id.
    pub chain_id: String,
    /// The genesis hash: what a client signs for (see [`cassia_crypto::signing_bytes`]). A
    /// client should compare it with the genesis file it trusts before signing anything.
    pub genesis: GenesisHash,
    /// Last committed height.
    pub height: u64,
    /// Its block hash.
    pub block_hash: Hash,
    /// State root after it.
    pub state_root: Hash,
    /// Current view.
    pub view: u64,
    /// Connected member peers.
    pub connected_peers: u32,
    /// Node software version.
    pub version: String,
    /// Validators' node keys, hex.
    pub validators: Vec<String>,
    /// Node key (hex) of the current leader.
    pub leader: String,
    /// This node's key (hex).
    pub node_key: String,
}

/// A committed transaction's receipt, its header, and the checked proof that links them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The receipt.
    pub receipt: Receipt,
    /// The header of the block it committed in.
    pub header: BlockHeader,
}

/// A committed transaction, its receipt and its header; its inclusion proof checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedTransaction {
    /// The transaction.
    pub transaction: SignedTransaction,
    /// Its receipt.
    pub receipt: Receipt,
    /// The header of the block it committed in.
    pub header: BlockHeader,
}

/// A block with the certificate that proves it committed (check it with
/// [`CommitCertificate::verify`] against the validator set you trust).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertifiedBlock {
    /// The block (without transactions when asked for headers only).
    pub block: Block,
    /// Transaction ids in block order (present even for headers only).
    pub tx_ids: Vec<Hash>,
    /// Its commit certificate.
    pub certificate: CommitCertificate,
}

/// Where [`Client::block`] looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockId {
    /// By height.
    Height(u64),
    /// By block hash.
    Hash(Hash),
}

/// A state key's value after a height, as the node answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateValue {
    /// The value, or `None` when the key is absent.
    pub value: Option<Vec<u8>>,
    /// The height whose state was read.
    pub height: u64,
    /// The height that last changed the key (0 if never).
    pub modified_height: u64,
    /// That height's header.
    pub header: BlockHeader,
    /// The proof of the value (or absence) under `header.state_root`; already checked.
    pub proof: StateProof,
    /// The raw state key.
    pub raw_key: Vec<u8>,
}

/// A typed client of one node.
#[derive(Clone, Debug)]
pub struct Client {
    transactions:
        pb::transaction_service_client::TransactionServiceClient<tonic::transport::Channel>,
    blocks: pb::block_service_client::BlockServiceClient<tonic::transport::Channel>,
    state: pb::state_service_client::StateServiceClient<tonic::transport::Channel>,
    node: pb::node_service_client::NodeServiceClient<tonic::transport::Channel>,
    /// Signs state queries as this account (for namespaces with a readers list).
    reader: Option<(cassia_crypto::Keypair, GenesisHash)>,
}

/// Checks that `leaf` is under `root` by `proof`.
fn check_inclusion(
    proof: Option<&pb::MerkleProof>,
    root: &Hash,
    leaf: &[u8],
    what: &str,
) -> Result<(), ApiError> {
    let proof = proof_from_pb(proof)?;
    if proof.verify(root, &merkle::leaf_hash(leaf)) {
        Ok(())
    } else {
        Err(ApiError::Malformed(format!(
            "the {what} inclusion proof does not verify against the header"
        )))
    }
}

/// A receipt response, its proof checked against its header.
fn committed_from(response: &pb::ReceiptResponse) -> Result<Committed, ApiError> {
    let header = header_from_pb(response.header.as_ref())?;
    let receipt = receipt_from_pb(response.receipt.as_ref())?;
    check_inclusion(
        response.proof.as_ref(),
        &header.receipts_root,
        &codec::encode(&receipt),
        "receipt",
    )?;
    Ok(Committed { receipt, header })
}

/// A block response, its header and transactions checked against each other.
pub fn certified_block_from(response: &pb::BlockResponse) -> Result<CertifiedBlock, ApiError> {
    let header = header_from_pb(response.header.as_ref())?;
    let certificate = convert::certificate_from_pb(response.certificate.as_ref())?;
    if certificate.block_hash != header.hash() {
        return Err(ApiError::Malformed(
            "the certificate is for another block".into(),
        ));
    }
    let transactions = response
        .transactions
        .iter()
        .map(|bytes| convert::transaction_from(bytes))
        .collect::<Result<Vec<_>, _>>()?;
    let block = Block {
        header,
        transactions,
    };
    if !block.transactions.is_empty() && block.tx_tree().root() != block.header.tx_root {
        return Err(ApiError::Malformed(
            "the transactions do not match the header's tx_root".into(),
        ));
    }
    let tx_ids = response
        .tx_ids
        .iter()
        .map(|id| hash_from(id, "tx id"))
        .collect::<Result<_, _>>()?;
    Ok(CertifiedBlock {
        block,
        tx_ids,
        certificate,
    })
}

impl Client {
    /// Connects to `endpoint`, e.g. `http://127.0.0.1:7200`.
    pub async fn connect(endpoint: &str) -> Result<Client, ApiError> {
        let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
            .map_err(|source| ApiError::Connect {
                endpoint: endpoint.to_string(),
                source,
            })?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|source| ApiError::Connect {
                endpoint: endpoint.to_string(),
                source,
            })?;
        Ok(Client {
            transactions: pb::transaction_service_client::TransactionServiceClient::new(
                channel.clone(),
            ),
            blocks: pb::block_service_client::BlockServiceClient::new(channel.clone()),
            state: pb::state_service_client::StateServiceClient::new(channel.clone()),
            node: pb::node_service_client::NodeServiceClient::new(channel),
            reader: None,
        })
    }

    /// Signs every later state query and history request as `account` on the chain `genesis`,
    /// so namespaces whose readers include its organization answer.
    pub fn with_reader(mut self, account: cassia_crypto::Keypair, genesis: GenesisHash) -> Client {
        self.reader = Some((account, genesis));
        self
    }

    /// `message` as a request, with a reader credential for `raw_key` if a reader is set.
    fn reading<T>(&self, message: T, raw_key: &[u8]) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some((account, genesis)) = &self.reader {
            let time_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            let signature = account.sign_raw(&cassia_ledger::execution::read_signing_bytes(
                genesis, raw_key, time_ms,
            ));
            let headers = [
                (READER_HEADER, account.public().to_hex()),
                (READER_TIME_HEADER, time_ms.to_string()),
                (READER_SIGNATURE_HEADER, signature.to_hex()),
            ];
            for (name, value) in headers {
                if let Ok(value) = value.parse() {
                    request.metadata_mut().insert(name, value);
                }
            }
        }
        request
    }

    /// Submits a signed transaction; returns its id once the node admitted it.
    pub async fn submit(&mut self, tx: &SignedTransaction) -> Result<Hash, ApiError> {
        let request = pb::SubmitRequest {
            signed_transaction: codec::encode(tx),
        };
        let response = self.transactions.submit(request).await?.into_inner();
        hash_from(&response.tx_id, "tx_id")
    }

    /// Submits a signed transaction and waits up to `wait` for its receipt (the node answers
    /// DEADLINE_EXCEEDED when it is not committed by then).
    pub async fn submit_and_wait(
        &mut self,
        tx: &SignedTransaction,
        wait: Duration,
    ) -> Result<Committed, ApiError> {
        let request = pb::SubmitAndWaitRequest {
            signed_transaction: codec::encode(tx),
            wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        };
        let mut request = tonic::Request::new(request);
        // The call's deadline leaves the node time to answer DEADLINE_EXCEEDED itself.
        request.set_timeout(wait + Duration::from_secs(5));
        let response = self
            .transactions
            .submit_and_wait(request)
            .await?
            .into_inner();
        committed_from(&response)
    }

    /// A committed transaction with its receipt; the inclusion proof is checked.
    pub async fn transaction(&mut self, id: &Hash) -> Result<CommittedTransaction, ApiError> {
        let request = pb::TransactionRequest {
            tx_id: id.as_bytes().to_vec(),
        };
        let response = self
            .transactions
            .get_transaction(request)
            .await?
            .into_inner();
        let header = header_from_pb(response.header.as_ref())?;
        let transaction = convert::transaction_from(&response.signed_transaction)?;
        if transaction.id() != *id {
            return Err(ApiError::Malformed(
                "the node sent another transaction".into(),
            ));
        }
        check_inclusion(
            response.proof.as_ref(),
            &header.tx_root,
            &response.signed_transaction,
            "transaction",
        )?;
        let receipt = receipt_from_pb(response.receipt.as_ref())?;
        Ok(CommittedTransaction {
            transaction,
            receipt,
            header,
        })
    }

    /// A committed transaction's receipt; the inclusion proof is checked.
    pub async fn receipt(&mut self, id: &Hash) -> Result<Committed, ApiError> {
        let request = pb::TransactionRequest {
            tx_id: id.as_bytes().to_vec(),
        };
        let response = self.transactions.get_receipt(request).await?.into_inner();
        let committed = committed_from(&response)?;
        if committed.receipt.tx_id != *id {
            return Err(ApiError::Malformed("the node sent another receipt".into()));
        }
        Ok(committed)
    }

    /// A block with its certificate.
    pub async fn block(
        &mut self,
        at: BlockId,
        headers_only: bool,
    ) -> Result<CertifiedBlock, ApiError> {
        let at = match at {
            BlockId::Height(height) => pb::get_block_request::At::Height(height),
            BlockId::Hash(hash) => pb::get_block_request::At::Hash(hash.as_bytes().to_vec()),
        };
        let request = pb::GetBlockRequest {
            at: Some(at),
            headers_only,
        };
        let response = self.blocks.get_block(request).await?.into_inner();
        certified_block_from(&response)
    }

    /// The last committed block with its certificate.
    pub async fn latest(&mut self, headers_only: bool) -> Result<CertifiedBlock, ApiError> {
        let request = pb::GetLatestRequest { headers_only };
        let response = self.blocks.get_latest(request).await?.into_inner();
        certified_block_from(&response)
    }

    /// Blocks from `from_height` on, then live (decode each with [`certified_block_from`]).
    pub async fn subscribe_blocks(
        &mut self,
        from_height: u64,
        headers_only: bool,
    ) -> Result<tonic::Streaming<pb::BlockResponse>, ApiError> {
        let request = pb::SubscribeBlocksRequest {
            from_height,
            headers_only,
        };
        Ok(self.blocks.subscribe_blocks(request).await?.into_inner())
    }

    /// Events from `(from_height, from_index)` on, then live.
    pub async fn subscribe_events(
        &mut self,
        request: pb::SubscribeEventsRequest,
    ) -> Result<tonic::Streaming<pb::Event>, ApiError> {
        Ok(self.blocks.subscribe_events(request).await?.into_inner())
    }

    /// The value of `key` after `height` (the latest when `None`).
    pub async fn query(
        &mut self,
        key: pb::StateKey,
        height: Option<u64>,
    ) -> Result<StateValue, ApiError> {
        // The key is derived here, not taken from the answer: the proof must be for our key.
        let raw_key = convert::state_key(Some(&key)).map_err(ApiError::Malformed)?;
        let request = self.reading(
            pb::QueryRequest {
                key: Some(key),
                height,
            },
            &raw_key,
        );
        let response = self.state.query(request).await?.into_inner();
        let header = header_from_pb(response.header.as_ref())?;
        if header.height != response.height {
            return Err(ApiError::Malformed(
                "the header is of another height".into(),
            ));
        }
        let value = response.found.then_some(response.value);
        let proof = convert::state_proof_from_pb(response.proof.as_ref())?;
        proof
            .verify(&header.state_root, &raw_key, value.as_deref())
            .map_err(|e| ApiError::Malformed(format!("the state proof does not verify: {e}")))?;
        Ok(StateValue {
            value,
            height: response.height,
            modified_height: response.modified_height,
            header,
            proof,
            raw_key,
        })
    }

    /// Every change of `key` from `from_height`, at most `limit` (one page).
    pub async fn history(
        &mut self,
        key: pb::StateKey,
        from_height: u64,
        limit: u32,
    ) -> Result<pb::HistoryResponse, ApiError> {
        let raw_key = convert::state_key(Some(&key)).map_err(ApiError::Malformed)?;
        let request = self.reading(
            pb::HistoryRequest {
                key: Some(key),
                from_height,
                limit,
            },
            &raw_key,
        );
        Ok(self.state.history(request).await?.into_inner())
    }

    /// The validator set the node reports, in rotation order (to check certificates with; a
    /// verifier that must not trust the node takes it from the genesis file instead).
    pub async fn validator_set(&mut self) -> Result<Vec<cassia_ledger::Validator>, ApiError> {
        let status = self.node.status(pb::StatusRequest {}).await?.into_inner();
        status
            .validator_set
            .iter()
            .map(convert::validator_from_pb)
            .collect()
    }

    /// Up to `limit` proofs of equivocation the node kept (0: the node's default; at most
    /// 1024). Each is decoded; check it with
    /// [`Equivocation::verify`](cassia_ledger::misbehaviour::Equivocation::verify) against the
    /// genesis you trust before acting on it.
    pub async fn misbehaviour(
        &mut self,
        limit: u32,
    ) -> Result<Vec<cassia_ledger::misbehaviour::Equivocation>, ApiError> {
        let response = self
            .node
            .misbehaviour(pb::MisbehaviourRequest { limit })
            .await?
            .into_inner();
        response
            .equivocations
            .iter()
            .map(|entry| {
                codec::decode(&entry.proof)
                    .map_err(|e| ApiError::Malformed(format!("equivocation proof: {e}")))
            })
            .collect()
    }

    /// The node's status.
    pub async fn status(&mut self) -> Result<NodeStatus, ApiError> {
        let status = self.node.status(pb::StatusRequest {}).await?.into_inner();
        Ok(NodeStatus {
            block_hash: hash_from(&status.block_hash, "block_hash")?,
            state_root: hash_from(&status.state_root, "state_root")?,
            chain_id: status.chain_id,
            genesis: GenesisHash(hash_from(&status.genesis_hash, "genesis_hash")?),
            height: status.height,
            view: status.view,
            connected_peers: status.connected_peers,
            version: status.version,
            validators: status.validators,
            leader: status.leader,
            node_key: status.node_key,
        })
    }
}
