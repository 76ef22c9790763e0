//! Registry handlers: namespaces with access lists, and the records in them
//! (`CreateNamespace`, `SetNamespaceAcl`, `Put`).
//!
//! A namespace belongs to the organization whose admin created it. The owner's writers always
//! write it; its access list names the other organizations whose writers may, and the ones
//! whose accounts may read it through the API ([`crate::execution::read_permission`]).

use cassia_crypto::{GenesisHash, PublicKey};

use super::handler::Handler;
use crate::execution::checks::{
    Denied, Unmet, check_acl, check_blob, check_key, check_namespace, fresh, known_organizations,
    member,
};
use crate::execution::{Overlay, Step, keys};
use crate::records::{Account, NamespaceAcl, NamespaceRecord, Role};
use crate::transaction::Rejection;

/// `CreateNamespace`: a namespace owned by the signer's organization, with its access lists.
pub(super) struct CreateNamespace<'a> {
    pub(super) namespace: &'a str,
    pub(super) acl: &'a NamespaceAcl,
}

impl Handler for CreateNamespace<'_> {
    /// The creating admin's account: its organization owns the namespace.
    type Permit = Account;

    fn check_fields(&self, _genesis: &GenesisHash) -> Result<(), Rejection> {
        check_namespace(self.namespace)?;
        check_acl(self.acl)
    }

    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<Account, Denied> {
        // A namespace commits its organization to a registry: its admins decide that.
        member(state, signer, Role::Admin)
    }

    fn execute(self, overlay: &mut Overlay<'_>, step: &Step, admin: Account) -> Result<(), Unmet> {
        let key = fresh(overlay, keys::namespace(self.namespace), || {
            format!("namespace {} already exists", self.namespace)
        })?;
        known_organizations(overlay, &self.acl.writers)?;
        known_organizations(overlay, &self.acl.readers)?;
        let record = NamespaceRecord {
            owner: admin.organization,
            acl: self.acl.clone(),
            created: step.height,
        };
        overlay.put_record(key, &record);
        Ok(())
    }
}

/// `SetNamespaceAcl`: replace a namespace's access lists.
pub(super) struct SetNamespaceAcl<'a> {
    pub(super) namespace: &'a str,
    pub(super) acl: &'a NamespaceAcl,
}

impl Handler for SetNamespaceAcl<'_> {
    /// The namespace's record, if it exists.
    type Permit = Option<NamespaceRecord>;

    fn check_fields(&self, _genesis: &GenesisHash) -> Result<(), Rejection> {
        check_namespace(self.namespace)?;
        check_acl(self.acl)
    }

    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<Self::Permit, Denied> {
        // Access lists share an organization's registry: its admins decide that.
        let admin = member(state, signer, Role::Admin)?;
        let Some(record) = state.record::<NamespaceRecord>(&keys::namespace(self.namespace)) else {
            return Ok(None);
        };
        // Only the owner shares its namespace; a writer organization may not widen the list.
        if record.owner != admin.organization {
            return Err(Denied(format!(
                "namespace {} is owned by {}; only its admins change its access lists",
                self.namespace, record.owner
            )));
        }
        Ok(Some(record))
    }

    fn execute(
        self,
        overlay: &mut Overlay<'_>,
        _step: &Step,
        record: Self::Permit,
    ) -> Result<(), Unmet> {
        let Some(mut record) = record else {
            return Err(Unmet(format!(
                "namespace {} does not exist",
                self.namespace
            )));
        };
        known_organizations(overlay, &self.acl.writers)?;
        known_organizations(overlay, &self.acl.readers)?;
        record.acl = self.acl.clone();
        overlay.put_record(keys::namespace(self.namespace), &record);
        Ok(())
    }
}

/// `Put`: set `key` in `namespace` to `value`.
pub(super) struct Put<'a> {
    pub(super) namespace: &'a str,
    pub(super) key: &'a [u8],
    pub(super) value: &'a [u8],
}

impl Handler for Put<'_> {
    /// Nothing: the write needs only the fields.
    type Permit = ();

    fn check_fields(&self, _genesis: &GenesisHash) -> Result<(), Rejection> {
        check_namespace(self.namespace)?;
        check_key(self.key)?;
        check_blob("value", self.value.len())
    }

    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<(), Denied> {
        // A record is its organization's statement: only its writers make one.
        let account = member(state, signer, Role::Writer)?;
        // Who may write is the namespace's to say, so no one writes before it exists.
        let Some(record) = state.record::<NamespaceRecord>(&keys::namespace(self.namespace)) else {
            return Err(Denied(format!(
                "namespace {} does not exist (an organization admin creates it)",
                self.namespace
            )));
        };
        // The owner shares its namespace by naming writer organizations; no one else writes.
        let organization = &account.organization;
        if record.owner != *organization && !record.acl.writers.contains(organization) {
            return Err(Denied(format!(
                "organization {organization} may not write namespace {} (owner {}, writers: {})",
                self.namespace,
                record.owner,
                record.acl.writers.join(", ")
            )));
        }
        Ok(())
    }

    fn execute(self, overlay: &mut Overlay<'_>, _step: &Step, (): ()) -> Result<(), Unmet> {
        overlay.put(keys::kv(self.namespace, self.key), self.value.to_vec());
        Ok(())
    }
}
