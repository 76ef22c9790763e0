//! `NodeService`: where this node and the chain stand, and the proofs of equivocation it kept.

use cassia_api::convert::validator_to_pb;
use cassia_api::pb;
use cassia_ledger::codec;
use cassia_ledger::execution::validator_set;
use tonic::{Request, Response, Status};

use super::{Api, storage_status};

/// Most proofs one `Misbehaviour` call returns.
pub const MAX_MISBEHAVIOUR_LIMIT: u32 = 1024;
/// What a `Misbehaviour` call without a limit returns at most.
const DEFAULT_MISBEHAVIOUR_LIMIT: u32 = 256;

#[tonic::async_trait]
impl pb::node_service_server::NodeService for Api {
    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let head = self.head.borrow().clone();
        // The set in force for the next block, from the committed state.
        let validators = validator_set(self.store.as_ref())
            .map_or_else(|| self.genesis.validators.clone(), |set| set.validators);
        Ok(Response::new(pb::StatusResponse {
            chain_id: self.genesis.chain_id.clone(),
            height: head.height,
            block_hash: head.block_hash.as_bytes().to_vec(),
            state_root: head.state_root.as_bytes().to_vec(),
            view: head.view,
            connected_peers: u32::try_from(head.peers.len()).unwrap_or(u32::MAX),
            version: env!("CARGO_PKG_VERSION").to_string(),
            validators: validators.iter().map(|v| v.node_key.to_hex()).collect(),
            leader: head.leader.to_hex(),
            validator_set: validators.iter().map(validator_to_pb).collect(),
            genesis_hash: self.genesis.hash().as_bytes().to_vec(),
            peers: head.peers,
            node_key: self.node_key.to_hex(),
        }))
    }

    /// Proofs are signatures the validators broadcast to every member: as public as the status.
    async fn misbehaviour(
        &self,
        request: Request<pb::MisbehaviourRequest>,
    ) -> Result<Response<pb::MisbehaviourResponse>, Status> {
        let limit = match request.into_inner().limit {
            0 => DEFAULT_MISBEHAVIOUR_LIMIT,
            limit if limit <= MAX_MISBEHAVIOUR_LIMIT => limit,
            limit => {
                return Err(Status::invalid_argument(format!(
                    "limit {limit} is above {MAX_MISBEHAVIOUR_LIMIT}"
                )));
            }
        };
        let proofs = self
            .store
            .equivocations(limit as usize)
            .map_err(|e| storage_status(&e))?;
        let equivocations = proofs
            .iter()
            .map(|proof| pb::Equivocation {
                validator: proof.validator.0.to_vec(),
                kind: proof.kind.name().to_string(),
                height: proof.height,
                view: proof.view,
                first_block_hash: proof.first.block_hash.as_bytes().to_vec(),
                second_block_hash: proof.second.block_hash.as_bytes().to_vec(),
                proof: codec::encode(proof),
            })
            .collect();
        Ok(Response::new(pb::MisbehaviourResponse { equivocations }))
    }
}
