//! Test set-up: a fakesnow server (Snowflake emulator, real HTTP API) per test, our real client pointed at it,
//! and helpers to run the binary and read tables back.
#![allow(dead_code)]

use conformance::messages;
use conformance::process::Launcher;
use conformance::support::{free_port, venv_tool, wait_for_port, workspace_root, ChildGuard};
use destination_snowflake::client::{ApiClient, Rows, SnowflakeClient};
use destination_snowflake::config::SnowflakeConfig;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A running fakesnow and a database of our own in it.
pub struct Emulator {
    pub port: u16,
    pub database: String,
    _server: ChildGuard,
}

/// Wait for `tests/python/setup.sh` to have built a venv (it may run concurrently).
pub fn wait_for_venv(name: &str) {
    let stamp = workspace_root().join(".venv").join(name).join(".requirements.sha256");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
    while !stamp.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

impl Emulator {
    pub fn start() -> Emulator {
        wait_for_venv("fakesnow");
        let port = free_port();
        let log = std::env::temp_dir().join(format!("fakesnow-{port}.log"));
        let child = Command::new(venv_tool("fakesnow", "fakesnow"))
            .args(["-s", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("fakesnow log"))
            .spawn()
            .expect("start fakesnow");
        let server = ChildGuard(child);
        assert!(wait_for_port(port, 60), "fakesnow did not start on port {port}; see {}", log.display());
        let database = format!("DB_{}", uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase());
        let emulator = Emulator { port, database, _server: server };
        emulator.query(&format!("CREATE DATABASE IF NOT EXISTS {}", emulator.database));
        emulator
    }

    /// A config for this emulator (password auth; fakesnow accepts any credentials).
    pub fn config(&self) -> Value {
        json!({"host": format!("http://127.0.0.1:{}", self.port), "role": "SYSADMIN", "warehouse": "WH",
               "database": self.database, "schema": "public", "username": "tester",
               "credentials": {"auth_type": "USERNAME_PASSWORD", "password": "emulator-password"}})
    }

    pub fn client(&self) -> ApiClient {
        ApiClient::connect(&SnowflakeConfig::from_value(&self.config()).unwrap()).unwrap()
    }

    /// Run one statement through our client (a fresh session each time).
    pub fn query(&self, sql: &str) -> Rows {
        let client = self.client();
        runtime().block_on(async { client.query(sql).await }).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub fn try_query(&self, sql: &str) -> Result<Rows, String> {
        let client = self.client();
        runtime().block_on(async { client.query(sql).await }).map_err(|e| e.message)
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// The output of one connector run (`states()`, `errors()`, `connection_status()`, `transcript()`).
pub type Run = conformance::process::Run;

fn write_json(dir: &tempfile::TempDir, name: &str, v: &Value) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
    p.to_string_lossy().into_owned()
}

/// Run the binary with a command (`check`, `write`, `spec`), a config, an optional catalog and stdin lines;
/// every stdout line must be a JSON message.
pub fn run(command: &str, config: Option<&Value>, catalog: Option<&Value>, input: &[Value]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![command.to_string()];
    if let Some(c) = config {
        args.extend(["--config".to_string(), write_json(&dir, "config.json", c)]);
    }
    if let Some(c) = catalog {
        args.extend(["--catalog".to_string(), write_json(&dir, "catalog.json", c)]);
    }
    let stdin: String = input.iter().map(|line| format!("{line}\n")).collect();
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_destination-snowflake"));
    let launcher = Launcher { binary, env: Vec::new(), timeout: Duration::from_secs(900) };
    launcher.run(&args.iter().map(String::as_str).collect::<Vec<_>>(), Some(stdin.as_bytes())).only_messages()
}

/// A configured stream.
pub fn stream(name: &str, namespace: Option<&str>, schema: Value, mode: &str) -> Value {
    let mut s = json!({"stream": {"name": name, "json_schema": schema, "supported_sync_modes": ["full_refresh", "incremental"]},
                       "sync_mode": "incremental", "destination_sync_mode": mode,
                       "generation_id": 1, "minimum_generation_id": 0, "sync_id": 42});
    if let Some(ns) = namespace {
        s["stream"]["namespace"] = json!(ns);
    }
    s
}

pub fn record(stream: &str, namespace: Option<&str>, data: Value, emitted_at: i64) -> Value {
    messages::record(stream, namespace, data, emitted_at)
}

pub fn state(stream: &str, namespace: Option<&str>, cursor: i64) -> Value {
    messages::stream_state(stream, namespace, json!({"cursor": cursor}))
}

pub fn complete(stream: &str, namespace: Option<&str>) -> Value {
    messages::stream_status(stream, namespace, "COMPLETE")
}
