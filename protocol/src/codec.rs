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
    // Boxed: a state or trace is rare beside records, and inline they made every decoded record ~730 bytes.
    State(Box<StateMessage>),
    Trace(Box<TraceMessage>),
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
    /// Boxed: most records carry none, and inline it doubled the size of every decoded record.
    #[serde(default)]
    pub meta: Option<Box<RecordMeta>>,
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
///
/// RECORD lines take a fast path ([`fast_record`]): one validating pass over the bytes that borrows
/// `stream` and `data`. Anything it does not handle (other message types, escapes in names, `meta`,
/// float timestamps, deep nesting, any error) goes through serde, which then decides and words the error.
#[inline]
pub fn decode_line(line: &[u8], line_number: u64) -> Result<InputMessage<'_>, DecodeError> {
    if let Some(record) = fast_record(line) {
        return Ok(InputMessage::Record(record));
    }
    decode_line_serde(line, line_number)
}

/// What a top-level value of `record.data` is, as seen by the validating scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// `escaped`: the string holds backslash escapes (its raw text is not its value).
    String {
        escaped: bool,
    },
    /// `integer`: no fraction and no exponent.
    Number {
        integer: bool,
    },
    Bool,
    Null,
    Object,
    Array,
}

/// One top-level member of `record.data`: byte ranges into the data text (`RecordRef::data.get()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataMember {
    /// The key's content between its quotes. (Offsets are `u32`, which keeps a member at 40 bytes: lines of
    /// 4 GiB or more are not split.)
    pub key: (u32, u32),
    pub key_escaped: bool,
    /// The value's whole JSON text.
    pub value: (u32, u32),
    pub kind: ValueKind,
    /// A number's value, when the scan could compute it exactly ([`ParsedNumber`]); `None` otherwise.
    pub number: Option<ParsedNumber>,
    /// Which of the caller's [`ExpectedKeys`] the key is, when the split was given them and the key was
    /// found where they expect it; `None` for every other key (it is then only in `key`).
    pub expected: Option<u16>,
}

/// The keys a destination expects in `record.data`, in the order it expects them (a stream's schema order):
/// [`decode_line_split_expecting`] recognises a key found in that order by comparing its bytes, `"key":`
/// at once, instead of scanning it, and tells the caller which one it is ([`DataMember::expected`]).
#[derive(Debug, Clone, Default)]
pub struct ExpectedKeys {
    /// `None` for a key whose JSON text needs escapes (never recognised: it goes the general way).
    keys: Vec<Option<KeyText>>,
}

/// A key's JSON text with its colon (`"key":`), and its first 16 bytes as one word with a mask.
#[derive(Debug, Clone)]
struct KeyText {
    text: Box<[u8]>,
    word: u128,
    mask: u128,
}

impl ExpectedKeys {
    /// At most `u16::MAX` keys are recognised; any after them go the general way.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        let keys = keys
            .into_iter()
            .take(u16::MAX as usize)
            .map(|key| {
                // A key with a quote, a backslash or a control character has more than one JSON spelling.
                if key.bytes().any(|b| STRING_STOP[b as usize]) {
                    return None;
                }
                let text: Box<[u8]> = [b"\"", key.as_bytes(), b"\":"].concat().into();
                let (mut word, mut mask) = ([0u8; 16], [0u8; 16]);
                let n = text.len().min(16);
                word[..n].copy_from_slice(&text[..n]);
                mask[..n].fill(0xFF);
                Some(KeyText { text, word: u128::from_le_bytes(word), mask: u128::from_le_bytes(mask) })
            })
            .collect();
        ExpectedKeys { keys }
    }

    /// The expected key `index` as `"key":` at `pos` of `s`: its length.
    #[inline(always)]
    fn at(&self, index: usize, s: &[u8], pos: usize) -> Option<usize> {
        let key = self.keys.get(index)?.as_ref()?;
        let len = key.text.len();
        let found = match s.get(pos..pos + 16) {
            Some(window) if len <= 16 => {
                let window = u128::from_le_bytes(window.try_into().expect("16 bytes"));
                (window ^ key.word) & key.mask == 0
            }
            _ => s.get(pos..pos + len) == Some(&key.text[..]),
        };
        found.then_some(len)
    }
}

/// A JSON number's value as the codec computed it while validating, for the cheap exact cases only. Anything
/// else (exponents, longer digit strings, `-0`) is `None` and left to the general parsers.
#[derive(Debug, Clone, Copy)]
pub enum ParsedNumber {
    /// An integer of at most 18 digits, equal to `str::parse::<i64>` of its text (never from `-0`).
    Integer(i64),
    /// A number with a fraction and no exponent whose digits, read as an integer, are at most 2^53 (and at
    /// most 19 of them), so `mantissa / 10^fraction_digits` is exact and equal to `str::parse::<f64>`.
    Float(f64),
}

// Floats compare by their bits (`-0.0` is not `0.0`), which makes equality exact and total.
impl PartialEq for ParsedNumber {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ParsedNumber::Integer(a), ParsedNumber::Integer(b)) => a == b,
            (ParsedNumber::Float(a), ParsedNumber::Float(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}
impl Eq for ParsedNumber {}

/// Exact powers of ten for [`ParsedNumber::Float`].
const POW10: [f64; 19] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18];

/// The value of `text` when it is exactly one JSON number the codec computes itself ([`ParsedNumber`]):
/// the same rule [`decode_line_split`] applies to the members of `record.data`. `None` for other text
/// (including leading zeros, a leading `+`, surrounding space) and for numbers outside the cheap exact cases.
pub fn parse_number(text: &[u8]) -> Option<ParsedNumber> {
    let mut scan = Scanner { s: text, pos: 0, quotes: None, expected: None };
    let (_, parsed) = scan.number()?;
    if scan.pos == text.len() {
        parsed
    } else {
        None
    }
}

impl DataMember {
    /// The key, unescaped when it holds escapes (`None` only for text that is not the data it came from).
    pub fn key<'a>(&self, data: &'a str) -> Option<Cow<'a, str>> {
        let raw = data.get(self.key.0 as usize..self.key.1 as usize)?;
        if !self.key_escaped {
            return Some(Cow::Borrowed(raw));
        }
        serde_json::from_str::<String>(data.get(self.key.0 as usize - 1..self.key.1 as usize + 1)?).ok().map(Cow::Owned)
    }

    /// The value's JSON text.
    pub fn value<'a>(&self, data: &'a str) -> &'a str {
        data.get(self.value.0 as usize..self.value.1 as usize).unwrap_or("null")
    }
}

/// [`decode_line`] that also splits `record.data` into its top-level members while it validates, so a
/// destination need not scan the data again. `members` is cleared; it is filled, and `true` returned beside
/// the message, when the fast path decoded the record (otherwise the caller scans `data` itself).
#[inline]
pub fn decode_line_split<'a>(
    line: &'a [u8],
    line_number: u64,
    members: &mut Vec<DataMember>,
) -> Result<(InputMessage<'a>, bool), DecodeError> {
    decode_line_split_expecting(line, line_number, members, None)
}

/// [`decode_line_split`] for a caller that expects certain keys, in order (a stream's schema): those found
/// where expected are recognised by their bytes and marked in [`DataMember::expected`]. The members are the
/// same either way (keys in another order, missing or unknown ones go the general way).
#[inline]
pub fn decode_line_split_expecting<'a>(
    line: &'a [u8],
    line_number: u64,
    members: &mut Vec<DataMember>,
    expected: Option<&ExpectedKeys>,
) -> Result<(InputMessage<'a>, bool), DecodeError> {
    members.clear();
    // Member offsets are u32: a longer line is not split (the caller then scans `data` itself).
    if line.len() > u32::MAX as usize {
        return decode_line(line, line_number).map(|m| (m, false));
    }
    if let Some(record) = fast_record_with(line, Some(members), expected) {
        return Ok((InputMessage::Record(record), true));
    }
    members.clear();
    decode_line_serde(line, line_number).map(|m| (m, false))
}

