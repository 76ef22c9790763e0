//! Real `cassia node` processes on loopback, for cluster tests.
//!
//! [`ProcessCluster::start`] runs `cassia devnet --init-only` into a temporary directory (free
//! ports on a loopback address of the cluster's own, an approved genesis, one home per
//! validator) and starts `cassia node` for each home. A node that needs one of the fault
//! suite's interceptors (a signed-statement log, Byzantine attacks) runs as this crate's
//! `test-node` binary instead: the same node, built on `cassia-node`'s public API. Nodes can
//! be killed with SIGKILL, stopped with SIGTERM and restarted; their `/status` endpoints tell
//! heights, tips and state roots.
//! Every wait is bounded and fails with a message naming the node and what it did not reach.
//! Dropping the cluster kills every node and removes the directory.
//!
//! [`ProcessCluster::start_partitionable`] routes every connection between two nodes through a
//! fault-injecting [`Proxy`], so a test can [`ProcessCluster::partition`] the running nodes
//! and [`ProcessCluster::heal`] them.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::proxy::{PROXY_HOST, Proxy};

/// The `cassia` binary the harnesses run: `$CASSIA_BIN` if set, else the one in the same
/// target directory as this executable: `target/<profile>/cassia` for tests (which live in
/// `deps/`) and binaries, falling back to `target/debug/cassia` (the profile RocksDB is built
/// in, so a `--release` harness drives the dev-built node).
///
/// # Panics
/// If none is built; `cargo test --workspace` and `cargo build -p cassia-cli` build it.
pub fn cassia_binary() -> PathBuf {
    built_binary(
        "cassia",
        "CASSIA_BIN",
        "run `cargo build -p cassia-cli` (cargo test --workspace does)",
    )
}

/// The `test-node` binary (a real node with the fault suite's interceptors, built by this
/// crate): `$CASSIA_TEST_NODE_BIN` if set, else found like [`cassia_binary`].
///
/// # Panics
/// If none is built; `cargo test -p cassia-tests` and `cargo build -p cassia-tests --bin
/// test-node` build it.
pub fn test_node_binary() -> PathBuf {
    built_binary(
        "test-node",
        "CASSIA_TEST_NODE_BIN",
        "run `cargo build -p cassia-tests --bin test-node` (cargo test -p cassia-tests does)",
    )
}

/// The binary `name`: `$variable` if set, else the first built one of the target directory of
/// this executable (see [`cassia_binary`]).
fn built_binary(name: &str, variable: &str, how_to_build: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("executable path");
    let dir = exe.parent().expect("executable directory");
    let mut candidates = vec![dir.join(name)];
    if let Some(profile_dir) = dir.parent() {
        candidates.push(profile_dir.join(name));
        candidates.push(profile_dir.join("debug").join(name));
        if let Some(target) = profile_dir.parent() {
            candidates.push(target.join("debug").join(name));
        }
    }
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!("no {name} binary at {candidates:?}: {how_to_build}, or set {variable}")
        })
}

/// What a node's `/status` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Last committed height.
    pub height: u64,
    /// Its block hash (hex).
    pub block_hash: String,
    /// State root after it (hex).
    pub state_root: String,
}

/// One node process.
#[derive(Debug)]
pub struct NodeProcess {
    /// Its home directory.
    pub home: PathBuf,
    /// Its metrics/status endpoint.
    pub metrics: SocketAddr,
    /// Its gRPC endpoint.
    pub rpc: SocketAddr,
    child: Option<Child>,
    /// Extra environment variables it is started with.
    env: Vec<(String, String)>,
    /// The attacks it runs (`test-node --byzantine`), if any.
    byzantine: Option<String>,
    /// Milliseconds its clock is ahead (negative: behind) of the machine's.
    clock_offset_ms: i64,
    /// The disk fault it runs with, if any.
    disk_fault: Option<DiskFault>,
    /// The chance in a hundred of each disorder (`test-node --disorder`), if any.
    disorder: Option<u8>,
}

/// A disk fault a node runs with (`test-node`), from its next (re)start on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskFault {
    /// No file it writes may grow past this many bytes (`--max-file-bytes`): a write past it
    /// fails as on a full disk.
    Full {
        /// The largest file, in bytes.
        max_file_bytes: u64,
    },
    /// Every fsync and fdatasync fails with EIO once this file exists (`--fail-fsync-when`).
    FsyncFailsWhen(PathBuf),
}

