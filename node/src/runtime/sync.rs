//! Block sync: serving committed blocks with their certificates to peers, and fetching the
//! blocks this node lacks. The engine checks every fetched block's certificate against the
//! validator set in force at its height and re-executes it before it commits; this room only
//! moves bytes and owns the one fetch in flight.
//!
//! **Wire format.** A request is the canonical encoding of `(from, to): (Height, Height)`; a
//! response is the encoding of `Vec<(Block, CommitCertificate)>`, at most
//! [`MAX_SYNC_RESPONSE_BLOCKS`] blocks, trimmed to [`sync_response_cap`] bytes. A larger response
//! is refused undecoded.
//!
//! **Serving off the loop.** Reading up to 64 blocks is disk work; it runs on tokio's blocking
//! pool, not the consensus loop, at most [`MAX_SERVES_IN_FLIGHT`] at once, and each peer may be
//! served at most [`SERVE_BUDGET_BYTES_PER_PEER`] per [`SERVE_BUDGET_WINDOW`]. A request beyond
//! either bound is answered with nothing at once and counted (`sync_request_busy`,
//! `sync_request_over_budget`): an honest node asks again later or asks another peer.
//!
//! **Bounds.** One fetch is in flight at a time (its result arrives on a channel of
//! `SYNC_QUEUE`, which therefore never fills); the caps follow the chain parameters in force at
//! the next height ([`Engine::parameters`]), so a governance change of `max_block_bytes` moves them.
//! The per-peer budgets are kept for members only (the network refuses anyone else) and
//! forgotten once their window has passed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cassia_crypto::PublicKey;
use cassia_engine::Engine;
use cassia_ledger::{Block, CommitCertificate, Height, Parameters, codec};
use cassia_storage::Database;
use libp2p::PeerId;
use tokio::sync::mpsc;

use super::telemetry::Telemetry;
use crate::chain_store::ChainStore;
use crate::interceptor::Interceptor;
use crate::network::{NetworkHandle, SyncRequest};

/// Blocks sent in one sync response at most (also capped by the message size).
pub const MAX_SYNC_RESPONSE_BLOCKS: u64 = 64;
/// How often a node that has committed nothing for a while asks its peers for newer blocks.
pub const CATCH_UP_POLL: Duration = Duration::from_secs(1);
/// How long without a commit before a node polls for blocks. Validators normally learn of
/// newer blocks from consensus (certificates answering their view changes); a node that does
/// not vote (an approved newcomer following the chain) learns them only by asking.
pub const CATCH_UP_AFTER: Duration = Duration::from_secs(2);
/// Fetched blocks waiting for the loop; one fetch is in flight at a time, so this never fills.
const SYNC_QUEUE: usize = 4;
/// Sync responses being read and sent at once, off the event loop.
pub const MAX_SERVES_IN_FLIGHT: usize = 4;
/// Encoded bytes one peer may be served per [`SERVE_BUDGET_WINDOW`]: eight maximal responses
/// of the default parameters, or thousands of ordinary blocks.
pub const SERVE_BUDGET_BYTES_PER_PEER: usize = 64 * 1024 * 1024;
/// The window of [`SERVE_BUDGET_BYTES_PER_PEER`].
pub const SERVE_BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// Blocks fetched from a peer, in height order (empty when no peer had any).
pub type Fetched = Vec<(Block, CommitCertificate)>;

/// Largest encoded sync response, served or accepted, on a chain with `parameters`: two maximal
/// blocks' worth (a response is trimmed to fit; a larger one is refused undecoded).
pub fn sync_response_cap(parameters: &Parameters) -> usize {
    usize::try_from(parameters.max_block_bytes)
        .unwrap_or(usize::MAX)
        .saturating_mul(2)
}

/// The block-sync room.
pub struct BlockSync {
    in_flight: bool,
    fetched: mpsc::Sender<Fetched>,
    database: Arc<Database>,
    serving: Arc<AtomicUsize>,
    budgets: Arc<Mutex<BTreeMap<PeerId, Budget>>>,
}

/// What a peer has been served in its current window.
#[derive(Clone, Copy, Debug)]
struct Budget {
    since: Instant,
    bytes: usize,
}

