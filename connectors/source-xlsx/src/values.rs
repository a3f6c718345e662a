//! Cell values: what type a cell holds (for inference), the JSON schema of each column type, and writing a
//! cell as JSON of its column's type straight into a byte buffer (no `serde_json::Value` per row).

use calamine::{DataRef, ExcelDateTime};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde_json::{json, Value};

/// A column's JSON type. The order of widening: integer -> number, date -> date-time, anything else -> string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Integer,
    Number,
    Boolean,
    String,
    Date,
    DateTime,
    Time,
}

impl Kind {
    /// The narrowest type holding both.
    pub fn widen(self, other: Kind) -> Kind {
        use Kind::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Integer, Number) | (Number, Integer) => Number,
            (Date, DateTime) | (DateTime, Date) => DateTime,
            _ => String,
        }
    }

    /// The property schema of a column of this type (always nullable).
    pub fn schema(self, description: Option<&str>) -> Value {
        let mut s = match self {
            Kind::Integer => json!({"type": ["null", "integer"]}),
            Kind::Number => json!({"type": ["null", "number"]}),
            Kind::Boolean => json!({"type": ["null", "boolean"]}),
            Kind::String => json!({"type": ["null", "string"]}),
            Kind::Date => json!({"type": ["null", "string"], "format": "date"}),
            Kind::DateTime => {
                json!({"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_without_timezone"})
            }
            Kind::Time => json!({"type": ["null", "string"], "airbyte_type": "time_without_timezone"}),
        };
        if let Some(d) = description {
            s["description"] = Value::String(d.to_string());
        }
        s
    }

    /// The type a property schema (as discovered by this connector) declares; `None` for schemas it did not write.
    pub fn from_schema(schema: &Value) -> Option<Kind> {
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return None,
        };
        let main = types.iter().find(|t| **t != "null")?;
        Some(match *main {
            "integer" => Kind::Integer,
            "number" => Kind::Number,
            "boolean" => Kind::Boolean,
            "string" => {
                match (schema.get("format").and_then(Value::as_str), schema.get("airbyte_type").and_then(Value::as_str))
                {
                    (Some("date"), _) => Kind::Date,
                    (Some("date-time"), _) | (_, Some("timestamp_without_timezone")) => Kind::DateTime,
                    (_, Some("time_without_timezone")) => Kind::Time,
                    _ => Kind::String,
                }
            }
            _ => return None,
        })
    }
}

/// A cell's value decoded into what it means, independent of the file format.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    Empty,
    Integer(i64),
    Number(f64),
    Bool(bool),
    Text(&'a str),
    Date(NaiveDate),
    DateTime(NaiveDateTime),
    Time(NaiveTime),
    /// A duration cell (`[h]:mm:ss`) of this many milliseconds.
    Duration(i64),
    /// A formula error such as `#DIV/0!` (its text).
    Error(&'static str),
    /// A date cell outside 0001-01-01..9999-12-31 (e.g. a typo like year 20225), with its serial value.
    BadDate(f64),
}

// Excel serial 2958466 is 10000-01-01; larger values cannot be written as ISO dates.
const MAX_SERIAL: f64 = 2_958_466.0;

impl<'a> Cell<'a> {
    pub fn from_data(v: &'a DataRef<'_>) -> Cell<'a> {
        match v {
            DataRef::Empty => Cell::Empty,
            DataRef::Int(i) => Cell::Integer(*i),
            DataRef::Float(f) => number(*f),
            DataRef::String(s) => text(s),
            DataRef::SharedString(s) => text(s),
            DataRef::Bool(b) => Cell::Bool(*b),
            DataRef::DateTime(d) => excel_datetime(d),
            DataRef::DateTimeIso(s) => iso_datetime(s).unwrap_or(Cell::Text(s)),
            DataRef::DurationIso(s) => iso_duration(s).unwrap_or(Cell::Text(s)),
            DataRef::Error(e) => Cell::Error(error_text(e)),
        }
    }

    /// The type this value suggests for its column; `None` for values that say nothing (empty, errors).
    pub fn kind(&self) -> Option<Kind> {
        Some(match self {
            Cell::Empty | Cell::Error(_) | Cell::BadDate(_) => return None,
            Cell::Integer(_) => Kind::Integer,
            Cell::Number(_) => Kind::Number,
            Cell::Bool(_) => Kind::Boolean,
            Cell::Text(_) | Cell::Duration(_) => Kind::String,
            Cell::Date(_) => Kind::Date,
            Cell::DateTime(_) => Kind::DateTime,
            Cell::Time(_) => Kind::Time,
        })
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Cell::Empty)
    }

    /// The value as header text.
    pub fn header_text(&self) -> String {
        let mut buf = Vec::new();
        match self {
            Cell::Empty => return String::new(),
            Cell::Text(s) => return s.to_string(),
            Cell::Error(e) => return e.to_string(),
            _ => {
                write_value(&mut buf, self, Kind::String);
            }
        }
        serde_json::from_slice::<String>(&buf).unwrap_or_default()
    }
}

