//! The gRPC server integrators use (package `cassia.v1`, defined in `cassia-api`).
//!
//! Requests are size-capped ([`MAX_REQUEST_BYTES`]) and decoded with the ledger's bounded
//! codec, so malformed or oversized input gets an error status, never a crash. Every
//! [`Rejection`] maps to one status code (see [`status_of`]) with a message naming the reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use cassia_api::pb;
use cassia_ledger::{Genesis, Rejection, SignedTransaction, codec};
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status};

use crate::metrics::Metrics;
use crate::runtime::NodeCommand;

/// Largest gRPC request accepted, bytes (a transaction is capped far below this).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// The status code and message for a refused transaction.
pub fn status_of(rejection: &Rejection) -> Status {
    let message = rejection.to_string();
    match rejection {
        Rejection::BadSignature | Rejection::Malformed(_) => Status::invalid_argument(message),
        Rejection::Duplicate => Status::already_exists(message),
        Rejection::WrongChain { .. }
        | Rejection::Expired { .. }
        | Rejection::TooFarAhead { .. } => Status::failed_precondition(message),
        Rejection::PermissionDenied(_) => Status::permission_denied(message),
        Rejection::TooLarge { .. } | Rejection::MempoolFull => Status::resource_exhausted(message),
    }
}

/// Serves both services.
#[derive(Clone)]
struct Api {
    commands: mpsc::Sender<NodeCommand>,
    metrics: Arc<Metrics>,
    genesis: Arc<Genesis>,
}

#[tonic::async_trait]
impl pb::transaction_service_server::TransactionService for Api {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let bytes = request.into_inner().signed_transaction;
        let tx: SignedTransaction = codec::decode(&bytes).map_err(|e| {
            Status::invalid_argument(format!("signed_transaction does not decode: {e}"))
        })?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(NodeCommand::Submit(tx, reply))
            .await
            .map_err(|_| Status::unavailable("the node is shutting down"))?;
        let id = answer
            .await
            .map_err(|_| Status::unavailable("the node is shutting down"))?
            .map_err(|rejection| status_of(&rejection))?;
        Ok(Response::new(pb::SubmitResponse {
            tx_id: id.as_bytes().to_vec(),
        }))
    }
}

#[tonic::async_trait]
impl pb::node_service_server::NodeService for Api {
    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let (height, block_hash, state_root) = self.metrics.tip();
        Ok(Response::new(pb::StatusResponse {
            chain_id: self.genesis.chain_id.clone(),
            height,
            block_hash: block_hash.as_bytes().to_vec(),
            state_root: state_root.as_bytes().to_vec(),
            view: self.metrics.view.load(Ordering::Relaxed),
            connected_peers: u32::try_from(self.metrics.peers.load(Ordering::Relaxed))
                .unwrap_or(u32::MAX),
            version: env!("CARGO_PKG_VERSION").to_string(),
            validators: self
                .genesis
                .validators
                .iter()
                .map(|v| v.node_key.to_hex())
                .collect(),
        }))
    }
}

/// Binds `address` and serves the API in a background task until `shutdown` resolves.
/// Returns the bound address.
pub async fn serve(
    address: SocketAddr,
    commands: mpsc::Sender<NodeCommand>,
    metrics: Arc<Metrics>,
    genesis: Arc<Genesis>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let api = Api {
        commands,
        metrics,
        genesis,
    };
    let transactions = pb::transaction_service_server::TransactionServiceServer::new(api.clone())
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let node = pb::node_service_server::NodeServiceServer::new(api)
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(async move {
        let result = tonic::transport::Server::builder()
            .add_service(transactions)
            .add_service(node)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        if let Err(error) = result {
            tracing::error!(%error, "gRPC server stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn every_rejection_has_its_status_code() {
        let table = [
            (Rejection::BadSignature, Code::InvalidArgument),
            (Rejection::Malformed("x".into()), Code::InvalidArgument),
            (Rejection::Duplicate, Code::AlreadyExists),
            (
                Rejection::WrongChain {
                    expected: "a".into(),
                    got: "b".into(),
                },
                Code::FailedPrecondition,
            ),
            (
                Rejection::Expired {
                    valid_until: 1,
                    height: 2,
                },
                Code::FailedPrecondition,
            ),
            (
                Rejection::TooFarAhead {
                    valid_until: 9,
                    max: 2,
                },
                Code::FailedPrecondition,
            ),
            (
                Rejection::PermissionDenied("writer".into()),
                Code::PermissionDenied,
            ),
            (
                Rejection::TooLarge { size: 2, limit: 1 },
                Code::ResourceExhausted,
            ),
            (Rejection::MempoolFull, Code::ResourceExhausted),
        ];
        for (rejection, code) in table {
            let status = status_of(&rejection);
            assert_eq!(status.code(), code, "{rejection}");
            assert_eq!(status.message(), rejection.to_string());
        }
    }
}
