//! Byte-level mutations: bit flips, interesting values, insertions, deletions, truncation,
//! length-prefix inflation and splicing with another input.
//!
//! The canonical codec writes lengths and enum tags as fixed-width little-endian integers, so an
//! 8-byte window holding a small number no larger than the input is very likely a length prefix:
//! [`inflate_length`] finds those and makes them claim far more than the input holds.

use crate::rng::Rng;

/// Longest random input.
pub const MAX_RANDOM_BYTES: u64 = 4096;

/// Values that break arithmetic on lengths, counts, heights and views.
const INTERESTING_U64: [u64; 10] = [
    0,
    1,
    0x7f,
    0xff,
    0xffff_ffff,
    1 << 32,
    1 << 40,
    (1 << 63) - 1,
    u64::MAX - 1,
    u64::MAX,
];

/// Bytes that often sit on a boundary (tags, booleans, options, UTF-8).
const INTERESTING_U8: [u8; 8] = [0, 1, 2, 0x7f, 0x80, 0xc0, 0xfe, 0xff];

/// Random bytes of a random length: mostly short, sometimes up to [`MAX_RANDOM_BYTES`], and once
/// in a while 64 KiB.
pub fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(100) {
        0 => 64 * 1024,
        1..=60 => rng.below(64),
        _ => rng.below(MAX_RANDOM_BYTES + 1),
    };
    (0..len).map(|_| random_byte(rng)).collect()
}

fn random_byte(rng: &mut Rng) -> u8 {
    rng.next_u64().to_le_bytes()[0]
}

/// Applies one to four mutations to `bytes`; `donors` are other inputs to splice from.
pub fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, donors: &[Vec<u8>]) {
    let count = 1 + rng.below(4);
    for _ in 0..count {
        match rng.below(11) {
            0 | 1 => flip_bit(rng, bytes),
            2 => set_interesting_byte(rng, bytes),
            3 => insert_random(rng, bytes),
            4 => delete_range(rng, bytes),
            5 => truncate(rng, bytes),
            6 | 7 => inflate_length(rng, bytes),
            8 => overwrite_word(rng, bytes),
            9 => splice(rng, bytes, donors),
            _ => duplicate_range(rng, bytes),
        }
    }
}

fn flip_bit(rng: &mut Rng, bytes: &mut [u8]) {
    if bytes.is_empty() {
        return;
    }
    let index = rng.index(bytes.len());
    bytes[index] ^= 1 << rng.below(8);
}

fn set_interesting_byte(rng: &mut Rng, bytes: &mut [u8]) {
    if bytes.is_empty() {
        return;
    }
    let index = rng.index(bytes.len());
    bytes[index] = INTERESTING_U8[rng.index(INTERESTING_U8.len())];
}

fn insert_random(rng: &mut Rng, bytes: &mut Vec<u8>) {
    let at = rng.index(bytes.len() + 1);
    let count = 1 + rng.below(16);
    let insert: Vec<u8> = (0..count).map(|_| random_byte(rng)).collect();
    bytes.splice(at..at, insert);
}

fn delete_range(rng: &mut Rng, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    let start = rng.index(bytes.len());
    let end = (start + 1 + rng.index(32)).min(bytes.len());
    bytes.drain(start..end);
}

fn truncate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    let len = rng.index(bytes.len() + 1);
    bytes.truncate(len);
}

/// Makes a plausible length prefix (or, failing one, any 8 bytes) claim a huge or slightly
/// too large size.
pub fn inflate_length(rng: &mut Rng, bytes: &mut [u8]) {
    if bytes.len() < 8 {
        return;
    }
    let limit = bytes.len() as u64;
    let candidates: Vec<(usize, u64)> = (0..=bytes.len() - 8)
        .filter_map(|at| {
            let value = read_u64(bytes, at);
            (1..=limit).contains(&value).then_some((at, value))
        })
        .collect();
    let (at, value) = if candidates.is_empty() {
        let at = rng.index(bytes.len() - 7);
        (at, read_u64(bytes, at))
    } else {
        candidates[rng.index(candidates.len())]
    };
    let inflated = match rng.below(4) {
        0 => value.saturating_add(1),
        1 => value.saturating_mul(2).max(limit),
        _ => INTERESTING_U64[rng.index(INTERESTING_U64.len())],
    };
    bytes[at..at + 8].copy_from_slice(&inflated.to_le_bytes());
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn overwrite_word(rng: &mut Rng, bytes: &mut [u8]) {
    let width = if rng.chance(500) { 4 } else { 8 };
    if bytes.len() < width {
        return;
    }
    let at = rng.index(bytes.len() - width + 1);
    let value = if rng.chance(500) {
        INTERESTING_U64[rng.index(INTERESTING_U64.len())]
    } else {
        rng.next_u64()
    };
    bytes[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
}

/// Replaces the tail of `bytes` from a random point with the tail of a donor from another point.
fn splice(rng: &mut Rng, bytes: &mut Vec<u8>, donors: &[Vec<u8>]) {
    if donors.is_empty() {
        return;
    }
    let donor = &donors[rng.index(donors.len())];
    let cut = rng.index(bytes.len() + 1);
    let from = rng.index(donor.len() + 1);
    bytes.truncate(cut);
    bytes.extend_from_slice(&donor[from..]);
}

fn duplicate_range(rng: &mut Rng, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    let start = rng.index(bytes.len());
    let end = (start + 1 + rng.index(64)).min(bytes.len());
    let copy = bytes[start..end].to_vec();
    let at = rng.index(bytes.len() + 1);
    bytes.splice(at..at, copy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflation_finds_the_length_prefix() {
        // A Vec<u8> of 3 bytes: length 3 (u64 LE), then the bytes.
        let mut bytes = vec![3, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9];
        inflate_length(&mut Rng::new(1), &mut bytes);
        assert_ne!(read_u64(&bytes, 0), 3, "{bytes:?}");
        assert_eq!(&bytes[8..], &[9, 9, 9]);
    }
}
