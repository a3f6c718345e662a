//! Every dispatch target against a loopback server that checks the exact request (auth flow, strict body
//! keys) and fails some attempts: retries with backoff, dead letters, and a queue that survives restarts.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use common::{clean_history, synthetic_profile};
use hmac::{Hmac, Mac};
use post_sync::config::{PostSyncConfig, QueueConfig, Secret, TargetConfig};
use post_sync::queue::{Queue, KIND_DISPATCH};
use post_sync::{run_post_sync, DataLocation, Decision, SyncInfo};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PASSWORD: &str = "airflow-pa55word-xyz";
const JWT: &str = "jwt-token-abc123";
const DAGSTER_TOKEN: &str = "dagster-cloud-token-777";
const HMAC_SECRET: &str = "hmac-shared-secret-42";

/// What the fake servers saw, and how many attempts each fails first.
#[derive(Default)]
struct Seen {
    errors: Mutex<Vec<String>>,
    calls: Mutex<Vec<String>>,
    airflow2_fail: AtomicUsize,
    airflow3_fail: AtomicUsize,
    dagster_fail: AtomicUsize,
    webhook_fail: AtomicUsize,
    slack_fail: AtomicUsize,
    accepted: Mutex<Vec<(String, Value)>>,
}

type S = State<Arc<Seen>>;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}
fn set(k: &[&str]) -> BTreeSet<String> {
    k.iter().map(|s| s.to_string()).collect()
}
fn take_failure(counter: &AtomicUsize) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}
fn reject(seen: &Seen, what: String) -> Response {
    seen.errors.lock().unwrap().push(what.clone());
    (StatusCode::BAD_REQUEST, what).into_response()
}

async fn airflow2(State(seen): S, headers: HeaderMap, body: Bytes) -> Response {
    seen.calls.lock().unwrap().push("airflow2".into());
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, "bad basic auth").into_response();
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    if keys(&v) != set(&["dag_run_id", "conf", "note"]) {
        return reject(&seen, format!("airflow2 body keys {:?}", keys(&v)));
    }
    if take_failure(&seen.airflow2_fail) {
        return (StatusCode::SERVICE_UNAVAILABLE, "scheduler busy").into_response();
    }
    seen.accepted.lock().unwrap().push(("airflow2".into(), v.clone()));
    (StatusCode::OK, Json(json!({"dag_run_id": v["dag_run_id"], "state": "queued"}))).into_response()
}

async fn airflow3_token(State(seen): S, body: Bytes) -> Response {
    seen.calls.lock().unwrap().push("airflow3_token".into());
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    if keys(&v) != set(&["username", "password"]) {
        return reject(&seen, format!("airflow3 token body keys {:?}", keys(&v)));
    }
    if v["username"] != "admin" || v["password"] != PASSWORD {
        return (StatusCode::UNAUTHORIZED, Json(json!({"detail": "Invalid credentials"}))).into_response();
    }
    (StatusCode::CREATED, Json(json!({"access_token": JWT}))).into_response()
}

