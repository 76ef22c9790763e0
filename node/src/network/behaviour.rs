//! The composed libp2p behaviour: connection limits, membership gating, gossipsub, block-sync
//! request-response and ping.
//!
//! - **Limits** (`limits`, asked first): at most [`MAX_PENDING_INCOMING`] incoming connections in
//!   their handshake at once (any host can open TCP connections to the p2p port, and each costs
//!   a Noise handshake before its PeerId is known and gating can refuse it), at most
//!   [`MAX_PENDING_OUTGOING`] dials, [`MAX_CONNECTIONS_PER_PEER`] connections to one peer and
//!   [`MAX_ESTABLISHED_CONNECTIONS`] in all. Beyond them a connection is denied at once and
//!   counted. Members still connect while a host holds every incoming slot: every member dials
//!   every other, and outgoing dials have slots of their own.
//! - **Gating** (`allowed`): libp2p's allow list holds exactly the members; any other peer's
//!   connection is denied once Noise has authenticated its PeerId, before any protocol runs.
//! - **Gossipsub**: signed messages (`MessageAuthenticity::Signed`, strict validation: unsigned
//!   or badly signed messages are dropped by gossipsub itself), manual validation (nothing is
//!   relayed before the application accepts it), frames capped at the configured max message
//!   bytes plus [`GOSSIP_FRAME_OVERHEAD_BYTES`]. Peer scoring penalises rejected messages only
//!   ([`INVALID_MESSAGE_WEIGHT`]): members are known, so the delivery-rate and IP-colocation
//!   penalties meant for open networks are off.
//! - **Sync**: [`super::codec::SyncCodec`] on [`super::SYNC_PROTOCOL`], at most
//!   [`MAX_SYNC_STREAMS_PER_CONNECTION`] concurrent streams per connection.
//! - **Ping** every [`PING_INTERVAL`]: a failed ping closes the connection, so a peer that
//!   vanished without closing its sockets is noticed and redialled.

use std::time::Duration;

use libp2p::allow_block_list::{self, AllowedPeers};
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub::{
    self, IdentTopic, IdentityTransform, MessageAuthenticity, PeerScoreParams, TopicScoreParams,
    WhitelistSubscriptionFilter,
};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identity, ping};

use super::NetworkError;
use super::codec::{SYNC_PROTOCOL, SYNC_REQUEST_MAX_BYTES, SyncCodec};
use super::events::GossipTopic;

/// Slack of gossipsub's frame cap above the payload cap (`max_message_bytes`), so that every
/// payload up to the cap is delivered and every larger one reaches our own check, which refuses
/// it and counts it, instead of gossipsub's codec, which closes the peer's inbound stream for good
/// (its gossip then never arrives again on that connection).
///
/// The slack covers the frame's envelope (author, key, signature, sequence number, topic: well
/// under 1 KiB) *and* 8 KiB of what follows: libp2p-gossipsub 0.50 compares the cap with all it
/// has read, which can include up to one 8 KiB read chunk of the next frames, not with the frame
/// alone. The network test `gossip_at_the_cap_is_delivered_and_one_byte_more_is_refused_and_counted`
/// lost a peer's gossip with a 4 KiB slack.
pub const GOSSIP_FRAME_OVERHEAD_BYTES: usize = 16 * 1024;

/// Gossipsub heartbeat: mesh maintenance and gossip of message ids.
pub const GOSSIP_HEARTBEAT: Duration = Duration::from_secs(1);

/// Score weight of a rejected message (applied to the square of the decaying count): three
/// rejections in quick succession push a peer below the graylist threshold (-80), after which
/// its gossip is ignored until the count decays.
pub const INVALID_MESSAGE_WEIGHT: f64 = -10.0;

/// How long a rejected message keeps counting against its sender (it decays to zero by then).
pub const INVALID_MESSAGE_MEMORY: Duration = Duration::from_secs(600);

/// Concurrent sync streams per connection; libp2p refuses further inbound streams.
pub const MAX_SYNC_STREAMS_PER_CONNECTION: usize = 16;

/// Interval between pings on each connection.
pub const PING_INTERVAL: Duration = Duration::from_secs(15);

/// A ping unanswered this long fails, and the connection is closed.
pub const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Incoming connections in their handshake at once (TCP accepted, Noise not finished).
pub const MAX_PENDING_INCOMING: u32 = 32;

