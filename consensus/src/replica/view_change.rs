//! View changes (PBFT 4.4) and their liveness rules (PBFT 4.5.2).

use cassia_ledger::{Block, Height, View};

use super::{Replica, Round, Status, ViewChangeEntry};
use crate::io::Evidence;
use crate::message::{Message, NewView, Payload, SignedViewChange, StatementKind, ViewChange};
use crate::rule::{RequiredProposal, check_view_changes, required_proposal};
use crate::stats::{DropReason, bump};

impl Replica {
    /// The view timer fired.
    pub(super) fn on_timer(&mut self, height: Height, view: View, generation: u64) {
        if generation != self.timer_generation || height != self.height || view != self.view {
            return bump(&mut self.stats.stale_inputs);
        }
        self.refetch_if_behind();
        match self.status {
            Status::Normal => self.on_normal_timeout(),
            Status::ViewChanging => self.on_view_change_timeout(),
            Status::AwaitingValidators => {}
        }
    }

    /// PBFT 4.4: a backup whose timer expires in view v starts a view change to v+1. If it holds
    /// the view's proposal, it first re-sends it with its votes once (messages may have been
    /// lost) and waits one more timeout.
    fn on_normal_timeout(&mut self) {
        let Some(proposal) = self
            .round
            .proposal
            .as_ref()
            .filter(|_| self.retransmits == 0)
        else {
            return self.start_view_change(self.view.saturating_add(1));
        };
        self.retransmits = 1;
        let mut again = vec![proposal.message.clone()];
        again.extend(
            self.signed
                .iter()
                .filter(|m| m.view() == self.view && m.kind() != StatementKind::PrePrepare)
                .cloned(),
        );
        again.dedup_by(|a, b| a.same_statement(b));
        for message in again {
            self.broadcast(message);
        }
        self.arm_timer();
    }

    /// PBFT 4.5.2: a replica moves past view v only if 2f+1 replicas asked for v and the new
    /// primary still failed; otherwise it re-sends its view change (messages may have been lost).
    fn on_view_change_timeout(&mut self) {
        let asking = self
            .view_changes
            .values()
            .filter(|entry| entry.view >= self.view)
            .count();
        if self.retransmits > 0 && asking >= self.validators.quorum() {
            return self.start_view_change(self.view.saturating_add(1));
        }
        self.retransmits = self.retransmits.saturating_add(1);
        let own = self
            .signed
            .iter()
            .find(|m| m.kind() == StatementKind::ViewChange && m.view() == self.view)
            .cloned();
        if let Some(message) = own {
            self.broadcast(message);
        }
        if let Some(certificate) = self.last_certificate.clone() {
            let decided = Message::sign(
                &self.config.genesis,
                &self.config.key,
                Payload::Decided(certificate),
            );
            self.broadcast(decided);
        }
        self.arm_timer();
    }

    /// PBFT 4.4: enter view `view` as view-changing and multicast a view change carrying the
    /// highest prepared certificate.
    pub(super) fn start_view_change(&mut self, view: View) {
        if view <= self.view {
            return;
        }
        bump(&mut self.stats.view_changes);
        self.view = view;
        self.status = Status::ViewChanging;
        self.round = Round::default();
        self.retransmits = 0;
        self.prune_signed();
        self.dirty = true;
        let view_change = ViewChange {
            height: self.height,
            view,
            prepared: self.prepared.as_ref().map(|p| p.certificate.clone()),
        };
        let prepared_block = self.prepared.as_ref().map(|p| p.block.clone());
        if let Some(message) = self.sign_once(Payload::ViewChange {
            view_change,
            prepared_block,
        }) {
            self.broadcast(message.clone());
            self.record_view_change(message);
        }
        self.arm_timer();
        self.try_new_view();
    }

    /// A peer's view change at the current height.
    pub(super) fn on_view_change(&mut self, message: Message, view_change: ViewChange) {
        if view_change.view < self.view
            || (view_change.view == self.view && self.status == Status::Normal)
        {
            return self.on_stale_view_change(message);
        }
        if let Some(certificate) = &view_change.prepared {
            let below = certificate.height == self.height && certificate.view < view_change.view;
            if !below
                || certificate
                    .verify(&self.config.genesis, &self.validators)
                    .is_err()
            {
                return self.stats.drops.count(DropReason::BadCertificate);
            }
        }
        self.record_view_change(message);
        self.apply_join_rule();
        self.try_new_view();
    }

    /// Keeps each validator's highest view change (so at most n are held).
    pub(super) fn record_view_change(&mut self, message: Message) {
        let view = message.view();
        let newer = self
            .view_changes
            .get(&message.sender)
            .is_none_or(|entry| entry.view < view);
        if newer {
            self.view_changes
                .insert(message.sender, ViewChangeEntry { view, message });
        } else {
            self.stats.drops.count(DropReason::Duplicate);
        }
    }

    /// PBFT 4.5.2: f+1 view changes for views above ours make us join the smallest of them.
    fn apply_join_rule(&mut self) {
        let mut views: Vec<View> = self
            .view_changes
            .iter()
            .filter(|(sender, entry)| **sender != self.me && entry.view > self.view)
            .map(|(_, entry)| entry.view)
            .collect();
        let needed = self.validators.max_faulty() + 1;
        if views.len() < needed {
            return;
        }
        views.sort_unstable_by(|a, b| b.cmp(a));
        self.start_view_change(views[needed - 1]);
    }