/// Text cells holding only spaces count as empty (a common way to "blank" a cell).
fn text(s: &str) -> Cell<'_> {
    if s.trim().is_empty() {
        Cell::Empty
    } else {
        Cell::Text(s)
    }
}

// Integers beyond 2^53 lose precision as f64: keep them numbers.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

fn number(f: f64) -> Cell<'static> {
    if f.fract() == 0.0 && f.abs() < MAX_EXACT {
        Cell::Integer(f as i64)
    } else {
        Cell::Number(f)
    }
}

fn error_text(e: &calamine::CellErrorType) -> &'static str {
    use calamine::CellErrorType::*;
    match e {
        Div0 => "#DIV/0!",
        NA => "#N/A",
        Name => "#NAME?",
        Null => "#NULL!",
        Num => "#NUM!",
        Ref => "#REF!",
        Value => "#VALUE!",
        GettingData => "#DATA!",
    }
}

fn excel_datetime(d: &ExcelDateTime) -> Cell<'static> {
    let serial = d.as_f64();
    if d.is_duration() {
        return if serial.is_finite() && serial.abs() < 1e9 {
            Cell::Duration((serial * 86_400_000.0).round() as i64)
        } else {
            Cell::BadDate(serial)
        };
    }
    if !serial.is_finite() || !(0.0..MAX_SERIAL).contains(&serial) {
        return Cell::BadDate(serial);
    }
    // A serial below 1 is a time of day without a date.
    if serial < 1.0 {
        let ms = (serial * 86_400_000.0).round() as u32;
        return match NaiveTime::from_num_seconds_from_midnight_opt(ms / 1000, (ms % 1000) * 1_000_000) {
            Some(t) => Cell::Time(t),
            // 0.9999999 rounds to 24:00:00.
            None => Cell::Time(NaiveTime::from_hms_milli_opt(23, 59, 59, 999).unwrap_or_default()),
        };
    }
    match d.as_datetime() {
        Some(dt) if dt.year() <= 9999 => {
            if dt.time() == NaiveTime::MIN {
                Cell::Date(dt.date())
            } else {
                Cell::DateTime(dt)
            }
        }
        _ => Cell::BadDate(serial),
    }
}

fn iso_datetime(s: &str) -> Option<Cell<'static>> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return (d.year() <= 9999 && d.year() >= 1).then_some(Cell::Date(d));
    }
    let dt = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    if !(1..=9999).contains(&dt.year()) {
        return None;
    }
    Some(if dt.time() == NaiveTime::MIN { Cell::Date(dt.date()) } else { Cell::DateTime(dt) })
}

/// ODS time cells are ISO durations (`PT10H30M00S`); under a day they are times of day.
fn iso_duration(s: &str) -> Option<Cell<'static>> {
    let rest = s.trim().strip_prefix("PT")?;
    let mut ms: f64 = 0.0;
    let mut num = String::new();
    for ch in rest.chars() {
        match ch {
            '0'..='9' | '.' => num.push(ch),
            'H' | 'M' | 'S' => {
                let v: f64 = num.parse().ok()?;
                num.clear();
                ms += v * match ch {
                    'H' => 3_600_000.0,
                    'M' => 60_000.0,
                    _ => 1000.0,
                };
            }
            _ => return None,
        }
    }
    if !num.is_empty() {
        return None;
    }
    let ms = ms.round() as i64;
    if (0..86_400_000).contains(&ms) {
        let t = NaiveTime::from_num_seconds_from_midnight_opt((ms / 1000) as u32, ((ms % 1000) * 1_000_000) as u32)?;
        Some(Cell::Time(t))
    } else {
        Some(Cell::Duration(ms))
    }
}

// ---------------------------------------------------------------- writing JSON