/// Outgoing dials in progress at once.
pub const MAX_PENDING_OUTGOING: u32 = 64;

/// Connections to one peer: one each way when two members dial each other at once.
pub const MAX_CONNECTIONS_PER_PEER: u32 = 2;

/// Established connections in all: two to each of as many members as a chain may have
/// validators (`cassia_consensus::limits::MAX_VALIDATORS`).
pub const MAX_ESTABLISHED_CONNECTIONS: u32 = 2 * 1024;

/// Gossipsub that tracks peers' subscriptions to this chain's topics only, so a peer cannot
/// grow our state by subscribing to many topics.
pub(crate) type Gossipsub = gossipsub::Behaviour<IdentityTransform, WhitelistSubscriptionFilter>;

/// Every protocol the node speaks, composed.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub limits: connection_limits::Behaviour,
    pub allowed: allow_block_list::Behaviour<AllowedPeers>,
    pub gossipsub: Gossipsub,
    pub sync: request_response::Behaviour<SyncCodec>,
    pub ping: ping::Behaviour,
}

/// The settings the behaviour is built from.
pub(crate) struct BehaviourSettings<'a> {
    pub key: &'a identity::Keypair,
    pub chain_id: &'a str,
    pub max_message_bytes: usize,
    pub sync_request_timeout: Duration,
}

impl Behaviour {
    /// Builds the behaviour, subscribed to both topics of the chain, with an empty allow list.
    pub fn new(settings: &BehaviourSettings<'_>) -> Result<Behaviour, NetworkError> {
        let sync_config = request_response::Config::default()
            .with_request_timeout(settings.sync_request_timeout)
            .with_max_concurrent_streams(MAX_SYNC_STREAMS_PER_CONNECTION);
        let codec = SyncCodec {
            request_cap: SYNC_REQUEST_MAX_BYTES,
            response_cap: settings.max_message_bytes,
        };
        let sync = request_response::Behaviour::with_codec(
            codec,
            [(SYNC_PROTOCOL, ProtocolSupport::Full)],
            sync_config,
        );
        let limits = ConnectionLimits::default()
            .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
            .with_max_pending_outgoing(Some(MAX_PENDING_OUTGOING))
            .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
            .with_max_established(Some(MAX_ESTABLISHED_CONNECTIONS));
        Ok(Behaviour {
            limits: connection_limits::Behaviour::new(limits),
            allowed: allow_block_list::Behaviour::default(),
            gossipsub: gossipsub(settings)?,
            sync,
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(PING_INTERVAL)
                    .with_timeout(PING_TIMEOUT),
            ),
        })
    }
}

fn gossipsub(settings: &BehaviourSettings<'_>) -> Result<Gossipsub, NetworkError> {
    let refused = |reason: String| NetworkError::Gossipsub(reason);
    let frame_cap = settings
        .max_message_bytes
        .checked_add(GOSSIP_FRAME_OVERHEAD_BYTES)
        .ok_or_else(|| refused("max message bytes too large".into()))?;
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(frame_cap)
        .heartbeat_interval(GOSSIP_HEARTBEAT)
        .heartbeat_initial_delay(GOSSIP_HEARTBEAT / 2)
        .build()
        .map_err(|e| refused(e.to_string()))?;
    let authenticity = MessageAuthenticity::Signed(settings.key.clone());
    let topics = GossipTopic::ALL.map(|topic| IdentTopic::new(topic.name(settings.chain_id)));
    let filter = WhitelistSubscriptionFilter(topics.iter().map(IdentTopic::hash).collect());
    let mut behaviour = Gossipsub::new_with_subscription_filter(authenticity, config, filter)
        .map_err(|e| refused(e.into()))?;
    let mut scoring = PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    };
    for topic in &topics {
        behaviour
            .subscribe(topic)
            .map_err(|e| refused(e.to_string()))?;
        scoring.topics.insert(topic.hash(), invalid_messages_only());
    }
    behaviour
        .with_peer_score(scoring, gossipsub::PeerScoreThresholds::default())
        .map_err(refused)?;
    Ok(behaviour)
}

/// Topic scoring that only counts rejected messages.
fn invalid_messages_only() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: INVALID_MESSAGE_WEIGHT,
        invalid_message_deliveries_decay: gossipsub::score_parameter_decay(INVALID_MESSAGE_MEMORY),
        ..Default::default()
    }
}
