//! Governance: proposals, votes by organization, and changes taking effect at a stated height.
//!
//! - A proposal is approved once more than 2/3 of the active organizations voted yes (each
//!   organization has one vote, cast by any of its admins; the proposer's organization votes
//!   yes). It is rejected once that can no longer happen.
//! - An approved change is scheduled for its `effective_height`, which must be at least two
//!   blocks after the approval: the change is applied at the end of block `effective_height - 1`
//!   (`end_block`), so the state after that block already holds the validator set and
//!   parameters in force for block `effective_height`, and every node learns them one block in
//!   advance, in time to connect a new validator or refuse a removed one.
//! - An added validator is not counted toward any quorum until it proves it has caught up: it
//!   signs a `ValidatorReady` naming a block at most [`READY_WINDOW`] blocks old. It then joins
//!   at `effective_height`, or two blocks after its readiness if that is later.
//! - A change that would leave fewer than [`MIN_VALIDATORS`] validators (3f + 1 with f = 1) is
//!   refused when proposed and again when it would take effect.
//!
//! This module holds a proposal's life after the operation that opened it, voted on it or
//! proved readiness (those operations' handlers are in `operations/governance.rs`): the tally,
//! approval, scheduling and the change taking effect. It also reads governance membership from
//! any state for the node ([`validator_set`], [`pending_validators`]), so no other crate
//! decodes these state keys itself.

use cassia_crypto::Hash;

use super::checks::organization_exists;
use super::{Overlay, StateReader, genesis::admin_account, keys};
use crate::genesis::Parameters;
use crate::records::{
    Account, GovAction, OrganizationRecord, PendingValidator, ProposalRecord, ProposalStatus,
};
use crate::validators::ValidatorSet;
use crate::{Height, Validator};

/// How old the block a `ValidatorReady` names may be.
pub const READY_WINDOW: Height = 20;
/// The fewest validators a change may leave: n = 3f + 1 with f = 1 tolerates one fault.
pub const MIN_VALIDATORS: usize = 4;
/// How many blocks after its approval a change may take effect at the earliest.
pub const MIN_DELAY: Height = 2;

/// The validator set in force for the next block (`gov/validators`): in the state after block
/// `h`, the set that votes on block `h + 1`. `None` only if nothing decodable is stored there;
/// every state made from a genesis holds a set.
pub fn validator_set(state: &dyn StateReader) -> Option<ValidatorSet> {
    Overlay::new(state).record(keys::VALIDATORS)
}

/// The validators the organizations approved that have yet to prove they caught up
/// (`gov/pending`), in approval order: they are not counted toward any quorum, but a node
/// admits them as peers so they can catch up. Empty when none is stored.
pub fn pending_validators(state: &dyn StateReader) -> Vec<PendingValidator> {
    pending(&Overlay::new(state))
}

/// The validator set in force for the next block, as the block has left it so far.
fn validators(overlay: &Overlay<'_>) -> ValidatorSet {
    overlay
        .record(keys::VALIDATORS)
        .unwrap_or(ValidatorSet { validators: vec![] })
}

/// The approved validators awaiting readiness, as the block has left them so far.
pub(super) fn pending(overlay: &Overlay<'_>) -> Vec<PendingValidator> {
    overlay.record(keys::PENDING_VALIDATORS).unwrap_or_default()
}

/// The ids of the active organizations, sorted.
fn organizations(overlay: &Overlay<'_>) -> Vec<String> {
    overlay.record(keys::ORGANIZATIONS).unwrap_or_default()
}

/// Whether `action` can apply to the current state; the reason if not. Checked when proposed,
/// when approved and when due, since the state may move on in between.
pub(super) fn check_applicable(overlay: &Overlay<'_>, action: &GovAction) -> Result<(), String> {
    let set = validators(overlay);
    match action {
        GovAction::AddOrganization { organization } => {
            if overlay.get(&keys::organization(&organization.id)).is_some() {
                return Err(format!("organization id {} is taken", organization.id));
            }
            for admin in &organization.admins {
                if overlay
                    .record::<Account>(&keys::account(admin))
                    .is_some_and(|a| a.active)
                {
                    return Err(format!("admin key {admin} already has an account"));
                }
            }
            Ok(())
        }
        GovAction::RemoveOrganization { id } => {
            if !organization_exists(overlay, id) {
                return Err(format!("{id} is not a member organization"));
            }
            if organizations(overlay).len() <= 1 {
                return Err("the last organization cannot be removed".into());
            }
            if set.validators.iter().any(|v| &v.organization == id) {
                return Err(format!("{id} still runs validators; remove them first"));
            }
            Ok(())
        }
        GovAction::AddValidator { validator } => {
            if !organization_exists(overlay, &validator.organization) {
                return Err(format!(
                    "{} is not a member organization",
                    validator.organization
                ));
            }
            let taken =
                |v: &Validator| v.node_key == validator.node_key || v.name == validator.name;
            if set.validators.iter().any(taken)
                || pending(overlay).iter().any(|p| taken(&p.validator))
            {
                return Err(format!(
                    "validator {} ({}) is already in the set or pending",
                    validator.name, validator.node_key
                ));
            }
            Ok(())
        }
        GovAction::RemoveValidator { node_key, .. } => {
            if !set.contains(node_key) {
                return Err(format!("{node_key} is not a validator"));
            }
            if set.len() <= MIN_VALIDATORS {
                return Err(format!(
                    "removing it would leave {} validators; a fault-tolerant quorum needs at \
                     least {MIN_VALIDATORS} (3f + 1 with f = 1)",
                    set.len() - 1
                ));
            }
            Ok(())
        }
        GovAction::SetParameters { .. } => Ok(()),
    }
}

