//! A small example destination on the protocol crate, used by the harness self-tests (not shipped).
//! It appends each record's `data` to `<destination_path>/<namespace>__<stream>.jsonl`, makes the file
//! durable at every STATE, then acks through the protocol crate's [`AckTracker`].
//! `FIXTURE_DEFECT=<name>` switches on one deliberate defect (see `tests/tests/destination_suite.rs`).

use airbyte_protocol::cli::{Destination, Input};
use airbyte_protocol::codec::{decode_line, InputMessage, LineReader};
use airbyte_protocol::destination::{AckTracker, StreamIndex};
use airbyte_protocol::{
    Config, ConfiguredAirbyteCatalog, ConnectorError, ConnectorSpecification, Output, Result, ResultExt,
};
use conformance::fixture::{defect, Edit, Tamper};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;

struct FixtureDestination {
    defect: String,
}

impl FixtureDestination {
    fn root(config: &Config) -> PathBuf {
        PathBuf::from(config.value()["destination_path"].as_str().unwrap_or_default())
    }

    fn tampered(&self, out: &Output) -> Output {
        let defect = self.defect.clone();
        let mut states = 0;
        let edit = move |m: &mut Value| -> Edit {
            if m["type"] != "STATE" {
                return Edit::Keep;
            }
            states += 1;
            match defect.as_str() {
                "acks_out_of_order" if states == 2 => Edit::HoldUntilNext,
                "drops_state" if states == 2 => Edit::Drop,
                "wrong_count" => {
                    let c = m["state"]["destinationStats"]["recordCount"].as_f64().unwrap_or(0.0);
                    m["state"]["destinationStats"]["recordCount"] = json!(c + 1.0);
                    Edit::Replace(m.clone())
                }
                "count_without_decimal" => {
                    let c = m["state"]["destinationStats"]["recordCount"].as_f64().unwrap_or(0.0);
                    m["state"]["destinationStats"]["recordCount"] = json!(c as u64);
                    Edit::Replace(m.clone())
                }
                "fabricated_ack" if states == 1 => {
                    Edit::Append(vec![json!({"type": "STATE", "state": {"type": "STREAM",
                    "stream": {"stream_descriptor": {"name": "users"}, "stream_state": {"made": "up"}},
                    "destinationStats": {"recordCount": 0.0}}})
                    .to_string()])
                }
                "alters_state" => {
                    m["state"].as_object_mut().expect("state object").remove("unknown_field_kept");
                    Edit::Replace(m.clone())
                }
                _ => Edit::Keep,
            }
        };
        Tamper::output(out.clone(), edit)
    }
}

impl Destination for FixtureDestination {
    fn spec(&self) -> ConnectorSpecification {
        let mut spec = json!({
            "documentationUrl": "https://example.invalid/fixture-destination",
            "supported_destination_sync_modes": ["append", "overwrite"],
            "connectionSpecification": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "title": "Fixture destination",
                "type": "object",
                "required": ["destination_path"],
                "additionalProperties": true,
                "properties": {
                    "destination_path": {"type": "string", "title": "Destination folder", "order": 0},
                    "api_key": {"type": "string", "title": "API key", "airbyte_secret": true, "order": 1}
                }
            }
        });
        if self.defect == "spec_differs_from_golden" {
            spec["connectionSpecification"]["required"] = json!([]);
        }
        serde_json::from_value(spec).expect("fixture spec")
    }

    async fn check(&self, config: &Config) -> Result<()> {
        let root = Self::root(config);
        let key = config.value()["api_key"].as_str().unwrap_or_default();
        tracing::info!("checking {} with key {key}", root.display());
        if config.value()["crash"] == true {
            panic!("fixture crash requested (key {key})");
        }
        if !root.is_dir() && self.defect != "accept_any_config" {
            return Err(ConnectorError::config(format!(
                "destination_path {} is not a folder (key {key})",
                root.display()
            )));
        }
        Ok(())
    }

    async fn write(
        &self,
        config: &Config,
        catalog: &ConfiguredAirbyteCatalog,
        input: Input,
        out: &Output,
    ) -> Result<()> {
        let root = Self::root(config);
        let key = config.value()["api_key"].as_str().unwrap_or_default();
        if self.defect == "leak_secret" {
            eprintln!("connecting with {key}");
        }
        let index = StreamIndex::new(catalog);
        let mut files = Vec::new();
        for i in 0..index.len() {
            let d = index.descriptor(i);
            let name = format!("{}__{}.jsonl", d.namespace.as_deref().unwrap_or("default"), d.name);
            let safe: String =
                name.chars().map(|c| if c.is_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
            let path = root.join(safe);
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .config_context(format!("cannot open {}", path.display()))?;
            files.push(std::io::BufWriter::new(f));
        }
        let out = self.tampered(out);
        let mut tracker = AckTracker::new(out.clone(), index);
        let mut reader = LineReader::new(input.into_reader());
        let make_durable = |files: &mut Vec<std::io::BufWriter<std::fs::File>>| -> Result<()> {
            for f in files.iter_mut() {
                f.flush()?;
                f.get_ref().sync_data()?;
            }
            Ok(())
        };
        while let Some((n, line)) = reader.next_line().config_context("cannot read stdin")? {
            match decode_line(line, n).map_err(|e| ConnectorError::config(e.to_string()))? {
                InputMessage::Record(r) => {
                    let i = tracker.index().require(&r.stream, r.namespace.as_deref(), n)?;
                    files[i].write_all(r.data.get().as_bytes())?;
                    files[i].write_all(b"\n")?;
                    tracker.record(i, 1);
                }
                InputMessage::State(s) => {
                    tracker.state(*s, n)?;
                    make_durable(&mut files)?;
                    tracker.commit(tracker.position())?;
                }
                InputMessage::Trace(t) => tracker.trace(&t),
                InputMessage::Log(_) | InputMessage::Other(_) => {}
            }
        }
        make_durable(&mut files)?;
        tracker.commit(tracker.position())?;
        drop(tracker);
        drop(out);
        if self.defect == "exit_nonzero" {
            return Err(ConnectorError::system("finalisation failed"));
        }
        Ok(())
    }
}

fn main() {
    std::process::exit(airbyte_protocol::run_destination(FixtureDestination { defect: defect() }));
}
