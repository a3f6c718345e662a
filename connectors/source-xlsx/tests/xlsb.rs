//! .xlsb (Excel binary) workbooks, written by tests/data/make_xlsb.py (a standard-library writer of the MS-XLSB
//! format) and checked with pyxlsb before the connector reads them: the same sheets, types, values, changes
//! and errors as the xlsx/xls/ods tests assert.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// Run `make_xlsb.py <kind> <out> --verify`: writes the workbook, then reads it back with pyxlsb and fails
/// when any value differs from what was written.
fn xlsb_workbook(kind: &str, out: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/make_xlsb.py");
    let python = conformance::support::venv_tool("xlsb", "python");
    let result = Command::new(python).arg(&script).arg(kind).arg(out).arg("--verify").output().expect("run make_xlsb");
    assert!(
        result.status.success(),
        "make_xlsb.py {kind} failed:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(out.exists(), "make_xlsb.py {kind} wrote nothing");
}

fn made(kind: &str, file: &str) -> Case {
    let case = Case::new();
    xlsb_workbook(kind, &case.path(file));
    case
}

#[test]
fn the_xlsb_writer_is_checked_by_pyxlsb_and_the_check_can_fail() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/make_xlsb.py");
    let out = Command::new(conformance::support::venv_tool("xlsb", "python"))
        .arg(&script)
        .arg("self_test")
        .arg(dir.path().join("self_test.xlsb"))
        .output()
        .expect("run make_xlsb self_test");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn xlsb_visible_sheets_types_values_and_row_numbers() {
    let case = made("lab", "book.xlsb");
    let (catalog, r) = case.read_ok("book.xlsb");
    assert_no_panic(&r);
    // The hidden and the very hidden sheet are left out by default.
    assert_eq!(names(&catalog), ["book_lab", "book_suppliers"]);
    let lab = stream(&catalog, "book_lab");
    assert_eq!(
        data_columns(lab),
        ["Sample", "Strength", "Passed", "column_4", "Count", "Sample_2", "Tested at", "Due", "Ratio"]
    );
    assert_eq!(lab["json_schema"]["properties"]["Sample_2"]["description"], "Sample");
    assert_eq!(lab["json_schema"]["properties"]["column_4"]["description"], "Column D (no header)");
    let types: Vec<String> = data_columns(lab).iter().map(|c| type_of(lab, c)).collect();
    assert_eq!(
        types,
        ["string", "number", "boolean", "string", "integer", "string", "date-time", "date", "number"],
        "RK and real integers are integers; real, RK-float and RK/100 numbers are numbers; date formats give dates"
    );
    assert_eq!(lab["source_defined_primary_key"], json!([["_ab_source_file"], ["_ab_sheet_name"], ["_ab_row_number"]]));
    assert_records_valid(&catalog, &r);

    let recs = r.records("book_lab");
    // Row 3 holds only formatted blanks and rows 6-40 are formatted but empty: none is a record.
    let rows: Vec<i64> = recs.iter().map(|x| x["data"]["_ab_row_number"].as_i64().unwrap()).collect();
    assert_eq!(rows, [2, 4, 5]);
    let d: Vec<&Value> = recs.iter().map(|x| &x["data"]).collect();
    assert_eq!(
        (&d[0]["Sample"], &d[0]["Strength"], &d[0]["Passed"], &d[0]["column_4"], &d[0]["Count"], &d[0]["Sample_2"]),
        (&json!("S-1"), &json!(38.2), &json!(true), &json!("x"), &json!(7), &json!("first"))
    );
    assert_eq!(
        (&d[0]["Tested at"], &d[0]["Due"], &d[0]["Ratio"]),
        (&json!("2026-03-02T09:15:00"), &json!("2024-02-29"), &json!(0.25))
    );
    assert_eq!((&d[1]["Strength"], &d[1]["Passed"], &d[1]["Count"]), (&json!(36.9), &json!(false), &json!(1234567)));
    assert_eq!(d[1].get("column_4"), None, "a missing cell is left out of the record");
    assert_eq!(
        (&d[1]["Tested at"], &d[1]["Due"], &d[1]["Ratio"]),
        (&json!("2026-03-02T14:00:00"), &json!("2027-11-30"), &json!(12.34))
    );
    assert_eq!(
        (&d[2]["Count"], &d[2]["Ratio"], &d[2]["Tested at"]),
        (&json!(3_000_000_000i64), &json!(-1.5), &json!("2026-03-03T07:30:00"))
    );
    assert_eq!(d[0]["_ab_sheet_name"], "Lab");
    assert!(d[0]["_ab_source_file"].as_str().unwrap().ends_with("book.xlsb"));

    // The #DIV/0! cell: null, with a change, and the log names file, sheet and cell.
    assert_eq!(d[2]["Strength"], Value::Null);
    assert_eq!(d[2]["Sample"], "S-3");
    assert_eq!(changes(&recs[2]), [("Strength".to_string(), "SOURCE_SERIALIZATION_ERROR".to_string())]);
    assert!(changes(&recs[0]).is_empty() && changes(&recs[1]).is_empty());
    let logs = r.logs();
    assert!(
        logs.contains("book.xlsb")
            && logs.contains("sheet \"Lab\"")
            && logs.contains("cell B5")
            && logs.contains("#DIV/0!"),
        "{logs}"
    );

    let sup = r.data("book_suppliers");
    assert_eq!(sup.len(), 2);
    assert_eq!((&sup[1]["ID"], &sup[1]["Name"]), (&json!(1002), &json!("Acier du Rhin")));
    assert_eq!(type_of(stream(&catalog, "book_suppliers"), "ID"), "integer");
    // One state per stream with its record count.
    let states = r.states();
    assert_eq!(states.len(), 2);
    let lab_state = states.iter().find(|s| s["stream"]["stream_descriptor"]["name"] == "book_lab").unwrap();
    assert_eq!(lab_state["sourceStats"]["recordCount"], 3.0);
}

#[test]
fn xlsb_hidden_sheets_on_request_or_by_name() {
    let case = made("lab", "book.xlsb");
    let mut c = cfg(&case, "book.xlsb");
    c["include_hidden_sheets"] = json!(true);
    let (catalog, r) = case.read_all(&c, "full_refresh", None);
    r.assert_ok();
    assert_eq!(names(&catalog), ["book_lab", "book_suppliers", "book_lookup", "book_vault"]);
    assert_eq!(r.data("book_lookup")[0]["Code"], 7);
    assert_eq!(r.data("book_vault")[0]["Key"], "k-1");
    assert_records_valid(&catalog, &r);
    // A hidden sheet named explicitly is read without the option; by index too.
    let mut c = cfg(&case, "book.xlsb");
    c["sheets"] = json!(["Lookup"]);
    c["sheet_indexes"] = json!([3]);
    let d = case.discover(&c);
    d.assert_ok();
    assert_eq!(names(&d.catalog()), ["book_lookup", "book_vault"]);
}

#[test]
fn xlsb_header_options_apply() {
    let case = made("lab", "book.xlsb");
    let mut c = cfg(&case, "book.xlsb");
    c["sheets"] = json!(["Suppliers"]);
    c["header"] = json!(false);
    c["column_names"] = json!(["id"]);
    let (catalog, r) = case.read_all(&c, "full_refresh", None);
    r.assert_ok();
    let s = stream(&catalog, "book_suppliers");
    assert_eq!(data_columns(s), ["id", "column_2"]);
    assert_eq!(type_of(s, "id"), "string", "the header row's text widens the column");
    let rows = r.data("book_suppliers");
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (&rows[0]["id"], &rows[2]["id"], &rows[2]["column_2"]),
        (&json!("ID"), &json!("1002"), &json!("Acier du Rhin"))
    );
    assert_records_valid(&catalog, &r);
}

