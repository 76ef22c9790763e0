//! Execution of every operation against an in-memory chain: each permission denial, the
//! governance paths (approval, rejection, late approval, the validator floor, readiness), and
//! the records they leave.

use cassia_crypto::{Hash, Keypair, PublicKey};
use cassia_ledger::execution::{
    BlockContext, MemoryState, Parent, StateReader, check_admissible, check_permission,
    co_signing_bytes, execute_block, genesis, governance, keys, pending_validators, validator_set,
};
use cassia_ledger::records::{
    Account, CoSignature, GovAction, ItemEvent, ItemRecord, NamespaceAcl, ProposalRecord,
    ProposalStatus, Role,
};
use cassia_ledger::{
    Genesis, Operation, Organization, Parameters, Receipt, Rejection, Transaction, Validator,
    ValidatorSet, codec,
};

const CHAIN: &str = "exec-test";

fn key(n: u8) -> Keypair {
    Keypair::from_secret([n; 32])
}

/// Organizations org0..org3, admin key(10 + i), validators key(20 + i).
fn test_genesis() -> Genesis {
    Genesis {
        chain_id: CHAIN.into(),
        genesis_time_ms: 1,
        organizations: (0..4u8)
            .map(|i| Organization {
                id: format!("org{i}"),
                name: format!("Org {i}"),
                admins: vec![key(10 + i).public()],
            })
            .collect(),
        validators: (0..4u8).map(|i| validator(i, 20 + i)).collect(),
        parameters: Parameters::default(),
        approvals: vec![],
    }
}

fn validator(org: u8, key_seed: u8) -> Validator {
    Validator {
        name: format!("v{key_seed}"),
        organization: format!("org{org}"),
        node_key: key(key_seed).public(),
        p2p_address: format!("/ip4/127.0.0.1/tcp/{}", 7000 + u32::from(key_seed)),
    }
}

struct Chain {
    state: MemoryState,
    height: u64,
    parent: Parent,
    nonce: u64,
}

impl Chain {
    fn new() -> Chain {
        let genesis = test_genesis();
        let state = MemoryState::from_genesis(&genesis);
        let root = genesis::genesis_outcome(&genesis).state_root;
        Chain {
            state,
            height: 0,
            parent: Parent {
                hash: genesis.hash(),
                state_root: root,
            },
            nonce: 0,
        }
    }

    fn tx(&mut self, signer: &Keypair, op: Operation) -> cassia_ledger::SignedTransaction {
        self.nonce += 1;
        Transaction {
            chain_id: CHAIN.into(),
            signer: signer.public(),
            nonce: self.nonce,
            valid_until: self.height + 10,
            op,
        }
        .sign(&test_genesis().genesis_hash(), signer)
    }

    /// Executes one block of `ops` and returns the receipts.
    fn block(&mut self, ops: Vec<(&Keypair, Operation)>) -> Vec<Receipt> {
        let txs: Vec<_> = ops.into_iter().map(|(k, op)| self.tx(k, op)).collect();
        self.height += 1;
        let parameters = Parameters::default();
        let context = BlockContext {
            chain_id: CHAIN,
            genesis: &test_genesis().genesis_hash(),
            height: self.height,
            parameters: &parameters,
        };
        let outcome =
            execute_block(&context, &self.state, &self.parent, &txs).expect("block executes");
        self.state.apply(&outcome);
        self.parent = Parent {
            hash: Hash::of(&self.height.to_be_bytes()),
            state_root: outcome.state_root,
        };
        outcome.receipts
    }

    /// Executes one operation and returns its failure, if any.
    fn run(&mut self, signer: &Keypair, op: Operation) -> Option<Rejection> {
        self.block(vec![(signer, op)]).remove(0).failure
    }

    fn record<T: bincode::Decode<()>>(&self, key: &[u8]) -> Option<T> {
        codec::decode(&self.state.get(key)?).ok()
    }

    fn empty_blocks(&mut self, n: u64) {
        for _ in 0..n {
            self.block(vec![]);
        }
    }
}

fn denied(failure: Option<Rejection>, needle: &str) {
    match failure {
        Some(Rejection::PermissionDenied(why)) => assert!(why.contains(needle), "{why}"),
        other => panic!("expected permission denied ({needle}), got {other:?}"),
    }
}

