//! Support for the fixture connectors in `src/bin/` (harness self-tests only, not shipped).
//!
//! A fixture reads its deliberate defect from `FIXTURE_DEFECT`; output defects are applied by
//! [`Tamper`], a writer that sits between the protocol crate's [`Output`] and the real one and rewrites
//! each line, so the fixtures' good path stays the protocol crate's own code.

use airbyte_protocol::Output;
use serde_json::Value;
use std::io::{self, Write};

/// The env var naming the defect a fixture connector should show.
pub const DEFECT_VAR: &str = "FIXTURE_DEFECT";

/// The defect asked for, or "" for the good connector.
pub fn defect() -> String {
    std::env::var(DEFECT_VAR).unwrap_or_default()
}

/// What to do with one output line.
pub enum Edit {
    Keep,
    Replace(Value),
    Drop,
    /// Hold this line back and write it after the next line of the same type (swaps neighbours).
    HoldUntilNext,
    /// Write the line, then these extra raw lines.
    Append(Vec<String>),
}

/// A line-rewriting writer in front of an [`Output`]. Held lines are written when dropped.
pub struct Tamper<F: FnMut(&mut Value) -> Edit + Send> {
    inner: Output,
    edit: F,
    partial: Vec<u8>,
    held: Option<(String, Vec<u8>)>,
}

impl<F: FnMut(&mut Value) -> Edit + Send + 'static> Tamper<F> {
    /// An [`Output`] whose lines pass through `edit` before reaching `inner`.
    pub fn output(inner: Output, edit: F) -> Output {
        Output::new(Box::new(Tamper { inner, edit, partial: Vec::new(), held: None }))
    }
}

impl<F: FnMut(&mut Value) -> Edit + Send> Tamper<F> {
    fn line(&mut self, line: Vec<u8>) -> io::Result<()> {
        let Ok(mut msg) = serde_json::from_slice::<Value>(&line) else {
            return self.write_raw(&line);
        };
        let kind = msg["type"].as_str().unwrap_or_default().to_string();
        let edit = (self.edit)(&mut msg);
        let written = match edit {
            Edit::Keep => line,
            Edit::Replace(v) => serde_json::to_vec(&v)?,
            Edit::Drop => return Ok(()),
            Edit::HoldUntilNext => {
                if let Some((_, previous)) = self.held.replace((kind, line)) {
                    self.write_raw(&previous)?;
                }
                return Ok(());
            }
            Edit::Append(extra) => {
                self.write_raw(&line)?;
                for e in extra {
                    self.write_raw(e.as_bytes())?;
                }
                return Ok(());
            }
        };
        self.write_raw(&written)?;
        if self.held.as_ref().is_some_and(|(k, _)| *k == kind) {
            let (_, held) = self.held.take().expect("held line");
            self.write_raw(&held)?;
        }
        Ok(())
    }
    fn write_raw(&mut self, line: &[u8]) -> io::Result<()> {
        self.inner.write_line(line, true).map_err(|e| io::Error::other(e.message))
    }
}

impl<F: FnMut(&mut Value) -> Edit + Send> Write for Tamper<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let rest = self.partial.split_off(i + 1);
            let mut line = std::mem::replace(&mut self.partial, rest);
            line.pop();
            self.line(line)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| io::Error::other(e.message))
    }
}

impl<F: FnMut(&mut Value) -> Edit + Send> Drop for Tamper<F> {
    fn drop(&mut self) {
        if let Some((_, held)) = self.held.take() {
            let _ = self.write_raw(&held);
        }
        let _ = self.inner.flush();
    }
}
