//! The simulated network: links with latency and jitter (so messages reorder), loss,
//! duplication, and partitions. Decisions are drawn from the run's seeded [`Rng`].

use cassia_ledger::{Block, CommitCertificate, Height};

use crate::rng::Rng;

/// How links behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Smallest one-way delay.
    pub min_latency_ms: u64,
    /// Extra delay drawn uniformly in `0..jitter_ms`; messages overtake each other.
    pub jitter_ms: u64,
    /// Packets lost, per thousand.
    pub loss_per_mille: u64,
    /// Packets delivered twice, per thousand.
    pub duplicate_per_mille: u64,
}

impl NetworkConfig {
    /// A LAN: 2-12 ms, nothing lost.
    pub fn calm() -> NetworkConfig {
        NetworkConfig {
            min_latency_ms: 2,
            jitter_ms: 10,
            loss_per_mille: 0,
            duplicate_per_mille: 0,
        }
    }

    /// A bad WAN: 5-80 ms, 5% lost, 5% duplicated.
    pub fn lossy() -> NetworkConfig {
        NetworkConfig {
            min_latency_ms: 5,
            jitter_ms: 75,
            loss_per_mille: 50,
            duplicate_per_mille: 50,
        }
    }
}

/// What travels between simulated nodes.
#[derive(Clone, Debug)]
pub enum Packet {
    /// An encoded consensus message.
    Consensus(Vec<u8>),
    /// Block sync: "send me blocks `from..=to`".
    FetchRequest {
        /// First height.
        from: Height,
        /// Last height.
        to: Height,
    },
    /// Block sync answer.
    FetchResponse(Vec<(Block, CommitCertificate)>),
}

/// Links and partitions.
#[derive(Clone, Debug)]
pub struct Network {
    config: NetworkConfig,
    /// Partition group of each node; `None` when healed.
    groups: Option<Vec<usize>>,
}

impl Network {
    /// A fully connected network of links behaving as `config`.
    pub fn new(config: NetworkConfig) -> Network {
        Network {
            config,
            groups: None,
        }
    }

    /// Splits the nodes into `groups`; nodes in no group are isolated from everyone.
    pub fn partition(&mut self, n: usize, groups: &[&[usize]]) {
        let mut assignment: Vec<usize> = (0..n).map(|i| groups.len() + i).collect();
        for (group, members) in groups.iter().enumerate() {
            for &member in *members {
                assignment[member] = group;
            }
        }
        self.groups = Some(assignment);
    }

    /// Reconnects everyone.
    pub fn heal(&mut self) {
        self.groups = None;
    }

    /// Whether `a` and `b` can talk now.
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.groups
            .as_ref()
            .is_none_or(|groups| groups[a] == groups[b])
    }

    /// Whether a partition is in force.
    pub fn is_partitioned(&self) -> bool {
        self.groups.is_some()
    }

    /// Delays after which a packet from `from` to `to` arrives: none if lost or cut off, two if
    /// duplicated.
    pub fn deliveries(&self, rng: &mut Rng, from: usize, to: usize) -> Vec<u64> {
        if !self.connected(from, to) || rng.chance(self.config.loss_per_mille) {
            return Vec::new();
        }
        let (min, jitter) = (self.config.min_latency_ms, self.config.jitter_ms.max(1));
        let mut delays = vec![min + rng.below(jitter)];
        if rng.chance(self.config.duplicate_per_mille) {
            delays.push(min + rng.below(jitter));
        }
        delays
    }
}
