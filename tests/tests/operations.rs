//! Every ledger operation driven through the `cassia` CLI against a running 4-node cluster
//! (real processes, RocksDB, loopback), and read back with the proof-checked `query` commands:
//! accounts and roles, namespaces and their access lists, traceability items and events, batch
//! anchors with per-item proofs, co-signed notarizations, and governance (propose, vote, the
//! change taking effect at its height).
//!
//! One cluster serves all sections (starting one costs seconds on a loaded machine); each
//! section is a function that says what it checks. Every command that commits uses `--wait`,
//! and every other wait is bounded.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use cassia_tests::process::{ProcessCluster, cassia_binary};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

/// The cluster, plus a directory for the files the scenario writes (keys, items, proofs).
struct Consortium {
    cluster: ProcessCluster,
    files: tempfile::TempDir,
}

impl Consortium {
    /// The admin key of organization `org` (devnet writes one per organization).
    fn admin(&self, org: usize) -> PathBuf {
        self.cluster
            .root()
            .join(format!("devnet/org{org}-admin.key"))
    }

    /// A path in the scenario's directory.
    fn file(&self, name: &str) -> PathBuf {
        self.files.path().join(name)
    }

    /// Runs `cassia args...` against node `node`'s gRPC endpoint (`--key key` when given).
    fn run(&self, node: usize, key: Option<&Path>, args: &[&str]) -> Output {
        let mut command = Command::new(cassia_binary());
        command
            .args(args)
            .arg("--endpoint")
            .arg(format!("http://{}", self.cluster.nodes[node].rpc));
        if let Some(key) = key {
            command.arg("--key").arg(key);
        }
        command.output().expect("run the cassia binary")
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, node: usize, key: Option<&Path>, args: &[&str]) -> String {
        let output = self.run(node, key, args);
        assert!(
            output.status.success(),
            "cassia {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs a command that must fail (exit 1); returns stdout and stderr together.
    fn fails(&self, node: usize, key: Option<&Path>, args: &[&str]) -> String {
        let output = self.run(node, key, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            output.status.code(),
            Some(1),
            "cassia {args:?} should fail: {text}"
        );
        text
    }

    /// A transaction signed by `key`, submitted to node `node`, committed with a successful
    /// receipt and committed by every node; returns its stdout.
    fn commit(&self, node: usize, key: &Path, args: &[&str]) -> String {
        let args: Vec<&str> = ["tx"]
            .iter()
            .chain(args)
            .chain(&["--wait", "--wait-secs", "60"])
            .copied()
            .collect();
        let stdout = self.ok(node, Some(key), &args);
        assert!(stdout.contains("result:      success"), "{stdout}");
        // Reads may go to any node: let every node commit this block first.
        let height = line_value(&stdout, "height:").parse().expect("a height");
        self.cluster.wait_for_height(&[0, 1, 2, 3], height, WAIT);
        stdout
    }

    /// A record read with `cassia query ...`, parsed from its JSON.
    fn query(&self, node: usize, args: &[&str]) -> Value {
        let args: Vec<&str> = ["query"].iter().chain(args).copied().collect();
        let stdout = self.ok(node, None, &args);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
    }

    /// A new account key file; returns its path and public key (hex).
    fn keygen(&self, name: &str) -> (PathBuf, String) {
        let path = self.file(name);
        let output = Command::new(cassia_binary())
            .args(["keygen", "--kind", "account", "--out"])
            .arg(&path)
            .output()
            .expect("run cassia keygen");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "keygen: {output:?}");
        let public = stdout
            .lines()
            .find_map(|line| line.strip_prefix("public key: "))
            .unwrap_or_else(|| panic!("keygen prints the public key: {stdout}"))
            .trim()
            .to_string();
        (path, public)
    }
}

fn path(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// The value of `label` in a `label: value` line of `text`.
fn line_value<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in: {text}"))
        .trim()
}

#[test]
fn every_operation_through_the_cli_and_read_back_with_proofs() {
    let cluster = ProcessCluster::start(4);
    cluster.wait_for_height(&[0, 1, 2, 3], 2, WAIT);
    let consortium = Consortium {
        cluster,
        files: tempfile::tempdir().expect("temp dir"),
    };
    namespaces_admit_registered_writers_only(&consortium);
    items_take_events_from_authorized_organizations_only(&consortium);
    batch_items_prove_membership_against_the_anchored_root(&consortium);
    notarizations_carry_checked_co_signatures(&consortium);
    governance_changes_take_effect_at_their_height(&consortium);
}

/// An admin creates a namespace and registers a writer; the writer's put commits, an
/// unregistered key is refused at admission, a revoked writer is refused too.
fn namespaces_admit_registered_writers_only(c: &Consortium) {
    let admin = c.admin(0);
    c.commit(
        0,
        &admin,
        &[
            "create-namespace",
            "--namespace",
            "permits",
            "--writer",
            "org1",
        ],
    );
    let namespace = c.query(1, &["namespace", "permits"]);
    assert_eq!(namespace["owner"], "org0");
    assert_eq!(namespace["acl"]["writers"], serde_json::json!(["org1"]));

    let (writer, writer_public) = c.keygen("writer.key");
    c.commit(
        0,
        &admin,
        &[
            "register-account",
            "--account-key",
            path(&writer),
            "--role",
            "writer",
            "--role",
            "auditor",
        ],
    );
    let account = c.query(2, &["account", &writer_public]);
    assert_eq!(account["organization"], "org0");
    assert_eq!(account["roles"], serde_json::json!(["writer", "auditor"]));
    assert_eq!(account["active"], true);

    let put = ["put", "--namespace", "permits", "--record", "P-1"];
    c.commit(1, &writer, &[&put[..], &["--value", "granted"]].concat());
    let state = c.ok(
        3,
        None,
        &[
            "query",
            "state",
            "--namespace",
            "permits",
            "--record",
            "P-1",
        ],
    );
    assert!(state.contains("value:         granted"), "{state}");

    let (stranger, _) = c.keygen("stranger.key");
    let refused = c.fails(
        0,
        Some(&stranger),
        &[&["tx"], &put[..], &["--value", "forged", "--wait"]].concat(),
    );
    assert!(
        refused.contains("PermissionDenied") && refused.contains("not a registered account"),
        "{refused}"
    );

    c.commit(
        0,
        &admin,
        &["set-acl", "--namespace", "permits", "--writer", "org2"],
    );
    let namespace = c.query(1, &["namespace", "permits"]);
    assert_eq!(namespace["acl"]["writers"], serde_json::json!(["org2"]));
    c.commit(
        2,
        &c.admin(2),
        &[&put[..], &["--value", "renewed by org2"]].concat(),
    );
    let refused = c.fails(
        1,
        Some(&c.admin(1)),
        &[&["tx"], &put[..], &["--value", "org1 no more", "--wait"]].concat(),
    );
    assert!(
        refused.contains("may not write namespace permits"),
        "{refused}"
    );

    c.commit(0, &admin, &["revoke-account", "--account", &writer_public]);
    assert_eq!(c.query(0, &["account", &writer_public])["active"], false);
    let refused = c.fails(
        0,
        Some(&writer),
        &[
            &["tx"],
            &put[..],
            &["--value", "after revocation", "--wait"],
        ]
        .concat(),
    );
    assert!(refused.contains("has been revoked"), "{refused}");
}

/// An item registered by org0 authorizes org1: org1's event commits, org2's is refused; the
/// item reads back with its whole history.
fn items_take_events_from_authorized_organizations_only(c: &Consortium) {
    c.commit(
        0,
        &c.admin(0),
        &[
            "register-item",
            "--code",
            "TEA-0001",
            "--product",
            "Liupao tea, 500 g",
            "--metadata",
            r#"{"lot":7}"#,
            "--authorize",
            "org1",
        ],
    );
    c.commit(
        0,
        &c.admin(0),
        &["item-event", "--code", "TEA-0001", "--kind", "packed"],
    );
    c.commit(
        1,
        &c.admin(1),
        &[
            "item-event",
            "--code",
            "TEA-0001",
            "--kind",
            "custody",
            "--data",
            "truck GX-A1234",
        ],
    );
    let refused = c.fails(
        2,
        Some(&c.admin(2)),
        &[
            "tx",
            "item-event",
            "--code",
            "TEA-0001",
            "--kind",
            "custody",
            "--wait",
        ],
    );
    assert!(
        refused.contains("PermissionDenied") && refused.contains("may not record events"),
        "{refused}"
    );
    let history = c.query(3, &["item", "TEA-0001"]);
    assert_eq!(history["item"]["owner"], "org0");
    assert_eq!(history["item"]["product"], "Liupao tea, 500 g");
    assert_eq!(history["item"]["events"], 2);
    let events = history["events"].as_array().expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["kind"], "packed");
    assert_eq!(events[0]["organization"], "org0");
    assert_eq!(events[1]["sequence"], 1);
    assert_eq!(events[1]["kind"], "custody");
    assert_eq!(events[1]["data"], "truck GX-A1234");
    assert_eq!(events[1]["organization"], "org1");
}

