//! Binary Merkle trees as in RFC 6962 (Certificate Transparency), so that third parties can
//! check Cassia's proofs with a published algorithm.
//!
//! ```text
//! leaf hash   = blake3(0x00 || leaf bytes)
//! node hash   = blake3(0x01 || left || right)
//! empty tree  = blake3("")
//! tree of n>1 = node(tree of the first k leaves, tree of the rest), k = largest power of 2 < n
//! ```
//!
//! The 0x00/0x01 prefixes keep a leaf from ever being mistaken for an inner node. An
//! [`InclusionProof`] holds the leaf's index, the tree size and the sibling hashes from the leaf
//! up; [`InclusionProof::verify`] needs only the root, the leaf and the proof (RFC 9162 2.1.3.2).
//!
//! ```
//! use cassia_crypto::merkle::{MerkleTree, leaf_hash};
//!
//! let leaves: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i]).collect();
//! let tree = MerkleTree::from_leaves(&leaves);
//! let proof = tree.proof(3).expect("index 3 < 5");
//! assert!(proof.verify(&tree.root(), &leaf_hash(&[3])));
//! assert!(!proof.verify(&tree.root(), &leaf_hash(&[4])));
//! ```

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::Hash;

/// The hash of one leaf's bytes.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    Hash::of_parts(&[&[0x00], leaf])
}

/// The hash of an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::of_parts(&[&[0x01], left.as_bytes(), right.as_bytes()])
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    Hash::of(b"")
}

/// A Merkle tree over leaf hashes, kept level by level so proofs are cheap.
#[derive(Clone, Debug)]
pub struct MerkleTree {
    /// `levels[0]` are the leaf hashes; each next level pairs up the one below. An unpaired last
    /// node is carried up unchanged, which gives exactly the RFC 6962 shape.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// The tree over `leaves` (raw bytes, hashed with [`leaf_hash`]).
    pub fn from_leaves<T: AsRef<[u8]>>(leaves: &[T]) -> MerkleTree {
        MerkleTree::from_leaf_hashes(leaves.iter().map(|l| leaf_hash(l.as_ref())).collect())
    }

    /// The tree over already computed leaf hashes.
    pub fn from_leaf_hashes(leaf_hashes: Vec<Hash>) -> MerkleTree {
        let mut levels = vec![leaf_hashes];
        while levels.last().is_some_and(|level| level.len() > 1) {
            let below = levels.last().expect("loop condition checked a last level");
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(left, right),
                    [single] => *single,
                    _ => unreachable!("chunks(2) yields one or two items"),
                })
                .collect();
            levels.push(above);
        }
        MerkleTree { levels }
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// The root hash ([`empty_root`] for no leaves).
    pub fn root(&self) -> Hash {
        match self.levels.last().and_then(|top| top.first()) {
            Some(root) if !self.is_empty() => *root,
            _ => empty_root(),
        }
    }

    /// The inclusion proof of leaf `index`, or `None` if out of range.
    pub fn proof(&self, index: usize) -> Option<InclusionProof> {
        if index >= self.len() {
            return None;
        }
        let mut siblings = Vec::new();
        let mut position = index;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = position ^ 1;
            if let Some(hash) = level.get(sibling) {
                siblings.push(*hash);
            }
            position /= 2;
        }
        Some(InclusionProof {
            index: index as u64,
            tree_size: self.len() as u64,
            siblings,
        })
    }
}

/// The root of the tree over `leaves`, without keeping the tree.
pub fn root_of<T: AsRef<[u8]>>(leaves: &[T]) -> Hash {
    MerkleTree::from_leaves(leaves).root()
}

/// Proof that a leaf sits at `index` of a tree of `tree_size` leaves with a given root.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Position of the leaf, from 0.
    pub index: u64,
    /// Number of leaves in the tree.
    pub tree_size: u64,
    /// Sibling hashes from the leaf level upwards.
    pub siblings: Vec<Hash>,
}

impl InclusionProof {
    /// Whether `leaf_hash` is at `self.index` of the tree with root `root` (RFC 9162 2.1.3.2).
    pub fn verify(&self, root: &Hash, leaf_hash: &Hash) -> bool {
        if self.index >= self.tree_size {
            return false;
        }
        let mut fn_ = self.index;
        let mut sn = self.tree_size - 1;
        let mut r = *leaf_hash;
        for sibling in &self.siblings {
            if sn == 0 {
                return false;
            }
            if fn_ & 1 == 1 || fn_ == sn {
                r = node_hash(sibling, &r);
                if fn_ & 1 == 0 {
                    while fn_ & 1 == 0 && fn_ != 0 {
                        fn_ >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                r = node_hash(&r, sibling);
            }
            fn_ >>= 1;
            sn >>= 1;
        }
        sn == 0 && r == *root
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The recursive definition of RFC 6962, to check the level-by-level build against.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn matches_the_rfc_6962_recursive_definition() {
        for n in 0..70usize {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect();
            let tree = MerkleTree::from_leaf_hashes(leaves.clone());
            assert_eq!(tree.root(), reference_root(&leaves), "tree of {n} leaves");
        }
    }

    #[test]
    fn every_leaf_of_every_size_proves_and_no_other_leaf_does() {
        for n in 1..40usize {
            let leaves: Vec<Vec<u8>> = (0..n).map(|i| i.to_le_bytes().to_vec()).collect();
            let tree = MerkleTree::from_leaves(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                let proof = tree.proof(i).expect("in range");
                assert!(
                    proof.verify(&tree.root(), &leaf_hash(leaf)),
                    "leaf {i} of {n}"
                );
                assert!(!proof.verify(&tree.root(), &leaf_hash(b"other")));
                let mut moved = proof.clone();
                moved.index = (moved.index + 1) % n as u64;
                if n > 1 {
                    assert!(
                        !moved.verify(&tree.root(), &leaf_hash(leaf)),
                        "moved {i} of {n}"
                    );
                }
            }
            assert!(tree.proof(n).is_none());
        }
    }

    proptest! {
        #[test]
        fn a_tampered_proof_never_verifies(n in 2usize..200, pick in any::<usize>(), bit in 0usize..256) {
            let leaves: Vec<Vec<u8>> = (0..n).map(|i| i.to_le_bytes().to_vec()).collect();
            let tree = MerkleTree::from_leaves(&leaves);
            let index = pick % n;
            let mut proof = tree.proof(index).expect("in range");
            let which = bit % proof.siblings.len();
            proof.siblings[which].0[bit / 8 % 32] ^= 1 << (bit % 8);
            prop_assert!(!proof.verify(&tree.root(), &leaf_hash(&leaves[index])));
        }
    }
}
