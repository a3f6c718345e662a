//! # post-sync: data-quality profiles, anomaly checks, reports and a durable retraining queue
//!
//! The hook runs after a sync. Destinations profile every batch while they write it, so the checks need
//! no second read of the data:
//!
//! 1. **Profile while writing** (per stream): [`StreamProfiler::new`]`(stream, schema, primary_key, cursor)`,
//!    then [`StreamProfiler::observe`] for every `RecordBatch` (the Destinations V2 layout:
//!    `_airbyte_extracted_at`, `_airbyte_meta {sync_id, changes}`, one column per property), then
//!    [`StreamProfiler::finish`] gives a serde [`StreamProfile`]. Profiles of parts (several files, parallel
//!    writers) combine with [`StreamProfile::merge`].
//! 2. **After the last state is acknowledged**: [`run_post_sync`]`(&config, &location, profiles, sync)` saves
//!    the profiles under `<root>/_airbyte_quality/<stream>/<sync>.json` (the history), runs the checks against
//!    past syncs, writes the JSON and HTML report, decides ([`Decision`]), enqueues retraining jobs and
//!    notifications in the SQLite queue and, by default, delivers them once right away.
//!    [`PostSyncConfig`] is the `post_sync` block of a destination or runner config; `{}` gives a local report
//!    and a local queue with no external targets. A hook failure does not fail the sync unless
//!    `fail_sync_on_error` is set: use [`sync_failure`] to decide.
//!
//! ```no_run
//! # async fn demo(batches: Vec<arrow::record_batch::RecordBatch>, schema: arrow::datatypes::SchemaRef) -> anyhow::Result<()> {
//! use post_sync::{run_post_sync, DataLocation, PostSyncConfig, StreamProfiler, SyncInfo};
//! use airbyte_protocol::message::StreamDescriptor;
//!
//! let mut profiler = StreamProfiler::new(StreamDescriptor::new("epd", None), schema, vec![vec!["uuid".into()]], vec!["updated_at".into()]);
//! for b in &batches { profiler.observe(b); }
//! let config: PostSyncConfig = serde_json::from_str("{}")?;
//! let outcome = run_post_sync(&config, &DataLocation::local("/data/out"), vec![profiler.finish()], SyncInfo::new("42")).await?;
//! println!("{:?}: {}", outcome.decision, outcome.report_html.display());
//! # Ok(()) }
//! ```
//!
//! The `post-sync` binary adds `run` (for a data location), `queue list|retry|drain` and `serve` (a receiver
//! for the Airbyte platform's sync webhooks that queues the work and answers at once).

pub mod checks;
pub mod config;
pub mod dispatch;
pub mod logging;
pub mod profile;
pub mod queue;
pub mod report;
pub mod serve;
pub mod sketch;
pub mod store;
pub mod synth;

pub use checks::{CheckKind, Finding};
pub use config::{PostSyncConfig, Severity, TargetConfig};
pub use profile::{ColumnProfile, ProfilerOptions, StreamProfile, StreamProfiler};
pub use queue::Queue;
pub use report::{StreamReport, SyncReport};
pub use store::DataLocation;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What sync the hook runs for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncInfo {
    /// The Airbyte connection id (or any stable name of the pipeline); part of the idempotency key.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// The sync's id: Airbyte's job id / the catalog's `sync_id`, or a timestamp. Names the profile files.
    pub sync_id: String,
    /// When the sync finished (checks measure freshness against it).
    pub finished_at: DateTime<Utc>,
}

impl SyncInfo {
    /// A sync finishing now, without a connection id.
    pub fn new(sync_id: impl Into<String>) -> Self {
        SyncInfo { connection_id: None, sync_id: sync_id.into(), finished_at: Utc::now() }
    }
    pub fn with_connection(mut self, connection_id: impl Into<String>) -> Self {
        self.connection_id = Some(connection_id.into());
        self
    }
    pub fn at(mut self, finished_at: DateTime<Utc>) -> Self {
        self.finished_at = finished_at;
        self
    }
    /// `connection:sync`, the idempotency key of the sync's jobs.
    pub fn key(&self) -> String {
        format!("{}:{}", self.connection_id.as_deref().unwrap_or("default"), self.sync_id)
    }
}

