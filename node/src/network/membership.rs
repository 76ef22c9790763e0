//! Who may connect, and when to dial them again.
//!
//! Invariants:
//! - The member set is exactly the last list given (at spawn or by `set_members`), minus this
//!   node itself; the swarm's allow list is kept equal to it by the swarm task.
//! - A member with a known address that is not connected is dialled again when its backoff
//!   expires; the backoff doubles per attempt from [`INITIAL_REDIAL_BACKOFF`] up to
//!   [`MAX_REDIAL_BACKOFF`]. It resets only when a connection that lasted
//!   [`STABLE_CONNECTION`] closes (that member is then dialled at once), so an absent member,
//!   or one that accepts and at once drops us (it no longer counts us as a member), costs at
//!   most one dial per [`MAX_REDIAL_BACKOFF`].
//! - A member with a dial override is always dialled at the override, whatever address the
//!   last list gave it: the list is replaced from chain state after every commit, and the
//!   override must outlive each replacement.
//! - Time enters as an argument (`now`), so the schedule is tested without a clock.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::time::Instant;

use cassia_crypto::PublicKey;

use super::NetworkError;

/// First wait before dialling a disconnected member again.
pub const INITIAL_REDIAL_BACKOFF: Duration = Duration::from_millis(500);

/// Longest wait between two dials of a disconnected member.
pub const MAX_REDIAL_BACKOFF: Duration = Duration::from_secs(30);

/// A connection that lasted this long was healthy: when it closes, the member is dialled at
/// once and its backoff starts again from [`INITIAL_REDIAL_BACKOFF`].
pub const STABLE_CONNECTION: Duration = Duration::from_secs(10);

/// A node allowed on the network: its node key and, if known, where to dial it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The node key, which is also the node's libp2p identity.
    pub key: PublicKey,
    /// Its p2p address (validators' addresses come from genesis); `None` if it only dials in.
    pub address: Option<Multiaddr>,
}

impl Member {
    /// A member with an optional address.
    pub fn new(key: PublicKey, address: Option<Multiaddr>) -> Member {
        Member { key, address }
    }
}

#[derive(Debug)]
struct Entry {
    address: Option<Multiaddr>,
    backoff: Duration,
    next_dial: Instant,
    connected_since: Option<Instant>,
}

/// The member set and each member's redial schedule.
#[derive(Debug)]
pub(crate) struct Membership {
    local: PeerId,
    members: BTreeMap<PeerId, Entry>,
    /// Where to dial a member instead of its listed address (`[network] peer_addresses`).
    dial_overrides: BTreeMap<PeerId, Multiaddr>,
}

/// What changed when the member list was replaced.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct MembershipChange {
    /// Newly allowed peers.
    pub added: Vec<PeerId>,
    /// Peers no longer allowed (to be disconnected).
    pub removed: Vec<PeerId>,
}

/// The PeerIds of `members`, or the first key that is not a valid ed25519 point.
pub(crate) fn resolve(
    members: &[Member],
) -> Result<Vec<(PeerId, Option<Multiaddr>)>, NetworkError> {
    members
        .iter()
        .map(|member| {
            let peer = member
                .key
                .peer_id()
                .map_err(|_| NetworkError::BadMemberKey(member.key))?;
            Ok((peer, member.address.clone()))
        })
        .collect()
}

/// The PeerIds of the dial overrides' node keys, or the first key that is not a valid ed25519
/// point.
pub(crate) fn resolve_overrides(
    overrides: &BTreeMap<PublicKey, Multiaddr>,
) -> Result<BTreeMap<PeerId, Multiaddr>, NetworkError> {
    overrides
        .iter()
        .map(|(key, address)| {
            let peer = key
                .peer_id()
                .map_err(|_| NetworkError::BadMemberKey(*key))?;
            Ok((peer, address.clone()))
        })
        .collect()
}

impl Membership {
    /// An empty set for the node whose PeerId is `local`.
    pub fn new(local: PeerId) -> Membership {
        Membership {
            local,
            members: BTreeMap::new(),
            dial_overrides: BTreeMap::new(),
        }
    }