/// A batch of 5 items is anchored by its root; each item's proof checks against the root on
/// chain, and an item not in the batch or a tampered proof does not.
fn batch_items_prove_membership_against_the_anchored_root(c: &Consortium) {
    let items = c.file("items.txt");
    let proofs = c.file("proofs.json");
    std::fs::write(&items, "TEA-0001\nTEA-0002\nTEA-0003\nTEA-0004\nTEA-0005\n").expect("items");
    c.commit(
        0,
        &c.admin(0),
        &[
            "anchor-batch",
            "--batch-id",
            "B-2024-07",
            "--items",
            path(&items),
            "--proofs-out",
            path(&proofs),
            "--metadata",
            "July harvest",
        ],
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&proofs).expect("proofs file"))
        .expect("json");
    let batch = c.query(1, &["batch", "B-2024-07"]);
    assert_eq!(batch["count"], 5);
    assert_eq!(batch["organization"], "org0");
    assert_eq!(batch["root"], file["root"]);
    for item in ["TEA-0001", "TEA-0004", "TEA-0005"] {
        let checked = c.ok(
            2,
            None,
            &[
                "query",
                "batch-item",
                "--proofs",
                path(&proofs),
                "--item",
                item,
            ],
        );
        assert!(checked.starts_with("OK: "), "{checked}");
    }
    let missing = c.fails(
        2,
        None,
        &[
            "query",
            "batch-item",
            "--proofs",
            path(&proofs),
            "--item",
            "TEA-9999",
        ],
    );
    assert!(missing.contains("is not an item of batch"), "{missing}");

    let mut tampered = file.clone();
    tampered["items"][1]["item"] = Value::from("TEA-0002");
    tampered["items"][1]["siblings"][0] = tampered["items"][2]["siblings"][0].clone();
    let tampered_path = c.file("tampered.json");
    std::fs::write(&tampered_path, tampered.to_string()).expect("tampered proofs");
    let refused = c.fails(
        3,
        None,
        &[
            "query",
            "batch-item",
            "--proofs",
            path(&tampered_path),
            "--item",
            "TEA-0002",
        ],
    );
    assert!(refused.contains("does not verify"), "{refused}");
}