/// A running local consortium.
#[derive(Debug)]
pub struct ProcessCluster {
    /// The nodes, in validator order.
    pub nodes: Vec<NodeProcess>,
    dir: tempfile::TempDir,
    /// Whether nodes log every consensus statement they sign (see [`ProcessCluster::signed_log`]).
    log_signed: bool,
    /// The links every pair of nodes talks through, for a partitionable cluster.
    proxy: Option<Proxy>,
}

impl ProcessCluster {
    /// Creates homes for `n` validators and starts them all.
    pub fn start(n: usize) -> ProcessCluster {
        ProcessCluster::start_with(n, |config| config.to_string())
    }

    /// Like [`ProcessCluster::start`], with each node's `config.toml` rewritten by `edit`
    /// before it starts (e.g. to lower a limit).
    pub fn start_with(n: usize, edit: impl Fn(&str) -> String) -> ProcessCluster {
        ProcessCluster::launch(n, edit, false)
    }

    fn launch(n: usize, edit: impl Fn(&str) -> String, log_signed: bool) -> ProcessCluster {
        let mut cluster = ProcessCluster::create(n, edit, log_signed);
        for i in 0..n {
            cluster.restart(i);
        }
        cluster
    }

    /// Like [`ProcessCluster::start`], with every connection between two nodes running through
    /// a [`Proxy`] link: node i dials node j at link i→j (`[network] peer_addresses`), never at
    /// j's own address, so [`ProcessCluster::partition`] can cut any pair.
    pub fn start_partitionable(n: usize) -> ProcessCluster {
        ProcessCluster::partitionable(n, false)
    }

    /// [`ProcessCluster::start_partitionable`] with every node logging what it signs, as
    /// [`ProcessCluster::start_logging_signed`] does.
    pub fn start_partitionable_logging_signed(n: usize) -> ProcessCluster {
        ProcessCluster::partitionable(n, true)
    }

