//! Keeping a long sync's memory flat under glibc's allocator.
//!
//! glibc gives each thread that allocates an arena of its own (up to eight per core) and keeps freed memory
//! in them. Where Parquet files get new encoding threads, over a long sync more and more arenas hold freed
//! row-group buffers, and the peak RSS creeps up with input size although the live data does not. Handing
//! freed memory back has a price too, so the destinations do it only above [`RELEASE_ABOVE_BYTES`].

/// Allocator arenas a destination process uses (glibc; a no-op elsewhere). Call before the threads that do
/// the work start; threads that already have an arena keep it.
pub fn limit_allocator_arenas(arenas: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; M_ARENA_MAX takes any positive count.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas.clamp(1, 64) as libc::c_int);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
}

/// Hand memory freed by the allocator back to the operating system (glibc; a no-op elsewhere). Called after
/// files are committed, when their row-group buffers have just been freed; it walks the heaps, so not per
/// record or batch.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's heaps to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// [`release_freed_memory`] on a thread of its own, for the end of a sync: the pages go back while the caller
/// waits for an upload, not at exit, where the kernel unmaps them after the last message (about 5 ms at 1M
/// records). Only worth it beside a long wait: the release holds each heap's lock while it walks it, so
/// threads that allocate meanwhile wait for it. Returns the thread's handle (for tests; callers drop it), or
/// `None` when no thread could be started (then nothing is released early, and nothing else changes).
pub fn release_freed_memory_in_background() -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("release-memory".into()).spawn(release_freed_memory).ok()
}

/// Own resident memory (not counting mapped files) above which [`release_freed_memory_when_large`] hands
/// freed memory back: half the 256 MB the destinations aim to stay under.
pub const RELEASE_ABOVE_BYTES: usize = 128 << 20;

/// [`release_freed_memory`] while the process's own resident memory is above [`RELEASE_ABOVE_BYTES`]. Below
/// it the allocator keeps the freed pages for the next file: trimming walks every heap holding its lock, so
/// each thread that allocates meanwhile waits, and the pages it returns fault in again, zeroed, when the next
/// file fills (at 1M narrow records, 20% of the page faults; at 2M, about 5% of the time).
pub fn release_freed_memory_when_large() {
    release_freed_memory_above(RELEASE_ABOVE_BYTES);
}

fn release_freed_memory_above(limit: usize) {
    if resident_memory_above(limit) {
        release_freed_memory();
    }
}

/// Whether the process's own resident memory is above [`RELEASE_ABOVE_BYTES`] (always, where it is not
/// known): memory-saving steps that cost time are worth it then.
pub fn resident_memory_is_large() -> bool {
    resident_memory_above(RELEASE_ABOVE_BYTES)
}

/// Own resident memory above `limit`, or not known.
fn resident_memory_above(limit: usize) -> bool {
    own_resident_bytes().is_none_or(|resident| resident > limit)
}

/// Resident pages that are not shared file pages (the mapped input is not ours to free), in bytes.
fn own_resident_bytes() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let mut fields = statm.split_whitespace().skip(1).map(|f| f.parse::<usize>().ok());
        let (resident, shared) = (fields.next()??, fields.next()??);
        // SAFETY: sysconf only reads a system constant.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
        Some(resident.saturating_sub(shared) * page)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// The tests measure the process's resident memory: one at a time.
    static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

    const MB: usize = 1 << 20;

    /// Frees 64 MB of blocks below glibc's mmap threshold, so they lived on the heap, each between two blocks
    /// it returns: free() alone gives none of it back while the caller keeps those (no freed block joins the
    /// top of a heap), only a trim does. (A single block allocated after the freed ones, as before, could land
    /// below them in a gap another test left: then free() itself shrank the heap, and the tests failed now
    /// and then, seeing nothing left to release.)
    fn free_heap_between_kept_blocks() -> Vec<Vec<u8>> {
        let (mut kept, mut freed) = (Vec::new(), Vec::new());
        for i in 0..4096 {
            let block = vec![i as u8 | 1; 32 * 1024];
            if i % 2 == 0 {
                freed.push(block)
            } else {
                kept.push(block)
            }
        }
        drop(freed);
        kept
    }

    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        // SAFETY: sysconf only reads a system constant.
        pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
    }

    fn assert_freed_heap_goes_back(release: impl FnOnce()) {
        let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
        let kept_blocks = free_heap_between_kept_blocks();
        let before = resident_bytes();
        release();
        let after = resident_bytes();
        assert!(before.saturating_sub(after) > 32 * MB, "resident {} MB -> {} MB", before / MB, after / MB);
        assert!(kept_blocks.iter().all(|b| b[0] & 1 == 1));
    }

    #[test]
    fn freed_memory_goes_back_to_the_system() {
        assert_freed_heap_goes_back(release_freed_memory);
    }

    #[test]
    fn freed_memory_goes_back_from_a_thread_of_its_own() {
        assert_freed_heap_goes_back(|| {
            release_freed_memory_in_background().expect("a thread starts").join().expect("the release ends")
        });
    }

    #[test]
    fn freed_memory_is_kept_for_reuse_below_the_limit_and_returned_above_it() {
        let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
        let kept_blocks = free_heap_between_kept_blocks();
        let before = resident_bytes();
        release_freed_memory_above(usize::MAX);
        let kept = resident_bytes();
        assert!(kept + 16 * MB > before, "below the limit nothing goes back: {} MB -> {} MB", before / MB, kept / MB);
        let own = own_resident_bytes().expect("Linux reports resident memory");
        assert!(own > 32 * MB && own <= kept, "own resident {} MB of {} MB", own / MB, kept / MB);
        release_freed_memory_above(own - 1);
        let after = resident_bytes();
        assert!(kept.saturating_sub(after) > 32 * MB, "above the limit: {} MB -> {} MB", kept / MB, after / MB);
        assert!(kept_blocks.iter().all(|b| b[0] & 1 == 1));
    }
}
