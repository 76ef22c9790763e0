//! The genesis file: the consortium's founding agreement.
//!
//! Organizations, their admin keys, the first validators and the chain parameters. Its hash
//! covers everything except the approvals; each organization approves by having one of its
//! admins sign that hash (domain [`Domain::Genesis`]). A node refuses a genesis that lacks any
//! organization's approval, so no member can be enrolled without its consent.

use std::collections::BTreeSet;

use bincode::{Decode, Encode};
use cassia_crypto::{CryptoError, Domain, GenesisHash, Hash, Keypair, PublicKey, Signature};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::validators::{Validator, ValidatorSet};

/// Longest chain id, in bytes (it is part of every signature's prefix).
pub const MAX_CHAIN_ID_BYTES: usize = 64;

/// Encoded bytes a consensus message may have beyond a maximal block: a new view of n
/// validators carries up to n^2 prepare signatures of about 100 bytes, about 1 MiB at n = 100.
pub const MESSAGE_OVERHEAD_BYTES: u64 = 1024 * 1024;

/// The largest message every node of a chain can be counted on to carry: the default of a
/// node's `[network] max_message_bytes`. A maximal block with its [`MESSAGE_OVERHEAD_BYTES`] must
/// fit in it, or a leader's proposal (and a block served to a syncing node) would not reach
/// its peers.
pub const PEER_MESSAGE_CAP_BYTES: u64 = 16 * 1024 * 1024;

/// The range of `max_clock_drift_ms`, milliseconds.
pub const CLOCK_DRIFT_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=60_000;

/// A member organization.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Organization {
    /// Short unique id, e.g. `"gxdsj"`.
    pub id: String,
    /// Full name, e.g. `"广西壮族自治区大数据发展局"`.
    pub name: String,
    /// Admin account keys: they approve genesis and govern the chain.
    pub admins: Vec<PublicKey>,
}

/// Chain parameters. Every limit a peer or client could push against is here.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(default)]
pub struct Parameters {
    /// Largest encoded block.
    pub max_block_bytes: u64,
    /// Most transactions per block.
    pub max_block_txs: u32,
    /// Largest encoded transaction.
    pub max_tx_bytes: u64,
    /// Target time between blocks, milliseconds.
    pub block_interval_ms: u64,
    /// How many blocks ahead `valid_until` may be.
    pub max_tx_ttl: u64,
    /// Base view timeout, milliseconds; doubles per failed view, resets on commit.
    pub view_timeout_ms: u64,
    /// How far ahead of a replica's clock a block timestamp may be, milliseconds.
    pub max_clock_drift_ms: u64,
}

impl Default for Parameters {
    fn default() -> Self {
        Parameters {
            max_block_bytes: 4 * 1024 * 1024,
            max_block_txs: 10_000,
            max_tx_bytes: 128 * 1024,
            block_interval_ms: 200,
            max_tx_ttl: 1_000,
            view_timeout_ms: 2_000,
            max_clock_drift_ms: 5_000,
        }
    }
}

/// One organization's approval of the genesis hash.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Approval {
    /// The organization approving.
    pub organization: String,
    /// The admin who signed.
    pub admin: PublicKey,
    /// Signature over the genesis hash, domain [`Domain::Genesis`].
    pub signature: Signature,
}

/// The genesis document (exchanged as JSON during the ceremony).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// The chain's id, bound into every signature.
    pub chain_id: String,
    /// Milliseconds since the Unix epoch; block 1's timestamp must be later.
    pub genesis_time_ms: u64,
    /// Member organizations.
    pub organizations: Vec<Organization>,
    /// The first validator set, in rotation order.
    pub validators: Vec<Validator>,
    /// Chain parameters.
    pub parameters: Parameters,
    /// Organizations' approvals (not covered by the hash).
    #[serde(default)]
    pub approvals: Vec<Approval>,
}

