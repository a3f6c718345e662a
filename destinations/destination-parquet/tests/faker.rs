//! Airbyte's own source-faker piped into our destination: every stream lands with exact counts, typed
//! columns and no value nulled by us.

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};

fn source_faker() -> std::path::PathBuf {
    let root = conformance::support::workspace_root();
    for _ in 0..600 {
        if root.join(".venv/faker/.requirements.sha256").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    conformance::support::venv_tool("faker", "source-faker")
}

#[test]
fn source_faker_lands_all_streams() {
    let dir = tempfile::tempdir().unwrap();
    let faker_config = dir.path().join("faker.json");
    std::fs::write(&faker_config, json!({"count": 500, "seed": 11, "records_per_slice": 100}).to_string()).unwrap();
    let discover = Command::new(source_faker()).arg("discover").arg("--config").arg(&faker_config).output().unwrap();
    assert!(discover.status.success(), "{}", String::from_utf8_lossy(&discover.stderr));
    let catalog: Value = String::from_utf8_lossy(&discover.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|m| m["type"] == "CATALOG")
        .expect("faker printed a catalog")["catalog"]
        .clone();
    let streams: Vec<Value> = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            json!({"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite",
                        "generation_id": 1, "minimum_generation_id": 1, "sync_id": 99})
        })
        .collect();
    assert!(streams.len() >= 3, "{catalog}");
    let configured = json!({"streams": streams});
    let catalog_path = dir.path().join("catalog.json");
    std::fs::write(&catalog_path, configured.to_string()).unwrap();

    let read = Command::new(source_faker())
        .args(["read", "--config"])
        .arg(&faker_config)
        .arg("--catalog")
        .arg(&catalog_path)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(read.status.success());
    let mut expected = std::collections::BTreeMap::<String, u64>::new();
    let mut input_states = 0;
    for line in String::from_utf8_lossy(&read.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else { continue };
        match msg["type"].as_str() {
            Some("RECORD") => *expected.entry(msg["record"]["stream"].as_str().unwrap().to_string()).or_default() += 1,
            Some("STATE") => input_states += 1,
            _ => {}
        }
    }
    assert!(expected.len() >= 3 && expected.values().all(|&n| n > 0), "{expected:?}");

    let root = dir.path().join("out");
    let config = json!({"destination_path": root.to_str().unwrap(), "format": {"compression_codec": "SNAPPY"}});
    let out = run(dir.path(), &["write"], &config, Some(&configured), &read.stdout);
    assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    assert_eq!(out.states().len(), input_states, "every state acknowledged");

    let files = read_local(&root);
    let mut landed = std::collections::BTreeMap::<String, u64>::new();
    for (key, file) in files["files"].as_object().unwrap() {
        let stream = file["meta"]["airbyte.stream"].as_str().unwrap().to_string();
        assert!(key.starts_with(&format!("{stream}/")), "{key}");
        *landed.entry(stream.clone()).or_default() += file["rows"].as_u64().unwrap();
        assert!(file["changes"].as_array().unwrap().is_empty(), "{stream}: values were nulled: {}", file["changes"]);
        assert!(file["extras"].as_array().unwrap().is_empty(), "{stream}: undeclared properties: {}", file["extras"]);
        let types = &file["types"];
        assert_eq!(types["id"], "int64", "{stream}");
        assert_eq!(types["created_at"], "timestamp[us, tz=UTC]", "{stream}");
        assert_eq!(file["first"][0]["_airbyte_meta"]["sync_id"], 99);
        if stream == "users" {
            assert!(types["address"].as_str().unwrap().starts_with("struct<"), "{}", types["address"]);
            assert_eq!(types["age"], "int64");
        }
        if stream == "products" {
            assert_eq!(types["price"], "double");
        }
    }
    assert_eq!(landed, expected);
}
