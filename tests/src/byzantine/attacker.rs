//! The Byzantine validator in a real node process: the `test-node` binary runs a real
//! `cassia-node` with an [`Attacker`] as its interceptor (`--byzantine LIST`), so the fault
//! suite can show that honest processes keep committing, agree, and stay within their memory
//! bounds while one validator (f = 1 of 4) lies, equivocates and floods.
//!
//! Nothing of this is in the production crates: the node only offers the
//! [`Interceptor`] seam, whose default changes nothing.
//!
//! | attack | what the node does | what honest nodes must do |
//! |---|---|---|
//! | `equivocate` | each pre-prepare or new view it leads is followed by its [`EquivocatingLeader::twin`]: the same block one millisecond later (another hash), signed | keep one, drop the other as equivocation; change view if split |
//! | `double-vote` | each prepare and commit it casts is followed by its [`DoubleVoter::twin`], for a random digest | count at most one vote per validator |
//! | `garbage` | random bytes on the consensus and transaction topics, as sync requests, and as answers to sync requests | reject (gossipsub then graylists the sender) or answer nothing |
//! | `oversized` | a signed pre-prepare one byte above the consensus decode cap, a transaction batch one above its count cap, a gossip payload one byte above `max_message_bytes`; sync responses one byte above the frame cap and the decode cap | refuse each before it costs more than the cap |
//! | `future` | signed votes, view changes, pre-prepares and certificates for height + 10^6, view 10^9 and views near `u64::MAX` | drop them outside the height and view windows |
//! | `flood` | the periodic attacks every [`FLOOD_TICK`] instead of every [`SLOW_TICK`] (hundreds of messages a second) | stay live, memory flat |
//!
//! The twins go out right after the message they conflict with, through the node's own
//! publishing (so a signed-statement log placed after the attacker records them); the periodic
//! attacks (garbage, oversized, future, flood) run in their own task ([`super::flood`]). Every
//! random choice comes from one [`Rng`] seeded from the node key, or from `--seed`.
//!
//! [`FLOOD_TICK`]: super::flood::FLOOD_TICK
//! [`SLOW_TICK`]: super::flood::SLOW_TICK

use std::collections::BTreeSet;

use cassia_consensus::Message;
use cassia_crypto::{GenesisHash, Keypair, PublicKey};
use cassia_ledger::Parameters;
use cassia_node::interceptor::{Interceptor, RunningNode};

use super::flood::{self, FloodContext};
use super::{ActorContext, DoubleVoter, EquivocatingLeader};
use crate::rng::Rng;

/// One attack, by its name on the `test-node` command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attack {
    /// Conflicting proposals for one `(height, view)`.
    Equivocate,
    /// Conflicting prepare and commit votes.
    DoubleVote,
    /// Random bytes on every topic and the sync protocol.
    Garbage,
    /// Messages just above the honest caps.
    Oversized,
    /// Signed messages for far-future heights and views.
    Future,
    /// The periodic attacks at a high rate.
    Flood,
    /// Validly signed, in-window statements published again and again (a view change to the
    /// next view): nothing in them proves misbehaviour, each costs a receiver a decode and a
    /// signature check, and only the per-author gossip budget stops them.
    Replay,
}

impl Attack {
    /// Every attack (what `all` names).
    pub const ALL: [Attack; 7] = [
        Attack::Equivocate,
        Attack::DoubleVote,
        Attack::Garbage,
        Attack::Oversized,
        Attack::Future,
        Attack::Flood,
        Attack::Replay,
    ];

    /// Its name in a `--byzantine` list.
    pub fn name(self) -> &'static str {
        match self {
            Attack::Equivocate => "equivocate",
            Attack::DoubleVote => "double-vote",
            Attack::Garbage => "garbage",
            Attack::Oversized => "oversized",
            Attack::Future => "future",
            Attack::Flood => "flood",
            Attack::Replay => "replay",
        }
    }

    /// Whether it runs in the periodic task rather than on what the node publishes.
    fn is_periodic(self) -> bool {
        !matches!(self, Attack::Equivocate | Attack::DoubleVote)
    }
}

