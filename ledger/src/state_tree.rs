//! The authenticated state tree: a binary sparse Merkle tree over 256-bit key paths. Its root
//! commits to every key/value pair of the state, and it yields short proofs that a key holds a
//! value or that it is absent.
//!
//! This module is pure: it reads nodes through [`NodeReader`] and returns the nodes an update
//! creates in a [`TreeUpdate`]; writing them is the caller's job.
//!
//! # Layout
//!
//! A key's *path* is the 256 bits of `blake3(key)`, most significant bit of byte 0 first. Bit `d`
//! picks the child at depth `d`: 0 goes left, 1 goes right. Every subtree is one of three kinds:
//!
//! ```text
//! empty     hash = EMPTY = 32 zero bytes                       (nothing stored)
//! leaf      hash = blake3("cassia-smt-leaf" || key_hash || value_hash)
//! internal  hash = blake3("cassia-smt-node" || left_hash || right_hash)
//!
//! key_hash   = blake3(key)                                     (the path)
//! value_hash = blake3("cassia-smt-value" || value)
//! ```
//!
//! Strings are their ASCII bytes; hashes are 32 raw bytes; `||` is concatenation.
//!
//! **Shortcut leaves.** A subtree holding exactly one key is that key's leaf, placed as high as
//! possible, so a leaf sits at the shallowest depth where no other key shares its path prefix.
//! Internal nodes exist only above two or more keys, so an internal node never has two empty
//! children, nor a leaf child beside an empty one (it may have an empty child beside an internal
//! one, where all its keys go the same way). With keys whose paths start `00`, `010`, `011` and
//! `1`:
//!
//! ```text
//!                    root = node(n0, leaf d)
//!                   /                       \
//!        n0 = node(leaf a, n01)            leaf d    (path 1…)
//!         /                 \
//!     leaf a          n01 = node(leaf b, leaf c)
//!    (path 00…)        /              \
//!                  leaf b            leaf c
//!                (path 010…)       (path 011…)
//! ```
//!
//! Why: a full 256-level tree would cost 256 hashes per proof and per updated key; with
//! shortcuts the depth is about `log2(n)` plus a few. And because the shape is a function of the
//! key set alone, **the root is a function of the key/value set alone**: it does not depend on
//! the order of insertions, on deletions that happened, or on how changes were batched. Replicas
//! that reach one state by different routes agree, and an auditor rebuilding the state from
//! scratch finds the same root. Deletions therefore collapse: when a leaf's sibling subtree
//! empties, the leaf rises to where it would have been had the deleted keys never existed.
//!
//! **Domain separation.** The leaf and internal preimages have the same length (15 + 64 bytes)
//! but different prefixes, so a leaf can never be passed off as an internal node or the reverse,
//! and a value hash can never be confused with either. `EMPTY` is not a hash anyone can find a
//! preimage for, so an empty subtree cannot be opened into anything.
//!
//! **Content addressing.** Nodes are stored under their own hash and never overwritten. An update
//! creates new nodes only along the touched paths (`O(changes · log n)`) and points them at the
//! old, unchanged subtrees, so every earlier root stays a complete tree in the store: the state at
//! any past height can be read and proven from its root (in the block header) with no versioning
//! scheme. Reclaiming old nodes, if ever wanted, is a separate garbage collection. Every node read
//! is checked against the hash it was asked for, so a corrupt store is reported, not believed.
//!
//! # Proofs, and how a third party verifies one
//!
//! A [`StateProof`] for a key lists the `siblings` met on the key's path from the root downward
//! (`siblings[d]` is the sibling at depth `d + 1`, the other child of the node at depth `d`) and
//! the `terminal` where the path ends: a leaf `(key_hash, value_hash)`, or `None` for an empty
//! subtree. A verifier who trusts `root` (the `state_root` of a block header under a valid commit
//! certificate) checks a claim "`key` holds `value`" or "`key` is absent" as follows:
//!
//! 1. Refuse the proof if it has more than 256 siblings.
//! 2. `path = blake3(key)`. Start with `h = leaf hash of terminal`, or `h = EMPTY` if none.
//! 3. For `d` from `siblings.len() - 1` down to `0`: if bit `d` of `path` is 0,
//!    `h = internal(h, siblings[d])`, else `h = internal(siblings[d], h)`.
//! 4. Require `h == root`.
//! 5. If there is a terminal leaf, require its key hash to agree with `path` on the first
//!    `siblings.len()` bits (the leaf lies on this key's path).
//! 6. For "`key` holds `value`": require `terminal == (path, value_hash(value))`.
//!    For "`key` is absent": require no terminal, or a terminal whose key hash is not `path`
//!    (another key's shortcut leaf occupies the place where this key would be).
//!
//! [`StateProof::verify`] does exactly this, with at most 257 blake3 calls and no allocation.
//! Encoded with the canonical codec ([`crate::codec`]), a proof is: the sibling count as a `u64`
//! little-endian, the siblings (32 bytes each), then `0x00` for no terminal or `0x01` followed by
//! the terminal's key hash and value hash (32 bytes each). In JSON it is
//! `{"siblings": ["<64 hex>", …], "terminal": null | ["<key hash hex>", "<value hash hex>"]}`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use cassia_ledger::state_tree::{self, EMPTY, MemoryNodes};
//!
//! let mut nodes = MemoryNodes::new();
//! let changes = BTreeMap::from([(b"alice".to_vec(), Some(b"10".to_vec()))]);
//! let update = state_tree::update(&nodes, &EMPTY, &changes).expect("an empty tree reads no node");
//! nodes.insert_all(update.new_nodes);
//!
//! let proof = state_tree::prove(&nodes, &update.root, b"alice").expect("all nodes are stored");
//! assert!(proof.verify(&update.root, b"alice", Some(b"10")).is_ok());
//! assert!(proof.verify(&update.root, b"alice", Some(b"11")).is_err());
//! let absent = state_tree::prove(&nodes, &update.root, b"bob").expect("all nodes are stored");
//! assert!(absent.verify(&update.root, b"bob", None).is_ok());
//! ```

