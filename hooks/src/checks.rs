//! Checks of one stream's profile against its history. Each check returns findings (only anomalies);
//! numbers behind every finding are kept in `metrics` for the report.

use crate::config::{PostSyncConfig, RuleKind, Severity, UserRule};
use crate::profile::{CategoryStats, ColumnKind, ColumnProfile, StreamProfile};
use crate::sketch::{cdf, quantile};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The check families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Volume,
    Freshness,
    Schema,
    Completeness,
    Uniqueness,
    Validity,
    Ranges,
    NumericDrift,
    CategoricalDrift,
    Rule,
}

impl CheckKind {
    pub const ALL: [CheckKind; 10] = [
        CheckKind::Volume,
        CheckKind::Freshness,
        CheckKind::Schema,
        CheckKind::Completeness,
        CheckKind::Uniqueness,
        CheckKind::Validity,
        CheckKind::Ranges,
        CheckKind::NumericDrift,
        CheckKind::CategoricalDrift,
        CheckKind::Rule,
    ];
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Volume => "volume",
            CheckKind::Freshness => "freshness",
            CheckKind::Schema => "schema",
            CheckKind::Completeness => "completeness",
            CheckKind::Uniqueness => "uniqueness",
            CheckKind::Validity => "validity",
            CheckKind::Ranges => "ranges",
            CheckKind::NumericDrift => "numeric_drift",
            CheckKind::CategoricalDrift => "categorical_drift",
            CheckKind::Rule => "rule",
        }
    }
    pub fn is_drift(self) -> bool {
        matches!(self, CheckKind::NumericDrift | CheckKind::CategoricalDrift)
    }
}

/// Baseline vs current shares per bin, for the report's histograms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Histogram {
    /// Bin labels (ranges or category names).
    pub labels: Vec<String>,
    pub baseline: Vec<f64>,
    pub current: Vec<f64>,
}

/// One anomaly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub check: CheckKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub severity: Severity,
    pub message: String,
    pub metrics: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
}

fn finding(check: CheckKind, column: Option<&str>, severity: Severity, message: String) -> Finding {
    Finding { check, column: column.map(str::to_string), severity, message, metrics: BTreeMap::new(), histogram: None }
}

impl Finding {
    fn with(mut self, key: &str, value: f64) -> Self {
        self.metrics.insert(key.to_string(), if value.is_finite() { value } else { f64::MAX });
        self
    }
}

