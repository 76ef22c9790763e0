//! Cassia's test harnesses: the deterministic simulator and its Byzantine actors, and real
//! node processes on loopback for cluster tests ([`process`]), which a fault-injecting TCP
//! [`proxy`] can partition.
//!
//! The simulator runs n replicas through the real `cassia-consensus` core and the same
//! `cassia-engine` glue the node uses, on a virtual clock, over a simulated network with
//! latency, loss, duplication, reordering and partitions, with crashes that keep only what the
//! store made durable, and with Byzantine actors ([`byzantine`]). After every step the
//! [`checker`] checks agreement, validity, certificate validity and that no honest replica
//! equivocated; after the faults heal it checks that every honest replica commits again within a
//! bounded virtual time. A seed fixes everything, so any failure replays:
//! `cargo run --release -p cassia-tests --bin simulate -- --seed S --trace`.
//!
//! The production crates hold no test behaviour: a node takes an interceptor
//! (`cassia_node::interceptor`), and this crate supplies the misbehaving ones, run by its
//! `test-node` binary: the [`signed_log`] of every statement a node signs, and the Byzantine
//! [`byzantine::attacker`], which reuses the simulator's actors. [`byzantine_cluster`] runs one
//! validator of four as that attacker, in real processes, and checks the honest three.
//! [`disorder`] duplicates and reorders an honest node's messages, which the TCP proxy cannot.
//! Real-process scenarios end with the checks of [`agreement`]: the same blocks on every node,
//! and no statement signed twice.
//!
//! [`fuzz`] fuzzes every decoder of peer and client input, deterministically from a seed:
//! `cargo run --release -p cassia-tests --bin fuzz -- --target all --iterations N`.
//!
//! ```
//! use cassia_tests::cluster::{Cluster, ClusterConfig};
//! use cassia_tests::network::NetworkConfig;
//!
//! let mut cluster = Cluster::new(ClusterConfig {
//!     n: 4,
//!     seed: 7,
//!     network: NetworkConfig::calm(),
//!     trace: false,
//!     tx_interval_ms: 0,
//! });
//! cluster.start();
//! cluster.partition(&[&[0], &[1, 2, 3]]);
//! cluster.run_for(1_000);
//! cluster.heal();
//! cluster.run_until_height(3, 60_000).expect("the cluster makes progress");
//! assert!(cluster.violations().is_empty(), "seed 7: {:?}", cluster.violations());
//! ```

pub mod agreement;
pub mod byzantine;
pub mod byzantine_cluster;
pub mod chaos;
pub mod checker;
pub mod cluster;
pub mod disorder;
pub mod fuzz;
pub mod governance;
pub mod load;
pub mod network;
pub mod process;
pub mod proxy;
pub mod rng;
pub mod scenario;
pub mod signed_log;
pub mod trace;

pub use scenario::{RunReport, Scenario, run};
