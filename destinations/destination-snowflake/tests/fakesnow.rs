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
    assert_eq!(first.code, 0, "{:?} {}", first.errors(), first.stderr);
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

    // A second append sync adds rows.
    let input = vec![record("people", None, json!({"id": 4}), 1_700_000_000_003), state("people", None, 4)];
    let run2 = run("write", Some(&sf.config()), Some(&cat), &input);
    assert_eq!(run2.code, 0, "{:?}", run2.errors());
    assert_eq!(sf.query(r#"SELECT COUNT(*) FROM "PUBLIC"."PEOPLE""#)[0][0].as_deref(), Some("4"));
    // No load tables are left behind.
    let leftovers = sf.query("SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%_AIRBYTE_LOAD_%'");
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
