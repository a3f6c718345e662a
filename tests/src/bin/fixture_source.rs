//! A small example source on the protocol crate, used by the harness self-tests (not shipped).
//! `FIXTURE_DEFECT=<name>` switches on one deliberate defect (see `tests/tests/source_suite.rs`).
//!
//! Streams: `users` (incremental on `updated_at`, PK `id`), `events` (full refresh, PK `id`), `empty_stream`.

use airbyte_protocol::cli::{match_catalog, Source};
use airbyte_protocol::files::reads_incrementally;
use airbyte_protocol::{
    AirbyteCatalog, AirbyteMessage, AirbyteStream, Config, ConfiguredAirbyteCatalog, ConnectorError,
    ConnectorSpecification, InputState, Result, SourceOutput, SyncMode, TraceMessage,
};
use conformance::fixture::{defect, Edit, Tamper};
use serde_json::{json, Value};

struct FixtureSource {
    defect: String,
}

fn spec_value(defect: &str) -> Value {
    let mut spec = json!({
        "documentationUrl": "https://example.invalid/fixture-source",
        "connectionSpecification": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Fixture source",
            "type": "object",
            "required": ["api_token"],
            "additionalProperties": true,
            "properties": {
                "api_token": {"type": "string", "title": "API token", "airbyte_secret": true, "order": 0},
                "users": {"type": "integer", "title": "Users", "minimum": 0, "default": 10, "order": 1},
                "mode": {"type": "object", "title": "Mode", "order": 2, "oneOf": [
                    {"title": "Normal", "type": "object", "required": ["kind"],
                     "properties": {"kind": {"type": "string", "const": "normal", "default": "normal"}}},
                    {"title": "Crash in check", "type": "object", "required": ["kind"],
                     "properties": {"kind": {"type": "string", "const": "crash"}, "message": {"type": "string"}}}
                ]}
            }
        }
    });
    match defect {
        "secret_not_marked" => {
            spec["connectionSpecification"]["properties"]["api_token"]
                .as_object_mut()
                .unwrap()
                .remove("airbyte_secret");
        }
        "spec_differs_from_golden" => spec["connectionSpecification"]["title"] = json!("Fixture source (changed)"),
        _ => {}
    }
    spec
}

const ACCEPTED_KEY_PREFIX: &str = "good-";

impl FixtureSource {
    fn users(&self, config: &Config) -> i64 {
        config.value()["users"].as_i64().unwrap_or(10)
    }

    fn streams(&self) -> Vec<AirbyteStream> {
        let mut users = AirbyteStream::new(
            "users",
            json!({"type": "object", "additionalProperties": true, "properties": {
                "id": {"type": "integer"}, "name": {"type": ["null", "string"]}, "updated_at": {"type": "integer"},
                "address": {"type": ["null", "object"], "properties": {"city": {"type": ["null", "string"]}}},
                "tags": {"type": ["null", "array"], "items": {"type": "string"}}}}),
        );
        users.supported_sync_modes = vec![SyncMode::FullRefresh, SyncMode::Incremental];
        users.source_defined_cursor = Some(true);
        users.default_cursor_field = Some(vec!["updated_at".into()]);
        users.source_defined_primary_key = Some(vec![vec!["id".into()]]);
        let mut events = AirbyteStream::new(
            "events",
            json!({"type": "object", "properties": {"id": {"type": ["null", "integer"]}, "kind": {"type": ["null", "string"]}}}),
        );
        events.source_defined_primary_key = Some(vec![vec!["id".into()]]);
        let empty = AirbyteStream::new(
            "empty_stream",
            json!({"type": "object", "properties": {"id": {"type": ["null", "integer"]}}}),
        );
        let mut streams = vec![users, events, empty];
        let extra = |name: &str, schema: Value| AirbyteStream::new(name, schema);
        let simple = json!({"type": "object", "properties": {"id": {"type": "integer"}}});
        match self.defect.as_str() {
            "duplicate_stream_names" => streams.push(streams[1].clone()),
            "invalid_schema" => streams.push(extra("broken_schema", json!({"type": "objekt"}))),
            "allof_in_schema" => streams.push(extra(
                "with_allof",
                json!({"type": "object", "properties": {"id": {"allOf": [{"type": "integer"}]}}}),
            )),
            "pk_not_in_schema" => {
                let mut s = extra("bad_pk", simple);
                s.source_defined_primary_key = Some(vec![vec!["missing".into()]]);
                streams.push(s);
            }
            "no_sync_modes" => {
                let mut s = extra("no_modes", simple);
                s.supported_sync_modes = vec![];
                streams.push(s);
            }
            "additional_properties_false" => streams.push(extra(
                "closed",
                json!({"type": "object", "additionalProperties": false, "properties": {"id": {"type": "integer"}}}),
            )),
            "pk_object" => {
                let mut s = extra(
                    "object_pk",
                    json!({"type": "object", "properties": {"id": {"type": "object", "properties": {"a": {"type": "integer"}}}}}),
                );
                s.source_defined_primary_key = Some(vec![vec!["id".into()]]);
                streams.push(s);
            }
            _ => {}
        }
        streams
    }

