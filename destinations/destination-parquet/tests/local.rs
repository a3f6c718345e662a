//! Local mode end to end, read back with pyarrow: counts, types, acks, sync modes, hostile names, bad input.

mod common;

use common::*;
use serde_json::{json, Value};

fn config(root: &std::path::Path) -> Value {
    json!({"destination_path": root.to_str().unwrap(), "s3_bucket_path": "base",
           "format": {"format_type": "Parquet", "compression_codec": "ZSTD"}})
}

#[test]
fn records_land_typed_with_exact_counts_and_acks_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let cat = catalog(vec![
        stream("users", Some("public"), simple_schema(), "append", Some((3, 0))),
        stream("orders", None, simple_schema(), "append", None),
    ]);
    let mut input = Vec::new();
    for i in 0..2500 {
        input.push(record("users", Some("public"), i));
        if i % 3 == 0 {
            input.push(record("orders", None, i));
        }
        if i % 500 == 499 {
            input.push(state("users", Some("public"), i));
        }
    }
    input.push(state("orders", None, 1));
    // A value that does not fit, an undeclared property and a source change.
    input.push(
        json!({"type": "RECORD", "record": {"stream": "orders", "emitted_at": 1, "data": {"id": "x1", "extra": [1]},
               "meta": {"changes": [{"field": "name", "change": "TRUNCATED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}]}}})
        .to_string(),
    );
    input.push(state("orders", None, 2));
    let out = run(dir.path(), &["write"], &config(&root), Some(&cat), &lines(&input));
    assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    let states = out.states();
    assert_eq!(states.len(), 7, "{}", out.transcript());
    let counts: Vec<f64> =
        states.iter().map(|s| s["state"]["destinationStats"]["recordCount"].as_f64().unwrap()).collect();
    assert_eq!(counts, [500.0, 500.0, 500.0, 500.0, 500.0, 834.0, 1.0]);
    assert_eq!(states[6]["state"]["stream"]["stream_state"]["cursor"], 2);

    let files = read_local(&root);
    let leftovers = files["other"].as_array().unwrap();
    assert!(leftovers.iter().all(|f| !f.as_str().unwrap().starts_with(".airbyte_tmp/")), "{leftovers:?}");
    assert_eq!(ids_under(&files, "base/public/users/"), (0..2500).collect::<Vec<_>>());
    assert_eq!(ids_under(&files, "base/orders/"), (0..2500).step_by(3).collect::<Vec<_>>());
    let (key, file) =
        files["files"].as_object().unwrap().iter().find(|(k, _)| k.starts_with("base/public/users/")).unwrap();
    assert!(key.ends_with("_0.parquet"), "{key}");
    let types = &file["types"];
    assert_eq!(types["id"], "int64");
    assert_eq!(types["price"], "double");
    assert_eq!(types["day"], "date32[day]");
    assert_eq!(types["at"], "timestamp[us, tz=UTC]");
    assert_eq!(types["tags"], "list<item: string>");
    assert_eq!(types["address"], "struct<city: string>");
    assert_eq!(types["_airbyte_extracted_at"], "timestamp[us, tz=UTC]");
    assert_eq!(types["_airbyte_generation_id"], "int64");
    assert_eq!(file["first"][0]["_airbyte_generation_id"], 3);
    assert_eq!(file["first"][0]["_airbyte_meta"]["sync_id"], 7);
    assert_eq!(file["first"][0]["address"]["city"], "Köln");
    assert_eq!(file["meta"]["airbyte.stream"], "users");
    assert_eq!(file["meta"]["airbyte.namespace"], "public");
    assert_eq!(file["meta"]["airbyte.generation_id"], "3");
    let schema: Value = serde_json::from_str(file["meta"]["airbyte.json_schema"].as_str().unwrap()).unwrap();
    assert_eq!(schema, simple_schema());
    let (_, orders_file) =
        files["files"].as_object().unwrap().iter().find(|(k, _)| k.starts_with("base/orders/")).unwrap();
    assert_eq!(orders_file["rows"], 835, "the record whose id did not fit is there, with a null id");
    let changes = &orders_file["changes"][0];
    assert_eq!(changes[0]["field"], "name");
    assert_eq!(changes[0]["reason"], "SOURCE_FIELD_SIZE_LIMITATION");
    assert_eq!(changes[1]["field"], "id");
    assert_eq!(changes[1]["change"], "NULLED");
    assert_eq!(changes[1]["reason"], "DESTINATION_SERIALIZATION_ERROR");
    assert_eq!(orders_file["extras"][0], r#"{"extra":[1]}"#);
    // Typed columns carry min/max; JSON text does not (it would prune nothing).
    assert_eq!(orders_file["has_min_max"]["id"], true, "{}", orders_file["has_min_max"]);
    assert_eq!(orders_file["has_min_max"]["name"], true);
    assert_eq!(orders_file["has_min_max"]["_airbyte_additional_properties"], false);
}

#[test]
fn interleaved_streams_whose_properties_come_in_another_order_keep_their_values() {
    // Each record is split with the keys of the stream before it; those of a stream with the same names in
    // another order must not name its columns.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let reversed: serde_json::Map<String, Value> =
        simple_schema()["properties"].as_object().unwrap().iter().rev().map(|(k, v)| (k.clone(), v.clone())).collect();
    let cat = catalog(vec![
        stream("forward", None, simple_schema(), "append", None),
        stream("backward", None, json!({"type": "object", "properties": reversed}), "append", None),
    ]);
    let mut input = Vec::new();
    for i in 0..300 {
        input.push(record("forward", None, i));
        input.push(record("backward", None, i));
    }
    input.push(state("forward", None, 1));
    let out = run(dir.path(), &["write"], &config(&root), Some(&cat), &lines(&input));
    assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    let files = read_local(&root);
    for prefix in ["base/forward/", "base/backward/"] {
        assert_eq!(ids_under(&files, prefix), (0..300).collect::<Vec<_>>(), "{prefix}");
        let (_, file) = files["files"].as_object().unwrap().iter().find(|(k, _)| k.starts_with(prefix)).unwrap();
        assert_eq!(file["first"][0]["name"], "n0", "{prefix}");
        assert_eq!(file["first"][0]["address"]["city"], "Köln", "{prefix}");
        assert!(file["changes"].as_array().unwrap().iter().all(|c| c.as_array().unwrap().is_empty()), "{prefix}");
    }
}

#[test]
fn frequent_states_do_not_make_one_file_per_state() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let cat = catalog(vec![stream("s", None, simple_schema(), "append", None)]);
    let mut input = Vec::new();
    for i in 0..5000 {
        input.push(record("s", None, i));
        input.push(state("s", None, i));
    }
    let out = run(dir.path(), &["write"], &config(&root), Some(&cat), &lines(&input));
    assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    assert_eq!(out.states().len(), 5000);
    let files = read_local(&root);
    assert_eq!(files["files"].as_object().unwrap().len(), 1, "5000 states, one file: {files}");
    assert_eq!(ids_under(&files, "base/s/").len(), 5000);
}

#[test]
fn nearly_unique_columns_are_written_without_a_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let cat = catalog(vec![stream("s", None, simple_schema(), "append", None)]);
    let mut input: Vec<String> = (0..3000).map(|i| record("s", None, i)).collect();
    input.push(state("s", None, 1));
    let out = run(dir.path(), &["write"], &config(&root), Some(&cat), &lines(&input));
    assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    let files = read_local(&root);
    let (_, file) = files["files"].as_object().unwrap().iter().next().unwrap();
    let dictionary = &file["dictionary"];
    // Every id, name and price differs; every day, time and tag repeats.
    for column in ["id", "name", "price", "_airbyte_raw_id", "_airbyte_extracted_at"] {
        assert_eq!(dictionary[column], false, "{column}: {dictionary}");
    }
    for column in ["day", "at", "tags.list.item", "address.city", "_airbyte_generation_id"] {
        assert_eq!(dictionary[column], true, "{column}: {dictionary}");
    }
    assert_eq!(ids_under(&files, "base/s/"), (0..3000).collect::<Vec<_>>());
}

#[test]
fn overwrite_replaces_previous_files_only_after_success() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let write = |generation: i64, ids: std::ops::Range<i64>, status: Option<&str>| {
        let cat = catalog(vec![
            stream("s", None, simple_schema(), "overwrite", Some((generation, generation))),
            // A stream whose name starts like the other's must never be touched by its clean-up.
            stream("s_v2", None, simple_schema(), "append", None),
        ]);
        let mut input: Vec<String> = ids.clone().map(|i| record("s", None, i)).collect();
        input.push(record("s_v2", None, generation));
        input.push(state("s", None, ids.end));
        if let Some(st) = status {
            input.push(status_line("s", st));
            input.push(status_line("s_v2", "COMPLETE"));
        }
        let out = run(dir.path(), &["write"], &config(&root), Some(&cat), &lines(&input));
        assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    };
    write(1, 0..10, None);
    assert_eq!(ids_under(&read_local(&root), "base/s/"), (0..10).collect::<Vec<_>>());
    // Interrupted refresh (INCOMPLETE): old generation kept next to the new rows.
    write(2, 100..105, Some("INCOMPLETE"));
    let mut expected: Vec<i64> = (0..10).chain(100..105).collect();
    assert_eq!(ids_under(&read_local(&root), "base/s/"), expected);
    // Successful sync of the same generation keeps the interrupted attempt's rows, drops generation 1.
    write(2, 200..203, Some("COMPLETE"));
    expected = (100..105).chain(200..203).collect();
    assert_eq!(ids_under(&read_local(&root), "base/s/"), expected);
    // Next generation, clean EOF without statuses: only its rows remain.
    write(3, 300..301, None);
    let files = read_local(&root);
    assert_eq!(ids_under(&files, "base/s/"), [300]);
    assert_eq!(ids_under(&files, "base/s_v2/"), [1, 2, 2, 3], "the other stream keeps everything");
}

fn status_line(stream: &str, st: &str) -> String {
    status(stream, None, st)
}

#[test]
fn truncate_refresh_in_append_mode_drops_generations_below_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    for (generation, minimum, ids) in [(1, 0, 0..3), (2, 0, 10..12), (3, 3, 20..21)] {
        let cat = catalog(vec![stream("s", None, simple_schema(), "append", Some((generation, minimum)))]);
        let input: Vec<String> = ids.map(|i| record("s", None, i)).collect();
        let out = run(dir.path(), &["write"], &config(&root), Some(&cat), &lines(&input));
        assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    }
    assert_eq!(ids_under(&read_local(&root), "base/s/"), [20]);
}

#[test]
fn streams_whose_keys_would_collide_are_refused_and_a_thousand_distinct_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    // "a b" becomes "a_b" in keys: the two streams would write (and on overwrite delete) each other's files.
    let colliding = catalog(vec![
        stream("a b", None, simple_schema(), "append", None),
        stream("a_b", None, simple_schema(), "append", None),
    ]);
    let out = run(dir.path(), &["write"], &config(&root), Some(&colliding), &lines(&[record("a b", None, 1)]));
    assert_ne!(out.exit_code, Some(0), "{}", out.transcript());
    let error = &out.errors()[0]["trace"]["error"];
    assert_eq!(error["failure_type"], "config_error", "{}", out.transcript());
    assert!(error["message"].as_str().unwrap().contains("map to the same object keys"), "{}", out.transcript());
    assert!(!root.join("base").exists(), "nothing written");
    // Distinct names are compared pairwise without trouble.
    let many = catalog((0..1000).map(|i| stream(&format!("s{i}"), None, simple_schema(), "append", None)).collect());
    let out = run(dir.path(), &["write"], &config(&root), Some(&many), &lines(&[record("s999", None, 7)]));
    assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    assert_eq!(ids_under(&read_local(&root), "base/s999/"), vec![7]);
}

#[test]
fn hostile_names_stay_inside_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let names = [("..", Some("../..")), ("a/b c", Some("ns.v1")), ("Bestände 2024", None), ("1st.stream", Some("/"))];
    let schema = json!({"type": "object", "properties": {"id": {"type": "integer"}, "first name": {"type": "string"},
        "2nd": {"type": "string"}, "a.b": {"type": "boolean"}, "ü": {"type": "string"}}});
    let cat = catalog(names.iter().map(|(n, ns)| stream(n, *ns, schema.clone(), "append", None)).collect());
    let input: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, (n, ns))| {
            let mut r = json!({"type": "RECORD", "record": {"stream": n, "emitted_at": 1,
                "data": {"id": i, "first name": "x", "2nd": "y", "a.b": true, "ü": "z"}}});
            if let Some(ns) = ns {
                r["record"]["namespace"] = json!(ns);
            }
            r.to_string()
        })
        .collect();
    let out = run(dir.path(), &["write"], &config(&root), Some(&cat), &lines(&input));
    assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    // Nothing escaped: the only entries beside `out` are our test files.
    let beside: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let mut beside_sorted = beside.clone();
    beside_sorted.sort();
    assert_eq!(beside_sorted, ["catalog.json", "config.json", "out"]);
    let files = read_local(&root);
    let keys: Vec<&String> = files["files"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for key in &keys {
        assert!(key.starts_with("base/") && !key.contains(' '), "{key}");
        assert!(key.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != ".."), "{key}");
    }
    let file = files["files"].as_object().unwrap().values().next().unwrap();
    for column in ["id", "first_name", "_2nd", "a_b", "_"] {
        assert!(file["types"].get(column).is_some(), "column {column} missing: {}", file["types"]);
    }
    let mapping: Value = serde_json::from_str(file["meta"]["airbyte.column_mapping"].as_str().unwrap()).unwrap();
    assert_eq!(mapping["first name"], "first_name");
}

