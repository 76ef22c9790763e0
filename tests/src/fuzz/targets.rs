//! The fuzz targets: each decoder of peer or client input, and what the node does next with
//! what it decoded.
//!
//! | target | decoder (as the node calls it) | then |
//! |---|---|---|
//! | `consensus-message` | `Message::from_bytes(b, max_block_bytes + 1 MiB)` (gossip) | signature; a replica steps it |
//! | `transaction` | `codec::decode::<SignedTransaction>` | permission, admissibility, signature (mempool admission) |
//! | `transaction-batch` | `codec::decode::<Vec<SignedTransaction>>` (gossip batch) | batch cap, each admitted |
//! | `block` | `codec::decode::<Block>` | `check_block` as a proposal and as certified |
//! | `sync-request` | `codec::decode::<(Height, Height)>` | the range clamp of the sync server |
//! | `sync-response` | `codec::decode_capped::<Vec<(Block, CommitCertificate)>>(b, 2 * max_block_bytes)` | certificates, `check_block` |
//! | `state-proof` | `codec::decode::<StateProof>` | verified against two real roots |
//! | `grpc-submit` | prost `SubmitRequest`, then `codec::decode::<SignedTransaction>` | mempool admission |
//! | `evidence` | `evidence::verify(b, genesis)` | — |
//!
//! Besides "never panics" and the memory bound ([`allocation_bound`]), targets check what must
//! hold of anything that decodes: a signature that verifies is exactly the fixture key's own
//! (deterministic ed25519) signature, so no mutation forges or malleates one; a state proof
//! never proves a false claim; an evidence package verifies only if it is the valid one, byte for
//! byte.

use cassia_api::pb;
use cassia_consensus::{Actions, Config, Input, Message, Replica, Request};
use cassia_crypto::{Hash, PublicKey, Signature};
use cassia_engine::block::{CheckContext, CheckMode, check_block};
use cassia_engine::{Engine, MemoryStore, SignatureCheck, Store as _};
use cassia_ledger::codec::{self, ALLOCATION_FACTOR};
use cassia_ledger::evidence::{self, EvidenceError};
use cassia_ledger::execution::MemoryState;
use cassia_ledger::state_tree::{self, StateProof};
use cassia_ledger::{Block, CommitCertificate, Height, SignedTransaction};
use prost::Message as _;

use super::alloc;
use super::generate;
use super::mutate::{self, random_bytes};
use super::world::{CHAIN_ID, ChainBlock, GENESIS_TIME_MS, SYNC_NOW_MS, World, chain};
use crate::rng::Rng;

use cassia_node::runtime::served_range;
/// The node's own caps, so the targets judge by what the node applies.
pub use cassia_node::runtime::{MAX_GOSSIP_BATCH, MAX_SYNC_RESPONSE_BLOCKS};

/// The most one decode of `input_len` bytes may allocate at once: the codec's own budget (the
/// next power of two above [`ALLOCATION_FACTOR`] times the input, at least 4 KiB) plus 1 MiB.
pub fn allocation_bound(input_len: usize) -> usize {
    input_len
        .saturating_mul(ALLOCATION_FACTOR)
        .max(4096)
        .next_power_of_two()
        .saturating_add(1 << 20)
}

/// A decoder under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Gossiped consensus messages.
    ConsensusMessage,
    /// One signed transaction (gRPC and gossip).
    Transaction,
    /// A gossiped batch of transactions.
    TransactionBatch,
    /// A block.
    Block,
    /// A block-sync request.
    SyncRequest,
    /// A block-sync response.
    SyncResponse,
    /// A state proof (what clients verify).
    StateProof,
    /// A gRPC `Submit` request body.
    GrpcSubmit,
    /// An evidence package file.
    Evidence,
}

