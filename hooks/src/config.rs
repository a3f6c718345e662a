//! The `post_sync` block of a destination or runner config. Every field has a default, so `{}` works:
//! a local report and a local queue, no external targets.

use crate::profile::ProfilerOptions;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole hook configuration.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostSyncConfig {
    /// Check at all; when false, `run_post_sync` only saves the profiles (the history keeps growing).
    pub enabled: bool,
    /// Fail the sync when the hook itself fails (default: log and keep the sync successful).
    pub fail_sync_on_error: bool,
    /// Fail the sync when the decision is quarantine (the data stays written either way).
    pub fail_sync_on_quarantine: bool,
    /// Past syncs a stream's checks compare against.
    pub history_syncs: usize,
    /// Of those, how many recent syncs form the baseline for distributions (merged).
    pub baseline_syncs: usize,
    /// Retrain only when at least this many new rows arrived (over all streams).
    pub min_new_rows: u64,
    /// Thresholds and severities of the built-in checks.
    pub checks: ChecksConfig,
    /// User rules per stream name: `{"epd": [{"column": "uuid", "rule": "not_null"}]}`.
    pub rules: BTreeMap<String, Vec<UserRule>>,
    /// How much the profiler keeps per column.
    pub profiler: ProfilerOptions,
    /// Where the retraining queue lives and how it retries.
    pub queue: QueueConfig,
    /// Where reports go and how they are linked.
    pub report: ReportConfig,
    /// Retraining triggers (run when the decision is retrain or retrain-for-drift).
    pub triggers: Vec<TargetConfig>,
    /// Notifications (run for every decision listed in `notify_on`).
    pub notify: Vec<TargetConfig>,
    /// Decisions that send notifications.
    pub notify_on: Vec<crate::Decision>,
    /// Deliver queued jobs right away (once, no waiting on backoff); the rest waits for `queue drain` or `serve`.
    pub dispatch_inline: bool,
}

impl Default for PostSyncConfig {
    fn default() -> Self {
        PostSyncConfig {
            enabled: true,
            fail_sync_on_error: false,
            fail_sync_on_quarantine: false,
            history_syncs: 20,
            baseline_syncs: 5,
            min_new_rows: 1,
            checks: ChecksConfig::default(),
            rules: BTreeMap::new(),
            profiler: ProfilerOptions::default(),
            queue: QueueConfig::default(),
            report: ReportConfig::default(),
            triggers: Vec::new(),
            notify: Vec::new(),
            notify_on: vec![crate::Decision::Retrain, crate::Decision::RetrainForDrift, crate::Decision::Quarantine],
            dispatch_inline: true,
        }
    }
}

impl std::fmt::Debug for PostSyncConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostSyncConfig")
            .field("enabled", &self.enabled)
            .field("history_syncs", &self.history_syncs)
            .field("min_new_rows", &self.min_new_rows)
            .field("queue", &self.queue)
            .field("triggers", &self.triggers)
            .field("notify", &self.notify)
            .finish_non_exhaustive()
    }
}

impl PostSyncConfig {
    /// Register every secret of the config with the process-wide redaction list.
    pub fn register_secrets(&self) {
        for t in self.triggers.iter().chain(&self.notify) {
            t.register_secrets();
        }
    }
}

/// Severity of a finding: `fail` blocks retraining (quarantine), `warn` and `info` are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warn,
    Fail,
}

