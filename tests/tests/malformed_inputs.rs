//! The malformed-input corpus (protocol/tests/data/malformed) through the real fixture binaries: every
//! bad stdin line, state, catalog or config file ends in exactly one clear TRACE ERROR (config_error),
//! never a panic and never a silent crash; `check` with a bad config reports FAILED and exits 0.

mod common_fixtures;
use common_fixtures::*;
use conformance::process::{Launcher, Run};
use conformance::support;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = support::workspace_root().join("protocol/tests/data/malformed").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 5, "corpus {} is missing", dir.display());
    files
}

fn launcher(binary: &str) -> Launcher {
    Launcher { binary: support::bin_path(binary), env: vec![], timeout: Duration::from_secs(120) }
}

/// Exactly one TRACE ERROR with the given failure type, a non-zero exit, no panic text anywhere.
#[track_caller]
fn assert_one_clear_error(run: &Run, failure_type: &str, must_mention: &str, what: &str) {
    let errors: Vec<_> = run.traces("ERROR").collect();
    assert_eq!(errors.len(), 1, "{what}: expected one TRACE ERROR, got {:?} ({})", run.lines, run.describe_end());
    let e = &errors[0]["trace"]["error"];
    assert_eq!(e["failure_type"], failure_type, "{what}: {e}");
    let message = e["message"].as_str().unwrap_or_default();
    assert!(message.contains(must_mention), "{what}: message does not mention {must_mention:?}: {message}");
    assert!(!message.contains("internal error"), "{what}: reported as a bug: {message}");
    assert!(run.exit_code.is_some_and(|c| c != 0), "{what}: {}", run.describe_end());
    assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
    assert!(run.unparsable.is_empty(), "{what}: non-JSON stdout {:?}", run.unparsable);
}

fn destination_files(dir: &Path) -> (PathBuf, PathBuf) {
    let config = dir.join("config.json");
    std::fs::write(&config, json!({"destination_path": dir.to_string_lossy(), "api_key": DESTINATION_KEY}).to_string())
        .unwrap();
    let catalog = dir.join("catalog.json");
    let c = json!({"streams": [{"stream": {"name": "users", "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]},
        "sync_mode": "full_refresh", "destination_sync_mode": "append"}]});
    std::fs::write(&catalog, c.to_string()).unwrap();
    (config, catalog)
}

#[test]
fn every_malformed_stdin_file_gives_one_trace_error_from_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let (config, catalog) = destination_files(dir.path());
    let dest = launcher("fixture_destination");
    for path in corpus("lines") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(&path).unwrap();
        let run = dest.run(
            &["write", "--config", config.to_str().unwrap(), "--catalog", catalog.to_str().unwrap()],
            Some(&input),
        );
        if name.starts_with("ok_") {
            assert!(run.succeeded(), "{name}: {}", run.describe_end());
            assert_eq!(run.count("STATE"), 1, "{name}");
            continue;
        }
        let mention = match name.as_str() {
            "unknown_stream.jsonl" => "not in the configured catalog",
            "utf16_bom.jsonl" => "input line 1",
            _ => "input line 2",
        };
        assert_one_clear_error(&run, "config_error", mention, &name);
        // Nothing after the bad line is acknowledged.
        assert_eq!(run.count("STATE"), 0, "{name}");
    }
}

