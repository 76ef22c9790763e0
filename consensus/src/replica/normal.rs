//! Normal-case operation (PBFT 4.2): pre-prepare, prepare, commit.

use cassia_crypto::Hash;
use cassia_ledger::{Block, CommitCertificate, Height, View, Vote, VoteKind};

use super::tally::Tallied;
use super::{Proposed, Replica, Status};
use crate::io::{Commit, Evidence, Request};
use crate::message::{Message, Payload, PreparedCertificate, Proposal, StatementKind};
use crate::state::Prepared;
use crate::stats::{DropReason, bump};

impl Replica {
    /// A pre-prepare for the current view 0 (later views propose inside their new view).
    pub(super) fn on_pre_prepare(&mut self, message: Message, proposal: Proposal, block: Block) {
        // PBFT 4.2: accept a pre-prepare only from the primary of (h, v)
        if proposal.view != 0 {
            return self.stats.drops.count(DropReason::Malformed);
        }
        if message.sender != self.leader(proposal.view) {
            return self.stats.drops.count(DropReason::NotLeader);
        }
        self.accept_proposal(message, proposal.block_hash, block);
    }

    /// Takes `block` as the proposal of the current view and asks the host to validate it.
    pub(super) fn accept_proposal(&mut self, message: Message, hash: Hash, block: Block) {
        // PBFT 4.2: a backup accepts one pre-prepare per (h, v); a second one proves equivocation
        if let Some(current) = &self.round.proposal {
            if current.hash == hash {
                return self.stats.drops.count(DropReason::Duplicate);
            }
            let first = Box::new(current.message.clone());
            self.report(Evidence::Equivocation {
                first,
                second: Box::new(message),
            });
            return self.stats.drops.count(DropReason::Equivocation);
        }
        self.request(Request::Validate {
            height: self.height,
            view: self.view,
            block: block.clone(),
        });
        self.round.proposal = Some(Proposed {
            hash,
            block,
            message,
            validated: false,
        });
    }

    /// The host's verdict on the current proposal.
    pub(super) fn on_block_validated(
        &mut self,
        height: Height,
        view: View,
        block_hash: Hash,
        valid: bool,
    ) {
        let current = self
            .round
            .proposal
            .as_ref()
            .is_some_and(|p| p.hash == block_hash && !p.validated);
        if height != self.height || view != self.view || self.status != Status::Normal || !current {
            return bump(&mut self.stats.stale_inputs);
        }
        if !valid {
            // PBFT 4.4: a primary that proposes an invalid block is suspected at once
            bump(&mut self.stats.invalid_proposals);
            let next = self.view.saturating_add(1);
            return self.start_view_change(next);
        }
        if let Some(proposal) = self.round.proposal.as_mut() {
            proposal.validated = true;
        }
        // PBFT 4.2: a backup that accepts the pre-prepare multicasts a prepare
        self.cast_vote(VoteKind::Prepare, block_hash);
        self.check_prepared();
        self.check_committed();
    }

    /// Signs (once), sends and counts this replica's own vote.
    fn cast_vote(&mut self, kind: VoteKind, block_hash: Hash) {
        let vote = Vote {
            kind,
            height: self.height,
            view: self.view,
            block_hash,
        };
        if let Some(message) = self.sign_once(Payload::Vote(vote)) {
            self.tally_own(&message);
            self.broadcast(message);
        }
    }

    pub(super) fn tally_own(&mut self, message: &Message) {
        if let Payload::Vote(vote) = &message.payload {
            let tally = match vote.kind {
                VoteKind::Prepare => &mut self.round.prepares,
                VoteKind::Commit => &mut self.round.commits,
            };
            let _ = tally.insert(self.me, vote.block_hash, message.signature);
        }
    }

    /// A peer's prepare or commit vote for the current view.
    pub(super) fn on_vote(&mut self, message: Message, vote: Vote) {
        let tally = match vote.kind {
            VoteKind::Prepare => &mut self.round.prepares,
            VoteKind::Commit => &mut self.round.commits,
        };
        match tally.insert(message.sender, vote.block_hash, message.signature) {
            Tallied::New => {}
            Tallied::Duplicate => return self.stats.drops.count(DropReason::Duplicate),
            Tallied::Conflict {
                block_hash,
                signature,
            } => {
                let first_vote = Vote { block_hash, ..vote };
                let first = Message {
                    payload: Payload::Vote(first_vote),
                    signature,
                    ..message.clone()
                };
                self.report(Evidence::Equivocation {
                    first: Box::new(first),
                    second: Box::new(message),
                });
                return self.stats.drops.count(DropReason::Equivocation);
            }
        }
        match vote.kind {
            VoteKind::Prepare => self.check_prepared(),
            VoteKind::Commit => self.check_committed(),
        }
    }

