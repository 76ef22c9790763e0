//! The real objects the fuzzer starts from: a genesis with four validators, a three-block chain
//! built and certified the way the node builds it, the consensus messages of its first height,
//! and an evidence package with a validator-set change. Everything is derived from fixed keys,
//! so the corpus is the same on every run; only the mutations depend on the seed.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use cassia_consensus::{
    Message, NewView, Payload, PreparedCertificate, Proposal, SignedViewChange, ViewChange,
};
use cassia_crypto::{GenesisHash, Hash, Keypair, PublicKey};
use cassia_engine::block::{BuildContext, build_block};
use cassia_engine::{Engine, EngineConfig, MemoryStore, MempoolLimits, Store as _, Tip};
use cassia_ledger::block::{receipts_tree, tx_tree};
use cassia_ledger::evidence::{
    self, EvidencePackage, EvidenceParts, VALIDATOR_SET_KEY, ValidatorSetChange,
};
use cassia_ledger::execution::MemoryState;
use cassia_ledger::records::{NamespaceAcl, Role};
use cassia_ledger::state_tree::{self, MemoryNodes};
use cassia_ledger::{
    Block, BlockHeader, CommitCertificate, Genesis, Height, Operation, Organization, Parameters,
    Receipt, SignedTransaction, Transaction, Validator, ValidatorSet, ValidatorSignature, View,
    Vote, VoteKind, codec,
};

/// The chain id of every object the fuzzer builds.
pub const CHAIN_ID: &str = "fuzz-chain";

/// The fixture genesis's hash, which every fixture signature covers. The fixture's keys are
/// fixed, so it is too; computed once.
pub fn chain() -> GenesisHash {
    static CHAIN: OnceLock<GenesisHash> = OnceLock::new();
    *CHAIN.get_or_init(|| genesis(&validator_keys(), &admin_key()).genesis_hash())
}

/// The four validators' node keys.
fn validator_keys() -> Vec<Keypair> {
    (1..=4u8).map(|i| Keypair::from_secret([i; 32])).collect()
}

/// The admin account of organization `org0`.
fn admin_key() -> Keypair {
    Keypair::from_secret([40; 32])
}

/// Genesis time of the fuzz chain (2023-11-14), milliseconds.
pub const GENESIS_TIME_MS: u64 = 1_700_000_000_000;

/// Blocks in the fixture chain.
pub const CHAIN_BLOCKS: usize = 3;

/// One committed block of the fixture chain with the state around it.
#[derive(Clone, Debug)]
pub struct ChainBlock {
    /// The block.
    pub block: Block,
    /// Its commit certificate (three of the four validators).
    pub certificate: CommitCertificate,
    /// The tip it was built on.
    pub parent_tip: Tip,
    /// The state it was built on.
    pub parent_state: MemoryState,
}

/// Everything the targets decode against: keys, genesis, chain, messages, evidence.
pub struct World {
    /// The four validators' node keys, in genesis order.
    pub validator_keys: Vec<Keypair>,
    /// A fifth node key: the validator a governance change adds (evidence chain).
    pub joiner_key: Keypair,
    /// The admin account of organization `org0` (signs the chain's transactions).
    pub admin: Keypair,
    /// A key no genesis knows.
    pub outsider: Keypair,
    /// The approved genesis.
    pub genesis: Genesis,
    /// Its validator set.
    pub validators: ValidatorSet,
    /// The fixture chain, heights 1..=[`CHAIN_BLOCKS`].
    pub chain: Vec<ChainBlock>,
    /// The state after the last block.
    pub final_state: MemoryState,
    /// Real signed transactions (those of the chain).
    pub transactions: Vec<SignedTransaction>,
    /// Real consensus messages about block 1.
    pub messages: Vec<Message>,
    /// A valid evidence package (checked when the world is built).
    pub evidence: EvidencePackage,
    /// Its canonical bytes.
    pub evidence_bytes: Vec<u8>,
    /// A store holding the fixture chain, committed through the engine's real sync path.
    pub tip_store: MemoryStore,
    /// The chain's transactions signed again with other nonces and a later `valid_until`: not
    /// committed, so the tip admits them (the chain's own are duplicates there).
    pub pending: Vec<SignedTransaction>,
}

