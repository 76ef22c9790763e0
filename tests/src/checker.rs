//! The invariants checked after every simulation step.
//!
//! - **agreement**: no two honest replicas commit different blocks at a height;
//! - **validity**: a committed block was proposed (seen in a pre-prepare or new view), extends
//!   the committed chain, has the leader of its header's view as proposer, and matches its
//!   `tx_root` with valid transaction signatures;
//! - **certificate validity**: every commit carries a certificate that verifies against the
//!   validator set for that block;
//! - **no honest equivocation**: no honest replica signs two different statements of one kind for
//!   the same `(height, view)`, across crashes and restarts.

use std::collections::{BTreeMap, BTreeSet};

use cassia_consensus::{Commit, Message, Payload, StatementKind};
use cassia_crypto::{GenesisHash, Hash, PublicKey};
use cassia_engine::block::verify_signatures;
use cassia_ledger::{Height, ValidatorSet, View};

/// Invariant state and the violations found.
#[derive(Debug)]
pub struct Checker {
    /// The genesis: block 1's parent, and what every signature covers.
    genesis: GenesisHash,
    validators: ValidatorSet,
    /// First block committed at each height (by any honest node).
    committed: BTreeMap<Height, Hash>,
    /// Every block hash proposed by anyone.
    proposed: BTreeSet<Hash>,
    /// What each honest validator signed, per (height, view, kind).
    signed: BTreeMap<(PublicKey, Height, View, StatementKind), Vec<u8>>,
    /// Distinct (height, view) pairs in which an honest leader sent a new view.
    new_views: BTreeSet<(Height, View)>,
    violations: Vec<String>,
}

impl Checker {
    /// A checker for the chain `genesis` with validators `validators`.
    pub fn new(genesis: GenesisHash, validators: ValidatorSet) -> Checker {
        Checker {
            genesis,
            validators,
            committed: BTreeMap::new(),
            proposed: BTreeSet::new(),
            signed: BTreeMap::new(),
            new_views: BTreeSet::new(),
            violations: Vec::new(),
        }
    }

    /// Any node put `message` on the network: remember proposals.
    pub fn on_any_send(&mut self, message: &Message) {
        match &message.payload {
            Payload::PrePrepare { block, .. } | Payload::NewView { block, .. } => {
                self.proposed.insert(block.hash());
            }
            _ => {}
        }
    }

    /// An honest node sent `message`: it must not contradict anything it signed before.
    pub fn on_honest_send(&mut self, node: usize, message: &Message) {
        if message.kind() == StatementKind::Decided {
            return;
        }
        if message.kind() == StatementKind::NewView {
            self.new_views.insert((message.height(), message.view()));
        }
        let key = (
            message.sender,
            message.height(),
            message.view(),
            message.kind(),
        );
        let bytes = message.payload.signing_bytes(&self.genesis);
        match self.signed.get(&key) {
            Some(earlier) if *earlier != bytes => self.violations.push(format!(
                "equivocation: honest node {node} signed two {:?} at height {} view {}",
                message.kind(),
                message.height(),
                message.view()
            )),
            Some(_) => {}
            None => {
                self.signed.insert(key, bytes);
            }
        }
    }

    /// An honest node committed.
    pub fn on_commit(&mut self, node: usize, commit: &Commit) {
        let height = commit.block.height();
        let hash = commit.block.hash();
        match self.committed.get(&height) {
            Some(first) if *first != hash => self.violations.push(format!(
                "agreement: node {node} committed {} at height {height}, another honest node {}",
                hash.short(),
                first.short()
            )),
            Some(_) => {}
            None => {
                self.committed.insert(height, hash);
            }
        }
        self.check_validity(node, commit);
        let certificate = &commit.certificate;
        if certificate.height != height
            || certificate
                .verify_for(&self.genesis, &self.validators, &hash)
                .is_err()
        {
            self.violations.push(format!(
                "certificate: node {node} committed height {height} with an invalid certificate"
            ));
        }
    }

    fn check_validity(&mut self, node: usize, commit: &Commit) {
        let block = &commit.block;
        let height = block.height();
        let hash = block.hash();
        let parent = if height == 1 {
            Some(self.genesis.0)
        } else {
            self.committed.get(&(height - 1)).copied()
        };
        let mut problems = Vec::new();
        if !self.proposed.contains(&hash) {
            problems.push("never proposed");
        }
        if parent.is_some_and(|parent| parent != block.header.parent) {
            problems.push("does not extend the committed chain");
        }
        if block.header.proposer != self.validators.leader(height, block.header.view).node_key {
            problems.push("proposer is not the leader of its view");
        }
        if block.tx_tree().root() != block.header.tx_root
            || verify_signatures(
                &self.genesis,
                &block.transactions.iter().collect::<Vec<_>>(),
            )
            .is_err()
        {
            problems.push("transactions do not match the header or are badly signed");
        }
        for problem in problems {
            self.violations.push(format!(
                "validity: node {node} committed height {height}: {problem}"
            ));
        }
    }

    /// Records a violation found elsewhere (liveness, engine failure).
    pub fn report(&mut self, violation: String) {
        self.violations.push(violation);
    }

    /// Violations found so far.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// Highest height committed by any honest node.
    pub fn highest_committed(&self) -> Height {
        self.committed.keys().next_back().copied().unwrap_or(0)
    }

    /// View changes completed by honest leaders (distinct new views sent).
    pub fn view_changes(&self) -> usize {
        self.new_views.len()
    }
}
