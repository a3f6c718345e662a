//! Stdin redirected from a regular file (`destination-parquet write ... < messages.jsonl`) is mapped rather than
//! read: the same records, acknowledgements and errors as through a pipe, whatever the file's shape.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};

fn config(root: &Path) -> Value {
    json!({"destination_path": root.to_str().unwrap(), "s3_bucket_path": "base",
           "format": {"format_type": "Parquet", "compression_codec": "ZSTD"}})
}

/// What a write run said: its STATE cursors and its error messages, and the record ids it made visible.
#[derive(Debug, PartialEq)]
struct Outcome {
    acked: Vec<i64>,
    errors: Vec<String>,
    ids: Vec<i64>,
    /// The run said it mapped stdin.
    mapped: bool,
}

/// Runs `write` with stdin from `input` (a file, opened and moved to `skip` bytes in) or, if `pipe`, the same
/// bytes from `skip` on through a pipe.
fn write(dir: &Path, input: &Path, skip: u64, pipe: bool) -> Outcome {
    let root = dir.join(if pipe { "out-pipe" } else { "out-file" });
    std::fs::write(dir.join("config.json"), config(&root).to_string()).unwrap();
    let cat = catalog(vec![stream("s", None, simple_schema(), "append", None)]);
    std::fs::write(dir.join("catalog.json"), cat.to_string()).unwrap();
    let mut command = Command::new(binary());
    command.args(["write", "--config"]).arg(dir.join("config.json")).arg("--catalog").arg(dir.join("catalog.json"));
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let output = if pipe {
        let bytes = std::fs::read(input).unwrap();
        let mut child = command.stdin(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes[skip as usize..]);
        });
        let output = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        output
    } else {
        let mut file = std::fs::File::open(input).unwrap();
        file.seek(SeekFrom::Start(skip)).unwrap();
        command.stdin(Stdio::from(file)).output().unwrap()
    };
    let messages: Vec<Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let acked = messages
        .iter()
        .filter(|m| m["type"] == "STATE")
        .map(|m| m["state"]["stream"]["stream_state"]["cursor"].as_i64().unwrap())
        .collect();
    let errors = messages
        .iter()
        .filter(|m| m["type"] == "TRACE" && m["trace"]["type"] == "ERROR")
        .map(|m| m["trace"]["error"]["message"].as_str().unwrap().to_string())
        .collect();
    let ids = if root.exists() { ids_under(&read_local(&root), "base/s/") } else { Vec::new() };
    let mapped = messages.iter().any(|m| {
        m["type"] == "LOG" && m["log"]["message"].as_str().is_some_and(|t| t.contains("through a memory map"))
    });
    Outcome { acked, errors, ids, mapped }
}

/// `records` records (several 2 MB chunks' worth), a state every 1000, some lines ending in CRLF, blank lines.
fn messages(records: i64) -> Vec<u8> {
    let mut text = Vec::new();
    for i in 0..records {
        text.extend_from_slice(record("s", None, i).as_bytes());
        text.extend_from_slice(if i % 7 == 0 { b"\r\n" } else { b"\n" });
        if i % 1000 == 999 {
            text.extend_from_slice(format!("{}\n\n", state("s", None, i)).as_bytes());
        }
    }
    text
}

#[test]
fn a_file_on_stdin_gives_what_a_pipe_gives() {
    let dir = tempfile::tempdir().unwrap();
    let records = 40_000;
    let body = messages(records);
    assert!(body.len() > 3 * (2 << 20), "several chunks: {} bytes", body.len());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("plain", body.clone()),
        ("bom", [b"\xEF\xBB\xBF".as_slice(), &body].concat()),
        // The last line has no line end: it comes after the mapped whole lines.
        ("no final newline", [body.as_slice(), record("s", None, records).as_bytes()].concat()),
        // A line longer than a chunk.
        ("long line", [body.as_slice(), &huge_record(records), b"\n", state("s", None, records).as_bytes()].concat()),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&path, &bytes).unwrap();
        let (mut file, pipe) = (write(dir.path(), &path, 0, false), write(dir.path(), &path, 0, true));
        assert!(file.mapped && !pipe.mapped, "{name}: only the file is mapped");
        file.mapped = false;
        assert_eq!(file, pipe, "{name}");
        assert!(file.errors.is_empty(), "{name}: {:?}", file.errors);
        let expected: Vec<i64> =
            if name == "plain" || name == "bom" { (0..records).collect() } else { (0..=records).collect() };
        assert_eq!(file.ids, expected, "{name}");
        assert_eq!(file.acked.len() as i64, records / 1000 + i64::from(name == "long line"), "{name}");
        std::fs::remove_dir_all(dir.path().join("out-file")).unwrap();
        std::fs::remove_dir_all(dir.path().join("out-pipe")).unwrap();
    }
}

/// A record whose line is longer than an input chunk.
fn huge_record(id: i64) -> Vec<u8> {
    let data = json!({"id": id, "name": "x".repeat(3 << 20)});
    let message =
        json!({"type": "RECORD", "record": {"stream": "s", "emitted_at": 1_700_000_000_000i64, "data": data}});
    message.to_string().into_bytes()
}

#[test]
fn a_file_read_from_part_way_and_a_bad_line_deep_in_it_are_handled_as_through_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = messages(30_000);
    // Stdin already moved past some garbage (as `{ head -c N >/dev/null; destination ...; } < file` leaves it).
    let garbage = b"not a message at all\n".repeat(10);
    bytes.splice(0..0, garbage.iter().copied());
    let bad_at = bytes.len();
    bytes.extend_from_slice(b"{not json\n");
    bytes.extend_from_slice(record("s", None, 30_000).as_bytes());
    let path = dir.path().join("deep.jsonl");
    std::fs::write(&path, &bytes).unwrap();
    let (mut file, pipe) =
        (write(dir.path(), &path, garbage.len() as u64, false), write(dir.path(), &path, garbage.len() as u64, true));
    assert!(file.mapped && !pipe.mapped, "only the file is mapped");
    file.mapped = false;
    assert_eq!(file, pipe);
    // Lines count from where stdin stood: 30,000 records, 30 states and 30 blank lines before the bad one.
    assert_eq!(file.errors.len(), 1, "{file:?}");
    assert!(file.errors[0].starts_with("input line 30061: "), "{}", file.errors[0]);
    assert_eq!(file.acked.last(), Some(&29_999));
    assert_eq!(file.ids, (0..30_000).collect::<Vec<_>>());
    assert!(bad_at > 4 << 20);
}
