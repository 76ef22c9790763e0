//! A simulated cluster: n nodes running the real engine and replica over a [`Network`], driven
//! by one event queue on a virtual clock. Everything random comes from the seed, so a seed
//! replays a run exactly.
//!
//! ```text
//! queue: (virtual time ms, sequence) -> event      popped in order, one per step
//! events: deliver packet | view timer | propose | client transaction
//! ```
//!
//! A crash keeps only the node's [`MemoryStore`] (its durable state); the engine, replica,
//! mempool, timers and messages not yet sent are gone. [`Cluster::crash_before_send`] crashes a
//! node right after its next step persisted but before anything it produced is sent.

use std::collections::BTreeMap;

use cassia_consensus::{Message, Recipient, TimerCommand};
use cassia_crypto::{GenesisHash, Hash, Keypair, PublicKey};
use cassia_engine::{
    Engine, EngineConfig, EngineError, MemoryStore, MempoolLimits, Output, SignatureCheck, Store,
};
use cassia_ledger::{
    Genesis, Height, Operation, Organization, Parameters, Rejection, Transaction, Validator, View,
};

use crate::byzantine::{ActorContext, Behaviour, Target};
use crate::checker::Checker;
use crate::network::{Network, NetworkConfig, Packet};
use crate::rng::Rng;
use crate::trace::Trace;

/// The chain id of every simulated chain.
pub const CHAIN_ID: &str = "sim";
/// The virtual clock at the start of a run (the genesis time is 0).
pub const START_MS: u64 = 1_000;

/// How a cluster is set up.
#[derive(Clone, Copy, Debug)]
pub struct ClusterConfig {
    /// Validators.
    pub n: usize,
    /// The seed fixing every random choice.
    pub seed: u64,
    /// Link behaviour.
    pub network: NetworkConfig,
    /// Keep readable trace lines (the digest is always kept).
    pub trace: bool,
    /// A client submits a transaction this often (0 for never).
    pub tx_interval_ms: u64,
}

type SimEngine = Engine<MemoryStore>;

enum Event {
    Deliver {
        from: usize,
        to: usize,
        packet: Packet,
    },
    Timer {
        node: usize,
        incarnation: u64,
        height: Height,
        view: View,
        generation: u64,
    },
    Propose {
        node: usize,
        incarnation: u64,
        height: Height,
        view: View,
    },
    ClientTx,
}

struct Node {
    key: Keypair,
    engine: Option<SimEngine>,
    /// The durable store while the node is down.
    stored: Option<MemoryStore>,
    behaviour: Option<Box<dyn Behaviour>>,
    incarnation: u64,
    timer_generation: Option<u64>,
    crash_before_send: bool,
}

/// The simulated cluster.
pub struct Cluster {
    n: usize,
    genesis: Genesis,
    /// `genesis.genesis_hash()`, which every signature covers.
    chain: GenesisHash,
    nodes: Vec<Node>,
    keys: Vec<PublicKey>,
    network: Network,
    rng: Rng,
    now_ms: u64,
    queue: BTreeMap<(u64, u64), Event>,
    sequence: u64,
    checker: Checker,
    trace: Trace,
    client: Keypair,
    transactions_sent: u64,
    tx_interval_ms: u64,
    steps: u64,
}

impl Cluster {
    /// A cluster of `config.n` fresh validators at genesis (call [`Cluster::start`]).
    pub fn new(config: ClusterConfig) -> Cluster {
        let mut rng = Rng::new(config.seed);
        let keys: Vec<Keypair> = (0..config.n)
            .map(|_| Keypair::from_secret(rng.bytes32()))
            .collect();
        let client = Keypair::from_secret(rng.bytes32());
        let genesis = genesis(&keys, &client);
        let checker = Checker::new(genesis.genesis_hash(), genesis.validator_set());
        let nodes = keys
            .iter()
            .map(|key| Node {
                key: key.clone(),
                engine: None,
                stored: Some(MemoryStore::new(&genesis)),
                behaviour: None,
                incarnation: 0,
                timer_generation: None,
                crash_before_send: false,
            })
            .collect();
        Cluster {
            n: config.n,
            keys: keys.iter().map(Keypair::public).collect(),
            chain: genesis.genesis_hash(),
            genesis,
            nodes,
            network: Network::new(config.network),
            client,
            rng,
            now_ms: START_MS,
            queue: BTreeMap::new(),
            sequence: 0,
            checker,
            trace: Trace::new(config.trace),
            transactions_sent: 0,
            tx_interval_ms: config.tx_interval_ms,
            steps: 0,
        }
    }

