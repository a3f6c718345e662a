//! No secret value from a config appears in any output line, error or log: the fixture connectors log
//! their keys, put them in error messages and panic with them; every such text must reach the output
//! masked (`****`), on stdout and stderr alike.

mod common_fixtures;
use common_fixtures::*;
use conformance::process::{Launcher, Run};
use conformance::support;
use serde_json::{json, Value};
use std::time::Duration;

fn launcher(binary: &str) -> Launcher {
    Launcher {
        binary: support::bin_path(binary),
        env: vec![("LOG_LEVEL".into(), "debug".into())],
        timeout: Duration::from_secs(60),
    }
}

fn write(dir: &std::path::Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p.to_string_lossy().into_owned()
}

#[track_caller]
fn assert_masked(run: &Run, secrets: &[&str], what: &str) {
    let all = format!("{}\n{}", run.lines.join("\n"), run.stderr);
    for s in secrets {
        assert!(!all.contains(s), "{what}: secret {s:?} leaked:\n{all}");
    }
    assert!(all.contains("****"), "{what}: expected the masked secret in the output (the fixture prints it):\n{all}");
}

#[test]
fn source_secrets_are_masked_in_logs_statuses_errors_and_panics() {
    let dir = tempfile::tempdir().unwrap();
    let src = launcher("fixture_source");
    let good = write(dir.path(), "good.json", &json!({"api_token": SOURCE_KEY}));
    let bad_key = "wrong-key-0815-secret";
    let bad = write(dir.path(), "bad.json", &json!({"api_token": bad_key}));
    let crash = write(dir.path(), "crash.json", &json!({"api_token": SOURCE_KEY, "mode": {"kind": "crash"}}));
    let catalog = write(
        dir.path(),
        "catalog.json",
        &json!({"streams": [{"stream": {"name": "users", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
            "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}),
    );
    let secrets = [SOURCE_KEY, bad_key];

    let run = src.run(&["check", "--config", &good], None);
    assert!(run.of_type("LOG").any(|l| l["log"]["message"].as_str().unwrap().contains("checking with api key ****")));
    assert_masked(&run, &secrets, "check (log)");

    let run = src.run(&["check", "--config", &bad], None);
    let status = run.of_type("CONNECTION_STATUS").next().expect("a status").clone();
    assert!(
        status["connectionStatus"]["message"].as_str().unwrap().contains("API token **** was rejected"),
        "{status}"
    );
    assert_masked(&run, &secrets, "check with a rejected key (status message)");

    let run = src.run(&["check", "--config", &crash], None);
    let trace = run.traces("ERROR").next().expect("a TRACE for the panic").clone();
    assert!(trace["trace"]["error"]["message"].as_str().unwrap().contains("****"), "{trace}");
    assert_masked(&run, &secrets, "check that panics (trace)");

    let run = src.run(&["read", "--config", &good, "--catalog", &catalog], None);
    assert!(run.count("RECORD") > 0);
    assert_masked(&run, &secrets, "read (log)");
}

#[test]
fn destination_secrets_are_masked_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let dest = launcher("fixture_destination");
    let key = "dest-secret-for-masking";
    let missing = dir.path().join("missing");
    let bad = write(dir.path(), "bad.json", &json!({"destination_path": missing.to_string_lossy(), "api_key": key}));
    let run = dest.run(&["check", "--config", &bad], None);
    let status = run.of_type("CONNECTION_STATUS").next().expect("a status").clone();
    assert_eq!(status["connectionStatus"]["status"], "FAILED");
    assert_masked(&run, &[key], "destination check (status message)");
}

#[test]
fn the_suite_catches_a_connector_that_leaks() {
    // The harness check that scans every run for secrets fails on a leaking connector (see also
    // source_suite::leaked_secret_fails_no_secrets): here, the destination writes its key to stderr.
    let dir = tempfile::tempdir().unwrap();
    let report = destination_suite("leak_secret", dir.path()).run();
    let check = report.get("output.no_secrets").unwrap();
    assert!(!check.passed() && check.failures.iter().all(|f| !f.contains(DESTINATION_KEY)), "{report}");
}
