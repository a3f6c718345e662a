//! Loading the JSON files the platform hands a connector: config, configured catalog and state.
//! Every error is a config_error that names the file and the JSON path of the problem.

use crate::error::{ConnectorError, Result};
use crate::message::{ConfiguredAirbyteCatalog, StateMessage, StateType, StreamDescriptor, SyncMode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// Read a file as JSON; a BOM is tolerated.
pub fn read_json(path: &Path, what: &str) -> Result<Value> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConnectorError::config(format!("cannot read {what} file {}: {e}", path.display())))?;
    parse_json(&bytes, &format!("{what} file {}", path.display()))
}

/// Parse JSON bytes, naming `label` and the line/column on error.
pub fn parse_json(bytes: &[u8], label: &str) -> Result<Value> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(bytes).map_err(|e| ConnectorError::config(format!("{label} is not valid JSON: {e}")))
}

/// Deserialize a value into a typed struct; errors name the JSON path (`streams[0].sync_mode`).
pub fn from_value<T: DeserializeOwned>(value: Value, label: &str) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ConnectorError::config(format!("{label}: invalid value at `{path}`: {inner}"))
    })
}

/// Load and check a configured catalog.
pub fn load_catalog(path: &Path) -> Result<ConfiguredAirbyteCatalog> {
    let label = format!("configured catalog {}", path.display());
    let catalog: ConfiguredAirbyteCatalog = from_value(read_json(path, "configured catalog")?, &label)?;
    validate_catalog(&catalog).map_err(|e| e.context(&label))?;
    Ok(catalog)
}

/// Rules every configured catalog must satisfy: unique streams, cursor for incremental (unless source-defined).
pub fn validate_catalog(catalog: &ConfiguredAirbyteCatalog) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, s) in catalog.streams.iter().enumerate() {
        if s.stream.name.is_empty() {
            return Err(ConnectorError::config(format!("streams[{i}]: stream name is empty")));
        }
        if !seen.insert(s.descriptor()) {
            return Err(ConnectorError::config(format!("streams[{i}]: stream {} is configured twice", s.descriptor())));
        }
    }
    Ok(())
}

/// The input state, as the platform, CAT and PyAirbyte send it.
#[derive(Debug, Clone, Default)]
pub struct InputState {
    streams: HashMap<StreamDescriptor, Value>,
    /// GLOBAL shared state, if a GLOBAL state was given.
    pub shared: Option<Value>,
    /// A LEGACY blob (read-only support).
    pub legacy: Option<Value>,
}

impl InputState {
    /// Load from an optional `--state` file: absent, `[]`, an array of STREAM/GLOBAL/LEGACY states, or a legacy object.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        match path {
            None => Ok(Self::default()),
            Some(p) => {
                Self::from_value(read_json(p, "state")?).map_err(|e| e.context(format!("state file {}", p.display())))
            }
        }
    }

    pub fn from_value(value: Value) -> Result<Self> {
        let mut st = InputState::default();
        match value {
            Value::Null => {}
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    let msg: StateMessage = from_value(item, &format!("[{i}]"))?;
                    st.add(msg, i)?;
                }
            }
            Value::Object(map)
                if map.contains_key("type") || map.contains_key("stream") || map.contains_key("global") =>
            {
                let msg: StateMessage = from_value(Value::Object(map), "state")?;
                st.add(msg, 0)?;
            }
            Value::Object(map) => st.legacy = Some(Value::Object(map)),
            other => {
                return Err(ConnectorError::config(format!(
                    "expected an array of state messages, got {}",
                    json_kind(&other)
                )))
            }
        }
        Ok(st)
    }

    fn add(&mut self, msg: StateMessage, i: usize) -> Result<()> {
        match msg.state_type() {
            StateType::Stream => {
                let s = msg
                    .stream
                    .ok_or_else(|| ConnectorError::config(format!("[{i}]: STREAM state has no `stream` object")))?;
                if let Some(v) = s.stream_state {
                    self.streams.insert(s.stream_descriptor, v);
                }
            }
            StateType::Global => {
                let g = msg
                    .global
                    .ok_or_else(|| ConnectorError::config(format!("[{i}]: GLOBAL state has no `global` object")))?;
                self.shared = g.shared_state;
                for s in g.stream_states {
                    if let Some(v) = s.stream_state {
                        self.streams.insert(s.stream_descriptor, v);
                    }
                }
            }
            StateType::Legacy => self.legacy = msg.data,
        }
        Ok(())
    }

    /// The saved state of one stream (also found in a legacy blob keyed by stream name).
    pub fn stream(&self, descriptor: &StreamDescriptor) -> Option<&Value> {
        self.streams.get(descriptor).or_else(|| self.legacy.as_ref().and_then(|l| l.get(&descriptor.name)))
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() && self.shared.is_none() && self.legacy.is_none()
    }
}

/// Whether a configured stream should be read incrementally: PyAirbyte asks for incremental on every stream,
/// so a stream that supports only full refresh is read in full.
pub fn reads_incrementally(stream: &crate::message::ConfiguredAirbyteStream) -> bool {
    stream.sync_mode == SyncMode::Incremental && stream.stream.supported_sync_modes.contains(&SyncMode::Incremental)
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_forms() {
        assert!(InputState::from_value(json!([])).unwrap().is_empty());
        let st = InputState::from_value(
            json!([{"type":"STREAM","stream":{"stream_descriptor":{"name":"a"},"stream_state":{"c":1}}}]),
        )
        .unwrap();
        assert_eq!(st.stream(&StreamDescriptor::new("a", None)), Some(&json!({"c":1})));
        let st = InputState::from_value(json!([{"type":"GLOBAL","global":{"shared_state":{"x":1},"stream_states":[{"stream_descriptor":{"name":"b","namespace":"n"},"stream_state":{"c":2}}]}}])).unwrap();
        assert_eq!(st.stream(&StreamDescriptor::new("b", Some("n".into()))), Some(&json!({"c":2})));
        assert_eq!(st.shared, Some(json!({"x":1})));
        let st = InputState::from_value(json!({"a": {"c": 3}})).unwrap();
        assert_eq!(st.stream(&StreamDescriptor::new("a", None)), Some(&json!({"c":3})));
        let e = InputState::from_value(json!([{"type":"STREAM"}])).unwrap_err();
        assert!(e.is_config() && e.message.contains("[0]"), "{e}");
        assert!(InputState::from_value(json!("x")).is_err());
    }

    #[test]
    fn invalid_catalog_names_the_path() {
        let v = json!({"streams":[{"stream":{"name":"__AIRBYTE__stream_that_does_not_exist","json_schema":{},"supported_sync_modes":["full_refresh"]},"sync_mode":"INVALID","destination_sync_mode":"INVALID"}]});
        let e = from_value::<ConfiguredAirbyteCatalog>(v, "catalog").unwrap_err();
        assert!(e.is_config());
        assert!(e.message.contains("streams[0].sync_mode"), "{}", e.message);
    }
}