/// Run every enabled check of `current` against `history` (older syncs of the same stream, oldest first,
/// not including `current`). `now` is the sync's time.
pub fn run_checks(
    current: &StreamProfile,
    history: &[StreamProfile],
    config: &PostSyncConfig,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let history: Vec<&StreamProfile> = history.iter().rev().take(config.history_syncs).rev().collect();
    let mut baseline_parts: Vec<&StreamProfile> =
        history.iter().rev().filter(|p| p.rows > 0).take(config.baseline_syncs.max(1)).copied().collect();
    baseline_parts.reverse();
    let baseline = merge_all(&baseline_parts);
    let enough_history = history.len() >= config.checks.min_history;
    let c = &config.checks;
    let ignored = |name: &str| c.ignore_columns.iter().any(|i| i == name);
    let mut out = Vec::new();

    if c.volume.enabled {
        out.extend(volume(current, &history, config));
    }
    if c.freshness.enabled {
        out.extend(freshness(current, &history, config, now));
    }
    if c.schema.enabled {
        if let Some(prev) = history.last() {
            out.extend(schema(current, prev, config));
        }
    }
    if c.uniqueness.enabled && current.rows > 0 && !current.primary_key.is_empty() {
        let share = current.duplicate_keys as f64 / current.rows as f64;
        if share > c.uniqueness.max_duplicate_share {
            out.push(
                finding(
                    CheckKind::Uniqueness,
                    None,
                    c.uniqueness.severity,
                    format!(
                        "{} rows ({:.2}%) repeat a primary key ({}) already seen in this sync",
                        current.duplicate_keys,
                        share * 100.0,
                        current.primary_key.iter().map(|p| p.join(".")).collect::<Vec<_>>().join(", ")
                    ),
                )
                .with("duplicate_rows", current.duplicate_keys as f64)
                .with("duplicate_share", share),
            );
        }
    }
    if c.validity.enabled && current.rows > 0 {
        out.extend(validity(current, baseline.as_ref(), config));
    }
    if let (Some(base), true) = (&baseline, enough_history && current.rows > 0) {
        for col in &current.columns {
            if ignored(&col.name) {
                continue;
            }
            let Some(bcol) = base.column(&col.name) else { continue };
            if c.completeness.enabled {
                out.extend(completeness(col, current.rows, bcol, base.rows, config));
            }
            let numeric_ok = col.kind == ColumnKind::Numeric
                || (col.kind == ColumnKind::Temporal && c.numeric_drift.include_temporal);
            if numeric_ok && bcol.kind == col.kind {
                if c.ranges.enabled {
                    out.extend(ranges(col, bcol, config));
                }
                if c.numeric_drift.enabled {
                    out.extend(numeric_drift(col, bcol, config));
                }
            }
            if c.categorical_drift.enabled {
                if let (Some(cur), Some(bc)) = (&col.categories, &bcol.categories) {
                    out.extend(categorical_drift(&col.name, cur, bc, config));
                }
            }
        }
    }
    if let Some(rules) = config.rules.get(&current.stream.name) {
        for rule in rules {
            out.extend(user_rule(current, rule, config));
        }
    }
    out
}

/// The merged profile of several syncs (the baseline).
pub fn merge_all(profiles: &[&StreamProfile]) -> Option<StreamProfile> {
    let (first, rest) = profiles.split_first()?;
    let mut merged = (*first).clone();
    for p in rest {
        merged.merge(p);
    }
    Some(merged)
}

fn volume(current: &StreamProfile, history: &[&StreamProfile], config: &PostSyncConfig) -> Vec<Finding> {
    let v = &config.checks.volume;
    let counts: Vec<f64> = history.iter().map(|p| p.rows as f64).collect();
    let med = median(&counts);
    if current.rows == 0 && counts.iter().any(|c| *c > 0.0) {
        return vec![finding(
            CheckKind::Volume,
            None,
            v.zero_rows_severity,
            format!("no rows arrived; past syncs had a median of {med:.0}"),
        )
        .with("rows", 0.0)
        .with("median", med)];
    }
    if counts.len() < config.checks.min_history {
        return vec![];
    }
    let deviations: Vec<f64> = counts.iter().map(|c| (c - med).abs()).collect();
    let mad = median(&deviations);
    let spread = (1.4826 * mad).max(v.min_relative_spread * med).max(1.0);
    let z = (current.rows as f64 - med) / spread;
    if z.abs() > v.max_robust_z {
        vec![finding(
            CheckKind::Volume,
            None,
            v.severity,
            format!(
                "{} rows vs a median of {med:.0} over the last {} syncs (robust z {z:.1}, limit {})",
                current.rows,
                counts.len(),
                v.max_robust_z
            ),
        )
        .with("rows", current.rows as f64)
        .with("median", med)
        .with("mad", mad)
        .with("robust_z", z)]
    } else {
        vec![]
    }
}

/// Microseconds since the epoch of a profile's newest data point: a temporal cursor, else `_airbyte_extracted_at`.
pub fn newest_micros(p: &StreamProfile) -> Option<i64> {
    p.cursor_max.as_ref().and_then(|c| c.epoch_micros).or_else(|| p.extracted_at_max.map(|d| d.timestamp_micros()))
}

