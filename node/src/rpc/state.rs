//! `StateService`: a key's value after a height, with its proof, and a key's history.
//!
//! Values come from the state-history index (the version in force at the height); the proof
//! comes from the authenticated state tree under that height's `state_root`, so a client that
//! trusts the header (by its commit certificate) trusts the value without trusting this node.

use cassia_api::convert::{header_to_pb, state_key, state_proof_to_pb};
use cassia_api::pb;
use cassia_crypto::Hash;
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
        let request = request.into_inner();
        let raw_key = state_key(request.key.as_ref()).map_err(Status::invalid_argument)?;
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
        let request = request.into_inner();
        let raw_key = state_key(request.key.as_ref()).map_err(Status::invalid_argument)?;
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

impl Api {
    /// The proof of `key` (its value or its absence) under `state_root`.
    fn state_proof(&self, state_root: &Hash, key: &[u8]) -> Result<Option<pb::StateProof>, Status> {
        let proof = state_tree::prove(self.store.as_ref(), state_root, key).map_err(|error| {
            tracing::error!(%error, "state proof failed");
            Status::internal(format!("the node could not read its state tree: {error}"))
        })?;
        Ok(Some(state_proof_to_pb(&proof)))
    }
}
