//! Unit tests on a small chain built by hand.

use std::collections::BTreeMap;

use cassia_crypto::Keypair;
use cassia_crypto::merkle::MerkleTree;

use super::*;
use crate::block::{receipts_tree, tx_tree};
use crate::codec::CodecError;
use crate::genesis::GenesisError;
use crate::genesis::{Organization, Parameters};
use crate::state_tree::ProofError;
use crate::state_tree::{self, EMPTY, MemoryNodes};
use crate::transaction::Operation;
use crate::transaction::Transaction;
use crate::validators::CertificateError;
use crate::validators::{Validator, ValidatorSignature, Vote, VoteKind};

const CHAIN: &str = "evidence-test";
/// The change block: block 2 writes a new set (validator 3 leaves, validator 4 joins).
const CHANGE_HEIGHT: Height = 2;
/// The block holding the notarization, at index [`NOTARIZATION_INDEX`] of three.
const TX_HEIGHT: Height = 3;
const NOTARIZATION_INDEX: usize = 1;

/// One committed block, everything a node would store about it.
struct TestBlock {
    header: BlockHeader,
    certificate: CommitCertificate,
    transactions: Vec<SignedTransaction>,
    receipts: Vec<Receipt>,
}

/// A small chain built by hand: genesis with validators 0..=3; block 1 signed by them;
/// block 2 (signed by them) writes the set {0, 1, 2, 4}; block 3 (signed by 1, 2, 4) holds a
/// notarization between two other transactions.
struct TestChain {
    genesis: Genesis,
    validator_keys: Vec<Keypair>,
    account: Keypair,
    nodes: MemoryNodes,
    state_root: Hash,
    blocks: Vec<TestBlock>,
    /// The set each change block wrote.
    written_sets: BTreeMap<Height, ValidatorSet>,
}

fn validator_set(keys: &[Keypair], members: &[usize]) -> ValidatorSet {
    ValidatorSet {
        validators: members
            .iter()
            .map(|&i| Validator {
                name: format!("validator-{i}"),
                organization: "org0".into(),
                node_key: keys[i].public(),
                p2p_address: format!("/ip4/10.0.0.{i}/tcp/7100"),
            })
            .collect(),
    }
}

fn notarized_digest() -> Hash {
    Hash::of(b"contract.pdf")
}

impl TestChain {
    fn new() -> TestChain {
        TestChain::with_genesis_time(1_735_689_600_000)
    }

    /// The same chain (same id, keys and transactions) from a genesis of another time: another
    /// genesis hash, as a staging copy of the chain would have.
    fn with_genesis_time(genesis_time_ms: u64) -> TestChain {
        let validator_keys: Vec<Keypair> =
            (1..=5u8).map(|i| Keypair::from_secret([i; 32])).collect();
        let admin = Keypair::from_secret([40; 32]);
        let mut genesis = Genesis {
            chain_id: CHAIN.into(),
            genesis_time_ms,
            organizations: vec![Organization {
                id: "org0".into(),
                name: "Organization zero".into(),
                admins: vec![admin.public()],
            }],
            validators: validator_set(&validator_keys, &[0, 1, 2, 3]).validators,
            parameters: Parameters::default(),
            approvals: Vec::new(),
        };
        genesis.approve("org0", &admin).expect("the admin approves");
        let mut chain = TestChain {
            genesis,
            validator_keys,
            account: Keypair::from_secret([41; 32]),
            nodes: MemoryNodes::new(),
            state_root: EMPTY,
            blocks: Vec::new(),
            written_sets: BTreeMap::new(),
        };
        // The genesis state holds the genesis set (version at height 0).
        let genesis_set = chain.genesis.validator_set();
        chain.apply(BTreeMap::from([(
            VALIDATOR_SET_KEY.to_vec(),
            Some(codec::encode(&genesis_set)),
        )]));
        chain.build();
        chain
    }

