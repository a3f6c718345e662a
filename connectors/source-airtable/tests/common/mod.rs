//! Test support: the replay server and running the built binary against it.
#![allow(dead_code)]

pub mod replay;

use serde_json::{json, Value};
use std::path::PathBuf;

/// The output of one run of the binary: conformance's [`conformance::process::Run`] (messages, stderr, ...)
/// plus the exit code as the tests compare it and the raw stdout they scan for secrets.
pub struct Run {
    /// Exit code; -1 when killed by a signal.
    pub code: i32,
    pub stdout: String,
    output: conformance::process::Run,
}

impl std::ops::Deref for Run {
    type Target = conformance::process::Run;
    fn deref(&self) -> &Self::Target {
        &self.output
    }
}

impl Run {
    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.output.all().filter(|m| m["type"] == kind).collect()
    }
    /// Record data of one stream, in output order.
    pub fn records(&self, stream: &str) -> Vec<Value> {
        self.output
            .of_type("RECORD")
            .filter(|m| m["record"]["stream"] == stream)
            .map(|m| m["record"]["data"].clone())
            .collect()
    }
    /// State blobs of one stream, in output order.
    pub fn states(&self, stream: &str) -> Vec<Value> {
        let of_stream = |m: &&Value| m["state"]["stream"]["stream_descriptor"]["name"] == stream;
        self.output.states().into_iter().filter(of_stream).map(|m| m["state"].clone()).collect()
    }
    /// The `error` objects of TRACE ERROR messages.
    pub fn errors(&self) -> Vec<Value> {
        self.output.errors().into_iter().map(|m| m["trace"]["error"].clone()).collect()
    }
    pub fn controls(&self) -> Vec<Value> {
        self.output.of_type("CONTROL").map(|m| m["control"].clone()).collect()
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
    let label = args.join(" ");
    let run = conformance::process::Run::from_output(label, output.status.code(), &output.stdout, &output.stderr);
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        output: run.only_messages(),
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
