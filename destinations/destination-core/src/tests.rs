//! Batch builder tests: exact values, types, changes and additional properties.

use crate::schema::*;
use crate::{BatchBuilder, StreamSchema};
use airbyte_protocol::{ChangeKind, ChangeReason, FieldChange, StreamDescriptor};
use arrow::array::*;
use arrow::datatypes::DataType;
use serde_json::json;
use std::sync::Arc;

/// A deterministic xorshift64 generator for the crate's randomized tests.
pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

fn builder(schema: serde_json::Value) -> BatchBuilder {
    BatchBuilder::new(Arc::new(StreamSchema::from_parts(
        StreamDescriptor::new("s", Some("ns".into())),
        &schema,
        Some(42),
        3,
    )))
}

fn col<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).as_any().downcast_ref::<T>().expect("type")
}

fn changes_of(batch: &RecordBatch, row: usize) -> Vec<(String, String, String)> {
    let meta = col::<StructArray>(batch, META);
    let list = meta.column_by_name("changes").unwrap().as_any().downcast_ref::<ListArray>().unwrap();
    let entries = list.value(row);
    let entries = entries.as_any().downcast_ref::<StructArray>().unwrap();
    let s = |i: usize, r: usize| entries.column(i).as_any().downcast_ref::<StringArray>().unwrap().value(r).to_string();
    (0..entries.len()).map(|r| (s(0, r), s(1, r), s(2, r))).collect()
}

