//! [`SourceSuite`]: CAT's source checks (reference/cat.md sections A and B) against a source binary.

use crate::process::{Launcher, Run};
use crate::report::Report;
use crate::schema::{self, undeclared_fields};
use airbyte_protocol::ConfiguredAirbyteCatalog;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The stream CAT's invalid-catalog test asks for.
pub const INVALID_STREAM: &str = "__AIRBYTE__stream_that_does_not_exist";

/// Drives a source binary through spec, check, discover, read, full-refresh and incremental checks.
#[derive(Debug, Clone)]
pub struct SourceSuite {
    /// The connector binary (e.g. `support::bin_path("source-xlsx")`).
    pub binary: PathBuf,
    /// `specs/<name>`: holds the golden `spec.json`.
    pub spec_dir: PathBuf,
    /// A config that works offline (check SUCCEEDED, records for every non-empty stream).
    pub config: Value,
    /// A config that must give CONNECTION_STATUS FAILED with exit 0.
    pub invalid_config: Option<Value>,
    /// A config that makes `check` fail with an exception: exactly one TRACE, any exit code.
    pub exception_config: Option<Value>,
    /// The catalog for the basic read; default: every discovered stream, full_refresh + append.
    pub configured_catalog: Option<ConfiguredAirbyteCatalog>,
    /// Streams allowed to have no records.
    pub empty_streams: Vec<String>,
    /// A state file value with far-future cursors: the read must give no records and >=1 state.
    pub future_state: Option<Value>,
    /// Streams to test incrementally (each needs a cursor); empty skips the incremental checks.
    pub incremental_streams: Vec<String>,
    /// Extra environment for every run.
    pub env: Vec<(String, String)>,
    /// Per-command timeout.
    pub timeout: Duration,
    /// Pause between the two full-refresh reads (CAT: about 1 s).
    pub full_refresh_gap: Duration,
}

impl SourceSuite {
    pub fn new(binary: impl Into<PathBuf>, spec_dir: impl Into<PathBuf>, config: Value) -> Self {
        SourceSuite {
            binary: binary.into(),
            spec_dir: spec_dir.into(),
            config,
            invalid_config: None,
            exception_config: None,
            configured_catalog: None,
            empty_streams: Vec::new(),
            future_state: None,
            incremental_streams: Vec::new(),
            env: Vec::new(),
            timeout: Duration::from_secs(300),
            full_refresh_gap: Duration::from_secs(1),
        }
    }

    /// Run every check; never panics on connector misbehaviour (see [`Report::assert_passed`]).
    pub fn run(&self) -> Report {
        let mut ctx = Ctx::new(&self.binary, &self.env, self.timeout);
        let mut report = Report::default();
        let config_path = ctx.write("config.json", &self.config);

        let spec = crate::common::spec_checks(&mut ctx, &mut report, &self.spec_dir, &self.config);
        if let Some(spec) = &spec {
            ctx.secrets = crate::common::all_secrets(
                spec,
                [Some(&self.config), self.invalid_config.as_ref(), self.exception_config.as_ref()],
            );
        }
        crate::common::check_checks(
            &mut ctx,
            &mut report,
            &config_path,
            self.invalid_config.as_ref(),
            self.exception_config.as_ref(),
        );

        let discovered = self.discover_checks(&mut ctx, &mut report, &config_path);
        let catalog = match (&self.configured_catalog, &discovered) {
            (Some(c), _) => Some(serde_json::to_value(c).expect("catalog serialises")),
            (None, Some(d)) => Some(full_refresh_catalog(d)),
            (None, None) => None,
        };
        match &catalog {
            Some(catalog) => {
                self.read_checks(&mut ctx, &mut report, &config_path, catalog);
                self.full_refresh_checks(&mut ctx, &mut report, &config_path, catalog);
                self.incremental_checks(&mut ctx, &mut report, &config_path, catalog);
            }
            None => report.add_one(
                "read.succeeds",
                "read exits 0 without TRACE ERROR",
                Some("no catalog: discover failed and none was given".into()),
            ),
        }
        crate::common::output_checks(&ctx, &mut report);
        report
    }

