//! Prometheus metrics and health, served over plain HTTP at `[metrics] listen`.
//!
//! `GET /metrics` returns the text exposition format; `GET /health` returns `ok` while the node
//! runs; `GET /status` returns the committed tip as JSON
//! (`{"height":7,"block_hash":"..","state_root":"..","view":0,"peers":3}`), and
//! `GET /status?height=H` the block hash and state root this node committed at `H`. The server reads at most [`MAX_REQUEST_BYTES`] of a request and serves at most
//! [`MAX_CONNECTIONS`] connections at once (more wait in the kernel's backlog), so a scraper
//! cannot grow the node's memory.
//!
//! Besides Cassia's own metrics, `/metrics` carries the standard Prometheus process metrics,
//! read from `/proc/self` at each scrape (Linux only; elsewhere they are left out):
//! `process_cpu_seconds_total` (user + system time, `/proc/self/stat` fields 14 and 15, in
//! clock ticks of [`CLOCK_TICKS_PER_SECOND`]), `process_resident_memory_bytes` (`VmRSS`) and
//! `process_peak_resident_memory_bytes` (`VmHWM`, from `/proc/self/status`). `cassia bench`
//! scrapes them to report each node's CPU time and peak memory under load.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Bytes of an HTTP request read before answering (the request line is all that matters).
pub const MAX_REQUEST_BYTES: usize = 4096;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// Recent commits remembered for `/status?height=H` (older ones are forgotten first).
pub const RECENT_COMMITS: usize = 4096;
/// Upper bounds (seconds) of the commit latency histogram's buckets.
pub const LATENCY_BUCKETS_SECONDS: [f64; 10] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Clock ticks per second of the CPU times in `/proc/self/stat` (`USER_HZ`). Linux fixes it at
/// 100 on every architecture Cassia runs on (x86_64, aarch64); reading `sysconf(_SC_CLK_TCK)`
/// would need `libc` for a constant that does not vary.
pub const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// The node's metrics. Updated by the runtime, read by the HTTP server.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Last committed height.
    pub height: AtomicU64,
    /// Current view of the replica.
    pub view: AtomicU64,
    /// View changes started.
    pub view_changes: AtomicU64,
    /// Proposals this node validated and found invalid (it voted for none of them).
    pub invalid_proposals: AtomicU64,
    /// Blocks committed since start.
    pub commits: AtomicU64,
    /// Transactions committed since start.
    pub committed_transactions: AtomicU64,
    /// Pending transactions.
    pub mempool_size: AtomicU64,
    /// Connected member peers.
    pub peers: AtomicU64,
    /// Connections refused because the peer is not a member.
    pub refused_connections: AtomicU64,
    /// Connections refused because a connection limit was reached.
    pub limited_connections: AtomicU64,
    /// Gossip ignored because its author was over its per-topic budget.
    pub rate_limited_gossip: AtomicU64,
    /// Rejected peer messages by reason (consensus drops, gossip rejections, bad transactions).
    pub rejected: Mutex<BTreeMap<String, u64>>,
    /// Commit latency histogram: counts per bucket of [`LATENCY_BUCKETS_SECONDS`], then +Inf.
    latency_buckets: [AtomicU64; 11],
    latency_sum_micros: AtomicU64,
    /// The committed tip's block hash and state root, for `/status`.
    tip: Mutex<(cassia_crypto::Hash, cassia_crypto::Hash)>,
    /// Block hash and state root of the last [`RECENT_COMMITS`] heights committed since start.
    recent: Mutex<BTreeMap<u64, (cassia_crypto::Hash, cassia_crypto::Hash)>>,
}

