//! Checks shared by sources and destinations: spec (lint + golden), check, protocol validity, secrets.

use crate::report::Report;
use crate::schema;
use crate::source::{path_str, Ctx};
use crate::spec_lint;
use serde_json::Value;
use std::path::Path;

/// `spec`: one SPEC message, equal to the golden file, lint-clean, and the config valid against it.
/// Returns the spec object when there is exactly one.
pub(crate) fn spec_checks(ctx: &mut Ctx, report: &mut Report, spec_dir: &Path, config: &Value) -> Option<Value> {
    let run = ctx.run(&["spec"], None);
    let specs: Vec<&Value> = run.of_type("SPEC").collect();
    let mut f = Vec::new();
    if !run.succeeded() {
        f.push(format!("spec failed: {}", run.describe_end()));
    }
    if specs.len() != 1 {
        f.push(format!("expected exactly one SPEC message, got {}", specs.len()));
    }
    let spec = specs.first().map(|m| m["spec"].clone());
    if let Some(s) = &spec {
        if !s["connectionSpecification"].is_object() {
            f.push("spec.connectionSpecification is not an object".into());
        }
    }
    report.add("spec.one_spec", "spec exits 0 with exactly one SPEC message", f);

    let golden_path = spec_dir.join("spec.json");
    let golden = std::fs::read(&golden_path)
        .map_err(|e| format!("cannot read golden spec {}: {e}", golden_path.display()))
        .and_then(|b| {
            serde_json::from_slice::<Value>(&b).map_err(|e| format!("{} is not JSON: {e}", golden_path.display()))
        });
    let f = match (&golden, &spec) {
        (Err(e), _) => Some(e.clone()),
        (Ok(_), None) => Some("no spec to compare".into()),
        (Ok(g), Some(s)) if g != s => {
            Some(format!("spec output differs from {}: {}", golden_path.display(), first_difference(g, s, "")))
        }
        _ => None,
    };
    report.add_one("spec.matches_golden", "spec output == specs/<name>/spec.json", f);

    let cs = spec.as_ref().map(|s| s["connectionSpecification"].clone()).unwrap_or(Value::Null);
    for (name, what, failures) in spec_lint::lint(&cs) {
        report.add(name, what, failures);
    }
    report.add(
        "spec.config_matches_spec",
        "the test config validates against connectionSpecification",
        spec_lint::config_problems(&cs, config),
    );
    spec
}

/// `check` with the good, the invalid and the exception config.
pub(crate) fn check_checks(
    ctx: &mut Ctx,
    report: &mut Report,
    config_path: &Path,
    invalid_config: Option<&Value>,
    exception_config: Option<&Value>,
) {
    let good = ctx.run(&["check", "--config", &path_str(config_path)], None);
    let statuses: Vec<&Value> = good.of_type("CONNECTION_STATUS").collect();
    let mut f = Vec::new();
    if statuses.len() != 1 {
        f.push(format!("expected exactly one CONNECTION_STATUS, got {}", statuses.len()));
    }
    if let Some(s) = statuses.first() {
        if s["connectionStatus"]["status"] != "SUCCEEDED" {
            f.push(format!(
                "status {} for the good config: {}",
                s["connectionStatus"]["status"], s["connectionStatus"]["message"]
            ));
        }
    }
    if !good.succeeded() || good.count("TRACE") > 0 {
        f.push(format!("check emitted {} TRACE messages and ended with {}", good.count("TRACE"), good.describe_end()));
    }
    report.add("check.succeeded", "check with the good config: exactly one CONNECTION_STATUS SUCCEEDED, exit 0", f);

    let mut crash_runs = vec![good];
    match invalid_config {
        None => report.skip(
            "check.invalid_config_failed",
            "check with a bad config: one FAILED status, exit 0",
            "no invalid_config",
        ),
        Some(bad) => {
            let p = ctx.write("invalid_config.json", bad);
            let run = ctx.run(&["check", "--config", &path_str(&p)], None);
            let statuses: Vec<&Value> = run.of_type("CONNECTION_STATUS").collect();
            let mut f = Vec::new();
            if statuses.len() != 1 || statuses[0]["connectionStatus"]["status"] != "FAILED" {
                let got: Vec<&Value> = statuses.iter().map(|s| &s["connectionStatus"]["status"]).collect();
                f.push(format!("expected exactly one FAILED status, got {got:?}"));
            }
            if !run.succeeded() {
                f.push(format!("check with a bad config must exit 0, got {}", run.describe_end()));
            }
            report.add("check.invalid_config_failed", "check with a bad config: one FAILED status, exit 0", f);
            crash_runs.push(run);
        }
    }
    if let Some(exc) = exception_config {
        let p = ctx.write("exception_config.json", exc);
        let run = ctx.run(&["check", "--config", &path_str(&p)], None);
        let traces: Vec<&Value> = run.of_type("TRACE").collect();
        let mut f = Vec::new();
        if run.succeeded() && run.count("CONNECTION_STATUS") == 1 {
            // Reporting the problem as a status is also acceptable to CAT.
        } else if traces.len() != 1 || !traces[0]["trace"]["error"]["message"].is_string() {
            f.push(format!(
                "a failing check must give exactly one TRACE with error.message, got {} TRACE ({})",
                traces.len(),
                run.describe_end()
            ));
        }
        report.add("check.crash_one_trace", "a crashing check gives exactly one TRACE ERROR with a message", f);
        crash_runs.push(run);
    }
    // Any check that ended non-zero must have said why in exactly one TRACE.
    let mut f = Vec::new();
    for run in crash_runs.iter().filter(|r| !r.succeeded()) {
        let traces: Vec<&Value> = run.of_type("TRACE").collect();
        if traces.len() != 1 || !traces[0]["trace"]["error"]["message"].is_string() {
            f.push(format!(
                "`{}` ended with {} and {} TRACE messages (exactly one TRACE ERROR required)",
                run.label,
                run.describe_end(),
                traces.len()
            ));
        }
    }
    report.add("check.crash_one_trace", "a crashing check gives exactly one TRACE ERROR with a message", f);
}