fn validator(index: usize, key: &Keypair) -> Validator {
    Validator {
        name: format!("validator-{index}"),
        organization: "org0".into(),
        node_key: key.public(),
        p2p_address: format!("/ip4/127.0.0.{}/tcp/7100", index + 1),
    }
}

fn genesis(validator_keys: &[Keypair], admin: &Keypair) -> Genesis {
    let mut genesis = Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: GENESIS_TIME_MS,
        organizations: vec![Organization {
            id: "org0".into(),
            name: "Organization zero".into(),
            admins: vec![admin.public()],
        }],
        validators: validator_keys
            .iter()
            .enumerate()
            .map(|(i, key)| validator(i, key))
            .collect(),
        parameters: Parameters::default(),
        approvals: Vec::new(),
    };
    genesis
        .approve("org0", admin)
        .expect("the fixture admin is org0's admin");
    genesis
}

/// A transaction of the fixture admin.
pub fn admin_transaction(admin: &Keypair, nonce: u64, op: Operation) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN_ID.into(),
        signer: admin.public(),
        nonce,
        valid_until: 100,
        op,
    }
    .sign(&chain(), admin)
}

fn chain_operations(writer: PublicKey) -> Vec<Vec<Operation>> {
    vec![
        vec![
            Operation::CreateNamespace {
                namespace: "licences".into(),
                acl: NamespaceAcl::default(),
            },
            Operation::RegisterAccount {
                account: writer,
                roles: vec![Role::Writer],
            },
            Operation::Notarize {
                digest: Hash::of(b"contract.pdf"),
                metadata: "e-contract".into(),
                co_signers: Vec::new(),
            },
        ],
        vec![
            Operation::Put {
                namespace: "licences".into(),
                key: b"GX-001".to_vec(),
                value: b"valid".to_vec(),
            },
            Operation::RegisterItem {
                code: "ITEM-1".into(),
                product: "tea".into(),
                metadata: "{}".into(),
                authorized: Vec::new(),
            },
        ],
        vec![Operation::AppendItemEvent {
            code: "ITEM-1".into(),
            kind: "custody".into(),
            data: "warehouse 3".into(),
        }],
    ]
}

/// Commit votes of `signers` (indices into `keys`) on `block_hash`, sorted by validator key.
pub fn signatures(
    keys: &[Keypair],
    signers: &[usize],
    kind: VoteKind,
    height: Height,
    view: View,
    block_hash: Hash,
) -> Vec<ValidatorSignature> {
    let vote = Vote {
        kind,
        height,
        view,
        block_hash,
    };
    let mut signatures: Vec<ValidatorSignature> = signers
        .iter()
        .map(|&i| ValidatorSignature {
            validator: keys[i].public(),
            signature: vote.sign(&chain(), &keys[i]),
        })
        .collect();
    signatures.sort_by_key(|s| s.validator);
    signatures
}

/// A commit certificate for `header` signed by `signers`.
pub fn certify(keys: &[Keypair], signers: &[usize], header: &BlockHeader) -> CommitCertificate {
    CommitCertificate {
        height: header.height,
        view: header.view,
        block_hash: header.hash(),
        signatures: signatures(
            keys,
            signers,
            VoteKind::Commit,
            header.height,
            header.view,
            header.hash(),
        ),
    }
}

impl World {
    /// Builds the fixture (a few hundred signatures; well under a second).
    pub fn new() -> World {
        let validator_keys = validator_keys();
        let admin = admin_key();
        let joiner_key = Keypair::from_secret([5; 32]);
        let outsider = Keypair::from_secret([66; 32]);
        let genesis = genesis(&validator_keys, &admin);
        let validators = genesis.validator_set();
        let (chain, final_state) = build_chain(&genesis, &validator_keys, &admin, &outsider);
        let transactions: Vec<SignedTransaction> = chain
            .iter()
            .flat_map(|c| c.block.transactions.iter().cloned())
            .collect();
        let messages = height_one_messages(&chain[0], &validators, &validator_keys);
        let evidence = evidence_package(&genesis, &validator_keys, &joiner_key, &admin);
        let evidence_bytes = evidence.to_bytes();
        evidence::verify(&evidence_bytes, &genesis).expect("the fixture evidence package is valid");
        let tip_store = synced_store(&genesis, &validator_keys[0], &chain);
        let keys: Vec<&Keypair> = validator_keys
            .iter()
            .chain([&joiner_key, &admin, &outsider])
            .collect();
        let pending = resigned(&transactions, &keys);
        World {
            validator_keys,
            joiner_key,
            admin,
            outsider,
            genesis,
            validators,
            chain,
            final_state,
            transactions,
            messages,
            evidence,
            evidence_bytes,
            tip_store,
            pending,
        }
    }