/// Counts the votes of active organizations and closes the proposal when decided.
pub(super) fn tally(overlay: &mut Overlay<'_>, height: Height, proposal: &mut ProposalRecord) {
    let members = organizations(overlay);
    let n = members.len();
    let count = |value: bool| {
        members
            .iter()
            .filter(|org| proposal.votes.get(*org) == Some(&value))
            .count()
    };
    let (yes, no) = (count(true), count(false));
    // More than 2/3 of the organizations: 3 * yes > 2 * n.
    if 3 * yes > 2 * n {
        approve(overlay, height, proposal);
    } else if 3 * (n - no) <= 2 * n {
        proposal.status = ProposalStatus::Rejected;
    }
}

/// An approved proposal: failed if it came too late or no longer applies; an added validator
/// waits for its readiness; any other change is scheduled for its effective height.
fn approve(overlay: &mut Overlay<'_>, height: Height, proposal: &mut ProposalRecord) {
    let earliest = height.saturating_add(MIN_DELAY);
    if proposal.effective_height < earliest {
        proposal.status = ProposalStatus::Failed(format!(
            "approved at height {height}, too late for effective height {}",
            proposal.effective_height
        ));
        return;
    }
    if let Err(reason) = check_applicable(overlay, &proposal.action) {
        proposal.status = ProposalStatus::Failed(reason);
        return;
    }
    if let GovAction::AddValidator { validator } = &proposal.action {
        let mut waiting = pending(overlay);
        waiting.push(PendingValidator {
            validator: validator.clone(),
            effective_height: proposal.effective_height,
            proposal: proposal.id,
        });
        overlay.put_record(keys::PENDING_VALIDATORS.to_vec(), &waiting);
        proposal.status = ProposalStatus::AwaitingReadiness;
    } else {
        schedule(
            overlay,
            proposal.effective_height,
            proposal.id,
            &proposal.action,
        );
        proposal.status = ProposalStatus::Approved;
    }
}

/// Adds `action` (of `proposal`) to the changes due at `height`.
fn schedule(overlay: &mut Overlay<'_>, height: Height, proposal: Hash, action: &GovAction) {
    let key = keys::scheduled(height);
    let mut due: Vec<(Hash, GovAction)> = overlay.record(&key).unwrap_or_default();
    due.push((proposal, action.clone()));
    overlay.put_record(key, &due);
}

/// A validator awaiting readiness (at `position` in `waiting`) has proven it caught up at
/// `height`: it leaves the waiting list and is scheduled to join at its effective height, or
/// [`MIN_DELAY`] blocks after its readiness if that is later; its proposal is then approved.
pub(super) fn schedule_join(
    overlay: &mut Overlay<'_>,
    height: Height,
    mut waiting: Vec<PendingValidator>,
    position: usize,
) {
    let ready = waiting.remove(position);
    overlay.put_record(keys::PENDING_VALIDATORS.to_vec(), &waiting);
    let joins = ready.effective_height.max(height.saturating_add(MIN_DELAY));
    let action = GovAction::AddValidator {
        validator: ready.validator,
    };
    schedule(overlay, joins, ready.proposal, &action);
    let key = keys::proposal(&ready.proposal);
    if let Some(mut proposal) = overlay.record::<ProposalRecord>(&key) {
        proposal.status = ProposalStatus::Approved;
        overlay.put_record(key, &proposal);
    }
}

