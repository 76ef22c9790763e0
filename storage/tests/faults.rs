//! Storage faults (issue 8, item 6): a truncated or corrupted database or consensus WAL is
//! detected when the database opens, with a message that names the data directory and says what
//! to do; the one damage a crash can cause (a torn last record of RocksDB's log) recovers to a
//! consistent tip; damaged table data is an error on read, never other data, and it stops the
//! database from writing, so the node stops before it votes on it.
//!
//! Each case builds a small chain in a temporary directory, closes the database, damages a copy
//! of the files the way a failing disk or a careless operator would, and opens it again. The
//! cases where the engine opens on a damaged consensus WAL are with the engine's adapter, in
//! `node/src/chain_store.rs`. `RELIABILITY.md` ("Storage faults") lists what happens in each case.

mod common;

use std::path::{Path, PathBuf};

use cassia_crypto::Keypair;
use cassia_ledger::execution::StateReader;
use cassia_storage::{CREATION_MARKER, Database, StorageError};

/// Blocks in every test chain.
const BLOCKS: u64 = 5;

/// What every refusal must tell the operator to do.
const ADVICE: &str = "restore the data directory from a backup or resync it";

/// A closed store holding [`BLOCKS`] blocks and a consensus WAL record. With `flush`, it was
/// opened once more, so RocksDB moved its log into table (`.sst`) files; without, every record
/// is still in the live log (`*.log`).
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(flush: bool) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = common::open(dir.path());
        let key = Keypair::from_secret([5; 32]);
        for _ in 0..BLOCKS {
            common::commit_next(&store, &key, 20);
            store
                .save_consensus_state(&wal_record(store.tip_height() + 1))
                .expect("WAL write");
        }
        drop(store);
        if flush {
            drop(common::open(dir.path()));
        }
        Fixture { dir }
    }

    /// A copy of the files, to damage.
    fn copy(&self) -> tempfile::TempDir {
        let copy = tempfile::tempdir().expect("temp dir");
        for entry in std::fs::read_dir(self.dir.path()).expect("list the store") {
            let entry = entry.expect("directory entry");
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).expect("copy");
        }
        copy
    }
}

trait TipHeight {
    fn tip_height(&self) -> u64;
}

impl TipHeight for Database {
    fn tip_height(&self) -> u64 {
        self.tip().expect("tip reads").map_or(0, |t| t.height)
    }
}

/// Bytes of [`wal_record`]: an encoded consensus state holding one signed vote (what the
/// replica saves before it votes) is this long.
const WAL_RECORD_BYTES: usize = 198;

/// A consensus WAL record for `height`. The database keeps the record as opaque bytes, so these
/// stand in for the replica's encoded state, at its size: the torn-tail cases cut into it.
fn wal_record(height: u64) -> Vec<u8> {
    height
        .to_be_bytes()
        .into_iter()
        .cycle()
        .take(WAL_RECORD_BYTES)
        .collect()
}

/// The files of `dir` whose names contain `part`, sorted (RocksDB numbers them in order).
fn files(dir: &Path, part: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list the store")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().contains(part))
        })
        .collect();
    found.sort();
    found
}

