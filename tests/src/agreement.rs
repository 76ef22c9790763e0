//! The checks a real-process fault scenario ends with: do the nodes hold the same chain, and
//! did any node sign two different statements for one slot.
//!
//! Both read what the nodes expose: blocks over gRPC (`GetBlock`), and the signed-statement log
//! each node writes when run as `test-node --signed-log FILE` ([`crate::signed_log`]: one line
//! per statement it signs, `height view kind signer statement-hash`, written before the
//! statement leaves).

use std::collections::BTreeMap;

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
pub fn equivocations(cluster: &ProcessCluster, nodes: &[usize]) -> (u64, u64) {
    let mut statements: BTreeMap<(String, String, String, String), String> = BTreeMap::new();
    let (mut conflicts, mut count) = (0, 0);
    for &i in nodes {
        let log = std::fs::read_to_string(cluster.signed_log(i)).unwrap_or_default();
        for line in log.lines() {
            let [height, view, kind, signer, statement] = line.split(' ').collect::<Vec<_>>()[..]
            else {
                continue;
            };
            count += 1;
            let key = (signer.into(), height.into(), view.into(), kind.into());
            match statements.get(&key) {
                Some(earlier) if earlier != statement => conflicts += 1,
                Some(_) => {}
                None => {
                    statements.insert(key, statement.into());
                }
            }
        }
    }
    (conflicts, count)
}