impl Metrics {
    /// Records how long a height took from its start to its commit.
    pub fn observe_commit_latency(&self, seconds: f64) {
        let bucket = LATENCY_BUCKETS_SECONDS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(LATENCY_BUCKETS_SECONDS.len());
        self.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        // Float-to-int `as` saturates: a negative or NaN latency counts as 0, a huge one as
        // u64::MAX microseconds; neither can occur from a monotonic clock.
        #[allow(
            clippy::cast_possible_truncation,
            reason = "saturating by definition, see above"
        )]
        let micros = (seconds * 1e6) as u64;
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Records the committed tip.
    pub fn set_tip(
        &self,
        height: u64,
        block_hash: cassia_crypto::Hash,
        state_root: cassia_crypto::Hash,
    ) {
        if let Ok(mut tip) = self.tip.lock() {
            *tip = (block_hash, state_root);
        }
        if let Ok(mut recent) = self.recent.lock() {
            recent.insert(height, (block_hash, state_root));
            while recent.len() > RECENT_COMMITS {
                recent.pop_first();
            }
        }
        self.height.store(height, Ordering::Relaxed);
    }

    /// The committed tip: height, block hash, state root.
    pub fn tip(&self) -> (u64, cassia_crypto::Hash, cassia_crypto::Hash) {
        let (block_hash, state_root) = self.tip.lock().map(|t| *t).unwrap_or_default();
        (self.height.load(Ordering::Relaxed), block_hash, state_root)
    }

    /// Block hash and state root at `height`, if committed recently (JSON), for comparing nodes.
    pub fn commit_json(&self, height: u64) -> Option<String> {
        let (block_hash, state_root) = *self.recent.lock().ok()?.get(&height)?;
        Some(format!(
            "{{\"height\":{height},\"block_hash\":\"{block_hash}\",\"state_root\":\"{state_root}\"}}\n"
        ))
    }

    /// The `/status` JSON document.
    pub fn status_json(&self) -> String {
        let (block_hash, state_root) = self.tip.lock().map(|t| *t).unwrap_or_default();
        format!(
            "{{\"height\":{},\"block_hash\":\"{block_hash}\",\"state_root\":\"{state_root}\",\"view\":{},\"peers\":{}}}\n",
            self.height.load(Ordering::Relaxed),
            self.view.load(Ordering::Relaxed),
            self.peers.load(Ordering::Relaxed)
        )
    }

    /// Replaces the rejected-message counters (the runtime owns the authoritative counts).
    pub fn set_rejected(&self, counts: BTreeMap<String, u64>) {
        if let Ok(mut slot) = self.rejected.lock() {
            *slot = counts;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauges: [(&str, &str, &str, &AtomicU64); 11] = [
            (
                "cassia_height",
                "gauge",
                "Last committed block height.",
                &self.height,
            ),
            (
                "cassia_view",
                "gauge",
                "Current consensus view.",
                &self.view,
            ),
            (
                "cassia_view_changes_total",
                "counter",
                "View changes started.",
                &self.view_changes,
            ),
            (
                "cassia_invalid_proposals_total",
                "counter",
                "Proposals found invalid (bad timestamp, wrong leader, roots that do not match...).",
                &self.invalid_proposals,
            ),
            (
                "cassia_commits_total",
                "counter",
                "Blocks committed since start.",
                &self.commits,
            ),
            (
                "cassia_committed_transactions_total",
                "counter",
                "Transactions committed since start.",
                &self.committed_transactions,
            ),
            (
                "cassia_mempool_size",
                "gauge",
                "Pending transactions.",
                &self.mempool_size,
            ),
            (
                "cassia_peers",
                "gauge",
                "Connected member peers.",
                &self.peers,
            ),
            (
                "cassia_refused_connections_total",
                "counter",
                "Connections refused: peer not a member.",
                &self.refused_connections,
            ),
            (
                "cassia_limited_connections_total",
                "counter",
                "Connections refused: a connection limit (handshakes, dials, per peer, total) was reached.",
                &self.limited_connections,
            ),
            (
                "cassia_gossip_rate_limited_total",
                "counter",
                "Gossip messages ignored (not relayed): their author was over its per-topic budget.",
                &self.rate_limited_gossip,
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP cassia_rejected_messages_total Rejected peer messages by reason."
        );
        let _ = writeln!(out, "# TYPE cassia_rejected_messages_total counter");
        if let Ok(rejected) = self.rejected.lock() {
            for (reason, count) in rejected.iter() {
                let _ = writeln!(
                    out,
                    "cassia_rejected_messages_total{{reason=\"{reason}\"}} {count}"
                );
            }
        }
        self.render_latency(&mut out);
        render_process(&mut out);
        out
    }

    fn render_latency(&self, out: &mut String) {
        let name = "cassia_commit_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from the start of a height to its commit.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (index, bucket) in self.latency_buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let bound = LATENCY_BUCKETS_SECONDS
                .get(index)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

/// User plus system CPU seconds this process has used so far (`None` where `/proc` is not).
pub fn process_cpu_seconds() -> Option<f64> {
    cpu_seconds_from_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Appends the standard process metrics, when `/proc/self` can be read.
fn render_process(out: &mut String) {
    if let Some(seconds) = process_cpu_seconds() {
        let name = "process_cpu_seconds_total";
        let _ = writeln!(
            out,
            "# HELP {name} Total user and system CPU time spent in seconds.\n# TYPE {name} counter\n{name} {seconds}"
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let memory = [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            "VmRSS:",
        ),
        (
            "process_peak_resident_memory_bytes",
            "Peak resident memory size in bytes (high-water mark).",
            "VmHWM:",
        ),
    ];
    for (name, help, field) in memory {
        if let Some(bytes) = status_bytes(&status, field) {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {bytes}"
            );
        }
    }
}

/// User plus system CPU seconds from the text of `/proc/<pid>/stat`. The command name (field 2)
/// is in parentheses and may hold spaces, so fields are counted after the last `)`: there,
/// index 0 is field 3 (state), so utime (field 14) is index 11 and stime (field 15) index 12.
fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    let (_, fields) = stat.rsplit_once(')')?;
    let mut fields = fields.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user.saturating_add(system) as f64 / CLOCK_TICKS_PER_SECOND)
}

/// A `kB` field of `/proc/<pid>/status` (e.g. `VmRSS:     1234 kB`), in bytes.
fn status_bytes(status: &str, field: &str) -> Option<u64> {
    let value = status.lines().find_map(|line| line.strip_prefix(field))?;
    let kibibytes: u64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
    kibibytes.checked_mul(1024)
}

/// Serves `/metrics` and `/health` on `address` until the task is dropped. Returns the bound
/// address (useful with port 0).
pub async fn serve(address: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let _ = answer(stream, &metrics).await;
                drop(permit);
            });
        }
    });
    Ok(bound)
}

