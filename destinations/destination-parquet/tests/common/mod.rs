//! Test helpers: run the binary, build messages and catalogs, read output back with pyarrow (independent).
#![allow(dead_code)]

use conformance::messages;
use conformance::process::Launcher;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_destination-parquet"))
}

/// The pyarrow/duckdb venv's python, waiting for `tests/python/setup.sh` to finish if it is running.
pub fn tools_python() -> PathBuf {
    let root = conformance::support::workspace_root();
    let marker = root.join(".venv/tools/.requirements.sha256");
    for _ in 0..600 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    conformance::support::venv_tool("tools", "python")
}

/// One run of the binary: exit code, messages, stderr (`states()`, `errors()`, `connection_status()`,
/// `transcript()` for failure messages).
pub type Output = conformance::process::Run;

/// Run the binary with a config, an optional catalog and stdin; every stdout line must be a JSON message.
pub fn run(dir: &Path, args: &[&str], config: &Value, catalog: Option<&Value>, input: &[u8]) -> Output {
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend(["--config".to_string(), config_path.to_string_lossy().into_owned()]);
    if let Some(catalog) = catalog {
        let catalog_path = dir.join("catalog.json");
        std::fs::write(&catalog_path, catalog.to_string()).unwrap();
        args.extend(["--catalog".to_string(), catalog_path.to_string_lossy().into_owned()]);
    }
    let launcher = Launcher { binary: binary(), env: Vec::new(), timeout: Duration::from_secs(900) };
    launcher.run(&args.iter().map(String::as_str).collect::<Vec<_>>(), Some(input)).only_messages()
}

/// A configured stream with the given JSON schema.
pub fn stream(name: &str, namespace: Option<&str>, schema: Value, mode: &str, generation: Option<(i64, i64)>) -> Value {
    let mut s = json!({
        "stream": {"name": name, "json_schema": schema, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": "full_refresh",
        "destination_sync_mode": mode,
        "sync_id": 7
    });
    if let Some(ns) = namespace {
        s["stream"]["namespace"] = json!(ns);
    }
    if let Some((generation_id, minimum)) = generation {
        s["generation_id"] = json!(generation_id);
        s["minimum_generation_id"] = json!(minimum);
    }
    s
}

pub fn catalog(streams: Vec<Value>) -> Value {
    json!({ "streams": streams })
}

pub fn simple_schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": ["null", "string"]}, "price": {"type": "number"},
        "day": {"type": "string", "format": "date"}, "at": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {"type": "object", "properties": {"city": {"type": "string"}}}
    }})
}

pub fn record(stream: &str, namespace: Option<&str>, id: i64) -> String {
    let data = json!({"id": id, "name": format!("n{id}"), "price": id as f64 / 4.0, "day": "2024-02-29",
                      "at": "2024-02-29T12:00:00Z", "tags": ["a", "b"], "address": {"city": "Köln"}});
    messages::record(stream, namespace, data, 1_700_000_000_000i64 + id).to_string()
}

pub fn state(stream: &str, namespace: Option<&str>, cursor: i64) -> String {
    messages::stream_state(stream, namespace, json!({"cursor": cursor})).to_string()
}

pub fn status(stream: &str, namespace: Option<&str>, status: &str) -> String {
    messages::stream_status(stream, namespace, status).to_string()
}

pub fn lines(lines: &[String]) -> Vec<u8> {
    let mut s = lines.join("\n");
    s.push('\n');
    s.into_bytes()
}

/// What pyarrow sees: every Parquet file under `root` (local dir) or an S3 prefix, with rows, types, the
/// `id` values and footer metadata.
pub const READER: &str = r#"
import json, sys, pyarrow.parquet as pq, pyarrow.fs as pafs
spec = json.loads(sys.argv[1])
if spec.get("endpoint"):
    fs = pafs.S3FileSystem(endpoint_override=spec["endpoint"], scheme="http", access_key="test", secret_key="test", region="us-east-1")
    base = spec["bucket"]
else:
    fs = pafs.LocalFileSystem()
    base = spec["root"]
out = {"files": {}, "other": []}
for info in fs.get_file_info(pafs.FileSelector(base, recursive=True)):
    if info.type != pafs.FileType.File:
        continue
    rel = info.path[len(base):].lstrip("/")
    if not rel.endswith(".parquet"):
        out["other"].append(rel)
        continue
    with fs.open_input_file(info.path) as f:
        pf = pq.ParquetFile(f)
        table = pf.read()
        meta = {k.decode(): v.decode() for k, v in (pf.metadata.metadata or {}).items() if not k.startswith(b"ARROW")}
        ids = table.column("id").to_pylist() if "id" in table.column_names else []
        changes = table.column("_airbyte_meta").to_pylist()
        out["files"][rel] = {"rows": table.num_rows, "row_groups": pf.num_row_groups,
            "types": {f.name: str(f.type) for f in table.schema}, "ids": ids, "meta": meta,
            "first": json.loads(json.dumps(table.slice(0, 1).to_pylist(), default=str)),
            "changes": [c["changes"] for c in changes if c["changes"]],
            "extras": [x for x in table.column("_airbyte_additional_properties").to_pylist() if x],
            "has_min_max": {c.path_in_schema: bool(c.statistics and c.statistics.has_min_max)
                            for c in (pf.metadata.row_group(0).column(i) for i in range(pf.metadata.num_columns))}
                           if pf.num_row_groups else {},
            "dictionary": {c.path_in_schema: any(e.endswith("DICTIONARY") for e in c.encodings)
                           for c in (pf.metadata.row_group(0).column(i) for i in range(pf.metadata.num_columns))}
                          if pf.num_row_groups else {}}
print(json.dumps(out))
"#;

pub fn read_back(spec: Value) -> Value {
    let out = Command::new(tools_python()).arg("-c").arg(READER).arg(spec.to_string()).output().unwrap();
    assert!(out.status.success(), "pyarrow reader failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn read_local(root: &Path) -> Value {
    read_back(json!({"root": root.to_str().unwrap()}))
}

/// All `id` values per stream directory prefix (the part of the key before the file name).
pub fn ids_under(files: &Value, prefix: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = files["files"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .flat_map(|(_, f)| f["ids"].as_array().unwrap().iter().filter_map(Value::as_i64))
        .collect();
    ids.sort_unstable();
    ids
}