impl BlockSync {
    /// A room serving from `database` with nothing in flight, and the receiver its fetches
    /// answer on (the loop selects on it and hands each answer to [`BlockSync::on_fetched`]).
    pub fn new(database: Arc<Database>) -> (BlockSync, mpsc::Receiver<Fetched>) {
        let (fetched, receiver) = mpsc::channel(SYNC_QUEUE);
        let sync = BlockSync {
            in_flight: false,
            fetched,
            database,
            serving: Arc::new(AtomicUsize::new(0)),
            budgets: Arc::new(Mutex::new(BTreeMap::new())),
        };
        (sync, receiver)
    }

    /// Serves a peer's request: up to [`MAX_SYNC_RESPONSE_BLOCKS`] committed blocks with
    /// certificates, trimmed to the cap, read and sent off the loop. A request no honest node
    /// sends, or one beyond the serving bounds, is answered with nothing, and counted.
    pub async fn serve(
        &self,
        engine: &Engine<ChainStore>,
        network: &NetworkHandle,
        interceptor: &mut dyn Interceptor,
        telemetry: &mut Telemetry,
        request: SyncRequest,
    ) {
        if let Some(answer) = interceptor.sync_request(&request.data) {
            let _ = network.respond(request.request_id, answer).await;
            return;
        }
        let refusal = match served_range(&request.data) {
            Some((from, to)) => {
                let cap = sync_response_cap(engine.parameters());
                match self.start_serving(
                    network,
                    (request.peer, request.request_id),
                    (from, to),
                    cap,
                ) {
                    Ok(()) => return,
                    Err(reason) => reason,
                }
            }
            None => "sync_request_malformed",
        };
        telemetry.reject(refusal);
        let nothing: Fetched = Vec::new();
        let _ = network
            .respond(request.request_id, codec::encode(&nothing))
            .await;
    }

