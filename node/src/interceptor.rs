//! The one seam through which a test harness watches or bends a running node, so that no test
//! behaviour lives in the production crates (no cargo feature, no environment variable).
//!
//! `cassia node` runs with [`NoInterceptor`]. The fault suite (`cassia-tests`) builds its own
//! node binary on [`crate::start::run_with`] and passes an interceptor that logs every statement
//! the node signs, or one that attacks its peers.
//!
//! Where the runtime calls it, and what it guarantees at that point:
//!
//! | hook | called | the node has already |
//! |---|---|---|
//! | [`Interceptor::started`] | once, when everything listens | opened its store, network, gRPC and metrics |
//! | [`Interceptor::outgoing_consensus`] | for every consensus message the engine asks to send | made the message durable (persist before send) |
//! | [`Interceptor::sync_request`] | for every block-sync request from a peer | checked that the peer is a member |
//!
//! ```
//! use cassia_node::interceptor::{Interceptor, NoInterceptor};
//!
//! // Logs how many consensus messages the node sends, and sends them unchanged.
//! struct Count(u64);
//! impl Interceptor for Count {
//!     fn outgoing_consensus(
//!         &mut self,
//!         message: cassia_consensus::Message,
//!     ) -> Vec<cassia_consensus::Message> {
//!         self.0 += 1;
//!         vec![message]
//!     }
//! }
//! let _both: Box<dyn Interceptor> = Box::new((Count(0), NoInterceptor));
//! ```

use std::sync::Arc;

use cassia_consensus::Message;
use cassia_crypto::Keypair;
use cassia_ledger::Genesis;

use crate::head::HeadReceiver;
use crate::network::NetworkHandle;

/// What an interceptor may use to act on its own once the node runs.
#[derive(Clone)]
pub struct RunningNode {
    /// The node's network: an interceptor may publish or request through it.
    pub network: NetworkHandle,
    /// The chain's position as the runtime publishes it after every event.
    pub head: HeadReceiver,
    /// The node's own key (a validator's consensus key).
    pub key: Keypair,
    /// The chain the node runs.
    pub genesis: Arc<Genesis>,
}

/// Hooks into a running node; every method has a default that leaves the node unchanged.
pub trait Interceptor: Send + 'static {
    /// Called once when the node listens, before the event loop starts.
    fn started(&mut self, node: &RunningNode) {
        let _ = node;
    }

    /// A consensus message this node signed, already durable; returns what is published in its
    /// place, in order (the default: the message alone).
    fn outgoing_consensus(&mut self, message: Message) -> Vec<Message> {
        vec![message]
    }

    /// A member's block-sync request (its raw bytes); `Some(answer)` is sent instead of what the
    /// node would serve (the default: `None`, the node serves it).
    fn sync_request(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let _ = request;
        None
    }

    /// Milliseconds added to this node's wall clock, read once at start (the default: 0). The
    /// fault suite runs a node whose clock is ahead of or behind the others'.
    fn clock_offset_ms(&self) -> i64 {
        0
    }
}

/// The production interceptor: changes nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoInterceptor;

impl Interceptor for NoInterceptor {}

/// Two interceptors in turn: `first` sees each event first; what it publishes passes through
/// `second` (so a statement log placed second records every message an attacker placed first
/// sends); `first` answers a sync request if it wants to, else `second` may.
impl<A: Interceptor, B: Interceptor> Interceptor for (A, B) {
    fn started(&mut self, node: &RunningNode) {
        self.0.started(node);
        self.1.started(node);
    }

    fn outgoing_consensus(&mut self, message: Message) -> Vec<Message> {
        self.0
            .outgoing_consensus(message)
            .into_iter()
            .flat_map(|message| self.1.outgoing_consensus(message))
            .collect()
    }

    fn sync_request(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        self.0
            .sync_request(request)
            .or_else(|| self.1.sync_request(request))
    }

    fn clock_offset_ms(&self) -> i64 {
        self.0
            .clock_offset_ms()
            .saturating_add(self.1.clock_offset_ms())
    }
}

impl Interceptor for Box<dyn Interceptor> {
    fn started(&mut self, node: &RunningNode) {
        self.as_mut().started(node);
    }

    fn outgoing_consensus(&mut self, message: Message) -> Vec<Message> {
        self.as_mut().outgoing_consensus(message)
    }

    fn sync_request(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        self.as_mut().sync_request(request)
    }

    fn clock_offset_ms(&self) -> i64 {
        self.as_ref().clock_offset_ms()
    }
}