    fn discover_checks(&self, ctx: &mut Ctx, report: &mut Report, config_path: &Path) -> Option<Value> {
        let run = ctx.run(&["discover", "--config", &path_str(config_path)], None);
        let catalogs: Vec<&Value> = run.of_type("CATALOG").collect();
        let mut f = Vec::new();
        if !run.succeeded() {
            f.push(format!("discover failed: {}", run.describe_end()));
        }
        if catalogs.len() != 1 {
            f.push(format!("expected exactly one CATALOG message, got {}", catalogs.len()));
        }
        let catalog = catalogs.first().map(|c| c["catalog"].clone());
        let streams: Vec<Value> = catalog.as_ref().and_then(|c| c["streams"].as_array().cloned()).unwrap_or_default();
        if catalog.is_some() && streams.is_empty() {
            f.push("the catalog has no streams".into());
        }
        report.add("discover.one_catalog", "discover gives exactly one CATALOG with >=1 stream", f);

        let mut names = HashSet::new();
        let dupes: Vec<String> = streams
            .iter()
            .filter_map(|s| {
                let d = descriptor_label(s);
                (!names.insert(d.clone())).then(|| format!("stream {d} appears more than once"))
            })
            .collect();
        report.add("discover.unique_names", "stream names are unique", dupes);

        let (mut valid, mut forbidden, mut paths, mut modes, mut additional, mut pk_types) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for s in &streams {
            let name = descriptor_label(s);
            let js = &s["json_schema"];
            valid.extend(schema::draft7_problems(js).into_iter().map(|p| format!("stream {name}: {p}")));
            if !js.is_object() {
                valid.push(format!("stream {name}: json_schema is not an object"));
            }
            for (k, p) in schema::find_keywords(js, &["$ref", "allOf", "not"]) {
                forbidden.push(format!("stream {name}: `{k}` at {p}"));
            }
            for (label, list) in
                [("default_cursor_field", vec![s["default_cursor_field"].clone()])].into_iter().chain([(
                    "source_defined_primary_key",
                    s["source_defined_primary_key"].as_array().cloned().unwrap_or_default(),
                )])
            {
                for p in list.iter().filter(|p| !p.is_null()) {
                    let path = string_path(p);
                    if path.is_empty() || !schema::path_exists(js, &path) {
                        paths.push(format!("stream {name}: {label} {p} is not a path in json_schema.properties"));
                    } else if label == "source_defined_primary_key" {
                        let ts = schema::property_at(js, &path)
                            .and_then(Value::as_object)
                            .map(schema::types)
                            .unwrap_or_default();
                        if ts.iter().any(|t| *t == "object" || *t == "array") {
                            pk_types.push(format!("stream {name}: primary key {p} has type {ts:?}"));
                        }
                    }
                }
            }
            if s["supported_sync_modes"].as_array().is_none_or(Vec::is_empty) {
                modes.push(format!("stream {name}: supported_sync_modes missing or empty"));
            }
            schema::walk(js, &mut |n| {
                if let Some(ap) = n.schema.get("additionalProperties") {
                    if ap != &Value::Bool(true) {
                        additional.push(format!("stream {name}: additionalProperties {ap} at {}", n.pointer));
                    }
                }
            });
        }
        report.add("discover.valid_schemas", "every json_schema is a valid Draft-7 schema", valid);
        report.add("discover.no_ref_allof_not", "no $ref, allOf or not in stream schemas", forbidden);
        report.add("discover.pk_cursor_exist", "primary keys and default cursors exist in the schema", paths);
        report.add("discover.sync_modes", "supported_sync_modes is non-empty", modes);
        report.add("discover.additional_properties", "additionalProperties in stream schemas is true", additional);
        report.add("discover.pk_types", "primary key fields are not object or array", pk_types);
        catalog
    }

