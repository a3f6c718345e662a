//! Delivery of queued jobs to Airflow 2, Airflow 3, Dagster, a signed webhook and Slack, through the
//! protocol crate's [`HttpClient`]. Each queue attempt sends one request (Airflow 3: token + run); the
//! queue does the durable retries with backoff.

use crate::config::{PostSyncConfig, QueueConfig, Secret, TargetConfig};
use crate::queue::{AfterFailure, Job, Queue, KIND_DISPATCH};
use crate::report::SyncReport;
use airbyte_protocol::http::{HttpClient, HttpError, RetryPolicy};
use anyhow::Result;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;

/// What a dispatch job carries: the decision and its reasons, per-stream verdicts and the report link.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub connection_id: Option<String>,
    pub sync_id: String,
    pub decision: crate::Decision,
    pub reasons: Vec<String>,
    pub new_rows: u64,
    pub report_url: String,
    pub streams: Vec<StreamSummary>,
}

/// One stream in a [`Summary`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamSummary {
    pub stream: String,
    pub rows: u64,
    pub verdict: String,
    pub anomalies: Vec<String>,
}

impl Summary {
    pub fn from_report(report: &SyncReport, link: &str) -> Summary {
        Summary {
            connection_id: report.sync.connection_id.clone(),
            sync_id: report.sync.sync_id.clone(),
            decision: report.decision,
            reasons: report.reasons.clone(),
            new_rows: report.streams.iter().map(|s| s.rows).sum(),
            report_url: link.to_string(),
            streams: report
                .streams
                .iter()
                .map(|s| StreamSummary {
                    stream: s.stream.to_string(),
                    rows: s.rows,
                    verdict: s.verdict.clone(),
                    anomalies: s
                        .findings
                        .iter()
                        .filter(|f| f.severity >= crate::Severity::Warn)
                        .map(|f| format!("[{}] {}", f.check.name(), f.message))
                        .collect(),
                })
                .collect(),
        }
    }
    /// A DAG-run id safe for Airflow (letters, digits, `_.-`), the same for every attempt.
    pub fn run_id(&self) -> String {
        let raw = format!("post_sync__{}__{}", self.connection_id.as_deref().unwrap_or("default"), self.sync_id);
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect()
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone)]
pub struct DeliveryError {
    pub message: String,
    pub retryable: bool,
}

impl From<HttpError> for DeliveryError {
    fn from(e: HttpError) -> Self {
        DeliveryError { retryable: e.retryable(), message: e.to_string() }
    }
}

/// Every configured target with its stable id (`triggers[i]:<label>` / `notify[i]:<label>`).
pub fn target_ids(config: &PostSyncConfig) -> Vec<(String, &TargetConfig)> {
    let mut out: Vec<(String, &TargetConfig)> =
        config.triggers.iter().enumerate().map(|(i, t)| (format!("triggers[{i}]:{}", t.label()), t)).collect();
    out.extend(config.notify.iter().enumerate().map(|(i, t)| (format!("notify[{i}]:{}", t.label()), t)));
    out
}

/// A client for one attempt per request (the queue retries).
pub fn client(config: &QueueConfig) -> Result<HttpClient> {
    let policy = RetryPolicy { max_retries: 0, ..RetryPolicy::default() };
    Ok(HttpClient::new(
        concat!("post-sync/", env!("CARGO_PKG_VERSION")),
        Duration::from_secs(config.request_timeout_secs.max(1)),
        policy,
    )?)
}

fn is_conflict(e: &HttpError) -> bool {
    e.status() == Some(409)
}

