//! Helpers shared by the storage tests: a deterministic chain of blocks to commit.
#![allow(missing_docs, reason = "test helpers")]

use cassia_crypto::{Hash, Keypair};
use cassia_ledger::execution::{BlockContext, Parent, execute_block, genesis::genesis_outcome};
use cassia_ledger::records::NamespaceAcl;
use cassia_ledger::{
    Block, BlockHeader, CommitCertificate, Genesis, Operation, Organization, Parameters,
    Transaction, Validator, ValidatorSignature, Vote, VoteKind,
};
use cassia_storage::Database;

pub const CHAIN: &str = "storage-test";

/// One organization whose admins are the keys the tests sign with (secrets [3; 32]..[5; 32]).
pub fn test_genesis() -> Genesis {
    let signer = Keypair::from_secret([9; 32]);
    Genesis {
        chain_id: CHAIN.into(),
        genesis_time_ms: 0,
        organizations: vec![Organization {
            id: "org0".into(),
            name: "Org 0".into(),
            admins: (3u8..=5)
                .map(|i| Keypair::from_secret([i; 32]).public())
                .collect(),
        }],
        validators: vec![Validator {
            name: "v0".into(),
            organization: "org0".into(),
            node_key: signer.public(),
            p2p_address: String::new(),
        }],
        parameters: Parameters::default(),
        approvals: vec![],
    }
}

pub fn genesis_hash() -> Hash {
    test_genesis().hash()
}

/// Opens the store at `path` with the test genesis state written.
pub fn open(path: &std::path::Path) -> Database {
    let store = Database::open(path, &genesis_hash()).expect("opens");
    store
        .init_genesis_state(&genesis_outcome(&test_genesis()))
        .expect("genesis state");
    store
}

/// Builds, executes and commits the block after the store's tip, with `count` transactions.
pub fn commit_next(store: &Database, key: &Keypair, count: u64) -> Block {
    let tip = store.tip().expect("tip reads");
    let (height, parent, parent_root) = match tip {
        Some(tip) => (tip.height + 1, tip.block_hash, tip.state_root),
        None => (
            1,
            genesis_hash(),
            genesis_outcome(&test_genesis()).state_root,
        ),
    };
    let mut transactions: Vec<_> = Vec::new();
    if height == 1 {
        transactions.push(
            Transaction {
                chain_id: CHAIN.into(),
                signer: key.public(),
                nonce: 0,
                valid_until: 10,
                op: Operation::CreateNamespace {
                    namespace: "crash".into(),
                    acl: NamespaceAcl::default(),
                },
            }
            .sign(&test_genesis().genesis_hash(), key),
        );
    }
    transactions.extend((0..count).map(|i| {
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
        .sign(&test_genesis().genesis_hash(), key)
    }));
    let parameters = Parameters::default();
    let context = BlockContext {
        chain_id: CHAIN,
        genesis: &test_genesis().genesis_hash(),
        height,
        parameters: &parameters,
    };
    let parent_ref = Parent {
        hash: parent,
        state_root: parent_root,
    };
    let outcome = execute_block(&context, store, &parent_ref, &transactions).expect("valid block");
    assert!(
        outcome.receipts.iter().all(|r| r.failure.is_none()),
        "every test transaction is permitted"
    );
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
            signature: vote.sign(&test_genesis().genesis_hash(), key),
        }],
    };
    store
        .commit_block(&block, &certificate, &outcome)
        .expect("commit");
    block
}
