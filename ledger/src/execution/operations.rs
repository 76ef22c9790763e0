//! Each operation: its field checks (stateless, also run at admission) and its execution
//! (permission and preconditions first, writes last).
//!
//! Permission is one rule for every operation: the signer must be an active account of an
//! active organization ([`member`]) holding the role the operation needs; registry writes also
//! need the namespace's access list to admit the organization, item events the item's.

use std::collections::BTreeSet;

use cassia_crypto::PublicKey;

use super::{
    MAX_CO_SIGNERS, MAX_ID_BYTES, MAX_LABEL_BYTES, MAX_LIST, NotarizationRecord, Overlay, Step,
    check_blob, check_key, check_namespace, check_text, co_signing_bytes, governance, keys,
};
use crate::records::{
    Account, BatchRecord, CoSignature, ItemEvent, ItemRecord, NamespaceAcl, NamespaceRecord,
    OrganizationRecord, Role,
};
use crate::transaction::{Operation, Rejection};

fn denied<T>(why: String) -> Result<T, Rejection> {
    Err(Rejection::PermissionDenied(why))
}

fn malformed<T>(why: String) -> Result<T, Rejection> {
    Err(Rejection::Malformed(why))
}

/// The signer's account, if it is active and its organization is active.
pub(crate) fn active_account(
    overlay: &Overlay<'_>,
    signer: &PublicKey,
) -> Result<Account, Rejection> {
    let Some(account) = overlay.record::<Account>(&keys::account(signer)) else {
        return denied(format!(
            "{signer} is not a registered account (an organization admin registers it)"
        ));
    };
    if !account.active {
        return denied(format!("account {signer} has been revoked"));
    }
    let organization =
        overlay.record::<OrganizationRecord>(&keys::organization(&account.organization));
    if !organization.is_some_and(|o| o.active) {
        return denied(format!(
            "organization {} is no longer a member",
            account.organization
        ));
    }
    Ok(account)
}

/// The signer's account, if it is active, its organization is active and it holds `role`.
pub(crate) fn member(
    overlay: &Overlay<'_>,
    signer: &PublicKey,
    role: Role,
) -> Result<Account, Rejection> {
    let account = active_account(overlay, signer)?;
    if !account.has(role) {
        return denied(format!(
            "account {signer} of {} lacks the {role} role",
            account.organization
        ));
    }
    Ok(account)
}

/// `key`, if no record is stored there yet: digests, namespaces, items and batches are each
/// created once; `taken` says which one exists.
fn fresh(
    overlay: &Overlay<'_>,
    key: Vec<u8>,
    taken: impl FnOnce() -> String,
) -> Result<Vec<u8>, Rejection> {
    match overlay.get(&key) {
        Some(_) => malformed(taken()),
        None => Ok(key),
    }
}

/// Whether `id` names an active organization.
pub(crate) fn organization_exists(overlay: &Overlay<'_>, id: &str) -> bool {
    overlay
        .record::<OrganizationRecord>(&keys::organization(id))
        .is_some_and(|o| o.active)
}

fn check_organizations(overlay: &Overlay<'_>, ids: &[String]) -> Result<(), Rejection> {
    match ids.iter().find(|id| !organization_exists(overlay, id)) {
        Some(id) => malformed(format!("unknown organization {id:?}")),
        None => Ok(()),
    }
}

fn check_list(what: &str, ids: &[String]) -> Result<(), Rejection> {
    if ids.len() > MAX_LIST {
        return malformed(format!("{what} lists more than {MAX_LIST} organizations"));
    }
    for id in ids {
        check_text(what, id, MAX_ID_BYTES)?;
    }
    if ids.iter().collect::<BTreeSet<_>>().len() != ids.len() {
        return malformed(format!("{what} lists an organization twice"));
    }
    Ok(())
}

fn check_acl(acl: &NamespaceAcl) -> Result<(), Rejection> {
    check_list("writers", &acl.writers)?;
    check_list("readers", &acl.readers)
}

