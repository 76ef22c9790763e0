//! Committing, reading back, refusing bad commits, and surviving SIGKILL at random moments.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use cassia_crypto::{Hash, Keypair};
use cassia_ledger::execution::genesis::genesis_outcome;
use cassia_ledger::execution::{
    BlockContext, BlockOutcome, MemoryState, Parent, execute_block, kv_key,
};
use cassia_ledger::state_tree;
use cassia_ledger::{CommitCertificate, Parameters};
use cassia_storage::{Database, StorageError};
use common::{CHAIN, commit_next, genesis_hash};

#[test]
fn committed_blocks_read_back_with_indexes_and_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::open(dir.path());
    let key = Keypair::from_secret([3; 32]);
    let blocks: Vec<_> = (0..5).map(|_| commit_next(&store, &key, 10)).collect();
    let tip = store.tip().expect("reads").expect("has a tip");
    assert_eq!(tip.height, 5);
    assert_eq!(tip.block_hash, blocks[4].hash());
    for block in &blocks {
        assert_eq!(
            store.block(block.height()).expect("reads").as_ref(),
            Some(block)
        );
        assert_eq!(
            store.height_of(&block.hash()).expect("reads"),
            Some(block.height())
        );
        let certificate = store
            .certificate(block.height())
            .expect("reads")
            .expect("stored");
        assert_eq!(certificate.block_hash, block.hash());
        for tx in &block.transactions {
            let receipt = store.receipt(&tx.id()).expect("reads").expect("stored");
            assert_eq!(receipt.tx_id, tx.id());
            assert_eq!(receipt.height, block.height());
        }
    }
    let history = store
        .state_history(&kv_key("crash", b"key-7"), 0, 100)
        .expect("reads");
    assert!(!history.is_empty(), "key-7 was written");
    assert!(
        history.windows(2).all(|w| w[0].0 < w[1].0),
        "history is in height order"
    );
    // The version in force at each height is the last change at or before it.
    let key7 = kv_key("crash", b"key-7");
    let first = history[0].0;
    assert_eq!(store.state_at(&key7, first - 1).expect("reads"), None);
    for height in first..=5 {
        let expected = history.iter().rev().find(|(h, _)| *h <= height).cloned();
        assert_eq!(store.state_at(&key7, height).expect("reads"), expected);
    }
    assert_eq!(
        store.state_at(&kv_key("crash", b"key-"), 5).expect("reads"),
        None,
        "a key that is a prefix of a written key has no versions"
    );
    // Every height's value (or absence) is proven by the stored tree under its state root.
    for height in 1..=5 {
        let root = store
            .header(height)
            .expect("reads")
            .expect("stored")
            .state_root;
        let value = store
            .state_at(&key7, height)
            .expect("reads")
            .and_then(|(_, v)| v);
        let proof = state_tree::prove(&store, &root, &key7).expect("the tree is stored");
        proof
            .verify(&root, &key7, value.as_deref())
            .unwrap_or_else(|e| panic!("proof at height {height}: {e}"));
    }
    for block in &blocks {
        let receipts = store.block_receipts(block.height()).expect("reads");
        let ids: Vec<Hash> = receipts.iter().map(|r| r.tx_id).collect();
        let expected: Vec<Hash> = block.transactions.iter().map(|tx| tx.id()).collect();
        assert_eq!(ids, expected, "receipts of block {}", block.height());
    }
    drop(store);
    let reopened = Database::open(dir.path(), &genesis_hash()).expect("reopens");
    assert_eq!(reopened.tip().expect("reads"), Some(tip));
}

#[test]
fn commits_that_do_not_extend_the_tip_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::open(dir.path());
    let key = Keypair::from_secret([4; 32]);
    let first = commit_next(&store, &key, 1);
    let certificate = store.certificate(1).expect("reads").expect("stored");
    let outcome_for = |block: &cassia_ledger::Block, receipts| BlockOutcome {
        receipts,
        changes: Default::default(),
        state_root: block.header.state_root,
        tree_nodes: Vec::new(),
    };
    let error = store
        .commit_block(&first, &certificate, &outcome_for(&first, vec![]))
        .expect_err("height 1 again");
    assert!(matches!(error, StorageError::InvalidCommit(_)), "{error}");
    let mut orphan = first.clone();
    orphan.header.height = 2;
    orphan.header.parent = Hash::of(b"elsewhere");
    let certificate = CommitCertificate {
        height: 2,
        view: 0,
        block_hash: orphan.hash(),
        signatures: vec![],
    };
    let receipts: Vec<_> = store.receipt_at(1, 0).expect("reads").into_iter().collect();
    let error = store
        .commit_block(&orphan, &certificate, &outcome_for(&orphan, receipts))
        .expect_err("bad parent");
    assert!(error.to_string().contains("does not extend"), "{error}");
}

