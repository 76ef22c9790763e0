//! Evidence packages: what a court or an auditor needs to check, offline and without trusting any
//! node, that a transaction committed on the chain, in which block, when, and with what outcome.
//!
//! A package is one JSON file (format [`FORMAT`]; `docs/evidence-format.md` describes it for
//! third parties writing their own verifier). It holds canonical encodings ([`crate::codec`]) as
//! lowercase hex, and [`verify`] needs nothing but the package and the chain's genesis file:
//!
//! ```text
//!  genesis file ── genesis set ──cert 1──> set 1 ──cert 2──> … ──> set in force at height h
//!                                                                        │ quorum signs
//!                                                          header h <── certificate h
//!                                                           │ tx_root      │ receipts_root
//!                                            inclusion proof│              │inclusion proof
//!                                                    transaction        receipt (id, height,
//!                                                                                 outcome)
//! ```
//!
//! **Validator-set history.** The state key [`VALIDATOR_SET_KEY`] holds the canonical encoding of
//! the [`ValidatorSet`] in force for the *next* block: the set that signs block `h` is the value
//! in the state after block `h - 1` (after genesis, the genesis set). A change of the set written
//! by block `A` therefore takes effect at `A + 1`, and block `A`'s own certificate is still signed
//! by the previous set. A package lists every change at a height `1 <= A < h`, oldest first; each
//! carries header `A`, its certificate, and the state proof of the new set under header `A`'s
//! `state_root`. The verifier walks them from the genesis set, checking each certificate against
//! the set in force at that height before adopting the new one. Leaving a change out leaves the
//! verifier with an outdated set, which the transaction's certificate and header then fail.
//!
//! **One byte form.** A package has exactly one valid encoding: `serde_json`'s pretty form
//! (two-space indents, fields in declaration order) plus one newline. [`verify`] re-serialises what
//! it parsed and requires the same bytes, so any alteration of the file, even in whitespace or in
//! the case of a hex digit, is refused: every bit of a valid package is covered by a check.
//!
//! ```
//! use cassia_ledger::evidence::{self, EvidenceError};
//! let genesis: cassia_ledger::Genesis = serde_json::from_str(
//!     r#"{"chain_id": "gx-gov", "genesis_time_ms": 0, "organizations": [], "validators": [],
//!         "parameters": {}}"#,
//! )
//! .expect("a genesis document");
//! // A genesis without validators is refused before the package is even read.
//! let error = evidence::verify(b"{}", &genesis).expect_err("not a valid genesis");
//! assert!(matches!(error, EvidenceError::InvalidGenesis(_)));
//! assert_eq!(
//!     error.to_string(),
//!     "the genesis file is not valid: a genesis needs at least one validator"
//! );
//! ```

mod error;
mod summary;

use bincode::Decode;
use cassia_crypto::merkle::{self, InclusionProof};
use cassia_crypto::{GenesisHash, Hash};
use serde::{Deserialize, Serialize};

pub use error::{BlockRole, EvidenceError};
pub use summary::{VerifiedEvidence, utc_time};

use crate::Height;
use crate::block::BlockHeader;
use crate::codec;
use crate::genesis::Genesis;
use crate::state_tree::StateProof;
use crate::transaction::{Receipt, SignedTransaction, hex_bytes};
use crate::validators::{CommitCertificate, ValidatorSet};

/// The format tag of every package this module writes and reads. Version 2: every signature
/// covers the genesis hash (version 1's covered the chain id only).
pub const FORMAT: &str = "cassia-evidence/2";

/// The state key holding the validator set in force for the next block (raw bytes; the key
/// [`crate::execution::keys::VALIDATORS`] that execution writes).
pub const VALIDATOR_SET_KEY: &[u8] = b"gov/validators";

/// The largest package [`verify`] reads (32 MiB): a transaction is at most a few hundred KiB and
/// a validator-set change a few KiB, so this leaves room for thousands of changes.
pub const MAX_PACKAGE_BYTES: usize = 32 * 1024 * 1024;