/// Stateless checks of an operation's fields (also at admission).
pub(crate) fn check_fields(chain_id: &str, op: &Operation) -> Result<(), Rejection> {
    match op {
        Operation::Put {
            namespace,
            key,
            value,
        } => {
            check_namespace(namespace)?;
            check_key(key)?;
            check_blob("value", value.len())
        }
        Operation::Notarize {
            digest,
            metadata,
            co_signers,
        } => {
            check_blob("metadata", metadata.len())?;
            check_co_signers(chain_id, digest, metadata, co_signers)
        }
        Operation::RegisterAccount { roles, .. } => {
            if roles.is_empty() || roles.len() > 3 {
                return malformed("an account needs 1 to 3 roles".into());
            }
            Ok(())
        }
        Operation::RevokeAccount { .. } | Operation::Vote { .. } => Ok(()),
        Operation::CreateNamespace { namespace, acl }
        | Operation::SetNamespaceAcl { namespace, acl } => {
            check_namespace(namespace)?;
            check_acl(acl)
        }
        Operation::RegisterItem {
            code,
            product,
            metadata,
            authorized,
        } => {
            check_text("item code", code, MAX_ID_BYTES)?;
            check_text("product", product, MAX_LABEL_BYTES)?;
            check_blob("metadata", metadata.len())?;
            check_list("authorized", authorized)
        }
        Operation::AppendItemEvent { code, kind, data } => {
            check_text("item code", code, MAX_ID_BYTES)?;
            check_text("event kind", kind, MAX_LABEL_BYTES)?;
            check_blob("data", data.len())
        }
        Operation::AnchorBatch {
            batch_id,
            count,
            metadata,
            ..
        } => {
            check_text("batch id", batch_id, MAX_ID_BYTES)?;
            if *count == 0 {
                return malformed("a batch holds at least one item".into());
            }
            check_blob("metadata", metadata.len())
        }
        Operation::Propose { action, .. } => governance::check_action_fields(action),
        Operation::ValidatorReady { .. } => Ok(()),
    }
}

/// Co-signatures must be distinct signers, each signature over `(digest, metadata)`.
fn check_co_signers(
    chain_id: &str,
    digest: &cassia_crypto::Hash,
    metadata: &str,
    co_signers: &[CoSignature],
) -> Result<(), Rejection> {
    if co_signers.len() > MAX_CO_SIGNERS {
        return malformed(format!("more than {MAX_CO_SIGNERS} co-signers"));
    }
    if co_signers
        .iter()
        .map(|c| c.signer)
        .collect::<BTreeSet<_>>()
        .len()
        != co_signers.len()
    {
        return malformed("a co-signer is listed twice".into());
    }
    if co_signers.is_empty() {
        return Ok(());
    }
    let message = co_signing_bytes(chain_id, digest, metadata);
    for co_signer in co_signers {
        if co_signer
            .signer
            .verify_raw(&message, &co_signer.signature)
            .is_err()
        {
            return Err(Rejection::BadSignature);
        }
    }
    Ok(())
}

