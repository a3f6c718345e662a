//! Test helpers: run the binary, build messages and catalogs, read output back with pyarrow (independent).
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

pub struct Output {
    pub code: Option<i32>,
    pub messages: Vec<Value>,
    pub stderr: String,
}

impl Output {
    pub fn states(&self) -> Vec<&Value> {
        self.messages.iter().filter(|m| m["type"] == "STATE").collect()
    }
    pub fn errors(&self) -> Vec<&Value> {
        self.messages.iter().filter(|m| m["type"] == "TRACE" && m["trace"]["type"] == "ERROR").collect()
    }
    pub fn status(&self) -> Option<&Value> {
        self.messages.iter().find(|m| m["type"] == "CONNECTION_STATUS").map(|m| &m["connectionStatus"])
    }
    pub fn describe(&self) -> String {
        let lines: Vec<String> =
            self.messages.iter().map(|m| m.to_string()).filter(|l| !l.contains("\"LOG\"")).collect();
        format!("exit {:?}\n{}\nstderr: {}", self.code, lines.join("\n"), self.stderr)
    }
}

/// Run the binary with a config, an optional catalog and stdin.
pub fn run(dir: &Path, args: &[&str], config: &Value, catalog: Option<&Value>, input: &[u8]) -> Output {
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let mut cmd = Command::new(binary());
    cmd.args(args).arg("--config").arg(&config_path);
    if let Some(catalog) = catalog {
        let catalog_path = dir.join("catalog.json");
        std::fs::write(&catalog_path, catalog.to_string()).unwrap();
        cmd.arg("--catalog").arg(&catalog_path);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    parse_output(out.status.code(), &out.stdout, &out.stderr)
}

pub fn parse_output(code: Option<i32>, stdout: &[u8], stderr: &[u8]) -> Output {
    let text = String::from_utf8_lossy(stdout);
    let messages = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}")))
        .collect();
    Output { code, messages, stderr: String::from_utf8_lossy(stderr).into_owned() }
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
    let mut r = json!({"type": "RECORD", "record": {"stream": stream, "emitted_at": 1_700_000_000_000i64 + id,
        "data": {"id": id, "name": format!("n{id}"), "price": id as f64 / 4.0, "day": "2024-02-29",
                 "at": "2024-02-29T12:00:00Z", "tags": ["a", "b"], "address": {"city": "Köln"}}}});
    if let Some(ns) = namespace {
        r["record"]["namespace"] = json!(ns);
    }
    r.to_string()
}

pub fn state(stream: &str, namespace: Option<&str>, cursor: i64) -> String {
    let mut d = json!({"name": stream});
    if let Some(ns) = namespace {
        d["namespace"] = json!(ns);
    }
    json!({"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": d, "stream_state": {"cursor": cursor}}}})
        .to_string()
}

pub fn status(stream: &str, namespace: Option<&str>, status: &str) -> String {
    let mut d = json!({"name": stream});
    if let Some(ns) = namespace {
        d["namespace"] = json!(ns);
    }
    json!({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1.0,
        "stream_status": {"stream_descriptor": d, "status": status}}})
    .to_string()
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
            "extras": [x for x in table.column("_airbyte_additional_properties").to_pylist() if x]}
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
