//! The network layer with real swarms on 127.0.0.1: gossip and its validation, membership
//! gating, block-sync request-response and its caps, reconnection after a restart.
//!
//! Every wait is bounded by [`WAIT`] and fails saying what did not happen. Nothing asserts on
//! speed. `RUST_LOG=cassia_node=debug` shows the network's log.

use std::time::Duration;

use cassia_crypto::Keypair;
use cassia_node::network::{
    GossipMessage, MAX_PENDING_INCOMING, Member, Multiaddr, Network, NetworkConfig, NetworkEvent,
    NetworkHandle, PeerId, PublishError, RequestError, RespondError, SYNC_REQUEST_MAX_BYTES,
    SyncRequest, Validation, rate,
};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};

/// Longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(60);

/// How long a node is watched to show that something does *not* arrive (a few gossip
/// heartbeats; it is not a speed claim, it bounds the test).
const QUIET_PERIOD: Duration = Duration::from_secs(3);

const CHAIN: &str = "network-test-chain";
const LOCALHOST: &str = "/ip4/127.0.0.1/tcp/0";

struct Node {
    key: Keypair,
    handle: NetworkHandle,
    events: mpsc::Receiver<NetworkEvent>,
}

impl Node {
    async fn start(key: &Keypair, listen: &str, members: &[Member]) -> Node {
        Node::start_with(NetworkConfig::new(CHAIN, listen), key, members).await
    }

    async fn start_with(config: NetworkConfig, key: &Keypair, members: &[Member]) -> Node {
        init_tracing();
        let (handle, events) = Network::spawn(config, key, members)
            .await
            .expect("the network starts on 127.0.0.1");
        Node {
            key: key.clone(),
            handle,
            events,
        }
    }

    fn peer_id(&self) -> PeerId {
        self.handle.local_peer_id()
    }

    fn address(&self) -> Multiaddr {
        self.handle
            .listen_addresses()
            .into_iter()
            .next()
            .expect("spawn returns once listening")
    }

    fn member(&self) -> Member {
        Member::new(self.key.public(), Some(self.address()))
    }

    /// The next gossip message, skipping connection notices; `None` if none arrives in `wait`.
    async fn next_gossip_within(&mut self, wait: Duration) -> Option<GossipMessage> {
        let deadline = Instant::now() + wait;
        loop {
            match timeout(
                deadline.saturating_duration_since(Instant::now()),
                self.events.recv(),
            )
            .await
            {
                Ok(Some(
                    NetworkEvent::Consensus(message) | NetworkEvent::Transactions(message),
                )) => {
                    return Some(message);
                }
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the event channel closed while waiting for gossip"),
                Err(_) => return None,
            }
        }
    }

    async fn next_gossip(&mut self, what: &str) -> GossipMessage {
        match self.next_gossip_within(WAIT).await {
            Some(message) => message,
            None => panic!("{what} did not arrive within {WAIT:?}"),
        }
    }

    async fn next_sync_request(&mut self) -> SyncRequest {
        loop {
            match timeout(WAIT, self.events.recv()).await {
                Ok(Some(NetworkEvent::SyncRequest(request))) => return request,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the event channel closed while waiting for a sync request"),
                Err(_) => panic!("no sync request arrived within {WAIT:?}"),
            }
        }
    }

    async fn accept(&self, message: GossipMessage) {
        self.handle
            .report_validation(message.validation, Validation::Accept)
            .await
            .expect("the network is running");
    }

