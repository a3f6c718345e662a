// Shared by the self-test files (included with `mod common_fixtures;`).
#![allow(dead_code)]

use conformance::{support, DestinationSuite, Report, SourceSuite};
use serde_json::{json, Value};
use std::time::Duration;

pub const SOURCE_KEY: &str = "good-s3cr3t-source-key";
pub const DESTINATION_KEY: &str = "dest-s3cr3t-key-42";

pub fn spec_dir(name: &str) -> std::path::PathBuf {
    support::workspace_root().join("tests/data/specs").join(name)
}

/// The fixture source suite with every input set, the defect chosen by `defect` ("" = none).
pub fn source_suite(defect: &str) -> SourceSuite {
    let mut s = SourceSuite::new(
        support::bin_path("fixture_source"),
        spec_dir("fixture-source"),
        json!({"api_token": SOURCE_KEY, "users": 10, "mode": {"kind": "normal"}}),
    );
    s.invalid_config = Some(json!({"api_token": "wrong-key-0815", "mode": {"kind": "normal"}}));
    s.exception_config = Some(json!({"api_token": SOURCE_KEY, "mode": {"kind": "crash", "message": "boom"}}));
    s.empty_streams = vec!["empty_stream".into()];
    s.incremental_streams = vec!["users".into()];
    s.future_state = Some(future_state());
    s.env = vec![("FIXTURE_DEFECT".into(), defect.into())];
    s.full_refresh_gap = Duration::from_millis(20);
    s.timeout = Duration::from_secs(60);
    s
}

pub fn future_state() -> Value {
    json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "users"}, "stream_state": {"updated_at": 99_999_999_999i64}}}])
}

pub fn destination_suite(defect: &str, dir: &std::path::Path) -> DestinationSuite {
    let mut d = DestinationSuite::new(
        support::bin_path("fixture_destination"),
        spec_dir("fixture-destination"),
        json!({"destination_path": dir.to_string_lossy(), "api_key": DESTINATION_KEY}),
    );
    d.invalid_config =
        Some(json!({"destination_path": dir.join("does/not/exist").to_string_lossy(), "api_key": "other-secret-77"}));
    d.exception_config =
        Some(json!({"destination_path": dir.to_string_lossy(), "api_key": DESTINATION_KEY, "crash": true}));
    d.env = vec![("FIXTURE_DEFECT".into(), defect.into())];
    d.timeout = Duration::from_secs(60);
    d
}

/// Assert that exactly `expected` checks failed, printing the report otherwise.
#[track_caller]
pub fn assert_fails_exactly(report: &Report, expected: &[&str]) {
    let mut failed = report.failed_checks();
    failed.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(failed, want, "failing checks differ from the expected ones; full report:\n{report}");
}

/// The good fixture's discovered streams as a full-refresh configured catalog (for defects that add a
/// broken stream to discover only).
pub fn good_configured_catalog() -> airbyte_protocol::ConfiguredAirbyteCatalog {
    use airbyte_protocol::{
        AirbyteCatalog, ConfiguredAirbyteCatalog, ConfiguredAirbyteStream, DestinationSyncMode, SyncMode,
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, json!({"api_token": SOURCE_KEY}).to_string()).unwrap();
    let out = std::process::Command::new(support::bin_path("fixture_source"))
        .args(["discover", "--config", config.to_str().unwrap()])
        .env_remove("FIXTURE_DEFECT")
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap().lines().find(|l| l.contains("\"CATALOG\"")).unwrap().to_string();
    let msg: Value = serde_json::from_str(&line).unwrap();
    let catalog: AirbyteCatalog = serde_json::from_value(msg["catalog"].clone()).unwrap();
    ConfiguredAirbyteCatalog {
        streams: catalog
            .streams
            .into_iter()
            .map(|s| ConfiguredAirbyteStream::new(s, SyncMode::FullRefresh, DestinationSyncMode::Append))
            .collect(),
        extra: Default::default(),
    }
}

/// A spec dir whose golden spec.json is the given binary's own `spec` output under `defect`
/// (so a spec-lint defect is judged by its lint rule alone, not by the golden comparison).
pub fn own_golden(binary: &str, defect: &str) -> tempfile::TempDir {
    let out = std::process::Command::new(support::bin_path(binary))
        .arg("spec")
        .env("FIXTURE_DEFECT", defect)
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap().lines().next().unwrap().to_string();
    let msg: Value = serde_json::from_str(&line).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.json"), serde_json::to_vec_pretty(&msg["spec"]).unwrap()).unwrap();
    dir
}
