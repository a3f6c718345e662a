//! Builders for the protocol messages tests feed to connectors, in the shape the platform sends them.

use serde_json::{json, Value};

/// `{"name": stream, "namespace": namespace}` (namespace only when given).
pub fn descriptor(stream: &str, namespace: Option<&str>) -> Value {
    let mut d = json!({"name": stream});
    if let Some(ns) = namespace {
        d["namespace"] = json!(ns);
    }
    d
}

/// A RECORD message.
pub fn record(stream: &str, namespace: Option<&str>, data: Value, emitted_at: i64) -> Value {
    let mut r = json!({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": emitted_at}});
    if let Some(ns) = namespace {
        r["record"]["namespace"] = json!(ns);
    }
    r
}

/// A per-stream STATE message carrying `stream_state`.
pub fn stream_state(stream: &str, namespace: Option<&str>, stream_state: Value) -> Value {
    json!({"type": "STATE", "state": {"type": "STREAM",
        "stream": {"stream_descriptor": descriptor(stream, namespace), "stream_state": stream_state}}})
}

/// A STREAM_STATUS trace (`STARTED`, `RUNNING`, `COMPLETE`, `INCOMPLETE`).
pub fn stream_status(stream: &str, namespace: Option<&str>, status: &str) -> Value {
    json!({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1.0,
        "stream_status": {"stream_descriptor": descriptor(stream, namespace), "status": status}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_only_when_given() {
        assert_eq!(descriptor("s", None), json!({"name": "s"}));
        let state = stream_state("s", Some("ns"), json!({"cursor": 3}));
        assert_eq!(state["state"]["stream"]["stream_descriptor"], json!({"name": "s", "namespace": "ns"}));
        assert_eq!(state["state"]["stream"]["stream_state"]["cursor"], 3);
        assert_eq!(record("s", None, json!({"a": 1}), 5)["record"].get("namespace"), None);
        assert_eq!(stream_status("s", None, "COMPLETE")["trace"]["stream_status"]["status"], "COMPLETE");
    }
}