/// Thresholds of the built-in checks. Defaults follow Evidently (drift) and Deepchecks (conditions).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChecksConfig {
    /// Past syncs needed before history-based checks (volume, completeness, drift) run.
    pub min_history: usize,
    pub volume: VolumeCheck,
    pub freshness: FreshnessCheck,
    pub schema: SchemaCheck,
    pub completeness: CompletenessCheck,
    pub uniqueness: UniquenessCheck,
    pub validity: ValidityCheck,
    pub ranges: RangesCheck,
    pub numeric_drift: NumericDriftCheck,
    pub categorical_drift: CategoricalDriftCheck,
    /// Severity of failed user rules.
    pub rules_severity: Severity,
    /// Columns no check looks at (besides Airbyte's own).
    pub ignore_columns: Vec<String>,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        ChecksConfig {
            min_history: 3,
            volume: VolumeCheck::default(),
            freshness: FreshnessCheck::default(),
            schema: SchemaCheck::default(),
            completeness: CompletenessCheck::default(),
            uniqueness: UniquenessCheck::default(),
            validity: ValidityCheck::default(),
            ranges: RangesCheck::default(),
            numeric_drift: NumericDriftCheck::default(),
            categorical_drift: CategoricalDriftCheck::default(),
            rules_severity: Severity::Fail,
            ignore_columns: Vec::new(),
        }
    }
}

/// Row count vs the history: robust z-score (median and MAD), and zero rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolumeCheck {
    pub enabled: bool,
    /// |robust z| above this is an anomaly (3.5 after Iglewicz and Hoaglin).
    pub max_robust_z: f64,
    /// The spread never counts as smaller than this share of the median (a constant history is not infinitely strict).
    pub min_relative_spread: f64,
    pub severity: Severity,
    /// Severity of a sync with zero rows when the history had rows.
    pub zero_rows_severity: Severity,
}
impl Default for VolumeCheck {
    fn default() -> Self {
        VolumeCheck {
            enabled: true,
            max_robust_z: 3.5,
            min_relative_spread: 0.05,
            severity: Severity::Warn,
            zero_rows_severity: Severity::Fail,
        }
    }
}

/// Newest cursor (or `_airbyte_extracted_at` when there is no temporal cursor) vs the sync time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FreshnessCheck {
    pub enabled: bool,
    /// A fixed limit in hours; without one the limit is learned: 3x the median lag of past syncs plus one hour.
    pub max_age_hours: Option<f64>,
    pub severity: Severity,
}
impl Default for FreshnessCheck {
    fn default() -> Self {
        FreshnessCheck { enabled: true, max_age_hours: None, severity: Severity::Warn }
    }
}

/// Columns added, removed or retyped since the previous sync.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaCheck {
    pub enabled: bool,
    pub added_severity: Severity,
    pub removed_severity: Severity,
    pub retyped_severity: Severity,
}
impl Default for SchemaCheck {
    fn default() -> Self {
        SchemaCheck {
            enabled: true,
            added_severity: Severity::Info,
            removed_severity: Severity::Fail,
            retyped_severity: Severity::Fail,
        }
    }
}

/// Null-rate jump per column vs the baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompletenessCheck {
    pub enabled: bool,
    /// Absolute increase of the null rate that counts (0.05 = 5 percentage points).
    pub max_increase: f64,
    /// And the new rate must be at least this multiple of the baseline rate.
    pub min_ratio: f64,
    pub severity: Severity,
}
impl Default for CompletenessCheck {
    fn default() -> Self {
        CompletenessCheck { enabled: true, max_increase: 0.05, min_ratio: 1.5, severity: Severity::Fail }
    }
}

/// Duplicate primary keys within the sync.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UniquenessCheck {
    pub enabled: bool,
    /// Share of rows with a duplicate key allowed (Deepchecks DataDuplicates default condition is 0).
    pub max_duplicate_share: f64,
    pub severity: Severity,
}
impl Default for UniquenessCheck {
    fn default() -> Self {
        UniquenessCheck { enabled: true, max_duplicate_share: 0.0, severity: Severity::Fail }
    }
}

/// Type-cast failures and other changes recorded in `_airbyte_meta.changes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidityCheck {
    pub enabled: bool,
    /// Share of rows with a change for one field, above the baseline share, that counts.
    pub max_change_share: f64,
    pub severity: Severity,
}
impl Default for ValidityCheck {
    fn default() -> Self {
        ValidityCheck { enabled: true, max_change_share: 0.01, severity: Severity::Fail }
    }
}

