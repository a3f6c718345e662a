//! The conformance harness (CAT's source checks) against the binary and the loopback Airtable.

mod common;

use common::replay::{self, BaseData, Options, ReplayServer};
use conformance::SourceSuite;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_passes() {
    let base = |id: &str, name: &str, tables| BaseData {
        id: String::from(id),
        name: String::from(name),
        permission_level: Some("create".into()),
        deny_records: false,
        tables,
    };
    let data = vec![
        base(
            replay::RECORDED_BASE,
            "Replay Base",
            vec![replay::recorded_table(), replay::all_types_table("tblAllTypes000001", "All Types", 250)],
        ),
        base("appSecondBase0001", "Second Base", vec![replay::simple_table("tblSimple00000001", "Simple Table", 320)]),
    ];
    let server = ReplayServer::start(data, Options::default()).await;
    let config = common::pat_config(&server.url);
    let incremental = ["replay_base/all_types/tblAllTypes000001", "second_base/simple_table/tblSimple00000001"];
    let mut suite = SourceSuite::new(
        env!("CARGO_BIN_EXE_source-airtable"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../specs/source-airtable"),
        config.clone(),
    );
    let mut invalid = config;
    invalid["credentials"]["api_key"] = "patWrong.wrong-token-value".into();
    suite.invalid_config = Some(invalid);
    suite.incremental_streams = incremental.iter().map(|s| s.to_string()).collect();
    suite.future_state = Some(json!(incremental
        .iter()
        .map(|name| json!({"type": "STREAM", "stream": {"stream_descriptor": {"name": name},
            "stream_state": {"last_modified": "2999-01-01T00:00:00.000Z"}}}))
        .collect::<Vec<_>>()));
    let report = tokio::task::spawn_blocking(move || suite.run()).await.unwrap();
    report.assert_passed();
    let skipped: Vec<&str> = report.checks.iter().filter(|c| c.skipped.is_some()).map(|c| c.name).collect();
    assert!(skipped.is_empty(), "checks that did not run: {skipped:?}");
    assert!(report.get("incremental.future_state").is_some_and(|c| c.passed()));
}
