//! Cassia's test harnesses: the deterministic simulator and Byzantine actors (consensus issue),
//! and multi-process cluster tests (node issue).