/// The serde-only decoder: the reference [`decode_line`]'s fast path must agree with (used by tests and fuzzing).
#[doc(hidden)]
pub fn decode_line_serde(line: &[u8], line_number: u64) -> Result<InputMessage<'_>, DecodeError> {
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
            // serde_json skips raw values without its recursion limit; keep every consumer of `data`
            // (which may build a tree recursively) safe from stack exhaustion.
            if nesting_depth(rec.data.get().as_bytes()) > MAX_DATA_DEPTH {
                return Err(err(format!("record.data nests deeper than {MAX_DATA_DEPTH} levels")));
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

/// Deepest nesting accepted in `record.data` (serde_json's recursion limit for a `Value`).
pub const MAX_DATA_DEPTH: usize = 127;

/// Deepest array/object nesting of valid JSON text (strings skipped).
fn nesting_depth(json: &[u8]) -> usize {
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    while i < json.len() {
        match json[i] {
            b'"' => {
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

/// The fast path of [`decode_line`] for RECORD lines; `None` means "let serde decide".
///
/// It returns a record only for lines serde would accept with the same result: the whole line is
/// validated as JSON (strings, escapes, numbers, literals, nesting up to [`FAST_MAX_DEPTH`], nothing after the
/// object), known keys must not repeat, and `data` is handed out as a borrowed [`RawValue`] without a
/// second pass.
#[doc(hidden)]
pub fn fast_record(line: &[u8]) -> Option<RecordRef<'_>> {
    fast_record_with(line, None, None)
}

fn fast_record_with<'a>(
    line: &'a [u8],
    mut members: Option<&mut Vec<DataMember>>,
    expected: Option<&ExpectedKeys>,
) -> Option<RecordRef<'a>> {
    let mut mask = [0u64; QUOTE_MASK_WORDS];
    let scan = quote_mask(line, &mut mask);
    let text = if scan == MaskScan::Ascii {
        // SAFETY: `quote_mask` looked at every byte of the line and saw none at or above 0x80, and ASCII text
        // is valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(line) }
    } else {
        simdutf8::basic::from_utf8(line).ok()?
    };
    let quotes = (scan != MaskScan::GaveUp).then_some(&mask[..]);
    let mut sc = Scanner { s: line, pos: 0, quotes, expected };
    match sc.canonical_record(text, members.as_deref_mut()) {
        Ok(record) => return Some(record),
        // A value the general way would reject too, or `meta` (left to serde): no second pass.
        Err(Shortcut::Rejected) => return None,
        Err(Shortcut::Unusual) => {}
    }
    // Any other line from the start, the general way (which decides every line the shortcut left).
    if let Some(members) = members.as_deref_mut() {
        members.clear();
    }
    sc.pos = 0;
    sc.ws();
    sc.eat(b'{')?;
    let (mut seen_type, mut record, mut others) = (false, None, [false; 3]);
    sc.ws();
    loop {
        let key = sc.plain_string()?;
        sc.colon()?;
        match key {
            b"type" => {
                if std::mem::replace(&mut seen_type, true) || sc.plain_string()? != b"RECORD" {
                    return None;
                }
            }
            b"record" => {
                if record.is_some() {
                    return None;
                }
                record = Some(sc.record(text, members.as_deref_mut())?);
            }
            b"state" | b"trace" | b"log" => {
                let i = match key {
                    b"state" => 0,
                    b"trace" => 1,
                    _ => 2,
                };
                if std::mem::replace(&mut others[i], true) {
                    return None;
                }
                sc.value(1)?;
            }
            _ => sc.value(1)?,
        }
        match sc.separator()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    sc.ws();
    if sc.pos != line.len() || !seen_type {
        return None;
    }
    record
}

/// `-?[0-9]{1,18}` as an i64 (18 digits cannot overflow); `None` for anything else, which callers hand to the
/// general parser. Cheaper than `str::parse` for the short integers records are full of.
#[inline]
pub fn short_integer(b: &[u8]) -> Option<i64> {
    let (negative, digits) = match b {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v = 0i64;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Some(if negative { -v } else { v })
}

/// Nesting the fast path validates itself (serde_json's own limit is 128; deeper input goes to serde).
pub const FAST_MAX_DEPTH: usize = 100;

/// Bytes that end a run of plain string content: quote, backslash, control characters.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Index of the first quote, backslash or control character in `s`, eight bytes at a time.
fn find_string_stop(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let quote = w ^ (ONES * b'"' as u64);
        let backslash = w ^ (ONES * b'\\' as u64);
        // Classic "has zero byte" / "has byte below n" tests; the lowest flagged byte is exact.
        let hits = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | w.wrapping_sub(ONES * 0x20) & !w)
            & HIGH;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..].iter().position(|&b| STRING_STOP[b as usize]).map(|p| i + p)
}

/// Lines up to this many 64-byte blocks get a quote mask (longer ones use the byte scan throughout).
const QUOTE_MASK_WORDS: usize = 32;

/// What [`quote_mask`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MaskScan {
    /// The mask is complete and the line is all ASCII (so valid UTF-8).
    Ascii,
    /// The mask is complete; the line holds bytes at or above 0x80, still to be checked as UTF-8.
    NonAscii,
    /// A backslash or control byte, or a line too long: no mask, and the bytes after the stop were not seen.
    GaveUp,
}

/// Sets bit `i` of `mask` where `line[i]` is a quote, noting on the way whether any byte is at or above 0x80.
/// Gives up, leaving strings to the byte scan, if the line holds a backslash or a control byte (escapes, tabs,
/// invalid text) or is too long. Otherwise every quote delimits a string, so a string ends at the first quote
/// after its opening one.
fn quote_mask(line: &[u8], mask: &mut [u64; QUOTE_MASK_WORDS]) -> MaskScan {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2 (checked at run time).
        return unsafe { quote_mask_avx2(line, mask) };
    }
    quote_mask_with(line, mask, block_masks)
}

/// Whether the CPU has AVX2 (std caches the answer).
#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// [`quote_mask`] with 32-byte vectors: half the vector operations per block.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quote_mask_avx2(line: &[u8], mask: &mut [u64; QUOTE_MASK_WORDS]) -> MaskScan {
    // SAFETY: this function runs only where AVX2 is available (its caller's contract).
    quote_mask_with(line, mask, |block| unsafe { block_masks_avx2(block) })
}

/// The body of [`quote_mask`], with the block scan given (inlined into each variant).
#[inline(always)]
fn quote_mask_with(
    line: &[u8],
    mask: &mut [u64; QUOTE_MASK_WORDS],
    block_masks: impl Fn(&[u8; 64]) -> (u64, u64, bool),
) -> MaskScan {
    if line.len() > QUOTE_MASK_WORDS * 64 {
        return MaskScan::GaveUp;
    }
    let mut blocks = line.chunks_exact(64);
    let mut high = false;
    for (word, block) in mask.iter_mut().zip(blocks.by_ref()) {
        let block: &[u8; 64] = block.try_into().expect("64-byte block");
        match block_masks(block) {
            (quotes, 0, block_high) => {
                *word = quotes;
                high |= block_high;
            }
            _ => return MaskScan::GaveUp,
        }
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        // The tail, padded with spaces (no quote, special or high byte), goes through the same block scan.
        let mut padded = [b' '; 64];
        padded[..tail.len()].copy_from_slice(tail);
        match block_masks(&padded) {
            (quotes, 0, block_high) => {
                mask[line.len() / 64] = quotes;
                high |= block_high;
            }
            _ => return MaskScan::GaveUp,
        }
    }
    if high {
        MaskScan::NonAscii
    } else {
        MaskScan::Ascii
    }
}

