//! The node's event loop: one tokio task owns the [`Engine`] and hands it, one at a time, what
//! arrives from the network, the timers and local submissions; then it carries out the
//! engine's [`Output`] (the engine has already made everything durable that must be).
//!
//! ```text
//!  network events ──┐
//!  view timer ──────┤                     ┌─> publish consensus messages (gossip)
//!  propose timer ───┼─> select ─> Engine ─┼─> set timers
//!  sync responses ──┤                     ├─> fetch missing blocks from peers
//!  submissions ─────┘                     └─> metrics, mempool pruning
//! ```
//!
//! The loop only selects, decodes and hands over; each kind of event has its own handler.
//! Any engine error (a failed store write, a certified block that does not re-execute) stops
//! the node with that error: it must not go on voting on state it cannot trust.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cassia_consensus::TimerCommand;
use cassia_crypto::{Hash, Keypair, PublicKey};
use cassia_engine::{Engine, EngineConfig, EngineError, Output, store::Store as _};
use cassia_ledger::execution::keys;
use cassia_ledger::records::PendingValidator;
use cassia_ledger::{
    Block, CommitCertificate, Genesis, Height, Operation, Rejection, SignedTransaction,
    Transaction, Validator, ValidatorSet, View, codec,
};
use cassia_storage::ChainStore;
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;

use crate::head::{Head, HeadSender};
use crate::mempool::{MempoolLimits, NodeMempool, SignatureCheck};
use crate::metrics::Metrics;
use crate::network::{GossipMessage, Member, NetworkEvent, NetworkHandle, SyncRequest, Validation};
use crate::verifier::{Batch, Verified, Verifier};

/// Local submissions waiting for the loop. When full, submitters wait (gRPC back-pressure).
pub const SUBMISSION_QUEUE: usize = 1024;
/// Transactions gossiped in one batch message.
pub const MAX_GOSSIP_BATCH: usize = 512;
/// How often admitted local transactions are gossiped as a batch.
pub const GOSSIP_FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// Blocks sent in one sync response at most (also capped by the message size).
pub const MAX_SYNC_RESPONSE_BLOCKS: u64 = 64;
/// How often a node that has committed nothing for a while asks its peers for newer blocks.
pub const CATCH_UP_POLL: Duration = Duration::from_secs(1);
/// How long without a commit before a node polls for blocks. Validators normally learn of
/// newer blocks from consensus (certificates answering their view changes); a node that does
/// not vote (an approved newcomer following the chain) learns them only by asking.
const CATCH_UP_AFTER: Duration = Duration::from_secs(2);
/// Fetched blocks waiting for the loop; one fetch is in flight at a time, so this never fills.
const SYNC_QUEUE: usize = 4;

/// A request to the node from inside the process (the gRPC server, tests).
#[derive(Debug)]
pub enum NodeCommand {
    /// Admit a transaction to the mempool and gossip it.
    Submit(SignedTransaction, oneshot::Sender<Result<Hash, Rejection>>),
}

/// What the loop owns.
pub struct Runtime {
    engine: Engine<ChainStore, NodeMempool>,
    network: NetworkHandle,
    metrics: Arc<Metrics>,
    head: HeadSender,
    genesis: Genesis,
    view_timer: Option<(tokio::time::Instant, Height, View, u64)>,
    propose_at: Option<(tokio::time::Instant, Height, View)>,
    outgoing_transactions: Vec<SignedTransaction>,
    /// Local submissions waiting for the next [`GOSSIP_FLUSH_INTERVAL`] tick to be verified
    /// together (at most [`MAX_GOSSIP_BATCH`]; see [`Runtime::on_commands`]).
    pending_local: Vec<(SignedTransaction, crate::verifier::Reply)>,
    verifier: Verifier,
    sync_in_flight: bool,
    sync_sender: mpsc::Sender<Vec<(Block, CommitCertificate)>>,
    height_started: Instant,
    rejected: BTreeMap<String, u64>,
    /// The validators and approved newcomers the network admits, as last read from the state.
    members: Vec<Validator>,
    /// Height at which this node last sent a `ValidatorReady`.
    ready_sent_at: Option<Height>,
    /// Where signed statements are logged, when [`SIGNED_LOG_ENV`] names a file.
    signed_log: Option<std::fs::File>,
    /// Test builds only: what this node does to attack its peers, if anything.
    #[cfg(feature = "byzantine")]
    attacker: Option<crate::byzantine::Attacker>,
}

