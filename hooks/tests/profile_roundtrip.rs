//! A profile of a sync with no rows (an incremental sync that found nothing new) must be saved and read
//! back: empty numeric columns have infinite min/max, which JSON writes as null.

use airbyte_protocol::message::StreamDescriptor;
use arrow::datatypes::{DataType, Field, Schema};
use post_sync::{StreamProfile, StreamProfiler};
use std::sync::Arc;

#[test]
fn an_empty_sync_profile_round_trips_through_json() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("gwp", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let profiler = StreamProfiler::new(StreamDescriptor::new("epd", None), schema, vec![vec!["id".into()]], vec![]);
    let profile = profiler.finish();
    let json = serde_json::to_string(&profile).unwrap();
    let back: StreamProfile = serde_json::from_str(&json).expect("an empty profile reads back");
    assert_eq!(back.rows, 0);
    let again = serde_json::to_string(&back).unwrap();
    assert_eq!(json, again, "nothing changes in a save/load cycle");
}