/// An evidence package, as stored in its JSON file. Binary fields are canonical encodings
/// ([`crate::codec`]) in lowercase hex; nothing in it is trusted until [`verify`] has checked it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidencePackage {
    /// Always [`FORMAT`], `"cassia-evidence/2"`.
    pub format: String,
    /// The chain's id: must be the genesis file's.
    pub chain_id: String,
    /// The genesis hash ([`Genesis::hash`]): must be the genesis file's.
    pub genesis_hash: Hash,
    /// The [`SignedTransaction`], canonical encoding.
    #[serde(with = "hex_bytes")]
    pub transaction: Vec<u8>,
    /// Proof that `transaction` is a leaf of the header's `tx_root` (RFC 6962).
    pub transaction_proof: InclusionProof,
    /// The transaction's [`Receipt`], canonical encoding.
    #[serde(with = "hex_bytes")]
    pub receipt: Vec<u8>,
    /// Proof that `receipt` is a leaf of the header's `receipts_root`, at the same position.
    pub receipt_proof: InclusionProof,
    /// The [`BlockHeader`] of the block the transaction committed in, canonical encoding.
    #[serde(with = "hex_bytes")]
    pub header: Vec<u8>,
    /// That block's [`CommitCertificate`], canonical encoding.
    #[serde(with = "hex_bytes")]
    pub certificate: Vec<u8>,
    /// Every change of the validator set after genesis and before the transaction's block, in
    /// increasing height order (empty when the genesis set still signs that block).
    pub validator_set_changes: Vec<ValidatorSetChange>,
}

/// One change of the validator set: block `height` wrote a new set, in force from `height + 1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSetChange {
    /// The height of the block that wrote the new set (at least 1).
    pub height: Height,
    /// That block's [`BlockHeader`], canonical encoding.
    #[serde(with = "hex_bytes")]
    pub header: Vec<u8>,
    /// That block's [`CommitCertificate`] (signed by the set in force before the change),
    /// canonical encoding.
    #[serde(with = "hex_bytes")]
    pub certificate: Vec<u8>,
    /// The [`StateProof`] of [`VALIDATOR_SET_KEY`] holding `validator_set` under the header's
    /// `state_root`, canonical encoding.
    #[serde(with = "hex_bytes")]
    pub state_proof: Vec<u8>,
    /// The new [`ValidatorSet`], canonical encoding (exactly the value stored in the state).
    #[serde(with = "hex_bytes")]
    pub validator_set: Vec<u8>,
}

impl ValidatorSetChange {
    /// The change written by the block with `header`, proven by `state_proof`.
    pub fn new(
        header: &BlockHeader,
        certificate: &CommitCertificate,
        state_proof: &StateProof,
        validator_set: &ValidatorSet,
    ) -> ValidatorSetChange {
        ValidatorSetChange {
            height: header.height,
            header: codec::encode(header),
            certificate: codec::encode(certificate),
            state_proof: codec::encode(state_proof),
            validator_set: codec::encode(validator_set),
        }
    }
}

/// What a package is assembled from (typically fetched from a node; see `cassia evidence export`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceParts {
    /// The chain's genesis hash (block 1's `parent`).
    pub genesis_hash: Hash,
    /// The transaction; its `chain_id` becomes the package's.
    pub transaction: SignedTransaction,
    /// Its inclusion proof under `header.tx_root`.
    pub transaction_proof: InclusionProof,
    /// Its receipt.
    pub receipt: Receipt,
    /// The receipt's inclusion proof under `header.receipts_root`.
    pub receipt_proof: InclusionProof,
    /// The header of the transaction's block.
    pub header: BlockHeader,
    /// That block's commit certificate.
    pub certificate: CommitCertificate,
    /// The validator-set changes at heights `1..header.height`, oldest first.
    pub validator_set_changes: Vec<ValidatorSetChange>,
}

impl EvidencePackage {
    /// Assembles a package. Nothing is checked: run [`verify`] on [`EvidencePackage::to_bytes`].
    pub fn assemble(parts: EvidenceParts) -> EvidencePackage {
        EvidencePackage {
            format: FORMAT.to_string(),
            chain_id: parts.transaction.tx.chain_id.clone(),
            genesis_hash: parts.genesis_hash,
            transaction: codec::encode(&parts.transaction),
            transaction_proof: parts.transaction_proof,
            receipt: codec::encode(&parts.receipt),
            receipt_proof: parts.receipt_proof,
            header: codec::encode(&parts.header),
            certificate: codec::encode(&parts.certificate),
            validator_set_changes: parts.validator_set_changes,
        }
    }

    /// The package's one canonical byte form: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .expect("a package holds only strings, numbers and lists: it always serialises");
        bytes.push(b'\n');
        bytes
    }
}

