//! `BlockService`: blocks with their certificates, and the two subscriptions.
//!
//! A subscription is a cursor, not a queue: its task reads the store from the next height it
//! owes the subscriber up to the committed tip, then sleeps until the runtime's head moves.
//! Replay and live delivery are the same loop, so there is no hand-over where a block could be
//! skipped or sent twice. What a subscriber can hold is its bounded channel
//! ([`BLOCK_BUFFER`] or [`EVENT_BUFFER`] items); one that leaves it full for the idle timeout
//! is told (RESOURCE_EXHAUSTED, naming where to resume) and dropped. The number of streams is
//! capped too, so subscriptions cannot grow the node's memory.

use std::pin::Pin;

use cassia_api::convert::{block_to_pb, event_to_pb};
use cassia_api::pb;
use cassia_crypto::Hash;
use cassia_ledger::Height;
use futures::Stream;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{Api, storage_status};

/// Blocks a subscriber may have unread (blocks can be large).
pub const BLOCK_BUFFER: usize = 8;
/// Events a subscriber may have unread.
pub const EVENT_BUFFER: usize = 256;

/// A server stream of `T`.
pub type Subscription<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

impl Api {
    fn tip_height(&self) -> Result<Height, Status> {
        Ok(self
            .store
            .tip()
            .map_err(|e| storage_status(&e))?
            .map_or(0, |tip| tip.height))
    }

    /// The block at `height` with its certificate, as a message; `None` if not committed.
    fn block_message(
        &self,
        height: Height,
        headers_only: bool,
    ) -> Result<Option<pb::BlockResponse>, Status> {
        let block = self.store.block(height).map_err(|e| storage_status(&e))?;
        let certificate = self
            .store
            .certificate(height)
            .map_err(|e| storage_status(&e))?;
        Ok(match (block, certificate) {
            (Some(block), Some(certificate)) => {
                Some(block_to_pb(&block, &certificate, headers_only))
            }
            _ => None,
        })
    }

    /// The events of the block at `height` from `from_index` on that pass `filter`.
    fn block_events(
        &self,
        height: Height,
        from_index: u32,
        filter: &pb::SubscribeEventsRequest,
    ) -> Result<Vec<pb::Event>, Status> {
        let block = self
            .store
            .block(height)
            .map_err(|e| storage_status(&e))?
            .ok_or_else(|| {
                Status::internal(format!("block {height} is below the tip but missing"))
            })?;
        let receipts = self
            .store
            .block_receipts(height)
            .map_err(|e| storage_status(&e))?;
        let hash = block.hash();
        Ok(block
            .transactions
            .iter()
            .zip(&receipts)
            .filter(|(_, receipt)| receipt.index >= from_index)
            .map(|(tx, receipt)| event_to_pb(tx, receipt, &hash))
            .filter(|event| filter.kind.is_empty() || event.kind == filter.kind)
            .filter(|event| filter.namespace.is_empty() || event.namespace == filter.namespace)
            .collect())
    }

    fn subscriber_permit(&self) -> Result<OwnedSemaphorePermit, Status> {
        std::sync::Arc::clone(&self.subscribers)
            .try_acquire_owned()
            .map_err(|_| {
                Status::resource_exhausted(format!(
                    "too many subscriptions on this node (at most {}); retry later or use \
                     another node",
                    self.max_subscribers
                ))
            })
    }

    /// Runs a subscription: for each committed height from `from` on, `produce` gives the
    /// items to send; they go out in order through a channel of `capacity`.
    fn subscribe<T, F>(
        &self,
        from: Height,
        capacity: usize,
        produce: F,
    ) -> Result<Subscription<T>, Status>
    where
        T: Send + 'static,
        F: FnMut(&Api, Height) -> Result<Vec<T>, Status> + Send + 'static,
    {
        let permit = self.subscriber_permit()?;
        // One slot more than the items it may hold: the farewell always fits.
        let (sender, receiver) = mpsc::channel(capacity + 1);
        let api = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            follow(api, from.max(1), sender, produce).await;
        });
        Ok(Box::pin(ReceiverStream::new(receiver)))
    }
}

