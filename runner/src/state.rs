//! The state folder: acknowledged states (written atomically, so a crash or Ctrl-C keeps the last one),
//! generation ids per stream and the sync counter.

use airbyte_protocol::{StateMessage, StateType, StreamDescriptor};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically: a temp file in the same folder, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("state")));
    {
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Per-stream bookkeeping kept between runs.
#[derive(Serialize, Deserialize, Default, Debug, Clone)]
pub struct Bookkeeping {
    /// Incremented for every run.
    pub last_sync_id: i64,
    /// Generation per stream key (`namespace.name`).
    #[serde(default)]
    pub generations: BTreeMap<String, i64>,
}

/// The state folder.
pub struct StateStore {
    dir: PathBuf,
    /// Latest acknowledged state per stream (STREAM states) or the single GLOBAL one.
    states: BTreeMap<String, StateMessage>,
}

pub fn stream_key(d: &StreamDescriptor) -> String {
    match &d.namespace {
        Some(ns) => format!("{ns}.{}", d.name),
        None => d.name.clone(),
    }
}

impl StateStore {
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create state folder {}", dir.display()))?;
        let mut store = StateStore { dir: dir.to_path_buf(), states: BTreeMap::new() };
        let path = store.state_path();
        if path.exists() {
            let text = std::fs::read(&path)?;
            let list: Vec<StateMessage> =
                serde_json::from_slice(&text).with_context(|| format!("state file {} is corrupt", path.display()))?;
            for s in list {
                store.remember(s);
            }
        }
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    fn remember(&mut self, mut s: StateMessage) {
        // Stats belong to one run; the stored state is what the next read starts from.
        s.source_stats = None;
        s.destination_stats = None;
        let key = match (s.state_type(), &s.stream) {
            (StateType::Stream, Some(st)) => stream_key(&st.stream_descriptor),
            (StateType::Global, _) => "__global__".to_string(),
            _ => "__legacy__".to_string(),
        };
        self.states.insert(key, s);
    }

    /// Record a state the destination acknowledged and persist all states atomically.
    pub fn acknowledge(&mut self, s: StateMessage) -> Result<()> {
        self.remember(s);
        self.save()
    }

    /// The states as the `--state` file content (`[]` when none).
    pub fn as_input(&self) -> Value {
        Value::Array(self.states.values().map(|s| serde_json::to_value(s).unwrap_or(Value::Null)).collect())
    }

    /// Forget the state of a stream (a full refresh starts over).
    pub fn forget(&mut self, key: &str) {
        self.states.remove(key);
    }

    pub fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.states.values().collect::<Vec<_>>())?;
        write_atomic(&self.state_path(), &bytes)
    }

    pub fn bookkeeping(&self) -> Result<Bookkeeping> {
        let p = self.dir.join("bookkeeping.json");
        if !p.exists() {
            return Ok(Bookkeeping::default());
        }
        serde_json::from_slice(&std::fs::read(&p)?).with_context(|| format!("{} is corrupt", p.display()))
    }

    pub fn save_bookkeeping(&self, b: &Bookkeeping) -> Result<()> {
        write_atomic(&self.dir.join("bookkeeping.json"), &serde_json::to_vec_pretty(b)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn acknowledged_states_survive_reopen_and_drop_stats() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = StateStore::open(dir.path()).unwrap();
        let mut s = StateMessage::stream(StreamDescriptor::new("a", None), json!({"c": 1}));
        s.source_stats = Some(airbyte_protocol::StateStats::count(3));
        st.acknowledge(s).unwrap();
        st.acknowledge(StateMessage::stream(StreamDescriptor::new("a", None), json!({"c": 2}))).unwrap();
        st.acknowledge(StateMessage::stream(StreamDescriptor::new("b", Some("n".into())), json!({"c": 9}))).unwrap();
        let again = StateStore::open(dir.path()).unwrap();
        let input = again.as_input();
        assert_eq!(input.as_array().unwrap().len(), 2);
        assert_eq!(input[0]["stream"]["stream_state"], json!({"c": 2}));
        assert!(input[0].get("sourceStats").is_none());
        assert_eq!(input[1]["stream"]["stream_descriptor"]["namespace"], "n");
    }
}