/// What the hook decides for a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Enough new rows and no fail-level anomaly: retrain.
    Retrain,
    /// As retrain, and the data drifted: retrain with that reason.
    RetrainForDrift,
    /// A fail-level anomaly: no retraining; people are told why.
    Quarantine,
    /// Too few new rows: nothing to do.
    Skip,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Retrain => "retrain",
            Decision::RetrainForDrift => "retrain_for_drift",
            Decision::Quarantine => "quarantine",
            Decision::Skip => "skip",
        }
    }
    pub fn retrains(self) -> bool {
        matches!(self, Decision::Retrain | Decision::RetrainForDrift)
    }
}

/// The result of [`run_post_sync`].
#[derive(Debug, Clone, Serialize)]
pub struct PostSyncOutcome {
    pub decision: Decision,
    /// Why (one line per reason).
    pub reasons: Vec<String>,
    pub report_json: PathBuf,
    pub report_html: PathBuf,
    /// Jobs put in the queue for this sync (ids; a re-run of the same sync adds none).
    pub jobs_enqueued: Vec<i64>,
    /// Jobs delivered right away.
    pub jobs_delivered: usize,
    /// Jobs left waiting for a retry.
    pub jobs_pending: usize,
}

/// Decide from the findings and the number of new rows.
pub fn decide(findings: &[&Finding], new_rows: u64, config: &PostSyncConfig) -> (Decision, Vec<String>) {
    let fails: Vec<String> =
        findings.iter().filter(|f| f.severity == Severity::Fail).map(|f| f.message.clone()).collect();
    if !fails.is_empty() {
        return (Decision::Quarantine, fails);
    }
    if new_rows < config.min_new_rows {
        return (Decision::Skip, vec![format!("{new_rows} new rows, fewer than min_new_rows {}", config.min_new_rows)]);
    }
    let drift: Vec<String> = findings
        .iter()
        .filter(|f| f.check.is_drift() && f.severity >= Severity::Warn)
        .map(|f| f.message.clone())
        .collect();
    if !drift.is_empty() {
        return (Decision::RetrainForDrift, drift);
    }
    (Decision::Retrain, vec![format!("{new_rows} new rows and no fail-level anomaly")])
}

/// Save the profiles of a sync (merging with parts already saved for the same sync) without checking them.
/// For destinations that leave the checks to `post-sync run` or `serve`.
pub fn save_profiles(location: &DataLocation, profiles: &[StreamProfile], sync: &SyncInfo) -> Result<Vec<PathBuf>> {
    profiles
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p.sync_id = Some(sync.sync_id.clone());
            p.synced_at = Some(sync.finished_at);
            store::save_profile(location, &p, false)
        })
        .collect()
}

