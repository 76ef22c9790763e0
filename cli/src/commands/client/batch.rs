//! The files of a batch anchor (`tx anchor-batch`, `query batch-item`).
//!
//! The items file holds one item per line (UTF-8; a trailing `\r` is dropped, empty lines are
//! refused). Each line's bytes are one leaf of an RFC 6962 Merkle tree, in file order; the
//! chain records only the tree's root and the number of items. The proofs file lets each item
//! prove its membership later, against the root on chain:
//!
//! ```text
//! {
//!   "batch_id": "B-2024-07",
//!   "root": "<64 hex>",
//!   "count": 3,
//!   "items": [
//!     { "item": "tea-001", "index": 0, "tree_size": 3, "siblings": ["<64 hex>", ...] },
//!     ...
//!   ]
//! }
//! ```
//!
//! `siblings` run from the leaf level upward (RFC 9162 2.1.3.2).

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use cassia_crypto::Hash;
use cassia_crypto::merkle::{InclusionProof, MerkleTree, leaf_hash};
use serde::{Deserialize, Serialize};

/// Most items one batch file may hold (its proofs file is then about 150 MiB).
pub const MAX_BATCH_ITEMS: usize = 100_000;
/// Largest items or proofs file read, in bytes.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Every item of a batch with its inclusion proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchProofs {
    /// The batch's id on chain.
    pub batch_id: String,
    /// The Merkle root over the items.
    pub root: Hash,
    /// Number of items.
    pub count: u64,
    /// Each item, in tree order.
    pub items: Vec<ItemProof>,
}

/// One item and the proof that it is a leaf of the batch's tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemProof {
    /// The item (the leaf's bytes, as text).
    pub item: String,
    /// Its position, from 0.
    pub index: u64,
    /// Number of leaves in the tree.
    pub tree_size: u64,
    /// Sibling hashes from the leaf upward.
    pub siblings: Vec<Hash>,
}

impl ItemProof {
    /// Whether this item is leaf `index` of the tree of `tree_size` leaves with `root`.
    pub fn verify(&self, root: &Hash) -> bool {
        let proof = InclusionProof {
            index: self.index,
            tree_size: self.tree_size,
            siblings: self.siblings.clone(),
        };
        proof.verify(root, &leaf_hash(self.item.as_bytes()))
    }
}

fn read_bounded(path: &Path, what: &str) -> Result<String> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {what} {}", path.display()))?
        .len();
    ensure!(
        size <= MAX_FILE_BYTES,
        "{what} {} is {size} bytes; the limit is {MAX_FILE_BYTES}",
        path.display()
    );
    std::fs::read_to_string(path).with_context(|| format!("reading {what} {}", path.display()))
}

/// The items of an items file: one per line, none empty, at most [`MAX_BATCH_ITEMS`].
pub fn read_items(path: &Path) -> Result<Vec<String>> {
    let text = read_bounded(path, "items file")?;
    let mut items = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.is_empty() {
            bail!(
                "{} line {}: an item cannot be empty",
                path.display(),
                number + 1
            );
        }
        ensure!(
            items.len() < MAX_BATCH_ITEMS,
            "{} holds more than {MAX_BATCH_ITEMS} items; split it into several batches",
            path.display()
        );
        items.push(line.to_string());
    }
    ensure!(!items.is_empty(), "{} holds no items", path.display());
    Ok(items)
}

impl BatchProofs {
    /// The tree over `items` and every item's proof.
    pub fn build(batch_id: &str, items: &[String]) -> BatchProofs {
        let tree = MerkleTree::from_leaves(items);
        let items = items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let proof = tree.proof(index).expect("index < number of leaves");
                ItemProof {
                    item: item.clone(),
                    index: proof.index,
                    tree_size: proof.tree_size,
                    siblings: proof.siblings,
                }
            })
            .collect::<Vec<_>>();
        BatchProofs {
            batch_id: batch_id.to_string(),
            root: tree.root(),
            count: items.len() as u64,
            items,
        }
    }

    /// Writes the proofs file (pretty JSON), replacing it atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("serialising the proofs")?;
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, text + "\n")
            .with_context(|| format!("writing {}", temporary.display()))?;
        std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))
    }

    /// Reads a proofs file.
    pub fn read(path: &Path) -> Result<BatchProofs> {
        let text = read_bounded(path, "proofs file")?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a batch proofs file", path.display()))
    }

    /// The proof of `item` (its first occurrence).
    pub fn proof_of(&self, item: &str) -> Result<&ItemProof> {
        self.items
            .iter()
            .find(|proof| proof.item == item)
            .with_context(|| format!("{item:?} is not an item of batch {}", self.batch_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_proves_against_the_root_and_only_its_own_text() {
        let items: Vec<String> = (0..7).map(|i| format!("tea-{i:03}")).collect();
        let proofs = BatchProofs::build("B-1", &items);
        assert_eq!(proofs.count, 7);
        assert_eq!(proofs.root, cassia_crypto::merkle::root_of(&items));
        for proof in &proofs.items {
            assert!(proof.verify(&proofs.root), "{}", proof.item);
            let mut forged = proof.clone();
            forged.item.push('x');
            assert!(!forged.verify(&proofs.root));
        }
    }

    #[test]
    fn items_files_refuse_empty_lines_and_accept_crlf() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("items.txt");
        std::fs::write(&path, "a\r\nb\r\n").expect("write");
        assert_eq!(read_items(&path).expect("two items"), vec!["a", "b"]);
        std::fs::write(&path, "a\n\nb\n").expect("write");
        let error = read_items(&path).expect_err("an empty line");
        assert!(error.to_string().contains("line 2"), "{error}");
    }
}
