//! A fault-injecting TCP proxy between real node processes, to partition a running consortium.
//!
//! One [`Link`] per ordered pair of nodes (i→j) listens on an ephemeral [`PROXY_HOST`] port and
//! forwards every connection to node j's real p2p address. Node i's config names the link as
//! where to dial j (`[network] peer_addresses`), so every connection between i and j runs
//! through link i→j (i dialled) or j→i (j dialled), and blocking both cuts i↔j.
//!
//! ```text
//!   node i --dial j--> link i->j (127.0.0.2:eph) --> node j's listen address
//!   node j --dial i--> link j->i (127.0.0.2:eph) --> node i's listen address
//! ```
//!
//! Invariants:
//! - [`Link::block`] closes every open forwarded connection of the link at once; until
//!   [`Link::heal`] each new connection is accepted and closed at once (counted as refused),
//!   which a dialling node sees as a failed dial.
//! - Bounded: at most [`MAX_CONNECTIONS_PER_LINK`] forwarded connections per link (more are
//!   refused and counted), each copied through two fixed [`COPY_BUFFER_BYTES`] buffers by two
//!   threads that end when either side closes or the link blocks or drops.
//! - Dropping a link (or the [`Proxy`]) closes its listener and every forwarded connection; its
//!   accept thread ends within [`ACCEPT_POLL_INTERVAL`] and is joined.
//! - Slow and one-way links: [`Link::set_delay`] holds each chunk that long before passing it
//!   on (latency, in both directions); [`Proxy::hold`] stops passing the bytes one node sends to
//!   another, on whichever link carries them, without closing anything: the bytes wait in the
//!   sockets' buffers, as behind a one-way network fault, until [`Proxy::release`].

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// The loopback address the links listen on: never a node's (see
/// [`crate::process::loopback_host`]), so that a link's ephemeral port can never be one a node
/// has been given but not yet bound (the nodes' ports are chosen free, released, and bound only
/// when each node starts).
pub const PROXY_HOST: &str = "127.0.0.2";

/// Most forwarded connections open at once on one link. libp2p keeps one or two connections
/// per pair of nodes; more means a redial storm, and the extra ones are refused.
pub const MAX_CONNECTIONS_PER_LINK: usize = 16;

/// Bytes each direction of a forwarded connection copies at a time.
pub const COPY_BUFFER_BYTES: usize = 16 * 1024;

/// How often a link's accept loop looks for a new connection or its stop flag.
pub const ACCEPT_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Longest wait to connect to the node behind a link.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a link has done, for assertions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Connections forwarded to the node behind the link.
    pub forwarded: u64,
    /// Connections closed on arrival because the link was blocked.
    pub refused_while_blocked: u64,
    /// Connections closed on arrival because [`MAX_CONNECTIONS_PER_LINK`] were open.
    pub refused_over_cap: u64,
    /// Connections closed because the node behind the link did not accept.
    pub upstream_failures: u64,
    /// Forwarded connections open now.
    pub open: u64,
}

/// The open connections of a link and whether it is blocked; one lock, so a connection is
/// either registered before a block (and closed by it) or sees the block and is refused.
#[derive(Default)]
struct LinkState {
    blocked: bool,
    next_id: u64,
    /// Each open connection's two sockets (clones of the ones its copy threads use).
    open: BTreeMap<u64, (TcpStream, TcpStream)>,
}

#[derive(Default)]
struct Counts {
    forwarded: AtomicU64,
    refused_while_blocked: AtomicU64,
    refused_over_cap: AtomicU64,
    upstream_failures: AtomicU64,
}

struct Shared {
    target: SocketAddr,
    state: Mutex<LinkState>,
    counts: Counts,
    stop: AtomicBool,
    /// Milliseconds each chunk waits before it is passed on.
    delay_ms: AtomicU64,
    /// Whether the bytes from the dialling node (`Direction::Forward`) or to it (`Reverse`) are
    /// held.
    held: [AtomicBool; 2],
}

/// Which way bytes flow on a link's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the node that dialled through the link to the node behind it.
    Forward = 0,
    /// Back.
    Reverse = 1,
}

