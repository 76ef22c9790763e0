//! The node's event loop: one tokio task owns the [`Engine`] and hands it, one at a time, what
//! arrives from the network, the timers and local submissions; then it carries out the
//! engine's [`Output`] (the engine has already made everything durable that must be).
//!
//! ```text
//!  network events ──┐                      ┌─> publish consensus messages (through the interceptor)
//!  consensus timers ┤                      ├─> set timers            (timers.rs)
//!  submissions ─────┼─> select ─> Engine ──┼─> fetch missing blocks  (sync.rs)
//!  verified batches ┤    (this file)       ├─> follow membership     (membership.rs)
//!  fetched blocks ──┘                      └─> metrics, head         (telemetry.rs)
//! ```
//!
//! Each job has a room of its own: [`admission`] (verifier and the engine's admission rule),
//! [`sync`] (serving and fetching blocks), [`membership`] (who may connect, readiness),
//! [`telemetry`] (metrics and the published head) and [`timers`] (the view timer and the next
//! proposal). This file only selects, decodes consensus messages and hands over.
//!
//! Any engine error (a failed store write, a certified block that does not re-execute) stops
//! the node with that error: it must not go on voting on state it cannot trust.

pub mod admission;
pub mod journal;
pub mod membership;
pub mod sync;
pub mod telemetry;
pub mod timers;
mod verifier;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cassia_crypto::Hash;
use cassia_engine::{Engine, EngineConfig, EngineError, MempoolLimits, Output, Store as _};
use cassia_ledger::{Rejection, SignedTransaction};
use cassia_storage::misbehaviour::Recorded;
use tokio::sync::{mpsc, oneshot};

use crate::chain_store::{ChainStore, store_error};
use crate::head::HeadSender;
use crate::interceptor::Interceptor;
use crate::metrics::Metrics;
use crate::network::{GossipMessage, NetworkEvent, NetworkHandle, Validation};
use admission::{Admission, GOSSIP_FLUSH_INTERVAL};
use journal::Journal;
use membership::{ChainMembers, MembershipFollower};
use sync::{BlockSync, CATCH_UP_POLL, Fetched};
use telemetry::Telemetry;
use timers::{ConsensusTimers, Due};

pub use admission::MAX_GOSSIP_BATCH;
pub use sync::{MAX_SYNC_RESPONSE_BLOCKS, served_range, sync_response_cap};

/// Local submissions waiting for the loop. When full, submitters wait (gRPC back-pressure).
pub const SUBMISSION_QUEUE: usize = 1024;

/// A request to the node from inside the process (the gRPC server, tests).
#[derive(Debug)]
pub enum NodeCommand {
    /// Admit a transaction to the mempool and gossip it.
    Submit(SignedTransaction, oneshot::Sender<Result<Hash, Rejection>>),
}

/// The wall clock the engine reads, the only one: milliseconds since the Unix epoch, plus an
/// offset that is 0 in production. The fault suite runs a node whose clock is ahead of or
/// behind the others' ([`Interceptor::clock_offset_ms`]) to test the clock-drift rule between
/// real processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    offset_ms: i64,
}

impl Clock {
    /// The system clock moved by `offset_ms`.
    pub fn with_offset(offset_ms: i64) -> Clock {
        Clock { offset_ms }
    }

