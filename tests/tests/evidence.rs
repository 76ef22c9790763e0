//! Evidence packages against a real 4-node cluster (processes, RocksDB, loopback): a document
//! is notarized, governance adds a fifth validator (which never runs), a second document is
//! notarized under the new set, and the evidence of both is exported with `cassia evidence export` from another node
//! than the one they were submitted to. Every node is then stopped, and `cassia evidence verify`
//! checks both packages with nothing but the genesis file: the second one only through the
//! validator-set change it carries. Copies of it with one bit flipped are each refused with exit
//! status 1 and one line `error: <file> is not valid evidence: <why>` (a refusal of the package,
//! not a failure to read the genesis or the files). Every wait is bounded.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cassia_api::Client;
use cassia_crypto::{Hash, Keypair, keyfile};
use cassia_ledger::records::GovAction;
use cassia_ledger::{Genesis, Operation, SignedTransaction, Transaction, Validator};
use cassia_tests::process::{ProcessCluster, cassia_binary};

const WAIT: Duration = Duration::from_secs(90);
/// How many blocks after its proposal a governance change takes effect (room for the votes and
/// the readiness proof).
const GOVERNANCE_DELAY_BLOCKS: u64 = 20;
/// One byte in this many gets a bit flipped.
const FLIP_STRIDE: usize = 7;
/// At most this many altered copies are checked (each is one `cassia` process), so the test
/// stays within seconds whatever the package's size.
const MAX_FLIPS: usize = 400;

/// The cluster's chain, its organizations' admin keys, and a client of node 0.
struct Consortium {
    genesis: Genesis,
    admins: Vec<Keypair>,
    client: Client,
    nonce: u64,
}

impl Consortium {
    /// Signs `op` with `key` and waits until it commits successfully; returns it and its height.
    async fn commit(&mut self, key: &Keypair, op: Operation) -> (SignedTransaction, u64) {
        let height = self.client.status().await.expect("status").height;
        self.nonce += 1;
        let tx = Transaction {
            chain_id: self.genesis.chain_id.clone(),
            signer: key.public(),
            nonce: self.nonce,
            valid_until: height + 100,
            op,
        }
        .sign(&self.genesis.genesis_hash(), key);
        let committed = self
            .client
            .submit_and_wait(&tx, Duration::from_secs(30))
            .await
            .expect("the transaction commits");
        assert!(committed.receipt.succeeded(), "{:?}", committed.receipt);
        (tx, committed.receipt.height)
    }

    /// Notarizes `digest` as organization 0; returns the transaction id and height.
    async fn notarize(&mut self, digest: Hash) -> (Hash, u64) {
        let op = Operation::Notarize {
            digest,
            metadata: "e-contract".into(),
            co_signers: Vec::new(),
        };
        let admin = self.admins[0].clone();
        let (tx, height) = self.commit(&admin, op).await;
        (tx.id(), height)
    }

