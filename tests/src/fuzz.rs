//! A deterministic, seedable, structure-aware fuzzer for every decoder of peer or client input,
//! on stable Rust and without coverage instrumentation.
//!
//! Each [`Target`] decodes bytes exactly as the node does and then runs what the node runs next
//! (signature checks, mempool admission, block validation, a consensus replica step, proof and
//! evidence verification). Inputs mix random bytes, mutations of valid encodings of real objects
//! (bit flips, interesting bytes, insertions, deletions, truncation, length-prefix inflation,
//! splicing; see `mutate`) and fresh well-formed objects with hostile fields, signed with real
//! keys (see `generate`), so decoders and the code behind them get deep inputs. The real
//! objects come from a fixture chain ([`World`]).
//!
//! Every input runs under `catch_unwind`. A run stops at the first input that panics, allocates
//! more than [`allocation_bound`] in one decode (measured when the binary installs
//! [`alloc::CountingAllocator`]), or breaks a target's property; the [`Failure`] names the seed,
//! the iteration and the input in hex. Input `i` of seed `s` depends only on `(s, i)`, so
//! `--seed s --first i --iterations 1` replays it alone.
//!
//! ```
//! use cassia_tests::fuzz::{Options, Target, World, run};
//!
//! let world = World::new();
//! let options = Options { target: Target::SyncRequest, iterations: 200, seed: 7, first: 0 };
//! let report = run(&world, &options);
//! assert!(report.failure.is_none(), "{}", report);
//! assert_eq!(report.decoded + report.rejected, 200);
//! ```

pub mod alloc;
mod generate;
mod mutate;
mod targets;
pub mod world;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

pub use targets::{MAX_GOSSIP_BATCH, MAX_SYNC_RESPONSE_BLOCKS, Target, Verdict, allocation_bound};
pub use world::World;

use crate::rng::Rng;
use targets::Probe;

/// What to fuzz, and how long.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The decoder.
    pub target: Target,
    /// Inputs to try.
    pub iterations: u64,
    /// The run's seed.
    pub seed: u64,
    /// The first iteration (to replay one input of a longer run).
    pub first: u64,
}

/// One input that broke something, with what it takes to replay it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The target.
    pub target: Target,
    /// The run's seed.
    pub seed: u64,
    /// The input's iteration (`None` for an input given on the command line).
    pub iteration: Option<u64>,
    /// The input.
    pub input: Vec<u8>,
    /// What went wrong: the panic message or the broken property.
    pub what: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = self.target.name();
        writeln!(f, "target {target}: {}", self.what)?;
        if let Some(iteration) = self.iteration {
            writeln!(
                f,
                "  seed {} iteration {iteration}; replay: cargo run --release -p cassia-tests \
                 --bin fuzz -- --target {target} --seed {} --first {iteration} --iterations 1",
                self.seed, self.seed
            )?;
        }
        write!(
            f,
            "  input ({} bytes): {}",
            self.input.len(),
            to_hex(&self.input)
        )
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The target.
    pub target: Target,
    /// Inputs tried.
    pub iterations: u64,
    /// Inputs the decoder accepted.
    pub decoded: u64,
    /// Of those, inputs that also passed every check the node makes next (a signature that
    /// verifies, admission, block validation, a proof of a true claim): how deep inputs got.
    pub accepted: u64,
    /// Inputs the decoder rejected.
    pub rejected: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// The largest allocation peak of one decode and the size of its input (`None`: not
    /// measured).
    pub peak_decode_bytes: Option<(usize, usize)>,
    /// The first failure (the run stops there).
    pub failure: Option<Failure>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peak = self.peak_decode_bytes.map_or_else(
            || "not measured".to_string(),
            |(peak, input)| format!("{} KiB ({input} B in)", peak / 1024),
        );
        write!(
            f,
            "{:<18} iterations {:>9}  decoded {:>9} (accepted {:>8})  rejected {:>9}  \
             peak decode {:>22}  {:>7.2} s",
            self.target.name(),
            self.iterations,
            self.decoded,
            self.accepted,
            self.rejected,
            peak,
            self.elapsed.as_secs_f64()
        )?;
        match &self.failure {
            Some(failure) => write!(f, "\nFAILED {failure}"),
            None => Ok(()),
        }
    }
}

/// The generator of input `iteration` of seed `seed`.
fn case_rng(seed: u64, iteration: u64) -> Rng {
    Rng::new(
        seed ^ iteration
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(17),
    )
}

/// Runs `options.target` on `options.iterations` inputs; stops at the first failure.
pub fn run(world: &World, options: &Options) -> Report {
    let started = Instant::now();
    let corpus = options.target.corpus(world);
    let mut probe = Probe::new(alloc::installed());
    let mut report = Report {
        target: options.target,
        iterations: 0,
        decoded: 0,
        accepted: 0,
        rejected: 0,
        elapsed: Duration::ZERO,
        peak_decode_bytes: None,
        failure: None,
    };
    let last = options.first.saturating_add(options.iterations);
    for iteration in options.first..last {
        let mut rng = case_rng(options.seed, iteration);
        let input = options.target.input(world, &corpus, &mut rng);
        report.iterations += 1;
        match check_with(world, options.target, &input, &mut probe) {
            Ok(Verdict::Rejected) => report.rejected += 1,
            Ok(Verdict::Decoded) => report.decoded += 1,
            Ok(Verdict::Accepted) => {
                report.decoded += 1;
                report.accepted += 1;
            }
            Err(what) => {
                report.failure = Some(Failure {
                    target: options.target,
                    seed: options.seed,
                    iteration: Some(iteration),
                    input,
                    what,
                });
                break;
            }
        }
    }
    report.elapsed = started.elapsed();
    report.peak_decode_bytes =
        alloc::installed().then_some((probe.peak_bytes, probe.peak_input_bytes));
    report
}

/// Runs `target` on one given input: how far it got (or the panic message or broken property),
/// and the memory peak of its decode (`None`: not measured).
pub fn check_input(
    world: &World,
    target: Target,
    input: &[u8],
) -> (Result<Verdict, String>, Option<usize>) {
    let installed = alloc::installed();
    let mut probe = Probe::new(installed);
    let verdict = check_with(world, target, input, &mut probe);
    (verdict, installed.then_some(probe.peak_bytes))
}

fn check_with(
    world: &World,
    target: Target,
    input: &[u8],
    probe: &mut Probe,
) -> Result<Verdict, String> {
    match catch_unwind(AssertUnwindSafe(|| target.check(world, input, probe))) {
        Ok(result) => result,
        Err(payload) => Err(format!("panicked: {}", panic_message(payload.as_ref()))),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into())
}

/// Lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex (as [`Failure`] prints them).
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