#[test]
fn bad_input_fails_with_trace_and_commits_only_up_to_the_last_state() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let cat = catalog(vec![stream("s", None, simple_schema(), "append", None)]);
    // Bad line right after a state: everything before it is committed and acknowledged.
    let input = vec![record("s", None, 1), state("s", None, 1), "{not json".to_string()];
    let out = run(dir.path(), &["write"], &config(&root), Some(&cat), &lines(&input));
    assert_ne!(out.exit_code, Some(0));
    assert_eq!(out.states().len(), 1, "{}", out.transcript());
    let errors = out.errors();
    assert_eq!(errors.len(), 1, "{}", out.transcript());
    assert_eq!(errors[0]["trace"]["error"]["failure_type"], "config_error");
    assert!(
        errors[0]["trace"]["error"]["message"].as_str().unwrap().starts_with("input line 3: "),
        "{}",
        out.transcript()
    );
    assert_eq!(ids_under(&read_local(&root), "base/s/"), [1]);
    // Records after the last state are not made visible without an ack (a retry resends them).
    let input = vec![record("s", None, 2), state("s", None, 2), record("s", None, 3), "[1]".to_string()];
    let out = run(dir.path(), &["write"], &config(&root), Some(&cat), &lines(&input));
    assert_ne!(out.exit_code, Some(0));
    assert_eq!(out.states().len(), 0, "{}", out.transcript());
    assert!(out.errors()[0]["trace"]["error"]["message"].as_str().unwrap().starts_with("input line 4: "));
    assert_eq!(ids_under(&read_local(&root), "base/s/"), [1]);

    // A record for a stream that is not in the catalog names the stream.
    let input = vec![record("nope", None, 1)];
    let out = run(dir.path(), &["write"], &config(&root), Some(&cat), &lines(&input));
    assert_eq!(out.errors()[0]["trace"]["error"]["failure_type"], "config_error");
    assert!(out.errors()[0]["trace"]["error"]["message"].as_str().unwrap().contains("nope"));
}