/// The newest file whose name contains `part`.
fn newest(dir: &Path, part: &str) -> PathBuf {
    files(dir, part)
        .pop()
        .unwrap_or_else(|| panic!("no {part} file in {}", dir.display()))
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

/// Flips every bit of `count` bytes at `offset` (clamped to the file).
fn flip(path: &Path, offset: u64, count: usize) {
    let mut bytes = std::fs::read(path).expect("read");
    let start = usize::try_from(offset)
        .expect("small file")
        .min(bytes.len());
    let end = (start + count).min(bytes.len());
    for byte in &mut bytes[start..end] {
        *byte ^= 0xff;
    }
    std::fs::write(path, bytes).expect("write");
}

/// A damage applied to a closed store's directory.
type Damage = fn(&Path);

/// Damages the store must refuse at open: (what, whether the data was flushed to tables first,
/// how).
const REFUSED: &[(&str, bool, Damage)] = &[
    ("CURRENT emptied", true, |dir| {
        std::fs::write(dir.join("CURRENT"), b"").expect("write")
    }),
    ("CURRENT names a missing MANIFEST", true, |dir| {
        std::fs::write(dir.join("CURRENT"), b"MANIFEST-999999\n").expect("write")
    }),
    ("MANIFEST truncated to half", true, |dir| {
        let manifest = newest(dir, "MANIFEST");
        set_len(&manifest, len(&manifest) / 2)
    }),
    ("MANIFEST bytes overwritten", true, |dir| {
        let manifest = newest(dir, "MANIFEST");
        flip(&manifest, len(&manifest) / 2, 16)
    }),
    ("MANIFEST deleted", true, |dir| {
        std::fs::remove_file(newest(dir, "MANIFEST")).expect("delete")
    }),
    ("newest table file truncated to half", true, |dir| {
        let table = newest(dir, ".sst");
        set_len(&table, len(&table) / 2)
    }),
    ("table file footer overwritten", true, |dir| {
        let table = newest(dir, ".sst");
        flip(&table, len(&table) - 24, 16)
    }),
    ("table file deleted", true, |dir| {
        std::fs::remove_file(newest(dir, ".sst")).expect("delete")
    }),
    ("log record overwritten in the middle", false, |dir| {
        let log = newest(dir, ".log");
        flip(&log, len(&log) / 2, 16)
    }),
    ("log deleted", false, |dir| {
        std::fs::remove_file(newest(dir, ".log")).expect("delete")
    }),
];

#[test]
fn a_damaged_database_is_refused_at_open_naming_the_directory_and_what_to_do() {
    let fixtures = [Fixture::new(false), Fixture::new(true)];
    for (what, flush, damage) in REFUSED {
        let copy = fixtures[usize::from(*flush)].copy();
        damage(copy.path());
        let error = Database::open(copy.path(), &common::genesis_hash())
            .map(|store| format!("tip {}", store.tip_height()))
            .expect_err(what);
        let message = error.to_string();
        println!("{what}: {message}");
        assert!(
            matches!(error, StorageError::Corrupt(_)),
            "{what}: not reported as damage: {message}"
        );
        assert!(
            message.contains(&copy.path().display().to_string()),
            "{what}: the message does not name the directory: {message}"
        );
        assert!(message.contains(ADVICE), "{what}: no advice: {message}");
    }
}

/// Reopens `dir` and checks the chain up to its tip: every block, header and certificate
/// present and linked. Returns the tip height.
fn assert_consistent(dir: &Path, what: &str) -> u64 {
    let store = Database::open(dir, &common::genesis_hash())
        .unwrap_or_else(|e| panic!("{what}: the store does not open: {e}"));
    let tip = store.tip().expect("tip reads").expect("blocks survive");
    let mut parent = common::genesis_hash();
    for height in 1..=tip.height {
        let block = store
            .block(height)
            .expect("reads")
            .unwrap_or_else(|| panic!("{what}: block {height} is missing"));
        assert_eq!(block.header.parent, parent, "{what}: block {height} parent");
        let certificate = store.certificate(height).expect("reads").expect("stored");
        assert_eq!(certificate.block_hash, block.hash(), "{what}: certificate");
        parent = block.hash();
    }
    assert_eq!(parent, tip.block_hash, "{what}: the tip is the last block");
    tip.height
}

#[test]
fn a_torn_log_tail_recovers_to_a_consistent_tip() {
    let fixture = Fixture::new(false);
    // A crash tears at most the last record (it was never acknowledged): cut into it, or leave
    // zeros where RocksDB had preallocated space.
    for cut in [1, 7, 40] {
        let copy = fixture.copy();
        let log = newest(copy.path(), ".log");
        set_len(&log, len(&log) - cut);
        let height = assert_consistent(copy.path(), &format!("log cut by {cut} bytes"));
        assert_eq!(
            height, BLOCKS,
            "cutting {cut} bytes loses only the WAL record"
        );
    }
    let copy = fixture.copy();
    let log = newest(copy.path(), ".log");
    set_len(&log, len(&log) + 4096);
    assert_eq!(
        assert_consistent(copy.path(), "zeros after the log"),
        BLOCKS
    );
}

#[test]
fn files_rocksdb_does_not_need_to_recover_may_go_missing() {
    let fixture = Fixture::new(true);
    for part in ["OPTIONS", "IDENTITY", "LOG"] {
        let copy = fixture.copy();
        for file in files(copy.path(), part) {
            std::fs::remove_file(file).expect("delete");
        }
        assert_eq!(assert_consistent(copy.path(), part), BLOCKS);
    }
}

/// The table file of column family `family` (opened read-only to ask RocksDB).
fn table_of(dir: &Path, family: &str) -> PathBuf {
    let db = rocksdb::DB::open_cf_for_read_only(
        &rocksdb::Options::default(),
        dir,
        cassia_storage::tables::ALL,
        false,
    )
    .expect("opens read-only");
    let live = db.live_files().expect("live files");
    let file = live
        .iter()
        .filter(|f| f.column_family_name == family)
        .max_by_key(|f| f.size)
        .unwrap_or_else(|| panic!("no table file for {family}"));
    dir.join(file.name.trim_start_matches('/'))
}

#[test]
fn damaged_table_data_is_an_error_on_read_never_other_data() {
    let fixture = Fixture::new(true);
    let copy = fixture.copy();
    // The first data block of each table: its checksum no longer matches.
    flip(&table_of(copy.path(), "blocks"), 16, 16);
    flip(&table_of(copy.path(), "state"), 16, 16);
    // The metadata and headers are intact, so the store opens...
    let store = Database::open(copy.path(), &common::genesis_hash()).expect("opens");
    // ...and every block read is the stored block or an error, never another block.
    let mut errors = 0;
    for height in 1..=BLOCKS {
        let header = store
            .header(height)
            .expect("headers are intact")
            .expect("stored");
        match store.block(height) {
            Ok(Some(block)) => assert_eq!(block.header, header, "block {height}"),
            Ok(None) => panic!("block {height} reads as absent"),
            Err(error) => {
                assert!(error.to_string().contains("Corruption"), "{error}");
                errors += 1;
            }
        }
    }
    assert!(errors > 0, "the damaged block table was never read");
    // A damaged state read cannot be reported through the infallible StateReader: it reads as
    // absent and poisons the store, so the WAL write that must precede any vote is refused.
    assert!(!store.is_poisoned());
    let _ = StateReader::get(&store, b"gov/validators");
    assert!(store.is_poisoned(), "a failed state read poisons the store");
    let refused = store
        .save_consensus_state(b"a vote")
        .expect_err("no write after a failed read");
    assert!(matches!(refused, StorageError::Poisoned(_)), "{refused}");
}

/// A node killed while it creates its database (its first milliseconds) leaves the creation
/// marker: the next open empties the directory and creates the database afresh, instead of
/// refusing a database with no genesis hash as one that lost its records.
#[test]
fn a_creation_cut_short_is_discarded_and_the_next_open_creates_the_database() {
    let home = tempfile::tempdir().expect("temp dir");
    let data = home.path().join("data");
    // What a kill between RocksDB creating its files and the genesis hash being written leaves.
    std::fs::create_dir(&data).expect("data directory");
    std::fs::write(data.join(CREATION_MARKER), b"").expect("marker");
    drop(rocksdb::DB::open_default(&data).expect("a bare RocksDB database"));
    assert!(data.join("CURRENT").exists());

    let store = Database::open(&data, &common::genesis_hash()).expect("created afresh");
    assert_eq!(store.tip().expect("tip"), None);
    drop(store);
    assert!(!data.join(CREATION_MARKER).exists(), "the marker is gone");
    Database::open(&data, &common::genesis_hash()).expect("and it opens again");

    // Without the marker, the same bare database has lost its records.
    let bare = home.path().join("bare");
    drop(rocksdb::DB::open_default(&bare).expect("a bare RocksDB database"));
    let error = Database::open(&bare, &common::genesis_hash()).expect_err("refused");
    assert!(error.to_string().contains("lost its records"), "{error}");
}

/// A data directory that holds files but no database (no `CURRENT`: deleted, or never one of
/// ours) is refused, not filled with a fresh database among them.
#[test]
fn files_without_a_database_are_refused_not_overwritten() {
    let copy = Fixture::new(true).copy();
    std::fs::remove_file(copy.path().join("CURRENT")).expect("remove CURRENT");
    let error = Database::open(copy.path(), &common::genesis_hash()).expect_err("refused");
    let message = error.to_string();
    assert!(matches!(error, StorageError::Corrupt(_)), "{message}");
    assert!(message.contains("CURRENT file is missing"), "{message}");
    assert!(message.contains(ADVICE), "{message}");
    assert!(
        message.contains(&copy.path().display().to_string()),
        "{message}"
    );
}
