//! Messages for a later height or view, held per sender until the replica gets there.
//!
//! Bounded by [`MAX_BUFFERED_PER_SENDER`] messages and [`MAX_BUFFERED_BLOCKS_PER_SENDER`]
//! block-carrying messages per sender; senders are validators (checked before buffering), so the
//! whole buffer is bounded. When a sender's share is full its new message is refused.

use std::collections::{BTreeMap, VecDeque};

use cassia_crypto::PublicKey;
use cassia_ledger::{Height, ValidatorSet, View};

use crate::limits::{MAX_BUFFERED_BLOCKS_PER_SENDER, MAX_BUFFERED_PER_SENDER};
use crate::message::{Message, StatementKind};

/// The buffer.
#[derive(Clone, Debug, Default)]
pub(crate) struct FutureBuffer {
    by_sender: BTreeMap<PublicKey, VecDeque<Message>>,
}

/// Where the replica is, to decide which messages are ready or stale.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Position {
    pub(crate) height: Height,
    pub(crate) view: View,
    pub(crate) normal: bool,
}

impl Position {
    /// Whether `message` (at this height) must wait for a later view or for the new view.
    pub(crate) fn must_wait(&self, message: &Message) -> bool {
        waits_for_view(message.kind()) && (message.view() > self.view || !self.normal)
    }

    fn is_ready(&self, message: &Message) -> bool {
        message.height() == self.height && !self.must_wait(message)
    }

    fn is_stale(&self, message: &Message) -> bool {
        message.height() < self.height
            || (message.height() == self.height
                && waits_for_view(message.kind())
                && message.view() < self.view)
    }
}

/// Pre-prepares and votes are only handled in the replica's current, started view.
fn waits_for_view(kind: StatementKind) -> bool {
    matches!(
        kind,
        StatementKind::PrePrepare | StatementKind::Prepare | StatementKind::Commit
    )
}

impl FutureBuffer {
    /// Holds `message`; `false` if its sender's share is full.
    pub(crate) fn push(&mut self, message: Message) -> bool {
        let queue = self.by_sender.entry(message.sender).or_default();
        let blocks = queue.iter().filter(|m| m.payload.carries_block()).count();
        if queue.len() >= MAX_BUFFERED_PER_SENDER
            || (message.payload.carries_block() && blocks >= MAX_BUFFERED_BLOCKS_PER_SENDER)
        {
            return false;
        }
        queue.push_back(message);
        true
    }

    /// Removes and returns the first message that is ready at `position`.
    pub(crate) fn pop_ready(&mut self, position: Position) -> Option<Message> {
        for queue in self.by_sender.values_mut() {
            if let Some(index) = queue.iter().position(|m| position.is_ready(m)) {
                return queue.remove(index);
            }
        }
        None
    }

    /// Forgets messages that can no longer matter, and those of senders outside `validators`.
    pub(crate) fn discard_stale(&mut self, position: Position, validators: &ValidatorSet) {
        self.by_sender
            .retain(|sender, _| validators.contains(sender));
        for queue in self.by_sender.values_mut() {
            queue.retain(|m| !position.is_stale(m));
        }
        self.by_sender.retain(|_, queue| !queue.is_empty());
    }

    /// Messages held.
    pub(crate) fn len(&self) -> usize {
        self.by_sender.values().map(VecDeque::len).sum()
    }
}