/// Send `summary` to one target.
pub async fn deliver(http: &HttpClient, target: &TargetConfig, summary: &Summary) -> Result<(), DeliveryError> {
    match target {
        TargetConfig::Airflow2 { base_url, dag_id, username, password } => {
            let url = format!("{}/api/v1/dags/{}/dagRuns", base_url.trim_end_matches('/'), path_segment(dag_id));
            let body = json!({
                "dag_run_id": summary.run_id(),
                "conf": serde_json::to_value(summary).unwrap_or_default(),
                "note": note(summary),
            });
            let sent = http.send(&[], |c| c.post(&url).basic_auth(username, Some(password.expose())).json(&body)).await;
            match sent {
                Ok(_) => Ok(()),
                // The run id is fixed per sync: a conflict means an earlier attempt got through.
                Err(e) if is_conflict(&e) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        TargetConfig::Airflow3 { base_url, dag_id, username, password } => {
            let base = base_url.trim_end_matches('/');
            let token_url = format!("{base}/auth/token");
            let creds = json!({"username": username, "password": password.expose()});
            let token: String = http
                .send_parsed(
                    &[],
                    |c| c.post(&token_url).json(&creds),
                    |r| {
                        let v: Value = r.json()?;
                        v.get("access_token").and_then(Value::as_str).map(str::to_string).ok_or(HttpError::Body {
                            url: r.url.clone(),
                            message: "no access_token in the answer".into(),
                            retryable: false,
                        })
                    },
                )
                .await?;
            airbyte_protocol::redact::add(&token);
            let url = format!("{base}/api/v2/dags/{}/dagRuns", path_segment(dag_id));
            let body = json!({
                "dag_run_id": summary.run_id(),
                "logical_date": null,
                "conf": serde_json::to_value(summary).unwrap_or_default(),
                "note": note(summary),
            });
            match http.send(&[], |c| c.post(&url).bearer_auth(&token).json(&body)).await {
                Ok(_) => Ok(()),
                Err(e) if is_conflict(&e) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        TargetConfig::Dagster { graphql_url, job_name, repository_location_name, repository_name, api_token } => {
            let body = json!({
                "query": DAGSTER_LAUNCH_RUN,
                "variables": {"executionParams": {
                    "selector": {
                        "repositoryLocationName": repository_location_name,
                        "repositoryName": repository_name,
                        "jobName": job_name,
                    },
                    "runConfigData": {},
                    "executionMetadata": {"tags": [
                        {"key": "post_sync/sync_id", "value": summary.sync_id},
                        {"key": "post_sync/connection_id", "value": summary.connection_id.clone().unwrap_or_default()},
                        {"key": "post_sync/decision", "value": summary.decision.as_str()},
                        {"key": "post_sync/report_url", "value": summary.report_url},
                    ]},
                }},
            });
            let answer: Value = http
                .send_parsed(
                    &[],
                    |c| {
                        let req = c.post(graphql_url).json(&body);
                        match api_token {
                            Some(t) => req.header("Dagster-Cloud-Api-Token", t.expose()),
                            None => req,
                        }
                    },
                    |r| r.json(),
                )
                .await?;
            dagster_result(&answer)
        }
        TargetConfig::Webhook { url, secret } => {
            let body = serde_json::to_vec(&json!({"event": "post_sync.decision", "summary": summary}))
                .map_err(|e| DeliveryError { message: e.to_string(), retryable: false })?;
            let signature = sign(secret, &body);
            http.send(&[], |c| {
                c.post(url.expose())
                    .header("Content-Type", "application/json")
                    .header("X-Post-Sync-Signature", format!("sha256={signature}"))
                    .header("Idempotency-Key", summary.run_id())
                    .body(body.clone())
            })
            .await?;
            Ok(())
        }
        TargetConfig::Slack { webhook_url } => {
            let body = slack_message(summary);
            http.send(&[], |c| c.post(webhook_url.expose()).json(&body)).await?;
            Ok(())
        }
    }
}

/// HMAC-SHA256 of `body` with `secret`, hex.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn path_segment(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect()
}

fn note(summary: &Summary) -> String {
    format!("post-sync {} for sync {}: {}", summary.decision.as_str(), summary.sync_id, summary.reasons.join("; "))
}

/// The `launchRun` mutation; errors come back as union members, so the answer is read by `__typename`.
pub const DAGSTER_LAUNCH_RUN: &str = "mutation LaunchRun($executionParams: ExecutionParams!) { \
launchRun(executionParams: $executionParams) { __typename \
... on LaunchRunSuccess { run { runId status } } \
... on RunConfigValidationInvalid { errors { message } } \
... on PipelineNotFoundError { message } \
... on InvalidSubsetError { message } \
... on PythonError { message } } }";

fn dagster_result(answer: &Value) -> Result<(), DeliveryError> {
    if let Some(errors) = answer.get("errors").and_then(Value::as_array).filter(|e| !e.is_empty()) {
        return Err(DeliveryError { message: format!("Dagster GraphQL errors: {errors:?}"), retryable: false });
    }
    let launch = &answer["data"]["launchRun"];
    match launch["__typename"].as_str() {
        Some("LaunchRunSuccess") => Ok(()),
        Some("PythonError") => Err(DeliveryError {
            message: format!("Dagster PythonError: {}", launch["message"].as_str().unwrap_or("")),
            retryable: true,
        }),
        Some(other) => {
            Err(DeliveryError { message: format!("Dagster refused the run ({other}): {}", launch), retryable: false })
        }
        None => Err(DeliveryError { message: format!("unexpected Dagster answer: {answer}"), retryable: true }),
    }
}

/// The Slack message: summary, anomalies and the report link (mrkdwn blocks, `text` as the fallback).
pub fn slack_message(summary: &Summary) -> Value {
    let title = match summary.decision {
        crate::Decision::Retrain => ":white_check_mark: Retraining queued",
        crate::Decision::RetrainForDrift => ":arrows_counterclockwise: Retraining queued (data drifted)",
        crate::Decision::Quarantine => ":no_entry: Data quarantined, no retraining",
        crate::Decision::Skip => ":zzz: Nothing to retrain",
    };
    let text =
        format!("{title}: sync {} ({} new rows). Report: {}", summary.sync_id, summary.new_rows, summary.report_url);
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": format!(
        "*{title}*\nSync `{}` of connection `{}`: {} new rows.\n{}",
        summary.sync_id,
        summary.connection_id.as_deref().unwrap_or("-"),
        summary.new_rows,
        summary.reasons.iter().map(|r| format!("• {r}")).collect::<Vec<_>>().join("\n")
    )}})];
    for s in summary.streams.iter().filter(|s| !s.anomalies.is_empty()).take(20) {
        let mut lines: Vec<String> = s.anomalies.iter().take(10).map(|a| format!("• {a}")).collect();
        if s.anomalies.len() > 10 {
            lines.push(format!("… and {} more", s.anomalies.len() - 10));
        }
        let body: String = format!("*{}* ({} rows, {})\n{}", s.stream, s.rows, s.verdict, lines.join("\n"));
        // Slack limits a section's text to 3,000 characters.
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": body.chars().take(2900).collect::<String>()}}),
        );
    }
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("<{}|Open the report>", summary.report_url)}}));
    json!({"text": text, "blocks": blocks})
}