fn freshness(
    current: &StreamProfile,
    history: &[&StreamProfile],
    config: &PostSyncConfig,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let f = &config.checks.freshness;
    if current.rows == 0 {
        return vec![];
    }
    let Some(newest) = newest_micros(current) else { return vec![] };
    let at = current.synced_at.unwrap_or(now);
    let lag_h = (at.timestamp_micros() - newest) as f64 / 3.6e9;
    let limit_h = match f.max_age_hours {
        Some(h) => h,
        None => {
            let lags: Vec<f64> = history
                .iter()
                .filter_map(|p| Some((p.synced_at?.timestamp_micros() - newest_micros(p)?) as f64 / 3.6e9))
                .collect();
            if lags.len() < config.checks.min_history {
                return vec![];
            }
            3.0 * median(&lags).max(0.0) + 1.0
        }
    };
    if lag_h > limit_h {
        vec![finding(
            CheckKind::Freshness,
            None,
            f.severity,
            format!("newest data point is {lag_h:.1} h old at sync time (limit {limit_h:.1} h)"),
        )
        .with("lag_hours", lag_h)
        .with("limit_hours", limit_h)]
    } else {
        vec![]
    }
}

fn schema(current: &StreamProfile, prev: &StreamProfile, config: &PostSyncConfig) -> Vec<Finding> {
    let s = &config.checks.schema;
    let mut out = Vec::new();
    for col in &current.columns {
        match prev.column(&col.name) {
            None => out.push(finding(
                CheckKind::Schema,
                Some(&col.name),
                s.added_severity,
                format!("column {} ({}) was added", col.name, col.data_type),
            )),
            Some(p) if p.data_type != col.data_type => out.push(finding(
                CheckKind::Schema,
                Some(&col.name),
                s.retyped_severity,
                format!("column {} changed type from {} to {}", col.name, p.data_type, col.data_type),
            )),
            _ => {}
        }
    }
    for p in &prev.columns {
        if current.column(&p.name).is_none() {
            out.push(finding(
                CheckKind::Schema,
                Some(&p.name),
                s.removed_severity,
                format!("column {} ({}) was removed", p.name, p.data_type),
            ));
        }
    }
    out
}

fn validity(current: &StreamProfile, baseline: Option<&StreamProfile>, config: &PostSyncConfig) -> Vec<Finding> {
    let v = &config.checks.validity;
    let mut out = Vec::new();
    for (field, reasons) in &current.changes {
        let n: u64 = reasons.values().sum();
        let share = n as f64 / current.rows as f64;
        let base_share = baseline
            .filter(|b| b.rows > 0)
            .and_then(|b| b.changes.get(field).map(|r| r.values().sum::<u64>() as f64 / b.rows as f64))
            .unwrap_or(0.0);
        if share - base_share > v.max_change_share {
            let reasons_text = reasons.iter().map(|(r, n)| format!("{r} x{n}")).collect::<Vec<_>>().join(", ");
            out.push(
                finding(
                    CheckKind::Validity,
                    Some(field),
                    v.severity,
                    format!(
                        "{n} values of {field} ({:.2}%, baseline {:.2}%) were changed on the way: {reasons_text}",
                        share * 100.0,
                        base_share * 100.0
                    ),
                )
                .with("changed", n as f64)
                .with("share", share)
                .with("baseline_share", base_share),
            );
        }
    }
    out
}

fn completeness(
    col: &ColumnProfile,
    rows: u64,
    base: &ColumnProfile,
    base_rows: u64,
    config: &PostSyncConfig,
) -> Option<Finding> {
    let c = &config.checks.completeness;
    let cur = col.null_rate(rows);
    let was = base.null_rate(base_rows);
    (cur - was > c.max_increase && cur >= c.min_ratio * was).then(|| {
        finding(
            CheckKind::Completeness,
            Some(&col.name),
            c.severity,
            format!("{}: {:.1}% nulls vs {:.1}% in the baseline", col.name, cur * 100.0, was * 100.0),
        )
        .with("null_rate", cur)
        .with("baseline_null_rate", was)
    })
}