/// A `--byzantine` list that names no attack, or something that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    /// A name that is not an attack.
    #[error(
        "--byzantine: unknown behaviour {name:?}; known: all, equivocate, double-vote, garbage, \
         oversized, future, flood (comma-separated)"
    )]
    Unknown {
        /// The name given.
        name: String,
    },
    /// An empty list (an honest node is started without `--byzantine`).
    #[error(
        "--byzantine names no behaviour; give all, or some of equivocate, double-vote, garbage, \
         oversized, future, flood (comma-separated)"
    )]
    Empty,
}

/// The attacks a node runs (never empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mode {
    attacks: BTreeSet<Attack>,
}

impl Mode {
    /// Parses a comma-separated list (`all` is every attack).
    pub fn parse(list: &str) -> Result<Mode, ModeError> {
        let mut attacks = BTreeSet::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                attacks.extend(Attack::ALL);
                continue;
            }
            let attack = Attack::ALL
                .into_iter()
                .find(|a| a.name() == name)
                .ok_or_else(|| ModeError::Unknown { name: name.into() })?;
            attacks.insert(attack);
        }
        if attacks.is_empty() {
            return Err(ModeError::Empty);
        }
        Ok(Mode { attacks })
    }

    /// Whether `attack` is on.
    pub fn has(&self, attack: Attack) -> bool {
        self.attacks.contains(&attack)
    }

    /// The names, comma-separated, for the startup warning.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.attacks.iter().map(|a| a.name()).collect();
        names.join(",")
    }

    /// The message cap this node gives its own network: twice the honest one with `oversized`
    /// (so it can send and answer what honest nodes refuse), else the honest one.
    pub fn own_message_cap(&self, honest: usize) -> usize {
        if self.has(Attack::Oversized) {
            honest.saturating_mul(2)
        } else {
            honest
        }
    }

    /// Whether any periodic attack is on (else no flood task runs).
    fn has_periodic(&self) -> bool {
        self.attacks.iter().any(|a| a.is_periodic())
    }
}

/// The caps honest nodes of this chain apply, which the oversized attacks exceed by one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HonestCaps {
    /// Gossip payloads and sync response frames (`[network] max_message_bytes`).
    pub max_message_bytes: usize,
    /// Decoding a consensus message (`max_block_bytes` + 1 MiB).
    pub consensus_message_bytes: usize,
    /// Decoding a sync response (2 x `max_block_bytes`).
    pub sync_response_bytes: usize,
}

impl HonestCaps {
    /// The caps of a node configured with `max_message_bytes` on a chain with `parameters`:
    /// the very functions the node applies them with.
    pub fn new(max_message_bytes: usize, parameters: &Parameters) -> HonestCaps {
        HonestCaps {
            max_message_bytes,
            consensus_message_bytes: cassia_engine::message_cap(parameters),
            sync_response_bytes: cassia_node::runtime::sync_response_cap(parameters),
        }
    }
}

/// The seed a node's attacks use unless one is given: the first 8 bytes of its public key, so
/// each validator attacks differently and the same one the same way every run.
pub fn seed_of(key: &PublicKey) -> u64 {
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&key.0[..8]);
    u64::from_le_bytes(seed)
}

/// What the attacker learns when the node starts: who it is and on which chain.
struct Armed {
    key: Keypair,
    genesis: GenesisHash,
    /// The validators' node keys, in genesis order.
    validators: Vec<PublicKey>,
    /// This node's place among them (their count if it is not one).
    me: usize,
    caps: HonestCaps,
}

/// The interceptor that turns a node into the Byzantine validator: twins of what it publishes,
/// its own answers to sync requests, and the periodic attacks started with the node.
pub struct Attacker {
    mode: Mode,
    /// `[network] max_message_bytes` as the honest nodes have it (this node's own may be
    /// doubled: [`Mode::own_message_cap`]).
    honest_max_message_bytes: usize,
    rng: Rng,
    armed: Option<Armed>,
    sync_answers: u64,
}

