//! The webhook receiver: token auth, clear 4xx for malformed requests, idempotency on jobId, work done
//! from the queue (not in the request), and the `post-sync serve` binary end to end.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use common::{clean_history, synthetic_profile};
use post_sync::config::{ConnectionTarget, PostSyncConfig, QueueConfig, Secret, ServeConfig, TargetConfig};
use post_sync::{DataLocation, Queue, SyncInfo};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "serve-token-9f8e7d";
const CONNECTION: &str = "9e2c1c3a-5d8b-4f6e-a2b1-0c9d8e7f6a5b";

/// The "Successful syncs" webhook body (reference/protocol.md section 12).
fn airbyte_payload(job_id: i64, connection: &str) -> Value {
    json!({
        "text": "Your connection Epd from Oekobaudat to Parquet succeeded\nThis was for 2026-11-26\n\nJob ID: 42",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Sync succeeded"}}],
        "data": {
            "workspace": {"id": "b510e39b-e9e2-4833-9a3a-963e51d35fb4", "name": "Workspace1", "url": "https://link/to/ws"},
            "connection": {"id": connection, "name": "Connection", "url": "https://link/to/connection"},
            "source": {"id": "a0cd5e29-69a3-4c48-a3ee-45d0f7d8b5c1", "name": "Source", "url": "https://link/to/source"},
            "destination": {"id": "4a5f2b9e-96c2-4b0d-8f0e-5d0c5b3e2a10", "name": "Destination", "url": "https://link/to/destination"},
            "jobId": job_id,
            "startedAt": "2026-11-26T10:00:00Z",
            "finishedAt": "2026-11-26T10:05:00Z",
            "bytesEmitted": 1000, "bytesCommitted": 1000, "recordsEmitted": 1500, "recordsCommitted": 1500,
            "recordsFilteredOut": 0, "bytesFilteredOut": 0,
            "errorMessage": null, "errorType": null, "errorOrigin": null,
            "bytesEmittedFormatted": "1000 B", "bytesCommittedFormatted": "1000 B",
            "success": true, "durationInSeconds": 300, "durationFormatted": "5 min 0 sec"
        }
    })
}

