//! The one canonical encoding of Cassia: every hash and every signature covers these bytes.
//!
//! bincode 2 with fixed-width little-endian integers. With fixed widths there is exactly one
//! encoding of each value (no floats, no maps, booleans and enum tags are checked on decode), so
//! decoding and re-encoding gives back the same bytes, and hashes are well defined.
//!
//! Decoding is bounded: bincode reserves memory for a container only after claiming it against a
//! limit, and the limit is chosen from the input's length (at most [`ALLOCATION_FACTOR`] times
//! it, rounded to a power of two), so a few bytes claiming a billion-element vector are refused
//! without allocating. Inputs above [`MAX_DECODE_BYTES`] are refused outright.

use bincode::config::{self, Configuration, Fixint, Limit, LittleEndian, NoLimit};
use bincode::{Decode, Encode};

/// The largest input any decoder accepts (64 MiB): above every block and message cap.
pub const MAX_DECODE_BYTES: usize = 64 * 1024 * 1024;

/// How much memory decoding may reserve per input byte. In-memory values are larger than their
/// encoding (a `Vec` header is 24 bytes, an empty encoded `Vec` 8), so the bound is a multiple.
pub const ALLOCATION_FACTOR: usize = 8;

/// Why bytes did not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The input is larger than [`MAX_DECODE_BYTES`] or than the caller's cap.
    #[error("input of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Input size.
        size: usize,
        /// The limit that applied.
        limit: usize,
    },
    /// The bytes are not a valid encoding.
    #[error("malformed encoding: {0}")]
    Malformed(String),
    /// Valid encoding followed by extra bytes.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
}

const ENCODING: Configuration<LittleEndian, Fixint, NoLimit> =
    config::standard().with_fixed_int_encoding();

/// The canonical bytes of `value`.
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    bincode::encode_to_vec(value, ENCODING).expect("encoding into a Vec cannot fail")
}

/// Decodes exactly one `T` from all of `bytes`.
pub fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX_DECODE_BYTES {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            limit: MAX_DECODE_BYTES,
        });
    }
    // Pick the smallest power-of-two limit covering ALLOCATION_FACTOR * input (min 4 KiB).
    let budget = (bytes.len() * ALLOCATION_FACTOR)
        .max(4096)
        .next_power_of_two();
    macro_rules! tiers {
        ($($bits:literal),*) => {
            match budget.trailing_zeros() {
                $($bits => decode_limited::<T, { 1usize << $bits }>(bytes),)*
                _ => unreachable!("budget is a power of two between 2^12 and 2^29"),
            }
        };
    }
    tiers!(
        12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29
    )
}

fn decode_limited<T: Decode<()>, const LIMIT: usize>(bytes: &[u8]) -> Result<T, CodecError> {
    let configuration: Configuration<LittleEndian, Fixint, Limit<LIMIT>> =
        ENCODING.with_limit::<LIMIT>();
    let (value, read) = bincode::decode_from_slice(bytes, configuration)
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - read));
    }
    Ok(value)
}

/// Decodes with a caller's cap on the input size (e.g. the chain's maximum block bytes).
pub fn decode_capped<T: Decode<()>>(bytes: &[u8], cap: usize) -> Result<T, CodecError> {
    if bytes.len() > cap {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            limit: cap,
        });
    }
    decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_claimed_length_is_refused_without_allocating() {
        // A Vec<u64> claiming u64::MAX / 2 elements in 8 bytes.
        let bytes = (u64::MAX / 2).to_le_bytes();
        assert!(decode::<Vec<u64>>(&bytes).is_err());
        let bytes = (1u64 << 40).to_le_bytes();
        assert!(decode::<Vec<u8>>(&bytes).is_err());
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode(&7u32);
        bytes.push(0);
        assert_eq!(decode::<u32>(&bytes), Err(CodecError::TrailingBytes(1)));
    }
}