    fn build(&mut self) {
        let genesis_set = self.genesis.validator_set();
        let put = |i: u64| Operation::Put {
            namespace: "licences".into(),
            key: format!("GX-{i:03}").into_bytes(),
            value: b"valid".to_vec(),
        };
        let block_1 = vec![self.sign(1, put(1)), self.sign(2, put(2))];
        self.add_block(block_1, BTreeMap::new(), &genesis_set, &[0, 1, 2]);
        let new_set = validator_set(&self.validator_keys, &[0, 1, 2, 4]);
        let changes = BTreeMap::from([(VALIDATOR_SET_KEY.to_vec(), Some(codec::encode(&new_set)))]);
        self.add_block(
            vec![self.sign(3, put(3))],
            changes,
            &genesis_set,
            &[0, 1, 2],
        );
        self.written_sets.insert(CHANGE_HEIGHT, new_set.clone());
        let notarize = Operation::Notarize {
            digest: notarized_digest(),
            metadata: "e-contract".into(),
            co_signers: Vec::new(),
        };
        let block_3 = vec![
            self.sign(4, put(4)),
            self.sign(5, notarize),
            self.sign(6, put(6)),
        ];
        let changes = BTreeMap::from([(b"nz/contract".to_vec(), Some(b"record".to_vec()))]);
        self.add_block(block_3, changes, &new_set, &[1, 2, 4]);
    }

    fn sign(&self, nonce: u64, op: Operation) -> SignedTransaction {
        Transaction {
            chain_id: CHAIN.into(),
            signer: self.account.public(),
            nonce,
            valid_until: 100,
            op,
        }
        .sign(&self.genesis.genesis_hash(), &self.account)
    }

    fn apply(&mut self, changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        let update = state_tree::update(&self.nodes, &self.state_root, &changes)
            .expect("every node is in memory");
        self.nodes.insert_all(update.new_nodes);
        self.state_root = update.root;
    }