    fn read_checks(&self, ctx: &mut Ctx, report: &mut Report, config_path: &Path, catalog: &Value) {
        let catalog_path = ctx.write("catalog.json", catalog);
        let run = ctx.run(&["read", "--config", &path_str(config_path), "--catalog", &path_str(&catalog_path)], None);
        let streams = configured_streams(catalog);
        let mut f = Vec::new();
        if !run.succeeded() || run.traces("ERROR").next().is_some() {
            f.push(format!("read failed: {}", run.describe_end()));
        }
        report.add("read.succeeds", "read exits 0 without TRACE ERROR", f);

        // Records: schema, undeclared fields, per-stream counts, PK values.
        let validators: HashMap<String, Option<jsonschema::Validator>> =
            streams.iter().map(|(k, s)| (k.clone(), schema::record_validator(&s["stream"]["json_schema"]))).collect();
        let (mut schema_f, mut pk_f) = (Vec::new(), Vec::new());
        let mut counts: HashMap<String, usize> = HashMap::new();
        for rec in run.of_type("RECORD") {
            let r = &rec["record"];
            let key = record_key(r);
            let Some(configured) = streams.get(&key) else {
                schema_f.push(format!("record for stream {key} which is not in the configured catalog"));
                continue;
            };
            *counts.entry(key.clone()).or_default() += 1;
            let data = &r["data"];
            if let Some(Some(v)) = validators.get(&key) {
                for p in schema::violations(v, data).into_iter().take(3) {
                    schema_f.push(format!("stream {key}: record {p}"));
                }
            }
            for p in undeclared_fields(&configured["stream"]["json_schema"], data).into_iter().take(3) {
                schema_f.push(format!("stream {key}: undeclared field {p}"));
            }
            for pk in configured["primary_key"].as_array().into_iter().flatten() {
                let path = string_path(pk);
                match value_at(data, &path) {
                    None | Some(Value::Null) => pk_f.push(format!("stream {key}: primary key {pk} is null or missing")),
                    Some(Value::Object(_) | Value::Array(_)) => {
                        pk_f.push(format!("stream {key}: primary key {pk} is an object or array"))
                    }
                    Some(_) => {}
                }
            }
        }
        report.add(
            "read.records_match_schema",
            "records validate against their stream schema, no undeclared fields",
            schema_f,
        );
        report.add("read.pk_values", "primary key values are non-null scalars", pk_f);
        let mut count_f = Vec::new();
        if counts.values().sum::<usize>() == 0 {
            count_f.push("the read gave no records at all".into());
        }
        for (key, s) in &streams {
            let name = s["stream"]["name"].as_str().unwrap_or_default();
            if !self.empty_streams.iter().any(|e| e == name) && counts.get(key).copied().unwrap_or(0) == 0 {
                count_f.push(format!("stream {key} gave no records (list it in empty_streams if that is expected)"));
            }
        }
        report.add("read.records_per_stream", ">=1 record per configured stream not in empty_streams", count_f);

        // States: STREAM type per stream, sourceStats.
        let states: Vec<&Value> = run.of_type("STATE").collect();
        let mut state_f = Vec::new();
        if states.len() < streams.len() {
            state_f.push(format!("{} STATE messages for {} configured streams", states.len(), streams.len()));
        }
        let mut stats_f = Vec::new();
        let mut with_state = HashSet::new();
        for st in &states {
            let s = &st["state"];
            match s["type"].as_str() {
                Some("STREAM") => {
                    with_state.insert(descriptor_label(&s["stream"]["stream_descriptor"]));
                }
                Some("GLOBAL") => state_f.push("GLOBAL state where CAT reads STREAM states".into()),
                other => state_f
                    .push(format!("state of type {} (must be STREAM, not LEGACY)", other.unwrap_or("LEGACY (absent)"))),
            }
            if !s["sourceStats"]["recordCount"].is_number() {
                stats_f.push(format!("state without sourceStats.recordCount: {}", excerpt(s)));
            }
        }
        for key in streams.keys() {
            if !with_state.contains(key) {
                state_f.push(format!("stream {key} emitted no STREAM state"));
            }
        }
        report.add("read.stream_states", "one or more STREAM (not LEGACY) states per configured stream", state_f);
        report.add("read.source_stats", "every STATE carries sourceStats.recordCount", stats_f);

        // Stream statuses: STARTED, RUNNING+, COMPLETE.
        let mut statuses: BTreeMap<String, Vec<String>> = streams.keys().map(|k| (k.clone(), Vec::new())).collect();
        for t in run.traces("STREAM_STATUS") {
            let ss = &t["trace"]["stream_status"];
            let key = descriptor_label(&ss["stream_descriptor"]);
            statuses.entry(key).or_default().push(ss["status"].as_str().unwrap_or("?").to_string());
        }
        let mut status_f = Vec::new();
        for (key, list) in &statuses {
            let ok = list.len() >= 3
                && list[0] == "STARTED"
                && list[list.len() - 1] == "COMPLETE"
                && list[1..list.len() - 1].iter().all(|s| s == "RUNNING");
            if !ok {
                status_f.push(format!("stream {key}: statuses {list:?}, expected STARTED, RUNNING.., COMPLETE"));
            }
        }
        report.add("read.stream_status", "per stream: STARTED, then RUNNING (>=1), then COMPLETE", status_f);

        // `--state` with [] (PyAirbyte always passes one).
        let empty_state = ctx.write("empty_state.json", &json!([]));
        let run2 = ctx.run(
            &[
                "read",
                "--config",
                &path_str(config_path),
                "--catalog",
                &path_str(&catalog_path),
                "--state",
                &path_str(&empty_state),
            ],
            None,
        );
        let mut f = Vec::new();
        if !run2.succeeded() || run2.traces("ERROR").next().is_some() || run2.count("RECORD") == 0 {
            f.push(format!("read with --state [] gave {} records and {}", run2.count("RECORD"), run2.describe_end()));
        }
        report.add("read.empty_state_accepted", "read with a `--state` file holding [] works", f);

        // CAT's invalid catalog.
        let invalid = json!({"streams": [{
            "stream": {"name": INVALID_STREAM, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
            "sync_mode": "INVALID", "destination_sync_mode": "INVALID"}]});
        let invalid_path = ctx.write("invalid_catalog.json", &invalid);
        let run3 = ctx.run(&["read", "--config", &path_str(config_path), "--catalog", &path_str(&invalid_path)], None);
        let mut f = Vec::new();
        if run3.traces("ERROR").next().is_none() {
            f.push(format!("no TRACE ERROR for an invalid catalog ({})", run3.describe_end()));
        }
        if run3.succeeded() {
            f.push("exit code 0 for an invalid catalog".into());
        }
        report.add("read.invalid_catalog_trace", "an invalid catalog gives a TRACE ERROR and a non-zero exit", f);
    }

    fn full_refresh_checks(&self, ctx: &mut Ctx, report: &mut Report, config_path: &Path, catalog: &Value) {
        let fr = full_refresh_catalog(catalog);
        let path = ctx.write("full_refresh_catalog.json", &fr);
        let args = ["read", "--config", &path_str(config_path), "--catalog", &path_str(&path)];
        let r1 = ctx.run(&args, None);
        std::thread::sleep(self.full_refresh_gap);
        let r2 = ctx.run(&args, None);
        let (mut order_f, mut subset_f) = (Vec::new(), Vec::new());
        for r in [&r1, &r2] {
            if !r.succeeded() {
                order_f.push(format!("full-refresh read failed: {}", r.describe_end()));
            }
        }
        let stamps =
            |r: &Run| r.of_type("RECORD").filter_map(|m| m["record"]["emitted_at"].as_i64()).collect::<Vec<_>>();
        let (s1, s2) = (stamps(&r1), stamps(&r2));
        if let (Some(max1), Some(min2)) = (s1.iter().max(), s2.iter().min()) {
            if max1 >= min2 {
                order_f
                    .push(format!("max emitted_at of read 1 ({max1}) is not before min emitted_at of read 2 ({min2})"));
            }
        } else {
            order_f.push("a full-refresh read gave no records".into());
        }
        report.add(
            "full_refresh.emitted_at_order",
            "two reads ~1 s apart: all emitted_at of read 1 < those of read 2",
            order_f,
        );

        let streams = configured_streams(&fr);
        let keyed = |r: &Run| -> HashSet<(String, String)> {
            r.of_type("RECORD")
                .map(|m| {
                    let rec = &m["record"];
                    let key = record_key(rec);
                    let pk = streams.get(&key).and_then(|s| s["primary_key"].as_array()).filter(|p| !p.is_empty());
                    let id = match pk {
                        Some(pk) => pk
                            .iter()
                            .map(|p| canonical(value_at(&rec["data"], &string_path(p)).unwrap_or(&Value::Null)))
                            .collect::<Vec<_>>()
                            .join("|"),
                        None => canonical(&rec["data"]),
                    };
                    (key, id)
                })
                .collect()
        };
        let (k1, k2) = (keyed(&r1), keyed(&r2));
        let missing: Vec<_> = k1.difference(&k2).take(5).collect();
        if !missing.is_empty() {
            subset_f
                .push(format!("{} records of read 1 are not in read 2, e.g. {missing:?}", k1.difference(&k2).count()));
        }
        report.add(
            "full_refresh.records_subset",
            "records of read 1 are all in read 2 (by primary key, else whole record)",
            subset_f,
        );
    }

    fn incremental_checks(&self, ctx: &mut Ctx, report: &mut Report, config_path: &Path, catalog: &Value) {
        const TWO: (&str, &str) =
            ("incremental.two_reads", "read 1 gives states and records; read 2 from its states differs");
        const SLICES: (&str, &str) = (
            "incremental.sequential_slices",
            "re-reading from each checkpoint gives >= the records sourceStats says follow it",
        );
        const FUTURE: (&str, &str) =
            ("incremental.future_state", "a far-future state gives no records and >=1 state of the same cursor type");
        if self.incremental_streams.is_empty() {
            for (n, w) in [TWO, SLICES, FUTURE] {
                report.skip(n, w, "no incremental_streams configured");
            }
            return;
        }
        let inc = incremental_catalog(catalog, &self.incremental_streams);
        let cat_path = ctx.write("incremental_catalog.json", &inc);
        let base = ["read", "--config", &path_str(config_path), "--catalog", &path_str(&cat_path)];
        let r1 = ctx.run(&base, None);
        let mut f = Vec::new();
        if !r1.succeeded() {
            f.push(format!("incremental read 1 failed: {}", r1.describe_end()));
        }
        if r1.count("STATE") == 0 || r1.count("RECORD") == 0 {
            f.push(format!(
                "read 1 gave {} states and {} records; both must be >= 1",
                r1.count("STATE"),
                r1.count("RECORD")
            ));
        }
        let latest = latest_stream_states(&r1);
        let state_path = ctx.write("incremental_state.json", &Value::Array(latest.values().cloned().collect()));
        let r2 = ctx.run(&[&base[..], &["--state", &path_str(&state_path)]].concat(), None);
        if !r2.succeeded() {
            f.push(format!("incremental read 2 failed: {}", r2.describe_end()));
        }
        let records = |r: &Run| {
            let mut v: Vec<String> = r
                .of_type("RECORD")
                .map(|m| format!("{}:{}", record_key(&m["record"]), canonical(&m["record"]["data"])))
                .collect();
            v.sort();
            v
        };
        if f.is_empty() && records(&r1) == records(&r2) {
            f.push(format!("read 2 with the states of read 1 gave the same {} records", r2.count("RECORD")));
        }
        report.add(TWO.0, TWO.1, f);

        // Sequential slices from sourceStats.
        let mut f = Vec::new();
        let mut any_nonzero = false;
        let mut by_stream: BTreeMap<String, Vec<(Value, f64)>> = BTreeMap::new();
        for st in r1.of_type("STATE") {
            let s = &st["state"];
            if s["type"] != "STREAM" {
                continue;
            }
            let key = descriptor_label(&s["stream"]["stream_descriptor"]);
            let count = s["sourceStats"]["recordCount"].as_f64().unwrap_or(0.0);
            any_nonzero |= count > 0.0;
            by_stream.entry(key).or_default().push((as_input_state(s), count));
        }
        if !any_nonzero {
            f.push("no checkpoint has a non-zero sourceStats.recordCount".into());
        }
        for (key, checkpoints) in &by_stream {
            let n = checkpoints.len();
            let picks: Vec<usize> = if n <= 5 { (0..n).collect() } else { (0..5).map(|i| i * (n - 1) / 4).collect() };
            for i in picks {
                let expected: f64 = checkpoints[i + 1..].iter().map(|(_, c)| c).sum();
                let p = ctx.write(&format!("slice_{i}.json"), &json!([checkpoints[i].0]));
                let r = ctx.run(&[&base[..], &["--state", &path_str(&p)]].concat(), None);
                let got = r.of_type("RECORD").filter(|m| record_key(&m["record"]) == *key).count() as f64;
                if !r.succeeded() || got < expected {
                    f.push(format!(
                        "stream {key}: from checkpoint {i} got {got} records, sourceStats say {expected} follow ({})",
                        r.describe_end()
                    ));
                }
            }
        }
        report.add(SLICES.0, SLICES.1, f);

        let Some(future) = &self.future_state else {
            report.skip(FUTURE.0, FUTURE.1, "no future_state configured");
            return;
        };
        let p = ctx.write("future_state.json", future);
        let r = ctx.run(&[&base[..], &["--state", &path_str(&p)]].concat(), None);
        let mut f = Vec::new();
        if !r.succeeded() {
            f.push(format!("read with the future state failed: {}", r.describe_end()));
        }
        if r.count("RECORD") > 0 {
            f.push(format!("{} records emitted for a far-future state", r.count("RECORD")));
        }
        if r.count("STATE") == 0 {
            f.push("no STATE emitted for a far-future state".into());
        }
        let given: HashMap<String, Value> = future
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["type"] == "STREAM")
            .map(|s| (descriptor_label(&s["stream"]["stream_descriptor"]), s["stream"]["stream_state"].clone()))
            .collect();
        for st in r.of_type("STATE") {
            let s = &st["state"]["stream"];
            let key = descriptor_label(&s["stream_descriptor"]);
            let (Some(Value::Object(given)), Some(Value::Object(out))) = (given.get(&key), s.get("stream_state"))
            else {
                continue;
            };
            for (k, v) in given {
                if let Some(o) = out.get(k) {
                    if kind(o) != kind(v) {
                        f.push(format!(
                            "stream {key}: cursor `{k}` is a {} in the emitted state, a {} in the future state",
                            kind(o),
                            kind(v)
                        ));
                    }
                }
            }
        }
        report.add(FUTURE.0, FUTURE.1, f);
    }
}

