//! Every bad input of issue 3, and the other producers/formats: each gives a TRACE error naming file and
//! sheet (and cell where it applies) or a null value with a SOURCE_SERIALIZATION_ERROR change; never a panic,
//! never a dropped row. Workbooks come from openpyxl/xlwt/odfpy/msoffcrypto (tests/data/make_workbooks.py) and
//! rust_xlsxwriter.

mod common;

use common::*;
use rust_xlsxwriter::{Format, Workbook};
use serde_json::{json, Value};

fn made(kind: &str, file: &str) -> Case {
    let case = Case::new();
    python_workbook(kind, &case.path(file));
    case
}

#[test]
fn not_a_workbook() {
    let case = Case::new();
    std::fs::write(case.path("data.xlsx"), "id,name\n1,a\n").unwrap();
    let r = case.discover(&cfg(&case, "data.xlsx"));
    let e = r.error();
    assert_eq!(e["failure_type"], "config_error");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("data.xlsx") && msg.contains("not a valid .xlsx workbook") && msg.contains("looks like text"),
        "{msg}"
    );
    // check reports FAILED (exit 0) with the same message.
    let c = case.check(&cfg(&case, "data.xlsx"));
    assert_eq!(c.code, 0);
    assert_eq!(c.of_type("CONNECTION_STATUS").next().unwrap()["connectionStatus"]["status"], "FAILED");
    // An unknown extension that is not a workbook either.
    std::fs::write(case.path("notes.txt"), "hello").unwrap();
    let msg = case.discover(&cfg(&case, "notes.txt")).error()["message"].as_str().unwrap().to_string();
    assert!(msg.contains("notes.txt") && msg.contains("not a workbook"), "{msg}");
    // A missing file.
    let msg = case.discover(&cfg(&case, "missing.xlsx")).error()["message"].as_str().unwrap().to_string();
    assert!(msg.contains("missing.xlsx"), "{msg}");
}

#[test]
fn corrupt_zip() {
    let case = made("corrupt", "cut.xlsx");
    let r = case.discover(&cfg(&case, "cut.xlsx"));
    assert_no_panic(&r);
    let e = r.error();
    assert_eq!(e["failure_type"], "config_error");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("cut.xlsx") && msg.contains("corrupt"), "{msg}");
}

#[test]
fn password_protected() {
    let case = made("password", "locked.xlsx");
    let r = case.discover(&cfg(&case, "locked.xlsx"));
    let e = r.error();
    assert_eq!(e["failure_type"], "config_error");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("locked.xlsx") && msg.contains("password-protected"), "{msg}");
}

#[test]
fn missing_sheet_by_name_and_index() {
    let case = made("multi", "book.xlsx");
    let mut c = cfg(&case, "book.xlsx");
    c["sheets"] = json!(["Materials", "Prices"]);
    let e = case.discover(&c).error();
    let msg = e["message"].as_str().unwrap();
    assert_eq!(e["failure_type"], "config_error");
    assert!(msg.contains("book.xlsx") && msg.contains("\"Prices\"") && msg.contains("\"Lab Results\""), "{msg}");
    let mut c = cfg(&case, "book.xlsx");
    c["sheet_indexes"] = json!([7]);
    let msg = case.discover(&c).error()["message"].as_str().unwrap().to_string();
    assert!(msg.contains("sheet index 7") && msg.contains("3 sheets"), "{msg}");
}

#[test]
fn header_only_and_blank_sheets_give_no_records() {
    let case = made("header_only", "book.xlsx");
    let (catalog, r) = case.read_ok("book.xlsx");
    assert_eq!(names(&catalog), ["book_empty_table", "book_blank"]);
    let s = stream(&catalog, "book_empty_table");
    assert_eq!(type_of(s, "Sample"), "string");
    assert_eq!(r.of_type("RECORD").count(), 0);
    assert!(r.logs().contains("no data rows"), "{}", r.logs());
    // Both streams complete with a state.
    assert_eq!(r.states().len(), 2);
}

#[test]
fn formula_errors_become_null_with_a_change() {
    let case = made("errors", "book.xlsx");
    let (catalog, r) = case.read_ok("book.xlsx");
    let recs = r.records("book_lab");
    assert_eq!(recs.len(), 5, "rows with error cells are kept");
    assert_eq!(recs[3]["data"]["Strength"], Value::Null);
    assert_eq!(recs[3]["data"]["Sample"], "S-4");
    assert_eq!(changes(&recs[3]), [("Strength".to_string(), "SOURCE_SERIALIZATION_ERROR".to_string())]);
    assert_eq!(recs[4]["data"]["Sample"], Value::Null);
    assert_eq!(recs[4]["data"]["Strength"], 12.5);
    assert_eq!(changes(&recs[4]), [("Sample".to_string(), "SOURCE_SERIALIZATION_ERROR".to_string())]);
    let logs = r.logs();
    assert!(logs.contains("cell B5") && logs.contains("#DIV/0!") && logs.contains("sheet \"Lab\""), "{logs}");
    assert!(logs.contains("cell A6") && logs.contains("#N/A"), "{logs}");
    assert_records_valid(&catalog, &r);
}

#[test]
fn out_of_range_dates_become_null_with_a_change() {
    let case = Case::new();
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    ws.write_string(0, 0, "Valid until").unwrap();
    ws.write_number_with_format(1, 0, 45000.0, &date).unwrap();
    ws.write_number_with_format(2, 0, 6_660_000.0, &date).unwrap(); // year 20225
    ws.write_number_with_format(3, 0, 45001.0, &date).unwrap();
    wb.save(case.path("book.xlsx")).unwrap();
    let (catalog, r) = case.read_ok("book.xlsx");
    assert_no_panic(&r);
    assert_eq!(type_of(stream(&catalog, "book_sheet1"), "Valid until"), "date");
    let recs = r.records("book_sheet1");
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["data"]["Valid until"], "2023-03-15");
    assert_eq!(recs[1]["data"]["Valid until"], Value::Null);
    assert_eq!(changes(&recs[1]), [("Valid until".to_string(), "SOURCE_SERIALIZATION_ERROR".to_string())]);
    assert!(r.logs().contains("cell A3") && r.logs().contains("outside the years"), "{}", r.logs());
    assert_records_valid(&catalog, &r);
}

