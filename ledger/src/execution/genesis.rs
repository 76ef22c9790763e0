//! The state at height 0, from the genesis file: the organizations, an admin account for each
//! admin key they list, the validator set and the parameters. Its root is the genesis tip's
//! `state_root`; every store starts from exactly this state.

use crate::genesis::Genesis;
use crate::records::{Account, OrganizationRecord, Role};
use crate::state_tree::{self, MemoryNodes};

use super::{BlockOutcome, StateChanges, keys};

/// The state changes that create the genesis state.
pub fn genesis_state(genesis: &Genesis) -> StateChanges {
    let mut changes = StateChanges::new();
    let mut put = |key: Vec<u8>, value: Vec<u8>| {
        changes.insert(key, Some(value));
    };
    let mut organization_ids: Vec<String> = Vec::new();
    for organization in &genesis.organizations {
        organization_ids.push(organization.id.clone());
        put(
            keys::organization(&organization.id),
            crate::codec::encode(&OrganizationRecord {
                organization: organization.clone(),
                active: true,
            }),
        );
        for admin in &organization.admins {
            put(
                keys::account(admin),
                crate::codec::encode(&admin_account(&organization.id, 0)),
            );
        }
    }
    organization_ids.sort();
    put(
        keys::ORGANIZATIONS.to_vec(),
        crate::codec::encode(&organization_ids),
    );
    put(
        keys::VALIDATORS.to_vec(),
        crate::codec::encode(&genesis.validator_set()),
    );
    put(
        keys::PARAMETERS.to_vec(),
        crate::codec::encode(&genesis.parameters),
    );
    changes
}

/// The account of an organization admin listed in a genesis or a governance change.
pub(crate) fn admin_account(organization: &str, height: crate::Height) -> Account {
    Account {
        organization: organization.to_string(),
        roles: vec![Role::Admin],
        active: true,
        registered_by: None,
        height,
    }
}

/// The genesis state as an outcome to store: its changes, tree nodes and root.
pub fn genesis_outcome(genesis: &Genesis) -> BlockOutcome {
    let changes = genesis_state(genesis);
    let update = state_tree::update(&MemoryNodes::new(), &state_tree::EMPTY, &changes)
        .expect("an empty tree has no nodes to miss");
    BlockOutcome {
        receipts: Vec::new(),
        changes,
        state_root: update.root,
        tree_nodes: update.new_nodes,
    }
}
