//! Drives the real `cassia` binary through a four-organization genesis ceremony, and through
//! the mistakes operators make: each must give a one-line error and a non-zero exit, no panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ORGS: [&str; 4] = ["gxdsj", "nnbank", "gxhospital", "gxfarm"];

struct Ceremony {
    dir: tempfile::TempDir,
}

impl Ceremony {
    fn new() -> Ceremony {
        Ceremony {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cassia"))
            .args(args)
            .current_dir(self.dir.path())
            .env("CASSIA_TEST_PASSPHRASE", "s3cret")
            .output()
            .expect("run cassia")
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "cassia {args:?} failed: {stderr}");
        String::from_utf8(output.stdout).expect("utf-8 output")
    }

    /// Runs and expects a clean failure; returns the error line.
    fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8(output.stderr).expect("utf-8 output");
        assert_eq!(
            output.status.code(),
            Some(1),
            "cassia {args:?} should fail with 1: {stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "cassia {args:?} panicked: {stderr}"
        );
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("note:")).collect();
        assert_eq!(lines.len(), 1, "one error line expected, got: {stderr}");
        assert!(lines[0].starts_with("error: "), "{stderr}");
        lines[0].to_string()
    }

    fn keygen(&self, kind: &str, name: &str, sealed: bool) -> String {
        let mut args = vec!["keygen", "--kind", kind, "--out", name];
        if sealed {
            args.extend(["--passphrase-env", "CASSIA_TEST_PASSPHRASE"]);
        }
        let out = self.ok(&args);
        assert!(out.contains("peer id:    12D3KooW"), "{out}");
        out.lines()
            .next()
            .and_then(|l| l.strip_prefix("public key: "))
            .expect("public key line")
            .to_string()
    }

    /// Creates keys for every org and a genesis with all orgs and validators, unsigned.
    fn prepare(&self) {
        self.ok(&[
            "genesis",
            "create",
            "--chain-id",
            "gx-test",
            "--out",
            "genesis.json",
        ]);
        for (i, org) in ORGS.iter().enumerate() {
            // The first organization seals its admin key with a passphrase.
            self.keygen("account", &format!("{org}-admin.key"), i == 0);
            self.keygen("node", &format!("{org}-node.key"), false);
            self.ok(&[
                "genesis",
                "add-org",
                "--genesis",
                "genesis.json",
                "--id",
                org,
                "--name",
                &org.to_uppercase(),
                "--admin",
                &format!("{org}-admin.key"),
            ]);
            self.ok(&[
                "genesis",
                "add-validator",
                "--genesis",
                "genesis.json",
                "--name",
                &format!("{org}-1"),
                "--org",
                org,
                "--node-key",
                &format!("{org}-node.key"),
                "--p2p-address",
                &format!("/ip4/127.0.0.{}/tcp/7100", i + 1),
            ]);
        }
    }

    fn sign(&self, file: &str, org: &str) {
        let mut args = vec!["genesis", "sign", "--genesis", file, "--org", org];
        let key = format!("{org}-admin.key");
        args.extend(["--key", &key]);
        if org == ORGS[0] {
            args.extend(["--passphrase-env", "CASSIA_TEST_PASSPHRASE"]);
        }
        self.ok(&args);
    }
}

#[test]
fn four_organizations_sign_by_exchanging_files_and_init_their_nodes() {
    let ceremony = Ceremony::new();
    ceremony.prepare();
    // Each organization signs its own copy, as if the file had been mailed round.
    for org in ORGS {
        std::fs::copy(
            ceremony.path("genesis.json"),
            ceremony.path(&format!("{org}.json")),
        )
        .expect("copy");
        ceremony.sign(&format!("{org}.json"), org);
    }
    let partial = ceremony.fails(&["genesis", "verify", "--genesis", "gxdsj.json"]);
    assert!(
        partial.contains("missing approval") && partial.contains("nnbank"),
        "{partial}"
    );
    let copies: Vec<String> = ORGS.iter().map(|o| format!("{o}.json")).collect();
    let mut merge = vec!["genesis", "merge", "--genesis", "genesis.json"];
    merge.extend(copies.iter().map(String::as_str));
    ceremony.ok(&merge);
    let verified = ceremony.ok(&["genesis", "verify", "--genesis", "genesis.json"]);
    assert!(
        verified.contains("ok: every organization approved"),
        "{verified}"
    );
    assert!(verified.contains("genesis hash: "), "{verified}");
    for org in ORGS {
        assert!(verified.contains(&format!("signed  {org}")), "{verified}");
    }
    for org in ORGS {
        let home = format!("home-{org}");
        let key = format!("{org}-node.key");
        let out = ceremony.ok(&[
            "init",
            "--home",
            &home,
            "--genesis",
            "genesis.json",
            "--node-key",
            &key,
        ]);
        assert!(out.contains("validator of chain gx-test"), "{out}");
        check_home(&ceremony.path(&home));
    }
}