/// (quotes, backslashes or control bytes) of a 64-byte block, one bit per byte, and whether any byte is at
/// or above 0x80.
#[cfg(target_arch = "x86_64")]
fn block_masks(block: &[u8; 64]) -> (u64, u64, bool) {
    use std::arch::x86_64::*;
    let (mut quotes, mut special) = (0u64, 0u64);
    // SAFETY: SSE2 is part of the x86_64 baseline.
    let mut any = unsafe { _mm_setzero_si128() };
    for (k, lane) in block.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is part of the x86_64 baseline; the load reads the 16 bytes of `lane`, unaligned.
        let (q, sp) = unsafe {
            let v = _mm_loadu_si128(lane.as_ptr().cast());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // Unsigned v <= 0x1f exactly when min(v, 0x1f) == v.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
            any = _mm_or_si128(any, v);
            (_mm_movemask_epi8(quote) as u16, _mm_movemask_epi8(_mm_or_si128(backslash, control)) as u16)
        };
        quotes |= u64::from(q) << (16 * k);
        special |= u64::from(sp) << (16 * k);
    }
    // SAFETY: SSE2 is part of the x86_64 baseline. The movemask collects each byte's top bit.
    let high = unsafe { _mm_movemask_epi8(any) } != 0;
    (quotes, special, high)
}

/// [`block_masks`] with two 32-byte vectors.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn block_masks_avx2(block: &[u8; 64]) -> (u64, u64, bool) {
    use std::arch::x86_64::*;
    let (mut quotes, mut special) = (0u64, 0u64);
    let mut any = _mm256_setzero_si256();
    for (k, lane) in block.chunks_exact(32).enumerate() {
        // SAFETY: the load reads the 32 bytes of `lane`, unaligned.
        let v = unsafe { _mm256_loadu_si256(lane.as_ptr().cast()) };
        let quote = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'"' as i8));
        let backslash = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\\' as i8));
        // Unsigned v <= 0x1f exactly when min(v, 0x1f) == v.
        let control = _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1f)), v);
        any = _mm256_or_si256(any, v);
        quotes |= u64::from(_mm256_movemask_epi8(quote) as u32) << (32 * k);
        special |= u64::from(_mm256_movemask_epi8(_mm256_or_si256(backslash, control)) as u32) << (32 * k);
    }
    (quotes, special, _mm256_movemask_epi8(any) != 0)
}

/// (quotes, backslashes or control bytes) of a 64-byte block, one bit per byte, and whether any byte is at
/// or above 0x80.
#[cfg(not(target_arch = "x86_64"))]
fn block_masks(block: &[u8; 64]) -> (u64, u64, bool) {
    block_masks_portable(block)
}

/// [`block_masks`] without SIMD (also built in tests, which compare both).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn block_masks_portable(block: &[u8; 64]) -> (u64, u64, bool) {
    let (mut quotes, mut special, mut all_bits) = (0u64, 0u64, 0u8);
    for (i, &b) in block.iter().enumerate() {
        quotes |= u64::from(b == b'"') << i;
        special |= u64::from(b == b'\\' || b < 0x20) << i;
        all_bits |= b;
    }
    (quotes, special, all_bits >= 0x80)
}

