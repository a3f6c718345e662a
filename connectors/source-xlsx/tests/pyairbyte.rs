//! PyAirbyte as a real client: `get_source(..., local_executable=<our binary>)` reads a multi-sheet workbook into
//! its DuckDB cache with the right row count per sheet, and a second (incremental) read adds nothing.

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::Command;

#[test]
fn pyairbyte_reads_every_sheet_into_its_cache() {
    let case = Case::new();
    let book = case.path("book.xlsx");
    python_workbook("multi", &book);
    let config = json!({"files": [book.display().to_string()]});
    let python = conformance::support::venv_tool("pyairbyte", "python");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pyairbyte_read.py");
    let out = Command::new(python)
        .arg(script)
        .arg(config.to_string())
        .arg(binary())
        .arg(case.path("cache"))
        .env("AIRBYTE_OFFLINE_MODE", "1")
        .env("DO_NOT_TRACK", "1")
        .current_dir(case.dir.path())
        .output()
        .expect("run PyAirbyte");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "PyAirbyte failed:\n{stdout}\n{stderr}");
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON result ({e}):\n{stdout}\n{stderr}"));
    let expected = json!({"book_materials": 5, "book_suppliers": 7, "book_lab_results": 3});
    assert_eq!(result["first"], expected, "{result}");
    assert_eq!(result["second"], expected, "the incremental re-read must not duplicate rows: {result}");
    assert_eq!(result["processed_second"], 0, "an unchanged workbook gives no records: {result}");
    let columns: Vec<&str> = result["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for c in ["_ab_row_number", "_ab_sheet_name", "_ab_source_file", "id", "name", "value", "checked_on"] {
        assert!(columns.contains(&c), "column {c} missing from the cache: {columns:?}");
    }
}
