//! The sync report: JSON for machines, one self-contained HTML file for people (inline SVG charts drawn
//! with plotters, inline CSS, no scripts, nothing fetched from the network).

use crate::checks::{Finding, Histogram};
use crate::config::{PostSyncConfig, Severity};
use crate::profile::StreamProfile;
use crate::store::{safe_name, write_atomic};
use crate::{Decision, SyncInfo};
use airbyte_protocol::message::StreamDescriptor;
use anyhow::Result;
use chrono::{DateTime, Utc};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The report of one sync.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncReport {
    pub sync: SyncInfo,
    pub generated_at: DateTime<Utc>,
    pub decision: Decision,
    pub reasons: Vec<String>,
    pub streams: Vec<StreamReport>,
}

/// One point of a stream's volume timeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumePoint {
    pub sync_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    pub rows: u64,
}

/// One stream's part of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamReport {
    pub stream: StreamDescriptor,
    pub rows: u64,
    /// The worst severity among the findings, or `ok`.
    pub verdict: String,
    pub findings: Vec<Finding>,
    /// Rows per sync, oldest first, this sync last.
    pub volume: Vec<VolumePoint>,
}

impl StreamReport {
    pub fn new(current: &StreamProfile, history: &[StreamProfile], findings: Vec<Finding>) -> Self {
        let verdict = match findings.iter().map(|f| f.severity).max() {
            Some(Severity::Fail) => "fail",
            Some(Severity::Warn) => "warn",
            _ => "ok",
        };
        let point = |p: &StreamProfile| VolumePoint {
            sync_id: p.sync_id.clone().unwrap_or_default(),
            at: p.synced_at,
            rows: p.rows,
        };
        let mut volume: Vec<VolumePoint> = history.iter().rev().take(30).rev().map(point).collect();
        volume.push(point(current));
        StreamReport { stream: current.stream.clone(), rows: current.rows, verdict: verdict.into(), findings, volume }
    }
}

/// Write `<dir>/<sync>.json` and `<dir>/<sync>.html`; returns both paths.
pub fn write_report(report: &SyncReport, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let base = safe_name(&report.sync.sync_id);
    let json_path = dir.join(format!("{base}.json"));
    let html_path = dir.join(format!("{base}.html"));
    write_atomic(&json_path, &serde_json::to_vec_pretty(report)?)?;
    write_atomic(&html_path, render_html(report).as_bytes())?;
    Ok((json_path, html_path))
}

