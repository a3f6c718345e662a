//! Every config option and the type inference, on workbooks written by rust_xlsxwriter.

mod common;

use common::*;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use serde_json::{json, Value};

fn date_format() -> Format {
    Format::new().set_num_format("yyyy-mm-dd")
}

/// Material, GWP, density, verified, valid until (y, m, d), tested at (h, min).
type EpdRow = (&'static str, f64, f64, bool, (u16, u8, u8), (u8, u8));

/// EPD-like sheet, a supplier sheet with a title block, a hidden sheet and a headerless sheet.
fn write_multi_sheet(path: &std::path::Path) {
    let mut wb = Workbook::new();
    let epd = wb.add_worksheet();
    epd.set_name("EPD Materials").unwrap();
    for (c, h) in ["Material", "GWP (kg CO2e)", "Density", "Verified", "Valid until", "Tested at", "Shift start"]
        .iter()
        .enumerate()
    {
        epd.write_string(0, c as u16, *h).unwrap();
    }
    let dt = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let tm = Format::new().set_num_format("hh:mm");
    let rows: [EpdRow; 3] = [
        ("Concrete C30/37", 245.3, 2400.0, true, (2028, 5, 31), (9, 15)),
        ("Steel B500B", 735.0, 7850.0, false, (2027, 11, 30), (14, 0)),
        ("Glulam GL24h", -655.25, 470.0, true, (2029, 2, 28), (7, 30)),
    ];
    for (i, (m, gwp, dens, ok, (y, mo, d), (h, mi))) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        epd.write_string(r, 0, *m).unwrap();
        epd.write_number(r, 1, *gwp).unwrap();
        epd.write_number(r, 2, *dens).unwrap();
        epd.write_boolean(r, 3, *ok).unwrap();
        epd.write_datetime_with_format(r, 4, ExcelDateTime::from_ymd(*y, *mo, *d).unwrap(), &date_format()).unwrap();
        epd.write_datetime_with_format(
            r,
            5,
            ExcelDateTime::from_ymd(2026, 3, r as u8).unwrap().and_hms(*h as u16, *mi, 0).unwrap(),
            &dt,
        )
        .unwrap();
        epd.write_datetime_with_format(r, 6, ExcelDateTime::from_hms(*h as u16, *mi, 0).unwrap(), &tm).unwrap();
    }
    let sup = wb.add_worksheet();
    sup.set_name("Suppliers & Partners").unwrap();
    sup.write_string(0, 0, "Supplier list, exported 2026-03-01").unwrap();
    sup.write_string(2, 0, "ID").unwrap();
    sup.write_string(2, 1, "Name").unwrap();
    sup.write_string(2, 3, "Name").unwrap(); // duplicate name, and an empty header cell in column C
    sup.write_string(3, 0, "-").unwrap();
    sup.write_string(3, 1, "(text)").unwrap(); // a units row
    for (i, (id, name, extra, other)) in
        [(1001, "Nordbeton", "x", "NB"), (1002, "Acier du Rhin", "y", "AR")].iter().enumerate()
    {
        let r = i as u32 + 4;
        sup.write_number(r, 0, *id as f64).unwrap();
        sup.write_string(r, 1, *name).unwrap();
        sup.write_string(r, 2, *extra).unwrap();
        sup.write_string(r, 3, *other).unwrap();
    }
    let hidden = wb.add_worksheet();
    hidden.set_name("Lookup").unwrap();
    hidden.write_string(0, 0, "Code").unwrap();
    hidden.write_number(1, 0, 7.0).unwrap();
    hidden.set_hidden(true);
    let raw = wb.add_worksheet();
    raw.set_name("Raw").unwrap();
    raw.write_number(0, 0, 1.0).unwrap();
    raw.write_string(0, 1, "a").unwrap();
    raw.write_number(1, 0, 2.0).unwrap();
    raw.write_string(1, 1, "b").unwrap();
    wb.save(path).unwrap();
}

