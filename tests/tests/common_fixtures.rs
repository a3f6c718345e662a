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
        json!({"api_key": SOURCE_KEY, "users": 10, "mode": {"kind": "normal"}}),
    );
    s.invalid_config = Some(json!({"api_key": "wrong-key-0815", "mode": {"kind": "normal"}}));
    s.exception_config = Some(json!({"api_key": SOURCE_KEY, "mode": {"kind": "crash", "message": "boom"}}));
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
    d.invalid_config = Some(json!({"destination_path": dir.join("does/not/exist").to_string_lossy(), "api_key": "other-secret-77"}));
    d.exception_config = Some(json!({"destination_path": dir.to_string_lossy(), "api_key": DESTINATION_KEY, "crash": true}));
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