/// Shared state of one suite run: the launcher, a temp dir, every run (for the output checks), secrets.
pub(crate) struct Ctx {
    launcher: Launcher,
    pub dir: tempfile::TempDir,
    pub runs: Vec<Run>,
    pub secrets: Vec<String>,
}

impl Ctx {
    pub fn new(binary: &Path, env: &[(String, String)], timeout: Duration) -> Self {
        Ctx {
            launcher: Launcher { binary: binary.to_path_buf(), env: env.to_vec(), timeout },
            dir: tempfile::tempdir().expect("temp dir"),
            runs: Vec::new(),
            secrets: Vec::new(),
        }
    }
    pub fn write(&self, name: &str, value: &Value) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, serde_json::to_vec_pretty(value).expect("json")).expect("write temp file");
        p
    }
    /// Run and remember the run; returns a copy for the caller's checks.
    pub fn run(&mut self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let r = self.launcher.run(args, stdin);
        self.runs.push(r.clone());
        r
    }
}

pub(crate) fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `namespace.name` or `name`, from a stream descriptor or an AirbyteStream.
pub(crate) fn descriptor_label(d: &Value) -> String {
    match (d["namespace"].as_str(), d["name"].as_str()) {
        (Some(ns), Some(n)) => format!("{ns}.{n}"),
        (None, Some(n)) => n.to_string(),
        _ => format!("<no name: {}>", excerpt(d)),
    }
}

