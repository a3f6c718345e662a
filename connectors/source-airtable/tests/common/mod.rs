//! Test support: the replay server and running the built binary against it.
#![allow(dead_code)]

pub mod replay;

use serde_json::{json, Value};
use std::path::PathBuf;

/// The output of one run of the binary.
pub struct Run {
    pub code: i32,
    pub messages: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.messages.iter().filter(|m| m["type"] == kind).collect()
    }
    /// Record data of one stream, in output order.
    pub fn records(&self, stream: &str) -> Vec<Value> {
        self.of_type("RECORD")
            .into_iter()
            .filter(|m| m["record"]["stream"] == stream)
            .map(|m| m["record"]["data"].clone())
            .collect()
    }
    pub fn states(&self, stream: &str) -> Vec<Value> {
        self.of_type("STATE")
            .into_iter()
            .filter(|m| m["state"]["stream"]["stream_descriptor"]["name"] == stream)
            .map(|m| m["state"].clone())
            .collect()
    }
    pub fn errors(&self) -> Vec<Value> {
        self.of_type("TRACE")
            .into_iter()
            .filter(|m| m["trace"]["type"] == "ERROR")
            .map(|m| m["trace"]["error"].clone())
            .collect()
    }
    pub fn controls(&self) -> Vec<Value> {
        self.of_type("CONTROL").into_iter().map(|m| m["control"].clone()).collect()
    }
}

/// Run `source-airtable` with `args`; `files` are written to a temp dir and `{name}` in args replaced by their paths.
pub async fn run(args: &[&str], files: &[(&str, &Value)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = std::collections::HashMap::new();
    for (name, content) in files {
        let p: PathBuf = dir.path().join(format!("{name}.json"));
        std::fs::write(&p, serde_json::to_vec_pretty(content).unwrap()).unwrap();
        paths.insert(format!("{{{name}}}"), p.to_string_lossy().into_owned());
    }
    let args: Vec<String> = args.iter().map(|a| paths.get(*a).cloned().unwrap_or_else(|| a.to_string())).collect();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_source-airtable"))
        .args(&args)
        .output()
        .await
        .expect("run source-airtable");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let messages = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}")))
        .collect();
    Run {
        code: output.status.code().unwrap_or(-1),
        messages,
        stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn pat_config(url: &str) -> Value {
    json!({"credentials": {"auth_method": "api_key", "api_key": replay::PAT}, "api_url": url,
           "rate_limit_wait_seconds": 0.3})
}

/// A configured catalog of every discovered stream in `mode` (incremental where supported).
pub fn catalog_of(catalog: &Value, incremental: bool) -> Value {
    let streams: Vec<Value> = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let inc = incremental && s["supported_sync_modes"].as_array().unwrap().contains(&json!("incremental"));
            json!({"stream": s, "sync_mode": if inc {"incremental"} else {"full_refresh"},
                   "destination_sync_mode": "append", "cursor_field": s.get("default_cursor_field").cloned().unwrap_or(json!([])),
                   "primary_key": s["source_defined_primary_key"]})
        })
        .collect();
    json!({"streams": streams})
}

/// Discover, then wait a second: Airtable counts requests per second across processes, and the next process's
/// limiter cannot know about this one's requests.
pub async fn discover(config: &Value) -> Value {
    let run = run(&["discover", "--config", "{config}"], &[("config", config)]).await;
    assert_eq!(run.code, 0, "discover failed: {}\n{}", run.stdout, run.stderr);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    run.of_type("CATALOG")[0]["catalog"].clone()
}

pub async fn read(config: &Value, catalog: &Value, state: Option<&Value>) -> Run {
    match state {
        None => {
            run(
                &["read", "--config", "{config}", "--catalog", "{catalog}"],
                &[("config", config), ("catalog", catalog)],
            )
            .await
        }
        Some(s) => {
            run(
                &["read", "--config", "{config}", "--catalog", "{catalog}", "--state", "{state}"],
                &[("config", config), ("catalog", catalog), ("state", s)],
            )
            .await
        }
    }
}
