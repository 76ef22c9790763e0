//! Structure-aware inputs: well-formed objects with hostile field values (huge heights and
//! views, empty and oversized strings, NUL bytes, unknown keys, wrong chains), signed with the
//! fixture's real keys so they pass signature checks and reach the logic behind them.

use cassia_consensus::{
    Message, NewView, Payload, PreparedCertificate, Proposal, SignedViewChange, ViewChange,
};
use cassia_crypto::{GenesisHash, Hash, Keypair, PublicKey, Signature};
use cassia_engine::block::{BuildContext, build_block};
use cassia_ledger::records::{CoSignature, GovAction, NamespaceAcl, Role};
use cassia_ledger::{
    Block, CommitCertificate, Height, Operation, Organization, Parameters, SignedTransaction,
    Transaction, Validator, ValidatorSignature, View, Vote, VoteKind,
};

use super::world::{CHAIN_ID, GENESIS_TIME_MS, World, chain, signatures};
use crate::rng::Rng;

/// A height near the fixture chain, or an extreme one.
pub fn height(rng: &mut Rng) -> Height {
    match rng.below(8) {
        0 => 0,
        1..=3 => 1,
        4 => 2 + rng.below(4),
        5 => u64::MAX,
        6 => 1 << 63,
        _ => rng.next_u64(),
    }
}

/// A view: mostly 0 or 1, sometimes huge.
pub fn view(rng: &mut Rng) -> View {
    match rng.below(6) {
        0..=2 => 0,
        3 => 1,
        4 => u64::MAX,
        _ => rng.next_u64(),
    }
}

/// A string that a field check has to judge: empty, ordinary, long, with NUL, non-ASCII.
pub fn text(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => String::new(),
        1 => "licences".into(),
        2 => "x".repeat(usize::try_from(rng.below(600)).expect("small")),
        3 => "with\0nul".into(),
        4 => "桂链-存证".into(),
        5 => "org0".into(),
        _ => (0..rng.below(24))
            .map(|_| char::from(b'a' + u8::try_from(rng.below(26)).expect("below 26")))
            .collect(),
    }
}

fn blob(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(6) {
        0 => 0,
        1 => 64 * 1024 + 1,
        _ => rng.below(48),
    };
    (0..len)
        .map(|i| u8::try_from(i % 251).expect("below 251"))
        .collect()
}

fn hash(rng: &mut Rng, world: &World) -> Hash {
    match rng.below(4) {
        0 => Hash::ZERO,
        1 => world.chain[rng.index(world.chain.len())].block.hash(),
        _ => Hash(rng.bytes32()),
    }
}

fn public_key(rng: &mut Rng, world: &World) -> PublicKey {
    if rng.chance(700) {
        let keys = world.keys();
        keys[rng.index(keys.len())].public()
    } else {
        PublicKey(rng.bytes32())
    }
}

fn signature(rng: &mut Rng) -> Signature {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&rng.bytes32());
    bytes[32..].copy_from_slice(&rng.bytes32());
    Signature(bytes)
}

fn list<T>(rng: &mut Rng, max: u64, mut item: impl FnMut(&mut Rng) -> T) -> Vec<T> {
    (0..rng.below(max + 1)).map(|_| item(rng)).collect()
}

fn parameters(rng: &mut Rng) -> Parameters {
    let mut parameters = Parameters::default();
    match rng.below(4) {
        0 => parameters.max_block_bytes = 0,
        1 => parameters.view_timeout_ms = u64::MAX,
        2 => parameters.max_tx_ttl = u64::MAX,
        _ => parameters.max_block_txs = 0,
    }
    parameters
}

fn gov_action(rng: &mut Rng, world: &World) -> GovAction {
    match rng.below(5) {
        0 => GovAction::AddOrganization {
            organization: Organization {
                id: text(rng),
                name: text(rng),
                admins: list(rng, 3, |rng| public_key(rng, world)),
            },
        },
        1 => GovAction::RemoveOrganization { id: text(rng) },
        2 => GovAction::AddValidator {
            validator: Validator {
                name: text(rng),
                organization: text(rng),
                node_key: public_key(rng, world),
                p2p_address: text(rng),
            },
        },
        3 => GovAction::RemoveValidator {
            node_key: public_key(rng, world),
            proof: None,
        },
        _ => GovAction::SetParameters {
            parameters: parameters(rng),
        },
    }
}

