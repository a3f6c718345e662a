//! Destination helpers: stream lookup and the ack tracker that releases STATE messages in input order
//! once every record before them is durable, adding `destinationStats.recordCount`.

use crate::error::{ConnectorError, Result};
use crate::message::{
    AirbyteMessage, ConfiguredAirbyteCatalog, StateMessage, StateStats, StateType, StreamDescriptor, StreamStatus,
    TraceMessage, TraceType,
};
use crate::output::Output;
use std::collections::{HashMap, VecDeque};

/// Finds a configured stream's index by name and namespace without allocating per record.
#[derive(Debug, Clone, Default)]
pub struct StreamIndex {
    by_name: HashMap<String, Vec<(Option<String>, usize)>>,
    descriptors: Vec<StreamDescriptor>,
}

impl StreamIndex {
    pub fn new(catalog: &ConfiguredAirbyteCatalog) -> Self {
        let mut idx = StreamIndex::default();
        for (i, s) in catalog.streams.iter().enumerate() {
            let d = s.descriptor();
            idx.by_name.entry(d.name.clone()).or_default().push((d.namespace.clone(), i));
            idx.descriptors.push(d);
        }
        idx
    }
    /// The index of a stream; a record without namespace matches a stream without one.
    pub fn lookup(&self, name: &str, namespace: Option<&str>) -> Option<usize> {
        let candidates = self.by_name.get(name)?;
        candidates.iter().find(|(ns, _)| ns.as_deref() == namespace).map(|(_, i)| *i)
    }
    /// Like [`lookup`](Self::lookup) but a config error naming the stream when it is not in the catalog.
    pub fn require(&self, name: &str, namespace: Option<&str>, line: u64) -> Result<usize> {
        self.lookup(name, namespace).ok_or_else(|| Self::not_in_catalog(name, namespace, line))
    }
    /// The error of [`require`](Self::require), for callers that look up first and number lines later.
    pub fn not_in_catalog(name: &str, namespace: Option<&str>, line: u64) -> ConnectorError {
        let d = StreamDescriptor::new(name, namespace.map(str::to_string));
        ConnectorError::config(format!(
            "input line {line}: record for stream {d} which is not in the configured catalog"
        ))
    }
    pub fn descriptor(&self, i: usize) -> &StreamDescriptor {
        &self.descriptors[i]
    }
    pub fn len(&self) -> usize {
        self.descriptors.len()
    }
    pub fn is_empty(&self) -> bool {
        self.descriptors.is_empty()
    }
}

/// Orders and counts STATE acknowledgements.
///
/// Call [`record`](Self::record) for every record, [`state`](Self::state) for every input state, and
/// [`commit`](Self::commit) when all records received so far (or up to a position) are durable.
pub struct AckTracker {
    out: Output,
    index: StreamIndex,
    records_seen: u64,
    since_stream_state: Vec<u64>,
    since_global: u64,
    pending: VecDeque<(u64, StateMessage)>,
    statuses: Vec<Option<StreamStatus>>,
    any_status: bool,
    acked: u64,
}