#[test]
fn merged_cells_keep_the_value_in_the_top_left_cell() {
    let case = made("merged", "book.xlsx");
    let (catalog, r) = case.read_ok("book.xlsx");
    let s = stream(&catalog, "book_lab");
    let cols = data_columns(s);
    assert_eq!(cols, ["Sample info", "column_2", "Result", "column_4"]);
    let rows = r.data("book_lab");
    // Row 2 holds the old header; A3:A4 is merged, so A4 is empty.
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[1]["Sample info"], "S-1");
    assert_eq!(rows[2]["Sample info"], Value::Null);
    assert_eq!(rows[2]["column_2"], "36.9");
    assert_records_valid(&catalog, &r);
}

#[test]
fn trailing_and_blank_rows_are_not_records() {
    let case = made("trailing_empty", "book.xlsx");
    let (catalog, r) = case.read_ok("book.xlsx");
    let rows = r.data("book_lab");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows.iter().map(|d| d["_ab_row_number"].as_i64().unwrap()).collect::<Vec<_>>(), [2, 4, 5]);
    assert_records_valid(&catalog, &r);
}

#[test]
fn a_million_row_dimension_claim_reads_only_real_rows() {
    let case = made("dimension_claim", "book.xlsx");
    let start = std::time::Instant::now();
    let (catalog, r) = case.read_ok("book.xlsx");
    assert_eq!(r.data("book_lab").len(), 3);
    assert!(start.elapsed() < std::time::Duration::from_secs(60), "the claimed size must not be allocated or scanned");
    assert_records_valid(&catalog, &r);
}

#[test]
fn epoch_1904_dates() {
    let case = made("epoch1904", "book.xlsx");
    let (catalog, r) = case.read_ok("book.xlsx");
    let rows = r.data("book_lab");
    assert_eq!(rows[0]["Due"], "2024-02-29");
    assert_eq!(rows[0]["Tested at"], "2026-03-02T09:15:00");
    assert_records_valid(&catalog, &r);
}

fn assert_lab_and_suppliers(case: &Case, file: &str, stem: &str) {
    let (catalog, r) = case.read_all(&cfg(case, file), "full_refresh", None);
    r.assert_ok();
    let lab = format!("{stem}_lab");
    let sup = format!("{stem}_suppliers");
    assert_eq!(names(&catalog), [lab.clone(), sup.clone()]);
    let s = stream(&catalog, &lab);
    assert_eq!(type_of(s, "Strength"), "number");
    assert_eq!(type_of(s, "Passed"), "boolean");
    assert_eq!(type_of(s, "Tested at"), "date-time");
    assert_eq!(type_of(stream(&catalog, &sup), "ID"), "integer");
    let rows = r.data(&lab);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["Sample"], "S-1");
    assert_eq!(rows[0]["Strength"], 38.2);
    assert_eq!(rows[1]["Passed"], false);
    assert_eq!(rows[2]["Tested at"], "2026-03-03T14:05:00");
    assert_eq!(r.data(&sup).len(), 2);
    assert_eq!(r.data(&sup)[1]["Name"], "Acier du Rhin");
    assert_records_valid(&catalog, &r);
}

#[test]
fn xls_from_xlwt() {
    let case = made("xls", "old.xls");
    assert_lab_and_suppliers(&case, "old.xls", "old");
}

#[test]
fn ods_from_odfpy() {
    let case = made("ods", "calc.ods");
    assert_lab_and_suppliers(&case, "calc.ods", "calc");
    let (catalog, r) = case.read_all(&cfg(&case, "calc.ods"), "full_refresh", None);
    assert_eq!(type_of(stream(&catalog, "calc_lab"), "Shift"), "time");
    assert_eq!(r.data("calc_lab")[0]["Shift"], "07:30:00");
}

#[test]
fn a_file_removed_after_discover_fails_the_read_clearly() {
    let case = made("multi", "book.xlsx");
    let d = case.discover(&cfg(&case, "book.xlsx"));
    let catalog = configured(&d.catalog(), "full_refresh");
    // The sheet is renamed: the configured stream no longer exists.
    python_workbook("header_only", &case.path("book.xlsx"));
    let r = case.read(&cfg(&case, "book.xlsx"), &catalog, None);
    let e = r.error();
    assert_eq!(e["failure_type"], "config_error");
    assert!(e["message"].as_str().unwrap().contains("book_materials"), "{e}");
}

#[test]
fn xlsm_and_unknown_extensions_are_recognised_by_content() {
    let case = made("multi", "book.xlsx");
    std::fs::copy(case.path("book.xlsx"), case.path("macros.xlsm")).unwrap();
    std::fs::copy(case.path("book.xlsx"), case.path("export.bin")).unwrap();
    let d = case.discover(&json!({"files": [case.path("macros.xlsm"), case.path("export.bin")]}));
    d.assert_ok();
    assert_eq!(names(&d.catalog()).len(), 6);
    assert!(names(&d.catalog()).contains(&"export_lab_results".to_string()));
}

#[test]
fn a_broken_sheet_fails_its_stream_and_names_file_and_sheet() {
    let case = made("broken_sheet", "book.xlsx");
    assert_broken_sheet_fails_only_its_stream(&case, "book.xlsx", "book");
}
