//! The line codec for a destination's stdin.
//!
//! [`decode_line`] parses only the envelope: `record.data` stays a borrowed [`RawValue`] so a destination
//! can decode it straight into Arrow without building a JSON tree per record. [`LineReader`] splits stdin
//! into lines, numbering them for error messages and tolerating a BOM, CRLF endings and blank lines.

use crate::message::{LogMessage, MessageType, RecordMeta, StateMessage, TraceMessage};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;

/// One decoded input line.
#[derive(Debug)]
pub enum InputMessage<'a> {
    Record(RecordRef<'a>),
    State(StateMessage),
    Trace(TraceMessage),
    Log(LogMessage),
    /// Any other valid message type (SPEC, CATALOG, CONTROL, ...): destinations ignore it.
    Other(MessageType),
}

/// A RECORD whose `data` is still raw JSON bytes.
#[derive(Debug, Deserialize)]
pub struct RecordRef<'a> {
    #[serde(borrow)]
    pub stream: Cow<'a, str>,
    #[serde(default, borrow)]
    pub namespace: Option<Cow<'a, str>>,
    #[serde(deserialize_with = "millis")]
    pub emitted_at: i64,
    #[serde(borrow)]
    pub data: &'a RawValue,
    #[serde(default)]
    pub meta: Option<RecordMeta>,
}

/// `emitted_at` is an integer in the schema, but some sources send it as a float (`1.7e12`).
fn millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("epoch milliseconds as a number")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("emitted_at out of range"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
            if v.is_finite() && v.abs() < 9.0e18 {
                Ok(v as i64)
            } else {
                Err(E::custom("emitted_at out of range"))
            }
        }
    }
    d.deserialize_any(V)
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: MessageType,
    #[serde(default, borrow)]
    record: Option<RecordRef<'a>>,
    #[serde(default, borrow)]
    state: Option<&'a RawValue>,
    #[serde(default, borrow)]
    trace: Option<&'a RawValue>,
    #[serde(default, borrow)]
    log: Option<&'a RawValue>,
}

/// Why a line could not be decoded. `Display` names the line and a short excerpt.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub line_number: u64,
    pub reason: String,
    pub excerpt: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input line {}: {} (line starts: {})", self.line_number, self.reason, self.excerpt)
    }
}
impl std::error::Error for DecodeError {}

fn excerpt(line: &[u8]) -> String {
    let cut = &line[..line.len().min(120)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if line.len() > 120 {
        s.push('…');
    }
    s
}

/// Decode one line (without its newline). `line_number` only labels errors.
pub fn decode_line(line: &[u8], line_number: u64) -> Result<InputMessage<'_>, DecodeError> {
    let err = |reason: String| DecodeError { line_number, reason, excerpt: excerpt(line) };
    let env: Envelope<'_> =
        serde_json::from_slice(line).map_err(|e| err(format!("not a valid Airbyte message: {e}")))?;
    let missing = |field: &str| err(format!("{:?} message has no `{field}` object", env.kind));
    Ok(match env.kind {
        MessageType::Record => {
            let rec = env.record.ok_or_else(|| missing("record"))?;
            if !rec.data.get().starts_with('{') {
                return Err(err("record.data is not a JSON object".into()));
            }
            InputMessage::Record(rec)
        }
        MessageType::State => {
            let raw = env.state.ok_or_else(|| missing("state"))?;
            InputMessage::State(serde_json::from_str(raw.get()).map_err(|e| err(format!("invalid state: {e}")))?)
        }
        MessageType::Trace => {
            let raw = env.trace.ok_or_else(|| missing("trace"))?;
            InputMessage::Trace(serde_json::from_str(raw.get()).map_err(|e| err(format!("invalid trace: {e}")))?)
        }
        MessageType::Log => {
            let raw = env.log.ok_or_else(|| missing("log"))?;
            InputMessage::Log(serde_json::from_str(raw.get()).map_err(|e| err(format!("invalid log: {e}")))?)
        }
        other => InputMessage::Other(other),
    })
}

