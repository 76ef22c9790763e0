//! What the rest of the node sees of the running chain: the runtime publishes a [`Head`] on a
//! `watch` channel after every event it handles, and readers (the gRPC server, SubmitAndWait,
//! subscriptions) wait on it for the next commit.
//!
//! A `watch` channel keeps only the latest value, so publishing never queues and a slow reader
//! costs nothing: it reads the store from where it stopped up to the head it was woken for.

use cassia_crypto::{Hash, PublicKey};
use cassia_ledger::{Height, View};

/// The latest committed block and the consensus position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Last committed height (0: genesis).
    pub height: Height,
    /// Its block hash (the genesis hash at 0).
    pub block_hash: Hash,
    /// State root after it.
    pub state_root: Hash,
    /// Current view at the next height.
    pub view: View,
    /// Leader of that view.
    pub leader: PublicKey,
    /// Connected member peers (PeerIds).
    pub peers: Vec<String>,
}

/// The runtime's end.
pub type HeadSender = tokio::sync::watch::Sender<Head>;
/// A reader's end.
pub type HeadReceiver = tokio::sync::watch::Receiver<Head>;
