//! `cassia bench`: a load generator for a running consortium.
//!
//! It signs `Notarize` transactions with one account key before the clock starts (so signing
//! is not measured), spreads them over every `--endpoint` through gRPC `Submit`, and follows
//! the committed blocks of the first endpoint (`SubscribeBlocks`, headers only: they carry the
//! transaction ids) to see when each one commits.
//!
//! Two ways to offer load:
//!
//! - **open loop** (`--rate TPS`): transaction `k` is submitted at `k / rate` seconds, paced in
//!   1 ms steps, round-robin over the endpoints, whether or not earlier ones were answered (at
//!   most [`load::MAX_OPEN_LOOP_IN_FLIGHT`] unanswered per endpoint; past that the generator waits,
//!   and `submitted` falls short of `rate × duration`);
//! - **closed loop** (no `--rate`): per endpoint, `--in-flight` transactions submitted and not
//!   yet seen committed; each commit (or refusal) lets the next one go at once: as fast as the
//!   chain commits, with a bounded queue (so latency is the chain's, not a backlog's).
//!
//! What it reports (and writes with `--json`):
//!
//! - **committed TPS** = transactions of this run seen committed / time from the first
//!   submission to the last commit seen. Commits are watched during the run and afterwards for
//!   up to `--drain-secs` while acknowledged transactions are still pending;
//! - **latency** = arrival of the committing block at the watcher − the instant just before
//!   `Submit` was called (p50, p95, p99, max; nearest-rank percentiles);
//! - **rejected**: refused submissions by gRPC status code (`connect` when unreachable);
//! - **per node** (with `--metrics`): CPU seconds (`process_cpu_seconds_total`, end − start)
//!   and peak resident memory (`process_peak_resident_memory_bytes` at the end), scraped from
//!   each node's `/metrics` before the clock starts and after the drain;
//! - **this machine**: busy CPU seconds of all processes (`/proc/stat`) and the load
//!   generator's own, so that on a shared machine the nodes' share can be told apart.
//!
//! [`load`] signs and offers the transactions and tallies what happens to them; [`report`]
//! turns the tally into the report.

mod load;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cassia_api::Client;
use cassia_crypto::Keypair;
use cassia_crypto::keyfile::KeyKind;
use tokio::sync::mpsc;

use crate::files::{self, PassphraseArgs};
use load::{Prepared, Signer, Tally};
use report::{HostSample, MachineUsage, Measured, Report};

/// Most in-flight submissions per endpoint accepted for `--in-flight`.
pub const MAX_IN_FLIGHT: usize = 4096;
/// Most pre-signed transactions held at once (about 400 bytes each in memory).
pub const MAX_POOL: usize = 2_000_000;

