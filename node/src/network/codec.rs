//! The block-sync request-response codec: one length-prefixed frame each way.
//!
//! ```text
//! +----------------------+----------------+
//! | length (u32, big-endian) | payload    |
//! +----------------------+----------------+
//!        4 bytes            length bytes
//! ```
//!
//! Invariants:
//! - A frame whose announced length exceeds the cap of its direction is refused with
//!   [`FrameTooLarge`] *before* any buffer is allocated for it; requests are capped at
//!   [`SYNC_REQUEST_MAX_BYTES`], responses at the node's configured max message bytes.
//! - The payload buffer grows with the bytes actually received (at most [`READ_CHUNK_BYTES`]
//!   reserved up front), so a peer that announces a large frame and then stalls holds little
//!   memory.
//! - Writing a frame above the cap is refused too, so this node never sends what a peer with
//!   the same configuration would refuse.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// The block-sync protocol name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/cassia/sync/1");

/// Largest sync request payload, in bytes. A request names a height range, which is a few dozen
/// bytes; anything larger is refused before it is read.
pub const SYNC_REQUEST_MAX_BYTES: usize = 1024;

/// Most bytes reserved for a frame before its bytes arrive; the buffer grows as they do.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// A frame longer than its direction's cap (the error inside the `io::Error` the codec returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame of {length} bytes exceeds the cap of {cap} bytes")]
pub struct FrameTooLarge {
    /// The announced or offered length.
    pub length: u64,
    /// The cap it exceeds.
    pub cap: usize,
}

impl FrameTooLarge {
    /// The [`FrameTooLarge`] inside `error`, if that is what it carries.
    pub fn from_io(error: &io::Error) -> Option<FrameTooLarge> {
        error.get_ref()?.downcast_ref::<FrameTooLarge>().copied()
    }

    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// Reads one frame of at most `cap` payload bytes.
pub async fn read_frame<T>(io: &mut T, cap: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let announced = u32::from_be_bytes(prefix);
    let length = usize::try_from(announced)
        .ok()
        .filter(|length| *length <= cap)
        .ok_or(
            FrameTooLarge {
                length: u64::from(announced),
                cap,
            }
            .into_io(),
        )?;
    let mut payload = Vec::with_capacity(length.min(READ_CHUNK_BYTES));
    io.take(u64::from(announced))
        .read_to_end(&mut payload)
        .await?;
    if payload.len() != length {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "frame shorter than its length prefix",
        ));
    }
    Ok(payload)
}

/// Writes one frame, refusing a payload above `cap` (or above `u32::MAX`).
pub async fn write_frame<T>(io: &mut T, payload: &[u8], cap: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let too_large = || {
        FrameTooLarge {
            length: payload.len() as u64,
            cap,
        }
        .into_io()
    };
    if payload.len() > cap {
        return Err(too_large());
    }
    let length = u32::try_from(payload.len()).map_err(|_| too_large())?;
    io.write_all(&length.to_be_bytes()).await?;
    io.write_all(payload).await?;
    io.flush().await
}

/// The [`libp2p::request_response::Codec`] of [`SYNC_PROTOCOL`]: opaque request and response
/// bytes, each one frame, each direction with its own cap.
#[derive(Debug, Clone, Copy)]
pub struct SyncCodec {
    /// Cap on request payloads ([`SYNC_REQUEST_MAX_BYTES`]).
    pub request_cap: usize,
    /// Cap on response payloads (the configured max message bytes).
    pub response_cap: usize,
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.request_cap).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.response_cap).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request, self.request_cap).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response, self.response_cap).await
    }
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;

    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        futures::executor::block_on(future)
    }

    fn frame(length: u32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn frames_round_trip_up_to_the_cap() {
        for payload in [vec![], vec![7u8], vec![1u8; 1024]] {
            let mut written = Cursor::new(Vec::new());
            block_on(write_frame(&mut written, &payload, 1024)).expect("within the cap");
            let mut reader = Cursor::new(written.into_inner());
            assert_eq!(
                block_on(read_frame(&mut reader, 1024)).expect("valid frame"),
                payload
            );
        }
    }

    #[test]
    fn an_announced_length_above_the_cap_is_refused_before_reading_the_payload() {
        // The prefix announces 4 GiB - 1 and no payload follows: the error must come from the
        // cap check, not from a short read or an allocation.
        let mut reader = Cursor::new(frame(u32::MAX, b""));
        let error = block_on(read_frame(&mut reader, 1024)).expect_err("above the cap");
        assert_eq!(
            FrameTooLarge::from_io(&error),
            Some(FrameTooLarge {
                length: u64::from(u32::MAX),
                cap: 1024
            })
        );
        assert_eq!(reader.position(), 4, "only the length prefix was read");
    }

    #[test]
    fn writing_above_the_cap_is_refused_and_writes_nothing() {
        let mut written = Cursor::new(Vec::new());
        let error = block_on(write_frame(&mut written, &[0u8; 1025], 1024)).expect_err("above cap");
        assert_eq!(FrameTooLarge::from_io(&error).map(|e| e.length), Some(1025));
        assert!(written.into_inner().is_empty());
    }

    #[test]
    fn truncated_frames_are_errors() {
        let mut short_payload = Cursor::new(frame(10, b"abc"));
        assert!(block_on(read_frame(&mut short_payload, 1024)).is_err());
        let mut short_prefix = Cursor::new(vec![0u8, 0]);
        assert!(block_on(read_frame(&mut short_prefix, 1024)).is_err());
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let length = usize::try_from(seed % 16).expect("below 16");
            let bytes: Vec<u8> = seed
                .to_le_bytes()
                .iter()
                .cycle()
                .take(length)
                .copied()
                .collect();
            let _ = block_on(read_frame(&mut Cursor::new(bytes), 8));
        }
    }
}
