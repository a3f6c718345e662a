//! The binary's `spec` output equals the golden copy, and the example config and catalog are valid.

mod common;

use serde_json::Value;

fn specs_dir() -> std::path::PathBuf {
    conformance::support::workspace_root().join("specs/destination-snowflake")
}

#[test]
fn spec_matches_golden_file() {
    let run = common::run("spec", None, None, &[]);
    assert_eq!(run.exit_code, Some(0), "{}", run.stderr);
    let golden: Value = serde_json::from_slice(&std::fs::read(specs_dir().join("spec.json")).unwrap()).unwrap();
    assert_eq!(run.messages.len(), 1);
    let spec = &run.of_type("SPEC").next().expect("a SPEC message")["spec"];
    assert_eq!(spec, &golden, "regenerate specs/destination-snowflake/spec.json after a change");
    let modes = &golden["supported_destination_sync_modes"];
    assert_eq!(modes, &serde_json::json!(["overwrite", "append", "append_dedup"]));
}

#[test]
fn example_config_and_catalog_are_valid() {
    let spec: Value = serde_json::from_slice(&std::fs::read(specs_dir().join("spec.json")).unwrap()).unwrap();
    let config: Value =
        serde_json::from_slice(&std::fs::read(specs_dir().join("examples/config.json")).unwrap()).unwrap();
    let problems = airbyte_protocol::config::schema_problems(&spec["connectionSpecification"], &config).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let parsed = destination_snowflake::config::SnowflakeConfig::from_value(&config).unwrap();
    let catalog = airbyte_protocol::files::load_catalog(&specs_dir().join("examples/configured_catalog.json")).unwrap();
    for stream in &catalog.streams {
        destination_snowflake::tables::TablePlan::new(stream, &parsed).unwrap();
    }
}
