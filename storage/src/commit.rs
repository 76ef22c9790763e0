//! Writing the chain: a committed block with everything derived from it, and the genesis state.
//!
//! **One block, one synced batch.** [`Database::commit_block`] writes the block, its header,
//! certificate, receipts, indexes, state changes, state history and the new tip in a single
//! `WriteBatch` with `sync = true`. After a crash the database is before or after the block,
//! never in between. The genesis state is written the same way, once.
//!
//! **The chain only grows by one.** A commit is refused ([`StorageError::InvalidCommit`]) unless
//! the block is at the tip's height + 1, names the tip as its parent, and comes with its own
//! certificate, an execution outcome with its state root and one receipt per transaction. The
//! caller verifies the certificate and executes the block; the database does not.
//!
//! **Batches are in key order.** RocksDB inserts a batch's entries into its sorted memtable one
//! after the other, and an entry next to the previous one reuses most of its search, so entries
//! keyed by hash (tree nodes, transaction index) are sorted before they are added.

use cassia_crypto::Hash;
use cassia_ledger::execution::BlockOutcome;
use cassia_ledger::state_tree::Node;
use cassia_ledger::{Block, CommitCertificate, Height};
use rocksdb::WriteBatch;

use crate::tables::{
    BlockIndex, Blocks, Certificates, ChainTip, GENESIS_STATE_KEY, Headers, Metadata, MetadataKey,
    Receipts, STATE, StateHistory, StateNodes, Table, TxIndex, TxLocation,
};
use crate::{Database, StorageError};

impl Database {
    /// Commits `block` with its certificate and execution results in one synced batch.
    ///
    /// The caller has verified the certificate and executed the block; the database checks
    /// only that the block extends its tip and matches what it is given, and refuses otherwise.
    pub fn commit_block(
        &self,
        block: &Block,
        certificate: &CommitCertificate,
        outcome: &BlockOutcome,
    ) -> Result<ChainTip, StorageError> {
        let tip = self.tip()?;
        self.check_extends(tip.as_ref(), block, certificate, outcome)?;
        let height = block.height();
        let block_hash = block.hash();
        let mut batch = WriteBatch::default();
        self.put::<Blocks>(&mut batch, &height, block);
        self.put::<Headers>(&mut batch, &height, &block.header);
        self.put::<BlockIndex>(&mut batch, &block_hash, &height);
        self.put::<Certificates>(&mut batch, &height, certificate);
        for receipt in &outcome.receipts {
            self.put::<Receipts>(&mut batch, &(height, receipt.index), receipt);
        }
        // In key order (see `write_state`).
        let mut ids: Vec<(&Hash, u32)> = outcome
            .receipts
            .iter()
            .map(|receipt| (&receipt.tx_id, receipt.index))
            .collect();
        ids.sort_unstable();
        for (id, index) in ids {
            self.put::<TxIndex>(&mut batch, id, &TxLocation { height, index });
        }
        self.write_state(&mut batch, height, outcome);
        let new_tip = ChainTip {
            height,
            block_hash,
            state_root: block.header.state_root,
        };
        self.put::<Metadata>(&mut batch, &MetadataKey::Tip, &new_tip);
        self.write(batch)?;
        self.cache_nodes(&outcome.tree_nodes);
        Ok(new_tip)
    }

    /// Writes the genesis state (height 0: its values, history entries and tree nodes) unless
    /// it is there already; one synced batch, so a crash leaves it whole or absent.
    pub fn init_genesis_state(&self, outcome: &BlockOutcome) -> Result<(), StorageError> {
        if self
            .db()
            .get_cf(self.cf(Metadata::NAME), GENESIS_STATE_KEY)?
            .is_some()
        {
            return Ok(());
        }
        if self.tip()?.is_some() {
            return Err(StorageError::Corrupt(
                "blocks are stored but the genesis state is not".into(),
            ));
        }
        let mut batch = WriteBatch::default();
        self.write_state(&mut batch, 0, outcome);
        batch.put_cf(
            self.cf(Metadata::NAME),
            GENESIS_STATE_KEY,
            outcome.state_root.as_bytes(),
        );
        self.write(batch)
    }

    /// Adds `outcome`'s tree nodes, state values and history entries at `height` to `batch`.
    fn write_state(&self, batch: &mut WriteBatch, height: Height, outcome: &BlockOutcome) {
        // In key order: RocksDB inserts a batch's entries into its sorted memtable one after
        // the other, and an entry next to the previous one reuses most of its search. Tree
        // nodes (keyed by hash) come children-first, in random key order, and searching the
        // memtable afresh for each was the largest cost of committing a block. (Changes and
        // their history entries are already sorted: `StateChanges` is a `BTreeMap`.)
        let mut nodes: Vec<&(Hash, Node)> = outcome.tree_nodes.iter().collect();
        nodes.sort_unstable_by_key(|(hash, _)| *hash);
        for (hash, node) in nodes {
            self.put::<StateNodes>(batch, hash, node);
        }
        let state = self.cf(STATE);
        for (key, value) in &outcome.changes {
            match value {
                Some(value) => batch.put_cf(state, key, value),
                None => batch.delete_cf(state, key),
            }
            self.put::<StateHistory>(batch, &(key.clone(), height), value);
        }
    }

    fn check_extends(
        &self,
        tip: Option<&ChainTip>,
        block: &Block,
        certificate: &CommitCertificate,
        outcome: &BlockOutcome,
    ) -> Result<(), StorageError> {
        let receipts = &outcome.receipts;
        let (expected_height, expected_parent) = match tip {
            Some(tip) => (tip.height + 1, tip.block_hash),
            None => (1, self.genesis_hash()),
        };
        let refuse = |why: String| Err(StorageError::InvalidCommit(why));
        if block.height() != expected_height {
            return refuse(format!(
                "block height {} but the next height is {expected_height}",
                block.height()
            ));
        }
        if block.header.parent != expected_parent {
            return refuse(format!("block {} does not extend the tip", block.height()));
        }
        if certificate.block_hash != block.hash() || certificate.height != block.height() {
            return refuse(format!("certificate is not for block {}", block.height()));
        }
        if outcome.state_root != block.header.state_root {
            return refuse(format!(
                "execution result is not for block {} (state root differs)",
                block.height()
            ));
        }
        if receipts.len() != block.transactions.len() {
            return refuse(format!(
                "{} receipts for {} transactions",
                receipts.len(),
                block.transactions.len()
            ));
        }
        Ok(())
    }
}