impl Target {
    /// Every target, in the order `--target all` runs them.
    pub const ALL: [Target; 9] = [
        Target::ConsensusMessage,
        Target::Transaction,
        Target::TransactionBatch,
        Target::Block,
        Target::SyncRequest,
        Target::SyncResponse,
        Target::StateProof,
        Target::GrpcSubmit,
        Target::Evidence,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::ConsensusMessage => "consensus-message",
            Target::Transaction => "transaction",
            Target::TransactionBatch => "transaction-batch",
            Target::Block => "block",
            Target::SyncRequest => "sync-request",
            Target::SyncResponse => "sync-response",
            Target::StateProof => "state-proof",
            Target::GrpcSubmit => "grpc-submit",
            Target::Evidence => "evidence",
        }
    }

    /// The target called `name`.
    pub fn parse(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Valid encodings of real objects: the inputs mutations start from.
    pub fn corpus(self, world: &World) -> Vec<Vec<u8>> {
        let chain = &world.chain;
        match self {
            Target::ConsensusMessage => world.messages.iter().map(Message::to_bytes).collect(),
            Target::Transaction => world.pending.iter().map(codec::encode).collect(),
            Target::TransactionBatch => vec![
                codec::encode(&world.pending),
                codec::encode(&world.pending[..1].to_vec()),
                codec::encode(&Vec::<SignedTransaction>::new()),
            ],
            Target::Block => chain.iter().map(|c| codec::encode(&c.block)).collect(),
            Target::SyncRequest => vec![codec::encode(&(1u64, 3u64)), codec::encode(&(2u64, 2u64))],
            Target::SyncResponse => (1..=chain.len())
                .map(|n| codec::encode(&certified(&chain[..n])))
                .collect(),
            Target::StateProof => proof_claims(world)
                .into_iter()
                .map(|(root, state, key)| codec::encode(&prove(state, &root, &key)))
                .collect(),
            Target::GrpcSubmit => world.pending.iter().map(submit_request).collect(),
            Target::Evidence => vec![world.evidence_bytes.clone()],
        }
    }

    /// The next input: random bytes (20%), a mutated corpus entry (50%) or a fresh structured
    /// object (30%, half of them mutated too).
    pub fn input(self, world: &World, corpus: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
        match rng.below(10) {
            0 | 1 => random_bytes(rng),
            2..=6 => {
                let mut bytes = corpus[rng.index(corpus.len())].clone();
                mutate::mutate(rng, &mut bytes, corpus);
                bytes
            }
            _ => {
                let mut bytes = self.fresh(world, rng);
                if rng.chance(500) {
                    mutate::mutate(rng, &mut bytes, corpus);
                }
                bytes
            }
        }
    }

    fn fresh(self, world: &World, rng: &mut Rng) -> Vec<u8> {
        match self {
            Target::ConsensusMessage => generate::message(rng, world).to_bytes(),
            Target::Transaction => codec::encode(&generate::transaction(rng, world)),
            Target::TransactionBatch => codec::encode(&batch(rng, world)),
            Target::Block => codec::encode(&generate::block(rng, world)),
            Target::SyncRequest => codec::encode(&(generate::height(rng), generate::height(rng))),
            Target::SyncResponse => codec::encode(&generate::sync_response(rng, world)),
            Target::StateProof => codec::encode(&tampered_proof(rng, world)),
            Target::GrpcSubmit => protobuf_request(rng, world),
            Target::Evidence => tampered_evidence(rng, world),
        }
    }

    /// Decodes `input` as the node does and runs what follows; `Err` names a broken property.
    pub(crate) fn check(
        self,
        world: &World,
        input: &[u8],
        probe: &mut Probe,
    ) -> Result<Verdict, String> {
        match self {
            Target::ConsensusMessage => consensus_message(world, input, probe),
            Target::Transaction => match probe.decode(input, codec::decode::<SignedTransaction>)? {
                Ok(tx) => admit(world, &mut world.engine(world.tip_store.clone()), &tx),
                Err(_) => Ok(Verdict::Rejected),
            },
            Target::TransactionBatch => transaction_batch(world, input, probe),
            Target::Block => match probe.decode(input, codec::decode::<Block>)? {
                Ok(block) => check_proposal(world, &block),
                Err(_) => Ok(Verdict::Rejected),
            },
            Target::SyncRequest => match probe.decode(input, codec::decode::<(Height, Height)>)? {
                Ok(asked) => serve(world, input, asked),
                Err(_) => Ok(Verdict::Rejected),
            },
            Target::SyncResponse => sync_response(world, input, probe),
            Target::StateProof => match probe.decode(input, codec::decode::<StateProof>)? {
                Ok(proof) => proves_no_false_claim(world, &proof),
                Err(_) => Ok(Verdict::Rejected),
            },
            Target::GrpcSubmit => grpc_submit(world, input, probe),
            Target::Evidence => {
                let verified =
                    probe.decode(input, |bytes| evidence::verify(bytes, &world.genesis))?;
                match verified {
                    Ok(_) if input != world.evidence_bytes.as_slice() => {
                        Err("an altered evidence package verifies".into())
                    }
                    Ok(_) => Ok(Verdict::Accepted),
                    Err(error) => Ok(evidence_verdict(&error)),
                }
            }
        }
    }
}

