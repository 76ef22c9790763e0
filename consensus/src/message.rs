//! Consensus messages: what goes on the wire and into the WAL, unchanged.
//!
//! Every message is a [`Message`] envelope: the chain id, the sender's node key, a [`Payload`]
//! and the sender's signature. Bytes are [`cassia_ledger::codec`] (bincode, fixed integers).
//!
//! What the signature covers depends on the payload, so that signatures can be re-checked
//! later without the envelope:
//!
//! ```text
//! payload      signed bytes (cassia_crypto::signing_bytes layout)
//! -----------  ---------------------------------------------------------------
//! Vote         Domain::Vote,      encode(Vote)          (cassia_ledger::Vote::sign)
//! PrePrepare   Domain::Consensus, 0x01 || encode(Proposal)
//! ViewChange   Domain::Consensus, 0x02 || encode(ViewChange)   (block not covered)
//! NewView      Domain::Consensus, 0x03 || encode(NewView)      (block not covered)
//! Decided      Domain::Consensus, 0x04 || encode(CommitCertificate)
//! ```
//!
//! Blocks travel next to the signed statement and are bound to it by hash: a statement names
//! `block_hash`, and a receiver checks `block.hash() == block_hash`. Prepare and commit
//! signatures are plain [`Vote`] signatures, so 2f+1 commit votes are a
//! [`CommitCertificate`] that anyone can check offline.

use bincode::{Decode, Encode};
use cassia_crypto::{
    CryptoError, Domain, GenesisHash, Hash, Keypair, PublicKey, Signature, signing_bytes,
};
use cassia_ledger::{
    Block, CertificateError, CommitCertificate, Height, ValidatorSet, ValidatorSignature, View,
    Vote, VoteKind, codec,
};

// The proposal (tag 0x01) is the ledger's: proofs of equivocation are checked there.
pub use cassia_ledger::validators::Proposal;
const TAG_VIEW_CHANGE: u8 = 2;
const TAG_NEW_VIEW: u8 = 3;
const TAG_DECIDED: u8 = 4;

/// Proof that a block was *prepared*: 2f+1 prepare votes of distinct validators for it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PreparedCertificate {
    /// Height.
    pub height: Height,
    /// View in which it prepared.
    pub view: View,
    /// The prepared block.
    pub block_hash: Hash,
    /// Prepare signatures, sorted by validator key.
    pub signatures: Vec<ValidatorSignature>,
}

impl PreparedCertificate {
    /// The vote every signature covers.
    pub fn vote(&self) -> Vote {
        Vote {
            kind: VoteKind::Prepare,
            height: self.height,
            view: self.view,
            block_hash: self.block_hash,
        }
    }

    /// Checks quorum, membership, distinctness and every signature against `validators`.
    pub fn verify(
        &self,
        genesis: &GenesisHash,
        validators: &ValidatorSet,
    ) -> Result<(), CertificateError> {
        let mut batch = SignatureBatch::default();
        check_quorum(
            &self.vote(),
            &self.signatures,
            genesis,
            validators,
            &mut batch,
        )?;
        batch
            .verify()
            .map_err(|_| CertificateError::BadSignature(self.signatures[0].validator))
    }
}

/// A replica's request to leave `view - 1` for `view`, carrying its highest prepared certificate.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ViewChange {
    /// Height.
    pub height: Height,
    /// The view asked for.
    pub view: View,
    /// The highest prepared certificate the sender holds at this height, if any.
    pub prepared: Option<PreparedCertificate>,
}

/// A view change with its signer, as carried inside a [`NewView`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedViewChange {
    /// The statement.
    pub view_change: ViewChange,
    /// Who signed it.
    pub signer: PublicKey,
    /// Signature (domain Consensus, tag 0x02).
    pub signature: Signature,
}

impl SignedViewChange {
    /// The exact bytes the signature covers.
    pub fn signing_bytes(&self, genesis: &GenesisHash) -> Vec<u8> {
        statement_bytes(genesis, TAG_VIEW_CHANGE, &self.view_change)
    }
}

/// The new leader's announcement of `view`: 2f+1 view changes and the block it proposes.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct NewView {
    /// Height.
    pub height: Height,
    /// The view being started.
    pub view: View,
    /// 2f+1 view changes for `view`, from distinct validators.
    pub view_changes: Vec<SignedViewChange>,
    /// The proposal: the block of the highest prepared certificate among `view_changes`, or, if
    /// none, a fresh block whose header says `view`.
    pub block_hash: Hash,
}