impl Attacker {
    /// An attacker running `mode` against nodes configured with `honest_max_message_bytes`,
    /// drawing every random choice from `seed` (see [`seed_of`]).
    pub fn new(mode: Mode, honest_max_message_bytes: usize, seed: u64) -> Attacker {
        Attacker {
            mode,
            honest_max_message_bytes,
            rng: Rng::new(seed),
            armed: None,
            sync_answers: 0,
        }
    }

    /// Learns the node's key and chain; returns the flood task's generator, drawn from this
    /// one's so that one seed fixes both.
    fn arm(
        &mut self,
        key: &Keypair,
        genesis: GenesisHash,
        validators: Vec<PublicKey>,
        parameters: &Parameters,
    ) -> Rng {
        let me = validators
            .iter()
            .position(|v| *v == key.public())
            .unwrap_or(validators.len());
        self.armed = Some(Armed {
            key: key.clone(),
            genesis,
            validators,
            me,
            caps: HonestCaps::new(self.honest_max_message_bytes, parameters),
        });
        Rng::new(self.rng.next_u64())
    }

    fn armed(&self) -> &Armed {
        self.armed
            .as_ref()
            .expect("the node calls `started` before it sends or serves anything")
    }

    /// The conflicting statements to publish right after `message` (one of this node's).
    fn twins(&mut self, message: &Message) -> Vec<Message> {
        let armed = self
            .armed
            .as_ref()
            .expect("the node calls `started` before it sends anything");
        let mut context = ActorContext {
            key: &armed.key,
            genesis: &armed.genesis,
            me: armed.me,
            keys: &armed.validators,
            rng: &mut self.rng,
        };
        let mut twins = Vec::new();
        if self.mode.has(Attack::Equivocate) {
            twins.extend(EquivocatingLeader::twin(&context, message));
        }
        if self.mode.has(Attack::DoubleVote) {
            twins.extend(DoubleVoter::twin(&mut context, message));
        }
        twins
    }

    /// What to answer a sync request with instead of blocks, if anything: with `oversized`, in
    /// turn a frame one byte above the honest frame cap, one a byte above the decode cap, and
    /// (with `garbage`) random bytes.
    fn sync_answer(&mut self) -> Option<Vec<u8>> {
        let caps = self.armed().caps;
        let turn = self.sync_answers % 3;
        self.sync_answers = self.sync_answers.wrapping_add(1);
        match turn {
            0 if self.mode.has(Attack::Oversized) => {
                Some(vec![0x5a; caps.max_message_bytes.saturating_add(1)])
            }
            1 if self.mode.has(Attack::Oversized) => {
                Some(vec![0x5a; caps.sync_response_bytes.saturating_add(1)])
            }
            _ if self.mode.has(Attack::Garbage) => {
                Some(self.rng.bytes_up_to(flood::MAX_GARBAGE_BYTES))
            }
            _ => None,
        }
    }
}

impl Interceptor for Attacker {
    fn started(&mut self, node: &RunningNode) {
        let validators = node.genesis.validators.iter().map(|v| v.node_key).collect();
        let genesis = node.genesis.genesis_hash();
        let flood_rng = self.arm(&node.key, genesis, validators, &node.genesis.parameters);
        if !self.mode.has_periodic() {
            return;
        }
        flood::spawn(FloodContext {
            mode: self.mode.clone(),
            caps: self.armed().caps,
            key: node.key.clone(),
            chain_id: node.genesis.chain_id.clone(),
            genesis,
            network: node.network.clone(),
            head: node.head.clone(),
            rng: flood_rng,
        });
    }

    fn outgoing_consensus(&mut self, message: Message) -> Vec<Message> {
        let twins = self.twins(&message);
        let mut out = Vec::with_capacity(1 + twins.len());
        out.push(message);
        out.extend(twins);
        out
    }

    fn sync_request(&mut self, _request: &[u8]) -> Option<Vec<u8>> {
        self.sync_answer()
    }
}

#[cfg(test)]
mod tests {
    use cassia_consensus::Payload;
    use cassia_crypto::Hash;
    use cassia_ledger::{Block, Vote, VoteKind};

    use super::*;
    use crate::byzantine::flood::placeholder_header;

    fn key() -> Keypair {
        Keypair::from_secret([9; 32])
    }