    /// The output the read writes to, with this fixture's output defect (if any) applied.
    fn tampered(&self, out: &SourceOutput) -> SourceOutput {
        let defect = self.defect.clone();
        let mut first_event = true;
        let mut first_record = true;
        let edit = move |m: &mut Value| -> Edit {
            let kind = m["type"].as_str().unwrap_or_default().to_string();
            match (defect.as_str(), kind.as_str()) {
                ("undeclared_field", "RECORD") if m["record"]["stream"] == "users" => {
                    m["record"]["data"]["zzz_undeclared"] = json!(1);
                    Edit::Replace(m.clone())
                }
                ("pk_null", "RECORD") if m["record"]["stream"] == "events" && first_event => {
                    first_event = false;
                    m["record"]["data"]["id"] = Value::Null;
                    Edit::Replace(m.clone())
                }
                ("missing_source_stats", "STATE") => {
                    m["state"].as_object_mut().unwrap().remove("sourceStats");
                    Edit::Replace(m.clone())
                }
                ("legacy_state", "STATE") => Edit::Replace(
                    json!({"type": "STATE", "state": {"type": "LEGACY", "data": {m["state"]["stream"]["stream_descriptor"]["name"].as_str().unwrap_or("s"): m["state"]["stream"]["stream_state"]}, "sourceStats": m["state"]["sourceStats"]}}),
                ),
                ("wrong_status_order", "TRACE") if m["trace"]["stream_status"]["status"] == "RUNNING" => Edit::Drop,
                ("emitted_at_constant", "RECORD") => {
                    m["record"]["emitted_at"] = json!(1_600_000_000_000i64);
                    Edit::Replace(m.clone())
                }
                ("inflated_slice_counts", "STATE") => {
                    let c = m["state"]["sourceStats"]["recordCount"].as_f64().unwrap_or(0.0);
                    m["state"]["sourceStats"]["recordCount"] = json!(c * 10.0 + 10.0);
                    Edit::Replace(m.clone())
                }
                ("invalid_protocol_line", "RECORD") if first_record => {
                    first_record = false;
                    Edit::Append(vec![r#"{"type":"LOG","log":{"level":"LOUD","message":"not a level"}}"#.into()])
                }
                _ => Edit::Keep,
            }
        };
        SourceOutput::new(Tamper::output(out.output().clone(), edit))
    }
}

impl Source for FixtureSource {
    fn spec(&self) -> ConnectorSpecification {
        serde_json::from_value(spec_value(&self.defect)).expect("fixture spec")
    }

    async fn check(&self, config: &Config) -> Result<()> {
        let key = config.value()["api_token"].as_str().unwrap_or_default();
        tracing::info!("checking with api key {key}");
        if config.value()["mode"]["kind"] == "crash" {
            if self.defect == "crash_without_trace" {
                std::process::abort();
            }
            panic!("fixture crash requested (key {key})");
        }
        if !key.starts_with(ACCEPTED_KEY_PREFIX) && self.defect != "accept_any_config" {
            return Err(ConnectorError::config(format!("the API token {key} was rejected")));
        }
        if self.defect == "two_statuses" {
            println!(r#"{{"type":"CONNECTION_STATUS","connectionStatus":{{"status":"SUCCEEDED"}}}}"#);
        }
        Ok(())
    }

    async fn discover(&self, _config: &Config) -> Result<AirbyteCatalog> {
        let catalog = AirbyteCatalog { streams: self.streams(), extra: Default::default() };
        if self.defect == "two_catalogs" {
            println!("{}", serde_json::to_string(&AirbyteMessage::catalog(catalog.clone()))?);
        }
        Ok(catalog)
    }

    async fn read(
        &self,
        config: &Config,
        catalog: &ConfiguredAirbyteCatalog,
        state: &InputState,
        out: &SourceOutput,
    ) -> Result<()> {
        let key = config.value()["api_token"].as_str().unwrap_or_default();
        tracing::info!("reading with api key {key}");
        if self.defect == "leak_secret" {
            println!(r#"{{"type":"LOG","log":{{"level":"INFO","message":"key is {key}"}}}}"#);
        }
        if self.defect == "rejects_empty_state" && state.is_empty() && std::env::args().any(|a| a == "--state") {
            return Err(ConnectorError::config("a --state file must hold at least one state"));
        }
        let out = self.tampered(out);
        let discovered = AirbyteCatalog { streams: self.streams(), extra: Default::default() };
        let offset =
            if self.defect == "nondeterministic_records" { airbyte_protocol::now_millis() % 100_000 } else { 0 };
        for (configured, stream) in match_catalog(&discovered, catalog)? {
            let mut w = out.start_stream(stream.descriptor())?;
            match stream.name.as_str() {
                "users" => {
                    let incremental = reads_incrementally(configured);
                    let mut cursor = if incremental && self.defect != "ignores_state" {
                        state.stream(&stream.descriptor()).and_then(|s| s["updated_at"].as_i64()).unwrap_or(0)
                    } else {
                        0
                    };
                    if self.defect == "future_state_emits_records" && cursor > 1_000_000_000 {
                        cursor = 0;
                    }
                    let mut emitted = 0;
                    let mut latest = cursor;
                    for id in 1..=self.users(config) {
                        let updated_at = id * 10;
                        if updated_at <= cursor {
                            continue;
                        }
                        w.record(&json!({"id": id + offset, "name": format!("user {id}"), "updated_at": updated_at,
                            "address": {"city": "Berlin"}, "tags": ["a"]}))?;
                        latest = updated_at;
                        emitted += 1;
                        if emitted % 4 == 0 {
                            w.state(json!({"updated_at": latest}))?;
                        }
                    }
                    w.state(json!({"updated_at": latest}))?;
                }
                "events" => {
                    if self.defect != "missing_records" {
                        for id in 1..=3 {
                            w.record(&json!({"id": id + offset, "kind": "click"}))?;
                        }
                    }
                    w.state(json!({}))?;
                }
                _ => w.state(json!({}))?,
            }
            w.complete()?;
        }
        if self.defect == "error_trace_without_state" && !std::env::args().any(|a| a == "--state") {
            let trace = TraceMessage::error(ConnectorError::transient("a page failed after all").to_trace());
            out.output().emit(&AirbyteMessage::trace(trace))?;
        }
        Ok(())
    }
}

fn main() {
    let defect = defect();
    if defect == "no_trace_on_invalid_catalog" {
        // Dies on CAT's invalid catalog before the scaffold can report it.
        let args: Vec<String> = std::env::args().collect();
        if let Some(i) = args.iter().position(|a| a == "--catalog") {
            let text = std::fs::read_to_string(&args[i + 1]).unwrap_or_default();
            if text.contains("__AIRBYTE__") {
                std::process::exit(1);
            }
        }
    }
    if defect == "two_spec_messages" && std::env::args().nth(1).as_deref() == Some("spec") {
        println!(r#"{{"type":"SPEC","spec":{}}}"#, spec_value(&defect));
    }
    std::process::exit(airbyte_protocol::run_source(FixtureSource { defect }));
}
