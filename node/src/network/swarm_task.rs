//! The task that owns the swarm: it selects over swarm events, handle commands and the redial
//! timer, and hands each to one short handler.
//!
//! Invariants:
//! - The task never waits on the application: events go out with `try_send`; when the event
//!   channel ([`super::EVENT_CHANNEL_CAPACITY`]) is full the event is dropped and counted, a
//!   dropped gossip message is reported `Ignore` (not relayed, sender not penalised) and a
//!   dropped sync request is answered by closing its stream.
//! - Only members' gossip reaches the application, each payload at most the max message
//!   bytes; a message whose author is not a member, or that is larger, is rejected (not
//!   relayed, sender penalised) and counted.
//! - The allow list equals the membership; a removed member's connections are closed.
//! - Every refused connection is counted; at most [`REFUSAL_WARNINGS_PER_WINDOW`] of them per
//!   [`REFUSAL_WARNING_WINDOW`] are logged at `warn` (the rest at `debug`), so a peer dialling
//!   in a loop cannot flood the log.
//! - The task ends on `shutdown` or when every handle is dropped; the swarm (its listeners and
//!   connections) is dropped before `shutdown` returns.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::connection_limits;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, TopicHash};
use libp2p::request_response::{self, InboundRequestId, OutboundFailure, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionDenied, DialError, ListenError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, ping};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use super::behaviour::{Behaviour, BehaviourEvent};
use super::codec::FrameTooLarge;
use super::events::{GossipMessage, GossipTopic, NetworkEvent, SyncRequest, ValidationToken};
use super::handle::{Command, PublishError, RequestError, RespondError, Shared, bump, lock};
use super::membership::Membership;
use super::rate::GossipBudgets;
use super::requests::{PendingRequests, ResponseSender};
use super::{LISTEN_TIMEOUT, NetworkError, REDIAL_CHECK_INTERVAL};

/// Refused connections logged at `warn` per [`REFUSAL_WARNING_WINDOW`]; later ones in the
/// window go to `debug`.
pub const REFUSAL_WARNINGS_PER_WINDOW: u32 = 20;

/// The window of [`REFUSAL_WARNINGS_PER_WINDOW`].
pub const REFUSAL_WARNING_WINDOW: Duration = Duration::from_secs(60);

/// How many warnings the current window has left.
struct WarningBudget {
    window_start: Instant,
    used: u32,
}

impl WarningBudget {
    /// Whether one more warning fits in the window at `now` (and counts it if so).
    fn take(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.window_start) >= REFUSAL_WARNING_WINDOW {
            self.window_start = now;
            self.used = 0;
        }
        self.used = self.used.saturating_add(1);
        self.used <= REFUSAL_WARNINGS_PER_WINDOW
    }
}

/// The swarm and everything only its task touches.
pub(crate) struct SwarmTask {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetworkEvent>,
    shared: Arc<Shared>,
    topics: HashMap<TopicHash, GossipTopic>,
    chain_id: String,
    membership: Membership,
    requests: PendingRequests,
    max_message_bytes: usize,
    refusal_warnings: WarningBudget,
    /// What each member may still publish per topic.
    budgets: GossipBudgets,
}

/// The channels and settings a [`SwarmTask`] is built with.
pub(crate) struct TaskChannels {
    pub commands: mpsc::Receiver<Command>,
    pub events: mpsc::Sender<NetworkEvent>,
    pub shared: Arc<Shared>,
}

impl SwarmTask {
    /// A task for `swarm` (already listening) on chain `chain_id`.
    pub fn new(
        swarm: Swarm<Behaviour>,
        channels: TaskChannels,
        chain_id: &str,
        max_message_bytes: usize,
    ) -> SwarmTask {
        let topics = GossipTopic::ALL
            .into_iter()
            .map(|topic| (IdentTopic::new(topic.name(chain_id)).hash(), topic))
            .collect();
        let local = *swarm.local_peer_id();
        SwarmTask {
            swarm,
            commands: channels.commands,
            events: channels.events,
            shared: channels.shared,
            topics,
            chain_id: chain_id.to_owned(),
            membership: Membership::new(local),
            requests: PendingRequests::default(),
            max_message_bytes,
            refusal_warnings: WarningBudget {
                window_start: Instant::now(),
                used: 0,
            },
            budgets: GossipBudgets::new(max_message_bytes),
        }
    }