    /// Reads and sends blocks `from..=to` for `peer` on the blocking pool, or says which bound
    /// refuses it.
    fn start_serving(
        &self,
        network: &NetworkHandle,
        request: (PeerId, libp2p::request_response::InboundRequestId),
        (from, to): (Height, Height),
        cap: usize,
    ) -> Result<(), &'static str> {
        let (peer, request_id) = request;
        if self.serving.load(Ordering::Relaxed) >= MAX_SERVES_IN_FLIGHT {
            return Err("sync_request_busy");
        }
        if !has_budget(&self.budgets, peer, Instant::now()) {
            return Err("sync_request_over_budget");
        }
        let serving = InFlight::start(&self.serving);
        let (database, budgets, network) = (
            Arc::clone(&self.database),
            Arc::clone(&self.budgets),
            network.clone(),
        );
        tokio::spawn(async move {
            let _serving = serving;
            let read = tokio::task::spawn_blocking(move || read_blocks(&database, from, to, cap));
            let bytes = read
                .await
                .unwrap_or_else(|_| codec::encode(&Fetched::new()));
            charge(&budgets, peer, bytes.len(), Instant::now());
            let _ = network.respond(request_id, bytes).await;
        });
        Ok(())
    }

    /// The fetch in flight answered.
    pub fn on_fetched(&mut self) {
        self.in_flight = false;
    }

    /// Without a commit for [`CATCH_UP_AFTER`], asks the connected peers for the blocks after
    /// the tip.
    pub fn poll(
        &mut self,
        engine: &Engine<ChainStore>,
        network: &NetworkHandle,
        since_last_commit: Duration,
        tip: Height,
    ) {
        if since_last_commit < CATCH_UP_AFTER {
            return;
        }
        let from = tip.saturating_add(1);
        let to = from.saturating_add(MAX_SYNC_RESPONSE_BLOCKS - 1);
        self.fetch_from(engine, network, from, to, network.connected_peers());
    }

    /// Asks one of `peers` (the first that answers) for blocks `from..=to`, as the engine
    /// asked; one fetch at a time.
    pub fn fetch(
        &mut self,
        engine: &Engine<ChainStore>,
        network: &NetworkHandle,
        fetch: &cassia_engine::Fetch,
    ) {
        let peers = peer_ids(&fetch.peers);
        self.fetch_from(engine, network, fetch.from, fetch.to, peers);
    }

    fn fetch_from(
        &mut self,
        engine: &Engine<ChainStore>,
        network: &NetworkHandle,
        from: Height,
        to: Height,
        peers: Vec<PeerId>,
    ) {
        if self.in_flight || peers.is_empty() {
            return;
        }
        self.in_flight = true;
        let network = network.clone();
        let sender = self.fetched.clone();
        let cap = sync_response_cap(engine.parameters());
        tokio::spawn(async move {
            let request = codec::encode(&(from, to));
            for peer in peers {
                let Ok(bytes) = network.request(peer, request.clone()).await else {
                    continue;
                };
                let decoded = codec::decode_capped::<Fetched>(&bytes, cap);
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

fn peer_ids(keys: &[PublicKey]) -> Vec<PeerId> {
    keys.iter().filter_map(|key| key.peer_id().ok()).collect()
}

/// The heights a sync request asks for, as served: `(from, to)` with `1 <= from <= to`, at
/// most [`MAX_SYNC_RESPONSE_BLOCKS`] of them; `None` for a request no honest node sends (it does
/// not decode, or names no height).
pub fn served_range(request: &[u8]) -> Option<(Height, Height)> {
    match codec::decode::<(Height, Height)>(request) {
        Ok((from, to)) if from >= 1 && from <= to => Some((
            from,
            to.min(from.saturating_add(MAX_SYNC_RESPONSE_BLOCKS - 1)),
        )),
        _ => None,
    }
}

/// Committed blocks `from..=to` with their certificates, encoded, as many as fit in `cap`
/// bytes. A block the database cannot read ends the response there.
fn read_blocks(database: &Database, from: Height, to: Height, cap: usize) -> Vec<u8> {
    let mut blocks: Fetched = Vec::new();
    let mut size = 0usize;
    for height in from..=to {
        let entry = match (database.block(height), database.certificate(height)) {
            (Ok(Some(block)), Ok(Some(certificate))) => (block, certificate),
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(%error, height, "cannot read a block to serve a peer");
                break;
            }
            _ => break,
        };
        // Each entry's encoding is a slice of the list's; 10 bytes cover the length prefix.
        let entry_size = codec::encode(&entry).len();
        if size.saturating_add(entry_size).saturating_add(10) > cap {
            break;
        }
        size += entry_size;
        blocks.push(entry);
    }
    codec::encode(&blocks)
}

/// Whether `peer` may be served now, forgetting the windows that have passed.
fn has_budget(budgets: &Mutex<BTreeMap<PeerId, Budget>>, peer: PeerId, now: Instant) -> bool {
    let Ok(mut budgets) = budgets.lock() else {
        return false;
    };
    budgets.retain(|_, budget| now.duration_since(budget.since) < SERVE_BUDGET_WINDOW);
    budgets
        .get(&peer)
        .is_none_or(|budget| budget.bytes < SERVE_BUDGET_BYTES_PER_PEER)
}

/// Counts `bytes` served to `peer` in its current window.
fn charge(budgets: &Mutex<BTreeMap<PeerId, Budget>>, peer: PeerId, bytes: usize, now: Instant) {
    if let Ok(mut budgets) = budgets.lock() {
        let budget = budgets.entry(peer).or_insert(Budget {
            since: now,
            bytes: 0,
        });
        budget.bytes = budget.bytes.saturating_add(bytes);
    }
}

/// One response being served: counted while it lives, so a panic in the task still frees its
/// slot.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn start(counter: &Arc<AtomicUsize>) -> InFlight {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(counter))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_over_its_budget_waits_for_the_next_window() {
        let budgets = Mutex::new(BTreeMap::new());
        let (peer, other) = (PeerId::random(), PeerId::random());
        let start = Instant::now();
        assert!(has_budget(&budgets, peer, start));
        charge(&budgets, peer, SERVE_BUDGET_BYTES_PER_PEER, start);
        assert!(!has_budget(&budgets, peer, start), "spent");
        assert!(has_budget(&budgets, other, start), "budgets are per peer");
        let later = start + SERVE_BUDGET_WINDOW;
        assert!(has_budget(&budgets, peer, later), "a new window");
        assert!(
            budgets.lock().expect("not poisoned").is_empty(),
            "passed windows are forgotten"
        );
    }

    #[test]
    fn a_slot_is_freed_when_its_response_ends() {
        let counter = Arc::new(AtomicUsize::new(0));
        let first = InFlight::start(&counter);
        let second = InFlight::start(&counter);
        assert_eq!(counter.load(Ordering::Relaxed), 2);
        drop(first);
        drop(second);
        assert_eq!(counter.load(Ordering::Relaxed), 0);
    }
}
