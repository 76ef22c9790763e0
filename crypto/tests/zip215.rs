//! The verification rule on the published ed25519 edge cases: single and batch verdicts agree.
//!
//! Two families of vectors, written here from their definitions rather than copied:
//!
//! - **ZIP-215** (<https://zips.z.cash/zip-0215>): the 8 small-order points in their canonical
//!   encodings plus the 6 non-canonical encodings of the same points, 14 in all. For every
//!   (A, R) pair of them, `s = 0` makes a signature ZIP-215 accepts for any message: with `s = 0`
//!   the cofactored equation `[8][s]B = [8]R + [8][k]A` is `0 = 0`. 196 vectors.
//! - **"Taming the many EdDSAs"** (Chalkias, Garillot, Nikolaenko, SSR 2020): small-order A and
//!   R; mixed-order A or R (a valid signature plus a torsion component); non-canonical A or R;
//!   `S >= L` (including `S = L`, which would reduce to an accepted `s = 0`); and signatures
//!   that fail for ordinary reasons. Built here with curve25519-dalek's arithmetic.
//!
//! Each vector is verified on its own and then in batches of several compositions (alone,
//! after and before honest signatures, in the middle, duplicated, paired with every other
//! vector, all together); every batch verdict must equal "every member verifies on its own".
//!
//! What ZIP-215 accepts that the previous single rule, `ed25519-dalek`'s `verify_strict`,
//! refused: signatures under small-order keys, with small-order `R`, and with mixed-order `A` or
//! `R` (the cofactor clears the torsion component that makes the cofactorless equation fail);
//! also non-canonical encodings of `A` and `R`. That is fine here: what consensus needs is the
//! same verdict from every node and every code path, which one cofactored rule gives and the old
//! pair (cofactorless strict single, cofactorless batch) did not. No registered key can use the
//! leniency: small-order, mixed-order and non-canonical keys are refused where keys enter the
//! chain (`PublicKey::check_usable`, tested at the end).

use cassia_crypto::{CryptoError, Keypair, PublicKey, Signature, verify_batch};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest, Sha512};

/// The points of order dividing 8, canonically encoded (little-endian `y`, the sign of `x` in
/// the top bit). The test `the_small_order_encodings_are_what_they_claim` derives them again:
/// they are `[0..8]T` for the order-8 point `T = SMALL_ORDER[4]`.
const SMALL_ORDER: [&str; 8] = [
    // The identity (0, 1): y = 1. Order 1.
    "0100000000000000000000000000000000000000000000000000000000000000",
    // (0, -1): y = p - 1. Order 2.
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    // (±sqrt(-1), 0): y = 0, both signs of x. Order 4.
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    // The four points of order 8: two values of y, both signs of x each.
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
];

/// The non-canonical encodings of small-order points. An encoding is non-canonical when `y >= p`
/// (possible only for `y` in `0..19`, so for `y = 0` and `y = 1` among these points: `y + p`,
/// with either sign bit), or when the sign bit is set while `x = 0` (the identity and the
/// order-2 point). Derived again by `the_small_order_encodings_are_what_they_claim`.
const SMALL_ORDER_NON_CANONICAL: [&str; 6] = [
    // The identity with the sign bit set ("-0").
    "0100000000000000000000000000000000000000000000000000000000000080",
    // The order-2 point with the sign bit set.
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    // y = p, that is 0: the order-4 points, both signs.
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    // y = p + 1, that is 1: the identity, both signs.
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
];

/// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const GROUP_ORDER: &str = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

/// The field prime p = 2^255 - 19, little-endian.
const FIELD_PRIME: &str = "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";

const B: EdwardsPoint = ED25519_BASEPOINT_POINT;

/// One signature to check: what it is, and whether ZIP-215 accepts it.
#[derive(Clone)]
struct Vector {
    name: String,
    key: PublicKey,
    message: Vec<u8>,
    signature: Signature,
    accepted: bool,
}

impl Vector {
    fn verifies_alone(&self) -> bool {
        self.key.verify_raw(&self.message, &self.signature).is_ok()
    }
}

fn bytes32(hex_text: &str) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut bytes).expect("32 bytes of hex");
    bytes
}

fn decode(bytes: [u8; 32]) -> Option<EdwardsPoint> {
    CompressedEdwardsY(bytes).decompress()
}