/// Values far outside the historical quantiles (Tukey's far-out fences on the baseline).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RangesCheck {
    pub enabled: bool,
    /// Fence distance in inter-quartile ranges (3 = Tukey's "far out").
    pub iqr_factor: f64,
    /// Share outside the fences above the baseline's own share that counts (also beyond sampling noise).
    pub min_outside_share: f64,
    pub severity: Severity,
}
impl Default for RangesCheck {
    fn default() -> Self {
        RangesCheck { enabled: true, iqr_factor: 3.0, min_outside_share: 0.005, severity: Severity::Warn }
    }
}

/// Numeric drift between the baseline and the current sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumericDriftCheck {
    pub enabled: bool,
    /// Evidently's rule: more than 1,000 reference (and current) rows -> normed Wasserstein distance >= 0.1,
    /// here also significant by KS; otherwise two-sample KS p-value < 0.05.
    pub wasserstein_threshold: f64,
    pub ks_p_value: f64,
    /// PSI is reported; drift also when PSI >= this (Deepchecks/industry 0.2).
    pub psi_threshold: f64,
    pub severity: Severity,
    /// Also test dates and timestamps (they drift by nature in incremental syncs).
    pub include_temporal: bool,
}
impl Default for NumericDriftCheck {
    fn default() -> Self {
        NumericDriftCheck {
            enabled: true,
            wasserstein_threshold: 0.1,
            ks_p_value: 0.05,
            psi_threshold: 0.2,
            severity: Severity::Warn,
            include_temporal: false,
        }
    }
}

/// Categorical drift on the top-k categories.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CategoricalDriftCheck {
    pub enabled: bool,
    /// Jensen-Shannon distance (base 2) at or above this is drift (Evidently: 0.1).
    pub jensen_shannon_threshold: f64,
    /// PSI is reported; drift also when PSI >= this.
    pub psi_threshold: f64,
    /// Share of the current values in categories the baseline never saw.
    pub max_new_category_share: f64,
    pub severity: Severity,
}
impl Default for CategoricalDriftCheck {
    fn default() -> Self {
        CategoricalDriftCheck {
            enabled: true,
            jensen_shannon_threshold: 0.1,
            psi_threshold: 0.2,
            max_new_category_share: 0.05,
            severity: Severity::Warn,
        }
    }
}

/// A user rule on one column, checked against the profile. (Unknown keys are not rejected here: serde
/// cannot combine that with the flattened rule.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRule {
    pub column: String,
    #[serde(flatten)]
    pub rule: RuleKind,
    /// Severity when the rule fails (default: `checks.rules_severity`).
    #[serde(default)]
    pub severity: Option<Severity>,
}

/// The rule kinds (Great Expectations' names in brackets).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum RuleKind {
    /// No nulls (expect_column_values_to_not_be_null).
    NotNull,
    /// Every value within [min, max] (expect_column_values_to_be_between), from the exact min/max.
    Between { min: Option<f64>, max: Option<f64> },
    /// Every value in the set (expect_column_values_to_be_in_set), from the exact category counts.
    InSet { values: Vec<String> },
    /// Every counted value matches (expect_column_values_to_match_regex), checked on the category counts.
    Regex { pattern: String },
    /// No duplicates (expect_column_values_to_be_unique), from the distinct estimate.
    Unique,
}

/// Durable queue settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// SQLite file; default `<data root>/_airbyte_quality/queue.sqlite`.
    pub path: Option<PathBuf>,
    /// Attempts before a job is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay in milliseconds; doubles per attempt.
    pub base_delay_ms: u64,
    /// Largest retry delay in milliseconds.
    pub max_delay_ms: u64,
    /// Timeout per HTTP request in seconds.
    pub request_timeout_secs: u64,
}
impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            path: None,
            max_attempts: 8,
            base_delay_ms: 30_000,
            max_delay_ms: 3_600_000,
            request_timeout_secs: 30,
        }
    }
}

