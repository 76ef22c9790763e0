//! `TransactionService`: submit, submit and wait for the receipt, read a committed transaction
//! or receipt with its Merkle inclusion proof.

use std::time::Duration;

use cassia_api::convert::{header_to_pb, proof_to_pb, receipt_to_pb};
use cassia_api::pb;
use cassia_crypto::Hash;
use cassia_ledger::block::receipts_tree;
use cassia_ledger::{SignedTransaction, codec};
use cassia_storage::tables::TxLocation;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use super::{Api, status_of, storage_status};
use crate::runtime::NodeCommand;

/// SubmitAndWait's wait when the request names none.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// SubmitAndWait's longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(120);
/// Answer this long before the caller's own deadline, so it gets our DEADLINE_EXCEEDED (with
/// the transaction id) rather than its transport's.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

fn decode_transaction(bytes: &[u8]) -> Result<SignedTransaction, Status> {
    codec::decode(bytes)
        .map_err(|e| Status::invalid_argument(format!("signed_transaction does not decode: {e}")))
}

fn tx_id_from(bytes: &[u8]) -> Result<Hash, Status> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Status::invalid_argument("tx_id must be 32 bytes"))?;
    Ok(Hash(array))
}

/// The gRPC deadline the caller set (`grpc-timeout` header), if any.
fn caller_timeout<T>(request: &Request<T>) -> Option<Duration> {
    let text = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

impl Api {
    /// Hands `tx` to the runtime for admission; its answer, as a status on refusal.
    async fn admit(&self, tx: SignedTransaction) -> Result<Hash, Status> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(NodeCommand::Submit(tx, reply))
            .await
            .map_err(|_| Status::unavailable("the node is shutting down"))?;
        answer
            .await
            .map_err(|_| Status::unavailable("the node is shutting down"))?
            .map_err(|rejection| status_of(&rejection))
    }

    fn location(&self, id: &Hash) -> Result<Option<TxLocation>, Status> {
        self.store.tx_location(id).map_err(|e| storage_status(&e))
    }

    /// The receipt at `location` with its proof under the header's receipts_root.
    pub(super) fn receipt_response(
        &self,
        location: TxLocation,
    ) -> Result<pb::ReceiptResponse, Status> {
        let header = self
            .store
            .header(location.height)
            .map_err(|e| storage_status(&e))?
            .ok_or_else(|| {
                Status::internal(format!("block {} is indexed but missing", location.height))
            })?;
        let receipts = self
            .store
            .block_receipts(location.height)
            .map_err(|e| storage_status(&e))?;
        let index = usize::try_from(location.index).unwrap_or(usize::MAX);
        let receipt = receipts
            .get(index)
            .ok_or_else(|| Status::internal("the indexed receipt is missing"))?;
        let proof = receipts_tree(&receipts)
            .proof(index)
            .ok_or_else(|| Status::internal("no proof for the indexed receipt"))?;
        Ok(pb::ReceiptResponse {
            receipt: Some(receipt_to_pb(receipt)),
            proof: Some(proof_to_pb(&proof)),
            header: Some(header_to_pb(&header)),
        })
    }
}

#[tonic::async_trait]
impl pb::transaction_service_server::TransactionService for Api {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let tx = decode_transaction(&request.into_inner().signed_transaction)?;
        let id = self.admit(tx).await?;
        Ok(Response::new(pb::SubmitResponse {
            tx_id: id.as_bytes().to_vec(),
        }))
    }

    /// Admits, then wakes on every commit until the receipt is in the store, the transaction
    /// can no longer commit (past its valid_until), or the wait runs out.
    async fn submit_and_wait(
        &self,
        request: Request<pb::SubmitAndWaitRequest>,
    ) -> Result<Response<pb::ReceiptResponse>, Status> {
        let caller = caller_timeout(&request);
        let message = request.into_inner();
        let tx = decode_transaction(&message.signed_transaction)?;
        let valid_until = tx.tx.valid_until;
        let mut wait = match message.wait_ms {
            0 => DEFAULT_WAIT,
            ms => Duration::from_millis(ms).min(MAX_WAIT),
        };
        if let Some(caller) = caller {
            wait = wait.min(caller.saturating_sub(DEADLINE_MARGIN));
        }
        let deadline = tokio::time::Instant::now() + wait;
        // Watch before admitting, so the commit cannot slip between admission and the wait.
        let mut head = self.head.clone();
        head.borrow_and_update();
        let id = self.admit(tx).await?;
        loop {
            if let Some(location) = self.location(&id)? {
                return Ok(Response::new(self.receipt_response(location)?));
            }
            if head.borrow().height >= valid_until {
                return Err(Status::failed_precondition(format!(
                    "transaction {id} expired at height {valid_until} without committing"
                )));
            }
            match tokio::time::timeout_at(deadline, head.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Status::unavailable("the node is shutting down")),
                Err(_) => {
                    return Err(Status::deadline_exceeded(format!(
                        "transaction {id} was admitted but not committed within {} ms; it may \
                         still commit: ask GetReceipt",
                        wait.as_millis()
                    )));
                }
            }
        }
    }

    async fn get_transaction(
        &self,
        request: Request<pb::TransactionRequest>,
    ) -> Result<Response<pb::TransactionResponse>, Status> {
        let id = tx_id_from(&request.into_inner().tx_id)?;
        let location = self
            .location(&id)?
            .ok_or_else(|| Status::not_found(format!("no committed transaction {id}")))?;
        let block = self
            .store
            .block(location.height)
            .map_err(|e| storage_status(&e))?
            .ok_or_else(|| {
                Status::internal(format!("block {} is indexed but missing", location.height))
            })?;
        let index = usize::try_from(location.index).unwrap_or(usize::MAX);
        let tx = block
            .transactions
            .get(index)
            .ok_or_else(|| Status::internal("the indexed transaction is missing"))?;
        let proof = block
            .tx_tree()
            .proof(index)
            .ok_or_else(|| Status::internal("no proof for the indexed transaction"))?;
        let receipt = self.receipt_response(location)?.receipt;
        Ok(Response::new(pb::TransactionResponse {
            signed_transaction: codec::encode(tx),
            json: serde_json::to_string(tx).unwrap_or_default(),
            height: location.height,
            index: location.index,
            proof: Some(proof_to_pb(&proof)),
            header: Some(header_to_pb(&block.header)),
            receipt,
        }))
    }

    async fn get_receipt(
        &self,
        request: Request<pb::TransactionRequest>,
    ) -> Result<Response<pb::ReceiptResponse>, Status> {
        let id = tx_id_from(&request.into_inner().tx_id)?;
        let location = self
            .location(&id)?
            .ok_or_else(|| Status::not_found(format!("no committed transaction {id}")))?;
        Ok(Response::new(self.receipt_response(location)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_header_parses_every_unit() {
        let cases = [
            ("2S", Some(Duration::from_secs(2))),
            ("1500m", Some(Duration::from_millis(1500))),
            ("1M", Some(Duration::from_secs(60))),
            ("3H", Some(Duration::from_secs(3 * 3600))),
            ("70u", Some(Duration::from_micros(70))),
            ("9n", Some(Duration::from_nanos(9))),
            ("5x", None),
            ("S", None),
            ("", None),
        ];
        for (header, expected) in cases {
            let mut request = Request::new(());
            if let Ok(value) = header.parse() {
                request.metadata_mut().insert("grpc-timeout", value);
            }
            assert_eq!(caller_timeout(&request), expected, "{header:?}");
        }
    }
}
