//! `cassia devnet`: a local consortium in one command.
//!
//! Creates (or, if `HOME/genesis.json` exists, reuses) N validator homes under `HOME`, one
//! organization per validator, with keys, an approved genesis and configs on free loopback
//! ports; runs `cassia node` for each; prints their addresses and the heights they commit;
//! stops them all on Ctrl-C.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cassia_crypto::Keypair;
use cassia_crypto::keyfile::{self, KeyKind};
use cassia_ledger::{Genesis, Organization, Parameters, Validator};
use cassia_node::config::DEFAULT_CONFIG_TOML;

use crate::files;

/// Run a local consortium.
#[derive(Debug, clap::Args)]
pub struct Devnet {
    /// Number of validators (1 for development, 4 or more to tolerate a fault).
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Directory holding the node homes.
    #[arg(long, value_name = "DIR", default_value = "devnet")]
    home: PathBuf,
    /// Target milliseconds between blocks.
    #[arg(long, default_value_t = 200)]
    block_interval_ms: u64,
    /// Only create the homes; do not run the nodes.
    #[arg(long)]
    init_only: bool,
    /// Loopback address every node listens on. Test harnesses give each consortium its own
    /// (127.0.0.3, 127.0.0.4, ...): outgoing connections leave from 127.0.0.1, so no
    /// connection's ephemeral port can take a port chosen for a node that has not bound it yet.
    #[arg(long, default_value = "127.0.0.1")]
    host: Ipv4Addr,
}

/// One node home of the devnet.
struct Home {
    dir: PathBuf,
    metrics: SocketAddr,
    rpc: SocketAddr,
    p2p: String,
}

impl Devnet {
    /// Creates or reuses the homes, then runs the nodes until Ctrl-C.
    pub fn execute(self) -> Result<()> {
        if self.nodes == 0 || self.nodes > 64 {
            bail!("--nodes must be between 1 and 64");
        }
        if !self.host.is_loopback() {
            bail!(
                "--host {} is not a loopback address: a devnet listens on 127.0.0.0/8 only",
                self.host
            );
        }
        let homes = if self.home.join("genesis.json").exists() {
            println!("reusing the devnet in {}", self.home.display());
            existing_homes(&self.home)?
        } else {
            self.create()?
        };
        if self.init_only {
            return Ok(());
        }
        run_nodes(&homes)
    }

    fn create(&self) -> Result<Vec<Home>> {
        std::fs::create_dir_all(&self.home)
            .with_context(|| format!("creating {}", self.home.display()))?;
        let parameters = Parameters {
            block_interval_ms: self.block_interval_ms,
            ..Parameters::default()
        };
        let admins: Vec<Keypair> = (0..self.nodes)
            .map(|_| Keypair::try_generate())
            .collect::<Result<_, _>>()?;
        let nodes: Vec<Keypair> = (0..self.nodes)
            .map(|_| Keypair::try_generate())
            .collect::<Result<_, _>>()?;
        // Every port at once, so that no two of this devnet's listeners get the same one.
        let host = self.host;
        let ports = free_ports(host, 3 * self.nodes)?;
        let (p2p_ports, rest) = ports.split_at(self.nodes);
        let (metrics_ports, rpc_ports) = rest.split_at(self.nodes);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        let mut genesis = Genesis {
            chain_id: "cassia-devnet".into(),
            genesis_time_ms: u64::try_from(now.as_millis())?,
            organizations: (0..self.nodes)
                .map(|i| Organization {
                    id: format!("org{i}"),
                    name: format!("Organization {i}"),
                    admins: vec![admins[i].public()],
                })
                .collect(),
            validators: (0..self.nodes)
                .map(|i| Validator {
                    name: format!("node{i}"),
                    organization: format!("org{i}"),
                    node_key: nodes[i].public(),
                    p2p_address: format!("/ip4/{host}/tcp/{}", p2p_ports[i]),
                })
                .collect(),
            parameters,
            approvals: Vec::new(),
        };
        for (i, admin) in admins.iter().enumerate() {
            genesis.approve(&format!("org{i}"), admin)?;
        }
        genesis.verify()?;
        files::write_genesis(&self.home.join("genesis.json"), &genesis)?;
        for (i, key) in nodes.iter().enumerate() {
            let dir = self.home.join(format!("node{i}"));
            let metrics = SocketAddr::from((host, metrics_ports[i]));
            let rpc = SocketAddr::from((host, rpc_ports[i]));
            let p2p = format!("/ip4/{host}/tcp/{}", p2p_ports[i]);
            write_home(&dir, &genesis, key, &p2p, metrics, rpc)?;
            keyfile::write(
                &self.home.join(format!("org{i}-admin.key")),
                KeyKind::Account,
                &admins[i],
                None,
            )?;
        }
        println!(
            "created {} validator homes in {}",
            self.nodes,
            self.home.display()
        );
        existing_homes(&self.home)
    }
}

