//! The node's libp2p network: a permissioned consortium overlay.
//!
//! TCP, Noise and Yamux carry three protocols between **members only** (validators and admitted
//! observers, named by their ed25519 node keys, which are also their libp2p identities):
//!
//! | protocol | name | what |
//! |---|---|---|
//! | gossipsub | `cassia/<chain_id>/consensus`, `cassia/<chain_id>/transactions` | signed broadcast, validated by the application before it is relayed |
//! | request-response | `/cassia/sync/1` | block sync: opaque request (at most [`SYNC_REQUEST_MAX_BYTES`]) and response (at most the max message bytes), see [`codec`] |
//! | ping | `/ipfs/ping/1.0.0` | liveness: a silent connection is closed and redialled |
//!
//! [`Network::spawn`] starts a tokio task that owns the swarm and returns a [`NetworkHandle`]
//! and the receiver of [`NetworkEvent`]s.
//!
//! Invariants:
//! - **Membership gating.** A connection from or to a peer outside the membership is refused
//!   as soon as its PeerId is authenticated, counted ([`NetworkHandle::refused_connections`])
//!   and logged with `tracing::warn!` naming the PeerId (at most
//!   [`REFUSAL_WARNINGS_PER_WINDOW`] a minute; the rest at `debug`).
//!   [`NetworkHandle::set_members`] replaces the membership at run time; removed members are
//!   disconnected.
//! - **Validate before relay.** Gossip is signed by its author (strict mode); a message whose
//!   author is not a member is rejected without reaching the application; every other message
//!   is delivered once and relayed only after [`NetworkHandle::report_validation`] accepts it.
//!   Rejection penalises the peer that sent it (gossipsub peer scoring).
//! - **Connections limited.** Handshakes in progress, dials, connections per peer and in all
//!   are capped ([`MAX_PENDING_INCOMING`] and its siblings); a connection beyond a cap is denied
//!   at once and counted apart from non-members ([`NetworkCounters::limited_connections`]).
//! - **Bounded.** The event channel ([`EVENT_CHANNEL_CAPACITY`]) never blocks the swarm:
//!   when full, events are dropped and counted. The command channel
//!   ([`COMMAND_CHANNEL_CAPACITY`]) makes callers wait when full. Sync requests are bounded
//!   per peer both ways ([`MAX_PENDING_REQUESTS_PER_PEER`], [`MAX_INBOUND_REQUESTS_PER_PEER`]),
//!   frames by their caps, gossip frames by the max message bytes.
//! - **Self-healing.** Members with a known address are dialled at start and redialled after
//!   a disconnection with a bounded exponential backoff ([`MAX_REDIAL_BACKOFF`]); idle
//!   connections are kept for [`IDLE_CONNECTION_TIMEOUT`], so quiet members stay connected.
//! - **Dial overrides.** A member named in [`NetworkConfig::peer_addresses`] is dialled (and
//!   sent sync requests) only at that address, whatever address the member list gives it, at
//!   spawn and after every [`NetworkHandle::set_members`].
//!
//! ```no_run
//! # async fn example() -> Result<(), cassia_node::network::NetworkError> {
//! use cassia_crypto::Keypair;
//! use cassia_node::network::{Member, Network, NetworkConfig, NetworkEvent, Validation};
//!
//! let key = Keypair::generate();
//! let other = Keypair::generate().public();
//! let members = [Member::new(other, Some("/ip4/127.0.0.1/tcp/7100".parse().expect("valid")))];
//! let config = NetworkConfig::new("gx-chain", "/ip4/127.0.0.1/tcp/0");
//! let (network, mut events) = Network::spawn(config, &key, &members).await?;
//! while let Some(event) = events.recv().await {
//!     if let NetworkEvent::Consensus(message) = event {
//!         // Check signatures and membership of the consensus message here.
//!         network.report_validation(message.validation, Validation::Accept).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod behaviour;
pub mod codec;
mod events;
mod handle;
mod membership;
pub mod rate;
mod requests;
mod swarm_task;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use libp2p::{SwarmBuilder, noise, tcp, yamux};
use tokio::sync::mpsc;

use cassia_crypto::{Keypair, PublicKey};

