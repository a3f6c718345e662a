//! Batch builder tests: exact values, types, changes and additional properties.

use crate::schema::*;
use crate::{BatchBuilder, StreamSchema};
use airbyte_protocol::{ChangeKind, ChangeReason, FieldChange, StreamDescriptor};
use arrow::array::*;
use arrow::datatypes::DataType;
use serde_json::json;
use std::sync::Arc;

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
    assert!(uuid::Uuid::parse_str(ids.value(0)).unwrap().get_version_num() == 4);
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