fn put(namespace: &str, key: &str) -> Operation {
    Operation::Put {
        namespace: namespace.into(),
        key: key.as_bytes().to_vec(),
        value: b"v".to_vec(),
    }
}

fn create_namespace(name: &str, writers: &[&str]) -> Operation {
    Operation::CreateNamespace {
        namespace: name.into(),
        acl: NamespaceAcl {
            writers: writers.iter().map(ToString::to_string).collect(),
            readers: vec![],
        },
    }
}

fn register(account: PublicKey, roles: &[Role]) -> Operation {
    Operation::RegisterAccount {
        account,
        roles: roles.to_vec(),
    }
}

#[test]
fn genesis_admins_are_accounts_and_the_genesis_state_holds_the_set_and_parameters() {
    let chain = Chain::new();
    let admin: Account = chain
        .record(&keys::account(&key(10).public()))
        .expect("admin");
    assert_eq!(admin.organization, "org0");
    assert_eq!(admin.roles, vec![Role::Admin]);
    let set: ValidatorSet = chain.record(keys::VALIDATORS).expect("set");
    assert_eq!(set, test_genesis().validator_set());
    let parameters: Parameters = chain.record(keys::PARAMETERS).expect("parameters");
    assert_eq!(parameters, Parameters::default());
}

#[test]
fn registry_writes_need_a_writer_role_and_the_namespace_acl() {
    let mut chain = Chain::new();
    let (admin0, admin1) = (key(10), key(11));
    let (writer0, auditor0, writer1, stranger) = (key(40), key(41), key(42), key(43));
    denied(chain.run(&admin0, put("licences", "a")), "does not exist");
    assert_eq!(chain.run(&admin0, create_namespace("licences", &[])), None);
    assert_eq!(
        chain.run(&admin0, register(writer0.public(), &[Role::Writer])),
        None
    );
    assert_eq!(
        chain.run(&admin0, register(auditor0.public(), &[Role::Auditor])),
        None
    );
    assert_eq!(
        chain.run(&admin1, register(writer1.public(), &[Role::Writer])),
        None
    );
    assert_eq!(chain.run(&writer0, put("licences", "a")), None);
    assert_eq!(
        chain.run(&admin0, put("licences", "b")),
        None,
        "admins write too"
    );
    denied(
        chain.run(&auditor0, put("licences", "c")),
        "lacks the writer role",
    );
    denied(
        chain.run(&stranger, put("licences", "c")),
        "not a registered account",
    );
    denied(
        chain.run(&writer1, put("licences", "c")),
        "may not write namespace",
    );
    denied(
        chain.run(&writer0, create_namespace("other", &[])),
        "lacks the admin role",
    );
    let acl = Operation::SetNamespaceAcl {
        namespace: "licences".into(),
        acl: NamespaceAcl {
            writers: vec!["org1".into()],
            readers: vec![],
        },
    };
    denied(chain.run(&admin1, acl.clone()), "only its admins");
    assert_eq!(chain.run(&admin0, acl), None);
    assert_eq!(chain.run(&writer1, put("licences", "c")), None);
    // Registering another organization's account, revoking across organizations, revoking.
    denied(
        chain.run(&admin1, register(writer0.public(), &[Role::Admin])),
        "already belongs to organization org0",
    );
    denied(
        chain.run(
            &admin1,
            Operation::RevokeAccount {
                account: writer0.public(),
            },
        ),
        "not to the signer's organization",
    );
    assert_eq!(
        chain.run(
            &admin0,
            Operation::RevokeAccount {
                account: writer0.public(),
            },
        ),
        None
    );
    denied(chain.run(&writer0, put("licences", "d")), "revoked");
    // The mempool's early check sees the same denial.
    let tx = chain.tx(&stranger, put("licences", "e"));
    assert!(matches!(
        check_permission(chain.height + 1, &chain.state, &tx),
        Err(Rejection::PermissionDenied(_))
    ));
}

