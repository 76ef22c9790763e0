//! Admission: how a transaction gets into the mempool, from a local submitter (gRPC) or a peer's
//! gossip batch. Signatures are verified off the loop by the verifier (`verifier.rs`); every other check is
//! the engine's one admission rule ([`Engine::admit`]), the same the simulator runs.
//!
//! ```text
//!  gRPC Submit ──> pending_local ──(flush tick, or full)──┐
//!                                                         ├─> Verifier ─> Engine::admit ─> outgoing ─> gossip
//!  peer gossip batch ─────────────────────────────────────┘                    │
//!                                              local: journal (one synced write), then answers
//! ```
//!
//! **Durability.** A local submitter is answered "admitted" only once the transaction is in the
//! store's journal of submissions ([`super::journal`]): a node killed right after its answer
//! replays the journal at start, so it never loses what it acknowledged.
//!
//! **Bounds.** `pending_local` holds at most [`MAX_GOSSIP_BATCH`] submissions: while it is full
//! the loop stops taking commands, so submitters wait in the bounded command queue
//! ([`super::SUBMISSION_QUEUE`]) and then in gRPC. `outgoing` only holds transactions this node
//! admitted and drains at each flush, so it is bounded by the mempool's own limits. A gossip batch
//! of more than [`MAX_GOSSIP_BATCH`] transactions is refused (counted, not relayed), and the
//! verifier bounds the batches in flight.

use std::time::Duration;

use cassia_crypto::{GenesisHash, Hash};
use cassia_engine::{Engine, EngineError, SignatureCheck};
use cassia_ledger::{Rejection, SignedTransaction, codec};
use tokio::sync::mpsc;

use super::NodeCommand;
use super::journal::Journal;
use super::telemetry::Telemetry;
use super::verifier::{Batch, Reply, Verified, Verifier};
use crate::chain_store::{ChainStore, store_error};
use crate::network::{GossipMessage, NetworkHandle, Validation};

/// Transactions gossiped in one batch message, and local submissions verified in one batch.
pub const MAX_GOSSIP_BATCH: usize = 512;
/// How often admitted local transactions are gossiped as a batch.
pub const GOSSIP_FLUSH_INTERVAL: Duration = Duration::from_millis(20);

/// What the admission room needs of the rest of the runtime for one call.
pub struct Context<'a> {
    /// The engine whose admission rule and mempool are used.
    pub engine: &'a mut Engine<ChainStore>,
    /// Where verdicts and batches go.
    pub network: &'a NetworkHandle,
    /// Where rejections are counted.
    pub telemetry: &'a mut Telemetry,
}

/// The admission room.
pub struct Admission {
    verifier: Verifier,
    /// Local submissions waiting for the next [`GOSSIP_FLUSH_INTERVAL`] tick to be verified
    /// together (at most [`MAX_GOSSIP_BATCH`]; see [`Admission::on_submission`]).
    pending_local: Vec<(SignedTransaction, Reply)>,
    /// Admitted transactions to gossip at the next flush.
    outgoing: Vec<SignedTransaction>,
    /// The acknowledged local submissions still pending, kept in the store.
    journal: Journal,
}

impl Admission {
    /// The room for the chain `genesis`, with the journal of submissions `journal` (see
    /// [`Admission::replay`]), and the receiver of its verification results (the loop selects
    /// on it and hands each back to [`Admission::on_verified`]).
    pub fn new(genesis: GenesisHash, journal: Journal) -> (Admission, mpsc::Receiver<Verified>) {
        let (verifier, verified) = Verifier::new(genesis);
        let admission = Admission {
            verifier,
            pending_local: Vec::new(),
            outgoing: Vec::new(),
            journal,
        };
        (admission, verified)
    }

    /// At start: what the journal holds (acknowledged before the node stopped, perhaps never
    /// gossiped) is admitted again, signatures checked here, in the order first admitted, and
    /// gossiped at the next flush. What admission now refuses for good (committed meanwhile,
    /// expired) is forgotten; what it cannot judge now (the store failing, the pool full under
    /// smaller limits) stays in the store for the next start.
    pub fn replay(
        &mut self,
        mut context: Context<'_>,
        journaled: Vec<(u64, SignedTransaction)>,
    ) -> Result<(), EngineError> {
        let total = journaled.len();
        let (mut kept, mut refused) = (Vec::new(), Vec::new());
        for (sequence, tx) in journaled {
            let id = tx.id();
            match admit(context.reborrow(), tx.clone(), SignatureCheck::Unchecked) {
                Ok(_) => {
                    kept.push((sequence, id));
                    self.outgoing.push(tx);
                }
                Err(Rejection::Unavailable(_) | Rejection::MempoolFull) => {}
                Err(_) => refused.push(sequence),
            }
        }
        if total > 0 {
            tracing::info!(
                journaled = total,
                pending_again = kept.len(),
                forgotten = refused.len(),
                "replayed the journal of acknowledged submissions"
            );
        }
        let database = context.engine.store().database();
        self.journal
            .replayed(database, kept, &refused)
            .map_err(|e| EngineError::Store(store_error(e)))
    }