/// Checks `package_bytes` against `genesis`, offline: see the module documentation and
/// `docs/evidence-format.md` for every step. Returns what the package proves.
pub fn verify(package_bytes: &[u8], genesis: &Genesis) -> Result<VerifiedEvidence, EvidenceError> {
    if package_bytes.len() > MAX_PACKAGE_BYTES {
        return Err(EvidenceError::TooLarge {
            size: package_bytes.len(),
            limit: MAX_PACKAGE_BYTES,
        });
    }
    genesis.verify().map_err(EvidenceError::InvalidGenesis)?;
    let package = parse_canonical(package_bytes)?;
    check_identity(&package, genesis)?;
    let decoded = Decoded::from_package(&package)?;
    if decoded.header.height == 0 {
        return Err(EvidenceError::GenesisHeight);
    }
    // Every signature is checked as made for this genesis (the court's own file), whatever the
    // package says.
    let chain = genesis.genesis_hash();
    let in_force = walk_validator_sets(
        &chain,
        genesis.validator_set(),
        &decoded.changes,
        decoded.header.height,
    )?;
    let block = BlockRole::Transaction {
        height: decoded.header.height,
    };
    check_certified(
        &chain,
        &in_force,
        &decoded.header,
        &decoded.certificate,
        block,
    )?;
    check_transaction(&package, &decoded, &chain)?;
    Ok(VerifiedEvidence {
        chain_id: package.chain_id,
        genesis_hash: package.genesis_hash,
        tx_id: decoded.transaction.id(),
        signer: decoded.transaction.tx.signer,
        operation: decoded.transaction.tx.op,
        height: decoded.header.height,
        index: decoded.receipt.index,
        block_hash: decoded.header.hash(),
        block_time_ms: decoded.header.timestamp_ms,
        failure: decoded.receipt.failure,
        commit_signatures: decoded.certificate.signatures.len(),
        validators: in_force.len(),
        quorum: in_force.quorum(),
        validator_set_changes: decoded.changes.len(),
    })
}

/// Parses the JSON and requires it to be byte for byte the canonical form of what it holds.
fn parse_canonical(bytes: &[u8]) -> Result<EvidencePackage, EvidenceError> {
    let package: EvidencePackage =
        serde_json::from_slice(bytes).map_err(|e| EvidenceError::NotJson(e.to_string()))?;
    let canonical = package.to_bytes();
    if canonical != bytes {
        let offset = canonical
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(canonical.len().min(bytes.len()));
        return Err(EvidenceError::NotCanonical { offset });
    }
    Ok(package)
}

/// The format tag, chain id and genesis hash.
fn check_identity(package: &EvidencePackage, genesis: &Genesis) -> Result<(), EvidenceError> {
    if package.format != FORMAT {
        return Err(EvidenceError::UnknownFormat(package.format.clone()));
    }
    if package.chain_id != genesis.chain_id {
        return Err(EvidenceError::WrongChain {
            package: package.chain_id.clone(),
            genesis: genesis.chain_id.clone(),
        });
    }
    let genesis_hash = genesis.hash();
    if package.genesis_hash != genesis_hash {
        return Err(EvidenceError::WrongGenesis {
            package: package.genesis_hash,
            genesis: genesis_hash,
        });
    }
    Ok(())
}

/// A package's canonical encodings, decoded (strictly: no trailing bytes).
struct Decoded {
    transaction: SignedTransaction,
    receipt: Receipt,
    header: BlockHeader,
    certificate: CommitCertificate,
    changes: Vec<DecodedChange>,
}

/// One validator-set change, decoded.
struct DecodedChange {
    number: usize,
    stated_height: Height,
    header: BlockHeader,
    certificate: CommitCertificate,
    state_proof: StateProof,
    validator_set_bytes: Vec<u8>,
    validator_set: ValidatorSet,
}

/// Decodes `bytes`, naming the field in the error.
fn decode<T: Decode<()>>(bytes: &[u8], what: impl FnOnce() -> String) -> Result<T, EvidenceError> {
    codec::decode(bytes).map_err(|error| EvidenceError::Undecodable {
        what: what(),
        error,
    })
}

impl Decoded {
    fn from_package(package: &EvidencePackage) -> Result<Decoded, EvidenceError> {
        let changes = package
            .validator_set_changes
            .iter()
            .enumerate()
            .map(|(index, change)| DecodedChange::from_change(index + 1, change))
            .collect::<Result<_, _>>()?;
        Ok(Decoded {
            transaction: decode(&package.transaction, || "transaction".into())?,
            receipt: decode(&package.receipt, || "receipt".into())?,
            header: decode(&package.header, || {
                "header of the transaction's block".into()
            })?,
            certificate: decode(&package.certificate, || {
                "commit certificate of the transaction's block".into()
            })?,
            changes,
        })
    }
}

impl DecodedChange {
    fn from_change(
        number: usize,
        change: &ValidatorSetChange,
    ) -> Result<DecodedChange, EvidenceError> {
        let what =
            |field: &'static str| move || format!("{field} of validator set change #{number}");
        Ok(DecodedChange {
            number,
            stated_height: change.height,
            header: decode(&change.header, what("header"))?,
            certificate: decode(&change.certificate, what("commit certificate"))?,
            state_proof: decode(&change.state_proof, what("state proof"))?,
            validator_set_bytes: change.validator_set.clone(),
            validator_set: decode(&change.validator_set, what("validator set"))?,
        })
    }
}