async fn answer(mut stream: tokio::net::TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut buffer = vec![0u8; MAX_REQUEST_BYTES];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .map_err(|_| std::io::Error::other("request timed out"))??;
    let request = String::from_utf8_lossy(&buffer[..read]);
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match path {
        "/metrics" => ("200 OK", metrics.render()),
        "/health" => ("200 OK", "ok\n".to_string()),
        "/status" => ("200 OK", metrics.status_json()),
        _ if path.starts_with("/status?height=") => {
            let height = path.trim_start_matches("/status?height=").parse().ok();
            match height.and_then(|h| metrics.commit_json(h)) {
                Some(body) => ("200 OK", body),
                None => (
                    "404 Not Found",
                    "height not committed recently by this node\n".to_string(),
                ),
            }
        }
        _ => (
            "404 Not Found",
            "not found; try /metrics or /health\n".to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_metric() {
        let metrics = Metrics::default();
        metrics.height.store(7, Ordering::Relaxed);
        metrics.observe_commit_latency(0.3);
        metrics.set_rejected(BTreeMap::from([("bad_signature".to_string(), 2)]));
        let text = metrics.render();
        for needle in [
            "cassia_height 7",
            "cassia_view ",
            "cassia_view_changes_total ",
            "cassia_mempool_size ",
            "cassia_peers ",
            "cassia_rejected_messages_total{reason=\"bad_signature\"} 2",
            "cassia_commit_latency_seconds_bucket{le=\"0.5\"} 1",
            "cassia_commit_latency_seconds_count 1",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn process_metrics_are_parsed_from_proc_texts() {
        // The command name may hold spaces and parentheses; utime 250 and stime 50 ticks.
        let stat =
            "4242 (cassia (node) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0";
        assert_eq!(cpu_seconds_from_stat(stat), Some(3.0));
        assert_eq!(cpu_seconds_from_stat("garbage"), None);
        let status = "Name:\tcassia\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        assert_eq!(status_bytes(status, "VmRSS:"), Some(100 * 1024 * 1024));
        assert_eq!(status_bytes(status, "VmHWM:"), Some(200 * 1024 * 1024));
        assert_eq!(status_bytes(status, "VmSwap:"), None);
    }

    #[test]
    fn exposition_has_process_metrics_on_linux() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let text = Metrics::default().render();
        for needle in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_peak_resident_memory_bytes ",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }
}
