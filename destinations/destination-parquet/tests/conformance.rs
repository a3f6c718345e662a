//! The shared destination conformance suite (CAT's spec/check checks and the protocol-level write checks).

use conformance::{support, DestinationSuite};
use serde_json::json;

#[test]
fn destination_suite_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut suite = DestinationSuite::new(
        env!("CARGO_BIN_EXE_destination-parquet"),
        support::workspace_root().join("specs/destination-parquet"),
        json!({"destination_path": dir.path().join("out").to_str().unwrap(), "format": {"compression_codec": "ZSTD"}}),
    );
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    suite.invalid_config = Some(json!({"destination_path": blocker.join("sub").to_str().unwrap()}));
    suite.run().assert_passed();
}
