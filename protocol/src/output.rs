//! Buffered protocol output: one message per line on stdout, flushed on STATE/TRACE and at exit.

use crate::error::{ConnectorError, Result};
use crate::message::{AirbyteMessage, LogLevel, MessageType};
use crate::redact;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

/// A shared, thread-safe sink for protocol lines. Clones write to the same stream.
#[derive(Clone)]
pub struct Output {
    inner: Arc<Mutex<io::BufWriter<Box<dyn Write + Send>>>>,
    /// Kept for tests that capture output in memory.
    captured: Option<Arc<Mutex<Vec<u8>>>>,
}

struct SharedVec(Arc<Mutex<Vec<u8>>>);
impl Write for SharedVec {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Output {
    /// Protocol output on the process's stdout.
    pub fn stdout() -> Self {
        Self::new(Box::new(io::stdout()))
    }
    /// Output to any writer.
    pub fn new(writer: Box<dyn Write + Send>) -> Self {
        Output { inner: Arc::new(Mutex::new(io::BufWriter::with_capacity(256 * 1024, writer))), captured: None }
    }
    /// Output captured in memory; read it back with [`Output::captured_lines`].
    pub fn in_memory() -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let mut out = Self::new(Box::new(SharedVec(buf.clone())));
        out.captured = Some(buf);
        out
    }
    /// Lines written so far (after a flush) when built with [`Output::in_memory`].
    pub fn captured_lines(&self) -> Vec<String> {
        let _ = self.flush();
        match &self.captured {
            Some(buf) => String::from_utf8_lossy(&buf.lock().unwrap_or_else(|e| e.into_inner()))
                .lines()
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        }
    }

    /// Write one message. LOG, TRACE and CONNECTION_STATUS text is passed through the secret mask.
    pub fn emit(&self, message: &AirbyteMessage) -> Result<()> {
        let mut line = serde_json::to_string(message)?;
        if matches!(message.kind, MessageType::Log | MessageType::Trace | MessageType::ConnectionStatus) {
            if let std::borrow::Cow::Owned(masked) = redact::apply(&line) {
                line = masked;
            }
        }
        let flush = !matches!(message.kind, MessageType::Record | MessageType::Log);
        self.write_line(line.as_bytes(), flush)
    }

    /// Write a LOG message.
    pub fn log(&self, level: LogLevel, message: impl Into<String>) -> Result<()> {
        self.emit(&AirbyteMessage::log(level, message))
    }

    /// Write one pre-serialised line (without its newline); `flush` pushes it to the OS now.
    pub fn write_line(&self, line: &[u8], flush: bool) -> Result<()> {
        let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let r = w.write_all(line).and_then(|_| w.write_all(b"\n"));
        let r = if flush { r.and_then(|_| w.flush()) } else { r };
        r.map_err(map_write_error)
    }

    /// Write many pre-serialised lines at once (each already ends with `\n`).
    pub fn write_lines(&self, lines: &[u8], flush: bool) -> Result<()> {
        let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let r = w.write_all(lines);
        let r = if flush { r.and_then(|_| w.flush()) } else { r };
        r.map_err(map_write_error)
    }

    pub fn flush(&self) -> Result<()> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).flush().map_err(map_write_error)
    }
}

/// Nobody reads our stdout any more: end quietly, as `head` expects of a well-behaved program.
fn map_write_error(e: io::Error) -> ConnectorError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    ConnectorError::system(format!("cannot write to stdout: {e}"))
}