    /// A view change for a view we have left (or already started): the sender missed the new view.
    pub(super) fn on_stale_view_change(&mut self, message: Message) {
        self.stats.drops.count(if message.height() < self.height {
            DropReason::StaleHeight
        } else {
            DropReason::StaleView
        });
        let answer = if message.height() <= self.committed_height() {
            // Behind by a height or more: the certificate lets it fetch what it misses.
            let certificate = self.last_certificate.clone();
            certificate
                .map(|c| Message::sign(&self.config.genesis, &self.config.key, Payload::Decided(c)))
        } else if self.status == Status::Normal {
            self.round.new_view.clone()
        } else {
            self.signed
                .iter()
                .find(|m| m.kind() == StatementKind::ViewChange && m.view() == self.view)
                .cloned()
        };
        // At most one answer per validator per timer period: no peer can make us send more.
        if let Some(answer) = answer.filter(|_| self.answered.insert(message.sender)) {
            self.send_to(message.sender, answer);
        }
    }

    /// PBFT 4.4: the primary of the new view, holding 2f+1 view changes for it, sends the new view.
    pub(super) fn try_new_view(&mut self) {
        if self.status != Status::ViewChanging || !self.is_leader(self.view) {
            return;
        }
        let view_changes = self.quorum_of_view_changes();
        if view_changes.len() < self.validators.quorum() {
            return;
        }
        let certificates = view_changes
            .iter()
            .filter_map(|(signed, _)| signed.view_change.prepared.as_ref());
        match required_proposal(certificates) {
            Ok(RequiredProposal::Reproposal(hash)) => {
                let block = view_changes
                    .iter()
                    .filter_map(|(_, block)| block.clone())
                    .find(|b| b.hash() == hash);
                self.send_new_view(block);
            }
            Ok(RequiredProposal::Fresh) => self.request_proposal(),
            // Impossible with at most f faulty validators; wait for the view to time out.
            Err(_) => self.stats.drops.count(DropReason::BadCertificate),
        }
    }

    /// The first 2f+1 view changes for the current view (by validator key), with their blocks.
    fn quorum_of_view_changes(&self) -> Vec<(SignedViewChange, Option<Block>)> {
        self.view_changes
            .values()
            .filter(|entry| entry.view == self.view)
            .filter_map(|entry| {
                let block = match &entry.message.payload {
                    Payload::ViewChange { prepared_block, .. } => prepared_block.clone(),
                    _ => None,
                };
                entry
                    .message
                    .signed_view_change()
                    .map(|signed| (signed, block))
            })
            .take(self.validators.quorum())
            .collect()
    }

    /// Signs and sends the new view proposing `block` (or nothing if it is missing).
    pub(super) fn send_new_view(&mut self, block: Option<Block>) {
        let view_changes = self.quorum_of_view_changes();
        let Some(block) = block else { return };
        if view_changes.len() < self.validators.quorum() {
            return;
        }
        let new_view = NewView {
            height: self.height,
            view: self.view,
            view_changes: view_changes.into_iter().map(|(signed, _)| signed).collect(),
            block_hash: block.hash(),
        };
        if let Some(message) = self.sign_once(Payload::NewView {
            new_view,
            block: block.clone(),
        }) {
            self.broadcast(message.clone());
            self.enter_new_view(message, block);
        }
    }

    /// PBFT 4.4: a replica accepts a new view only after recomputing its proposal rule.
    pub(super) fn on_new_view(&mut self, message: Message, new_view: NewView, block: Block) {
        if new_view.view < self.view
            || (new_view.view == self.view && self.status == Status::Normal)
        {
            let same = self
                .round
                .new_view
                .as_ref()
                .is_some_and(|m| m.same_statement(&message));
            return self.stats.drops.count(if same {
                DropReason::Duplicate
            } else {
                DropReason::StaleView
            });
        }
        if new_view.view == 0 || message.sender != self.leader(new_view.view) {
            return self.stats.drops.count(DropReason::NotLeader);
        }
        let rule = check_view_changes(
            &self.config.genesis,
            &self.validators,
            new_view.height,
            new_view.view,
            &new_view.view_changes,
        );
        let follows = match rule {
            Ok(RequiredProposal::Reproposal(hash)) => hash == new_view.block_hash,
            Ok(RequiredProposal::Fresh) => block.header.view == new_view.view,
            Err(_) => false,
        };
        if !follows {
            self.report(Evidence::InvalidNewView(Box::new(message)));
            return self.stats.drops.count(DropReason::BadNewView);
        }
        self.enter_new_view(message, block);
    }

    /// Starts the view of `message` (a valid new view) with its proposal.
    fn enter_new_view(&mut self, message: Message, block: Block) {
        bump(&mut self.stats.new_views);
        self.view = message.view();
        self.status = Status::Normal;
        self.round = Round {
            new_view: Some(message.clone()),
            ..Round::default()
        };
        self.retransmits = 0;
        self.prune_signed();
        self.dirty = true;
        self.arm_timer();
        self.accept_proposal(message, block.hash(), block);
    }
}