/// Secret values of every config the suite uses (good, invalid, exception), per the spec's `airbyte_secret`.
pub(crate) fn all_secrets<'a>(spec: &Value, configs: impl IntoIterator<Item = Option<&'a Value>>) -> Vec<String> {
    let mut out: Vec<String> = configs
        .into_iter()
        .flatten()
        .flat_map(|c| spec_lint::secret_values(&spec["connectionSpecification"], c))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Over every run: each stdout line is a valid AirbyteMessage, and no secret appears anywhere.
pub(crate) fn output_checks(ctx: &Ctx, report: &mut Report) {
    let mut f = Vec::new();
    for run in &ctx.runs {
        for (i, line) in &run.unparsable {
            f.push(format!("`{}` line {}: not a JSON object: {line}", run.label, i + 1));
        }
        for (i, m) in &run.messages {
            if let Some(p) = schema::message_problems(m).into_iter().next() {
                f.push(format!("`{}` line {}: not a valid AirbyteMessage: {p}", run.label, i + 1));
            }
        }
    }
    report.add("protocol.valid_messages", "every stdout line of every command is a valid AirbyteMessage", f);

    let mut f = Vec::new();
    for run in &ctx.runs {
        for secret in &ctx.secrets {
            if let Some(i) = run.lines.iter().position(|l| l.contains(secret.as_str())) {
                f.push(format!("`{}` stdout line {} holds the value of a secret config field", run.label, i + 1));
            }
            if run.stderr.contains(secret.as_str()) {
                f.push(format!("`{}` stderr holds the value of a secret config field", run.label));
            }
        }
    }
    report.add("output.no_secrets", "no airbyte_secret config value appears in stdout or stderr", f);
}

/// Where two JSON values first differ, as a pointer and both values.
pub fn first_difference(a: &Value, b: &Value, pointer: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) if va != vb => return first_difference(va, vb, &format!("{pointer}/{k}")),
                    None => return format!("{pointer}/{k} is in the golden file only"),
                    _ => {}
                }
            }
            match y.keys().find(|k| !x.contains_key(*k)) {
                Some(k) => format!("{pointer}/{k} is in the output only"),
                None => format!("{pointer}: values differ"),
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => match x.iter().zip(y).position(|(p, q)| p != q) {
            Some(i) => first_difference(&x[i], &y[i], &format!("{pointer}/{i}")),
            None => format!("{pointer}: values differ"),
        },
        _ => format!(
            "at {}: golden {} vs output {}",
            if pointer.is_empty() { "/" } else { pointer },
            crate::source::excerpt(a),
            crate::source::excerpt(b)
        ),
    }
}
