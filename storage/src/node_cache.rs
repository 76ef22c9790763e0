//! A bounded in-memory cache of state-tree nodes in front of the `StateNodes` column family.
//!
//! Every block's tree update reads the nodes on the paths of the keys it changes, and the upper
//! levels of those paths were written by the last few blocks: without a cache each of them is a
//! RocksDB lookup in a large memtable (the profile at saturation showed these reads as the
//! biggest single cost of executing a block). Nodes are stored under their own hash and never
//! change, so a cached node can never be stale: the cache needs no invalidation, only a bound.
//!
//! **Bound.** Two generations of at most [`GENERATION_NODES`] nodes each. Inserts and hits go to
//! the young generation; when it is full it becomes the old one and the old one is dropped. A
//! node used within the last generation's worth of activity survives, and the cache never holds
//! more than `2 × GENERATION_NODES` nodes (about 100 bytes each with the map's overhead).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use cassia_crypto::Hash;
use cassia_ledger::state_tree::Node;

/// Nodes per generation: 131,072 × 2 generations × about 100 bytes is about 26 MiB. One block
/// of 10,000 single-key transactions writes about 60,000 nodes, so the young generation holds
/// at least the last block's nodes.
pub const GENERATION_NODES: usize = 131_072;

/// The map's hasher. Keys are blake3 digests, already uniformly distributed, so their first
/// eight bytes are as good a hash as any and cost nothing to compute (the default SipHash of
/// every key showed up in the profile). A peer cannot aim collisions at it: a node's hash is
/// the digest of its content, which nobody can choose.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        first[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(first);
    }
}

type DigestMap = HashMap<Hash, Node, BuildHasherDefault<DigestHasher>>;

/// The cache. Not synchronised: the store wraps it in a mutex.
#[derive(Debug, Default)]
pub struct NodeCache {
    young: DigestMap,
    old: DigestMap,
}

impl NodeCache {
    /// The node stored under `hash`, if cached (a hit in the old generation moves it to the
    /// young one, so nodes in use survive the next turnover).
    pub fn get(&mut self, hash: &Hash) -> Option<Node> {
        if let Some(node) = self.young.get(hash) {
            return Some(*node);
        }
        let node = self.old.remove(hash)?;
        self.insert(*hash, node);
        Some(node)
    }

    /// Caches `node` under `hash` (the caller read or wrote it under that hash).
    pub fn insert(&mut self, hash: Hash, node: Node) {
        if self.young.len() >= GENERATION_NODES {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(hash, node);
    }

    /// Nodes held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: u64) -> (Hash, Node) {
        let hash = Hash::of(&i.to_le_bytes());
        (
            hash,
            Node::Leaf {
                key_hash: hash,
                value_hash: hash,
            },
        )
    }

    #[test]
    fn holds_at_most_two_generations_and_keeps_what_is_used() {
        let mut cache = NodeCache::default();
        let (kept_hash, kept) = node(u64::MAX);
        cache.insert(kept_hash, kept);
        for i in 0..(5 * GENERATION_NODES as u64) {
            let (hash, value) = node(i);
            cache.insert(hash, value);
            assert!(cache.len() <= 2 * GENERATION_NODES);
            // Used once per generation's worth of inserts, so it is never the oldest.
            if i % (GENERATION_NODES as u64 / 2) == 0 {
                assert_eq!(cache.get(&kept_hash), Some(kept), "after {i} inserts");
            }
        }
        let (first, _) = node(0);
        assert_eq!(cache.get(&first), None, "the oldest nodes were dropped");
    }
}