/// The hashed part of a genesis.
#[derive(Encode)]
struct GenesisBody<'a> {
    chain_id: &'a String,
    genesis_time_ms: u64,
    organizations: &'a Vec<Organization>,
    validators: &'a Vec<Validator>,
    parameters: &'a Parameters,
}

/// What is wrong with a genesis.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenesisError {
    /// The chain id is empty, too long, or has characters other than `[a-z0-9._-]`.
    #[error("chain id {0:?} must be 1..=64 characters of a-z, 0-9, '.', '_' or '-'")]
    BadChainId(String),
    /// Two organizations share an id.
    #[error("organization {0:?} is listed twice")]
    DuplicateOrganization(String),
    /// An organization has no admin key.
    #[error("organization {0:?} has no admin key")]
    NoAdmin(String),
    /// Two validators share a node key or name.
    #[error("duplicate validator: {0}")]
    DuplicateValidator(String),
    /// A validator names an organization that is not a member.
    #[error("validator {validator:?} belongs to unknown organization {organization:?}")]
    UnknownOrganization {
        /// The validator.
        validator: String,
        /// The organization it names.
        organization: String,
    },
    /// No validators.
    #[error("a genesis needs at least one validator")]
    NoValidators,
    /// A parameter is out of range.
    #[error("parameter {0}")]
    BadParameter(String),
    /// An approval is not from an admin of the organization it names, or does not verify.
    #[error("approval for {organization:?} by {admin} is invalid: {reason}")]
    BadApproval {
        /// The organization named.
        organization: String,
        /// The signer.
        admin: PublicKey,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// An admin or validator key that may not enter the chain: small-order, mixed-order or
    /// non-canonical ([`PublicKey::check_usable`]).
    #[error("{holder} has an unusable key {key}: {reason}")]
    UnusableKey {
        /// Whose key: the organization of an admin, or the validator.
        holder: String,
        /// The key.
        key: PublicKey,
        /// What is wrong with it.
        reason: CryptoError,
    },
    /// Organizations that have not approved.
    #[error("missing approval of organization(s): {}", .0.join(", "))]
    MissingApprovals(Vec<String>),
}

impl Genesis {
    /// The genesis hash: covers everything but the approvals.
    pub fn hash(&self) -> Hash {
        Hash::of(&codec::encode(&GenesisBody {
            chain_id: &self.chain_id,
            genesis_time_ms: self.genesis_time_ms,
            organizations: &self.organizations,
            validators: &self.validators,
            parameters: &self.parameters,
        }))
    }

    /// The genesis hash as every signature on this chain names the chain: see
    /// [`cassia_crypto::signing_bytes`].
    pub fn genesis_hash(&self) -> GenesisHash {
        GenesisHash(self.hash())
    }

    /// The validator set at height 1.
    pub fn validator_set(&self) -> ValidatorSet {
        ValidatorSet {
            validators: self.validators.clone(),
        }
    }

    /// Checks the structure: ids, uniqueness, parameters. Approvals are not checked here.
    pub fn validate_structure(&self) -> Result<(), GenesisError> {
        let id_ok = !self.chain_id.is_empty()
            && self.chain_id.len() <= MAX_CHAIN_ID_BYTES
            && self
                .chain_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !id_ok {
            return Err(GenesisError::BadChainId(self.chain_id.clone()));
        }
        let mut organizations = BTreeSet::new();
        for organization in &self.organizations {
            if !organizations.insert(organization.id.as_str()) {
                return Err(GenesisError::DuplicateOrganization(organization.id.clone()));
            }
            if organization.admins.is_empty() {
                return Err(GenesisError::NoAdmin(organization.id.clone()));
            }
            for admin in &organization.admins {
                check_usable(
                    format!("an admin of organization {:?}", organization.id),
                    admin,
                )?;
            }
        }
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let (mut keys, mut names) = (BTreeSet::new(), BTreeSet::new());
        for validator in &self.validators {
            check_usable(
                format!("validator {:?}", validator.name),
                &validator.node_key,
            )?;
            if !keys.insert(validator.node_key) {
                return Err(GenesisError::DuplicateValidator(format!(
                    "node key {}",
                    validator.node_key
                )));
            }
            if !names.insert(validator.name.as_str()) {
                return Err(GenesisError::DuplicateValidator(format!(
                    "name {:?}",
                    validator.name
                )));
            }
            if !organizations.contains(validator.organization.as_str()) {
                return Err(GenesisError::UnknownOrganization {
                    validator: validator.name.clone(),
                    organization: validator.organization.clone(),
                });
            }
        }
        self.parameters.validate()
    }

