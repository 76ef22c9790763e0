//! The seed sweep CI runs: 1,100 seeds over every safe scenario, n = 4 and n = 7, no violation
//! allowed. Split in parts so the test harness runs them on all cores.
//!
//! The window of seeds moves by one window per UTC day (base = days since 1970-01-01 x 1,100),
//! so the seeds tried accumulate across CI runs instead of repeating `0..1100`.
//! `CASSIA_SWEEP_BASE=B` replays the window that starts at `B`; each part prints its base and
//! the exact command that replays it.

use std::time::{SystemTime, UNIX_EPOCH};

use cassia_tests::{Scenario, run};

/// Seeds per part; 4 parts x 275 = 1,100 seeds (100 per scenario).
const SEEDS_PER_PART: u64 = 275;
/// Seeds per run: the window a day's base moves by. A multiple of 22, so every window holds
/// each scenario (`seed % 11`) at both sizes (`seed % 2`) equally often.
const SEEDS_PER_WINDOW: u64 = 4 * SEEDS_PER_PART;
const SECONDS_PER_DAY: u64 = 86_400;

/// The first seed of this run's window: `CASSIA_SWEEP_BASE` if set, else today's.
///
/// # Panics
/// If `CASSIA_SWEEP_BASE` is set but not a number (a replay must not silently sweep another
/// window).
fn window_base() -> (u64, &'static str) {
    if let Ok(text) = std::env::var("CASSIA_SWEEP_BASE") {
        let base = text
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("CASSIA_SWEEP_BASE={text:?} is not a seed: {e}"));
        return (base, "CASSIA_SWEEP_BASE");
    }
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    (
        seconds / SECONDS_PER_DAY * SEEDS_PER_WINDOW,
        "today's UTC date",
    )
}

fn sweep(part: u64) {
    let mut failures = Vec::new();
    let (mut commits, mut view_changes) = (0, 0);
    let (base, source) = window_base();
    let first = base + part * SEEDS_PER_PART;
    println!(
        "sweep part {part}: seeds {first}..{} (window base {base}, from {source}); replay: \
         CASSIA_SWEEP_BASE={base} cargo test -p cassia-tests --test it sweep_part_{part} -- \
         --nocapture, or cargo run --release -p cassia-tests --bin simulate -- --first {first} \
         --seeds {SEEDS_PER_PART}",
        first + SEEDS_PER_PART
    );
    for seed in first..first + SEEDS_PER_PART {
        let scenario = Scenario::SAFE[usize::try_from(seed % 11).expect("below 11")];
        let n = if seed % 2 == 1 { 7 } else { 4 };
        let report = run(scenario, n, seed, false);
        commits += report.commits;
        view_changes += report.view_changes;
        for violation in report.violations {
            failures.push(format!(
                "seed {seed} ({}, n = {n}, window base {base}): {violation}\n  replay: cargo run --release -p cassia-tests --bin simulate -- --seed {seed} --trace",
                scenario.name()
            ));
        }
    }
    println!(
        "part {part}: seeds {first}..{}, commits {commits}, view changes {view_changes}",
        first + SEEDS_PER_PART
    );
    assert!(
        commits > 0 && view_changes > 0,
        "the sweep must exercise both commits and view changes"
    );
    assert!(
        failures.is_empty(),
        "{} violations:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn sweep_part_0() {
    sweep(0);
}

#[test]
fn sweep_part_1() {
    sweep(1);
}

#[test]
fn sweep_part_2() {
    sweep(2);
}

#[test]
fn sweep_part_3() {
    sweep(3);
}