    /// Milliseconds since the Unix epoch, by this clock.
    pub fn now_ms(self) -> u64 {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(since.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add_signed(self.offset_ms)
    }
}

/// Opens the engine over `store` with the node's key and mempool limits.
pub fn open_engine(
    store: ChainStore,
    key: &cassia_crypto::Keypair,
    mempool: MempoolLimits,
) -> Result<Engine<ChainStore>, EngineError> {
    let config = EngineConfig {
        chain_id: store.genesis().chain_id.clone(),
        genesis: store.genesis().genesis_hash(),
        key: key.clone(),
        mempool,
    };
    Engine::open(config, store)
}

/// What the loop is started with.
pub struct RuntimeParts {
    /// The engine, opened on the node's store.
    pub engine: Engine<ChainStore>,
    /// The running network.
    pub network: NetworkHandle,
    /// The network's events.
    pub events: mpsc::Receiver<NetworkEvent>,
    /// Requests from inside the process (gRPC submissions).
    pub commands: mpsc::Receiver<NodeCommand>,
    /// The members the network was started with.
    pub members: ChainMembers,
    /// The metrics the loop updates.
    pub metrics: Arc<Metrics>,
    /// Where the loop publishes the head.
    pub head: HeadSender,
    /// What the test harness watches or bends ([`crate::interceptor::NoInterceptor`] in
    /// production).
    pub interceptor: Box<dyn Interceptor>,
}

/// What the loop owns: the engine, the network, and one room per job.
pub struct Runtime {
    engine: Engine<ChainStore>,
    network: NetworkHandle,
    interceptor: Box<dyn Interceptor>,
    admission: Admission,
    sync: BlockSync,
    membership: MembershipFollower,
    telemetry: Telemetry,
    timers: ConsensusTimers,
    clock: Clock,
}

/// The receivers the loop selects on besides the network and the commands.
struct Inbox {
    verified: mpsc::Receiver<verifier::Verified>,
    fetched: mpsc::Receiver<Fetched>,
}

impl Runtime {
    /// Runs the loop until `shutdown` resolves or the engine fails.
    pub async fn run(
        parts: RuntimeParts,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), EngineError> {
        let mut events = parts.events;
        let mut commands = parts.commands;
        let tip = parts.engine.store().tip()?;
        let (journal, journaled) = Journal::open(
            parts.engine.store().database(),
            parts.engine.mempool().limits().max_transactions,
        )
        .map_err(|e| EngineError::Store(store_error(e)))?;
        let (admission, verified) =
            Admission::new(parts.engine.store().genesis().genesis_hash(), journal);
        let (sync, fetched) = BlockSync::new(parts.engine.store().shared());
        let mut inbox = Inbox { verified, fetched };
        let clock = Clock::with_offset(parts.interceptor.clock_offset_ms());
        let mut runtime = Runtime {
            clock,
            engine: parts.engine,
            network: parts.network,
            interceptor: parts.interceptor,
            admission,
            sync,
            membership: MembershipFollower::new(parts.members),
            telemetry: Telemetry::new(parts.metrics, parts.head, tip),
            timers: ConsensusTimers::default(),
        };
        let output = runtime.engine.start(clock.now_ms())?;
        runtime.apply(output).await;
        let (admission, context) = runtime.admission();
        admission.replay(context, journaled)?;
        let mut flush = tokio::time::interval(GOSSIP_FLUSH_INTERVAL);
        let mut catch_up = tokio::time::interval(CATCH_UP_POLL);
        tokio::pin!(shutdown);
        loop {
            let timer = runtime.timers.next();
            let deadline = timer.map_or_else(far_future, |(at, _)| at);
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                Some(event) = events.recv() => runtime.on_network_event(event).await?,
                Some(command) = commands.recv(), if runtime.admission.has_room() => {
                    let (admission, context) = runtime.admission();
                    admission.on_submission(context, command, &mut commands).await;
                }
                Some(verified) = inbox.verified.recv() => {
                    let (admission, context) = runtime.admission();
                    admission.on_verified(context, verified).await;
                }
                Some(blocks) = inbox.fetched.recv() => runtime.on_fetched(blocks).await?,
                () = tokio::time::sleep_until(deadline), if timer.is_some() => {
                    if let Some((_, due)) = timer {
                        runtime.on_timer(due).await?;
                    }
                }
                _ = flush.tick() => {
                    let (admission, context) = runtime.admission();
                    admission.on_flush_tick(context).await;
                }
                _ = catch_up.tick() => runtime.poll_for_blocks(),
            }
        }
    }

    /// The admission room and what it works with.
    fn admission(&mut self) -> (&mut Admission, admission::Context<'_>) {
        let context = admission::Context {
            engine: &mut self.engine,
            network: &self.network,
            telemetry: &mut self.telemetry,
        };
        (&mut self.admission, context)
    }

    async fn on_network_event(&mut self, event: NetworkEvent) -> Result<(), EngineError> {
        match event {
            NetworkEvent::Consensus(message) => self.on_consensus_message(message).await?,
            NetworkEvent::Transactions(message) => {
                let (admission, context) = self.admission();
                admission.on_gossip(context, message).await;
            }
            NetworkEvent::SyncRequest(request) => {
                let interceptor = self.interceptor.as_mut();
                self.sync
                    .serve(
                        &self.engine,
                        &self.network,
                        interceptor,
                        &mut self.telemetry,
                        request,
                    )
                    .await;
                self.telemetry.refresh_rejections(self.engine.replica());
            }
            NetworkEvent::PeerConnected(_) => {
                self.admission.peer_connected();
                self.telemetry
                    .peers_changed(self.engine.replica(), &self.network);
            }
            NetworkEvent::PeerDisconnected(_) => {
                self.telemetry
                    .peers_changed(self.engine.replica(), &self.network);
            }
        }
        Ok(())
    }