/// Append `cell` as JSON of type `kind` to `buf`. Returns false (and writes `null`) when the value does not
/// fit the type: the caller records a SOURCE_SERIALIZATION_ERROR change. Empty cells are `null` and fit.
pub fn write_value(buf: &mut Vec<u8>, cell: &Cell<'_>, kind: Kind) -> bool {
    let ok = match (kind, cell) {
        (_, Cell::Empty) => {
            buf.extend_from_slice(b"null");
            return true;
        }
        (_, Cell::Error(_) | Cell::BadDate(_)) => false,
        (Kind::Integer, Cell::Integer(i)) => write_i64(buf, *i),
        (Kind::Integer, Cell::Text(s)) => match s.trim().parse::<i64>() {
            Ok(i) => write_i64(buf, i),
            Err(_) => false,
        },
        (Kind::Number, Cell::Integer(i)) => write_i64(buf, *i),
        (Kind::Number, Cell::Number(f)) => write_f64(buf, *f),
        (Kind::Number, Cell::Text(s)) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => write_f64(buf, f),
            _ => false,
        },
        (Kind::Boolean, Cell::Bool(b)) => {
            buf.extend_from_slice(if *b { b"true" } else { b"false" });
            true
        }
        (Kind::Boolean, Cell::Text(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => {
                buf.extend_from_slice(b"true");
                true
            }
            "false" => {
                buf.extend_from_slice(b"false");
                true
            }
            _ => false,
        },
        (Kind::Date, Cell::Date(d)) => quoted(buf, |b| write_date(b, *d)),
        (Kind::Date, Cell::Text(s)) => match iso_datetime(s) {
            Some(Cell::Date(d)) => quoted(buf, |b| write_date(b, d)),
            _ => false,
        },
        (Kind::DateTime, Cell::Date(d)) => quoted(buf, |b| write_datetime(b, d.and_time(NaiveTime::MIN))),
        (Kind::DateTime, Cell::DateTime(dt)) => quoted(buf, |b| write_datetime(b, *dt)),
        (Kind::DateTime, Cell::Text(s)) => match iso_datetime(s) {
            Some(Cell::Date(d)) => quoted(buf, |b| write_datetime(b, d.and_time(NaiveTime::MIN))),
            Some(Cell::DateTime(dt)) => quoted(buf, |b| write_datetime(b, dt)),
            _ => false,
        },
        (Kind::Time, Cell::Time(t)) => quoted(buf, |b| write_time(b, *t)),
        (Kind::Time, Cell::Text(s)) => match NaiveTime::parse_from_str(s.trim(), "%H:%M:%S%.f") {
            Ok(t) => quoted(buf, |b| write_time(b, t)),
            Err(_) => false,
        },
        (Kind::String, c) => {
            write_string(buf, c);
            true
        }
        _ => false,
    };
    if !ok {
        buf.extend_from_slice(b"null");
    }
    ok
}

/// Any value as a JSON string (what a string column holds).
fn write_string(buf: &mut Vec<u8>, cell: &Cell<'_>) {
    let _ = match cell {
        Cell::Text(s) => {
            write_json_str(buf, s);
            true
        }
        Cell::Integer(i) => quoted(buf, |b| write_i64(b, *i)),
        Cell::Number(f) => quoted(buf, |b| write_f64(b, *f)),
        Cell::Bool(v) => {
            buf.extend_from_slice(if *v { b"\"true\"" } else { b"\"false\"" });
            true
        }
        Cell::Date(d) => quoted(buf, |b| write_date(b, *d)),
        Cell::DateTime(dt) => quoted(buf, |b| write_datetime(b, *dt)),
        Cell::Time(t) => quoted(buf, |b| write_time(b, *t)),
        Cell::Duration(ms) => quoted(buf, |b| write_duration(b, *ms)),
        Cell::Empty | Cell::Error(_) | Cell::BadDate(_) => {
            buf.extend_from_slice(b"null");
            true
        }
    };
}

pub fn write_json_str(buf: &mut Vec<u8>, s: &str) {
    // serde_json's escaper into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, s);
}

fn quoted(buf: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
    buf.push(b'"');
    let ok = f(buf);
    buf.push(b'"');
    ok
}

pub fn write_i64(buf: &mut Vec<u8>, v: i64) -> bool {
    let _ = serde_json::to_writer(&mut *buf, &v);
    true
}

fn write_f64(buf: &mut Vec<u8>, v: f64) -> bool {
    if !v.is_finite() {
        return false;
    }
    let _ = serde_json::to_writer(&mut *buf, &v);
    true
}

fn push_digits(buf: &mut Vec<u8>, v: u32, width: usize) {
    let mut tmp = [b'0'; 10];
    let mut n = v;
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = &tmp[i..];
    for _ in digits.len()..width {
        buf.push(b'0');
    }
    buf.extend_from_slice(digits);
}

fn write_date(buf: &mut Vec<u8>, d: NaiveDate) -> bool {
    if !(1..=9999).contains(&d.year()) {
        return false;
    }
    push_digits(buf, d.year() as u32, 4);
    buf.push(b'-');
    push_digits(buf, d.month(), 2);
    buf.push(b'-');
    push_digits(buf, d.day(), 2);
    true
}

fn write_time(buf: &mut Vec<u8>, t: NaiveTime) -> bool {
    push_digits(buf, t.hour(), 2);
    buf.push(b':');
    push_digits(buf, t.minute(), 2);
    buf.push(b':');
    push_digits(buf, t.second(), 2);
    let ms = t.nanosecond() / 1_000_000;
    if ms > 0 {
        buf.push(b'.');
        push_digits(buf, ms.min(999), 3);
    }
    true
}

