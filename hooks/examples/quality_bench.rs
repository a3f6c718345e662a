//! The labelled benchmark: synthetic syncs with one injected anomaly of each kind, and clean syncs, each
//! checked against its own clean history. Prints precision and recall per kind and the time per sync, and
//! writes every case (reference = the baseline syncs' rows, current = the sync's rows) as CSV plus our
//! per-column drift verdicts, so `bench/quality_bench.sh` can run Evidently on the same data.
//!
//! `cargo run --release -p post-sync --example quality_bench -- OUT_DIR [TRIALS] [ROWS]`

use airbyte_protocol::message::StreamDescriptor;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::record_batch::RecordBatch;
use post_sync::checks::{run_checks, CheckKind};
use post_sync::config::{PostSyncConfig, RuleKind, Severity, UserRule};
use post_sync::synth::{generate, keys, SynthSpec};
use post_sync::{StreamProfile, StreamProfiler};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const DAY: i64 = 86_400_000_000;
const HISTORY: u64 = 6;
/// Columns compared with Evidently's drift verdicts.
const DRIFT_COLUMNS: [&str; 6] = ["material", "unit", "price", "quantity", "density", "is_generic"];

fn profile(batch: &RecordBatch, n: u64, start: i64) -> StreamProfile {
    let (pk, cursor) = keys();
    let mut p = StreamProfiler::new(StreamDescriptor::new("items", None), batch.schema(), pk, cursor);
    p.observe(batch);
    let mut p = p.finish();
    p.sync_id = Some(format!("s{n}"));
    p.synced_at = chrono::DateTime::from_timestamp_micros(start + n as i64 * DAY);
    p
}

