//! Every bound the replica enforces, in one place. Each says what happens when it is reached.

/// How many heights above its own a replica buffers messages for. A message further ahead is
/// dropped ([`crate::DropReason::HeightTooFarAhead`]); a replica that far behind catches up by
/// block sync, triggered by a commit certificate ([`crate::Payload::Decided`]), which has no window.
pub const HEIGHT_WINDOW: u64 = 4;

/// How many views above its own a replica accepts messages for. A message further ahead is
/// dropped ([`crate::DropReason::ViewTooFarAhead`]), so a peer's `u64::MAX` view costs nothing.
/// Honest views cannot drift this far apart: a replica leaves a view on its own timer only once
/// a quorum has left it too (PBFT 4.5.2).
pub const MAX_VIEW_AHEAD: u64 = 1_000_000;

/// Messages held per sender for a later height or view. When full, a new one from that sender
/// is dropped ([`crate::DropReason::BufferFull`]); other senders are unaffected.
pub const MAX_BUFFERED_PER_SENDER: usize = 16;

/// Of the buffered messages of one sender, how many may carry a block (pre-prepare, new view,
/// view change with a prepared block). When reached, such a message is dropped
/// ([`crate::DropReason::BufferFull`]); this caps buffered bytes at
/// `validators x MAX_BUFFERED_BLOCKS_PER_SENDER x max_block_bytes`.
pub const MAX_BUFFERED_BLOCKS_PER_SENDER: usize = 2;

/// A view timeout is `base << min(view, MAX_TIMEOUT_DOUBLINGS)`: it doubles per failed view up
/// to 64 times the base, then stays there. It resets to the base at each new height.
pub const MAX_TIMEOUT_DOUBLINGS: u64 = 6;

/// Most blocks one [`crate::Request::FetchBlocks`] asks for. A replica further behind asks for the
/// next range once the previous one has been delivered.
pub const MAX_FETCH_BLOCKS: u64 = 64;

/// Most validators a set may have. Tallies, certificates and view-change lists are at most this
/// long; a message listing more signatures or view changes is dropped as malformed.
pub const MAX_VALIDATORS: usize = 1024;

/// Most messages a replica keeps signed at one height: pre-prepare or new view, prepare, commit
/// and view change of the current view (older views are pruned: it never signs in them again).
pub const MAX_SIGNED_PER_HEIGHT: usize = 5;