    /// Adds (or replaces) `organization`'s approval, signed by `admin`.
    pub fn approve(&mut self, organization: &str, admin: &Keypair) -> Result<(), GenesisError> {
        let is_admin = self
            .organizations
            .iter()
            .any(|o| o.id == organization && o.admins.contains(&admin.public()));
        if !is_admin {
            return Err(GenesisError::BadApproval {
                organization: organization.to_string(),
                admin: admin.public(),
                reason: "signer is not an admin of that organization",
            });
        }
        let hash = self.genesis_hash();
        let signature = admin.sign(Domain::Genesis, &hash, hash.as_bytes());
        self.approvals.retain(|a| a.organization != organization);
        self.approvals.push(Approval {
            organization: organization.to_string(),
            admin: admin.public(),
            signature,
        });
        self.approvals
            .sort_by(|a, b| a.organization.cmp(&b.organization));
        Ok(())
    }

    /// Checks every approval present, and returns the organizations that have approved.
    pub fn valid_approvals(&self) -> Result<BTreeSet<String>, GenesisError> {
        let hash = self.hash();
        let mut approved = BTreeSet::new();
        for approval in &self.approvals {
            let bad = |reason| GenesisError::BadApproval {
                organization: approval.organization.clone(),
                admin: approval.admin,
                reason,
            };
            let organization = self
                .organizations
                .iter()
                .find(|o| o.id == approval.organization)
                .ok_or_else(|| bad("no such organization"))?;
            if !organization.admins.contains(&approval.admin) {
                return Err(bad("signer is not an admin of that organization"));
            }
            approval
                .admin
                .verify(
                    Domain::Genesis,
                    &GenesisHash(hash),
                    hash.as_bytes(),
                    &approval.signature,
                )
                .map_err(|_| {
                    bad("signature does not match this genesis (was it changed after signing?)")
                })?;
            approved.insert(approval.organization.clone());
        }
        Ok(approved)
    }

    /// The full check a node makes before it starts: structure, and every organization approved.
    pub fn verify(&self) -> Result<(), GenesisError> {
        self.validate_structure()?;
        let approved = self.valid_approvals()?;
        let missing: Vec<String> = self
            .organizations
            .iter()
            .filter(|o| !approved.contains(&o.id))
            .map(|o| o.id.clone())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(GenesisError::MissingApprovals(missing))
        }
    }
}

/// Refuses `key` unless it may enter the chain, naming its `holder`.
fn check_usable(holder: String, key: &PublicKey) -> Result<(), GenesisError> {
    key.check_usable()
        .map_err(|reason| GenesisError::UnusableKey {
            holder,
            key: *key,
            reason,
        })
}

