//! `test-node`: a real Cassia node for the fault suite, which watches or bends it through
//! cassia-node's interceptor seam. It does what `cassia node --home DIR` does (the same
//! `config.toml`, logging to stderr under `RUST_LOG`, two worker threads, a clean stop on SIGINT
//! or SIGTERM), with interceptors chosen by flags:
//!
//! ```text
//! test-node --home DIR [--signed-log FILE] [--byzantine LIST] [--seed N] [--clock-offset-ms MS]
//!           [--max-file-bytes N] [--fail-fsync-when FILE] [--disorder PERCENT]
//! ```
//!
//! - `--signed-log FILE`: append one line per consensus statement the node signs
//!   (`cassia_tests::signed_log`); the node does not start if FILE cannot be opened.
//! - `--byzantine LIST`: attack the other validators (`cassia_tests::byzantine::attacker`);
//!   LIST is `all` or some of `equivocate,double-vote,garbage,oversized,future,flood`.
//! - `--seed N`: the attacks' and the disorder's random choices (default: from the node key).
//! - `--clock-offset-ms MS`: the node's wall clock runs MS milliseconds ahead of the machine's
//!   (behind if negative): block timestamps and the clock-drift check use it.
//! - `--max-file-bytes N`: no file this process writes may grow past N bytes: a write beyond
//!   fails as on a full disk ([`disk_faults`]). The store's first failed write stops the node.
//! - `--fail-fsync-when FILE`: once FILE exists, every fsync and fdatasync fails with EIO
//!   ([`disk_faults`]).
//! - `--disorder PERCENT`: the node's consensus messages are held back (reordered), published
//!   twice, and published again late, each with that chance (`cassia_tests::disorder`).
//!
//! Built with the crate's other binaries (`cargo build -p cassia-tests --bin test-node`;
//! `cargo test -p cassia-tests` builds it before the tests); the harness finds it next to the
//! `cassia` binary, or at `$CASSIA_TEST_NODE_BIN`.

mod disk_faults;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cassia_node::config::Config;
use cassia_node::interceptor::{Interceptor, NoInterceptor};
use cassia_node::start;
use cassia_tests::byzantine::attacker::{self, Attacker, Mode};
use cassia_tests::disorder::Disorder;
use cassia_tests::signed_log::SignedLog;

const USAGE: &str = "usage: test-node --home DIR [--signed-log FILE] [--byzantine LIST] [--seed N] \
                     [--clock-offset-ms MS] [--max-file-bytes N] [--fail-fsync-when FILE] \
                     [--disorder PERCENT]";

/// The command line.
struct Args {
    home: PathBuf,
    signed_log: Option<PathBuf>,
    byzantine: Option<Mode>,
    seed: Option<u64>,
    clock_offset_ms: i64,
    max_file_bytes: Option<u64>,
    fail_fsync_when: Option<PathBuf>,
    disorder: Option<u8>,
}

/// Skews the node's clock; changes nothing else.
struct SkewedClock(i64);

