//! destination-core
