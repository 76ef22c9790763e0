//! Protocol rules, one scenario each, on a single replica (index 0 of four) fed by hand.

use cassia_consensus::{
    Config, ConsensusState, DropReason, Evidence, Input, Message, NewView, Payload,
    PreparedCertificate, Proposal, Replica, Request, TimerCommand, ViewChange,
};
use cassia_crypto::{GenesisHash, Hash, Keypair};
use cassia_ledger::misbehaviour::StatementKind;
use cassia_ledger::{
    Block, BlockHeader, Validator, ValidatorSet, ValidatorSignature, View, Vote, VoteKind,
};

const CHAIN: &str = "rules";
const GENESIS: GenesisHash = GenesisHash(Hash([0x5a; 32]));

struct Setup {
    keys: Vec<Keypair>,
    validators: ValidatorSet,
}

fn setup() -> Setup {
    let keys: Vec<Keypair> = (1..=4u8).map(|i| Keypair::from_secret([i; 32])).collect();
    let validators = ValidatorSet {
        validators: keys
            .iter()
            .enumerate()
            .map(|(i, k)| Validator {
                name: format!("v{i}"),
                organization: "o".into(),
                node_key: k.public(),
                p2p_address: String::new(),
            })
            .collect(),
    };
    Setup { keys, validators }
}

impl Setup {
    fn replica(&self, persisted: Option<ConsensusState>) -> Replica {
        let config = Config {
            genesis: GENESIS,
            key: self.keys[0].clone(),
            base_timeout_ms: 1_000,
        };
        let mut replica =
            Replica::new(config, 1, self.validators.clone(), persisted).expect("valid set");
        let _ = replica.step(Input::Start);
        replica
    }

    fn index_of_leader(&self, view: View) -> usize {
        let leader = self.validators.leader(1, view).node_key;
        self.keys
            .iter()
            .position(|k| k.public() == leader)
            .expect("a member")
    }

    fn block(&self, view: View, timestamp_ms: u64) -> Block {
        let header = BlockHeader {
            height: 1,
            view,
            parent: Hash::of(b"genesis"),
            timestamp_ms,
            proposer: self.validators.leader(1, view).node_key,
            tx_root: cassia_crypto::merkle::empty_root(),
            receipts_root: Hash::ZERO,
            state_root: Hash::ZERO,
            validator_set_hash: self.validators.hash(),
        };
        Block {
            header,
            transactions: vec![],
        }
    }

    fn pre_prepare(&self, block: &Block) -> Message {
        let proposal = Proposal {
            height: 1,
            view: 0,
            block_hash: block.hash(),
        };
        Message::sign(
            &GENESIS,
            &self.keys[self.index_of_leader(0)],
            Payload::PrePrepare {
                proposal,
                block: block.clone(),
            },
        )
    }

    fn view_change(
        &self,
        from: usize,
        view: View,
        prepared: Option<(PreparedCertificate, Block)>,
    ) -> Message {
        let (prepared, prepared_block) = prepared.map_or((None, None), |(c, b)| (Some(c), Some(b)));
        let view_change = ViewChange {
            height: 1,
            view,
            prepared,
        };
        Message::sign(
            &GENESIS,
            &self.keys[from],
            Payload::ViewChange {
                view_change,
                prepared_block,
            },
        )
    }

    fn prepared(&self, block: &Block, view: View) -> PreparedCertificate {
        let vote = Vote {
            kind: VoteKind::Prepare,
            height: 1,
            view,
            block_hash: block.hash(),
        };
        let mut signatures: Vec<ValidatorSignature> = self.keys[1..]
            .iter()
            .map(|k| ValidatorSignature {
                validator: k.public(),
                signature: vote.sign(&GENESIS, k),
            })
            .collect();
        signatures.sort_by_key(|s| s.validator);
        PreparedCertificate {
            height: 1,
            view,
            block_hash: block.hash(),
            signatures,
        }
    }
}