/// Environment variable naming a file to append every signed consensus statement to (fault
/// harnesses use it to check for equivocation; unset in production).
pub const SIGNED_LOG_ENV: &str = "CASSIA_SIGNED_LOG";

/// A newcomer proves readiness only when its latest block is this fresh (it has caught up).
const READY_MAX_AGE_MS: u64 = 10_000;
/// Blocks between two readiness transactions while still pending.
const READY_RESEND_BLOCKS: Height = 5;

/// Milliseconds since the Unix epoch: the only clock reading the engine gets.
fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Opens the engine over `store` with the node's key and mempool limits.
pub fn open_engine(
    store: ChainStore,
    key: &Keypair,
    limits: MempoolLimits,
) -> Result<Engine<ChainStore, NodeMempool>, EngineError> {
    let genesis = store.genesis().clone();
    let next_height = store.tip()?.height.saturating_add(1);
    let mempool = NodeMempool::new(
        genesis.chain_id.clone(),
        genesis.parameters.clone(),
        limits,
        next_height,
    );
    let config = EngineConfig {
        chain_id: genesis.chain_id.clone(),
        parameters: genesis.parameters,
        key: key.clone(),
    };
    Engine::open(config, store, mempool)
}

/// What the loop is started with.
pub struct RuntimeParts {
    /// The engine, opened on the node's store.
    pub engine: Engine<ChainStore, NodeMempool>,
    /// The running network.
    pub network: NetworkHandle,
    /// The network's events.
    pub events: mpsc::Receiver<NetworkEvent>,
    /// Requests from inside the process (gRPC submissions).
    pub commands: mpsc::Receiver<NodeCommand>,
    /// The metrics the loop updates.
    pub metrics: Arc<Metrics>,
    /// Where the loop publishes the head.
    pub head: HeadSender,
    /// Test builds only: the Byzantine behaviours this node runs (see [`crate::byzantine`]).
    #[cfg(feature = "byzantine")]
    pub attacker: Option<crate::byzantine::Attacker>,
}

