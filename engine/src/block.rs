//! Building a proposal and checking one: the same execution on both sides, so a replica accepts
//! exactly the blocks an honest leader builds.
//!
//! A proposed block is valid at `(height, view)` on tip `t` when:
//!
//! | check | rule |
//! |---|---|
//! | position | `height == t.height + 1`, `parent == t.block_hash` |
//! | proposer | `header.view <= view`, `proposer == leader(height, header.view)` (a re-proposal keeps its header) |
//! | validators | `validator_set_hash` is the hash of the set in force at `height` |
//! | time | `t.timestamp_ms < timestamp_ms <= now_ms + max_clock_drift_ms` |
//! | size | at most `max_block_txs` transactions and `max_block_bytes` encoded |
//! | signatures | every transaction's, checked in one batch (one by one only to name a culprit) |
//! | roots | `tx_root`, then re-execution's `receipts_root` and `state_root` match the header |
//!
//! A certified block (fetched by sync) skips the proposer and clock checks: 2f+1 validators
//! already made them.

use cassia_crypto::{GenesisHash, Hash, PublicKey, Signature, verify_batch};
use cassia_ledger::block::{receipts_tree, tx_tree};
use cassia_ledger::execution::{
    BlockContext, BlockOutcome, BlockRejection, Parent, check_admissible, execute_block,
};
use cassia_ledger::{
    Block, BlockHeader, Height, Parameters, SignedTransaction, ValidatorSet, View, codec,
};

use cassia_ledger::state_tree::TreeError;

use crate::store::Tip;

/// Room left in `max_block_bytes` for the header and the encoding's length prefixes.
pub const HEADER_ALLOWANCE_BYTES: u64 = 4 * 1024;

/// Why a block is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockError {
    /// Not the block after the tip.
    #[error("block at height {got} with parent {parent} does not extend tip {tip}")]
    NotNext {
        /// Tip height.
        tip: Height,
        /// Block height.
        got: Height,
        /// Its parent.
        parent: Hash,
    },
    /// The header's view is above the view it is proposed in.
    #[error("header view {header} is above the proposal view {view}")]
    ViewAhead {
        /// Header view.
        header: View,
        /// Proposal view.
        view: View,
    },
    /// The proposer is not the leader of the header's view.
    #[error("proposer {0} is not the leader")]
    NotLeader(PublicKey),
    /// The header names another validator set.
    #[error("validator set hash does not match the set in force")]
    WrongValidatorSet,
    /// Timestamp not after the parent's, or too far ahead of this replica's clock.
    #[error("timestamp {timestamp_ms} outside ({after_ms}, {until_ms}]")]
    Timestamp {
        /// The block's.
        timestamp_ms: u64,
        /// Must be above.
        after_ms: u64,
        /// Must be at most.
        until_ms: u64,
    },
    /// Too many transactions or bytes.
    #[error("block too large: {txs} transactions, {bytes} bytes")]
    TooLarge {
        /// Transactions.
        txs: usize,
        /// Encoded bytes.
        bytes: u64,
    },
    /// A transaction signature does not verify.
    #[error("transaction {0} has a bad signature")]
    BadSignature(usize),
    /// A transaction cannot be included.
    #[error("{0}")]
    Inadmissible(BlockRejection),
    /// A header root does not match the block's content or its re-execution.
    #[error("{0} does not match")]
    RootMismatch(&'static str),
}

/// What a check may skip.
#[derive(Clone, Copy, Debug)]
pub enum CheckMode {
    /// A proposal at `view`, checked against this replica's clock `now_ms`.
    Proposal {
        /// The view it is proposed in.
        view: View,
        /// This replica's clock.
        now_ms: u64,
    },
    /// A block with a valid commit certificate.
    Certified,
}

