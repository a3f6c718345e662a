//! End-to-end runs of the `sync` binary with small protocol connectors written as scripts.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name).display().to_string()
}

fn write_sync_file(dir: &Path, source_cfg: Value, dest_cfg: Value, extra: &str) -> PathBuf {
    let yaml = format!(
        "source:\n  command: {}\n  config: {}\ndestination:\n  command: {}\n  config: {}\nstate_dir: state\n{extra}",
        data("fake_source.py"),
        source_cfg,
        data("fake_destination.py"),
        dest_cfg
    );
    let p = dir.join("sync.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

fn run_sync(file: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sync")).arg("run").arg(file).arg("--no-progress").output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn sync_resumes_incrementally_from_acknowledged_state() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let file = write_sync_file(dir.path(), json!({"records": 4}), json!({"path": out}), "");
    let (code, err) = run_sync(&file);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("succeeded"), "{err}");
    assert_eq!(lines(&out.join("records.jsonl")).len(), 8, "4 records x 2 streams");
    let statuses: Value = serde_json::from_str(&std::fs::read_to_string(out.join("statuses.json")).unwrap()).unwrap();
    assert_eq!(statuses, json!([["alpha", "COMPLETE"], ["beta", "COMPLETE"]]));
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state/state.json")).unwrap()).unwrap();
    assert_eq!(state.as_array().unwrap().len(), 2);
    assert_eq!(state[0]["stream"]["stream_state"], json!({"cursor": 4}));
    assert!(state[0].get("destinationStats").is_none(), "run stats are not stored");

    // Second run: the source has 6 rows now and starts after the stored cursor.
    let file = write_sync_file(dir.path(), json!({"records": 6}), json!({"path": out}), "");
    let (code, err) = run_sync(&file);
    assert_eq!(code, 0, "{err}");
    let ids: Vec<i64> = lines(&out.join("records.jsonl")).iter().map(|r| r["data"]["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 5, 6]);
    let catalog: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state/run/configured_catalog.json")).unwrap())
            .unwrap();
    assert_eq!(catalog["streams"][0]["sync_mode"], "incremental");
    assert_eq!(catalog["streams"][0]["sync_id"], 2);
    let logs: Vec<_> = std::fs::read_dir(dir.path().join("state/logs")).unwrap().collect();
    assert!(logs.len() >= 6, "source, destination and summary logs per run");
    assert!(!dir.path().join("state/run/source_config.json").exists(), "configs with secrets are removed");
}

#[test]
fn source_failure_is_named_and_streams_marked_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let file = write_sync_file(dir.path(), json!({"records": 4, "fail_after": 3}), json!({"path": out}), "");
    let (code, err) = run_sync(&file);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("FAILED in the source: source broke on purpose"), "{err}");
    let statuses: Value = serde_json::from_str(&std::fs::read_to_string(out.join("statuses.json")).unwrap()).unwrap();
    assert_eq!(statuses, json!([["alpha", "INCOMPLETE"], ["beta", "INCOMPLETE"]]));
    // The state acked before the failure (alpha cursor 2) is kept for the next run.
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state/state.json")).unwrap()).unwrap();
    assert_eq!(state[0]["stream"]["stream_state"], json!({"cursor": 2}));
}

#[test]
fn destination_failure_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let file = write_sync_file(dir.path(), json!({"records": 200000}), json!({"path": out, "fail_on_record": 5}), "");
    let (code, err) = run_sync(&file);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("FAILED in the destination: disk full on purpose"), "{err}");
}

#[test]
fn control_message_updates_the_stored_source_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let file = write_sync_file(
        dir.path(),
        json!({"records": 1, "token": "old", "rotate_token": "new-token"}),
        json!({"path": out}),
        "",
    );
    let (code, err) = run_sync(&file);
    assert_eq!(code, 0, "{err}");
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state/source_config.override.json")).unwrap())
            .unwrap();
    assert_eq!(stored["token"], "new-token");
}

#[test]
fn bad_sync_files_are_rejected_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, "source: {command: a, image: b, config: {}}\ndestination: {command: d, config: {}}\n").unwrap();
    let (code, err) = run_sync(&p);
    assert_eq!(code, 2);
    assert!(err.contains("exactly one of `command` or `image`"), "{err}");
    std::fs::write(&p, "source: {command: a, config: {}}\ndestination: {command: d, config: {}}\nbogus: 1\n").unwrap();
    let (code, err) = run_sync(&p);
    assert_eq!(code, 2);
    assert!(err.contains("bogus"), "{err}");
    std::fs::write(&p, "source: {command: /no/such/binary, config: {}}\ndestination: {command: d, config: {}}\n")
        .unwrap();
    let (code, err) = run_sync(&p);
    assert_eq!(code, 1);
    assert!(err.contains("/no/such/binary"), "{err}");
}

#[test]
fn docker_images_get_the_platform_style_mount() {
    let cmd = runner::pipeline::docker_command(
        "airbyte/source-xlsx:0.1.0",
        Path::new("/tmp/w"),
        &["read"],
        &[("--config", Path::new("/tmp/w/source_config.json"))],
    );
    let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    assert_eq!(
        args,
        [
            "run",
            "--rm",
            "-i",
            "--init",
            "-v",
            "/tmp/w:/sync",
            "airbyte/source-xlsx:0.1.0",
            "read",
            "--config",
            "/sync/source_config.json"
        ]
    );
}
