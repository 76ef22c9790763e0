//! The short CI version of the fault harness: 5 rounds under load, one of each fault (the leader
//! killed, a validator killed, one cut off by a partition, one stopped cleanly, one whose sent
//! bytes are held), then agreement on every block, no equivocation in the signed-statement logs,
//! and every acknowledged transaction (the 15 committed through a survivor and every one the
//! load had admitted) with a receipt on every node. `--bin chaos` runs it long (the soak).

use cassia_tests::chaos::{ChaosReport, Until, run};

#[test]
fn one_round_of_each_fault_leaves_no_divergence_equivocation_or_loss() {
    let started = std::time::Instant::now();
    let report = run(Until::Rounds(5), 7, |line| {
        eprintln!("{:>5.1} s: {line}", started.elapsed().as_secs_f64());
    });
    eprintln!(
        "{report}; {report:?}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        report,
        ChaosReport {
            rounds: 5,
            divergent_blocks: 0,
            equivocations: 0,
            lost_acknowledged: 0,
            proofs_kept: 0,
            ..report.clone()
        },
        "{report}"
    );
    assert!(report.acknowledged >= 15, "{report:?}");
    assert!(
        report.admitted >= 100,
        "the load's acknowledgements were checked: {report:?}"
    );
    assert!(
        report.signed_statements > report.height,
        "the nodes logged their signed statements: {report:?}"
    );
}