/// Executes `op` for `step.signer`.
pub(crate) fn apply(
    overlay: &mut Overlay<'_>,
    step: &Step,
    op: &Operation,
) -> Result<(), Rejection> {
    match op {
        Operation::Put {
            namespace,
            key,
            value,
        } => put(overlay, step, namespace, key, value),
        Operation::Notarize {
            digest,
            metadata,
            co_signers,
        } => {
            let account = member(overlay, &step.signer, Role::Writer)?;
            let key = fresh(overlay, keys::notarization(digest), || {
                format!("digest {digest} is already notarized")
            })?;
            let record = NotarizationRecord {
                signer: step.signer,
                organization: account.organization,
                height: step.height,
                tx_id: step.tx_id,
                metadata: metadata.clone(),
                co_signers: co_signers.iter().map(|c| c.signer).collect(),
            };
            overlay.put_record(key, &record);
            Ok(())
        }
        Operation::RegisterAccount { account, roles } => {
            let admin = member(overlay, &step.signer, Role::Admin)?;
            if let Some(existing) = overlay.record::<Account>(&keys::account(account))
                && existing.active
                && existing.organization != admin.organization
            {
                return denied(format!(
                    "{account} already belongs to organization {}",
                    existing.organization
                ));
            }
            let mut roles = roles.clone();
            roles.sort();
            roles.dedup();
            let record = Account {
                organization: admin.organization,
                roles,
                active: true,
                registered_by: Some(step.signer),
                height: step.height,
            };
            overlay.put_record(keys::account(account), &record);
            Ok(())
        }
        Operation::RevokeAccount { account } => {
            let admin = member(overlay, &step.signer, Role::Admin)?;
            let key = keys::account(account);
            let Some(mut record) = overlay.record::<Account>(&key) else {
                return malformed(format!("{account} is not a registered account"));
            };
            if record.organization != admin.organization {
                return denied(format!(
                    "{account} belongs to {}, not to the signer's organization {}",
                    record.organization, admin.organization
                ));
            }
            if *account == step.signer {
                return malformed("an admin cannot revoke itself (another admin can)".into());
            }
            record.active = false;
            overlay.put_record(key, &record);
            Ok(())
        }
        Operation::CreateNamespace { namespace, acl } => {
            let admin = member(overlay, &step.signer, Role::Admin)?;
            let key = fresh(overlay, keys::namespace(namespace), || {
                format!("namespace {namespace} already exists")
            })?;
            check_organizations(overlay, &acl.writers)?;
            check_organizations(overlay, &acl.readers)?;
            let record = NamespaceRecord {
                owner: admin.organization,
                acl: acl.clone(),
                created: step.height,
            };
            overlay.put_record(key, &record);
            Ok(())
        }
        Operation::SetNamespaceAcl { namespace, acl } => {
            let admin = member(overlay, &step.signer, Role::Admin)?;
            let key = keys::namespace(namespace);
            let Some(mut record) = overlay.record::<NamespaceRecord>(&key) else {
                return malformed(format!("namespace {namespace} does not exist"));
            };
            if record.owner != admin.organization {
                return denied(format!(
                    "namespace {namespace} is owned by {}; only its admins change its access lists",
                    record.owner
                ));
            }
            check_organizations(overlay, &acl.writers)?;
            check_organizations(overlay, &acl.readers)?;
            record.acl = acl.clone();
            overlay.put_record(key, &record);
            Ok(())
        }
        Operation::RegisterItem {
            code,
            product,
            metadata,
            authorized,
        } => {
            let account = member(overlay, &step.signer, Role::Writer)?;
            let key = fresh(overlay, keys::item(code), || {
                format!("item {code} is already registered")
            })?;
            check_organizations(overlay, authorized)?;
            let record = ItemRecord {
                code: code.clone(),
                product: product.clone(),
                metadata: metadata.clone(),
                owner: account.organization,
                authorized: authorized.clone(),
                registered: step.height,
                events: 0,
            };
            overlay.put_record(key, &record);
            Ok(())
        }
        Operation::AppendItemEvent { code, kind, data } => {
            let account = member(overlay, &step.signer, Role::Writer)?;
            let key = keys::item(code);
            let Some(mut item) = overlay.record::<ItemRecord>(&key) else {
                return malformed(format!("item {code} is not registered"));
            };
            if item.owner != account.organization
                && !item.authorized.contains(&account.organization)
            {
                return denied(format!(
                    "organization {} may not record events of item {code} (owner {}, authorized: {})",
                    account.organization,
                    item.owner,
                    item.authorized.join(", ")
                ));
            }
            let Some(next) = item.events.checked_add(1) else {
                return malformed(format!("item {code} has no room for more events"));
            };
            let event = ItemEvent {
                sequence: item.events,
                kind: kind.clone(),
                data: data.clone(),
                organization: account.organization,
                signer: step.signer,
                height: step.height,
                tx_id: step.tx_id,
            };
            overlay.put_record(keys::item_event(code, item.events), &event);
            item.events = next;
            overlay.put_record(key, &item);
            Ok(())
        }
        Operation::AnchorBatch {
            batch_id,
            root,
            count,
            metadata,
        } => {
            let account = member(overlay, &step.signer, Role::Writer)?;
            let key = fresh(overlay, keys::batch(batch_id), || {
                format!("batch {batch_id} is already anchored")
            })?;
            let record = BatchRecord {
                root: *root,
                count: *count,
                metadata: metadata.clone(),
                organization: account.organization,
                height: step.height,
                tx_id: step.tx_id,
            };
            overlay.put_record(key, &record);
            Ok(())
        }
        Operation::Propose {
            action,
            effective_height,
        } => governance::propose(overlay, step, action, *effective_height),
        Operation::Vote { proposal, approve } => {
            governance::vote(overlay, step, proposal, *approve)
        }
        Operation::ValidatorReady { height, block_hash } => {
            governance::validator_ready(overlay, step, *height, block_hash)
        }
    }
}

/// A registry write: the signer's organization must own the namespace or be one of its writers.
fn put(
    overlay: &mut Overlay<'_>,
    step: &Step,
    namespace: &str,
    key: &[u8],
    value: &[u8],
) -> Result<(), Rejection> {
    let account = member(overlay, &step.signer, Role::Writer)?;
    let Some(record) = overlay.record::<NamespaceRecord>(&keys::namespace(namespace)) else {
        return denied(format!(
            "namespace {namespace} does not exist (an organization admin creates it)"
        ));
    };
    if record.owner != account.organization && !record.acl.writers.contains(&account.organization) {
        return denied(format!(
            "organization {} may not write namespace {namespace} (owner {}, writers: {})",
            account.organization,
            record.owner,
            record.acl.writers.join(", ")
        ));
    }
    overlay.put(keys::kv(namespace, key), value.to_vec());
    Ok(())
}