fn acl(rng: &mut Rng) -> NamespaceAcl {
    NamespaceAcl {
        writers: list(rng, 3, text),
        readers: list(rng, 3, text),
    }
}

fn role(rng: &mut Rng) -> Role {
    [Role::Admin, Role::Writer, Role::Auditor][rng.index(3)]
}

/// Any operation, with hostile fields.
pub fn operation(rng: &mut Rng, world: &World) -> Operation {
    match rng.below(12) {
        0 => Operation::Put {
            namespace: text(rng),
            key: blob(rng),
            value: blob(rng),
        },
        1 => Operation::Notarize {
            digest: hash(rng, world),
            metadata: text(rng),
            co_signers: list(rng, 3, |rng| CoSignature {
                signer: public_key(rng, world),
                signature: signature(rng),
            }),
        },
        2 => Operation::RegisterAccount {
            account: public_key(rng, world),
            roles: list(rng, 4, role),
        },
        3 => Operation::RevokeAccount {
            account: public_key(rng, world),
        },
        4 => Operation::CreateNamespace {
            namespace: text(rng),
            acl: acl(rng),
        },
        5 => Operation::SetNamespaceAcl {
            namespace: text(rng),
            acl: acl(rng),
        },
        6 => Operation::RegisterItem {
            code: text(rng),
            product: text(rng),
            metadata: text(rng),
            authorized: list(rng, 3, text),
        },
        7 => Operation::AppendItemEvent {
            code: text(rng),
            kind: text(rng),
            data: text(rng),
        },
        8 => Operation::AnchorBatch {
            batch_id: text(rng),
            root: hash(rng, world),
            count: rng.next_u64(),
            metadata: text(rng),
        },
        9 => Operation::Propose {
            action: gov_action(rng, world),
            effective_height: height(rng),
        },
        10 => Operation::Vote {
            proposal: hash(rng, world),
            approve: rng.chance(500),
        },
        _ => Operation::ValidatorReady {
            height: height(rng),
            block_hash: hash(rng, world),
        },
    }
}

/// A transaction with hostile fields, signed by one of the fixture's keys (or, rarely, with a
/// random signature).
pub fn transaction(rng: &mut Rng, world: &World) -> SignedTransaction {
    let keys = world.keys();
    let key: &Keypair = if rng.chance(600) {
        &world.admin
    } else {
        keys[rng.index(keys.len())]
    };
    let chain_id = match rng.below(10) {
        0 => String::new(),
        1 => "another-chain".into(),
        _ => CHAIN_ID.into(),
    };
    let valid_until = match rng.below(5) {
        0 => 0,
        1 => 1_001,
        2 => u64::MAX,
        _ => 100,
    };
    let tx = Transaction {
        chain_id,
        signer: key.public(),
        nonce: rng.next_u64(),
        valid_until,
        op: operation(rng, world),
    };
    let mut signed = tx.sign(&genesis(rng), key);
    if rng.chance(50) {
        signed.signature = signature(rng);
    }
    signed
}

/// A block: a fixture block, a valid block built on genesis from hostile transactions, or a
/// block with a hostile header.
pub fn block(rng: &mut Rng, world: &World) -> Block {
    let transactions = list(rng, 4, |rng| transaction(rng, world));
    match rng.below(4) {
        0 => world.chain[rng.index(world.chain.len())].block.clone(),
        1 | 2 => {
            let tip = world.genesis_tip();
            let state = &world.chain[0].parent_state;
            let context = BuildContext {
                chain_id: CHAIN_ID,
                genesis: &chain(),
                parameters: &world.genesis.parameters,
                tip: &tip,
                validators: &world.validators,
                state,
                proposer: world.leader_key(1, 0).public(),
                view: 0,
                now_ms: GENESIS_TIME_MS + 1_000,
            };
            build_block(&context, transactions, &|_| false)
                .expect("the genesis state is in memory")
                .0
        }
        _ => {
            let mut block = world.chain[0].block.clone();
            block.header.height = height(rng);
            block.header.view = view(rng);
            block.header.timestamp_ms = rng.next_u64();
            block.header.proposer = public_key(rng, world);
            block.transactions = transactions;
            block
        }
    }
}