fn small_order_points() -> Vec<EdwardsPoint> {
    SMALL_ORDER
        .iter()
        .map(|text| decode(bytes32(text)).expect("a small-order point decodes"))
        .collect()
}

/// All 14 small-order encodings, canonical first.
fn all_small_order_encodings() -> Vec<[u8; 32]> {
    SMALL_ORDER
        .iter()
        .chain(&SMALL_ORDER_NON_CANONICAL)
        .map(|text| bytes32(text))
        .collect()
}

/// A scalar derived from a label and an index, so the vectors are the same on every run.
fn scalar(label: &str, index: usize) -> Scalar {
    let mut hasher = blake3::Hasher::new_derive_key("cassia zip215 test scalars");
    hasher.update(label.as_bytes());
    hasher.update(&index.to_le_bytes());
    let mut wide = [0u8; 64];
    hasher.finalize_xof().fill(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// k = SHA-512(R || A || M) mod L, over the encodings as given.
fn challenge(r_bytes: &[u8; 32], a_bytes: &[u8; 32], message: &[u8]) -> Scalar {
    let digest = Sha512::new()
        .chain_update(r_bytes)
        .chain_update(a_bytes)
        .chain_update(message)
        .finalize();
    let mut wide = [0u8; 64];
    wide.copy_from_slice(&digest);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn signature(r_bytes: [u8; 32], s_bytes: [u8; 32]) -> Signature {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&r_bytes);
    bytes[32..].copy_from_slice(&s_bytes);
    Signature(bytes)
}

/// A signature made by hand: `s = r + k a` for the key encoded as `a_bytes` and the commitment
/// encoded as `r_bytes`. The encodings may carry torsion or be non-canonical; the cofactored
/// equation holds as long as each decodes to its scalar times B plus a small-order point.
fn forge(name: &str, a: Scalar, a_bytes: [u8; 32], r: Scalar, r_bytes: [u8; 32]) -> Vector {
    for (what, x, bytes) in [("A", a, a_bytes), ("R", r, r_bytes)] {
        let point = decode(bytes).expect("the forged encodings are points");
        assert!(
            (point - B * x).is_small_order(),
            "{name}: {what} is its scalar times B plus torsion"
        );
    }
    let message = format!("taming: {name}").into_bytes();
    let s = r + challenge(&r_bytes, &a_bytes, &message) * a;
    Vector {
        name: name.to_string(),
        key: PublicKey(a_bytes),
        signature: signature(r_bytes, s.to_bytes()),
        message,
        accepted: true,
    }
}

/// `vector` with its `S` replaced by `s_bytes`; such a signature must be refused.
fn with_s(vector: &Vector, name: &str, s_bytes: [u8; 32]) -> Vector {
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&vector.signature.0[..32]);
    Vector {
        name: name.to_string(),
        signature: signature(r_bytes, s_bytes),
        accepted: false,
        ..vector.clone()
    }
}

/// `a + b` as 256-bit little-endian integers (no reduction; the sums used here fit).
fn add_256(a: [u8; 32], b: [u8; 32]) -> [u8; 32] {
    let mut sum = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let digit = u16::from(a[i]) + u16::from(b[i]) + carry;
        sum[i] = digit.to_le_bytes()[0];
        carry = digit >> 8;
    }
    assert_eq!(carry, 0, "the sum fits in 256 bits");
    sum
}

/// The first `y` in 2.. whose encoding is not a curve point.
fn not_a_point() -> [u8; 32] {
    (2u8..)
        .map(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = y;
            bytes
        })
        .find(|bytes| decode(*bytes).is_none())
        .expect("some small y is off the curve")
}

/// The ZIP-215 set: every (A, R) pair of the 14 encodings, with s = 0.
fn zip215_vectors() -> Vec<Vector> {
    let encodings = all_small_order_encodings();
    let mut vectors = Vec::new();
    for (i, a_bytes) in encodings.iter().enumerate() {
        for (j, r_bytes) in encodings.iter().enumerate() {
            vectors.push(Vector {
                name: format!("zip215 A#{i} R#{j}"),
                key: PublicKey(*a_bytes),
                message: b"Zcash".to_vec(),
                signature: signature(*r_bytes, [0; 32]),
                accepted: true,
            });
        }
    }
    vectors
}