    /// An engine over `store`, as validator 0's node would open it (empty mempool).
    pub fn engine(&self, store: MemoryStore) -> Engine<MemoryStore> {
        let config = EngineConfig {
            chain_id: CHAIN_ID.into(),
            genesis: chain(),
            key: self.validator_keys[0].clone(),
            mempool: MempoolLimits::default(),
        };
        Engine::open(config, store).expect("a fixture store opens")
    }

    /// The key behind `public`, if the fuzzer holds it.
    pub fn key_of(&self, public: &PublicKey) -> Option<&Keypair> {
        self.keys().into_iter().find(|key| key.public() == *public)
    }

    /// Every key the fuzzer signs with.
    pub fn keys(&self) -> Vec<&Keypair> {
        self.validator_keys
            .iter()
            .chain([&self.joiner_key, &self.admin, &self.outsider])
            .collect()
    }

    /// The key of the leader of `(height, view)`.
    pub fn leader_key(&self, height: Height, view: View) -> &Keypair {
        leader_key(&self.validator_keys, &self.validators, height, view)
    }

    /// The tip before block 1.
    pub fn genesis_tip(&self) -> Tip {
        Tip::genesis(&self.genesis)
    }
}

impl Default for World {
    fn default() -> World {
        World::new()
    }
}

fn leader_key<'a>(
    keys: &'a [Keypair],
    validators: &ValidatorSet,
    height: Height,
    view: View,
) -> &'a Keypair {
    let leader = validators.leader(height, view).node_key;
    keys.iter()
        .find(|key| key.public() == leader)
        .expect("every validator key is known")
}

/// `transactions` with fresh nonces and room to be admitted after the fixture chain, each signed
/// again by its signer.
fn resigned(transactions: &[SignedTransaction], keys: &[&Keypair]) -> Vec<SignedTransaction> {
    transactions
        .iter()
        .map(|signed| {
            let key = keys
                .iter()
                .find(|key| key.public() == signed.tx.signer)
                .expect("the fixture signed it");
            let mut tx = signed.tx.clone();
            tx.nonce ^= 1 << 63;
            tx.valid_until = CHAIN_BLOCKS as Height + 100;
            tx.sign(&chain(), key)
        })
        .collect()
}

/// A clock reading later than every fixture block: synced blocks are never "from the future".
pub const SYNC_NOW_MS: u64 = GENESIS_TIME_MS + 1_000_000_000;

/// The fixture chain committed into a fresh store the way a syncing node commits it.
fn synced_store(genesis: &Genesis, key: &Keypair, chain: &[ChainBlock]) -> MemoryStore {
    let config = EngineConfig {
        chain_id: CHAIN_ID.into(),
        genesis: genesis.genesis_hash(),
        key: key.clone(),
        mempool: MempoolLimits::default(),
    };
    let mut engine = Engine::open(config, MemoryStore::new(genesis)).expect("a fresh store opens");
    for link in chain {
        let block = link.block.clone();
        let _ = engine
            .on_synced_block(block, link.certificate.clone(), SYNC_NOW_MS)
            .expect("the fixture chain syncs");
    }
    let tip = engine.store().tip().expect("a memory store answers").height;
    assert_eq!(tip, chain.len() as Height, "every fixture block committed");
    engine.into_store()
}

