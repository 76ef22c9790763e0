//! Governance handlers: opening a proposal, voting on it, and an approved validator proving it
//! has caught up (`Propose`, `Vote`, `ValidatorReady`).
//!
//! What happens to a proposal afterwards (the tally, approval, scheduling, taking effect at the
//! end of a block) and the rules it follows are in [`crate::execution::governance`].

use cassia_crypto::{GenesisHash, Hash, PublicKey};

use super::handler::Handler;
use crate::Height;
use crate::execution::checks::{Denied, Unmet, check_public_key, check_text, member};
use crate::execution::governance::{
    MIN_DELAY, READY_WINDOW, check_applicable, pending, schedule_join, tally,
};
use crate::execution::{MAX_ID_BYTES, Overlay, Step, keys};
use crate::records::{Account, GovAction, PendingValidator, ProposalRecord, ProposalStatus, Role};
use crate::transaction::Rejection;

/// `Propose`: an admin opens a proposal; its organization votes yes.
pub(super) struct Propose<'a> {
    pub(super) action: &'a GovAction,
    pub(super) effective_height: Height,
}

impl Handler for Propose<'_> {
    /// The proposing admin's account: its organization proposes and votes yes.
    type Permit = Account;

    fn check_fields(&self, genesis: &GenesisHash) -> Result<(), Rejection> {
        check_action_fields(genesis, self.action)
    }

    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<Account, Denied> {
        // Organizations govern the consortium, each through its admins.
        member(state, signer, Role::Admin)
    }

    fn execute(self, overlay: &mut Overlay<'_>, step: &Step, admin: Account) -> Result<(), Unmet> {
        let earliest = step.height.saturating_add(MIN_DELAY);
        if self.effective_height < earliest {
            return Err(Unmet(format!(
                "effective height {} is too soon: at least {earliest}",
                self.effective_height
            )));
        }
        check_applicable(overlay, self.action).map_err(Unmet)?;
        let mut proposal = ProposalRecord {
            id: step.tx_id,
            action: self.action.clone(),
            effective_height: self.effective_height,
            proposer: admin.organization.clone(),
            votes: [(admin.organization, true)].into_iter().collect(),
            status: ProposalStatus::Open,
            proposed: step.height,
        };
        tally(overlay, step.height, &mut proposal);
        overlay.put_record(keys::proposal(&proposal.id), &proposal);
        Ok(())
    }
}

/// Stateless checks of a proposed action's fields (and of a removal's proof, on the chain
/// `genesis`).
fn check_action_fields(genesis: &GenesisHash, action: &GovAction) -> Result<(), Rejection> {
    match action {
        GovAction::AddOrganization { organization } => {
            check_text("organization id", &organization.id, MAX_ID_BYTES)?;
            check_text("organization name", &organization.name, MAX_ID_BYTES * 2)?;
            if organization.admins.is_empty() || organization.admins.len() > 16 {
                return Err(Rejection::Malformed(
                    "an organization needs 1 to 16 admin keys".into(),
                ));
            }
            for admin in &organization.admins {
                check_public_key("admin key", admin)?;
            }
            Ok(())
        }
        GovAction::RemoveOrganization { id } => check_text("organization id", id, MAX_ID_BYTES),
        GovAction::AddValidator { validator } => {
            check_text("validator name", &validator.name, MAX_ID_BYTES)?;
            check_text(
                "validator address",
                &validator.p2p_address,
                MAX_ID_BYTES * 2,
            )?;
            check_public_key("validator node key", &validator.node_key)
        }
        GovAction::RemoveValidator { node_key, proof } => {
            let Some(proof) = proof else {
                return Ok(());
            };
            // A proof against another key would lend this proposal grounds it does not have.
            if proof.validator != *node_key {
                return Err(Rejection::Malformed(format!(
                    "the equivocation proof is against {}, not {node_key}",
                    proof.validator
                )));
            }
            proof
                .verify(genesis)
                .map_err(|e| Rejection::Malformed(format!("equivocation proof: {e}")))
        }
        GovAction::SetParameters { parameters } => parameters
            .validate()
            .map_err(|e| Rejection::Malformed(e.to_string())),
    }
}

/// `Vote`: an admin casts (or changes) its organization's vote on an open proposal.
pub(super) struct Vote<'a> {
    pub(super) proposal: &'a Hash,
    pub(super) approve: bool,
}

impl Handler for Vote<'_> {
    /// The voting admin's account: the vote is its organization's.
    type Permit = Account;

    fn check_fields(&self, _genesis: &GenesisHash) -> Result<(), Rejection> {
        // A proposal id and a yes or no are well-formed once decoded.
        Ok(())
    }

    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<Account, Denied> {
        // Each organization has one vote, cast by any of its admins.
        member(state, signer, Role::Admin)
    }

    fn execute(self, overlay: &mut Overlay<'_>, step: &Step, admin: Account) -> Result<(), Unmet> {
        let id = self.proposal;
        let key = keys::proposal(id);
        let Some(mut proposal) = overlay.record::<ProposalRecord>(&key) else {
            return Err(Unmet(format!("no proposal {id}")));
        };
        if proposal.status != ProposalStatus::Open {
            return Err(Unmet(format!(
                "proposal {id} is closed ({:?})",
                proposal.status
            )));
        }
        proposal.votes.insert(admin.organization, self.approve);
        tally(overlay, step.height, &mut proposal);
        overlay.put_record(key, &proposal);
        Ok(())
    }
}

/// `ValidatorReady`: an approved validator, signing with its node key, names a recent block it
/// holds; it is then scheduled to join.
pub(super) struct ValidatorReady<'a> {
    pub(super) height: Height,
    pub(super) block_hash: &'a Hash,
}

/// What authorizing readiness read: the validators awaiting readiness, and the signer's place
/// among them.
pub(super) struct Awaiting {
    waiting: Vec<PendingValidator>,
    position: usize,
}

impl Handler for ValidatorReady<'_> {
    type Permit = Awaiting;

    fn check_fields(&self, _genesis: &GenesisHash) -> Result<(), Rejection> {
        // A height and a hash are well-formed once decoded; recency is judged against the state.
        Ok(())
    }

    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<Awaiting, Denied> {
        let waiting = pending(state);
        // Only a validator the organizations approved may join, and only by its own node key.
        let Some(position) = waiting.iter().position(|p| p.validator.node_key == *signer) else {
            return Err(Denied(format!(
                "{signer} is not an approved validator awaiting readiness"
            )));
        };
        Ok(Awaiting { waiting, position })
    }

    fn execute(
        self,
        overlay: &mut Overlay<'_>,
        step: &Step,
        permit: Awaiting,
    ) -> Result<(), Unmet> {
        let height = self.height;
        // Naming a recent block of this chain is the proof of having caught up with it.
        if height >= step.height || height.saturating_add(READY_WINDOW) < step.height {
            return Err(Unmet(format!(
                "height {height} is not a recent block (within {READY_WINDOW} of {})",
                step.height
            )));
        }
        let known: Option<Hash> = overlay.record(&keys::block_hash(height));
        if known.as_ref() != Some(self.block_hash) {
            return Err(Unmet(format!(
                "block {height} is not {}: the validator is not on this chain",
                self.block_hash
            )));
        }
        schedule_join(overlay, step.height, permit.waiting, permit.position);
        Ok(())
    }
}