    /// Drives the swarm until its first listen address is bound.
    pub async fn wait_listening(&mut self) -> Result<(), NetworkError> {
        let wait = async {
            loop {
                let event = self.swarm.select_next_some().await;
                if let SwarmEvent::ListenerClosed {
                    reason: Err(error), ..
                }
                | SwarmEvent::ListenerError { error, .. } = &event
                {
                    // libp2p's transport errors show nothing of the OS error in `Display`.
                    return Err(NetworkError::Listen(format!("{error:?}")));
                }
                let listening = matches!(event, SwarmEvent::NewListenAddr { .. });
                self.on_swarm_event(event);
                if listening {
                    return Ok(());
                }
            }
        };
        tokio::time::timeout(LISTEN_TIMEOUT, wait)
            .await
            .map_err(|_| NetworkError::ListenTimeout)?
    }

    /// Runs until shutdown or until every handle is dropped.
    pub async fn run(mut self) {
        let mut redial = tokio::time::interval(REDIAL_CHECK_INTERVAL);
        redial.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let done = loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => {
                        if let ControlFlow::Break(done) = self.on_command(command) {
                            break Some(done);
                        }
                    }
                    None => break None,
                },
                _ = redial.tick() => self.redial(),
            }
        };
        self.stop(done);
    }

    fn stop(self, done: Option<oneshot::Sender<()>>) {
        info!(peer = %self.swarm.local_peer_id(), "network stopping");
        lock(&self.shared.connected).clear();
        lock(&self.shared.listen_addresses).clear();
        drop(self.swarm);
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                if num_established.get() == 1 {
                    self.on_connected(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.on_disconnected(peer_id);
            }
            SwarmEvent::IncomingConnectionError {
                peer_id,
                error: ListenError::Denied { cause },
                ..
            }
            | SwarmEvent::OutgoingConnectionError {
                peer_id,
                error: DialError::Denied { cause },
                ..
            } => {
                self.on_denied(peer_id, &cause);
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                lock(&self.shared.listen_addresses).push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                lock(&self.shared.listen_addresses).retain(|known| *known != address);
            }
            other => debug!(event = ?other, "swarm event"),
        }
    }

    fn on_connected(&mut self, peer: PeerId) {
        debug!(%peer, "member connected");
        lock(&self.shared.connected).insert(peer);
        self.membership.connected(&peer, Instant::now());
        self.deliver(NetworkEvent::PeerConnected(peer));
    }

    fn on_disconnected(&mut self, peer: PeerId) {
        debug!(%peer, "member disconnected");
        let was_connected = lock(&self.shared.connected).remove(&peer);
        self.membership.disconnected(&peer, Instant::now());
        if was_connected {
            self.deliver(NetworkEvent::PeerDisconnected(peer));
        }
    }

    fn on_denied(&mut self, peer: Option<PeerId>, cause: &ConnectionDenied) {
        let limited = cause
            .downcast_ref::<connection_limits::Exceeded>()
            .is_some();
        let (counter, why) = if limited {
            let counter = &self.shared.counters.limited_connections;
            (counter, "refused connection: a connection limit is reached")
        } else {
            let counter = &self.shared.counters.refused_connections;
            (counter, "refused connection: peer is not a member")
        };
        bump(counter);
        let peer = peer.map_or_else(|| "unidentified".to_owned(), |peer| peer.to_string());
        if self.refusal_warnings.take(Instant::now()) {
            warn!(%peer, %cause, "{why}");
        } else {
            debug!(%peer, %cause, "{why}");
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.on_gossip(
                    ValidationToken {
                        message_id,
                        propagation_source,
                    },
                    message,
                );
            }
            BehaviourEvent::Gossipsub(other) => debug!(event = ?other, "gossipsub event"),
            BehaviourEvent::Sync(event) => self.on_sync_event(event),
            BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Err(error),
            }) => {
                warn!(%peer, %error, "ping failed; closing the connection");
                self.swarm.close_connection(connection);
            }
            BehaviourEvent::Ping(_) => {}
            BehaviourEvent::Allowed(never) | BehaviourEvent::Limits(never) => match never {},
        }
    }

    fn on_gossip(&mut self, token: ValidationToken, message: gossipsub::Message) {
        let topic = self.topics.get(&message.topic).copied();
        let author = message
            .source
            .filter(|author| self.membership.contains(author));
        let within_cap = message.data.len() <= self.max_message_bytes;
        let (Some(topic), Some(author), true) = (topic, author, within_cap) else {
            let (source, from) = (message.source, token.propagation_source);
            warn!(?source, %from, bytes = message.data.len(), "rejected gossip: author not a member, foreign topic, or too large");
            bump(&self.shared.counters.rejected_messages);
            self.validate(&token, MessageAcceptance::Reject);
            return;
        };
        // Over budget: not judged, not relayed, no penalty (see `rate`).
        let now = std::time::Instant::now();
        if !self.budgets.allow(author, topic, message.data.len(), now) {
            bump(&self.shared.counters.rate_limited_messages);
            self.validate(&token, MessageAcceptance::Ignore);
            return;
        }
        let gossip = GossipMessage {
            author,
            data: message.data,
            validation: token,
        };
        let event = match topic {
            GossipTopic::Consensus => NetworkEvent::Consensus(gossip),
            GossipTopic::Transactions => NetworkEvent::Transactions(gossip),
        };
        if let Err(returned) = self.events.try_send(event) {
            bump(&self.shared.counters.dropped_events);
            if let NetworkEvent::Consensus(gossip) | NetworkEvent::Transactions(gossip) =
                returned.into_inner()
            {
                self.validate(&gossip.validation, MessageAcceptance::Ignore);
            }
        }
    }

    fn validate(&mut self, token: &ValidationToken, acceptance: MessageAcceptance) {
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        gossipsub.report_message_validation_result(
            &token.message_id,
            &token.propagation_source,
            acceptance,
        );
    }

    fn on_sync_event(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            } => {
                self.on_sync_request(peer, request_id, request, channel);
            }
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                self.requests.complete_outbound(request_id, Ok(response));
            }
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(%peer, %error, "sync request failed");
                let error = self.request_error(error);
                self.requests.complete_outbound(request_id, Err(error));
            }
            Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(%peer, %error, "inbound sync request failed");
                self.requests.take_inbound(request_id);
            }
            Event::ResponseSent { .. } => {}
        }
    }

    fn on_sync_request(
        &mut self,
        peer: PeerId,
        request_id: InboundRequestId,
        data: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        let counters = &self.shared.counters;
        if !self.membership.contains(&peer) {
            warn!(%peer, "dropped a sync request from a non-member");
            bump(&counters.dropped_sync_requests);
            return;
        }
        if self
            .requests
            .add_inbound(request_id, peer, channel)
            .is_err()
        {
            debug!(%peer, "dropped a sync request: too many from this peer are waiting");
            bump(&counters.dropped_sync_requests);
            return;
        }
        let event = NetworkEvent::SyncRequest(SyncRequest {
            peer,
            request_id,
            data,
        });
        if self.events.try_send(event).is_err() {
            bump(&counters.dropped_events);
            self.requests.take_inbound(request_id);
        }
    }

    fn request_error(&self, failure: OutboundFailure) -> RequestError {
        match failure {
            OutboundFailure::DialFailure => RequestError::Unreachable,
            OutboundFailure::Timeout => RequestError::Timeout,
            OutboundFailure::ConnectionClosed => RequestError::ConnectionClosed,
            OutboundFailure::Io(error) if FrameTooLarge::from_io(&error).is_some() => {
                RequestError::ResponseTooLarge {
                    cap: self.max_message_bytes,
                }
            }
            OutboundFailure::Io(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                RequestError::NoResponse
            }
            other => RequestError::Protocol(other.to_string()),
        }
    }

    fn deliver(&mut self, event: NetworkEvent) {
        if self.events.try_send(event).is_err() {
            bump(&self.shared.counters.dropped_events);
        }
    }

    /// Carries out `command`; `Break` with the shutdown acknowledgement ends the task.
    fn on_command(&mut self, command: Command) -> ControlFlow<oneshot::Sender<()>> {
        match command {
            Command::Publish { topic, data, reply } => {
                let _ = reply.send(self.publish(topic, data));
            }
            Command::ReportValidation { token, validation } => {
                self.validate(&token, validation.into());
            }
            Command::Request { peer, data, reply } => self.request(peer, data, reply),
            Command::Respond {
                request_id,
                data,
                reply,
            } => {
                let _ = reply.send(self.respond(request_id, data));
            }
            Command::SetMembers { members } => self.set_members(members),
            Command::Shutdown { done } => return ControlFlow::Break(done),
        }
        ControlFlow::Continue(())
    }

    fn publish(
        &mut self,
        topic: GossipTopic,
        data: Vec<u8>,
    ) -> Result<gossipsub::MessageId, PublishError> {
        let bytes = data.len();
        let topic = IdentTopic::new(topic.name(&self.chain_id));
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, data)
            .map_err(|error| match error {
                gossipsub::PublishError::NoPeersSubscribedToTopic => {
                    bump(&self.shared.counters.unpublished_messages);
                    PublishError::NoPeers
                }
                gossipsub::PublishError::Duplicate => PublishError::Duplicate,
                gossipsub::PublishError::MessageTooLarge => PublishError::TooLarge {
                    bytes,
                    cap: self.max_message_bytes,
                },
                other => PublishError::Gossipsub(other.to_string()),
            })
    }

    fn request(&mut self, peer: PeerId, data: Vec<u8>, reply: ResponseSender) {
        if !self.membership.contains(&peer) {
            let _ = reply.send(Err(RequestError::NotAMember(peer)));
            return;
        }
        if !self.requests.outbound_has_room(&peer) {
            let _ = reply.send(Err(RequestError::TooManyPending(peer)));
            return;
        }
        let addresses = self
            .membership
            .address(&peer)
            .cloned()
            .into_iter()
            .collect();
        let sync = &mut self.swarm.behaviour_mut().sync;
        let request_id = sync.send_request_with_addresses(&peer, data, addresses);
        self.requests.add_outbound(request_id, peer, reply);
    }

    fn respond(&mut self, request_id: InboundRequestId, data: Vec<u8>) -> Result<(), RespondError> {
        let channel = self
            .requests
            .take_inbound(request_id)
            .ok_or(RespondError::UnknownRequest)?;
        let sync = &mut self.swarm.behaviour_mut().sync;
        sync.send_response(channel, data)
            .map_err(|_| RespondError::UnknownRequest)
    }

    /// Dials each peer of `overrides` at its address there instead of the one its member entry
    /// gives; call before the first [`SwarmTask::set_members`].
    pub fn set_dial_overrides(&mut self, overrides: BTreeMap<PeerId, Multiaddr>) {
        for (peer, address) in &overrides {
            info!(%peer, %address, "dialling this peer at its configured address");
        }
        self.membership.set_dial_overrides(overrides);
    }

    /// Replaces the membership and the allow list with it; dials new members at once.
    pub fn set_members(&mut self, members: Vec<(PeerId, Option<Multiaddr>)>) {
        let change = self.membership.replace(members, Instant::now());
        let membership = &self.membership;
        self.budgets
            .retain_members(|peer| membership.contains(peer));
        let allowed = &mut self.swarm.behaviour_mut().allowed;
        for peer in &change.added {
            allowed.allow_peer(*peer);
        }
        for peer in &change.removed {
            info!(%peer, "no longer a member; disconnecting");
            allowed.disallow_peer(*peer);
        }
        info!(
            added = change.added.len(),
            removed = change.removed.len(),
            "membership updated"
        );
        self.redial();
    }

    fn redial(&mut self) {
        let connected = lock(&self.shared.connected).clone();
        for (peer, address) in self.membership.due_for_dial(&connected, Instant::now()) {
            let dial = DialOpts::peer_id(peer)
                .addresses(vec![address])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(error) = self.swarm.dial(dial) {
                debug!(%peer, %error, "dial not started");
            }
        }
    }
}
