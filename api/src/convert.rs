//! Conversions between Cassia's types and the protobuf messages, in both directions.
//!
//! The node builds messages with the `to_pb` functions; the client reads them back with the
//! `from_pb` functions, which trust nothing: every hash must be 32 bytes and every canonical
//! encoding must decode to what the readable fields say.

use cassia_crypto::merkle::InclusionProof;
use cassia_crypto::{Hash, PublicKey};
use cassia_ledger::execution::kv_key;
use cassia_ledger::state_tree::StateProof;
use cassia_ledger::{
    Block, BlockHeader, CommitCertificate, Operation, Receipt, SignedTransaction, Validator, codec,
    execution,
};

use crate::{ApiError, pb};

/// A 32-byte hash from a message field named `what`.
pub fn hash_from(bytes: &[u8], what: &str) -> Result<Hash, ApiError> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ApiError::Malformed(format!("{what} is not 32 bytes")))?;
    Ok(Hash(array))
}

/// A public key from a message field named `what`.
pub fn key_from(bytes: &[u8], what: &str) -> Result<PublicKey, ApiError> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ApiError::Malformed(format!("{what} is not 32 bytes")))?;
    Ok(PublicKey(array))
}

/// A header as a message.
pub fn header_to_pb(header: &BlockHeader) -> pb::BlockHeader {
    pb::BlockHeader {
        height: header.height,
        view: header.view,
        parent: header.parent.as_bytes().to_vec(),
        timestamp_ms: header.timestamp_ms,
        proposer: header.proposer.0.to_vec(),
        tx_root: header.tx_root.as_bytes().to_vec(),
        receipts_root: header.receipts_root.as_bytes().to_vec(),
        state_root: header.state_root.as_bytes().to_vec(),
        validator_set_hash: header.validator_set_hash.as_bytes().to_vec(),
        hash: header.hash().as_bytes().to_vec(),
        encoded: codec::encode(header),
    }
}

/// The header a message carries: decoded from its canonical encoding, which must hash to
/// the stated hash.
pub fn header_from_pb(message: Option<&pb::BlockHeader>) -> Result<BlockHeader, ApiError> {
    let message = message.ok_or_else(|| ApiError::Malformed("no header".into()))?;
    let header: BlockHeader = codec::decode(&message.encoded)
        .map_err(|e| ApiError::Malformed(format!("header does not decode: {e}")))?;
    if header.hash() != hash_from(&message.hash, "header hash")? || header.height != message.height
    {
        return Err(ApiError::Malformed(
            "header fields disagree with its encoding".into(),
        ));
    }
    Ok(header)
}

/// A certificate as a message.
pub fn certificate_to_pb(certificate: &CommitCertificate) -> pb::CommitCertificate {
    pb::CommitCertificate {
        height: certificate.height,
        view: certificate.view,
        block_hash: certificate.block_hash.as_bytes().to_vec(),
        signers: certificate
            .signatures
            .iter()
            .map(|s| s.validator.0.to_vec())
            .collect(),
        encoded: codec::encode(certificate),
    }
}

/// The certificate a message carries (its signatures are the caller's to verify).
pub fn certificate_from_pb(
    message: Option<&pb::CommitCertificate>,
) -> Result<CommitCertificate, ApiError> {
    let message = message.ok_or_else(|| ApiError::Malformed("no certificate".into()))?;
    codec::decode(&message.encoded)
        .map_err(|e| ApiError::Malformed(format!("certificate does not decode: {e}")))
}

/// A block and its certificate as a message; `headers_only` leaves the transactions out.
pub fn block_to_pb(
    block: &Block,
    certificate: &CommitCertificate,
    headers_only: bool,
) -> pb::BlockResponse {
    pb::BlockResponse {
        header: Some(header_to_pb(&block.header)),
        tx_ids: block
            .transactions
            .iter()
            .map(|tx| tx.id().as_bytes().to_vec())
            .collect(),
        transactions: if headers_only {
            Vec::new()
        } else {
            block.transactions.iter().map(codec::encode).collect()
        },
        certificate: Some(certificate_to_pb(certificate)),
    }
}

