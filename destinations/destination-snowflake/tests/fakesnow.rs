//! The production SQL path against fakesnow (a Snowflake emulator with Snowflake's HTTP API): our binary, our
//! snowflake-api client, real COPY/INSERT/MERGE statements; tables read back and compared with the input.

mod common;

use common::*;
use serde_json::{json, Value};

fn catalog(streams: Vec<Value>) -> Value {
    json!({"streams": streams})
}

fn people_schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": ["null", "string"]}, "price": {"type": "number"},
        "ok": {"type": "boolean"}, "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "doc": {"type": "object", "properties": {"a b": {"type": "string"}}},
        "tags": {"type": "array", "items": {"type": "string"}}
    }})
}

fn cell(rows: &[Vec<Option<String>>], row: usize, col: usize) -> Option<&str> {
    rows[row][col].as_deref()
}

fn json_cell(rows: &[Vec<Option<String>>], row: usize, col: usize) -> Value {
    cell(rows, row, col).map(|s| serde_json::from_str(s).unwrap_or_else(|_| json!(s))).unwrap_or(Value::Null)
}

#[test]
fn append_creates_typed_table_and_acks_states_after_copy() {
    let sf = Emulator::start();
    let cat = catalog(vec![stream("people", None, people_schema(), "append")]);
    let input = vec![
        record(
            "people",
            None,
            json!({"id": 1, "name": "O'Brien \\ \"quoted\"", "price": 9.5, "ok": true, "day": "2024-02-29",
                   "at": "2024-03-01T10:00:00+02:00", "doc": {"a b": "x"}, "tags": ["t1", "t2"], "extra": {"k": 1}}),
            1_700_000_000_000,
        ),
        record("people", None, json!({"id": "not a number", "name": null, "price": 1}), 1_700_000_000_001),
        state("people", None, 2),
        record("people", None, json!({"id": 3}), 1_700_000_000_002),
        state("people", None, 3),
    ];
    let first = run("write", Some(&sf.config()), Some(&cat), &input);
    assert_eq!(first.exit_code, Some(0), "{:?} {}", first.errors(), first.stderr);
    let states = first.states();
    assert_eq!(states.len(), 2, "{:?}", first.messages);
    assert_eq!(states[0]["state"]["destinationStats"]["recordCount"], json!(2.0));
    assert_eq!(states[1]["state"]["destinationStats"]["recordCount"], json!(1.0));
    assert_eq!(states[1]["state"]["stream"]["stream_state"], json!({"cursor": 3}));

    let rows = sf.query(
        r#"SELECT "ID", "NAME", "PRICE", "OK", TO_VARCHAR("DAY"), TO_VARCHAR("AT"), TO_JSON("DOC"), TO_JSON("TAGS"),
                  TO_JSON("_AIRBYTE_META"), TO_JSON("_AIRBYTE_ADDITIONAL_PROPERTIES"), "_AIRBYTE_GENERATION_ID",
                  "_AIRBYTE_RAW_ID", TO_VARCHAR("_AIRBYTE_EXTRACTED_AT")
           FROM "PUBLIC"."PEOPLE" ORDER BY "_AIRBYTE_EXTRACTED_AT""#,
    );
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(cell(&rows, 0, 0), Some("1"));
    assert_eq!(cell(&rows, 0, 1), Some("O'Brien \\ \"quoted\""));
    assert_eq!(cell(&rows, 0, 2).map(|s| s.parse::<f64>().unwrap()), Some(9.5));
    assert_eq!(cell(&rows, 0, 3), Some("true"));
    assert_eq!(cell(&rows, 0, 4), Some("2024-02-29"));
    assert!(cell(&rows, 0, 5).unwrap().starts_with("2024-03-01 08:00:00"), "UTC: {rows:?}");
    assert_eq!(json_cell(&rows, 0, 6), json!({"a b": "x"}), "nested keys keep their names");
    assert_eq!(json_cell(&rows, 0, 7), json!(["t1", "t2"]));
    assert_eq!(json_cell(&rows, 0, 8), json!({"sync_id": 42, "changes": []}));
    assert_eq!(json_cell(&rows, 0, 9), json!({"extra": {"k": 1}}), "undeclared properties are kept");
    assert_eq!(cell(&rows, 0, 10), Some("1"));
    assert_eq!(cell(&rows, 0, 11).unwrap().len(), 36, "raw id is a uuid");
    // A value that does not fit its column: null plus a change entry.
    assert_eq!(cell(&rows, 1, 0), None);
    let meta = json_cell(&rows, 1, 8);
    assert_eq!(
        meta["changes"],
        json!([{"field": "id", "change": "NULLED", "reason": "DESTINATION_SERIALIZATION_ERROR"}]),
        "{meta}"
    );
    assert_eq!(cell(&rows, 1, 1), None);
    assert_eq!(cell(&rows, 2, 0), Some("3"));

    // Values that are not an object / array where the schema says so: null plus a change, the load succeeds.
    let input = vec![
        record(
            "people",
            None,
            json!({"id": 10, "doc": "not an object", "tags": {"not": "an array"}}),
            1_700_000_000_010,
        ),
        state("people", None, 10),
    ];
    let bad = run("write", Some(&sf.config()), Some(&cat), &input);
    assert_eq!(bad.exit_code, Some(0), "{:?}", bad.errors());
    let rows = sf.query(r#"SELECT "DOC", "TAGS", TO_JSON("_AIRBYTE_META") FROM "PUBLIC"."PEOPLE" WHERE "ID" = 10"#);
    assert_eq!((cell(&rows, 0, 0), cell(&rows, 0, 1)), (None, None), "{rows:?}");
    let fields: Vec<Value> =
        json_cell(&rows, 0, 2)["changes"].as_array().unwrap().iter().map(|c| c["field"].clone()).collect();
    assert_eq!(fields, [json!("doc"), json!("tags")]);
    sf.query(r#"DELETE FROM "PUBLIC"."PEOPLE" WHERE "ID" = 10"#);

    // A second append sync adds rows.
    let input = vec![record("people", None, json!({"id": 4}), 1_700_000_000_003), state("people", None, 4)];
    let run2 = run("write", Some(&sf.config()), Some(&cat), &input);
    assert_eq!(run2.exit_code, Some(0), "{:?}", run2.errors());
    assert_eq!(sf.query(r#"SELECT COUNT(*) FROM "PUBLIC"."PEOPLE""#)[0][0].as_deref(), Some("4"));
    // No load tables are left behind.
    let leftovers = sf.query("SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'AIRBYTE_LOAD_%'");
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn users_schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "updated": {"type": ["null", "integer"]}, "name": {"type": "string"},
        "_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time"}
    }})
}