impl Runtime {
    /// Runs the loop until `shutdown` resolves or the engine fails.
    pub async fn run(
        parts: RuntimeParts,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), EngineError> {
        let mut events = parts.events;
        let mut commands = parts.commands;
        let engine = parts.engine;
        let genesis = engine.store().genesis().clone();
        let (sync_sender, mut synced) = mpsc::channel(SYNC_QUEUE);
        let (verifier, mut verified) = Verifier::new();
        let mut runtime = Runtime {
            engine,
            network: parts.network,
            metrics: parts.metrics,
            head: parts.head,
            genesis,
            view_timer: None,
            propose_at: None,
            outgoing_transactions: Vec::new(),
            pending_local: Vec::new(),
            verifier,
            sync_in_flight: false,
            sync_sender,
            height_started: Instant::now(),
            rejected: BTreeMap::new(),
            members: Vec::new(),
            ready_sent_at: None,
            signed_log: std::env::var_os(SIGNED_LOG_ENV).and_then(|path| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .ok()
            }),
            #[cfg(feature = "byzantine")]
            attacker: parts.attacker,
        };
        let tip = runtime.engine.store().tip()?;
        runtime
            .metrics
            .set_tip(tip.height, tip.block_hash, tip.state_root);
        let output = runtime.engine.start(now_ms())?;
        runtime.apply(output).await;
        let mut flush = tokio::time::interval(GOSSIP_FLUSH_INTERVAL);
        let mut catch_up = tokio::time::interval(CATCH_UP_POLL);
        tokio::pin!(shutdown);
        loop {
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            let view_deadline = runtime.view_timer.map_or(far, |t| t.0);
            let propose_deadline = runtime.propose_at.map_or(far, |p| p.0);
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                Some(event) = events.recv() => runtime.on_network_event(event).await?,
                Some(command) = commands.recv(), if runtime.pending_local.len() < MAX_GOSSIP_BATCH => {
                    runtime.on_commands(command, &mut commands).await;
                }
                Some(batch) = verified.recv() => {
                    runtime.verifier.finished(&batch);
                    runtime.admit_verified(batch).await;
                    // A full list of local submissions may have waited for that batch.
                    if runtime.pending_local.len() >= MAX_GOSSIP_BATCH {
                        runtime.verify_local().await;
                    }
                }
                Some(blocks) = synced.recv() => runtime.on_synced(blocks).await?,
                () = sleep_until(view_deadline), if runtime.view_timer.is_some() => runtime.on_view_timer().await?,
                () = sleep_until(propose_deadline), if runtime.propose_at.is_some() => runtime.on_propose().await?,
                _ = flush.tick() => {
                    runtime.verify_local().await;
                    runtime.flush_transactions().await;
                }
                _ = catch_up.tick() => runtime.poll_for_blocks(),
            }
        }
    }

    async fn on_network_event(&mut self, event: NetworkEvent) -> Result<(), EngineError> {
        match event {
            NetworkEvent::Consensus(message) => self.on_consensus_message(message).await?,
            NetworkEvent::Transactions(message) => self.on_transaction_batch(message).await,
            NetworkEvent::SyncRequest(request) => self.on_sync_request(request).await?,
            NetworkEvent::PeerConnected(_) | NetworkEvent::PeerDisconnected(_) => {
                self.metrics.peers.store(
                    self.network.connected_peers().len() as u64,
                    Ordering::Relaxed,
                );
                self.publish_head();
            }
        }
        Ok(())
    }

    /// Gossip validation: relay a consensus message only if it decodes and its signature holds.
    /// Whether it is useful (height, view, quorum rules) is the replica's business.
    async fn on_consensus_message(&mut self, gossip: GossipMessage) -> Result<(), EngineError> {
        let cap = cassia_engine::message_cap(&self.genesis.parameters);
        let verdict = match cassia_consensus::Message::from_bytes(&gossip.data, cap) {
            Ok(message) if message.verify_signature().is_ok() => {
                let output = self.engine.on_message(message, now_ms())?;
                self.apply(output).await;
                Validation::Accept
            }
            Ok(_) => self.reject("consensus_bad_signature"),
            Err(_) => self.reject("consensus_malformed"),
        };
        let _ = self
            .network
            .report_validation(gossip.validation, verdict)
            .await;
        self.refresh_rejections();
        Ok(())
    }

    fn reject(&mut self, reason: &str) -> Validation {
        *self.rejected.entry(reason.to_string()).or_insert(0) += 1;
        Validation::Reject
    }

    /// A peer's transaction batch: its signatures are verified off the loop, then it is
    /// admitted ([`Runtime::admit_verified`]).
    async fn on_transaction_batch(&mut self, gossip: GossipMessage) {
        let verdict = match codec::decode::<Vec<SignedTransaction>>(&gossip.data) {
            Err(_) => self.reject("transactions_malformed"),
            Ok(batch) if batch.len() > MAX_GOSSIP_BATCH => {
                self.reject("transactions_batch_too_large")
            }
            Ok(transactions) => {
                let batch = Batch::Gossip {
                    validation: gossip.validation,
                    transactions,
                };
                return self.verify(batch).await;
            }
        };
        let _ = self
            .network
            .report_validation(gossip.validation, verdict)
            .await;
    }

    /// Starts verifying `batch`'s signatures, except those of transactions already pending or
    /// committed: admission refuses them as duplicates before it looks at a signature, and a
    /// gossip batch often arrives after the block that holds its transactions.
    async fn verify(&mut self, batch: Batch) {
        let store = self.engine.store();
        let mempool = self.engine.mempool();
        let wanted: Vec<bool> = batch
            .transactions()
            .iter()
            .map(|tx| {
                let id = tx.id();
                !mempool.contains(&id) && !store.contains_tx(&id).unwrap_or(false)
            })
            .collect();
        if let Some(verified) = self.verifier.start(batch, wanted) {
            self.admit_verified(verified).await;
        }
    }

    /// Admits a batch whose signatures have been checked. A gossip batch holding a forged or
    /// malformed transaction is rejected (not relayed); one with merely stale or duplicate
    /// transactions is relayed. Local submitters get their answers.
    async fn admit_verified(&mut self, verified: Verified) {
        let Verified { batch, checks } = verified;
        match batch {
            Batch::Gossip {
                validation,
                transactions,
            } => {
                let mut verdict = Validation::Accept;
                for (tx, check) in transactions.into_iter().zip(checks) {
                    // Stale, duplicate or pool-full answers are normal under load, not misbehaviour.
                    if let Err(
                        Rejection::BadSignature
                        | Rejection::WrongChain { .. }
                        | Rejection::Malformed(_),
                    ) = self.admit(tx, check)
                    {
                        verdict = self.reject("transactions_invalid");
                    }
                }
                let _ = self.network.report_validation(validation, verdict).await;
            }
            Batch::Local(submissions) => {
                for ((tx, reply), check) in submissions.into_iter().zip(checks) {
                    let result = self.admit(tx.clone(), check);
                    if result.is_ok() {
                        self.outgoing_transactions.push(tx);
                    }
                    let _ = reply.send(result);
                }
                // They waited for a tick before verification, so they are gossiped now, not
                // at the next one.
                self.flush_transactions().await;
            }
        }
    }

    fn admit(
        &mut self,
        tx: SignedTransaction,
        signature: SignatureCheck,
    ) -> Result<Hash, Rejection> {
        let next_height = self.engine.replica().height().max(1);
        cassia_ledger::execution::check_permission(next_height, self.engine.store().state(), &tx)?;
        let committed = self.engine.store().contains_tx(&tx.id()).unwrap_or(true);
        let result = self
            .engine
            .mempool_mut()
            .admit(tx, |_| committed, signature);
        self.metrics
            .mempool_size
            .store(self.engine.mempool_mut().len() as u64, Ordering::Relaxed);
        result
    }

    /// Local submissions: `first` and whatever else is already queued join
    /// [`Runtime::pending_local`], which is verified as one batch at the next flush tick, or at
    /// once when it holds [`MAX_GOSSIP_BATCH`].
    ///
    /// Why wait for the tick: at a steady rate submissions arrive one by one, and a signature
    /// verified alone costs about twice what it costs in a batch of 64, on the event loop (see
    /// BENCHMARKS.md: in interleaved runs this saved about 2% of node CPU, within noise). The
    /// wait costs a transaction nothing on its way to a block: its gossip batch leaves right
    /// after the verification (see [`Runtime::admit_verified`]), where it used to wait for the
    /// tick after it. Only the submitter's answer comes up to one tick later.
    async fn on_commands(&mut self, first: NodeCommand, queue: &mut mpsc::Receiver<NodeCommand>) {
        let mut next = Some(first);
        while let Some(NodeCommand::Submit(tx, reply)) = next {
            self.pending_local.push((tx, reply));
            next = if self.pending_local.len() < MAX_GOSSIP_BATCH {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        if self.pending_local.len() >= MAX_GOSSIP_BATCH {
            self.verify_local().await;
        }
    }

    /// Starts verifying the pending local submissions as one batch, unless a batch of them is
    /// being verified already (the pending ones then wait for it: one local batch at a time
    /// keeps them in order and lets them gather).
    async fn verify_local(&mut self) {
        if self.pending_local.is_empty() || self.verifier.local_in_flight() {
            return;
        }
        let submissions = std::mem::take(&mut self.pending_local);
        self.verify(Batch::Local(submissions)).await;
    }

    async fn flush_transactions(&mut self) {
        while !self.outgoing_transactions.is_empty() {
            let take = self.outgoing_transactions.len().min(MAX_GOSSIP_BATCH);
            let batch: Vec<SignedTransaction> = self.outgoing_transactions.drain(..take).collect();
            // With no peers yet the batch is only in our mempool; it still commits when we lead.
            let _ = self
                .network
                .publish_transactions(codec::encode(&batch))
                .await;
        }
    }

    /// Serves up to [`MAX_SYNC_RESPONSE_BLOCKS`] committed blocks with certificates, trimmed to
    /// the message cap.
    async fn on_sync_request(&mut self, request: SyncRequest) -> Result<(), EngineError> {
        #[cfg(feature = "byzantine")]
        if let Some(answer) = self.attacker.as_mut().and_then(|a| a.sync_response()) {
            let _ = self.network.respond(request.request_id, answer).await;
            return Ok(());
        }
        let blocks = match codec::decode::<(Height, Height)>(&request.data) {
            Ok((from, to)) if from >= 1 && from <= to => {
                let to = to.min(from.saturating_add(MAX_SYNC_RESPONSE_BLOCKS - 1));
                self.engine.serve_blocks(from, to).unwrap_or_default()
            }
            // A request no honest node sends: answered with nothing, and counted.
            _ => {
                self.reject("sync_request_malformed");
                Vec::new()
            }
        };
        let mut blocks = blocks;
        let cap = self.network_cap();
        let mut bytes = codec::encode(&blocks);
        while bytes.len() > cap && !blocks.is_empty() {
            blocks.truncate(blocks.len() / 2);
            bytes = codec::encode(&blocks);
        }
        let _ = self.network.respond(request.request_id, bytes).await;
        Ok(())
    }

    fn network_cap(&self) -> usize {
        sync_response_cap(&self.genesis.parameters)
    }

    async fn on_synced(
        &mut self,
        blocks: Vec<(Block, CommitCertificate)>,
    ) -> Result<(), EngineError> {
        self.sync_in_flight = false;
        for (block, certificate) in blocks {
            let output = self.engine.on_synced_block(block, certificate, now_ms())?;
            self.apply(output).await;
        }
        Ok(())
    }

    async fn on_view_timer(&mut self) -> Result<(), EngineError> {
        let Some((_, height, view, generation)) = self.view_timer.take() else {
            return Ok(());
        };
        let output = self.engine.on_timer(height, view, generation, now_ms())?;
        self.apply(output).await;
        Ok(())
    }

    async fn on_propose(&mut self) -> Result<(), EngineError> {
        let Some((_, height, view)) = self.propose_at.take() else {
            return Ok(());
        };
        let output = self.engine.propose(height, view, now_ms())?;
        self.apply(output).await;
        Ok(())
    }

    /// Carries out an engine output: everything in it is already durable.
    async fn apply(&mut self, output: Output) {
        for outgoing in output.messages {
            self.log_signed(&outgoing.message);
            // Gossip reaches every validator; one addressed to a single validator is ignored
            // by the others as a duplicate or stale statement.
            let _ = self
                .network
                .publish_consensus(outgoing.message.to_bytes())
                .await;
            #[cfg(feature = "byzantine")]
            self.publish_twins(&outgoing.message).await;
        }
        match output.timer {
            Some(TimerCommand::Set {
                height,
                view,
                generation,
                after_ms,
            }) => {
                let deadline = tokio::time::Instant::now() + Duration::from_millis(after_ms);
                self.view_timer = Some((deadline, height, view, generation));
            }
            Some(TimerCommand::Cancel) => self.view_timer = None,
            None => {}
        }
        if let Some((height, view)) = output.propose {
            self.propose_at = Some((self.proposal_deadline(height), height, view));
        }
        for fetch in output.fetch {
            self.start_fetch(fetch.from, fetch.to, &fetch.peers);
        }
        for commit in &output.committed {
            self.on_committed(commit);
        }
        for evidence in &output.evidence {
            tracing::warn!(?evidence, "misbehaviour seen");
        }
        self.update_consensus_metrics();
    }

    /// When to propose block `height`: one block interval (in force at that height) after the
    /// tip's timestamp, i.e. after the previous proposal was built, not after it committed.
    /// Under load, validating and committing a block takes a good part of the interval; counting
    /// the interval from the commit would add that time again to every block and leave the
    /// chain idle while transactions wait. A leader whose interval has already passed (a slow
    /// commit, a view change) proposes at once.
    fn proposal_deadline(&self, height: Height) -> tokio::time::Instant {
        let store = self.engine.store();
        let interval_ms = store
            .parameters(height)
            .map_or(self.genesis.parameters.block_interval_ms, |p| {
                p.block_interval_ms
            });
        let tip_ms = store
            .tip()
            .map_or_else(|_| now_ms(), |tip| tip.timestamp_ms);
        let due_ms = tip_ms.saturating_add(interval_ms);
        let wait_ms = due_ms.saturating_sub(now_ms()).min(interval_ms);
        tokio::time::Instant::now() + Duration::from_millis(wait_ms)
    }

    fn on_committed(&mut self, commit: &cassia_consensus::Commit) {
        let height = commit.block.height();
        let transactions = commit.block.transactions.len();
        // The engine already removed the block's transactions from the pool when it committed.
        self.engine
            .mempool_mut()
            .advance_to(height.saturating_add(1));
        self.metrics
            .set_tip(height, commit.block.hash(), commit.block.header.state_root);
        self.metrics.commits.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .committed_transactions
            .fetch_add(transactions as u64, Ordering::Relaxed);
        self.metrics
            .observe_commit_latency(self.height_started.elapsed().as_secs_f64());
        self.height_started = Instant::now();
        // From the leader's timestamp to this commit: how long consensus took on this block.
        let since_proposal_ms = now_ms().saturating_sub(commit.block.header.timestamp_ms);
        tracing::info!(
            height,
            hash = %commit.block.hash().short(),
            txs = transactions,
            since_proposal_ms,
            "committed"
        );
        self.follow_governance(
            height,
            commit.block.hash(),
            commit.block.header.timestamp_ms,
        );
    }

    /// After a commit: connect to the validators (and approved newcomers) the chain now names,
    /// refusing removed ones; and, if this node is an approved newcomer that has caught up,
    /// prove it with a `ValidatorReady` transaction so it can join the set.
    fn follow_governance(&mut self, height: Height, block_hash: Hash, timestamp_ms: u64) {
        let store = self.engine.store().store();
        let read = |key: &[u8]| store.state_get(key).ok().flatten();
        let set: Option<ValidatorSet> = read(keys::VALIDATORS).and_then(|b| codec::decode(&b).ok());
        let pending: Vec<PendingValidator> = read(keys::PENDING_VALIDATORS)
            .and_then(|b| codec::decode(&b).ok())
            .unwrap_or_default();
        let Some(set) = set else { return };
        let mut members: Vec<Validator> = set.validators.clone();
        members.extend(pending.iter().map(|p| p.validator.clone()));
        if members != self.members {
            let list: Vec<Member> = members
                .iter()
                .map(|v| Member::new(v.node_key, v.p2p_address.parse().ok()))
                .collect();
            let network = self.network.clone();
            tokio::spawn(async move {
                if let Err(error) = network.set_members(&list).await {
                    tracing::warn!(%error, "could not update the network membership");
                }
            });
            tracing::info!(
                validators = set.len(),
                pending = pending.len(),
                "membership updated"
            );
            self.members = members;
        }
        let me = self.engine.node_key().public();
        let caught_up = now_ms().saturating_sub(timestamp_ms) < READY_MAX_AGE_MS;
        let due = self
            .ready_sent_at
            .is_none_or(|sent| height >= sent.saturating_add(READY_RESEND_BLOCKS));
        if caught_up && due && pending.iter().any(|p| p.validator.node_key == me) {
            let tx = Transaction {
                chain_id: self.genesis.chain_id.clone(),
                signer: me,
                nonce: height,
                valid_until: height.saturating_add(READY_RESEND_BLOCKS),
                op: Operation::ValidatorReady { height, block_hash },
            }
            .sign(self.engine.node_key());
            if self.admit(tx.clone(), SignatureCheck::Unchecked).is_ok() {
                self.outgoing_transactions.push(tx);
                tracing::info!(height, "approved as a validator: sent readiness");
            }
            self.ready_sent_at = Some(height);
        }
    }

    fn update_consensus_metrics(&mut self) {
        let replica = self.engine.replica();
        self.metrics.view.store(replica.view(), Ordering::Relaxed);
        self.metrics
            .view_changes
            .store(replica.stats().view_changes, Ordering::Relaxed);
        self.metrics
            .mempool_size
            .store(self.engine.mempool_mut().len() as u64, Ordering::Relaxed);
        self.metrics
            .refused_connections
            .store(self.network.refused_connections(), Ordering::Relaxed);
        self.refresh_rejections();
        self.publish_head();
    }

    /// Test builds only: publishes the Byzantine twins of `message` (conflicting statements
    /// signed with this node's key), logging each as signed, so the fault harness's
    /// equivocation check must flag this node.
    #[cfg(feature = "byzantine")]
    async fn publish_twins(&mut self, message: &cassia_consensus::Message) {
        let Some(attacker) = self.attacker.as_mut() else {
            return;
        };
        for twin in attacker.twins(self.engine.node_key(), message) {
            self.log_signed(&twin);
            let _ = self.network.publish_consensus(twin.to_bytes()).await;
        }
    }

    /// Test instrumentation: with [`SIGNED_LOG_ENV`] set, one line per consensus statement this
    /// node signs (`height view kind signer statement-hash`), before it leaves, so a fault
    /// harness can prove no honest node ever signed two statements for one (height, view, kind).
    fn log_signed(&mut self, message: &cassia_consensus::Message) {
        use std::io::Write as _;
        let Some(log) = self.signed_log.as_mut() else {
            return;
        };
        let kind = message.kind();
        if message.sender != self.engine.node_key().public()
            || kind == cassia_consensus::StatementKind::Decided
        {
            return;
        }
        let statement = Hash::of(&message.payload.signing_bytes(&message.chain_id));
        let _ = writeln!(
            log,
            "{} {} {kind:?} {} {statement}",
            message.height(),
            message.view(),
            message.sender.to_hex()
        );
    }

    /// Publishes the head if it changed (readers wake only on a change).
    fn publish_head(&self) {
        let replica = self.engine.replica();
        let (height, block_hash, state_root) = self.metrics.tip();
        let view = replica.view();
        let next = Head {
            height,
            block_hash,
            state_root,
            view,
            leader: replica
                .validators()
                .leader(height.saturating_add(1), view)
                .node_key,
            peers: self
                .network
                .connected_peers()
                .iter()
                .map(ToString::to_string)
                .collect(),
        };
        self.head.send_if_modified(|current| {
            let changed = *current != next;
            if changed {
                *current = next;
            }
            changed
        });
    }

    fn refresh_rejections(&self) {
        let mut counts = self.rejected.clone();
        for (reason, count) in self.engine.replica().stats().drops.iter() {
            // Added, not inserted: the replica's `Malformed` and the runtime's undecodable
            // messages share the name `consensus_malformed`.
            let name = format!("consensus_{}", snake_case(&format!("{reason:?}")));
            let total = counts.entry(name).or_insert(0);
            *total = total.saturating_add(count);
        }
        self.metrics.set_rejected(counts);
    }

    /// Without a commit for [`CATCH_UP_AFTER`], asks the connected peers for the blocks after
    /// the tip.
    fn poll_for_blocks(&mut self) {
        if self.height_started.elapsed() < CATCH_UP_AFTER {
            return;
        }
        let Ok(tip) = self.engine.store().tip() else {
            return;
        };
        let from = tip.height.saturating_add(1);
        let peers = self.network.connected_peers();
        self.fetch_from(
            from,
            from.saturating_add(MAX_SYNC_RESPONSE_BLOCKS - 1),
            peers,
        );
    }

    /// Asks one peer (the first that answers) for blocks `from..=to`; one fetch at a time.
    fn start_fetch(&mut self, from: Height, to: Height, peers: &[PublicKey]) {
        let peers: Vec<PeerId> = peers.iter().filter_map(|key| key.peer_id().ok()).collect();
        self.fetch_from(from, to, peers);
    }

    fn fetch_from(&mut self, from: Height, to: Height, peers: Vec<PeerId>) {
        if self.sync_in_flight || peers.is_empty() {
            return;
        }
        self.sync_in_flight = true;
        let network = self.network.clone();
        let sender = self.sync_sender.clone();
        let cap = self.network_cap();
        tokio::spawn(async move {
            let request = codec::encode(&(from, to));
            for peer in peers {
                let Ok(bytes) = network.request(peer, request.clone()).await else {
                    continue;
                };
                let decoded = codec::decode_capped::<Vec<(Block, CommitCertificate)>>(&bytes, cap);
                if let Ok(blocks) = decoded
                    && !blocks.is_empty()
                {
                    let _ = sender.send(blocks).await;
                    return;
                }
            }
            let _ = sender.send(Vec::new()).await;
        });
    }
}

/// Largest encoded sync response, served or accepted, on a chain with `parameters`: two maximal
/// blocks' worth (a response is trimmed to fit; a larger one is refused undecoded).
pub fn sync_response_cap(parameters: &cassia_ledger::Parameters) -> usize {
    usize::try_from(parameters.max_block_bytes)
        .unwrap_or(usize::MAX)
        .saturating_mul(2)
}

/// The validator set in force for the next block and the approved newcomers, from the
/// committed state: the peers the network admits.
pub fn network_members(store: &ChainStore) -> Option<(ValidatorSet, Vec<PendingValidator>)> {
    let read = |key: &[u8]| store.store().state_get(key).ok().flatten();
    let set: ValidatorSet = codec::decode(&read(keys::VALIDATORS)?).ok()?;
    let pending: Vec<PendingValidator> = read(keys::PENDING_VALIDATORS)
        .and_then(|b| codec::decode(&b).ok())
        .unwrap_or_default();
    Some((set, pending))
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (index, c) in name.chars().enumerate() {
        if c.is_uppercase() && index > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}