use std::collections::{BTreeMap, HashMap};

use bincode::{Decode, Encode};
use cassia_crypto::Hash;
use serde::{Deserialize, Serialize};

/// The hash of the empty subtree, and so the root of the empty state.
pub const EMPTY: Hash = Hash::ZERO;

/// The number of bits in a path: no node lies deeper, and no proof has more siblings.
pub const MAX_DEPTH: usize = 256;

const LEAF_DOMAIN: &[u8] = b"cassia-smt-leaf";
const NODE_DOMAIN: &[u8] = b"cassia-smt-node";
const VALUE_DOMAIN: &[u8] = b"cassia-smt-value";

/// A key's path in the tree: `blake3(key)`.
pub fn key_hash(key: &[u8]) -> Hash {
    Hash::of(key)
}

/// What a leaf commits to for a value: `blake3("cassia-smt-value" || value)`.
pub fn value_hash(value: &[u8]) -> Hash {
    Hash::of_parts(&[VALUE_DOMAIN, value])
}

/// The hash of a leaf: `blake3("cassia-smt-leaf" || key_hash || value_hash)`.
pub fn leaf_hash(key_hash: &Hash, value_hash: &Hash) -> Hash {
    Hash::of_parts(&[LEAF_DOMAIN, key_hash.as_bytes(), value_hash.as_bytes()])
}

/// The hash of an internal node: `blake3("cassia-smt-node" || left || right)`.
pub fn internal_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::of_parts(&[NODE_DOMAIN, left.as_bytes(), right.as_bytes()])
}

/// A stored node, kept under its own [`hash`](Node::hash). Empty subtrees are not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum Node {
    /// The one key of its subtree.
    Leaf {
        /// The key's path, `blake3(key)`.
        key_hash: Hash,
        /// [`value_hash`] of the key's value.
        value_hash: Hash,
    },
    /// A subtree of two or more keys.
    Internal {
        /// Hash of the subtree whose next path bit is 0 ([`EMPTY`] if it holds no key).
        left: Hash,
        /// Hash of the subtree whose next path bit is 1 ([`EMPTY`] if it holds no key).
        right: Hash,
    },
}

impl Node {
    /// The hash the node is stored and referred to under.
    pub fn hash(&self) -> Hash {
        match self {
            Node::Leaf {
                key_hash,
                value_hash,
            } => leaf_hash(key_hash, value_hash),
            Node::Internal { left, right } => internal_hash(left, right),
        }
    }
}

/// Why the tree could not be read or updated. Each means the node store is damaged or failing,
/// never that the caller's input was wrong.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError {
    /// A node the tree refers to is not in the store.
    #[error(
        "state tree node {0} is missing from the node store: the store is incomplete or corrupt; \
         restore it from a snapshot or resync the state from peers"
    )]
    MissingNode(Hash),
    /// A stored node is not what its hash says, or cannot stand where the tree puts it.
    #[error(
        "state tree node {hash} is corrupt ({reason}): restore the node store from a snapshot or \
         resync the state from peers"
    )]
    CorruptNode {
        /// The hash the node was read under.
        hash: Hash,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The node store failed to read (an I/O or database error, described by the store).
    #[error("reading the state tree node store failed: {0}")]
    Storage(String),
}

/// Read access to stored nodes, by hash.
pub trait NodeReader {
    /// The node stored under `hash`, or `None` if there is none. `Err` is for a store that
    /// failed to answer, typically [`TreeError::Storage`].
    fn node(&self, hash: &Hash) -> Result<Option<Node>, TreeError>;
}

/// Nodes kept in memory: for tests, tools, and verifying a rebuilt state.
#[derive(Clone, Debug, Default)]
pub struct MemoryNodes {
    nodes: BTreeMap<Hash, Node>,
}

impl MemoryNodes {
    /// An empty store (enough for the empty tree).
    pub fn new() -> MemoryNodes {
        MemoryNodes::default()
    }

    /// Stores `nodes`, typically an update's [`TreeUpdate::new_nodes`].
    pub fn insert_all(&mut self, nodes: impl IntoIterator<Item = (Hash, Node)>) {
        self.nodes.extend(nodes);
    }

    /// Number of stored nodes, across every root they belong to.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is stored.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl NodeReader for MemoryNodes {
    fn node(&self, hash: &Hash) -> Result<Option<Node>, TreeError> {
        Ok(self.nodes.get(hash).copied())
    }
}

/// The result of [`update`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "the new nodes must be stored before the new root can be read or proven"]
pub struct TreeUpdate {
    /// The root of the updated state.
    pub root: Hash,
    /// Every node this update created, children before parents (a new root comes last). Store them
    /// all; old nodes are kept, as earlier roots still refer to them. A node identical to one
    /// stored for an older root (say, a key set back to an earlier value) may appear: storing it
    /// again under its hash is harmless.
    pub new_nodes: Vec<(Hash, Node)>,
}