/// A contract notarized by org0's admin with two co-signers: one signs separately
/// (`tx cosign`), one signs from its key file; the record lists both. A co-signature over
/// other metadata is refused before anything is submitted.
fn notarizations_carry_checked_co_signatures(c: &Consortium) {
    let contract = c.file("contract.pdf");
    std::fs::write(&contract, b"%PDF-1.7 lease of plot 12").expect("contract");
    let (buyer, buyer_public) = c.keygen("buyer.key");
    let (seller, seller_public) = c.keygen("seller.key");
    let metadata = r#"{"type":"lease"}"#;
    let cosign = c.ok(
        1,
        Some(&buyer),
        &[
            "tx",
            "cosign",
            "--file",
            path(&contract),
            "--metadata",
            metadata,
        ],
    );
    let co_signature = cosign.trim();
    assert!(
        co_signature.starts_with(&format!("{buyer_public}:")),
        "{co_signature}"
    );
    let stdout = c.commit(
        0,
        &c.admin(0),
        &[
            "notarize",
            "--file",
            path(&contract),
            "--metadata",
            metadata,
            "--co-signature",
            co_signature,
            "--co-signer-key",
            path(&seller),
        ],
    );
    let digest = cassia_crypto::Hash::of(b"%PDF-1.7 lease of plot 12").to_hex();
    let record = c.query(2, &["notarization", &digest]);
    assert_eq!(record["organization"], "org0");
    assert_eq!(record["metadata"], metadata);
    assert_eq!(
        record["co_signers"],
        serde_json::json!([buyer_public, seller_public])
    );
    assert_eq!(record["tx_id"], line_value(&stdout, "tx id:"));

    let other = c.file("other.pdf");
    std::fs::write(&other, b"another document").expect("document");
    let cosign = c.ok(
        1,
        Some(&buyer),
        &[
            "tx",
            "cosign",
            "--file",
            path(&other),
            "--metadata",
            "signed as v1",
        ],
    );
    let refused = c.fails(
        0,
        Some(&c.admin(0)),
        &[
            "tx",
            "notarize",
            "--file",
            path(&other),
            "--metadata",
            "changed to v2",
            "--co-signature",
            cosign.trim(),
        ],
    );
    assert!(
        refused.contains("is not over this digest and metadata"),
        "{refused}"
    );
}

