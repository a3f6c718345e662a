//! The fuzz targets' bodies (tests/fuzz_bodies, also compiled by `fuzz/`) over the checked-in inputs:
//! the malformed corpus, the fuzz seed corpus, and mutations of valid messages. Any crash cargo-fuzz
//! finds goes into `fuzz/corpus/<target>/` and from then on runs here too.

mod fuzz_bodies;

use std::path::{Path, PathBuf};

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn inputs(fuzz_target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all: Vec<PathBuf> = files_under(&root.join("tests/data/malformed"));
    all.extend(files_under(&root.join("../fuzz/corpus").join(fuzz_target)));
    assert!(all.len() > 40, "corpus missing: {}", all.len());
    let mut out: Vec<Vec<u8>> = all.iter().map(|p| std::fs::read(p).unwrap()).collect();
    out.push(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes());
    out.push(format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)).into_bytes());
    out
}

/// Byte-level mutations of a valid input (deletions, substitutions, truncations).
fn mutations(valid: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..valid.len() {
        out.push([&valid[..i], &valid[i + 1..]].concat());
        out.push(valid[..i].to_vec());
        for c in [b'"', b'{', b']', b'0', b'\\', 0u8, 0xff] {
            let mut m = valid.to_vec();
            m[i] = c;
            out.push(m);
        }
    }
    out
}

#[test]
fn decode_line_target_over_corpus_and_mutations() {
    for input in inputs("decode_line") {
        fuzz_bodies::decode_lines(&input);
    }
    let valid = br#"{"type":"RECORD","record":{"stream":"s","namespace":"n","emitted_at":17,"data":{"a":[1,{"b":"c\n"}],"d":-1.5e3}}}"#;
    for m in mutations(valid) {
        fuzz_bodies::decode_lines(&m);
    }
}

#[test]
fn state_and_catalog_target_over_corpus_and_mutations() {
    for input in inputs("state_catalog") {
        fuzz_bodies::state_and_catalog(&input);
    }
    let state = br#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"a","namespace":"n"},"stream_state":{"c":1}}},{"type":"GLOBAL","global":{"shared_state":{},"stream_states":[]}}]"#;
    let catalog = br#"{"streams":[{"stream":{"name":"s","json_schema":{},"supported_sync_modes":["full_refresh"]},"sync_mode":"incremental","cursor_field":["c"],"destination_sync_mode":"append","primary_key":[["id"]]}]}"#;
    for m in mutations(state).into_iter().chain(mutations(catalog)) {
        fuzz_bodies::state_and_catalog(&m);
    }
}

#[test]
fn config_target_over_corpus_and_mutations() {
    for input in inputs("config_schema") {
        fuzz_bodies::config_against_spec(&input);
    }
    let pair = b"{\"type\":\"object\",\"required\":[\"t\"],\"properties\":{\"t\":{\"type\":\"string\",\"pattern\":\"^a+$\",\"airbyte_secret\":true},\"o\":{\"oneOf\":[{\"const\":1},{\"type\":\"string\"}]}}}\0{\"t\":\"aaa\",\"o\":1}";
    for m in mutations(pair) {
        fuzz_bodies::config_against_spec(&m);
    }
}