/// Builds, executes and certifies the fixture chain; returns it and the state after it.
fn build_chain(
    genesis: &Genesis,
    keys: &[Keypair],
    admin: &Keypair,
    writer: &Keypair,
) -> (Vec<ChainBlock>, MemoryState) {
    let validators = genesis.validator_set();
    let mut tip = Tip::genesis(genesis);
    let mut state = MemoryState::from_genesis(genesis);
    let mut chain = Vec::new();
    let mut nonce = 0;
    for operations in chain_operations(writer.public()) {
        let height = tip.height + 1;
        let candidates: Vec<SignedTransaction> = operations
            .into_iter()
            .map(|op| {
                nonce += 1;
                admin_transaction(admin, nonce, op)
            })
            .collect();
        let context = BuildContext {
            chain_id: CHAIN_ID,
            genesis: &genesis.genesis_hash(),
            parameters: &genesis.parameters,
            tip: &tip,
            validators: &validators,
            state: &state,
            proposer: leader_key(keys, &validators, height, 0).public(),
            view: 0,
            now_ms: GENESIS_TIME_MS + height * 1_000,
        };
        let (block, outcome, dropped) =
            build_block(&context, candidates, &|_| false).expect("the state is in memory");
        assert!(
            dropped.is_empty(),
            "every fixture transaction is admissible"
        );
        let certificate = certify(keys, &[0, 1, 2], &block.header);
        let parent_state = state.clone();
        state.apply(&outcome);
        let next_tip = Tip::of(&block);
        chain.push(ChainBlock {
            block,
            certificate,
            parent_tip: tip,
            parent_state,
        });
        tip = next_tip;
    }
    (chain, state)
}

/// Pre-prepare, prepare and commit votes, a view change with a prepared certificate, a new view
/// and a relayed certificate, all about block 1.
fn height_one_messages(
    first: &ChainBlock,
    validators: &ValidatorSet,
    keys: &[Keypair],
) -> Vec<Message> {
    let block = first.block.clone();
    let hash = block.hash();
    let sign = |key: &Keypair, payload: Payload| Message::sign(&chain(), key, payload);
    let proposal = Proposal {
        height: 1,
        view: 0,
        block_hash: hash,
    };
    let mut messages = vec![sign(
        leader_key(keys, validators, 1, 0),
        Payload::PrePrepare {
            proposal,
            block: block.clone(),
        },
    )];
    for key in keys {
        for kind in [VoteKind::Prepare, VoteKind::Commit] {
            let vote = Vote {
                kind,
                height: 1,
                view: 0,
                block_hash: hash,
            };
            messages.push(sign(key, Payload::Vote(vote)));
        }
    }
    let view_change = ViewChange {
        height: 1,
        view: 1,
        prepared: Some(PreparedCertificate {
            height: 1,
            view: 0,
            block_hash: hash,
            signatures: signatures(keys, &[0, 1, 2], VoteKind::Prepare, 1, 0, hash),
        }),
    };
    let view_change_messages: Vec<Message> = keys[..3]
        .iter()
        .map(|key| {
            sign(
                key,
                Payload::ViewChange {
                    view_change: view_change.clone(),
                    prepared_block: Some(block.clone()),
                },
            )
        })
        .collect();
    let view_changes: Vec<SignedViewChange> = view_change_messages
        .iter()
        .filter_map(Message::signed_view_change)
        .collect();
    messages.extend(view_change_messages);
    let new_view = NewView {
        height: 1,
        view: 1,
        view_changes,
        block_hash: hash,
    };
    messages.push(sign(
        leader_key(keys, validators, 1, 1),
        Payload::NewView { new_view, block },
    ));
    messages.push(sign(&keys[3], Payload::Decided(first.certificate.clone())));
    messages
}

/// A package for the notarization in block 3 of a hand-built chain whose block 2 replaces
/// validator 3 by the joiner (the layout of `ledger/src/evidence/tests.rs`).
fn evidence_package(
    genesis: &Genesis,
    validator_keys: &[Keypair],
    joiner: &Keypair,
    admin: &Keypair,
) -> EvidencePackage {
    let mut keys: Vec<Keypair> = validator_keys.to_vec();
    keys.push(joiner.clone());
    let genesis_set = genesis.validator_set();
    let new_set = ValidatorSet {
        validators: [0usize, 1, 2, 4]
            .iter()
            .map(|&i| validator(i, &keys[i]))
            .collect(),
    };
    let put = |nonce: u64| {
        let op = Operation::Put {
            namespace: "licences".into(),
            key: format!("GX-{nonce:03}").into_bytes(),
            value: b"valid".to_vec(),
        };
        admin_transaction(admin, 100 + nonce, op)
    };
    let notarize = Operation::Notarize {
        digest: Hash::of(b"evidence.pdf"),
        metadata: "court filing".into(),
        co_signers: Vec::new(),
    };
    let mut chain = EvidenceChain::new(genesis.hash(), &genesis_set);
    chain.add(
        vec![put(1)],
        BTreeMap::new(),
        &genesis_set,
        (&keys, &[0, 1, 2]),
    );
    let change = BTreeMap::from([(VALIDATOR_SET_KEY.to_vec(), Some(codec::encode(&new_set)))]);
    chain.add(vec![put(2)], change, &genesis_set, (&keys, &[0, 1, 2]));
    let transactions = vec![put(3), admin_transaction(admin, 200, notarize), put(4)];
    chain.add(transactions, BTreeMap::new(), &new_set, (&keys, &[1, 2, 4]));
    chain.package(3, 1, 2, &new_set)
}

