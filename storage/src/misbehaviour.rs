//! Proofs of equivocation the node's replica found, kept so that the consortium can act on them
//! (gRPC `NodeService.Misbehaviour`, `cassia misbehaviour`, and a proposal to remove the
//! validator). They are few, compact (two hashes and two signatures each) and bounded: at most
//! [`MAX_PROOFS_PER_VALIDATOR`] per validator, the first found; one proof is enough grounds.

use cassia_ledger::misbehaviour::Equivocation;
use rocksdb::{Direction, IteratorMode, WriteBatch};

use crate::tables::{Misbehaviour, Table};
use crate::{Database, StorageError};

/// Most proofs kept against one validator. A validator that keeps equivocating cannot grow the
/// store (or the log lines that report a new proof) beyond this.
pub const MAX_PROOFS_PER_VALIDATOR: usize = 64;

/// What [`Database::record_equivocation`] did with a proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Kept (durably) for the first time.
    New,
    /// A proof for the same validator, height, view and kind is kept already.
    Known,
    /// The validator has [`MAX_PROOFS_PER_VALIDATOR`] proofs kept already.
    Full,
}

impl Database {
    /// Keeps `proof` (already verified by the caller) unless it is known or its validator's
    /// proofs are at the bound. The write is synced like every other.
    pub fn record_equivocation(&self, proof: &Equivocation) -> Result<Recorded, StorageError> {
        let key = (proof.validator, proof.height, proof.view, proof.kind);
        if self.get::<Misbehaviour>(&key)?.is_some() {
            return Ok(Recorded::Known);
        }
        if self
            .equivocations_by(proof, MAX_PROOFS_PER_VALIDATOR)?
            .len()
            >= MAX_PROOFS_PER_VALIDATOR
        {
            return Ok(Recorded::Full);
        }
        let mut batch = WriteBatch::default();
        self.put::<Misbehaviour>(&mut batch, &key, proof);
        self.write(batch)?;
        Ok(Recorded::New)
    }

    /// The kept proofs, by validator key then height, view and kind; at most `limit`.
    pub fn equivocations(&self, limit: usize) -> Result<Vec<Equivocation>, StorageError> {
        self.scan(&[], limit)
    }

    /// Up to `limit` kept proofs against `proof`'s validator.
    fn equivocations_by(
        &self,
        proof: &Equivocation,
        limit: usize,
    ) -> Result<Vec<Equivocation>, StorageError> {
        self.scan(proof.validator.0.as_slice(), limit)
    }

    fn scan(&self, prefix: &[u8], limit: usize) -> Result<Vec<Equivocation>, StorageError> {
        let iterator = self.db().iterator_cf(
            self.cf(Misbehaviour::NAME),
            IteratorMode::From(prefix, Direction::Forward),
        );
        let mut out = Vec::new();
        for entry in iterator {
            if out.len() >= limit {
                break;
            }
            let (raw_key, raw_value) = entry?;
            if !raw_key.starts_with(prefix) {
                break;
            }
            out.push(Misbehaviour::decode_value(&raw_value)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use cassia_crypto::{Hash, Keypair, PublicKey, Signature};
    use cassia_ledger::misbehaviour::{SignedBlockHash, StatementKind};

    use super::*;

    fn proof(validator: PublicKey, height: u64) -> Equivocation {
        let signed = |block: &[u8]| SignedBlockHash {
            block_hash: Hash::of(block),
            signature: Signature([1; 64]),
        };
        Equivocation::new(
            validator,
            StatementKind::Commit,
            (height, 0),
            signed(b"a"),
            signed(b"b"),
        )
    }

    fn record(database: &Database, proof: &Equivocation) -> Recorded {
        database.record_equivocation(proof).expect("writes")
    }

    #[test]
    fn proofs_are_kept_once_listed_in_order_and_bounded_per_validator() {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = Database::open(dir.path(), &Hash::of(b"genesis")).expect("opens");
        let (a, b) = (
            Keypair::from_secret([1; 32]).public(),
            Keypair::from_secret([2; 32]).public(),
        );
        assert_eq!(record(&database, &proof(a, 7)), Recorded::New);
        assert_eq!(record(&database, &proof(a, 7)), Recorded::Known);
        for height in 8..7 + MAX_PROOFS_PER_VALIDATOR as u64 {
            assert_eq!(record(&database, &proof(a, height)), Recorded::New);
        }
        assert_eq!(record(&database, &proof(a, 1_000)), Recorded::Full);
        assert_eq!(record(&database, &proof(b, 3)), Recorded::New);
        drop(database);
        let database = Database::open(dir.path(), &Hash::of(b"genesis")).expect("reopens");
        let kept = database.equivocations(usize::MAX).expect("reads");
        assert_eq!(kept.len(), MAX_PROOFS_PER_VALIDATOR + 1);
        let mut sorted = kept.clone();
        sorted.sort_by_key(|p| (p.validator, p.height));
        assert_eq!(kept, sorted, "by validator, then height");
        assert_eq!(database.equivocations(2).expect("reads").len(), 2);
    }
}
