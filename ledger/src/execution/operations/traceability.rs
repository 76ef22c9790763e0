//! Traceability handlers: items with one code each and their event history, and batch anchors
//! (`RegisterItem`, `AppendItemEvent`, `AnchorBatch`).
//!
//! An item belongs to the organization that registered it; that organization and the ones it
//! authorized append events (custody, quality, ...), numbered from 0 in the order they
//! commit. A batch anchors many items at once by the Merkle root of their leaves.

use cassia_crypto::{GenesisHash, Hash, PublicKey};

use super::handler::Handler;
use crate::execution::checks::{
    Denied, Unmet, check_blob, check_list, check_text, fresh, known_organizations, member,
};
use crate::execution::{MAX_ID_BYTES, MAX_LABEL_BYTES, Overlay, Step, keys};
use crate::records::{Account, BatchRecord, ItemEvent, ItemRecord, Role};
use crate::transaction::Rejection;

/// `RegisterItem`: an item owned by the signer's organization.
pub(super) struct RegisterItem<'a> {
    pub(super) code: &'a str,
    pub(super) product: &'a str,
    pub(super) metadata: &'a str,
    pub(super) authorized: &'a [String],
}

impl Handler for RegisterItem<'_> {
    /// The registering account: its organization owns the item.
    type Permit = Account;

    fn check_fields(&self, _genesis: &GenesisHash) -> Result<(), Rejection> {
        check_text("item code", self.code, MAX_ID_BYTES)?;
        check_text("product", self.product, MAX_LABEL_BYTES)?;
        check_blob("metadata", self.metadata.len())?;
        check_list("authorized", self.authorized)
    }

    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<Account, Denied> {
        // An item's code is its organization's claim on a product: only its writers make one.
        member(state, signer, Role::Writer)
    }

    fn execute(
        self,
        overlay: &mut Overlay<'_>,
        step: &Step,
        account: Account,
    ) -> Result<(), Unmet> {
        let key = fresh(overlay, keys::item(self.code), || {
            format!("item {} is already registered", self.code)
        })?;
        known_organizations(overlay, self.authorized)?;
        let record = ItemRecord {
            code: self.code.to_string(),
            product: self.product.to_string(),
            metadata: self.metadata.to_string(),
            owner: account.organization,
            authorized: self.authorized.to_vec(),
            registered: step.height,
            events: 0,
        };
        overlay.put_record(key, &record);
        Ok(())
    }
}

/// `AppendItemEvent`: the next event of an item's history.
pub(super) struct AppendItemEvent<'a> {
    pub(super) code: &'a str,
    pub(super) kind: &'a str,
    pub(super) data: &'a str,
}

/// What authorizing an event read: the appending account, and the item if it is registered.
pub(super) struct EventPermit {
    account: Account,
    item: Option<ItemRecord>,
}

impl Handler for AppendItemEvent<'_> {
    type Permit = EventPermit;

    fn check_fields(&self, _genesis: &GenesisHash) -> Result<(), Rejection> {
        check_text("item code", self.code, MAX_ID_BYTES)?;
        check_text("event kind", self.kind, MAX_LABEL_BYTES)?;
        check_blob("data", self.data.len())
    }

    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<EventPermit, Denied> {
        // An event is its organization's statement about the item: only its writers make one.
        let account = member(state, signer, Role::Writer)?;
        let Some(item) = state.record::<ItemRecord>(&keys::item(self.code)) else {
            return Ok(EventPermit {
                account,
                item: None,
            });
        };
        // The owner names who handles its item downstream; no one else writes its history.
        let organization = &account.organization;
        if item.owner != *organization && !item.authorized.contains(organization) {
            return Err(Denied(format!(
                "organization {organization} may not record events of item {} (owner {}, authorized: {})",
                self.code,
                item.owner,
                item.authorized.join(", ")
            )));
        }
        Ok(EventPermit {
            account,
            item: Some(item),
        })
    }

    fn execute(
        self,
        overlay: &mut Overlay<'_>,
        step: &Step,
        permit: EventPermit,
    ) -> Result<(), Unmet> {
        let Some(mut item) = permit.item else {
            return Err(Unmet(format!("item {} is not registered", self.code)));
        };
        let Some(next) = item.events.checked_add(1) else {
            return Err(Unmet(format!(
                "item {} has no room for more events",
                self.code
            )));
        };
        let event = ItemEvent {
            sequence: item.events,
            kind: self.kind.to_string(),
            data: self.data.to_string(),
            organization: permit.account.organization,
            signer: step.signer,
            height: step.height,
            tx_id: step.tx_id,
        };
        overlay.put_record(keys::item_event(self.code, item.events), &event);
        item.events = next;
        overlay.put_record(keys::item(self.code), &item);
        Ok(())
    }
}

/// `AnchorBatch`: anchor a batch of `count` items by their Merkle `root`.
pub(super) struct AnchorBatch<'a> {
    pub(super) batch_id: &'a str,
    pub(super) root: &'a Hash,
    pub(super) count: u64,
    pub(super) metadata: &'a str,
}

impl Handler for AnchorBatch<'_> {
    /// The anchoring account: its organization is recorded.
    type Permit = Account;

    fn check_fields(&self, _genesis: &GenesisHash) -> Result<(), Rejection> {
        check_text("batch id", self.batch_id, MAX_ID_BYTES)?;
        if self.count == 0 {
            return Err(Rejection::Malformed(
                "a batch holds at least one item".into(),
            ));
        }
        check_blob("metadata", self.metadata.len())
    }

    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<Account, Denied> {
        // A batch root is its organization's attestation: only its writers make one.
        member(state, signer, Role::Writer)
    }

    fn execute(
        self,
        overlay: &mut Overlay<'_>,
        step: &Step,
        account: Account,
    ) -> Result<(), Unmet> {
        let key = fresh(overlay, keys::batch(self.batch_id), || {
            format!("batch {} is already anchored", self.batch_id)
        })?;
        let record = BatchRecord {
            root: *self.root,
            count: self.count,
            metadata: self.metadata.to_string(),
            organization: account.organization,
            height: step.height,
            tx_id: step.tx_id,
        };
        overlay.put_record(key, &record);
        Ok(())
    }
}