/// The "Taming the many EdDSAs" cases, accepted ones first.
fn taming_vectors() -> Vec<Vector> {
    let torsion = small_order_points();
    let canonical: Vec<[u8; 32]> = SMALL_ORDER.iter().map(|t| bytes32(t)).collect();
    let non_canonical: Vec<[u8; 32]> = SMALL_ORDER_NON_CANONICAL
        .iter()
        .map(|t| bytes32(t))
        .collect();
    let zero = Scalar::ZERO;
    let mut vectors = Vec::new();
    for i in 0..8 {
        let (a, r) = (scalar("a", i), scalar("r", i));
        let (t_a, t_r) = (torsion[i], torsion[(i + 3) % 8]);
        let encode = |point: EdwardsPoint| point.compress().to_bytes();
        vectors.extend([
            forge(&format!("honest #{i}"), a, encode(B * a), r, encode(B * r)),
            forge(
                &format!("small-order A #{i}, mixed-order R"),
                zero,
                canonical[i],
                r,
                encode(B * r + t_r),
            ),
            forge(
                &format!("mixed-order A #{i}, small-order R"),
                a,
                encode(B * a + t_a),
                zero,
                encode(t_r),
            ),
            forge(
                &format!("mixed-order A #{i}, mixed-order R"),
                a,
                encode(B * a + t_a),
                r,
                encode(B * r + t_r),
            ),
            forge(
                &format!("prime-order A, mixed-order R #{i}"),
                a,
                encode(B * a),
                r,
                encode(B * r + t_r),
            ),
            forge(
                &format!("mixed-order A #{i}, prime-order R"),
                a,
                encode(B * a + t_a),
                r,
                encode(B * r),
            ),
        ]);
    }
    for (i, bytes) in non_canonical.iter().enumerate() {
        let (a, r) = (scalar("a nc", i), scalar("r nc", i));
        let encode = |point: EdwardsPoint| point.compress().to_bytes();
        vectors.push(forge(
            &format!("prime-order A, non-canonical small-order R #{i}"),
            a,
            encode(B * a),
            zero,
            *bytes,
        ));
        vectors.push(forge(
            &format!("non-canonical small-order A #{i}, prime-order R"),
            zero,
            *bytes,
            r,
            encode(B * r),
        ));
    }
    vectors.extend(refused_vectors(&vectors));
    vectors
}

/// Signatures every rule must refuse, made from the accepted ones.
fn refused_vectors(accepted: &[Vector]) -> Vec<Vector> {
    let order = bytes32(GROUP_ORDER);
    let mut refused = Vec::new();
    for vector in accepted.iter().step_by(5) {
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&vector.signature.0[32..]);
        refused.push(with_s(
            vector,
            &format!("{}: S + L", vector.name),
            add_256(s_bytes, order),
        ));
        let mut high = s_bytes;
        high[31] |= 0x80;
        refused.push(with_s(vector, &format!("{}: S + 2^255", vector.name), high));
        let mut off_by_one = s_bytes;
        off_by_one[0] ^= 1;
        refused.push(with_s(
            vector,
            &format!("{}: S off by one", vector.name),
            off_by_one,
        ));
        if vector.key.is_small_order() {
            // A small-order key's signature verifies for every message.
            continue;
        }
        let mut other_message = vector.clone();
        other_message.name = format!("{}: another message", vector.name);
        other_message.message.push(b'!');
        other_message.accepted = false;
        refused.push(other_message);
    }
    // S = L over small-order A and R: reduced, it would be the accepted s = 0.
    for (i, a_bytes) in all_small_order_encodings().iter().enumerate().step_by(3) {
        refused.push(Vector {
            name: format!("small-order A#{i} and R, S = L"),
            key: PublicKey(*a_bytes),
            message: b"Zcash".to_vec(),
            signature: signature(bytes32(SMALL_ORDER[1]), order),
            accepted: false,
        });
    }
    let honest = &accepted[0];
    let mut r_off_curve = honest.clone();
    r_off_curve.name = "R not a point".into();
    r_off_curve.signature.0[..32].copy_from_slice(&not_a_point());
    r_off_curve.accepted = false;
    let mut a_off_curve = honest.clone();
    a_off_curve.name = "A not a point".into();
    a_off_curve.key = PublicKey(not_a_point());
    a_off_curve.accepted = false;
    refused.extend([r_off_curve, a_off_curve]);
    refused
}

