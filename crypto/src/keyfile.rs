//! Key files: one JSON document per key, written with mode 0600.
//!
//! ```json
//! { "kind": "node", "public_key": "<hex>", "secret_key": "<hex>" }
//! ```
//!
//! or, sealed with a passphrase (Argon2id derives a 256-bit key from the passphrase and a random
//! salt; ChaCha20-Poly1305 encrypts the 32-byte secret seed, with the public key as associated
//! data so a sealed secret cannot be moved under another public key):
//!
//! ```json
//! { "kind": "account", "public_key": "<hex>",
//!   "sealed": { "kdf": "argon2id", "memory_kib": 19456, "iterations": 2, "parallelism": 1,
//!               "salt": "<hex 16 bytes>", "cipher": "chacha20poly1305",
//!               "nonce": "<hex 12 bytes>", "ciphertext": "<hex 48 bytes>" } }
//! ```

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

use crate::{Keypair, PublicKey};

/// What a key is used for; recorded in the file so one is not used as the other by mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// A node's identity: signs consensus messages; its PeerId is the node's network identity.
    Node,
    /// An account: signs transactions and genesis approvals.
    Account,
}

/// Failures reading or writing key files. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a key file.
    #[error("{path}: not a Cassia key file ({reason})")]
    Malformed {
        /// The key file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is sealed and no passphrase was given.
    #[error("{path}: the key is sealed with a passphrase; give it (e.g. --passphrase-file)")]
    PassphraseRequired {
        /// The key file.
        path: String,
    },
    /// The passphrase did not open the sealed key.
    #[error("{path}: wrong passphrase (or the file was altered)")]
    WrongPassphrase {
        /// The key file.
        path: String,
    },
    /// The key file already exists; keys are never overwritten.
    #[error("{path}: already exists; refusing to overwrite a key")]
    AlreadyExists {
        /// The key file.
        path: String,
    },
}

#[derive(Serialize, Deserialize)]
struct KeyFileJson {
    kind: KeyKind,
    public_key: PublicKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<Sealed>,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    kdf: String,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

/// Argon2id cost: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_ITERATIONS: u32 = 2;
const ARGON2_PARALLELISM: u32 = 1;
/// Upper bounds on costs read from a file, so a crafted file cannot exhaust memory or time.
const ARGON2_MAX_MEMORY_KIB: u32 = 1024 * 1024;
const ARGON2_MAX_ITERATIONS: u32 = 64;

/// Writes `key` to `path` with mode 0600, sealed when `passphrase` is given. Never overwrites.
pub fn write(
    path: &Path,
    kind: KeyKind,
    key: &Keypair,
    passphrase: Option<&str>,
) -> Result<(), KeyFileError> {
    let display = path.display().to_string();
    let mut json = KeyFileJson {
        kind,
        public_key: key.public(),
        secret_key: None,
        sealed: None,
    };
    match passphrase {
        None => json.secret_key = Some(hex::encode(key.secret_bytes())),
        Some(passphrase) => json.sealed = Some(seal(key, passphrase, &display)?),
    }
    let text = serde_json::to_string_pretty(&json).expect("key file JSON always serialises");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => KeyFileError::AlreadyExists {
                path: display.clone(),
            },
            _ => KeyFileError::Io {
                path: display.clone(),
                source,
            },
        })?;
    // The mode above is filtered by the umask; make sure the key is private whatever it is.
    let io = |source| KeyFileError::Io {
        path: display.clone(),
        source,
    };
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.write_all(b"\n").map_err(io)?;
    file.sync_all().map_err(io)
}

/// Reads the key at `path`, opening it with `passphrase` if it is sealed.
pub fn read(path: &Path, passphrase: Option<&str>) -> Result<(KeyKind, Keypair), KeyFileError> {
    let display = path.display().to_string();
    let text = fs::read_to_string(path).map_err(|source| KeyFileError::Io {
        path: display.clone(),
        source,
    })?;
    let malformed = |reason: String| KeyFileError::Malformed {
        path: display.clone(),
        reason,
    };
    let json: KeyFileJson = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
    let secret = match (&json.secret_key, &json.sealed, passphrase) {
        (Some(secret), None, _) => {
            parse_secret(secret).ok_or_else(|| malformed("bad secret_key".into()))?
        }
        (None, Some(_), None) => return Err(KeyFileError::PassphraseRequired { path: display }),
        (None, Some(sealed), Some(passphrase)) => {
            open(sealed, &json.public_key, passphrase, &display)?
        }
        _ => {
            return Err(malformed(
                "needs exactly one of secret_key and sealed".into(),
            ));
        }
    };
    let key = Keypair::from_secret(secret);
    if key.public() != json.public_key {
        return Err(malformed("secret key does not match public_key".into()));
    }
    Ok((json.kind, key))
}

