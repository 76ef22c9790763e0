//! The application's side of the network: [`NetworkHandle`], its errors and counters.
//!
//! Every method either reads state the swarm task publishes ([`Shared`]: counters, listen
//! addresses, connected peers) or sends one [`Command`] over the bounded command channel
//! ([`super::COMMAND_CHANNEL_CAPACITY`]); a full channel makes the caller wait, which is the
//! back-pressure the application feels. Nothing here blocks the swarm task.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use libp2p::gossipsub::MessageId;
use libp2p::request_response::InboundRequestId;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::events::{GossipTopic, Validation, ValidationToken};
use super::membership::{self, Member};
use super::requests::ResponseSender;
use super::{NetworkError, SYNC_REQUEST_MAX_BYTES};

/// Why a gossip message was not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// No connected member subscribes to the topic yet (counted as an unpublished message).
    #[error("no connected peer subscribes to the topic yet")]
    NoPeers,
    /// The payload exceeds the configured max message bytes.
    #[error("message of {bytes} bytes exceeds the cap of {cap} bytes")]
    TooLarge {
        /// Payload size.
        bytes: usize,
        /// The cap.
        cap: usize,
    },
    /// The same message (same author and sequence number) was published already.
    #[error("message was already published")]
    Duplicate,
    /// gossipsub refused it otherwise (signing failed, all peer queues full).
    #[error("gossipsub refused the message: {0}")]
    Gossipsub(String),
    /// The network task has stopped.
    #[error("the network has stopped")]
    Stopped,
}

/// Why a block-sync request got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The peer is not in the membership: we do not talk to it.
    #[error("peer {0} is not a member")]
    NotAMember(PeerId),
    /// The request exceeds [`SYNC_REQUEST_MAX_BYTES`]; nothing was sent.
    #[error("request of {bytes} bytes exceeds the cap of {cap} bytes")]
    RequestTooLarge {
        /// Request size.
        bytes: usize,
        /// The cap.
        cap: usize,
    },
    /// [`super::MAX_PENDING_REQUESTS_PER_PEER`] requests to this peer are already waiting.
    #[error("too many requests to {0} are already waiting")]
    TooManyPending(PeerId),
    /// No response within the sync request timeout.
    #[error("no response within the request timeout")]
    Timeout,
    /// The peer could not be dialled (down, unknown address, or it refused us).
    #[error("peer unreachable")]
    Unreachable,
    /// The connection closed before the response arrived.
    #[error("connection closed before the response arrived")]
    ConnectionClosed,
    /// The peer closed the stream without a response (it refused or dropped the request).
    #[error("the peer closed the stream without a response")]
    NoResponse,
    /// The response announced more than the configured max message bytes; it was not read.
    #[error("response exceeds the cap of {cap} bytes")]
    ResponseTooLarge {
        /// The cap.
        cap: usize,
    },
    /// Another protocol failure (unsupported protocol, I/O error).
    #[error("sync protocol failure: {0}")]
    Protocol(String),
    /// The network task has stopped.
    #[error("the network has stopped")]
    Stopped,
}

/// Why a response to a sync request was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespondError {
    /// The response exceeds the configured max message bytes; the request stays unanswered.
    #[error("response of {bytes} bytes exceeds the cap of {cap} bytes")]
    TooLarge {
        /// Response size.
        bytes: usize,
        /// The cap.
        cap: usize,
    },
    /// No such request is waiting: it was answered already, timed out, or its peer left.
    #[error("no such request is waiting for a response")]
    UnknownRequest,
    /// The network task has stopped.
    #[error("the network has stopped")]
    Stopped,
}

/// A snapshot of the network's counters (each only grows; they saturate, never wrap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkCounters {
    /// Connections refused because the peer is not a member.
    pub refused_connections: u64,
    /// Connections refused because a connection limit was reached (see `behaviour.rs`).
    pub limited_connections: u64,
    /// Events dropped because the application's event channel was full.
    pub dropped_events: u64,
    /// Gossip messages rejected: by the application, or because their author is not a member.
    pub rejected_messages: u64,
    /// Publishes that found no subscribed peer.
    pub unpublished_messages: u64,
    /// Inbound sync requests dropped: from a non-member or over the per-peer bound.
    pub dropped_sync_requests: u64,
    /// Gossip ignored because its author was over its budget ([`super::rate`]).
    pub rate_limited_messages: u64,
}

/// The counters as the swarm task updates them.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub refused_connections: AtomicU64,
    pub limited_connections: AtomicU64,
    pub dropped_events: AtomicU64,
    pub rejected_messages: AtomicU64,
    pub unpublished_messages: AtomicU64,
    pub dropped_sync_requests: AtomicU64,
    pub rate_limited_messages: AtomicU64,
}

/// Adds one to `counter`, saturating at `u64::MAX`.
pub(crate) fn bump(counter: &AtomicU64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1));
}

/// State the swarm task publishes for the handles to read without a round trip.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub counters: Counters,
    pub listen_addresses: Mutex<Vec<Multiaddr>>,
    pub connected: Mutex<BTreeSet<PeerId>>,
}

