//! Counters: messages dropped by reason, and protocol events. Every counter saturates.

use std::collections::BTreeMap;

/// Why a peer's message was dropped. Invalid input from a peer is not an error: it is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// The message names another chain.
    WrongChain,
    /// The sender is not in the validator set.
    NotValidator,
    /// The signature does not verify.
    BadSignature,
    /// Inconsistent fields (block does not match its hash, lists longer than the set, ...).
    Malformed,
    /// For a height already committed.
    StaleHeight,
    /// For a view this replica has left.
    StaleView,
    /// More than [`crate::HEIGHT_WINDOW`] heights ahead.
    HeightTooFarAhead,
    /// More than [`crate::MAX_VIEW_AHEAD`] views ahead.
    ViewTooFarAhead,
    /// The sender's buffer for later heights or views is full.
    BufferFull,
    /// A proposal from a validator that is not the leader.
    NotLeader,
    /// A prepared or commit certificate that does not verify.
    BadCertificate,
    /// A new view whose view changes or proposal break the protocol.
    BadNewView,
    /// A second, different statement of one kind for the same `(height, view)`.
    Equivocation,
    /// Already seen.
    Duplicate,
}

impl DropReason {
    /// Whether the drop proves the peer that sent the message misbehaved: an honest node never
    /// signs such a message, and never relays one, since it screens what it relays. Stale or
    /// early messages, buffers and duplicates prove nothing (an honest node may be ahead or
    /// behind), nor does a sender outside this replica's set (the set changes with governance,
    /// and this replica may not have reached the change yet).
    pub fn proves_misbehaviour(self) -> bool {
        matches!(
            self,
            DropReason::WrongChain | DropReason::BadSignature | DropReason::Malformed
        )
    }

    /// Its name in metrics, `snake_case`.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::WrongChain => "wrong_chain",
            DropReason::NotValidator => "not_validator",
            DropReason::BadSignature => "bad_signature",
            DropReason::Malformed => "malformed",
            DropReason::StaleHeight => "stale_height",
            DropReason::StaleView => "stale_view",
            DropReason::HeightTooFarAhead => "height_too_far_ahead",
            DropReason::ViewTooFarAhead => "view_too_far_ahead",
            DropReason::BufferFull => "buffer_full",
            DropReason::NotLeader => "not_leader",
            DropReason::BadCertificate => "bad_certificate",
            DropReason::BadNewView => "bad_new_view",
            DropReason::Equivocation => "equivocation",
            DropReason::Duplicate => "duplicate",
        }
    }
}

/// Dropped messages by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounters {
    counts: BTreeMap<DropReason, u64>,
}

impl DropCounters {
    /// Counts one drop.
    pub fn count(&mut self, reason: DropReason) {
        let counter = self.counts.entry(reason).or_insert(0);
        *counter = counter.saturating_add(1);
    }

    /// Drops for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts.get(&reason).copied().unwrap_or(0)
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.counts
            .values()
            .fold(0, |sum, n| sum.saturating_add(*n))
    }

    /// Non-zero counters, by reason.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        self.counts.iter().map(|(reason, n)| (*reason, *n))
    }
}

/// What a replica has done, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Dropped peer messages.
    pub drops: DropCounters,
    /// Blocks committed (by consensus or sync).
    pub commits: u64,
    /// Blocks committed through sync.
    pub synced: u64,
    /// View changes this replica started.
    pub view_changes: u64,
    /// New views this replica entered.
    pub new_views: u64,
    /// Times the WAL stopped it from signing a conflicting statement.
    pub refused_to_equivocate: u64,
    /// Proposals its host found invalid.
    pub invalid_proposals: u64,
    /// Timer firings and host answers that were no longer current.
    pub stale_inputs: u64,
}

pub(crate) fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}

#[cfg(test)]
mod tests {
    use super::DropReason;

    const ALL: [DropReason; 14] = [
        DropReason::WrongChain,
        DropReason::NotValidator,
        DropReason::BadSignature,
        DropReason::Malformed,
        DropReason::StaleHeight,
        DropReason::StaleView,
        DropReason::HeightTooFarAhead,
        DropReason::ViewTooFarAhead,
        DropReason::BufferFull,
        DropReason::NotLeader,
        DropReason::BadCertificate,
        DropReason::BadNewView,
        DropReason::Equivocation,
        DropReason::Duplicate,
    ];

    #[test]
    fn metric_names_are_the_reasons_in_snake_case() {
        for reason in ALL {
            let mut expected = String::new();
            for (index, c) in format!("{reason:?}").chars().enumerate() {
                if c.is_uppercase() && index > 0 {
                    expected.push('_');
                }
                expected.push(c.to_ascii_lowercase());
            }
            assert_eq!(reason.name(), expected);
        }
    }

    #[test]
    fn only_what_no_honest_node_sends_proves_misbehaviour() {
        let proven: Vec<DropReason> = ALL
            .into_iter()
            .filter(|reason| reason.proves_misbehaviour())
            .collect();
        assert_eq!(
            proven,
            [
                DropReason::WrongChain,
                DropReason::BadSignature,
                DropReason::Malformed
            ]
        );
    }
}