#[test]
fn a_store_of_another_chain_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(common::open(dir.path()));
    let error = Database::open(dir.path(), &Hash::of(b"other")).expect_err("wrong genesis");
    assert!(
        matches!(error, StorageError::WrongGenesis { .. }),
        "{error}"
    );
}

/// Environment variable that turns [`crash_child`] into the endless committer.
const CHILD_DIR: &str = "CASSIA_STORAGE_CRASH_CHILD_DIR";

/// In a normal run this does nothing. Started by [`survives_sigkill_at_random_moments`] with
/// [`CHILD_DIR`] set, it commits blocks into that directory until it is killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let store = common::open(std::path::Path::new(&dir));
    let key = Keypair::from_secret([5; 32]);
    loop {
        commit_next(&store, &key, 25);
    }
}

#[test]
fn survives_sigkill_at_random_moments() {
    const ROUNDS: u64 = 25;
    let dir = tempfile::tempdir().expect("temp dir");
    let executable = std::env::current_exe().expect("test binary path");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
    println!("crash test seed {seed:#x}");
    let mut last_height = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(&executable)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn the committing child");
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(150 + (seed >> 33) % 400));
        child.kill().expect("SIGKILL the child");
        child.wait().expect("reap the child");
        let height = check_consistent(dir.path());
        assert!(
            height >= last_height,
            "round {round}: tip went back from {last_height} to {height}"
        );
        last_height = height;
    }
    assert!(
        last_height > ROUNDS,
        "the child committed only {last_height} blocks in {ROUNDS} rounds"
    );
}

/// Reopens the store and checks every block up to the tip, the indexes, and that replaying the
/// blocks gives the stored state and roots. Returns the tip height.
fn check_consistent(path: &std::path::Path) -> u64 {
    let store = common::open(path);
    let Some(tip) = store.tip().expect("tip reads") else {
        return 0;
    };
    let parameters = Parameters::default();
    let mut replayed = MemoryState::from_genesis(&common::test_genesis());
    let (mut parent, mut root) = (
        genesis_hash(),
        genesis_outcome(&common::test_genesis()).state_root,
    );
    for height in 1..=tip.height {
        let block = store
            .block(height)
            .expect("reads")
            .unwrap_or_else(|| panic!("block {height} missing"));
        assert_eq!(
            store.header(height).expect("reads").as_ref(),
            Some(&block.header)
        );
        assert_eq!(block.header.parent, parent, "block {height} parent");
        assert_eq!(store.height_of(&block.hash()).expect("reads"), Some(height));
        let certificate = store
            .certificate(height)
            .expect("reads")
            .expect("certificate stored");
        assert_eq!(certificate.block_hash, block.hash());
        let context = BlockContext {
            chain_id: CHAIN,
            genesis: &common::test_genesis().genesis_hash(),
            height,
            parameters: &parameters,
        };
        let parent_ref = Parent {
            hash: parent,
            state_root: root,
        };
        let outcome =
            execute_block(&context, &replayed, &parent_ref, &block.transactions).expect("replays");
        assert_eq!(
            outcome.state_root, block.header.state_root,
            "state root at {height}"
        );
        for receipt in &outcome.receipts {
            assert_eq!(
                store.receipt(&receipt.tx_id).expect("reads").as_ref(),
                Some(receipt)
            );
        }
        replayed.apply(&outcome);
        (parent, root) = (block.hash(), block.header.state_root);
    }
    assert_eq!(parent, tip.block_hash);
    assert!(
        store.block(tip.height + 1).expect("reads").is_none(),
        "a block above the tip"
    );
    assert!(
        store.certificate(tip.height + 1).expect("reads").is_none(),
        "a certificate above the tip"
    );
    let stored: BTreeMap<_, _> = replayed
        .values
        .keys()
        .map(|k| (k.clone(), store.state_get(k).expect("reads")))
        .collect();
    for (key, value) in &replayed.values {
        assert_eq!(stored[key].as_ref(), Some(value), "state of {key:?}");
    }
    tip.height
}
