//! The Airbyte image contract, checked by reading every Dockerfile and metadata.yaml (no Docker engine
//! runs here; the GitHub workflow builds the images and runs `docker run --rm IMAGE spec`).

use serde_yaml::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// (connector name, folder) for every connector that ships an image.
fn connectors() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for top in ["connectors", "destinations"] {
        for e in std::fs::read_dir(root().join(top)).unwrap() {
            let p = e.unwrap().path();
            if p.join("metadata.yaml").exists() {
                out.push((p.file_name().unwrap().to_string_lossy().into_owned(), p));
            }
        }
    }
    out.sort();
    out
}

/// Dockerfile instructions of the final stage, with line continuations joined.
fn final_stage(text: &str) -> Vec<(String, String)> {
    let joined = text.replace("\\\n", " ");
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    for line in joined.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (instr, rest) = line.split_once(' ').unwrap_or((line, ""));
        let instr = instr.to_ascii_uppercase();
        if instr == "FROM" {
            stages.push(Vec::new());
        }
        stages.last_mut().expect("FROM first").push((instr, rest.trim().to_string()));
    }
    stages.pop().expect("at least one stage")
}

fn label_values(stage: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (_, rest) in stage.iter().filter(|(i, _)| i == "LABEL") {
        for part in rest.split_whitespace() {
            if let Some((k, v)) = part.split_once('=') {
                out.push((k.to_string(), v.trim_matches('"').to_string()));
            }
        }
    }
    out
}

#[test]
fn every_connector_has_metadata_and_a_dockerfile_that_match() {
    let list = connectors();
    assert!(list.len() >= 5, "expected five connectors, found {list:?}");
    for (name, dir) in list {
        let meta: Value = serde_yaml::from_str(&std::fs::read_to_string(dir.join("metadata.yaml")).unwrap()).unwrap();
        let data = &meta["data"];
        for key in [
            "name",
            "definitionId",
            "connectorType",
            "dockerRepository",
            "dockerImageTag",
            "license",
            "documentationUrl",
            "githubIssueLabel",
            "connectorSubtype",
            "releaseStage",
        ] {
            assert!(!data[key].is_null(), "{name}: metadata.yaml lacks data.{key}");
        }
        let expected_type = if name.starts_with("source-") { "source" } else { "destination" };
        assert_eq!(data["connectorType"].as_str(), Some(expected_type), "{name}");
        assert!(data["allowedHosts"]["hosts"].as_sequence().is_some_and(|h| !h.is_empty()), "{name}: allowedHosts");
        assert!(!data["supportsRefreshes"].is_null(), "{name}: supportsRefreshes");
        let docs = std::fs::read_to_string(dir.join("docs.md")).unwrap_or_else(|_| panic!("{name}: docs.md missing"));
        let image =
            format!("{}:{}", data["dockerRepository"].as_str().unwrap(), data["dockerImageTag"].as_str().unwrap());
        // Every command a user needs, with this very image (a multi-line command may wrap before the command).
        let flat = docs.replace("\\\n", " ").split_whitespace().collect::<Vec<_>>().join(" ");
        let commands: &[&str] = if expected_type == "source" {
            &["spec", "check", "discover", "read"]
        } else {
            &["spec", "check", "write"]
        };
        for command in commands {
            assert!(
                flat.contains(&format!("{image} {command}")),
                "{name}: docs.md shows no `docker run ... {image} {command}`"
            );
        }
        assert!(!docs.contains(&format!("airbyte/{name}")), "{name}: docs.md names another image than {image}");

        let dockerfile = root().join("docker").join(format!("{name}.Dockerfile"));
        let text = std::fs::read_to_string(&dockerfile).unwrap_or_else(|_| panic!("{} missing", dockerfile.display()));
        let stage = final_stage(&text);
        let from = &stage[0].1;
        assert!(
            !from.contains("scratch") && !from.contains("distroless"),
            "{name}: the image needs /bin/sh, got FROM {from}"
        );

        let entry = stage.iter().rev().find(|(i, _)| i == "ENTRYPOINT").map(|(_, r)| r.clone()).expect("ENTRYPOINT");
        let entry: Vec<String> = serde_json::from_str(&entry).expect("ENTRYPOINT in exec (JSON array) form");
        assert!(entry[0].starts_with('/'), "{name}: ENTRYPOINT must be an absolute path");
        let env = stage
            .iter()
            .filter(|(i, _)| i == "ENV")
            .find_map(|(_, r)| r.strip_prefix("AIRBYTE_ENTRYPOINT=").map(|v| v.trim_matches('"').to_string()))
            .expect("ENV AIRBYTE_ENTRYPOINT");
        assert_eq!(env, entry.join(" "), "{name}: AIRBYTE_ENTRYPOINT must equal the ENTRYPOINT");

        let labels = label_values(&stage);
        let get = |k: &str| labels.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("io.airbyte.name").as_deref(), data["dockerRepository"].as_str(), "{name}: io.airbyte.name");
        assert_eq!(get("io.airbyte.version").as_deref(), data["dockerImageTag"].as_str(), "{name}: io.airbyte.version");

        let user = stage.iter().rev().find(|(i, _)| i == "USER").map(|(_, r)| r.as_str());
        assert_eq!(user, Some("airbyte"), "{name}: run as the airbyte user");
        let runs: String = stage.iter().filter(|(i, _)| i == "RUN").map(|(_, r)| r.as_str()).collect();
        assert!(runs.contains("--uid 1000") && runs.contains("useradd"), "{name}: user airbyte with uid 1000");
        assert!(runs.contains("/airbyte"), "{name}: /airbyte owned by the airbyte user");

        // The build stage builds this very binary, and the binary is copied to the entrypoint path.
        assert!(text.contains(&format!("-p {name} --bin {name}")), "{name}: build stage builds the binary");
        assert!(
            stage.iter().any(|(i, r)| i == "COPY" && r.ends_with(&entry[0]) && r.contains(&format!("release/{name}"))),
            "{name}: the release binary is copied to the entrypoint"
        );
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{name}: a workspace package of that name exists");
    }
}

#[test]
fn the_ci_workflow_builds_every_image_and_runs_spec() {
    let wf = std::fs::read_to_string(root().join(".github/workflows/ci.yml")).expect(".github/workflows/ci.yml");
    for (name, _) in connectors() {
        assert!(wf.contains(&name), "ci.yml does not build the {name} image");
    }
    assert!(wf.contains("docker build") && wf.contains("spec"), "ci.yml builds images and runs spec");
}

#[test]
fn contract_checker_rejects_a_broken_dockerfile() {
    let broken = "FROM rust AS build\nRUN true\nFROM scratch\nENTRYPOINT [\"bin/x\"]\nENV AIRBYTE_ENTRYPOINT=/bin/x\n";
    let stage = final_stage(broken);
    assert_eq!(stage[0].1, "scratch");
    let entry: Vec<String> = serde_json::from_str(&stage.iter().find(|(i, _)| i == "ENTRYPOINT").unwrap().1).unwrap();
    assert!(!entry[0].starts_with('/'), "the checker sees the relative entrypoint");
    assert!(label_values(&stage).is_empty());
}