    const C: GenesisHash = GenesisHash(cassia_crypto::Hash([0xc; 32]));

    fn armed(list: &str, key: &Keypair) -> Attacker {
        let mode = Mode::parse(list).expect("known attacks");
        let mut attacker = Attacker::new(mode, 1 << 20, seed_of(&key.public()));
        attacker.arm(key, C, vec![key.public()], &Parameters::default());
        attacker
    }

    #[test]
    fn attack_lists_parse_and_unknown_or_empty_ones_are_refused() {
        let mode = Mode::parse("equivocate, flood").expect("known");
        assert!(mode.has(Attack::Equivocate) && mode.has(Attack::Flood));
        assert!(!mode.has(Attack::Garbage));
        let all = Mode::parse("all").expect("known");
        assert!(Attack::ALL.iter().all(|a| all.has(*a)));
        assert_eq!(Mode::parse(" , "), Err(ModeError::Empty));
        let error = Mode::parse("equivocate,explode").expect_err("unknown");
        assert_eq!(
            error,
            ModeError::Unknown {
                name: "explode".into()
            }
        );
        assert!(error.to_string().contains("double-vote"), "{error}");
    }

    #[test]
    fn an_equivocating_leader_publishes_its_proposal_then_a_valid_twin_with_another_block() {
        let key = key();
        let mut attacker = armed("equivocate", &key);
        let block = Block {
            header: placeholder_header(&key),
            transactions: Vec::new(),
        };
        let proposal = cassia_consensus::Proposal {
            height: 1,
            view: 0,
            block_hash: block.hash(),
        };
        let honest = Message::sign(&C, &key, Payload::PrePrepare { proposal, block });
        let out = attacker.outgoing_consensus(honest.clone());
        let [first, twin] = &out[..] else {
            panic!("the proposal and one twin: {out:?}")
        };
        assert_eq!(first, &honest, "the honest proposal goes first, unchanged");
        assert!(twin.verify_signature(&C).is_ok());
        assert_eq!(
            (twin.height(), twin.view()),
            (honest.height(), honest.view())
        );
        assert!(!twin.same_statement(&honest), "a conflicting statement");
        let Payload::PrePrepare { proposal, block } = &twin.payload else {
            panic!("a pre-prepare")
        };
        assert_eq!(proposal.block_hash, block.hash(), "still valid-looking");
    }

    #[test]
    fn a_double_voter_follows_each_vote_with_one_for_another_digest() {
        let key = key();
        let mut attacker = armed("double-vote", &key);
        let vote = Vote {
            kind: VoteKind::Commit,
            height: 5,
            view: 2,
            block_hash: Hash::of(b"b"),
        };
        let honest = Message::sign(&C, &key, Payload::Vote(vote));
        let out = attacker.outgoing_consensus(honest.clone());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], honest);
        assert_eq!(out[1].kind(), honest.kind());
        assert!(out[1].verify_signature(&C).is_ok() && !out[1].same_statement(&honest));
    }

    #[test]
    fn sync_requests_are_answered_above_each_cap_then_with_garbage() {
        let key = key();
        let mut attacker = armed("oversized,garbage", &key);
        let caps = attacker.armed().caps;
        let sizes: Vec<usize> = (0..3)
            .map(|_| attacker.sync_request(b"").expect("an answer").len())
            .collect();
        assert_eq!(sizes[0], caps.max_message_bytes + 1);
        assert_eq!(sizes[1], caps.sync_response_bytes + 1);
        assert!(sizes[2] <= flood::MAX_GARBAGE_BYTES);
        let mut honest = armed("equivocate", &key);
        assert_eq!(honest.sync_request(b""), None, "no answer of its own");
    }

    #[test]
    fn one_seed_fixes_the_twins() {
        let key = key();
        let vote = Payload::Vote(Vote {
            kind: VoteKind::Prepare,
            height: 3,
            view: 0,
            block_hash: Hash::of(b"b"),
        });
        let message = Message::sign(&C, &key, vote);
        let first = armed("double-vote", &key).outgoing_consensus(message.clone());
        let second = armed("double-vote", &key).outgoing_consensus(message);
        assert_eq!(first, second);
    }
}