impl AckTracker {
    pub fn new(out: Output, index: StreamIndex) -> Self {
        let n = index.len();
        AckTracker {
            out,
            index,
            records_seen: 0,
            since_stream_state: vec![0; n],
            since_global: 0,
            pending: VecDeque::new(),
            statuses: vec![None; n],
            any_status: false,
            acked: 0,
        }
    }
    pub fn index(&self) -> &StreamIndex {
        &self.index
    }
    /// Count `n` records of stream `i`. Returns the position after them.
    pub fn record(&mut self, i: usize, n: u64) -> u64 {
        self.since_stream_state[i] += n;
        self.since_global += n;
        self.records_seen += n;
        self.records_seen
    }
    /// Records received so far: the position to pass to [`commit`](Self::commit) once they are durable.
    pub fn position(&self) -> u64 {
        self.records_seen
    }
    /// Queue an input state; its `destinationStats.recordCount` is fixed now, from the records before it.
    pub fn state(&mut self, mut state: StateMessage, line: u64) -> Result<()> {
        let count = match state.state_type() {
            StateType::Stream => {
                let d = state.stream.as_ref().map(|s| &s.stream_descriptor).ok_or_else(|| {
                    ConnectorError::config(format!("input line {line}: STREAM state without `stream`"))
                })?;
                match self.index.lookup(&d.name, d.namespace.as_deref()) {
                    Some(i) => std::mem::take(&mut self.since_stream_state[i]),
                    // A state for a stream not in the catalog carries no records of ours.
                    None => 0,
                }
            }
            StateType::Global | StateType::Legacy => {
                self.since_stream_state.iter_mut().for_each(|c| *c = 0);
                std::mem::take(&mut self.since_global)
            }
        };
        let mut stats = state.destination_stats.take().unwrap_or_default();
        stats.record_count = Some(count as f64);
        state.destination_stats = Some(stats);
        self.pending.push_back((self.records_seen, state));
        Ok(())
    }
    /// Note a TRACE from stdin (only STREAM_STATUS matters).
    pub fn trace(&mut self, trace: &TraceMessage) {
        if trace.kind != TraceType::StreamStatus {
            return;
        }
        if let Some(st) = &trace.stream_status {
            self.any_status = true;
            let d = &st.stream_descriptor;
            if let Some(i) = self.index.lookup(&d.name, d.namespace.as_deref()) {
                self.statuses[i] = Some(st.status);
            }
        }
    }
    /// Emit, in input order, every queued state whose records (all before position `durable`) are durable.
    pub fn commit(&mut self, durable: u64) -> Result<u64> {
        let mut n = 0;
        while let Some((pos, _)) = self.pending.front() {
            if *pos > durable {
                break;
            }
            let (_, state) = self.pending.pop_front().expect("front exists");
            self.out.emit(&AirbyteMessage::state(state))?;
            n += 1;
        }
        self.acked += n;
        Ok(n)
    }
    /// States waiting for their records to become durable.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
    /// States acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.acked
    }
    /// Whether the sync of stream `i` ended successfully: a COMPLETE status arrived for it, or no status
    /// arrived for any stream at all (the platform sends none to connectors without refresh support) and
    /// the input ended cleanly.
    pub fn stream_succeeded(&self, i: usize) -> bool {
        match self.statuses[i] {
            Some(StreamStatus::Complete) => true,
            Some(_) => false,
            None => !self.any_status,
        }
    }
}

/// Convenience: the `destinationStats` a state carries.
pub fn destination_count(state: &StateMessage) -> Option<f64> {
    state.destination_stats.as_ref().and_then(|s: &StateStats| s.record_count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::*;
    use serde_json::json;

    fn catalog() -> ConfiguredAirbyteCatalog {
        let mk = |n: &str| {
            ConfiguredAirbyteStream::new(
                AirbyteStream::new(n, json!({})),
                SyncMode::FullRefresh,
                DestinationSyncMode::Append,
            )
        };
        ConfiguredAirbyteCatalog { streams: vec![mk("a"), mk("b")], extra: Extra::new() }
    }

    #[test]
    fn acks_in_order_with_per_stream_counts() {
        let out = Output::in_memory();
        let mut t = AckTracker::new(out.clone(), StreamIndex::new(&catalog()));
        t.record(0, 2);
        t.record(1, 1);
        t.state(StateMessage::stream(StreamDescriptor::new("a", None), json!({"x":1})), 4).unwrap();
        t.record(1, 3);
        t.state(StateMessage::stream(StreamDescriptor::new("b", None), json!({"x":2})), 8).unwrap();
        assert_eq!(t.commit(2).unwrap(), 0, "state 1 needs 3 records durable");
        assert_eq!(t.commit(3).unwrap(), 1);
        assert_eq!(t.commit(6).unwrap(), 1);
        let lines = out.captured_lines();
        assert!(lines[0].contains(r#""destinationStats":{"recordCount":2.0}"#), "{}", lines[0]);
        assert!(lines[1].contains(r#""destinationStats":{"recordCount":4.0}"#), "{}", lines[1]);
        assert!(t.stream_succeeded(0), "no statuses at all means clean EOF counts");
        t.trace(&TraceMessage::stream_status(StreamDescriptor::new("a", None), StreamStatus::Complete));
        assert!(t.stream_succeeded(0) && !t.stream_succeeded(1));
    }
}