    /// Publishes a consensus message, retrying while no peer subscribes yet.
    async fn publish(&self, data: &[u8]) {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.handle.publish_consensus(data.to_vec()).await {
                Ok(_) => return,
                Err(PublishError::NoPeers) if Instant::now() < deadline => {
                    sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("publishing {data:?} failed: {error}"),
            }
        }
    }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn key(seed: u8) -> Keypair {
    Keypair::from_secret([seed; 32])
}

fn members(keys: &[&Keypair]) -> Vec<Member> {
    keys.iter()
        .map(|key| Member::new(key.public(), None))
        .collect()
}

/// Waits until `condition` holds, polling; panics naming `what` after [`WAIT`].
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting until {what}"
        );
        sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_connected(node: &Node, peers: &[PeerId], name: &str) {
    let handle = node.handle.clone();
    let mut expected = peers.to_vec();
    expected.sort();
    let what = format!("{name} is connected to exactly {expected:?}");
    wait_until(&what, || handle.connected_peers() == expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_from_one_member_reaches_the_others() {
    let keys = [key(1), key(2), key(3)];
    let all = members(&[&keys[0], &keys[1], &keys[2]]);
    let mut a = Node::start(&keys[0], LOCALHOST, &all).await;
    let with_a = vec![
        a.member(),
        Member::new(keys[1].public(), None),
        Member::new(keys[2].public(), None),
    ];
    let mut b = Node::start(&keys[1], LOCALHOST, &with_a).await;
    let with_a_and_b = vec![a.member(), b.member(), Member::new(keys[2].public(), None)];
    let mut c = Node::start(&keys[2], LOCALHOST, &with_a_and_b).await;
    wait_connected(&a, &[b.peer_id(), c.peer_id()], "a").await;
    wait_connected(&b, &[a.peer_id(), c.peer_id()], "b").await;
    wait_connected(&c, &[a.peer_id(), b.peer_id()], "c").await;

    a.publish(b"prepare h=1").await;
    for (node, name) in [(&mut b, "b"), (&mut c, "c")] {
        let message = node.next_gossip(&format!("a's message at {name}")).await;
        assert_eq!(message.data, b"prepare h=1");
        assert_eq!(message.author, a.peer_id());
        node.accept(message).await;
    }
    assert!(
        a.next_gossip_within(QUIET_PERIOD).await.is_none(),
        "a is not handed its own message"
    );
    for node in [&a, &b, &c] {
        node.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_application_rejects_is_not_relayed() {
    // A line: a - b - c. c hears a only through b.
    let keys = [key(11), key(12), key(13)];
    let all = members(&[&keys[0], &keys[1], &keys[2]]);
    let a = Node::start(&keys[0], LOCALHOST, &all).await;
    let mut b_members = all.clone();
    b_members[0] = a.member();
    let mut b = Node::start(&keys[1], LOCALHOST, &b_members).await;
    let mut c_members = all.clone();
    c_members[1] = b.member();
    let mut c = Node::start(&keys[2], LOCALHOST, &c_members).await;
    wait_connected(&b, &[a.peer_id(), c.peer_id()], "b").await;
    wait_connected(&a, &[b.peer_id()], "a (not c)").await;

    a.publish(b"accepted").await;
    let message = b.next_gossip("a's first message at b").await;
    b.accept(message).await;
    assert_eq!(
        c.next_gossip("the accepted message relayed to c")
            .await
            .data,
        b"accepted"
    );

    a.publish(b"rejected").await;
    let message = b.next_gossip("a's second message at b").await;
    assert_eq!(message.data, b"rejected");
    b.handle
        .report_validation(message.validation, Validation::Reject)
        .await
        .expect("running");
    assert_eq!(b.handle.counters().rejected_messages, 1);

    a.publish(b"after").await;
    let message = b.next_gossip("a's third message at b").await;
    b.accept(message).await;
    let next_at_c = c
        .next_gossip("the message after the rejected one at c")
        .await;
    assert_eq!(
        next_at_c.data, b"after",
        "c must never see the rejected message"
    );
    assert!(
        c.next_gossip_within(QUIET_PERIOD).await.is_none(),
        "nothing else reaches c"
    );
    for node in [&a, &b, &c] {
        node.handle.shutdown().await;
    }
}

/// A member publishing far beyond its budget is cut at the first hop: b's network ignores what
/// is over a's consensus budget before b's application sees it, and c, which hears a only
/// through b, receives exactly what b accepted, nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_over_its_authors_budget_is_neither_judged_nor_relayed() {
    use cassia_node::network::rate::{BURST_SECONDS, CONSENSUS_MESSAGES_PER_SECOND};
    let burst = (CONSENSUS_MESSAGES_PER_SECOND * BURST_SECONDS) as usize;
    let sent = burst * 2;
    let keys = [key(31), key(32), key(33)];
    let all = members(&[&keys[0], &keys[1], &keys[2]]);
    let a = Node::start(&keys[0], LOCALHOST, &all).await;
    let mut b_members = all.clone();
    b_members[0] = a.member();
    let mut b = Node::start(&keys[1], LOCALHOST, &b_members).await;
    let mut c_members = all.clone();
    c_members[1] = b.member();
    let mut c = Node::start(&keys[2], LOCALHOST, &c_members).await;
    wait_connected(&b, &[a.peer_id(), c.peer_id()], "b").await;
    wait_connected(&a, &[b.peer_id()], "a (not c)").await;

    for i in 0..sent {
        a.publish(format!("statement {i}").as_bytes()).await;
    }
    let mut judged_at_b = 0;
    while let Some(message) = b.next_gossip_within(QUIET_PERIOD).await {
        judged_at_b += 1;
        b.accept(message).await;
    }
    let limited = usize::try_from(b.handle.counters().rate_limited_messages).expect("small");
    assert_eq!(
        judged_at_b + limited,
        sent,
        "every message is judged or limited"
    );
    assert!(
        limited > 0 && judged_at_b < sent,
        "{judged_at_b} of {sent} reached b's application"
    );
    let mut at_c = 0;
    while c.next_gossip_within(QUIET_PERIOD).await.is_some() {
        at_c += 1;
    }
    // c budgets a's messages too (the author is a, whoever relays them): what b relayed in a
    // burst may be trimmed again there.
    let limited_at_c = usize::try_from(c.handle.counters().rate_limited_messages).expect("small");
    assert_eq!(
        at_c + limited_at_c,
        judged_at_b,
        "c gets what b accepted and nothing b ignored"
    );
    for node in [&a, &b, &c] {
        node.handle.shutdown().await;
    }
}

/// A payload of exactly `max_message_bytes` is delivered even when more frames follow it
/// closely, and one byte more is refused by our check, which counts it, not by the codec, which
/// would silently close the stream. (libp2p-gossipsub 0.50 compares its frame cap with all it
/// has read, which can include up to 8 KiB of the frames that follow: hence the frame cap's
/// slack, [`cassia_node::network::GOSSIP_FRAME_OVERHEAD_BYTES`].)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_at_the_cap_is_delivered_and_one_byte_more_is_refused_and_counted() {
    const CAP: usize = 64 * 1024;
    const ROUNDS: u8 = 8;
    const FOLLOWERS: usize = 8;
    const FOLLOWER_BYTES: usize = 1024;
    let (key_a, key_b) = (key(61), key(62));
    // a may send twice b's cap, so it can send b one byte too many.
    let mut config_a = NetworkConfig::new(CHAIN, LOCALHOST);
    config_a.max_message_bytes = 2 * CAP;
    let a = Node::start_with(config_a, &key_a, &members(&[&key_a, &key_b])).await;
    let mut config_b = NetworkConfig::new(CHAIN, LOCALHOST);
    config_b.max_message_bytes = CAP;
    let (mut b, b_runtime) = StallableRuntime::start_node(config_b, key_b, vec![a.member()]);
    wait_connected(&b, &[a.peer_id()], "b").await;
    a.publish(b"hello").await;
    let hello = b.next_gossip("a's first message at b").await;
    b.accept(hello).await;

    // Each round: while b's runtime is stalled, one payload at b's cap and small ones right
    // behind it queue up in the socket, so that b then reads the end of the large frame
    // together with the start of the next ones.
    // The rounds stay within a's gossip budget at b ([`cassia_node::network::rate`]): before
    // each, b's byte bucket for a is given the time to refill by what one round spends, so that
    // every message here is judged by the size check alone.
    let round_bytes = CAP + FOLLOWERS * FOLLOWER_BYTES;
    let refill = Duration::from_secs_f64(
        round_bytes as f64 / (CAP as f64 * f64::from(rate::LARGEST_MESSAGES_PER_SECOND)),
    );
    for round in 0..ROUNDS {
        sleep(refill).await;
        let mut sent = vec![vec![round; CAP]];
        sent.extend((0..FOLLOWERS).map(|i| {
            let mut follower = format!("r{round:03}f{i:03}").into_bytes();
            follower.resize(FOLLOWER_BYTES, b'.');
            follower
        }));
        let resume = b_runtime.pause();
        for data in &sent {
            a.handle
                .publish_consensus(data.clone())
                .await
                .expect("b is subscribed");
        }
        // Time for a to write the frames; a shorter wait only makes the round less searching.
        sleep(Duration::from_millis(100)).await;
        drop(resume);
        for (i, data) in sent.iter().enumerate() {
            let message = b
                .next_gossip(&format!("message {i} of round {round} at b"))
                .await;
            assert_eq!(
                (message.data.len(), &message.data[..8]),
                (data.len(), &data[..8]),
                "message {i} of round {round}"
            );
            b.accept(message).await;
        }
    }
    assert_eq!(b.handle.counters().rejected_messages, 0);
    assert_eq!(
        b.handle.counters().rate_limited_messages,
        0,
        "the rounds stayed within a's budget"
    );

    a.handle
        .publish_consensus(vec![0xa5; CAP + 1])
        .await
        .expect("within a's own cap");
    a.handle
        .publish_consensus(b"after the oversized one".to_vec())
        .await
        .expect("b is subscribed");
    let after = b.next_gossip("the message after the oversized one").await;
    assert_eq!(
        after.data, b"after the oversized one",
        "the oversized payload never reaches the application"
    );
    b.accept(after).await;
    assert_eq!(
        b.handle.counters().rejected_messages,
        1,
        "the oversized payload is refused and counted"
    );
    a.handle.shutdown().await;
    b.handle.shutdown().await;
}

/// The runtime of a node started on a thread of its own, which the test can stall:
/// [`StallableRuntime::pause`] blocks that runtime's only thread until the returned guard is
/// dropped.
struct StallableRuntime {
    pause: mpsc::UnboundedSender<std::sync::mpsc::Receiver<()>>,
}

impl StallableRuntime {
    /// Starts a node on a current-thread runtime of a new thread.
    fn start_node(
        config: NetworkConfig,
        key: Keypair,
        members: Vec<Member>,
    ) -> (Node, StallableRuntime) {
        let (node_tx, node_rx) = std::sync::mpsc::channel();
        let (pause, mut pauses) = mpsc::unbounded_channel::<std::sync::mpsc::Receiver<()>>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let node = Node::start_with(config, &key, &members).await;
                node_tx.send(node).expect("the test waits for the node");
                while let Some(resumed) = pauses.recv().await {
                    // Blocking here on purpose: it stalls every task of this runtime.
                    let _ = resumed.recv();
                }
            });
        });
        let node = node_rx.recv().expect("the node starts");
        (node, StallableRuntime { pause })
    }

    fn pause(&self) -> std::sync::mpsc::Sender<()> {
        let (resume, paused) = std::sync::mpsc::channel();
        self.pause.send(paused).expect("the node's runtime runs");
        resume
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_member_is_refused_and_hears_nothing() {
    let (key_a, key_b, outsider_key) = (key(21), key(22), key(29));
    let mut a = Node::start(&key_a, LOCALHOST, &members(&[&key_a, &key_b])).await;
    let mut b = Node::start(&key_b, LOCALHOST, &[a.member()]).await;
    wait_connected(&a, &[b.peer_id()], "a").await;
    // The outsider knows a's address and key, but a's membership does not name it.
    let mut outsider = Node::start(&outsider_key, LOCALHOST, &[a.member()]).await;

    let handle = a.handle.clone();
    wait_until("a refused the outsider's connection", || {
        handle.refused_connections() >= 1
    })
    .await;
    assert!(!a.handle.connected_peers().contains(&outsider.peer_id()));

    a.publish(b"members only").await;
    let message = b.next_gossip("a's message at b").await;
    b.accept(message).await;
    assert!(
        outsider.next_gossip_within(QUIET_PERIOD).await.is_none(),
        "the outsider must receive no gossip"
    );

    let response = timeout(
        WAIT,
        outsider.handle.request(a.peer_id(), b"1..10".to_vec()),
    )
    .await
    .expect("the outsider's sync request ends within the request timeout");
    assert!(
        response.is_err(),
        "the outsider's sync request must fail, got {response:?}"
    );
    assert!(
        timeout(QUIET_PERIOD, a.next_sync_request()).await.is_err(),
        "a's application never sees the outsider's request"
    );
    let refused = a
        .handle
        .request(outsider.peer_id(), b"1..10".to_vec())
        .await;
    assert_eq!(refused, Err(RequestError::NotAMember(outsider.peer_id())));
    for node in [&a, &b, &outsider] {
        node.handle.shutdown().await;
    }
}

/// An operator's dial override (`[network] peer_addresses`) is where a member is dialled, not
/// the address its member entry lists: here the listed address is a closed port, and the
/// member itself never dials, so only the override can connect them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_is_dialled_at_its_configured_address_not_the_listed_one() {
    let (key_a, key_b) = (key(41), key(42));
    let b = Node::start(&key_b, LOCALHOST, &members(&[&key_a, &key_b])).await;
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral port")
        .port();
    let listed: Multiaddr = format!("/ip4/127.0.0.1/tcp/{closed_port}")
        .parse()
        .expect("valid multiaddr");
    let mut config = NetworkConfig::new(CHAIN, LOCALHOST);
    config.peer_addresses.insert(key_b.public(), b.address());
    let a = Node::start_with(config, &key_a, &[Member::new(key_b.public(), Some(listed))]).await;
    wait_connected(&a, &[b.peer_id()], "a (through the override)").await;
    for node in [&a, &b] {
        node.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_request_round_trip_and_caps() {
    let (key_a, key_b) = (key(31), key(32));
    let mut config_a = NetworkConfig::new(CHAIN, LOCALHOST);
    config_a.max_message_bytes = 1024 * 1024;
    let mut a = Node::start_with(config_a, &key_a, &members(&[&key_a, &key_b])).await;
    let mut config_b = NetworkConfig::new(CHAIN, LOCALHOST);
    config_b.max_message_bytes = 64 * 1024;
    let b = Node::start_with(config_b, &key_b, &[a.member()]).await;
    wait_connected(&b, &[a.peer_id()], "b").await;

    // A round trip.
    let pending = spawn_request(&b.handle, a.peer_id(), b"heights 1..=10".to_vec());
    let request = a.next_sync_request().await;
    assert_eq!(
        (request.peer, request.data.as_slice()),
        (b.peer_id(), &b"heights 1..=10"[..])
    );
    a.handle
        .respond(request.request_id, b"blocks 1..=10".to_vec())
        .await
        .expect("answered in time");
    assert_eq!(finish(pending).await, Ok(b"blocks 1..=10".to_vec()));
    assert_eq!(
        a.handle
            .respond(request.request_id, b"again".to_vec())
            .await,
        Err(RespondError::UnknownRequest),
        "a request is answered once"
    );

    // Caps on our side: nothing is sent.
    let too_big = vec![0u8; SYNC_REQUEST_MAX_BYTES + 1];
    assert_eq!(
        b.handle.request(a.peer_id(), too_big).await,
        Err(RequestError::RequestTooLarge {
            bytes: SYNC_REQUEST_MAX_BYTES + 1,
            cap: SYNC_REQUEST_MAX_BYTES
        })
    );

    // A response above the requester's cap (a allows 1 MiB, b only 64 KiB) is an error at b.
    let pending = spawn_request(&b.handle, a.peer_id(), b"heights 1..=1000".to_vec());
    let request = a.next_sync_request().await;
    assert_eq!(
        a.handle
            .respond(request.request_id, vec![0u8; 1024 * 1024 + 1])
            .await,
        Err(RespondError::TooLarge {
            bytes: 1024 * 1024 + 1,
            cap: 1024 * 1024
        }),
        "a refuses to send above its own cap"
    );
    a.handle
        .respond(request.request_id, vec![0u8; 100 * 1024])
        .await
        .expect("within a's cap");
    assert_eq!(
        finish(pending).await,
        Err(RequestError::ResponseTooLarge { cap: 64 * 1024 })
    );

    // Both still work afterwards.
    let pending = spawn_request(&b.handle, a.peer_id(), b"heights 11..=12".to_vec());
    let request = a.next_sync_request().await;
    a.handle
        .respond(request.request_id, b"blocks 11..=12".to_vec())
        .await
        .expect("answered");
    assert_eq!(finish(pending).await, Ok(b"blocks 11..=12".to_vec()));
    a.handle.shutdown().await;
    b.handle.shutdown().await;
}

type PendingRequest = tokio::task::JoinHandle<Result<Vec<u8>, RequestError>>;

fn spawn_request(handle: &NetworkHandle, peer: PeerId, data: Vec<u8>) -> PendingRequest {
    let handle = handle.clone();
    tokio::spawn(async move { handle.request(peer, data).await })
}

async fn finish(pending: PendingRequest) -> Result<Vec<u8>, RequestError> {
    timeout(WAIT, pending)
        .await
        .expect("the sync request ended within the wait")
        .expect("the request task did not panic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_member_is_reconnected_without_help() {
    let keys = [key(41), key(42), key(43)];
    let all = members(&[&keys[0], &keys[1], &keys[2]]);
    let a = Node::start(&keys[0], LOCALHOST, &all).await;
    let a_address = a.address();
    let b = Node::start(
        &keys[1],
        LOCALHOST,
        &[a.member(), Member::new(keys[2].public(), None)],
    )
    .await;
    let mut c = Node::start(&keys[2], LOCALHOST, &[a.member(), b.member()]).await;
    wait_connected(&a, &[b.peer_id(), c.peer_id()], "a").await;

    let a_peer = a.peer_id();
    a.handle.shutdown().await;
    drop(a);
    for (node, name) in [(&b, "b"), (&c, "c")] {
        let handle = node.handle.clone();
        let what = format!("{name} saw a go away");
        wait_until(&what, || !handle.connected_peers().contains(&a_peer)).await;
    }

    // Same key, same port, and no addresses: a does not dial anyone, the others must.
    let a = Node::start(&keys[0], &a_address.to_string(), &all).await;
    assert_eq!(a.address(), a_address);
    wait_connected(&a, &[b.peer_id(), c.peer_id()], "the restarted a").await;
    wait_connected(&b, &[a_peer, c.peer_id()], "b").await;
    assert_eq!(
        a.handle.refused_connections(),
        0,
        "members redialling the restarted a are let in at once"
    );

    a.publish(b"back").await;
    assert_eq!(
        c.next_gossip("the restarted a's message at c").await.data,
        b"back"
    );
    for node in [&a, &b, &c] {
        node.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_is_disconnected_and_publishing_alone_is_no_crash() {
    let (key_a, key_b) = (key(51), key(52));
    let a = Node::start(&key_a, LOCALHOST, &members(&[&key_a, &key_b])).await;
    assert_eq!(
        a.handle.publish_consensus(b"alone".to_vec()).await,
        Err(PublishError::NoPeers)
    );
    assert_eq!(a.handle.counters().unpublished_messages, 1);

    let b = Node::start(&key_b, LOCALHOST, &[a.member()]).await;
    wait_connected(&a, &[b.peer_id()], "a").await;
    a.handle
        .set_members(&members(&[&key_a]))
        .await
        .expect("running");
    wait_connected(&a, &[], "a after removing b").await;
    let handle = a.handle.clone();
    wait_until("b's redials are refused", || {
        handle.refused_connections() >= 1
    })
    .await;
    a.handle.shutdown().await;
    b.handle.shutdown().await;
    assert_eq!(
        a.handle.publish_consensus(b"stopped".to_vec()).await,
        Err(PublishError::Stopped),
        "a stopped network answers with an error"
    );
}

/// The TCP port of a `/ip4/.../tcp/PORT` address.
fn tcp_port(address: &Multiaddr) -> u16 {
    address
        .iter()
        .find_map(|protocol| match protocol {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .expect("a TCP listen address")
}

/// Any host can open TCP connections to the p2p port, and each would cost a Noise handshake
/// before gating can refuse it: beyond `MAX_PENDING_INCOMING` at once they are refused on
/// arrival and counted; while a host holds every incoming slot, a member still connects (members
/// dial each other, and dials have slots of their own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_beyond_the_pending_limit_are_refused_and_a_member_still_connects() {
    let (key_a, key_b) = (key(71), key(72));
    let a = Node::start(&key_a, LOCALHOST, &members(&[&key_a, &key_b])).await;
    let port = tcp_port(&a.address());
    let extra = 8;
    let mut held = Vec::new();
    for _ in 0..MAX_PENDING_INCOMING as usize + extra {
        let socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("the p2p port accepts TCP");
        held.push(socket);
    }
    let handle = a.handle.clone();
    wait_until("a refused the handshakes beyond its pending limit", || {
        handle.counters().limited_connections >= extra as u64
    })
    .await;
    assert_eq!(
        a.handle.counters().refused_connections,
        0,
        "nothing was refused as a non-member: no handshake finished"
    );

    let b = Node::start(&key_b, LOCALHOST, &[a.member()]).await;
    let listed = [Member::new(key_a.public(), None), b.member()];
    a.handle
        .set_members(&listed)
        .await
        .expect("the network is running");
    wait_connected(&a, &[b.peer_id()], "a, its incoming slots held,").await;
    drop(held);
    for node in [&a, &b] {
        node.handle.shutdown().await;
    }
}