async fn slack_recorder() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = Router::new()
        .route(
            "/slack",
            post(|State(s): State<Arc<Mutex<Vec<Value>>>>, body: Bytes| async move {
                s.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or_default());
                "ok"
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slack", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// A data folder with a clean history and the profiles of sync `job_id` saved by "the destination".
fn data_folder(dir: &std::path::Path, job_id: i64) {
    let location = DataLocation::local(dir);
    for p in clean_history(4, 1200) {
        let info = SyncInfo::new(p.sync_id.clone().unwrap()).at(p.synced_at.unwrap());
        post_sync::save_profiles(&location, &[p], &info).unwrap();
    }
    let current = synthetic_profile(4, 1200, None);
    let info = SyncInfo::new(job_id.to_string()).at(current.synced_at.unwrap());
    post_sync::save_profiles(&location, &[current], &info).unwrap();
}

fn serve_config(data: &std::path::Path, queue: &std::path::Path, slack: &str) -> ServeConfig {
    let post_sync = PostSyncConfig {
        notify: vec![TargetConfig::Slack { webhook_url: Secret(slack.into()) }],
        queue: QueueConfig { base_delay_ms: 50, ..Default::default() },
        ..Default::default()
    };
    ServeConfig {
        listen: "127.0.0.1:0".into(),
        token: Secret(TOKEN.into()),
        connections: [(CONNECTION.to_string(), ConnectionTarget { path: data.to_path_buf(), post_sync: None })].into(),
        post_sync,
        queue_path: Some(queue.to_path_buf()),
        poll_interval_ms: 50,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_authenticates_validates_and_queues_each_job_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    data_folder(&data, 42);
    let (slack_url, slack) = slack_recorder().await;
    let config = serve_config(&data, &dir.path().join("queue.sqlite"), &slack_url);
    let queue = Queue::open(&post_sync::serve::queue_path(&config)).unwrap();
    let app = post_sync::serve::router(config.clone(), queue.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/airbyte/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let send = |url: String, body: Vec<u8>, bearer: Option<&'static str>| {
        let http = http.clone();
        async move {
            let mut req = http.post(url).header("content-type", "application/json").body(body);
            if let Some(t) = bearer {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or_default())
        }
    };
    let good = serde_json::to_vec(&airbyte_payload(42, CONNECTION)).unwrap();
    let with_token = format!("{base}?token={TOKEN}");

    let (s, b) = send(base.clone(), good.clone(), None).await;
    assert_eq!(s, 401);
    assert!(b["error"].as_str().unwrap().contains("missing token"));
    let (s, _) = send(format!("{base}?token=wrong"), good.clone(), None).await;
    assert_eq!(s, 401);
    let (s, _) = send(base.clone(), good.clone(), Some("also-wrong")).await;
    assert_eq!(s, 401);
    let (s, b) = send(with_token.clone(), b"{not json".to_vec(), None).await;
    assert_eq!(s, 400);
    assert!(b["error"].as_str().unwrap().contains("not JSON"));
    let (s, b) = send(with_token.clone(), br#"{"text":"hello"}"#.to_vec(), None).await;
    assert_eq!(s, 422);
    assert!(b["error"].as_str().unwrap().contains("/data"));
    let mut no_job = airbyte_payload(42, CONNECTION);
    no_job["data"].as_object_mut().unwrap().remove("jobId");
    let (s, b) = send(with_token.clone(), serde_json::to_vec(&no_job).unwrap(), None).await;
    assert_eq!(s, 422);
    assert!(b["error"].as_str().unwrap().contains("jobId"));
    let (s, b) = send(with_token.clone(), serde_json::to_vec(&airbyte_payload(42, "other-conn")).unwrap(), None).await;
    assert_eq!(s, 404);
    assert!(b["error"].as_str().unwrap().contains("other-conn"));
    let mut failed = airbyte_payload(43, CONNECTION);
    failed["data"]["success"] = json!(false);
    let (s, b) = send(with_token.clone(), serde_json::to_vec(&failed).unwrap(), None).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ignored")));
    assert!(queue.list(None).unwrap().is_empty(), "nothing queued by rejected or failed syncs");

    // Accepted, answered before any work: no report exists yet.
    let (s, b) = send(with_token.clone(), good.clone(), None).await;
    assert_eq!((s, b["status"].as_str()), (202, Some("queued")));
    let report = data.join("_airbyte_quality/_reports/42.html");
    assert!(!report.exists());
    // Redelivered (Bearer this time): nothing queued twice.
    let (s, b) = send(base.clone(), good.clone(), Some(TOKEN)).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(queue.list(None).unwrap().len(), 1);

    post_sync::serve::work_once(&config, &queue).await.unwrap();
    assert!(report.exists());
    let jobs = queue.list(None).unwrap();
    assert_eq!(jobs.len(), 2, "the sync job and its Slack notification: {jobs:#?}");
    assert!(jobs.iter().all(|j| j.status == "done"), "{jobs:#?}");
    assert_eq!(slack.lock().unwrap().len(), 1);
    // A redelivery after the work is done changes nothing either.
    let (s, _) = send(with_token.clone(), good, None).await;
    assert_eq!(s, 200);
    post_sync::serve::work_once(&config, &queue).await.unwrap();
    assert_eq!(slack.lock().unwrap().len(), 1);
    assert!(!format!("{config:?}").contains(TOKEN));
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_binary_receives_a_webhook_and_works_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    data_folder(&data, 77);
    let (slack_url, slack) = slack_recorder().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = serve_config(&data, &dir.path().join("queue.sqlite"), &slack_url);
    config.listen = format!("127.0.0.1:{port}");
    let config_path = dir.path().join("serve.json");
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_post-sync"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Kill(child);
    let url = format!("http://127.0.0.1:{port}/airbyte/webhook?token={TOKEN}");
    let http = reqwest::Client::new();
    let mut status = 0;
    for _ in 0..100 {
        if let Ok(r) = http.post(&url).json(&airbyte_payload(77, CONNECTION)).send().await {
            status = r.status().as_u16();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 202);
    let report = data.join("_airbyte_quality/_reports/77.json");
    for _ in 0..100 {
        if report.exists() && !slack.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let parsed: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(parsed["decision"], "retrain");
    assert_eq!(parsed["sync"]["connection_id"], CONNECTION);
    assert_eq!(slack.lock().unwrap().len(), 1);
    child.0.kill().unwrap();
    let out = child.0.wait_with_output_ref();
    assert!(!out.contains(TOKEN), "token logged: {out}");
}

trait StderrText {
    fn wait_with_output_ref(&mut self) -> String;
}
impl StderrText for std::process::Child {
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let _ = self.wait();
        let mut s = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}