fn config(case: &Case, extra: Value) -> Value {
    let mut c = json!({"files": [case.path("book.xlsx").display().to_string()]});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[test]
fn one_stream_per_visible_sheet_with_inferred_types_and_valid_records() {
    let case = Case::new();
    write_multi_sheet(&case.path("book.xlsx"));
    let cfg = config(&case, json!({}));
    let (catalog, r) = case.read_all(&cfg, "full_refresh", None);
    r.assert_ok();
    assert_eq!(names(&catalog), ["book_epd_materials", "book_suppliers_partners", "book_raw"]);
    let epd = stream(&catalog, "book_epd_materials");
    assert_eq!(type_of(epd, "Material"), "string");
    assert_eq!(type_of(epd, "GWP (kg CO2e)"), "number");
    assert_eq!(type_of(epd, "Density"), "integer");
    assert_eq!(type_of(epd, "Verified"), "boolean");
    assert_eq!(type_of(epd, "Valid until"), "date");
    assert_eq!(type_of(epd, "Tested at"), "date-time");
    assert_eq!(type_of(epd, "Shift start"), "time");
    assert_eq!(epd["source_defined_primary_key"], json!([["_ab_source_file"], ["_ab_sheet_name"], ["_ab_row_number"]]));
    assert_eq!(epd["supported_sync_modes"], json!(["full_refresh", "incremental"]));
    assert_records_valid(&catalog, &r);
    let rows = r.data("book_epd_materials");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["Material"], "Concrete C30/37");
    assert_eq!(rows[0]["Density"], 2400);
    assert_eq!(rows[2]["GWP (kg CO2e)"], -655.25);
    assert_eq!(rows[1]["Verified"], false);
    assert_eq!(rows[0]["Valid until"], "2028-05-31");
    assert_eq!(rows[1]["Tested at"], "2026-03-02T14:00:00");
    assert_eq!(rows[2]["Shift start"], "07:30:00");
    assert_eq!(rows[0]["_ab_row_number"], 2);
    assert_eq!(rows[0]["_ab_sheet_name"], "EPD Materials");
    assert!(rows[0]["_ab_source_file"].as_str().unwrap().ends_with("book.xlsx"));
    assert!(rows[0]["_ab_source_file_last_modified"].as_str().unwrap().ends_with('Z'));
    // Stream statuses and one state per stream with its record count.
    let states = r.states();
    assert_eq!(states.len(), 3);
    let epd_state = states.iter().find(|s| s["stream"]["stream_descriptor"]["name"] == "book_epd_materials").unwrap();
    assert_eq!(epd_state["sourceStats"]["recordCount"], 3.0);
}

#[test]
fn title_rows_units_row_duplicate_and_empty_headers() {
    let case = Case::new();
    write_multi_sheet(&case.path("book.xlsx"));
    let cfg = config(&case, json!({"sheets": ["Suppliers & Partners"], "skip_rows": 1, "skip_rows_after_header": 1}));
    let (catalog, r) = case.read_all(&cfg, "full_refresh", None);
    r.assert_ok();
    assert_eq!(names(&catalog), ["book_suppliers_partners"]);
    let s = stream(&catalog, "book_suppliers_partners");
    let cols = data_columns(s);
    assert_eq!(cols, ["ID", "Name", "column_3", "Name_2"]);
    assert_eq!(s["json_schema"]["properties"]["Name_2"]["description"], "Name");
    assert_eq!(s["json_schema"]["properties"]["column_3"]["description"], "Column C (no header)");
    // The units row is skipped, so ID is an integer column.
    assert_eq!(type_of(s, "ID"), "integer");
    let rows = r.data("book_suppliers_partners");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        json!({"ID": 1001, "Name": "Nordbeton", "column_3": "x", "Name_2": "NB",
        "_ab_source_file": rows[0]["_ab_source_file"], "_ab_sheet_name": "Suppliers & Partners",
        "_ab_source_file_last_modified": rows[0]["_ab_source_file_last_modified"], "_ab_row_number": 5})
    );
    assert_records_valid(&catalog, &r);
}

#[test]
fn sheet_options_give_one_sheet_its_own_layout() {
    let case = Case::new();
    write_multi_sheet(&case.path("book.xlsx"));
    let cfg = config(
        &case,
        json!({"sheets": ["EPD Materials", "Suppliers & Partners", "Raw"],
               "sheet_options": [
                   {"sheet": "Suppliers & Partners", "skip_rows": 1, "skip_rows_after_header": 1},
                   {"sheet": "Raw", "header": false, "column_names": ["n", "letter"]}]}),
    );
    let (catalog, r) = case.read_all(&cfg, "full_refresh", None);
    r.assert_ok();
    assert_eq!(data_columns(stream(&catalog, "book_epd_materials"))[0], "Material");
    assert_eq!(data_columns(stream(&catalog, "book_suppliers_partners")), ["ID", "Name", "column_3", "Name_2"]);
    assert_eq!(data_columns(stream(&catalog, "book_raw")), ["n", "letter"]);
    assert_eq!(r.data("book_epd_materials").len(), 3);
    assert_eq!(r.data("book_suppliers_partners").len(), 2);
    assert_eq!(r.data("book_raw")[1]["letter"], "b");
    assert_records_valid(&catalog, &r);
}