fn ranges(col: &ColumnProfile, base: &ColumnProfile, config: &PostSyncConfig) -> Option<Finding> {
    let r = &config.checks.ranges;
    let (cur, b) = (col.numeric.as_ref()?, base.numeric.as_ref()?);
    let bs = b.sample.sorted();
    let cs = cur.sample.sorted();
    if bs.len() < 20 || cs.is_empty() {
        return None;
    }
    let (q1, q3) = (quantile(&bs, 0.25)?, quantile(&bs, 0.75)?);
    let mut iqr = q3 - q1;
    if iqr <= 0.0 {
        iqr = b.std_dev().max(q3.abs() * 0.01).max(f64::EPSILON);
    }
    let (lo, hi) = (q1 - r.iqr_factor * iqr, q3 + r.iqr_factor * iqr);
    let outside = |s: &[f64]| {
        let below = s.partition_point(|v| *v < lo);
        let above = s.len() - s.partition_point(|v| *v <= hi);
        (below + above) as f64 / s.len() as f64
    };
    let base_share = outside(&bs);
    // Values outside the fences of both the baseline and this sync's own bulk: a moved bulk (drift) leaves
    // its own fences with it, a few wild values (unit errors, sentinels) stay outside both.
    let (c1, c3) = (quantile(&cs, 0.25)?, quantile(&cs, 0.75)?);
    let c_iqr = if c3 - c1 > 0.0 { c3 - c1 } else { iqr };
    let (clo, chi) = (c1 - r.iqr_factor * c_iqr, c3 + r.iqr_factor * c_iqr);
    let cur_share = {
        let below = cs.partition_point(|v| *v < lo.min(clo));
        let above = cs.len() - cs.partition_point(|v| *v <= hi.max(chi));
        (below + above) as f64 / cs.len() as f64
    };
    // More outside than the baseline by a margin, and beyond sampling noise (two-proportion z > 3).
    let pooled = (base_share * bs.len() as f64 + cur_share * cs.len() as f64) / (bs.len() + cs.len()) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / bs.len() as f64 + 1.0 / cs.len() as f64)).sqrt().max(1e-12);
    let z = (cur_share - base_share) / se;
    (cur_share - base_share > r.min_outside_share && z > 3.0).then(|| {
        finding(
            CheckKind::Ranges,
            Some(&col.name),
            r.severity,
            format!(
                "{}: {:.2}% of values outside the historical fences [{lo:.4}, {hi:.4}] (baseline {:.2}%); min {:.4}, max {:.4}",
                col.name,
                cur_share * 100.0,
                base_share * 100.0,
                cur.min,
                cur.max
            ),
        )
        .with("outside_share", cur_share)
        .with("baseline_outside_share", base_share)
        .with("z", z)
        .with("lower_fence", lo)
        .with("upper_fence", hi)
        .with("min", cur.min)
        .with("max", cur.max)
    })
}

/// Numeric drift statistics of two sorted samples.
#[derive(Debug, Clone, Copy)]
pub struct NumericDrift {
    pub ks_statistic: f64,
    pub ks_p_value: f64,
    pub wasserstein: f64,
    pub psi: f64,
}

