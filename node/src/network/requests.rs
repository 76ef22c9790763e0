//! Block-sync requests in flight, both ways, with per-peer bounds.
//!
//! Invariants:
//! - At most [`MAX_PENDING_REQUESTS_PER_PEER`] outbound requests per peer wait for a response;
//!   one more is refused with [`RequestError::TooManyPending`] without touching the network.
//! - At most [`MAX_INBOUND_REQUESTS_PER_PEER`] inbound requests per peer wait for the
//!   application's response; one more is dropped (the requester sees its stream closed).
//! - Every entry leaves exactly once: answered, failed, or timed out (libp2p's request timeout
//!   reports both directions), so the maps never hold more than the bounds above.

use std::collections::HashMap;

use libp2p::PeerId;
use libp2p::request_response::{InboundRequestId, OutboundRequestId, ResponseChannel};
use tokio::sync::oneshot;

use super::RequestError;

/// Most outbound sync requests waiting for one peer's response; more are refused at once.
pub const MAX_PENDING_REQUESTS_PER_PEER: usize = 8;

/// Most inbound sync requests from one peer waiting for our application; more are dropped.
pub const MAX_INBOUND_REQUESTS_PER_PEER: usize = 8;

/// Where the result of an outbound request goes.
pub(crate) type ResponseSender = oneshot::Sender<Result<Vec<u8>, RequestError>>;

/// Requests in flight.
#[derive(Default)]
pub(crate) struct PendingRequests {
    outbound: HashMap<OutboundRequestId, (PeerId, ResponseSender)>,
    inbound: HashMap<InboundRequestId, (PeerId, ResponseChannel<Vec<u8>>)>,
    per_peer_outbound: HashMap<PeerId, usize>,
    per_peer_inbound: HashMap<PeerId, usize>,
}

fn increment(counts: &mut HashMap<PeerId, usize>, peer: PeerId) {
    *counts.entry(peer).or_default() += 1;
}

fn decrement(counts: &mut HashMap<PeerId, usize>, peer: &PeerId) {
    if let Some(count) = counts.get_mut(peer) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(peer);
        }
    }
}

impl PendingRequests {
    /// Whether another outbound request to `peer` fits.
    pub fn outbound_has_room(&self, peer: &PeerId) -> bool {
        self.per_peer_outbound.get(peer).copied().unwrap_or(0) < MAX_PENDING_REQUESTS_PER_PEER
    }

    /// Records an outbound request (the caller checked [`Self::outbound_has_room`]).
    pub fn add_outbound(&mut self, id: OutboundRequestId, peer: PeerId, reply: ResponseSender) {
        increment(&mut self.per_peer_outbound, peer);
        self.outbound.insert(id, (peer, reply));
    }

    /// Completes an outbound request; a caller that stopped waiting is no error.
    pub fn complete_outbound(
        &mut self,
        id: OutboundRequestId,
        result: Result<Vec<u8>, RequestError>,
    ) {
        if let Some((peer, reply)) = self.outbound.remove(&id) {
            decrement(&mut self.per_peer_outbound, &peer);
            let _ = reply.send(result);
        }
    }

    /// Records an inbound request, or gives the channel back if `peer` is at its bound.
    pub fn add_inbound(
        &mut self,
        id: InboundRequestId,
        peer: PeerId,
        channel: ResponseChannel<Vec<u8>>,
    ) -> Result<(), ResponseChannel<Vec<u8>>> {
        if self.per_peer_inbound.get(&peer).copied().unwrap_or(0) >= MAX_INBOUND_REQUESTS_PER_PEER {
            return Err(channel);
        }
        increment(&mut self.per_peer_inbound, peer);
        self.inbound.insert(id, (peer, channel));
        Ok(())
    }

    /// Takes the channel of an inbound request (to answer it, or because it failed).
    pub fn take_inbound(&mut self, id: InboundRequestId) -> Option<ResponseChannel<Vec<u8>>> {
        let (peer, channel) = self.inbound.remove(&id)?;
        decrement(&mut self.per_peer_inbound, &peer);
        Some(channel)
    }
}