#[test]
fn errors_give_the_line_counted_from_the_start_of_input_past_the_first_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let cat = catalog(vec![stream("s", None, simple_schema(), "append", None)]);
    // Over 4 MB before the bad line: it is decoded in a later chunk (chunks are cut near 2 MB) than the lines
    // counted before it, which include blank ones.
    let mut input = Vec::new();
    let mut bytes = 0;
    while bytes < 4 << 20 {
        let i = input.len() as i64;
        let line = match i % 1000 {
            999 => state("s", None, i),
            99 => String::new(),
            _ => record("s", None, i),
        };
        bytes += line.len() + 1;
        input.push(line);
    }
    let bad_line_number = input.len() + 1;
    let bad_lines = [
        ("{not json", "input line {n}: "),
        (
            record("nope", None, 1).as_str(),
            "input line {n}: record for stream nope which is not in the configured catalog",
        ),
        (r#"{"type": "STATE", "state": {"type": "STREAM"}}"#, "input line {n}: STREAM state without `stream`"),
    ]
    .map(|(line, expected)| (line.to_string(), expected.replace("{n}", &bad_line_number.to_string())));
    for (bad_line, expected) in bad_lines {
        let mut all = input.clone();
        all.push(bad_line);
        let out = run(dir.path(), &["write"], &config(&root), Some(&cat), &lines(&all));
        assert_ne!(out.exit_code, Some(0));
        let errors = out.errors();
        assert_eq!(errors.len(), 1, "{}", out.transcript());
        assert_eq!(errors[0]["trace"]["error"]["failure_type"], "config_error");
        let message = errors[0]["trace"]["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&expected), "{message}, expected {expected}");
    }
}

#[test]
fn check_writes_and_removes_a_probe_and_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let out = run(dir.path(), &["check"], &config(&root), None, b"");
    assert_eq!(out.connection_status().unwrap()["status"], "SUCCEEDED", "{}", out.transcript());
    let left: Vec<_> = walk(&root);
    assert!(left.is_empty(), "probe left behind: {left:?}");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let out =
        run(dir.path(), &["check"], &json!({"destination_path": blocker.join("sub").to_str().unwrap()}), None, b"");
    assert_eq!(out.connection_status().unwrap()["status"], "FAILED", "{}", out.transcript());
    assert!(out.connection_status().unwrap()["message"].as_str().unwrap().contains("destination_path"));
    let out = run(
        dir.path(),
        &["check"],
        &json!({"destination_path": "/tmp/x", "format": {"compression_codec": "LZO"}}),
        None,
        b"",
    );
    assert_eq!(out.connection_status().unwrap()["status"], "FAILED");
    assert!(out.connection_status().unwrap()["message"].as_str().unwrap().contains("LZO"));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn spec_matches_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(binary()).arg("spec").output().unwrap();
    let _ = dir;
    let spec: Value = serde_json::from_slice(&out.stdout).unwrap();
    let golden_path = conformance::support::workspace_root().join("specs/destination-parquet/spec.json");
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(golden_path).unwrap()).unwrap();
    assert_eq!(spec["spec"], golden);
}

