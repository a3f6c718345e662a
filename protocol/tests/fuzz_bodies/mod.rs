//! The bodies of the cargo-fuzz targets in `fuzz/` (which include this file by path), shared with the
//! ordinary regression test `fuzz_regressions.rs` so every corpus input runs in `cargo test` too.
//! Each body must never panic on any input; the assertions inside are the properties fuzzing checks.
#![allow(dead_code)]

use airbyte_protocol::codec::{
    decode_line, decode_line_serde, decode_line_split, decode_line_split_expecting, fast_record, DataMember,
    ExpectedKeys, InputMessage, LineReader, ParsedNumber,
};
use airbyte_protocol::files::{from_value, parse_json, validate_catalog};
use airbyte_protocol::{Config, ConfiguredAirbyteCatalog, InputState};

/// Split stdin-like bytes into lines and decode each; the fast path must agree with serde.
pub fn decode_lines(data: &[u8]) {
    let mut reader = LineReader::new(data);
    while let Ok(Some((n, line))) = reader.next_line() {
        let decoded = decode_line(line, n);
        if let Err(e) = &decoded {
            assert!(e.to_string().starts_with(&format!("input line {n}:")), "{e}");
        }
        if let Some(fast) = fast_record(line) {
            match decode_line_serde(line, n) {
                Ok(InputMessage::Record(slow)) => {
                    assert_eq!(fast.stream, slow.stream);
                    assert_eq!(fast.namespace, slow.namespace);
                    assert_eq!(fast.emitted_at, slow.emitted_at);
                    assert_eq!(fast.data.get(), slow.data.get());
                }
                other => panic!("fast path accepted a line serde gives {other:?}"),
            }
        }
        if let Ok(InputMessage::Record(r)) = decoded {
            assert!(r.data.get().starts_with('{'));
        }
        // The split decoder gives the same message, and its members rebuild the data object.
        let mut members = Vec::new();
        if let Ok((InputMessage::Record(r), true)) = decode_line_split(line, n, &mut members) {
            let data = r.data.get();
            let rebuilt: serde_json::Map<String, serde_json::Value> = members
                .iter()
                .map(|m| (m.key(data).expect("key").into_owned(), serde_json::from_str(m.value(data)).expect("value")))
                .collect();
            let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(data).expect("data");
            assert_eq!(rebuilt, parsed);
            // A number the codec computed is exactly what the general parsers make of its text.
            for m in &members {
                let text = m.value(data);
                match m.number {
                    Some(ParsedNumber::Integer(v)) => assert_eq!(text.parse::<i64>().ok(), Some(v), "{text}"),
                    Some(ParsedNumber::Float(v)) => {
                        assert_eq!(text.parse::<f64>().ok().map(f64::to_bits), Some(v.to_bits()), "{text}")
                    }
                    None => {}
                }
            }
            // Expecting keys (every other one, in their order) changes only the marks, which name the key.
            let keys: Vec<String> = members.iter().step_by(2).map(|m| m.key(data).expect("key").into_owned()).collect();
            let expecting = ExpectedKeys::new(keys.iter().map(String::as_str));
            let mut keyed = Vec::new();
            let result = decode_line_split_expecting(line, n, &mut keyed, Some(&expecting));
            assert!(matches!(result, Ok((InputMessage::Record(_), true))));
            assert_eq!(keyed.len(), members.len());
            for (k, m) in keyed.iter().zip(&members) {
                assert_eq!(DataMember { expected: None, ..*k }, *m);
                if let Some(i) = k.expected {
                    assert_eq!(k.key(data).expect("key"), keys[i as usize]);
                }
            }
        }
    }
}

/// Load bytes as a state file and as a configured catalog.
pub fn state_and_catalog(data: &[u8]) {
    let Ok(value) = parse_json(data, "fuzz input") else { return };
    if let Err(e) = InputState::from_value(value.clone()) {
        assert!(e.is_config(), "{e}");
    }
    match from_value::<ConfiguredAirbyteCatalog>(value, "catalog") {
        Ok(catalog) => {
            let _ = validate_catalog(&catalog);
        }
        Err(e) => assert!(e.is_config(), "{e}"),
    }
}

/// Bytes as `spec NUL config`: validate the config against the spec (the spec may be any JSON).
pub fn config_against_spec(data: &[u8]) {
    let (spec, config) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (
            &b"{\"type\":\"object\",\"properties\":{\"token\":{\"type\":\"string\",\"airbyte_secret\":true}}}"[..],
            data,
        ),
    };
    let (Ok(spec), Ok(config)) = (parse_json(spec, "spec"), parse_json(config, "config")) else { return };
    let _ = airbyte_protocol::redact::collect_secrets(&spec, &config);
    if let Err(e) = Config::validate(&spec, config) {
        assert!(e.is_config() || e.message.contains("spec is not a valid JSON schema"), "{e}");
    }
}
