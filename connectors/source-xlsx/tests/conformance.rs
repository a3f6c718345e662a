//! The conformance harness (CAT's source checks) against the binary and the example workbook.

use conformance::SourceSuite;
use serde_json::json;
use std::path::Path;

#[test]
fn source_suite_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sample = root.join("specs/source-xlsx/examples/sample.xlsx").canonicalize().expect("sample workbook");
    let sample = sample.display().to_string();
    // The example config, with the workbook's absolute path (the suite runs the binary from another folder).
    let mut config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("specs/source-xlsx/examples/config.json")).expect("example config"),
    )
    .expect("example config is JSON");
    config["files"] = json!([sample]);
    let mut suite = SourceSuite::new(env!("CARGO_BIN_EXE_source-xlsx"), root.join("specs/source-xlsx"), config);
    suite.invalid_config = Some(json!({"files": [root.join("specs/source-xlsx/examples/missing.xlsx")]}));
    let streams = [
        ("sample_epd_materials", "EPD Materials"),
        ("sample_suppliers", "Suppliers"),
        ("sample_lab_results", "Lab Results"),
    ];
    suite.incremental_streams = streams.iter().map(|(s, _)| s.to_string()).collect();
    // Every file "already read" at a far-future modification time.
    suite.future_state = Some(json!(streams
        .iter()
        .map(|(s, sheet)| json!({"type": "STREAM", "stream": {"stream_descriptor": {"name": s},
            "stream_state": {"source_file": sample, "sheet": sheet,
                             "_ab_source_file_last_modified": "2999-12-31T00:00:00.000000Z", "size": 1, "etag": null}}}))
        .collect::<Vec<_>>()));
    suite.run().assert_passed();
}