fn write_datetime(buf: &mut Vec<u8>, dt: NaiveDateTime) -> bool {
    if !write_date(buf, dt.date()) {
        return false;
    }
    buf.push(b'T');
    write_time(buf, dt.time())
}

/// `[h]:mm:ss` as Excel shows durations; hours may exceed 24, negative durations get a leading minus.
fn write_duration(buf: &mut Vec<u8>, ms: i64) -> bool {
    if ms < 0 {
        buf.push(b'-');
    }
    let ms = ms.unsigned_abs();
    let secs = ms / 1000;
    push_digits(buf, (secs / 3600).min(u32::MAX as u64) as u32, 2);
    buf.push(b':');
    push_digits(buf, ((secs / 60) % 60) as u32, 2);
    buf.push(b':');
    push_digits(buf, (secs % 60) as u32, 2);
    if ms % 1000 > 0 {
        buf.push(b'.');
        push_digits(buf, (ms % 1000) as u32, 3);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    fn json_of(cell: Cell<'_>, kind: Kind) -> (String, bool) {
        let mut buf = Vec::new();
        let ok = write_value(&mut buf, &cell, kind);
        (String::from_utf8(buf).unwrap(), ok)
    }

    #[test]
    fn excel_serials_in_both_epochs() {
        let d1900 = ExcelDateTime::new(45943.5, ExcelDateTimeType::DateTime, false);
        assert_eq!(json_of(excel_datetime(&d1900), Kind::DateTime).0, "\"2025-10-13T12:00:00\"");
        // The same calendar day in the 1904 system is 1462 days lower.
        let d1904 = ExcelDateTime::new(45943.0 - 1462.0, ExcelDateTimeType::DateTime, true);
        assert_eq!(json_of(excel_datetime(&d1904), Kind::Date).0, "\"2025-10-13\"");
        let t = ExcelDateTime::new(0.75, ExcelDateTimeType::DateTime, false);
        assert_eq!(json_of(excel_datetime(&t), Kind::Time).0, "\"18:00:00\"");
        let far = ExcelDateTime::new(6_660_000.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(excel_datetime(&far), Cell::BadDate(6_660_000.0));
        assert_eq!(json_of(excel_datetime(&far), Kind::Date), ("null".into(), false));
        let dur = ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false);
        assert_eq!(json_of(excel_datetime(&dur), Kind::String).0, "\"36:00:00\"");
    }

    #[test]
    fn widening_and_fitting() {
        assert_eq!(Kind::Integer.widen(Kind::Number), Kind::Number);
        assert_eq!(Kind::Date.widen(Kind::DateTime), Kind::DateTime);
        assert_eq!(Kind::Boolean.widen(Kind::Integer), Kind::String);
        assert_eq!(Kind::Time.widen(Kind::Date), Kind::String);
        assert_eq!(json_of(Cell::Number(2.5), Kind::Integer), ("null".into(), false));
        assert_eq!(json_of(Cell::Text("42"), Kind::Integer), ("42".into(), true));
        assert_eq!(json_of(Cell::Integer(3), Kind::String), ("\"3\"".into(), true));
        assert_eq!(json_of(Cell::Number(0.1), Kind::String), ("\"0.1\"".into(), true));
        assert_eq!(json_of(Cell::Error("#N/A"), Kind::String), ("null".into(), false));
        assert_eq!(json_of(Cell::Text("a\"b\n"), Kind::String).0, r#""a\"b\n""#);
        assert_eq!(json_of(Cell::Empty, Kind::Integer), ("null".into(), true));
        assert_eq!(number(3.0), Cell::Integer(3));
        assert_eq!(number(1e300), Cell::Number(1e300));
    }

    #[test]
    fn ods_iso_values() {
        assert_eq!(iso_duration("PT10H30M00S"), Some(Cell::Time(NaiveTime::from_hms_opt(10, 30, 0).unwrap())));
        assert_eq!(iso_duration("PT36H00M00S"), Some(Cell::Duration(36 * 3_600_000)));
        assert_eq!(iso_datetime("2024-02-29"), Some(Cell::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap())));
        assert!(matches!(iso_datetime("2024-02-29T10:00:00"), Some(Cell::DateTime(_))));
        assert_eq!(iso_datetime("20225-01-01"), None);
    }

    #[test]
    fn schema_round_trip() {
        for k in [Kind::Integer, Kind::Number, Kind::Boolean, Kind::String, Kind::Date, Kind::DateTime, Kind::Time] {
            assert_eq!(Kind::from_schema(&k.schema(Some("x"))), Some(k));
        }
        assert_eq!(Kind::from_schema(&json!({"type": "object"})), None);
    }
}