async fn airflow3_run(State(seen): S, headers: HeaderMap, body: Bytes) -> Response {
    seen.calls.lock().unwrap().push("airflow3_run".into());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(format!("Bearer {JWT}").as_str()) {
        return (StatusCode::UNAUTHORIZED, "no token").into_response();
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    // TriggerDAGRunPostBody is a StrictBaseModel: extra keys are rejected, logical_date must be present.
    let allowed =
        set(&["dag_run_id", "data_interval_start", "data_interval_end", "logical_date", "run_after", "conf", "note"]);
    if !keys(&v).is_subset(&allowed) || !v.as_object().is_some_and(|o| o.contains_key("logical_date")) {
        return reject(&seen, format!("airflow3 body keys {:?}", keys(&v)));
    }
    if !v["logical_date"].is_null() {
        return reject(&seen, "logical_date must be null".into());
    }
    if take_failure(&seen.airflow3_fail) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    seen.accepted.lock().unwrap().push(("airflow3".into(), v.clone()));
    (StatusCode::OK, Json(json!({"dag_run_id": v["dag_run_id"], "state": "queued"}))).into_response()
}

async fn dagster(State(seen): S, headers: HeaderMap, body: Bytes) -> Response {
    seen.calls.lock().unwrap().push("dagster".into());
    if headers.get("dagster-cloud-api-token").and_then(|v| v.to_str().ok()) != Some(DAGSTER_TOKEN) {
        return (StatusCode::UNAUTHORIZED, "no token").into_response();
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let ep = &v["variables"]["executionParams"];
    let ok = keys(&v) == set(&["query", "variables"])
        && v["query"].as_str().is_some_and(|q| q.contains("launchRun(executionParams: $executionParams)"))
        && keys(&v["variables"]) == set(&["executionParams"])
        && keys(ep) == set(&["selector", "runConfigData", "executionMetadata"])
        && keys(&ep["selector"]) == set(&["repositoryLocationName", "repositoryName", "jobName"])
        && ep["selector"]["jobName"] == "retrain_model"
        && ep["executionMetadata"]["tags"]
            .as_array()
            .is_some_and(|t| t.iter().all(|t| keys(t) == set(&["key", "value"])));
    if !ok {
        return reject(&seen, format!("dagster body {v}"));
    }
    if take_failure(&seen.dagster_fail) {
        return Json(json!({"data": {"launchRun": {"__typename": "PythonError", "message": "daemon not ready"}}}))
            .into_response();
    }
    seen.accepted.lock().unwrap().push(("dagster".into(), v.clone()));
    Json(
        json!({"data": {"launchRun": {"__typename": "LaunchRunSuccess", "run": {"runId": "r-1", "status": "QUEUED"}}}}),
    )
    .into_response()
}

async fn webhook(State(seen): S, headers: HeaderMap, body: Bytes) -> Response {
    seen.calls.lock().unwrap().push("webhook".into());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(HMAC_SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    if headers.get("x-post-sync-signature").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    if keys(&v) != set(&["event", "summary"]) || headers.get("idempotency-key").is_none() {
        return reject(&seen, format!("webhook body keys {:?}", keys(&v)));
    }
    if take_failure(&seen.webhook_fail) {
        return (StatusCode::BAD_GATEWAY, "upstream").into_response();
    }
    seen.accepted.lock().unwrap().push(("webhook".into(), v));
    StatusCode::NO_CONTENT.into_response()
}

async fn slack(State(seen): S, headers: HeaderMap, body: Bytes) -> Response {
    seen.calls.lock().unwrap().push("slack".into());
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let blocks_ok = v["blocks"].as_array().is_some_and(|b| {
        !b.is_empty()
            && b.len() <= 50
            && b.iter()
                .all(|x| x["type"] == "section" && x["text"]["type"] == "mrkdwn" && x["text"]["text"].is_string())
    });
    if keys(&v) != set(&["text", "blocks"]) || !v["text"].is_string() || !blocks_ok {
        return reject(&seen, format!("slack body {v}"));
    }
    if take_failure(&seen.slack_fail) {
        return (StatusCode::TOO_MANY_REQUESTS, "rate_limited").into_response();
    }
    seen.accepted.lock().unwrap().push(("slack".into(), v));
    (StatusCode::OK, "ok").into_response()
}

async fn always_503() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "down").into_response()
}
async fn always_401() -> Response {
    (StatusCode::UNAUTHORIZED, "who are you").into_response()
}

async fn start(seen: Arc<Seen>) -> String {
    let app = Router::new()
        .route("/api/v1/dags/retrain/dagRuns", post(airflow2))
        .route("/auth/token", post(airflow3_token))
        .route("/api/v2/dags/retrain/dagRuns", post(airflow3_run))
        .route("/graphql", post(dagster))
        .route("/hook", post(webhook))
        .route("/services/T000/B000/XXXX", post(slack))
        .route("/down", post(always_503))
        .route("/denied", post(always_401))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn all_targets(base: &str) -> (Vec<TargetConfig>, Vec<TargetConfig>) {
    let triggers = vec![
        TargetConfig::Airflow2 {
            base_url: base.into(),
            dag_id: "retrain".into(),
            username: "admin".into(),
            password: Secret(PASSWORD.into()),
        },
        TargetConfig::Airflow3 {
            base_url: format!("{base}/"),
            dag_id: "retrain".into(),
            username: "admin".into(),
            password: Secret(PASSWORD.into()),
        },
        TargetConfig::Dagster {
            graphql_url: format!("{base}/graphql"),
            job_name: "retrain_model".into(),
            repository_location_name: "ml".into(),
            repository_name: "__repository__".into(),
            api_token: Some(Secret(DAGSTER_TOKEN.into())),
        },
        TargetConfig::Webhook { url: Secret(format!("{base}/hook")), secret: Secret(HMAC_SECRET.into()) },
    ];
    let notify = vec![TargetConfig::Slack { webhook_url: Secret(format!("{base}/services/T000/B000/XXXX")) }];
    (triggers, notify)
}

fn fast_queue(max_attempts: u32) -> QueueConfig {
    QueueConfig { max_attempts, base_delay_ms: 40, max_delay_ms: 400, request_timeout_secs: 5, ..Default::default() }
}

/// Save a clean history and return the profile of a clean new sync.
fn prepare(location: &DataLocation) -> post_sync::StreamProfile {
    for p in clean_history(4, 1500) {
        let info = SyncInfo::new(p.sync_id.clone().unwrap()).at(p.synced_at.unwrap());
        post_sync::save_profiles(location, &[p], &info).unwrap();
    }
    synthetic_profile(4, 1500, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_target_gets_the_exact_request_and_failed_attempts_are_retried() {
    let seen = Arc::new(Seen::default());
    seen.airflow2_fail.store(2, Ordering::SeqCst);
    seen.airflow3_fail.store(1, Ordering::SeqCst);
    seen.dagster_fail.store(1, Ordering::SeqCst);
    seen.webhook_fail.store(1, Ordering::SeqCst);
    seen.slack_fail.store(1, Ordering::SeqCst);
    let base = start(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let location = DataLocation::local(dir.path());
    let current = prepare(&location);
    let (triggers, notify) = all_targets(&base);
    let config = PostSyncConfig { triggers, notify, queue: fast_queue(5), ..Default::default() };
    let sync = SyncInfo::new("sync-004").with_connection("conn-1").at(current.synced_at.unwrap());
    let outcome = run_post_sync(&config, &location, vec![current.clone()], sync.clone()).await.unwrap();
    assert_eq!(outcome.decision, Decision::Retrain, "{:?}", outcome.reasons);
    assert_eq!(outcome.jobs_enqueued.len(), 5);
    // Inline delivery: every target failed its first attempt.
    assert_eq!(outcome.jobs_delivered, 0);
    assert_eq!(outcome.jobs_pending, 5);

    let queue = Queue::open(&location.default_queue_path()).unwrap();
    // Backoff: the next attempt is scheduled about base_delay after the failure (jitter up to 20%).
    for job in queue.list(Some("pending")).unwrap() {
        let delay = job.next_attempt_at - job.updated_at;
        assert!((30..=40).contains(&delay), "job {} delay {delay}", job.target);
        assert_eq!(job.attempts, 1);
    }
    let stats = post_sync::dispatch::drain(&queue, &config, None).await.unwrap();
    assert_eq!((stats.delivered, stats.dead, stats.retrying), (5, 0, 0));
    assert!(seen.errors.lock().unwrap().is_empty(), "{:?}", seen.errors.lock().unwrap());
    let accepted = seen.accepted.lock().unwrap().clone();
    let targets: BTreeSet<&str> = accepted.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(targets, ["airflow2", "airflow3", "dagster", "slack", "webhook"].into_iter().collect());
    assert_eq!(accepted.len(), 5, "each target exactly once");
    let airflow2 = queue.list(None).unwrap().into_iter().find(|j| j.target.contains("airflow2")).unwrap();
    assert_eq!(airflow2.attempts, 3, "two failures then success");
    let calls = seen.calls.lock().unwrap().clone();
    assert_eq!(calls.iter().filter(|c| *c == "airflow3_token").count(), 2, "a fresh token per attempt");
    let (_, a2) = accepted.iter().find(|(t, _)| t == "airflow2").unwrap();
    assert_eq!(a2["dag_run_id"], "post_sync__conn-1__sync-004");
    assert_eq!(a2["conf"]["decision"], "retrain");
    let (_, slack) = accepted.iter().find(|(t, _)| t == "slack").unwrap();
    assert!(slack["text"].as_str().unwrap().contains("sync-004"));
    assert!(slack.to_string().contains("Open the report"));

    // Re-running the hook for the same sync queues nothing twice.
    let again = run_post_sync(&config, &location, vec![], sync).await.unwrap();
    assert!(again.jobs_enqueued.is_empty());
    assert_eq!(seen.accepted.lock().unwrap().len(), 5);

    // No secret is stored in the queue file or shown by Debug.
    let bytes = std::fs::read(location.default_queue_path()).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for secret in [PASSWORD, DAGSTER_TOKEN, HMAC_SECRET, "T000/B000/XXXX"] {
        assert!(!text.contains(secret), "{secret} stored in the queue");
        assert!(!format!("{config:?}").contains(secret), "{secret} in Debug");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_targets_end_in_the_dead_letter_state_and_can_be_retried() {
    let seen = Arc::new(Seen::default());
    let base = start(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let location = DataLocation::local(dir.path());
    let current = prepare(&location);
    let config = PostSyncConfig {
        triggers: vec![
            TargetConfig::Webhook { url: Secret(format!("{base}/down")), secret: Secret("s3cret-x".into()) },
            TargetConfig::Webhook { url: Secret(format!("{base}/denied")), secret: Secret("s3cret-x".into()) },
        ],
        queue: fast_queue(3),
        dispatch_inline: false,
        ..Default::default()
    };
    let sync = SyncInfo::new("sync-004").at(current.synced_at.unwrap());
    let outcome = run_post_sync(&config, &location, vec![current], sync).await.unwrap();
    assert_eq!(outcome.jobs_enqueued.len(), 2);
    let queue = Queue::open(&location.default_queue_path()).unwrap();
    let started = std::time::Instant::now();
    let stats = post_sync::dispatch::drain(&queue, &config, None).await.unwrap();
    assert_eq!((stats.delivered, stats.dead), (0, 2));
    let dead = queue.list(Some("dead")).unwrap();
    let down = dead.iter().find(|j| j.target.starts_with("triggers[0]")).unwrap();
    let denied = dead.iter().find(|j| j.target.starts_with("triggers[1]")).unwrap();
    assert_eq!(down.attempts, 3, "503 is retried until max_attempts");
    assert!(down.last_error.as_deref().unwrap().contains("503"));
    assert_eq!(denied.attempts, 1, "401 is not retryable: dead at once");
    // Two backoffs of about 40 and 80 ms were waited out.
    assert!(started.elapsed() >= Duration::from_millis(80), "{:?}", started.elapsed());
    assert_eq!(queue.retry(Some(down.id)).unwrap(), 1);
    let job = queue.get(down.id).unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("pending", 0));
    assert_eq!(queue.retry(None).unwrap(), 1, "the other dead job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_survives_a_restart_and_a_crash_mid_delivery() {
    let seen = Arc::new(Seen::default());
    let base = start(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let location = DataLocation::local(dir.path());
    let current = prepare(&location);
    let (triggers, notify) = all_targets(&base);
    let config =
        PostSyncConfig { triggers, notify, queue: fast_queue(5), dispatch_inline: false, ..Default::default() };
    let sync = SyncInfo::new("sync-004").at(current.synced_at.unwrap());
    run_post_sync(&config, &location, vec![current], sync).await.unwrap();
    let queue_path = location.default_queue_path();

    // A worker claims a job and dies before finishing it: the lease runs out and the job is due again.
    {
        let q = Queue::open(&queue_path).unwrap().with_lease(Duration::from_millis(100));
        let claimed = q.claim_due(None, None, Some(KIND_DISPATCH)).unwrap().unwrap();
        assert_eq!(claimed.attempts, 1);
    }
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Another process delivers everything: the `post-sync` binary with the same config.
    let config_path = dir.path().join("hook.json");
    std::fs::write(&config_path, serde_json::to_vec(&json!({"post_sync": config})).unwrap()).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_post-sync"))
        .args(["queue", "drain", "--timeout-secs", "30", "--config"])
        .arg(&config_path)
        .arg("--queue")
        .arg(&queue_path)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stats: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(stats, json!({"delivered": 5, "dead": 0, "pending": 0}));
    assert_eq!(seen.accepted.lock().unwrap().len(), 5);
    for secret in [PASSWORD, DAGSTER_TOKEN, HMAC_SECRET, JWT] {
        assert!(!stderr.contains(secret) && !stdout.contains(secret), "{secret} logged");
    }
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_post-sync"))
        .args(["queue", "list", "--status", "done", "--queue"])
        .arg(&queue_path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().count(), 5);
    let abandoned = Queue::open(&queue_path).unwrap().list(None).unwrap();
    assert!(abandoned.iter().any(|j| j.attempts == 2), "the abandoned job was attempted again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_notifies_but_does_not_trigger_retraining() {
    let seen = Arc::new(Seen::default());
    let base = start(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let location = DataLocation::local(dir.path());
    prepare(&location);
    let bad = synthetic_profile(4, 1500, Some(post_sync::CheckKind::Uniqueness));
    let (triggers, notify) = all_targets(&base);
    let config = PostSyncConfig { triggers, notify, queue: fast_queue(2), ..Default::default() };
    let sync = SyncInfo::new("sync-004").at(bad.synced_at.unwrap());
    let outcome = run_post_sync(&config, &location, vec![bad], sync).await.unwrap();
    assert_eq!(outcome.decision, Decision::Quarantine);
    assert_eq!(outcome.jobs_enqueued.len(), 1);
    assert_eq!(outcome.jobs_delivered, 1);
    let accepted = seen.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].0, "slack");
    assert!(accepted[0].1.to_string().contains("quarantined"), "{}", accepted[0].1);
    assert!(accepted[0].1.to_string().contains("primary key"), "{}", accepted[0].1);
    assert!(post_sync::sync_failure(&config, &Ok(outcome.clone())).is_none());
    let strict = PostSyncConfig { fail_sync_on_quarantine: true, ..config };
    assert!(post_sync::sync_failure(&strict, &Ok(outcome)).unwrap().contains("quarantined"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_url_never_reaches_the_queue_errors() {
    let seen = Arc::new(Seen::default());
    let base = start(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let location = DataLocation::local(dir.path());
    let current = prepare(&location);
    let secret_url = format!("{base}/denied");
    let config = PostSyncConfig {
        notify: vec![TargetConfig::Slack { webhook_url: Secret(secret_url.clone()) }],
        queue: fast_queue(2),
        ..Default::default()
    };
    let sync = SyncInfo::new("sync-004").at(current.synced_at.unwrap());
    let outcome = run_post_sync(&config, &location, vec![current], sync).await.unwrap();
    assert_eq!(outcome.jobs_enqueued.len(), 1);
    let dead = Queue::open(&location.default_queue_path()).unwrap().list(Some("dead")).unwrap();
    let error = dead[0].last_error.clone().unwrap();
    assert!(error.contains("401") && error.contains("****"), "{error}");
    assert!(!error.contains(&secret_url), "{error}");
}

#[test]
fn hook_errors_fail_the_sync_only_when_configured() {
    let lenient = PostSyncConfig::default();
    let err: anyhow::Result<post_sync::PostSyncOutcome> = Err(anyhow::anyhow!("disk full"));
    assert!(post_sync::sync_failure(&lenient, &err).is_none());
    let strict = PostSyncConfig { fail_sync_on_error: true, ..Default::default() };
    assert!(post_sync::sync_failure(&strict, &err).unwrap().contains("disk full"));
}
