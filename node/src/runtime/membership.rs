//! Membership: who may connect to this node, as the chain says, and this node's own step into
//! the validator set.
//!
//! The members are the validators in force at the next height ([`cassia_engine::Store::validator_set`]) and
//! the newcomers governance approved ([`pending_validators`]): a newcomer must be able to
//! connect to follow the chain before it counts toward the quorum. [`chain_members`] is the one
//! place that list is derived, at start and after every commit; the network is told only when it
//! changed.
//!
//! An approved newcomer proves it has caught up by a `ValidatorReady` transaction naming a
//! recent block; [`MembershipFollower::after_commit`] makes it, at most every
//! `READY_RESEND_BLOCKS` blocks while the node is still pending.

use cassia_crypto::{Hash, Keypair};
use cassia_engine::{Store as _, StoreError};
use cassia_ledger::execution::pending_validators;
use cassia_ledger::{Genesis, Height, Operation, SignedTransaction, Transaction, Validator};

use crate::chain_store::ChainStore;
use crate::network::{Member, NetworkHandle};

/// A newcomer proves readiness only when its latest block is this fresh (it has caught up).
const READY_MAX_AGE_MS: u64 = 10_000;
/// Blocks between two readiness transactions while still pending.
const READY_RESEND_BLOCKS: Height = 5;

/// The chain's members after the stored tip: the validators in force at the next height, then
/// the approved newcomers, in that order.
pub fn chain_members(store: &ChainStore) -> Result<ChainMembers, StoreError> {
    let next = store.tip()?.height.saturating_add(1);
    let validators = store.validator_set(next)?.validators;
    let pending = pending_validators(store.state())
        .into_iter()
        .map(|pending| pending.validator)
        .collect();
    Ok(ChainMembers {
        validators,
        pending,
    })
}

/// Who the chain admits to its network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainMembers {
    /// The validator set in force.
    pub validators: Vec<Validator>,
    /// Approved newcomers, not yet counted toward the quorum.
    pub pending: Vec<Validator>,
}

impl ChainMembers {
    /// The list the network gates connections with (a member whose address does not parse is
    /// admitted but not dialled).
    pub fn network_members(&self) -> Vec<Member> {
        self.validators
            .iter()
            .chain(&self.pending)
            .map(|v| Member::new(v.node_key, v.p2p_address.parse().ok()))
            .collect()
    }
}

/// Follows the chain's membership into the network.
pub struct MembershipFollower {
    members: ChainMembers,
    /// Height at which this node last sent a `ValidatorReady`.
    ready_sent_at: Option<Height>,
}

impl MembershipFollower {
    /// Starts from the members the network was started with.
    pub fn new(members: ChainMembers) -> MembershipFollower {
        MembershipFollower {
            members,
            ready_sent_at: None,
        }
    }

    /// After block `height` (`block_hash`, `timestamp_ms`) committed: tells the network if the
    /// members changed, and returns this node's readiness transaction if it is an approved
    /// newcomer that has caught up and one is due.
    pub fn after_commit(
        &mut self,
        store: &ChainStore,
        network: &NetworkHandle,
        key: &Keypair,
        committed: (Height, Hash, u64),
        now_ms: u64,
    ) -> Option<SignedTransaction> {
        let members = match chain_members(store) {
            Ok(members) => members,
            Err(error) => {
                tracing::warn!(%error, "cannot read the chain's members");
                return None;
            }
        };
        if members != self.members {
            self.announce(network, &members);
            self.members = members;
        }
        let genesis = store.genesis();
        self.readiness(key, genesis, committed, now_ms)
    }

    fn announce(&self, network: &NetworkHandle, members: &ChainMembers) {
        let list = members.network_members();
        let network = network.clone();
        tokio::spawn(async move {
            if let Err(error) = network.set_members(&list).await {
                tracing::warn!(%error, "could not update the network membership");
            }
        });
        tracing::info!(
            validators = members.validators.len(),
            pending = members.pending.len(),
            "membership updated"
        );
    }

    fn readiness(
        &mut self,
        key: &Keypair,
        genesis: &Genesis,
        (height, block_hash, timestamp_ms): (Height, Hash, u64),
        now_ms: u64,
    ) -> Option<SignedTransaction> {
        let me = key.public();
        let caught_up = now_ms.saturating_sub(timestamp_ms) < READY_MAX_AGE_MS;
        let due = self
            .ready_sent_at
            .is_none_or(|sent| height >= sent.saturating_add(READY_RESEND_BLOCKS));
        let pending = self.members.pending.iter().any(|v| v.node_key == me);
        if !(caught_up && due && pending) {
            return None;
        }
        self.ready_sent_at = Some(height);
        let tx = Transaction {
            chain_id: genesis.chain_id.clone(),
            signer: me,
            nonce: height,
            valid_until: height.saturating_add(READY_RESEND_BLOCKS),
            op: Operation::ValidatorReady { height, block_hash },
        };
        Some(tx.sign(&genesis.genesis_hash(), key))
    }
}