/// Why a receipt's operation failed, or "" when it succeeded.
fn failure_text(receipt: &Receipt) -> String {
    receipt
        .failure
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// A receipt as a message.
pub fn receipt_to_pb(receipt: &Receipt) -> pb::Receipt {
    pb::Receipt {
        tx_id: receipt.tx_id.as_bytes().to_vec(),
        height: receipt.height,
        index: receipt.index,
        success: receipt.succeeded(),
        failure: failure_text(receipt),
        encoded: codec::encode(receipt),
    }
}

/// The receipt a message carries, decoded from its canonical encoding.
pub fn receipt_from_pb(message: Option<&pb::Receipt>) -> Result<Receipt, ApiError> {
    let message = message.ok_or_else(|| ApiError::Malformed("no receipt".into()))?;
    let receipt: Receipt = codec::decode(&message.encoded)
        .map_err(|e| ApiError::Malformed(format!("receipt does not decode: {e}")))?;
    if receipt.tx_id != hash_from(&message.tx_id, "receipt tx_id")?
        || receipt.height != message.height
    {
        return Err(ApiError::Malformed(
            "receipt fields disagree with its encoding".into(),
        ));
    }
    Ok(receipt)
}

/// A Merkle inclusion proof as a message.
pub fn proof_to_pb(proof: &InclusionProof) -> pb::MerkleProof {
    pb::MerkleProof {
        index: proof.index,
        tree_size: proof.tree_size,
        siblings: proof
            .siblings
            .iter()
            .map(|h| h.as_bytes().to_vec())
            .collect(),
    }
}

/// The inclusion proof a message carries.
pub fn proof_from_pb(message: Option<&pb::MerkleProof>) -> Result<InclusionProof, ApiError> {
    let message = message.ok_or_else(|| ApiError::Malformed("no proof".into()))?;
    Ok(InclusionProof {
        index: message.index,
        tree_size: message.tree_size,
        siblings: message
            .siblings
            .iter()
            .map(|s| hash_from(s, "proof sibling"))
            .collect::<Result<_, _>>()?,
    })
}

/// The validator a message describes.
pub fn validator_from_pb(message: &pb::Validator) -> Result<Validator, ApiError> {
    Ok(Validator {
        name: message.name.clone(),
        organization: message.organization.clone(),
        node_key: key_from(&message.node_key, "validator node_key")?,
        p2p_address: message.p2p_address.clone(),
    })
}

/// A validator as a message.
pub fn validator_to_pb(validator: &Validator) -> pb::Validator {
    pb::Validator {
        name: validator.name.clone(),
        organization: validator.organization.clone(),
        node_key: validator.node_key.0.to_vec(),
        p2p_address: validator.p2p_address.clone(),
    }
}

/// The event of transaction `tx` with `receipt` in the block with `block_hash`.
pub fn event_to_pb(tx: &SignedTransaction, receipt: &Receipt, block_hash: &Hash) -> pb::Event {
    let mut event = pb::Event {
        height: receipt.height,
        index: receipt.index,
        tx_id: receipt.tx_id.as_bytes().to_vec(),
        block_hash: block_hash.as_bytes().to_vec(),
        kind: tx.tx.op.kind().to_string(),
        signer: tx.tx.signer.0.to_vec(),
        success: receipt.succeeded(),
        failure: failure_text(receipt),
        ..pb::Event::default()
    };
    match &tx.tx.op {
        Operation::Put { namespace, key, .. } => {
            event.namespace.clone_from(namespace);
            event.key.clone_from(key);
        }
        Operation::CreateNamespace { namespace, .. }
        | Operation::SetNamespaceAcl { namespace, .. } => event.namespace.clone_from(namespace),
        Operation::Notarize { digest, .. } => event.digest = digest.as_bytes().to_vec(),
        Operation::RegisterAccount { account, .. } | Operation::RevokeAccount { account } => {
            event.key = account.0.to_vec();
        }
        Operation::RegisterItem { code, .. } | Operation::AppendItemEvent { code, .. } => {
            event.key = code.as_bytes().to_vec();
        }
        Operation::AnchorBatch { batch_id, root, .. } => {
            event.key = batch_id.as_bytes().to_vec();
            event.digest = root.as_bytes().to_vec();
        }
        Operation::Propose { .. } => event.digest = receipt.tx_id.as_bytes().to_vec(),
        Operation::Vote { proposal, .. } => event.digest = proposal.as_bytes().to_vec(),
        Operation::ValidatorReady { block_hash, .. } => {
            event.digest = block_hash.as_bytes().to_vec();
        }
    }
    event
}

/// The raw state key a [`pb::StateKey`] names.
pub fn state_key(message: Option<&pb::StateKey>) -> Result<Vec<u8>, String> {
    use pb::state_key::Key;
    match message.and_then(|m| m.key.as_ref()) {
        Some(Key::Kv(kv)) => Ok(kv_key(&kv.namespace, &kv.key)),
        Some(Key::Notarization(digest)) => {
            let digest: [u8; 32] = digest
                .as_slice()
                .try_into()
                .map_err(|_| "notarization digest is not 32 bytes".to_string())?;
            Ok(execution::notarization_key(&Hash(digest)))
        }
        Some(Key::Raw(raw)) => Ok(raw.clone()),
        None => Err("no state key given".into()),
    }
}

/// A [`pb::StateKey`] for `key` in `namespace`.
pub fn kv_state_key(namespace: &str, key: &[u8]) -> pb::StateKey {
    pb::StateKey {
        key: Some(pb::state_key::Key::Kv(pb::NamespacedKey {
            namespace: namespace.to_string(),
            key: key.to_vec(),
        })),
    }
}

/// A [`pb::StateKey`] for the notarization of `digest`.
pub fn state_key_of_notarization(digest: &Hash) -> pb::StateKey {
    pb::StateKey {
        key: Some(pb::state_key::Key::Notarization(digest.as_bytes().to_vec())),
    }
}

/// Decodes a signed transaction from a message's bytes.
pub fn transaction_from(bytes: &[u8]) -> Result<SignedTransaction, ApiError> {
    codec::decode(bytes)
        .map_err(|e| ApiError::Malformed(format!("transaction does not decode: {e}")))
}

/// A state proof as a message.
pub fn state_proof_to_pb(proof: &StateProof) -> pb::StateProof {
    let (key_hash, value_hash) = proof
        .terminal
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .unwrap_or_default();
    pb::StateProof {
        siblings: proof
            .siblings
            .iter()
            .map(|h| h.as_bytes().to_vec())
            .collect(),
        terminal_key_hash: key_hash,
        terminal_value_hash: value_hash,
        encoded: codec::encode(proof),
    }
}

/// The state proof a message carries, decoded from its canonical encoding (bounded: a proof
/// has at most 256 siblings).
pub fn state_proof_from_pb(message: Option<&pb::StateProof>) -> Result<StateProof, ApiError> {
    let message = message.ok_or_else(|| ApiError::Malformed("no state proof".into()))?;
    codec::decode(&message.encoded)
        .map_err(|e| ApiError::Malformed(format!("state proof does not decode: {e}")))
}