fn signed_prepares(actions: &cassia_consensus::Actions) -> Vec<Hash> {
    actions
        .messages
        .iter()
        .filter_map(|out| match out.message.payload {
            Payload::Vote(Vote {
                kind: VoteKind::Prepare,
                block_hash,
                ..
            }) => Some(block_hash),
            _ => None,
        })
        .collect()
}

#[test]
fn a_replica_rebuilt_from_its_wal_refuses_to_prepare_a_conflicting_block() {
    let s = setup();
    let mut replica = s.replica(None);
    let (a, b) = (s.block(0, 10), s.block(0, 11));
    let _ = replica.step(Input::Message(s.pre_prepare(&a)));
    let actions = replica.step(Input::BlockValidated {
        height: 1,
        view: 0,
        block_hash: a.hash(),
        valid: true,
    });
    assert_eq!(signed_prepares(&actions), vec![a.hash()]);
    let wal = actions.persist.expect("the prepare is persisted with it");

    let mut restarted = s.replica(Some(wal));
    let _ = restarted.step(Input::Message(s.pre_prepare(&b)));
    let actions = restarted.step(Input::BlockValidated {
        height: 1,
        view: 0,
        block_hash: b.hash(),
        valid: true,
    });
    assert!(
        signed_prepares(&actions).is_empty(),
        "no prepare for the conflicting block"
    );
    assert_eq!(restarted.stats().refused_to_equivocate, 1);
}

fn after_ms(actions: &cassia_consensus::Actions) -> Option<u64> {
    match actions.timer {
        Some(TimerCommand::Set { after_ms, .. }) => Some(after_ms),
        _ => None,
    }
}

#[test]
fn the_view_timer_doubles_and_the_f_plus_one_rule_joins_higher_views() {
    let s = setup();
    let mut replica = s.replica(None);
    let started = replica.step(Input::TimerFired {
        height: 1,
        view: 0,
        generation: 1,
    });
    assert_eq!(replica.view(), 1, "no proposal: straight to a view change");
    assert_eq!(
        after_ms(&started),
        Some(2_000),
        "view 1 waits twice the base"
    );
    let _ = replica.step(Input::Message(s.view_change(2, 5, None)));
    assert_eq!(
        replica.view(),
        1,
        "one validator alone cannot pull a replica up"
    );
    let joined = replica.step(Input::Message(s.view_change(3, 6, None)));
    assert_eq!(
        replica.view(),
        5,
        "f+1 = 2 higher view changes: join the smaller of them"
    );
    assert_eq!(after_ms(&joined), Some(32_000));
}

#[test]
fn a_new_view_that_ignores_the_highest_prepared_certificate_is_rejected() {
    let s = setup();
    let mut replica = s.replica(None);
    let prepared_block = s.block(0, 10);
    let certificate = s.prepared(&prepared_block, 0);
    let new_leader = s.index_of_leader(1);
    let view_changes: Vec<_> = (1..4)
        .map(|from| {
            let prepared = (from == 2).then(|| (certificate.clone(), prepared_block.clone()));
            s.view_change(from, 1, prepared)
                .signed_view_change()
                .expect("a view change")
        })
        .collect();
    let fresh = s.block(1, 20);
    let breaking = NewView {
        height: 1,
        view: 1,
        view_changes: view_changes.clone(),
        block_hash: fresh.hash(),
    };
    let message = Message::sign(
        &GENESIS,
        &s.keys[new_leader],
        Payload::NewView {
            new_view: breaking,
            block: fresh,
        },
    );
    let actions = replica.step(Input::Message(message));
    assert_eq!(replica.stats().drops.get(DropReason::BadNewView), 1);
    assert!(matches!(
        actions.evidence[..],
        [Evidence::InvalidNewView(_)]
    ));
    assert_eq!(
        replica.view(),
        0,
        "a rejected new view does not move the replica"
    );

    let following = NewView {
        height: 1,
        view: 1,
        view_changes,
        block_hash: prepared_block.hash(),
    };
    let message = Message::sign(
        &GENESIS,
        &s.keys[new_leader],
        Payload::NewView {
            new_view: following,
            block: prepared_block.clone(),
        },
    );
    let actions = replica.step(Input::Message(message));
    assert_eq!(replica.view(), 1, "the re-proposal is accepted");
    assert!(actions.requests.iter().any(
        |r| matches!(r, Request::Validate { view: 1, block, .. } if *block == prepared_block)
    ));
}

