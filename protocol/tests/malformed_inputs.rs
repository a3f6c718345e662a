//! The malformed-input corpus (`tests/data/malformed/`) through the shared loaders: each bad input gives
//! an error that says what and where, never a panic. The same corpus runs through the fixture binaries in
//! the conformance crate (tests/tests/malformed_inputs.rs).

use airbyte_protocol::codec::{decode_line, InputMessage, LineReader};
use airbyte_protocol::files::{self, from_value, parse_json};
use airbyte_protocol::{Config, ConfiguredAirbyteCatalog, InputState};
use serde_json::json;
use std::path::{Path, PathBuf};

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/malformed").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 5, "corpus {} is missing", dir.display());
    files
}

fn is_ok_case(p: &Path) -> bool {
    p.file_name().unwrap().to_string_lossy().starts_with("ok_")
}

/// Decode every line; returns the first error's text, or the number of messages.
fn decode_all(bytes: &[u8]) -> Result<usize, String> {
    let mut reader = LineReader::new(bytes);
    let mut n = 0;
    while let Some((number, line)) = reader.next_line().map_err(|e| e.to_string())? {
        if let InputMessage::Record(r) = decode_line(line, number).map_err(|e| e.to_string())? {
            // The destination's own decoder is the full check of `data`.
            serde_json::from_str::<serde_json::Value>(r.data.get()).map_err(|e| format!("data: {e}"))?;
        }
        n += 1;
    }
    Ok(n)
}

#[test]
fn every_malformed_line_file_gives_a_decode_error_naming_the_line() {
    for path in corpus("lines") {
        let bytes = std::fs::read(&path).unwrap();
        let result = decode_all(&bytes);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if is_ok_case(&path) {
            assert_eq!(result, Ok(2), "{name}");
        } else if name == "unknown_stream.jsonl" {
            // Well-formed: the destination rejects it against its catalog (checked through the binary).
            assert!(result.is_ok(), "{name}: {result:?}");
        } else {
            let e = result.expect_err(&name);
            assert!(e.starts_with("input line "), "{name}: error does not name the line: {e}");
        }
    }
}

#[test]
fn every_malformed_state_file_gives_a_config_error() {
    for path in corpus("state") {
        let e = InputState::load(Some(&path)).expect_err(&path.display().to_string());
        assert!(e.is_config(), "{}: {e}", path.display());
        assert!(e.message.contains("state file"), "{}: {e}", path.display());
    }
}

#[test]
fn every_malformed_catalog_gives_a_config_error_naming_the_file() {
    for path in corpus("catalog") {
        let e = files::load_catalog(&path).expect_err(&path.display().to_string());
        assert!(e.is_config(), "{}: {e}", path.display());
        assert!(e.message.contains(&*path.file_name().unwrap().to_string_lossy()), "{}: {e}", path.display());
    }
}

fn spec() -> serde_json::Value {
    json!({"type": "object", "required": ["api_token"], "properties": {
        "api_token": {"type": "string", "airbyte_secret": true}, "users": {"type": "integer"}}})
}

#[test]
fn every_malformed_config_gives_a_config_error() {
    for path in corpus("config") {
        let result = files::read_json(&path, "config").and_then(|v| Config::validate(&spec(), v));
        let e = result.expect_err(&path.display().to_string());
        assert!(e.is_config(), "{}: {e}", path.display());
    }
}

fn deep(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn ten_thousand_deep_nesting_is_an_error_not_a_stack_overflow() {
    let d = deep(10_000);
    let line = format!(r#"{{"type":"RECORD","record":{{"stream":"s","emitted_at":1,"data":{{"a":{d}}}}}}}"#);
    let e = decode_line(line.as_bytes(), 3).unwrap_err();
    assert!(e.to_string().contains("deeper than"), "{e}");
    let state = format!(r#"[{{"type":"STREAM","stream":{{"stream_descriptor":{{"name":"s"}},"stream_state":{d}}}}}]"#);
    assert!(parse_json(state.as_bytes(), "state").unwrap_err().is_config());
    let e = parse_json(deep(10_000).as_bytes(), "catalog file c.json").unwrap_err();
    assert!(e.message.contains("catalog file c.json"), "{e}");
    // Just inside serde_json's limit: the values load and the validator copes.
    let config = format!(r#"{{"api_token":"good-key","nested":{}}}"#, deep(120));
    let v = parse_json(config.as_bytes(), "config").unwrap();
    assert!(Config::validate(&spec(), v).is_ok());
    assert!(InputState::from_value(parse_json(deep(120).as_bytes(), "state").unwrap()).is_err());
    assert!(from_value::<ConfiguredAirbyteCatalog>(parse_json(deep(120).as_bytes(), "c").unwrap(), "c").is_err());
}

#[test]
fn a_fifty_megabyte_line_decodes_and_its_truncation_is_an_error() {
    let big = "x".repeat(50 * 1024 * 1024);
    let line = format!(r#"{{"type":"RECORD","record":{{"stream":"s","emitted_at":1,"data":{{"blob":"{big}"}}}}}}"#);
    let mut input = line.clone().into_bytes();
    input.push(b'\n');
    let mut reader = LineReader::new(std::io::BufReader::with_capacity(1 << 20, &input[..]));
    let (n, l) = reader.next_line().unwrap().unwrap();
    match decode_line(l, n).unwrap() {
        InputMessage::Record(r) => assert_eq!(r.data.get().len(), big.len() + 11),
        other => panic!("{other:?}"),
    }
    let truncated = &line.as_bytes()[..line.len() - 3];
    let e = decode_line(truncated, 9).unwrap_err();
    assert!(e.to_string().starts_with("input line 9"), "{}", &e.to_string()[..100]);
    assert!(e.excerpt.len() < 200, "the error quotes an excerpt, not the whole line");
}