#[test]
fn column_names_override_the_header_and_keep_it_as_description() {
    let case = Case::new();
    write_multi_sheet(&case.path("book.xlsx"));
    let cfg = config(
        &case,
        json!({"sheets": ["Suppliers & Partners"], "skip_rows": 2, "skip_rows_after_header": 1,
               "column_names": ["supplier_id", "", "code"]}),
    );
    let (catalog, r) = case.read_all(&cfg, "full_refresh", None);
    r.assert_ok();
    let s = stream(&catalog, "book_suppliers_partners");
    assert_eq!(data_columns(s), ["supplier_id", "Name", "code", "Name_2"]);
    assert_eq!(s["json_schema"]["properties"]["supplier_id"]["description"], "ID");
    let rows = r.data("book_suppliers_partners");
    assert_eq!((rows[1]["supplier_id"].clone(), rows[1]["code"].clone()), (json!(1002), json!("y")));
    assert_records_valid(&catalog, &r);
}

#[test]
fn sheets_by_index_hidden_sheets_no_header_and_column_names() {
    let case = Case::new();
    write_multi_sheet(&case.path("book.xlsx"));
    // Hidden sheets on request.
    let d = case.discover(&config(&case, json!({"include_hidden_sheets": true})));
    d.assert_ok();
    assert_eq!(names(&d.catalog()), ["book_epd_materials", "book_suppliers_partners", "book_lookup", "book_raw"]);
    // By index, without a header, with names for the first column only.
    let cfg = config(&case, json!({"sheet_indexes": [3], "header": false, "column_names": ["n"]}));
    let (catalog, r) = case.read_all(&cfg, "full_refresh", None);
    r.assert_ok();
    assert_eq!(names(&catalog), ["book_raw"]);
    let s = stream(&catalog, "book_raw");
    assert_eq!(type_of(s, "n"), "integer");
    assert_eq!(type_of(s, "column_2"), "string");
    let rows = r.data("book_raw");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["n"].clone(), rows[0]["column_2"].clone(), rows[0]["_ab_row_number"].clone()),
        (json!(1), json!("a"), json!(1))
    );
    assert_records_valid(&catalog, &r);
    // A hidden sheet named explicitly is read.
    let d = case.discover(&config(&case, json!({"sheets": ["Lookup"]})));
    d.assert_ok();
    assert_eq!(names(&d.catalog()), ["book_lookup"]);
}

#[test]
fn inference_limit_and_values_that_do_not_fit() {
    let case = Case::new();
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Lab").unwrap();
    ws.write_string(0, 0, "value").unwrap();
    ws.write_string(0, 1, "mixed").unwrap();
    for r in 1..=5u32 {
        ws.write_number(r, 0, r as f64).unwrap();
        ws.write_number(r, 1, r as f64).unwrap();
    }
    ws.write_number(6, 0, 2.5).unwrap(); // beyond 5 inference rows: does not fit integer
    ws.write_string(6, 1, "n/a").unwrap();
    ws.write_string(7, 0, "42").unwrap(); // text that is an integer fits
    wb.save(case.path("book.xlsx")).unwrap();

    let (catalog, r) = case.read_all(&config(&case, json!({"infer_rows": 5})), "full_refresh", None);
    r.assert_ok();
    let s = stream(&catalog, "book_lab");
    assert_eq!(type_of(s, "value"), "integer");
    assert_eq!(type_of(s, "mixed"), "integer");
    let recs = r.records("book_lab");
    assert_eq!(recs.len(), 7, "no row is dropped");
    assert_eq!(recs[5]["data"]["value"], Value::Null);
    assert_eq!(recs[5]["data"]["mixed"], Value::Null);
    assert_eq!(
        changes(&recs[5]),
        [
            ("value".to_string(), "SOURCE_SERIALIZATION_ERROR".to_string()),
            ("mixed".to_string(), "SOURCE_SERIALIZATION_ERROR".to_string())
        ]
    );
    assert_eq!(recs[6]["data"]["value"], 42);
    assert!(changes(&recs[6]).is_empty());
    assert!(r.logs().contains("cell A7"), "the log names the cell: {}", r.logs());
    assert_records_valid(&catalog, &r);

    // With every row inferred (0), the columns widen instead.
    let d = case.discover(&config(&case, json!({"infer_rows": 0})));
    let s = stream(&d.catalog(), "book_lab").clone();
    assert_eq!(type_of(&s, "value"), "string", "integer + text widens to string");
    assert_eq!(type_of(&s, "mixed"), "string");
    let (catalog, r) = case.read_all(&config(&case, json!({"infer_rows": 0})), "full_refresh", None);
    r.assert_ok();
    let rows = r.data("book_lab");
    assert_eq!((rows[5]["value"].clone(), rows[6]["value"].clone()), (json!("2.5"), json!("42")));
    assert_records_valid(&catalog, &r);
}