fn record_key(record: &Value) -> String {
    descriptor_label(&json!({"name": record["stream"], "namespace": record["namespace"]}))
}

fn configured_streams(catalog: &Value) -> BTreeMap<String, Value> {
    catalog["streams"].as_array().into_iter().flatten().map(|s| (descriptor_label(&s["stream"]), s.clone())).collect()
}

/// A catalog reading every stream of `source` in full refresh (from a discovered or a configured catalog).
fn full_refresh_catalog(source: &Value) -> Value {
    let streams: Vec<Value> = source["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            // A configured stream has `stream` inside; a discovered one is the stream itself.
            let (stream, pk) = if s.get("stream").is_some() {
                (s["stream"].clone(), s.get("primary_key").cloned())
            } else {
                (s.clone(), s.get("source_defined_primary_key").cloned())
            };
            let mut c = json!({"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "append"});
            if let Some(pk) = pk.filter(|p| !p.is_null()) {
                c["primary_key"] = pk;
            }
            c
        })
        .collect();
    json!({ "streams": streams })
}

fn incremental_catalog(catalog: &Value, names: &[String]) -> Value {
    let streams: Vec<Value> = catalog["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["stream"]["name"].as_str().is_some_and(|n| names.iter().any(|x| x == n)))
        .map(|s| {
            let mut c = s.clone();
            c["sync_mode"] = json!("incremental");
            if c["cursor_field"].as_array().is_none_or(Vec::is_empty) {
                c["cursor_field"] = s["stream"]["default_cursor_field"].clone();
            }
            c
        })
        .collect();
    json!({ "streams": streams })
}

/// The last STREAM state per stream, in the shape CAT sends back.
fn latest_stream_states(run: &Run) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for st in run.of_type("STATE") {
        let s = &st["state"];
        if s["type"] == "STREAM" {
            out.insert(descriptor_label(&s["stream"]["stream_descriptor"]), as_input_state(s));
        }
    }
    out
}

fn as_input_state(s: &Value) -> Value {
    json!({"type": "STREAM", "stream": {"stream_descriptor": s["stream"]["stream_descriptor"], "stream_state": s["stream"]["stream_state"]}})
}

fn string_path(p: &Value) -> Vec<String> {
    match p {
        Value::Array(parts) => {
            parts.iter().map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).collect()
        }
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn value_at<'a>(data: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(data, |v, k| v.get(k))
}

/// JSON text with object keys sorted, so equal records compare equal whatever their key order.
pub(crate) fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn excerpt(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 160 {
        format!(
            "{}…",
            &s[..s.char_indices().take_while(|(i, _)| *i < 160).last().map(|(i, c)| i + c.len_utf8()).unwrap_or(0)]
        )
    } else {
        s
    }
}
