//! Helpers shared by the storage tests: a deterministic chain of blocks to commit.
#![allow(missing_docs, reason = "test helpers")]

use cassia_crypto::{Hash, Keypair};
use cassia_ledger::execution::{BlockContext, execute_block};
use cassia_ledger::{
    Block, BlockHeader, CommitCertificate, Operation, Parameters, Transaction, ValidatorSignature,
    Vote, VoteKind,
};
use cassia_storage::Store;

pub const CHAIN: &str = "storage-test";

pub fn genesis_hash() -> Hash {
    Hash::of(b"storage-test-genesis")
}

/// Builds, executes and commits the block after the store's tip, with `count` transactions.
pub fn commit_next(store: &Store, key: &Keypair, count: u64) -> Block {
    let tip = store.tip().expect("tip reads");
    let (height, parent, parent_root) = match tip {
        Some(tip) => (tip.height + 1, tip.block_hash, tip.state_root),
        None => (1, genesis_hash(), Hash::ZERO),
    };
    let transactions: Vec<_> = (0..count)
        .map(|i| {
            Transaction {
                chain_id: CHAIN.into(),
                signer: key.public(),
                nonce: height * 1_000 + i,
                valid_until: height + 10,
                op: Operation::Put {
                    namespace: "crash".into(),
                    key: format!("key-{}", (height * 7 + i) % 50).into_bytes(),
                    value: format!("value at {height}/{i}").into_bytes(),
                },
            }
            .sign(key)
        })
        .collect();
    let parameters = Parameters::default();
    let context = BlockContext {
        chain_id: CHAIN,
        height,
        parameters: &parameters,
    };
    let outcome = execute_block(&context, store, &parent_root, &transactions).expect("valid block");
    let header = BlockHeader {
        height,
        view: 0,
        parent,
        timestamp_ms: height,
        proposer: key.public(),
        tx_root: cassia_ledger::block::tx_tree(&transactions).root(),
        receipts_root: cassia_ledger::block::receipts_tree(&outcome.receipts).root(),
        state_root: outcome.state_root,
        validator_set_hash: Hash::ZERO,
    };
    let block = Block {
        header,
        transactions,
    };
    let vote = Vote {
        kind: VoteKind::Commit,
        height,
        view: 0,
        block_hash: block.hash(),
    };
    let certificate = CommitCertificate {
        height,
        view: 0,
        block_hash: block.hash(),
        signatures: vec![ValidatorSignature {
            validator: key.public(),
            signature: vote.sign(CHAIN, key),
        }],
    };
    store
        .commit_block(&block, &certificate, &outcome)
        .expect("commit");
    block
}