/// How far an input got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The decoder refused it.
    Rejected,
    /// It decoded, and a later check (signature, admission, validation, proof) refused it.
    Decoded,
    /// It decoded and passed every check the node makes next: what a node would act on.
    Accepted,
}

impl Verdict {
    fn accepted_if(passed: bool) -> Verdict {
        if passed {
            Verdict::Accepted
        } else {
            Verdict::Decoded
        }
    }
}

/// An evidence package is "decoded" once it is canonical JSON for this chain whose fields all
/// decode; the checks after that (certificates, proofs, signatures) refuse it as invalid.
fn evidence_verdict(error: &EvidenceError) -> Verdict {
    match error {
        EvidenceError::TooLarge { .. }
        | EvidenceError::InvalidGenesis(_)
        | EvidenceError::NotJson(_)
        | EvidenceError::NotCanonical { .. }
        | EvidenceError::UnknownFormat(_)
        | EvidenceError::WrongChain { .. }
        | EvidenceError::WrongGenesis { .. }
        | EvidenceError::Undecodable { .. } => Verdict::Rejected,
        _ => Verdict::Decoded,
    }
}

/// Measures decodes against [`allocation_bound`].
#[derive(Debug)]
pub(crate) struct Probe {
    installed: bool,
    /// The largest allocation peak of one decode so far.
    pub peak_bytes: usize,
    /// The size of the input that decode was given.
    pub peak_input_bytes: usize,
}

impl Probe {
    pub(crate) fn new(installed: bool) -> Probe {
        Probe {
            installed,
            peak_bytes: 0,
            peak_input_bytes: 0,
        }
    }

    /// Runs `decode` on `input`; fails if it allocated more than the bound at once.
    fn decode<T>(&mut self, input: &[u8], decode: impl FnOnce(&[u8]) -> T) -> Result<T, String> {
        let (value, peak) = alloc::peak_during(self.installed, || decode(input));
        if let Some(peak) = peak {
            if peak > self.peak_bytes {
                self.peak_bytes = peak;
                self.peak_input_bytes = input.len();
            }
            let bound = allocation_bound(input.len());
            if peak > bound {
                return Err(format!(
                    "decoding {} bytes allocated {peak} bytes at once (bound {bound})",
                    input.len()
                ));
            }
        }
        Ok(value)
    }
}

/// A signature that verifies must be the fixture key's own deterministic signature: anything
/// else was forged or malleated.
fn genuine(
    world: &World,
    signer: &PublicKey,
    signed: &[u8],
    signature: &Signature,
) -> Result<(), String> {
    match world.key_of(signer) {
        Some(key) if key.sign_raw(signed) == *signature => Ok(()),
        Some(_) => Err(format!(
            "a signature {signer} never made verifies (malleated)"
        )),
        None => Err(format!(
            "a signature of {signer}, whose key nobody holds, verifies"
        )),
    }
}

/// Mempool admission, the node's own: [`Engine::admit`] on an engine at the fixture chain's tip
/// (permission, form, expiry, size, duplicates against the pool and the committed chain, then
/// the signature). Whatever it admits must carry a genuine signature.
fn admit(
    world: &World,
    engine: &mut Engine<MemoryStore>,
    tx: &SignedTransaction,
) -> Result<Verdict, String> {
    if tx.verify_signature(&chain()).is_ok() {
        genuine(
            world,
            &tx.tx.signer,
            &tx.signing_bytes(&chain()),
            &tx.signature,
        )?;
    }
    let admitted = engine.admit(tx.clone(), SignatureCheck::Unchecked).is_ok();
    if admitted && tx.verify_signature(&chain()).is_err() {
        return Err(format!("admission took {} with a bad signature", tx.id()));
    }
    Ok(Verdict::accepted_if(admitted))
}