#[test]
fn notarizations_record_checked_co_signers_once_per_digest() {
    let mut chain = Chain::new();
    let (admin, party_a, party_b) = (key(10), key(50), key(51));
    let digest = Hash::of(b"contract");
    let metadata = "sale contract".to_string();
    let message = co_signing_bytes(&test_genesis().genesis_hash(), &digest, &metadata);
    let co_signers: Vec<CoSignature> = [&party_a, &party_b]
        .iter()
        .map(|k| CoSignature {
            signer: k.public(),
            signature: k.sign_raw(&message),
        })
        .collect();
    let op = Operation::Notarize {
        digest,
        metadata: metadata.clone(),
        co_signers: co_signers.clone(),
    };
    assert_eq!(chain.run(&admin, op.clone()), None);
    let record: cassia_ledger::execution::NotarizationRecord =
        chain.record(&keys::notarization(&digest)).expect("stored");
    assert_eq!(record.co_signers, vec![party_a.public(), party_b.public()]);
    assert_eq!(record.organization, "org0");
    assert!(matches!(
        chain.run(&admin, op),
        Some(Rejection::Malformed(_))
    ));
    // A co-signature over other metadata is refused before it reaches a block.
    let forged = chain.tx(
        &admin,
        Operation::Notarize {
            digest: Hash::of(b"other"),
            metadata: "changed".into(),
            co_signers,
        },
    );
    let parameters = Parameters::default();
    let context = BlockContext {
        chain_id: CHAIN,
        genesis: &test_genesis().genesis_hash(),
        height: chain.height + 1,
        parameters: &parameters,
    };
    assert_eq!(
        check_admissible(&context, &forged),
        Err(Rejection::BadSignature)
    );
    denied(
        chain.run(
            &key(60),
            Operation::Notarize {
                digest: Hash::of(b"x"),
                metadata: String::new(),
                co_signers: vec![],
            },
        ),
        "not a registered account",
    );
}

#[test]
fn items_take_events_from_their_owner_and_authorized_organizations_only() {
    let mut chain = Chain::new();
    let (admin0, admin1, admin2) = (key(10), key(11), key(12));
    let register_item = Operation::RegisterItem {
        code: "GX-TEA-0001".into(),
        product: "Liupao tea".into(),
        metadata: "{}".into(),
        authorized: vec!["org1".into()],
    };
    assert_eq!(chain.run(&admin0, register_item.clone()), None);
    assert!(matches!(
        chain.run(&admin0, register_item),
        Some(Rejection::Malformed(_))
    ));
    let event = |kind: &str| Operation::AppendItemEvent {
        code: "GX-TEA-0001".into(),
        kind: kind.into(),
        data: "{}".into(),
    };
    assert_eq!(chain.run(&admin0, event("harvested")), None);
    assert_eq!(chain.run(&admin1, event("shipped")), None);
    denied(
        chain.run(&admin2, event("inspected")),
        "may not record events",
    );
    let item: ItemRecord = chain.record(&keys::item("GX-TEA-0001")).expect("item");
    assert_eq!(item.events, 2);
    let second: ItemEvent = chain
        .record(&keys::item_event("GX-TEA-0001", 1))
        .expect("event 1");
    assert_eq!(
        (second.kind.as_str(), second.organization.as_str()),
        ("shipped", "org1")
    );
    let anchor = Operation::AnchorBatch {
        batch_id: "batch-7".into(),
        root: Hash::of(b"root"),
        count: 1000,
        metadata: String::new(),
    };
    assert_eq!(chain.run(&admin2, anchor.clone()), None);
    assert!(matches!(
        chain.run(&admin2, anchor),
        Some(Rejection::Malformed(_))
    ));
}

fn proposal_id(chain: &mut Chain, proposer: &Keypair, action: GovAction, effective: u64) -> Hash {
    let tx = chain.tx(
        proposer,
        Operation::Propose {
            action,
            effective_height: effective,
        },
    );
    let id = tx.id();
    chain.height += 1;
    let parameters = Parameters::default();
    let context = BlockContext {
        chain_id: CHAIN,
        genesis: &test_genesis().genesis_hash(),
        height: chain.height,
        parameters: &parameters,
    };
    let outcome = execute_block(&context, &chain.state, &chain.parent, &[tx]).expect("executes");
    assert_eq!(outcome.receipts[0].failure, None, "proposal accepted");
    chain.state.apply(&outcome);
    chain.parent = Parent {
        hash: Hash::of(&chain.height.to_be_bytes()),
        state_root: outcome.state_root,
    };
    id
}

