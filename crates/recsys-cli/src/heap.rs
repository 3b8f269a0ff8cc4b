// SPDX-License-Identifier: Apache-2.0
//! A global allocator that counts heap bytes in use and their peak, so `recsys train` can
//! report its own memory instead of relying on RSS (which also counts the binary, thread
//! stacks and pages the C allocator keeps after a free).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The system allocator, counted.
pub struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(now, Relaxed);
}

fn shrank(bytes: usize) {
    CURRENT.fetch_sub(bytes, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments and only adds
// bookkeeping, so `System`'s guarantees carry over.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract on `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Counted as if the new block existed before the old one was freed, as when
            // realloc has to copy: the peak is an upper bound, never an underestimate.
            grew(new_size);
            shrank(layout.size());
        }
        p
    }
}

/// Most heap bytes in use at any moment so far.
pub fn peak_bytes() -> usize {
    PEAK.load(Relaxed)
}

/// Peak resident set size of this process in bytes (`VmHWM`), where the system reports it
/// (Linux). Unlike a parent's `wait4` figure it does not include the parent's pages from
/// before `exec`.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_block_while_it_lives() {
        // Tests share the global allocator with other threads, so only a lower bound on the
        // peak can be asserted: it covers this block while it lives.
        let before = peak_bytes();
        let block = vec![1u8; 64 << 20];
        assert!(peak_bytes() >= (64 << 20).max(before));
        drop(block);
    }

    #[test]
    fn reads_peak_rss_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = peak_rss_bytes().unwrap();
            // A running test binary has more than 1 MiB resident and less than 1 TiB.
            assert!(rss > 1 << 20 && rss < 1 << 40, "{rss}");
        }
    }
}