/// Report settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// Folder for reports; default `<data root>/_airbyte_quality/_reports`.
    pub dir: Option<PathBuf>,
    /// Base URL the report folder is served at, for links in notifications (default: a file:// path).
    pub base_url: Option<String>,
}

/// A secret string: never printed by Debug, registered for redaction.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(pub String);
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(airbyte_protocol::redact::MASK)
    }
}
impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// One dispatch target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetConfig {
    /// Airflow 2 stable REST API with HTTP Basic auth: `POST /api/v1/dags/{dag_id}/dagRuns`.
    Airflow2 { base_url: String, dag_id: String, username: String, password: Secret },
    /// Airflow 3: `POST /auth/token` for a JWT, then `POST /api/v2/dags/{dag_id}/dagRuns` (`logical_date: null`).
    Airflow3 { base_url: String, dag_id: String, username: String, password: Secret },
    /// Dagster GraphQL `launchRun` (`Dagster-Cloud-Api-Token` header when a token is set).
    Dagster {
        graphql_url: String,
        job_name: String,
        #[serde(default = "default_repository_location")]
        repository_location_name: String,
        #[serde(default = "default_repository_name")]
        repository_name: String,
        #[serde(default)]
        api_token: Option<Secret>,
    },
    /// A generic webhook: the outcome as JSON, signed with HMAC-SHA256 in `X-Post-Sync-Signature: sha256=<hex>`.
    Webhook { url: Secret, secret: Secret },
    /// A Slack incoming webhook (the URL is a secret).
    Slack { webhook_url: Secret },
}

fn default_repository_location() -> String {
    "__location__".into()
}
fn default_repository_name() -> String {
    "__repository__".into()
}

impl TargetConfig {
    /// A short label for logs and the queue (no secrets).
    pub fn label(&self) -> String {
        match self {
            TargetConfig::Airflow2 { dag_id, .. } => format!("airflow2:{dag_id}"),
            TargetConfig::Airflow3 { dag_id, .. } => format!("airflow3:{dag_id}"),
            TargetConfig::Dagster { job_name, .. } => format!("dagster:{job_name}"),
            TargetConfig::Webhook { .. } => "webhook".into(),
            TargetConfig::Slack { .. } => "slack".into(),
        }
    }
    fn register_secrets(&self) {
        use airbyte_protocol::redact::add;
        match self {
            TargetConfig::Airflow2 { password, .. } | TargetConfig::Airflow3 { password, .. } => add(password.expose()),
            TargetConfig::Dagster { api_token, .. } => {
                if let Some(t) = api_token {
                    add(t.expose())
                }
            }
            TargetConfig::Webhook { url, secret } => {
                add(url.expose());
                add(secret.expose());
            }
            TargetConfig::Slack { webhook_url } => add(webhook_url.expose()),
        }
    }
}

/// Settings of `post-sync serve`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The token callers must present (`?token=`, `Authorization: Bearer`, or `X-Post-Sync-Token`).
    pub token: Secret,
    /// Airbyte connection id -> where that connection's data (and profiles) are.
    pub connections: BTreeMap<String, ConnectionTarget>,
    /// Hook settings for every connection (a connection may override them).
    #[serde(default)]
    pub post_sync: PostSyncConfig,
    /// The queue of received syncs (default `post-sync-queue.sqlite` in the working folder).
    #[serde(default)]
    pub queue_path: Option<PathBuf>,
    /// How often the worker looks for due jobs, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
}
fn default_listen() -> String {
    "127.0.0.1:8089".into()
}
fn default_poll_ms() -> u64 {
    1000
}
impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("token", &self.token)
            .field("connections", &self.connections.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Where one connection's data lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionTarget {
    /// The local data root (the destination path).
    pub path: PathBuf,
    /// Hook settings for this connection instead of the shared ones.
    #[serde(default)]
    pub post_sync: Option<PostSyncConfig>,
}