pub use self::behaviour::{
    GOSSIP_FRAME_OVERHEAD_BYTES, GOSSIP_HEARTBEAT, INVALID_MESSAGE_MEMORY, INVALID_MESSAGE_WEIGHT,
    MAX_CONNECTIONS_PER_PEER, MAX_ESTABLISHED_CONNECTIONS, MAX_PENDING_INCOMING,
    MAX_PENDING_OUTGOING, MAX_SYNC_STREAMS_PER_CONNECTION, PING_INTERVAL, PING_TIMEOUT,
};
pub use self::codec::{SYNC_PROTOCOL, SYNC_REQUEST_MAX_BYTES};
pub use self::events::{
    GossipMessage, GossipTopic, NetworkEvent, SyncRequest, Validation, ValidationToken,
};
pub use self::handle::{NetworkCounters, NetworkHandle, PublishError, RequestError, RespondError};
pub use self::membership::{INITIAL_REDIAL_BACKOFF, MAX_REDIAL_BACKOFF, Member, STABLE_CONNECTION};
pub use self::requests::{MAX_INBOUND_REQUESTS_PER_PEER, MAX_PENDING_REQUESTS_PER_PEER};
pub use self::swarm_task::{REFUSAL_WARNING_WINDOW, REFUSAL_WARNINGS_PER_WINDOW};
pub use libp2p::gossipsub::MessageId;
pub use libp2p::request_response::InboundRequestId;
pub use libp2p::{Multiaddr, PeerId};

use self::behaviour::{Behaviour, BehaviourSettings};
use self::handle::Shared;
use self::swarm_task::{SwarmTask, TaskChannels};

/// Events waiting for the application. When full, new events are dropped and counted
/// ([`NetworkCounters::dropped_events`]): gossip is reported `Ignore` (not relayed, no penalty),
/// a sync request's stream is closed, a peer (dis)connection notice is lost
/// ([`NetworkHandle::connected_peers`] stays exact). The swarm never waits for the application.
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;

/// Commands from handles waiting for the swarm task. When full, the calling handle method
/// waits for room (back-pressure on the application, never on the swarm).
pub const COMMAND_CHANNEL_CAPACITY: usize = 256;

/// A connection that no protocol needs stays open this long. Gossipsub keeps mesh connections
/// alive by itself; this keeps the others (and quiet members) from being dropped after
/// libp2p's default of 10 s.
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);

/// How often the swarm task looks for members to redial (each member has its own backoff).
pub const REDIAL_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// Longest wait for the listen address to be bound in [`Network::spawn`].
pub const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Default cap on a gossip payload or sync response: the node config's default (16 MiB), the
/// cap chain parameters are validated against.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
const _: () =
    assert!(DEFAULT_MAX_MESSAGE_BYTES as u64 == cassia_ledger::genesis::PEER_MESSAGE_CAP_BYTES);

/// Default time a sync request waits for its response (and an inbound one for our answer).
pub const DEFAULT_SYNC_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the network could not start, or a command could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The listen address is not a multiaddress.
    #[error("listen address {address:?} is not a multiaddress: {reason}")]
    BadListenAddress {
        /// The address as configured.
        address: String,
        /// What the parser said.
        reason: String,
    },
    /// A member key is not a valid ed25519 public key.
    #[error("member key {0} is not a valid ed25519 public key")]
    BadMemberKey(PublicKey),
    /// gossipsub refused its configuration.
    #[error("gossipsub configuration refused: {0}")]
    Gossipsub(String),
    /// The transport (TCP, Noise, Yamux) could not be built.
    #[error("transport setup failed: {0}")]
    Transport(String),
    /// Listening failed (address in use, not local, ...).
    #[error("cannot listen: {0}")]
    Listen(String),
    /// The listen address was not bound within [`LISTEN_TIMEOUT`].
    #[error("listen address not bound within {LISTEN_TIMEOUT:?}")]
    ListenTimeout,
    /// The network task has stopped.
    #[error("the network has stopped")]
    Stopped,
}

