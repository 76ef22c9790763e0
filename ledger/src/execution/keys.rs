//! The state key layout, in one place. Every key starts with a short prefix naming what it
//! holds; variable-length parts are followed by a NUL or length-prefixed so no key of one kind
//! is a prefix of another kind's key.
//!
//! ```text
//! kv/<namespace> 0x00 <key>        value bytes                      Put
//! nz/<digest, 32 bytes>            NotarizationRecord               Notarize
//! acct/<public key, 32 bytes>      Account                          RegisterAccount, genesis
//! org/<id>                         OrganizationRecord               genesis, governance
//! ns/<namespace>                   NamespaceRecord                  CreateNamespace
//! tr/i/<code>                      ItemRecord                       RegisterItem
//! tr/e/<len u32 BE><code><seq BE>  ItemEvent                        AppendItemEvent
//! tr/b/<batch id>                  BatchRecord                      AnchorBatch
//! gov/p/<proposal id, 32 bytes>    ProposalRecord                   Propose, Vote
//! gov/s/<height u64 BE>            Vec<(proposal, GovAction)> due   approval, readiness
//! gov/pending                      Vec<PendingValidator>            approval of AddValidator
//! gov/orgs                         Vec<String>: active org ids      genesis, governance
//! gov/validators                   ValidatorSet                     genesis, governance
//! gov/params                       Parameters                       genesis, governance
//! chain/h/<height u64 BE>          Hash of that block               every block (its parent)
//! ```
//!
//! `gov/validators` and `gov/params` after block `h` are the set and parameters in force for
//! block `h + 1`: a node reads them from the state to run the next height, and a verifier reads
//! their history to check certificates from genesis onward.

use cassia_crypto::{Hash, PublicKey};

use crate::Height;

/// The validator set in force for the next block.
pub const VALIDATORS: &[u8] = b"gov/validators";
/// The parameters in force for the next block.
pub const PARAMETERS: &[u8] = b"gov/params";
/// Ids of the active organizations, sorted.
pub const ORGANIZATIONS: &[u8] = b"gov/orgs";
/// Approved validators waiting to prove they have caught up.
pub const PENDING_VALIDATORS: &[u8] = b"gov/pending";

fn with(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + rest.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(rest);
    out
}

/// The state key of `key` in `namespace`.
pub fn kv(namespace: &str, key: &[u8]) -> Vec<u8> {
    let mut out = with(b"kv/", namespace.as_bytes());
    out.push(0);
    out.extend_from_slice(key);
    out
}

/// The state key of a notarized digest.
pub fn notarization(digest: &Hash) -> Vec<u8> {
    with(b"nz/", digest.as_bytes())
}

/// An account.
pub fn account(key: &PublicKey) -> Vec<u8> {
    with(b"acct/", &key.0)
}

/// An organization.
pub fn organization(id: &str) -> Vec<u8> {
    with(b"org/", id.as_bytes())
}

/// A namespace's record.
pub fn namespace(name: &str) -> Vec<u8> {
    with(b"ns/", name.as_bytes())
}

/// A traceability item.
pub fn item(code: &str) -> Vec<u8> {
    with(b"tr/i/", code.as_bytes())
}

/// Event `sequence` of the item `code`.
pub fn item_event(code: &str, sequence: u32) -> Vec<u8> {
    let length = u32::try_from(code.len()).unwrap_or(u32::MAX);
    let mut out = with(b"tr/e/", &length.to_be_bytes());
    out.extend_from_slice(code.as_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out
}

/// A batch anchor.
pub fn batch(id: &str) -> Vec<u8> {
    with(b"tr/b/", id.as_bytes())
}

/// A governance proposal.
pub fn proposal(id: &Hash) -> Vec<u8> {
    with(b"gov/p/", id.as_bytes())
}

/// Governance actions due at `height`.
pub fn scheduled(height: Height) -> Vec<u8> {
    with(b"gov/s/", &height.to_be_bytes())
}

/// The hash of the block at `height`.
pub fn block_hash(height: Height) -> Vec<u8> {
    with(b"chain/h/", &height.to_be_bytes())
}
