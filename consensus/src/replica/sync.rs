//! Catching up (PBFT 4.3, where checkpoints let a replica that fell behind fetch state): commit
//! certificates, fetched blocks, and the validator set of each new height.

use cassia_crypto::PublicKey;
use cassia_ledger::{Block, CommitCertificate, Height, ValidatorSet};

use super::{Replica, Round, Status, SyncState};
use crate::io::Request;
use crate::limits::{MAX_FETCH_BLOCKS, MAX_VALIDATORS};
use crate::message::{Message, Payload};
use crate::stats::{DropReason, bump};

impl Replica {
    /// A relayed commit certificate for our height or above.
    pub(super) fn on_decided(&mut self, message: Message) {
        let Payload::Decided(certificate) = message.payload else {
            return;
        };
        // Checked against the set in force here; sync re-checks each block against its own set.
        if certificate
            .verify(&self.config.genesis, &self.validators)
            .is_err()
        {
            return self.stats.drops.count(DropReason::BadCertificate);
        }
        if certificate.height == self.height
            && self.status != Status::AwaitingValidators
            && let Some(block) = self.known_block(&certificate.block_hash)
        {
            return self.commit(block, certificate);
        }
        self.note_certificate(&certificate);
    }

    /// A valid certificate at `certificate.height >= self.height`: fetch up to it.
    pub(super) fn note_certificate(&mut self, certificate: &CommitCertificate) {
        if certificate.height <= self.committed_height()
            || self.sync.target.is_some_and(|t| t >= certificate.height)
        {
            return;
        }
        self.sync.target = Some(certificate.height);
        self.sync.peers = certificate
            .signatures
            .iter()
            .map(|s| s.validator)
            .filter(|key| *key != self.me)
            .collect();
        let idle = self
            .sync
            .requested_to
            .is_none_or(|to| to <= self.committed_height());
        if idle {
            self.request_fetch();
        }
    }

    /// Asks for the next range towards the sync target.
    fn request_fetch(&mut self) {
        let Some(target) = self.sync.target else {
            return;
        };
        let from = self.committed_height().saturating_add(1);
        if target < from {
            self.sync = SyncState::default();
            return;
        }
        let to = target.min(from.saturating_add(MAX_FETCH_BLOCKS - 1));
        self.sync.requested_to = Some(to);
        let peers: Vec<PublicKey> = self.sync.peers.clone();
        self.request(Request::FetchBlocks { from, to, peers });
    }

    /// On a timer: re-asks for blocks if a fetch seems lost.
    pub(super) fn refetch_if_behind(&mut self) {
        if self
            .sync
            .target
            .is_some_and(|t| t > self.committed_height())
        {
            self.request_fetch();
        }
    }

    /// A fetched block with its certificate, for our height.
    pub(super) fn on_synced_block(&mut self, block: Block, certificate: CommitCertificate) {
        if self.status == Status::AwaitingValidators || block.height() != self.height {
            return bump(&mut self.stats.stale_inputs);
        }
        let valid = certificate.height == self.height
            && certificate
                .verify_for(&self.config.genesis, &self.validators, &block.hash())
                .is_ok();
        if !valid {
            return self.stats.drops.count(DropReason::BadCertificate);
        }
        bump(&mut self.stats.synced);
        self.commit(block, certificate);
    }

    /// The validator set and base view timeout for the height after the one just committed.
    pub(super) fn on_validators(
        &mut self,
        height: Height,
        validators: ValidatorSet,
        base_timeout_ms: u64,
    ) {
        let expected =
            self.status == Status::AwaitingValidators && Some(height) == self.height.checked_add(1);
        assert!(
            !validators.is_empty() && validators.len() <= MAX_VALIDATORS,
            "the host gives validator sets of 1..={MAX_VALIDATORS} members"
        );
        if !expected {
            return bump(&mut self.stats.stale_inputs);
        }
        self.config.base_timeout_ms = base_timeout_ms;
        self.start_height(height, validators);
    }

    /// Starts `height` in view 0 (the timeout resets with it).
    fn start_height(&mut self, height: Height, validators: ValidatorSet) {
        self.height = height;
        self.view = 0;
        self.status = Status::Normal;
        self.validators = validators;
        self.round = Round::default();
        self.view_changes.clear();
        self.prepared = None;
        self.signed.clear();
        self.retransmits = 0;
        self.dirty = true;
        self.arm_timer();
        if self.is_leader(0) {
            self.request_proposal();
        }
        let behind = self.sync.target.is_some_and(|t| t >= height);
        let range_done = self.sync.requested_to.is_none_or(|to| to < height);
        if behind && range_done {
            self.request_fetch();
        } else if !behind {
            self.sync = SyncState::default();
        }
    }
}