/// Network settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The chain id: names the gossip topics.
    pub chain_id: String,
    /// Listen multiaddress, e.g. `/ip4/0.0.0.0/tcp/7100` (`tcp/0` picks a free port; see
    /// [`NetworkHandle::listen_addresses`]).
    pub listen: String,
    /// Largest gossip payload and sync response accepted or sent, in bytes.
    pub max_message_bytes: usize,
    /// How long a sync request waits for its response.
    pub sync_request_timeout: Duration,
    /// Where to dial a member instead of the address its [`Member`] entry gives (the one
    /// registered on chain): for peers reached through NAT, an internal network or a proxy.
    pub peer_addresses: BTreeMap<PublicKey, Multiaddr>,
}

impl NetworkConfig {
    /// Settings with the default message cap and request timeout.
    pub fn new(chain_id: impl Into<String>, listen: impl Into<String>) -> NetworkConfig {
        NetworkConfig {
            chain_id: chain_id.into(),
            listen: listen.into(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            sync_request_timeout: DEFAULT_SYNC_REQUEST_TIMEOUT,
            peer_addresses: BTreeMap::new(),
        }
    }

    /// Settings from the node's configuration (`[network]`) for chain `chain_id`.
    pub fn from_node_config(
        config: &crate::config::Config,
        chain_id: impl Into<String>,
    ) -> NetworkConfig {
        NetworkConfig {
            max_message_bytes: config.max_message_bytes,
            peer_addresses: config.peer_addresses.clone(),
            ..NetworkConfig::new(chain_id, config.p2p_listen.clone())
        }
    }
}

/// Starts the network; see the module documentation.
#[derive(Debug)]
pub struct Network;

impl Network {
    /// Builds the swarm with `key` as its identity, admits `members` (this node's own key may
    /// be among them; it is skipped), listens on `config.listen`, and runs the swarm in a tokio
    /// task. Returns once the listen address is bound. Must be called inside a tokio runtime.
    pub async fn spawn(
        config: NetworkConfig,
        key: &Keypair,
        members: &[Member],
    ) -> Result<(NetworkHandle, mpsc::Receiver<NetworkEvent>), NetworkError> {
        let listen: Multiaddr =
            config
                .listen
                .parse()
                .map_err(
                    |error: libp2p::multiaddr::Error| NetworkError::BadListenAddress {
                        address: config.listen.clone(),
                        reason: error.to_string(),
                    },
                )?;
        let members = membership::resolve(members)?;
        let overrides = membership::resolve_overrides(&config.peer_addresses)?;
        let mut swarm = build_swarm(&config, key)?;
        swarm
            .listen_on(listen.clone())
            .map_err(|error| NetworkError::Listen(format!("{listen}: {error:?}")))?;

        let shared = Arc::new(Shared::default());
        let (command_sender, commands) = mpsc::channel(COMMAND_CHANNEL_CAPACITY);
        let (events, event_receiver) = mpsc::channel(EVENT_CHANNEL_CAPACITY);
        let handle = NetworkHandle {
            local_peer_id: *swarm.local_peer_id(),
            max_message_bytes: config.max_message_bytes,
            commands: command_sender,
            shared: Arc::clone(&shared),
        };
        let channels = TaskChannels {
            commands,
            events,
            shared,
        };
        let mut task = SwarmTask::new(swarm, channels, &config.chain_id, config.max_message_bytes);
        task.set_dial_overrides(overrides);
        // Members first: a member redialling us the moment the port is bound must be let in.
        task.set_members(members);
        task.wait_listening().await?;
        tokio::spawn(task.run());
        Ok((handle, event_receiver))
    }
}

fn build_swarm(
    config: &NetworkConfig,
    key: &Keypair,
) -> Result<libp2p::Swarm<Behaviour>, NetworkError> {
    let identity = key.to_libp2p();
    let behaviour = Behaviour::new(&BehaviourSettings {
        key: &identity,
        chain_id: &config.chain_id,
        max_message_bytes: config.max_message_bytes,
        sync_request_timeout: config.sync_request_timeout,
    })?;
    let Ok(builder) = SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|error| NetworkError::Transport(error.to_string()))?
        .with_behaviour(|_| behaviour);
    Ok(builder
        .with_swarm_config(|swarm| swarm.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build())
}