    fn partitionable(n: usize, log_signed: bool) -> ProcessCluster {
        let mut cluster = ProcessCluster::create(n, str::to_string, log_signed);
        let targets: Vec<SocketAddr> = (0..n)
            .map(|i| socket_address_of(&cluster.p2p_address(i)))
            .collect();
        let proxy = Proxy::start(&targets).expect("start the partition proxy on 127.0.0.2");
        let keys: Vec<String> = (0..n).map(|i| cluster.node_key(i).to_hex()).collect();
        for i in 0..n {
            let overrides: Vec<String> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let port = proxy.link(i, j).address().port();
                    format!("\"{}\" = \"/ip4/{PROXY_HOST}/tcp/{port}\"", keys[j])
                })
                .collect();
            let path = cluster.nodes[i].home.join("config.toml");
            let config = std::fs::read_to_string(&path).expect("node config");
            assert!(
                config.contains(PEER_ADDRESSES_DEFAULT),
                "node{i}'s config.toml has no `{PEER_ADDRESSES_DEFAULT}` line to replace"
            );
            let routed = config.replace(
                PEER_ADDRESSES_DEFAULT,
                &format!("peer_addresses = {{ {} }}", overrides.join(", ")),
            );
            std::fs::write(&path, routed).expect("write node config");
        }
        cluster.proxy = Some(proxy);
        for i in 0..n {
            cluster.restart(i);
        }
        cluster
    }

    /// Cuts every connection between nodes of different `groups` (each node in exactly one),
    /// and refuses new ones until [`ProcessCluster::heal`] or another partition.
    ///
    /// # Panics
    /// If the cluster was not started with [`ProcessCluster::start_partitionable`].
    pub fn partition(&self, groups: &[&[usize]]) {
        self.proxy().partition(groups);
    }

    /// Lets every pair of nodes connect again.
    pub fn heal(&self) {
        self.proxy().heal();
    }

    /// The links between the nodes of a partitionable cluster (their counters).
    ///
    /// # Panics
    /// If the cluster was not started with [`ProcessCluster::start_partitionable`].
    pub fn proxy(&self) -> &Proxy {
        self.proxy
            .as_ref()
            .expect("a partitionable cluster: start it with ProcessCluster::start_partitionable")
    }

    /// Homes for `n` validators, with `edit` applied to each config; no node runs yet.
    fn create(n: usize, edit: impl Fn(&str) -> String, log_signed: bool) -> ProcessCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("devnet");
        let output = Command::new(cassia_binary())
            .args([
                "devnet",
                "--init-only",
                "--block-interval-ms",
                "100",
                "--host",
                &loopback_host().to_string(),
                "--nodes",
                &n.to_string(),
                "--home",
            ])
            .arg(&root)
            .output()
            .expect("run cassia devnet --init-only");
        assert!(
            output.status.success(),
            "devnet init failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let nodes = (0..n)
            .map(|i| {
                let home = root.join(format!("node{i}"));
                let config_path = home.join("config.toml");
                let config = std::fs::read_to_string(&config_path).expect("node config");
                std::fs::write(&config_path, edit(&config)).expect("write node config");
                let metrics = read_listen_address(&home, "[metrics]");
                let rpc = read_listen_address(&home, "[rpc]");
                NodeProcess {
                    home,
                    metrics,
                    rpc,
                    child: None,
                    env: Vec::new(),
                    byzantine: None,
                    clock_offset_ms: 0,
                    disk_fault: None,
                    disorder: None,
                }
            })
            .collect();
        ProcessCluster {
            nodes,
            dir,
            log_signed,
            proxy: None,
        }
    }

    /// Like [`ProcessCluster::start`], with every node logging each consensus statement it
    /// signs to [`ProcessCluster::signed_log`] (for equivocation checks): every node runs as
    /// `test-node --signed-log`.
    pub fn start_logging_signed(n: usize) -> ProcessCluster {
        ProcessCluster::launch(n, |config| config.to_string(), true)
    }

    /// The file node `i` logs its signed consensus statements to.
    pub fn signed_log(&self, i: usize) -> PathBuf {
        self.nodes[i].home.join("signed.log")
    }

    /// The cluster's genesis, as `cassia devnet` wrote it.
    pub fn genesis(&self) -> cassia_ledger::Genesis {
        let path = self.root().join("devnet/genesis.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()))
    }

    /// Starts a node whose key is not in the genesis (an outsider) and returns its index. It
    /// dials the validators like any node; they must refuse it.
    pub fn start_outsider(&mut self) -> usize {
        let home = self.root().join("outsider");
        let genesis = self.root().join("devnet/genesis.json");
        let output = Command::new(cassia_binary())
            .args(["init", "--home"])
            .arg(&home)
            .arg("--genesis")
            .arg(&genesis)
            .output()
            .expect("run cassia init");
        assert!(
            output.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let host = loopback_host();
        let ports = free_ports(host, 3);
        let metrics = SocketAddr::from((host, ports[0]));
        let rpc = SocketAddr::from((host, ports[1]));
        let config = std::fs::read_to_string(home.join("config.toml"))
            .expect("config")
            .replace(
                "/ip4/0.0.0.0/tcp/7100",
                &format!("/ip4/{host}/tcp/{}", ports[2]),
            )
            .replace("127.0.0.1:7300", &metrics.to_string())
            .replace("127.0.0.1:7200", &rpc.to_string());
        std::fs::write(home.join("config.toml"), config).expect("write config");
        self.nodes.push(NodeProcess {
            home,
            metrics,
            rpc,
            child: None,
            env: Vec::new(),
            byzantine: None,
            clock_offset_ms: 0,
            disk_fault: None,
            disorder: None,
        });
        let index = self.nodes.len() - 1;
        self.restart(index);
        index
    }

    /// Node `i`'s node key (its consensus identity and PeerId).
    pub fn node_key(&self, i: usize) -> cassia_crypto::PublicKey {
        cassia_crypto::keyfile::read_public(&self.nodes[i].home.join("keys/node.key"))
            .expect("node key")
            .1
    }

    /// Node `i`'s libp2p listen address, as its config states it.
    pub fn p2p_address(&self, i: usize) -> String {
        let config =
            std::fs::read_to_string(self.nodes[i].home.join("config.toml")).expect("config.toml");
        let section = config.split("[network]").nth(1).expect("network section");
        let line = section
            .lines()
            .find(|l| l.starts_with("listen"))
            .expect("listen setting");
        line.split('"').nth(1).expect("quoted address").to_string()
    }

    /// The gRPC endpoint URL of node `i`.
    pub fn endpoint(&self, i: usize) -> String {
        format!("http://{}", self.nodes[i].rpc)
    }

    /// The account key of organization `org`'s admin in the devnet.
    pub fn admin_key(&self, org: usize) -> cassia_crypto::Keypair {
        cassia_crypto::keyfile::read(
            &self.root().join(format!("devnet/org{org}-admin.key")),
            None,
        )
        .expect("admin key")
        .1
    }

    /// The temporary directory holding every home.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Starts node `i` (again): `cassia node`, or the `test-node` binary when the node needs
    /// an interceptor (a signed-statement log, or attacks set by
    /// [`ProcessCluster::set_byzantine`]).
    pub fn restart(&mut self, i: usize) {
        let log_signed = self.log_signed;
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {i} is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.home.join("node.log"))
            .expect("log file");
        let test_node = log_signed
            || node.byzantine.is_some()
            || node.clock_offset_ms != 0
            || node.disk_fault.is_some()
            || node.disorder.is_some();
        let mut command = if test_node {
            let mut command = Command::new(test_node_binary());
            command.arg("--home").arg(&node.home);
            if log_signed {
                command
                    .arg("--signed-log")
                    .arg(node.home.join("signed.log"));
            }
            if let Some(attacks) = &node.byzantine {
                command.args(["--byzantine", attacks]);
            }
            if node.clock_offset_ms != 0 {
                command.args(["--clock-offset-ms", &node.clock_offset_ms.to_string()]);
            }
            match &node.disk_fault {
                Some(DiskFault::Full { max_file_bytes }) => {
                    command.args(["--max-file-bytes", &max_file_bytes.to_string()]);
                }
                Some(DiskFault::FsyncFailsWhen(trigger)) => {
                    command.arg("--fail-fsync-when").arg(trigger);
                }
                None => {}
            }
            if let Some(percent) = node.disorder {
                command.args(["--disorder", &percent.to_string()]);
            }
            command
        } else {
            let mut command = Command::new(cassia_binary());
            command.args(["node", "--home"]).arg(&node.home);
            command
        };
        let child = command
            .envs(node.env.iter().map(|(name, value)| (name, value)))
            .env(
                "RUST_LOG",
                std::env::var("CASSIA_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn node{i} ({:?}): {e}", command.get_program()));
        node.child = Some(child);
    }

    /// SIGKILL node `i`: it keeps only what it had made durable.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM node `i` and wait (bounded) for it to exit cleanly; returns whether it did.
    pub fn stop(&mut self, i: usize) -> bool {
        let Some(mut child) = self.nodes[i].child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Makes node `i` attack the others with `attacks` (a `test-node --byzantine` list, e.g.
    /// `"all"`), or not with `None`, from its next (re)start on.
    pub fn set_byzantine(&mut self, i: usize, attacks: Option<&str>) {
        self.nodes[i].byzantine = attacks.map(str::to_string);
    }

    /// Moves node `i`'s clock `offset_ms` ahead of the machine's (behind if negative) from its
    /// next (re)start on (`test-node --clock-offset-ms`).
    pub fn set_clock_offset(&mut self, i: usize, offset_ms: i64) {
        self.nodes[i].clock_offset_ms = offset_ms;
    }

    /// Runs node `i` with `fault` (`None`: a sound disk) from its next (re)start on.
    pub fn set_disk_fault(&mut self, i: usize, fault: Option<DiskFault>) {
        self.nodes[i].disk_fault = fault;
    }

    /// Has node `i`'s consensus messages held back, duplicated and replayed late, each with a
    /// chance of `percent` in a hundred (`None`: delivered as signed), from its next (re)start
    /// on (`test-node --disorder`, [`crate::disorder`]).
    pub fn set_disorder(&mut self, i: usize, percent: Option<u8>) {
        self.nodes[i].disorder = percent;
    }

    /// Sets the environment variable `name=value` for node `i` from its next (re)start on.
    pub fn set_env(&mut self, i: usize, name: &str, value: &str) {
        let env = &mut self.nodes[i].env;
        env.retain(|(known, _)| known != name);
        env.push((name.to_string(), value.to_string()));
    }

    /// Node `i`'s log so far (its stderr).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].home.join("node.log")).unwrap_or_default()
    }

    /// Whether node `i`'s process has exited (it was started and is no longer running).
    pub fn exited(&mut self, i: usize) -> bool {
        self.nodes[i]
            .child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))))
    }

    /// Node `i`'s status, if it answers.
    pub fn status(&self, i: usize) -> Option<Status> {
        status_of(self.nodes[i].metrics)
    }

    /// Block hash and state root node `i` committed at `height` (if recent and committed).
    pub fn commit_at(&self, i: usize, height: u64) -> Option<Status> {
        parse_status(&http_get(
            self.nodes[i].metrics,
            &format!("/status?height={height}"),
        )?)
    }

    /// Runs `cassia` with `args` against node `i`'s gRPC endpoint, signing with the first
    /// organization's admin key; returns stdout, or panics with stderr.
    pub fn client(&self, i: usize, args: &[&str]) -> String {
        let endpoint = format!("http://{}", self.nodes[i].rpc);
        let key = self.root().join("devnet/org0-admin.key");
        let mut command = Command::new(cassia_binary());
        command.args(args).arg("--endpoint").arg(&endpoint);
        if args.first() == Some(&"tx") {
            command.arg("--key").arg(&key);
        }
        let output = command.output().expect("run cassia client command");
        assert!(
            output.status.success(),
            "cassia {args:?} against node{i} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// An unlabelled counter or gauge from node `i`'s `/metrics`.
    ///
    /// # Panics
    /// If node `i` does not answer `/metrics`, or its text has no `name` line or an unparseable
    /// value (naming the node and the metric): a check must never pass on a reading that was
    /// not taken, as it would if absence read as 0.
    pub fn metric(&self, i: usize, name: &str) -> u64 {
        let text = self.metrics(i).unwrap_or_else(|| {
            panic!(
                "node{i} does not answer /metrics (wanted {name}); logs in {}",
                self.root().display()
            )
        });
        metric_value(&text, name).unwrap_or_else(|problem| panic!("node{i}: {problem}"))
    }

    /// Node `i`'s `/metrics` text, if it answers.
    pub fn metrics(&self, i: usize) -> Option<String> {
        http_get(self.nodes[i].metrics, "/metrics")
    }

    /// Waits until every node in `which` has committed `height`, or panics naming who did not.
    pub fn wait_for_height(&self, which: &[usize], height: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let heights: Vec<Option<u64>> = which
                .iter()
                .map(|&i| self.status(i).map(|s| s.height))
                .collect();
            if heights.iter().all(|h| h.is_some_and(|h| h >= height)) {
                return;
            }
            if Instant::now() > deadline {
                let report: Vec<String> = which
                    .iter()
                    .zip(&heights)
                    .map(|(i, h)| format!("node{i}: {h:?}"))
                    .collect();
                panic!(
                    "within {timeout:?} not every node reached height {height}: {}; logs in {}",
                    report.join(", "),
                    self.root().display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The committed height of node `i`, or panics if it does not answer within 10 s.
    pub fn height(&self, i: usize) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.status(i) {
                return status.height;
            }
            assert!(Instant::now() < deadline, "node{i} does not answer /status");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        // A failed test shows the end of every node's log: the directory is deleted next.
        if std::thread::panicking() {
            for (i, node) in self.nodes.iter().enumerate() {
                let log = std::fs::read_to_string(node.home.join("node.log")).unwrap_or_default();
                // Per-block commit lines would crowd out what went wrong.
                let lines: Vec<&str> = log
                    .lines()
                    .filter(|line| !line.contains("committed height="))
                    .collect();
                let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
                eprintln!(
                    "---- node{i} log (last {} lines but commits) ----",
                    tail.len()
                );
                for line in tail {
                    eprintln!("{line}");
                }
            }
        }
    }
}

/// Log lines of each node shown when a cluster test fails.
const LOG_TAIL_LINES: usize = 25;

/// The `[network] peer_addresses` line `cassia init` and `cassia devnet` write.
const PEER_ADDRESSES_DEFAULT: &str = "peer_addresses = {}";

/// `/ip4/A/tcp/P` as a socket address.
///
/// # Panics
/// For any other form (the devnet writes only this one).
fn socket_address_of(multiaddr: &str) -> SocketAddr {
    match multiaddr.split('/').collect::<Vec<_>>()[..] {
        ["", "ip4", ip, "tcp", port] => format!("{ip}:{port}")
            .parse()
            .unwrap_or_else(|e| panic!("{multiaddr}: {e}")),
        _ => panic!("{multiaddr} is not /ip4/A/tcp/P"),
    }
}

/// A loopback address for one consortium (or outsider) of this process: 127.0.0.3 to
/// 127.0.0.254 in turn, starting at a place set by the process id.
///
/// Why not 127.0.0.1: a node's ports are chosen free, released, and bound only when the node
/// starts (again after each restart). Every outgoing connection on this machine leaves from
/// 127.0.0.1 with an ephemeral port, and one of those once took a port chosen for a node that
/// had not started yet ("Address already in use"). On an address of its own no connection's
/// source can, and clusters running side by side cannot choose each other's ports.
/// 127.0.0.2 is the partition proxy's ([`PROXY_HOST`]).
pub fn loopback_host() -> Ipv4Addr {
    const FIRST: u32 = 3;
    const COUNT: u32 = 254 - FIRST + 1;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let turn = NEXT.fetch_add(1, Ordering::Relaxed);
    let last_octet = FIRST + std::process::id().wrapping_add(turn) % COUNT;
    Ipv4Addr::new(127, 0, 0, u8::try_from(last_octet).expect("at most 254"))
}

/// `n` distinct ports that are free on `host` now (all held until all are chosen).
pub fn free_ports(host: Ipv4Addr, n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind((host, 0)).expect("bind an ephemeral port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound address").port())
        .collect()
}

/// The `listen = "..."` address of `section` (e.g. `[rpc]`) in a home's config.toml.
fn read_listen_address(home: &Path, section: &str) -> SocketAddr {
    let config = std::fs::read_to_string(home.join("config.toml")).expect("config.toml");
    let section = config.split(section).nth(1).expect("config section");
    let line = section
        .lines()
        .find(|l| l.starts_with("listen"))
        .expect("listen setting");
    line.split('"')
        .nth(1)
        .expect("quoted address")
        .parse()
        .expect("socket address")
}

fn status_of(address: SocketAddr) -> Option<Status> {
    parse_status(&http_get(address, "/status")?)
}

fn parse_status(body: &str) -> Option<Status> {
    let field = |name: &str| -> Option<String> {
        let start = body.find(&format!("\"{name}\":"))? + name.len() + 3;
        let rest = body[start..].trim_start_matches('"');
        Some(
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect(),
        )
    };
    Some(Status {
        height: field("height")?.parse().ok()?,
        block_hash: field("block_hash")?,
        state_root: field("state_root")?,
    })
}

/// The value of the unlabelled metric `name` in a Prometheus text, or what is wrong with it.
pub fn metric_value(text: &str, name: &str) -> Result<u64, String> {
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .ok_or_else(|| format!("metric {name} is absent from /metrics"))?;
    value
        .trim()
        .parse()
        .map_err(|e| format!("metric {name} has an unparseable value {value:?}: {e}"))
}

/// A bounded HTTP GET on loopback; `None` if the node does not answer.
pub fn http_get(address: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n").as_bytes())
        .ok()?;
    let mut text = String::new();
    stream.take(4 << 20).read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

#[cfg(test)]
mod tests {
    use super::metric_value;

    const TEXT: &str = "# TYPE cassia_view gauge\ncassia_view 4\ncassia_view_changes_total 2\n\
                        process_peak_resident_memory_bytes 126853120\n";

    #[test]
    fn a_present_metric_is_read_by_its_exact_name() {
        assert_eq!(metric_value(TEXT, "cassia_view"), Ok(4));
        assert_eq!(metric_value(TEXT, "cassia_view_changes_total"), Ok(2));
    }

    #[test]
    fn an_absent_metric_is_an_error_naming_it_not_zero() {
        let without_peak = TEXT.replace("process_peak_resident_memory_bytes 126853120\n", "");
        assert_eq!(
            metric_value(&without_peak, "process_peak_resident_memory_bytes"),
            Err("metric process_peak_resident_memory_bytes is absent from /metrics".into())
        );
        let garbled = TEXT.replace("cassia_view 4", "cassia_view four");
        let error = metric_value(&garbled, "cassia_view").expect_err("four is not a number");
        assert!(
            error.starts_with("metric cassia_view has an unparseable value"),
            "{error}"
        );
    }
}