/// A certificate: a fixture one, a quorum (or less) of real signatures on some vote, or junk.
pub fn certificate(rng: &mut Rng, world: &World) -> CommitCertificate {
    let fixture = &world.chain[rng.index(world.chain.len())];
    match rng.below(3) {
        0 => fixture.certificate.clone(),
        1 => {
            let signers: Vec<usize> = (0..world.validator_keys.len())
                .filter(|_| rng.chance(700))
                .collect();
            let (height, view) = (height(rng), view(rng));
            let block_hash = fixture.block.hash();
            CommitCertificate {
                height,
                view,
                block_hash,
                signatures: signatures(
                    &world.validator_keys,
                    &signers,
                    VoteKind::Commit,
                    height,
                    view,
                    block_hash,
                ),
            }
        }
        _ => {
            let mut certificate = fixture.certificate.clone();
            certificate.signatures = list(rng, 6, |rng| ValidatorSignature {
                validator: public_key(rng, world),
                signature: signature(rng),
            });
            certificate
        }
    }
}

fn vote(rng: &mut Rng, world: &World) -> Vote {
    Vote {
        kind: if rng.chance(500) {
            VoteKind::Prepare
        } else {
            VoteKind::Commit
        },
        height: height(rng),
        view: view(rng),
        block_hash: hash(rng, world),
    }
}

fn prepared_certificate(rng: &mut Rng, world: &World) -> PreparedCertificate {
    let certificate = certificate(rng, world);
    let signers: Vec<usize> = (0..world.validator_keys.len())
        .filter(|_| rng.chance(700))
        .collect();
    PreparedCertificate {
        height: certificate.height,
        view: certificate.view,
        block_hash: certificate.block_hash,
        signatures: signatures(
            &world.validator_keys,
            &signers,
            VoteKind::Prepare,
            certificate.height,
            certificate.view,
            certificate.block_hash,
        ),
    }
}

fn view_change(rng: &mut Rng, world: &World) -> ViewChange {
    ViewChange {
        height: height(rng),
        view: view(rng),
        prepared: rng.chance(500).then(|| prepared_certificate(rng, world)),
    }
}

fn payload(rng: &mut Rng, world: &World) -> Payload {
    match rng.below(5) {
        0 => {
            let block = block(rng, world);
            let block_hash = if rng.chance(800) {
                block.hash()
            } else {
                hash(rng, world)
            };
            let proposal = Proposal {
                height: height(rng),
                view: view(rng),
                block_hash,
            };
            Payload::PrePrepare { proposal, block }
        }
        1 => Payload::Vote(vote(rng, world)),
        2 => Payload::ViewChange {
            view_change: view_change(rng, world),
            prepared_block: rng.chance(500).then(|| block(rng, world)),
        },
        3 => {
            let block = block(rng, world);
            let view_changes = list(rng, 5, |rng| {
                let key = &world.validator_keys[rng.index(world.validator_keys.len())];
                let view_change = view_change(rng, world);
                let message = Message::sign(
                    &chain(),
                    key,
                    Payload::ViewChange {
                        view_change: view_change.clone(),
                        prepared_block: None,
                    },
                );
                SignedViewChange {
                    view_change,
                    signer: key.public(),
                    signature: message.signature,
                }
            });
            let new_view = NewView {
                height: height(rng),
                view: view(rng),
                view_changes,
                block_hash: block.hash(),
            };
            Payload::NewView { new_view, block }
        }
        _ => Payload::Decided(certificate(rng, world)),
    }
}

/// A consensus message with a hostile payload, signed by a validator (or another fixture key),
/// for this chain or another.
pub fn message(rng: &mut Rng, world: &World) -> Message {
    let keys = world.keys();
    let key = if rng.chance(850) {
        &world.validator_keys[rng.index(world.validator_keys.len())]
    } else {
        keys[rng.index(keys.len())]
    };
    Message::sign(&genesis(rng), key, payload(rng, world))
}

/// The genesis a signature is made for: mostly the fixture's, sometimes a copy's with the same
/// chain id (which must verify nowhere on the fixture chain).
fn genesis(rng: &mut Rng) -> GenesisHash {
    if rng.chance(950) {
        chain()
    } else {
        GenesisHash(Hash::of(b"a copy of the fuzz chain"))
    }
}

/// Fixture blocks with certificates, reordered, repeated or swapped with hostile ones.
pub fn sync_response(rng: &mut Rng, world: &World) -> Vec<(Block, CommitCertificate)> {
    list(rng, 5, |rng| {
        let fixture = &world.chain[rng.index(world.chain.len())];
        match rng.below(4) {
            0 => (block(rng, world), fixture.certificate.clone()),
            1 => (fixture.block.clone(), certificate(rng, world)),
            _ => (fixture.block.clone(), fixture.certificate.clone()),
        }
    })
}