/// The number of ASCII digits at `s[from..]`, eight bytes at a time while eight remain.
#[inline(always)]
fn digit_run(s: &[u8], from: usize) -> usize {
    const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let mut n = 0;
    while let Some(bytes) = s.get(from + n..from + n + 8) {
        // A byte is a digit iff, less '0', it is at most 9: no high nibble, also after adding 6.
        let v = u64::from_le_bytes(bytes.try_into().expect("8 bytes")) ^ 0x3030_3030_3030_3030;
        let other = (v | v.wrapping_add(0x0606_0606_0606_0606)) & HIGH_NIBBLES;
        if other != 0 {
            return n + (other.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + s[from + n..].iter().take_while(|b| b.is_ascii_digit()).count()
}

/// Position of the first set bit at or after `from`.
#[inline]
fn next_set_bit(mask: &[u64], from: usize) -> Option<usize> {
    let mut word = from / 64;
    let mut bits = *mask.get(word)? & (!0u64 << (from % 64));
    while bits == 0 {
        word += 1;
        bits = *mask.get(word)?;
    }
    Some(word * 64 + bits.trailing_zeros() as usize)
}

struct Scanner<'a, 'm> {
    s: &'a [u8],
    pos: usize,
    /// The line's [`quote_mask`], when it has no escapes or control bytes.
    quotes: Option<&'m [u64]>,
    /// The keys the caller expects in `record.data`.
    expected: Option<&'m ExpectedKeys>,
}

impl<'a> Scanner<'a, '_> {
    #[inline(always)]
    fn ws(&mut self) {
        // Compact JSON has no whitespace between tokens: one comparison settles the usual case.
        if self.s.get(self.pos).is_some_and(|&b| b > b' ') {
            return;
        }
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }
    /// The `:` between a key and its value, with any whitespace around it.
    #[inline(always)]
    fn colon(&mut self) -> Option<()> {
        // Compact JSON: the colon, then the value's first byte, one comparison each.
        if self.s.get(self.pos) == Some(&b':') && self.s.get(self.pos + 1).is_some_and(|&b| b > b' ') {
            self.pos += 1;
            return Some(());
        }
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(())
    }
    /// The byte that ends a member or item (`,`, `}` or `]`), past any whitespace, consumed; after a `,`, the
    /// whitespace before the next one is skipped too.
    #[inline(always)]
    fn separator(&mut self) -> Option<u8> {
        let mut b = *self.s.get(self.pos)?;
        // Compact JSON: no whitespace before the separator (one comparison settles it).
        if b <= b' ' {
            self.ws();
            b = *self.s.get(self.pos)?;
        }
        self.pos += 1;
        if b == b',' {
            self.ws();
        }
        Some(b)
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }
    fn eat(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }
    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        if self.s.get(self.pos..self.pos + lit.len())? == lit {
            self.pos += lit.len();
            Some(())
        } else {
            None
        }
    }

    /// A string; returns its raw content and whether it holds escapes.
    #[inline(always)]
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        self.eat(b'"')?;
        let start = self.pos;
        if let Some(quotes) = self.quotes {
            let end = next_set_bit(quotes, start)?;
            self.pos = end + 1;
            return Some((&self.s[start..end], false));
        }
        self.string_scan(start)
    }

    /// Past a string, without slicing it (validation only); returns whether it holds escapes.
    #[inline(always)]
    fn skip_string(&mut self) -> Option<bool> {
        self.eat(b'"')?;
        let start = self.pos;
        if let Some(quotes) = self.quotes {
            self.pos = next_set_bit(quotes, start)? + 1;
            return Some(false);
        }
        self.string_scan(start).map(|(_, escaped)| escaped)
    }

    /// The rest of a string from `start` (just after its opening quote), byte by byte: for lines with escapes
    /// or control bytes (kept out of line so the masked path above inlines small).
    #[inline(never)]
    fn string_scan(&mut self, start: usize) -> Option<(&'a [u8], bool)> {
        let mut escaped = false;
        loop {
            self.pos += find_string_stop(self.s.get(self.pos..)?)?;
            match self.s[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Some((&self.s[start..self.pos - 1], escaped));
                }
                b'\\' => {
                    escaped = true;
                    match *self.s.get(self.pos + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 2,
                        b'u' => {
                            if !self.s.get(self.pos + 2..self.pos + 6)?.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.pos += 6;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    /// A string without escapes (keys, names, the type).
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        match self.string()? {
            (s, false) => Some(s),
            _ => None,
        }
    }

    /// A number per the JSON grammar; returns whether it is an integer, and its value where that is exact and
    /// cheap (see [`ParsedNumber`]). Callers that drop the value do not pay for it (inlined, the unused
    /// arithmetic goes away).
    #[inline(always)]
    fn number(&mut self) -> Option<(bool, Option<ParsedNumber>)> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        let mut mantissa = 0u64;
        match self.next()? {
            b'0' => {}
            c @ b'1'..=b'9' => {
                mantissa = u64::from(c - b'0');
                self.digits(&mut mantissa);
            }
            _ => return None,
        }
        let int_digits = self.pos - int_start;
        let (mut fraction_digits, mut exponent) = (0, false);
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let fraction_start = self.pos;
            self.digits(&mut mantissa);
            fraction_digits = self.pos - fraction_start;
            if fraction_digits == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            let exponent_start = self.pos;
            self.digits(&mut 0);
            if self.pos == exponent_start {
                return None;
            }
            exponent = true;
        }
        let integer = fraction_digits == 0 && !exponent;
        let parsed = if exponent {
            None
        } else if integer {
            // 18 digits cannot overflow an i64; `-0` is left out (as an integer it would lose its sign).
            (int_digits <= 18 && !(negative && mantissa == 0)).then(|| {
                let v = mantissa as i64;
                ParsedNumber::Integer(if negative { -v } else { v })
            })
        } else {
            // At most 19 digits do not overflow the u64; up to 2^53 the mantissa is exact in an f64, as is
            // 10^fraction_digits (<= 10^18 < 10^22), so the one division rounds correctly, like `str::parse`.
            (int_digits + fraction_digits <= 19 && mantissa <= 1 << 53).then(|| {
                // Through i64: exact below 2^63, and one instruction where u64 -> f64 takes several.
                let v = mantissa as i64 as f64 / POW10[fraction_digits];
                ParsedNumber::Float(if negative { -v } else { v })
            })
        };
        Some((integer, parsed))
    }
    /// Past a number per the JSON grammar, without computing it (validation only): runs of digits are
    /// measured eight bytes at a time.
    #[inline(always)]
    fn skip_number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.pos += digit_run(self.s, self.pos),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let n = digit_run(self.s, self.pos);
            if n == 0 {
                return None;
            }
            self.pos += n;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            let n = digit_run(self.s, self.pos);
            if n == 0 {
                return None;
            }
            self.pos += n;
        }
        Some(())
    }

    /// Digits from here on, added to `value` (wrapping: callers check the digit count).
    #[inline(always)]
    fn digits(&mut self, value: &mut u64) {
        while let Some(&c @ b'0'..=b'9') = self.s.get(self.pos) {
            *value = value.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            self.pos += 1;
        }
    }

    /// Validate one value at nesting `depth` (the envelope object is depth 1).
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string().map(drop),
            b'{' => {
                if depth >= FAST_MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.skip_string()?;
                    self.colon()?;
                    self.element(depth + 1)?;
                    match self.separator()? {
                        b',' => {}
                        b'}' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b'[' => {
                if depth >= FAST_MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.element(depth + 1)?;
                    match self.separator()? {
                        b',' => {}
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => None,
        }
    }

    /// A member or item of a nested value: strings and numbers (most of them) validated here, anything else
    /// by [`value`](Self::value), which recurses.
    #[inline(always)]
    fn element(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string().map(drop),
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ => self.value(depth),
        }
    }

    /// The expected key `next` or the one after it as `"key":` here: its index and length.
    #[inline(always)]
    fn expected_key(&self, next: usize) -> Option<(usize, usize)> {
        let expected = self.expected?;
        match expected.at(next, self.s, self.pos) {
            Some(len) => Some((next, len)),
            None => expected.at(next + 1, self.s, self.pos).map(|len| (next + 1, len)),
        }
    }

    /// `record.data` (nesting depth 2), validated like [`value`](Self::value), with its members recorded.
    fn data_object(&mut self, members: &mut Vec<DataMember>) -> Option<()> {
        let base = self.pos;
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        // The expected key the next member is compared with first (then the one after it, in case one is
        // missing).
        let mut next_expected = 0;
        loop {
            let key_start = self.pos + 1 - base;
            let (key_escaped, key_end, expected) = match self.expected_key(next_expected) {
                Some((index, len)) => {
                    next_expected = index + 1;
                    self.pos += len;
                    self.ws();
                    (false, key_start + len - 3, Some(index as u16))
                }
                None => {
                    let escaped = self.skip_string()?;
                    let key_end = self.pos - 1 - base;
                    self.colon()?;
                    (escaped, key_end, None)
                }
            };
            let value_start = self.pos - base;
            let mut number = None;
            let kind = match self.peek()? {
                b'"' => ValueKind::String { escaped: self.skip_string()? },
                b'-' | b'0'..=b'9' => {
                    let (integer, parsed) = self.number()?;
                    number = parsed;
                    ValueKind::Number { integer }
                }
                b't' => self.literal(b"true").map(|_| ValueKind::Bool)?,
                b'f' => self.literal(b"false").map(|_| ValueKind::Bool)?,
                b'n' => self.literal(b"null").map(|_| ValueKind::Null)?,
                b'{' => self.value(3).map(|_| ValueKind::Object)?,
                b'[' => self.value(3).map(|_| ValueKind::Array)?,
                _ => return None,
            };
            members.push(DataMember {
                key: (key_start as u32, key_end as u32),
                key_escaped,
                value: (value_start as u32, (self.pos - base) as u32),
                kind,
                number,
                expected,
            });
            match self.separator()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// The `record` object of a RECORD line (text is the whole line, already valid UTF-8).
    fn record(&mut self, text: &'a str, mut members: Option<&mut Vec<DataMember>>) -> Option<RecordRef<'a>> {
        self.eat(b'{')?;
        self.ws();
        let (mut stream, mut namespace, mut emitted_at, mut data) = (None, None, None, None);
        if self.peek()? == b'}' {
            return None;
        }
        loop {
            let key = self.plain_string()?;
            self.colon()?;
            match key {
                b"stream" => {
                    let s = self.plain_string()?;
                    if stream.replace(s).is_some() {
                        return None;
                    }
                }
                b"namespace" => {
                    let ns = if self.peek()? == b'n' {
                        self.literal(b"null")?;
                        None
                    } else {
                        Some(self.plain_string()?)
                    };
                    if namespace.replace(ns).is_some() {
                        return None;
                    }
                }
                b"emitted_at" => {
                    if emitted_at.replace(self.emitted_at()?).is_some() {
                        return None;
                    }
                }
                b"data" => {
                    if data.replace(self.data(text, members.as_deref_mut())?).is_some() {
                        return None;
                    }
                }
                b"meta" => return None,
                _ => self.value(2)?,
            }
            match self.separator()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
        self.record_ref(text, stream?, namespace.flatten(), emitted_at?, data?)
    }

    /// `emitted_at`'s value: computed while validating. Floats and integers beyond 18 digits are left to
    /// serde's rules; `-0`, which the scan leaves uncomputed, is plain 0 here.
    #[inline(always)]
    fn emitted_at(&mut self) -> Option<i64> {
        let start = self.pos;
        match self.number()? {
            (_, Some(ParsedNumber::Integer(v))) => Some(v),
            _ if &self.s[start..self.pos] == b"-0" => Some(0),
            _ => None,
        }
    }

    /// `record.data`: an object, validated (and split into `members` when given); returns its text.
    #[inline(always)]
    fn data(&mut self, text: &'a str, members: Option<&mut Vec<DataMember>>) -> Option<&'a str> {
        let start = self.pos;
        if self.peek()? != b'{' {
            return None;
        }
        match members {
            Some(members) => self.data_object(members)?,
            None => self.value(2)?,
        }
        text.get(start..self.pos)
    }

    /// The record from its parts (sub-slices of the line, which is valid UTF-8 as `text`).
    fn record_ref(
        &self,
        text: &'a str,
        stream: &'a [u8],
        namespace: Option<&'a [u8]>,
        emitted_at: i64,
        data: &'a str,
    ) -> Option<RecordRef<'a>> {
        // Slicing `text` checks only the boundaries.
        let line_start = self.s.as_ptr() as usize;
        let as_str = |b: &'a [u8]| {
            let at = b.as_ptr() as usize - line_start;
            text.get(at..at + b.len())
        };
        Some(RecordRef {
            stream: Cow::Borrowed(as_str(stream)?),
            namespace: match namespace {
                Some(ns) => Some(Cow::Borrowed(as_str(ns)?)),
                None => None,
            },
            emitted_at,
            data: borrowed_raw_value(data)?,
            meta: None,
        })
    }

    /// Past `key` (a record field's key and colon, just matched) to its value. A value that fails there is one
    /// the general loop rejects too; not so whitespace before it, which the general loop skips.
    #[inline(always)]
    fn value_after(&mut self, key: &[u8]) -> Result<(), Shortcut> {
        self.pos += key.len();
        match self.s.get(self.pos) {
            Some(&b) if b <= b' ' => Err(Shortcut::Unusual),
            _ => Ok(()),
        }
    }

    /// A RECORD line as sources usually write it: no whitespace, `type` first, then `record` with `stream`,
    /// `emitted_at`, `data` and an optional `namespace` in any order, nothing else. Validated as the general loop
    /// validates it, the keys recognised by their bytes instead of being scanned and looked up. Any other shape
    /// is [`Shortcut::Unusual`] (the caller then parses the line the general way, from the start); a value the
    /// general loop would reject in the same way, or `meta`, is [`Shortcut::Rejected`].
    #[inline(always)]
    fn canonical_record(
        &mut self,
        text: &'a str,
        mut members: Option<&mut Vec<DataMember>>,
    ) -> Result<RecordRef<'a>, Shortcut> {
        use Shortcut::{Rejected, Unusual};
        const HEAD: &[u8] = br#"{"type":"RECORD","record":{"#;
        if !self.s.starts_with(HEAD) {
            return Err(Unusual);
        }
        self.pos = HEAD.len();
        let (mut stream, mut namespace, mut emitted_at, mut data) = (None, None, None, None);
        for field in 0..4 {
            if field > 0 {
                match self.s.get(self.pos) {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => break,
                    _ => return Err(Unusual),
                }
            }
            let rest = self.s.get(self.pos..).ok_or(Unusual)?;
            if stream.is_none() && rest.starts_with(br#""stream":"#) {
                self.value_after(br#""stream":"#)?;
                stream = Some(self.plain_string().ok_or(Rejected)?);
            } else if emitted_at.is_none() && rest.starts_with(br#""emitted_at":"#) {
                self.value_after(br#""emitted_at":"#)?;
                emitted_at = Some(self.emitted_at().ok_or(Rejected)?);
            } else if data.is_none() && rest.starts_with(br#""data":"#) {
                self.value_after(br#""data":"#)?;
                data = Some(self.data(text, members.as_deref_mut()).ok_or(Rejected)?);
            } else if namespace.is_none() && rest.starts_with(br#""namespace":"#) {
                self.value_after(br#""namespace":"#)?;
                namespace = Some(match self.peek() {
                    Some(b'n') => self.literal(b"null").map(|_| None).ok_or(Rejected)?,
                    _ => Some(self.plain_string().ok_or(Rejected)?),
                });
            } else if rest.starts_with(br#""meta":"#) {
                // The general loop leaves every record with `meta` to serde as well.
                return Err(Rejected);
            } else {
                return Err(Unusual);
            }
        }
        let (Some(stream), Some(emitted_at), Some(data)) = (stream, emitted_at, data) else { return Err(Unusual) };
        if self.s.get(self.pos..) != Some(b"}}") {
            return Err(Unusual);
        }
        self.record_ref(text, stream, namespace.flatten(), emitted_at, data).ok_or(Unusual)
    }
}

/// Why [`Scanner::canonical_record`] gave no record.
#[derive(Debug, PartialEq, Eq)]
enum Shortcut {
    /// The line is not in the usual shape: the general parse decides.
    Unusual,
    /// The general parse would give no record either (a value it rejects the same way, or `meta`).
    Rejected,
}

/// serde_json's marker for its raw-value (de)serialisation.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// A `&RawValue` borrowing already-validated JSON text, built through serde_json's public `Deserialize`
/// impl (the map form its own deserializer uses), so nothing is parsed twice. `None` if serde_json ever
/// changes that form (the caller then falls back to serde).
fn borrowed_raw_value(json: &str) -> Option<&RawValue> {
    use serde::de::value::{BorrowedStrDeserializer, Error, MapDeserializer};
    let entry = (BorrowedStrDeserializer::<Error>::new(RAW_VALUE_TOKEN), BorrowedStrDeserializer::<Error>::new(json));
    <&RawValue>::deserialize(MapDeserializer::new(std::iter::once(entry))).ok()
}

/// Splits a byte stream into protocol lines.
pub struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    line_number: u64,
    /// Bytes of the reader's buffer handed out by the last call, consumed on the next one.
    pending_consume: usize,
}

/// The part of a raw line that is the message: no BOM (first line), no trailing CR/LF; `None` if blank.
fn message_range(raw: &[u8], first_line: bool) -> Option<(usize, usize)> {
    let start = if first_line && raw.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let mut end = raw.len();
    while end > start && matches!(raw[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    (!raw[start..end].iter().all(u8::is_ascii_whitespace)).then_some((start, end))
}

impl<R: BufRead> LineReader<R> {
    pub fn new(reader: R) -> Self {
        LineReader { reader, buf: Vec::with_capacity(64 * 1024), line_number: 0, pending_consume: 0 }
    }

    /// The next non-blank line, without BOM or line ending, with its 1-based number; `None` at EOF.
    ///
    /// A line that lies whole in the reader's buffer is returned in place (no copy); one that spans
    /// buffer refills is assembled in an owned buffer.
    pub fn next_line(&mut self) -> std::io::Result<Option<(u64, &[u8])>> {
        loop {
            self.reader.consume(std::mem::take(&mut self.pending_consume));
            // Borrow the reader's buffer only to find the line; it is re-borrowed below to return it.
            let in_place = {
                let available = self.reader.fill_buf()?;
                if available.is_empty() {
                    return Ok(None);
                }
                memchr::memchr(b'\n', available)
                    .map(|i| (i + 1, message_range(&available[..i + 1], self.line_number == 0)))
            };
            match in_place {
                Some((len, range)) => {
                    self.line_number += 1;
                    self.pending_consume = len;
                    if let Some((start, end)) = range {
                        let available = self.reader.fill_buf()?;
                        return Ok(Some((self.line_number, &available[start..end])));
                    }
                }
                None => {
                    self.buf.clear();
                    if self.reader.read_until(b'\n', &mut self.buf)? == 0 {
                        return Ok(None);
                    }
                    self.line_number += 1;
                    if let Some((start, end)) = message_range(&self.buf, self.line_number == 1) {
                        return Ok(Some((self.line_number, &self.buf[start..end])));
                    }
                }
            }
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

    /// A deterministic xorshift64 generator for the randomized tests.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn short_integers_agree_with_str_parse() {
        let mut cases: Vec<String> =
            ["0", "-0", "7", "-7", "999999999999999999", "-999999999999999999"].iter().map(|s| s.to_string()).collect();
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        for _ in 0..20_000 {
            let x = next();
            let digits = (x % 18) as usize + 1;
            let n = (x >> 8) % 10u64.pow(digits as u32);
            cases.push(if x & 1 == 0 { n.to_string() } else { format!("-{n}") });
        }
        for text in &cases {
            assert_eq!(short_integer(text.as_bytes()), Some(text.parse::<i64>().unwrap()), "{text}");
        }
        for text in ["", "-", "1.5", "1e3", "+1", "12a", "9223372036854775807", "--1"] {
            assert_eq!(short_integer(text.as_bytes()), None, "{text}");
        }
    }

    /// [`parse_number`] gives either nothing or exactly `str::parse`'s value.
    fn assert_number_agrees(text: &str) -> Option<ParsedNumber> {
        let parsed = parse_number(text.as_bytes());
        match parsed {
            Some(ParsedNumber::Integer(v)) => {
                assert!(!text.contains(['.', 'e', 'E']), "{text}");
                assert_eq!(text.parse::<i64>(), Ok(v), "{text}");
            }
            Some(ParsedNumber::Float(v)) => {
                assert!(text.contains('.') && !text.contains(['e', 'E']), "{text}");
                assert_eq!(text.parse::<f64>().map(f64::to_bits), Ok(v.to_bits()), "{text}");
            }
            None => {}
        }
        parsed
    }

    #[test]
    fn parsed_numbers_agree_with_str_parse() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let (mut integers, mut floats, mut total) = (0, 0, 0);
        for _ in 0..300_000 {
            let mut text = String::new();
            if next() % 2 == 0 {
                text.push('-');
            }
            // Mostly short numbers (the cheap cases), some up to 25 digits on either side of the point.
            let long = next() % 4 == 0;
            let int_digits = (next() % if long { 25 } else { 12 }) as usize + 1;
            let leading = if next() % 5 == 0 { '0' } else { (b'1' + (next() % 9) as u8) as char };
            text.push(leading);
            if leading != '0' {
                for _ in 1..int_digits {
                    text.push((b'0' + (next() % 10) as u8) as char);
                }
            }
            if next() % 3 != 0 {
                text.push('.');
                let zeros = (next() % 6) as usize * usize::from(next() % 3 == 0);
                text.extend(std::iter::repeat_n('0', zeros));
                for _ in 0..(next() % if long { 25 } else { 10 }) + 1 {
                    text.push((b'0' + (next() % 10) as u8) as char);
                }
            }
            if next() % 8 == 0 {
                text.push(['e', 'E'][(next() % 2) as usize]);
                text.push_str(["", "+", "-"][(next() % 3) as usize]);
                text.push_str(&(next() % 30).to_string());
            }
            total += 1;
            match assert_number_agrees(&text) {
                Some(ParsedNumber::Integer(_)) => integers += 1,
                Some(ParsedNumber::Float(_)) => floats += 1,
                None => {}
            }
        }
        assert!(integers > total / 10 && floats > total / 3, "{integers} integers, {floats} floats of {total}");
        let cases = [
            ("0", Some(ParsedNumber::Integer(0))),
            ("-0", None),
            ("0.0", Some(ParsedNumber::Float(0.0))),
            ("-0.0", Some(ParsedNumber::Float(-0.0))),
            ("-0.000", Some(ParsedNumber::Float(-0.0))),
            ("999999999999999999", Some(ParsedNumber::Integer(999_999_999_999_999_999))),
            ("-999999999999999999", Some(ParsedNumber::Integer(-999_999_999_999_999_999))),
            ("1000000000000000000", None),
            ("9223372036854775807", None),
            ("9007199254740992.0", None),
            ("900719925474099.2", Some(ParsedNumber::Float(900_719_925_474_099.2))),
            ("9007199254740993.0", None),
            ("0.000000000000000001", Some(ParsedNumber::Float(1e-18))),
            ("0.0000000000000000001", None),
            ("1.5e3", None),
            ("1E3", None),
            ("01", None),
            ("00.5", None),
            ("-01.5", None),
            ("+1", None),
            ("1.", None),
            (".5", None),
            ("1.5 ", None),
            (" 1", None),
            ("-", None),
            ("", None),
            ("1.2.3", None),
            ("0x1", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_number(text.as_bytes()), expected, "{text}");
            if text.parse::<f64>().is_ok() {
                assert_number_agrees(text);
            }
        }
        // 2^53 itself still fits: the largest mantissa taken.
        assert_eq!(parse_number(b"9007199254.740992"), Some(ParsedNumber::Float(9_007_199_254.740_992)));
        assert_eq!(parse_number(b"9007199254.740993"), None);
    }

    #[test]
    fn split_members_carry_parsed_numbers() {
        let line = br#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{"i":-42,"f":2.50,"e":1e2,"z":-0,"big":12345678901234567890,"s":"7","o":{"n":1}}}}"#;
        let mut members = Vec::new();
        let (_, split) = decode_line_split(line, 1, &mut members).unwrap();
        assert!(split);
        let numbers: Vec<_> = members.iter().map(|m| m.number).collect();
        assert_eq!(
            numbers,
            [Some(ParsedNumber::Integer(-42)), Some(ParsedNumber::Float(2.5)), None, None, None, None, None]
        );
        assert_agrees(line);
    }

    /// The `expected` marks of a record whose data is `data`, split expecting `keys`.
    fn expected_marks(keys: &[&str], data: &str) -> Vec<Option<u16>> {
        let line = format!(r#"{{"type":"RECORD","record":{{"stream":"s","emitted_at":5,"data":{data}}}}}"#);
        assert_agrees(line.as_bytes());
        let mut members = Vec::new();
        let expecting = ExpectedKeys::new(keys.iter().copied());
        let (_, split) = decode_line_split_expecting(line.as_bytes(), 1, &mut members, Some(&expecting)).unwrap();
        assert!(split, "{line}");
        members.iter().map(|m| m.expected).collect()
    }

    #[test]
    fn expected_keys_are_recognised_in_order_with_one_missing_at_a_time() {
        let keys = ["uuid", "version", "a_key_longer_than_sixteen_bytes", "n"];
        let marks = |data| expected_marks(&keys, data);
        assert_eq!(
            marks(r#"{"uuid":"a","version":"1","a_key_longer_than_sixteen_bytes":2,"n":3}"#),
            [Some(0), Some(1), Some(2), Some(3)]
        );
        assert_eq!(marks(r#"{"uuid":"a","a_key_longer_than_sixteen_bytes":2,"n":3}"#), [Some(0), Some(2), Some(3)]);
        // Two missing in a row: the rest goes the general way.
        assert_eq!(marks(r#"{"uuid":"a","n":3}"#), [Some(0), None]);
        assert_eq!(marks(r#"{"uuid":"a","x":0,"version":"1"}"#), [Some(0), None, Some(1)]);
        assert_eq!(marks(r#"{"version":"1","uuid":"a"}"#), [Some(1), None]);
        // Whitespace before the colon, an escaped spelling, a longer key with the same start: not recognised.
        assert_eq!(marks(r#"{"uuid" :"a","version": "1"}"#), [None, Some(1)]);
        assert_eq!(marks(r#"{"u\u0075id":"a","version":"1"}"#), [None, Some(1)]);
        assert_eq!(marks(r#"{"uuidx":"a","nn":1,"n":2}"#), [None, None, None]);
        assert_eq!(expected_marks(&["ab"], r#"{"abc":1,"ab":2}"#), [None, Some(0)]);
        // A key that needs escapes in JSON is never recognised; the next one still is.
        assert_eq!(expected_marks(&["k\"q", "n"], r#"{"k\"q":1,"n":2}"#), [None, Some(1)]);
        assert_eq!(marks("{}"), []);
    }

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

    /// The fast path may only answer where serde agrees exactly; the split members are serde's map entries.
    fn assert_agrees(line: &[u8]) {
        let mut members = Vec::new();
        let split = decode_line_split(line, 1, &mut members);
        let Some(fast) = fast_record(line) else {
            assert!(!matches!(split, Ok((_, true))), "{}", String::from_utf8_lossy(line));
            return;
        };
        let Ok((InputMessage::Record(split), true)) = split else { panic!("split decoder took another path") };
        assert_eq!(split.data.get(), fast.data.get());
        let data = fast.data.get();
        let entries = ordered_entries(&mut serde_json::Deserializer::from_str(data));
        assert_eq!(members.len(), entries.len(), "{data}");
        for (m, (k, v)) in members.iter().zip(&entries) {
            assert_eq!(m.key(data).unwrap(), k.as_str());
            assert_eq!(m.value(data), v.get());
            let expected_kind = match v.get().as_bytes()[0] {
                b'"' => ValueKind::String { escaped: v.get().contains('\\') },
                b'{' => ValueKind::Object,
                b'[' => ValueKind::Array,
                b't' | b'f' => ValueKind::Bool,
                b'n' => ValueKind::Null,
                _ => ValueKind::Number { integer: !v.get().contains(['.', 'e', 'E']) },
            };
            assert_eq!(m.kind, expected_kind, "{}", v.get());
            assert_eq!(m.number, parse_number(v.get().as_bytes()), "{}", v.get());
            if matches!(expected_kind, ValueKind::Number { .. }) {
                assert_number_agrees(v.get());
            } else {
                assert_eq!(m.number, None);
            }
            assert_eq!(m.expected, None);
        }
        // Expected keys change only `expected`, which names the key: the keys in their order, every other one,
        // and in reverse.
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        let halves: Vec<&str> = keys.iter().step_by(2).copied().collect();
        let reversed: Vec<&str> = keys.iter().rev().copied().collect();
        for expected_keys in [&keys, &halves, &reversed] {
            let expecting = ExpectedKeys::new(expected_keys.iter().copied());
            let mut keyed = Vec::new();
            let result = decode_line_split_expecting(line, 1, &mut keyed, Some(&expecting));
            assert!(matches!(result, Ok((InputMessage::Record(_), true))), "{data}");
            assert_eq!(keyed.len(), members.len(), "{data}");
            for (k, m) in keyed.iter().zip(&members) {
                assert_eq!(DataMember { expected: None, ..*k }, *m, "{data}");
                if let Some(i) = k.expected {
                    assert_eq!(k.key(data).unwrap(), expected_keys[i as usize], "{data}");
                }
            }
        }
        match decode_line_serde(line, 1) {
            Ok(InputMessage::Record(slow)) => {
                assert_eq!(fast.stream, slow.stream, "{}", String::from_utf8_lossy(line));
                assert_eq!(fast.namespace, slow.namespace, "{}", String::from_utf8_lossy(line));
                assert_eq!(fast.emitted_at, slow.emitted_at, "{}", String::from_utf8_lossy(line));
                assert_eq!(fast.data.get(), slow.data.get(), "{}", String::from_utf8_lossy(line));
                assert!(slow.meta.is_none());
            }
            other => panic!("fast path accepted what serde gives {other:?}: {}", String::from_utf8_lossy(line)),
        }
    }

    /// Map entries in input order, duplicates included (serde_json::Map would merge them).
    fn ordered_entries(de: &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>) -> Vec<(String, Box<RawValue>)> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<(String, Box<RawValue>)>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(out)
            }
        }
        serde::Deserializer::deserialize_map(de, V).unwrap()
    }

    const SAMPLES: &[&str] = &[
        r#"{"type":"RECORD","record":{"stream":"epd","emitted_at":1764115200000,"data":{"uuid":"a-b","n":-1.5e3,"o":null,"t":true,"f":false,"x":{"y":[1,2,{"z":"\u00e9\n"}]},"e":[],"eo":{}}}}"#,
        r#" { "record" : { "namespace" : "ns" , "data" : { "a" : "b\"c" } , "emitted_at" : -0 , "stream" : "s" , "extra" : [ 1 ] } , "type" : "RECORD" , "state" : {"x":1} } "#,
        r#"{"type":"RECORD","record":{"stream":"s","namespace":null,"emitted_at":5,"data":{"k":"ø 漢字 🦀"}}}"#,
        r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{"k\"ey":"v\\","k":1,"k":2.0,"z":-3e2,"b":[{"c":"}"}]}}}"#,
        r#"{"type":"RECORD","record":{"stream":"s","data":{"a":[1,"x"],"b":"y"},"emitted_at":-0}}"#,
        r#"{"type":"RECORD","record":{"namespace":"ns","stream":"s","data":{"a":{}},"emitted_at":7}}"#,
        r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{"n":{"a":-0.5,"b":12345678901234567890,"c":1.25e-7,"d":[0,-0,3E+2,123456789.123456789]}}}}"#,
    ];

    #[test]
    fn fast_path_is_taken_for_plain_records() {
        for s in SAMPLES {
            assert!(fast_record(s.as_bytes()).is_some(), "{s}");
            assert_agrees(s.as_bytes());
        }
        let r = fast_record(SAMPLES[1].as_bytes()).unwrap();
        assert_eq!((r.stream.as_ref(), r.namespace.as_deref(), r.emitted_at), ("s", Some("ns"), 0));
        assert_eq!(r.data.get(), r#"{ "a" : "b\"c" }"#);
    }

    #[test]
    fn usual_lines_take_the_shortcut_and_others_do_not() {
        let shortcut = |line: &str| {
            let mut sc = Scanner { s: line.as_bytes(), pos: 0, quotes: None, expected: None };
            sc.canonical_record(line, None).ok().map(|r| {
                (r.stream.into_owned(), r.namespace.map(Cow::into_owned), r.emitted_at, r.data.get().to_string())
            })
        };
        let usual = [
            (0, "epd", None, 1764115200000),
            (2, "s", None, 5),
            (3, "s", None, 5),
            (4, "s", None, 0),
            (5, "s", Some("ns"), 7),
        ];
        for (i, stream, namespace, emitted_at) in usual {
            let record = shortcut(SAMPLES[i]).unwrap_or_else(|| panic!("{}", SAMPLES[i]));
            assert_eq!((record.0.as_str(), record.1.as_deref(), record.2), (stream, namespace, emitted_at));
            assert_eq!(Some(record.3.as_str()), fast_record(SAMPLES[i].as_bytes()).map(|r| r.data.get()));
        }
        let late_namespace = r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{},"namespace":"n"}}"#;
        assert_eq!(shortcut(late_namespace).and_then(|r| r.1), Some("n".to_string()));
        for line in [
            SAMPLES[1],
            r#"{"type":"RECORD","record":{"stream":"s","namespace":"a","namespace":"b","emitted_at":5,"data":{}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{},"meta":{}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{}}} "#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"emitted_at":5,"data":{}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","data":{},"data":{},"emitted_at":5}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{}},"x":1}"#,
        ] {
            assert_eq!(shortcut(line), None, "{line}");
        }
        // Lines the general loop would give no record either are not parsed twice.
        let reject = |line: &str| {
            Scanner { s: line.as_bytes(), pos: 0, quotes: None, expected: None }.canonical_record(line, None).err()
        };
        for line in [
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{},"meta":{"changes":[]}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5.5,"data":{}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{"a":01}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s\u0041","emitted_at":5,"data":{}}}"#,
        ] {
            assert_eq!(reject(line), Some(Shortcut::Rejected), "{line}");
            assert!(fast_record(line.as_bytes()).is_none(), "{line}");
        }
        for spaced in [
            r#"{"type": "RECORD","record":{"stream":"s","emitted_at":5,"data":{}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":  { }  }}"#,
            r#"{"type":"RECORD","record":{"stream": "s","emitted_at":5,"data":{}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":	5,"data":{}}}"#,
            r#"{"type":"RECORD","record":{"namespace": null,"stream":"s","emitted_at":5,"data":{}}}"#,
        ] {
            assert_eq!(reject(spaced), Some(Shortcut::Unusual), "{spaced}");
            assert!(fast_record(spaced.as_bytes()).is_some(), "the general loop takes {spaced}");
        }
    }

    #[test]
    fn fast_path_leaves_unusual_lines_to_serde() {
        for line in [
            r#"{"type":"RECORD","record":{"stream":"s\u0041","emitted_at":5,"data":{}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5.5,"data":{}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":99999999999999999999,"data":{}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{},"meta":{"changes":[]}}}"#,
            r#"{"type":"RECORD","type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","stream":"t","emitted_at":5,"data":{}}}"#,
            r#"{"type":"STATE","state":{"type":"STREAM"}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":[1]}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{"a":01}}}"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{"a":1}}} x"#,
            r#"{"type":"RECORD","record":{"stream":"s","emitted_at":5,"data":{"a":"tab	in string"}}}"#,
        ] {
            assert!(fast_record(line.as_bytes()).is_none(), "{line}");
        }
        let nested = |n: usize| {
            format!(
                r#"{{"type":"RECORD","record":{{"stream":"s","emitted_at":5,"data":{{"a":{}{}}}}}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        assert!(fast_record(nested(200).as_bytes()).is_none());
        let e = decode_line(nested(200).as_bytes(), 1).unwrap_err();
        assert!(e.reason.contains("deeper than 127"), "{e}");
        assert!(fast_record(nested(90).as_bytes()).is_some());
        assert!(fast_record(nested(110).as_bytes()).is_none(), "beyond the fast path's own limit");
        assert!(decode_line(nested(110).as_bytes(), 1).is_ok(), "serde path accepts up to 127");
        assert!(decode_line(nested(126).as_bytes(), 1).is_ok());
        assert!(decode_line(nested(127).as_bytes(), 1).is_err());
        assert_eq!(nesting_depth(br#"{"a":"[[{{\"]]","b":[{}]}"#), 3);
    }

    #[test]
    fn fast_path_agrees_with_serde_under_mutation() {
        // Every single-byte deletion and substitution of the samples: the fast path either steps aside
        // or gives exactly serde's answer.
        let alphabet = b"{}[],:\"\\ 0123456789-+.eEtrufalsn\x01\x7f\xc3\xa9";
        let mut checked = 0;
        for s in SAMPLES {
            let b = s.as_bytes();
            for i in 0..b.len() {
                let mut deleted = b.to_vec();
                deleted.remove(i);
                assert_agrees(&deleted);
                for &c in alphabet {
                    let mut changed = b.to_vec();
                    changed[i] = c;
                    assert_agrees(&changed);
                    checked += 1;
                }
            }
        }
        assert!(checked > 5000);
    }

    /// A RECORD line with `bytes` inside a data value (or key, or the stream name), after `pad` ASCII bytes, so
    /// the bytes land in a 64-byte block of the quote mask or in its tail.
    fn line_with(bytes: &[u8], place: usize, pad: usize) -> Vec<u8> {
        let mut line = br#"{"type":"RECORD","record":{"stream":"s"#.to_vec();
        if place == 2 {
            line.extend_from_slice(bytes);
        }
        line.extend_from_slice(format!(r#"","emitted_at":5,"data":{{"pad":"{}","k"#, "x".repeat(pad)).as_bytes());
        if place == 1 {
            line.extend_from_slice(bytes);
        }
        line.extend_from_slice(br#"":"a"#);
        if place == 0 {
            line.extend_from_slice(bytes);
        }
        line.extend_from_slice(br#"b","n":1}}}"#);
        line
    }

    #[test]
    fn invalid_utf8_is_rejected_like_serde_does() {
        let invalid: [&[u8]; 7] = [
            b"\xff",             // never valid
            b"\x80",             // a lone continuation byte
            b"\xc3",             // truncated two-byte sequence
            b"\xe2\x82",         // truncated three-byte sequence
            b"\xc0\xaf",         // overlong '/'
            b"\xed\xa0\x80",     // an encoded surrogate
            b"\xf4\x90\x80\x80", // beyond U+10FFFF
        ];
        let mut members = Vec::new();
        for pad in [0, 1, 40, 70, 130, 300, 2100] {
            for bytes in invalid {
                for place in 0..3 {
                    let line = line_with(bytes, place, pad);
                    assert!(fast_record(&line).is_none(), "{}", String::from_utf8_lossy(&line));
                    let serde = decode_line_serde(&line, 9).unwrap_err();
                    assert!(serde.reason.contains("invalid unicode"), "{serde}");
                    assert_eq!(decode_line(&line, 9).unwrap_err(), serde);
                    assert_eq!(decode_line_split(&line, 9, &mut members).unwrap_err(), serde);
                }
            }
        }
    }

    #[test]
    fn valid_non_ascii_decodes_as_before() {
        let mut members = Vec::new();
        for pad in [0, 1, 40, 70, 130, 300, 2100] {
            for text in ["Grün", "ø 漢字 🦀", "\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}"] {
                for place in 0..3 {
                    let line = line_with(text.as_bytes(), place, pad);
                    let record = fast_record(&line).expect("fast path");
                    assert_agrees(&line);
                    let Ok((InputMessage::Record(split), true)) = decode_line_split(&line, 1, &mut members) else {
                        panic!("split path")
                    };
                    let data = split.data.get();
                    let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
                    assert_eq!(record.stream, value["record"]["stream"].as_str().unwrap());
                    assert_eq!(serde_json::from_str::<serde_json::Value>(data).unwrap(), value["record"]["data"]);
                    let key = if place == 1 { format!("k{text}") } else { "k".into() };
                    let k = members.iter().find(|m| m.key(data).unwrap() == key).expect("member");
                    let expected = if place == 0 { format!("\"a{text}b\"") } else { "\"ab\"".into() };
                    assert_eq!(k.value(data), expected);
                }
            }
        }
    }

    #[test]
    fn string_stop_matches_the_table() {
        let mut text: Vec<u8> = (0u8..=255).collect();
        text.extend_from_slice(b"abcdefghijklmnopqrstuvwxyz\xc3\xa9\xe2\x80\xa8");
        for start in 0..text.len() {
            for len in 0..40.min(text.len() - start) {
                let s = &text[start..start + len];
                let expected = s.iter().position(|&b| STRING_STOP[b as usize]);
                assert_eq!(find_string_stop(s), expected, "{s:?}");
            }
        }
        let plain = [b'a'; 37];
        assert_eq!(find_string_stop(&plain), None);
        let mut q = plain;
        q[29] = b'"';
        assert_eq!(find_string_stop(&q), Some(29));
    }

    #[test]
    fn reader_handles_lines_across_buffer_refills() {
        let mut input = Vec::new();
        for i in 0..200 {
            input.extend_from_slice(format!("{{\"line\":{i},\"pad\":\"{}\"}}\r\n\n", "x".repeat(i % 23)).as_bytes());
        }
        input.extend_from_slice(b"last-without-newline");
        // A tiny buffer forces lines to span refills and take the owned path.
        let mut r = LineReader::new(std::io::BufReader::with_capacity(16, &input[..]));
        let mut n = 0;
        while let Some((number, line)) = r.next_line().unwrap() {
            if n < 200 {
                assert_eq!(number, 2 * n + 1);
                let v: serde_json::Value = serde_json::from_slice(line).unwrap();
                assert_eq!(v["line"], n);
            } else {
                assert_eq!(line, b"last-without-newline");
            }
            n += 1;
        }
        assert_eq!(n, 201);
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

    #[test]
    fn quote_mask_marks_every_quote_or_gives_up_on_escapes_and_control_bytes() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for len in (0..300).chain([2047, 2048, 2049, 5000]) {
            for round in 0..20 {
                // Every other line is clean; the rest hold a backslash or control byte somewhere. Half of
                // each kind are ASCII; the others hold high bytes, sometimes only one (anywhere in the line).
                let specials = round % 2 == 1;
                let high_bytes = round % 4 >= 2;
                let lone_high = (round % 8 >= 6 && len > 0).then(|| (next() % len as u64) as usize);
                let mut line: Vec<u8> = (0..len)
                    .map(|_| match next() % 40 {
                        0..=5 => b'"',
                        6 if specials && next() % 8 == 0 => b'\\',
                        7 if specials && next() % 8 == 0 => (next() % 0x20) as u8,
                        8 if high_bytes && lone_high.is_none() => 0x80 | (next() % 0x80) as u8,
                        9 if specials => 0x1f,
                        10 => 0x20,
                        _ => b'a' + (next() % 26) as u8,
                    })
                    .collect();
                if let Some(at) = lone_high {
                    line[at] = 0x80 | (next() % 0x80) as u8;
                }
                let mut mask = [0u64; QUOTE_MASK_WORDS];
                let clean = len <= QUOTE_MASK_WORDS * 64 && !line.iter().any(|&b| b == b'\\' || b < 0x20);
                let expected = match (clean, line.iter().any(|&b| b >= 0x80)) {
                    (false, _) => MaskScan::GaveUp,
                    (true, false) => MaskScan::Ascii,
                    (true, true) => MaskScan::NonAscii,
                };
                assert_eq!(quote_mask(&line, &mut mask), expected, "{len}: {line:?}");
                let mut sse2_mask = [0u64; QUOTE_MASK_WORDS];
                assert_eq!(quote_mask_with(&line, &mut sse2_mask, block_masks), expected, "{len}: {line:?}");
                if expected != MaskScan::GaveUp {
                    assert_eq!(sse2_mask, mask, "{len}: {line:?}");
                }
                if let Some(block) = line.get(..64) {
                    let block: &[u8; 64] = block.try_into().unwrap();
                    assert_eq!(block_masks(block), block_masks_portable(block));
                    #[cfg(target_arch = "x86_64")]
                    if has_avx2() {
                        // SAFETY: AVX2 is available.
                        assert_eq!(unsafe { block_masks_avx2(block) }, block_masks_portable(block));
                    }
                }
                if clean {
                    let quotes: Vec<usize> = (0..len).filter(|&i| line[i] == b'"').collect();
                    for from in 0..=len {
                        assert_eq!(next_set_bit(&mask, from), quotes.iter().copied().find(|&q| q >= from), "{from}");
                    }
                }
            }
        }
    }
}
