//! The checks that more than one part of execution shares, and the two ways a check fails.
//!
//! - Field checks are stateless: they judge an operation's fields alone, the same at admission
//!   and in a block ([`check_text`], [`check_key`], [`check_blob`], [`check_list`],
//!   [`check_public_key`], ...).
//! - State checks read the state as the block has left it so far: whether the signer may act
//!   at all ([`active_account`], [`member`]), whether organizations are members
//!   ([`organization_exists`], [`known_organizations`]), whether a key is still free
//!   ([`fresh`]).
//!
//! A state check fails in one of two ways, and the type says which:
//!
//! - [`Denied`]: the signer may not do this. An operation handler's `authorize` step fails
//!   only this way, so admission (which runs `authorize` alone) sees every denial execution
//!   would give, and refuses the transaction early.
//! - [`Unmet`]: the signer may, but the state does not allow it (a digest already notarized, an
//!   unknown organization). A handler's `execute` step fails only this way; only the block's
//!   receipt reports it.
//!
//! This module sits below everything else in execution (operation handlers, governance, read
//! permission) and depends on none of it, so no two of those depend on each other through it.

use std::collections::BTreeSet;

use cassia_crypto::PublicKey;

use super::{MAX_ID_BYTES, MAX_LIST, Overlay, keys};
use crate::records::{Account, NamespaceAcl, OrganizationRecord, Role};
use crate::transaction::{MAX_KEY_BYTES, MAX_NAMESPACE_BYTES, MAX_VALUE_BYTES, Rejection};

/// The signer may not do what it asks: a `PermissionDenied` receipt, and a refusal at admission.
#[derive(Debug)]
pub(super) struct Denied(pub(super) String);

/// The signer may do what it asks, but a precondition in the state does not hold: a `Malformed`
/// receipt. Admission does not look for these; the block that executes the transaction does.
#[derive(Debug)]
pub(super) struct Unmet(pub(super) String);

impl From<Denied> for Rejection {
    fn from(denied: Denied) -> Rejection {
        Rejection::PermissionDenied(denied.0)
    }
}

impl From<Unmet> for Rejection {
    fn from(unmet: Unmet) -> Rejection {
        Rejection::Malformed(unmet.0)
    }
}

/// A short text field: 1 to `max` bytes, no NUL (NUL ends a namespace in a state key).
pub(super) fn check_text(what: &str, text: &str, max: usize) -> Result<(), Rejection> {
    if text.is_empty() || text.len() > max || text.contains('\0') {
        return Err(Rejection::Malformed(format!(
            "{what} must be 1..={max} bytes without NUL"
        )));
    }
    Ok(())
}

/// A public key entering the chain (an account, an admin, a validator, a co-signer): it must be
/// usable ([`PublicKey::check_usable`]), not a small-order, mixed-order or non-canonical key,
/// under which ZIP-215 verification would accept signatures nobody made.
pub(super) fn check_public_key(what: &str, key: &PublicKey) -> Result<(), Rejection> {
    key.check_usable()
        .map_err(|error| Rejection::Malformed(format!("{what} {key}: {error}")))
}

/// A namespace name, as [`check_text`] with the namespace limit.
pub(super) fn check_namespace(namespace: &str) -> Result<(), Rejection> {
    check_text("namespace", namespace, MAX_NAMESPACE_BYTES)
}

/// A registry key: 1 to [`MAX_KEY_BYTES`] bytes, any bytes.
pub(super) fn check_key(key: &[u8]) -> Result<(), Rejection> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(Rejection::Malformed("key must be 1..=256 bytes".into()));
    }
    Ok(())
}

/// A free-form value or metadata of `len` bytes: at most [`MAX_VALUE_BYTES`], empty allowed.
pub(super) fn check_blob(what: &str, len: usize) -> Result<(), Rejection> {
    if len > MAX_VALUE_BYTES {
        return Err(Rejection::Malformed(format!("{what} larger than 64 KiB")));
    }
    Ok(())
}

/// A list of organization ids: at most [`MAX_LIST`], each a valid id, none twice. Whether
/// they are members is a state check ([`known_organizations`]).
pub(super) fn check_list(what: &str, ids: &[String]) -> Result<(), Rejection> {
    if ids.len() > MAX_LIST {
        return Err(Rejection::Malformed(format!(
            "{what} lists more than {MAX_LIST} organizations"
        )));
    }
    for id in ids {
        check_text(what, id, MAX_ID_BYTES)?;
    }
    if ids.iter().collect::<BTreeSet<_>>().len() != ids.len() {
        return Err(Rejection::Malformed(format!(
            "{what} lists an organization twice"
        )));
    }
    Ok(())
}

/// A namespace's access lists, as [`check_list`] each.
pub(super) fn check_acl(acl: &NamespaceAcl) -> Result<(), Rejection> {
    check_list("writers", &acl.writers)?;
    check_list("readers", &acl.readers)
}

/// The signer's account, if it is active and its organization is active: the floor under
/// every permission, for writes and for reads of restricted namespaces alike.
pub(super) fn active_account(overlay: &Overlay<'_>, signer: &PublicKey) -> Result<Account, Denied> {
    // Only keys an organization admin registered (or the genesis listed) act for anyone.
    let Some(account) = overlay.record::<Account>(&keys::account(signer)) else {
        return Err(Denied(format!(
            "{signer} is not a registered account (an organization admin registers it)"
        )));
    };
    // Revoking is how an organization stops a lost or departed key, so it must stop at once.
    if !account.active {
        return Err(Denied(format!("account {signer} has been revoked")));
    }
    // A removed organization's accounts speak for no member any more.
    let organization =
        overlay.record::<OrganizationRecord>(&keys::organization(&account.organization));
    if !organization.is_some_and(|o| o.active) {
        return Err(Denied(format!(
            "organization {} is no longer a member",
            account.organization
        )));
    }
    Ok(account)
}

/// The signer's account, if [`active_account`] admits it and it holds `role` (an admin holds
/// the writer role too: [`Account::has`]).
pub(super) fn member(
    overlay: &Overlay<'_>,
    signer: &PublicKey,
    role: Role,
) -> Result<Account, Denied> {
    let account = active_account(overlay, signer)?;
    // Roles are how an organization limits what each of its keys may do.
    if !account.has(role) {
        return Err(Denied(format!(
            "account {signer} of {} lacks the {role} role",
            account.organization
        )));
    }
    Ok(account)
}

/// Whether `id` names an active member organization.
pub(super) fn organization_exists(overlay: &Overlay<'_>, id: &str) -> bool {
    overlay
        .record::<OrganizationRecord>(&keys::organization(id))
        .is_some_and(|o| o.active)
}

/// Every id in `ids` names an active member organization; the first that does not is named.
pub(super) fn known_organizations(overlay: &Overlay<'_>, ids: &[String]) -> Result<(), Unmet> {
    match ids.iter().find(|id| !organization_exists(overlay, id)) {
        Some(id) => Err(Unmet(format!("unknown organization {id:?}"))),
        None => Ok(()),
    }
}

/// `key`, if nothing is stored there yet: digests, namespaces, items and batches are each
/// created once, never overwritten; `taken` says which one already exists.
pub(super) fn fresh(
    overlay: &Overlay<'_>,
    key: Vec<u8>,
    taken: impl FnOnce() -> String,
) -> Result<Vec<u8>, Unmet> {
    match overlay.get(&key) {
        Some(_) => Err(Unmet(taken())),
        None => Ok(key),
    }
}
