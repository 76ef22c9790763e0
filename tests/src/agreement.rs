//! The checks a real-process fault scenario ends with: do the nodes hold the same chain, did
//! any node sign two different statements for one slot, and is every acknowledged transaction
//! committed on every node.
//!
//! Both read what the nodes expose: blocks over gRPC (`GetBlock`), and the signed-statement log
//! each node writes when run as `test-node --signed-log FILE` ([`crate::signed_log`]: one line
//! per statement it signs, `height view kind signer statement-hash`, written before the
//! statement leaves).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cassia_api::{BlockId, Client};
use cassia_crypto::Hash;

use crate::process::ProcessCluster;

/// Heights in `1..=height` at which some node of `nodes` holds another block hash or state root
/// than the first one.
///
/// # Panics
/// If a node does not answer gRPC or lacks one of those blocks (say which).
pub fn divergent_heights(
    cluster: &ProcessCluster,
    runtime: &tokio::runtime::Runtime,
    nodes: &[usize],
    height: u64,
) -> Vec<u64> {
    runtime.block_on(async {
        let mut clients = Vec::new();
        for &i in nodes {
            let client = Client::connect(&cluster.endpoint(i)).await;
            clients.push(client.unwrap_or_else(|e| panic!("node{i} does not answer gRPC: {e}")));
        }
        let mut divergent = Vec::new();
        for h in 1..=height {
            let mut seen: Vec<(Hash, Hash)> = Vec::new();
            for (client, i) in clients.iter_mut().zip(nodes) {
                let block = client.block(BlockId::Height(h), true).await;
                let header = block
                    .unwrap_or_else(|e| panic!("node{i} has no block {h}: {e}"))
                    .block
                    .header;
                seen.push((header.hash(), header.state_root));
            }
            if seen.iter().any(|s| *s != seen[0]) {
                divergent.push(h);
            }
        }
        divergent
    })
}

/// Statements signed twice with different content in the signed-statement logs of `nodes`
/// (same signer, height, view and kind), and how many statements those logs hold.
///
/// # Panics
/// If a node's log is missing, empty or holds a line that does not parse (see
/// [`read_signed_logs`]): the check must not pass on evidence that was never written.
pub fn equivocations(cluster: &ProcessCluster, nodes: &[usize]) -> (u64, u64) {
    let logs: Vec<(usize, PathBuf)> = nodes.iter().map(|&i| (i, cluster.signed_log(i))).collect();
    let statements = read_signed_logs(&logs).unwrap_or_else(|error| {
        panic!(
            "equivocation check: {error}; logs in {}",
            cluster.root().display()
        )
    });
    count_equivocations(&statements)
}

/// One line of a signed-statement log, as [`crate::signed_log`] writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedStatement {
    /// Height, view, kind and signer: a slot an honest node signs at most one statement for.
    pub slot: (u64, u64, String, String),
    /// The hash of the signed bytes.
    pub statement: String,
}

