//! The standalone `sync` command: runs an Airbyte source into a destination without the platform.
//!
//! A sync file (YAML or JSON) names both connectors (binary or docker image) and their configs, the streams
//! and a state folder. `sync run FILE` discovers, builds the configured catalog (with generation and sync ids),
//! pipes `read` into `write`, stores every acknowledged state atomically, logs under `<state>/logs/`, and
//! prints a summary. Without a file it runs the embedded default (the sample workbook to local Parquet).

pub mod catalog;
pub mod config;
pub mod pipeline;
pub mod state;

pub use config::SyncConfig;
pub use pipeline::{run, RunOptions, RunSummary, Side};