    /// A member connected: what the journal holds is gossiped again shortly (a publish made
    /// during a partition reached no one).
    pub fn peer_connected(&mut self) {
        self.journal.peer_connected(tokio::time::Instant::now());
    }

    /// Whether the loop may take another local submission now.
    pub fn has_room(&self) -> bool {
        self.pending_local.len() < MAX_GOSSIP_BATCH
    }

    /// A peer's transaction batch: its signatures are verified off the loop, then it is
    /// admitted ([`Admission::on_verified`]).
    pub async fn on_gossip(&mut self, context: Context<'_>, gossip: GossipMessage) {
        let verdict = match codec::decode::<Vec<SignedTransaction>>(&gossip.data) {
            Err(_) => context.telemetry.reject("transactions_malformed"),
            Ok(batch) if batch.len() > MAX_GOSSIP_BATCH => {
                context.telemetry.reject("transactions_batch_too_large")
            }
            Ok(transactions) => {
                let batch = Batch::Gossip {
                    validation: gossip.validation,
                    transactions,
                };
                return self.verify(context, batch).await;
            }
        };
        let _ = context
            .network
            .report_validation(gossip.validation, verdict)
            .await;
    }

    /// Local submissions: `first` and whatever else is already queued join the pending list,
    /// which is verified as one batch at the next flush tick, or at once when it holds
    /// [`MAX_GOSSIP_BATCH`].
    ///
    /// Why wait for the tick: at a steady rate submissions arrive one by one, and a signature
    /// verified alone costs about twice what it costs in a batch of 64, on the event loop (see
    /// BENCHMARKS.md: in interleaved runs this saved about 2% of node CPU, within noise). The
    /// wait costs a transaction nothing on its way to a block: its gossip batch leaves right
    /// after the verification (see [`Admission::on_verified`]), where it used to wait for the
    /// tick after it. Only the submitter's answer comes up to one tick later.
    pub async fn on_submission(
        &mut self,
        context: Context<'_>,
        first: NodeCommand,
        queue: &mut mpsc::Receiver<NodeCommand>,
    ) {
        let mut next = Some(first);
        while let Some(NodeCommand::Submit(tx, reply)) = next {
            self.pending_local.push((tx, reply));
            next = if self.has_room() {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        if !self.has_room() {
            self.verify_local(context).await;
        }
    }

    /// The flush tick: keep the journal current, verify what local submissions gathered,
    /// gossip what was admitted (and the journal again after a reconnection).
    pub async fn on_flush_tick(&mut self, context: Context<'_>) {
        let database = context.engine.store().database();
        let now = tokio::time::Instant::now();
        match self
            .journal
            .on_tick(database, context.engine.mempool(), now)
        {
            Ok(again) => {
                if !again.is_empty() {
                    tracing::debug!(
                        transactions = again.len(),
                        "a member connected: gossiping the pending journaled submissions again"
                    );
                }
                self.outgoing.extend(again);
            }
            // The store refuses writes from now on; the engine's next write stops the node.
            Err(error) => tracing::error!(%error, "cannot prune the journal of submissions"),
        }
        let network = context.network;
        self.verify_local(context).await;
        self.flush(network).await;
    }

    /// A batch came back from the verifier: admit it, then start the pending local list if it
    /// filled up meanwhile.
    pub async fn on_verified(&mut self, mut context: Context<'_>, verified: Verified) {
        self.verifier.finished(&verified);
        self.admit_verified(context.reborrow(), verified).await;
        if !self.has_room() {
            self.verify_local(context).await;
        }
    }

    /// A transaction this node made itself (a validator's readiness): admitted with its
    /// signature checked here, then gossiped with the next batch.
    pub fn submit_own(&mut self, context: Context<'_>, tx: SignedTransaction) -> bool {
        let admitted = admit(context, tx.clone(), SignatureCheck::Unchecked).is_ok();
        if admitted {
            self.outgoing.push(tx);
        }
        admitted
    }

    /// Starts verifying the pending local submissions as one batch, unless a batch of them is
    /// being verified already (the pending ones then wait for it: one local batch at a time
    /// keeps them in order and lets them gather).
    async fn verify_local(&mut self, context: Context<'_>) {
        if self.pending_local.is_empty() || self.verifier.local_in_flight() {
            return;
        }
        let submissions = std::mem::take(&mut self.pending_local);
        self.verify(context, Batch::Local(submissions)).await;
    }

    /// Starts verifying `batch`'s signatures, except those of transactions already pending or
    /// committed: admission refuses them as duplicates before it looks at a signature, and a
    /// gossip batch often arrives after the block that holds its transactions. (Where the store
    /// cannot tell, the signature is verified, and admission reports the store's failure.)
    async fn verify(&mut self, mut context: Context<'_>, batch: Batch) {
        let wanted: Vec<bool> = batch
            .transactions()
            .iter()
            .map(|tx| !context.engine.knows_transaction(&tx.id()).unwrap_or(false))
            .collect();
        if let Some(verified) = self.verifier.start(batch, wanted) {
            self.admit_verified(context.reborrow(), verified).await;
        }
    }

    /// Admits a batch whose signatures have been checked. A gossip batch holding a forged or
    /// malformed transaction is rejected (not relayed); one with merely stale or duplicate
    /// transactions is relayed. Local submitters get their answers.
    async fn admit_verified(&mut self, mut context: Context<'_>, verified: Verified) {
        let Verified { batch, checks } = verified;
        match batch {
            Batch::Gossip {
                validation,
                transactions,
            } => {
                let mut verdict = Validation::Accept;
                for (tx, check) in transactions.into_iter().zip(checks) {
                    // Stale, duplicate or pool-full answers are normal under load, not
                    // misbehaviour; nor is this node's own store failing.
                    if let Err(
                        Rejection::BadSignature
                        | Rejection::WrongChain { .. }
                        | Rejection::Malformed(_),
                    ) = admit(context.reborrow(), tx, check)
                    {
                        verdict = context.telemetry.reject("transactions_invalid");
                    }
                }
                let _ = context.network.report_validation(validation, verdict).await;
            }
            Batch::Local(submissions) => {
                let mut answers = Vec::with_capacity(submissions.len());
                let mut admitted = Vec::new();
                for ((tx, reply), check) in submissions.into_iter().zip(checks) {
                    let result = admit(context.reborrow(), tx.clone(), check);
                    if result.is_ok() {
                        admitted.push(tx);
                    }
                    answers.push((reply, result));
                }
                // The answers wait for the journal: "admitted" is said only of what a crash
                // cannot take back. If the store fails, the submitters hear it (the
                // transactions stay pending here, and a resubmission is idempotent).
                let database = context.engine.store().database();
                let journaled = self.journal.record(database, &admitted);
                if let Err(error) = &journaled {
                    tracing::error!(%error, "cannot journal admitted submissions");
                }
                for (reply, result) in answers {
                    let result = match (&journaled, result) {
                        (Err(error), Ok(_)) => Err(Rejection::Unavailable(format!(
                            "the node cannot record the submission: {error}"
                        ))),
                        (_, result) => result,
                    };
                    let _ = reply.send(result);
                }
                self.outgoing.extend(admitted);
                // They waited for a tick before verification, so they are gossiped now, not
                // at the next one.
                self.flush(context.network).await;
            }
        }
    }

    /// Gossips the admitted transactions, [`MAX_GOSSIP_BATCH`] a message.
    async fn flush(&mut self, network: &NetworkHandle) {
        while !self.outgoing.is_empty() {
            let take = self.outgoing.len().min(MAX_GOSSIP_BATCH);
            let batch: Vec<SignedTransaction> = self.outgoing.drain(..take).collect();
            // With no peers yet the batch is only in our mempool; it still commits when we lead.
            let _ = network.publish_transactions(codec::encode(&batch)).await;
        }
    }
}

impl Context<'_> {
    /// The same context for a nested call.
    fn reborrow(&mut self) -> Context<'_> {
        Context {
            engine: self.engine,
            network: self.network,
            telemetry: self.telemetry,
        }
    }
}

/// The engine's admission rule, with the mempool gauge kept current.
fn admit(
    context: Context<'_>,
    tx: SignedTransaction,
    signature: SignatureCheck,
) -> Result<Hash, Rejection> {
    let result = context.engine.admit(tx, signature);
    context.telemetry.mempool(context.engine.mempool());
    result
}
