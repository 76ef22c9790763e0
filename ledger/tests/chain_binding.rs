//! Every signature is bound to the genesis, not only to the chain id: a staging copy of a chain
//! (same chain id, same keys, same validators; only its genesis time differs) cannot have a
//! single one of its signatures accepted by the production chain, in any signing domain.
//! Consensus statements are covered by `consensus/tests/rules.rs` and evidence packages by
//! `ledger/src/evidence/tests.rs`.

use cassia_crypto::{Hash, Keypair};
use cassia_ledger::execution::{
    BlockContext, check_admissible, co_signing_bytes, read_signing_bytes,
};
use cassia_ledger::records::CoSignature;
use cassia_ledger::{
    CommitCertificate, Genesis, Operation, Organization, Parameters, Rejection, Transaction,
    Validator, ValidatorSignature, Vote, VoteKind,
};

const CHAIN: &str = "gx-gov";

fn key(n: u8) -> Keypair {
    Keypair::from_secret([n; 32])
}

/// The production genesis (`genesis_time_ms` 1) or a copy made from its settings.
fn genesis(genesis_time_ms: u64) -> Genesis {
    let mut genesis = Genesis {
        chain_id: CHAIN.into(),
        genesis_time_ms,
        organizations: vec![Organization {
            id: "org0".into(),
            name: "Org 0".into(),
            admins: vec![key(10).public()],
        }],
        validators: (0..4u8)
            .map(|i| Validator {
                name: format!("v{i}"),
                organization: "org0".into(),
                node_key: key(20 + i).public(),
                p2p_address: format!("/ip4/127.0.0.1/tcp/{}", 7000 + u32::from(i)),
            })
            .collect(),
        parameters: Parameters::default(),
        approvals: vec![],
    };
    genesis
        .approve("org0", &key(10))
        .expect("the admin approves");
    genesis
}

#[test]
fn the_copy_shares_the_chain_id_and_nothing_else() {
    let (production, staging) = (genesis(1), genesis(2));
    assert_eq!(production.chain_id, staging.chain_id);
    assert_ne!(production.genesis_hash(), staging.genesis_hash());
}

#[test]
fn a_transaction_signed_for_the_copy_does_not_verify() {
    let (production, staging) = (genesis(1), genesis(2));
    let tx = Transaction {
        chain_id: CHAIN.into(),
        signer: key(10).public(),
        nonce: 1,
        valid_until: 10,
        op: Operation::Put {
            namespace: "licences".into(),
            key: b"GX-001".to_vec(),
            value: b"valid".to_vec(),
        },
    }
    .sign(&staging.genesis_hash(), &key(10));
    assert!(tx.verify_signature(&staging.genesis_hash()).is_ok());
    assert!(tx.verify_signature(&production.genesis_hash()).is_err());
}

#[test]
fn a_commit_certificate_of_the_copy_does_not_verify() {
    let (production, staging) = (genesis(1), genesis(2));
    let block_hash = Hash::of(b"block 1");
    let vote = Vote {
        kind: VoteKind::Commit,
        height: 1,
        view: 0,
        block_hash,
    };
    let certificate = CommitCertificate {
        height: 1,
        view: 0,
        block_hash,
        signatures: (0..3u8)
            .map(|i| ValidatorSignature {
                validator: key(20 + i).public(),
                signature: vote.sign(&staging.genesis_hash(), &key(20 + i)),
            })
            .collect(),
    };
    let validators = production.validator_set();
    assert!(
        certificate
            .verify_for(&staging.genesis_hash(), &validators, &block_hash)
            .is_ok()
    );
    assert!(
        certificate
            .verify_for(&production.genesis_hash(), &validators, &block_hash)
            .is_err()
    );
}

#[test]
fn a_co_signature_made_for_the_copy_is_refused_at_admission() {
    let (production, staging) = (genesis(1), genesis(2));
    let (digest, metadata) = (Hash::of(b"contract.pdf"), "e-contract".to_string());
    let co_signer = key(30);
    let co_signature = CoSignature {
        signer: co_signer.public(),
        signature: co_signer.sign_raw(&co_signing_bytes(
            &staging.genesis_hash(),
            &digest,
            &metadata,
        )),
    };
    let tx = Transaction {
        chain_id: CHAIN.into(),
        signer: key(10).public(),
        nonce: 1,
        valid_until: 10,
        op: Operation::Notarize {
            digest,
            metadata,
            co_signers: vec![co_signature],
        },
    }
    .sign(&production.genesis_hash(), &key(10));
    let parameters = Parameters::default();
    let on = |genesis: &Genesis| {
        check_admissible(
            &BlockContext {
                chain_id: CHAIN,
                genesis: &genesis.genesis_hash(),
                height: 1,
                parameters: &parameters,
            },
            &tx,
        )
    };
    assert_eq!(on(&staging), Ok(()));
    assert_eq!(on(&production), Err(Rejection::BadSignature));
}

#[test]
fn a_read_credential_made_for_the_copy_does_not_verify() {
    let (production, staging) = (genesis(1), genesis(2));
    let reader = key(10);
    let signature = reader.sign_raw(&read_signing_bytes(&staging.genesis_hash(), b"k", 5));
    let on = |genesis: &Genesis| {
        reader.public().verify_raw(
            &read_signing_bytes(&genesis.genesis_hash(), b"k", 5),
            &signature,
        )
    };
    assert!(on(&staging).is_ok());
    assert!(on(&production).is_err());
}

#[test]
fn the_copys_approvals_do_not_approve_production() {
    let (mut production, staging) = (genesis(1), genesis(2));
    production.approvals = staging.approvals.clone();
    assert!(staging.verify().is_ok());
    assert!(production.verify().is_err());
}
