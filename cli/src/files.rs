//! Reading and writing the files operators exchange: genesis JSON, keys, passphrases.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cassia_crypto::keyfile::{self, KeyKind};
use cassia_crypto::{Keypair, PublicKey};
use cassia_ledger::Genesis;

/// Where a passphrase comes from: a file (first line) or an environment variable.
#[derive(Debug, Default, clap::Args)]
pub struct PassphraseArgs {
    /// Read the key passphrase from the first line of this file.
    #[arg(long, value_name = "FILE", global = true)]
    pub passphrase_file: Option<PathBuf>,
    /// Read the key passphrase from this environment variable.
    #[arg(
        long,
        value_name = "VAR",
        conflicts_with = "passphrase_file",
        global = true
    )]
    pub passphrase_env: Option<String>,
}

impl PassphraseArgs {
    /// The passphrase, if one was given.
    pub fn read(&self) -> Result<Option<String>> {
        if let Some(path) = &self.passphrase_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading passphrase file {}", path.display()))?;
            let line = text.lines().next().unwrap_or_default().to_string();
            if line.is_empty() {
                bail!("passphrase file {} is empty", path.display());
            }
            return Ok(Some(line));
        }
        if let Some(var) = &self.passphrase_env {
            let value = std::env::var(var)
                .with_context(|| format!("environment variable {var} is not set"))?;
            return Ok(Some(value));
        }
        Ok(None)
    }
}

/// Reads a key file, opening it with the passphrase if sealed, and checks its kind.
pub fn read_key(path: &Path, passphrase: &PassphraseArgs, expected: KeyKind) -> Result<Keypair> {
    let (kind, key) = keyfile::read(path, passphrase.read()?.as_deref())?;
    if kind != expected {
        bail!(
            "{} is a {kind:?} key, but a {expected:?} key is needed here",
            path.display()
        );
    }
    Ok(key)
}

/// A public key given as 64 hex characters or as the path of a key file.
pub fn public_key_arg(text: &str) -> Result<PublicKey> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return PublicKey::from_hex(text).with_context(|| format!("public key {text}"));
    }
    let path = Path::new(text);
    if path.exists() {
        return Ok(keyfile::read_public(path)?.1);
    }
    bail!("{text:?} is neither a 64-hex-character public key nor an existing key file")
}

/// Reads and parses a genesis file (structure is checked by the caller as needed).
pub fn read_genesis(path: &Path) -> Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading genesis {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid genesis file", path.display()))
}

/// Writes a genesis file (pretty JSON), replacing it atomically.
pub fn write_genesis(path: &Path, genesis: &Genesis) -> Result<()> {
    let text = serde_json::to_string_pretty(genesis).context("serialising genesis")?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, text + "\n")
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))
}