    /// Makes node `node` Byzantine (before [`Cluster::start`]).
    pub fn set_behaviour(&mut self, node: usize, behaviour: Box<dyn Behaviour>) {
        self.trace.note(self.now_ms, [9, node as u64, 0, 0], || {
            format!("node {node} is {}", behaviour.name())
        });
        self.nodes[node].behaviour = Some(behaviour);
    }

    /// Starts every node.
    pub fn start(&mut self) {
        for node in 0..self.n {
            self.restart(node);
        }
        if self.tx_interval_ms > 0 {
            self.schedule(self.tx_interval_ms, Event::ClientTx);
        }
    }

    /// Splits the network into `groups` (nodes in none are isolated).
    pub fn partition(&mut self, groups: &[&[usize]]) {
        self.trace
            .note(self.now_ms, [10, groups.len() as u64, 0, 0], || {
                format!("partition {groups:?}")
            });
        self.network.partition(self.n, groups);
    }

    /// Reconnects everyone.
    pub fn heal(&mut self) {
        self.trace
            .note(self.now_ms, [11, 0, 0, 0], || "heal".to_string());
        self.network.heal();
    }

    /// Crashes `node`: only its store survives.
    pub fn crash(&mut self, node: usize) {
        let Some(engine) = self.nodes[node].engine.take() else {
            return;
        };
        self.trace.note(self.now_ms, [12, node as u64, 0, 0], || {
            format!("crash node {node}")
        });
        let state = &mut self.nodes[node];
        state.stored = Some(engine.into_store());
        state.incarnation += 1;
        state.timer_generation = None;
        state.crash_before_send = false;
    }

    /// Crashes `node` and throws its store away, WAL included, as a lost disk would: a planted
    /// fault (a replica restarted from genesis has forgotten what it signed and may sign a
    /// second statement for a slot), for the checker's negative controls only.
    pub fn crash_losing_store(&mut self, node: usize) {
        self.crash(node);
        self.trace.note(self.now_ms, [14, node as u64, 0, 0], || {
            format!("node {node} loses its store")
        });
        self.nodes[node].stored = Some(MemoryStore::new(&self.genesis));
    }

    /// Crashes `node` right after its next step: persisted, but nothing sent.
    pub fn crash_before_send(&mut self, node: usize) {
        self.nodes[node].crash_before_send = true;
    }

    /// Restarts a crashed (or not yet started) node from its store.
    pub fn restart(&mut self, node: usize) {
        self.nodes[node].crash_before_send = false;
        let Some(store) = self.nodes[node].stored.take() else {
            return;
        };
        self.trace.note(self.now_ms, [13, node as u64, 0, 0], || {
            format!("start node {node}")
        });
        let config = EngineConfig {
            chain_id: CHAIN_ID.to_string(),
            genesis: self.chain,
            key: self.nodes[node].key.clone(),
            mempool: MempoolLimits::default(),
        };
        let opened = Engine::open(config, store);
        let result = opened.and_then(|mut engine| {
            let output = engine.start(self.now_ms);
            self.nodes[node].engine = Some(engine);
            output
        });
        self.handle(node, result);
    }

    /// Restarts every crashed node.
    pub fn restart_all(&mut self) {
        for node in 0..self.n {
            self.restart(node);
        }
    }

    /// Runs one event; `false` if none is left.
    pub fn step(&mut self) -> bool {
        let Some(((time, _), event)) = self.queue.pop_first() else {
            return false;
        };
        self.now_ms = time;
        self.steps += 1;
        match event {
            Event::Deliver { from, to, packet } => self.deliver(from, to, packet),
            Event::Timer {
                node,
                incarnation,
                height,
                view,
                generation,
            } => {
                let current = self.nodes[node].incarnation == incarnation
                    && self.nodes[node].timer_generation == Some(generation);
                if current {
                    self.trace
                        .note(self.now_ms, [2, node as u64, height, view], || {
                            format!("node {node} timer h{height} v{view}")
                        });
                    let now = self.now_ms;
                    let result = self.with_engine(node, |engine| {
                        engine.on_timer(height, view, generation, now)
                    });
                    self.handle_option(node, result);
                }
            }
            Event::Propose {
                node,
                incarnation,
                height,
                view,
            } => {
                if self.nodes[node].incarnation == incarnation {
                    self.trace
                        .note(self.now_ms, [3, node as u64, height, view], || {
                            format!("node {node} proposes h{height} v{view}")
                        });
                    let now = self.now_ms;
                    let result = self.with_engine(node, |engine| engine.propose(height, view, now));
                    self.handle_option(node, result);
                }
            }
            Event::ClientTx => self.client_transaction(),
        }
        true
    }