/// Reads only the public key and kind of a key file (no passphrase needed).
pub fn read_public(path: &Path) -> Result<(KeyKind, PublicKey), KeyFileError> {
    let display = path.display().to_string();
    let text = fs::read_to_string(path).map_err(|source| KeyFileError::Io {
        path: display.clone(),
        source,
    })?;
    let json: KeyFileJson = serde_json::from_str(&text).map_err(|e| KeyFileError::Malformed {
        path: display,
        reason: e.to_string(),
    })?;
    Ok((json.kind, json.public_key))
}

fn parse_secret(text: &str) -> Option<[u8; 32]> {
    let mut secret = [0u8; 32];
    hex::decode_to_slice(text, &mut secret).ok()?;
    Some(secret)
}

fn derive_key(
    passphrase: &str,
    salt: &[u8],
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
) -> Option<[u8; 32]> {
    let params = argon2::Params::new(memory_kib, iterations, parallelism, Some(32)).ok()?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .ok()?;
    Some(key)
}

fn random<const N: usize>(path: &str) -> Result<[u8; N], KeyFileError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| KeyFileError::Io {
        path: path.to_string(),
        source: std::io::Error::other(format!("random source failed: {e}")),
    })?;
    Ok(bytes)
}

fn seal(key: &Keypair, passphrase: &str, path: &str) -> Result<Sealed, KeyFileError> {
    let salt: [u8; 16] = random(path)?;
    let nonce: [u8; 12] = random(path)?;
    let derived = derive_key(
        passphrase,
        &salt,
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
    )
    .expect("the fixed Argon2 parameters are valid");
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&derived));
    let public = key.public();
    let secret = key.secret_bytes();
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &secret,
                aad: &public.0,
            },
        )
        .expect("encrypting 32 bytes cannot fail");
    Ok(Sealed {
        kdf: "argon2id".into(),
        memory_kib: ARGON2_MEMORY_KIB,
        iterations: ARGON2_ITERATIONS,
        parallelism: ARGON2_PARALLELISM,
        salt: hex::encode(salt),
        cipher: "chacha20poly1305".into(),
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(ciphertext),
    })
}

fn open(
    sealed: &Sealed,
    public: &PublicKey,
    passphrase: &str,
    path: &str,
) -> Result<[u8; 32], KeyFileError> {
    let malformed = |reason: &str| KeyFileError::Malformed {
        path: path.to_string(),
        reason: reason.into(),
    };
    if sealed.kdf != "argon2id" || sealed.cipher != "chacha20poly1305" {
        return Err(malformed("unsupported kdf or cipher"));
    }
    if sealed.memory_kib > ARGON2_MAX_MEMORY_KIB || sealed.iterations > ARGON2_MAX_ITERATIONS {
        return Err(malformed("argon2 cost beyond the allowed maximum"));
    }
    let salt = hex::decode(&sealed.salt).map_err(|_| malformed("bad salt"))?;
    let nonce = hex::decode(&sealed.nonce).map_err(|_| malformed("bad nonce"))?;
    let ciphertext = hex::decode(&sealed.ciphertext).map_err(|_| malformed("bad ciphertext"))?;
    if nonce.len() != 12 {
        return Err(malformed("nonce must be 12 bytes"));
    }
    let derived = derive_key(
        passphrase,
        &salt,
        sealed.memory_kib,
        sealed.iterations,
        sealed.parallelism,
    )
    .ok_or_else(|| malformed("bad argon2 parameters"))?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&derived));
    let secret = cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &ciphertext,
                aad: &public.0,
            },
        )
        .map_err(|_| KeyFileError::WrongPassphrase {
            path: path.to_string(),
        })?;
    secret
        .try_into()
        .map_err(|_| malformed("sealed secret is not 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_key_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node.key");
        let key = Keypair::generate();
        write(&path, KeyKind::Node, &key, None).expect("write");
        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (kind, read_back) = read(&path, None).expect("read");
        assert_eq!(kind, KeyKind::Node);
        assert_eq!(read_back.public(), key.public());
        assert!(matches!(
            write(&path, KeyKind::Node, &key, None),
            Err(KeyFileError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn sealed_key_needs_the_right_passphrase() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("admin.key");
        let key = Keypair::generate();
        write(&path, KeyKind::Account, &key, Some("correct horse")).expect("write");
        let text = fs::read_to_string(&path).expect("read");
        assert!(
            !text.contains(&hex::encode(key.secret_bytes())),
            "secret must not be in clear"
        );
        assert!(matches!(
            read(&path, None),
            Err(KeyFileError::PassphraseRequired { .. })
        ));
        assert!(matches!(
            read(&path, Some("wrong")),
            Err(KeyFileError::WrongPassphrase { .. })
        ));
        let (_, opened) = read(&path, Some("correct horse")).expect("opens");
        assert_eq!(opened.public(), key.public());
        assert_eq!(read_public(&path).expect("public").1, key.public());
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("junk.key");
        fs::write(&path, "not json").expect("write");
        let error = read(&path, None).expect_err("must fail").to_string();
        assert!(error.contains("not a Cassia key file"), "{error}");
        let missing = read(&dir.path().join("missing"), None).expect_err("must fail");
        assert!(matches!(missing, KeyFileError::Io { .. }));
    }
}
