//! Why a package does not prove what it claims: one variant per check, each message naming what
//! failed for the person who has to act on it.

use std::fmt;

use cassia_crypto::{Hash, PublicKey};

use super::FORMAT;
use crate::Height;
use crate::codec::CodecError;
use crate::genesis::GenesisError;
use crate::state_tree::ProofError;
use crate::validators::CertificateError;

/// Which block a check failed on, as a clerk would name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockRole {
    /// The block of a validator-set change.
    Change {
        /// The change's position in the package, counted from 1.
        number: usize,
        /// The block height it claims.
        height: Height,
    },
    /// The block the transaction committed in.
    Transaction {
        /// Its height.
        height: Height,
    },
}

impl fmt::Display for BlockRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockRole::Change { number, height } => {
                write!(f, "block {height} (validator set change #{number})")
            }
            BlockRole::Transaction { height } => {
                write!(f, "block {height} (the transaction's block)")
            }
        }
    }
}

/// Why a package does not prove what it claims. Each message names what failed, for the person
/// who has to act on it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The package file is larger than [`super::MAX_PACKAGE_BYTES`].
    #[error("the evidence package is {size} bytes, more than the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The genesis file given to check against is itself invalid.
    #[error("the genesis file is not valid: {0}")]
    InvalidGenesis(GenesisError),
    /// The package is not JSON of the evidence format.
    #[error("the file is not an evidence package (invalid JSON or missing fields): {0}")]
    NotJson(String),
    /// The package parses but is not byte for byte its canonical form: it was altered.
    #[error(
        "the package is not in its one valid form (byte {offset} differs): it was altered or \
         re-formatted after export"
    )]
    NotCanonical {
        /// Offset of the first byte that differs from the canonical form.
        offset: usize,
    },
    /// The format tag is not [`FORMAT`].
    #[error("unknown package format {0:?}: this verifier reads {FORMAT:?}")]
    UnknownFormat(String),
    /// The package is for another chain than the genesis file.
    #[error("the package is for chain {package:?}, but the genesis file is for chain {genesis:?}")]
    WrongChain {
        /// The package's chain id.
        package: String,
        /// The genesis file's chain id.
        genesis: String,
    },
    /// The package names another genesis than the one given.
    #[error(
        "the package names genesis {package}, but the genesis file given hashes to {genesis}: \
         it is another chain's, or a changed copy"
    )]
    WrongGenesis {
        /// The genesis hash in the package.
        package: Hash,
        /// The hash of the genesis file given.
        genesis: Hash,
    },
    /// A hex field does not decode to what it must hold.
    #[error("the {what} is malformed: {error}")]
    Undecodable {
        /// Which field, e.g. "header of validator set change #2".
        what: String,
        /// Why.
        error: CodecError,
    },
    /// A change's stated height is not its header's.
    #[error(
        "validator set change #{number} states height {stated}, but its header is of height \
         {header}"
    )]
    ChangeHeightMismatch {
        /// The change's position, from 1.
        number: usize,
        /// The height stated in the package.
        stated: Height,
        /// The height in its header.
        header: Height,
    },
    /// Changes are not in strictly increasing height order from 1.
    #[error(
        "validator set change #{number} is at height {height}, not after {previous}: changes \
         must be listed once each, oldest first, from height 1"
    )]
    ChangeOutOfOrder {
        /// The change's position, from 1.
        number: usize,
        /// Its height.
        height: Height,
        /// The previous change's height (0 for the first change).
        previous: Height,
    },
    /// A change is at or after the transaction's block, so it cannot bear on it.
    #[error(
        "validator set change #{number} is at height {height}, not before the transaction's \
         block {transaction_height}"
    )]
    ChangeNotBeforeTransaction {
        /// The change's position, from 1.
        number: usize,
        /// Its height.
        height: Height,
        /// The transaction's height.
        transaction_height: Height,
    },
    /// A certificate is for another height than its header.
    #[error("the commit certificate of {block} is for height {certificate_height}")]
    CertificateHeightMismatch {
        /// The block.
        block: BlockRole,
        /// The height in the certificate.
        certificate_height: Height,
    },
    /// A certificate does not verify against the validator set in force at its height.
    #[error(
        "the commit certificate of {block} does not verify against the validator set in force \
         at that height (from the genesis file and the package's validator set changes; a \
         missing change gives this too): {error}"
    )]
    CertificateInvalid {
        /// The block.
        block: BlockRole,
        /// Why.
        error: CertificateError,
    },
    /// A header names another validator set than the one in force at its height.
    #[error(
        "the header of {block} names validator set {header}, but the set in force at that \
         height is {in_force}"
    )]
    ValidatorSetHashMismatch {
        /// The block.
        block: BlockRole,
        /// The set hash in the header.
        header: Hash,
        /// The hash of the set in force.
        in_force: Hash,
    },
    /// A change's state proof does not show its new set under its header's state root.
    #[error(
        "the state proof of validator set change #{number} (block {height}) does not show the \
         new set in that block's state: {error}"
    )]
    ValidatorSetProofInvalid {
        /// The change's position, from 1.
        number: usize,
        /// Its height.
        height: Height,
        /// Why.
        error: ProofError,
    },
    /// A change installs an empty set, which could certify anything.
    #[error("validator set change #{number} (block {height}) installs an empty validator set")]
    EmptyValidatorSet {
        /// The change's position, from 1.
        number: usize,
        /// Its height.
        height: Height,
    },
    /// The transaction's block claims height 0, which is the genesis, not a block.
    #[error("the transaction's block claims height 0: blocks start at height 1")]
    GenesisHeight,
    /// The transaction is for another chain.
    #[error("the transaction is for chain {0:?}, not the package's")]
    TransactionWrongChain(String),
    /// The transaction's signature does not verify.
    #[error("the transaction's signature does not verify against its signer {0}")]
    TransactionSignatureInvalid(PublicKey),
    /// The transaction is not proven to be in the block.
    #[error(
        "the transaction's inclusion proof does not lead to the tx_root of block {height}: the \
         transaction or its proof is not that block's"
    )]
    TransactionNotInBlock {
        /// The block height.
        height: Height,
    },
    /// The receipt is not proven to be in the block.
    #[error(
        "the receipt's inclusion proof does not lead to the receipts_root of block {height}: \
         the receipt or its proof is not that block's"
    )]
    ReceiptNotInBlock {
        /// The block height.
        height: Height,
    },
    /// The receipt is another transaction's.
    #[error("the receipt is for transaction {receipt}, not for {transaction}")]
    ReceiptForAnotherTransaction {
        /// The id in the receipt.
        receipt: Hash,
        /// The transaction's id.
        transaction: Hash,
    },
    /// The receipt names another height than the block.
    #[error("the receipt names height {receipt}, but the block is at height {block}")]
    ReceiptHeightMismatch {
        /// The receipt's height.
        receipt: Height,
        /// The block's height.
        block: Height,
    },
    /// The two proofs and the receipt disagree on where the transaction sits in the block.
    #[error(
        "the transaction's position disagrees: its proof says {transaction_index} of \
         {transaction_tree_size}, the receipt's proof {receipt_index} of {receipt_tree_size}, \
         the receipt {receipt_position}"
    )]
    PositionMismatch {
        /// Index in the transaction proof.
        transaction_index: u64,
        /// Tree size in the transaction proof.
        transaction_tree_size: u64,
        /// Index in the receipt proof.
        receipt_index: u64,
        /// Tree size in the receipt proof.
        receipt_tree_size: u64,
        /// Index in the receipt.
        receipt_position: u32,
    },
}