#[test]
fn widening_integer_number_and_date_datetime() {
    let case = Case::new();
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "amount").unwrap();
    ws.write_string(0, 1, "when").unwrap();
    ws.write_string(0, 2, "flag").unwrap();
    ws.write_number(1, 0, 3.0).unwrap();
    ws.write_number(2, 0, 3.25).unwrap();
    ws.write_datetime_with_format(1, 1, ExcelDateTime::from_ymd(2024, 1, 2).unwrap(), &date_format()).unwrap();
    let dt = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    ws.write_datetime_with_format(2, 1, ExcelDateTime::from_ymd(2024, 1, 3).unwrap().and_hms(12, 30, 0).unwrap(), &dt)
        .unwrap();
    ws.write_boolean(1, 2, true).unwrap();
    ws.write_number(2, 2, 1.0).unwrap();
    wb.save(case.path("book.xlsx")).unwrap();
    let (catalog, r) = case.read_all(&config(&case, json!({})), "full_refresh", None);
    r.assert_ok();
    let s = stream(&catalog, "book_sheet1");
    assert_eq!(type_of(s, "amount"), "number");
    assert_eq!(type_of(s, "when"), "date-time");
    assert_eq!(type_of(s, "flag"), "string");
    let rows = r.data("book_sheet1");
    assert_eq!(rows[0]["amount"], 3);
    assert_eq!(rows[0]["when"], "2024-01-02T00:00:00");
    assert_eq!(rows[1]["when"], "2024-01-03T12:30:00");
    assert_eq!((rows[0]["flag"].clone(), rows[1]["flag"].clone()), (json!("true"), json!("1")));
    assert_records_valid(&catalog, &r);
}

#[test]
fn globs_and_lists_make_unique_stream_names() {
    let case = Case::new();
    std::fs::create_dir_all(case.path("a")).unwrap();
    std::fs::create_dir_all(case.path("b")).unwrap();
    write_multi_sheet(&case.path("a/book.xlsx"));
    write_multi_sheet(&case.path("b/book.xlsx"));
    let cfg = json!({"files": [case.path("*/book.xlsx").display().to_string()], "sheets": ["Raw"], "header": false});
    let (catalog, r) = case.read_all(&cfg, "full_refresh", None);
    r.assert_ok();
    assert_eq!(names(&catalog), ["a_book_raw", "b_book_raw"], "the nearest folder tells same-named files apart");
    let a = r.data("a_book_raw");
    let b = r.data("b_book_raw");
    assert_eq!((a.len(), b.len()), (2, 2));
    assert!(a[0]["_ab_source_file"].as_str().unwrap().ends_with("a/book.xlsx"));
    assert!(b[0]["_ab_source_file"].as_str().unwrap().ends_with("b/book.xlsx"));
    // Only b's stream, incrementally: after b changes, it is found by name although a is never opened.
    let only_b = configured(&json!({"streams": [stream(&catalog, "b_book_raw")]}), "incremental");
    let first = case.read(&cfg, &only_b, None);
    first.assert_ok();
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_multi_sheet(&case.path("b/book.xlsx"));
    let again = case.read(&cfg, &only_b, Some(&json!(first.states())));
    again.assert_ok();
    assert_eq!(again.data("b_book_raw").len(), 2);
    // A glob that matches nothing is a config error.
    let c = case.check(&json!({"files": [case.path("none/*.xlsx").display().to_string()]}));
    assert_eq!(c.of_type("CONNECTION_STATUS").next().unwrap()["connectionStatus"]["status"], "FAILED");
    assert!(c.stdout.contains("no files match"), "{}", c.stdout);
}

