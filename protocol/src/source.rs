//! Source helpers: per-stream writers that emit records, STREAM states with `sourceStats`, and the
//! STARTED -> RUNNING -> COMPLETE/INCOMPLETE stream statuses in the order the platform expects.

use crate::error::Result;
use crate::message::{
    AirbyteMessage, ControlMessage, EstimateTrace, EstimateType, Extra, FieldChange, StateMessage, StateStats,
    StreamDescriptor, StreamStatus, TraceMessage,
};
use crate::output::Output;
use serde::Serialize;
use serde_json::Value;

/// What a source's `read` writes to. Cheap to clone; clones share the output.
#[derive(Clone)]
pub struct SourceOutput {
    out: Output,
}

impl SourceOutput {
    pub fn new(out: Output) -> Self {
        SourceOutput { out }
    }
    pub fn output(&self) -> &Output {
        &self.out
    }
    /// Start a stream: emits STARTED now, RUNNING with the first record, INCOMPLETE if dropped unfinished.
    pub fn start_stream(&self, descriptor: StreamDescriptor) -> Result<StreamWriter> {
        StreamWriter::start(self.out.clone(), descriptor)
    }
    /// Tell the platform to persist an updated config (e.g. a rotated refresh token).
    pub fn control_config(&self, config: Value) -> Result<()> {
        self.out.emit(&AirbyteMessage::control(ControlMessage::connector_config(config)))
    }
    /// An ESTIMATE for the whole sync.
    pub fn estimate_sync(&self, rows: Option<i64>, bytes: Option<i64>) -> Result<()> {
        self.out.emit(&AirbyteMessage::trace(TraceMessage::estimate(EstimateTrace {
            name: "sync".into(),
            kind: EstimateType::Sync,
            namespace: None,
            row_estimate: rows,
            byte_estimate: bytes,
            extra: Extra::new(),
        })))
    }
}

/// Writes one stream's records and states. Records are buffered locally and handed to the shared output
/// in blocks, so parallel streams do not contend per record.
pub struct StreamWriter {
    out: Output,
    descriptor: StreamDescriptor,
    record_prefix: Vec<u8>,
    buf: Vec<u8>,
    since_state: u64,
    total: u64,
    running: bool,
    finished: bool,
}

const BLOCK: usize = 128 * 1024;