/// KS statistic and asymptotic p-value, 1-Wasserstein distance, and PSI over the reference's deciles.
pub fn numeric_drift_stats(reference: &[f64], current: &[f64]) -> NumericDrift {
    let (n, m) = (reference.len(), current.len());
    // Walk both sorted samples: the CDF gap gives KS, its integral over x gives Wasserstein-1.
    let (mut i, mut j, mut d, mut w) = (0usize, 0usize, 0.0f64, 0.0f64);
    let mut last_x: Option<f64> = None;
    while i < n || j < m {
        let x = match (reference.get(i), current.get(j)) {
            (Some(a), Some(b)) => a.min(*b),
            (Some(a), None) => *a,
            (None, Some(b)) => *b,
            _ => break,
        };
        let gap = (i as f64 / n as f64 - j as f64 / m as f64).abs();
        if let Some(lx) = last_x {
            w += gap * (x - lx);
        }
        while i < n && reference[i] <= x {
            i += 1;
        }
        while j < m && current[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n as f64 - j as f64 / m as f64).abs());
        last_x = Some(x);
    }
    let ne = (n * m) as f64 / (n + m) as f64;
    let lambda = (ne.sqrt() + 0.12 + 0.11 / ne.sqrt()) * d;
    let p = kolmogorov_q(lambda);
    // PSI over reference deciles (distinct edges only).
    let mut edges: Vec<f64> = (1..10).filter_map(|k| quantile(reference, k as f64 / 10.0)).collect();
    edges.dedup();
    let shares = |s: &[f64]| {
        let mut out = Vec::with_capacity(edges.len() + 1);
        let mut prev = 0.0;
        for e in &edges {
            let c = cdf(s, *e);
            out.push(c - prev);
            prev = c;
        }
        out.push(1.0 - prev);
        out
    };
    let psi = psi(&shares(reference), &shares(current));
    NumericDrift { ks_statistic: d, ks_p_value: p, wasserstein: w, psi }
}

/// The Kolmogorov distribution's survival function Q(lambda).
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let kf = k as f64;
        let term = 2.0 * (-1f64).powi(k - 1) * (-2.0 * kf * kf * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-12 {
            break;
        }
    }
    sum.clamp(0.0, 1.0)
}