#[test]
fn deep_nesting_and_a_fifty_megabyte_line_through_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let (config, catalog) = destination_files(dir.path());
    let dest = launcher("fixture_destination");
    let args = ["write", "--config", config.to_str().unwrap(), "--catalog", catalog.to_str().unwrap()];
    let state = r#"{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"users"},"stream_state":{"c":1}}}}"#;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let line = format!("{{\"type\":\"RECORD\",\"record\":{{\"stream\":\"users\",\"emitted_at\":1,\"data\":{{\"a\":{deep}}}}}}}\n{state}\n");
    assert_one_clear_error(&dest.run(&args, Some(line.as_bytes())), "config_error", "input line 1", "10k-deep data");
    let deep_state = format!("{{\"type\":\"STATE\",\"state\":{deep}}}\n");
    assert_one_clear_error(
        &dest.run(&args, Some(deep_state.as_bytes())),
        "config_error",
        "input line 1",
        "10k-deep state",
    );

    let big = "y".repeat(50 * 1024 * 1024);
    let input = format!("{{\"type\":\"RECORD\",\"record\":{{\"stream\":\"users\",\"emitted_at\":1,\"data\":{{\"blob\":\"{big}\"}}}}}}\n{state}\n");
    let run = dest.run(&args, Some(input.as_bytes()));
    assert!(run.succeeded(), "{}", run.describe_end());
    assert_eq!(run.count("STATE"), 1);
    let written = std::fs::metadata(dir.path().join("default__users.jsonl")).unwrap().len();
    assert!(written > 50 * 1024 * 1024);
    let truncated = &input.as_bytes()[..40 * 1024 * 1024];
    assert_one_clear_error(&dest.run(&args, Some(truncated)), "config_error", "input line 1", "truncated 50 MB line");
}

fn source_files(dir: &Path) -> (PathBuf, PathBuf) {
    let config = dir.join("config.json");
    std::fs::write(&config, json!({"api_token": SOURCE_KEY}).to_string()).unwrap();
    let catalog = dir.join("catalog.json");
    let c = json!({"streams": [{"stream": {"name": "users", "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": "incremental", "destination_sync_mode": "append"}]});
    std::fs::write(&catalog, c.to_string()).unwrap();
    (config, catalog)
}

#[test]
fn every_malformed_state_file_gives_one_trace_error_from_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let (config, catalog) = source_files(dir.path());
    let src = launcher("fixture_source");
    let mut files = corpus("state");
    let deep = dir.path().join("deep_state.json");
    std::fs::write(&deep, format!("[{}{}]", "{\"a\":".repeat(10_000), "}".repeat(10_000))).unwrap();
    files.push(deep);
    for path in files {
        let run = src.run(
            &[
                "read",
                "--config",
                config.to_str().unwrap(),
                "--catalog",
                catalog.to_str().unwrap(),
                "--state",
                path.to_str().unwrap(),
            ],
            None,
        );
        assert_one_clear_error(&run, "config_error", "state file", &path.display().to_string());
        assert_eq!(run.count("RECORD"), 0);
    }
}

#[test]
fn every_malformed_catalog_gives_one_trace_error_from_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = source_files(dir.path());
    let src = launcher("fixture_source");
    let mut files = corpus("catalog");
    let deep = dir.path().join("deep_catalog.json");
    std::fs::write(&deep, format!("{}{}", "[".repeat(10_000), "]".repeat(10_000))).unwrap();
    files.push(deep);
    for path in files {
        let run = src.run(&["read", "--config", config.to_str().unwrap(), "--catalog", path.to_str().unwrap()], None);
        assert_one_clear_error(&run, "config_error", "catalog", &path.display().to_string());
    }
}

#[test]
fn every_malformed_config_fails_check_cleanly_and_read_with_one_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (_, catalog) = source_files(dir.path());
    let src = launcher("fixture_source");
    let mut files = corpus("config");
    let deep = dir.path().join("deep_config.json");
    std::fs::write(&deep, format!("{{\"api_token\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000))).unwrap();
    files.push(deep);
    for path in files {
        let what = path.display().to_string();
        let check = src.run(&["check", "--config", path.to_str().unwrap()], None);
        assert!(check.succeeded(), "{what}: {}", check.describe_end());
        let statuses: Vec<_> = check.of_type("CONNECTION_STATUS").collect();
        assert_eq!(statuses.len(), 1, "{what}");
        assert_eq!(statuses[0]["connectionStatus"]["status"], "FAILED", "{what}");
        assert_eq!(check.count("TRACE"), 0, "{what}");
        let read = src.run(&["read", "--config", path.to_str().unwrap(), "--catalog", catalog.to_str().unwrap()], None);
        assert_one_clear_error(&read, "config_error", "config", &what);
    }
}