/// Parameters and a new organization, each proposed by org0 and approved by org1 and org2,
/// take effect at their height; a vote on a closed proposal and a proposal that would leave
/// three validators commit with failed receipts (exit 1); a node key not awaiting readiness
/// is refused.
fn governance_changes_take_effect_at_their_height(c: &Consortium) {
    let validators = c.query(0, &["validators"]);
    assert_eq!(validators["validators"].as_array().expect("set").len(), 4);
    let mut parameters = c.query(0, &["parameters"]);
    assert_ne!(parameters["max_tx_ttl"], 900);
    parameters["max_tx_ttl"] = Value::from(900);
    let parameters_file = c.file("parameters.json");
    std::fs::write(&parameters_file, parameters.to_string()).expect("parameters");
    let (new_admin, new_admin_public) = c.keygen("org4-admin.key");

    let effective = c.cluster.height(0) + 100;
    let effective_text = effective.to_string();
    let when = ["--effective-height", effective_text.as_str()];
    let proposals = [
        c.commit(
            0,
            &c.admin(0),
            &[
                &["propose", "set-params", "--file", path(&parameters_file)][..],
                &when,
            ]
            .concat(),
        ),
        c.commit(
            0,
            &c.admin(0),
            &[
                &[
                    "propose",
                    "add-org",
                    "--id",
                    "org4",
                    "--name",
                    "Port Authority",
                ][..],
                &["--admin", path(&new_admin)],
                &when,
            ]
            .concat(),
        ),
    ]
    .map(|stdout| line_value(&stdout, "proposal id:").to_string());
    for proposal in &proposals {
        assert_eq!(
            c.query(1, &["proposal", proposal.as_str()])["status"],
            "open"
        );
        for org in [1, 2] {
            c.commit(
                org,
                &c.admin(org),
                &["vote", "--proposal", proposal.as_str(), "--yes"],
            );
        }
        let record = c.query(3, &["proposal", proposal.as_str()]);
        assert_eq!(record["status"], "approved", "{record}");
        assert_eq!(
            record["votes"],
            serde_json::json!({"org0": true, "org1": true, "org2": true})
        );
    }
    let late = c.fails(
        3,
        Some(&c.admin(3)),
        &["tx", "vote", "--proposal", &proposals[0], "--no", "--wait"],
    );
    assert!(
        late.contains("result:      failed") && late.contains("is closed"),
        "{late}"
    );
    let node_key = validators["validators"][0]["node_key"]
        .as_str()
        .expect("node key")
        .to_string();
    let too_few = c.fails(
        0,
        Some(&c.admin(0)),
        &[
            &["tx", "propose", "remove-validator", "--node-key", &node_key][..],
            &when,
            &["--wait"],
        ]
        .concat(),
    );
    assert!(too_few.contains("would leave 3 validators"), "{too_few}");
    let node0_key = c.cluster.nodes[0].home.join("keys/node.key");
    let not_pending = c.fails(0, Some(&node0_key), &["tx", "validator-ready"]);
    assert!(
        not_pending.contains("not an approved validator"),
        "{not_pending}"
    );

    c.cluster.wait_for_height(&[0, 1, 2, 3], effective, WAIT);
    assert_eq!(c.query(2, &["parameters"])["max_tx_ttl"], 900);
    let organization = c.query(1, &["organization", "org4"]);
    assert_eq!(organization["active"], true);
    assert_eq!(organization["organization"]["name"], "Port Authority");
    let account = c.query(3, &["account", &new_admin_public]);
    assert_eq!(account["organization"], "org4");
    assert_eq!(account["roles"], serde_json::json!(["admin"]));
    c.commit(
        1,
        &new_admin,
        &["create-namespace", "--namespace", "port-manifests"],
    );
    assert_eq!(
        c.query(0, &["namespace", "port-manifests"])["owner"],
        "org4"
    );
}