    /// Gossip validation: relay a consensus message only if it decodes within the cap in force
    /// and the replica would admit it now ([`cassia_consensus::Replica::screen`]: from a
    /// validator, within the height and view window, attached blocks matching their signed
    /// hashes, signature valid). What it would drop is not relayed, so a member cannot have
    /// honest nodes carry a valid statement re-wrapped around a junk block, or far-future
    /// heights; its sender is penalised only where the drop proves misbehaviour (an honest peer
    /// may simply be ahead or behind).
    async fn on_consensus_message(&mut self, gossip: GossipMessage) -> Result<(), EngineError> {
        let cap = cassia_engine::message_cap(self.engine.parameters());
        let verdict = match cassia_consensus::Message::from_bytes(&gossip.data, cap) {
            Ok(message) => match self.engine.replica().screen(&message) {
                Ok(()) => {
                    let output = self.engine.on_message(message, self.clock.now_ms())?;
                    self.apply(output).await;
                    Validation::Accept
                }
                Err(reason) => self.telemetry.screened(reason),
            },
            Err(_) => self.telemetry.reject("consensus_malformed"),
        };
        let _ = self
            .network
            .report_validation(gossip.validation, verdict)
            .await;
        self.telemetry.refresh_rejections(self.engine.replica());
        Ok(())
    }

    async fn on_fetched(&mut self, blocks: Fetched) -> Result<(), EngineError> {
        self.sync.on_fetched();
        for (block, certificate) in blocks {
            let output = self
                .engine
                .on_synced_block(block, certificate, self.clock.now_ms())?;
            self.apply(output).await;
        }
        Ok(())
    }

    async fn on_timer(&mut self, due: Due) -> Result<(), EngineError> {
        self.timers.fired(due);
        let output = match due {
            Due::View {
                height,
                view,
                generation,
            } => self
                .engine
                .on_timer(height, view, generation, self.clock.now_ms())?,
            Due::Propose { height, view } => {
                self.engine.propose(height, view, self.clock.now_ms())?
            }
        };
        self.apply(output).await;
        Ok(())
    }

    fn poll_for_blocks(&mut self) {
        let since = self.telemetry.since_last_commit();
        let tip = self.telemetry.tip().height;
        self.sync.poll(&self.engine, &self.network, since, tip);
    }

    /// Carries out an engine output: everything in it is already durable. Send, then timers,
    /// then fetches, then what follows commits, then the gauges.
    async fn apply(&mut self, output: Output) {
        for outgoing in output.messages {
            // Gossip reaches every validator; one addressed to a single validator is ignored
            // by the others as a duplicate or stale statement.
            for message in self.interceptor.outgoing_consensus(outgoing.message) {
                let _ = self.network.publish_consensus(message.to_bytes()).await;
            }
        }
        self.timers
            .apply(&self.engine, self.clock, output.timer, output.propose);
        for fetch in &output.fetch {
            self.sync.fetch(&self.engine, &self.network, fetch);
        }
        for commit in &output.committed {
            self.on_committed(commit);
        }
        for evidence in &output.evidence {
            self.telemetry.misbehaviour(evidence);
            self.keep_proof(evidence);
        }
        self.telemetry
            .refresh(self.engine.replica(), self.engine.mempool(), &self.network);
        self.telemetry.engine_stats(self.engine.stats());
    }

    /// Keeps the compact proof of an equivocation in the store, for operators and for a
    /// proposal to remove the validator. Each new proof is one synced write on this loop; there
    /// are at most `MAX_PROOFS_PER_VALIDATOR` per validator, and a known one costs a read.
    fn keep_proof(&mut self, evidence: &cassia_consensus::Evidence) {
        let Some(proof) = evidence.equivocation() else {
            return;
        };
        let genesis = self.engine.store().genesis().genesis_hash();
        if let Err(error) = proof.verify(&genesis) {
            // The replica checked both signatures already: this is a bug, not an attack.
            tracing::error!(%error, "a reported equivocation does not verify; not kept");
            return;
        }
        match self.engine.store().database().record_equivocation(&proof) {
            Ok(Recorded::New) => tracing::warn!(
                validator = %proof.validator.to_hex(),
                height = proof.height,
                view = proof.view,
                kind = proof.kind.name(),
                "proof of equivocation kept (cassia misbehaviour lists it)"
            ),
            Ok(Recorded::Known | Recorded::Full) => {}
            Err(error) => tracing::error!(%error, "cannot keep a proof of equivocation"),
        }
    }

    /// A block committed: report it, follow the chain's membership, and if this node is an
    /// approved newcomer that has caught up, submit its readiness.
    fn on_committed(&mut self, commit: &cassia_consensus::Commit) {
        let now = self.clock.now_ms();
        self.telemetry.committed(commit, now);
        let header = &commit.block.header;
        let committed = (header.height, commit.block.hash(), header.timestamp_ms);
        let readiness = self.membership.after_commit(
            self.engine.store(),
            &self.network,
            self.engine.node_key(),
            committed,
            now,
        );
        if let Some(tx) = readiness {
            let (admission, context) = self.admission();
            if admission.submit_own(context, tx) {
                tracing::info!(
                    height = header.height,
                    "approved as a validator: sent readiness"
                );
            }
        }
    }
}

/// A deadline that never comes, for a select branch that is off.
fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(3600)
}