fn consensus_message(world: &World, input: &[u8], probe: &mut Probe) -> Result<Verdict, String> {
    let cap = cassia_engine::message_cap(&world.genesis.parameters);
    let Ok(message) = probe.decode(input, |bytes| Message::from_bytes(bytes, cap))? else {
        return Ok(Verdict::Rejected);
    };
    let signed = message.verify_signature(&chain()).is_ok();
    if signed {
        let statement = message.payload.signing_bytes(&chain());
        genuine(world, &message.sender, &statement, &message.signature)?;
    }
    step_replica(world, message, input)?;
    Ok(Verdict::accepted_if(signed))
}

/// A replica at height 1 hears `message` amid the fixture's real messages about block 1 (how
/// many come first depends on the input, so the same input always meets the same state), and
/// is told every block it asks about is valid, to get as far into the height as it can.
///
/// Whatever it does must hold up: a commit is of the chain's own block 1 with a certificate
/// that verifies (one message, even signed with a fixture key, cannot make a quorum for another
/// block), and every proof of equivocation it reports verifies.
fn step_replica(world: &World, message: Message, input: &[u8]) -> Result<(), String> {
    let config = Config {
        genesis: chain(),
        key: world.validator_keys[1].clone(),
        base_timeout_ms: world.genesis.parameters.view_timeout_ms,
    };
    let mut replica = Replica::new(config, 1, world.validators.clone(), None)
        .expect("the fixture validator set is valid");
    let _ = replica.step(Input::Start);
    let before = usize::from(Hash::of(input).as_bytes()[0]) % (world.messages.len() + 1);
    let (first, rest) = world.messages.split_at(before);
    let sequence = first
        .iter()
        .cloned()
        .chain([message])
        .chain(rest.iter().cloned());
    let real = world.chain[0].block.hash();
    let judge = |actions: &Actions| -> Result<(), String> {
        if let Some(commit) = &actions.commit {
            let hash = commit.block.hash();
            if hash != real {
                return Err(format!(
                    "the replica committed {hash}, not the chain's block 1"
                ));
            }
            commit
                .certificate
                .verify_for(&chain(), &world.validators, &hash)
                .map_err(|e| format!("the replica committed with a bad certificate: {e}"))?;
        }
        for evidence in &actions.evidence {
            if let Some(proof) = evidence.equivocation() {
                proof
                    .verify(&chain())
                    .map_err(|e| format!("the replica reported a false equivocation: {e}"))?;
            }
        }
        Ok(())
    };
    for message in sequence {
        let actions = replica.step(Input::Message(message));
        judge(&actions)?;
        for request in actions.requests {
            if let Request::Validate {
                height,
                view,
                block,
            } = request
            {
                judge(&replica.step(Input::BlockValidated {
                    height,
                    view,
                    block_hash: block.hash(),
                    valid: true,
                }))?;
            }
        }
    }
    Ok(())
}

fn transaction_batch(world: &World, input: &[u8], probe: &mut Probe) -> Result<Verdict, String> {
    let Ok(batch) = probe.decode(input, codec::decode::<Vec<SignedTransaction>>)? else {
        return Ok(Verdict::Rejected);
    };
    if batch.len() > MAX_GOSSIP_BATCH {
        return Ok(Verdict::Decoded);
    }
    // One node admits the whole batch, as it would a gossip message.
    let mut engine = world.engine(world.tip_store.clone());
    let mut every_one_admitted = !batch.is_empty();
    for tx in &batch {
        every_one_admitted &= admit(world, &mut engine, tx)? == Verdict::Accepted;
    }
    Ok(Verdict::accepted_if(every_one_admitted))
}

fn batch(rng: &mut Rng, world: &World) -> Vec<SignedTransaction> {
    if rng.chance(20) {
        // One over the cap.
        return vec![world.transactions[0].clone(); MAX_GOSSIP_BATCH + 1];
    }
    let count = rng.below(6);
    (0..count)
        .map(|_| {
            if rng.chance(500) {
                world.transactions[rng.index(world.transactions.len())].clone()
            } else {
                generate::transaction(rng, world)
            }
        })
        .collect()
}

/// The fixture block before `height` (its parent tip and state), if the chain has one.
fn parent_of(world: &World, height: Height) -> Option<&ChainBlock> {
    let index = usize::try_from(height.checked_sub(1)?).ok()?;
    world.chain.get(index)
}

