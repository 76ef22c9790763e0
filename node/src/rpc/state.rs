//! `StateService`: a key's value after a height, with its proof, and a key's history.
//!
//! Values come from the state-history index (the version in force at the height); the proof
//! comes from the authenticated state tree under that height's `state_root`, so a client that
//! trusts the header (by its commit certificate) trusts the value without trusting this node.

use cassia_api::convert::{header_to_pb, state_key, state_proof_to_pb};
use cassia_api::pb;
use cassia_crypto::{Hash, PublicKey, Signature};
use cassia_ledger::execution::{read_permission, read_signing_bytes};
use cassia_ledger::state_tree;
use tonic::{Request, Response, Status};

use super::{Api, storage_status};

/// History page size when the request names none.
pub const DEFAULT_HISTORY_PAGE: u32 = 100;
/// Largest history page.
pub const MAX_HISTORY_PAGE: u32 = 1000;

#[tonic::async_trait]
impl pb::state_service_server::StateService for Api {
    async fn query(
        &self,
        request: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::QueryResponse>, Status> {
        let reader = reader_of(&request);
        let request = request.into_inner();
        let raw_key = state_key(request.key.as_ref()).map_err(Status::invalid_argument)?;
        self.check_reader(&raw_key, reader)?;
        let tip = self
            .store
            .tip()
            .map_err(|e| storage_status(&e))?
            .map_or(0, |tip| tip.height);
        let height = request.height.unwrap_or(tip);
        if height == 0 {
            return Err(Status::not_found(
                "no block committed yet: the state is empty until height 1",
            ));
        }
        if height > tip {
            return Err(Status::not_found(format!(
                "height {height} is not committed yet (committed tip: {tip})"
            )));
        }
        let header = self
            .store
            .header(height)
            .map_err(|e| storage_status(&e))?
            .ok_or_else(|| Status::internal(format!("header {height} is missing")))?;
        let version = self
            .store
            .state_at(&raw_key, height)
            .map_err(|e| storage_status(&e))?;
        let (modified_height, value) = version.unwrap_or((0, None));
        let proof = self.state_proof(&header.state_root, &raw_key)?;
        Ok(Response::new(pb::QueryResponse {
            found: value.is_some(),
            value: value.unwrap_or_default(),
            height,
            modified_height,
            proof,
            header: Some(header_to_pb(&header)),
            raw_key,
        }))
    }

    async fn history(
        &self,
        request: Request<pb::HistoryRequest>,
    ) -> Result<Response<pb::HistoryResponse>, Status> {
        let reader = reader_of(&request);
        let request = request.into_inner();
        let raw_key = state_key(request.key.as_ref()).map_err(Status::invalid_argument)?;
        self.check_reader(&raw_key, reader)?;
        let limit = match request.limit {
            0 => DEFAULT_HISTORY_PAGE,
            n => n.min(MAX_HISTORY_PAGE),
        };
        let page = usize::try_from(limit).unwrap_or(usize::MAX);
        // One more than the page, to know where the next page starts.
        let mut versions = self
            .store
            .state_history(&raw_key, request.from_height, page.saturating_add(1))
            .map_err(|e| storage_status(&e))?;
        let next_from_height = if versions.len() > page {
            versions.truncate(page + 1);
            versions.pop().map_or(0, |(height, _)| height)
        } else {
            0
        };
        Ok(Response::new(pb::HistoryResponse {
            versions: versions
                .into_iter()
                .map(|(height, value)| pb::KeyVersion {
                    height,
                    present: value.is_some(),
                    value: value.unwrap_or_default(),
                })
                .collect(),
            next_from_height,
        }))
    }
}

/// A reader's credential as the request carries it: key, time and signature (hex) in the
/// `x-cassia-reader`, `x-cassia-reader-time-ms` and `x-cassia-reader-signature` headers.
struct ReaderCredential {
    key: String,
    time_ms: String,
    signature: String,
}

fn reader_of<T>(request: &Request<T>) -> Option<ReaderCredential> {
    let header = |name: &str| {
        request
            .metadata()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Some(ReaderCredential {
        key: header(cassia_api::READER_HEADER)?,
        time_ms: header(cassia_api::READER_TIME_HEADER)?,
        signature: header(cassia_api::READER_SIGNATURE_HEADER)?,
    })
}

/// How far a reader credential's time may be from this node's clock.
pub const READER_CLOCK_SKEW_MS: u64 = 300_000;

impl Api {
    /// Namespaces with a readers list answer only to accounts of their owner or readers, who
    /// prove it with a fresh signature over the key they read.
    fn check_reader(
        &self,
        raw_key: &[u8],
        credential: Option<ReaderCredential>,
    ) -> Result<(), Status> {
        let reader = match credential {
            None => None,
            Some(credential) => {
                let key = PublicKey::from_hex(&credential.key)
                    .map_err(|e| Status::invalid_argument(format!("reader key: {e}")))?;
                let time_ms: u64 = credential
                    .time_ms
                    .parse()
                    .map_err(|_| Status::invalid_argument("reader time is not milliseconds"))?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                if now.abs_diff(time_ms) > READER_CLOCK_SKEW_MS {
                    return Err(Status::permission_denied(
                        "reader credential is stale or from the future (check the clock)",
                    ));
                }
                let signature = Signature::from_hex(&credential.signature)
                    .map_err(|e| Status::invalid_argument(format!("reader signature: {e}")))?;
                let message = read_signing_bytes(&self.genesis.genesis_hash(), raw_key, time_ms);
                key.verify_raw(&message, &signature).map_err(|_| {
                    Status::permission_denied("reader signature does not verify for this key")
                })?;
                Some(key)
            }
        };
        read_permission(self.store.as_ref(), raw_key, reader.as_ref())
            .map_err(|rejection| super::status_of(&rejection))
    }

    /// The proof of `key` (its value or its absence) under `state_root`.
    fn state_proof(&self, state_root: &Hash, key: &[u8]) -> Result<Option<pb::StateProof>, Status> {
        let proof = state_tree::prove(self.store.as_ref(), state_root, key).map_err(|error| {
            tracing::error!(%error, "state proof failed");
            Status::internal(format!("the node could not read its state tree: {error}"))
        })?;
        Ok(Some(state_proof_to_pb(&proof)))
    }
}
