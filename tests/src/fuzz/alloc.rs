//! A counting global allocator, to measure the peak memory one decode takes.
//!
//! Install it in the binary that fuzzes (`#[global_allocator] static A: CountingAllocator =
//! CountingAllocator;`); without it, [`peak_during`] measures nothing and the memory bound is not
//! checked. Counters are per thread, so other threads' allocations do not blur a measurement.

// A `GlobalAlloc` implementation is unsafe by definition; this one only counts and forwards to
// the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator and counts this thread's live and peak bytes.
#[derive(Debug)]
pub struct CountingAllocator;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are plain thread-local
// cells (const-initialised, without destructors), and `try_with` keeps them out of the way
// while a thread is being torn down.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|live| {
            let now = live.get().saturating_add(layout.size());
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(layout.size())));
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Whether [`CountingAllocator`] is the global allocator of this program.
pub fn installed() -> bool {
    let before = LIVE.with(Cell::get);
    let probe = std::hint::black_box(vec![0u8; 256]);
    let during = LIVE.with(Cell::get);
    drop(probe);
    during >= before.saturating_add(256)
}

/// Runs `f`; returns its value and the peak bytes it had allocated at once on this thread
/// (`None` when the counting allocator is not installed).
pub fn peak_during<T>(installed: bool, f: impl FnOnce() -> T) -> (T, Option<usize>) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let value = f();
    let peak = PEAK.with(Cell::get).saturating_sub(start);
    (value, installed.then_some(peak))
}
