//! The conformance harness (CAT's source checks) against the binary and the loopback soda4LCA node.

mod common;

use common::replay::Replay;
use common::run::config;
use conformance::SourceSuite;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

#[test]
fn source_suite_passes() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // The node serves from the runtime's threads while the suite runs the binary from this one.
    let node = runtime.block_on(Replay::start(0, Duration::ZERO, 0));
    let mut suite = SourceSuite::new(
        env!("CARGO_BIN_EXE_source-oekobaudat"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../specs/source-oekobaudat"),
        config(&node.base_url),
    );
    let mut unknown_stock = config(&node.base_url);
    unknown_stock["data_stock"] = json!("NO_SUCH_STOCK");
    suite.invalid_config = Some(unknown_stock);
    suite.incremental_streams = vec!["processes".into(), "epd_indicators".into(), "epd_details".into()];
    // "Future" for a version-set cursor: every EPD already seen at its current version.
    let versions: serde_json::Map<String, serde_json::Value> =
        node.node.epds.lock().unwrap().iter().map(|e| (e.uuid.clone(), json!(e.version))).collect();
    suite.future_state = Some(json!(suite
        .incremental_streams
        .iter()
        .map(|s| json!({"type": "STREAM", "stream": {"stream_descriptor": {"name": s},
                        "stream_state": {"versions": versions}}}))
        .collect::<Vec<_>>()));
    suite.timeout = Duration::from_secs(120);
    suite.run().assert_passed();
    drop(node);
}