    /// PBFT 4.2: prepared = accepted pre-prepare + 2f+1 matching prepares; then multicast commit.
    fn check_prepared(&mut self) {
        let Some(proposal) = self.round.proposal.as_ref().filter(|p| p.validated) else {
            return;
        };
        let hash = proposal.hash;
        let sent_commit = self
            .signed
            .iter()
            .any(|m| m.kind() == StatementKind::Commit && m.view() == self.view);
        if sent_commit || self.round.prepares.count(&hash) < self.validators.quorum() {
            return;
        }
        let certificate = PreparedCertificate {
            height: self.height,
            view: self.view,
            block_hash: hash,
            signatures: self.round.prepares.signatures(&hash),
        };
        // The certificate is durable before the commit vote that depends on it leaves (PBFT 4.4).
        self.prepared = Some(Prepared {
            certificate,
            block: proposal.block.clone(),
        });
        self.dirty = true;
        self.cast_vote(VoteKind::Commit, hash);
        self.check_committed();
    }

    /// PBFT 4.2: committed = 2f+1 matching commits; they form the commit certificate.
    pub(super) fn check_committed(&mut self) {
        let Some(hash) = self.round.commits.quorum_block(self.validators.quorum()) else {
            return;
        };
        let certificate = CommitCertificate {
            height: self.height,
            view: self.view,
            block_hash: hash,
            signatures: self.round.commits.signatures(&hash),
        };
        match self.known_block(&hash) {
            Some(block) => self.commit(block, certificate),
            // Decided without us having the block: fetch it like any certified block.
            None => self.note_certificate(&certificate),
        }
    }

    /// The block with `hash` if this replica holds it (current proposal or prepared block).
    pub(super) fn known_block(&self, hash: &Hash) -> Option<Block> {
        let proposal = self
            .round
            .proposal
            .as_ref()
            .filter(|p| p.hash == *hash)
            .map(|p| p.block.clone());
        proposal.or_else(|| {
            self.prepared
                .as_ref()
                .filter(|p| p.certificate.block_hash == *hash)
                .map(|p| p.block.clone())
        })
    }

    /// Decides `block`: hands it to the host and waits for the next height's validator set.
    pub(super) fn commit(&mut self, block: Block, certificate: CommitCertificate) {
        assert_eq!(
            block.height(),
            self.height,
            "only the current height commits"
        );
        assert_eq!(
            block.hash(),
            certificate.block_hash,
            "the certificate is for this block"
        );
        // What was signed at this height is durable before the commit (crash between the two).
        self.flush_persist();
        bump(&mut self.stats.commits);
        self.out.commit = Some(Commit {
            block,
            certificate: certificate.clone(),
        });
        self.last_certificate = Some(certificate);
        self.status = Status::AwaitingValidators;
        self.round = Default::default();
        self.view_changes.clear();
        self.cancel_timer();
        let next = self
            .height
            .checked_add(1)
            .expect("heights never reach u64::MAX");
        self.request(Request::ValidatorSet { height: next });
    }

    /// The leader's block for `(height, view)` is ready.
    pub(super) fn on_proposal_built(&mut self, height: Height, view: View, block: Block) {
        let current = height == self.height && view == self.view && self.is_leader(view);
        let shaped = block.height() == height
            && block.header.view == view
            && block.header.proposer == self.me;
        if !current || !shaped {
            return bump(&mut self.stats.stale_inputs);
        }
        match self.status {
            // PBFT 4.2: the primary multicasts the pre-prepare
            Status::Normal if view == 0 && self.round.proposal.is_none() => {
                self.send_pre_prepare(block)
            }
            Status::ViewChanging => self.send_new_view(Some(block)),
            _ => bump(&mut self.stats.stale_inputs),
        }
    }

    fn send_pre_prepare(&mut self, block: Block) {
        let hash = block.hash();
        let proposal = Proposal {
            height: self.height,
            view: self.view,
            block_hash: hash,
        };
        if let Some(message) = self.sign_once(Payload::PrePrepare {
            proposal,
            block: block.clone(),
        }) {
            self.broadcast(message.clone());
            self.accept_proposal(message, hash, block);
        }
    }

    /// After a restart: re-send what was signed in the current view and take it up again.
    pub(super) fn resume_signed(&mut self) {
        let current: Vec<Message> = self
            .signed
            .iter()
            .filter(|m| m.view() == self.view)
            .cloned()
            .collect();
        for message in current {
            self.broadcast(message.clone());
            match message.payload.clone() {
                Payload::PrePrepare { proposal, block } => {
                    self.accept_proposal(message, proposal.block_hash, block)
                }
                Payload::NewView { new_view, block } if self.status == Status::Normal => {
                    self.round.new_view = Some(message.clone());
                    self.accept_proposal(message, new_view.block_hash, block);
                }
                Payload::Vote(_) => self.tally_own(&message),
                Payload::ViewChange { .. } => self.record_view_change(message),
                _ => {}
            }
        }
    }
}