/// Population stability index with a small floor for empty bins.
pub fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    const FLOOR: f64 = 1e-4;
    expected
        .iter()
        .zip(actual)
        .map(|(e, a)| {
            let (e, a) = (e.max(FLOOR), a.max(FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// Jensen-Shannon distance (square root of the divergence, base 2: 0..=1).
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let kl = |a: &[f64], b: &[f64]| -> f64 {
        a.iter().zip(b).filter(|(x, _)| **x > 0.0).map(|(x, y)| x * (x / y).log2()).sum()
    };
    let m: Vec<f64> = p.iter().zip(q).map(|(a, b)| (a + b) / 2.0).collect();
    (0.5 * kl(p, &m) + 0.5 * kl(q, &m)).max(0.0).sqrt()
}

fn numeric_drift(col: &ColumnProfile, base: &ColumnProfile, config: &PostSyncConfig) -> Option<Finding> {
    let d = &config.checks.numeric_drift;
    let (cur, b) = (col.numeric.as_ref()?, base.numeric.as_ref()?);
    let (rs, cs) = (b.sample.sorted(), cur.sample.sorted());
    if rs.len() < 10 || cs.len() < 10 {
        return None;
    }
    let stats = numeric_drift_stats(&rs, &cs);
    let std = b.std_dev();
    let normed = if std > 0.0 {
        stats.wasserstein / std
    } else if stats.wasserstein > 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    // Evidently: Wasserstein for big references; we also use KS when the current sync is small,
    // where a distance on few values is mostly noise.
    let use_wasserstein = b.count > 1000 && cur.count > 1000;
    // A drift must be large (Evidently's normed Wasserstein) and significant (KS): a few wild values can
    // move the Wasserstein distance alone, and they are the ranges check's business.
    let (method, drifted) = if use_wasserstein {
        ("wasserstein_normed", normed >= d.wasserstein_threshold && stats.ks_p_value < d.ks_p_value)
    } else {
        ("ks", stats.ks_p_value < d.ks_p_value)
    };
    let drifted = drifted || (use_wasserstein && stats.psi >= d.psi_threshold);
    drifted.then(|| {
        let mut f = finding(
            CheckKind::NumericDrift,
            Some(&col.name),
            d.severity,
            format!(
                "{}: distribution drifted ({method}); normed Wasserstein {normed:.3}, KS {:.3} (p {:.2e}), PSI {:.3}; mean {:.4} vs {:.4}",
                col.name, stats.ks_statistic, stats.ks_p_value, stats.psi, cur.mean, b.mean
            ),
        )
        .with("wasserstein_normed", normed)
        .with("ks_statistic", stats.ks_statistic)
        .with("ks_p_value", stats.ks_p_value)
        .with("psi", stats.psi)
        .with("mean", cur.mean)
        .with("baseline_mean", b.mean);
        f.histogram = Some(numeric_histogram(&rs, &cs, 20));
        f
    })
}

/// Equal-width bins over the joint range of two samples.
pub fn numeric_histogram(reference: &[f64], current: &[f64], bins: usize) -> Histogram {
    let lo = reference.first().copied().unwrap_or(0.0).min(current.first().copied().unwrap_or(0.0));
    let hi = reference.last().copied().unwrap_or(0.0).max(current.last().copied().unwrap_or(0.0));
    let width = if hi > lo { (hi - lo) / bins as f64 } else { 1.0 };
    let share = |s: &[f64]| {
        let mut counts = vec![0.0; bins];
        for v in s {
            let k = (((v - lo) / width) as usize).min(bins - 1);
            counts[k] += 1.0;
        }
        let n = s.len().max(1) as f64;
        counts.iter().map(|c| c / n).collect::<Vec<f64>>()
    };
    let labels = (0..bins).map(|k| format!("{:.4}", lo + width * k as f64)).collect();
    Histogram { labels, baseline: share(reference), current: share(current) }
}

fn categorical_drift(
    name: &str,
    cur: &CategoryStats,
    base: &CategoryStats,
    config: &PostSyncConfig,
) -> Option<Finding> {
    let c = &config.checks.categorical_drift;
    if cur.high_cardinality || base.high_cardinality {
        return None;
    }
    let (nc, nb) = (cur.total() as f64, base.total() as f64);
    if nc == 0.0 || nb == 0.0 {
        return None;
    }
    let mut keys: BTreeSet<&str> = base.top.iter().map(|(k, _)| k.as_str()).collect();
    keys.extend(cur.top.iter().map(|(k, _)| k.as_str()));
    let count = |s: &CategoryStats, k: &str| s.top.iter().find(|(x, _)| x == k).map_or(0, |(_, n)| *n) as f64;
    let mut labels: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    let mut pb: Vec<f64> = keys.iter().map(|k| count(base, k) / nb).collect();
    let mut pc: Vec<f64> = keys.iter().map(|k| count(cur, k) / nc).collect();
    if base.other > 0 || cur.other > 0 {
        labels.push("(other)".into());
        pb.push(base.other as f64 / nb);
        pc.push(cur.other as f64 / nc);
    }
    let js = jensen_shannon(&pb, &pc);
    let psi_value = psi(&pb, &pc);
    // Values in categories the baseline never had (only knowable when the baseline kept all its categories).
    let new_share = if base.other == 0 {
        cur.top.iter().filter(|(k, _)| count(base, k) == 0.0).map(|(_, n)| *n as f64).sum::<f64>() / nc
    } else {
        0.0
    };
    // Evidently: Jensen-Shannon for big references, chi-squared for small ones; small current syncs get
    // the chi-squared test too, since a distance on few values is mostly noise.
    let (method, drifted) = if nb > 1000.0 && nc > 1000.0 {
        ("jensen_shannon", js >= c.jensen_shannon_threshold || psi_value >= c.psi_threshold)
    } else {
        let p = chi_square_homogeneity(&pb, nb, &pc, nc);
        ("chi_squared", p < config.checks.numeric_drift.ks_p_value)
    };
    let new_drift = new_share > c.max_new_category_share;
    (drifted || new_drift).then(|| {
        let mut f = finding(
            CheckKind::CategoricalDrift,
            Some(name),
            c.severity,
            format!(
                "{name}: category mix drifted ({method}); Jensen-Shannon {js:.3}, PSI {psi_value:.3}, {:.1}% in new categories",
                new_share * 100.0
            ),
        )
        .with("jensen_shannon", js)
        .with("psi", psi_value)
        .with("new_category_share", new_share);
        let top: Vec<usize> = {
            let mut idx: Vec<usize> = (0..labels.len()).collect();
            idx.sort_by(|a, b| (pb[*b] + pc[*b]).total_cmp(&(pb[*a] + pc[*a])));
            idx.truncate(20);
            idx
        };
        labels = top.iter().map(|i| labels[*i].clone()).collect();
        f.histogram = Some(Histogram {
            labels,
            baseline: top.iter().map(|i| pb[*i]).collect(),
            current: top.iter().map(|i| pc[*i]).collect(),
        });
        f
    })
}

/// p-value of a chi-squared test that two count vectors (as shares with totals) come from one distribution
/// (Wilson-Hilferty approximation of the chi-squared tail).
fn chi_square_homogeneity(pa: &[f64], na: f64, pb: &[f64], nb: f64) -> f64 {
    let total = na + nb;
    let mut chi = 0.0;
    let mut dof = 0usize;
    for (a, b) in pa.iter().zip(pb) {
        let (ca, cb) = (a * na, b * nb);
        let col = ca + cb;
        if col <= 0.0 {
            continue;
        }
        dof += 1;
        let (ea, eb) = (col * na / total, col * nb / total);
        chi += (ca - ea).powi(2) / ea + (cb - eb).powi(2) / eb;
    }
    if dof < 2 {
        return 1.0;
    }
    let k = (dof - 1) as f64;
    let z = ((chi / k).powf(1.0 / 3.0) - (1.0 - 2.0 / (9.0 * k))) / (2.0 / (9.0 * k)).sqrt();
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' erfc approximation, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

fn user_rule(current: &StreamProfile, rule: &UserRule, config: &PostSyncConfig) -> Vec<Finding> {
    let severity = rule.severity.unwrap_or(config.checks.rules_severity);
    let name = rule.column.as_str();
    let Some(col) = current.column(name) else {
        return vec![finding(CheckKind::Rule, Some(name), severity, format!("rule on {name}: no such column"))];
    };
    let nonnull = current.rows.saturating_sub(col.nulls);
    let fail = |msg: String| vec![finding(CheckKind::Rule, Some(name), severity, msg)];
    let unknown = |msg: String| vec![finding(CheckKind::Rule, Some(name), Severity::Info, msg)];
    match &rule.rule {
        RuleKind::NotNull => {
            if col.nulls > 0 {
                return fail(format!("not_null: {name} has {} nulls", col.nulls))
                    .into_iter()
                    .map(|f| f.with("nulls", col.nulls as f64))
                    .collect();
            }
        }
        RuleKind::Between { min, max } => {
            let Some(n) = &col.numeric else {
                return unknown(format!("between: {name} is not numeric"));
            };
            if n.count > 0 && (min.is_some_and(|m| n.min < m) || max.is_some_and(|m| n.max > m)) {
                return fail(format!(
                    "between: {name} ranges over [{}, {}], allowed [{}, {}]",
                    n.min,
                    n.max,
                    min.map_or("-inf".into(), |v| v.to_string()),
                    max.map_or("inf".into(), |v| v.to_string())
                ))
                .into_iter()
                .map(|f| f.with("min", n.min).with("max", n.max))
                .collect();
            }
        }
        RuleKind::InSet { values } => {
            let Some(cats) = col.categories.as_ref().filter(|c| !c.high_cardinality) else {
                return unknown(format!("in_set: {name} has too many distinct values to check from the profile"));
            };
            let bad: Vec<&(String, u64)> = cats.top.iter().filter(|(v, _)| !values.contains(v)).collect();
            let bad_n: u64 = bad.iter().map(|(_, n)| n).sum::<u64>() + cats.other;
            if bad_n > 0 {
                let shown: Vec<String> = bad.iter().take(5).map(|(v, n)| format!("{v:?} x{n}")).collect();
                return fail(format!("in_set: {bad_n} values of {name} are outside the set: {}", shown.join(", ")))
                    .into_iter()
                    .map(|f| f.with("violations", bad_n as f64))
                    .collect();
            }
        }
        RuleKind::Regex { pattern } => {
            let re = match regex::Regex::new(pattern) {
                Ok(r) => r,
                Err(e) => return fail(format!("regex: pattern {pattern:?} is invalid: {e}")),
            };
            let Some(cats) = col.categories.as_ref().filter(|c| !c.high_cardinality && c.other == 0) else {
                return unknown(format!("regex: {name} has too many distinct values to check from the profile"));
            };
            let bad: Vec<&(String, u64)> = cats.top.iter().filter(|(v, _)| !re.is_match(v)).collect();
            let bad_n: u64 = bad.iter().map(|(_, n)| n).sum();
            if bad_n > 0 {
                let shown: Vec<String> = bad.iter().take(5).map(|(v, n)| format!("{v:?} x{n}")).collect();
                return fail(format!("regex: {bad_n} values of {name} do not match {pattern:?}: {}", shown.join(", ")))
                    .into_iter()
                    .map(|f| f.with("violations", bad_n as f64))
                    .collect();
            }
        }
        RuleKind::Unique => {
            if current.primary_key.len() == 1 && current.primary_key[0] == [name.to_string()] {
                if current.duplicate_keys > 0 {
                    return fail(format!("unique: {} duplicate values of {name}", current.duplicate_keys));
                }
                return vec![];
            }
            if let Some(cats) = col.categories.as_ref().filter(|c| !c.high_cardinality && c.other == 0) {
                let dups: u64 = cats.top.iter().map(|(_, n)| n.saturating_sub(1)).sum();
                if dups > 0 {
                    return fail(format!("unique: {dups} repeated values of {name}"));
                }
                return vec![];
            }
            let distinct = col.distinct.estimate();
            // Beyond three standard errors of the distinct counter.
            if nonnull > 0 && distinct < nonnull as f64 * (1.0 - 3.0 * 0.023) {
                return fail(format!("unique: about {distinct:.0} distinct values among {nonnull} (estimated)"))
                    .into_iter()
                    .map(|f| f.with("distinct_estimate", distinct))
                    .collect();
            }
        }
    }
    vec![]
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    quantile(&v, 0.5).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_statistics_separate_same_from_shifted() {
        let a: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        let same = numeric_drift_stats(&a, &a);
        assert!(same.ks_statistic < 1e-9 && same.wasserstein < 1e-9 && same.psi < 1e-6);
        assert!(same.ks_p_value > 0.99);
        let shifted: Vec<f64> = a.iter().map(|v| v + 0.5).collect();
        let d = numeric_drift_stats(&a, &shifted);
        assert!((d.ks_statistic - 0.5).abs() < 0.01, "{d:?}");
        assert!((d.wasserstein - 0.5).abs() < 0.01, "{d:?}");
        assert!(d.ks_p_value < 1e-10 && d.psi > 1.0);
    }

    #[test]
    fn js_and_chi_square() {
        assert!(jensen_shannon(&[0.5, 0.5], &[0.5, 0.5]) < 1e-12);
        assert!((jensen_shannon(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-12);
        assert!(chi_square_homogeneity(&[0.5, 0.5], 500.0, &[0.5, 0.5], 500.0) > 0.4);
        assert!(chi_square_homogeneity(&[0.5, 0.5], 500.0, &[0.7, 0.3], 500.0) < 1e-6);
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
    }
}
