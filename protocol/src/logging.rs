//! `tracing` events become Airbyte LOG messages on the protocol output, with secrets masked.
//! The level comes from `LOG_LEVEL` (error, warn, info, debug, trace; default info) or `--debug`.

use crate::message::LogLevel;
use crate::output::Output;
use std::io::Write;
use tracing::Level;
use tracing_subscriber::fmt::MakeWriter;

struct LogSink {
    out: Output,
}

/// Collects one formatted event and emits it as a single LOG message when dropped.
pub struct EventWriter {
    out: Output,
    level: LogLevel,
    buf: Vec<u8>,
}

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let text = text.trim_end();
        if !text.is_empty() {
            let _ = self.out.log(self.level, text);
        }
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = EventWriter;
    fn make_writer(&'a self) -> Self::Writer {
        EventWriter { out: self.out.clone(), level: LogLevel::Info, buf: Vec::new() }
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        let level = match *meta.level() {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE => LogLevel::Trace,
        };
        EventWriter { out: self.out.clone(), level, buf: Vec::new() }
    }
}

/// The level from `LOG_LEVEL`, or DEBUG when `debug` is set.
pub fn level_from_env(debug: bool) -> Level {
    if debug {
        return Level::DEBUG;
    }
    match std::env::var("LOG_LEVEL").unwrap_or_default().to_ascii_lowercase().as_str() {
        "error" => Level::ERROR,
        "warn" | "warning" => Level::WARN,
        "debug" => Level::DEBUG,
        "trace" => Level::TRACE,
        _ => Level::INFO,
    }
}

/// Route `tracing` to LOG messages on `out`. Safe to call more than once (later calls do nothing).
pub fn init(out: Output, level: Level) {
    let _ = tracing_subscriber::fmt()
        .with_writer(LogSink { out })
        .with_max_level(level)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_level(false)
        .try_init();
}