fn vote(proposal: Hash, approve: bool) -> Operation {
    Operation::Vote { proposal, approve }
}

fn status(chain: &Chain, id: &Hash) -> ProposalStatus {
    chain
        .record::<ProposalRecord>(&keys::proposal(id))
        .expect("proposal")
        .status
}

#[test]
fn an_organization_joins_at_the_stated_height_after_more_than_two_thirds_approve() {
    let mut chain = Chain::new();
    let newcomer = key(14);
    let action = GovAction::AddOrganization {
        organization: Organization {
            id: "org4".into(),
            name: "Org 4".into(),
            admins: vec![newcomer.public()],
        },
    };
    denied(
        chain.run(&key(40), vote(Hash::ZERO, true)),
        "not a registered account",
    );
    let id = proposal_id(&mut chain, &key(10), action, 10);
    assert_eq!(chain.run(&key(11), vote(id, true)), None);
    assert_eq!(
        status(&chain, &id),
        ProposalStatus::Open,
        "2 of 4 is not enough"
    );
    assert_eq!(chain.run(&key(12), vote(id, true)), None);
    assert_eq!(
        status(&chain, &id),
        ProposalStatus::Approved,
        "3 of 4 > 2/3"
    );
    denied(
        chain.run(&newcomer, create_namespace("org4-ns", &[])),
        "not a registered account",
    );
    chain.empty_blocks(9 - chain.height);
    assert_eq!(chain.height, 9);
    // Applied at the end of block 9: in force for block 10.
    assert_eq!(chain.run(&newcomer, create_namespace("org4-ns", &[])), None);
    let orgs: Vec<String> = chain.record(keys::ORGANIZATIONS).expect("orgs");
    assert_eq!(orgs.len(), 5);
}

#[test]
fn proposals_are_rejected_fail_late_or_are_refused_with_reasons() {
    let mut chain = Chain::new();
    let set_parameters = |block_interval_ms| GovAction::SetParameters {
        parameters: Parameters {
            block_interval_ms,
            ..Parameters::default()
        },
    };
    let id = proposal_id(&mut chain, &key(10), set_parameters(500), 20);
    assert_eq!(chain.run(&key(11), vote(id, false)), None);
    assert_eq!(status(&chain, &id), ProposalStatus::Open);
    assert_eq!(chain.run(&key(12), vote(id, false)), None);
    assert_eq!(
        status(&chain, &id),
        ProposalStatus::Rejected,
        "3 yes are impossible"
    );
    assert!(matches!(
        chain.run(&key(13), vote(id, true)),
        Some(Rejection::Malformed(_))
    ));
    // Approved after its effective height has become too close: failed, nothing scheduled.
    let effective = chain.height + 3;
    let late = proposal_id(&mut chain, &key(10), set_parameters(300), effective);
    chain.empty_blocks(2);
    assert_eq!(chain.run(&key(11), vote(late, true)), None);
    assert_eq!(chain.run(&key(12), vote(late, true)), None);
    assert!(matches!(status(&chain, &late), ProposalStatus::Failed(_)));
    // The validator floor: 4 validators, none may go.
    let remove = Operation::Propose {
        action: GovAction::RemoveValidator {
            node_key: key(20).public(),
            proof: None,
        },
        effective_height: chain.height + 5,
    };
    match chain.run(&key(10), remove) {
        Some(Rejection::Malformed(why)) => assert!(why.contains("at least 4"), "{why}"),
        other => panic!("expected a refusal naming the floor, got {other:?}"),
    }
    // Too soon, and invalid parameters.
    let soon = Operation::Propose {
        action: set_parameters(100),
        effective_height: chain.height + 1,
    };
    assert!(matches!(
        chain.run(&key(10), soon),
        Some(Rejection::Malformed(_))
    ));
    let tx = chain.tx(
        &key(10),
        Operation::Propose {
            action: GovAction::SetParameters {
                parameters: Parameters {
                    max_block_txs: 0,
                    ..Parameters::default()
                },
            },
            effective_height: 100,
        },
    );
    let parameters = Parameters::default();
    let context = BlockContext {
        chain_id: CHAIN,
        genesis: &test_genesis().genesis_hash(),
        height: chain.height + 1,
        parameters: &parameters,
    };
    assert!(matches!(
        check_admissible(&context, &tx),
        Err(Rejection::Malformed(_))
    ));
    denied(
        chain.run(
            &key(40),
            Operation::Propose {
                action: set_parameters(100),
                effective_height: 100,
            },
        ),
        "not a registered account",
    );
}

