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
//! **Bounds.** One fetch is in flight at a time (its result arrives on a channel of
//! `SYNC_QUEUE`, which therefore never fills); the caps follow the chain parameters in force at
//! the next height ([`Engine::parameters`]), so a governance change of `max_block_bytes` moves them.

use std::time::Duration;

use cassia_crypto::PublicKey;
use cassia_engine::Engine;
use cassia_ledger::{Block, CommitCertificate, Height, Parameters, codec};
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
}

impl BlockSync {
    /// A room with nothing in flight, and the receiver its fetches answer on (the loop selects
    /// on it and hands each answer to [`BlockSync::on_fetched`]).
    pub fn new() -> (BlockSync, mpsc::Receiver<Fetched>) {
        let (fetched, receiver) = mpsc::channel(SYNC_QUEUE);
        let sync = BlockSync {
            in_flight: false,
            fetched,
        };
        (sync, receiver)
    }

    /// Serves a peer's request: up to [`MAX_SYNC_RESPONSE_BLOCKS`] committed blocks with
    /// certificates, trimmed to the cap. A request no honest node sends is answered with
    /// nothing, and counted.
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
        let mut blocks = match codec::decode::<(Height, Height)>(&request.data) {
            Ok((from, to)) if from >= 1 && from <= to => {
                let to = to.min(from.saturating_add(MAX_SYNC_RESPONSE_BLOCKS - 1));
                // A store that cannot read answers nothing; its writes (what consensus needs)
                // stop the node on their own.
                engine.serve_blocks(from, to).unwrap_or_else(|error| {
                    tracing::warn!(%error, from, to, "cannot read blocks to serve a peer");
                    Vec::new()
                })
            }
            _ => {
                telemetry.reject("sync_request_malformed");
                Vec::new()
            }
        };
        let cap = sync_response_cap(engine.parameters());
        let mut bytes = codec::encode(&blocks);
        while bytes.len() > cap && !blocks.is_empty() {
            blocks.truncate(blocks.len() / 2);
            bytes = codec::encode(&blocks);
        }
        let _ = network.respond(request.request_id, bytes).await;
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