/// What a block is checked against.
pub struct CheckContext<'a> {
    /// Chain id.
    pub chain_id: &'a str,
    /// The genesis hash every signature must cover.
    pub genesis: &'a GenesisHash,
    /// Parameters in force at the block's height.
    pub parameters: &'a Parameters,
    /// The tip the block must extend.
    pub tip: &'a Tip,
    /// The set in force at the block's height.
    pub validators: &'a ValidatorSet,
    /// The committed state.
    pub state: &'a dyn cassia_ledger::execution::StateReader,
    /// Transactions whose signatures this node already verified (see
    /// [`Mempool::verified`](crate::mempool::Mempool::verified)).
    pub verified: &'a dyn Fn(&SignedTransaction) -> bool,
}

/// Checks `block` against the tip, the validators in force at its height and the parameters,
/// and returns its execution outcome.
pub fn check_block(
    context: &CheckContext<'_>,
    block: &Block,
    mode: CheckMode,
) -> Result<BlockOutcome, BlockError> {
    let CheckContext {
        chain_id,
        genesis,
        parameters,
        tip,
        validators,
        state,
        verified,
    } = *context;
    let header = &block.header;
    if Some(header.height) != tip.height.checked_add(1) || header.parent != tip.block_hash {
        return Err(BlockError::NotNext {
            tip: tip.height,
            got: header.height,
            parent: header.parent,
        });
    }
    if header.validator_set_hash != validators.hash() {
        return Err(BlockError::WrongValidatorSet);
    }
    if let CheckMode::Proposal { view, now_ms } = mode {
        check_proposer(header, view, validators)?;
        let until_ms = now_ms.saturating_add(parameters.max_clock_drift_ms);
        if header.timestamp_ms <= tip.timestamp_ms || header.timestamp_ms > until_ms {
            let after_ms = tip.timestamp_ms;
            return Err(BlockError::Timestamp {
                timestamp_ms: header.timestamp_ms,
                after_ms,
                until_ms,
            });
        }
    }
    check_size(parameters, block)?;
    // The body must be the one the header commits to before anything in it is worth checking
    // (hashing is far cheaper than verifying signatures).
    if tx_tree(&block.transactions).root() != header.tx_root {
        return Err(BlockError::RootMismatch("tx_root"));
    }
    // Signatures this node already verified (at mempool admission) are not verified again.
    let unverified: Vec<(usize, &SignedTransaction)> = block
        .transactions
        .iter()
        .enumerate()
        .filter(|(_, tx)| !verified(tx))
        .collect();
    let to_check: Vec<&SignedTransaction> = unverified.iter().map(|(_, tx)| *tx).collect();
    verify_signatures(genesis, &to_check).map_err(|i| BlockError::BadSignature(unverified[i].0))?;
    let context = BlockContext {
        chain_id,
        genesis,
        height: header.height,
        parameters,
    };
    let parent = Parent {
        hash: tip.block_hash,
        state_root: tip.state_root,
    };
    let outcome = execute_block(&context, state, &parent, &block.transactions)
        .map_err(BlockError::Inadmissible)?;
    if receipts_tree(&outcome.receipts).root() != header.receipts_root {
        return Err(BlockError::RootMismatch("receipts_root"));
    }
    if outcome.state_root != header.state_root {
        return Err(BlockError::RootMismatch("state_root"));
    }
    Ok(outcome)
}

fn check_proposer(
    header: &BlockHeader,
    view: View,
    validators: &ValidatorSet,
) -> Result<(), BlockError> {
    if header.view > view {
        return Err(BlockError::ViewAhead {
            header: header.view,
            view,
        });
    }
    if header.proposer != validators.leader(header.height, header.view).node_key {
        return Err(BlockError::NotLeader(header.proposer));
    }
    Ok(())
}

fn check_size(parameters: &Parameters, block: &Block) -> Result<(), BlockError> {
    let txs = block.transactions.len();
    let bytes = codec::encode(block).len() as u64;
    if txs > parameters.max_block_txs as usize || bytes > parameters.max_block_bytes {
        return Err(BlockError::TooLarge { txs, bytes });
    }
    Ok(())
}