/// Locks `mutex`; a panic elsewhere while holding it leaves plain data that is still usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request from a handle to the swarm task.
pub(crate) enum Command {
    Publish {
        topic: GossipTopic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<MessageId, PublishError>>,
    },
    ReportValidation {
        token: ValidationToken,
        validation: Validation,
    },
    Request {
        peer: PeerId,
        data: Vec<u8>,
        reply: ResponseSender,
    },
    Respond {
        request_id: InboundRequestId,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), RespondError>>,
    },
    SetMembers {
        members: Vec<(PeerId, Option<Multiaddr>)>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// Controls a running network. Cheap to clone; all clones drive the same swarm task.
#[derive(Debug, Clone)]
pub struct NetworkHandle {
    pub(crate) local_peer_id: PeerId,
    pub(crate) max_message_bytes: usize,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) shared: Arc<Shared>,
}

impl NetworkHandle {
    /// This node's PeerId (its node key).
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Publishes a consensus message to all members.
    pub async fn publish_consensus(&self, data: Vec<u8>) -> Result<MessageId, PublishError> {
        self.publish(GossipTopic::Consensus, data).await
    }

    /// Publishes a batch of transactions to all members.
    pub async fn publish_transactions(&self, data: Vec<u8>) -> Result<MessageId, PublishError> {
        self.publish(GossipTopic::Transactions, data).await
    }

    /// Publishes `data` on `topic`. With no subscribed peer yet this is
    /// [`PublishError::NoPeers`] (and counted), never a crash: the caller may retry later.
    pub async fn publish(
        &self,
        topic: GossipTopic,
        data: Vec<u8>,
    ) -> Result<MessageId, PublishError> {
        if data.len() > self.max_message_bytes {
            return Err(PublishError::TooLarge {
                bytes: data.len(),
                cap: self.max_message_bytes,
            });
        }
        let (reply, response) = oneshot::channel();
        self.send(Command::Publish { topic, data, reply })
            .await
            .map_err(|_| PublishError::Stopped)?;
        response.await.map_err(|_| PublishError::Stopped)?
    }

    /// Reports the application's verdict on a received gossip message: accepted messages are
    /// relayed, rejected ones are dropped and penalise the peer that sent them.
    pub async fn report_validation(
        &self,
        token: ValidationToken,
        validation: Validation,
    ) -> Result<(), NetworkError> {
        if validation == Validation::Reject {
            bump(&self.shared.counters.rejected_messages);
        }
        self.send(Command::ReportValidation { token, validation })
            .await
    }

    /// Sends a block-sync request to member `peer` and waits for its response (bounded by the
    /// configured sync request timeout).
    pub async fn request(&self, peer: PeerId, data: Vec<u8>) -> Result<Vec<u8>, RequestError> {
        if data.len() > SYNC_REQUEST_MAX_BYTES {
            let cap = SYNC_REQUEST_MAX_BYTES;
            return Err(RequestError::RequestTooLarge {
                bytes: data.len(),
                cap,
            });
        }
        let (reply, response) = oneshot::channel();
        self.send(Command::Request { peer, data, reply })
            .await
            .map_err(|_| RequestError::Stopped)?;
        response.await.map_err(|_| RequestError::Stopped)?
    }

    /// Answers the inbound sync request `request_id` with `data`.
    pub async fn respond(
        &self,
        request_id: InboundRequestId,
        data: Vec<u8>,
    ) -> Result<(), RespondError> {
        if data.len() > self.max_message_bytes {
            return Err(RespondError::TooLarge {
                bytes: data.len(),
                cap: self.max_message_bytes,
            });
        }
        let (reply, response) = oneshot::channel();
        self.send(Command::Respond {
            request_id,
            data,
            reply,
        })
        .await
        .map_err(|_| RespondError::Stopped)?;
        response.await.map_err(|_| RespondError::Stopped)?
    }

    /// Replaces the membership (after a governance change): new members are allowed and dialled
    /// if they have an address, removed ones are disconnected and refused from now on.
    pub async fn set_members(&self, members: &[Member]) -> Result<(), NetworkError> {
        let members = membership::resolve(members)?;
        self.send(Command::SetMembers { members }).await
    }

    /// Members with at least one open connection, sorted.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        lock(&self.shared.connected).iter().copied().collect()
    }

    /// The addresses the node listens on (port 0 in the configuration is resolved here).
    pub fn listen_addresses(&self) -> Vec<Multiaddr> {
        lock(&self.shared.listen_addresses).clone()
    }

    /// Connections refused because the peer is not a member.
    pub fn refused_connections(&self) -> u64 {
        self.shared
            .counters
            .refused_connections
            .load(Ordering::Relaxed)
    }

    /// All counters at once.
    pub fn counters(&self) -> NetworkCounters {
        let counters = &self.shared.counters;
        NetworkCounters {
            refused_connections: counters.refused_connections.load(Ordering::Relaxed),
            limited_connections: counters.limited_connections.load(Ordering::Relaxed),
            dropped_events: counters.dropped_events.load(Ordering::Relaxed),
            rejected_messages: counters.rejected_messages.load(Ordering::Relaxed),
            unpublished_messages: counters.unpublished_messages.load(Ordering::Relaxed),
            dropped_sync_requests: counters.dropped_sync_requests.load(Ordering::Relaxed),
            rate_limited_messages: counters.rate_limited_messages.load(Ordering::Relaxed),
        }
    }

    /// Stops the swarm task and waits until its listeners and connections are closed. Other
    /// clones of the handle get `Stopped` errors afterwards. Stopping twice is no error.
    pub async fn shutdown(&self) {
        let (done, stopped) = oneshot::channel();
        if self.send(Command::Shutdown { done }).await.is_ok() {
            let _ = stopped.await;
        }
    }

    async fn send(&self, command: Command) -> Result<(), NetworkError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NetworkError::Stopped)
    }
}
