//! Admission: how a transaction gets into the mempool, from a local submitter (gRPC) or a peer's
//! gossip batch. Signatures are verified off the loop by the verifier (`verifier.rs`); every other check is
//! the engine's one admission rule ([`Engine::admit`]), the same the simulator runs.
//!
//! ```text
//!  gRPC Submit ──> pending_local ──(flush tick, or full)──┐
//!                                                         ├─> Verifier ─> Engine::admit ─> outgoing ─> gossip
//!  peer gossip batch ─────────────────────────────────────┘                    (local answers sent)
//! ```
//!
//! **Bounds.** `pending_local` holds at most [`MAX_GOSSIP_BATCH`] submissions: while it is full
//! the loop stops taking commands, so submitters wait in the bounded command queue
//! ([`super::SUBMISSION_QUEUE`]) and then in gRPC. `outgoing` only holds transactions this node
//! admitted and drains at each flush, so it is bounded by the mempool's own limits. A gossip batch
//! of more than [`MAX_GOSSIP_BATCH`] transactions is refused (counted, not relayed), and the
//! verifier bounds the batches in flight.

use std::time::Duration;

use cassia_crypto::{GenesisHash, Hash};
use cassia_engine::{Engine, SignatureCheck};
use cassia_ledger::{Rejection, SignedTransaction, codec};
use tokio::sync::mpsc;

use super::NodeCommand;
use super::telemetry::Telemetry;
use super::verifier::{Batch, Reply, Verified, Verifier};
use crate::chain_store::ChainStore;
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
}

impl Admission {
    /// An empty room for the chain `genesis` and the receiver of its verification results (the
    /// loop selects on it and hands each back to [`Admission::on_verified`]).
    pub fn new(genesis: GenesisHash) -> (Admission, mpsc::Receiver<Verified>) {
        let (verifier, verified) = Verifier::new(genesis);
        let admission = Admission {
            verifier,
            pending_local: Vec::new(),
            outgoing: Vec::new(),
        };
        (admission, verified)
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

    /// The flush tick: verify what local submissions gathered, gossip what was admitted.
    pub async fn on_flush_tick(&mut self, context: Context<'_>) {
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
                for ((tx, reply), check) in submissions.into_iter().zip(checks) {
                    let result = admit(context.reborrow(), tx.clone(), check);
                    if result.is_ok() {
                        self.outgoing.push(tx);
                    }
                    let _ = reply.send(result);
                }
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