/// The whole hook for one sync: save profiles and history, check, report, decide, enqueue, dispatch.
///
/// `profiles` are this sync's profiles; when empty, the profiles already saved for `sync.sync_id` are used
/// (for `post-sync run` and `serve`). Running it again for the same sync overwrites the report and enqueues
/// nothing twice.
pub async fn run_post_sync(
    config: &PostSyncConfig,
    location: &DataLocation,
    profiles: Vec<StreamProfile>,
    sync: SyncInfo,
) -> Result<PostSyncOutcome> {
    config.register_secrets();
    if !config.enabled {
        save_profiles(location, &profiles, &sync)?;
        return Ok(PostSyncOutcome {
            decision: Decision::Skip,
            reasons: vec!["post_sync.enabled is false: profiles saved, nothing checked".into()],
            report_json: PathBuf::new(),
            report_html: PathBuf::new(),
            jobs_enqueued: Vec::new(),
            jobs_delivered: 0,
            jobs_pending: 0,
        });
    }
    let fresh = !profiles.is_empty();
    let profiles = if fresh {
        save_profiles(location, &profiles, &sync)?;
        // Re-read: other parts of the same sync may have been saved before.
        let mut merged = Vec::new();
        for p in &profiles {
            merged.push(store::read_profile(&location.profile_path(&p.stream, &sync.sync_id))?);
        }
        merged
    } else {
        store::profiles_of_sync(location, Some(&sync.sync_id))?
    };
    let mut streams = Vec::new();
    for p in &profiles {
        let history: Vec<StreamProfile> = store::stream_history(location, &p.stream)?
            .into_iter()
            .filter(|h| h.sync_id != p.sync_id && h.synced_at <= p.synced_at)
            .collect();
        let findings = checks::run_checks(p, &history, config, sync.finished_at);
        streams.push(StreamReport::new(p, &history, findings));
    }
    let all_findings: Vec<&Finding> = streams.iter().flat_map(|s| s.findings.iter()).collect();
    let new_rows: u64 = profiles.iter().map(|p| p.rows).sum();
    let (decision, reasons) = decide(&all_findings, new_rows, config);
    let report =
        SyncReport { sync: sync.clone(), generated_at: Utc::now(), decision, reasons: reasons.clone(), streams };
    let report_dir = config.report.dir.clone().unwrap_or_else(|| location.default_report_dir());
    let (report_json, report_html) = report::write_report(&report, &report_dir).context("cannot write the report")?;
    let link = report::report_link(config, &report_html);

    let queue_path = config.queue.path.clone().unwrap_or_else(|| location.default_queue_path());
    let queue = Queue::open(&queue_path)?;
    let mut jobs_enqueued = Vec::new();
    let summary = dispatch::Summary::from_report(&report, &link);
    for (target_id, _) in dispatch::target_ids(config) {
        let wanted =
            if target_id.starts_with("triggers[") { decision.retrains() } else { config.notify_on.contains(&decision) };
        if wanted {
            if let Some(id) = queue.enqueue(queue::KIND_DISPATCH, &sync.key(), &target_id, &summary, &config.queue)? {
                jobs_enqueued.push(id);
            }
        }
    }
    let (mut jobs_delivered, mut jobs_pending) = (0, 0);
    if config.dispatch_inline && !jobs_enqueued.is_empty() {
        let stats = dispatch::deliver_due(&queue, config, Some(&sync.key())).await?;
        jobs_delivered = stats.delivered;
        jobs_pending = stats.retrying;
    }
    tracing::info!(
        "post-sync {}: {} ({} jobs queued); report {}",
        sync.sync_id,
        decision.as_str(),
        jobs_enqueued.len(),
        report_html.display()
    );
    Ok(PostSyncOutcome { decision, reasons, report_json, report_html, jobs_enqueued, jobs_delivered, jobs_pending })
}

/// [`run_post_sync`] for callers without a Tokio runtime.
pub fn run_post_sync_blocking(
    config: &PostSyncConfig,
    location: &DataLocation,
    profiles: Vec<StreamProfile>,
    sync: SyncInfo,
) -> Result<PostSyncOutcome> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(run_post_sync(config, location, profiles, sync))
}

/// Whether the hook's result must fail the sync, and the message to fail it with. `None`: the sync stays
/// successful (hook errors are only logged unless `fail_sync_on_error`).
pub fn sync_failure(config: &PostSyncConfig, result: &Result<PostSyncOutcome>) -> Option<String> {
    match result {
        Err(e) if config.fail_sync_on_error => Some(format!("post-sync hook failed: {e:#}")),
        Err(e) => {
            tracing::warn!("post-sync hook failed (the sync is not affected): {e:#}");
            None
        }
        Ok(o) if o.decision == Decision::Quarantine && config.fail_sync_on_quarantine => Some(format!(
            "post-sync quarantined the data: {}; report {}",
            o.reasons.join("; "),
            o.report_html.display()
        )),
        Ok(_) => None,
    }
}