/// Applies `changes` (key to new value; `None` deletes, and deleting an absent key does nothing)
/// to the tree with root `root`, in one pass over the touched subtrees.
pub fn update(
    reader: &dyn NodeReader,
    root: &Hash,
    changes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
) -> Result<TreeUpdate, TreeError> {
    let mut sorted: Vec<Change> = changes
        .iter()
        .map(|(key, value)| Change {
            key_hash: key_hash(key),
            value_hash: value.as_deref().map(value_hash),
        })
        .collect();
    // `Hash` orders its bytes lexicographically, which is path order: each subtree's changes
    // form one contiguous run, split in two by the next bit.
    sorted.sort_by_key(|change| change.key_hash);
    // Two keys with one hash would be a blake3 collision; dropping one keeps paths distinct, which
    // `Builder::build` relies on.
    sorted.dedup_by_key(|change| change.key_hash);
    let mut builder = Builder {
        reader,
        known: HashMap::new(),
        new_nodes: Vec::new(),
    };
    let root = builder.rebuild(*root, 0, &sorted)?;
    Ok(TreeUpdate {
        root,
        new_nodes: builder.new_nodes,
    })
}

/// The proof of `key`'s value, or of its absence, in the tree with root `root`.
pub fn prove(reader: &dyn NodeReader, root: &Hash, key: &[u8]) -> Result<StateProof, TreeError> {
    let path = key_hash(key);
    let mut siblings = Vec::new();
    let mut current = *root;
    for depth in 0..=MAX_DEPTH {
        if current == EMPTY {
            return Ok(StateProof {
                siblings,
                terminal: None,
            });
        }
        match read_node(reader, &current)? {
            Node::Leaf {
                key_hash,
                value_hash,
            } => {
                return Ok(StateProof {
                    siblings,
                    terminal: Some((key_hash, value_hash)),
                });
            }
            Node::Internal { left, right } if depth < MAX_DEPTH => {
                let (next, sibling) = if bit(&path, depth) {
                    (right, left)
                } else {
                    (left, right)
                };
                siblings.push(sibling);
                current = next;
            }
            Node::Internal { .. } => break,
        }
    }
    Err(TreeError::CorruptNode {
        hash: current,
        reason: "internal node below the last path bit",
    })
}

/// A key's path through the tree: proves the key's value, or that it has none. See the module
/// documentation for the verification algorithm and the encoding.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct StateProof {
    /// Sibling hashes from the root downward: `siblings[d]` is the other child of the node at
    /// depth `d` on the key's path.
    pub siblings: Vec<Hash>,
    /// Where the path ends: a leaf `(key_hash, value_hash)` (the key's own, or for an absent key
    /// possibly another key's), or `None` for an empty subtree.
    pub terminal: Option<(Hash, Hash)>,
}

/// Why a [`StateProof`] does not prove a claim.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// More siblings than a path has bits.
    #[error("the proof has {siblings} siblings but a path has at most 256: it is malformed")]
    TooLong {
        /// How many siblings it had.
        siblings: usize,
    },
    /// The proof does not lead to the trusted root.
    #[error(
        "the proof leads to root {computed}, not the trusted root {expected}: it is for another \
         state or key, or was altered"
    )]
    RootMismatch {
        /// The trusted root.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
    /// The terminal leaf cannot be where the proof puts it; only a malformed tree gives this.
    #[error(
        "the proof's leaf (key hash {key_hash}) is not on the queried key's path: the tree or the \
         proof is malformed"
    )]
    LeafOffPath {
        /// The terminal leaf's key hash.
        key_hash: Hash,
    },
    /// The key holds a different value from the one claimed.
    #[error("the key holds a different value (value hash {proven}) from the one claimed")]
    WrongValue {
        /// The value hash the proof shows.
        proven: Hash,
    },
    /// A value was claimed, but the proof shows the key is absent.
    #[error("a value was claimed, but the proof shows the key is absent")]
    KeyAbsent,
    /// Absence was claimed, but the proof shows the key holds a value.
    #[error("absence was claimed, but the proof shows the key holds a value (value hash {proven})")]
    KeyPresent {
        /// The value hash the proof shows.
        proven: Hash,
    },
}

impl StateProof {
    /// Checks that, in the state with root `root`, `key` holds `value` (`Some`) or is absent
    /// (`None`). Never panics, whatever the proof holds.
    pub fn verify(&self, root: &Hash, key: &[u8], value: Option<&[u8]>) -> Result<(), ProofError> {
        if self.siblings.len() > MAX_DEPTH {
            return Err(ProofError::TooLong {
                siblings: self.siblings.len(),
            });
        }
        let path = key_hash(key);
        let computed = self.root_for(&path);
        if computed != *root {
            return Err(ProofError::RootMismatch {
                expected: *root,
                computed,
            });
        }
        // With the root matched, the terminal really is at that place in the tree. In a tree
        // built by this module a leaf only ever sits on its own key's path, so this holds for
        // every honest proof; checking it keeps non-membership sound even for a malformed tree.
        if let Some((terminal_key, _)) = self.terminal
            && !shares_prefix(&terminal_key, &path, self.siblings.len())
        {
            return Err(ProofError::LeafOffPath {
                key_hash: terminal_key,
            });
        }
        match (self.terminal, value) {
            (Some((terminal_key, proven)), Some(value)) if terminal_key == path => {
                if proven == value_hash(value) {
                    Ok(())
                } else {
                    Err(ProofError::WrongValue { proven })
                }
            }
            (Some((terminal_key, proven)), None) if terminal_key == path => {
                Err(ProofError::KeyPresent { proven })
            }
            (_, Some(_)) => Err(ProofError::KeyAbsent),
            (_, None) => Ok(()),
        }
    }

    /// The root this proof leads to along `path`. Needs at most 256 siblings.
    fn root_for(&self, path: &Hash) -> Hash {
        let mut hash = match &self.terminal {
            Some((key_hash, value_hash)) => leaf_hash(key_hash, value_hash),
            None => EMPTY,
        };
        for (depth, sibling) in self.siblings.iter().enumerate().rev() {
            hash = if bit(path, depth) {
                internal_hash(sibling, &hash)
            } else {
                internal_hash(&hash, sibling)
            };
        }
        hash
    }
}

