//! Cassia's gRPC API for integrators: `.proto` files (package `cassia.v1`), the generated client
//! and server, and a typed client. Depends on `cassia-ledger` and `cassia-crypto` only, so
//! integrators never build RocksDB or libp2p. Filled by the gRPC issue.
