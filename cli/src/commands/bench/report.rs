//! The report of a run: latency percentiles, throughput, the nodes' and this machine's CPU
//! and memory, printed for people and serialised as JSON.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cassia_api::Client;
use cassia_crypto::Hash;
use serde::Serialize;

use super::Bench;
use super::load::{BlockStats, Tally, lock};

/// What `committed_tps` means, written into the report.
const COMMITTED_TPS_DEFINITION: &str = "transactions of this run seen committed / seconds from \
    the first submission to the last commit seen (run, then drain while acknowledged \
    transactions are pending)";
/// What the latencies mean, written into the report.
const LATENCY_DEFINITION: &str = "arrival of the committing block at the watcher (first \
    endpoint, SubscribeBlocks) minus the instant Submit was called; nearest-rank percentiles";

/// A node's process metrics at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct ProcessSample {
    cpu_seconds: f64,
    peak_rss_bytes: u64,
}

/// Scrapes every metrics URL (off the async threads: plain blocking HTTP).
pub(super) async fn scrape_all(urls: &[String]) -> Vec<Result<ProcessSample, String>> {
    let urls = urls.to_vec();
    tokio::task::spawn_blocking(move || {
        urls.iter()
            .map(|url| scrape_process(url).map_err(|e| format!("{e:#}")))
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// `GET`s a node's `/metrics` and reads its process metrics.
pub(super) fn scrape_process(url: &str) -> Result<ProcessSample> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("metrics URL {url} must start with http://"))?;
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/metrics"), |i| rest.split_at(i));
    let address = authority
        .to_socket_addrs()
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .with_context(|| format!("{authority} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))
        .with_context(|| format!("connecting to {url}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nhost: {authority}\r\n\r\n").as_bytes())?;
    let mut text = String::new();
    stream
        .take(4 << 20)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {url}"))?;
    parse_process_sample(&text).with_context(|| {
        format!("{url} has no process_cpu_seconds_total or process_peak_resident_memory_bytes")
    })
}

/// The process metrics in a Prometheus text exposition (headers before it are ignored).
pub(super) fn parse_process_sample(text: &str) -> Option<ProcessSample> {
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .map(str::trim)
    };
    Some(ProcessSample {
        cpu_seconds: value("process_cpu_seconds_total")?.parse().ok()?,
        peak_rss_bytes: value("process_peak_resident_memory_bytes")?.parse().ok()?,
    })
}

/// One node's resource use over the run.
#[derive(Debug, Serialize)]
pub(super) struct NodeUsage {
    endpoint: String,
    metrics: String,
    cpu_seconds: Option<f64>,
    peak_rss_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub(super) fn node_usage(
    endpoints: &[String],
    urls: &[String],
    start: &[Result<ProcessSample, String>],
    end: &[Result<ProcessSample, String>],
) -> Vec<NodeUsage> {
    urls.iter()
        .enumerate()
        .map(|(i, url)| {
            let (start, end) = (start.get(i).cloned(), end.get(i).cloned());
            let mut usage = NodeUsage {
                endpoint: endpoints.get(i).cloned().unwrap_or_default(),
                metrics: url.clone(),
                cpu_seconds: None,
                peak_rss_bytes: None,
                error: None,
            };
            match (start, end) {
                (Some(Ok(start)), Some(Ok(end))) => {
                    usage.cpu_seconds = Some(end.cpu_seconds - start.cpu_seconds);
                    usage.peak_rss_bytes = Some(end.peak_rss_bytes);
                }
                (Some(Err(e)), _) | (_, Some(Err(e))) => usage.error = Some(e),
                _ => usage.error = Some("not scraped".into()),
            }
            usage
        })
        .collect()
}

/// Latency percentiles, milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub(super) struct LatencySummary {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

impl LatencySummary {
    /// Summarises latencies given in microseconds (sorted here).
    pub(super) fn from_micros(mut micros: Vec<u64>) -> Option<LatencySummary> {
        micros.sort_unstable();
        let millis = |per_mille| percentile(&micros, per_mille).map(|m| m as f64 / 1000.0);
        Some(LatencySummary {
            p50: millis(500)?,
            p95: millis(950)?,
            p99: millis(990)?,
            max: millis(1000)?,
        })
    }
}

/// The receipts of a sample of this run's committed transactions, read back from a node: a
/// transaction that commits with a failed receipt (e.g. refused by a permission check at
/// execution) counts as committed above, so this says whether the load did what it meant to.
#[derive(Debug, Default, Serialize)]
pub(super) struct ReceiptCheck {
    sampled: usize,
    failed: usize,
    unreadable: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_problem: Option<String>,
}

/// Reads the receipts of `ids` through `client`.
pub(super) async fn check_receipts(client: &mut Client, ids: &[Hash]) -> ReceiptCheck {
    let mut check = ReceiptCheck {
        sampled: ids.len(),
        ..ReceiptCheck::default()
    };
    for id in ids {
        match client.receipt(id).await {
            Ok(committed) => {
                if let Some(failure) = committed.receipt.failure {
                    check.failed += 1;
                    check
                        .first_problem
                        .get_or_insert(format!("transaction {id} failed: {failure}"));
                }
            }
            Err(error) => {
                check.unreadable += 1;
                check
                    .first_problem
                    .get_or_insert(format!("reading the receipt of {id}: {error}"));
            }
        }
    }
    check
}

/// This machine's CPU time at one instant (Linux `/proc`; `None` elsewhere).
#[derive(Clone, Copy, Debug)]
pub(super) struct HostSample {
    at: Instant,
    /// Busy CPU seconds of all processes on all CPUs.
    busy_seconds: f64,
    /// CPU seconds of this process (the load generator).
    own_seconds: f64,
}

impl HostSample {
    /// Samples now.
    pub(super) fn now() -> Option<HostSample> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        Some(HostSample {
            at: Instant::now(),
            busy_seconds: busy_seconds_from_proc_stat(&stat)?,
            own_seconds: cassia_node::metrics::process_cpu_seconds()?,
        })
    }
}

/// Busy CPU seconds of all CPUs from the `cpu` line of `/proc/stat` (user, nice, system, idle,
/// iowait, irq, softirq, steal, in clock ticks): everything but idle and iowait.
fn busy_seconds_from_proc_stat(stat: &str) -> Option<f64> {
    let line = stat.lines().find_map(|line| line.strip_prefix("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| ticks.get(i).copied())
        .sum::<Option<u64>>()?;
    Some(busy as f64 / cassia_node::metrics::CLOCK_TICKS_PER_SECOND)
}

/// This machine's CPU use between the clock's start and the end of the drain: with the nodes
/// on the same machine, `other_cpu_seconds` is what unrelated processes took.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(super) struct MachineUsage {
    cpus: usize,
    wall_seconds: f64,
    busy_cpu_seconds: f64,
    load_generator_cpu_seconds: f64,
    nodes_cpu_seconds: f64,
    other_cpu_seconds: f64,
}

impl MachineUsage {
    pub(super) fn between(start: HostSample, end: HostSample, nodes: &[NodeUsage]) -> Self {
        let busy_cpu_seconds = end.busy_seconds - start.busy_seconds;
        let load_generator_cpu_seconds = end.own_seconds - start.own_seconds;
        let nodes_cpu_seconds = nodes.iter().filter_map(|n| n.cpu_seconds).sum::<f64>();
        MachineUsage {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            wall_seconds: end.at.duration_since(start.at).as_secs_f64(),
            busy_cpu_seconds,
            load_generator_cpu_seconds,
            nodes_cpu_seconds,
            other_cpu_seconds: (busy_cpu_seconds - load_generator_cpu_seconds - nodes_cpu_seconds)
                .max(0.0),
        }
    }
}

/// The nearest-rank percentile of `sorted` (ascending): the smallest value with at least
/// `per_mille / 1000` of the values at or below it. `None` for no values.
pub(super) fn percentile(sorted: &[u64], per_mille: u64) -> Option<u64> {
    let count = sorted.len() as u64;
    let rank = (count * per_mille.min(1000)).div_ceil(1000).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// The result of a run, printed and written as JSON.
#[derive(Debug, Serialize)]
pub(super) struct Report {
    command: String,
    mode: &'static str,
    rate: Option<u32>,
    in_flight_per_endpoint: Option<usize>,
    duration_s: f64,
    endpoints: Vec<String>,
    tx_bytes: usize,
    submitted: u64,
    acknowledged: u64,
    committed: u64,
    pending_at_end: usize,
    signed_during_run: u64,
    offered_tps: f64,
    committed_tps: f64,
    committed_tps_definition: &'static str,
    commit_window_s: f64,
    latency_ms: Option<LatencySummary>,
    latency_definition: &'static str,
    rejected: BTreeMap<String, u64>,
    blocks: BlockStats,
    block_interval_ms_mean: Option<f64>,
    receipts: ReceiptCheck,
    nodes: Vec<NodeUsage>,
    machine: Option<MachineUsage>,
}

/// What [`Report::new`] takes besides the bench settings and the tally.
pub(super) struct Measured {
    pub(super) tx_bytes: usize,
    pub(super) receipts: ReceiptCheck,
    pub(super) nodes: Vec<NodeUsage>,
    pub(super) machine: Option<MachineUsage>,
}

impl Report {
    pub(super) fn new(bench: &Bench, tally: &Tally, measured: Measured) -> Report {
        let outcome = std::mem::take(&mut *lock(&tally.outcome));
        let committed = tally.committed.load(Ordering::Relaxed);
        let submitted = tally.submitted.load(Ordering::Relaxed);
        let window = match (tally.first_submission.get(), outcome.last_commit) {
            (Some(first), Some(last)) => last.saturating_duration_since(*first),
            _ => Duration::ZERO,
        };
        let blocks = outcome.blocks;
        let block_interval_ms_mean = match (blocks.first_arrival, blocks.last_arrival) {
            (Some(first), Some(last)) if blocks.count > 1 => {
                Some((last - first).as_secs_f64() * 1000.0 / (blocks.count - 1) as f64)
            }
            _ => None,
        };
        Report {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            mode: if bench.rate.is_some() {
                "open loop"
            } else {
                "closed loop"
            },
            rate: bench.rate,
            in_flight_per_endpoint: bench.rate.is_none().then_some(bench.in_flight),
            duration_s: bench.duration.as_secs_f64(),
            endpoints: bench.endpoint.clone(),
            tx_bytes: measured.tx_bytes,
            submitted,
            acknowledged: tally.acknowledged.load(Ordering::Relaxed),
            committed,
            pending_at_end: tally.pending(),
            signed_during_run: tally.signed_during_run.load(Ordering::Relaxed),
            offered_tps: submitted as f64 / bench.duration.as_secs_f64(),
            committed_tps: committed as f64 / window.as_secs_f64().max(1e-3),
            committed_tps_definition: COMMITTED_TPS_DEFINITION,
            commit_window_s: window.as_secs_f64(),
            latency_ms: LatencySummary::from_micros(outcome.latencies_micros),
            latency_definition: LATENCY_DEFINITION,
            rejected: outcome.rejected,
            blocks,
            block_interval_ms_mean,
            receipts: measured.receipts,
            nodes: measured.nodes,
            machine: measured.machine,
        }
    }

    pub(super) fn print(&self) {
        let load = match self.rate {
            Some(rate) => format!("open loop at {rate} tx/s"),
            None => format!(
                "closed loop, at most {} uncommitted per endpoint",
                self.in_flight_per_endpoint.unwrap_or_default()
            ),
        };
        println!(
            "cassia bench: {load}, {} endpoints, {:.1} s, {}-byte Notarize transactions",
            self.endpoints.len(),
            self.duration_s,
            self.tx_bytes
        );
        println!(
            "submitted {}  acknowledged {}  committed {}  pending at end {}  signed during run {}",
            self.submitted,
            self.acknowledged,
            self.committed,
            self.pending_at_end,
            self.signed_during_run
        );
        println!(
            "offered {:.1} tx/s; committed {:.1} tx/s over {:.1} s ({COMMITTED_TPS_DEFINITION})",
            self.offered_tps, self.committed_tps, self.commit_window_s
        );
        match &self.latency_ms {
            Some(l) => println!(
                "latency ms: p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1} ({LATENCY_DEFINITION})",
                l.p50, l.p95, l.p99, l.max
            ),
            None => println!("latency: no transaction of this run was seen committed"),
        }
        println!(
            "blocks: {} seen, {} transactions, at most {} in one, mean interval {}",
            self.blocks.count,
            self.blocks.transactions,
            self.blocks.max_transactions,
            self.block_interval_ms_mean
                .map_or("-".into(), |ms| format!("{ms:.0} ms"))
        );
        let rejected: Vec<String> = self
            .rejected
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "rejected: {}",
            if rejected.is_empty() {
                "none".into()
            } else {
                rejected.join(", ")
            }
        );
        self.print_receipts();
        for node in &self.nodes {
            match (node.cpu_seconds, node.peak_rss_bytes) {
                (Some(cpu), Some(rss)) => println!(
                    "node {}: cpu {cpu:.1} s, peak rss {:.1} MiB",
                    node.endpoint,
                    rss as f64 / (1024.0 * 1024.0)
                ),
                _ => println!(
                    "node {}: {}",
                    node.endpoint,
                    node.error.as_deref().unwrap_or("no process metrics")
                ),
            }
        }
        self.print_machine();
    }

    fn print_receipts(&self) {
        let check = &self.receipts;
        println!(
            "receipts: {} of this run's first commits read back, {} failed, {} unreadable",
            check.sampled, check.failed, check.unreadable
        );
        if let Some(problem) = &check.first_problem {
            eprintln!("warning: {problem}");
        }
    }

    fn print_machine(&self) {
        if let Some(m) = &self.machine {
            println!(
                "this machine: {} CPUs x {:.1} s; busy {:.1} CPU s: nodes {:.1}, load generator {:.1}, other processes {:.1}",
                m.cpus,
                m.wall_seconds,
                m.busy_cpu_seconds,
                m.nodes_cpu_seconds,
                m.load_generator_cpu_seconds,
                m.other_cpu_seconds
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 500), Some(50));
        assert_eq!(percentile(&values, 950), Some(95));
        assert_eq!(percentile(&values, 990), Some(99));
        assert_eq!(percentile(&values, 1000), Some(100));
        assert_eq!(percentile(&values, 0), Some(1));
        assert_eq!(percentile(&[7], 990), Some(7));
        assert_eq!(percentile(&[], 500), None);
        // Three values: the median is the second, p95 and p99 the third.
        assert_eq!(percentile(&[10, 20, 30], 500), Some(20));
        assert_eq!(percentile(&[10, 20, 30], 950), Some(30));
    }

    #[test]
    fn latency_summary_sorts_and_converts_to_milliseconds() {
        let micros = vec![4_000, 1_000, 3_000, 2_000];
        let summary = LatencySummary::from_micros(micros).expect("four samples");
        assert_eq!(
            summary,
            LatencySummary {
                p50: 2.0,
                p95: 4.0,
                p99: 4.0,
                max: 4.0
            }
        );
        assert_eq!(LatencySummary::from_micros(Vec::new()), None);
    }

    #[test]
    fn process_metrics_are_read_from_the_exposition() {
        let text = "HTTP/1.1 200 OK\r\n\r\n# HELP process_cpu_seconds_total x\n\
                    process_cpu_seconds_total 12.5\nprocess_resident_memory_bytes 100\n\
                    process_peak_resident_memory_bytes 2048\n";
        assert_eq!(
            parse_process_sample(text),
            Some(ProcessSample {
                cpu_seconds: 12.5,
                peak_rss_bytes: 2048
            })
        );
        assert_eq!(parse_process_sample("cassia_height 3\n"), None);
    }

    #[test]
    fn busy_time_leaves_out_idle_and_iowait() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let stat = "cpu  100 20 30 5000 400 5 5 40 0 0\ncpu0 50 10 15 2500 200 2 3 20 0 0\n";
        assert_eq!(busy_seconds_from_proc_stat(stat), Some(2.0));
        assert_eq!(busy_seconds_from_proc_stat("intr 1 2 3\n"), None);
    }
}