impl Parameters {
    /// Range checks, so a typo (at genesis, or in a governance proposal) cannot produce a chain
    /// that cannot make progress or that its network cannot carry. Each refusal says why.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let bad = |what: &str| Err(GenesisError::BadParameter(what.to_string()));
        let block_limit = PEER_MESSAGE_CAP_BYTES - MESSAGE_OVERHEAD_BYTES;
        if self.max_block_bytes < 1024 || self.max_block_bytes > block_limit {
            return bad(
                "max_block_bytes must be between 1 KiB and 15 MiB: a proposal carries the \
                 block plus up to 1 MiB of consensus overhead, and peers carry at most 16 MiB",
            );
        }
        if self.max_tx_bytes == 0 || self.max_tx_bytes > self.max_block_bytes {
            return bad("max_tx_bytes must be between 1 and max_block_bytes");
        }
        if self.max_block_txs == 0 || self.max_block_txs > 100_000 {
            return bad("max_block_txs must be between 1 and 100000");
        }
        if self.max_tx_ttl == 0 || self.max_tx_ttl > 1_000_000 {
            return bad("max_tx_ttl must be between 1 and 1000000 blocks");
        }
        if self.view_timeout_ms < 50 || self.view_timeout_ms > 600_000 {
            return bad("view_timeout_ms must be between 50 and 600000");
        }
        if self.block_interval_ms > 60_000 {
            return bad("block_interval_ms must be at most 60000");
        }
        // A leader waits one block interval before it proposes: at or above the view timeout,
        // every view would time out first and the chain would never commit.
        if self.block_interval_ms >= self.view_timeout_ms {
            return bad("block_interval_ms must be below view_timeout_ms");
        }
        // Below ~100 ms honest leaders are refused for ordinary clock error; above a minute a
        // leader may date blocks far into the future.
        if !CLOCK_DRIFT_RANGE_MS.contains(&self.max_clock_drift_ms) {
            return bad("max_clock_drift_ms must be between 100 and 60000");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(parameters: &Parameters) -> String {
        match parameters.validate() {
            Err(GenesisError::BadParameter(reason)) => reason,
            other => panic!("{parameters:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn small_order_admin_and_validator_keys_are_refused() {
        let key = |seed: u8| Keypair::from_secret([seed; 32]).public();
        let mut weak = [0u8; 32];
        weak[0] = 1; // the identity point
        let weak = PublicKey(weak);
        let genesis = |admin: PublicKey, node_key: PublicKey| Genesis {
            chain_id: "weak-keys".into(),
            genesis_time_ms: 1,
            organizations: vec![Organization {
                id: "org0".into(),
                name: "Org 0".into(),
                admins: vec![admin],
            }],
            validators: vec![Validator {
                name: "v0".into(),
                organization: "org0".into(),
                node_key,
                p2p_address: "/ip4/127.0.0.1/tcp/7000".into(),
            }],
            parameters: Parameters::default(),
            approvals: vec![],
        };
        assert_eq!(genesis(key(1), key(2)).validate_structure(), Ok(()));
        for (admin, node_key, holder) in [
            (weak, key(2), "an admin of organization \"org0\""),
            (key(1), weak, "validator \"v0\""),
        ] {
            assert_eq!(
                genesis(admin, node_key).validate_structure(),
                Err(GenesisError::UnusableKey {
                    holder: holder.into(),
                    key: weak,
                    reason: CryptoError::SmallOrderPublicKey,
                })
            );
        }
    }

    #[test]
    fn parameters_the_network_cannot_carry_are_refused_with_a_reason() {
        let defaults = Parameters::default();
        assert_eq!(defaults.validate(), Ok(()));
        let largest = PEER_MESSAGE_CAP_BYTES - MESSAGE_OVERHEAD_BYTES;
        let at_cap = Parameters {
            max_block_bytes: largest,
            ..defaults.clone()
        };
        assert_eq!(at_cap.validate(), Ok(()), "a block that fits the cap");
        let over_cap = Parameters {
            max_block_bytes: largest + 1,
            ..defaults.clone()
        };
        assert!(refusal(&over_cap).contains("16 MiB"));
        let stalls = Parameters {
            block_interval_ms: defaults.view_timeout_ms,
            ..defaults.clone()
        };
        assert!(refusal(&stalls).contains("below view_timeout_ms"));
        for drift in [0, 99, 60_001, u64::MAX] {
            let drift = Parameters {
                max_clock_drift_ms: drift,
                ..defaults.clone()
            };
            assert!(refusal(&drift).contains("max_clock_drift_ms"));
        }
        let no_transactions = Parameters {
            max_tx_bytes: 0,
            ..defaults
        };
        assert!(refusal(&no_transactions).contains("max_tx_bytes"));
    }
}