/// MS-XLSB stores whole numbers either as an RK integer or as an RK float (the double's upper half); Excel
/// writes whole numbers as RK integers. calamine 0.31 returns an RK *integer* as an integer without looking at
/// its number format; the connector reads the cell's format itself, so both forms give the same date.
#[test]
fn xlsb_whole_day_dates_as_rk_integers_are_dates_like_rk_floats() {
    let case = made("rk_dates", "dates.xlsb");
    let (catalog, r) = case.read_ok("dates.xlsb");
    assert_no_panic(&r);
    let s = stream(&catalog, "dates_dates");
    let types: Vec<String> = data_columns(s).iter().map(|c| type_of(s, c)).collect();
    assert_eq!(
        types,
        ["date", "date-time", "date", "integer", "integer", "date"],
        "RK-integer dates are dates; RK integers in number formats (0.00, 0\" d\") stay integers"
    );
    let rows = r.data("dates_dates");
    let column = |name: &str| rows.iter().map(|d| d.get(name).cloned().unwrap_or(Value::Null)).collect::<Vec<_>>();
    assert_eq!(column("Due"), [json!("2024-02-29"), json!("2025-01-31"), json!("1900-01-01")]);
    assert_eq!(column("Due"), column("Valid from"), "the integer and the float form give the same dates");
    assert_eq!(column("Tested at"), [json!("2026-03-02T09:15:00"), json!("2026-03-03T00:00:00"), Value::Null]);
    assert_eq!(column("Amount"), [json!(1234), json!(-7), json!(0)]);
    assert_eq!(column("Lag"), [json!(3), json!(10), Value::Null]);
    assert_eq!(column("Signed"), [json!("2023-12-24"), json!("2025-07-01"), Value::Null]);

    // Many rows of plain and date RK integers stay in step.
    let many = stream(&catalog, "dates_many");
    assert_eq!((type_of(many, "N"), type_of(many, "Day")), ("integer".to_string(), "date".to_string()));
    let rows = r.data("dates_many");
    assert_eq!(rows.len(), 300);
    assert_eq!((&rows[0]["N"], &rows[0]["Day"]), (&json!(1), &json!("2024-01-01")));
    assert_eq!(
        (&rows[299]["N"], &rows[299]["Day"], &rows[299]["Half"]),
        (&json!(300), &json!("2024-10-26"), &json!(300.5))
    );
    assert_records_valid(&catalog, &r);
}