#[test]
fn bad_messages_are_dropped_and_counted_by_reason() {
    let s = setup();
    let mut replica = s.replica(None);
    let block = s.block(0, 10);
    let good = s.pre_prepare(&block);
    let mut wrong_chain = good.clone();
    wrong_chain.genesis = GenesisHash(Hash::of(b"other"));
    let mut bad_signature = good.clone();
    bad_signature.signature.0[0] ^= 1;
    // Signed by a validator key for a copy of the chain (same chain id, another genesis), then
    // relabelled as ours: the label passes, the signature does not.
    let mut staging_copy = Message::sign(
        &GenesisHash(Hash::of(b"staging")),
        &s.keys[1],
        good.payload.clone(),
    );
    staging_copy.genesis = GENESIS;
    let outsider = Message::sign(
        &GENESIS,
        &Keypair::from_secret([99; 32]),
        good.payload.clone(),
    );
    let huge_view = s.view_change(2, u64::MAX, None);
    let vote = Vote {
        kind: VoteKind::Commit,
        height: u64::MAX,
        view: 0,
        block_hash: block.hash(),
    };
    let huge_height = Message::sign(&GENESIS, &s.keys[2], Payload::Vote(vote));
    for message in [
        wrong_chain,
        bad_signature,
        staging_copy,
        outsider,
        huge_view,
        huge_height,
    ] {
        let _ = replica.step(Input::Message(message));
    }
    let drops = &replica.stats().drops;
    assert_eq!(drops.get(DropReason::BadSignature), 2);
    for reason in [
        DropReason::WrongChain,
        DropReason::NotValidator,
        DropReason::ViewTooFarAhead,
        DropReason::HeightTooFarAhead,
    ] {
        assert_eq!(drops.get(reason), 1, "{reason:?}");
    }
    assert_eq!(replica.view(), 0);
}

/// The leader's signature covers the header only: a pre-prepare whose header is genuine but
/// whose transactions are not the ones its `tx_root` commits to is malformed, screened out
/// before validation, and never voted on.
#[test]
fn a_genuine_header_around_another_body_is_malformed() {
    let s = setup();
    let mut replica = s.replica(None);
    let mut block = s.block(0, 10);
    let key = &s.keys[1];
    let stray = cassia_ledger::Transaction {
        chain_id: CHAIN.into(),
        signer: key.public(),
        nonce: 1,
        valid_until: 10,
        op: cassia_ledger::Operation::Notarize {
            digest: Hash::of(b"stray"),
            metadata: String::new(),
            co_signers: Vec::new(),
        },
    }
    .sign(&GENESIS, key);
    block.transactions.push(stray);
    let tampered = s.pre_prepare(&block);
    assert_eq!(replica.screen(&tampered), Err(DropReason::Malformed));
    let actions = replica.step(Input::Message(tampered));
    assert!(
        actions.requests.is_empty(),
        "nothing to validate: {actions:?}"
    );
    assert!(signed_prepares(&actions).is_empty());
    assert_eq!(replica.stats().drops.get(DropReason::Malformed), 1);
    let genuine = s.pre_prepare(&s.block(0, 10));
    assert_eq!(replica.screen(&genuine), Ok(()), "the matching body passes");
}