#[test]
fn a_new_validator_joins_only_after_proving_it_caught_up_then_one_can_be_removed() {
    let mut chain = Chain::new();
    let node = key(24);
    let id = proposal_id(
        &mut chain,
        &key(10),
        GovAction::AddValidator {
            validator: validator(0, 24),
        },
        5,
    );
    assert_eq!(chain.run(&key(11), vote(id, true)), None);
    assert_eq!(chain.run(&key(12), vote(id, true)), None);
    assert_eq!(status(&chain, &id), ProposalStatus::AwaitingReadiness);
    chain.empty_blocks(8);
    let set: ValidatorSet = chain.record(keys::VALIDATORS).expect("set");
    assert_eq!(
        set.len(),
        4,
        "not counted before it is ready, though height 5 passed"
    );
    let known = chain.height - 1;
    let hash: Hash = chain.record(&keys::block_hash(known)).expect("recorded");
    let ready = |height, block_hash| Operation::ValidatorReady { height, block_hash };
    denied(
        chain.run(&key(25), ready(known, hash)),
        "not an approved validator",
    );
    assert!(matches!(
        chain.run(&node, ready(known, Hash::of(b"fork"))),
        Some(Rejection::Malformed(_))
    ));
    let stale = chain.height.saturating_sub(governance::READY_WINDOW + 5);
    assert!(matches!(
        chain.run(&node, ready(stale.max(1), hash)),
        Some(Rejection::Malformed(_))
    ));
    let known = chain.height - 1;
    let hash: Hash = chain.record(&keys::block_hash(known)).expect("recorded");
    assert_eq!(chain.run(&node, ready(known, hash)), None);
    let ready_at = chain.height;
    assert_eq!(status(&chain, &id), ProposalStatus::Approved);
    let set: ValidatorSet = chain.record(keys::VALIDATORS).expect("set");
    assert_eq!(set.len(), 4, "joins two blocks after readiness");
    chain.empty_blocks(1);
    assert_eq!(chain.height, ready_at + 1);
    let set: ValidatorSet = chain.record(keys::VALIDATORS).expect("set");
    assert_eq!(set.len(), 5, "in force for block {}", ready_at + 2);
    // Now 5: one may be removed, on the grounds of a proof that it signed two commit votes.
    let proof = double_commit(&key(21), chain.height);
    let remove = proposal_id(
        &mut chain,
        &key(10),
        GovAction::RemoveValidator {
            node_key: key(21).public(),
            proof: Some(Box::new(proof)),
        },
        ready_at + 10,
    );
    let record: ProposalRecord = chain.record(&keys::proposal(&remove)).expect("recorded");
    assert!(
        matches!(&record.action, GovAction::RemoveValidator { proof: Some(p), .. } if p.validator == key(21).public()),
        "the grounds are kept with the proposal, for the voters"
    );
    assert_eq!(chain.run(&key(11), vote(remove, true)), None);
    assert_eq!(chain.run(&key(12), vote(remove, true)), None);
    chain.empty_blocks(ready_at + 9 - chain.height);
    let set: ValidatorSet = chain.record(keys::VALIDATORS).expect("set");
    assert_eq!(set.len(), 4);
    assert!(!set.contains(&key(21).public()));
}

