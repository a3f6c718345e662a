//! The config: `{}` works, the example files under specs/post-sync parse, unknown keys are rejected with
//! their path, and Debug never shows a secret.

use post_sync::config::{PostSyncConfig, ServeConfig};
use std::path::PathBuf;

fn example(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../specs/post-sync/examples").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn empty_config_means_local_report_and_queue_only() {
    let c: PostSyncConfig = serde_json::from_str("{}").unwrap();
    assert!(c.enabled && !c.fail_sync_on_error && c.dispatch_inline);
    assert!(c.triggers.is_empty() && c.notify.is_empty() && c.queue.path.is_none());
}

#[test]
fn example_configs_parse() {
    let c: PostSyncConfig = serde_json::from_value(example("config.json")["post_sync"].clone()).unwrap();
    assert_eq!(c.rules["epd"].len(), 5);
    assert_eq!(c.checks.freshness.max_age_hours, Some(48.0));
    let t: PostSyncConfig = serde_json::from_value(example("targets.json")["post_sync"].clone()).unwrap();
    assert_eq!(t.triggers.len(), 4);
    assert_eq!(t.notify.len(), 1);
    let debug = format!("{t:?}");
    assert!(!debug.contains("REPLACE_ME"), "{debug}");
    assert!(debug.contains("retrain_epd_model"));
    let s: ServeConfig = serde_json::from_value(example("serve.json")).unwrap();
    assert_eq!(s.connections.len(), 1);
    assert!(!format!("{s:?}").contains("REPLACE_WITH"));
}

#[test]
fn unknown_keys_are_rejected_with_their_path() {
    let bad = serde_json::json!({"checks": {"volume": {"max_z": 3}}});
    let err = serde_path_to_error::deserialize::<_, PostSyncConfig>(bad).unwrap_err();
    assert_eq!(err.path().to_string(), "checks.volume.max_z");
    assert!(err.to_string().contains("max_z"), "{err}");
    let bad_target = serde_json::json!({"triggers": [{"type": "airflow9", "base_url": "x"}]});
    let err = serde_json::from_value::<PostSyncConfig>(bad_target).unwrap_err();
    assert!(err.to_string().contains("airflow9"), "{err}");
}