#[test]
fn the_validator_set_of_each_height_is_an_input() {
    let s = setup();
    let mut replica = s.replica(None);
    let block = s.block(0, 10);
    let _ = replica.step(Input::Message(s.pre_prepare(&block)));
    let _ = replica.step(Input::BlockValidated {
        height: 1,
        view: 0,
        block_hash: block.hash(),
        valid: true,
    });
    let mut committed = None;
    for kind in [VoteKind::Prepare, VoteKind::Commit] {
        for key in &s.keys[1..3] {
            let vote = Vote {
                kind,
                height: 1,
                view: 0,
                block_hash: block.hash(),
            };
            let actions = replica.step(Input::Message(Message::sign(
                &GENESIS,
                key,
                Payload::Vote(vote),
            )));
            committed = committed.or(actions.commit.map(|c| (c, actions.requests)));
        }
    }
    let (commit, requests) = committed.expect("2f+1 = 3 commits decide");
    assert_eq!(commit.block, block);
    assert_eq!(
        requests,
        vec![Request::ValidatorSet { height: 2 }],
        "height 2 waits for its set"
    );

    // Governance reordered the set: this replica leads height 2 under the new order.
    let mut reordered = s.validators.clone();
    reordered.validators.rotate_left(2);
    assert_eq!(reordered.leader(2, 0).node_key, s.keys[0].public());
    // Governance also changed the view timeout: height 2's timer follows the one in force.
    let started = replica.step(Input::Validators {
        height: 2,
        validators: reordered.clone(),
        base_timeout_ms: 3_000,
    });
    assert_eq!(replica.validators(), &reordered);
    assert!(
        matches!(
            started.timer,
            Some(TimerCommand::Set {
                height: 2,
                view: 0,
                after_ms: 3_000,
                ..
            })
        ),
        "the view timer follows the timeout in force: {:?}",
        started.timer
    );
    assert_eq!(
        started.requests,
        vec![Request::Propose { height: 2, view: 0 }]
    );
}

/// A leader's two pre-prepares, or a validator's two prepare votes, for one height and view are
/// reported as evidence whose compact proof (hashes and signatures, no blocks) verifies on this
/// chain and names the signer; on another chain it proves nothing.
#[test]
fn equivocations_are_reported_with_a_compact_proof() {
    let s = setup();
    let mut replica = s.replica(None);
    let leader = s.index_of_leader(0);
    assert_ne!(leader, 0, "the replica under test must not lead view 0");
    let (a, b) = (s.block(0, 10), s.block(0, 11));
    let proof_of = |actions: cassia_consensus::Actions| match &actions.evidence[..] {
        [evidence] => evidence.equivocation().expect("a compact proof"),
        other => panic!("expected one piece of evidence, got {other:?}"),
    };
    let _ = replica.step(Input::Message(s.pre_prepare(&a)));
    let proof = proof_of(replica.step(Input::Message(s.pre_prepare(&b))));
    assert_eq!(proof.validator, s.keys[leader].public());
    assert_eq!(proof.kind, StatementKind::Proposal);
    assert_eq!((proof.height, proof.view), (1, 0));
    assert_eq!(proof.verify(&GENESIS), Ok(()));
    assert!(proof.verify(&GenesisHash(Hash::of(b"staging"))).is_err());

    let voter = (1..4).find(|i| *i != leader).expect("two other validators");
    let vote = |block: &Block| {
        let vote = Vote {
            kind: VoteKind::Prepare,
            height: 1,
            view: 0,
            block_hash: block.hash(),
        };
        Message::sign(&GENESIS, &s.keys[voter], Payload::Vote(vote))
    };
    let _ = replica.step(Input::Message(vote(&a)));
    let proof = proof_of(replica.step(Input::Message(vote(&b))));
    assert_eq!(proof.validator, s.keys[voter].public());
    assert_eq!(proof.kind, StatementKind::Prepare);
    assert_eq!(proof.verify(&GENESIS), Ok(()));
}