/// Benchmark a running consortium.
#[derive(Debug, clap::Args)]
pub struct Bench {
    /// gRPC endpoints of the nodes (several values or repeated); submissions are spread over
    /// all of them, commits are watched on the first.
    #[arg(long, value_name = "URL", num_args = 1.., required = true)]
    endpoint: Vec<String>,
    /// The nodes' metrics URLs in the same order (e.g. http://127.0.0.1:7300/metrics), scraped
    /// before and after the run for CPU seconds and peak resident memory.
    #[arg(long, value_name = "URL", num_args = 1..)]
    metrics: Vec<String>,
    /// The signer's account key file (e.g. an organization admin key, devnet/org0-admin.key).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(flatten)]
    passphrase: PassphraseArgs,
    /// Offered load in transactions per second (open loop). Without it: closed loop, as fast
    /// as the chain accepts.
    #[arg(long, value_name = "TPS")]
    rate: Option<u32>,
    /// How long to offer load: seconds, or with a unit (500ms, 20s, 2m).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    duration: Duration,
    /// Closed loop: transactions per endpoint submitted and not yet seen committed.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Closed loop: transactions signed before the clock starts; when used up, a thread signs
    /// more during the run (reported as `signed_during_run`).
    #[arg(long, default_value_t = 100_000)]
    pool: usize,
    /// Encoded size of each signed transaction, bytes (reached by padding the metadata).
    #[arg(long, default_value_t = 200)]
    tx_bytes: usize,
    /// After the run, longest wait for acknowledged transactions to commit, seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    drain_secs: u64,
    /// Write the result as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

impl Bench {
    /// Runs the benchmark and prints (and optionally writes) its report.
    pub fn execute(self) -> Result<()> {
        self.check()?;
        let key = files::read_key(&self.key, &self.passphrase, KeyKind::Account)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let report = runtime.block_on(self.run(key))?;
        report.print();
        if let Some(path) = &self.json {
            let text = serde_json::to_string_pretty(&report).context("serialising the report")?;
            std::fs::write(path, text + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }

    fn check(&self) -> Result<()> {
        if !self.metrics.is_empty() && self.metrics.len() != self.endpoint.len() {
            bail!(
                "give one --metrics URL per --endpoint, in the same order ({} endpoints, {} metrics URLs)",
                self.endpoint.len(),
                self.metrics.len()
            );
        }
        if self.rate == Some(0) {
            bail!("--rate must be positive (leave it out for a closed loop)");
        }
        if self.in_flight == 0 || self.in_flight > MAX_IN_FLIGHT {
            bail!("--in-flight must be between 1 and {MAX_IN_FLIGHT}");
        }
        if self.duration.is_zero() {
            bail!("--duration must be positive");
        }
        self.pool_size().map(|_| ())
    }

    /// Transactions signed before the clock starts.
    fn pool_size(&self) -> Result<usize> {
        let size = match self.rate {
            Some(rate) => {
                let millis = u128::from(rate) * self.duration.as_millis();
                usize::try_from(millis.div_ceil(1000)).unwrap_or(usize::MAX)
            }
            None => self.pool,
        };
        if size == 0 || size > MAX_POOL {
            bail!(
                "the run needs {size} pre-signed transactions; the limit is 1..={MAX_POOL} \
                 (lower --rate, --duration or --pool)"
            );
        }
        Ok(size)
    }

    async fn run(&self, key: Keypair) -> Result<Report> {
        let clients = connect_all(&self.endpoint).await?;
        let mut watcher_client = Client::connect(&self.endpoint[0]).await?;
        let status = watcher_client.status().await?;
        let signer = Signer::new(key, (status.chain_id, status.genesis), self.tx_bytes)?;
        let tally = Arc::new(Tally::new(status.height));
        let (pool, refill) = self.fill_pool(&signer, &tally)?;
        let mut reader = clients[0].clone();
        let usage_start = report::scrape_all(&self.metrics).await;
        let mut watcher = tokio::spawn(load::watch_commits(
            watcher_client,
            status.height.saturating_add(1),
            Arc::clone(&tally),
        ));
        let host_start = HostSample::now();
        tally.start();
        self.offer(clients, pool, &tally, &mut watcher).await?;
        self.drain(&tally, &mut watcher).await?;
        watcher.abort();
        if let Some(thread) = refill {
            // The pool was dropped with the load, so the thread is returning.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let host_end = HostSample::now();
        let usage_end = report::scrape_all(&self.metrics).await;
        let nodes = report::node_usage(&self.endpoint, &self.metrics, &usage_start, &usage_end);
        let machine = host_start
            .zip(host_end)
            .map(|(start, end)| MachineUsage::between(start, end, &nodes));
        let sample = std::mem::take(&mut load::lock(&tally.outcome).receipt_sample);
        let measured = Measured {
            tx_bytes: signer.tx_bytes,
            receipts: report::check_receipts(&mut reader, &sample).await,
            nodes,
            machine,
        };
        Ok(Report::new(self, &tally, measured))
    }

    /// Signs the pre-signed pool; in closed loop, starts the thread that refills it.
    fn fill_pool(
        &self,
        signer: &Signer,
        tally: &Arc<Tally>,
    ) -> Result<(mpsc::Receiver<Prepared>, Option<JoinHandle<()>>)> {
        let size = self.pool_size()?;
        eprintln!(
            "signing {size} transactions of {} bytes...",
            signer.tx_bytes
        );
        let valid_until = tally.height.load(Ordering::Relaxed) + load::TTL_BLOCKS;
        let (sender, receiver) = mpsc::channel(size);
        for prepared in signer.sign_many(0, size, valid_until) {
            sender
                .try_send(prepared)
                .context("the pool channel holds the whole pool")?;
        }
        let refill = self.rate.is_none().then(|| {
            let (signer, tally) = (signer.clone(), Arc::clone(tally));
            let first = u64::try_from(size).unwrap_or(u64::MAX);
            std::thread::spawn(move || load::refill_pool(&signer, first, &sender, &tally))
        });
        Ok((receiver, refill))
    }

    /// Offers load for `--duration`, printing progress each second, and waits for the last
    /// submissions to be answered.
    async fn offer(
        &self,
        clients: Vec<Client>,
        pool: mpsc::Receiver<Prepared>,
        tally: &Arc<Tally>,
        watcher: &mut tokio::task::JoinHandle<Result<()>>,
    ) -> Result<()> {
        let deadline = tally.start() + self.duration;
        let load = match self.rate {
            Some(rate) => tokio::spawn(load::offer_open_loop(
                clients,
                pool,
                rate,
                deadline,
                Arc::clone(tally),
            )),
            None => tokio::spawn(load::offer_closed_loop(
                clients,
                pool,
                self.in_flight,
                deadline,
                Arc::clone(tally),
            )),
        };
        let mut progress = Progress::default();
        while !load.is_finished() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            check_watcher(watcher).await?;
            progress.print(tally, "");
        }
        load.await.context("the load task failed")
    }

    /// Waits up to `--drain-secs` for acknowledged transactions still pending to commit.
    async fn drain(
        &self,
        tally: &Tally,
        watcher: &mut tokio::task::JoinHandle<Result<()>>,
    ) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(self.drain_secs);
        let mut progress = Progress::default();
        while tally.pending() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            check_watcher(watcher).await?;
            progress.print_every_second(tally, " (draining)");
        }
        Ok(())
    }
}

/// Fails, saying why, if the block watcher stopped (then commits would go unseen).
async fn check_watcher(watcher: &mut tokio::task::JoinHandle<Result<()>>) -> Result<()> {
    if !watcher.is_finished() {
        return Ok(());
    }
    let why = match watcher.await {
        Ok(Ok(())) => "the node closed the stream".to_string(),
        Ok(Err(error)) => format!("{error:#}"),
        Err(error) => error.to_string(),
    };
    bail!(
        "the block subscription on the first endpoint ended ({why}); commits can no longer be seen"
    )
}

/// `20`, `20s`, `500ms`, `2m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 20, 20s, 500ms or 2m"))?;
    match text.strip_prefix(digits).unwrap_or_default() {
        "" | "s" => Ok(Duration::from_secs(number)),
        "ms" => Ok(Duration::from_millis(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        unit => Err(format!("unknown unit {unit:?}: use ms, s or m")),
    }
}

async fn connect_all(endpoints: &[String]) -> Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        clients.push(Client::connect(endpoint).await?);
    }
    Ok(clients)
}

/// The one-line-per-second progress report on stderr.
#[derive(Default)]
struct Progress {
    last_committed: u64,
    last_print: Option<Instant>,
}

impl Progress {
    fn print(&mut self, tally: &Tally, note: &str) {
        let now = Instant::now();
        let committed = tally.committed.load(Ordering::Relaxed);
        let seconds = self
            .last_print
            .map_or(now - tally.start(), |last| now - last)
            .as_secs_f64();
        let current = (committed - self.last_committed) as f64 / seconds.max(1e-3);
        eprintln!(
            "[{:>4.0}s] offered {:>8}  acknowledged {:>8}  committed {:>8}  tps {current:>7.0}  height {}{note}",
            (now - tally.start()).as_secs_f64(),
            tally.submitted.load(Ordering::Relaxed),
            tally.acknowledged.load(Ordering::Relaxed),
            committed,
            tally.height.load(Ordering::Relaxed),
        );
        self.last_committed = committed;
        self.last_print = Some(now);
    }

    fn print_every_second(&mut self, tally: &Tally, note: &str) {
        if self
            .last_print
            .is_none_or(|last| last.elapsed() >= Duration::from_secs(1))
        {
            self.print(tally, note);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("20"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