    /// Runs for `duration_ms` of virtual time.
    pub fn run_for(&mut self, duration_ms: u64) {
        let end = self.now_ms.saturating_add(duration_ms);
        while self
            .queue
            .first_key_value()
            .is_some_and(|((time, _), _)| *time <= end)
        {
            self.step();
        }
        self.now_ms = self.now_ms.max(end);
    }

    /// Runs until every running honest node has committed `height`, for at most `bound_ms`.
    pub fn run_until_height(&mut self, height: Height, bound_ms: u64) -> Result<(), String> {
        let end = self.now_ms.saturating_add(bound_ms);
        while self.lowest_honest_height() < height {
            if self
                .queue
                .first_key_value()
                .is_none_or(|((time, _), _)| *time > end)
            {
                return Err(format!(
                    "honest nodes did not all reach height {height} within {bound_ms} ms (heights {:?})",
                    self.heights()
                ));
            }
            self.step();
        }
        Ok(())
    }

    /// Liveness: from now, every running honest node commits a new block within `bound_ms`;
    /// records a violation if not.
    pub fn check_liveness(&mut self, bound_ms: u64) {
        let target = self.checker.highest_committed() + 1;
        if let Err(failure) = self.run_until_height(target, bound_ms) {
            self.checker.report(format!("liveness: {failure}"));
        }
    }

    /// Committed heights of all nodes (`None` for crashed ones).
    pub fn heights(&self) -> Vec<Option<Height>> {
        self.nodes
            .iter()
            .map(|node| node.engine.as_ref().map(tip_height))
            .collect()
    }

    fn lowest_honest_height(&self) -> Height {
        self.nodes
            .iter()
            .filter(|node| node.behaviour.is_none())
            .filter_map(|node| node.engine.as_ref().map(tip_height))
            .min()
            .unwrap_or(0)
    }

    /// Records a violation found by a scenario (e.g. no progress).
    pub fn report(&mut self, violation: String) {
        self.checker.report(violation);
    }

    /// The replica counters of a running node.
    pub fn replica_stats(&self, node: usize) -> Option<cassia_consensus::Stats> {
        self.nodes[node]
            .engine
            .as_ref()
            .map(|engine| engine.replica().stats().clone())
    }

    /// The invariant checker.
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// Violations found so far.
    pub fn violations(&self) -> &[String] {
        self.checker.violations()
    }

    /// The trace digest and lines.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Steps run.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The virtual clock.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The number of validators.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Whether `node` is Byzantine.
    pub fn is_byzantine(&self, node: usize) -> bool {
        self.nodes[node].behaviour.is_some()
    }

    fn schedule(&mut self, after_ms: u64, event: Event) {
        self.sequence += 1;
        self.queue
            .insert((self.now_ms.saturating_add(after_ms), self.sequence), event);
    }

    fn with_engine<T>(&mut self, node: usize, f: impl FnOnce(&mut SimEngine) -> T) -> Option<T> {
        self.nodes[node].engine.as_mut().map(f)
    }