#[test]
fn admission_refuses_what_execution_would_deny_and_leaves_the_rest_to_the_receipt() {
    let mut chain = Chain::new();
    let (admin0, admin1, writer0, stranger) = (key(10), key(11), key(40), key(43));
    assert_eq!(
        chain.run(&admin0, register(writer0.public(), &[Role::Writer])),
        None
    );
    let admit = |chain: &mut Chain, signer: &Keypair, op: Operation| {
        let tx = chain.tx(signer, op);
        check_permission(chain.height + 1, &chain.state, &tx)
    };
    // Another organization's account: refused at admission, denied alike in a block.
    let revoke_writer = Operation::RevokeAccount {
        account: writer0.public(),
    };
    let early = admit(&mut chain, &admin1, revoke_writer.clone());
    assert!(
        matches!(early, Err(Rejection::PermissionDenied(_))),
        "{early:?}"
    );
    assert_eq!(chain.run(&admin1, revoke_writer), early.err());
    // The signer may, but the state says no: admitted, and the receipt says why.
    let unmet = [
        Operation::RevokeAccount {
            account: stranger.public(),
        },
        Operation::AppendItemEvent {
            code: "unregistered".into(),
            kind: "shipped".into(),
            data: "{}".into(),
        },
        vote(Hash::ZERO, true),
    ];
    for op in unmet {
        assert_eq!(admit(&mut chain, &admin0, op.clone()), Ok(()), "{op:?}");
        assert!(
            matches!(
                chain.run(&admin0, op.clone()),
                Some(Rejection::Malformed(_))
            ),
            "{op:?}"
        );
    }
}

#[test]
fn membership_helpers_follow_a_newcomer_from_approval_into_the_set() {
    let mut chain = Chain::new();
    let node = key(24);
    assert_eq!(
        validator_set(&chain.state),
        Some(test_genesis().validator_set())
    );
    assert_eq!(pending_validators(&chain.state), vec![]);
    let id = proposal_id(
        &mut chain,
        &key(10),
        GovAction::AddValidator {
            validator: validator(0, 24),
        },
        5,
    );
    assert_eq!(chain.run(&key(11), vote(id, true)), None);
    assert_eq!(chain.run(&key(12), vote(id, true)), None);
    let waiting = pending_validators(&chain.state);
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].validator, validator(0, 24));
    let known = chain.height - 1;
    let hash: Hash = chain.record(&keys::block_hash(known)).expect("recorded");
    let ready = Operation::ValidatorReady {
        height: known,
        block_hash: hash,
    };
    assert_eq!(chain.run(&node, ready), None);
    assert_eq!(pending_validators(&chain.state), vec![]);
    chain.empty_blocks(1);
    let set = validator_set(&chain.state).expect("set");
    assert!(set.contains(&node.public()), "{set:?}");
}

/// The identity point's encoding: a small-order key under which (with `R` small-order and
/// `s = 0`) a signature verifies for every message.
fn small_order_key() -> PublicKey {
    let mut bytes = [0u8; 32];
    bytes[0] = 1;
    PublicKey(bytes)
}

/// Checks `op` by `signer` for admission (a field-check failure makes a block invalid, so it
/// never reaches a receipt) and expects a refusal of a small-order key.
fn refused_as_small_order(chain: &mut Chain, signer: &Keypair, op: Operation) {
    let tx = chain.tx(signer, op);
    let parameters = Parameters::default();
    let context = BlockContext {
        chain_id: CHAIN,
        genesis: &test_genesis().genesis_hash(),
        height: chain.height + 1,
        parameters: &parameters,
    };
    match check_admissible(&context, &tx) {
        Err(Rejection::Malformed(why)) => assert!(why.contains("small order"), "{why}"),
        other => panic!("expected a small-order key to be refused, got {other:?}"),
    }
}

