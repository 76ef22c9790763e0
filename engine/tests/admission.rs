//! The engine's admission rule and the parameters in force: a one-validator chain whose
//! parameters change at height 2, as an approved `set-params` would change them.

use cassia_consensus::TimerCommand;
use cassia_crypto::{Hash, Keypair};
use cassia_engine::{Engine, EngineConfig, MemoryStore, MempoolLimits, SignatureCheck, Store};
use cassia_ledger::{
    Genesis, Operation, Organization, Parameters, Rejection, SignedTransaction, Transaction,
    Validator,
};

fn genesis(key: &Keypair) -> Genesis {
    Genesis {
        chain_id: "admission".into(),
        genesis_time_ms: 1_000,
        organizations: vec![Organization {
            id: "org".into(),
            name: "Org".into(),
            admins: vec![key.public()],
        }],
        validators: vec![Validator {
            name: "v0".into(),
            organization: "org".into(),
            node_key: key.public(),
            p2p_address: String::new(),
        }],
        parameters: Parameters::default(),
        approvals: vec![],
    }
}

/// The engine configuration of `key`'s node on `genesis`.
fn config(genesis: &Genesis, key: &Keypair) -> EngineConfig {
    EngineConfig {
        chain_id: genesis.chain_id.clone(),
        genesis: genesis.genesis_hash(),
        key: key.clone(),
        mempool: MempoolLimits::default(),
    }
}

/// A notarization of about 300 encoded bytes.
fn notarize(genesis: &Genesis, key: &Keypair, nonce: u64) -> SignedTransaction {
    Transaction {
        chain_id: "admission".into(),
        signer: key.public(),
        nonce,
        valid_until: 50,
        op: Operation::Notarize {
            digest: Hash::of(&nonce.to_le_bytes()),
            metadata: "m".repeat(200),
            co_signers: Vec::new(),
        },
    }
    .sign(&genesis.genesis_hash(), key)
}

#[test]
fn admission_and_the_view_timer_follow_the_parameters_in_force() {
    let key = Keypair::from_secret([9; 32]);
    let genesis = genesis(&key);
    let mut store = MemoryStore::new(&genesis);
    let tightened = Parameters {
        max_tx_bytes: 256,
        view_timeout_ms: 5_000,
        ..Parameters::default()
    };
    store.schedule_parameters(2, tightened.clone());
    let config = config(&genesis, &key);
    let mut engine = Engine::open(config, store).expect("opens");
    let _ = engine.start(2_000).expect("starts");
    assert_eq!(engine.parameters(), &genesis.parameters);

    let first = notarize(&genesis, &key, 1);
    engine
        .admit(first.clone(), SignatureCheck::Unchecked)
        .expect("the genesis limits admit it");
    assert_eq!(
        engine.admit(first, SignatureCheck::Unchecked),
        Err(Rejection::Duplicate)
    );
    let committed = engine.propose(1, 0, 2_000).expect("proposes");
    assert_eq!(committed.committed.len(), 1, "alone, a validator commits");
    assert_eq!(committed.committed[0].block.transactions.len(), 1);
    assert!(
        engine.mempool().is_empty(),
        "the committed one left the pool"
    );

    assert_eq!(engine.parameters(), &tightened, "height 2's parameters");
    let refused = engine.admit(notarize(&genesis, &key, 2), SignatureCheck::Unchecked);
    assert!(
        matches!(refused, Err(Rejection::TooLarge { limit: 256, .. })),
        "admission judges under the parameters in force: {refused:?}"
    );
    assert!(
        matches!(
            committed.timer,
            Some(TimerCommand::Set {
                height: 2,
                after_ms: 5_000,
                ..
            })
        ),
        "height 2's view timer uses its timeout: {:?}",
        committed.timer
    );
    assert_eq!(engine.store().tip().expect("tip").height, 1);
}

#[test]
fn a_stranger_is_refused_before_anything_is_pooled() {
    let key = Keypair::from_secret([9; 32]);
    let genesis = genesis(&key);
    let config = config(&genesis, &key);
    let mut engine = Engine::open(config, MemoryStore::new(&genesis)).expect("opens");
    let stranger = Keypair::from_secret([10; 32]);
    let refused = engine.admit(notarize(&genesis, &stranger, 1), SignatureCheck::Unchecked);
    assert!(
        matches!(refused, Err(Rejection::PermissionDenied(_))),
        "{refused:?}"
    );
    assert!(engine.mempool().is_empty());
}

/// A peer may serve a real header and certificate around another body (a transaction with
/// altered signature bytes): the syncing engine refuses that block and goes on, rather than
/// stopping as if its own state had diverged; the real block then commits.
#[test]
fn a_synced_block_whose_body_is_not_the_certified_one_is_refused_not_fatal() {
    let key = Keypair::from_secret([9; 32]);
    let genesis = genesis(&key);
    let config = config(&genesis, &key);
    let mut leader = Engine::open(config.clone(), MemoryStore::new(&genesis)).expect("opens");
    let _ = leader.start(2_000).expect("starts");
    leader
        .admit(notarize(&genesis, &key, 1), SignatureCheck::Unchecked)
        .expect("admitted");
    let _ = leader.propose(1, 0, 2_000).expect("commits block 1");
    let (block, certificate) = leader
        .store()
        .block(1)
        .expect("a memory store answers")
        .expect("block 1 is stored");

    let mut follower = Engine::open(config, MemoryStore::new(&genesis)).expect("opens");
    let mut tampered = block.clone();
    tampered.transactions[0].signature.0[0] ^= 1;
    let refused = follower
        .on_synced_block(tampered, certificate.clone(), 3_000)
        .expect("a tampered body is not fatal");
    assert!(refused.committed.is_empty());
    assert_eq!(follower.stats().rejected_synced_blocks, 1);
    let synced = follower
        .on_synced_block(block, certificate, 3_000)
        .expect("the real block syncs");
    assert_eq!(synced.committed.len(), 1);
    assert_eq!(follower.store().tip().expect("tip").height, 1);
}
