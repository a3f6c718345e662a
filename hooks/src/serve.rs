//! `post-sync serve`: a receiver for the Airbyte platform's sync webhooks (payload in
//! reference/protocol.md section 12). It checks the token, maps the connection id to a data location,
//! queues the sync (idempotent on `jobId`) and answers at once; a worker does the checks and the
//! deliveries from the queue.

use crate::config::{PostSyncConfig, ServeConfig};
use crate::queue::{Queue, KIND_SYNC};
use crate::store::DataLocation;
use crate::{run_post_sync, SyncInfo};
use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What a queued sync job carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncJob {
    pub connection_id: String,
    pub job_id: String,
    #[serde(default)]
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

struct AppState {
    config: ServeConfig,
    queue: Queue,
}

/// The queue file `serve` uses.
pub fn queue_path(config: &ServeConfig) -> PathBuf {
    config.queue_path.clone().unwrap_or_else(|| PathBuf::from("post-sync-queue.sqlite"))
}

/// The hook settings of one connection, with the queue forced to the server's queue.
pub fn connection_config(config: &ServeConfig, connection_id: &str) -> Option<(PostSyncConfig, DataLocation)> {
    let target = config.connections.get(connection_id)?;
    let mut hook = target.post_sync.clone().unwrap_or_else(|| config.post_sync.clone());
    hook.queue.path = Some(queue_path(config));
    Some((hook, DataLocation::local(&target.path)))
}

/// The HTTP routes (for tests and embedding): `POST /airbyte/webhook`, `GET /healthz`.
pub fn router(config: ServeConfig, queue: Queue) -> Router {
    let state = Arc::new(AppState { config, queue });
    Router::new().route("/airbyte/webhook", post(receive)).route("/healthz", get(|| async { "ok" })).with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// Constant-time comparison (no early exit on the first differing byte).
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0)) as usize;
    }
    diff == 0
}

async fn receive(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let presented = query
        .get("token")
        .map(String::as_str)
        .or_else(|| header("authorization").and_then(|v| v.strip_prefix("Bearer ")))
        .or_else(|| header("x-post-sync-token"));
    match presented {
        None => {
            return error(
                StatusCode::UNAUTHORIZED,
                "missing token: add ?token=... to the webhook URL or send Authorization: Bearer <token>",
            )
        }
        Some(t) if !same_secret(t, state.config.token.expose()) => {
            return error(StatusCode::UNAUTHORIZED, "invalid token")
        }
        Some(_) => {}
    }
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body is not JSON: {e}")),
    };
    let Some(data) = payload.get("data").filter(|d| d.is_object()) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing object /data (the Airbyte sync summary); only 'Successful syncs' and 'Failed syncs' webhooks carry one",
        );
    };
    let Some(connection_id) = data.pointer("/connection/id").and_then(Value::as_str) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "missing string /data/connection/id");
    };
    let job_id = match data.get("jobId") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return error(StatusCode::UNPROCESSABLE_ENTITY, "missing /data/jobId (number)"),
    };
    if !state.config.connections.contains_key(connection_id) {
        return error(
            StatusCode::NOT_FOUND,
            format!("connection {connection_id} is not mapped to a data location in the serve config"),
        );
    }
    if data.get("success").and_then(Value::as_bool) == Some(false) {
        return (
            StatusCode::OK,
            Json(json!({"status": "ignored", "reason": "the sync failed; nothing to check", "jobId": job_id})),
        )
            .into_response();
    }
    let finished_at = data
        .get("finishedAt")
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&chrono::Utc));
    let job = SyncJob { connection_id: connection_id.to_string(), job_id: job_id.clone(), finished_at };
    let key = format!("{connection_id}:{job_id}");
    let queue_config = connection_config(&state.config, connection_id).map(|(c, _)| c.queue).unwrap_or_default();
    match state.queue.enqueue(KIND_SYNC, &key, "run", &job, &queue_config) {
        Ok(Some(id)) => {
            (StatusCode::ACCEPTED, Json(json!({"status": "queued", "job": id, "jobId": job_id}))).into_response()
        }
        Ok(None) => (StatusCode::OK, Json(json!({"status": "duplicate", "jobId": job_id}))).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("cannot queue the sync: {e:#}")),
    }
}

/// Run one queued sync job: the hook for the connection's data location.
pub async fn process_sync_job(config: &ServeConfig, job: &SyncJob) -> Result<crate::PostSyncOutcome> {
    let (hook, location) = connection_config(config, &job.connection_id)
        .with_context(|| format!("connection {} is no longer in the config", job.connection_id))?;
    // Profiles are named by the catalog's sync_id, which the platform sets to the job id; otherwise
    // take the newest sync the destination saved.
    let sync_id = if crate::store::profiles_of_sync(&location, Some(&job.job_id))?.is_empty() {
        let newest = crate::store::profiles_of_sync(&location, None)?;
        newest
            .first()
            .and_then(|p| p.sync_id.clone())
            .with_context(|| format!("no saved profiles under {:?} for job {}", location, job.job_id))?
    } else {
        job.job_id.clone()
    };
    let mut sync = SyncInfo::new(sync_id).with_connection(&job.connection_id);
    if let Some(at) = job.finished_at {
        sync = sync.at(at);
    }
    run_post_sync(&hook, &location, Vec::new(), sync).await
}

/// One worker round: run due sync jobs, then deliver due dispatch jobs of every connection.
pub async fn work_once(config: &ServeConfig, queue: &Queue) -> Result<()> {
    let round_start = crate::queue::now_ms();
    while let Some(job) = queue.claim_due_by(round_start, None, None, Some(KIND_SYNC))? {
        let parsed: Result<SyncJob> = serde_json::from_value(job.payload.clone()).context("bad sync job payload");
        let queue_config =
            parsed.as_ref().ok().and_then(|j| connection_config(config, &j.connection_id)).map(|(c, _)| c.queue);
        let result = match parsed {
            Ok(j) => process_sync_job(config, &j).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => queue.complete(job.id)?,
            Err(e) => {
                tracing::warn!("sync job {} failed: {e:#}", job.id);
                queue.fail(job.id, &format!("{e:#}"), true, &queue_config.unwrap_or_default())?;
            }
        }
    }
    for connection_id in config.connections.keys() {
        let (hook, _) = connection_config(config, connection_id).expect("listed connection");
        let prefix = format!("{connection_id}:");
        crate::dispatch::deliver_matching(queue, &hook, None, Some(&prefix)).await?;
    }
    Ok(())
}

/// Serve until stopped: the HTTP receiver and the queue worker.
pub async fn serve(config: ServeConfig) -> Result<()> {
    config.post_sync.register_secrets();
    airbyte_protocol::redact::add(config.token.expose());
    for c in config.connections.values() {
        if let Some(p) = &c.post_sync {
            p.register_secrets();
        }
    }
    let queue = Queue::open(&queue_path(&config))?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!("post-sync serve listening on {}", config.listen);
    let worker_config = config.clone();
    let worker_queue = queue.clone();
    let poll = Duration::from_millis(config.poll_interval_ms.max(10));
    tokio::spawn(async move {
        loop {
            if let Err(e) = work_once(&worker_config, &worker_queue).await {
                tracing::warn!("queue worker: {e:#}");
            }
            tokio::time::sleep(poll).await;
        }
    });
    axum::serve(listener, router(config, queue)).await.context("server stopped")?;
    Ok(())
}
