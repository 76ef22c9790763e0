//! What the network hands the application, and what the application answers.

use libp2p::PeerId;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::request_response::InboundRequestId;

/// A gossipsub topic of the chain. Each is named from the chain id, so nodes of different
/// chains never exchange messages even if they are connected by mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GossipTopic {
    /// Consensus messages (pre-prepare, prepare, commit, view change, new view).
    Consensus,
    /// Batches of transactions for the mempools.
    Transactions,
}

impl GossipTopic {
    /// Both topics; a node subscribes to all of them.
    pub const ALL: [GossipTopic; 2] = [GossipTopic::Consensus, GossipTopic::Transactions];

    /// The topic name for `chain_id`: `cassia/<chain_id>/consensus` or
    /// `cassia/<chain_id>/transactions`.
    pub fn name(self, chain_id: &str) -> String {
        let kind = match self {
            GossipTopic::Consensus => "consensus",
            GossipTopic::Transactions => "transactions",
        };
        format!("cassia/{chain_id}/{kind}")
    }
}

/// Something the network delivers to the application.
#[derive(Debug)]
pub enum NetworkEvent {
    /// A consensus message from a member; report its validation with
    /// [`super::NetworkHandle::report_validation`].
    Consensus(GossipMessage),
    /// A transaction batch from a member; report its validation likewise.
    Transactions(GossipMessage),
    /// A member asks for blocks; answer with [`super::NetworkHandle::respond`] before the sync
    /// request timeout, or the requester sees a failure.
    SyncRequest(SyncRequest),
    /// The first connection to a member is up.
    PeerConnected(PeerId),
    /// The last connection to a member closed.
    PeerDisconnected(PeerId),
}

/// A gossip message waiting for the application's verdict. It is not relayed to other peers
/// until the application reports [`Validation::Accept`].
#[derive(Debug)]
pub struct GossipMessage {
    /// The member that published (signed) the message; always a member when delivered.
    pub author: PeerId,
    /// The payload, at most the configured max message bytes.
    pub data: Vec<u8>,
    /// What [`super::NetworkHandle::report_validation`] needs to find the message again.
    pub validation: ValidationToken,
}

/// Names one received gossip message for its validation report. Not `Clone`: a message is
/// reported once.
#[derive(Debug, PartialEq, Eq)]
pub struct ValidationToken {
    pub(crate) message_id: MessageId,
    pub(crate) propagation_source: PeerId,
}

impl ValidationToken {
    /// The gossipsub message id (author and sequence number).
    pub fn message_id(&self) -> &MessageId {
        &self.message_id
    }

    /// The peer that forwarded the message to us (penalised if the message is rejected).
    pub fn propagation_source(&self) -> PeerId {
        self.propagation_source
    }
}

/// The application's verdict on a gossip message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Valid: relay it to the other peers.
    Accept,
    /// Provably invalid (bad signature, malformed, not from a validator): drop it and penalise
    /// the peer that sent it. Honest peers never relay such a message, because they validate too.
    Reject,
    /// Not useful but not proof of misbehaviour (stale height, already known): drop it without
    /// penalty.
    Ignore,
}

impl From<Validation> for MessageAcceptance {
    fn from(validation: Validation) -> MessageAcceptance {
        match validation {
            Validation::Accept => MessageAcceptance::Accept,
            Validation::Reject => MessageAcceptance::Reject,
            Validation::Ignore => MessageAcceptance::Ignore,
        }
    }
}

/// A block-sync request from a member.
#[derive(Debug)]
pub struct SyncRequest {
    /// The member asking.
    pub peer: PeerId,
    /// What [`super::NetworkHandle::respond`] answers.
    pub request_id: InboundRequestId,
    /// The request payload, at most [`super::SYNC_REQUEST_MAX_BYTES`].
    pub data: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_carry_the_chain_id() {
        assert_eq!(GossipTopic::Consensus.name("gx-1"), "cassia/gx-1/consensus");
        assert_eq!(
            GossipTopic::Transactions.name("gx-1"),
            "cassia/gx-1/transactions"
        );
    }
}
