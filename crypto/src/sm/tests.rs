//! The standards' own examples, and the properties every caller relies on. The cross-check
//! against an independent implementation is `crypto/tests/sm_interop.rs`.

use super::*;

fn bytes(text: &str) -> Vec<u8> {
    hex::decode(text.replace(' ', "")).expect("hex")
}

fn array<const N: usize>(text: &str) -> [u8; N] {
    bytes(text).try_into().expect("length")
}

/// GB/T 32905-2016, Appendix A: examples 1 and 2.
#[test]
fn sm3_matches_the_standard_examples() {
    assert_eq!(
        sm3(b"abc"),
        array("66c7f0f4 62eeedd9 d1f2d46b dc10e4e2 4167c487 5cf2f7a2 297da02b 8f4ba8e0")
    );
    let sixty_four = b"abcd".repeat(16);
    assert_eq!(
        sm3(&sixty_four),
        array("debe9ff9 2275b8a1 38604889 c18e5a4d 6fdb70e5 387e5765 293dcba3 9c0c5732")
    );
    assert_eq!(sm3_parts(&[b"ab", b"", b"c"]), sm3(b"abc"));
}

/// GB/T 32907-2016, Appendix A: one block, then the same block encrypted 1,000,000 times.
#[test]
fn sm4_matches_the_standard_examples() {
    use sm4::cipher::{BlockCipherEncrypt, KeyInit as _};
    let key: [u8; 16] = array("01234567 89abcdef fedcba98 76543210");
    let cipher = sm4::Sm4::new(&key.into());
    let mut block = key.into();
    cipher.encrypt_block(&mut block);
    assert_eq!(
        block.as_slice(),
        bytes("681edf34 d206965e 86b3e94f 536e4246")
    );
    for _ in 1..1_000_000 {
        cipher.encrypt_block(&mut block);
    }
    assert_eq!(
        block.as_slice(),
        bytes("595298c7 c6fd271f 0402f804 c33d3f66")
    );
}