#[test]
fn post_sync_hook_profiles_the_written_batches_and_never_fails_the_sync_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let cat = catalog(vec![stream("s", None, simple_schema(), "append", None)]);
    let input: Vec<String> = (0..300).map(|i| record("s", None, i)).chain([state("s", None, 300)]).collect();
    let mut cfg = config(&root);
    cfg["post_sync"] = json!({});
    let out = run(dir.path(), &["write"], &cfg, Some(&cat), &lines(&input));
    assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    assert_eq!(out.states().len(), 1);
    let profile_dir = root.join("_airbyte_quality");
    let profiles: Vec<_> =
        walk(&profile_dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    let profile_file = profiles.iter().find(|p| p.to_string_lossy().contains("/s/")).expect("a profile of stream s");
    let profile: Value = serde_json::from_str(&std::fs::read_to_string(profile_file).unwrap()).unwrap();
    assert_eq!(profile["rows"], 300, "{profile}");
    let logs: Vec<String> = out.of_type("LOG").map(|m| m.to_string()).collect();
    assert!(logs.iter().any(|l| l.contains("post-sync: ")), "{logs:?}");

    // A hook that cannot write its queue: logged, sync still succeeds ...
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "x").unwrap();
    cfg["post_sync"] = json!({"queue": {"path": blocker.join("q.sqlite").to_str().unwrap()}});
    let out = run(dir.path(), &["write"], &cfg, Some(&cat), &lines(&input));
    assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    assert_eq!(out.states().len(), 1);
    // ... unless configured to fail it (after every state was acknowledged).
    cfg["post_sync"]["fail_sync_on_error"] = json!(true);
    let out = run(dir.path(), &["write"], &cfg, Some(&cat), &lines(&input));
    assert_ne!(out.exit_code, Some(0), "{}", out.transcript());
    assert_eq!(out.states().len(), 1);
    assert!(
        out.errors()[0]["trace"]["error"]["message"].as_str().unwrap().contains("post-sync"),
        "{}",
        out.transcript()
    );
}