/// Bit `depth` of `path`, most significant bit of byte 0 first. `depth` must be below 256.
fn bit(path: &Hash, depth: usize) -> bool {
    (path.0[depth / 8] >> (7 - depth % 8)) & 1 == 1
}

/// Whether `a` and `b` agree on their first `bits` path bits (`bits` at most 256).
fn shares_prefix(a: &Hash, b: &Hash, bits: usize) -> bool {
    (0..bits).all(|depth| bit(a, depth) == bit(b, depth))
}

/// Reads the node stored under `hash` (never [`EMPTY`]), checking that it is that node.
fn read_node(reader: &dyn NodeReader, hash: &Hash) -> Result<Node, TreeError> {
    let node = reader.node(hash)?.ok_or(TreeError::MissingNode(*hash))?;
    if node.hash() != *hash {
        return Err(TreeError::CorruptNode {
            hash: *hash,
            reason: "its content hashes to a different value",
        });
    }
    Ok(node)
}

/// One key's change, by path: `value_hash` is `None` for a deletion.
struct Change {
    key_hash: Hash,
    value_hash: Option<Hash>,
}

/// The state of one [`update`]: rebuilds touched subtrees bottom-up.
struct Builder<'a> {
    reader: &'a dyn NodeReader,
    /// Every node read or created by this update: tells a leaf from an internal node without
    /// reading twice, and keeps a node that already existed out of `new_nodes`. A hash map: it
    /// holds about 20 nodes per changed key and is searched for each, and a sorted map's
    /// comparisons were a fifth of a large block's tree update. Its order is never used.
    known: HashMap<Hash, Node>,
    new_nodes: Vec<(Hash, Node)>,
}