/// The subscription loop: send every height from `next` up to the tip, then wait for the head.
async fn follow<T, F>(
    api: Api,
    mut next: Height,
    sender: mpsc::Sender<Result<T, Status>>,
    mut produce: F,
) where
    F: FnMut(&Api, Height) -> Result<Vec<T>, Status>,
{
    let mut head = api.head.clone();
    loop {
        head.borrow_and_update();
        let tip = match api.tip_height() {
            Ok(tip) => tip,
            Err(status) => {
                let _ = sender.try_send(Err(status));
                return;
            }
        };
        while next <= tip {
            let items = match produce(&api, next) {
                Ok(items) => items,
                Err(status) => {
                    let _ = sender.try_send(Err(status));
                    return;
                }
            };
            for item in items {
                if !send_or_drop(&sender, item, next, api.idle_timeout).await {
                    return;
                }
            }
            next += 1;
        }
        tokio::select! {
            changed = head.changed() => if changed.is_err() {
                let _ = sender.try_send(Err(Status::unavailable("the node is shutting down")));
                return;
            },
            () = sender.closed() => return,
        }
    }
}

/// Sends `item`, keeping one slot free for a farewell. Returns false when the subscriber is
/// gone or was dropped for not reading within `idle_timeout` (then it is told where to resume).
async fn send_or_drop<T>(
    sender: &mpsc::Sender<Result<T, Status>>,
    item: T,
    height: Height,
    idle_timeout: std::time::Duration,
) -> bool {
    match tokio::time::timeout(idle_timeout, sender.reserve_many(2)).await {
        Ok(Ok(mut permits)) => {
            if let Some(permit) = permits.next() {
                permit.send(Ok(item));
            }
            true
        }
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::info!(height, "dropping a subscriber that stopped reading");
            let _ = sender.try_send(Err(Status::resource_exhausted(format!(
                "subscriber too slow: nothing read for {} ms; resubscribe from height {height}",
                idle_timeout.as_millis()
            ))));
            false
        }
    }
}

#[tonic::async_trait]
impl pb::block_service_server::BlockService for Api {
    async fn get_block(
        &self,
        request: Request<pb::GetBlockRequest>,
    ) -> Result<Response<pb::BlockResponse>, Status> {
        let request = request.into_inner();
        let height = match request.at {
            Some(pb::get_block_request::At::Height(0)) => {
                return Err(Status::invalid_argument(
                    "heights start at 1 (0 is the genesis, which has no block)",
                ));
            }
            Some(pb::get_block_request::At::Height(height)) => height,
            Some(pb::get_block_request::At::Hash(bytes)) => {
                let array: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| Status::invalid_argument("hash must be 32 bytes"))?;
                self.store
                    .height_of(&Hash(array))
                    .map_err(|e| storage_status(&e))?
                    .ok_or_else(|| {
                        Status::not_found(format!("no committed block {}", Hash(array)))
                    })?
            }
            None => return Err(Status::invalid_argument("give a height or a hash")),
        };
        let message = self
            .block_message(height, request.headers_only)?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no block at height {height} yet (committed tip: {})",
                    self.tip_height().unwrap_or(0)
                ))
            })?;
        Ok(Response::new(message))
    }

    async fn get_latest(
        &self,
        request: Request<pb::GetLatestRequest>,
    ) -> Result<Response<pb::BlockResponse>, Status> {
        let tip = self.tip_height()?;
        if tip == 0 {
            return Err(Status::not_found("no block committed yet"));
        }
        let message = self
            .block_message(tip, request.into_inner().headers_only)?
            .ok_or_else(|| Status::internal(format!("the tip block {tip} is missing")))?;
        Ok(Response::new(message))
    }

    type SubscribeBlocksStream = Subscription<pb::BlockResponse>;

    async fn subscribe_blocks(
        &self,
        request: Request<pb::SubscribeBlocksRequest>,
    ) -> Result<Response<Self::SubscribeBlocksStream>, Status> {
        let request = request.into_inner();
        let headers_only = request.headers_only;
        let stream = self.subscribe(request.from_height, BLOCK_BUFFER, move |api, height| {
            let message = api.block_message(height, headers_only)?.ok_or_else(|| {
                Status::internal(format!("block {height} is below the tip but missing"))
            })?;
            Ok(vec![message])
        })?;
        Ok(Response::new(stream))
    }

    type SubscribeEventsStream = Subscription<pb::Event>;

    async fn subscribe_events(
        &self,
        request: Request<pb::SubscribeEventsRequest>,
    ) -> Result<Response<Self::SubscribeEventsStream>, Status> {
        let filter = request.into_inner();
        let first = filter.from_height.max(1);
        let stream = self.subscribe(first, EVENT_BUFFER, move |api, height| {
            let from_index = if height == first {
                filter.from_index
            } else {
                0
            };
            api.block_events(height, from_index, &filter)
        })?;
        Ok(Response::new(stream))
    }
}
