//! Reports: JSON and a self-contained HTML page (inline SVG, nothing loaded from the network), the
//! decision, the profile files beside the data, merging of partial profiles, and `post-sync run`.

mod common;

use airbyte_protocol::message::StreamDescriptor;
use common::{clean_history, synthetic_profile};
use post_sync::checks::CheckKind;
use post_sync::synth::{generate, keys, SynthSpec};
use post_sync::{run_post_sync, DataLocation, Decision, PostSyncConfig, StreamProfiler, SyncInfo};

fn save_history(location: &DataLocation, rows: usize) {
    for p in clean_history(5, rows) {
        let info = SyncInfo::new(p.sync_id.clone().unwrap()).at(p.synced_at.unwrap());
        post_sync::save_profiles(location, &[p], &info).unwrap();
    }
}

#[tokio::test]
async fn drift_gives_retrain_for_drift_and_a_self_contained_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let location = DataLocation::local(dir.path());
    save_history(&location, 3000);
    let current = synthetic_profile(5, 3000, Some(CheckKind::NumericDrift));
    let sync = SyncInfo::new("sync-005").at(current.synced_at.unwrap());
    let config: PostSyncConfig = serde_json::from_str("{}").unwrap();
    let outcome = run_post_sync(&config, &location, vec![current], sync).await.unwrap();
    assert_eq!(outcome.decision, Decision::RetrainForDrift, "{:?}", outcome.reasons);
    assert!(dir.path().join("_airbyte_quality/items/sync-005.json").exists());
    let queue = post_sync::Queue::open(&location.default_queue_path()).unwrap();
    assert!(queue.list(None).unwrap().is_empty(), "no targets configured: nothing queued");

    let html = std::fs::read_to_string(&outcome.report_html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("retrain for drift"));
    assert!(html.matches("<svg").count() >= 2, "volume timeline and a histogram");
    assert!(html.contains("<text"), "axis labels drawn as SVG text");
    assert!(html.contains("<rect") && html.contains("<polyline"), "bars and the volume line");
    assert!(html.contains("price"));
    let lower = html.to_lowercase();
    for forbidden in ["src=\"http", "href=\"http", "src='http", "href='http", "<script", "@import", "url(http", "<link"]
    {
        assert!(!lower.contains(forbidden), "report loads {forbidden}");
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&outcome.report_json).unwrap()).unwrap();
    assert_eq!(json["decision"], "retrain_for_drift");
    let findings = json["streams"][0]["findings"].as_array().unwrap();
    let drift = findings.iter().find(|f| f["check"] == "numeric_drift" && f["column"] == "price").unwrap();
    assert!(drift["metrics"]["wasserstein_normed"].as_f64().unwrap() >= 0.1);
    assert_eq!(drift["histogram"]["baseline"].as_array().unwrap().len(), 20);
    assert_eq!(json["streams"][0]["volume"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn a_clean_sync_retrains_and_hostile_text_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let location = DataLocation::local(dir.path());
    save_history(&location, 2000);
    let current = synthetic_profile(5, 2000, None);
    let sync = SyncInfo::new("<script>alert(1)</script>").at(current.synced_at.unwrap());
    let outcome = run_post_sync(&PostSyncConfig::default(), &location, vec![current], sync).await.unwrap();
    assert_eq!(outcome.decision, Decision::Retrain, "{:?}", outcome.reasons);
    let html = std::fs::read_to_string(&outcome.report_html).unwrap();
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;"));
    assert!(outcome.report_html.parent().unwrap().ends_with("_airbyte_quality/_reports"));
}

#[test]
fn partial_profiles_merge_like_one() {
    let batch = generate(&SynthSpec {
        seed: 9,
        rows: 4000,
        sync_micros: 1_780_000_000_000_000,
        anomaly: Some(CheckKind::Uniqueness),
    });
    let (pk, cursor) = keys();
    let stream = StreamDescriptor::new("items", None);
    let mut whole = StreamProfiler::new(stream.clone(), batch.schema(), pk.clone(), cursor.clone());
    whole.observe(&batch);
    let whole = whole.finish();
    let mut a = StreamProfiler::new(stream.clone(), batch.schema(), pk.clone(), cursor.clone());
    a.observe(&batch.slice(0, 1500));
    let mut b = StreamProfiler::new(stream, batch.schema(), pk, cursor);
    b.observe(&batch.slice(1500, 2500));
    let mut merged = a.finish();
    merged.merge(&b.finish());
    assert_eq!(merged.rows, whole.rows);
    assert_eq!(merged.parts, 2);
    assert_eq!(merged.cursor_max, whole.cursor_max);
    for (m, w) in merged.columns.iter().zip(&whole.columns) {
        assert_eq!((&m.name, m.nulls), (&w.name, w.nulls));
        if let (Some(mn), Some(wn)) = (&m.numeric, &w.numeric) {
            assert_eq!(mn.count, wn.count);
            assert!((mn.mean - wn.mean).abs() < 1e-6 * wn.mean.abs().max(1.0), "{}", m.name);
            assert!((mn.variance() - wn.variance()).abs() < 1e-6 * wn.variance().max(1.0), "{}", m.name);
            assert_eq!((mn.min, mn.max), (wn.min, wn.max));
        }
        if let (Some(mc), Some(wc)) = (&m.categories, &w.categories) {
            assert_eq!(mc.top, wc.top, "{}", m.name);
        }
    }
    // Duplicates inside each part are exact; across parts they are estimated.
    assert!(whole.duplicate_keys > 100 && whole.duplicates_exact);
    assert!(!merged.duplicates_exact);
    let rel = (merged.duplicate_keys as f64 - whole.duplicate_keys as f64).abs() / whole.duplicate_keys as f64;
    assert!(rel < 0.5, "merged {} vs whole {}", merged.duplicate_keys, whole.duplicate_keys);
    let json = serde_json::to_string(&merged).unwrap();
    let back: post_sync::StreamProfile = serde_json::from_str(&json).unwrap();
    assert_eq!(back.rows, merged.rows);
}

#[test]
fn post_sync_run_checks_saved_profiles_of_a_location() {
    let dir = tempfile::tempdir().unwrap();
    let location = DataLocation::local(dir.path());
    save_history(&location, 1500);
    let bad = synthetic_profile(5, 1500, Some(CheckKind::Completeness));
    let info = SyncInfo::new("sync-005").at(bad.synced_at.unwrap());
    post_sync::save_profiles(&location, &[bad], &info).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_post-sync"))
        .args(["run", "--connection", "c1", "--location"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["decision"], "quarantine");
    assert!(outcome["reasons"][0].as_str().unwrap().contains("density"));
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_post-sync"))
        .args(["run", "--location", "/nonexistent/data"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no saved profiles"));
    let bad_config = dir.path().join("bad.json");
    std::fs::write(&bad_config, r#"{"post_sync": {"checks": {"volume": {"max_robust_z": "high"}}}}"#).unwrap();
    let invalid = std::process::Command::new(env!("CARGO_BIN_EXE_post-sync"))
        .args(["run", "--config"])
        .arg(&bad_config)
        .arg("--location")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!invalid.status.success());
    assert!(
        String::from_utf8_lossy(&invalid.stderr).contains("checks.volume.max_robust_z"),
        "{}",
        String::from_utf8_lossy(&invalid.stderr)
    );
}
