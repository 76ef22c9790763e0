//! What a replica persists (its WAL record) and why each field is there.
//!
//! The record is one [`ConsensusState`] value, rewritten whole on every [`crate::Actions`] that
//! carries it, encoded with [`cassia_ledger::codec`]:
//!
//! ```text
//! +--------+------+---------------+----------------------------+---------------------------+
//! | height | view | view_changing | signed: Vec<Message>       | prepared: Option<Prepared> |
//! +--------+------+---------------+----------------------------+---------------------------+
//!   u64      u64    bool            <= MAX_SIGNED_PER_HEIGHT     certificate + its block
//! ```
//!
//! Invariants a restarted replica relies on:
//! - `(height, view)` only grows, so it never goes back a view;
//! - `signed` holds every message signed at `(height, view)`: before signing a statement the
//!   replica looks for one of the same kind and view there, and re-sends it instead of signing a
//!   different one;
//! - `prepared` is the highest prepared certificate at `height`, with its block; it was durable
//!   before the commit vote that depends on it was sent, so view changes after a crash still
//!   carry it (the safety of PBFT's view change rests on it).

use bincode::{Decode, Encode};
use cassia_ledger::{Block, Height, View};

use crate::message::{Message, PreparedCertificate};

/// The highest prepared certificate at the current height and the block it prepares.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Prepared {
    /// 2f+1 prepares.
    pub certificate: PreparedCertificate,
    /// The block they prepare.
    pub block: Block,
}

/// The replica's durable state (its WAL record).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ConsensusState {
    /// Height being decided.
    pub height: Height,
    /// Current view at that height.
    pub view: View,
    /// Whether the replica has asked to leave for `view` and waits for its new view.
    pub view_changing: bool,
    /// Messages signed at `(height, view)`.
    pub signed: Vec<Message>,
    /// Highest prepared certificate at `height`.
    pub prepared: Option<Prepared>,
}