/// RFC 8998, Appendix A.1 (SM4-GCM).
#[test]
fn sm4_gcm_matches_rfc_8998_and_refuses_any_change() {
    let key = array("0123456789ABCDEFFEDCBA9876543210");
    let nonce = array("00001234567800000000ABCD");
    let aad = bytes("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
    let plaintext = bytes(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD\
         EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
    );
    let expected = [
        bytes(
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735\
             D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D",
        ),
        bytes("83DE3541E4C2B58177E065A9BF7B62EC"),
    ]
    .concat();
    let sealed = sm4_gcm_seal(&key, &nonce, &aad, &plaintext);
    assert_eq!(sealed, expected);
    assert_eq!(sm4_gcm_open(&key, &nonce, &aad, &sealed), Ok(plaintext));

    let mut altered = sealed.clone();
    altered[3] ^= 1;
    assert_eq!(
        sm4_gcm_open(&key, &nonce, &aad, &altered),
        Err(CryptoError::DecryptionFailed)
    );
    assert!(sm4_gcm_open(&key, &nonce, b"other aad", &sealed).is_err());
    assert!(sm4_gcm_open(&key, &nonce, &aad, &sealed[..sealed.len() - 1]).is_err());
    let other_nonce = array("00001234567800000000ABCE");
    assert!(sm4_gcm_open(&key, &other_nonce, &aad, &sealed).is_err());
}

/// The signature example on the recommended curve (GM/T 0003.5-2012 and GB/T 32918.5-2017):
/// the key pair, the user-ID digest `Z`, `e`, and the published signature, which verifies.
#[test]
fn sm2_matches_the_standard_signature_example() {
    let secret = array("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8");
    let x = bytes("09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020");
    let y = bytes("CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13");
    let message = b"message digest";
    let key = Sm2Keypair::from_secret(&secret, DEFAULT_ID).expect("a valid scalar");
    let public = key.public();
    assert_eq!(
        public.to_uncompressed().to_vec(),
        [&[4u8][..], &x, &y].concat()
    );

    // Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA), then e = SM3(Z || M).
    let curve = bytes(
        "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC\
         28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93\
         32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7\
         BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
    );
    let id_bits = 128u16.to_be_bytes(); // ENTL: the 16-byte ID is 128 bits
    let z = sm3_parts(&[&id_bits, DEFAULT_ID.as_bytes(), &curve, &x, &y]);
    assert_eq!(
        z,
        array("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
    );
    assert_eq!(
        sm3_parts(&[&z, message]),
        array("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")
    );

    let published = Sm2Signature(array(
        "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3\
         B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA",
    ));
    assert_eq!(public.verify(DEFAULT_ID, message, &published), Ok(()));
    // Our own signature of the same message differs (another k) and verifies too.
    let ours = key.sign(message);
    assert_ne!(ours, published);
    assert_eq!(public.verify(DEFAULT_ID, message, &ours), Ok(()));
}

#[test]
fn sm2_signatures_are_bound_to_the_message_the_key_and_the_user_id() {
    let key = Sm2Keypair::generate(DEFAULT_ID).expect("random source");
    let other = Sm2Keypair::generate(DEFAULT_ID).expect("random source");
    let signature = key.sign(b"payload");
    let public = key.public();
    assert_eq!(public.verify(DEFAULT_ID, b"payload", &signature), Ok(()));
    let refused = Err(CryptoError::BadSignature);
    assert_eq!(public.verify(DEFAULT_ID, b"payloaD", &signature), refused);
    assert_eq!(
        other.public().verify(DEFAULT_ID, b"payload", &signature),
        refused
    );
    assert_eq!(public.verify("another id", b"payload", &signature), refused);
    let mut flipped = signature;
    flipped.0[40] ^= 0x80;
    assert_eq!(public.verify(DEFAULT_ID, b"payload", &flipped), refused);
    // r = 0, and s = 0: outside [1, n-1], refused before any arithmetic.
    let mut zero_r = signature;
    zero_r.0[..32].fill(0);
    assert_eq!(public.verify(DEFAULT_ID, b"payload", &zero_r), refused);
    let mut zero_s = signature;
    zero_s.0[32..].fill(0);
    assert_eq!(public.verify(DEFAULT_ID, b"payload", &zero_s), refused);
    // A key made under another ID signs with another Z.
    let with_id = Sm2Keypair::from_secret(&key.secret_bytes(), "agency@example").expect("key");
    assert_eq!(with_id.public(), public);
    let signature = with_id.sign(b"payload");
    assert_eq!(
        public.verify("agency@example", b"payload", &signature),
        Ok(())
    );
    assert_eq!(public.verify(DEFAULT_ID, b"payload", &signature), refused);
}

#[test]
fn sm2_keys_that_are_not_on_the_curve_or_not_scalars_are_refused() {
    let key = Sm2Keypair::generate(DEFAULT_ID).expect("random source");
    let public = key.public();
    assert_eq!(Sm2PublicKey::from_sec1(&public.to_bytes()), Ok(public));
    assert_eq!(
        Sm2PublicKey::from_sec1(&public.to_uncompressed()),
        Ok(public)
    );
    let refused = Err(CryptoError::MalformedSm2PublicKey);
    let mut off_curve = public.to_uncompressed();
    off_curve[64] ^= 1;
    assert_eq!(Sm2PublicKey::from_sec1(&off_curve), refused);
    assert_eq!(Sm2PublicKey::from_sec1(&public.to_bytes()[..32]), refused);
    assert_eq!(Sm2PublicKey::from_sec1(&[0]), refused, "the identity");
    assert_eq!(Sm2PublicKey::from_sec1(&[]), refused);

    let order = array("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123");
    let bad = Err(CryptoError::MalformedSm2SecretKey);
    assert_eq!(
        Sm2Keypair::from_secret(&[0; 32], DEFAULT_ID).map(|k| k.public()),
        bad
    );
    assert_eq!(
        Sm2Keypair::from_secret(&order, DEFAULT_ID).map(|k| k.public()),
        bad
    );
    let mut n_minus_1 = order;
    n_minus_1[31] -= 1;
    assert_eq!(
        Sm2Keypair::from_secret(&n_minus_1, DEFAULT_ID).map(|k| k.public()),
        bad,
        "1 + d must be invertible"
    );
    let round_trip = Sm2Keypair::from_secret(&key.secret_bytes(), DEFAULT_ID).expect("key");
    assert_eq!(round_trip.public(), public);
}

#[test]
fn sm2_encryption_round_trips_and_refuses_what_was_altered_or_meant_for_another_key() {
    let key = Sm2Keypair::generate(DEFAULT_ID).expect("random source");
    let other = Sm2Keypair::generate(DEFAULT_ID).expect("random source");
    let data_key = [7u8; 16];
    let ciphertext = key.public().encrypt(&data_key).expect("encrypts");
    assert_eq!(ciphertext.len(), 97 + data_key.len());
    assert_eq!(ciphertext[0], 4, "C1 uncompressed");
    assert_eq!(key.decrypt(&ciphertext), Ok(data_key.to_vec()));
    // Randomised: the same plaintext encrypts differently each time.
    assert_ne!(
        key.public().encrypt(&data_key).expect("encrypts"),
        ciphertext
    );

    let refused = Err(CryptoError::DecryptionFailed);
    assert_eq!(other.decrypt(&ciphertext), refused);
    for at in [1, 70, 100, ciphertext.len() - 1] {
        let mut altered = ciphertext.clone();
        altered[at] ^= 1;
        assert_eq!(key.decrypt(&altered), refused, "byte {at} altered");
    }
    assert_eq!(key.decrypt(&ciphertext[..96]), refused);
    assert_eq!(
        key.public().encrypt(&[]),
        Err(CryptoError::EncryptionFailed)
    );
}