/// Blocks certified by hand over a state tree that holds only what the evidence verifier reads.
struct EvidenceChain {
    genesis_hash: Hash,
    nodes: MemoryNodes,
    root: Hash,
    blocks: Vec<(
        BlockHeader,
        CommitCertificate,
        Vec<SignedTransaction>,
        Vec<Receipt>,
    )>,
}

impl EvidenceChain {
    fn new(genesis_hash: Hash, genesis_set: &ValidatorSet) -> EvidenceChain {
        let mut chain = EvidenceChain {
            genesis_hash,
            nodes: MemoryNodes::new(),
            root: state_tree::EMPTY,
            blocks: Vec::new(),
        };
        chain.apply(BTreeMap::from([(
            VALIDATOR_SET_KEY.to_vec(),
            Some(codec::encode(genesis_set)),
        )]));
        chain
    }

    fn apply(&mut self, changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        let update =
            state_tree::update(&self.nodes, &self.root, &changes).expect("nodes are in memory");
        self.nodes.insert_all(update.new_nodes);
        self.root = update.root;
    }

    /// Adds a block of `transactions` writing `changes`, certified under `in_force` by
    /// `signers` (indices into `keys`).
    fn add(
        &mut self,
        transactions: Vec<SignedTransaction>,
        mut changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        in_force: &ValidatorSet,
        (keys, signers): (&[Keypair], &[usize]),
    ) {
        let height = self.blocks.len() as Height + 1;
        let receipts: Vec<Receipt> = transactions
            .iter()
            .zip(0u32..)
            .map(|(tx, index)| Receipt {
                tx_id: tx.id(),
                height,
                index,
                failure: None,
            })
            .collect();
        changes.insert(format!("chain/h/{height}").into_bytes(), Some(vec![1]));
        self.apply(changes);
        let header = BlockHeader {
            height,
            view: 0,
            parent: self
                .blocks
                .last()
                .map_or(self.genesis_hash, |(header, ..)| header.hash()),
            timestamp_ms: GENESIS_TIME_MS + height * 1_000,
            proposer: in_force.leader(height, 0).node_key,
            tx_root: tx_tree(&transactions).root(),
            receipts_root: receipts_tree(&receipts).root(),
            state_root: self.root,
            validator_set_hash: in_force.hash(),
        };
        let certificate = certify(keys, signers, &header);
        self.blocks
            .push((header, certificate, transactions, receipts));
    }

    /// The package of transaction `index` of block `height`, with the change of block
    /// `change_height` to `new_set`.
    fn package(
        &self,
        height: usize,
        index: usize,
        change_height: usize,
        new_set: &ValidatorSet,
    ) -> EvidencePackage {
        let (header, certificate, transactions, receipts) = &self.blocks[height - 1];
        let (change_header, change_certificate, ..) = &self.blocks[change_height - 1];
        let state_proof =
            state_tree::prove(&self.nodes, &change_header.state_root, VALIDATOR_SET_KEY)
                .expect("nodes are in memory");
        EvidencePackage::assemble(EvidenceParts {
            genesis_hash: self.genesis_hash,
            transaction: transactions[index].clone(),
            transaction_proof: tx_tree(transactions).proof(index).expect("in range"),
            receipt: receipts[index].clone(),
            receipt_proof: receipts_tree(receipts).proof(index).expect("in range"),
            header: header.clone(),
            certificate: certificate.clone(),
            validator_set_changes: vec![ValidatorSetChange::new(
                change_header,
                change_certificate,
                &state_proof,
                new_set,
            )],
        })
    }
}