fn write_home(
    dir: &Path,
    genesis: &Genesis,
    key: &Keypair,
    p2p: &str,
    metrics: SocketAddr,
    rpc: SocketAddr,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.join("keys"))?;
    std::fs::set_permissions(dir.join("keys"), std::fs::Permissions::from_mode(0o700))?;
    std::fs::create_dir_all(dir.join("data"))?;
    keyfile::write(&dir.join("keys/node.key"), KeyKind::Node, key, None)?;
    files::write_genesis(&dir.join("genesis.json"), genesis)?;
    let config = DEFAULT_CONFIG_TOML
        .replace(
            "listen = \"/ip4/0.0.0.0/tcp/7100\"",
            &format!("listen = \"{p2p}\""),
        )
        .replace(
            "listen = \"127.0.0.1:7300\"",
            &format!("listen = \"{metrics}\""),
        )
        .replace(
            "listen = \"127.0.0.1:7200\"",
            &format!("listen = \"{rpc}\""),
        );
    std::fs::write(dir.join("config.toml"), config)?;
    Ok(())
}

fn existing_homes(root: &Path) -> Result<Vec<Home>> {
    let mut homes = Vec::new();
    for i in 0.. {
        let dir = root.join(format!("node{i}"));
        if !dir.exists() {
            break;
        }
        let config = cassia_node::config::Config::load(&dir)?;
        homes.push(Home {
            dir,
            metrics: config.metrics_listen,
            rpc: config.rpc_listen,
            p2p: config.p2p_listen,
        });
    }
    if homes.is_empty() {
        bail!("{} has a genesis.json but no node0/ home", root.display());
    }
    Ok(homes)
}

/// `n` distinct ports the kernel says are free on `host` now (the nodes bind them moments
/// later). All are held until all are chosen, so none is handed out twice.
pub fn free_ports(host: Ipv4Addr, n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| {
            TcpListener::bind((host, 0)).with_context(|| format!("finding a free port on {host}"))
        })
        .collect::<Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

fn run_nodes(homes: &[Home]) -> Result<()> {
    let executable = std::env::current_exe().context("locating the cassia binary")?;
    let mut children: Vec<Child> = Vec::new();
    for home in homes {
        let log = std::fs::File::create(home.dir.join("node.log"))?;
        let child = Command::new(&executable)
            .args(["node", "--home"])
            .arg(&home.dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting the node in {}", home.dir.display()))?;
        println!(
            "{}: p2p {}  grpc http://{}  metrics http://{}/metrics  log {}",
            home.dir.display(),
            home.p2p,
            home.rpc,
            home.metrics,
            home.dir.join("node.log").display()
        );
        children.push(child);
    }
    println!("running; Ctrl-C stops every node");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let flag = std::sync::Arc::clone(&stop);
    runtime.spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let mut last = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        runtime.block_on(async { tokio::time::sleep(Duration::from_millis(500)).await });
        let heights: Vec<String> = homes
            .iter()
            .map(|h| scrape_height(h.metrics).map_or("-".into(), |v| v.to_string()))
            .collect();
        if heights != last {
            println!("committed heights: [{}]", heights.join(", "));
            last = heights;
        }
        for (child, home) in children.iter_mut().zip(homes) {
            if let Ok(Some(status)) = child.try_wait() {
                eprintln!(
                    "{} exited ({status}); see {}",
                    home.dir.display(),
                    home.dir.join("node.log").display()
                );
            }
        }
    }
    stop_all(&mut children);
    Ok(())
}

/// SIGTERM every node, wait up to 10 s, then SIGKILL what is left.
fn stop_all(children: &mut [Child]) {
    for child in children.iter() {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    for child in children.iter_mut() {
        for _ in 0..100 {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    println!("all nodes stopped");
}

/// The `cassia_height` a node's metrics endpoint reports.
pub fn scrape_height(address: SocketAddr) -> Option<u64> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(300)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.take(1 << 20).read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("cassia_height "))
        .and_then(|v| v.trim().parse().ok())
}