    /// Adds a fifth validator that never runs (the four others still make a quorum of 4 of 5):
    /// organizations 0, 1 and 2 approve, and its node key signs `ValidatorReady` itself. Waits
    /// until node 0 reports the new set in force.
    async fn add_absent_validator(&mut self) {
        let node_key = Keypair::from_secret([77; 32]);
        let validator = Validator {
            name: "absent".into(),
            organization: self.genesis.organizations[0].id.clone(),
            node_key: node_key.public(),
            p2p_address: "/ip4/127.0.0.1/tcp/9".into(),
        };
        let height = self.client.status().await.expect("status").height;
        let propose = Operation::Propose {
            action: GovAction::AddValidator { validator },
            effective_height: height + GOVERNANCE_DELAY_BLOCKS,
        };
        let admins = self.admins.clone();
        let (proposal, _) = self.commit(&admins[0], propose).await;
        for admin in &admins[1..3] {
            let vote = Operation::Vote {
                proposal: proposal.id(),
                approve: true,
            };
            self.commit(admin, vote).await;
        }
        let latest = self.client.latest(true).await.expect("latest").block.header;
        let ready = Operation::ValidatorReady {
            height: latest.height,
            block_hash: latest.hash(),
        };
        self.commit(&node_key, ready).await;
        let deadline = Instant::now() + WAIT;
        while self.client.status().await.expect("status").validators.len() != 5 {
            assert!(Instant::now() < deadline, "the validator never joined");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[test]
fn evidence_verifies_offline_across_a_validator_change_and_altered_copies_are_refused() {
    let cluster = ProcessCluster::start(4);
    cluster.wait_for_height(&[0, 1, 2, 3], 2, WAIT);
    // The packages and the genesis file must outlive the cluster's directory.
    let offline = tempfile::tempdir().expect("temp dir");
    let genesis_path = offline.path().join("genesis.json");
    std::fs::copy(cluster.root().join("devnet/genesis.json"), &genesis_path).expect("copy");
    let genesis: Genesis =
        serde_json::from_str(&std::fs::read_to_string(&genesis_path).expect("genesis"))
            .expect("genesis parses");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let before = Hash::of(b"contract GX-2025-0041, signed under the founding validators");
    let after = Hash::of(b"contract GX-2025-0042, signed after a validator joined");
    let ((before_id, _), (after_id, after_height)) = runtime.block_on(async {
        let mut consortium = Consortium {
            admins: (0..4).map(|org| admin_key(&cluster, org)).collect(),
            client: Client::connect(&format!("http://{}", cluster.nodes[0].rpc))
                .await
                .expect("node0 gRPC"),
            genesis: genesis.clone(),
            nonce: 0,
        };
        let first = consortium.notarize(before).await;
        consortium.add_absent_validator().await;
        (first, consortium.notarize(after).await)
    });
    cluster.wait_for_height(&[1], after_height, WAIT);
    let before_path = offline.path().join("before.json");
    let after_path = offline.path().join("after.json");
    export(&cluster, &before_id, &before_path, &genesis_path);
    export(&cluster, &after_id, &after_path, &genesis_path);
    drop(cluster);

    let summary = verified_summary(&before_path, &genesis_path);
    assert!(summary.contains(&before.to_hex()), "{summary}");
    assert!(summary.contains("of 4 validators"), "{summary}");
    assert!(summary.contains(" 0 validator set change(s)"), "{summary}");
    let summary = verified_summary(&after_path, &genesis_path);
    assert!(summary.contains(&after.to_hex()), "{summary}");
    assert!(summary.contains(&after_id.to_hex()), "{summary}");
    assert!(
        summary.contains("4 of 5 validators (quorum 4)"),
        "{summary}"
    );
    assert!(summary.contains(" 1 validator set change(s)"), "{summary}");
    assert!(summary.contains("outcome:       success"), "{summary}");

    every_altered_copy_is_refused(&after_path, &genesis_path);
}

fn admin_key(cluster: &ProcessCluster, org: usize) -> Keypair {
    let path = cluster.root().join(format!("devnet/org{org}-admin.key"));
    keyfile::read(&path, None).expect("admin key").1
}

/// `cassia evidence export` of `tx` from node 1, checked against the genesis before writing.
fn export(cluster: &ProcessCluster, tx: &Hash, out: &Path, genesis: &Path) {
    let printed = cluster.client(
        1,
        &[
            "evidence",
            "export",
            "--tx",
            &tx.to_hex(),
            "--out",
            out.to_str().expect("UTF-8 path"),
            "--genesis",
            genesis.to_str().expect("UTF-8 path"),
        ],
    );
    assert!(
        printed.contains("verified:      against the genesis file"),
        "{printed}"
    );
}

fn verify(package: &Path, genesis: &Path) -> Output {
    Command::new(cassia_binary())
        .args(["evidence", "verify"])
        .arg(package)
        .arg("--genesis")
        .arg(genesis)
        .output()
        .expect("run cassia evidence verify")
}

/// What `cassia evidence verify` prints for a valid package (panics if it refuses it).
fn verified_summary(package: &Path, genesis: &Path) -> String {
    let output = verify(package, genesis);
    assert!(
        output.status.success(),
        "{} does not verify: {}",
        package.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{summary}");
    summary
}

/// Flips one bit (a different one each time) in every [`FLIP_STRIDE`]-th byte, at most
/// [`MAX_FLIPS`] times, and requires each copy to be refused.
fn every_altered_copy_is_refused(package_path: &Path, genesis_path: &Path) {
    let bytes = std::fs::read(package_path).expect("package");
    let stride = FLIP_STRIDE.max(bytes.len().div_ceil(MAX_FLIPS));
    let altered_path = package_path.with_file_name("altered.json");
    let refusal = format!("error: {} is not valid evidence: ", altered_path.display());
    let started = Instant::now();
    let mut checked = 0;
    for position in (0..bytes.len()).step_by(stride) {
        let mut altered = bytes.clone();
        altered[position] ^= 1 << (position % 8);
        std::fs::write(&altered_path, &altered).expect("write altered copy");
        let output = verify(&altered_path, genesis_path);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "flipping bit {} of byte {position} was not refused: {}",
            position % 8,
            String::from_utf8_lossy(&output.stdout)
        );
        // Refused for the package itself, not for anything else that can fail (the genesis
        // file, reading the files).
        assert!(
            stderr.starts_with(&refusal) && stderr.lines().count() == 1,
            "byte {position}: not refused as invalid evidence: {stderr}"
        );
        assert!(
            !stderr.contains("the genesis file is not valid"),
            "byte {position}: {stderr}"
        );
        checked += 1;
    }
    assert!(checked >= 100, "only {checked} copies checked");
    eprintln!(
        "{checked} altered copies of a {}-byte package refused in {:?}",
        bytes.len(),
        started.elapsed()
    );
}
