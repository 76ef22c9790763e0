//! Cassia's benchmarks: criterion micro-benchmarks and the cluster load generator.
