//! Governance by a process cluster's organizations, for tests that change the validator set or
//! the parameters while the chain runs: organization 0 proposes, organizations 1 and 2 approve
//! (3 of the devnet's 4, more than 2/3), each transaction waited for until it commits.
//!
//! [`Organizations`] holds copies of what it needs (chain id, genesis hash, admin keys), so a
//! test can govern from one thread while another kills and restarts the cluster's nodes.

use std::time::{Duration, Instant};

use cassia_api::Client;
use cassia_crypto::{GenesisHash, Hash, Keypair};
use cassia_ledger::records::GovAction;
use cassia_ledger::{Operation, SignedTransaction, Transaction};

use crate::process::ProcessCluster;

/// Blocks between a proposal and the height it takes effect at.
pub const EFFECTIVE_AFTER_BLOCKS: u64 = 6;

/// Blocks a governance transaction stays valid for.
pub const VALID_FOR_BLOCKS: u64 = 200;

/// Longest wait for one governance transaction to commit.
pub const COMMIT_WAIT: Duration = Duration::from_secs(60);

/// The organizations of a devnet cluster, as signers of governance transactions.
#[derive(Clone)]
pub struct Organizations {
    chain_id: String,
    genesis: GenesisHash,
    /// Organization i's admin key at index i.
    admins: Vec<Keypair>,
}

impl Organizations {
    /// The first three organizations of `cluster` (enough to pass anything on the devnet).
    pub fn of(cluster: &ProcessCluster) -> Organizations {
        let genesis = cluster.genesis();
        Organizations {
            chain_id: genesis.chain_id.clone(),
            genesis: genesis.genesis_hash(),
            admins: (0..3).map(|org| cluster.admin_key(org)).collect(),
        }
    }

    /// `op` signed by organization `org`'s admin, valid from `height` on.
    pub fn signed(&self, org: usize, op: Operation, height: u64, nonce: u64) -> SignedTransaction {
        let key = &self.admins[org];
        Transaction {
            chain_id: self.chain_id.clone(),
            signer: key.public(),
            nonce,
            valid_until: height + VALID_FOR_BLOCKS,
            op,
        }
        .sign(&self.genesis, key)
    }

    /// Proposes `action` as organization 0 (effective [`EFFECTIVE_AFTER_BLOCKS`] later) and has
    /// organizations 1 and 2 approve it; uses nonces `nonce..nonce + 3`. Returns the proposal's
    /// id.
    ///
    /// # Panics
    /// If any of the three is refused or does not commit within [`COMMIT_WAIT`].
    pub async fn pass(&self, client: &mut Client, action: GovAction, nonce: u64) -> Hash {
        let height = client.status().await.expect("status").height;
        let propose = Operation::Propose {
            action,
            effective_height: height + EFFECTIVE_AFTER_BLOCKS,
        };
        let proposal = self.signed(0, propose, height, nonce);
        let committed = client
            .submit_and_wait(&proposal, COMMIT_WAIT)
            .await
            .expect("the proposal commits");
        assert!(committed.receipt.succeeded(), "{:?}", committed.receipt);
        for org in [1, 2] {
            let approve = Operation::Vote {
                proposal: proposal.id(),
                approve: true,
            };
            let vote = self.signed(org, approve, height, nonce + org as u64);
            let committed = client
                .submit_and_wait(&vote, COMMIT_WAIT)
                .await
                .expect("the vote commits");
            assert!(committed.receipt.succeeded(), "{:?}", committed.receipt);
        }
        proposal.id()
    }
}

/// Waits until the node behind `client` reports `count` validators.
///
/// # Panics
/// After `timeout`, naming `what` did not happen.
pub async fn wait_for_validators(client: &mut Client, count: usize, what: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let status = client.status().await.expect("status");
        if status.validators.len() == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the set still has {} validators after {timeout:?}",
            status.validators.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
