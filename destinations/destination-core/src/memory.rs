//! Keeping a long sync's memory flat under glibc's allocator.
//!
//! glibc gives each thread that allocates an arena of its own (up to eight per core) and keeps freed memory
//! in them. Every Parquet file gets new encoding threads, so over a long sync more and more arenas hold freed
//! row-group buffers, and the peak RSS creeps up with input size although the live data does not.

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

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        // SAFETY: sysconf only reads a system constant.
        pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
    }

    #[test]
    fn freed_memory_goes_back_to_the_system() {
        const MB: usize = 1 << 20;
        // 64 MB in blocks below glibc's mmap threshold, so they live on the heap, with a block kept above
        // them: free() alone cannot shrink the heap past it.
        let blocks: Vec<Vec<u8>> = (0..2048).map(|i| vec![i as u8 | 1; 32 * 1024]).collect();
        let above = vec![1u8; 1024];
        drop(blocks);
        let before = resident_bytes();
        release_freed_memory();
        let after = resident_bytes();
        assert!(before.saturating_sub(after) > 32 * MB, "resident {} MB -> {} MB", before / MB, after / MB);
        assert_eq!(above[0], 1);
    }
}