/// `write` of one append stream `s` with `cfg`, stdin and stdout piped, for tests that talk to it as it runs.
fn spawn_write(dir: &std::path::Path, cfg: &Value) -> std::process::Child {
    spawn_write_from(dir, cfg, std::process::Stdio::piped())
}

/// [`spawn_write`] with `stdin` as given.
fn spawn_write_from(dir: &std::path::Path, cfg: &Value, stdin: std::process::Stdio) -> std::process::Child {
    let cat = catalog(vec![stream("s", None, simple_schema(), "append", None)]);
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    std::fs::write(dir.join("catalog.json"), cat.to_string()).unwrap();
    std::process::Command::new(binary())
        .args(["write", "--config"])
        .arg(dir.join("config.json"))
        .arg("--catalog")
        .arg(dir.join("catalog.json"))
        .stdin(stdin)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A pipe for a child's stdin, made before the child starts: the read end (non-blocking if asked) and the write
/// end, with a buffer of `size` bytes if given; `None` when this process may not make a pipe that large.
#[cfg(target_os = "linux")]
fn pipe_for_stdin(nonblocking: bool, size: Option<i32>) -> Option<(std::os::fd::OwnedFd, std::fs::File)> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both descriptors, each owned exactly once below; fcntl only changes the pipe's flags
    // and buffer size.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        let (read_end, write_end) = (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]));
        if nonblocking {
            let flags = libc::fcntl(fds[0], libc::F_GETFL);
            assert_eq!(libc::fcntl(fds[0], libc::F_SETFL, flags | libc::O_NONBLOCK), 0);
        }
        if size.is_some_and(|size| libc::fcntl(fds[1], libc::F_SETPIPE_SZ, size) < size) {
            return None;
        }
        Some((read_end, std::fs::File::from(write_end)))
    }
}

