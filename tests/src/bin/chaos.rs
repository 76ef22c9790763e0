//! The cluster fault harness (see `cassia_tests::chaos`): rounds of faults under load (the
//! leader killed, a validator killed, partitioned, stopped, or muted one way, in turn), then
//! the agreement, equivocation and durability checks.
//!
//! `cargo run --release -p cassia-tests --bin chaos -- --rounds 20 [--seed S]`, or the soak,
//! `--minutes 30`; build the nodes
//! first: `cargo build -p cassia-cli` (`cassia` makes the devnet) and
//! `cargo build -p cassia-tests --bin test-node` (`test-node --signed-log` runs every node).
//! Exits 1 on any finding.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut until = cassia_tests::chaos::Until::Rounds(5);
    let mut seed = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--rounds", Some(v)) => until = cassia_tests::chaos::Until::Rounds(v),
            ("--minutes", Some(v)) => {
                until = cassia_tests::chaos::Until::Elapsed(std::time::Duration::from_secs(v * 60));
            }
            ("--seed", Some(v)) => seed = v,
            _ => {
                eprintln!("usage: chaos [--rounds N | --minutes M] [--seed S]");
                return ExitCode::from(2);
            }
        }
    }
    let report = cassia_tests::chaos::run(until, seed, |line| eprintln!("{line}"));
    eprintln!(
        "height reached: {}, acknowledged txs checked: {}, signed statements checked: {}",
        report.height, report.acknowledged, report.signed_statements
    );
    println!("{report}");
    let clean = report.divergent_blocks == 0
        && report.equivocations == 0
        && report.proofs_kept == 0
        && report.lost_acknowledged == 0;
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