/// What a replica does with a proposed block and a certified one.
fn check_proposal(world: &World, block: &Block) -> Result<Verdict, String> {
    let parent = parent_of(world, block.height()).unwrap_or(&world.chain[0]);
    let proposal = CheckMode::Proposal {
        view: block.header.view.min(8),
        now_ms: GENESIS_TIME_MS + 60_000,
    };
    let valid = check_on(world, parent, block, proposal);
    let certifiable = check_on(world, parent, block, CheckMode::Certified);
    // A block a replica would vote for must pass again once certified: otherwise a node
    // syncing it later would refuse the chain's own block and halt for good.
    if valid && !certifiable {
        return Err(format!(
            "block {} passes as a proposal but not as a certified block",
            block.hash()
        ));
    }
    Ok(Verdict::accepted_if(valid))
}

/// `check_block` on `parent`'s tip and state, with no signature verified in advance (a peer's
/// block).
fn check_on(world: &World, parent: &ChainBlock, block: &Block, mode: CheckMode) -> bool {
    let context = CheckContext {
        chain_id: CHAIN_ID,
        genesis: &chain(),
        parameters: &world.genesis.parameters,
        tip: &parent.parent_tip,
        validators: &world.validators,
        state: &parent.parent_state,
        verified: &|_| false,
    };
    check_block(&context, block, mode).is_ok()
}

/// The sync server's own range rule ([`served_range`], what `BlockSync::serve` answers): a
/// request it serves names heights from 1, at most [`MAX_SYNC_RESPONSE_BLOCKS`] of them, all
/// within what was asked.
fn serve(
    world: &World,
    input: &[u8],
    (asked_from, asked_to): (Height, Height),
) -> Result<Verdict, String> {
    let Some((from, to)) = served_range(input) else {
        if asked_from >= 1 && asked_from <= asked_to {
            return Err(format!(
                "a well-formed request {asked_from}..={asked_to} was refused"
            ));
        }
        return Ok(Verdict::Decoded);
    };
    if from != asked_from || from < 1 || to < from || to > asked_to {
        return Err(format!(
            "asked {asked_from}..={asked_to}, served {from}..={to}"
        ));
    }
    if to - from >= MAX_SYNC_RESPONSE_BLOCKS {
        return Err(format!(
            "served {from}..={to}: more than {MAX_SYNC_RESPONSE_BLOCKS} blocks"
        ));
    }
    let served = (from..=to).filter_map(|h| parent_of(world, h)).count();
    Ok(Verdict::accepted_if(served > 0))
}

fn certified(chain: &[ChainBlock]) -> Vec<(Block, CommitCertificate)> {
    chain
        .iter()
        .map(|c| (c.block.clone(), c.certificate.clone()))
        .collect()
}

/// What a syncing node does with a response: the engine's own [`Engine::on_synced_block`], from
/// genesis, block by block. Every block it commits must be the fixture chain's block at that
/// height (a forged or altered block never commits), and no response may stop the engine (a
/// certified block that does not re-execute would).
fn sync_response(world: &World, input: &[u8], probe: &mut Probe) -> Result<Verdict, String> {
    let cap = cassia_node::runtime::sync_response_cap(&world.genesis.parameters);
    let decode = |bytes: &[u8]| codec::decode_capped::<Vec<(Block, CommitCertificate)>>(bytes, cap);
    let Ok(blocks) = probe.decode(input, decode)? else {
        return Ok(Verdict::Rejected);
    };
    let mut engine = world.engine(MemoryStore::new(&world.genesis));
    for (block, certificate) in blocks {
        if let Err(error) = engine.on_synced_block(block, certificate, SYNC_NOW_MS) {
            return Err(format!("a sync response stopped the engine: {error}"));
        }
    }
    let tip = engine.store().tip().map_err(|e| e.to_string())?.height;
    for height in 1..=tip {
        let committed = engine.store().block(height).map_err(|e| e.to_string())?;
        let real = parent_of(world, height).map(|link| &link.block);
        if committed.as_ref().map(|(block, _)| block) != real {
            return Err(format!(
                "the engine committed a block at height {height} that is not the chain's"
            ));
        }
    }
    Ok(Verdict::accepted_if(tip > 0))
}