#[test]
fn small_order_keys_are_refused_where_keys_enter() {
    let mut chain = Chain::new();
    let weak = small_order_key();
    refused_as_small_order(&mut chain, &key(10), register(weak, &[Role::Writer]));
    let propose = |action| Operation::Propose {
        action,
        effective_height: 100,
    };
    let weak_validator = Validator {
        node_key: weak,
        ..validator(0, 24)
    };
    let add_validator = GovAction::AddValidator {
        validator: weak_validator,
    };
    refused_as_small_order(&mut chain, &key(10), propose(add_validator));
    let weak_organization = Organization {
        id: "org9".into(),
        name: "Org 9".into(),
        admins: vec![key(19).public(), weak],
    };
    let add_organization = GovAction::AddOrganization {
        organization: weak_organization,
    };
    refused_as_small_order(&mut chain, &key(10), propose(add_organization));
    // A "co-signature" that verifies for any message under the weak key.
    let mut forged = [0u8; 64];
    forged[..32].copy_from_slice(&weak.0);
    let signature = cassia_crypto::Signature(forged);
    let message = co_signing_bytes(&test_genesis().genesis_hash(), &Hash::of(b"deed"), "");
    assert_eq!(weak.verify_raw(&message, &signature), Ok(()));
    let notarize = Operation::Notarize {
        digest: Hash::of(b"deed"),
        metadata: String::new(),
        co_signers: vec![CoSignature {
            signer: weak,
            signature,
        }],
    };
    refused_as_small_order(&mut chain, &key(10), notarize);
}

/// A proposal to remove a validator may carry a proof that it equivocated: admission checks
/// that the proof verifies on this chain and is against the validator named.
#[test]
fn a_removal_proof_must_verify_and_name_the_validator() {
    use cassia_ledger::misbehaviour::{Equivocation, SignedBlockHash, StatementKind};
    let genesis = test_genesis().genesis_hash();
    let culprit = key(20);
    let signed = |block: &[u8], genesis: &cassia_crypto::GenesisHash| {
        let block_hash = Hash::of(block);
        let vote = cassia_ledger::Vote {
            kind: cassia_ledger::VoteKind::Commit,
            height: 9,
            view: 2,
            block_hash,
        };
        SignedBlockHash {
            block_hash,
            signature: vote.sign(genesis, &culprit),
        }
    };
    let proof = |genesis: &cassia_crypto::GenesisHash| {
        Equivocation::new(
            culprit.public(),
            StatementKind::Commit,
            (9, 2),
            signed(b"a", genesis),
            signed(b"b", genesis),
        )
    };
    let parameters = Parameters::default();
    let admit = |node_key: PublicKey, proof: Equivocation| {
        let tx = Transaction {
            chain_id: CHAIN.into(),
            signer: key(10).public(),
            nonce: 1,
            valid_until: 10,
            op: Operation::Propose {
                action: GovAction::RemoveValidator {
                    node_key,
                    proof: Some(Box::new(proof)),
                },
                effective_height: 20,
            },
        }
        .sign(&genesis, &key(10));
        let context = BlockContext {
            chain_id: CHAIN,
            genesis: &genesis,
            height: 1,
            parameters: &parameters,
        };
        check_admissible(&context, &tx)
    };
    assert_eq!(admit(culprit.public(), proof(&genesis)), Ok(()));
    let refusal = |result: Result<(), Rejection>| match result {
        Err(Rejection::Malformed(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let why = refusal(admit(key(21).public(), proof(&genesis)));
    assert!(why.contains("not"), "{why}");
    let staging = cassia_crypto::GenesisHash(Hash::of(b"a copy of the chain"));
    let why = refusal(admit(culprit.public(), proof(&staging)));
    assert!(why.contains("does not verify"), "{why}");
    let mut same = proof(&genesis);
    same.second = same.first;
    let why = refusal(admit(culprit.public(), same));
    assert!(why.contains("no conflict"), "{why}");
}

/// `validator`'s commit votes for two blocks at `height`, view 0, on the test chain.
fn double_commit(validator: &Keypair, height: u64) -> cassia_ledger::misbehaviour::Equivocation {
    use cassia_ledger::misbehaviour::{Equivocation, SignedBlockHash, StatementKind};
    let genesis = test_genesis().genesis_hash();
    let signed = |block: &[u8]| {
        let block_hash = Hash::of(block);
        let vote = cassia_ledger::Vote {
            kind: cassia_ledger::VoteKind::Commit,
            height,
            view: 0,
            block_hash,
        };
        SignedBlockHash {
            block_hash,
            signature: vote.sign(&genesis, validator),
        }
    };
    Equivocation::new(
        validator.public(),
        StatementKind::Commit,
        (height, 0),
        signed(b"one block"),
        signed(b"another block"),
    )
}
