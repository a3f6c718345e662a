//! post-sync