#[test]
fn typed_values_land_in_typed_columns() {
    let mut b = builder(json!({"properties": {
        "id": {"type": "integer"}, "price": {"type": ["null", "number"]}, "ok": {"type": "boolean"},
        "name": {"type": "string"}, "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"}, "t": {"type": "string", "format": "time"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "addr": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "integer"}}},
        "any": {}, "first name": {"type": "string"}
    }}));
    b.push(
        r#"{"id":1,"price":2.5,"ok":true,"name":"a\"b","day":"2024-01-02","at":"2024-01-02T03:04:05.123456Z",
           "t":"10:00:00","tags":["x","y"],"addr":{"city":"Köln","zip":50667},"any":{"k":[1]},"first name":"Ann"}"#,
        1_700_000_000_000,
        &[],
    )
    .unwrap();
    b.push(r#"{}"#, 1_700_000_000_001, &[]).unwrap();
    let batch = b.finish().unwrap();
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(col::<Int64Array>(&batch, "id").value(0), 1);
    assert!(col::<Int64Array>(&batch, "id").is_null(1));
    assert_eq!(col::<Float64Array>(&batch, "price").value(0), 2.5);
    assert!(col::<BooleanArray>(&batch, "ok").value(0));
    assert_eq!(col::<StringArray>(&batch, "name").value(0), "a\"b");
    assert_eq!(col::<Date32Array>(&batch, "day").value(0), 19724);
    assert_eq!(col::<TimestampMicrosecondArray>(&batch, "at").value(0), 1_704_164_645_123_456);
    assert_eq!(col::<Time64MicrosecondArray>(&batch, "t").value(0), 36_000_000_000);
    let tags = col::<ListArray>(&batch, "tags");
    assert_eq!(
        tags.value(0).as_any().downcast_ref::<StringArray>().unwrap().iter().flatten().collect::<Vec<_>>(),
        ["x", "y"]
    );
    assert!(tags.is_null(1));
    let addr = col::<StructArray>(&batch, "addr");
    assert_eq!(addr.column_by_name("city").unwrap().as_any().downcast_ref::<StringArray>().unwrap().value(0), "Köln");
    assert!(addr.is_null(1));
    assert_eq!(col::<StringArray>(&batch, "any").value(0), r#"{"k":[1]}"#);
    assert_eq!(col::<StringArray>(&batch, "first_name").value(0), "Ann");
    assert_eq!(col::<TimestampMicrosecondArray>(&batch, EXTRACTED_AT).value(1), 1_700_000_000_001_000);
    assert_eq!(col::<Int64Array>(&batch, GENERATION_ID).value(0), 3);
    let meta = col::<StructArray>(&batch, META);
    assert_eq!(meta.column_by_name("sync_id").unwrap().as_any().downcast_ref::<Int64Array>().unwrap().value(1), 42);
    let ids = col::<StringArray>(&batch, RAW_ID);
    assert_eq!(ids.value(0).len(), 36);
    assert_ne!(ids.value(0), ids.value(1));
    assert!(uuid::Uuid::parse_str(ids.value(0)).unwrap().get_version_num() == 7);
    // Monotonic within a builder: the string order is the creation order.
    assert!(ids.value(0) < ids.value(1), "{} {}", ids.value(0), ids.value(1));
    assert!(changes_of(&batch, 0).is_empty());
    assert!(crate::builder::additional_properties(&batch).unwrap().is_null(0));
    assert_eq!(batch.schema().field_with_name(EXTRACTED_AT).unwrap().data_type().to_string(), "Timestamp(µs, \"UTC\")");
}

#[test]
fn misfits_are_nulled_with_changes_and_source_changes_kept() {
    let mut b = builder(json!({"properties": {
        "id": {"type": "integer"}, "day": {"type": "string", "format": "date"},
        "nums": {"type": "array", "items": {"type": "number"}},
        "o": {"type": "object", "properties": {"n": {"type": "integer"}}}
    }}));
    let source = [FieldChange::new("big", ChangeKind::Truncated, ChangeReason::SourceFieldSizeLimitation)];
    b.push(r#"{"id":"abc","day":"2024-13-45","nums":[1,"x",3],"o":{"n":1.5}}"#, 0, &source).unwrap();
    let batch = b.finish().unwrap();
    assert!(col::<Int64Array>(&batch, "id").is_null(0));
    assert!(col::<Date32Array>(&batch, "day").is_null(0));
    let nums = col::<ListArray>(&batch, "nums").value(0);
    let nums = nums.as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!((nums.value(0), nums.is_null(1), nums.value(2)), (1.0, true, 3.0));
    let changes = changes_of(&batch, 0);
    let fields: Vec<&str> = changes.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(fields, ["big", "id", "day", "nums[1]", "o.n"]);
    assert_eq!(changes[0].1, "TRUNCATED");
    assert_eq!(changes[0].2, "SOURCE_FIELD_SIZE_LIMITATION");
    assert_eq!((changes[1].1.as_str(), changes[1].2.as_str()), ("NULLED", "DESTINATION_SERIALIZATION_ERROR"));
}

#[test]
fn undeclared_and_duplicate_properties_are_kept() {
    let mut b = builder(json!({"properties": {"a": {"type": "integer"},
        "o": {"type": "object", "properties": {"x": {"type": "string"}}}}}));
    b.push(r#"{"a":1,"extra":{"deep":[1,2]},"a":2,"o":{"x":"1","y":true}}"#, 0, &[]).unwrap();
    let batch = b.finish().unwrap();
    assert_eq!(col::<Int64Array>(&batch, "a").value(0), 1);
    let extra: serde_json::Value =
        serde_json::from_str(crate::builder::additional_properties(&batch).unwrap().value(0)).unwrap();
    assert_eq!(extra, json!({"extra": {"deep": [1, 2]}, "a": 2, "o.y": true}));
}

#[test]
fn record_data_may_have_whitespace_before_its_object() {
    // The first-byte check is a shortcut only: whitespace before the object is still accepted.
    let mut b = builder(json!({"type": "object"}));
    b.push(" \n\t{\"x\":1}", 0, &[]).unwrap();
    b.push_validated("\r\n{\"y\":2}", 0, &[]).unwrap();
    assert!(b.push(" [1]", 0, &[]).is_err());
    assert_eq!(b.finish().unwrap().num_rows(), 2);
}

#[test]
fn empty_schema_keeps_everything_and_builder_is_reusable() {
    let mut b = builder(json!({"type": "object"}));
    assert!(b.push("[1]", 0, &[]).is_err());
    b.push(r#"{"x":1}"#, 0, &[]).unwrap();
    let first = b.finish().unwrap();
    assert_eq!(first.num_rows(), 1);
    assert_eq!(crate::builder::additional_properties(&first).unwrap().value(0), r#"{"x":1}"#);
    b.push(r#"{"y":2}"#, 0, &[]).unwrap();
    b.push(r#"{"y":3}"#, 0, &[]).unwrap();
    let second = b.finish().unwrap();
    assert_eq!(second.num_rows(), 2);
    assert_eq!(second.schema(), first.schema());
    assert_eq!(second.schema().field(3).data_type(), &meta_type());
    assert!(matches!(second.schema().field(4).data_type(), DataType::Utf8));
}

/// Every column but the random `_airbyte_raw_id` (checked for shape instead).
fn comparable(batch: &RecordBatch) -> RecordBatch {
    let ids = col::<StringArray>(batch, RAW_ID);
    for id in ids.iter() {
        let id = uuid::Uuid::parse_str(id.expect("raw id")).expect("raw id is a UUID");
        assert_eq!(id.get_version_num(), 7);
    }
    let keep: Vec<usize> = (0..batch.num_columns()).filter(|&i| batch.schema().field(i).name() != RAW_ID).collect();
    batch.project(&keep).unwrap()
}

/// A schema with every column kind, nested structs and lists of structs.
fn every_kind_schema() -> serde_json::Value {
    json!({"properties": {
        "id": {"type": "integer"}, "price": {"type": ["null", "number"]}, "ok": {"type": "boolean"},
        "name": {"type": "string"}, "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "local": {"type": "string", "format": "date-time", "airbyte_type": "timestamp_without_timezone"},
        "t": {"type": "string", "format": "time"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "nums": {"type": "array", "items": {"type": "integer"}},
        "addr": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "integer"},
            "geo": {"type": "object", "properties": {"lat": {"type": "number"}}}}},
        "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"},
            "qty": {"type": "integer"}}}},
        "any": {}, "free": {"type": "object"}, "first name": {"type": "string"}, "k\"q": {"type": "integer"}
    }})
}

/// Records covering types, nulls, misfits, escapes, unicode, big numbers, whitespace, duplicates and
/// undeclared properties at every level.
const VARIED_RECORDS: &[&str] = &[
    r#"{"id":1,"price":2.5,"ok":true,"name":"a\"b","day":"2024-01-02","at":"2024-01-02T03:04:05.123456Z","local":"2024-01-02 03:04:05","t":"10:00:00","tags":["x","y"],"nums":[1,2,3],"addr":{"city":"Köln","zip":50667,"geo":{"lat":50.9}},"lines":[{"sku":"a","qty":1},{"sku":"b","qty":"x","extra":[1,{"z":"]"}]}],"any":{"k":[1]},"free":{"a":{"b":[]}},"first name":"Ann","k\"q":5}"#,
    r#"{}"#,
    r#"  { }  "#,
    "{ \"id\" : 9223372036854775807 ,\n\t\"price\" : -1.5e300 , \"ok\":\"false\", \"name\": 12.50, \"tags\" : [ ] , \"nums\":[ 1 , \"2\" , 3.0, 3.5, null, true ] }",
    r#"{"id":9223372036854775808,"price":"NaN?","ok":1,"name":{"nested":"obj"},"day":"2024-13-45","at":"yesterday","local":12,"t":"25:00:00","tags":"notalist","addr":[1],"lines":{"sku":1}}"#,
    r#"{"id":null,"price":null,"ok":null,"name":null,"day":null,"at":null,"t":null,"tags":null,"addr":null,"lines":null,"any":null,"free":null}"#,
    r#"{"name":"\u00e9\ud83d\ude00 \\ \/ \b\f\n\r\t","first name":"日本語 🎉","extra":"\"quoted\"","unknown":{"deep":{"er":[1,2,{"x":"}"}]}}}"#,
    r#"{"id":1,"id":2,"addr":{"city":"A","city":"B","zip4":"1234","geo":{"lat":"1.5","lon":2}},"na\u006de":"escaped key","n\u00e4me":1}"#,
    r#"{"id":"42","price":"3.25","ok":"true","at":"2024-01-02T03:04:05+02:00","day":"2024-01-02T23:00:00-02:00","t":"01:00:00+01:00","tags":[1,true,null,{"a":1},["b"]],"lines":[null,{},{"qty":1e2}]}"#,
    r#"{"price":1E5,"id":-0,"nums":[-9223372036854775808,1.0e1,0.5],"any":"text","free":[1,2],"addr":{}}"#,
    r#"{"any":[],"free":{},"tags":["with, comma","with ] bracket","with } brace","with \\\" both"],"lines":[{"sku":"s\"}{"}]}"#,
    r#"{"tags":["a",1,"b"],"nums":[]}"#,
    r#"{"tags":["a","b\"c",""]}"#,
    r#"{"tags":["a" ,"b"],"t":null}"#,
    r#"{"tags":["",""],"name":"n"}"#,
    r#"{"tags":["a","b",null]}"#,
    // A key placed the general way and then found again where expected; a key missing from the schema order.
    r#"{"ok":true,"id":1,"price":2,"ok":false}"#,
    r#"{"id":1,"ok":false,"name":"n"}"#,
    r#"{"id":2,"price":1.5,"ok":true,"name":"x","day":"2024-01-02","at":null}"#,
    // Ten bytes that are no date or timestamp (these once crashed the destination: the parsers recursed).
    r#"{"day":"2024/01/01","at":"yesterday!","local":"01/02/2024"}"#,
];

#[test]
fn validated_path_matches_serde_path_on_varied_records() {
    let mut serde_path = builder(every_kind_schema());
    let mut validated_path = builder(every_kind_schema());
    let mut split_path = builder(every_kind_schema());
    let mut expecting_path = builder(every_kind_schema());
    let source = [FieldChange::new("x", ChangeKind::Truncated, ChangeReason::SourceFieldSizeLimitation)];
    for (i, record) in VARIED_RECORDS.iter().enumerate() {
        serde_json::from_str::<serde_json::Value>(record).unwrap_or_else(|e| panic!("record {i} is not JSON: {e}"));
        let changes: &[FieldChange] = if i % 3 == 0 { &source } else { &[] };
        serde_path.push(record, i as i64, changes).unwrap();
        validated_path.push_validated(record, i as i64, changes).unwrap();
        push_split(&mut split_path, record, i as i64, changes);
        push_split_expecting(&mut expecting_path, record, i as i64, changes);
    }
    let expected = serde_path.finish().unwrap();
    let got = validated_path.finish().unwrap();
    assert_eq!(comparable(&split_path.finish().unwrap()), comparable(&expected), "split members path");
    assert_eq!(comparable(&expecting_path.finish().unwrap()), comparable(&expected), "expected keys path");
    assert_eq!(got.num_rows(), VARIED_RECORDS.len());
    let (expected, got) = (comparable(&expected), comparable(&got));
    for (i, field) in expected.schema().fields().iter().enumerate() {
        assert_eq!(got.column(i), expected.column(i), "column {}", field.name());
    }
    assert_eq!(got, expected);
    // The comparison has teeth: the records do exercise misfits, extras and escapes.
    assert!(changes_of(&got, 4).len() >= 8, "{:?}", changes_of(&got, 4));
    assert_eq!(changes_of(&got, VARIED_RECORDS.len() - 1).len(), 3, "ten-byte non-dates are nulled misfits");
    let extras = crate::builder::additional_properties(&got).unwrap();
    assert!(extras.value(7).contains("addr.zip4") && extras.value(7).contains("\"id\":2"), "{}", extras.value(7));
    assert_eq!(col::<StringArray>(&got, "name").value(6), "\u{e9}\u{1F600} \\ / \u{8}\u{c}\n\r\t");
    assert_eq!(col::<Int64Array>(&got, "id").value(3), i64::MAX);
}

#[test]
fn validated_path_matches_serde_path_on_the_benchmark_shape() {
    let schema = json!({"properties": {
        "uuid": {"type": "string"}, "ref_year": {"type": "integer"}, "valid_until": {"type": "string", "format": "date"},
        "density_kg_m3": {"type": ["null", "number"]}, "gwp_by_module": {"type": "object", "additionalProperties": {"type": "number"}},
        "is_generic": {"type": "boolean"}, "tags": {"type": "array", "items": {"type": "string"}},
        "updated_at": {"type": "string", "format": "date-time", "airbyte_type": "timestamp_with_timezone"}
    }});
    let (mut serde_path, mut validated_path) = (builder(schema.clone()), builder(schema.clone()));
    let mut split_path = builder(schema.clone());
    let mut expecting_path = builder(schema);
    for i in 0..500 {
        let record = json!({
            "uuid": format!("{i:08x}-0000-4000-8000-000000000000"), "ref_year": 2000 + i % 30,
            "valid_until": format!("2030-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
            "density_kg_m3": if i % 7 == 0 { serde_json::Value::Null } else { json!(i as f64 / 3.0) },
            "gwp_by_module": {"A1": i as f64 * 0.1, "D": -1.5}, "is_generic": i % 2 == 0,
            "tags": (0..i % 4).map(|t| format!("tag{t}")).collect::<Vec<_>>(),
            "updated_at": format!("2026-04-02T17:54:{:02}Z", i % 60), "surplus": i
        })
        .to_string();
        serde_path.push(&record, i, &[]).unwrap();
        validated_path.push_validated(&record, i, &[]).unwrap();
        push_split(&mut split_path, &record, i, &[]);
        assert_eq!(push_split_expecting(&mut expecting_path, &record, i, &[]), 8, "every declared key recognised");
    }
    let expected = comparable(&serde_path.finish().unwrap());
    assert_eq!(comparable(&validated_path.finish().unwrap()), expected);
    assert_eq!(comparable(&split_path.finish().unwrap()), expected);
    assert_eq!(comparable(&expecting_path.finish().unwrap()), expected);
}

/// Wrap `data` in a RECORD line, split it with the protocol codec and push the members.
fn push_split(b: &mut BatchBuilder, data: &str, emitted_at: i64, changes: &[FieldChange]) {
    let line = format!(r#"{{"type":"RECORD","record":{{"stream":"s","emitted_at":{emitted_at},"data":{data}}}}}"#);
    let mut members = Vec::new();
    let (message, split) = airbyte_protocol::codec::decode_line_split(line.as_bytes(), 1, &mut members).unwrap();
    let airbyte_protocol::codec::InputMessage::Record(record) = message else { panic!("not a record") };
    assert!(split, "the fast path takes {line}");
    b.push_members(record.data.get(), &members, emitted_at, changes).unwrap();
}

/// [`push_split`] with the builder's expected keys; returns how many members were recognised.
fn push_split_expecting(b: &mut BatchBuilder, data: &str, emitted_at: i64, changes: &[FieldChange]) -> usize {
    let line = format!(r#"{{"type":"RECORD","record":{{"stream":"s","emitted_at":{emitted_at},"data":{data}}}}}"#);
    let mut members = Vec::new();
    let schema = b.schema().clone();
    let (message, split) = airbyte_protocol::codec::decode_line_split_expecting(
        line.as_bytes(),
        1,
        &mut members,
        Some(schema.expected_keys().as_ref()),
    )
    .unwrap();
    let airbyte_protocol::codec::InputMessage::Record(record) = message else { panic!("not a record") };
    assert!(split, "the fast path takes {line}");
    b.push_members_expected(record.data.get(), &members, emitted_at, changes).unwrap();
    members.iter().filter(|m| m.expected.is_some()).count()
}

#[test]
fn validated_path_rejects_or_survives_malformed_text() {
    let mut b = builder(every_kind_schema());
    assert!(b.push_validated("[1]", 0, &[]).is_err());
    for broken in
        [r#"{"id":1"#, r#"{"id"}"#, r#"{"name":"unterminated}"#, r#"{"tags":[1,2}"#, r#"{"id":1,}"#, "{\"a\":\"\\"]
    {
        // Invalid text breaks the contract of push_validated: an error or misfits, never a panic.
        let _ = b.push_validated(broken, 0, &[]);
    }
    b.push_validated(r#"{"id":7}"#, 0, &[]).unwrap();
    let batch = b.finish().unwrap();
    assert_eq!(col::<Int64Array>(&batch, "id").value(batch.num_rows() - 1), 7);
}

#[test]
fn a_reused_builder_gives_the_same_batches_as_a_fresh_one_whatever_their_sizes() {
    // Batches of very different sizes in a row: buffers sized from earlier batches must not leak into later ones.
    let source = [FieldChange::new("x", ChangeKind::Truncated, ChangeReason::SourceFieldSizeLimitation)];
    let mut reused = builder(every_kind_schema());
    for (batch, rows) in [1usize, 300, 2, 0, 7, 500, 500, 3].into_iter().enumerate() {
        let mut fresh = builder(every_kind_schema());
        for row in 0..rows {
            let record = VARIED_RECORDS[(row + batch) % VARIED_RECORDS.len()];
            let changes: &[FieldChange] = if row % 4 == 0 { &source } else { &[] };
            reused.push_validated(record, row as i64, changes).unwrap();
            fresh.push_validated(record, row as i64, changes).unwrap();
        }
        let got = reused.finish().unwrap();
        assert_eq!(got.num_rows(), rows);
        assert_eq!(comparable(&got), comparable(&fresh.finish().unwrap()), "batch {batch} of {rows} rows");
    }
}

#[test]
fn streams_with_the_same_property_names_in_order_share_their_expected_keys() {
    let schema = |stream: &str, json_schema: serde_json::Value| {
        StreamSchema::from_parts(StreamDescriptor::new(stream, None), &json_schema, None, 0)
    };
    let mut schemas = vec![
        schema("a", json!({"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}})),
        // Same names in the same order (types may differ): a member's mark names the same column in both.
        schema("b", json!({"properties": {"id": {"type": "string"}, "name": {"type": "string"}}})),
        schema("c", json!({"properties": {"name": {"type": "string"}, "id": {"type": "integer"}}})),
        schema("d", json!({"properties": {"id": {"type": "integer"}}})),
    ];
    StreamSchema::share_expected_keys(&mut schemas);
    let shares = |x: usize, y: usize| Arc::ptr_eq(schemas[x].expected_keys(), schemas[y].expected_keys());
    assert!(shares(0, 1));
    assert!(!shares(0, 2) && !shares(0, 3) && !shares(2, 3));
}
