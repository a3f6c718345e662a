//! [`DestinationSuite`]: spec and check as CAT runs them, plus the write checks of Airbyte's destination
//! suites (reference/cat.md section C) that can be judged from the protocol alone: every input STATE acked
//! exactly once, in input order, unchanged except `destinationStats.recordCount` (with a decimal point).
//! Reading the data back is each destination's own test.

use crate::messages;
use crate::process::Run;
use crate::report::Report;
use crate::source::{descriptor_label, path_str, Ctx};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::Duration;

/// Drives a destination binary through spec, check and the write scenarios of [`scenarios`].
#[derive(Debug, Clone)]
pub struct DestinationSuite {
    pub binary: PathBuf,
    /// `specs/<name>`: holds the golden `spec.json`.
    pub spec_dir: PathBuf,
    /// A config that works offline (check SUCCEEDED, writes succeed).
    pub config: Value,
    /// A config that must give CONNECTION_STATUS FAILED with exit 0.
    pub invalid_config: Option<Value>,
    /// A config that makes `check` fail with an exception: exactly one TRACE, any exit code.
    pub exception_config: Option<Value>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

/// One write scenario: a configured catalog and the stdin lines.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub catalog: Value,
    pub lines: Vec<String>,
}

impl DestinationSuite {
    pub fn new(binary: impl Into<PathBuf>, spec_dir: impl Into<PathBuf>, config: Value) -> Self {
        DestinationSuite {
            binary: binary.into(),
            spec_dir: spec_dir.into(),
            config,
            invalid_config: None,
            exception_config: None,
            env: Vec::new(),
            timeout: Duration::from_secs(300),
        }
    }

