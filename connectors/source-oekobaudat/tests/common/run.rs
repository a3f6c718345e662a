//! Running the connector binary and reading its protocol output.

#![allow(dead_code)]

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_source-oekobaudat");

/// The protocol messages of one run.
pub struct Run {
    pub code: i32,
    pub messages: Vec<Value>,
    /// The stdout lines, for reading numbers exactly (serde_json's default float parsing may be 1 ULP off).
    pub lines: Vec<String>,
    pub stderr: String,
}

impl Run {
    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.messages.iter().filter(|m| m["type"] == kind).collect()
    }
    /// Record data of one stream, in output order.
    pub fn records(&self, stream: &str) -> Vec<&Value> {
        self.of_type("RECORD")
            .into_iter()
            .filter(|m| m["record"]["stream"] == stream)
            .map(|m| &m["record"]["data"])
            .collect()
    }
    /// STATE messages of one stream.
    pub fn states(&self, stream: &str) -> Vec<&Value> {
        self.of_type("STATE")
            .into_iter()
            .filter(|m| m["state"]["stream"]["stream_descriptor"]["name"] == stream)
            .map(|m| &m["state"])
            .collect()
    }
    /// The last STATE of every stream, as the platform passes them to the next read.
    pub fn final_states(&self) -> Value {
        let mut last: Vec<(String, Value)> = Vec::new();
        for m in self.of_type("STATE") {
            let name = m["state"]["stream"]["stream_descriptor"]["name"].as_str().unwrap().to_string();
            let mut st = m["state"].clone();
            st.as_object_mut().unwrap().remove("sourceStats");
            match last.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = st,
                None => last.push((name, st)),
            }
        }
        Value::Array(last.into_iter().map(|(_, s)| s).collect())
    }
    pub fn errors(&self) -> Vec<&Value> {
        self.of_type("TRACE")
            .into_iter()
            .filter(|m| m["trace"]["type"] == "ERROR")
            .map(|m| &m["trace"]["error"])
            .collect()
    }
    pub fn statuses(&self, stream: &str) -> Vec<String> {
        self.of_type("TRACE")
            .into_iter()
            .filter(|m| {
                m["trace"]["type"] == "STREAM_STATUS"
                    && m["trace"]["stream_status"]["stream_descriptor"]["name"] == stream
            })
            .map(|m| m["trace"]["stream_status"]["status"].as_str().unwrap().to_string())
            .collect()
    }
    /// The number in `"field":<number>` of each record of `stream`, parsed exactly from the raw line.
    pub fn raw_numbers(&self, stream: &str, field: &str) -> Vec<Option<f64>> {
        let needle = format!("\"{field}\":");
        self.lines
            .iter()
            .zip(&self.messages)
            .filter(|(_, m)| m["type"] == "RECORD" && m["record"]["stream"] == stream)
            .map(|(line, _)| {
                let data = &line[line.find("\"data\":").expect("record data")..];
                let at = data.find(&needle).expect("field present") + needle.len();
                let text: String = data[at..].chars().take_while(|c| !matches!(c, ',' | '}')).collect();
                (text != "null").then(|| text.parse::<f64>().expect("a JSON number"))
            })
            .collect()
    }
    pub fn logs(&self) -> String {
        self.of_type("LOG")
            .iter()
            .map(|m| m["log"]["message"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Run `source-oekobaudat <command>` with the given files; every stdout line must be a JSON message.
pub async fn run(command: &str, config: Option<&Value>, catalog: Option<&Value>, state: Option<&Value>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg(command);
    for (flag, value, file) in
        [("--config", config, "config.json"), ("--catalog", catalog, "catalog.json"), ("--state", state, "state.json")]
    {
        if let Some(v) = value {
            let path = dir.path().join(file);
            std::fs::write(&path, serde_json::to_vec(v).unwrap()).unwrap();
            cmd.arg(flag).arg(path);
        }
    }
    let out = cmd.output().await.expect("run the connector");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let lines: Vec<String> = stdout.lines().map(str::to_string).collect();
    let messages = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not a JSON message ({e}): {l}")))
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Run { code: out.status.code().unwrap_or(-1), messages, lines, stderr }
}

/// A config for the replay node: fast limits so tests finish quickly.
pub fn config(base_url: &str) -> Value {
    json!({"base_url": base_url, "requests_per_second": 100, "detail_concurrency": 4,
           "request_timeout_seconds": 2, "max_retries": 3})
}

/// The discovered catalog with the given streams configured in `sync_mode`.
pub async fn catalog(config: &Value, streams: &[&str], sync_mode: &str) -> Value {
    let discovered = run("discover", Some(config), None, None).await;
    assert_eq!(discovered.code, 0, "{:?}", discovered.messages);
    let all = discovered.of_type("CATALOG")[0]["catalog"]["streams"].as_array().unwrap().clone();
    let configured: Vec<Value> = streams
        .iter()
        .map(|name| {
            let s = all.iter().find(|s| s["name"] == *name).unwrap_or_else(|| panic!("stream {name} not discovered"));
            let mode = if s["supported_sync_modes"].as_array().unwrap().contains(&json!(sync_mode)) {
                sync_mode
            } else {
                "full_refresh"
            };
            json!({"stream": s, "sync_mode": mode, "destination_sync_mode": "append",
                   "primary_key": s["source_defined_primary_key"], "cursor_field": s.get("default_cursor_field")})
        })
        .collect();
    json!({ "streams": configured })
}
