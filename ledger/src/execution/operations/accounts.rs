//! Account handlers: an organization's admins register and revoke the keys that act for it
//! (`RegisterAccount`, `RevokeAccount`).
//!
//! An account belongs to one organization, the one of the admin who registered it; an
//! organization's admins manage its accounts and no one else's.

use cassia_crypto::{GenesisHash, PublicKey};

use super::handler::Handler;
use crate::execution::checks::{Denied, Unmet, check_public_key, member};
use crate::execution::{Overlay, Step, keys};
use crate::records::{Account, Role};
use crate::transaction::Rejection;

/// `RegisterAccount`: register `account` in the signer's organization with `roles` (or
/// replace the roles of one it already has, or re-activate one it revoked).
pub(super) struct RegisterAccount<'a> {
    pub(super) account: &'a PublicKey,
    pub(super) roles: &'a [Role],
}

impl Handler for RegisterAccount<'_> {
    /// The registering admin's account.
    type Permit = Account;

    fn check_fields(&self, _genesis: &GenesisHash) -> Result<(), Rejection> {
        if self.roles.is_empty() || self.roles.len() > 3 {
            return Err(Rejection::Malformed("an account needs 1 to 3 roles".into()));
        }
        check_public_key("account key", self.account)
    }

    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<Account, Denied> {
        // An organization's admins decide which keys act for it.
        let admin = member(state, signer, Role::Admin)?;
        // A key acts for one organization at a time: another may not take over an active one.
        if let Some(existing) = state.record::<Account>(&keys::account(self.account))
            && existing.active
            && existing.organization != admin.organization
        {
            return Err(Denied(format!(
                "{} already belongs to organization {}",
                self.account, existing.organization
            )));
        }
        Ok(admin)
    }

    fn execute(self, overlay: &mut Overlay<'_>, step: &Step, admin: Account) -> Result<(), Unmet> {
        let mut roles = self.roles.to_vec();
        roles.sort();
        roles.dedup();
        let record = Account {
            organization: admin.organization,
            roles,
            active: true,
            registered_by: Some(step.signer),
            height: step.height,
        };
        overlay.put_record(keys::account(self.account), &record);
        Ok(())
    }
}

/// `RevokeAccount`: deactivate `account`; it can do nothing afterwards.
pub(super) struct RevokeAccount<'a> {
    pub(super) account: &'a PublicKey,
}

impl Handler for RevokeAccount<'_> {
    /// The account to revoke, if it is registered.
    type Permit = Option<Account>;

    fn check_fields(&self, _genesis: &GenesisHash) -> Result<(), Rejection> {
        // A public key is well-formed once decoded.
        Ok(())
    }

    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<Self::Permit, Denied> {
        // An organization's admins decide which keys act for it.
        let admin = member(state, signer, Role::Admin)?;
        let Some(record) = state.record::<Account>(&keys::account(self.account)) else {
            return Ok(None);
        };
        // Revoking is the account's own organization's call, never another member's.
        if record.organization != admin.organization {
            return Err(Denied(format!(
                "{} belongs to {}, not to the signer's organization {}",
                self.account, record.organization, admin.organization
            )));
        }
        Ok(Some(record))
    }

    fn execute(
        self,
        overlay: &mut Overlay<'_>,
        step: &Step,
        target: Option<Account>,
    ) -> Result<(), Unmet> {
        let Some(mut record) = target else {
            return Err(Unmet(format!(
                "{} is not a registered account",
                self.account
            )));
        };
        // Another admin can; this way a slip cannot leave an organization with no admin.
        if *self.account == step.signer {
            return Err(Unmet(
                "an admin cannot revoke itself (another admin can)".into(),
            ));
        }
        record.active = false;
        overlay.put_record(keys::account(self.account), &record);
        Ok(())
    }
}