    pub fn run(&self) -> Report {
        let mut ctx = Ctx::new(&self.binary, &self.env, self.timeout);
        let mut report = Report::default();
        let config_path = ctx.write("config.json", &self.config);
        if let Some(spec) = crate::common::spec_checks(&mut ctx, &mut report, &self.spec_dir, &self.config) {
            ctx.secrets = crate::common::all_secrets(
                &spec,
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
        for scenario in scenarios() {
            let cat = ctx.write(&format!("catalog_{}.json", scenario.name), &scenario.catalog);
            let mut input = scenario.lines.join("\n").into_bytes();
            input.push(b'\n');
            let run =
                ctx.run(&["write", "--config", &path_str(&config_path), "--catalog", &path_str(&cat)], Some(&input));
            check_acks(&mut report, &scenario, &run);
        }
        crate::common::output_checks(&ctx, &mut report);
        report
    }
}

/// An input state and what its ack must carry.
struct ExpectedAck {
    state: Value,
    count: u64,
}

/// The states of a scenario, with the record counts the protocol asks for: a STREAM state counts the
/// records of its stream since that stream's previous state; a GLOBAL state counts all records since the
/// previous GLOBAL state.
fn expected_acks(lines: &[String]) -> Vec<ExpectedAck> {
    let mut per_stream: std::collections::HashMap<String, u64> = Default::default();
    let mut global = 0u64;
    let mut out = Vec::new();
    for line in lines {
        let m: Value = serde_json::from_str(line).expect("scenario lines are JSON");
        match m["type"].as_str() {
            Some("RECORD") => {
                let r = &m["record"];
                *per_stream
                    .entry(descriptor_label(&json!({"name": r["stream"], "namespace": r["namespace"]})))
                    .or_default() += 1;
                global += 1;
            }
            Some("STATE") => {
                let s = m["state"].clone();
                let count = if s["type"] == "GLOBAL" {
                    per_stream.clear();
                    std::mem::take(&mut global)
                } else {
                    per_stream.remove(&descriptor_label(&s["stream"]["stream_descriptor"])).unwrap_or(0)
                };
                out.push(ExpectedAck { state: s, count });
            }
            _ => {}
        }
    }
    out
}

/// What identifies a state: its type and payload (stream descriptor + state, or the global state).
fn identity(state: &Value) -> String {
    crate::source::canonical(&json!([state["type"], state["stream"], state["global"], state["data"]]))
}

fn without_destination_stats(state: &Value) -> Value {
    let mut s = state.clone();
    if let Some(m) = s.as_object_mut() {
        m.remove("destinationStats");
    }
    s
}

/// The number token written for `destinationStats.recordCount` in a raw line.
fn raw_destination_count(line: &str) -> Option<&str> {
    let start = line.find("\"destinationStats\"")?;
    let rest = &line[start..];
    let at = rest.find("\"recordCount\"")? + "\"recordCount\"".len();
    let rest = rest[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

fn check_acks(report: &mut Report, scenario: &Scenario, run: &Run) {
    let name = scenario.name;
    let expected = expected_acks(&scenario.lines);
    let mut f = Vec::new();
    if !run.succeeded() || run.traces("ERROR").next().is_some() {
        f.push(format!("scenario {name}: write failed: {}", run.describe_end()));
    }
    report.add("write.exit_ok", "write exits 0 without TRACE ERROR", f);

    // Match each ack to an input state by identity.
    let acks: Vec<(usize, &Value)> =
        run.messages.iter().filter(|(_, m)| m["type"] == "STATE").map(|(i, m)| (*i, &m["state"])).collect();
    let mut matched: Vec<(usize, Option<usize>)> = Vec::new();
    for (line, ack) in &acks {
        let id = identity(ack);
        matched.push((*line, expected.iter().position(|e| identity(&e.state) == id)));
    }
    let unknown: Vec<String> = matched
        .iter()
        .zip(&acks)
        .filter(|((_, m), _)| m.is_none())
        .map(|((line, _), (_, ack))| {
            format!(
                "scenario {name}: stdout line {} acks a state never sent: {}",
                line + 1,
                crate::source::excerpt(ack)
            )
        })
        .collect();
    report.add("write.no_unknown_acks", "no STATE is emitted that was not in the input", unknown);

    let mut f = Vec::new();
    for (i, e) in expected.iter().enumerate() {
        let n = matched.iter().filter(|(_, m)| *m == Some(i)).count();
        if n != 1 {
            f.push(format!(
                "scenario {name}: input state #{} acked {n} times: {}",
                i + 1,
                crate::source::excerpt(&e.state)
            ));
        }
    }
    report.add("write.acks_exactly_once", "every input STATE is acked exactly once", f);

    let order: Vec<usize> = matched.iter().filter_map(|(_, m)| *m).collect();
    let f: Vec<String> = order
        .windows(2)
        .filter(|w| w[0] >= w[1])
        .map(|w| format!("scenario {name}: input state #{} acked after #{}", w[1] + 1, w[0] + 1))
        .collect();
    report.add("write.acks_in_order", "acks come in input order", f);

    let (mut unchanged, mut counts, mut decimal) = (Vec::new(), Vec::new(), Vec::new());
    for ((line, m), (_, ack)) in matched.iter().zip(&acks) {
        let Some(i) = m else { continue };
        let e = &expected[*i];
        if without_destination_stats(ack) != without_destination_stats(&e.state) {
            unchanged.push(format!(
                "scenario {name}: ack of input state #{} differs from the input: {}",
                i + 1,
                crate::common::first_difference(
                    &without_destination_stats(&e.state),
                    &without_destination_stats(ack),
                    ""
                )
            ));
        }
        let given_stats = e.state.get("destinationStats").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut ack_stats: Map<String, Value> =
            ack.get("destinationStats").and_then(Value::as_object).cloned().unwrap_or_default();
        match ack_stats.remove("recordCount").and_then(|c| c.as_f64()) {
            Some(c) if c == e.count as f64 => {}
            other => counts.push(format!(
                "scenario {name}: ack of input state #{} has destinationStats.recordCount {other:?}, expected {}",
                i + 1,
                e.count
            )),
        }
        let mut given_rest = given_stats.clone();
        given_rest.remove("recordCount");
        if ack_stats != given_rest {
            unchanged
                .push(format!("scenario {name}: ack of input state #{} changed other destinationStats fields", i + 1));
        }
        match raw_destination_count(&run.lines[*line]) {
            Some(tok) if tok.contains('.') || tok.contains('e') || tok.contains('E') => {}
            tok => decimal.push(format!("scenario {name}: recordCount written as {tok:?}, without a decimal point")),
        }
    }
    report.add("write.acks_unchanged", "each ack equals its input state apart from destinationStats", unchanged);
    report.add(
        "write.record_counts",
        "destinationStats.recordCount = records since the previous state (GLOBAL: all streams)",
        counts,
    );
    report.add("write.count_decimal_point", "recordCount is written with a decimal point (3.0)", decimal);
}

fn stream(name: &str, namespace: Option<&str>, properties: Value) -> Value {
    let mut s = json!({
        "stream": {"name": name, "json_schema": {"type": "object", "properties": properties},
                   "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": "full_refresh", "destination_sync_mode": "append",
        "generation_id": 12, "minimum_generation_id": 12, "sync_id": 42
    });
    if let Some(ns) = namespace {
        s["stream"]["namespace"] = json!(ns);
    }
    s
}

const FUNKY_STREAM: &str = "Foo.Bar spécial+1";
const FUNKY_NAMESPACE: &str = "ns-ø";

fn catalog() -> Value {
    let int = json!({"type": ["null", "integer"]});
    let str_ = json!({"type": ["null", "string"]});
    json!({"streams": [
        stream("users", None, json!({"id": int, "name": str_, "note": str_})),
        stream("orders", Some("shop"), json!({"id": int, "amount": {"type": ["null", "number"]}, "note": str_})),
        stream(FUNKY_STREAM, Some(FUNKY_NAMESPACE), json!({
            "camelCase": str_, "ALLCAPS": str_, "spécial": str_, "+plus": str_, "1leading": int,
            "order": int, "Foo.Bar": str_, "id": int})),
    ]})
}

fn record(stream: &str, namespace: Option<&str>, data: Value, emitted_at: i64) -> String {
    messages::record(stream, namespace, data, emitted_at).to_string()
}

fn stream_state(stream: &str, namespace: Option<&str>, cursor: Value, source_count: u64) -> String {
    let mut state = messages::stream_state(stream, namespace, json!({"cursor": cursor}));
    state["state"]["sourceStats"] = json!({"recordCount": source_count as f64});
    state["state"]["unknown_field_kept"] = json!({"x": [1, 2]});
    state.to_string()
}

fn status(stream: &str, namespace: Option<&str>, status: &str) -> String {
    messages::stream_status(stream, namespace, status).to_string()
}

/// The write scenarios every destination must pass (inputs as the platform sends them).
pub fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    // [BFIT] testBasicWrite: one record with meta.changes and an undeclared field, one state.
    out.push(Scenario {
        name: "basic",
        catalog: catalog(),
        lines: vec![
            json!({"type": "RECORD", "record": {"stream": "users", "emitted_at": 1234,
                "data": {"id": 5678, "undeclared": "asdf"},
                "meta": {"changes": [{"field": "name", "change": "NULLED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}]}}})
            .to_string(),
            stream_state("users", None, json!(1), 1),
        ],
    });
    // [DAT] testLineBreakCharacters.
    let notes = ["foo\nbar", "a\r\nb", "x\u{2028}y", "tab\there", "quote\"back\\slash", "unicode ø 漢字 🦀"];
    let mut lines: Vec<String> = notes
        .iter()
        .enumerate()
        .map(|(i, n)| record("users", None, json!({"id": i, "note": n}), 1000 + i as i64))
        .collect();
    lines.push(stream_state("users", None, json!("line\u{2028}break\nstate"), notes.len() as u64));
    out.push(Scenario { name: "line_breaks", catalog: catalog(), lines });
    // [DAT] testSyncWithLargeRecordBatch: 400 record/state blocks over two streams.
    let mut lines = Vec::new();
    for block in 0..400 {
        for j in 0..3 {
            lines.push(record("users", None, json!({"id": block * 3 + j, "name": format!("n{block}")}), 2000 + block));
        }
        lines.push(record("orders", Some("shop"), json!({"id": block, "amount": block as f64 / 7.0}), 2000 + block));
        lines.push(stream_state("users", None, json!(block), 3));
        if block % 3 == 0 {
            lines.push(stream_state("orders", Some("shop"), json!(block), 1));
        }
    }
    out.push(Scenario { name: "large_batch", catalog: catalog(), lines });
    // [BFIT] testNamespaces + testFunkyCharacters, with stream statuses on stdin.
    let mut lines = Vec::new();
    for (s, ns) in [("users", None), ("orders", Some("shop")), (FUNKY_STREAM, Some(FUNKY_NAMESPACE))] {
        lines.push(status(s, ns, "STARTED"));
        lines.push(status(s, ns, "RUNNING"));
    }
    for i in 0..5 {
        lines.push(record(
            FUNKY_STREAM,
            Some(FUNKY_NAMESPACE),
            json!({"camelCase": "foo\nbar", "ALLCAPS": "X",
            "spécial": "é", "+plus": "+", "1leading": i, "order": i, "Foo.Bar": "dot", "id": i}),
            3000 + i,
        ));
        lines.push(record("orders", Some("shop"), json!({"id": i, "amount": 1.5}), 3000 + i));
        if i % 2 == 1 {
            lines.push(stream_state(FUNKY_STREAM, Some(FUNKY_NAMESPACE), json!(i), 2));
        }
    }
    lines.push(stream_state("orders", Some("shop"), json!("end"), 5));
    lines.push(stream_state("users", None, json!("empty"), 0));
    lines.push(stream_state(FUNKY_STREAM, Some(FUNKY_NAMESPACE), json!("end"), 1));
    for (s, ns) in [("users", None), ("orders", Some("shop")), (FUNKY_STREAM, Some(FUNKY_NAMESPACE))] {
        lines.push(status(s, ns, "COMPLETE"));
    }
    out.push(Scenario { name: "namespaces_funky", catalog: catalog(), lines });
    // [DAT] testSecondSync: GLOBAL states and a COMPLETE status.
    let mut lines = Vec::new();
    for round in 0..3 {
        for i in 0..(round + 2) {
            lines.push(record("users", None, json!({"id": round * 10 + i}), 4000 + i));
            lines.push(record("orders", Some("shop"), json!({"id": round * 10 + i}), 4000 + i));
        }
        lines.push(
            json!({"type": "STATE", "state": {"type": "GLOBAL", "global": {
                "shared_state": {"lsn": round},
                "stream_states": [
                    {"stream_descriptor": {"name": "users"}, "stream_state": {"cursor": round}},
                    {"stream_descriptor": {"name": "orders", "namespace": "shop"}, "stream_state": {"cursor": round}}]},
                "sourceStats": {"recordCount": (2 * (round + 2)) as f64}}})
            .to_string(),
        );
    }
    lines.push(status("users", None, "COMPLETE"));
    lines.push(status("orders", Some("shop"), "COMPLETE"));
    out.push(Scenario { name: "global_state", catalog: catalog(), lines });
    out
}
