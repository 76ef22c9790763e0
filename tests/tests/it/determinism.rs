//! A seed fixes a run: the same seed twice gives the same trace digest.

use cassia_tests::{Scenario, run};

#[test]
fn the_same_seed_twice_gives_an_identical_trace() {
    for (scenario, n, seed) in [
        (Scenario::Mixed, 4, 11),
        (Scenario::CrashRestart, 7, 12),
        (Scenario::Lossy, 4, 13),
    ] {
        let first = run(scenario, n, seed, true);
        let second = run(scenario, n, seed, true);
        assert_eq!(
            first.digest,
            second.digest,
            "seed {seed} ({}): digests differ",
            scenario.name()
        );
        assert_eq!(first.trace, second.trace, "seed {seed}: traces differ");
        assert!(first.steps > 100, "seed {seed}: the run did something");
    }
}

#[test]
fn different_seeds_give_different_traces() {
    let a = run(Scenario::Lossy, 4, 1, false);
    let b = run(Scenario::Lossy, 4, 2, false);
    assert_ne!(a.digest, b.digest);
}
