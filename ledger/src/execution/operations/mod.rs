//! Operations: one [`Handler`] per operation, grouped by area, and the dispatch that picks it.
//!
//! | area              | operations                                          |
//! |-------------------|-----------------------------------------------------|
//! | [`accounts`]      | `RegisterAccount`, `RevokeAccount`                  |
//! | [`registries`]    | `CreateNamespace`, `SetNamespaceAcl`, `Put`         |
//! | [`evidence`]      | `Notarize`                                          |
//! | [`traceability`]  | `RegisterItem`, `AppendItemEvent`, `AnchorBatch`    |
//! | [`governance`]    | `Propose`, `Vote`, `ValidatorReady`                 |
//!
//! Permission is one rule for every operation: the signer must be an active account of an
//! active organization holding the role the operation needs (checked in
//! [`crate::execution::checks`]); registry writes also need the namespace's access list to
//! admit the organization, item events the item's.
//!
//! The handler modules depend on [`handler`] and [`crate::execution::checks`], never on each
//! other or on this dispatch. [`dispatch`] is the one place that maps an operation to its
//! handler; [`check_fields`], [`authorize`] and [`apply`] only say which steps to run.

mod accounts;
mod evidence;
mod governance;
mod handler;
mod registries;
mod traceability;

use cassia_crypto::{GenesisHash, PublicKey};

use self::handler::Handler;
use super::{Overlay, Step};
use crate::transaction::{Operation, Rejection};

/// Stateless checks of `op`'s fields (at admission and for every transaction of a block).
pub(super) fn check_fields(genesis: &GenesisHash, op: &Operation) -> Result<(), Rejection> {
    dispatch(op, CheckFields { genesis })
}

/// Whether `signer` may do `op`, reading `state` only: the mempool's early answer.
pub(super) fn authorize(
    state: &Overlay<'_>,
    signer: &PublicKey,
    op: &Operation,
) -> Result<(), Rejection> {
    dispatch(op, Authorize { state, signer })
}

/// Executes `op` for `step.signer`: authorize, then execute.
pub(super) fn apply(
    overlay: &mut Overlay<'_>,
    step: &Step,
    op: &Operation,
) -> Result<(), Rejection> {
    dispatch(op, Apply { overlay, step })
}

/// A way of using a handler, whatever the operation: [`CheckFields`], [`Authorize`], [`Apply`].
trait Stage {
    /// What the stage returns.
    type Output;
    /// Runs this stage with `handler`.
    fn run<H: Handler>(self, handler: H) -> Self::Output;
}

/// Runs `stage` with `op`'s handler: the one place an operation meets its handler, a flat
/// table with one arm per operation and nothing else.
fn dispatch<S: Stage>(op: &Operation, stage: S) -> S::Output {
    match op {
        Operation::Put {
            namespace,
            key,
            value,
        } => stage.run(registries::Put {
            namespace,
            key,
            value,
        }),
        Operation::Notarize {
            digest,
            metadata,
            co_signers,
        } => stage.run(evidence::Notarize {
            digest,
            metadata,
            co_signers,
        }),
        Operation::RegisterAccount { account, roles } => {
            stage.run(accounts::RegisterAccount { account, roles })
        }
        Operation::RevokeAccount { account } => stage.run(accounts::RevokeAccount { account }),
        Operation::CreateNamespace { namespace, acl } => {
            stage.run(registries::CreateNamespace { namespace, acl })
        }
        Operation::SetNamespaceAcl { namespace, acl } => {
            stage.run(registries::SetNamespaceAcl { namespace, acl })
        }
        Operation::RegisterItem {
            code,
            product,
            metadata,
            authorized,
        } => stage.run(traceability::RegisterItem {
            code,
            product,
            metadata,
            authorized,
        }),
        Operation::AppendItemEvent { code, kind, data } => {
            stage.run(traceability::AppendItemEvent { code, kind, data })
        }
        Operation::AnchorBatch {
            batch_id,
            root,
            count,
            metadata,
        } => stage.run(traceability::AnchorBatch {
            batch_id,
            root,
            count: *count,
            metadata,
        }),
        Operation::Propose {
            action,
            effective_height,
        } => stage.run(governance::Propose {
            action,
            effective_height: *effective_height,
        }),
        Operation::Vote { proposal, approve } => stage.run(governance::Vote {
            proposal,
            approve: *approve,
        }),
        Operation::ValidatorReady { height, block_hash } => stage.run(governance::ValidatorReady {
            height: *height,
            block_hash,
        }),
    }
}

/// Runs a handler's field checks.
struct CheckFields<'a> {
    genesis: &'a GenesisHash,
}

impl Stage for CheckFields<'_> {
    type Output = Result<(), Rejection>;

    fn run<H: Handler>(self, handler: H) -> Self::Output {
        handler.check_fields(self.genesis)
    }
}

/// Runs a handler's authorize step alone, on a state it cannot write.
struct Authorize<'a, 's> {
    state: &'a Overlay<'s>,
    signer: &'a PublicKey,
}

impl Stage for Authorize<'_, '_> {
    type Output = Result<(), Rejection>;

    fn run<H: Handler>(self, handler: H) -> Self::Output {
        handler.authorize(self.state, self.signer)?;
        Ok(())
    }
}

/// Runs a handler's authorize step, then its execute step with the permit.
struct Apply<'a, 's> {
    overlay: &'a mut Overlay<'s>,
    step: &'a Step,
}

impl Stage for Apply<'_, '_> {
    type Output = Result<(), Rejection>;

    fn run<H: Handler>(self, handler: H) -> Self::Output {
        let permit = handler.authorize(self.overlay, &self.step.signer)?;
        handler.execute(self.overlay, self.step, permit)?;
        Ok(())
    }
}
