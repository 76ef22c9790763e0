//! The cluster fault harness (see `cassia_tests::chaos`): N rounds of SIGKILL and restart of a
//! validator (the leader every other round) under load, then the agreement, equivocation and
//! durability checks.
//!
//! `cargo run --release -p cassia-tests --bin chaos -- --rounds 20 [--seed S]`; build the nodes
//! first: `cargo build -p cassia-cli` (`cassia` makes the devnet) and
//! `cargo build -p cassia-tests --bin test-node` (`test-node --signed-log` runs every node).
//! Exits 1 on any finding.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut rounds = 5u64;
    let mut seed = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--rounds", Some(v)) => rounds = v,
            ("--seed", Some(v)) => seed = v,
            _ => {
                eprintln!("usage: chaos [--rounds N] [--seed S]");
                return ExitCode::from(2);
            }
        }
    }
    let report = cassia_tests::chaos::run(rounds, seed, |line| eprintln!("{line}"));
    eprintln!(
        "height reached: {}, acknowledged txs checked: {}, signed statements checked: {}",
        report.height, report.acknowledged, report.signed_statements
    );
    println!("{report}");
    let clean =
        report.divergent_blocks == 0 && report.equivocations == 0 && report.lost_acknowledged == 0;
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
