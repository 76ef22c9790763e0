//! Runs the deterministic simulator over many seeds, or replays one with a trace.
//!
//! ```text
//! simulate --seeds N [--nodes 4|7|...] [--scenario NAME] [--first S]
//! simulate --seed S [--nodes N] [--scenario NAME] [--trace]
//! ```
//!
//! Without `--scenario`, seed `s` runs scenario `SAFE[s % 11]`; without `--nodes`, odd seeds use
//! 7 validators and even ones 4. The last line is
//! `seeds: N, violations: V, commits: C, view changes: W`; the exit status is 1 if V > 0.

use std::process::ExitCode;

use cassia_tests::{RunReport, Scenario, run};

struct Options {
    seeds: u64,
    first: u64,
    nodes: Option<usize>,
    scenario: Option<Scenario>,
    trace: bool,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        seeds: 100,
        first: 0,
        nodes: None,
        scenario: None,
        trace: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--seeds" => options.seeds = value()?.parse().map_err(|e| format!("--seeds: {e}"))?,
            "--first" => options.first = value()?.parse().map_err(|e| format!("--first: {e}"))?,
            "--seed" => {
                options.first = value()?.parse().map_err(|e| format!("--seed: {e}"))?;
                options.seeds = 1;
            }
            "--nodes" => {
                options.nodes = Some(value()?.parse().map_err(|e| format!("--nodes: {e}"))?)
            }
            "--scenario" => {
                let name = value()?;
                options.scenario =
                    Some(Scenario::parse(&name).ok_or(format!("unknown scenario {name:?}"))?);
            }
            "--trace" => options.trace = true,
            other => return Err(format!("unknown argument {other:?} (see the file's docs)")),
        }
    }
    Ok(options)
}

/// The scenario and cluster size a seed runs when not fixed on the command line.
fn plan(options: &Options, seed: u64) -> (Scenario, usize) {
    let index = usize::try_from(seed % Scenario::SAFE.len() as u64).expect("index below 11");
    let scenario = options.scenario.unwrap_or(Scenario::SAFE[index]);
    let nodes = options.nodes.unwrap_or(if seed % 2 == 1 { 7 } else { 4 });
    (scenario, nodes)
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("simulate: {message}");
            return ExitCode::from(2);
        }
    };
    let (mut violations, mut commits, mut view_changes) = (0usize, 0u64, 0u64);
    for seed in options.first..options.first.saturating_add(options.seeds) {
        let (scenario, nodes) = plan(&options, seed);
        let report: RunReport = run(scenario, nodes, seed, options.trace);
        for line in &report.trace {
            println!("{line}");
        }
        if options.trace || !report.violations.is_empty() {
            println!(
                "seed {seed} ({}, n = {nodes}): {} violations, height {}, digest {:016x}",
                scenario.name(),
                report.violations.len(),
                report.commits,
                report.digest
            );
        }
        for violation in &report.violations {
            println!("  seed {seed}: {violation}");
        }
        violations += report.violations.len();
        commits += report.commits;
        view_changes += report.view_changes;
    }
    println!(
        "seeds: {}, violations: {violations}, commits: {commits}, view changes: {view_changes}",
        options.seeds
    );
    if violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