/// End of block `height`: the changes due at `height + 1` take effect. One that no longer
/// applies (the state moved on since approval) is skipped and its proposal marked failed.
pub(super) fn end_block(overlay: &mut Overlay<'_>, height: Height) {
    let key = keys::scheduled(height.saturating_add(1));
    let Some(due) = overlay.record::<Vec<(Hash, GovAction)>>(&key) else {
        return;
    };
    overlay.delete(key);
    for (proposal, action) in due {
        if let Err(reason) = check_applicable(overlay, &action) {
            let key = keys::proposal(&proposal);
            if let Some(mut record) = overlay.record::<ProposalRecord>(&key) {
                record.status = ProposalStatus::Failed(reason);
                overlay.put_record(key, &record);
            }
            continue;
        }
        take_effect(overlay, height, &action);
    }
}

/// Applies a due change that still applies.
fn take_effect(overlay: &mut Overlay<'_>, height: Height, action: &GovAction) {
    match action {
        GovAction::AddOrganization { organization } => {
            overlay.put_record(
                keys::organization(&organization.id),
                &OrganizationRecord {
                    organization: organization.clone(),
                    active: true,
                },
            );
            for admin in &organization.admins {
                overlay.put_record(
                    keys::account(admin),
                    &admin_account(&organization.id, height),
                );
            }
            let mut ids = organizations(overlay);
            ids.push(organization.id.clone());
            ids.sort();
            overlay.put_record(keys::ORGANIZATIONS.to_vec(), &ids);
        }
        GovAction::RemoveOrganization { id } => {
            let key = keys::organization(id);
            if let Some(mut record) = overlay.record::<OrganizationRecord>(&key) {
                record.active = false;
                overlay.put_record(key, &record);
            }
            let mut ids = organizations(overlay);
            ids.retain(|other| other != id);
            overlay.put_record(keys::ORGANIZATIONS.to_vec(), &ids);
        }
        GovAction::AddValidator { validator } => {
            let mut set = validators(overlay);
            set.validators.push(validator.clone());
            overlay.put_record(keys::VALIDATORS.to_vec(), &set);
        }
        GovAction::RemoveValidator { node_key, .. } => {
            let mut set = validators(overlay);
            set.validators.retain(|v| &v.node_key != node_key);
            overlay.put_record(keys::VALIDATORS.to_vec(), &set);
        }
        GovAction::SetParameters { parameters } => {
            overlay.put_record::<Parameters>(keys::PARAMETERS.to_vec(), parameters);
        }
    }
}

#[cfg(test)]
mod tests {
    use cassia_crypto::{Hash, Keypair};

    use super::{pending_validators, validator_set};
    use crate::execution::{MemoryState, keys};
    use crate::records::PendingValidator;
    use crate::{Genesis, Organization, Parameters, Validator, codec};

    fn validator(seed: u8) -> Validator {
        Validator {
            name: format!("v{seed}"),
            organization: "org0".into(),
            node_key: Keypair::from_secret([seed; 32]).public(),
            p2p_address: format!("/ip4/127.0.0.1/tcp/{}", 7000 + u32::from(seed)),
        }
    }

    fn genesis() -> Genesis {
        Genesis {
            chain_id: "governance-test".into(),
            genesis_time_ms: 1,
            organizations: vec![Organization {
                id: "org0".into(),
                name: "Org 0".into(),
                admins: vec![Keypair::from_secret([10; 32]).public()],
            }],
            validators: (20..24).map(validator).collect(),
            parameters: Parameters::default(),
            approvals: vec![],
        }
    }

    #[test]
    fn membership_reads_the_genesis_set_and_no_newcomers() {
        let genesis = genesis();
        let state = MemoryState::from_genesis(&genesis);
        assert_eq!(validator_set(&state), Some(genesis.validator_set()));
        assert_eq!(pending_validators(&state), Vec::new());
    }

    #[test]
    fn membership_reads_the_approved_newcomers_in_order() {
        let mut state = MemoryState::from_genesis(&genesis());
        let waiting: Vec<PendingValidator> = [24, 25]
            .into_iter()
            .map(|seed| PendingValidator {
                validator: validator(seed),
                effective_height: 10,
                proposal: Hash::of(&[seed]),
            })
            .collect();
        state
            .values
            .insert(keys::PENDING_VALIDATORS.to_vec(), codec::encode(&waiting));
        assert_eq!(pending_validators(&state), waiting);
    }

    #[test]
    fn a_state_without_governance_records_has_no_set_and_no_newcomers() {
        let mut state = MemoryState::default();
        assert_eq!(validator_set(&state), None);
        assert_eq!(pending_validators(&state), Vec::new());
        // Bytes no replica would write read as absent, like every record.
        state
            .values
            .insert(keys::VALIDATORS.to_vec(), vec![0xff; 3]);
        assert_eq!(validator_set(&state), None);
    }
}