impl StreamWriter {
    fn start(out: Output, descriptor: StreamDescriptor) -> Result<Self> {
        let mut prefix = br#"{"type":"RECORD","record":{"stream":"#.to_vec();
        serde_json::to_writer(&mut prefix, &descriptor.name)?;
        if let Some(ns) = &descriptor.namespace {
            prefix.extend_from_slice(br#","namespace":"#);
            serde_json::to_writer(&mut prefix, ns)?;
        }
        prefix.extend_from_slice(br#","emitted_at":"#);
        out.emit(&AirbyteMessage::trace(TraceMessage::stream_status(descriptor.clone(), StreamStatus::Started)))?;
        Ok(StreamWriter {
            out,
            descriptor,
            record_prefix: prefix,
            buf: Vec::with_capacity(BLOCK + 4096),
            since_state: 0,
            total: 0,
            running: false,
            finished: false,
        })
    }

    pub fn descriptor(&self) -> &StreamDescriptor {
        &self.descriptor
    }
    /// Records emitted in total on this stream.
    pub fn total(&self) -> u64 {
        self.total
    }

    fn mark_running(&mut self) -> Result<()> {
        if !self.running {
            self.running = true;
            self.out.emit(&AirbyteMessage::trace(TraceMessage::stream_status(
                self.descriptor.clone(),
                StreamStatus::Running,
            )))?;
        }
        Ok(())
    }

    /// Emit a record whose `data` is already serialised JSON (an object).
    pub fn record_raw(&mut self, data_json: &[u8]) -> Result<()> {
        self.record_raw_with_changes(data_json, &[])
    }

    /// Emit a record with `meta.changes` (fields nulled or truncated by the source).
    pub fn record_raw_with_changes(&mut self, data_json: &[u8], changes: &[FieldChange]) -> Result<()> {
        self.mark_running()?;
        self.buf.extend_from_slice(&self.record_prefix);
        let mut itoa = [0u8; 24];
        self.buf.extend_from_slice(fmt_i64(crate::now_millis(), &mut itoa));
        self.buf.extend_from_slice(br#","data":"#);
        self.buf.extend_from_slice(data_json);
        if !changes.is_empty() {
            self.buf.extend_from_slice(br#","meta":{"changes":"#);
            serde_json::to_writer(&mut self.buf, changes)?;
            self.buf.push(b'}');
        }
        self.buf.extend_from_slice(b"}}\n");
        self.since_state += 1;
        self.total += 1;
        if self.buf.len() >= BLOCK {
            self.flush_records(false)?;
        }
        Ok(())
    }

    /// Emit a record from any serialisable object.
    pub fn record<T: Serialize + ?Sized>(&mut self, data: &T) -> Result<()> {
        let bytes = serde_json::to_vec(data)?;
        self.record_raw(&bytes)
    }

    fn flush_records(&mut self, flush: bool) -> Result<()> {
        if !self.buf.is_empty() || flush {
            self.out.write_lines(&self.buf, flush)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Emit a STREAM state after the records before it, with `sourceStats.recordCount` = records since the last state.
    pub fn state(&mut self, stream_state: Value) -> Result<()> {
        self.flush_records(false)?;
        let mut msg = StateMessage::stream(self.descriptor.clone(), stream_state);
        msg.source_stats = Some(StateStats::count(self.since_state));
        self.since_state = 0;
        self.out.emit(&AirbyteMessage::state(msg))
    }

    /// An ESTIMATE for this stream.
    pub fn estimate(&mut self, rows: Option<i64>, bytes: Option<i64>) -> Result<()> {
        self.flush_records(false)?;
        self.out.emit(&AirbyteMessage::trace(TraceMessage::estimate(EstimateTrace {
            name: self.descriptor.name.clone(),
            kind: EstimateType::Stream,
            namespace: self.descriptor.namespace.clone(),
            row_estimate: rows,
            byte_estimate: bytes,
            extra: Extra::new(),
        })))
    }

    /// Finish the stream successfully. Emits RUNNING first if no record was emitted (the order CAT checks).
    pub fn complete(mut self) -> Result<()> {
        self.flush_records(false)?;
        self.mark_running()?;
        self.finished = true;
        self.out
            .emit(&AirbyteMessage::trace(TraceMessage::stream_status(self.descriptor.clone(), StreamStatus::Complete)))
    }

    /// Finish the stream as failed (also done on drop).
    pub fn incomplete(mut self) -> Result<()> {
        self.finish_incomplete()
    }

    fn finish_incomplete(&mut self) -> Result<()> {
        self.finished = true;
        self.flush_records(false)?;
        self.out.emit(&AirbyteMessage::trace(TraceMessage::stream_status(
            self.descriptor.clone(),
            StreamStatus::Incomplete,
        )))
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.finish_incomplete();
        }
    }
}

fn fmt_i64(v: i64, buf: &mut [u8; 24]) -> &[u8] {
    use std::io::Write;
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cur, "{v}");
    let n = cur.position() as usize;
    &buf[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_and_stats() {
        let out = Output::in_memory();
        let src = SourceOutput::new(out.clone());
        let mut w = src.start_stream(StreamDescriptor::new("s", Some("n".into()))).unwrap();
        w.record(&json!({"a":1})).unwrap();
        w.record(&json!({"a":2})).unwrap();
        w.state(json!({"c":2})).unwrap();
        w.state(json!({"c":2})).unwrap();
        w.complete().unwrap();
        let _dropped = src.start_stream(StreamDescriptor::new("t", None)).unwrap();
        drop(_dropped);
        let lines: Vec<Value> = out.captured_lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let kinds: Vec<String> = lines
            .iter()
            .map(|m| match m["type"].as_str().unwrap() {
                "TRACE" => m["trace"]["stream_status"]["status"].as_str().unwrap().to_string(),
                t => t.to_string(),
            })
            .collect();
        assert_eq!(
            kinds,
            ["STARTED", "RUNNING", "RECORD", "RECORD", "STATE", "STATE", "COMPLETE", "STARTED", "INCOMPLETE"]
        );
        assert_eq!(lines[2]["record"]["namespace"], "n");
        assert_eq!(lines[2]["record"]["data"], json!({"a":1}));
        assert!(lines[2]["record"]["emitted_at"].as_i64().unwrap() > 1_600_000_000_000);
        let raw = out.captured_lines()[4].clone();
        assert!(raw.contains(r#""sourceStats":{"recordCount":2.0}"#), "{raw}");
        assert_eq!(lines[5]["state"]["sourceStats"]["recordCount"], json!(0.0));
    }
}
