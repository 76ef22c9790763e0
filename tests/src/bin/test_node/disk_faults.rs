//! Disk faults for `test-node`, so the fault suite can break a running node's disk the way
//! deployments break it (issue 14, part 6):
//!
//! - **a full disk** (`--max-file-bytes N`): `RLIMIT_FSIZE` on the process, so a write that would
//!   grow a file past N bytes fails with `EFBIG`, as a write fails with `ENOSPC` on a full disk.
//!   SIGXFSZ, which the kernel also sends, is caught so that the failed write is all that
//!   happens.
//! - **fsync failing** (`--fail-fsync-when FILE`): this binary defines `fsync` and `fdatasync`
//!   itself, so every call the node makes (RocksDB's, and the standard library's) comes here
//!   instead of to libc: each passes to the kernel until FILE exists, and from then on each
//!   fails with `EIO` (a disk whose writeback failed stays failed until the process restarts, as
//!   Linux reports a writeback error once and then forgets it).
//!
//! Both are in this binary only: nothing in the production crates changes, and `cassia node`
//! calls libc's `fsync` directly.

use std::ffi::c_int;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

/// SIGXFSZ on Linux: sent when a write passes `RLIMIT_FSIZE`.
const SIGXFSZ: c_int = libc::SIGXFSZ;

/// The file whose existence makes every later fsync fail (`--fail-fsync-when`).
static FSYNC_TRIGGER: OnceLock<PathBuf> = OnceLock::new();

/// Set by the first fsync that saw the trigger: every later one fails too.
static FSYNC_FAILED: AtomicBool = AtomicBool::new(false);

/// Makes every fsync and fdatasync of this process fail with `EIO` once `trigger` exists.
pub fn fail_fsync_when(trigger: PathBuf) -> Result<()> {
    let shown = trigger.display().to_string();
    FSYNC_TRIGGER
        .set(trigger)
        .map_err(|_| anyhow::anyhow!("--fail-fsync-when given twice"))?;
    tracing::warn!(
        trigger = shown,
        "fsync fails once the trigger file exists (--fail-fsync-when); cassia-tests test-node only"
    );
    Ok(())
}

/// Whether this fsync must fail; the first that must says so in the log.
fn fsync_fails() -> bool {
    if FSYNC_FAILED.load(Ordering::Acquire) {
        return true;
    }
    let Some(trigger) = FSYNC_TRIGGER.get() else {
        return false;
    };
    if !trigger.exists() {
        return false;
    }
    if !FSYNC_FAILED.swap(true, Ordering::AcqRel) {
        tracing::warn!("injected fault: fsync and fdatasync fail with EIO from now on");
    }
    true
}

/// The sync system call `number` on `fd` as the C function returns it: -1 with errno `EIO` if
/// the fault is on, else the kernel's answer (the raw `syscall` wrapper sets errno itself).
fn sync(number: libc::c_long, fd: c_int) -> c_int {
    if fsync_fails() {
        // SAFETY: `__errno_location` returns this thread's errno, valid for the thread's life.
        #[allow(unsafe_code)]
        unsafe {
            *libc::__errno_location() = libc::EIO;
        }
        return -1;
    }
    // SAFETY: both sync calls take a file descriptor and touch no memory of ours.
    #[allow(unsafe_code)]
    let raw = unsafe { libc::syscall(number, fd) };
    c_int::try_from(raw).unwrap_or(-1)
}

/// `fsync(2)`, interposed: the node's calls (RocksDB's directory and MANIFEST syncs, the
/// standard library's `File::sync_all`) resolve to this definition at link time.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn fsync(fd: c_int) -> c_int {
    sync(libc::SYS_fsync, fd)
}

/// `fdatasync(2)`, interposed: RocksDB syncs its log (every block and consensus-WAL write)
/// with it.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn fdatasync(fd: c_int) -> c_int {
    sync(libc::SYS_fdatasync, fd)
}

/// Caps the size of every file this process writes at `bytes`: catches SIGXFSZ (so a write past
/// the cap fails with EFBIG instead of killing the process), then sets `RLIMIT_FSIZE` on itself.
pub fn limit_file_size(bytes: u64) -> Result<()> {
    let (caught, ready) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("sigxfsz".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let Ok(runtime) = runtime else {
                let _ = caught.send(false);
                return;
            };
            runtime.block_on(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let Ok(mut signals) = signal(SignalKind::from_raw(SIGXFSZ)) else {
                    let _ = caught.send(false);
                    return;
                };
                let _ = caught.send(true);
                while signals.recv().await.is_some() {
                    tracing::warn!("SIGXFSZ: a write passed --max-file-bytes");
                }
            });
        })
        .context("cannot start the SIGXFSZ thread")?;
    if !ready.recv().unwrap_or(false) {
        bail!("cannot catch SIGXFSZ");
    }
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: `limit` is a valid rlimit that outlives the call.
    #[allow(unsafe_code)]
    let status = unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) };
    if status != 0 {
        bail!(
            "cannot cap file sizes at {bytes} bytes: setrlimit(RLIMIT_FSIZE): {}",
            std::io::Error::last_os_error()
        );
    }
    tracing::warn!(
        bytes,
        "file sizes capped (--max-file-bytes); cassia-tests test-node only"
    );
    Ok(())
}