    /// Commits a block of `transactions` whose execution writes `changes`, certified by
    /// `signers` (indices into the validator keys) under `in_force`.
    fn add_block(
        &mut self,
        transactions: Vec<SignedTransaction>,
        mut changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        in_force: &ValidatorSet,
        signers: &[usize],
    ) {
        let height = self.blocks.len() as Height + 1;
        let receipts: Vec<Receipt> = transactions
            .iter()
            .enumerate()
            .map(|(index, tx)| Receipt {
                tx_id: tx.id(),
                height,
                index: u32::try_from(index).expect("a few transactions"),
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
                .map_or_else(|| self.genesis.hash(), |b| b.header.hash()),
            timestamp_ms: self.genesis.genesis_time_ms + height * 1000,
            proposer: in_force.leader(height, 0).node_key,
            tx_root: tx_tree(&transactions).root(),
            receipts_root: receipts_tree(&receipts).root(),
            state_root: self.state_root,
            validator_set_hash: in_force.hash(),
        };
        let certificate = self.certify(&header, height, signers);
        self.blocks.push(TestBlock {
            header,
            certificate,
            transactions,
            receipts,
        });
    }

    /// A commit certificate for `header`, claiming `height`, signed by `signers`.
    fn certify(
        &self,
        header: &BlockHeader,
        height: Height,
        signers: &[usize],
    ) -> CommitCertificate {
        let vote = Vote {
            kind: VoteKind::Commit,
            height,
            view: 0,
            block_hash: header.hash(),
        };
        let mut signatures: Vec<ValidatorSignature> = signers
            .iter()
            .map(|&i| ValidatorSignature {
                validator: self.validator_keys[i].public(),
                signature: vote.sign(&self.genesis.genesis_hash(), &self.validator_keys[i]),
            })
            .collect();
        signatures.sort_by_key(|s| s.validator);
        CommitCertificate {
            height,
            view: 0,
            block_hash: header.hash(),
            signatures,
        }
    }

    fn block(&self, height: Height) -> &TestBlock {
        &self.blocks[usize::try_from(height - 1).expect("small heights")]
    }

    /// The change written by block `height`, as an exporter would fetch it.
    fn change(&self, height: Height) -> ValidatorSetChange {
        let block = self.block(height);
        let proof = state_tree::prove(&self.nodes, &block.header.state_root, VALIDATOR_SET_KEY)
            .expect("every node is in memory");
        ValidatorSetChange::new(
            &block.header,
            &block.certificate,
            &proof,
            &self.written_sets[&height],
        )
    }

    /// The package of transaction `index` of block `height`, listing the changes of
    /// `change_heights`.
    fn package(&self, height: Height, index: usize, change_heights: &[Height]) -> EvidencePackage {
        let block = self.block(height);
        let proof = |tree: MerkleTree| tree.proof(index).expect("index in range");
        EvidencePackage::assemble(EvidenceParts {
            genesis_hash: self.genesis.hash(),
            transaction: block.transactions[index].clone(),
            transaction_proof: proof(tx_tree(&block.transactions)),
            receipt: block.receipts[index].clone(),
            receipt_proof: proof(receipts_tree(&block.receipts)),
            header: block.header.clone(),
            certificate: block.certificate.clone(),
            validator_set_changes: change_heights.iter().map(|&h| self.change(h)).collect(),
        })
    }

    /// The notarization's package, with the change it needs.
    fn notarization_package(&self) -> EvidencePackage {
        self.package(TX_HEIGHT, NOTARIZATION_INDEX, &[CHANGE_HEIGHT])
    }

    fn verify(&self, package: &EvidencePackage) -> Result<VerifiedEvidence, EvidenceError> {
        verify(&package.to_bytes(), &self.genesis)
    }
}

#[test]
fn a_valid_package_verifies_and_says_what_it_proves() {
    let chain = TestChain::new();
    let package = chain.notarization_package();
    let verified = chain.verify(&package).expect("a valid package verifies");
    let block = chain.block(TX_HEIGHT);
    assert_eq!(verified.tx_id, block.transactions[NOTARIZATION_INDEX].id());
    assert_eq!(verified.signer, chain.account.public());
    assert_eq!(verified.notarized_digest(), Some(notarized_digest()));
    assert_eq!(verified.height, TX_HEIGHT);
    assert_eq!(verified.index, 1);
    assert_eq!(verified.block_hash, block.header.hash());
    assert_eq!(verified.block_time_ms, block.header.timestamp_ms);
    assert!(verified.succeeded());
    assert_eq!(
        (
            verified.commit_signatures,
            verified.validators,
            verified.quorum
        ),
        (3, 4, 3)
    );
    assert_eq!(verified.validator_set_changes, 1);
    let summary = verified.to_string();
    assert!(summary.contains(&notarized_digest().to_hex()), "{summary}");
    assert!(summary.contains("2025-01-01 00:00:03.000 UTC"), "{summary}");
    assert!(summary.contains("3 of 4 validators"), "{summary}");
}

#[test]
fn before_any_change_the_genesis_set_needs_no_history() {
    let chain = TestChain::new();
    for index in 0..2 {
        let verified = chain
            .verify(&chain.package(1, index, &[]))
            .expect("block 1 is signed by the genesis set");
        assert_eq!(verified.validator_set_changes, 0);
        assert_eq!(verified.notarized_digest(), None);
    }
}

/// The kinds of refusal that come from a signature, a Merkle proof or a hash chain: the ones
/// a forger must beat. The others are the package's form (JSON, canonical bytes, hex, codec) and
/// its internal consistency (heights, order, chain names).
const CRYPTOGRAPHIC: [&str; 6] = [
    "CertificateInvalid",
    "ValidatorSetHashMismatch",
    "ValidatorSetProofInvalid",
    "TransactionSignatureInvalid",
    "TransactionNotInBlock",
    "ReceiptNotInBlock",
];

/// An error's kind: its variant's name.
fn kind(error: &EvidenceError) -> String {
    let debug = format!("{error:?}");
    debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Refusals by kind; panics naming `what` if any alteration verified.
fn refusals(
    chain: &TestChain,
    altered: impl Iterator<Item = (String, Vec<u8>)>,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (what, bytes) in altered {
        match verify(&bytes, &chain.genesis) {
            Ok(_) => panic!("{what} went unnoticed"),
            Err(error) => *counts.entry(kind(&error)).or_insert(0) += 1,
        }
    }
    counts
}

fn cryptographic_share(counts: &BTreeMap<String, usize>) -> (usize, usize) {
    let total = counts.values().sum();
    let cryptographic = CRYPTOGRAPHIC
        .iter()
        .filter_map(|name| counts.get(*name))
        .sum();
    (cryptographic, total)
}

/// All eight bit flips of every byte of the package file are refused; by cause, nearly all are
/// refusals of the file's form (JSON, canonical bytes), which is the point of a canonical form:
/// a package has exactly one byte string.
#[test]
fn every_bit_flip_of_every_byte_is_refused_and_counted_by_cause() {
    let chain = TestChain::new();
    let bytes = chain.notarization_package().to_bytes();
    assert!(verify(&bytes, &chain.genesis).is_ok());
    let altered = (0..bytes.len()).flat_map(|position| {
        let bytes = &bytes;
        (0..8).map(move |bit| {
            let mut flipped = bytes.clone();
            flipped[position] ^= 1 << bit;
            (format!("flipping bit {bit} of byte {position}"), flipped)
        })
    });
    let counts = refusals(&chain, altered);
    let (cryptographic, total) = cryptographic_share(&counts);
    eprintln!("file bit flips: {total} refused, {cryptographic} by signature or proof: {counts:?}");
    assert_eq!(total, bytes.len() * 8);
    // Measured 26% (RELIABILITY.md): the flips that keep the file's form are caught by a
    // signature or a proof.
    assert!(
        cryptographic * 5 > total,
        "only {cryptographic} of {total} refusals came from a signature or a proof: {counts:?}"
    );
}

/// Where one binary field of a package is.
type FieldOf = fn(&mut EvidencePackage) -> &mut [u8];

/// Every bit of every signed or proven field, flipped inside the field and written back in the
/// canonical form (so the file's form is intact and only the content lies), is refused, and
/// most of those refusals come from a signature or a proof, not from decoding.
#[test]
fn every_bit_flip_inside_the_content_is_refused_mostly_by_a_signature_or_a_proof() {
    let chain = TestChain::new();
    let package = chain.notarization_package();
    let fields: Vec<(&str, FieldOf)> = vec![
        ("transaction", |p| &mut p.transaction),
        ("receipt", |p| &mut p.receipt),
        ("header", |p| &mut p.header),
        ("certificate", |p| &mut p.certificate),
        ("change header", |p| &mut p.validator_set_changes[0].header),
        ("change certificate", |p| {
            &mut p.validator_set_changes[0].certificate
        }),
        ("change state proof", |p| {
            &mut p.validator_set_changes[0].state_proof
        }),
        ("change validator set", |p| {
            &mut p.validator_set_changes[0].validator_set
        }),
        ("transaction proof sibling", |p| {
            &mut p.transaction_proof.siblings[0].0
        }),
        ("receipt proof sibling", |p| {
            &mut p.receipt_proof.siblings[0].0
        }),
    ];
    let mut altered = Vec::new();
    for (name, field) in &fields {
        let length = field(&mut package.clone()).len();
        for position in 0..length {
            for bit in 0..8 {
                let mut copy = package.clone();
                field(&mut copy)[position] ^= 1 << bit;
                let what = format!("flipping bit {bit} of byte {position} of the {name}");
                altered.push((what, copy.to_bytes()));
            }
        }
    }
    let counts = refusals(&chain, altered.into_iter());
    let (cryptographic, total) = cryptographic_share(&counts);
    eprintln!(
        "content bit flips: {total} refused, {cryptographic} by signature or proof: {counts:?}"
    );
    assert!(!counts.contains_key("NotJson") && !counts.contains_key("NotCanonical"));
    // Measured 88% (RELIABILITY.md). The floor says the cryptography, not the decoder, does
    // the refusing.
    assert!(
        cryptographic * 5 > total * 4,
        "only {cryptographic} of {total} refusals came from a signature or a proof: {counts:?}"
    );
}

#[test]
fn any_other_byte_form_of_a_valid_package_is_refused() {
    let chain = TestChain::new();
    let package = chain.notarization_package();
    let pretty = package.to_bytes();
    let compact = serde_json::to_vec(&package).expect("serialises");
    let upper_hex = String::from_utf8(pretty.clone())
        .expect("JSON is UTF-8")
        .replacen(
            &package.genesis_hash.to_hex(),
            &package.genesis_hash.to_hex().to_uppercase(),
            1,
        );
    let no_final_newline = &pretty[..pretty.len() - 1];
    let crlf = String::from_utf8(pretty.clone())
        .expect("JSON is UTF-8")
        .replace('\n', "\r\n");
    for (what, bytes) in [
        ("compact JSON", compact),
        ("upper-case hex", upper_hex.into_bytes()),
        ("no final newline", no_final_newline.to_vec()),
        ("CRLF line ends", crlf.into_bytes()),
    ] {
        assert!(
            matches!(
                verify(&bytes, &chain.genesis),
                Err(EvidenceError::NotCanonical { .. })
            ),
            "{what}"
        );
    }
    let mut extra_field: serde_json::Value = serde_json::from_slice(&pretty).expect("parses");
    extra_field["note"] = "trust me".into();
    let bytes = serde_json::to_vec_pretty(&extra_field).expect("serialises");
    assert!(matches!(
        verify(&bytes, &chain.genesis),
        Err(EvidenceError::NotJson(_))
    ));
    assert!(matches!(
        verify(b"not json", &chain.genesis),
        Err(EvidenceError::NotJson(_))
    ));
}

#[test]
fn another_genesis_chain_or_format_is_refused() {
    let chain = TestChain::new();
    let package = chain.notarization_package();
    let mut other = chain.genesis.clone();
    other.genesis_time_ms += 1;
    other.approvals.clear();
    let admin = Keypair::from_secret([40; 32]);
    other.approve("org0", &admin).expect("approves");
    assert!(matches!(
        verify(&package.to_bytes(), &other),
        Err(EvidenceError::WrongGenesis { .. })
    ));
    other.chain_id = "another-chain".into();
    other.approve("org0", &admin).expect("approves");
    assert!(matches!(
        verify(&package.to_bytes(), &other),
        Err(EvidenceError::WrongChain { .. })
    ));
    let mut unapproved = chain.genesis.clone();
    unapproved.approvals.clear();
    assert!(matches!(
        verify(&package.to_bytes(), &unapproved),
        Err(EvidenceError::InvalidGenesis(
            GenesisError::MissingApprovals(_)
        ))
    ));
    for format in ["cassia-evidence/1", "cassia-evidence/3"] {
        let mut other_format = package.clone();
        other_format.format = format.into();
        assert!(matches!(
            chain.verify(&other_format),
            Err(EvidenceError::UnknownFormat(_))
        ));
    }
}

/// A staging copy of the chain (same chain id, validators, keys and transactions; only the
/// genesis time differs) signs everything for its own genesis. Relabelled with production's
/// genesis hash, its package still proves nothing here: the first certificate checked fails.
#[test]
fn a_package_signed_on_a_copy_of_the_chain_does_not_verify() {
    let production = TestChain::new();
    let staging = TestChain::with_genesis_time(production.genesis.genesis_time_ms + 1);
    assert_eq!(staging.genesis.chain_id, production.genesis.chain_id);
    assert_ne!(staging.genesis.hash(), production.genesis.hash());
    let mut relabelled = staging.notarization_package();
    assert!(
        staging.verify(&relabelled).is_ok(),
        "valid on its own chain"
    );
    relabelled.genesis_hash = production.genesis.hash();
    assert!(matches!(
        production.verify(&relabelled),
        Err(EvidenceError::CertificateInvalid { .. })
    ));
    // Without a validator-set change to walk, the transaction's own certificate fails.
    let mut direct = staging.package(1, 0, &[]);
    direct.genesis_hash = production.genesis.hash();
    assert!(matches!(
        production.verify(&direct),
        Err(EvidenceError::CertificateInvalid { .. })
    ));
}

#[test]
fn a_certificate_from_the_wrong_set_is_refused() {
    let chain = TestChain::new();
    let mut package = chain.notarization_package();
    // Validator 3 left at the change: its signature no longer counts at block 3.
    let header = chain.block(TX_HEIGHT).header.clone();
    package.certificate = codec::encode(&chain.certify(&header, TX_HEIGHT, &[0, 1, 3]));
    let error = chain
        .verify(&package)
        .expect_err("validator 3 is not in force");
    assert_eq!(
        error,
        EvidenceError::CertificateInvalid {
            block: BlockRole::Transaction { height: TX_HEIGHT },
            error: CertificateError::NotAValidator(chain.validator_keys[3].public()),
        }
    );
    assert!(
        error
            .to_string()
            .contains("block 3 (the transaction's block)")
    );
}

#[test]
fn omitting_a_validator_set_change_is_refused() {
    let chain = TestChain::new();
    let error = chain
        .verify(&chain.package(TX_HEIGHT, NOTARIZATION_INDEX, &[]))
        .expect_err("the genesis set did not sign block 3");
    assert!(
        matches!(
            error,
            EvidenceError::CertificateInvalid {
                block: BlockRole::Transaction { height: TX_HEIGHT },
                error: CertificateError::NotAValidator(_),
            }
        ),
        "{error}"
    );
}

#[test]
fn a_header_naming_another_validator_set_is_refused() {
    let chain = TestChain::new();
    let mut package = chain.notarization_package();
    let mut header = chain.block(TX_HEIGHT).header.clone();
    header.validator_set_hash = chain.genesis.validator_set().hash();
    package.header = codec::encode(&header);
    package.certificate = codec::encode(&chain.certify(&header, TX_HEIGHT, &[1, 2, 4]));
    assert!(matches!(
        chain.verify(&package),
        Err(EvidenceError::ValidatorSetHashMismatch {
            block: BlockRole::Transaction { height: TX_HEIGHT },
            ..
        })
    ));
}

#[test]
fn a_certificate_claiming_another_height_is_refused() {
    let chain = TestChain::new();
    let mut package = chain.notarization_package();
    let header = chain.block(TX_HEIGHT).header.clone();
    package.certificate = codec::encode(&chain.certify(&header, TX_HEIGHT + 1, &[1, 2, 4]));
    assert!(matches!(
        chain.verify(&package),
        Err(EvidenceError::CertificateHeightMismatch {
            certificate_height: 4,
            ..
        })
    ));
}

#[test]
fn proofs_and_receipts_of_other_transactions_are_refused() {
    let chain = TestChain::new();
    let block = chain.block(TX_HEIGHT);
    let base = chain.notarization_package();
    let other = chain.package(TX_HEIGHT, 0, &[CHANGE_HEIGHT]);

    let mut package = base.clone();
    package.transaction_proof = other.transaction_proof.clone();
    assert_eq!(
        chain.verify(&package),
        Err(EvidenceError::TransactionNotInBlock { height: TX_HEIGHT })
    );

    let mut package = base.clone();
    package.receipt_proof = other.receipt_proof.clone();
    assert_eq!(
        chain.verify(&package),
        Err(EvidenceError::ReceiptNotInBlock { height: TX_HEIGHT })
    );

    let mut package = base.clone();
    package.transaction = other.transaction.clone();
    package.transaction_proof = other.transaction_proof.clone();
    assert_eq!(
        chain.verify(&package),
        Err(EvidenceError::ReceiptForAnotherTransaction {
            receipt: block.transactions[NOTARIZATION_INDEX].id(),
            transaction: block.transactions[0].id(),
        })
    );

    // A receipt from another block, with its proof, does not lead to this block's root.
    let mut package = base;
    let elsewhere = chain.package(1, NOTARIZATION_INDEX, &[]);
    package.receipt = elsewhere.receipt;
    package.receipt_proof = elsewhere.receipt_proof;
    assert_eq!(
        chain.verify(&package),
        Err(EvidenceError::ReceiptNotInBlock { height: TX_HEIGHT })
    );
}

#[test]
fn a_proof_claiming_another_tree_size_is_refused() {
    let chain = TestChain::new();
    let mut package = chain.package(TX_HEIGHT, 0, &[CHANGE_HEIGHT]);
    // Index 0 of 3 and of 4 leaves take the same path: only the receipt's proof pins it.
    package.transaction_proof.tree_size = 4;
    assert!(matches!(
        chain.verify(&package),
        Err(EvidenceError::PositionMismatch { .. })
    ));
}

#[test]
fn a_tampered_transaction_is_refused() {
    let chain = TestChain::new();
    let mut package = chain.notarization_package();
    let mut forged = chain.block(TX_HEIGHT).transactions[NOTARIZATION_INDEX].clone();
    forged.tx.op = Operation::Notarize {
        digest: Hash::of(b"another contract"),
        metadata: "e-contract".into(),
        co_signers: Vec::new(),
    };
    package.transaction = codec::encode(&forged);
    assert!(matches!(
        chain.verify(&package),
        Err(EvidenceError::TransactionSignatureInvalid(_))
    ));
    let mut trailing = chain.notarization_package();
    trailing.header.push(0);
    assert!(matches!(
        chain.verify(&trailing),
        Err(EvidenceError::Undecodable {
            error: CodecError::TrailingBytes(1),
            ..
        })
    ));
}

#[test]
fn validator_set_changes_must_be_ordered_proven_and_before_the_transaction() {
    let chain = TestChain::new();
    let twice = chain.package(
        TX_HEIGHT,
        NOTARIZATION_INDEX,
        &[CHANGE_HEIGHT, CHANGE_HEIGHT],
    );
    assert!(matches!(
        chain.verify(&twice),
        Err(EvidenceError::ChangeOutOfOrder {
            number: 2,
            height: 2,
            previous: 2
        })
    ));
    let too_late = chain.package(1, 0, &[CHANGE_HEIGHT]);
    assert!(matches!(
        chain.verify(&too_late),
        Err(EvidenceError::ChangeNotBeforeTransaction { number: 1, .. })
    ));
    let mut misdated = chain.notarization_package();
    misdated.validator_set_changes[0].height = 1;
    assert!(matches!(
        chain.verify(&misdated),
        Err(EvidenceError::ChangeHeightMismatch {
            stated: 1,
            header: 2,
            ..
        })
    ));
    // Substituting another set: the state proof no longer shows it.
    let mut substituted = chain.notarization_package();
    substituted.validator_set_changes[0].validator_set =
        codec::encode(&validator_set(&chain.validator_keys, &[0, 1, 3, 4]));
    assert!(matches!(
        chain.verify(&substituted),
        Err(EvidenceError::ValidatorSetProofInvalid {
            number: 1,
            height: 2,
            error: ProofError::WrongValue { .. }
        })
    ));
    // A change certified by a set not yet in force (the new one certifying itself).
    let mut self_certified = chain.notarization_package();
    let header = chain.block(CHANGE_HEIGHT).header.clone();
    self_certified.validator_set_changes[0].certificate =
        codec::encode(&chain.certify(&header, CHANGE_HEIGHT, &[1, 2, 4]));
    assert!(matches!(
        chain.verify(&self_certified),
        Err(EvidenceError::CertificateInvalid {
            block: BlockRole::Change {
                number: 1,
                height: 2
            },
            ..
        })
    ));
}

#[test]
fn the_validator_set_key_is_the_one_execution_writes() {
    assert_eq!(VALIDATOR_SET_KEY, crate::execution::keys::VALIDATORS);
}

#[test]
fn utc_times_are_civil_dates() {
    assert_eq!(utc_time(0), "1970-01-01 00:00:00.000 UTC");
    assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
    assert_eq!(utc_time(1_735_689_599_999), "2024-12-31 23:59:59.999 UTC");
    assert_eq!(utc_time(4_107_542_400_000), "2100-03-01 00:00:00.000 UTC");
    assert!(utc_time(u64::MAX).ends_with(" UTC"));
}