impl Interceptor for SkewedClock {
    fn clock_offset_ms(&self) -> i64 {
        self.0
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = parse_args(std::env::args().skip(1))?;
    let mut config = Config::load(&args.home)?;
    start::init_logging(&config.log_level);
    if let Some(bytes) = args.max_file_bytes {
        disk_faults::limit_file_size(bytes)?;
    }
    if let Some(trigger) = &args.fail_fsync_when {
        disk_faults::fail_fsync_when(trigger.clone())?;
    }
    let attacker = attacker_for(&args, &mut config)?;
    let signed_log: Box<dyn Interceptor> =
        match &args.signed_log {
            Some(path) => Box::new(SignedLog::open(path).with_context(|| {
                format!("cannot open the signed-statement log {}", path.display())
            })?),
            None => Box::new(NoInterceptor),
        };
    // The attacker first: its twins pass through the log, so they are logged as signed.
    if args.clock_offset_ms != 0 {
        tracing::warn!(
            offset_ms = args.clock_offset_ms,
            "this node's clock is skewed (--clock-offset-ms); cassia-tests test-node only"
        );
    }
    // After the log: the copies it publishes are of statements signed (and logged) once.
    let disorder: Box<dyn Interceptor> = match args.disorder {
        Some(percent) => {
            let seed = seed_for(&args, &config)?;
            tracing::warn!(
                percent,
                seed,
                "this node's consensus messages are held back, duplicated and replayed late \
                 (--disorder); cassia-tests test-node only"
            );
            Box::new(Disorder::new(percent, seed))
        }
        None => Box::new(NoInterceptor),
    };
    let interceptor = Box::new((
        attacker,
        (signed_log, (disorder, SkewedClock(args.clock_offset_ms))),
    ));
    start::run_until_signal(config, None, interceptor)?;
    Ok(())
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args> {
    let (mut home, mut signed_log, mut byzantine, mut seed) = (None, None, None, None);
    let mut clock_offset_ms = 0;
    let (mut max_file_bytes, mut fail_fsync_when, mut disorder) = (None, None, None);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            bail!("{flag} needs a value\n{USAGE}");
        };
        match flag.as_str() {
            "--home" => home = Some(PathBuf::from(value)),
            "--signed-log" => signed_log = Some(PathBuf::from(value)),
            "--byzantine" => byzantine = Some(Mode::parse(&value)?),
            "--seed" => {
                seed = Some(value.parse().with_context(|| {
                    format!("--seed {value:?}: not a number between 0 and 2^64 - 1")
                })?);
            }
            "--max-file-bytes" => {
                max_file_bytes = Some(value.parse().with_context(|| {
                    format!("--max-file-bytes {value:?}: not a number of bytes")
                })?);
            }
            "--fail-fsync-when" => fail_fsync_when = Some(PathBuf::from(value)),
            "--disorder" => {
                disorder = Some(
                    value
                        .parse::<u8>()
                        .ok()
                        .filter(|percent| *percent <= 100)
                        .with_context(|| {
                            format!("--disorder {value:?}: not a percentage from 0 to 100")
                        })?,
                );
            }
            "--clock-offset-ms" => {
                clock_offset_ms = value.parse().with_context(|| {
                    format!("--clock-offset-ms {value:?}: not a whole number of milliseconds")
                })?;
            }
            _ => bail!("unknown argument {flag:?}\n{USAGE}"),
        }
    }
    let Some(home) = home else {
        bail!("--home is required\n{USAGE}");
    };
    if seed.is_some() && byzantine.is_none() {
        bail!("--seed seeds the attacks of --byzantine, which is not given");
    }
    Ok(Args {
        home,
        signed_log,
        byzantine,
        seed,
        clock_offset_ms,
        max_file_bytes,
        fail_fsync_when,
        disorder,
    })
}

/// The attacker `--byzantine` asks for, announced loudly (else one that changes nothing). With
/// `oversized` the node's own message cap is doubled, so it can send and answer what honest
/// nodes, at the configured cap, refuse.
fn attacker_for(args: &Args, config: &mut Config) -> Result<Box<dyn Interceptor>> {
    let Some(mode) = &args.byzantine else {
        return Ok(Box::new(NoInterceptor));
    };
    let seed = seed_for(args, config)?;
    tracing::warn!(
        "BYZANTINE MODE ON (--byzantine {}, seed {seed}): this node attacks its peers; \
         cassia-tests test-node only",
        mode.names()
    );
    let honest = config.max_message_bytes;
    config.max_message_bytes = mode.own_message_cap(honest);
    Ok(Box::new(Attacker::new(mode.clone(), honest, seed)))
}

/// The seed of the random choices: `--seed`, else one derived from the node key.
fn seed_for(args: &Args, config: &Config) -> Result<u64> {
    if let Some(seed) = args.seed {
        return Ok(seed);
    }
    let (_, key) = cassia_crypto::keyfile::read_public(&config.key_file)
        .with_context(|| format!("node key {}", config.key_file.display()))?;
    Ok(attacker::seed_of(&key))
}