    /// From now on, a member in `overrides` is dialled at its address there; members already
    /// known take it at once.
    pub fn set_dial_overrides(&mut self, overrides: BTreeMap<PeerId, Multiaddr>) {
        for (peer, entry) in &mut self.members {
            if let Some(address) = overrides.get(peer) {
                entry.address = Some(address.clone());
            }
        }
        self.dial_overrides = overrides;
    }

    /// Whether `peer` may connect.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.members.contains_key(peer)
    }

    /// The known address of `peer`.
    pub fn address(&self, peer: &PeerId) -> Option<&Multiaddr> {
        self.members.get(peer)?.address.as_ref()
    }

    /// Replaces the member set; new members are due for dialling at `now`, kept members keep
    /// their schedule (with the new address, if it changed). A dial override wins over the
    /// listed address.
    pub fn replace(
        &mut self,
        members: Vec<(PeerId, Option<Multiaddr>)>,
        now: Instant,
    ) -> MembershipChange {
        let mut next = BTreeMap::new();
        let mut change = MembershipChange::default();
        for (peer, listed) in members.into_iter().filter(|(peer, _)| *peer != self.local) {
            let address = self.dial_overrides.get(&peer).cloned().or(listed);
            let entry = match self.members.remove(&peer) {
                Some(old) => Entry { address, ..old },
                None => {
                    change.added.push(peer);
                    Entry {
                        address,
                        backoff: INITIAL_REDIAL_BACKOFF,
                        next_dial: now,
                        connected_since: None,
                    }
                }
            };
            next.insert(peer, entry);
        }
        change.removed = std::mem::replace(&mut self.members, next)
            .into_keys()
            .collect();
        change
    }

    /// Members with an address, not in `connected`, whose backoff has expired at `now`; each
    /// one's next dial is scheduled and its backoff doubled (up to [`MAX_REDIAL_BACKOFF`]).
    pub fn due_for_dial(
        &mut self,
        connected: &BTreeSet<PeerId>,
        now: Instant,
    ) -> Vec<(PeerId, Multiaddr)> {
        let mut due = Vec::new();
        for (peer, entry) in &mut self.members {
            let Some(address) = &entry.address else {
                continue;
            };
            if connected.contains(peer) || entry.next_dial > now {
                continue;
            }
            due.push((*peer, address.clone()));
            entry.next_dial = now + entry.backoff;
            entry.backoff = (entry.backoff * 2).min(MAX_REDIAL_BACKOFF);
        }
        due
    }

    /// A connection to `peer` is up.
    pub fn connected(&mut self, peer: &PeerId, now: Instant) {
        if let Some(entry) = self.members.get_mut(peer) {
            entry.connected_since = Some(now);
        }
    }

    /// The last connection to `peer` closed. After a [`STABLE_CONNECTION`] the member is
    /// dialled at `now` with a fresh backoff; after a short one its current schedule stands.
    pub fn disconnected(&mut self, peer: &PeerId, now: Instant) {
        if let Some(entry) = self.members.get_mut(peer) {
            let since = entry.connected_since.take();
            if since.is_some_and(|since| now.saturating_duration_since(since) >= STABLE_CONNECTION)
            {
                entry.backoff = INITIAL_REDIAL_BACKOFF;
                entry.next_dial = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cassia_crypto::Keypair;

    use super::*;

    fn peer(seed: u8) -> PeerId {
        Keypair::from_secret([seed; 32])
            .public()
            .peer_id()
            .expect("valid key")
    }

    fn address(port: u16) -> Option<Multiaddr> {
        Some(
            format!("/ip4/127.0.0.1/tcp/{port}")
                .parse()
                .expect("valid multiaddr"),
        )
    }

    #[test]
    fn replacing_members_reports_added_and_removed_and_skips_self() {
        let now = Instant::now();
        let mut membership = Membership::new(peer(0));
        let change =
            membership.replace(vec![(peer(0), None), (peer(1), None), (peer(2), None)], now);
        assert_eq!(change.added.len(), 2);
        assert!(
            !membership.contains(&peer(0)),
            "the local node is never its own member"
        );
        let change = membership.replace(vec![(peer(2), address(1)), (peer(3), None)], now);
        assert_eq!(
            change,
            MembershipChange {
                added: vec![peer(3)],
                removed: vec![peer(1)]
            }
        );
        assert_eq!(membership.address(&peer(2)), address(1).as_ref());
    }

    #[test]
    fn redial_backoff_doubles_up_to_the_cap_and_resets_on_connection() {
        let start = Instant::now();
        let mut membership = Membership::new(peer(0));
        membership.replace(vec![(peer(1), address(1)), (peer(2), None)], start);
        let none = BTreeSet::new();
        assert_eq!(
            membership.due_for_dial(&none, start).len(),
            1,
            "only members with an address"
        );
        assert!(
            membership.due_for_dial(&none, start).is_empty(),
            "not again before the backoff"
        );

        let mut now = start;
        let mut waits = Vec::new();
        for _ in 0..10 {
            let mut waited = Duration::ZERO;
            while membership.due_for_dial(&none, now).is_empty() {
                now += Duration::from_millis(100);
                waited += Duration::from_millis(100);
            }
            waits.push(waited);
        }
        assert_eq!(waits[0], INITIAL_REDIAL_BACKOFF);
        assert_eq!(waits[1], INITIAL_REDIAL_BACKOFF * 2);
        assert_eq!(*waits.last().expect("ten waits"), MAX_REDIAL_BACKOFF);

        // The last dial was at `now`; the next is due at `now + MAX_REDIAL_BACKOFF`.
        let dropped_at_once = now + Duration::from_secs(1);
        membership.connected(&peer(1), now);
        membership.disconnected(&peer(1), dropped_at_once);
        assert!(
            membership.due_for_dial(&none, dropped_at_once).is_empty(),
            "a connection dropped at once does not reset the backoff"
        );

        let connected_at = now + MAX_REDIAL_BACKOFF;
        let lost_at = connected_at + STABLE_CONNECTION;
        membership.connected(&peer(1), connected_at);
        membership.disconnected(&peer(1), lost_at);
        assert_eq!(
            membership.due_for_dial(&none, lost_at).len(),
            1,
            "a stable member lost is dialled at once"
        );
        let retry = lost_at + INITIAL_REDIAL_BACKOFF;
        assert_eq!(
            membership.due_for_dial(&none, retry).len(),
            1,
            "with a fresh backoff"
        );
    }

    #[test]
    fn a_dial_override_wins_over_every_listed_address() {
        let now = Instant::now();
        let mut membership = Membership::new(peer(0));
        membership.set_dial_overrides(BTreeMap::from([(peer(1), address(9).expect("an address"))]));
        membership.replace(vec![(peer(1), address(1)), (peer(2), address(2))], now);
        assert_eq!(membership.address(&peer(1)), address(9).as_ref());
        assert_eq!(
            membership.address(&peer(2)),
            address(2).as_ref(),
            "members without an override keep their listed address"
        );
        // The list is replaced from chain state after each commit: the override stays.
        membership.replace(vec![(peer(1), address(3)), (peer(2), None)], now);
        assert_eq!(membership.address(&peer(1)), address(9).as_ref());
        let due = membership.due_for_dial(&BTreeSet::new(), now);
        assert_eq!(due, vec![(peer(1), address(9).expect("an address"))]);
        // A member that only dials in (no listed address) is dialled at its override too.
        membership.replace(vec![(peer(1), None)], now);
        assert_eq!(membership.address(&peer(1)), address(9).as_ref());
    }

    #[test]
    fn overrides_set_after_the_members_apply_to_them() {
        let now = Instant::now();
        let mut membership = Membership::new(peer(0));
        membership.replace(vec![(peer(1), address(1))], now);
        membership.set_dial_overrides(BTreeMap::from([(peer(1), address(9).expect("an address"))]));
        assert_eq!(membership.address(&peer(1)), address(9).as_ref());
    }

    #[test]
    fn connected_members_are_not_dialled() {
        let now = Instant::now();
        let mut membership = Membership::new(peer(0));
        membership.replace(vec![(peer(1), address(1))], now);
        let connected = BTreeSet::from([peer(1)]);
        assert!(membership.due_for_dial(&connected, now).is_empty());
    }
}