/// The link to put in notifications: `report.base_url` + file name, else a file:// URL.
pub fn report_link(config: &PostSyncConfig, html: &Path) -> String {
    let name = html.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    match &config.report.base_url {
        Some(base) => format!("{}/{}", base.trim_end_matches('/'), name),
        None => {
            let abs = std::fs::canonicalize(html).unwrap_or_else(|_| html.to_path_buf());
            format!("file://{}", abs.display())
        }
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}\
.badge{display:inline-block;padding:.15em .6em;border-radius:.4em;color:#fff;font-weight:600}\
.ok{background:#2e7d32}.warn{background:#ef6c00}.fail{background:#c62828}.info{background:#1565c0}\
.retrain{background:#2e7d32}.retrain_for_drift{background:#6a1b9a}.quarantine{background:#c62828}.skip{background:#757575}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}\
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}\
figure{margin:1em 0}figcaption{font-size:.9em;color:#555}";

/// The report as one HTML page with inline SVG.
pub fn render_html(report: &SyncReport) -> String {
    let mut h = String::new();
    let d = report.decision.as_str();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sync {} quality report</title><style>{STYLE}</style></head><body>",
        esc(&report.sync.sync_id)
    );
    let _ = write!(
        h,
        "<h1>Sync {} &mdash; <span class=\"badge {d}\">{}</span></h1><p>Connection {} &middot; finished {} &middot; report generated {}</p><ul>",
        esc(&report.sync.sync_id),
        esc(&d.replace('_', " ")),
        esc(report.sync.connection_id.as_deref().unwrap_or("-")),
        report.sync.finished_at.to_rfc3339(),
        report.generated_at.to_rfc3339()
    );
    for r in &report.reasons {
        let _ = write!(h, "<li>{}</li>", esc(r));
    }
    h.push_str("</ul><table><tr><th>Stream</th><th>Rows</th><th>Verdict</th><th>Findings</th></tr>");
    for s in &report.streams {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><span class=\"badge {v}\">{v}</span></td><td>{}</td></tr>",
            esc(&s.stream.to_string()),
            s.rows,
            s.findings.len(),
            v = esc(&s.verdict)
        );
    }
    h.push_str("</table>");
    for s in &report.streams {
        let _ = write!(
            h,
            "<h2>{} <span class=\"badge {v}\">{v}</span></h2>",
            esc(&s.stream.to_string()),
            v = esc(&s.verdict)
        );
        if s.findings.is_empty() {
            h.push_str("<p>No anomalies.</p>");
        } else {
            h.push_str("<table><tr><th>Severity</th><th>Check</th><th>Column</th><th>What</th><th>Numbers</th></tr>");
            for f in &s.findings {
                let sev = match f.severity {
                    Severity::Fail => "fail",
                    Severity::Warn => "warn",
                    Severity::Info => "info",
                };
                let numbers: Vec<String> = f.metrics.iter().map(|(k, v)| format!("{k}={}", fmt_num(*v))).collect();
                let _ = write!(
                    h,
                    "<tr><td><span class=\"badge {sev}\">{sev}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    f.check.name(),
                    esc(f.column.as_deref().unwrap_or("")),
                    esc(&f.message),
                    esc(&numbers.join(", "))
                );
            }
            h.push_str("</table>");
        }
        let _ = write!(
            h,
            "<figure>{}<figcaption>Rows per sync (this sync last)</figcaption></figure>",
            volume_svg(&s.volume)
        );
        for f in &s.findings {
            if let Some(hist) = &f.histogram {
                let _ = write!(
                    h,
                    "<figure>{}<figcaption class=\"legend\">{} &mdash; share of values per bin:<span style=\"background:#1f77b4\"></span>baseline<span style=\"background:#ff7f0e\"></span>this sync</figcaption></figure>",
                    histogram_svg(hist),
                    esc(f.column.as_deref().unwrap_or(""))
                );
            }
        }
    }
    h.push_str("</body></html>");
    h
}

fn fmt_num(v: f64) -> String {
    if v == f64::MAX {
        "inf".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}

/// A line chart of rows per sync.
pub fn volume_svg(points: &[VolumePoint]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 220)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let max = points.iter().map(|p| p.rows).max().unwrap_or(1).max(1) as f64 * 1.1;
        let n = points.len().max(2);
        let chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(25)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..(n - 1) as f64, 0f64..max);
        if let Ok(mut chart) = chart {
            let _ = chart.configure_mesh().x_desc("sync").disable_x_mesh().draw();
            let series: Vec<(f64, f64)> = points.iter().enumerate().map(|(i, p)| (i as f64, p.rows as f64)).collect();
            let _ = chart.draw_series(LineSeries::new(series.clone(), &BLUE));
            let last = series.len().saturating_sub(1);
            let _ = chart.draw_series(series.iter().enumerate().map(|(i, (x, y))| {
                let color = if i == last { RGBColor(255, 127, 14) } else { BLUE };
                Circle::new((*x, *y), 4, color.filled())
            }));
        }
        let _ = root.present();
    }
    svg
}

/// Grouped bars: baseline vs this sync per bin.
pub fn histogram_svg(hist: &Histogram) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 240)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let bins = hist.labels.len().max(1);
        let max = hist.baseline.iter().chain(&hist.current).copied().fold(0.0f64, f64::max).max(1e-9) * 1.1;
        let chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..bins as f64, 0f64..max);
        if let Ok(mut chart) = chart {
            let labels = hist.labels.clone();
            let _ = chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(bins.min(10))
                .x_label_formatter(&|x| {
                    let i = x.floor() as usize;
                    labels.get(i).map(|l| l.chars().take(12).collect()).unwrap_or_default()
                })
                .draw();
            let base_color = RGBColor(31, 119, 180);
            let cur_color = RGBColor(255, 127, 14);
            let _ = chart.draw_series(hist.baseline.iter().enumerate().map(|(i, v)| {
                let x = i as f64;
                Rectangle::new([(x + 0.05, 0.0), (x + 0.5, *v)], base_color.filled())
            }));
            let _ = chart.draw_series(hist.current.iter().enumerate().map(|(i, v)| {
                let x = i as f64;
                Rectangle::new([(x + 0.5, 0.0), (x + 0.95, *v)], cur_color.filled())
            }));
        }
        let _ = root.present();
    }
    svg
}
