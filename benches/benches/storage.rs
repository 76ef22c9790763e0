//! Committing a block to the RocksDB store: `Database::commit_block` of a block of 1000 or 10000
//! signed `Put` transactions (200-byte values, distinct keys), with its receipts, indexes, state
//! changes and history, new state-tree nodes and a commit certificate of 3 of 4 validators, in
//! one `WriteBatch` written with sync on. This is the write a node makes once per height.
//!
//! Every iteration commits the next height of a real chain in a fresh temporary directory: the
//! block is built untimed (signed, executed against the store, Merkle roots, certificate) and
//! only `commit_block` is timed, so the database grows as a node's does, with RocksDB's flushes
//! and compactions running in the background. Throughput is in transactions per second.
//!
//! `cargo bench -p cassia-benches --bench storage`; ids `storage::commit/txs=1000|10000`.

mod common;

use std::time::{Duration, Instant};

use cassia_crypto::{Hash, Keypair};
use cassia_ledger::block::{receipts_tree, tx_tree};
use cassia_ledger::execution::{BlockContext, BlockOutcome, Parent, execute_block};
use cassia_ledger::{
    Block, BlockHeader, CommitCertificate, Parameters, Validator, ValidatorSet, ValidatorSignature,
    Vote, VoteKind, state_tree,
};
use cassia_storage::Database;
use common::{CHAIN_ID, GENESIS, accounts, block_transactions};
use criterion::{Criterion, SamplingMode, Throughput, criterion_main};

/// A chain being committed to a store in a temporary directory.
struct Chain {
    store: Database,
    genesis_hash: Hash,
    genesis_root: Hash,
    validator_keys: Vec<Keypair>,
    validators: ValidatorSet,
    accounts: Vec<Keypair>,
    parameters: Parameters,
    /// Dropped last: removes the database directory.
    _dir: tempfile::TempDir,
}

/// Everything `commit_block` takes for one height.
struct Commit {
    block: Block,
    certificate: CommitCertificate,
    outcome: BlockOutcome,
}

impl Chain {
    fn open() -> Chain {
        let dir = tempfile::tempdir().expect("a temporary directory for the store");
        let genesis_hash = Hash::of(b"storage bench genesis");
        let store = Database::open(dir.path(), &genesis_hash).expect("a fresh store opens");
        let changes = common::permissions_state(&accounts());
        let tree = state_tree::update(
            &state_tree::MemoryNodes::new(),
            &state_tree::EMPTY,
            &changes,
        )
        .expect("the empty tree reads no node");
        store
            .init_genesis_state(&BlockOutcome {
                receipts: Vec::new(),
                changes,
                state_root: tree.root,
                tree_nodes: tree.new_nodes,
            })
            .expect("the genesis state is written");
        let validator_keys: Vec<Keypair> = (0..4).map(|i| common::account(10_000 + i)).collect();
        let validators = ValidatorSet {
            validators: validator_keys
                .iter()
                .enumerate()
                .map(|(i, key)| Validator {
                    name: format!("v{i}"),
                    organization: format!("org{i}"),
                    node_key: key.public(),
                    p2p_address: String::new(),
                })
                .collect(),
        };
        let genesis_root = tree.root;
        Chain {
            store,
            genesis_hash,
            genesis_root,
            validator_keys,
            validators,
            accounts: accounts(),
            parameters: Parameters::default(),
            _dir: dir,
        }
    }

    /// Builds, executes and certifies the block after the tip, with `count` transactions.
    fn next(&self, count: u64) -> Commit {
        let tip = self.store.tip().expect("the tip reads");
        let (height, parent, parent_root) = match tip {
            Some(tip) => (tip.height + 1, tip.block_hash, tip.state_root),
            None => (1, self.genesis_hash, self.genesis_root),
        };
        let transactions = block_transactions(&self.accounts, height, count);
        let context = BlockContext {
            chain_id: CHAIN_ID,
            genesis: &GENESIS,
            height,
            parameters: &self.parameters,
        };
        let parent_ref = Parent {
            hash: parent,
            state_root: parent_root,
        };
        let outcome = execute_block(&context, &self.store, &parent_ref, &transactions)
            .expect("every benchmark transaction is admissible");
        let header = BlockHeader {
            height,
            view: 0,
            parent,
            timestamp_ms: height * 1_000,
            proposer: self.validators.leader(height, 0).node_key,
            tx_root: tx_tree(&transactions).root(),
            receipts_root: receipts_tree(&outcome.receipts).root(),
            state_root: outcome.state_root,
            validator_set_hash: self.validators.hash(),
        };
        let block = Block {
            header,
            transactions,
        };
        let certificate = self.certify(&block);
        Commit {
            block,
            certificate,
            outcome,
        }
    }

    /// A quorum (3 of 4) of commit votes on `block`, sorted by validator key.
    fn certify(&self, block: &Block) -> CommitCertificate {
        let vote = Vote {
            kind: VoteKind::Commit,
            height: block.height(),
            view: 0,
            block_hash: block.hash(),
        };
        let mut signatures: Vec<ValidatorSignature> = self.validator_keys
            [..self.validators.quorum()]
            .iter()
            .map(|key| ValidatorSignature {
                validator: key.public(),
                signature: vote.sign(&GENESIS, key),
            })
            .collect();
        signatures.sort_by_key(|s| s.validator);
        let certificate = CommitCertificate {
            height: block.height(),
            view: 0,
            block_hash: block.hash(),
            signatures,
        };
        certificate
            .verify_for(&GENESIS, &self.validators, &block.hash())
            .expect("the benchmark certificate is valid");
        certificate
    }

    /// Commits `commit`, returning how long `commit_block` took.
    fn commit(&self, commit: &Commit) -> Duration {
        let start = Instant::now();
        let tip = self
            .store
            .commit_block(&commit.block, &commit.certificate, &commit.outcome)
            .expect("the next block commits");
        let elapsed = start.elapsed();
        assert_eq!(tip.height, commit.block.height(), "the tip advanced");
        elapsed
    }
}

fn bench_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("storage::commit");
    group.sampling_mode(SamplingMode::Flat);
    for count in [1_000u64, 10_000] {
        let chain = Chain::open();
        // The big block takes about 0.1 s to commit: 6 s leaves room for 10 flat samples.
        group.measurement_time(Duration::from_secs(if count > 1_000 { 6 } else { 3 }));
        group.throughput(Throughput::Elements(count));
        group.bench_function(format!("txs={count}"), |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| chain.commit(&chain.next(count)))
                    .sum()
            });
        });
    }
    group.finish();
}

fn configured() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// criterion's generated group, kept private so it needs no docs.
mod group {
    criterion::criterion_group! {
        name = benches;
        config = super::configured();
        targets = super::bench_commit
    }
}

criterion_main!(group::benches);