#[test]
fn incremental_skips_unchanged_files_and_rereads_changed_ones() {
    let case = Case::new();
    write_multi_sheet(&case.path("book.xlsx"));
    let cfg = config(&case, json!({"sheets": ["Raw", "EPD Materials"]}));
    let (catalog, first) = case.read_all(&cfg, "incremental", None);
    first.assert_ok();
    assert_eq!(first.records("book_raw").len(), 1);
    assert_eq!(first.records("book_epd_materials").len(), 3);
    let state: Vec<Value> = first
        .states()
        .into_iter()
        .map(|mut s| {
            s.as_object_mut().unwrap().remove("sourceStats");
            s
        })
        .collect();
    assert_eq!(state.len(), 2);
    assert!(state[0]["stream"]["stream_state"]["_ab_source_file_last_modified"].is_string());
    let configured_catalog = configured(&catalog, "incremental");
    let second = case.read(&cfg, &configured_catalog, Some(&json!(state)));
    second.assert_ok();
    assert_eq!(second.of_type("RECORD").count(), 0, "an unchanged file emits nothing");
    assert_eq!(second.states().len(), 2, "states are emitted again");
    for s in second.states() {
        let name = &s["stream"]["stream_descriptor"]["name"];
        let before = state.iter().find(|b| &b["stream"]["stream_descriptor"]["name"] == name).unwrap();
        assert_eq!(s["stream"]["stream_state"], before["stream"]["stream_state"]);
        assert_eq!(s["sourceStats"]["recordCount"], 0.0);
    }
    // Statuses still complete.
    let complete = second.of_type("TRACE").filter(|m| m["trace"]["stream_status"]["status"] == "COMPLETE").count();
    assert_eq!(complete, 2);
    // Full refresh ignores the state.
    let full = case.read(&cfg, &configured(&catalog, "full_refresh"), Some(&json!(state)));
    assert_eq!(full.of_type("RECORD").count(), 4);
    // A changed file is read again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_multi_sheet(&case.path("book.xlsx"));
    let third = case.read(&cfg, &configured_catalog, Some(&json!(state)));
    third.assert_ok();
    assert_eq!(third.of_type("RECORD").count(), 4);
    // A state from the future: nothing to read.
    let future = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "book_raw"},
        "stream_state": {"source_file": first.data("book_raw")[0]["_ab_source_file"], "sheet": "Raw",
                         "_ab_source_file_last_modified": "2999-01-01T00:00:00.000000Z", "size": 1}}}]);
    let fourth =
        case.read(&cfg, &configured(&json!({"streams": [stream(&catalog, "book_raw")]}), "incremental"), Some(&future));
    fourth.assert_ok();
    assert_eq!(fourth.of_type("RECORD").count(), 0);
    assert_eq!(fourth.states().len(), 1);
}

#[test]
fn spec_matches_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["spec"]);
    r.assert_ok();
    let golden: Value = serde_json::from_slice(
        &std::fs::read(workspace_root().join("specs/source-xlsx/spec.json")).expect("golden spec"),
    )
    .unwrap();
    assert_eq!(r.of_type("SPEC").next().unwrap()["spec"], golden, "update specs/source-xlsx/spec.json");
}

#[test]
fn secrets_never_appear_in_output() {
    let case = Case::new();
    let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
    let cfg = json!({"files": ["s3://bucket/missing.xlsx"],
        "s3": {"endpoint": "http://127.0.0.1:9", "access_key_id": "AKIAEXAMPLE123", "secret_access_key": secret}});
    let c = case.check(&cfg);
    assert_eq!(c.of_type("CONNECTION_STATUS").next().expect("a status")["connectionStatus"]["status"], "FAILED");
    let d = case.discover(&cfg);
    assert_ne!(d.code, 0);
    for out in [&c.stdout, &c.stderr, &d.stdout, &d.stderr] {
        assert!(!out.contains(secret) && !out.contains("AKIAEXAMPLE123"), "secret leaked: {out}");
    }
}