fn write_csv(path: &Path, batches: &[&RecordBatch]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{}", DRIFT_COLUMNS.join(","))?;
    for b in batches {
        let cols: Vec<Option<&std::sync::Arc<dyn Array>>> = DRIFT_COLUMNS.iter().map(|c| b.column_by_name(c)).collect();
        for i in 0..b.num_rows() {
            let mut fields = Vec::with_capacity(cols.len());
            for c in &cols {
                let cell = match c {
                    Some(a) if a.is_valid(i) => match a.data_type() {
                        DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
                        DataType::Float64 => a.as_primitive::<Float64Type>().value(i).to_string(),
                        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
                        DataType::Boolean => a.as_boolean().value(i).to_string(),
                        _ => String::new(),
                    },
                    _ => String::new(),
                };
                fields.push(cell);
            }
            writeln!(out, "{}", fields.join(","))?;
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out_dir = Path::new(args.get(1).map(String::as_str).unwrap_or("target/quality_bench")).to_path_buf();
    let trials: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let rows: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3000);
    std::fs::create_dir_all(out_dir.join("cases"))?;
    let mut config = PostSyncConfig::default();
    config.rules.insert(
        "items".into(),
        vec![UserRule {
            column: "unit".into(),
            rule: RuleKind::InSet { values: ["kg", "m2", "m3", "pcs"].map(String::from).to_vec() },
            severity: None,
        }],
    );
    let labels: Vec<Option<CheckKind>> =
        std::iter::once(None).chain(CheckKind::ALL.iter().copied().map(Some)).collect();
    // Per kind: true positives, false positives, false negatives.
    let mut confusion: BTreeMap<CheckKind, (u32, u32, u32)> = CheckKind::ALL.iter().map(|k| (*k, (0, 0, 0))).collect();
    let mut clean_cases = 0u32;
    let mut clean_with_any = 0u32;
    let mut ours = std::io::BufWriter::new(std::fs::File::create(out_dir.join("ours.jsonl"))?);
    let (mut profile_time, mut check_time, mut cases) = (Duration::ZERO, Duration::ZERO, 0u32);
    for trial in 0..trials {
        let start = 1_780_000_000_000_000i64 + trial as i64 * 100 * DAY;
        let seed_base = 10_000 * (trial + 1);
        // Clean history; clean volumes vary by a few percent.
        let history_batches: Vec<RecordBatch> = (0..HISTORY)
            .map(|n| {
                let r = rows + ((seed_base + n) as usize * 7919) % (rows / 20).max(1);
                generate(&SynthSpec {
                    seed: seed_base + n,
                    rows: r,
                    sync_micros: start + n as i64 * DAY,
                    anomaly: None,
                })
            })
            .collect();
        let history: Vec<StreamProfile> =
            history_batches.iter().enumerate().map(|(n, b)| profile(b, n as u64, start)).collect();
        let baseline_batches: Vec<&RecordBatch> =
            history_batches.iter().rev().take(config.baseline_syncs).rev().collect();
        for (li, label) in labels.iter().enumerate() {
            let seed = seed_base + 100 + li as u64;
            let batch = generate(&SynthSpec { seed, rows, sync_micros: start + HISTORY as i64 * DAY, anomaly: *label });
            let t0 = Instant::now();
            let current = profile(&batch, HISTORY, start);
            let t1 = Instant::now();
            let findings = run_checks(&current, &history, &config, current.synced_at.unwrap());
            let t2 = Instant::now();
            profile_time += t1 - t0;
            check_time += t2 - t1;
            cases += 1;
            let detected: BTreeSet<CheckKind> =
                findings.iter().filter(|f| f.severity >= Severity::Warn).map(|f| f.check).collect();
            for kind in CheckKind::ALL {
                let e = confusion.get_mut(&kind).expect("kind");
                match (*label == Some(kind), detected.contains(&kind)) {
                    (true, true) => e.0 += 1,
                    (false, true) => e.1 += 1,
                    (true, false) => e.2 += 1,
                    _ => {}
                }
            }
            if label.is_none() {
                clean_cases += 1;
                if !detected.is_empty() {
                    clean_with_any += 1;
                }
            }
            let case = format!("t{trial:02}_{}", label.map_or("clean", |k| k.name()));
            let dir = out_dir.join("cases").join(&case);
            std::fs::create_dir_all(&dir)?;
            write_csv(&dir.join("reference.csv"), &baseline_batches)?;
            write_csv(&dir.join("current.csv"), &[&batch])?;
            let drifted: Vec<&str> = findings
                .iter()
                .filter(|f| f.check.is_drift())
                .filter_map(|f| f.column.as_deref())
                .filter(|c| DRIFT_COLUMNS.contains(c))
                .collect();
            let line = serde_json::json!({
                "case": case,
                "label": label.map_or("clean", |k| k.name()),
                "detected": detected.iter().map(|k| k.name()).collect::<Vec<_>>(),
                "drifted_columns": drifted,
                "seconds": (t2 - t0).as_secs_f64(),
            });
            writeln!(ours, "{line}")?;
        }
    }
    ours.flush()?;
    println!(
        "post-sync labelled benchmark: {trials} trials x {} cases, {rows} rows per sync, history {HISTORY} syncs",
        labels.len()
    );
    println!("{:<18} {:>4} {:>4} {:>4} {:>9} {:>7}", "kind", "TP", "FP", "FN", "precision", "recall");
    for (kind, (tp, fp, fneg)) in &confusion {
        let precision = if tp + fp > 0 { *tp as f64 / (tp + fp) as f64 } else { f64::NAN };
        let recall = if tp + fneg > 0 { *tp as f64 / (tp + fneg) as f64 } else { f64::NAN };
        println!("{:<18} {tp:>4} {fp:>4} {fneg:>4} {precision:>9.2} {recall:>7.2}", kind.name());
    }
    println!("clean syncs with any warn/fail finding: {clean_with_any} of {clean_cases}");
    println!(
        "time per sync: profile {:.2} ms + checks {:.2} ms (mean over {cases} syncs of ~{rows} rows)",
        profile_time.as_secs_f64() * 1e3 / cases as f64,
        check_time.as_secs_f64() * 1e3 / cases as f64
    );
    Ok(())
}