/// `(root, state, key)` claims state proofs are checked against: present and absent keys under
/// the genesis root and the root after the fixture chain.
fn proof_claims(world: &World) -> Vec<(Hash, &MemoryState, Vec<u8>)> {
    let last = world.chain.last().expect("a non-empty chain");
    let states = [
        (
            world.chain[0].parent_tip.state_root,
            &world.chain[0].parent_state,
        ),
        (last.block.header.state_root, &world.final_state),
    ];
    let mut claims = Vec::new();
    for (root, state) in states {
        let present = state.values.keys().step_by(3).take(4).cloned();
        let absent = [
            b"absent".to_vec(),
            b"kv/licences/GX-999".to_vec(),
            Vec::new(),
        ];
        for key in present.chain(absent) {
            claims.push((root, state, key));
        }
    }
    claims
}

fn prove(state: &MemoryState, root: &Hash, key: &[u8]) -> StateProof {
    state_tree::prove(&state.nodes, root, key).expect("the fixture state is in memory")
}

/// No decoded proof may prove anything false about the fixture states; accepted if it proves
/// something true.
fn proves_no_false_claim(world: &World, proof: &StateProof) -> Result<Verdict, String> {
    let mut proves_truth = false;
    for (root, state, key) in proof_claims(world) {
        let truth = state.values.get(&key);
        let mut other = truth.cloned().unwrap_or_default();
        other.push(b'x');
        let false_claims: [Option<&[u8]>; 2] = match truth {
            Some(_) => [None, Some(&other)],
            None => [Some(b"x"), Some(b"")],
        };
        for claim in false_claims {
            if proof.verify(&root, &key, claim).is_ok() {
                return Err(format!(
                    "a proof shows {:?} = {claim:?} under {root}, which is false",
                    String::from_utf8_lossy(&key)
                ));
            }
        }
        proves_truth |= proof.verify(&root, &key, truth.map(Vec::as_slice)).is_ok();
    }
    Ok(Verdict::accepted_if(proves_truth))
}

/// A real proof with its path or terminal changed.
fn tampered_proof(rng: &mut Rng, world: &World) -> StateProof {
    let claims = proof_claims(world);
    let (root, state, key) = &claims[rng.index(claims.len())];
    let mut proof = prove(state, root, key);
    let (other_root, other_state, other_key) = &claims[rng.index(claims.len())];
    let other = prove(other_state, other_root, other_key);
    match rng.below(6) {
        0 => proof.terminal = other.terminal,
        1 => proof.siblings = other.siblings,
        2 => proof.terminal = None,
        3 => {
            proof.siblings.pop();
        }
        4 => proof.siblings.push(Hash(rng.bytes32())),
        _ => proof.siblings = vec![Hash::ZERO; 257],
    }
    proof
}

fn submit_request(tx: &SignedTransaction) -> Vec<u8> {
    pb::SubmitRequest {
        signed_transaction: codec::encode(tx),
    }
    .encode_to_vec()
}

fn grpc_submit(world: &World, input: &[u8], probe: &mut Probe) -> Result<Verdict, String> {
    let decode = |bytes: &[u8]| {
        pb::SubmitRequest::decode(bytes)
            .map(|request| codec::decode::<SignedTransaction>(&request.signed_transaction))
    };
    match probe.decode(input, decode)? {
        Ok(Ok(tx)) => admit(world, &mut world.engine(world.tip_store.clone()), &tx),
        _ => Ok(Verdict::Rejected),
    }
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(u8::try_from(value & 0x7f).expect("seven bits") | 0x80);
        value >>= 7;
    }
    out.push(u8::try_from(value).expect("below 0x80"));
}

/// A protobuf body built field by field: the transaction field (real, hostile or garbage),
/// repeated, with a wrong wire type or a length claiming more than there is, and unknown
/// fields of every wire type.
fn protobuf_request(rng: &mut Rng, world: &World) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..=rng.below(3) {
        match rng.below(6) {
            0..=2 => {
                let payload = if rng.chance(500) {
                    codec::encode(&generate::transaction(rng, world))
                } else {
                    random_bytes(rng)
                };
                out.push(0x0a);
                varint(&mut out, payload.len() as u64);
                out.extend_from_slice(&payload);
            }
            3 => {
                let field = 2 + rng.below(1 << 20);
                let wire_type = [0u64, 1, 2, 5][rng.index(4)];
                varint(&mut out, (field << 3) | wire_type);
                match wire_type {
                    0 => varint(&mut out, rng.next_u64()),
                    1 => out.extend_from_slice(&rng.next_u64().to_le_bytes()),
                    2 => {
                        varint(&mut out, 3);
                        out.extend_from_slice(b"abc");
                    }
                    _ => out.extend_from_slice(&[1, 2, 3, 4]),
                }
            }
            4 => {
                out.push(0x08);
                varint(&mut out, rng.next_u64());
            }
            _ => {
                out.push(0x0a);
                varint(&mut out, [u64::MAX, 1 << 32, 1 << 31][rng.index(3)]);
                out.extend_from_slice(b"short");
            }
        }
    }
    out
}

