//! Helpers for source-xlsx integration tests: run the binary, parse its messages, build catalogs, check records
//! against their stream schemas.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_source-xlsx"))
}

pub fn workspace_root() -> PathBuf {
    conformance::support::workspace_root()
}

/// The output of one run.
pub struct Run {
    pub code: i32,
    pub messages: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.messages.iter().filter(move |m| m["type"] == kind)
    }
    pub fn records(&self, stream: &str) -> Vec<Value> {
        self.of_type("RECORD").filter(|m| m["record"]["stream"] == stream).map(|m| m["record"].clone()).collect()
    }
    pub fn data(&self, stream: &str) -> Vec<Value> {
        self.records(stream).into_iter().map(|r| r["data"].clone()).collect()
    }
    pub fn errors(&self) -> Vec<Value> {
        self.of_type("TRACE").filter(|m| m["trace"]["type"] == "ERROR").map(|m| m["trace"]["error"].clone()).collect()
    }
    /// The single TRACE ERROR of a failed run (asserts there is one and the exit code is non-zero).
    pub fn error(&self) -> Value {
        let errors = self.errors();
        assert!(!errors.is_empty(), "expected a TRACE ERROR, got:\n{}\n{}", self.stdout, self.stderr);
        assert_ne!(self.code, 0, "a failed run must exit non-zero");
        errors[0].clone()
    }
    pub fn assert_ok(&self) {
        assert!(
            self.code == 0 && self.errors().is_empty(),
            "run failed (exit {}):\n{}\n{}",
            self.code,
            self.stdout.chars().take(4000).collect::<String>(),
            self.stderr
        );
    }
    pub fn catalog(&self) -> Value {
        self.of_type("CATALOG").next().unwrap_or_else(|| panic!("no CATALOG:\n{}\n{}", self.stdout, self.stderr))
            ["catalog"]
            .clone()
    }
    pub fn states(&self) -> Vec<Value> {
        self.of_type("STATE").map(|m| m["state"].clone()).collect()
    }
    pub fn logs(&self) -> String {
        self.of_type("LOG")
            .map(|m| m["log"]["message"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn run(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(binary()).args(args).current_dir(dir).output().expect("run source-xlsx");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let messages = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}")))
        .collect();
    Run {
        code: out.status.code().unwrap_or(-1),
        messages,
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A test folder with a config file.
pub struct Case {
    pub dir: tempfile::TempDir,
}

impl Case {
    pub fn new() -> Self {
        Case { dir: tempfile::tempdir().expect("tempdir") }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write_json(&self, name: &str, v: &Value) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
        p
    }
    pub fn discover(&self, config: &Value) -> Run {
        let c = self.write_json("config.json", config);
        run(self.dir.path(), &["discover", "--config", c.to_str().unwrap()])
    }
    pub fn check(&self, config: &Value) -> Run {
        let c = self.write_json("config.json", config);
        run(self.dir.path(), &["check", "--config", c.to_str().unwrap()])
    }
    /// Discover, then read every stream with `sync_mode` and optional state.
    pub fn read_all(&self, config: &Value, sync_mode: &str, state: Option<&Value>) -> (Value, Run) {
        let d = self.discover(config);
        d.assert_ok();
        let catalog = configured(&d.catalog(), sync_mode);
        let r = self.read(config, &catalog, state);
        (d.catalog(), r)
    }
    /// Discover and a full-refresh read of one workbook of the case's folder, which must both succeed.
    pub fn read_ok(&self, file: &str) -> (Value, Run) {
        let (catalog, run) = self.read_all(&cfg(self, file), "full_refresh", None);
        run.assert_ok();
        (catalog, run)
    }

    pub fn read(&self, config: &Value, catalog: &Value, state: Option<&Value>) -> Run {
        let c = self.write_json("config.json", config);
        let k = self.write_json("catalog.json", catalog);
        let mut args = vec![
            "read".to_string(),
            "--config".into(),
            c.display().to_string(),
            "--catalog".into(),
            k.display().to_string(),
        ];
        if let Some(s) = state {
            args.push("--state".into());
            args.push(self.write_json("state.json", s).display().to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(self.dir.path(), &args)
    }
}

/// A configured catalog of every stream of `catalog`.
pub fn configured(catalog: &Value, sync_mode: &str) -> Value {
    let streams: Vec<Value> = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            json!({"stream": s, "sync_mode": sync_mode, "destination_sync_mode": "append",
                   "cursor_field": s["default_cursor_field"], "primary_key": s["source_defined_primary_key"]})
        })
        .collect();
    json!({ "streams": streams })
}

pub fn stream<'a>(catalog: &'a Value, name: &str) -> &'a Value {
    catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stream {name} in {}", names(catalog).join(", ")))
}

pub fn names(catalog: &Value) -> Vec<String> {
    catalog["streams"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
}

/// Property name -> (types without null, format, airbyte_type) of a stream schema.
pub fn columns(stream: &Value) -> BTreeMap<String, (String, Option<String>, Option<String>)> {
    stream["json_schema"]["properties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let t = match &v["type"] {
                Value::Array(a) => {
                    a.iter().filter(|t| *t != "null").map(|t| t.as_str().unwrap()).collect::<Vec<_>>().join(",")
                }
                Value::String(s) => s.clone(),
                _ => String::new(),
            };
            (k.clone(), (t, v["format"].as_str().map(str::to_string), v["airbyte_type"].as_str().map(str::to_string)))
        })
        .collect()
}

/// The sheet's columns in schema order (without the `_ab_` fields).
pub fn data_columns(stream: &Value) -> Vec<String> {
    stream["json_schema"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !k.starts_with("_ab_"))
        .cloned()
        .collect()
}

pub fn type_of(stream: &Value, column: &str) -> String {
    let cols = columns(stream);
    let (t, f, a) = cols.get(column).unwrap_or_else(|| panic!("no column {column:?} in {:?}", cols.keys()));
    match (t.as_str(), f.as_deref(), a.as_deref()) {
        ("string", Some("date"), _) => "date".into(),
        ("string", Some("date-time"), _) => "date-time".into(),
        ("string", _, Some("time_without_timezone")) => "time".into(),
        _ => t.clone(),
    }
}

/// Every record of every stream validates against its schema (formats included) and has no undeclared field.
pub fn assert_records_valid(catalog: &Value, run: &Run) {
    for s in catalog["streams"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let schema = &s["json_schema"];
        let validator =
            jsonschema::draft7::options().should_validate_formats(false).build(schema).expect("schema compiles");
        let props = schema["properties"].as_object().unwrap();
        for r in run.records(name) {
            let data = &r["data"];
            let errors: Vec<String> =
                validator.iter_errors(data).map(|e| format!("{} at {}", e, e.instance_path())).collect();
            assert!(errors.is_empty(), "stream {name}: record {data} does not match its schema: {errors:?}");
            for k in data.as_object().unwrap().keys() {
                assert!(props.contains_key(k), "stream {name}: undeclared field {k:?} in {data}");
            }
            for (k, v) in data.as_object().unwrap() {
                let (_, format, airbyte_type) = columns(s).remove(k).unwrap();
                if let Some(text) = v.as_str() {
                    match (format.as_deref(), airbyte_type.as_deref()) {
                        (Some("date"), _) => assert!(is_date(text), "{name}.{k}: {text} is not a date"),
                        (Some("date-time"), Some("timestamp_without_timezone")) => {
                            assert!(
                                text.len() >= 19 && is_date(&text[..10]) && &text[10..11] == "T",
                                "{name}.{k}: {text}"
                            )
                        }
                        (_, Some("time_without_timezone")) => {
                            assert!(text.len() >= 8 && &text[2..3] == ":", "{name}.{k}: {text}")
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-' && s[..4].parse::<u32>().is_ok()
}

/// Changes in a record's meta.
pub fn changes(record: &Value) -> Vec<(String, String)> {
    record["meta"]["changes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| (c["field"].as_str().unwrap().to_string(), c["reason"].as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The Python with the workbook producers (openpyxl, xlwt, odfpy, msoffcrypto), after `tests/python/setup.sh`.
pub fn producer_python() -> PathBuf {
    conformance::support::venv_tool("xlsx", "python")
}

/// Run `tests/data/make_workbooks.py <kind> <out>` (openpyxl/xlwt/odfpy producers).
pub fn python_workbook(kind: &str, out: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/make_workbooks.py");
    let status = Command::new(producer_python()).arg(&script).arg(kind).arg(out).status().expect("run python producer");
    assert!(status.success(), "producer {kind} failed");
    assert!(out.exists(), "producer {kind} wrote nothing");
}

/// The config that reads one workbook of the case's folder.
pub fn cfg(case: &Case, file: &str) -> Value {
    json!({"files": [case.path(file).display().to_string()]})
}

/// Neither a connector panic nor an internal error in the output.
pub fn assert_no_panic(r: &Run) {
    assert!(
        !r.stdout.contains("a bug in the connector") && !r.stderr.contains("panicked"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
}

/// (stream name, status) of every STREAM_STATUS trace, in order.
pub fn stream_statuses(r: &Run) -> Vec<(String, String)> {
    r.of_type("TRACE")
        .filter(|m| m["trace"]["type"] == "STREAM_STATUS")
        .map(|m| {
            let s = &m["trace"]["stream_status"];
            (s["stream_descriptor"]["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string())
        })
        .collect()
}

/// `file` holds an intact sheet "Lab" (3 data rows) and a sheet "Broken" whose stream is cut after its first rows.
/// Discover over the first rows succeeds; the read fails the broken stream with a config error naming file and
/// sheet, after reading "Lab" completely. Returns the read.
pub fn assert_broken_sheet_fails_only_its_stream(case: &Case, file: &str, stem: &str) -> Run {
    let mut c = cfg(case, file);
    c["infer_rows"] = json!(10);
    let d = case.discover(&c);
    d.assert_ok();
    let (lab, broken) = (format!("{stem}_lab"), format!("{stem}_broken"));
    assert_eq!(names(&d.catalog()), [lab.clone(), broken.clone()]);
    let r = case.read(&c, &configured(&d.catalog(), "full_refresh"), None);
    assert_no_panic(&r);
    let e = r.error();
    assert_eq!(e["failure_type"], "config_error");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains(file) && msg.contains("\"Broken\""), "{msg}");
    assert_eq!(e["stream_descriptor"]["name"], broken.as_str());
    assert_eq!(r.data(&lab).len(), 3);
    let statuses = stream_statuses(&r);
    assert!(statuses.contains(&(lab, "COMPLETE".into())), "{statuses:?}");
    assert!(statuses.contains(&(broken, "INCOMPLETE".into())), "{statuses:?}");
    r
}