/// `count` honest signatures by distinct accounts.
fn honest(count: usize) -> Vec<Vector> {
    (0..count)
        .map(|i| {
            let key = Keypair::from_secret([u8::try_from(i).expect("few") + 100; 32]);
            let message = format!("honest {i}").into_bytes();
            Vector {
                name: format!("honest {i}"),
                key: key.public(),
                signature: key.sign_raw(&message),
                message,
                accepted: true,
            }
        })
        .collect()
}

fn batch_verifies(batch: &[&Vector]) -> bool {
    let messages: Vec<&[u8]> = batch.iter().map(|v| v.message.as_slice()).collect();
    let signatures: Vec<Signature> = batch.iter().map(|v| v.signature).collect();
    let keys: Vec<PublicKey> = batch.iter().map(|v| v.key).collect();
    verify_batch(&messages, &signatures, &keys).is_ok()
}

/// Checks `vector` alone, then in every composition with `others` (honest signatures).
fn check_single_and_compositions(vector: &Vector, others: &[Vector]) {
    let single = vector.verifies_alone();
    assert_eq!(single, vector.accepted, "{}: single verdict", vector.name);
    let few: Vec<&Vector> = others.iter().take(4).collect();
    let many: Vec<&Vector> = others.iter().collect();
    let compositions: [(&str, Vec<&Vector>); 7] = [
        ("alone", vec![vector]),
        ("after 4 honest", [few.clone(), vec![vector]].concat()),
        ("before 4 honest", [vec![vector], few.clone()].concat()),
        (
            "between honest",
            [few.clone(), vec![vector], many.clone()].concat(),
        ),
        ("duplicated", vec![vector, vector]),
        (
            "duplicated around honest",
            [vec![vector], few.clone(), vec![vector]].concat(),
        ),
        ("after many honest", [many.clone(), vec![vector]].concat()),
    ];
    for (composition, batch) in compositions {
        assert_eq!(
            batch_verifies(&batch),
            single,
            "{}: batch {composition} disagrees with single verification",
            vector.name
        );
    }
}

#[test]
fn the_small_order_encodings_are_what_they_claim() {
    let points = small_order_points();
    // [0..8]T for T of order 8 are exactly the canonical encodings, in some order.
    let generator = points[4];
    assert!(!(generator + generator + generator + generator).is_identity());
    let mut multiples: Vec<[u8; 32]> = (0u8..8)
        .map(|k| (generator * Scalar::from(k)).compress().to_bytes())
        .collect();
    let mut canonical: Vec<[u8; 32]> = SMALL_ORDER.iter().map(|t| bytes32(t)).collect();
    multiples.sort();
    canonical.sort();
    assert_eq!(multiples, canonical);
    // The non-canonical ones: y + p where y < 19, and "-0" where x = 0.
    let prime = bytes32(FIELD_PRIME);
    let mut derived = Vec::new();
    for (bytes, point) in canonical.iter().zip(canonical.iter().map(|b| decode(*b))) {
        let point = point.expect("decodes");
        let mut y = *bytes;
        y[31] &= 0x7f;
        // x = 0 exactly for the points of order 1 and 2.
        let x_is_zero = (point + point).is_identity();
        if x_is_zero && bytes[31] & 0x80 == 0 {
            let mut negative_zero = *bytes;
            negative_zero[31] |= 0x80;
            derived.push(negative_zero);
        }
        if y[1..].iter().all(|b| *b == 0) && y[0] < 19 && bytes[31] & 0x80 == 0 {
            let wrapped = add_256(y, prime);
            let mut negative = wrapped;
            negative[31] |= 0x80;
            derived.extend([wrapped, negative]);
        }
    }
    let mut listed: Vec<[u8; 32]> = SMALL_ORDER_NON_CANONICAL
        .iter()
        .map(|t| bytes32(t))
        .collect();
    derived.sort();
    derived.dedup();
    listed.sort();
    assert_eq!(derived, listed);
    for bytes in &listed {
        let point = decode(*bytes).expect("non-canonical encodings still decode");
        assert!(point.is_small_order());
        assert_ne!(
            point.compress().to_bytes(),
            *bytes,
            "re-encodes canonically"
        );
    }
}

#[test]
fn zip215_small_order_vectors_verify_alone_and_in_every_batch() {
    let others = honest(16);
    let vectors = zip215_vectors();
    assert_eq!(vectors.len(), 196);
    for vector in &vectors {
        check_single_and_compositions(vector, &others);
    }
    let everything: Vec<&Vector> = vectors.iter().chain(&others).collect();
    assert!(batch_verifies(&everything), "all 196 with honest ones");
}

