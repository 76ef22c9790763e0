//! What the chain's state holds besides plain values: accounts and their roles, organizations,
//! namespaces with their access lists, traceability items and batches, governance proposals,
//! and the validator set and parameters in force. Also the argument types operations carry.
//!
//! Every record is stored in the authenticated state (see [`crate::execution::keys`] for the
//! key layout) in the canonical encoding, so each one can be proven at any height.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use cassia_crypto::{Hash, PublicKey, Signature};
use serde::{Deserialize, Serialize};

use crate::Height;
use crate::genesis::{Organization, Parameters};
use crate::misbehaviour::Equivocation;
use crate::validators::Validator;

/// What an account may do within its organization.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Registers and revokes the organization's accounts, owns its namespaces and items, and
    /// votes for the organization in governance. Also writes.
    Admin,
    /// Writes: registry records in namespaces that admit the organization, notarizations,
    /// traceability items, events and batches.
    Writer,
    /// Reads and audits; writes nothing.
    Auditor,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Admin => "admin",
            Role::Writer => "writer",
            Role::Auditor => "auditor",
        })
    }
}

/// A registered account: a key acting for one organization with some roles.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Account {
    /// The organization it acts for.
    pub organization: String,
    /// Its roles (sorted, no repeats).
    pub roles: Vec<Role>,
    /// False once revoked; a revoked key can do nothing.
    pub active: bool,
    /// Who registered it (`None`: listed as an admin in the genesis or a governance change).
    pub registered_by: Option<PublicKey>,
    /// Height of the registration (0: genesis).
    pub height: Height,
}

impl Account {
    /// Whether the account holds `role` (an admin also holds writer rights).
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role) || (role == Role::Writer && self.roles.contains(&Role::Admin))
    }
}

/// A member organization as the state holds it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct OrganizationRecord {
    /// The organization as admitted (genesis or governance).
    pub organization: Organization,
    /// False once removed by governance: its accounts can then do nothing.
    pub active: bool,
}

/// Who may write and read a namespace, besides its owner organization (which always may).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct NamespaceAcl {
    /// Organizations whose writers may put records.
    pub writers: Vec<String>,
    /// Organizations whose accounts may read records through the API (empty: public to every
    /// member organization).
    pub readers: Vec<String>,
}

/// A namespace of registry records.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct NamespaceRecord {
    /// The owning organization: its admins change the access lists.
    pub owner: String,
    /// Access lists.
    pub acl: NamespaceAcl,
    /// Height it was created at.
    pub created: Height,
}

/// A co-signature on notarized evidence: another party's signature over
/// `(digest, metadata)`, domain `Evidence`, bound to the chain id.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CoSignature {
    /// The co-signer's key.
    pub signer: PublicKey,
    /// Its signature.
    pub signature: Signature,
}

/// A traceability item (一物一码): one code, one history.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ItemRecord {
    /// The item's code.
    pub code: String,
    /// What it is.
    pub product: String,
    /// Free-form metadata (e.g. JSON).
    pub metadata: String,
    /// The registering organization.
    pub owner: String,
    /// Other organizations that may append events (e.g. the carrier, the inspector).
    pub authorized: Vec<String>,
    /// Height it was registered at.
    pub registered: Height,
    /// Number of events appended so far (events are numbered from 0).
    pub events: u32,
}

/// One custody, quality or other event in an item's history.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ItemEvent {
    /// Its number in the item's history.
    pub sequence: u32,
    /// E.g. `"custody"`, `"quality"`, `"shipped"`.
    pub kind: String,
    /// Free-form data (e.g. JSON).
    pub data: String,
    /// The organization that recorded it.
    pub organization: String,
    /// The signer.
    pub signer: PublicKey,
    /// Height and transaction it committed in.
    pub height: Height,
    /// The transaction.
    pub tx_id: Hash,
}

/// A batch of items anchored in one transaction: the RFC 6962 Merkle root of the items' leaf
/// strings. Each item proves its membership with an inclusion proof against `root`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct BatchRecord {
    /// Merkle root over the items.
    pub root: Hash,
    /// Number of items.
    pub count: u64,
    /// Free-form metadata.
    pub metadata: String,
    /// The anchoring organization.
    pub organization: String,
    /// Height and transaction.
    pub height: Height,
    /// The transaction.
    pub tx_id: Hash,
}

/// A change to the consortium that needs more than 2/3 of the organizations' approval.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovAction {
    /// Admit an organization (with its admin keys).
    AddOrganization {
        /// The organization.
        organization: Organization,
    },
    /// Remove an organization: its accounts can no longer act.
    RemoveOrganization {
        /// Its id.
        id: String,
    },
    /// Add a validator. It joins the set at the stated height or, if later, two blocks after
    /// it proves it has caught up (a `ValidatorReady` transaction signed with its node key).
    AddValidator {
        /// The validator.
        validator: Validator,
    },
    /// Remove a validator.
    RemoveValidator {
        /// Its node key.
        node_key: PublicKey,
        /// Grounds, if any: a proof that this validator equivocated. The ledger checks it when
        /// the proposal is made (it must verify on this chain and name `node_key`), so voters
        /// decide on a proven fault, not an accusation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<Box<Equivocation>>,
    },
    /// Replace the chain parameters.
    SetParameters {
        /// The new parameters.
        parameters: Parameters,
    },
}

/// Where a proposal stands.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Collecting votes.
    Open,
    /// Approved and scheduled to take effect at `effective_height`.
    Approved,
    /// An added validator is approved and must prove it has caught up.
    AwaitingReadiness,
    /// More than 1/3 of the organizations voted no: it can never pass.
    Rejected,
    /// Approved too late, or no longer applicable; the reason says why.
    Failed(String),
}

/// A governance proposal and its votes, one per organization.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ProposalRecord {
    /// The proposing transaction's id.
    pub id: Hash,
    /// What it changes.
    pub action: GovAction,
    /// The first block the change applies to.
    pub effective_height: Height,
    /// The proposing organization.
    pub proposer: String,
    /// Votes by organization id (true: yes).
    pub votes: BTreeMap<String, bool>,
    /// Status.
    pub status: ProposalStatus,
    /// Height it was proposed at.
    pub proposed: Height,
}

/// An added validator waiting to prove it has caught up.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct PendingValidator {
    /// The validator.
    pub validator: Validator,
    /// The height the proposal named.
    pub effective_height: Height,
    /// The proposal.
    pub proposal: Hash,
}