/// How often a held direction looks whether it was released.
pub const HOLD_POLL_INTERVAL: Duration = Duration::from_millis(10);

impl Shared {
    fn state(&self) -> MutexGuard<'_, LinkState> {
        // A copy thread that panicked cannot leave the map half-updated: take it as it is.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One directed link: listens on an ephemeral [`PROXY_HOST`] port, forwards to `target`.
pub struct Link {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("address", &self.address)
            .field("target", &self.shared.target)
            .field("counters", &self.counters())
            .finish()
    }
}

impl Link {
    /// Starts a link forwarding to `target`.
    pub fn start(target: SocketAddr) -> std::io::Result<Link> {
        let listener = TcpListener::bind((PROXY_HOST, 0))?;
        // Non-blocking, so the accept loop notices the stop flag without a wake-up connection.
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            state: Mutex::new(LinkState::default()),
            counts: Counts::default(),
            stop: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            held: [AtomicBool::new(false), AtomicBool::new(false)],
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = std::thread::Builder::new()
            .name(format!("proxy {address}->{target}"))
            .spawn(move || accept_loop(&listener, &accept_shared))?;
        Ok(Link {
            address,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// Where to connect to reach the target through this link.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Cuts the link: closes every forwarded connection now and refuses new ones until
    /// [`Link::heal`].
    pub fn block(&self) {
        let mut state = self.shared.state();
        state.blocked = true;
        for (client, upstream) in std::mem::take(&mut state.open).into_values() {
            close(&client, &upstream);
        }
    }

    /// Holds every chunk `delay` before passing it on, both ways (zero: none).
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Stops (`true`) or resumes passing on the bytes flowing in `direction`.
    pub fn hold(&self, direction: Direction, held: bool) {
        self.shared.held[direction as usize].store(held, Ordering::SeqCst);
    }

    /// Lets new connections through again.
    pub fn heal(&self) {
        self.shared.state().blocked = false;
    }

    /// Whether the link is cut.
    pub fn is_blocked(&self) -> bool {
        self.shared.state().blocked
    }

    /// What the link has done so far.
    pub fn counters(&self) -> LinkCounters {
        let counts = &self.shared.counts;
        LinkCounters {
            forwarded: counts.forwarded.load(Ordering::SeqCst),
            refused_while_blocked: counts.refused_while_blocked.load(Ordering::SeqCst),
            refused_over_cap: counts.refused_over_cap.load(Ordering::SeqCst),
            upstream_failures: counts.upstream_failures.load(Ordering::SeqCst),
            open: self.shared.state().open.len() as u64,
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Closing the sockets ends every copy thread; the accept thread sees the flag.
        self.block();
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => admit(client, shared),
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL_INTERVAL);
            }
            // A connection that failed before it was accepted (reset) concerns no one else.
            Err(_) => std::thread::sleep(ACCEPT_POLL_INTERVAL),
        }
    }
}

/// Forwards `client` to the target, or closes it (blocked, at the cap, target down).
fn admit(client: TcpStream, shared: &Arc<Shared>) {
    let counts = &shared.counts;
    {
        let state = shared.state();
        if state.blocked {
            counts.refused_while_blocked.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if state.open.len() >= MAX_CONNECTIONS_PER_LINK {
            counts.refused_over_cap.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
    // Connect outside the lock: a block must not wait for a slow connect.
    let Ok(upstream) = TcpStream::connect_timeout(&shared.target, UPSTREAM_CONNECT_TIMEOUT) else {
        counts.upstream_failures.fetch_add(1, Ordering::SeqCst);
        return;
    };
    if let Err(error) = forward(client, upstream, shared) {
        // The sockets are dropped (closed) here; the dialling node sees a failed dial.
        eprintln!("proxy to {}: cannot forward: {error}", shared.target);
    }
}

/// Registers the pair (unless a block came first) and starts its two copy threads.
fn forward(client: TcpStream, upstream: TcpStream, shared: &Arc<Shared>) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let pair = (client.try_clone()?, upstream.try_clone()?);
    let reverse = (upstream.try_clone()?, client.try_clone()?);
    let id = {
        let mut state = shared.state();
        if state.blocked {
            shared
                .counts
                .refused_while_blocked
                .fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        let id = state.next_id;
        state.next_id += 1;
        state.open.insert(id, (client, upstream));
        id
    };
    shared.counts.forwarded.fetch_add(1, Ordering::SeqCst);
    spawn_copy(pair, (id, Direction::Forward), Arc::clone(shared))?;
    spawn_copy(reverse, (id, Direction::Reverse), Arc::clone(shared))
}

fn spawn_copy(
    (from, to): (TcpStream, TcpStream),
    (id, direction): (u64, Direction),
    shared: Arc<Shared>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("proxy copy {id}"))
        .spawn(move || {
            copy(&from, &to, direction, &shared);
            // One direction ended: end the other too, and forget the connection.
            close(&from, &to);
            shared.state().open.remove(&id);
        })
        .map(drop)
}

/// Copies `from` to `to` until either side closes or fails (or the link stops), waiting out
/// the link's delay and holds.
fn copy(mut from: &TcpStream, mut to: &TcpStream, direction: Direction, shared: &Shared) {
    let mut buffer = [0u8; COPY_BUFFER_BYTES];
    loop {
        // Held: read nothing, so the sender's bytes back up in the socket buffers.
        while shared.held[direction as usize].load(Ordering::SeqCst) {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(HOLD_POLL_INTERVAL);
        }
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => {
                let delay = shared.delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    std::thread::sleep(Duration::from_millis(delay));
                }
                if to.write_all(&buffer[..read]).is_err() {
                    return;
                }
            }
        }
    }
}

fn close(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

/// A link for every ordered pair of `n` nodes, so any partition of them can be made.
#[derive(Debug)]
pub struct Proxy {
    links: BTreeMap<(usize, usize), Link>,
    nodes: usize,
}

impl Proxy {
    /// Links between every ordered pair of the nodes listening at `targets` (node j's real
    /// p2p address is `targets[j]`).
    pub fn start(targets: &[SocketAddr]) -> std::io::Result<Proxy> {
        let mut links = BTreeMap::new();
        for from in 0..targets.len() {
            for (to, target) in targets.iter().enumerate().filter(|(to, _)| *to != from) {
                links.insert((from, to), Link::start(*target)?);
            }
        }
        Ok(Proxy {
            links,
            nodes: targets.len(),
        })
    }

    /// The link node `from` dials node `to` through.
    ///
    /// # Panics
    /// If `from == to` or either is not a node of the proxy.
    pub fn link(&self, from: usize, to: usize) -> &Link {
        self.links
            .get(&(from, to))
            .unwrap_or_else(|| panic!("no link {from}->{to} among {} nodes", self.nodes))
    }

    /// Cuts every link between nodes of different `groups` and heals every link inside one.
    ///
    /// # Panics
    /// Unless every node is in exactly one group.
    pub fn partition(&self, groups: &[&[usize]]) {
        let mut group_of = vec![None; self.nodes];
        for (group, members) in groups.iter().enumerate() {
            for &node in *members {
                assert!(
                    node < self.nodes,
                    "node {node} is not one of {}",
                    self.nodes
                );
                assert!(group_of[node].is_none(), "node {node} is in two groups");
                group_of[node] = Some(group);
            }
        }
        assert!(
            group_of.iter().all(Option::is_some),
            "every node must be in a group: {groups:?}"
        );
        for (&(from, to), link) in &self.links {
            if group_of[from] == group_of[to] {
                link.heal();
            } else {
                link.block();
            }
        }
    }

    /// Heals every link.
    pub fn heal(&self) {
        self.links.values().for_each(Link::heal);
    }

    /// Every link delays each chunk by `delay` (zero: none).
    pub fn set_delay(&self, delay: Duration) {
        self.links.values().for_each(|link| link.set_delay(delay));
    }

    /// Holds the bytes node `from` sends to node `to` (not the reverse): on link `from->to`
    /// they flow forward, on link `to->from` in reverse. A one-way fault: `to` still speaks to
    /// `from`, but hears nothing back until [`Proxy::release`].
    pub fn hold(&self, from: usize, to: usize) {
        self.link(from, to).hold(Direction::Forward, true);
        self.link(to, from).hold(Direction::Reverse, true);
    }

    /// Passes on every held byte again, on every link.
    pub fn release(&self) {
        for link in self.links.values() {
            link.hold(Direction::Forward, false);
            link.hold(Direction::Reverse, false);
        }
    }

    /// The counters of every link touching `node`, both directions, summed.
    pub fn counters_of(&self, node: usize) -> LinkCounters {
        self.links
            .iter()
            .filter(|((from, to), _)| *from == node || *to == node)
            .map(|(_, link)| link.counters())
            .fold(LinkCounters::default(), |sum, c| LinkCounters {
                forwarded: sum.forwarded + c.forwarded,
                refused_while_blocked: sum.refused_while_blocked + c.refused_while_blocked,
                refused_over_cap: sum.refused_over_cap + c.refused_over_cap,
                upstream_failures: sum.upstream_failures + c.upstream_failures,
                open: sum.open + c.open,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on an ephemeral port; ends when the listener errors (dropped process).
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            for stream in listener.incoming().take(64) {
                let Ok(stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut reader = &stream;
                    let mut writer = &stream;
                    let _ = std::io::copy(&mut reader, &mut writer);
                });
            }
        });
        address
    }

    fn connect(link: &Link) -> TcpStream {
        let stream = TcpStream::connect(link.address()).expect("connect to the link");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream
    }

    /// Whether `stream` echoes `data` (false if it is closed or reset).
    fn echoes(mut stream: &TcpStream, data: &[u8]) -> bool {
        if stream.write_all(data).is_err() {
            return false;
        }
        let mut back = vec![0; data.len()];
        stream.read_exact(&mut back).is_ok() && back == data
    }

    /// Waits (bounded) until `condition` holds.
    fn eventually(what: &str, condition: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(std::time::Instant::now() < deadline, "never: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_link_forwards_until_blocked_refuses_while_blocked_and_forwards_after_healing() {
        let link = Link::start(echo_server()).expect("link");
        let open = connect(&link);
        assert!(echoes(&open, b"hello"), "a healthy link forwards");

        link.block();
        assert!(
            !echoes(&open, b"again"),
            "blocking closes the open connection"
        );
        let refused = connect(&link);
        assert!(!echoes(&refused, b"blocked"), "a blocked link refuses");
        eventually("the refusal is counted", || {
            link.counters().refused_while_blocked >= 1
        });

        link.heal();
        let healed = connect(&link);
        assert!(echoes(&healed, b"healed"), "a healed link forwards again");
        let counters = link.counters();
        assert_eq!(counters.forwarded, 2, "{counters:?}");
        assert_eq!(counters.open, 1, "{counters:?}");
    }

    #[test]
    fn connections_beyond_the_cap_are_refused() {
        let link = Link::start(echo_server()).expect("link");
        let held: Vec<TcpStream> = (0..MAX_CONNECTIONS_PER_LINK)
            .map(|_| {
                let stream = connect(&link);
                assert!(echoes(&stream, b"x"));
                stream
            })
            .collect();
        let extra = connect(&link);
        assert!(!echoes(&extra, b"one too many"));
        assert_eq!(link.counters().refused_over_cap, 1);
        drop(held);
        eventually("closed connections are forgotten", || {
            link.counters().open == 0
        });
    }

    #[test]
    fn a_partition_cuts_links_between_groups_only() {
        let targets: Vec<SocketAddr> = (0..3).map(|_| echo_server()).collect();
        let proxy = Proxy::start(&targets).expect("proxy");
        proxy.partition(&[&[0], &[1, 2]]);
        assert!(proxy.link(0, 1).is_blocked() && proxy.link(2, 0).is_blocked());
        assert!(!proxy.link(1, 2).is_blocked() && !proxy.link(2, 1).is_blocked());
        assert!(echoes(&connect(proxy.link(1, 2)), b"same side"));
        proxy.heal();
        assert!(echoes(&connect(proxy.link(0, 1)), b"healed"));
    }
}