#[test]
fn a_paused_source_gets_its_state_acknowledged_after_max_ack_delay() {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let mut cfg = config(&root);
    cfg["max_ack_delay_seconds"] = json!(1);
    let mut child = spawn_write(dir.path(), &cfg);
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("\"STATE\"") && tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait = std::time::Duration::from_secs(10);
    // The source pauses right after a state: the ack comes while stdin is still open.
    stdin.write_all(&lines(&[record("s", None, 1), state("s", None, 1)])).unwrap();
    stdin.flush().unwrap();
    let ack = rx.recv_timeout(wait).expect("state acknowledged during the pause");
    assert!(ack.contains("\"cursor\":1"), "{ack}");
    assert_eq!(ids_under(&read_local(&root), "base/s/"), [1], "committed before the ack");
    // Records after the state and then a pause: no commit mid-way; the next state is acknowledged.
    stdin.write_all(&lines(&[state("s", None, 2), record("s", None, 3)])).unwrap();
    stdin.flush().unwrap();
    let ack = rx.recv_timeout(wait).expect("second state acknowledged");
    assert!(ack.contains("\"cursor\":2"), "{ack}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(ids_under(&read_local(&root), "base/s/"), [1], "record 3 is not visible before a state covers it");
    stdin.write_all(&lines(&[state("s", None, 3)])).unwrap();
    stdin.flush().unwrap();
    let ack = rx.recv_timeout(wait).expect("third state acknowledged");
    assert!(ack.contains("\"cursor\":3"), "{ack}");
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert_eq!(ids_under(&read_local(&root), "base/s/"), [1, 3]);
}

#[cfg(target_os = "linux")]
#[test]
fn stdin_left_non_blocking_by_the_parent_is_waited_on_not_an_error() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    // A pipe whose read end is non-blocking, as event loops may leave the stdin they hand on.
    let (read_end, mut source) = pipe_for_stdin(true, None).unwrap();
    let child = spawn_write_from(dir.path(), &config(&root), read_end.into());
    // Nothing to read at first, then two bursts with a pause between.
    std::thread::sleep(std::time::Duration::from_millis(300));
    source.write_all(&lines(&[record("s", None, 1), state("s", None, 1)])).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    source.write_all(&lines(&[record("s", None, 2), state("s", None, 2)])).unwrap();
    drop(source);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(stdout.matches("\"type\":\"STATE\"").count(), 2, "{stdout}");
    assert_eq!(ids_under(&read_local(&root), "base/s/"), [1, 2]);
}

/// The pipe buffer of `write`'s stdin once it has acknowledged a state, when the pipe had `given` bytes before
/// (`None`: the default); `None` when this process may not make a pipe that large.
#[cfg(target_os = "linux")]
fn stdin_pipe_size_after_a_state(given: Option<i32>) -> Option<i32> {
    use std::io::{BufRead, Write};
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir.path().join("out"));
    cfg["max_ack_delay_seconds"] = json!(1);
    let (read_end, mut stdin) = pipe_for_stdin(false, given)?;
    let mut child = spawn_write_from(dir.path(), &cfg, read_end.into());
    stdin.write_all(&lines(&[record("s", None, 1), state("s", None, 1)])).unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("\"STATE\"") {
        line.clear();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "the state is acknowledged while stdin is open");
    }
    // SAFETY: F_GETPIPE_SZ only reads the pipe's buffer size.
    let size = unsafe { libc::fcntl(stdin.as_raw_fd(), libc::F_GETPIPE_SZ) };
    drop(stdin);
    assert!(child.wait().unwrap().success());
    Some(size)
}

