//! The short CI version of the fault harness: 2 rounds of SIGKILL and restart under load (the
//! leader first), then agreement on every block, no equivocation in the signed-statement logs,
//! and every acknowledged transaction (the 6 committed through a survivor and every one the
//! load had admitted) with a receipt on every node. `--bin chaos` runs it long.

use cassia_tests::chaos::{ChaosReport, run};

#[test]
fn two_rounds_of_kill_and_restart_leave_no_divergence_equivocation_or_loss() {
    let started = std::time::Instant::now();
    let report = run(2, 7, |line| {
        eprintln!("{:>5.1} s: {line}", started.elapsed().as_secs_f64());
    });
    eprintln!(
        "{report}; {report:?}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        report,
        ChaosReport {
            rounds: 2,
            divergent_blocks: 0,
            equivocations: 0,
            lost_acknowledged: 0,
            ..report.clone()
        },
        "{report}"
    );
    assert!(report.acknowledged >= 6, "{report:?}");
    assert!(
        report.admitted >= 100,
        "the load's acknowledgements were checked: {report:?}"
    );
    assert!(
        report.signed_statements > report.height,
        "the nodes logged their signed statements: {report:?}"
    );
}