/// Splits a byte stream into protocol lines.
pub struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    line_number: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(reader: R) -> Self {
        LineReader { reader, buf: Vec::with_capacity(64 * 1024), line_number: 0 }
    }

    /// The next non-blank line, without BOM or line ending, with its 1-based number; `None` at EOF.
    pub fn next_line(&mut self) -> std::io::Result<Option<(u64, &[u8])>> {
        loop {
            self.buf.clear();
            let n = self.reader.read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            self.line_number += 1;
            let mut line: &[u8] = &self.buf;
            if self.line_number == 1 {
                line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            }
            while let [rest @ .., b'\n' | b'\r'] = line {
                line = rest;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            // Re-borrow from self.buf so the returned slice lives as long as `&mut self`.
            let start = line.as_ptr() as usize - self.buf.as_ptr() as usize;
            let end = start + line.len();
            return Ok(Some((self.line_number, &self.buf[start..end])));
        }
    }

    /// Lines read so far (including blank ones).
    pub fn line_number(&self) -> u64 {
        self.line_number
    }
}

/// Split a buffer of whole lines into at most `parts` chunks of similar size, each ending at a line break,
/// so a pipeline can decode them on several cores (line numbers then restart per chunk).
pub fn split_lines_balanced(buf: &[u8], parts: usize) -> Vec<&[u8]> {
    let parts = parts.max(1);
    let target = buf.len() / parts;
    let mut chunks = Vec::with_capacity(parts);
    let mut start = 0;
    while start < buf.len() && chunks.len() + 1 < parts {
        let probe = (start + target).min(buf.len());
        let end = match memchr::memchr(b'\n', &buf[probe..]) {
            Some(i) => probe + i + 1,
            None => buf.len(),
        };
        chunks.push(&buf[start..end]);
        start = end;
    }
    if start < buf.len() {
        chunks.push(&buf[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_data_stays_raw() {
        let line = br#"{"type":"RECORD","record":{"stream":"s","data":{"a":[1,{"b":"x"}]},"emitted_at":5,"extra":1}}"#;
        match decode_line(line, 1).unwrap() {
            InputMessage::Record(r) => {
                assert_eq!(r.stream, "s");
                assert_eq!(r.emitted_at, 5);
                assert_eq!(r.data.get(), r#"{"a":[1,{"b":"x"}]}"#);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_line() {
        let e = decode_line(b"{\"type\":\"RECORD\"}", 7).unwrap_err();
        assert_eq!(e.line_number, 7);
        assert!(e.to_string().contains("no `record`"), "{e}");
        let e = decode_line(br#"{"type":"RECORD","record":{"stream":"s","data":[1],"emitted_at":1}}"#, 2).unwrap_err();
        assert!(e.reason.contains("not a JSON object"));
        assert!(decode_line(br#"{"type":"NOPE"}"#, 3).is_err());
        assert!(decode_line(b"\xff\xfe", 4).is_err());
    }

    #[test]
    fn reader_strips_bom_crlf_and_blank_lines() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\r\n  \n{\"b\":2}";
        let mut r = LineReader::new(&input[..]);
        let (n, l) = r.next_line().unwrap().unwrap();
        assert_eq!((n, l), (1, &b"{\"a\":1}"[..]));
        let (n, l) = r.next_line().unwrap().unwrap();
        assert_eq!((n, l), (4, &b"{\"b\":2}"[..]));
        assert!(r.next_line().unwrap().is_none());
    }

    #[test]
    fn balanced_split_keeps_whole_lines() {
        let input = b"aaaa\nbb\ncccccc\nd\n";
        for parts in 1..6 {
            let chunks = split_lines_balanced(input, parts);
            assert!(chunks.len() <= parts);
            assert_eq!(chunks.concat(), input.to_vec());
            assert!(chunks.iter().all(|c| c.ends_with(b"\n")), "{chunks:?}");
        }
        assert!(split_lines_balanced(b"", 2).is_empty());
        assert_eq!(split_lines_balanced(b"x", 2), vec![&b"x"[..]]);
    }
}