/// Why a signed-statement log cannot serve as evidence.
#[derive(Debug, thiserror::Error)]
pub enum SignedLogError {
    /// The file could not be read (typically: it does not exist).
    #[error("node{node}: signed-statement log {} cannot be read: {source}", path.display())]
    Unreadable {
        /// The node whose log it is.
        node: usize,
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// The file holds no statement, although every running validator signs some.
    #[error("node{node}: signed-statement log {} holds no statement", path.display())]
    Empty {
        /// The node whose log it is.
        node: usize,
        /// The file.
        path: PathBuf,
    },
    /// A line is not `height view kind signer statement`.
    #[error("node{node}: signed-statement log {} line {line_number}: {problem}: {line:?}", path.display())]
    Unparseable {
        /// The node whose log it is.
        node: usize,
        /// The file.
        path: PathBuf,
        /// 1-based.
        line_number: usize,
        /// The line as read.
        line: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Reads the signed-statement log of each `(node, file)`, every line of it.
///
/// # Errors
/// The first log that is missing or unreadable, empty, or has a line that is not five
/// space-separated fields (decimal height and view, a kind, 64-hex signer and statement).
pub fn read_signed_logs(logs: &[(usize, PathBuf)]) -> Result<Vec<SignedStatement>, SignedLogError> {
    let mut statements = Vec::new();
    for (node, path) in logs {
        let (node, path) = (*node, path.clone());
        let text = std::fs::read_to_string(&path).map_err(|source| SignedLogError::Unreadable {
            node,
            path: path.clone(),
            source,
        })?;
        if text.trim().is_empty() {
            return Err(SignedLogError::Empty { node, path });
        }
        for (index, line) in text.lines().enumerate() {
            let statement = parse_line(line).map_err(|problem| SignedLogError::Unparseable {
                node,
                path: path.clone(),
                line_number: index + 1,
                line: line.to_string(),
                problem,
            })?;
            statements.push(statement);
        }
    }
    Ok(statements)
}

fn parse_line(line: &str) -> Result<SignedStatement, &'static str> {
    let [height, view, kind, signer, statement] = line.split(' ').collect::<Vec<_>>()[..] else {
        return Err("not five space-separated fields");
    };
    let number = |field: &str| {
        field
            .parse::<u64>()
            .map_err(|_| "height or view is not a number")
    };
    let is_hash = |field: &str| field.len() == 64 && field.bytes().all(|b| b.is_ascii_hexdigit());
    let (height, view) = (number(height)?, number(view)?);
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err("kind is not a statement kind name");
    }
    if !is_hash(signer) || !is_hash(statement) {
        return Err("signer or statement is not 64 hex digits");
    }
    Ok(SignedStatement {
        slot: (height, view, kind.to_string(), signer.to_string()),
        statement: statement.to_string(),
    })
}

/// Slots holding two different statements, and how many statements there are.
pub fn count_equivocations(statements: &[SignedStatement]) -> (u64, u64) {
    let mut first: BTreeMap<&(u64, u64, String, String), &str> = BTreeMap::new();
    let mut conflicts = 0;
    for SignedStatement { slot, statement } in statements {
        match first.get(slot) {
            Some(earlier) if earlier != statement => conflicts += 1,
            Some(_) => {}
            None => {
                first.insert(slot, statement);
            }
        }
    }
    (conflicts, statements.len() as u64)
}

/// Proofs of equivocation the nodes of `nodes` kept (gRPC `Misbehaviour`), summed: what the
/// others received, independent of any node's own log.
///
/// # Panics
/// If a node does not answer (naming it).
pub fn proofs_kept(
    cluster: &ProcessCluster,
    runtime: &tokio::runtime::Runtime,
    nodes: &[usize],
) -> u64 {
    runtime.block_on(async {
        let mut kept = 0;
        for &node in nodes {
            let mut client = Client::connect(&cluster.endpoint(node))
                .await
                .unwrap_or_else(|e| panic!("node{node} does not answer gRPC: {e}"));
            let proofs = client
                .misbehaviour(0)
                .await
                .unwrap_or_else(|e| panic!("node{node} does not answer Misbehaviour: {e}"));
            kept += proofs.len() as u64;
        }
        kept
    })
}

/// `(node, id)` for each of `ids` (acknowledged transactions) that a node of `nodes` holds no
/// receipt for, after waiting up to `wait` in all for stragglers. The nodes are asked
/// concurrently, each [`RECEIPTS_IN_FLIGHT`] receipts at a time (a soak's tens of thousands,
/// every one with its proof checked, took 16 minutes asked one at a time).
///
/// # Panics
/// If a node does not answer gRPC (naming it).
pub fn missing_receipts(
    cluster: &ProcessCluster,
    runtime: &tokio::runtime::Runtime,
    nodes: &[usize],
    ids: &[Hash],
    wait: Duration,
) -> Vec<(usize, Hash)> {
    let deadline = Instant::now() + wait;
    let mut tasks = tokio::task::JoinSet::new();
    for &node in nodes {
        let (endpoint, ids) = (cluster.endpoint(node), ids.to_vec());
        tasks.spawn_on(missing_on(node, endpoint, ids, deadline), runtime.handle());
    }
    let mut missing: Vec<(usize, Hash)> = runtime.block_on(async {
        let mut missing = Vec::new();
        while let Some(result) = tasks.join_next().await {
            missing.extend(result.expect("a receipt check panicked"));
        }
        missing
    });
    missing.sort();
    missing
}

/// Receipt requests in flight at once to one node while checking.
pub const RECEIPTS_IN_FLIGHT: usize = 16;

/// The ids of `ids` node `node` has no receipt for by `deadline`, asked
/// [`RECEIPTS_IN_FLIGHT`] at a time.
async fn missing_on(
    node: usize,
    endpoint: String,
    ids: Vec<Hash>,
    deadline: Instant,
) -> Vec<(usize, Hash)> {
    let client = Client::connect(&endpoint)
        .await
        .unwrap_or_else(|e| panic!("node{node} does not answer gRPC: {e}"));
    let mut missing = Vec::new();
    for chunk in ids.chunks(RECEIPTS_IN_FLIGHT) {
        let mut asked = tokio::task::JoinSet::new();
        for &id in chunk {
            let mut client = client.clone();
            asked.spawn(async move {
                while client.receipt(&id).await.is_err() {
                    if Instant::now() >= deadline {
                        return Some(id);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                None
            });
        }
        while let Some(answer) = asked.join_next().await {
            if let Some(id) = answer.expect("a receipt request panicked") {
                missing.push((node, id));
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNER: &str = "aa00000000000000000000000000000000000000000000000000000000000000";
    const ONE: &str = "1100000000000000000000000000000000000000000000000000000000000000";
    const TWO: &str = "2200000000000000000000000000000000000000000000000000000000000000";

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write a temp log");
        path
    }

    #[test]
    fn a_slot_signed_twice_differently_is_one_equivocation() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = format!("3 0 Prepare {SIGNER} {ONE}\n3 0 Prepare {SIGNER} {ONE}\n");
        let twin = format!("3 0 Prepare {SIGNER} {TWO}\n3 0 Commit {SIGNER} {TWO}\n");
        let logs = [(0, write(&dir, "a", &log)), (1, write(&dir, "b", &twin))];
        let statements = read_signed_logs(&logs).expect("well-formed logs");
        assert_eq!(count_equivocations(&statements), (1, 4));
    }

    #[test]
    fn a_missing_log_fails_naming_the_node_and_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = write(&dir, "a", &format!("1 0 Prepare {SIGNER} {ONE}\n"));
        let missing = dir.path().join("never-written.log");
        let error =
            read_signed_logs(&[(0, good), (2, missing.clone())]).expect_err("node2 has no log");
        assert!(
            matches!(error, SignedLogError::Unreadable { node: 2, .. }),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with("node2: signed-statement log "),
            "{message}"
        );
        assert!(
            message.contains(&missing.display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn an_empty_log_fails_naming_the_node() {
        let dir = tempfile::tempdir().expect("temp dir");
        let empty = write(&dir, "empty", "");
        let error = read_signed_logs(&[(3, empty)]).expect_err("node3's log is empty");
        assert!(
            matches!(error, SignedLogError::Empty { node: 3, .. }),
            "{error}"
        );
        assert!(error.to_string().ends_with("holds no statement"), "{error}");
    }

    #[test]
    fn a_garbage_line_fails_naming_the_node_file_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (garbage, problem) in [
            ("3 0 Prepare", "not five space-separated fields"),
            (
                &format!("x 0 Prepare {SIGNER} {ONE}")[..],
                "height or view is not a number",
            ),
            (
                &format!("3 0 Prepare {SIGNER} zz"),
                "signer or statement is not 64 hex digits",
            ),
        ] {
            let text = format!("1 0 Prepare {SIGNER} {ONE}\n{garbage}\n");
            let path = write(&dir, "garbage", &text);
            let error = read_signed_logs(&[(1, path)]).expect_err("line 2 is garbage");
            let SignedLogError::Unparseable {
                node,
                line_number,
                problem: found,
                ..
            } = &error
            else {
                panic!("expected an unparseable line, got {error}");
            };
            assert_eq!((*node, *line_number, *found), (1, 2, problem), "{error}");
            assert!(error.to_string().contains("garbage line 2"), "{error}");
        }
    }
}
