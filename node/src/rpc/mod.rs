//! The gRPC server integrators use (package `cassia.v1`, defined in `cassia-api`).
//!
//! One [`Api`] value serves the four services, each in its own file: `transactions` (submit,
//! wait, read with proofs), `blocks` (read, subscribe), `state` (query with proof, history) and
//! `status`. Reads go straight to the RocksDB store (shared with the engine, which commits each
//! block in one atomic batch); writes go to the runtime as [`NodeCommand`]s; waiting for commits
//! uses the runtime's [`Head`](crate::head::Head) channel. The standard health service and
//! server reflection are served alongside, so grpcurl or grpcio can call every method with no
//! Cassia code.
//!
//! Requests are size-capped ([`MAX_REQUEST_BYTES`]) and decoded with the ledger's bounded
//! codec, so malformed or oversized input gets an error status, never a crash. Every
//! [`Rejection`] maps to one status code (see [`status_of`]) with a message naming the reason.

mod blocks;
mod state;
mod status;
mod transactions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cassia_api::pb;
use cassia_crypto::PublicKey;
use cassia_ledger::{Genesis, Rejection};
use cassia_storage::{Database, StorageError};
use tokio::sync::{Semaphore, mpsc};
use tonic::Status;

use crate::head::HeadReceiver;
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
        Rejection::Unavailable(_) => Status::unavailable(message),
    }
}

/// A store read failed: the node cannot answer (its operator sees the same error in the log).
fn storage_status(error: &StorageError) -> Status {
    tracing::error!(%error, "gRPC read failed");
    Status::internal(format!("the node could not read its store: {error}"))
}

/// Subscription limits.
#[derive(Clone, Copy, Debug)]
pub struct SubscriptionLimits {
    /// Most concurrent streams.
    pub max_subscribers: usize,
    /// How long a stream may sit unread, with more to send, before it is dropped.
    pub idle_timeout: Duration,
}

/// What the services share.
#[derive(Clone)]
pub struct Api {
    commands: mpsc::Sender<NodeCommand>,
    store: Arc<Database>,
    genesis: Arc<Genesis>,
    head: HeadReceiver,
    node_key: PublicKey,
    subscribers: Arc<Semaphore>,
    max_subscribers: usize,
    idle_timeout: Duration,
}

impl Api {
    /// The services' shared state.
    pub fn new(
        commands: mpsc::Sender<NodeCommand>,
        store: Arc<Database>,
        genesis: Arc<Genesis>,
        head: HeadReceiver,
        node_key: PublicKey,
        limits: SubscriptionLimits,
    ) -> Api {
        Api {
            commands,
            store,
            genesis,
            head,
            node_key,
            subscribers: Arc::new(Semaphore::new(limits.max_subscribers)),
            max_subscribers: limits.max_subscribers,
            idle_timeout: limits.idle_timeout,
        }
    }
}

/// Binds `address` and serves the API in a background task until `shutdown` resolves.
/// Returns the bound address.
pub async fn serve(
    address: SocketAddr,
    api: Api,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let transactions = pb::transaction_service_server::TransactionServiceServer::new(api.clone())
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let blocks = pb::block_service_server::BlockServiceServer::new(api.clone())
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let state = pb::state_service_server::StateServiceServer::new(api.clone())
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let node = pb::node_service_server::NodeServiceServer::new(api)
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::transaction_service_server::TransactionServiceServer<Api>>()
        .await;
    health_reporter
        .set_serving::<pb::block_service_server::BlockServiceServer<Api>>()
        .await;
    health_reporter
        .set_serving::<pb::state_service_server::StateServiceServer<Api>>()
        .await;
    health_reporter
        .set_serving::<pb::node_service_server::NodeServiceServer<Api>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(cassia_api::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(std::io::Error::other)?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(cassia_api::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(std::io::Error::other)?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(async move {
        let result = tonic::transport::Server::builder()
            .add_service(health)
            .add_service(reflection)
            .add_service(reflection_alpha)
            .add_service(transactions)
            .add_service(blocks)
            .add_service(state)
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
            (Rejection::Unavailable("disk".into()), Code::Unavailable),
        ];
        for (rejection, code) in table {
            let status = status_of(&rejection);
            assert_eq!(status.code(), code, "{rejection}");
            assert_eq!(status.message(), rejection.to_string());
        }
    }
}