/// Excel writes no number-format table when only built-in formats are used: dates are still detected.
#[test]
fn xlsb_built_in_date_formats_without_a_format_table() {
    let case = made("builtin_formats", "book.xlsb");
    let (catalog, r) = case.read_ok("book.xlsb");
    let lab = stream(&catalog, "book_lab");
    assert_eq!((type_of(lab, "Tested at"), type_of(lab, "Due")), ("date-time".to_string(), "date".to_string()));
    let rows = r.data("book_lab");
    let due: Vec<&Value> = rows.iter().map(|d| &d["Due"]).collect();
    assert_eq!(due, [&json!("2024-02-29"), &json!("2027-11-30"), &json!("2029-02-28")]);
    assert_eq!(rows[1]["Tested at"], "2026-03-02T14:00:00");
    assert_records_valid(&catalog, &r);
}

#[test]
fn xlsb_epoch_1904_dates() {
    let case = made("epoch1904", "mac.xlsb");
    let (catalog, r) = case.read_ok("mac.xlsb");
    let s = stream(&catalog, "mac_dates");
    assert_eq!((type_of(s, "Due"), type_of(s, "Due whole")), ("date".to_string(), "date".to_string()));
    let row = &r.data("mac_dates")[0];
    assert_eq!(
        (&row["Due"], &row["Due whole"]),
        (&json!("2024-02-29"), &json!("2024-02-29")),
        "a real and an RK integer"
    );
    assert_records_valid(&catalog, &r);
}

#[test]
fn xlsb_truncated_sheet_fails_its_stream_and_names_file_and_sheet() {
    let case = made("broken_sheet", "book.xlsb");
    assert_broken_sheet_fails_only_its_stream(&case, "book.xlsb", "book");
    // Discover over the whole sheet reaches the cut and fails naming file and sheet.
    let d = case.discover(&cfg(&case, "book.xlsb"));
    assert_no_panic(&d);
    let msg = d.error()["message"].as_str().unwrap().to_string();
    assert!(msg.contains("book.xlsb") && msg.contains("\"Broken\""), "{msg}");
}

#[test]
fn xlsb_is_recognised_by_content_under_another_name() {
    let case = made("lab", "book.xlsb");
    std::fs::copy(case.path("book.xlsb"), case.path("export.bin")).unwrap();
    let d = case.discover(&cfg(&case, "export.bin"));
    d.assert_ok();
    assert_eq!(names(&d.catalog()), ["export_lab", "export_suppliers"]);
    let r = case.read(&cfg(&case, "export.bin"), &configured(&d.catalog(), "full_refresh"), None);
    r.assert_ok();
    assert_eq!(r.data("export_lab").len(), 3);
    // The same holds for the other zip format, .ods.
    python_workbook("ods", &case.path("calc.ods"));
    std::fs::copy(case.path("calc.ods"), case.path("download")).unwrap();
    let d = case.discover(&cfg(&case, "download"));
    d.assert_ok();
    assert_eq!(names(&d.catalog()), ["download_lab", "download_suppliers"]);
}

#[test]
fn xlsb_a_cell_pointing_past_the_string_table_names_file_and_sheet() {
    let case = made("bad_string_index", "book.xlsb");
    let d = case.discover(&cfg(&case, "book.xlsb"));
    assert_no_panic(&d);
    let e = d.error();
    assert_eq!(e["failure_type"], "config_error");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("book.xlsb") && msg.contains("\"Bad\"") && msg.contains("could not be parsed"), "{msg}");
    // The intact sheet alone reads normally.
    let mut c = cfg(&case, "book.xlsb");
    c["sheets"] = json!(["Lab"]);
    let (_, r) = case.read_all(&c, "full_refresh", None);
    r.assert_ok();
    assert_eq!(r.data("book_lab").len(), 3);
}
