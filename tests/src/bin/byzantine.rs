//! The Byzantine scenario (see `cassia_tests::byzantine_cluster`) for as long as asked, to
//! measure the honest nodes' memory: prints their heights and peak RSS every sample, then the
//! checks' result. `--baseline` runs the same cluster and load with node 3 honest.
//!
//! `cargo build -p cassia-cli` (`cassia` makes the devnet) and `cargo build -p cassia-tests --bin
//! test-node` (which runs every node) first, then `cargo run -p cassia-tests --bin byzantine --
//! --seconds 120 [--baseline] [--sample 10] [--logs DIR]` (`--logs` keeps every node's log).
//! Exits 1 on any finding.

use std::process::ExitCode;
use std::time::Duration;

use cassia_tests::byzantine_cluster::{ALL_BEHAVIOURS, Options, run};

fn main() -> ExitCode {
    let mut options = Options {
        duration: Duration::from_secs(60),
        attacks: Some(ALL_BEHAVIOURS),
        sample_every: Duration::from_secs(10),
        keep_logs: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--baseline" {
            options.attacks = None;
            continue;
        }
        if arg == "--logs" {
            options.keep_logs = args.next().map(Into::into);
            continue;
        }
        let value = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--seconds", Some(v)) => options.duration = Duration::from_secs(v),
            ("--sample", Some(v)) => options.sample_every = Duration::from_secs(v),
            _ => {
                eprintln!("usage: byzantine [--seconds N] [--sample S] [--baseline] [--logs DIR]");
                return ExitCode::from(2);
            }
        }
    }
    let report = run(options, |line| println!("{line}"));
    println!(
        "rejections by reason (honest nodes): {:?}",
        report.rejections
    );
    println!(
        "gossip refused by the network layer (honest logs): {}",
        report.gossip_refused_by_network
    );
    println!(
        "view changes: {}, acknowledged txs: {}, signed statements checked: {}",
        report.view_changes, report.acknowledged, report.signed_statements
    );
    println!("{report}");
    let clean = report.divergent_blocks == 0
        && report.honest_equivocations == 0
        && report.lost_acknowledged == 0
        && report.end_height > report.start_height;
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