/// What one delivery round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryStats {
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
}

/// Deliver every dispatch job that is due now (optionally only one sync's), each once.
pub async fn deliver_due(queue: &Queue, config: &PostSyncConfig, sync_key: Option<&str>) -> Result<DeliveryStats> {
    deliver_matching(queue, config, sync_key, None).await
}

/// Deliver every due dispatch job of one sync, or of syncs whose key starts with `key_prefix`, each once.
pub async fn deliver_matching(
    queue: &Queue,
    config: &PostSyncConfig,
    sync_key: Option<&str>,
    key_prefix: Option<&str>,
) -> Result<DeliveryStats> {
    let http = client(&config.queue)?;
    let targets = target_ids(config);
    let mut stats = DeliveryStats::default();
    let round_start = crate::queue::now_ms();
    while let Some(job) = queue.claim_due_by(round_start, sync_key, key_prefix, Some(KIND_DISPATCH))? {
        match deliver_job(&http, &targets, &job).await {
            Ok(()) => {
                queue.complete(job.id)?;
                stats.delivered += 1;
                tracing::info!("delivered job {} to {}", job.id, job.target);
            }
            Err(e) => {
                let after = queue.fail(job.id, &e.message, e.retryable, &config.queue)?;
                let msg = airbyte_protocol::redact::apply(&e.message).into_owned();
                match after {
                    AfterFailure::Dead => {
                        stats.dead += 1;
                        tracing::warn!(
                            "job {} to {} is dead after {} attempts: {msg}",
                            job.id,
                            job.target,
                            job.attempts
                        )
                    }
                    AfterFailure::RetryAt(_) => {
                        stats.retrying += 1;
                        tracing::warn!(
                            "job {} to {} failed (attempt {}), will retry: {msg}",
                            job.id,
                            job.target,
                            job.attempts
                        )
                    }
                }
            }
        }
    }
    Ok(stats)
}

async fn deliver_job(http: &HttpClient, targets: &[(String, &TargetConfig)], job: &Job) -> Result<(), DeliveryError> {
    let Some((_, target)) = targets.iter().find(|(id, _)| *id == job.target) else {
        return Err(DeliveryError {
            message: format!("target {} is not in the config any more", job.target),
            retryable: false,
        });
    };
    let summary: Summary = serde_json::from_value(job.payload.clone())
        .map_err(|e| DeliveryError { message: format!("job payload is not a summary: {e}"), retryable: false })?;
    deliver(http, target, &summary).await
}

/// Deliver until no dispatch job is pending (all done or dead), waiting out backoffs, or until `deadline`.
pub async fn drain(
    queue: &Queue,
    config: &PostSyncConfig,
    deadline: Option<std::time::Instant>,
) -> Result<DeliveryStats> {
    let mut total = DeliveryStats::default();
    loop {
        let s = deliver_due(queue, config, None).await?;
        total.delivered += s.delivered;
        total.dead += s.dead;
        let (pending, next) = queue.pending(None, Some(KIND_DISPATCH))?;
        total.retrying = pending;
        if pending == 0 {
            return Ok(total);
        }
        let wait_ms = next.map_or(1000, |t| (t - crate::queue::now_ms()).clamp(10, 60_000)) as u64;
        if deadline.is_some_and(|d| std::time::Instant::now() + Duration::from_millis(wait_ms) > d) {
            return Ok(total);
        }
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    }
}
