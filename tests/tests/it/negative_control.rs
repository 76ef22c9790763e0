//! Negative control: with f + 1 Byzantine replicas safety is not guaranteed, and the checker
//! must say so. If this test fails, the checker is blind.

use cassia_tests::{Scenario, run};

#[test]
fn f_plus_one_colluders_break_agreement_and_the_checker_reports_it() {
    for n in [4, 7] {
        let caught: Vec<u64> = (0..10u64)
            .map(|i| i * 2 + u64::from(n == 7))
            .filter(|seed| {
                let report = run(Scenario::NegativeControl, n, *seed, false);
                report.violations.iter().any(|v| v.starts_with("agreement"))
            })
            .collect();
        assert!(
            !caught.is_empty(),
            "n = {n}: no seed of 10 showed the agreement violation f+1 colluders cause"
        );
        println!("n = {n}: agreement violation reported for seeds {caught:?}");
    }
}
