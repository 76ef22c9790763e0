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
//! .sign(&key);
//! let id = client.submit(&tx).await?;
//! println!("submitted {id}");
//! # Ok(())
//! # }
//! ```

use cassia_crypto::Hash;
use cassia_ledger::{SignedTransaction, codec};

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
    #[error("{}: {}", .0.code(), .0.message())]
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
}

/// A typed client of one node.
#[derive(Clone, Debug)]
pub struct Client {
    transactions:
        pb::transaction_service_client::TransactionServiceClient<tonic::transport::Channel>,
    node: pb::node_service_client::NodeServiceClient<tonic::transport::Channel>,
}

fn hash_from(bytes: &[u8], what: &str) -> Result<Hash, ApiError> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ApiError::Malformed(format!("{what} is not 32 bytes")))?;
    Ok(Hash(array))
}

impl Client {
    /// Connects to `endpoint`, e.g. `http://127.0.0.1:7200`.
    pub async fn connect(endpoint: &str) -> Result<Client, ApiError> {
        let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
            .map_err(|source| ApiError::Connect {
                endpoint: endpoint.to_string(),
                source,
            })?
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
            node: pb::node_service_client::NodeServiceClient::new(channel),
        })
    }

    /// Submits a signed transaction; returns its id once the node admitted it.
    pub async fn submit(&mut self, tx: &SignedTransaction) -> Result<Hash, ApiError> {
        let request = pb::SubmitRequest {
            signed_transaction: codec::encode(tx),
        };
        let response = self.transactions.submit(request).await?.into_inner();
        hash_from(&response.tx_id, "tx_id")
    }

    /// The node's status.
    pub async fn status(&mut self) -> Result<NodeStatus, ApiError> {
        let status = self.node.status(pb::StatusRequest {}).await?.into_inner();
        Ok(NodeStatus {
            block_hash: hash_from(&status.block_hash, "block_hash")?,
            state_root: hash_from(&status.state_root, "state_root")?,
            chain_id: status.chain_id,
            height: status.height,
            view: status.view,
            connected_peers: status.connected_peers,
            version: status.version,
            validators: status.validators,
        })
    }
}
