//! The signed-statement log: an interceptor that appends one line per consensus statement its
//! node signs, before the statement leaves, so a fault harness can prove that no honest node
//! ever signed two statements for one `(height, view, kind)` ([`crate::agreement`] reads it).
//! The `test-node` binary runs it with `--signed-log FILE`.
//!
//! One line per statement, fields separated by one space:
//!
//! ```text
//! +--------+------+---------+----------------------+---------------------------------------+
//! | height | view | kind    | signer               | statement                             |
//! +--------+------+---------+----------------------+---------------------------------------+
//! | 12     | 0    | Prepare | node key, 64 hex     | blake3 of the signed bytes, 64 hex    |
//! +--------+------+---------+----------------------+---------------------------------------+
//! ```
//!
//! `kind` is the `Debug` name of [`StatementKind`]. Messages another node signed (relayed) and
//! relayed certificates (`Decided`, which sign nothing new) are not logged. Each line is written
//! with one `write` call to a file opened for appending and is not buffered, so a node killed
//! with SIGKILL loses no line of a statement it sent.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use cassia_consensus::{Message, StatementKind};
use cassia_crypto::{Hash, PublicKey};
use cassia_node::interceptor::{Interceptor, RunningNode};

/// Appends every statement its node signs to a file; see the module docs.
pub struct SignedLog {
    file: File,
    path: PathBuf,
    /// The node's key, known once it has started.
    signer: Option<PublicKey>,
}

impl SignedLog {
    /// Opens (creating if needed) `path` for appending.
    ///
    /// # Errors
    /// If the file cannot be opened: a node must not run without the log it was asked for,
    /// since the equivocation check would then pass on no evidence.
    pub fn open(path: &Path) -> std::io::Result<SignedLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(SignedLog {
            file,
            path: path.to_path_buf(),
            signer: None,
        })
    }

    /// The line for `message`, if it is a statement `signer` made.
    pub fn line(signer: &PublicKey, message: &Message) -> Option<String> {
        let kind = message.kind();
        if message.sender != *signer || kind == StatementKind::Decided {
            return None;
        }
        let statement = Hash::of(&message.payload.signing_bytes(&message.genesis));
        Some(format!(
            "{} {} {kind:?} {} {statement}\n",
            message.height(),
            message.view(),
            message.sender.to_hex()
        ))
    }
}

impl Interceptor for SignedLog {
    fn started(&mut self, node: &RunningNode) {
        self.signer = Some(node.key.public());
    }

    /// Logs `message` if this node signed it.
    ///
    /// # Panics
    /// If the line cannot be written: a log that silently misses statements would let an
    /// equivocation pass the check.
    fn outgoing_consensus(&mut self, message: Message) -> Vec<Message> {
        let signer = self
            .signer
            .as_ref()
            .expect("the node calls `started` before it sends anything");
        if let Some(line) = SignedLog::line(signer, &message) {
            self.file
                .write_all(line.as_bytes())
                .unwrap_or_else(|error| {
                    panic!("signed-statement log {}: {error}", self.path.display())
                });
        }
        vec![message]
    }
}

#[cfg(test)]
mod tests {
    use cassia_consensus::Payload;
    use cassia_crypto::{GenesisHash, Keypair};
    use cassia_ledger::{CommitCertificate, Vote, VoteKind};

    use super::*;

    #[test]
    fn a_line_has_the_five_fields_agreement_reads_and_only_own_statements_are_logged() {
        let key = Keypair::from_secret([3; 32]);
        let other = Keypair::from_secret([4; 32]);
        let vote = Payload::Vote(Vote {
            kind: VoteKind::Prepare,
            height: 7,
            view: 2,
            block_hash: Hash::of(b"block"),
        });
        let c = &GenesisHash(Hash::of(b"c"));
        let own = Message::sign(c, &key, vote.clone());
        let line = SignedLog::line(&key.public(), &own).expect("its own vote");
        let fields: Vec<&str> = line.trim_end().split(' ').collect();
        let statement = Hash::of(&vote.signing_bytes(c)).to_string();
        let signer = key.public().to_hex();
        assert_eq!(fields, ["7", "2", "Prepare", &signer, &statement]);
        let relayed = Message::sign(c, &other, vote);
        assert_eq!(SignedLog::line(&key.public(), &relayed), None);
        let decided = Message::sign(
            c,
            &key,
            Payload::Decided(CommitCertificate {
                height: 7,
                view: 2,
                block_hash: Hash::of(b"block"),
                signatures: Vec::new(),
            }),
        );
        assert_eq!(SignedLog::line(&key.public(), &decided), None);
    }
}
