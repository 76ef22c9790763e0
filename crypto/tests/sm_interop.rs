//! Cassia's 国密 against an independent implementation: `gmssl`, pure Python, which shares no
//! code with the RustCrypto crates `cassia_crypto::sm` wraps. Signatures Cassia makes verify
//! there and theirs verify here; each side decrypts what the other encrypted; SM3 and SM4 agree
//! on random inputs. The Python side is `tests/interop/gmssl_check.py`, run by the interpreter
//! of the virtual environment `scripts/setup.sh` makes (`.venv`, with
//! `tests/interop/requirements.txt`), or by `$CASSIA_PYTHON`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use cassia_crypto::sm::{self, DEFAULT_ID, Sm2Keypair, Sm2PublicKey, Sm2Signature};
use serde_json::{Value, json};

fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("CASSIA_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python3");
    assert!(
        venv.exists(),
        "no Python with gmssl: run scripts/setup.sh (it makes .venv from \
         crypto/tests/interop/requirements.txt), or set CASSIA_PYTHON"
    );
    venv
}

/// Runs the gmssl side on `request` and returns its answer.
fn gmssl(request: &Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/gmssl_check.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gmssl side");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write the request");
    let output = child.wait_with_output().expect("the gmssl side ends");
    assert!(
        output.status.success(),
        "the gmssl side failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the gmssl side answers JSON")
}

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    getrandom::fill(&mut bytes).expect("random source");
    bytes
}

/// gmssl's public-key form: x || y, hex, no `04` prefix.
fn xy(key: &Sm2PublicKey) -> String {
    hex::encode(&key.to_uncompressed()[1..])
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn cassia_and_gmssl_accept_each_others_signatures_ciphertexts_and_digests() {
    let ours = Sm2Keypair::generate(DEFAULT_ID).expect("random source");
    let theirs = Sm2Keypair::generate(DEFAULT_ID).expect("random source");
    // Lengths around SM3's 64-byte block and SM2's KDF output boundaries, and empty for SM3.
    let messages: Vec<Vec<u8>> = [0, 1, 31, 32, 55, 56, 64, 65, 200, 1000]
        .iter()
        .map(|&n| random(n))
        .collect();
    let plaintexts: Vec<Vec<u8>> = [1, 16, 32, 33, 100].iter().map(|&n| random(n)).collect();
    let sm4_key = random(16);
    let sm4_blocks = random(16 * 8);

    let mut signed: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "public": xy(&ours.public()),
                "message": hex::encode(m),
                "signature": hex::encode(ours.sign(m).0),
            })
        })
        .collect();
    // A sanity check of the other side: a signature of another message must fail there.
    let mut forged = ours.sign(&messages[1]).0;
    forged[63] ^= 1;
    signed.push(json!({
        "public": xy(&ours.public()),
        "message": hex::encode(&messages[1]),
        "signature": hex::encode(forged),
    }));
    let ciphertexts: Vec<String> = plaintexts
        .iter()
        .map(|p| {
            let c = theirs.public().encrypt(p).expect("encrypts");
            assert_eq!(c[0], 4);
            hex::encode(&c[1..])
        })
        .collect();
    let request = json!({
        "sm3": messages.iter().map(hex::encode).collect::<Vec<_>>(),
        "sm4": { "key": hex::encode(&sm4_key), "blocks": hex::encode(&sm4_blocks) },
        "verify": signed,
        "sign": {
            "secret": hex::encode(theirs.secret_bytes()),
            "public": xy(&theirs.public()),
            "messages": messages.iter().map(hex::encode).collect::<Vec<_>>(),
        },
        "decrypt": {
            "secret": hex::encode(theirs.secret_bytes()),
            "public": xy(&theirs.public()),
            "ciphertexts": ciphertexts,
        },
        "encrypt": {
            "public": xy(&ours.public()),
            "plaintexts": plaintexts.iter().map(hex::encode).collect::<Vec<_>>(),
        },
    });
    let answer = gmssl(&request);

    let digests: Vec<String> = messages.iter().map(|m| hex::encode(sm::sm3(m))).collect();
    assert_eq!(strings(&answer["sm3"]), digests, "SM3 digests differ");

    let ours_sm4 = {
        use sm4::cipher::{BlockCipherEncrypt, KeyInit};
        let key: [u8; 16] = sm4_key.clone().try_into().expect("16 bytes");
        let cipher = sm4::Sm4::new(&key.into());
        let mut out = Vec::new();
        for chunk in sm4_blocks.chunks(16) {
            let mut block: [u8; 16] = chunk.try_into().expect("16 bytes");
            let array = (&mut block).into();
            cipher.encrypt_block(array);
            out.extend_from_slice(&block);
        }
        hex::encode(out)
    };
    assert_eq!(
        answer["sm4"].as_str(),
        Some(ours_sm4.as_str()),
        "SM4 differs"
    );

    let verdicts: Vec<bool> = answer["verify"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_bool().expect("a verdict"))
        .collect();
    let mut expected = vec![true; messages.len()];
    expected.push(false);
    assert_eq!(
        verdicts, expected,
        "gmssl's verdicts on Cassia's signatures"
    );

    for (message, signature) in messages.iter().zip(strings(&answer["sign"])) {
        let signature = Sm2Signature(
            hex::decode(&signature)
                .expect("hex")
                .try_into()
                .expect("64 bytes"),
        );
        assert_eq!(
            theirs.public().verify(DEFAULT_ID, message, &signature),
            Ok(()),
            "gmssl's signature of a {}-byte message does not verify in Cassia",
            message.len()
        );
    }

    let decrypted = strings(&answer["decrypt"]);
    let plaintext_hex: Vec<String> = plaintexts.iter().map(hex::encode).collect();
    assert_eq!(
        decrypted, plaintext_hex,
        "gmssl decrypting Cassia's ciphertexts"
    );

    for (plaintext, ciphertext) in plaintexts.iter().zip(strings(&answer["encrypt"])) {
        let ciphertext = [vec![4], hex::decode(ciphertext).expect("hex")].concat();
        assert_eq!(
            ours.decrypt(&ciphertext).as_deref(),
            Ok(plaintext.as_slice()),
            "Cassia decrypting gmssl's ciphertext of {} bytes",
            plaintext.len()
        );
    }
}
