//! `test-node`: a real Cassia node for the fault suite, which watches or bends it through
//! cassia-node's interceptor seam. It does what `cassia node --home DIR` does (the same
//! `config.toml`, logging to stderr under `RUST_LOG`, two worker threads, a clean stop on SIGINT
//! or SIGTERM), with interceptors chosen by flags:
//!
//! ```text
//! test-node --home DIR [--signed-log FILE] [--byzantine LIST] [--seed N] [--clock-offset-ms MS]
//! ```
//!
//! - `--signed-log FILE`: append one line per consensus statement the node signs
//!   (`cassia_tests::signed_log`); the node does not start if FILE cannot be opened.
//! - `--byzantine LIST`: attack the other validators (`cassia_tests::byzantine::attacker`);
//!   LIST is `all` or some of `equivocate,double-vote,garbage,oversized,future,flood`.
//! - `--seed N`: the attacks' random choices (default: from the node key).
//! - `--clock-offset-ms MS`: the node's wall clock runs MS milliseconds ahead of the machine's
//!   (behind if negative): block timestamps and the clock-drift check use it.
//!
//! Built with the crate's other binaries (`cargo build -p cassia-tests --bin test-node`;
//! `cargo test -p cassia-tests` builds it before the tests); the harness finds it next to the
//! `cassia` binary, or at `$CASSIA_TEST_NODE_BIN`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cassia_node::config::Config;
use cassia_node::interceptor::{Interceptor, NoInterceptor};
use cassia_node::start;
use cassia_tests::byzantine::attacker::{self, Attacker, Mode};
use cassia_tests::signed_log::SignedLog;

const USAGE: &str = "usage: test-node --home DIR [--signed-log FILE] [--byzantine LIST] [--seed N] \
                     [--clock-offset-ms MS]";

/// The command line.
struct Args {
    home: PathBuf,
    signed_log: Option<PathBuf>,
    byzantine: Option<Mode>,
    seed: Option<u64>,
    clock_offset_ms: i64,
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
    let interceptor = Box::new((attacker, (signed_log, SkewedClock(args.clock_offset_ms))));
    start::run_until_signal(config, None, interceptor)?;
    Ok(())
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args> {
    let (mut home, mut signed_log, mut byzantine, mut seed) = (None, None, None, None);
    let mut clock_offset_ms = 0;
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
    })
}

/// The attacker `--byzantine` asks for, announced loudly (else one that changes nothing). With
/// `oversized` the node's own message cap is doubled, so it can send and answer what honest
/// nodes, at the configured cap, refuse.
fn attacker_for(args: &Args, config: &mut Config) -> Result<Box<dyn Interceptor>> {
    let Some(mode) = &args.byzantine else {
        return Ok(Box::new(NoInterceptor));
    };
    let seed = match args.seed {
        Some(seed) => seed,
        None => {
            let (_, key) = cassia_crypto::keyfile::read_public(&config.key_file)
                .with_context(|| format!("node key {}", config.key_file.display()))?;
            attacker::seed_of(&key)
        }
    };
    tracing::warn!(
        "BYZANTINE MODE ON (--byzantine {}, seed {seed}): this node attacks its peers; \
         cassia-tests test-node only",
        mode.names()
    );
    let honest = config.max_message_bytes;
    config.max_message_bytes = mode.own_message_cap(honest);
    Ok(Box::new(Attacker::new(mode.clone(), honest, seed)))
}