/// What a message says.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Payload {
    /// PBFT phase 1 in view 0: the leader's proposal and its block.
    PrePrepare {
        /// The signed statement.
        proposal: Proposal,
        /// The block, whose hash is `proposal.block_hash`.
        block: Block,
    },
    /// PBFT phases 2 and 3: a prepare or commit vote.
    Vote(Vote),
    /// A view change, with the block of its prepared certificate (if any) so that the new leader
    /// can re-propose it.
    ViewChange {
        /// The signed statement.
        view_change: ViewChange,
        /// The block of `view_change.prepared`, present exactly when that is.
        prepared_block: Option<Block>,
    },
    /// A new view and its proposal.
    NewView {
        /// The signed statement.
        new_view: NewView,
        /// The block, whose hash is `new_view.block_hash`.
        block: Block,
    },
    /// A commit certificate relayed to a replica that is behind: it fetches the blocks up to it.
    Decided(CommitCertificate),
}

/// The kind of statement a message makes; an honest replica signs at most one statement per
/// `(height, view, kind)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatementKind {
    /// Pre-prepare (view 0).
    PrePrepare,
    /// Prepare vote.
    Prepare,
    /// Commit vote.
    Commit,
    /// View change (keyed by the view asked for).
    ViewChange,
    /// New view.
    NewView,
    /// Relayed certificate.
    Decided,
}

impl Payload {
    /// Height the payload is about.
    pub fn height(&self) -> Height {
        match self {
            Payload::PrePrepare { proposal, .. } => proposal.height,
            Payload::Vote(vote) => vote.height,
            Payload::ViewChange { view_change, .. } => view_change.height,
            Payload::NewView { new_view, .. } => new_view.height,
            Payload::Decided(certificate) => certificate.height,
        }
    }

    /// View the payload is about (for a view change: the view asked for).
    pub fn view(&self) -> View {
        match self {
            Payload::PrePrepare { proposal, .. } => proposal.view,
            Payload::Vote(vote) => vote.view,
            Payload::ViewChange { view_change, .. } => view_change.view,
            Payload::NewView { new_view, .. } => new_view.view,
            Payload::Decided(certificate) => certificate.view,
        }
    }

    /// The kind of statement.
    pub fn kind(&self) -> StatementKind {
        match self {
            Payload::PrePrepare { .. } => StatementKind::PrePrepare,
            Payload::Vote(Vote {
                kind: VoteKind::Prepare,
                ..
            }) => StatementKind::Prepare,
            Payload::Vote(Vote {
                kind: VoteKind::Commit,
                ..
            }) => StatementKind::Commit,
            Payload::ViewChange { .. } => StatementKind::ViewChange,
            Payload::NewView { .. } => StatementKind::NewView,
            Payload::Decided(_) => StatementKind::Decided,
        }
    }

    /// Whether the payload carries a block.
    pub fn carries_block(&self) -> bool {
        match self {
            Payload::PrePrepare { .. } | Payload::NewView { .. } => true,
            Payload::ViewChange { prepared_block, .. } => prepared_block.is_some(),
            Payload::Vote(_) | Payload::Decided(_) => false,
        }
    }

    /// The exact bytes the sender signs (see the module docs).
    pub fn signing_bytes(&self, genesis: &GenesisHash) -> Vec<u8> {
        match self {
            Payload::PrePrepare { proposal, .. } => proposal.signing_bytes(genesis),
            Payload::Vote(vote) => vote.signing_bytes(genesis),
            Payload::ViewChange { view_change, .. } => {
                statement_bytes(genesis, TAG_VIEW_CHANGE, view_change)
            }
            Payload::NewView { new_view, .. } => statement_bytes(genesis, TAG_NEW_VIEW, new_view),
            Payload::Decided(certificate) => statement_bytes(genesis, TAG_DECIDED, certificate),
        }
    }
}

/// A signed consensus message: the unit on the wire and in the WAL.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Message {
    /// The chain the message says it is for: a cheap first filter. The signature is always
    /// checked against the receiver's own genesis, never this field.
    pub genesis: GenesisHash,
    /// The validator that signed it.
    pub sender: PublicKey,
    /// What it says.
    pub payload: Payload,
    /// `sender`'s signature over `payload.signing_bytes(genesis)`.
    pub signature: Signature,
}

impl Message {
    /// Signs `payload` for the chain `genesis` with `key`.
    pub fn sign(genesis: &GenesisHash, key: &Keypair, payload: Payload) -> Message {
        let signature = key.sign_raw(&payload.signing_bytes(genesis));
        Message {
            genesis: *genesis,
            sender: key.public(),
            payload,
            signature,
        }
    }

    /// Checks the signature as made for the chain `genesis` (the verifier's own).
    pub fn verify_signature(&self, genesis: &GenesisHash) -> Result<(), CryptoError> {
        self.sender
            .verify_raw(&self.payload.signing_bytes(genesis), &self.signature)
    }