/// The valid package with one field altered, then written in canonical form, so the verifier
/// gets past the JSON checks into the decoders and proofs behind them.
fn tampered_evidence(rng: &mut Rng, world: &World) -> Vec<u8> {
    let mut package = world.evidence.clone();
    let mut donors = vec![
        package.transaction.clone(),
        package.receipt.clone(),
        package.header.clone(),
        package.certificate.clone(),
    ];
    let change_count = package.validator_set_changes.len();
    match rng.below(10) {
        0 => mutate::mutate(rng, &mut package.transaction, &donors),
        1 => mutate::mutate(rng, &mut package.receipt, &donors),
        2 => mutate::mutate(rng, &mut package.header, &donors),
        3 => mutate::mutate(rng, &mut package.certificate, &donors),
        4 => {
            let proof = if rng.chance(500) {
                &mut package.transaction_proof
            } else {
                &mut package.receipt_proof
            };
            match rng.below(4) {
                0 => proof.index = proof.index.wrapping_add(1 + rng.below(3)),
                1 => proof.tree_size = generate::height(rng),
                2 => {
                    proof.siblings.pop();
                }
                _ => proof.siblings.push(Hash(rng.bytes32())),
            }
        }
        5 if change_count > 0 => {
            let change = &mut package.validator_set_changes[rng.index(change_count)];
            donors.push(change.state_proof.clone());
            match rng.below(5) {
                0 => mutate::mutate(rng, &mut change.header, &donors),
                1 => mutate::mutate(rng, &mut change.certificate, &donors),
                2 => mutate::mutate(rng, &mut change.state_proof, &donors),
                3 => mutate::mutate(rng, &mut change.validator_set, &donors),
                _ => change.height = generate::height(rng),
            }
        }
        6 => match rng.below(3) {
            0 => package.validator_set_changes.clear(),
            1 if change_count > 0 => {
                let change = package.validator_set_changes[0].clone();
                package.validator_set_changes.push(change);
            }
            _ => package.validator_set_changes.reverse(),
        },
        7 => package.chain_id = generate::text(rng),
        8 => package.genesis_hash = Hash(rng.bytes32()),
        _ => package.format = generate::text(rng),
    }
    package.to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_messages_take_a_replica_to_a_commit() {
        let world = World::new();
        let config = Config {
            genesis: chain(),
            key: world.validator_keys[1].clone(),
            base_timeout_ms: world.genesis.parameters.view_timeout_ms,
        };
        let mut replica =
            Replica::new(config, 1, world.validators.clone(), None).expect("a valid set");
        let _ = replica.step(Input::Start);
        let mut committed = None;
        for message in world.messages.clone() {
            let actions = replica.step(Input::Message(message));
            committed = committed.or(actions.commit);
            for request in actions.requests {
                if let Request::Validate {
                    height,
                    view,
                    block,
                } = request
                {
                    let actions = replica.step(Input::BlockValidated {
                        height,
                        view,
                        block_hash: block.hash(),
                        valid: true,
                    });
                    committed = committed.or(actions.commit);
                }
            }
        }
        let commit = committed.expect("block 1 commits");
        assert_eq!(commit.block.hash(), world.chain[0].block.hash());
    }

    #[test]
    fn every_corpus_entry_is_accepted() {
        let world = World::new();
        for target in Target::ALL {
            for (index, input) in target.corpus(&world).iter().enumerate() {
                let verdict = target.check(&world, input, &mut Probe::new(false));
                let empty_batch = target == Target::TransactionBatch && index == 2;
                let expected = if empty_batch {
                    Verdict::Decoded
                } else {
                    Verdict::Accepted
                };
                assert_eq!(
                    verdict,
                    Ok(expected),
                    "{} corpus entry {index}",
                    target.name()
                );
            }
        }
    }
}