    fn deliver(&mut self, from: usize, to: usize, packet: Packet) {
        if self.nodes[to].engine.is_none() {
            return;
        }
        let now = self.now_ms;
        match packet {
            Packet::Consensus(bytes) => {
                let digest = Hash::of(&bytes);
                self.trace.note(
                    self.now_ms,
                    [1, from as u64, to as u64, prefix(&digest)],
                    || describe(from, to, &bytes),
                );
                self.byzantine_hears(to, &bytes);
                let result = self.with_engine(to, |engine| engine.on_message_bytes(&bytes, now));
                self.handle_option(to, result);
            }
            Packet::FetchRequest {
                from: first,
                to: last,
            } => {
                self.trace
                    .note(self.now_ms, [5, from as u64, to as u64, first], || {
                        format!("node {from} asks {to} for {first}..={last}")
                    });
                let blocks = self.with_engine(to, |engine| engine.serve_blocks(first, last));
                if let Some(Ok(blocks)) = blocks.filter(|b| b.as_ref().is_ok_and(|b| !b.is_empty()))
                {
                    self.send_packet(to, from, Packet::FetchResponse(blocks));
                }
            }
            Packet::FetchResponse(blocks) => {
                self.trace.note(
                    self.now_ms,
                    [6, from as u64, to as u64, blocks.len() as u64],
                    || format!("node {to} gets {} blocks", blocks.len()),
                );
                for (block, certificate) in blocks {
                    let result = self
                        .with_engine(to, |engine| engine.on_synced_block(block, certificate, now));
                    self.handle_option(to, result);
                }
            }
        }
    }

    fn byzantine_hears(&mut self, node: usize, bytes: &[u8]) {
        if self.nodes[node].behaviour.is_none() {
            return;
        }
        let Ok(message) = Message::from_bytes(bytes, usize::MAX) else {
            return;
        };
        let mut behaviour = self.nodes[node].behaviour.take().expect("checked above");
        let key = self.nodes[node].key.clone();
        let mut context = ActorContext {
            key: &key,
            genesis: &self.chain,
            me: node,
            keys: &self.keys,
            rng: &mut self.rng,
        };
        let extra = behaviour.incoming(&mut context, &message);
        self.nodes[node].behaviour = Some(behaviour);
        for (target, message) in extra {
            self.send_message(node, target, &message);
        }
    }

    fn handle_option(&mut self, node: usize, result: Option<Result<Output, EngineError>>) {
        if let Some(result) = result {
            self.handle(node, result);
        }
    }