    /// Height the message is about.
    pub fn height(&self) -> Height {
        self.payload.height()
    }

    /// View the message is about.
    pub fn view(&self) -> View {
        self.payload.view()
    }

    /// Kind of statement.
    pub fn kind(&self) -> StatementKind {
        self.payload.kind()
    }

    /// Whether two messages make the same signed statement (attached blocks aside).
    pub fn same_statement(&self, other: &Message) -> bool {
        self.sender == other.sender
            && self.genesis == other.genesis
            && self.payload.signing_bytes(&self.genesis)
                == other.payload.signing_bytes(&other.genesis)
    }

    /// The view change inside, with its signer, if this is a view-change message.
    pub fn signed_view_change(&self) -> Option<SignedViewChange> {
        match &self.payload {
            Payload::ViewChange { view_change, .. } => Some(SignedViewChange {
                view_change: view_change.clone(),
                signer: self.sender,
                signature: self.signature,
            }),
            _ => None,
        }
    }

    /// The canonical bytes, for the network and the WAL.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a message of at most `max_bytes` (pass the chain's block cap plus overhead).
    pub fn from_bytes(bytes: &[u8], max_bytes: usize) -> Result<Message, codec::CodecError> {
        codec::decode_capped(bytes, max_bytes)
    }
}

fn statement_bytes<T: Encode>(genesis: &GenesisHash, tag: u8, statement: &T) -> Vec<u8> {
    let mut payload = vec![tag];
    payload.extend_from_slice(&codec::encode(statement));
    signing_bytes(Domain::Consensus, genesis, &payload)
}

/// Signatures collected to be checked in one ed25519 batch.
#[derive(Default)]
pub(crate) struct SignatureBatch {
    messages: Vec<Vec<u8>>,
    signatures: Vec<Signature>,
    keys: Vec<PublicKey>,
}

impl SignatureBatch {
    pub(crate) fn push(&mut self, message: Vec<u8>, signature: Signature, key: PublicKey) {
        self.messages.push(message);
        self.signatures.push(signature);
        self.keys.push(key);
    }

    pub(crate) fn verify(&self) -> Result<(), CryptoError> {
        if self.messages.is_empty() {
            return Ok(());
        }
        let messages: Vec<&[u8]> = self.messages.iter().map(Vec::as_slice).collect();
        cassia_crypto::verify_batch(&messages, &self.signatures, &self.keys)
    }
}

/// Checks that `signatures` are a quorum of distinct members for `vote`, queueing each signature
/// into `batch` (checked by the caller).
pub(crate) fn check_quorum(
    vote: &Vote,
    signatures: &[ValidatorSignature],
    genesis: &GenesisHash,
    validators: &ValidatorSet,
    batch: &mut SignatureBatch,
) -> Result<(), CertificateError> {
    cassia_ledger::validators::check_signers(signatures, validators)?;
    let message = vote.signing_bytes(genesis);
    for entry in signatures {
        batch.push(message.clone(), entry.signature, entry.validator);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> GenesisHash {
        GenesisHash(Hash::of(b"chain"))
    }

    #[test]
    fn signatures_cover_the_statement_not_the_attached_block() {
        let key = Keypair::from_secret([3; 32]);
        let view_change = ViewChange {
            height: 4,
            view: 2,
            prepared: None,
        };
        let message = Message::sign(
            &chain(),
            &key,
            Payload::ViewChange {
                view_change: view_change.clone(),
                prepared_block: None,
            },
        );
        assert!(message.verify_signature(&chain()).is_ok());
        let signed = message.signed_view_change().expect("a view change");
        assert!(
            key.public()
                .verify_raw(&signed.signing_bytes(&chain()), &signed.signature)
                .is_ok()
        );
        let other_chain = GenesisHash(Hash::of(b"other"));
        assert!(message.verify_signature(&other_chain).is_err());
    }

    #[test]
    fn messages_round_trip_through_the_codec() {
        let key = Keypair::from_secret([4; 32]);
        let vote = Vote {
            kind: VoteKind::Commit,
            height: 9,
            view: 1,
            block_hash: Hash::of(b"b"),
        };
        let message = Message::sign(&chain(), &key, Payload::Vote(vote));
        assert_eq!(
            message.signature,
            vote.sign(&chain(), &key),
            "a vote message carries a plain vote signature"
        );
        let decoded = Message::from_bytes(&message.to_bytes(), 1 << 20).expect("round trip");
        assert_eq!(decoded, message);
        assert!(Message::from_bytes(&[0xff; 40], 1 << 20).is_err());
    }
}
