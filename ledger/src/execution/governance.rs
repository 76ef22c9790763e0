//! Governance: proposals, votes by organization, and changes taking effect at a stated height.
//!
//! - A proposal is approved once more than 2/3 of the active organizations voted yes (each
//!   organization has one vote, cast by any of its admins; the proposer's organization votes
//!   yes). It is rejected once that can no longer happen.
//! - An approved change is scheduled for its `effective_height`, which must be at least two
//!   blocks after the approval: the change is applied at the end of block `effective_height - 1`
//!   ([`end_block`]), so the state after that block already holds the validator set and
//!   parameters in force for block `effective_height`, and every node learns them one block in
//!   advance, in time to connect a new validator or refuse a removed one.
//! - An added validator is not counted toward any quorum until it proves it has caught up: it
//!   signs a `ValidatorReady` naming a block at most [`READY_WINDOW`] blocks old. It then joins
//!   at `effective_height`, or two blocks after its readiness if that is later.
//! - A change that would leave fewer than [`MIN_VALIDATORS`] validators (3f + 1 with f = 1) is
//!   refused when proposed and again when it would take effect.

use cassia_crypto::Hash;

use super::operations::{member, organization_exists};
use super::{MAX_ID_BYTES, Overlay, Step, check_text, genesis::admin_account, keys};
use crate::genesis::Parameters;
use crate::records::{
    Account, GovAction, OrganizationRecord, PendingValidator, ProposalRecord, ProposalStatus, Role,
};
use crate::transaction::Rejection;
use crate::validators::ValidatorSet;
use crate::{Height, Validator};

/// How old the block a `ValidatorReady` names may be.
pub const READY_WINDOW: Height = 20;
/// The fewest validators a change may leave: n = 3f + 1 with f = 1 tolerates one fault.
pub const MIN_VALIDATORS: usize = 4;
/// How many blocks after its approval a change may take effect at the earliest.
pub const MIN_DELAY: Height = 2;

fn malformed<T>(why: String) -> Result<T, Rejection> {
    Err(Rejection::Malformed(why))
}

/// Stateless checks of an action's fields.
pub(crate) fn check_action_fields(action: &GovAction) -> Result<(), Rejection> {
    match action {
        GovAction::AddOrganization { organization } => {
            check_text("organization id", &organization.id, MAX_ID_BYTES)?;
            check_text("organization name", &organization.name, MAX_ID_BYTES * 2)?;
            if organization.admins.is_empty() || organization.admins.len() > 16 {
                return malformed("an organization needs 1 to 16 admin keys".into());
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
            )
        }
        GovAction::RemoveValidator { .. } => Ok(()),
        GovAction::SetParameters { parameters } => parameters
            .validate()
            .map_err(|e| Rejection::Malformed(e.to_string())),
    }
}

/// The validator set in force for the next block.
pub(crate) fn validators(overlay: &Overlay<'_>) -> ValidatorSet {
    overlay
        .record(keys::VALIDATORS)
        .unwrap_or(ValidatorSet { validators: vec![] })
}

fn pending(overlay: &Overlay<'_>) -> Vec<PendingValidator> {
    overlay.record(keys::PENDING_VALIDATORS).unwrap_or_default()
}

fn organizations(overlay: &Overlay<'_>) -> Vec<String> {
    overlay.record(keys::ORGANIZATIONS).unwrap_or_default()
}

