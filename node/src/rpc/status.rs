//! `NodeService`: where this node and the chain stand.

use cassia_api::convert::validator_to_pb;
use cassia_api::pb;
use cassia_ledger::execution::validator_set;
use tonic::{Request, Response, Status};

use super::Api;

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
}