/// Checks every transaction signature as made for the chain `genesis`: one batch, and one by
/// one only if the batch fails, to return the index of the first bad one.
pub fn verify_signatures(
    genesis: &GenesisHash,
    transactions: &[&SignedTransaction],
) -> Result<(), usize> {
    let messages: Vec<Vec<u8>> = transactions
        .iter()
        .map(|tx| tx.signing_bytes(genesis))
        .collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let signatures: Vec<Signature> = transactions.iter().map(|tx| tx.signature).collect();
    let keys: Vec<PublicKey> = transactions.iter().map(|tx| tx.tx.signer).collect();
    if transactions.is_empty() || verify_batch(&refs, &signatures, &keys).is_ok() {
        return Ok(());
    }
    let bad =
        (0..transactions.len()).find(|&i| keys[i].verify_raw(refs[i], &signatures[i]).is_err());
    Err(bad.unwrap_or(0))
}

/// What a leader needs to build a block.
pub struct BuildContext<'a> {
    /// Chain id.
    pub chain_id: &'a str,
    /// The genesis hash every signature must cover.
    pub genesis: &'a GenesisHash,
    /// Parameters.
    pub parameters: &'a Parameters,
    /// The tip to build on.
    pub tip: &'a Tip,
    /// The set in force at the new height.
    pub validators: &'a ValidatorSet,
    /// The committed state.
    pub state: &'a dyn cassia_ledger::execution::StateReader,
    /// This validator.
    pub proposer: PublicKey,
    /// The view it proposes in.
    pub view: View,
    /// Its clock.
    pub now_ms: u64,
}

/// Builds a block from `candidates`; returns it, its outcome, and the ids of candidates that can
/// never be included (bad signature, inadmissible, already committed), for the mempool to drop.
/// Fails only when the committed state tree cannot be read (a damaged or failing store).
pub fn build_block(
    context: &BuildContext<'_>,
    candidates: Vec<SignedTransaction>,
    verified: &dyn Fn(&SignedTransaction) -> bool,
) -> Result<(Block, BlockOutcome, Vec<Hash>), TreeError> {
    let height = context
        .tip
        .height
        .checked_add(1)
        .expect("heights never reach u64::MAX");
    let block_context = BlockContext {
        chain_id: context.chain_id,
        genesis: context.genesis,
        height,
        parameters: context.parameters,
    };
    let (mut transactions, mut dropped): (Vec<_>, Vec<_>) =
        candidates.into_iter().partition(|tx| {
            (verified(tx) || tx.verify_signature(context.genesis).is_ok())
                && check_admissible(&block_context, tx).is_ok()
        });
    let mut dropped: Vec<Hash> = dropped.drain(..).map(|tx| tx.id()).collect();
    // Each failed attempt removes one transaction, so this ends.
    let outcome = loop {
        match execute_block(
            &block_context,
            context.state,
            &Parent {
                hash: context.tip.block_hash,
                state_root: context.tip.state_root,
            },
            &transactions,
        ) {
            Ok(outcome) => break outcome,
            Err(BlockRejection::Inadmissible { index, id, .. }) => {
                transactions.remove(index);
                dropped.push(id);
            }
            Err(BlockRejection::State(error)) => return Err(error),
        }
    };
    let header = BlockHeader {
        height,
        view: context.view,
        parent: context.tip.block_hash,
        timestamp_ms: context
            .now_ms
            .max(context.tip.timestamp_ms.saturating_add(1)),
        proposer: context.proposer,
        tx_root: tx_tree(&transactions).root(),
        receipts_root: receipts_tree(&outcome.receipts).root(),
        state_root: outcome.state_root,
        validator_set_hash: context.validators.hash(),
    };
    Ok((
        Block {
            header,
            transactions,
        },
        outcome,
        dropped,
    ))
}