#[cfg(target_os = "linux")]
#[test]
fn stdin_pipe_grows_to_1_mb_and_a_larger_one_is_kept() {
    assert_eq!(stdin_pipe_size_after_a_state(None), Some(1 << 20));
    // Above `fs.pipe-max-size` (1 MB by default) only a privileged process may go.
    if let Some(size) = stdin_pipe_size_after_a_state(Some(4 << 20)) {
        assert_eq!(size, 4 << 20);
    }
}

/// Rows in the complete (renamed) Parquet files under `dir`, from their footers.
fn visible_rows(dir: &std::path::Path) -> i64 {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| {
            SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap().metadata().file_metadata().num_rows()
        })
        .sum()
}

#[test]
fn every_ack_follows_the_commit_of_its_records_while_writing_goes_on() {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let mut cfg = config(&root);
    // A commit every megabyte of input: many commits run while later records are still being written.
    cfg["max_ack_lag_mb"] = json!(1);
    let mut child = spawn_write(dir.path(), &cfg);
    let (batches, per_batch) = (40i64, 2000i64);
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for b in 0..batches {
            let mut batch: Vec<String> = (1..=per_batch).map(|i| record("s", None, b * per_batch + i)).collect();
            batch.push(state("s", None, (b + 1) * per_batch));
            stdin.write_all(&lines(&batch)).unwrap();
        }
    });
    let stream_dir = root.join("base").join("s");
    let mut acked = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok) {
        let message: Value = serde_json::from_str(&line).unwrap();
        if message["type"] != "STATE" {
            continue;
        }
        let cursor = message["state"]["stream"]["stream_state"]["cursor"].as_i64().unwrap();
        let visible = visible_rows(&stream_dir);
        assert!(visible >= cursor, "state {cursor} acknowledged with only {visible} rows in committed files");
        acked.push(cursor);
    }
    feeder.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(acked, (1..=batches).map(|b| b * per_batch).collect::<Vec<_>>(), "every state, in order");
    let files = read_local(&root);
    assert!(
        files["files"].as_object().unwrap().len() > 5,
        "commits happened mid-run: {}",
        files["files"].as_object().unwrap().len()
    );
    assert_eq!(ids_under(&files, "base/s/"), (1..=batches * per_batch).collect::<Vec<_>>());
}

#[cfg(unix)]
#[test]
fn sixty_streams_in_flight_under_a_soft_limit_of_64_open_files_land_every_record() {
    use std::os::unix::process::CommandExt;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the structure passed to it.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    if limit.rlim_max < 1024 {
        eprintln!("skipped: the hard limit on open files here is {}", limit.rlim_max);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let streams = 60i64;
    let names: Vec<String> = (0..streams).map(|i| format!("s{i}")).collect();
    let cat = catalog(names.iter().map(|n| stream(n, None, simple_schema(), "append", None)).collect());
    // Every stream has rows in flight at once: a staged file and a page spill each, 120 descriptors and more.
    let mut input: Vec<String> = (0..3)
        .flat_map(|round| names.iter().enumerate().map(move |(i, n)| (round, i, n)))
        .map(|(round, i, n)| record(n, None, round * streams + i as i64))
        .collect();
    input.push(state("s0", None, 1));
    std::fs::write(dir.path().join("config.json"), config(&root).to_string()).unwrap();
    std::fs::write(dir.path().join("catalog.json"), cat.to_string()).unwrap();
    let mut command = std::process::Command::new(binary());
    command
        .args(["write", "--config"])
        .arg(dir.path().join("config.json"))
        .arg("--catalog")
        .arg(dir.path().join("catalog.json"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let soft_64 = libc::rlimit { rlim_cur: 64, rlim_max: limit.rlim_max };
    // SAFETY: the closure runs in the child between fork and exec and only calls setrlimit (async-signal-safe).
    unsafe {
        command.pre_exec(move || match libc::setrlimit(libc::RLIMIT_NOFILE, &soft_64) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, &lines(&input)).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.lines().any(|l| l.contains("\"type\":\"STATE\"")), "the state is acknowledged: {stdout}");
    let files = read_local(&root);
    for (i, name) in names.iter().enumerate() {
        let i = i as i64;
        assert_eq!(ids_under(&files, &format!("base/{name}/")), vec![i, streams + i, 2 * streams + i], "{name}");
    }
}