fn user(id: i64, updated: Option<i64>, name: &str, at: i64) -> Value {
    record("users", None, json!({"id": id, "updated": updated, "name": name}), at)
}

#[test]
fn dedup_merge_keeps_newest_row_by_cursor_then_extracted_at() {
    let sf = Emulator::start();
    let mut s = stream("users", None, users_schema(), "append_dedup");
    s["primary_key"] = json!([["id"]]);
    s["cursor_field"] = json!(["updated"]);
    let cat = catalog(vec![s]);
    let input = vec![
        user(1, Some(1), "a", 1000),
        user(2, Some(5), "b", 1001),
        user(1, Some(3), "c", 1002),
        user(1, Some(3), "d", 1003),   // same cursor, later extraction: wins
        user(1, Some(2), "old", 1004), // older cursor, later extraction: loses
        state("users", None, 1),
    ];
    let first = run("write", Some(&sf.config()), Some(&cat), &input);
    assert_eq!(first.exit_code, Some(0), "{:?}", first.errors());
    assert_eq!(first.states().len(), 1);
    let read = || sf.query(r#"SELECT "ID", "UPDATED", "NAME" FROM "PUBLIC"."USERS" ORDER BY "ID""#);
    let text = |rows: Vec<Vec<Option<String>>>| -> Vec<String> {
        rows.iter()
            .map(|r| r.iter().map(|c| c.clone().unwrap_or("null".into())).collect::<Vec<_>>().join("|"))
            .collect()
    };
    assert_eq!(text(read()), ["1|3|d", "2|5|b"]);

    // Second sync: an older cursor does not replace, a newer one does, a CDC delete removes, a new key is added.
    let input = vec![
        user(1, Some(2), "stale", 2000),
        user(2, Some(6), "f", 2001),
        user(3, None, "g", 2002),
        record(
            "users",
            None,
            json!({"id": 1, "updated": 9, "name": "gone", "_ab_cdc_deleted_at": "2024-01-01T00:00:00Z"}),
            2003,
        ),
        record(
            "users",
            None,
            json!({"id": 4, "updated": 1, "name": "never", "_ab_cdc_deleted_at": "2024-01-01T00:00:00Z"}),
            2004,
        ),
        state("users", None, 2),
    ];
    let second = run("write", Some(&sf.config()), Some(&cat), &input);
    assert_eq!(second.exit_code, Some(0), "{:?}", second.errors());
    assert_eq!(text(read()), ["2|6|f", "3|null|g"], "hard delete of id 1, deleted id 4 never inserted");
}

fn letters_schema() -> Value {
    json!({"type": "object", "properties": {"letter": {"type": "string"}}})
}

fn letters(sf: &Emulator) -> Vec<String> {
    sf.query(r#"SELECT "LETTER" FROM "PUBLIC"."LETTERS" ORDER BY "LETTER""#)
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect()
}

fn letter_sync(sf: &Emulator, mode: &str, generation: i64, minimum: i64, letters: &[&str], status: &str) -> Run {
    let mut s = stream("letters", None, letters_schema(), mode);
    s["generation_id"] = json!(generation);
    s["minimum_generation_id"] = json!(minimum);
    let mut input: Vec<Value> = letters
        .iter()
        .enumerate()
        .map(|(i, l)| record("letters", None, json!({"letter": l}), 1000 + i as i64))
        .collect();
    input.push(state("letters", None, generation));
    if status == "COMPLETE" {
        input.push(complete("letters", None));
    } else {
        let mut t = complete("letters", None);
        t["trace"]["stream_status"]["status"] = json!(status);
        input.push(t);
    }
    run("write", Some(&sf.config()), Some(&catalog(vec![s])), &input)
}

#[test]
fn overwrite_replaces_only_after_success_and_resumes_an_interrupted_generation() {
    let sf = Emulator::start();
    let r = letter_sync(&sf, "overwrite", 1, 1, &["a", "b"], "COMPLETE");
    assert_eq!(r.exit_code, Some(0), "{:?}", r.errors());
    assert_eq!(letters(&sf), ["a", "b"]);

    // Interrupted overwrite (generation 2): the acked record sits in the temporary table, the live table keeps
    // the old data.
    let r = letter_sync(&sf, "overwrite", 2, 2, &["c"], "INCOMPLETE");
    assert_eq!(r.exit_code, Some(0), "{:?}", r.errors());
    assert_eq!(r.states().len(), 1, "the state is acked: its record is committed in the temporary table");
    assert_eq!(letters(&sf), ["a", "b"], "an interrupted overwrite keeps the old data");

    // The next attempt of the same generation resumes: acked "c" is kept, "d" added, then the swap.
    let r = letter_sync(&sf, "overwrite", 2, 2, &["d"], "COMPLETE");
    assert_eq!(r.exit_code, Some(0), "{:?}", r.errors());
    assert_eq!(letters(&sf), ["c", "d"]);

    // A new generation starts from an empty temporary table.
    let r = letter_sync(&sf, "overwrite", 3, 3, &["e"], "COMPLETE");
    assert_eq!(r.exit_code, Some(0), "{:?}", r.errors());
    assert_eq!(letters(&sf), ["e"]);
    let generations = sf.query(r#"SELECT DISTINCT "_AIRBYTE_GENERATION_ID" FROM "PUBLIC"."LETTERS""#);
    assert_eq!(generations, vec![vec![Some("3".to_string())]]);
    let leftovers = sf.query("SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'LETTERS_%'");
    assert!(leftovers.is_empty(), "temporary tables are gone: {leftovers:?}");
}

#[test]
fn generation_cleanup_deletes_rows_below_the_minimum_generation() {
    let sf = Emulator::start();
    for (generation, minimum, letter) in [(1, 0, "a"), (2, 0, "b"), (3, 2, "c")] {
        let r = letter_sync(&sf, "append", generation, minimum, &[letter], "COMPLETE");
        assert_eq!(r.exit_code, Some(0), "{:?}", r.errors());
    }
    assert_eq!(letters(&sf), ["b", "c"], "generation 1 is below the minimum 2");
    // An append whose stream did not complete does not clean up.
    let r = letter_sync(&sf, "append", 4, 4, &["d"], "INCOMPLETE");
    assert_eq!(r.exit_code, Some(0));
    assert_eq!(letters(&sf), ["b", "c"], "a truncate refresh that did not complete leaves the table as it was");
}

#[test]
fn schema_evolution_adds_columns_and_migrates_types_without_losing_values() {
    let sf = Emulator::start();
    let sync = |schema: Value, rows: Vec<Value>| {
        let cat = catalog(vec![stream("evolving", None, schema, "append")]);
        let mut input: Vec<Value> =
            rows.into_iter().enumerate().map(|(i, d)| record("evolving", None, d, 1000 + i as i64)).collect();
        input.push(state("evolving", None, 1));
        let r = run("write", Some(&sf.config()), Some(&cat), &input);
        assert_eq!(r.exit_code, Some(0), "{:?}", r.errors());
    };
    let types = || -> Vec<String> {
        sf.query("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'PUBLIC' \
                  AND table_name = 'EVOLVING' AND column_name NOT LIKE '\\_AIRBYTE%' ESCAPE '\\\\' ORDER BY column_name")
            .into_iter()
            .map(|r| format!("{}:{}", r[0].clone().unwrap(), r[1].clone().unwrap()))
            .collect()
    };
    sync(
        json!({"properties": {"id": {"type": "integer"}, "amount": {"type": "integer"}, "code": {"type": "integer"}}}),
        vec![json!({"id": 1, "amount": 5, "code": 7})],
    );
    assert_eq!(types(), ["AMOUNT:NUMBER", "CODE:NUMBER", "ID:NUMBER"]);
    // Widening: integer -> number, integer -> string, plus a new column.
    sync(
        json!({"properties": {"id": {"type": "integer"}, "amount": {"type": "number"}, "code": {"type": "string"},
                              "note": {"type": "string"}}}),
        vec![json!({"id": 2, "amount": 2.5, "code": "abc", "note": "new"})],
    );
    assert_eq!(types(), ["AMOUNT:FLOAT", "CODE:TEXT", "ID:NUMBER", "NOTE:TEXT"]);
    let rows = sf.query(r#"SELECT "ID", "AMOUNT", "CODE", "NOTE" FROM "PUBLIC"."EVOLVING" ORDER BY "ID""#);
    assert_eq!(rows[0], vec![Some("1".into()), Some("5.0".into()), Some("7".into()), None]);
    assert_eq!(rows[1], vec![Some("2".into()), Some("2.5".into()), Some("abc".into()), Some("new".into())]);
    // Narrowing string -> integer cannot convert "abc": the old column is kept beside the new one.
    sync(
        json!({"properties": {"id": {"type": "integer"}, "amount": {"type": "number"}, "code": {"type": "integer"},
                              "note": {"type": "string"}}}),
        vec![json!({"id": 3, "amount": 1, "code": 9})],
    );
    let t = types();
    assert!(
        t.contains(&"CODE:NUMBER".to_string()) && t.contains(&"CODE_AIRBYTE_PREV_VARCHAR:TEXT".to_string()),
        "{t:?}"
    );
    let rows = sf.query(r#"SELECT "ID", "CODE", "CODE_AIRBYTE_PREV_VARCHAR" FROM "PUBLIC"."EVOLVING" ORDER BY "ID""#);
    let flat: Vec<Vec<Option<&str>>> = rows.iter().map(|r| r.iter().map(|c| c.as_deref()).collect()).collect();
    assert_eq!(flat[0], [Some("1"), Some("7"), Some("7")]);
    assert_eq!(flat[1], [Some("2"), None, Some("abc")], "the value that does not convert is kept");
    assert_eq!(flat[2], [Some("3"), Some("9"), None]);
}

#[test]
fn odd_stream_namespace_and_field_names_are_quoted_not_executed() {
    let sf = Emulator::start();
    sf.query(r#"CREATE SCHEMA IF NOT EXISTS "PUBLIC""#);
    sf.query(r#"CREATE TABLE "PUBLIC"."X" ("V" VARCHAR)"#);
    sf.query(r#"INSERT INTO "PUBLIC"."X" VALUES ('still here')"#);
    let name = r#"a"; drop table x; --"#;
    // fakesnow cannot create a schema whose name holds `"` or `.` (it runs `SET schema='db.schema'`), and a `'`
    // in a column name breaks its DDL: those are covered by the unit tests of `sql` only.
    let namespace = "ns; drop table x; --";
    let schema = json!({"properties": {
        "we\"ird; col": {"type": "string"}, "select": {"type": "integer"}, "ünïcode name": {"type": "string"},
        "semi;colon -- dash": {"type": "string"}
    }});
    let cat = catalog(vec![stream(name, Some(namespace), schema, "append")]);
    let input = vec![
        record(
            name,
            Some(namespace),
            json!({"we\"ird; col": "v1", "select": 1, "ünïcode name": "ü", "semi;colon -- dash": "'; --"}),
            1,
        ),
        state(name, Some(namespace), 1),
    ];
    let r = run("write", Some(&sf.config()), Some(&cat), &input);
    assert_eq!(r.exit_code, Some(0), "{:?}", r.errors());
    assert_eq!(r.states().len(), 1);
    let rows = sf.query(
        r#"SELECT "WE""IRD; COL", "SELECT", "ÜNÏCODE NAME", "SEMI;COLON -- DASH" FROM "NS; DROP TABLE X; --"."A""; DROP TABLE X; --""#,
    );
    assert_eq!(rows, vec![vec![Some("v1".into()), Some("1".into()), Some("ü".into()), Some("'; --".into())]]);
    assert_eq!(sf.query(r#"SELECT "V" FROM "PUBLIC"."X""#), vec![vec![Some("still here".to_string())]]);
}

#[test]
fn check_logs_in_with_password_or_encrypted_key_and_fails_clearly() {
    let sf = Emulator::start();
    let ok = run("check", Some(&sf.config()), None, &[]);
    assert_eq!(ok.connection_status().map(|s| s["status"].clone()), Some(json!("SUCCEEDED")), "{:?}", ok.messages);

    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let key = std::fs::read_to_string(data.join("rsa_key_des3.p8")).unwrap();
    let mut config = sf.config();
    config["credentials"] =
        json!({"auth_type": "PRIVATE_KEY", "private_key": key, "private_key_password": "test-passphrase"});
    let ok = run("check", Some(&config), None, &[]);
    assert_eq!(ok.connection_status().map(|s| s["status"].clone()), Some(json!("SUCCEEDED")), "{:?}", ok.messages);

    config["credentials"]["private_key_password"] = json!("wrong-passphrase");
    let failed = run("check", Some(&config), None, &[]);
    let status = failed.connection_status().expect("a status");
    assert_eq!(status["status"], "FAILED");
    assert!(status["message"].as_str().unwrap().contains("wrong passphrase"), "{status}");
    let all = serde_json::to_string(&failed.messages).unwrap() + &failed.stderr;
    assert!(!all.contains("wrong-passphrase") && !all.contains("PRIVATE KEY-----\nMI"), "secrets leaked: {all}");

    let mut unreachable = sf.config();
    unreachable["host"] = json!(format!("http://127.0.0.1:{}", conformance::support::free_port()));
    let failed = run("check", Some(&unreachable), None, &[]);
    assert_eq!(failed.connection_status().map(|s| s["status"].clone()), Some(json!("FAILED")), "{:?}", failed.messages);
    let all = serde_json::to_string(&failed.messages).unwrap();
    assert!(!all.contains("emulator-password"), "{all}");
}

#[test]
fn records_of_unknown_streams_and_bad_lines_fail_without_acking_later_states() {
    let sf = Emulator::start();
    let cat = catalog(vec![stream("letters", None, letters_schema(), "append")]);
    let input = vec![
        record("letters", None, json!({"letter": "a"}), 1),
        state("letters", None, 1),
        record("nope", None, json!({"letter": "b"}), 2),
        state("letters", None, 2),
    ];
    let r = run("write", Some(&sf.config()), Some(&cat), &input);
    assert_ne!(r.exit_code, Some(0));
    let errors = r.errors();
    assert_eq!(errors.len(), 1, "{:?}", r.messages);
    assert_eq!(errors[0]["trace"]["error"]["failure_type"], "config_error");
    assert!(errors[0]["trace"]["error"]["message"].as_str().unwrap().contains("input line 3"), "{:?}", errors[0]);
    // The state after "a" may only be acked if "a" was committed; the later state is never acked.
    for s in r.states() {
        assert_eq!(s["state"]["stream"]["stream_state"]["cursor"], 1);
        assert_eq!(letters_named(&sf, "LETTERS"), ["a"]);
    }
}

fn letters_named(sf: &Emulator, table: &str) -> Vec<String> {
    sf.try_query(&format!(r#"SELECT "LETTER" FROM "PUBLIC"."{table}" ORDER BY 1"#))
        .unwrap_or_default()
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect()
}

/// Run the binary with stdin kept open: each step's lines are written followed by its pause (ms), then we wait
/// for a STATE on stdout (the ack must not wait for the end of input), then `rest` is written and stdin closed.
fn ack_while_input_open(sf: &Emulator, config: Value, steps: Vec<(Vec<Value>, u64)>, rest: Vec<Value>) -> (bool, Run) {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog(vec![stream("letters", None, letters_schema(), "append")]);
    let config_path = dir.path().join("config.json");
    let catalog_path = dir.path().join("catalog.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    std::fs::write(&catalog_path, cat.to_string()).unwrap();
    let _ = sf;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_destination-snowflake"))
        .args(["write", "--config", config_path.to_str().unwrap(), "--catalog", catalog_path.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut messages = Vec::new();
    let write = |stdin: &mut std::process::ChildStdin, lines: &[Value]| {
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
        stdin.flush().unwrap();
    };
    for (lines, pause_ms) in &steps {
        write(&mut stdin, lines);
        std::thread::sleep(std::time::Duration::from_millis(*pause_ms));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut acked_early = false;
    while std::time::Instant::now() < deadline {
        if let Ok(m) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            let is_state = m["type"] == "STATE";
            messages.push(m);
            if is_state {
                acked_early = true;
                break;
            }
        }
    }
    write(&mut stdin, &rest);
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    messages.extend(rx.try_iter());
    let messages = messages.into_iter().enumerate().collect();
    let run = Run {
        label: "write (stdin held open)".into(),
        exit_code: status.code(),
        timed_out: false,
        lines: Vec::new(),
        messages,
        unparsable: Vec::new(),
        stderr: String::new(),
    };
    (acked_early, run)
}

#[test]
fn a_state_is_acked_when_its_batch_is_full_without_waiting_for_the_end() {
    let sf = Emulator::start();
    let mut config = sf.config();
    config["batch_size_mb"] = json!(1);
    // 512 records of exactly 2048 bytes of data fill the 1 MiB batch: the load runs at record 512.
    let filler = "x".repeat(2048 - r#"{"letter":""}"#.len());
    let mut first: Vec<Value> = (0..512).map(|i| record("letters", None, json!({"letter": filler}), i)).collect();
    first.push(state("letters", None, 1));
    let rest = vec![record("letters", None, json!({"letter": "last"}), 999), state("letters", None, 2)];
    let (early, r) = ack_while_input_open(&sf, config, vec![(first, 0)], rest);
    assert!(early, "the first state must be acked while input is still open: {:?}", r.messages.len());
    assert_eq!(r.exit_code, Some(0));
    let states: Vec<&Value> = r.states();
    assert_eq!(states.len(), 2);
    assert_eq!(states[0]["state"]["destinationStats"]["recordCount"], json!(512.0));
    assert_eq!(letters(&sf).len(), 513);
}

#[test]
fn a_waiting_state_is_acked_after_the_flush_interval() {
    let sf = Emulator::start();
    let mut config = sf.config();
    config["flush_interval_seconds"] = json!(1);
    // The interval is checked as lines arrive: the first state waits (its record is buffered); the next line,
    // after the interval, triggers the load while input is still open.
    let steps = vec![
        (vec![record("letters", None, json!({"letter": "a"}), 1), state("letters", None, 1)], 1500),
        (vec![state("letters", None, 2)], 0),
    ];
    let (early, r) = ack_while_input_open(&sf, config, steps, vec![record("letters", None, json!({"letter": "b"}), 2)]);
    assert!(early, "{:?}", r.messages);
    assert_eq!(r.exit_code, Some(0));
    let states: Vec<&Value> = r.states();
    assert_eq!(states.len(), 2, "{:?}", r.messages);
    assert_eq!(letters(&sf), ["a", "b"]);
}

#[test]
fn dedup_with_a_truncate_refresh_merges_into_the_new_generation_only() {
    let sf = Emulator::start();
    let sync = |generation: i64, minimum: i64, rows: Vec<Value>| {
        let mut s = stream("users", None, users_schema(), "append_dedup");
        s["primary_key"] = json!([["id"]]);
        s["cursor_field"] = json!(["updated"]);
        s["generation_id"] = json!(generation);
        s["minimum_generation_id"] = json!(minimum);
        let mut input = rows;
        input.push(state("users", None, generation));
        let r = run("write", Some(&sf.config()), Some(&catalog(vec![s])), &input);
        assert_eq!(r.exit_code, Some(0), "{:?}", r.errors());
    };
    sync(1, 0, vec![user(1, Some(1), "a", 1), user(2, Some(1), "b", 2)]);
    sync(2, 2, vec![user(1, Some(5), "x", 3), user(1, Some(4), "y", 4)]);
    let rows = sf.query(r#"SELECT "ID", "NAME", "_AIRBYTE_GENERATION_ID" FROM "PUBLIC"."USERS" ORDER BY "ID""#);
    assert_eq!(rows, vec![vec![Some("1".into()), Some("x".into()), Some("2".into())]], "id 2 was in generation 1 only");
}

#[test]
fn a_staged_file_of_several_read_chunks_arrives_whole() {
    // fakesnow answers PUT with a GCS-style presigned URL; the upload streams the file in 1 MiB chunks (memory
    // does not grow with batch_size_mb). 3000 records of 1 KiB random hex make a staged file of about 3 MB.
    let sf = Emulator::start();
    let schema = json!({"type": "object", "properties": {"id": {"type": "integer"}, "hex": {"type": "string"}}});
    let cat = catalog(vec![stream("blobs", None, schema, "append")]);
    let noise = |_| (0..32).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect::<String>();
    let values: Vec<String> = (0..3000).map(noise).collect();
    let mut input: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, hex)| record("blobs", None, json!({"id": i, "hex": hex}), i as i64))
        .collect();
    input.push(state("blobs", None, 1));
    let r = run("write", Some(&sf.config()), Some(&cat), &input);
    assert_eq!(r.exit_code, Some(0), "{:?} {}", r.errors(), r.stderr);
    assert_eq!(r.states().len(), 1);
    let rows = sf.query(r#"SELECT COUNT(*), SUM(LENGTH("HEX")) FROM "PUBLIC"."BLOBS""#);
    assert_eq!(cell(&rows, 0, 0), Some("3000"), "{rows:?}");
    assert_eq!(cell(&rows, 0, 1).map(|s| s.parse::<f64>().unwrap()), Some(3_072_000.0), "{rows:?}");
    let last = sf.query(r#"SELECT "HEX" FROM "PUBLIC"."BLOBS" WHERE "ID" = 2999"#);
    assert_eq!(cell(&last, 0, 0), Some(values[2999].as_str()), "the end of the file is intact");
}
