//! Cassia's simulation tests: one integration-test binary (scenarios, sweeps, determinism,
//! negative control).

mod determinism;
mod negative_control;
mod scenarios;
mod sweep;