/// Walks the changes from `genesis_set`: checks each change's order, certificate and state proof
/// against the set in force at its height, and returns the set in force at `transaction_height`.
fn walk_validator_sets(
    chain: &GenesisHash,
    genesis_set: ValidatorSet,
    changes: &[DecodedChange],
    transaction_height: Height,
) -> Result<ValidatorSet, EvidenceError> {
    let mut in_force = genesis_set;
    let mut previous = 0;
    for change in changes {
        let (number, height) = (change.number, change.header.height);
        if change.stated_height != height {
            return Err(EvidenceError::ChangeHeightMismatch {
                number,
                stated: change.stated_height,
                header: height,
            });
        }
        if height <= previous {
            return Err(EvidenceError::ChangeOutOfOrder {
                number,
                height,
                previous,
            });
        }
        if height >= transaction_height {
            return Err(EvidenceError::ChangeNotBeforeTransaction {
                number,
                height,
                transaction_height,
            });
        }
        let block = BlockRole::Change { number, height };
        check_certified(chain, &in_force, &change.header, &change.certificate, block)?;
        change
            .state_proof
            .verify(
                &change.header.state_root,
                VALIDATOR_SET_KEY,
                Some(&change.validator_set_bytes),
            )
            .map_err(|error| EvidenceError::ValidatorSetProofInvalid {
                number,
                height,
                error,
            })?;
        if change.validator_set.is_empty() {
            return Err(EvidenceError::EmptyValidatorSet { number, height });
        }
        in_force = change.validator_set.clone();
        previous = height;
    }
    Ok(in_force)
}

/// Checks that `certificate` proves `header` committed under `in_force`, and that the header
/// names that set.
fn check_certified(
    chain: &GenesisHash,
    in_force: &ValidatorSet,
    header: &BlockHeader,
    certificate: &CommitCertificate,
    block: BlockRole,
) -> Result<(), EvidenceError> {
    if certificate.height != header.height {
        return Err(EvidenceError::CertificateHeightMismatch {
            block,
            certificate_height: certificate.height,
        });
    }
    certificate
        .verify_for(chain, in_force, &header.hash())
        .map_err(|error| EvidenceError::CertificateInvalid { block, error })?;
    if header.validator_set_hash != in_force.hash() {
        return Err(EvidenceError::ValidatorSetHashMismatch {
            block,
            header: header.validator_set_hash,
            in_force: in_force.hash(),
        });
    }
    Ok(())
}

/// The transaction, its receipt, and their proofs under the (certified) header.
fn check_transaction(
    package: &EvidencePackage,
    decoded: &Decoded,
    chain: &GenesisHash,
) -> Result<(), EvidenceError> {
    let (transaction, receipt, header) = (&decoded.transaction, &decoded.receipt, &decoded.header);
    if transaction.tx.chain_id != package.chain_id {
        return Err(EvidenceError::TransactionWrongChain(
            transaction.tx.chain_id.clone(),
        ));
    }
    transaction
        .verify_signature(chain)
        .map_err(|_| EvidenceError::TransactionSignatureInvalid(transaction.tx.signer))?;
    let height = header.height;
    if !package
        .transaction_proof
        .verify(&header.tx_root, &merkle::leaf_hash(&package.transaction))
    {
        return Err(EvidenceError::TransactionNotInBlock { height });
    }
    if !package
        .receipt_proof
        .verify(&header.receipts_root, &merkle::leaf_hash(&package.receipt))
    {
        return Err(EvidenceError::ReceiptNotInBlock { height });
    }
    if receipt.tx_id != transaction.id() {
        return Err(EvidenceError::ReceiptForAnotherTransaction {
            receipt: receipt.tx_id,
            transaction: transaction.id(),
        });
    }
    if receipt.height != height {
        return Err(EvidenceError::ReceiptHeightMismatch {
            receipt: receipt.height,
            block: height,
        });
    }
    check_position(package, receipt)
}

/// Both proofs and the receipt name the same position in a tree of the same size (the proofs'
/// `tree_size` is not otherwise bound: several sizes can give the same path).
fn check_position(package: &EvidencePackage, receipt: &Receipt) -> Result<(), EvidenceError> {
    let (tx_proof, receipt_proof) = (&package.transaction_proof, &package.receipt_proof);
    let agree = tx_proof.index == u64::from(receipt.index)
        && receipt_proof.index == u64::from(receipt.index)
        && tx_proof.tree_size == receipt_proof.tree_size;
    if agree {
        Ok(())
    } else {
        Err(EvidenceError::PositionMismatch {
            transaction_index: tx_proof.index,
            transaction_tree_size: tx_proof.tree_size,
            receipt_index: receipt_proof.index,
            receipt_tree_size: receipt_proof.tree_size,
            receipt_position: receipt.index,
        })
    }
}

#[cfg(test)]
mod tests;