impl Builder<'_> {
    /// The new hash of subtree `hash` at `depth` once `changes` apply. The changes are sorted by
    /// path and all lie under this subtree (share its first `depth` path bits).
    fn rebuild(&mut self, hash: Hash, depth: usize, changes: &[Change]) -> Result<Hash, TreeError> {
        if changes.is_empty() {
            return Ok(hash);
        }
        if hash == EMPTY {
            return self.rebuild_single(depth, None, changes);
        }
        match self.load(&hash)? {
            Node::Leaf {
                key_hash,
                value_hash,
            } => {
                // A leaf off its path was not put there by this module; merging into it would
                // place keys where no proof can find them.
                if !shares_prefix(&key_hash, &changes[0].key_hash, depth) {
                    return Err(TreeError::CorruptNode {
                        hash,
                        reason: "leaf lies off its key's path",
                    });
                }
                self.rebuild_single(depth, Some((key_hash, value_hash)), changes)
            }
            Node::Internal { left, right } => {
                if depth >= MAX_DEPTH {
                    return Err(TreeError::CorruptNode {
                        hash,
                        reason: "internal node below the last path bit",
                    });
                }
                let split = changes.partition_point(|change| !bit(&change.key_hash, depth));
                let (left_changes, right_changes) = changes.split_at(split);
                let left = self.rebuild(left, depth + 1, left_changes)?;
                let right = self.rebuild(right, depth + 1, right_changes)?;
                self.join(left, right)
            }
        }
    }

    /// Rebuilds a subtree that held at most one key (`existing`): small enough to merge the
    /// changes into its contents and build the result afresh.
    fn rebuild_single(
        &mut self,
        depth: usize,
        existing: Option<(Hash, Hash)>,
        changes: &[Change],
    ) -> Result<Hash, TreeError> {
        let mut contents: BTreeMap<Hash, Hash> = existing.into_iter().collect();
        for change in changes {
            match change.value_hash {
                Some(value_hash) => contents.insert(change.key_hash, value_hash),
                None => contents.remove(&change.key_hash),
            };
        }
        let leaves: Vec<(Hash, Hash)> = contents.into_iter().collect();
        self.build(depth, &leaves)
    }

    /// A fresh subtree at `depth` holding exactly `leaves`: sorted, distinct paths that share
    /// their first `depth` bits.
    fn build(&mut self, depth: usize, leaves: &[(Hash, Hash)]) -> Result<Hash, TreeError> {
        match leaves {
            [] => Ok(EMPTY),
            [(key_hash, value_hash)] => Ok(self.emit(Node::Leaf {
                key_hash: *key_hash,
                value_hash: *value_hash,
            })),
            _ => {
                assert!(
                    depth < MAX_DEPTH,
                    "distinct paths differ in some bit, so two leaves never share all 256"
                );
                let split = leaves.partition_point(|(key_hash, _)| !bit(key_hash, depth));
                let (left, right) = leaves.split_at(split);
                let left = self.build(depth + 1, left)?;
                let right = self.build(depth + 1, right)?;
                self.join(left, right)
            }
        }
    }

    /// The subtree with children `left` and `right`, normalised: nothing if both are empty, and
    /// a lone leaf beside an empty subtree rises to take the parent's place.
    fn join(&mut self, left: Hash, right: Hash) -> Result<Hash, TreeError> {
        let lone = match (left == EMPTY, right == EMPTY) {
            (true, true) => return Ok(EMPTY),
            (true, false) => Some(right),
            (false, true) => Some(left),
            (false, false) => None,
        };
        if let Some(child) = lone
            && matches!(self.load(&child)?, Node::Leaf { .. })
        {
            return Ok(child);
        }
        Ok(self.emit(Node::Internal { left, right }))
    }

    /// The node under `hash` (never [`EMPTY`]), from this update's own nodes or the store.
    fn load(&mut self, hash: &Hash) -> Result<Node, TreeError> {
        if let Some(node) = self.known.get(hash) {
            return Ok(*node);
        }
        let node = read_node(self.reader, hash)?;
        self.known.insert(*hash, node);
        Ok(node)
    }

    /// Records `node` as part of the new tree, and returns its hash.
    fn emit(&mut self, node: Node) -> Hash {
        let hash = node.hash();
        // A node read earlier in this update (a rewritten subtree that came out the same, or an
        // untouched leaf merged with changes) is already stored.
        if self.known.insert(hash, node).is_none() {
            self.new_nodes.push((hash, node));
        }
        hash
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec;

    type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

    /// Applies `changes` on top of `root`, stores the new nodes, and returns the new root.
    fn apply(nodes: &mut MemoryNodes, root: &Hash, changes: &Changes) -> Hash {
        let update = update(nodes, root, changes).expect("every node of the tree is stored");
        nodes.insert_all(update.new_nodes);
        update.root
    }

    /// Changes setting each key to its value.
    fn puts<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (K, V)>) -> Changes {
        pairs
            .into_iter()
            .map(|(key, value)| (key.as_ref().to_vec(), Some(value.as_ref().to_vec())))
            .collect()
    }

    /// Changes deleting each key.
    fn deletes<K: AsRef<[u8]>>(keys: impl IntoIterator<Item = K>) -> Changes {
        keys.into_iter()
            .map(|key| (key.as_ref().to_vec(), None))
            .collect()
    }

    /// The root of `contents` built in one batch on an empty store.
    fn root_from_scratch(contents: &BTreeMap<Vec<u8>, Vec<u8>>) -> Hash {
        let changes = contents
            .iter()
            .map(|(key, value)| (key.clone(), Some(value.clone())))
            .collect();
        apply(&mut MemoryNodes::new(), &EMPTY, &changes)
    }

    fn assert_proves(nodes: &MemoryNodes, root: &Hash, key: &[u8], value: Option<&[u8]>) {
        let proof = prove(nodes, root, key).expect("every node of the tree is stored");
        assert_eq!(proof.verify(root, key, value), Ok(()), "key {key:?}");
    }

    /// Walks the whole tree and checks the normal form: no internal node over two empty
    /// subtrees or over a lone leaf, every leaf on its own path. Returns the number of leaves.
    fn check_normal_form(nodes: &MemoryNodes, hash: &Hash, path: &mut Vec<bool>) -> usize {
        if *hash == EMPTY {
            return 0;
        }
        match read_node(nodes, hash).expect("every node of the tree is stored") {
            Node::Leaf { key_hash, .. } => {
                let on_path = path
                    .iter()
                    .enumerate()
                    .all(|(depth, went_right)| bit(&key_hash, depth) == *went_right);
                assert!(
                    on_path,
                    "leaf {key_hash:?} off its path at depth {}",
                    path.len()
                );
                1
            }
            Node::Internal { left, right } => {
                path.push(false);
                let left_leaves = check_normal_form(nodes, &left, path);
                path.pop();
                path.push(true);
                let right_leaves = check_normal_form(nodes, &right, path);
                path.pop();
                assert!(
                    left_leaves + right_leaves >= 2,
                    "internal node {hash:?} holds fewer than two keys"
                );
                left_leaves + right_leaves
            }
        }
    }

    /// Keys whose paths share their first `bits` bits with the path of `b"deep-0"`.
    fn keys_sharing_prefix(bits: usize, count: usize) -> Vec<Vec<u8>> {
        let target = key_hash(b"deep-0");
        let mut keys = vec![b"deep-0".to_vec()];
        let mut candidate = 1u64;
        while keys.len() < count {
            let key = format!("deep-{candidate}").into_bytes();
            if shares_prefix(&key_hash(&key), &target, bits) {
                keys.push(key);
            }
            candidate += 1;
        }
        keys
    }

    /// The first path bit at which `a` and `b` differ.
    fn first_difference(a: &Hash, b: &Hash) -> usize {
        (0..MAX_DEPTH)
            .find(|depth| bit(a, *depth) != bit(b, *depth))
            .expect("distinct paths")
    }

    #[test]
    fn the_empty_tree_has_root_empty_and_proves_every_key_absent() {
        let nodes = MemoryNodes::new();
        let update = update(&nodes, &EMPTY, &Changes::new()).expect("no node is read");
        assert_eq!(update.root, EMPTY);
        assert!(update.new_nodes.is_empty());
        let proof = prove(&nodes, &EMPTY, b"anything").expect("no node is read");
        assert_eq!(
            proof,
            StateProof {
                siblings: vec![],
                terminal: None
            }
        );
        assert_eq!(proof.verify(&EMPTY, b"anything", None), Ok(()));
        assert_eq!(
            proof.verify(&EMPTY, b"anything", Some(b"x")),
            Err(ProofError::KeyAbsent)
        );
    }

    #[test]
    fn a_single_key_is_a_leaf_at_the_root() {
        let mut nodes = MemoryNodes::new();
        let root = apply(&mut nodes, &EMPTY, &puts([("alice", "10")]));
        assert_eq!(root, leaf_hash(&key_hash(b"alice"), &value_hash(b"10")));
        assert_eq!(nodes.len(), 1);
        let proof = prove(&nodes, &root, b"alice").expect("stored");
        assert!(proof.siblings.is_empty());
        assert_eq!(proof.verify(&root, b"alice", Some(b"10")), Ok(()));
        // Another key's path ends at alice's leaf: that proves it absent.
        assert_proves(&nodes, &root, b"bob", None);
    }

    #[test]
    fn two_keys_split_at_their_first_differing_bit() {
        let (a, b) = (key_hash(b"a"), key_hash(b"b"));
        let mut nodes = MemoryNodes::new();
        let root = apply(&mut nodes, &EMPTY, &puts([("a", "1"), ("b", "2")]));
        let split = first_difference(&a, &b);
        let (mut expected, leaf_b) = (
            leaf_hash(&a, &value_hash(b"1")),
            leaf_hash(&b, &value_hash(b"2")),
        );
        expected = if bit(&a, split) {
            internal_hash(&leaf_b, &expected)
        } else {
            internal_hash(&expected, &leaf_b)
        };
        for depth in (0..split).rev() {
            expected = if bit(&a, depth) {
                internal_hash(&EMPTY, &expected)
            } else {
                internal_hash(&expected, &EMPTY)
            };
        }
        assert_eq!(root, expected);
        let proof = prove(&nodes, &root, b"a").expect("stored");
        assert_eq!(proof.siblings.len(), split + 1);
    }

    #[test]
    fn insert_then_delete_returns_to_the_previous_root() {
        let mut nodes = MemoryNodes::new();
        let alone = apply(&mut nodes, &EMPTY, &puts([("k", "v")]));
        assert_eq!(apply(&mut nodes, &alone, &deletes(["k"])), EMPTY);

        let base = puts((0..20u8).map(|i| ([b'k', i], "v")));
        let before = apply(&mut nodes, &EMPTY, &base);
        let added = apply(&mut nodes, &before, &puts([("new", "x")]));
        assert_ne!(added, before);
        assert_eq!(apply(&mut nodes, &added, &deletes(["new"])), before);
        check_normal_form(&nodes, &before, &mut Vec::new());
    }

    #[test]
    fn no_op_changes_keep_the_root_and_create_no_nodes() {
        let mut nodes = MemoryNodes::new();
        let root = apply(&mut nodes, &EMPTY, &puts([("a", "1"), ("b", "2")]));
        let mut changes = deletes(["absent"]);
        changes.insert(b"a".to_vec(), Some(b"1".to_vec()));
        let update = update(&nodes, &root, &changes).expect("stored");
        assert_eq!(update.root, root);
        assert!(update.new_nodes.is_empty(), "{:?}", update.new_nodes);
    }

    #[test]
    fn new_nodes_list_children_before_parents() {
        let mut nodes = MemoryNodes::new();
        let root = apply(&mut nodes, &EMPTY, &puts((0..50u8).map(|i| ([i], "v"))));
        let changes = puts((40..90u8).map(|i| ([i], "w")));
        let update = update(&nodes, &root, &changes).expect("stored");
        let mut available = nodes.clone();
        for (hash, node) in &update.new_nodes {
            assert_eq!(node.hash(), *hash);
            if let Node::Internal { left, right } = node {
                for child in [left, right] {
                    assert!(*child == EMPTY || available.nodes.contains_key(child));
                }
            }
            available.insert_all([(*hash, *node)]);
        }
        assert_eq!(
            update.new_nodes.last().map(|(hash, _)| *hash),
            Some(update.root)
        );
    }

    #[test]
    fn keys_sharing_a_long_prefix_make_a_deep_path_that_collapses_on_delete() {
        let keys = keys_sharing_prefix(14, 3);
        let mut nodes = MemoryNodes::new();
        let all = puts(keys.iter().map(|key| (key, "v")));
        let root = apply(&mut nodes, &EMPTY, &all);
        check_normal_form(&nodes, &root, &mut Vec::new());
        for key in &keys {
            let proof = prove(&nodes, &root, key).expect("stored");
            assert!(
                proof.siblings.len() > 14,
                "{} siblings",
                proof.siblings.len()
            );
            assert_eq!(proof.verify(&root, key, Some(b"v")), Ok(()));
        }
        // A key off the shared prefix is proven absent high up.
        assert_proves(&nodes, &root, b"elsewhere", None);

        // Deleting all but one lets the survivor rise to the root.
        let one_left = apply(&mut nodes, &root, &deletes([&keys[1], &keys[2]]));
        assert_eq!(one_left, leaf_hash(&key_hash(&keys[0]), &value_hash(b"v")));
        // Deleting one keeps exactly the tree built without it.
        let two_left = apply(&mut nodes, &root, &deletes([&keys[2]]));
        let expected: BTreeMap<_, _> = keys[..2]
            .iter()
            .map(|key| (key.clone(), b"v".to_vec()))
            .collect();
        assert_eq!(two_left, root_from_scratch(&expected));
        check_normal_form(&nodes, &two_left, &mut Vec::new());
    }

    #[test]
    fn old_roots_stay_provable_after_later_updates() {
        let mut nodes = MemoryNodes::new();
        let first = apply(&mut nodes, &EMPTY, &puts([("a", "1"), ("b", "1")]));
        let second = apply(&mut nodes, &first, &puts([("a", "2"), ("c", "2")]));
        let third = apply(&mut nodes, &second, &deletes(["a", "b"]));
        assert_proves(&nodes, &first, b"a", Some(b"1"));
        assert_proves(&nodes, &first, b"c", None);
        assert_proves(&nodes, &second, b"a", Some(b"2"));
        assert_proves(&nodes, &second, b"b", Some(b"1"));
        assert_proves(&nodes, &third, b"a", None);
        assert_proves(&nodes, &third, b"c", Some(b"2"));
    }

    #[test]
    fn a_missing_node_is_an_error_not_a_panic() {
        let mut nodes = MemoryNodes::new();
        let root = apply(&mut nodes, &EMPTY, &puts((0..8u8).map(|i| ([i], "v"))));
        assert_eq!(
            prove(&MemoryNodes::new(), &root, b"x"),
            Err(TreeError::MissingNode(root))
        );
        let Some(Node::Internal { left, right }) = nodes.nodes.get(&root).copied() else {
            panic!("eight keys need an internal root");
        };
        let child = if left == EMPTY { right } else { left };
        nodes.nodes.remove(&child);
        let key_under_child = (0..8u8)
            .find(|i| bit(&key_hash(&[*i]), 0) == (child == right))
            .expect("some key lies under a non-empty child");
        assert_eq!(
            prove(&nodes, &root, &[key_under_child]),
            Err(TreeError::MissingNode(child))
        );
        assert_eq!(
            update(&nodes, &root, &deletes([[key_under_child]])),
            Err(TreeError::MissingNode(child))
        );
    }

    #[test]
    fn a_node_that_does_not_match_its_hash_is_corrupt() {
        let mut nodes = MemoryNodes::new();
        let root = apply(&mut nodes, &EMPTY, &puts([("a", "1")]));
        let forged = Node::Leaf {
            key_hash: key_hash(b"a"),
            value_hash: value_hash(b"forged"),
        };
        nodes.insert_all([(root, forged)]);
        assert!(matches!(
            prove(&nodes, &root, b"a"),
            Err(TreeError::CorruptNode { hash, .. }) if hash == root
        ));
    }

    #[test]
    fn a_storage_error_propagates() {
        struct Failing;
        impl NodeReader for Failing {
            fn node(&self, _: &Hash) -> Result<Option<Node>, TreeError> {
                Err(TreeError::Storage("disk on fire".into()))
            }
        }
        let root = key_hash(b"some root");
        let failed = TreeError::Storage("disk on fire".into());
        assert_eq!(prove(&Failing, &root, b"a"), Err(failed.clone()));
        assert_eq!(update(&Failing, &root, &deletes(["a"])), Err(failed));
    }

    #[test]
    fn tampering_with_any_byte_of_a_proof_or_the_root_breaks_it() {
        let mut nodes = MemoryNodes::new();
        let contents = puts((0..40u8).map(|i| ([i], [i, i])));
        let root = apply(&mut nodes, &EMPTY, &contents);
        // Present keys (terminal is their leaf) and absent ones (another leaf, or empty).
        for key in (0..60u8).map(|i| vec![i]) {
            let value = contents.get(&key).cloned().flatten();
            let proof = prove(&nodes, &root, &key).expect("stored");
            assert_eq!(proof.verify(&root, &key, value.as_deref()), Ok(()));
            for byte in 0..32 {
                for sibling in 0..proof.siblings.len() {
                    let mut tampered = proof.clone();
                    tampered.siblings[sibling].0[byte] ^= 0x01;
                    assert!(tampered.verify(&root, &key, value.as_deref()).is_err());
                }
                if let Some((terminal_key, terminal_value)) = proof.terminal {
                    let mut tampered = proof.clone();
                    let mut flipped = terminal_key;
                    flipped.0[byte] ^= 0x80;
                    tampered.terminal = Some((flipped, terminal_value));
                    assert!(tampered.verify(&root, &key, value.as_deref()).is_err());
                    let mut flipped = terminal_value;
                    flipped.0[byte] ^= 0x80;
                    tampered.terminal = Some((terminal_key, flipped));
                    assert!(tampered.verify(&root, &key, value.as_deref()).is_err());
                }
                let mut other_root = root;
                other_root.0[byte] ^= 0x01;
                assert!(matches!(
                    proof.verify(&other_root, &key, value.as_deref()),
                    Err(ProofError::RootMismatch { .. })
                ));
            }
            // Dropping the terminal or the last sibling breaks it too.
            let mut truncated = proof.clone();
            if truncated.terminal.take().is_some() {
                assert!(truncated.verify(&root, &key, None).is_err());
            }
            let mut shortened = proof.clone();
            if shortened.siblings.pop().is_some() {
                assert!(shortened.verify(&root, &key, value.as_deref()).is_err());
            }
        }
    }

    #[test]
    fn claims_contradicting_the_proof_get_a_precise_error() {
        let mut nodes = MemoryNodes::new();
        let root = apply(&mut nodes, &EMPTY, &puts([("a", "1"), ("b", "2")]));
        let proof = prove(&nodes, &root, b"a").expect("stored");
        assert_eq!(
            proof.verify(&root, b"a", Some(b"2")),
            Err(ProofError::WrongValue {
                proven: value_hash(b"1")
            })
        );
        assert_eq!(
            proof.verify(&root, b"a", None),
            Err(ProofError::KeyPresent {
                proven: value_hash(b"1")
            })
        );
        let absent = prove(&nodes, &root, b"zzz").expect("stored");
        assert_eq!(
            absent.verify(&root, b"zzz", Some(b"1")),
            Err(ProofError::KeyAbsent)
        );
    }

    #[test]
    fn a_proof_longer_than_a_path_is_refused() {
        let proof = StateProof {
            siblings: vec![EMPTY; MAX_DEPTH + 1],
            terminal: None,
        };
        assert_eq!(
            proof.verify(&EMPTY, b"a", None),
            Err(ProofError::TooLong { siblings: 257 })
        );
        // 256 siblings is the most a path can have, and is still checked normally.
        let full = StateProof {
            siblings: vec![EMPTY; MAX_DEPTH],
            terminal: None,
        };
        assert!(matches!(
            full.verify(&EMPTY, b"a", None),
            Err(ProofError::RootMismatch { .. })
        ));
    }

    #[test]
    fn a_leaf_off_the_key_path_does_not_prove_absence() {
        // A malformed root whose only leaf sits on the wrong side of the first bit.
        let key = (0..=255u8)
            .map(|i| vec![i])
            .find(|key| !bit(&key_hash(key), 0))
            .expect("half of all keys go left");
        let other = (0..=255u8)
            .map(|i| vec![i])
            .find(|key| bit(&key_hash(key), 0))
            .expect("half of all keys go right");
        let stray = (key_hash(&other), value_hash(b"v"));
        let root = internal_hash(&leaf_hash(&stray.0, &stray.1), &EMPTY);
        let proof = StateProof {
            siblings: vec![EMPTY],
            terminal: Some(stray),
        };
        assert_eq!(
            proof.verify(&root, &key, None),
            Err(ProofError::LeafOffPath { key_hash: stray.0 })
        );
    }

    #[test]
    fn the_proof_encoding_is_the_documented_one() {
        let proof = StateProof {
            siblings: vec![Hash([1; 32]), Hash([2; 32])],
            terminal: Some((Hash([3; 32]), Hash([4; 32]))),
        };
        let mut expected = 2u64.to_le_bytes().to_vec();
        expected.extend([1; 32]);
        expected.extend([2; 32]);
        expected.push(1);
        expected.extend([3; 32]);
        expected.extend([4; 32]);
        let bytes = codec::encode(&proof);
        assert_eq!(bytes, expected);
        assert_eq!(codec::decode::<StateProof>(&bytes), Ok(proof.clone()));

        let absent = StateProof {
            siblings: vec![],
            terminal: None,
        };
        assert_eq!(codec::encode(&absent), [0, 0, 0, 0, 0, 0, 0, 0, 0]);

        let json = serde_json::to_value(&proof).expect("a proof serialises");
        let hex = |byte: &str| byte.repeat(32);
        assert_eq!(
            json,
            serde_json::json!({
                "siblings": [hex("01"), hex("02")],
                "terminal": [hex("03"), hex("04")],
            })
        );
        assert_eq!(serde_json::from_value::<StateProof>(json).ok(), Some(proof));
    }

    #[test]
    fn proofs_stay_logarithmic_and_batching_does_not_change_the_root() {
        let keys: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let mut nodes = MemoryNodes::new();
        let all = puts(keys.iter().map(|key| (key, "v")));
        let root = apply(&mut nodes, &EMPTY, &all);
        let longest = keys
            .iter()
            .map(|key| prove(&nodes, &root, key).expect("stored").siblings.len())
            .max()
            .unwrap_or(0);
        assert!(longest < 40, "longest proof has {longest} siblings");

        // The same contents, inserted in reverse in batches of 7, give the same root.
        let mut incremental = MemoryNodes::new();
        let mut incremental_root = EMPTY;
        for chunk in keys.rchunks(7) {
            let batch = puts(chunk.iter().map(|key| (key, "v")));
            incremental_root = apply(&mut incremental, &incremental_root, &batch);
        }
        assert_eq!(incremental_root, root);
        assert_eq!(check_normal_form(&nodes, &root, &mut Vec::new()), 1000);
    }

    /// A batch over a 16-key keyspace: puts of short values, and deletes.
    fn batch() -> impl Strategy<Value = Changes> {
        prop::collection::btree_map(
            (0u8..16).prop_map(|key| vec![key]),
            proptest::option::of(prop::collection::vec(any::<u8>(), 0..3)),
            0..10,
        )
    }

    proptest! {
        #[test]
        fn batches_agree_with_a_map_model(batches in prop::collection::vec(batch(), 1..8)) {
            let mut nodes = MemoryNodes::new();
            let mut root = EMPTY;
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let mut history = vec![(root, model.clone())];
            for changes in &batches {
                root = apply(&mut nodes, &root, changes);
                for (key, value) in changes {
                    match value {
                        Some(value) => model.insert(key.clone(), value.clone()),
                        None => model.remove(key),
                    };
                }
                // History independence: the same contents built at once give the same root.
                prop_assert_eq!(root, root_from_scratch(&model));
                prop_assert_eq!(check_normal_form(&nodes, &root, &mut Vec::new()), model.len());
                history.push((root, model.clone()));
            }
            // Every root ever reached still proves its own contents, present and absent.
            for (root, model) in &history {
                for key in (0u8..16).map(|key| vec![key]) {
                    let proof = prove(&nodes, root, &key).expect("every node is stored");
                    let value = model.get(&key);
                    prop_assert_eq!(proof.verify(root, &key, value.map(Vec::as_slice)), Ok(()));
                    match value {
                        Some(value) => {
                            let mut wrong = value.clone();
                            wrong.push(0);
                            prop_assert!(proof.verify(root, &key, Some(&wrong)).is_err());
                            prop_assert!(proof.verify(root, &key, None).is_err());
                        }
                        None => prop_assert!(proof.verify(root, &key, Some(b"")).is_err()),
                    }
                }
            }
        }

        #[test]
        fn verifying_arbitrary_proofs_never_panics(
            siblings in prop::collection::vec(any::<[u8; 32]>().prop_map(Hash), 0..300),
            terminal in proptest::option::of(any::<([u8; 32], [u8; 32])>()),
            root in any::<[u8; 32]>(),
            key in prop::collection::vec(any::<u8>(), 0..8),
            value in proptest::option::of(prop::collection::vec(any::<u8>(), 0..8)),
        ) {
            let proof = StateProof {
                siblings,
                terminal: terminal.map(|(key_hash, value_hash)| (Hash(key_hash), Hash(value_hash))),
            };
            prop_assert!(proof.verify(&Hash(root), &key, value.as_deref()).is_err());
            // Against the root it leads to, the proof reaches the leaf and value checks too.
            if proof.siblings.len() <= MAX_DEPTH {
                let own_root = proof.root_for(&key_hash(&key));
                let _ = proof.verify(&own_root, &key, value.as_deref());
            }
        }
    }
}
