//! The seed sweep CI runs: 1,100 seeds over every safe scenario, n = 4 and n = 7, no violation
//! allowed. Split in parts so the test harness runs them on all cores.

use cassia_tests::{Scenario, run};

/// Seeds per part; 4 parts x 275 = 1,100 seeds (100 per scenario).
const SEEDS_PER_PART: u64 = 275;

fn sweep(part: u64) {
    let mut failures = Vec::new();
    let (mut commits, mut view_changes) = (0, 0);
    let first = part * SEEDS_PER_PART;
    for seed in first..first + SEEDS_PER_PART {
        let scenario = Scenario::SAFE[usize::try_from(seed % 11).expect("below 11")];
        let n = if seed % 2 == 1 { 7 } else { 4 };
        let report = run(scenario, n, seed, false);
        commits += report.commits;
        view_changes += report.view_changes;
        for violation in report.violations {
            failures.push(format!(
                "seed {seed} ({}, n = {n}): {violation}\n  replay: cargo run --release -p cassia-tests --bin simulate -- --seed {seed} --trace",
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
