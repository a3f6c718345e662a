//! Logs of the `post-sync` binary: stderr, `LOG_LEVEL` (default info), every registered secret masked.

use std::io::Write;

/// One event, written to stderr with secrets masked when dropped.
pub struct RedactingWriter(Vec<u8>);

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let _ = std::io::stderr().write_all(airbyte_protocol::redact::apply(&text).as_bytes());
    }
}

/// Install the stderr subscriber (once; later calls do nothing).
pub fn init_stderr() {
    let level = airbyte_protocol::logging::level_from_env(false);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(|| RedactingWriter(Vec::new()))
        .try_init();
}