#[test]
fn taming_the_many_eddsas_cases_agree_alone_and_in_every_batch() {
    let others = honest(16);
    let vectors = taming_vectors();
    assert!(vectors.iter().any(|v| v.accepted) && vectors.iter().any(|v| !v.accepted));
    for vector in &vectors {
        check_single_and_compositions(vector, &others);
    }
}

#[test]
fn every_pair_of_vectors_agrees() {
    let mut vectors = taming_vectors();
    vectors.extend(zip215_vectors().into_iter().step_by(13));
    for first in &vectors {
        for second in &vectors {
            let expected = first.accepted && second.accepted;
            assert_eq!(
                batch_verifies(&[first, second]),
                expected,
                "batch [{}, {}]",
                first.name,
                second.name
            );
        }
    }
}

#[test]
fn one_refused_signature_refuses_a_batch_of_every_accepted_one() {
    let mut accepted: Vec<Vector> = zip215_vectors();
    let taming = taming_vectors();
    accepted.extend(taming.iter().filter(|v| v.accepted).cloned());
    accepted.extend(honest(32));
    let all: Vec<&Vector> = accepted.iter().collect();
    assert!(batch_verifies(&all));
    for refused in taming.iter().filter(|v| !v.accepted) {
        for position in [0, all.len() / 2, all.len()] {
            let mut batch = all.clone();
            batch.insert(position, refused);
            assert!(
                !batch_verifies(&batch),
                "{} at {position} of {}",
                refused.name,
                batch.len()
            );
        }
    }
}

#[test]
fn the_rule_differs_from_verify_strict_where_documented() {
    // A valid signature plus a torsion component in R: accepted now, refused by the old rule.
    let vectors = taming_vectors();
    let mixed_r = vectors
        .iter()
        .find(|v| v.name.starts_with("prime-order A, mixed-order R #4"))
        .expect("listed");
    assert!(mixed_r.verifies_alone());
    let key = ed25519_dalek::VerifyingKey::from_bytes(&mixed_r.key.0).expect("a point");
    let old = key.verify_strict(
        &mixed_r.message,
        &ed25519_dalek::Signature::from_bytes(&mixed_r.signature.0),
    );
    assert!(old.is_err());
    // Honest signatures verify under both.
    let honest = vectors
        .iter()
        .find(|v| v.name == "honest #0")
        .expect("listed");
    assert!(honest.verifies_alone());
    let key = ed25519_dalek::VerifyingKey::from_bytes(&honest.key.0).expect("a point");
    let signature = ed25519_dalek::Signature::from_bytes(&honest.signature.0);
    assert!(key.verify_strict(&honest.message, &signature).is_ok());
}

#[test]
fn keys_that_may_not_enter_the_chain_are_refused() {
    for (i, bytes) in all_small_order_encodings().iter().enumerate() {
        let key = PublicKey(*bytes);
        assert!(key.is_small_order(), "encoding #{i}");
        let expected = if i < 8 {
            CryptoError::SmallOrderPublicKey
        } else {
            CryptoError::NonCanonicalPublicKey
        };
        assert_eq!(key.check_usable(), Err(expected), "encoding #{i}");
    }
    let a = scalar("entry", 0);
    let torsion = small_order_points();
    for (i, t) in torsion.iter().enumerate().skip(1) {
        let mixed = PublicKey((B * a + t).compress().to_bytes());
        assert!(!mixed.is_small_order());
        assert_eq!(
            mixed.check_usable(),
            Err(CryptoError::MixedOrderPublicKey),
            "torsion #{i}"
        );
    }
    // A large-order point encoded with y + p.
    let prime = bytes32(FIELD_PRIME);
    let wrapped = (2u8..19)
        .map(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = y;
            add_256(bytes, prime)
        })
        .find(|bytes| decode(*bytes).is_some_and(|p| !p.is_small_order()))
        .expect("some y in 2..19 is on the curve");
    assert_eq!(
        PublicKey(wrapped).check_usable(),
        Err(CryptoError::NonCanonicalPublicKey)
    );
    assert_eq!(
        PublicKey(not_a_point()).check_usable(),
        Err(CryptoError::MalformedPublicKey)
    );
    for i in 0..32u8 {
        let key = Keypair::from_secret([i; 32]).public();
        assert!(!key.is_small_order());
        assert_eq!(key.check_usable(), Ok(()));
    }
}