    /// Applies an engine output as the node's host would.
    fn handle(&mut self, node: usize, result: Result<Output, EngineError>) {
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                if self.nodes[node].behaviour.is_none() {
                    self.checker
                        .report(format!("engine failure at node {node}: {error}"));
                }
                return self.crash(node);
            }
        };
        if self.nodes[node].crash_before_send {
            return self.crash(node);
        }
        for outgoing in output.messages {
            let target = match outgoing.to {
                Recipient::All => Target::All,
                Recipient::One(key) => match self.keys.iter().position(|k| *k == key) {
                    Some(index) => Target::One(index),
                    None => continue,
                },
            };
            self.send_from_engine(node, target, outgoing.message);
        }
        for commit in &output.committed {
            let (height, hash) = (commit.block.height(), commit.block.hash());
            self.trace
                .note(self.now_ms, [4, node as u64, height, prefix(&hash)], || {
                    format!("node {node} commits h{height} {}", hash.short())
                });
            if self.nodes[node].behaviour.is_none() {
                self.checker.on_commit(node, commit);
            }
        }
        self.apply_timer(node, output.timer);
        if let Some((height, view)) = output.propose {
            let incarnation = self.nodes[node].incarnation;
            let delay = self.genesis.parameters.block_interval_ms;
            self.schedule(
                delay,
                Event::Propose {
                    node,
                    incarnation,
                    height,
                    view,
                },
            );
        }
        for fetch in output.fetch {
            let peers: Vec<usize> = fetch
                .peers
                .iter()
                .filter_map(|k| self.keys.iter().position(|x| x == k))
                .collect();
            if !peers.is_empty() {
                let peer = peers[self.rng.index(peers.len())];
                self.send_packet(
                    node,
                    peer,
                    Packet::FetchRequest {
                        from: fetch.from,
                        to: fetch.to,
                    },
                );
            }
        }
    }

    fn apply_timer(&mut self, node: usize, timer: Option<TimerCommand>) {
        match timer {
            Some(TimerCommand::Set {
                height,
                view,
                generation,
                after_ms,
            }) => {
                self.nodes[node].timer_generation = Some(generation);
                let incarnation = self.nodes[node].incarnation;
                self.schedule(
                    after_ms,
                    Event::Timer {
                        node,
                        incarnation,
                        height,
                        view,
                        generation,
                    },
                );
            }
            Some(TimerCommand::Cancel) => self.nodes[node].timer_generation = None,
            None => {}
        }
    }

    fn send_from_engine(&mut self, node: usize, target: Target, message: Message) {
        let Some(mut behaviour) = self.nodes[node].behaviour.take() else {
            // Relayed messages (a proposal re-sent to peers that missed it) are the leader's.
            if message.sender == self.keys[node] {
                self.checker.on_honest_send(node, &message);
            }
            return self.send_message(node, target, &message);
        };
        let key = self.nodes[node].key.clone();
        let mut context = ActorContext {
            key: &key,
            genesis: &self.chain,
            me: node,
            keys: &self.keys,
            rng: &mut self.rng,
        };
        let rewritten = behaviour.outgoing(&mut context, target, message);
        self.nodes[node].behaviour = Some(behaviour);
        for (target, message) in rewritten {
            self.send_message(node, target, &message);
        }
    }

    fn send_message(&mut self, from: usize, target: Target, message: &Message) {
        self.checker.on_any_send(message);
        let bytes = message.to_bytes();
        match target {
            Target::All => {
                for to in (0..self.n).filter(|to| *to != from) {
                    self.send_packet(from, to, Packet::Consensus(bytes.clone()));
                }
            }
            Target::One(to) => self.send_packet(from, to, Packet::Consensus(bytes)),
        }
    }

    fn send_packet(&mut self, from: usize, to: usize, packet: Packet) {
        for delay in self.network.deliveries(&mut self.rng, from, to) {
            self.schedule(
                delay,
                Event::Deliver {
                    from,
                    to,
                    packet: packet.clone(),
                },
            );
        }
    }

    /// A client submits a transaction to every running node (as gossip would), each admitting it
    /// by the node's own admission rule.
    fn client_transaction(&mut self) {
        self.transactions_sent += 1;
        let height = self.checker.highest_committed();
        let tx = Transaction {
            chain_id: CHAIN_ID.to_string(),
            signer: self.client.public(),
            nonce: self.rng.next_u64(),
            valid_until: height + 100,
            op: Operation::Notarize {
                digest: Hash::of(&self.transactions_sent.to_be_bytes()),
                metadata: "sim".into(),
                co_signers: Vec::new(),
            },
        }
        .sign(&self.chain, &self.client);
        self.trace
            .note(self.now_ms, [7, self.transactions_sent, 0, 0], || {
                format!("client submits tx {}", tx.id().short())
            });
        for node in self.nodes.iter_mut() {
            if let Some(engine) = node.engine.as_mut() {
                let admitted = engine.admit(tx.clone(), SignatureCheck::Unchecked);
                assert!(
                    !matches!(admitted, Err(Rejection::PermissionDenied(_))),
                    "the simulated client is an organization admin: {admitted:?}"
                );
            }
        }
        self.schedule(self.tx_interval_ms, Event::ClientTx);
    }
}

fn tip_height(engine: &SimEngine) -> Height {
    engine.store().tip().map(|tip| tip.height).unwrap_or(0)
}

fn prefix(hash: &Hash) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(bytes)
}

fn describe(from: usize, to: usize, bytes: &[u8]) -> String {
    match Message::from_bytes(bytes, usize::MAX) {
        Ok(m) => format!(
            "{from} -> {to}: {:?} h{} v{}",
            m.kind(),
            m.height(),
            m.view()
        ),
        Err(_) => format!("{from} -> {to}: undecodable"),
    }
}

/// The genesis of a simulated chain: one organization, validators `keys` in order; the first
/// validator's key and the `client` are its admins (so the client may notarize).
fn genesis(keys: &[Keypair], client: &Keypair) -> Genesis {
    let validators = keys
        .iter()
        .enumerate()
        .map(|(i, key)| Validator {
            name: format!("v{i}"),
            organization: "sim".into(),
            node_key: key.public(),
            p2p_address: String::new(),
        })
        .collect();
    let admin = keys
        .first()
        .map(Keypair::public)
        .into_iter()
        .chain([client.public()])
        .collect();
    Genesis {
        chain_id: CHAIN_ID.to_string(),
        genesis_time_ms: 0,
        organizations: vec![Organization {
            id: "sim".into(),
            name: "Simulation".into(),
            admins: admin,
        }],
        validators,
        parameters: Parameters {
            view_timeout_ms: 200,
            block_interval_ms: 100,
            ..Parameters::default()
        },
        approvals: Vec::new(),
    }
}
