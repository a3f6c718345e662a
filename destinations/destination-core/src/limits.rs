//! Process limits a destination raises at start.
//!
//! Every stream with rows in flight holds a staged file and its page spill open, so a sync of a few hundred
//! streams needs more descriptors than the soft limit of 1024 that containers usually start with ("Too many open
//! files" while creating a staging file). The hard limit is the system's real bound; raising the soft one to it is
//! what Go programs do at start too.

/// Raise the soft limit on open files to the hard limit (Unix; elsewhere nothing). Returns the soft limit now in
/// force, or `None` when it cannot be read.
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit and setrlimit only read and write the rlimit structure passed to them.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
        Some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}
