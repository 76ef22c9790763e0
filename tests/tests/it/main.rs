//! Cassia's simulation tests: one integration-test binary (scenarios, sweeps, determinism,
//! negative controls of every checker).

mod checker_controls;
mod determinism;
mod negative_control;
mod scenarios;
mod sweep;
