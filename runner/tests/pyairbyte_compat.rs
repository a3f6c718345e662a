//! PyAirbyte as a real client of every source (and of destination-parquet): `get_source(...,
//! local_executable=...)`, check, stream listing, read into PyAirbyte's DuckDB cache with exact row counts
//! (the counts our binary emits on its own), and a second read with the saved state. PyAirbyte always passes
//! `--state` and asks for incremental on every stream.

use conformance::support::{bin_path, free_port, venv_tool, wait_for_port, workspace_root, ChildGuard};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Records per stream that the source binary emits itself for a full catalog of all streams.
fn direct_counts(binary: &Path, config: &Value, dir: &Path) -> BTreeMap<String, u64> {
    let cfg = dir.join("direct_config.json");
    std::fs::write(&cfg, config.to_string()).unwrap();
    let out = Command::new(binary).arg("discover").arg("--config").arg(&cfg).output().unwrap();
    let catalog = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|m| m["type"] == "CATALOG")
        .unwrap_or_else(|| panic!("no catalog from {}: {}", binary.display(), String::from_utf8_lossy(&out.stdout)));
    let streams: Vec<Value> = catalog["catalog"]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!({"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "append"}))
        .collect();
    let cat = dir.join("direct_catalog.json");
    std::fs::write(&cat, json!({ "streams": streams }).to_string()).unwrap();
    let out = Command::new(binary).arg("read").arg("--config").arg(&cfg).arg("--catalog").arg(&cat).output().unwrap();
    assert!(out.status.success(), "direct read failed: {}", String::from_utf8_lossy(&out.stdout));
    let mut counts: BTreeMap<String, u64> =
        streams.iter().map(|s| (s["stream"]["name"].as_str().unwrap().to_string(), 0)).collect();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let m: Value = serde_json::from_str(line).unwrap();
        if m["type"] == "RECORD" {
            *counts.get_mut(m["record"]["stream"].as_str().unwrap()).unwrap() += 1;
        }
    }
    counts
}

fn run_pyairbyte(job: &Value, dir: &Path) -> Value {
    let job_path = dir.join("job.json");
    std::fs::write(&job_path, job.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pyairbyte_check.py");
    let out = Command::new(venv_tool("pyairbyte", "python"))
        .arg(script)
        .arg(&job_path)
        // PyAirbyte keeps caches under the working directory: keep them out of the repository.
        .current_dir(dir)
        .env("AIRBYTE_OFFLINE_MODE", "1")
        .env("DO_NOT_TRACK", "1")
        .env("AIRBYTE_LOCAL_ROOT", dir)
        .env("HOME", dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "PyAirbyte run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
            .chars()
            .rev()
            .take(4000)
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>()
    );
    stdout.lines().rev().find_map(|l| serde_json::from_str(l).ok()).expect("report line")
}

fn check_source(name: &str, config: Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let binary = bin_path(name);
    let expect = direct_counts(&binary, &config, dir.path());
    assert!(expect.values().any(|n| *n > 0), "{name}: the direct read emitted no record");
    let report = run_pyairbyte(
        &json!({"source": {"name": name, "executable": binary, "config": config}, "expect": expect}),
        dir.path(),
    );
    let listed: Vec<String> = serde_json::from_value(report["streams"].clone()).unwrap();
    assert_eq!(listed, expect.keys().cloned().collect::<Vec<_>>(), "{name}: stream listing");
    report
}

/// Start an example replay server of a connector crate on a free port.
fn replay_server(example: &str) -> (ChildGuard, u16) {
    let port = free_port();
    let exe: PathBuf = bin_path("sync").parent().unwrap().join("examples").join(example);
    assert!(exe.exists(), "{} not built (cargo test builds examples)", exe.display());
    let child = Command::new(exe)
        .arg("--port")
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = ChildGuard(child);
    assert!(wait_for_port(port, 20), "{example} did not start");
    (guard, port)
}

fn example_config(connector: &str) -> Value {
    let p = workspace_root().join("specs").join(connector).join("examples/config.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn pyairbyte_reads_source_xlsx() {
    let mut config = example_config("source-xlsx");
    config["files"] = json!([workspace_root().join("specs/source-xlsx/examples/sample.xlsx")]);
    check_source("source-xlsx", config);
}

#[test]
fn pyairbyte_reads_source_oekobaudat() {
    let (_server, port) = replay_server("replay_server");
    let mut config = example_config("source-oekobaudat");
    config["base_url"] = json!(format!("http://127.0.0.1:{port}/resource"));
    check_source("source-oekobaudat", config);
}

#[test]
fn pyairbyte_reads_source_airtable() {
    let (_server, port) = replay_server("airtable-replay");
    let mut config = example_config("source-airtable");
    config["api_url"] = json!(format!("http://127.0.0.1:{port}"));
    check_source("source-airtable", config);
}

#[test]
fn pyairbyte_writes_through_destination_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let source = bin_path("source-xlsx");
    let config = json!({"files": [workspace_root().join("specs/source-xlsx/examples/sample.xlsx")]});
    let expect = direct_counts(&source, &config, dir.path());
    let lake = dir.path().join("lake");
    let report = run_pyairbyte(
        &json!({
            "source": {"name": "source-xlsx", "executable": source, "config": config},
            "expect": expect,
            "destination": {"name": "destination-parquet", "executable": bin_path("destination-parquet"),
                            "config": {"destination_path": lake}}
        }),
        dir.path(),
    );
    let landed: BTreeMap<String, u64> = serde_json::from_value(report["landed"].clone()).unwrap();
    assert_eq!(landed, expect, "rows per stream in Parquet");
}