fn check_home(home: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&home.join("keys/node.key")), 0o600);
    assert_eq!(mode(&home.join("keys")), 0o700);
    assert!(home.join("data").is_dir());
    let config = std::fs::read_to_string(home.join("config.toml")).expect("config written");
    assert!(
        config.contains("[network]") && config.contains("# "),
        "commented defaults expected"
    );
    let parsed =
        cassia_node::config::Config::from_toml(&config, home).expect("written config parses");
    assert_eq!(parsed.key_file, home.join("keys/node.key"));
    assert!(home.join("genesis.json").is_file());
}

#[test]
fn operator_mistakes_get_one_line_errors() {
    let ceremony = Ceremony::new();
    ceremony.prepare();

    let missing = ceremony.fails(&["genesis", "verify", "--genesis", "nope.json"]);
    assert!(missing.contains("nope.json"), "{missing}");

    std::fs::write(ceremony.path("garbage.key"), "{ not json").expect("write");
    let malformed = ceremony.fails(&[
        "genesis",
        "sign",
        "--genesis",
        "genesis.json",
        "--org",
        "nnbank",
        "--key",
        "garbage.key",
    ]);
    assert!(malformed.contains("not a Cassia key file"), "{malformed}");

    let bad_hex = ceremony.fails(&[
        "genesis",
        "add-org",
        "--genesis",
        "genesis.json",
        "--id",
        "x",
        "--name",
        "X",
        "--admin",
        "abcd",
    ]);
    assert!(
        bad_hex.contains("neither a 64-hex-character public key"),
        "{bad_hex}"
    );

    let duplicate = ceremony.fails(&[
        "genesis",
        "add-validator",
        "--genesis",
        "genesis.json",
        "--name",
        "again",
        "--org",
        "nnbank",
        "--node-key",
        "nnbank-node.key",
        "--p2p-address",
        "/ip4/127.0.0.9/tcp/7100",
    ]);
    assert!(duplicate.contains("duplicate validator"), "{duplicate}");

    let wrong = ceremony.fails(&[
        "genesis",
        "sign",
        "--genesis",
        "genesis.json",
        "--org",
        "gxdsj",
        "--key",
        "gxdsj-admin.key",
        "--passphrase-env",
        "WRONG_PASSPHRASE_VAR",
    ]);
    assert!(wrong.contains("WRONG_PASSPHRASE_VAR"), "{wrong}");
    std::fs::write(ceremony.path("wrong-pass"), "not the passphrase\n").expect("write");
    let wrong = ceremony.fails(&[
        "genesis",
        "sign",
        "--genesis",
        "genesis.json",
        "--org",
        "gxdsj",
        "--key",
        "gxdsj-admin.key",
        "--passphrase-file",
        "wrong-pass",
    ]);
    assert!(wrong.contains("wrong passphrase"), "{wrong}");

    let not_admin = ceremony.fails(&[
        "genesis",
        "sign",
        "--genesis",
        "genesis.json",
        "--org",
        "gxdsj",
        "--key",
        "nnbank-admin.key",
    ]);
    assert!(not_admin.contains("not an admin"), "{not_admin}");

    // Three of four sign: init must refuse.
    for org in &ORGS[..3] {
        ceremony.sign("genesis.json", org);
    }
    let unsigned = ceremony.fails(&["init", "--home", "home", "--genesis", "genesis.json"]);
    assert!(
        unsigned.contains("missing approval of organization(s): gxfarm"),
        "{unsigned}"
    );

    // Changing the content after signing invalidates approvals: a tampered file is caught.
    ceremony.sign("genesis.json", ORGS[3]);
    let text = std::fs::read_to_string(ceremony.path("genesis.json")).expect("read");
    std::fs::write(
        ceremony.path("tampered.json"),
        text.replace("/tcp/7100", "/tcp/7101"),
    )
    .expect("write");
    let tampered = ceremony.fails(&["genesis", "verify", "--genesis", "tampered.json"]);
    assert!(
        tampered.contains("does not match this genesis"),
        "{tampered}"
    );

    let overwrite = ceremony.fails(&["keygen", "--out", "gxdsj-admin.key"]);
    assert!(overwrite.contains("refusing to overwrite"), "{overwrite}");
}
