//! The short CI version of the fault harness: 2 rounds of SIGKILL and restart under load (the
//! leader first), then agreement on every block, no equivocation in the signed-statement logs,
//! and every acknowledged transaction on every node. `--bin chaos` runs it long.

use cassia_tests::chaos::{ChaosReport, run};

#[test]
fn two_rounds_of_kill_and_restart_leave_no_divergence_equivocation_or_loss() {
    let report = run(2, 7, |line| eprintln!("{line}"));
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
        report.signed_statements > report.height,
        "the nodes logged their signed statements: {report:?}"
    );
}
