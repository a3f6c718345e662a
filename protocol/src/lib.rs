//! The Airbyte protocol v0.18 for Rust connectors: the only crate that knows the wire format.
//!
//! - [`message`]: typed serde model of every message; unknown fields pass through.
//! - [`codec`]: fast line decoding for destinations (`record.data` stays raw).
//! - [`output`]: buffered protocol output with secret masking.
//! - [`cli`]: the `spec/check/discover/read/write` scaffold and the [`cli::Source`] / [`cli::Destination`] traits.
//! - [`files`], [`config`]: loading config, catalog and state with errors that say what and where.
//! - [`source`], [`destination`]: stream status/state helpers and the ordered ack tracker.
//! - [`http`]: the one retrying, rate-limited HTTP helper and pagination.
//! - [`logging`], [`redact`]: `tracing` to LOG messages, secrets masked everywhere.

pub mod cli;
pub mod codec;
pub mod config;
pub mod destination;
pub mod error;
pub mod files;
pub mod http;
pub mod logging;
pub mod message;
pub mod output;
pub mod redact;
pub mod source;

pub use cli::{run_destination, run_source, Destination, Source};
pub use config::Config;
pub use error::{ConnectorError, Result, ResultExt};
pub use files::InputState;
pub use message::*;
pub use output::Output;
pub use source::{SourceOutput, StreamWriter};

/// Wall-clock time in epoch milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
