//! Storage faults with the real `cassia node` (issue 8, item 6): a node whose consensus WAL or
//! RocksDB files are damaged refuses to start, with an `error:` line that says what is wrong and
//! what to do; restored from a backup, or with only a crash's torn log tail, it starts and
//! rejoins the chain with the same blocks as everyone else.
//!
//! One 4-node consortium; node 3 is stopped, its data directory backed up, and each damage is
//! applied to a fresh copy of the backup before `cassia node` is started on it by hand (so its
//! exit status and message can be read). The store-level cases, with every corruption RocksDB
//! can report, are in `storage/tests/faults.rs`; RELIABILITY.md lists what happens in each.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cassia_tests::process::{ProcessCluster, cassia_binary};

/// Generous: loaded CI machines are slow, and nothing here measures speed.
const WAIT: Duration = Duration::from_secs(90);

/// How long a node may take to refuse a damaged store (it opens the store before the network).
const REFUSAL_WAIT: Duration = Duration::from_secs(30);

/// The node whose data is damaged.
const VICTIM: usize = 3;

/// What every refusal tells the operator to do.
const ADVICE: &str = "restore the data directory from a backup or resync it";

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("list the directory") {
        let entry = entry.expect("directory entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy a file");
    }
}

/// The newest file in `dir` whose name contains `part` (RocksDB numbers its files in order).
fn newest(dir: &Path, part: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list the data directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().contains(part))
                && std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
        })
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no non-empty {part} file in {}", dir.display()))
}

fn set_len(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for truncation")
        .set_len(len)
        .expect("truncate");
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("file size").len()
}

/// Runs `cassia node` on `home` until it exits (or [`REFUSAL_WAIT`] passes: then it is killed
/// and `None` returned); returns its exit status and what it wrote to stderr.
fn start_by_hand(home: &Path) -> (Option<ExitStatus>, String) {
    let log_path = home.join("damaged-start.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(cassia_binary())
        .args(["node", "--home"])
        .arg(home)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn cassia node");
    let deadline = Instant::now() + REFUSAL_WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the node") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log_path).unwrap_or_default();
    (status, stderr)
}

/// Writes garbage as the consensus WAL record, through the store's own API.
fn garbage_wal(home: &Path) {
    let text = std::fs::read_to_string(home.join("genesis.json")).expect("genesis file");
    let genesis: cassia_ledger::Genesis = serde_json::from_str(&text).expect("genesis");
    let store = cassia_storage::Database::open(&home.join("data"), &genesis.hash()).expect("opens");
    store
        .save_consensus_state(b"not a consensus state")
        .expect("write the WAL record");
}

type Damage = fn(&Path);

/// Damages a stopped node must refuse: (what, how, whether the message names the directory).
const REFUSED: &[(&str, Damage, bool)] = &[
    (
        "consensus WAL record replaced by garbage",
        garbage_wal,
        false,
    ),
    (
        "CURRENT emptied",
        |home| std::fs::write(home.join("data/CURRENT"), b"").expect("write"),
        true,
    ),
    (
        "MANIFEST deleted",
        |home| std::fs::remove_file(newest(&home.join("data"), "MANIFEST")).expect("delete"),
        true,
    ),
    (
        "newest table file truncated to half",
        |home| {
            let table = newest(&home.join("data"), ".sst");
            set_len(&table, len(&table) / 2);
        },
        true,
    ),
    (
        "log record overwritten in the middle",
        |home| {
            let log = newest(&home.join("data"), ".log");
            let mut bytes = std::fs::read(&log).expect("read the log");
            let middle = bytes.len() / 2;
            for byte in &mut bytes[middle..middle + 16] {
                *byte ^= 0xff;
            }
            std::fs::write(&log, bytes).expect("write the log");
        },
        true,
    ),
];

#[test]
fn a_node_with_damaged_storage_refuses_to_start_and_a_restored_one_rejoins() {
    let mut cluster = ProcessCluster::start(4);
    cluster.wait_for_height(&[0, 1, 2, 3], 3, WAIT);
    // A restart makes RocksDB move the log into table files; new commits go to a new log.
    assert!(cluster.stop(VICTIM), "node{VICTIM} stops cleanly");
    cluster.restart(VICTIM);
    let height = cluster.height(0);
    cluster.wait_for_height(&[VICTIM], height + 2, WAIT);
    assert!(cluster.stop(VICTIM), "node{VICTIM} stops cleanly");
    let home = cluster.nodes[VICTIM].home.clone();
    let data = home.join("data");
    let backup = cluster.root().join("backup");
    copy_dir(&data, &backup);
    for (what, damage, names_directory) in REFUSED {
        copy_dir(&backup, &data);
        damage(&home);
        let (status, stderr) = start_by_hand(&home);
        println!("{what}: {status:?}: {}", stderr.trim());
        let status = status.unwrap_or_else(|| panic!("{what}: the node kept running"));
        assert!(!status.success(), "{what}: the node exited successfully");
        let error = stderr
            .lines()
            .find(|line| line.starts_with("error: "))
            .unwrap_or_else(|| panic!("{what}: no error line in {stderr:?}"));
        assert_eq!(
            error.matches(ADVICE).count(),
            1,
            "{what}: the advice is not given exactly once: {error:?}"
        );
        if *names_directory {
            let directory = data.display().to_string();
            assert!(
                error.contains(&directory),
                "{what}: {error:?} does not name {directory}"
            );
        }
        assert!(
            !stderr.contains("panicked"),
            "{what}: the node panicked: {stderr}"
        );
    }
    // Restored from the backup, with the last log record torn as a crash leaves it, the node
    // starts, catches up and holds the same chain as the others.
    copy_dir(&backup, &data);
    let log = newest(&data, ".log");
    set_len(&log, len(&log) - 7);
    cluster.restart(VICTIM);
    let height = cluster.height(0);
    cluster.wait_for_height(&[VICTIM], height + 2, WAIT);
    for h in [height, height + 1] {
        assert_eq!(
            cluster.commit_at(VICTIM, h),
            cluster.commit_at(0, h),
            "node{VICTIM} and node0 differ at height {h}"
        );
    }
}