/// Whether `action` can apply to the current state; the reason if not.
fn check_applicable(overlay: &Overlay<'_>, action: &GovAction) -> Result<(), String> {
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
        GovAction::RemoveValidator { node_key } => {
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

/// `Propose`: an admin opens a proposal; its organization votes yes.
pub(crate) fn propose(
    overlay: &mut Overlay<'_>,
    step: &Step,
    action: &GovAction,
    effective_height: Height,
) -> Result<(), Rejection> {
    let admin = member(overlay, &step.signer, Role::Admin)?;
    let earliest = step.height.saturating_add(MIN_DELAY);
    if effective_height < earliest {
        return malformed(format!(
            "effective height {effective_height} is too soon: at least {earliest}"
        ));
    }
    check_applicable(overlay, action).map_err(Rejection::Malformed)?;
    let mut proposal = ProposalRecord {
        id: step.tx_id,
        action: action.clone(),
        effective_height,
        proposer: admin.organization.clone(),
        votes: [(admin.organization, true)].into_iter().collect(),
        status: ProposalStatus::Open,
        proposed: step.height,
    };
    tally(overlay, step.height, &mut proposal);
    overlay.put_record(keys::proposal(&proposal.id), &proposal);
    Ok(())
}

/// `Vote`: an admin casts (or changes) its organization's vote on an open proposal.
pub(crate) fn vote(
    overlay: &mut Overlay<'_>,
    step: &Step,
    id: &Hash,
    approve: bool,
) -> Result<(), Rejection> {
    let admin = member(overlay, &step.signer, Role::Admin)?;
    let key = keys::proposal(id);
    let Some(mut proposal) = overlay.record::<ProposalRecord>(&key) else {
        return malformed(format!("no proposal {id}"));
    };
    if proposal.status != ProposalStatus::Open {
        return malformed(format!("proposal {id} is closed ({:?})", proposal.status));
    }
    proposal.votes.insert(admin.organization, approve);
    tally(overlay, step.height, &mut proposal);
    overlay.put_record(key, &proposal);
    Ok(())
}

/// Counts the votes of active organizations and closes the proposal when decided.
fn tally(overlay: &mut Overlay<'_>, height: Height, proposal: &mut ProposalRecord) {
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

fn schedule(overlay: &mut Overlay<'_>, height: Height, proposal: Hash, action: &GovAction) {
    let key = keys::scheduled(height);
    let mut due: Vec<(Hash, GovAction)> = overlay.record(&key).unwrap_or_default();
    due.push((proposal, action.clone()));
    overlay.put_record(key, &due);
}

/// `ValidatorReady`: an approved validator, signing with its node key, names a recent block it
/// holds; it is then scheduled to join.
pub(crate) fn validator_ready(
    overlay: &mut Overlay<'_>,
    step: &Step,
    height: Height,
    block_hash: &Hash,
) -> Result<(), Rejection> {
    let mut waiting = pending(overlay);
    let Some(position) = waiting
        .iter()
        .position(|p| p.validator.node_key == step.signer)
    else {
        return Err(Rejection::PermissionDenied(format!(
            "{} is not an approved validator awaiting readiness",
            step.signer
        )));
    };
    if height >= step.height || height.saturating_add(READY_WINDOW) < step.height {
        return malformed(format!(
            "height {height} is not a recent block (within {READY_WINDOW} of {})",
            step.height
        ));
    }
    let known: Option<Hash> = overlay.record(&keys::block_hash(height));
    if known.as_ref() != Some(block_hash) {
        return malformed(format!(
            "block {height} is not {block_hash}: the validator is not on this chain"
        ));
    }
    let ready = waiting.remove(position);
    overlay.put_record(keys::PENDING_VALIDATORS.to_vec(), &waiting);
    let joins = ready
        .effective_height
        .max(step.height.saturating_add(MIN_DELAY));
    let action = GovAction::AddValidator {
        validator: ready.validator,
    };
    schedule(overlay, joins, ready.proposal, &action);
    let key = keys::proposal(&ready.proposal);
    if let Some(mut proposal) = overlay.record::<ProposalRecord>(&key) {
        proposal.status = ProposalStatus::Approved;
        overlay.put_record(key, &proposal);
    }
    Ok(())
}

/// End of block `height`: the changes due at `height + 1` take effect. One that no longer
/// applies (the state moved on since approval) is skipped and its proposal marked failed.
pub(crate) fn end_block(overlay: &mut Overlay<'_>, height: Height) {
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
        GovAction::RemoveValidator { node_key } => {
            let mut set = validators(overlay);
            set.validators.retain(|v| &v.node_key != node_key);
            overlay.put_record(keys::VALIDATORS.to_vec(), &set);
        }
        GovAction::SetParameters { parameters } => {
            overlay.put_record::<Parameters>(keys::PARAMETERS.to_vec(), parameters);
        }
    }
}
