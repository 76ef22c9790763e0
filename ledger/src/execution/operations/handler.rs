//! What every operation handler provides: [`Handler`].
//!
//! A handler is a small struct borrowing one operation's fields (e.g.
//! [`super::registries::Put`]), built by the dispatch in [`super`]. Its three steps run in
//! order, and each may only do what its signature allows:
//!
//! ```text
//! check_fields   the fields alone              admission and block   -> Rejection
//! authorize      reads the state (&Overlay)    admission and block   -> Denied
//! execute        reads and writes (&mut)       block only            -> Unmet
//! ```
//!
//! So admission, which runs `check_fields` and `authorize`, writes nothing, and refuses exactly
//! the transactions whose receipt would say `PermissionDenied`.

use cassia_crypto::{GenesisHash, PublicKey};

use crate::execution::checks::{Denied, Unmet};
use crate::execution::{Overlay, Step};
use crate::transaction::Rejection;

/// One operation's rules: its well-formed fields, who may do it, and what it does.
pub(super) trait Handler {
    /// What `authorize` read and `execute` reuses, so a record is not read twice (usually the
    /// signer's account; for an operation on an existing record, that record if it exists).
    type Permit;

    /// Stateless checks of the fields, judged the same at admission and in every block: a
    /// block holding a transaction that fails them is invalid.
    fn check_fields(&self, genesis: &GenesisHash) -> Result<(), Rejection>;

    /// Whether `signer` may do this, judged by reading `state` only.
    ///
    /// A precondition that does not decide who may act (the target record is missing) is not
    /// a denial: `authorize` passes it on in the permit and `execute` reports it, which keeps
    /// the order of checks, and so the receipts, as they were.
    fn authorize(&self, state: &Overlay<'_>, signer: &PublicKey) -> Result<Self::Permit, Denied>;

    /// The remaining preconditions, then the writes: nothing is written unless every check
    /// has passed, so a failed operation leaves no trace but its receipt.
    fn execute(
        self,
        overlay: &mut Overlay<'_>,
        step: &Step,
        permit: Self::Permit,
    ) -> Result<(), Unmet>;
}
