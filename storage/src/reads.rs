//! Reading the chain: the tip, blocks, headers, certificates, the transaction index and
//! receipts.
//!
//! Every block is committed in one atomic batch ([`crate::commit`]), so a reader that reads the
//! tip first and then anything at or below its height sees that block complete, even while
//! another thread commits the next one. A value that does not decode is
//! [`StorageError::Corrupt`], never a default.

use cassia_crypto::Hash;
use cassia_ledger::{Block, BlockHeader, CommitCertificate, Height, Receipt};
use rocksdb::{Direction, IteratorMode};

use crate::tables::{
    BlockIndex, Blocks, Certificates, ChainTip, Headers, Metadata, MetadataKey, Receipts, Table,
    TxIndex, TxLocation,
};
use crate::{Database, StorageError};

impl Database {
    /// The last committed block, or `None` before block 1.
    pub fn tip(&self) -> Result<Option<ChainTip>, StorageError> {
        self.get::<Metadata>(&MetadataKey::Tip)
    }

    /// The block at `height`.
    pub fn block(&self, height: Height) -> Result<Option<Block>, StorageError> {
        self.get::<Blocks>(&height)
    }

    /// The header at `height`.
    pub fn header(&self, height: Height) -> Result<Option<BlockHeader>, StorageError> {
        self.get::<Headers>(&height)
    }

    /// The height of the block with `hash`.
    pub fn height_of(&self, hash: &Hash) -> Result<Option<Height>, StorageError> {
        self.get::<BlockIndex>(hash)
    }

    /// The commit certificate of the block at `height`.
    pub fn certificate(&self, height: Height) -> Result<Option<CommitCertificate>, StorageError> {
        self.get::<Certificates>(&height)
    }

    /// Where transaction `id` committed.
    pub fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StorageError> {
        self.get::<TxIndex>(id)
    }

    /// The receipt at `(height, index)`.
    pub fn receipt_at(&self, height: Height, index: u32) -> Result<Option<Receipt>, StorageError> {
        self.get::<Receipts>(&(height, index))
    }

    /// The receipt of transaction `id`.
    pub fn receipt(&self, id: &Hash) -> Result<Option<Receipt>, StorageError> {
        match self.tx_location(id)? {
            Some(location) => self.receipt_at(location.height, location.index),
            None => Ok(None),
        }
    }

    /// The receipts of the block at `height`, in block order.
    pub fn block_receipts(&self, height: Height) -> Result<Vec<Receipt>, StorageError> {
        let prefix = height.to_be_bytes();
        let iterator = self.db().iterator_cf(
            self.cf(Receipts::NAME),
            IteratorMode::From(&prefix, Direction::Forward),
        );
        let mut out = Vec::new();
        for entry in iterator {
            let (raw_key, raw_value) = entry?;
            if !raw_key.starts_with(&prefix) {
                break;
            }
            out.push(Receipts::decode_value(&raw_value)?);
        }
        Ok(out)
    }
}
