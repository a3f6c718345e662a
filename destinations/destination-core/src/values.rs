//! Raw JSON value text -> typed values. Each function returns `None` when the value does not fit.
//!
//! Coercions (decided here, documented in the crate docs): integers accept integral floats (`3.0`) and
//! numeric strings (`"42"`); numbers accept numeric strings; booleans accept `"true"`/`"false"`; dates accept a
//! date-time (its UTC date); timestamps accept RFC 3339 with `T` or a space, `Z`/`±HH:MM`/`±HHMM`/`±HH` or no
//! offset (taken as UTC); a timestamp with an offset is converted to UTC; times accept `HH:MM[:SS[.f]]` with
//! an optional offset (converted to UTC).

use airbyte_protocol::codec::{parse_number, ParsedNumber};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use std::borrow::Cow;

const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The content of a JSON string value, unescaped; `None` for any other JSON type.
pub fn string(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if inner.as_bytes().contains(&b'\\') {
        serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

pub fn integer(raw: &str) -> Option<i64> {
    if let Some(v) = airbyte_protocol::codec::short_integer(raw.as_bytes()) {
        return Some(v);
    }
    if let Ok(v) = raw.parse::<i64>() {
        return Some(v);
    }
    let text = match string(raw) {
        Some(s) => Cow::Owned(s.trim().to_string()),
        None => Cow::Borrowed(raw),
    };
    if let Ok(v) = text.parse::<i64>() {
        return Some(v);
    }
    integral(text.parse::<f64>().ok()?)
}

/// A float as an integer column takes it: only whole values within the i64 range.
pub fn integral(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; i64::MAX is not, so the upper bound is exclusive.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.is_finite() && f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

pub fn number(raw: &str) -> Option<f64> {
    match raw.as_bytes().first()? {
        // The codec's own exact parse of short numbers first (cheaper than the general float parser).
        b'-' | b'0'..=b'9' => match parse_number(raw.as_bytes()) {
            Some(ParsedNumber::Integer(v)) => Some(v as f64),
            Some(ParsedNumber::Float(v)) => Some(v),
            None => raw.parse::<f64>().ok(),
        },
        b'"' => string(raw)?.trim().parse::<f64>().ok(),
        _ => None,
    }
}

pub fn boolean(raw: &str) -> Option<bool> {
    match raw {
        "true" | "\"true\"" => Some(true),
        "false" | "\"false\"" => Some(false),
        _ => None,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

fn epoch_days(date: NaiveDate) -> i32 {
    use chrono::Datelike;
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

/// Days since 1970-01-01 of a four-digit-year calendar date, `None` if there is no such day.
///
/// Years are counted from March so the leap day comes last, and shifted by one 400-year era (146,097 days) so
/// that January and February of year 0000 (year -1 from March) stay non-negative: a few unsigned operations
/// with constant divisors, where chrono's constructor and day count cost about a hundred instructions a value.
fn civil_days(year: u32, month: u32, day: u32) -> Option<i32> {
    // The longest length of each month; February 29 is checked against the leap rule below.
    const MONTH_DAYS: [u8; 13] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    // Days from March 1 to the first of the month (January and February end the March-based year).
    const BEFORE_MONTH: [u16; 13] = [0, 306, 337, 0, 31, 61, 92, 122, 153, 184, 214, 245, 275];
    let m = month as usize;
    // `day - 1` wraps for day 0, and month 0 has no days.
    if m > 12 || day.wrapping_sub(1) >= MONTH_DAYS[m] as u32 {
        return None;
    }
    if m == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) {
        return None;
    }
    let y = year + 400 - (m <= 2) as u32;
    let centuries = y / 100;
    let days = 365 * y + y / 4 - centuries + centuries / 4 + BEFORE_MONTH[m] as u32 + day - 1;
    // The era shift plus 719,468 days from 0000-03-01 to 1970-01-01.
    Some(days as i32 - (146_097 + 719_468))
}

/// Eight text bytes with digits where `pattern` has `b'0'` and exactly the `pattern` byte elsewhere (the
/// `separators` mask): every digit byte replaced by its value, every separator byte by zero.
#[inline(always)]
fn swar_digits(bytes: &[u8; 8], pattern: &[u8; 8], separators: u64) -> Option<u64> {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let v = u64::from_le_bytes(*bytes) ^ u64::from_le_bytes(*pattern);
    // A byte is a digit iff it is now 0-9: no high nibble, also after adding 6. Adding carries out of a byte
    // only from 0xFA up, which already fails.
    let bad = (v & (HIGH | separators)) | (v.wrapping_add(0x0606_0606_0606_0606) & HIGH);
    (bad == 0).then_some(v)
}

/// Byte i becomes `10 * byte i + byte i+1` (at most 99: no carries) for bytes of at most 9.
#[inline(always)]
fn digit_pairs(v: u64) -> u64 {
    v * 10 + (v >> 8)
}

/// Year, month and day of `YYYY-MM-DD`, `None` unless it has exactly that shape (ranges not checked).
#[inline(always)]
fn date_fields(b: &[u8; 10]) -> Option<(u32, u32, u32)> {
    let (head, day) = b.split_first_chunk::<8>()?;
    let pairs = digit_pairs(swar_digits(head, b"0000-00-", 0xFF00_00FF_0000_0000)?);
    let (d1, d0) = (day[0].wrapping_sub(b'0') as u32, day[1].wrapping_sub(b'0') as u32);
    if d1 > 9 || d0 > 9 {
        return None;
    }
    let year = (pairs & 0xFF) * 100 + ((pairs >> 16) & 0xFF);
    Some((year as u32, (pairs >> 40) as u32 & 0xFF, d1 * 10 + d0))
}

/// Days since 1970-01-01 of a calendar date, or of a date-time's UTC date.
pub fn date(s: &str) -> Option<i32> {
    match fixed_shape_date(s) {
        Ok(days) => days,
        Err(()) => general_date(s),
    }
}

/// The days of `YYYY-MM-DD` text (`Ok(None)` for that shape with a non-digit or no such day); `Err` for text of
/// another shape.
#[inline(always)]
fn fixed_shape_date(s: &str) -> Result<Option<i32>, ()> {
    let b = <&[u8; 10]>::try_from(s.as_bytes()).map_err(drop)?;
    match date_fields(b) {
        Some((year, month, day)) => Ok(civil_days(year, month, day)),
        // A non-digit in this shape: decided here, the general parsers are not tried.
        None if b[4] == b'-' && b[7] == b'-' => Ok(None),
        None => Err(()),
    }
}

/// `date` of any other text, out of line so that the fast path needs no stack frame: chrono's calendar date,
/// else a date-time's UTC date.
#[cold]
#[inline(never)]
fn general_date(s: &str) -> Option<i32> {
    match general_calendar_date(s) {
        Some(days) => Some(days),
        None => timestamp_micros(s).map(|us| us.div_euclid(MICROS_PER_DAY) as i32),
    }
}

/// A calendar date by chrono's `%Y-%m-%d`; no date-times.
fn general_calendar_date(s: &str) -> Option<i32> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok().map(epoch_days)
}

/// Parse `[.fraction][offset]` after the seconds: returns (micros, offset seconds, consumed all).
fn fraction_and_offset(b: &[u8]) -> Option<(i64, i64)> {
    let mut i = 0;
    let mut micros = 0i64;
    if b.first() == Some(&b'.') {
        i = 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    let offset = match &b[i..] {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                [h1, h2, b':', m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i64;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    Some((micros, offset))
}

/// Microseconds since the epoch, in UTC (a value without offset is taken as UTC).
pub fn timestamp_micros(s: &str) -> Option<i64> {
    if let Some((head, tail)) = s.as_bytes().split_first_chunk::<19>() {
        if let Some(secs) = fast_seconds(head) {
            if let [] | [b'Z' | b'z'] = tail {
                return Some(secs * 1_000_000);
            }
            return with_fraction_and_offset(secs, s);
        }
    }
    general_timestamp(s)
}

/// `secs` (of the first 19 bytes) with the fraction and offset after them, else the general parsers. Out of
/// line so that the common path calls nothing and needs no stack frame.
#[inline(never)]
fn with_fraction_and_offset(secs: i64, s: &str) -> Option<i64> {
    match fraction_and_offset(&s.as_bytes()[19..]) {
        // Four-digit years cannot overflow.
        Some((frac, offset)) => Some((secs - offset) * 1_000_000 + frac),
        None => general_timestamp(s),
    }
}

/// `timestamp_micros` of any other text, out of line so that the fast path needs no stack frame.
#[cold]
#[inline(never)]
fn general_timestamp(s: &str) -> Option<i64> {
    // Ten bytes that are a calendar date are its midnight. (Not `date`, which asks this function for
    // date-times: the two would ask each other without end.)
    if s.len() == 10 {
        if let Some(days) = fixed_shape_date(s).unwrap_or_else(|()| general_calendar_date(s)) {
            return Some(days as i64 * MICROS_PER_DAY);
        }
    }
    chrono_timestamp(s)
}

/// RFC 3339, then the offset-less forms, through chrono.
fn chrono_timestamp(s: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some(dt.timestamp_micros());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s.trim(), fmt) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    None
}

/// Seconds since the epoch of `YYYY-MM-DD[Tt ]HH:MM:SS` (UTC); `None` sends the value to the general parsers.
#[inline(always)]
fn fast_seconds(head: &[u8; 19]) -> Option<i64> {
    let (date, rest) = head.split_first_chunk::<10>()?;
    let (year, month, day) = date_fields(date)?;
    let (sep, time) = rest.split_first_chunk::<1>()?;
    // `T`, `t` or a space.
    if sep[0] | 0x20 != b't' && sep[0] != b' ' {
        return None;
    }
    let pairs = digit_pairs(swar_digits(time.try_into().ok()?, b"00:00:00", 0x0000_FF00_00FF_0000)?);
    // Hour (byte 0) at most 23, minute (byte 3) at most 59, second (byte 6) at most 60: adding 104, 68 and
    // 67 sets a byte's high bit when out of range (and never carries, as the bytes are at most 99).
    if pairs.wrapping_add(0x0043_0000_4400_0068) & 0x0080_0000_8000_0080 != 0 {
        return None;
    }
    let (h, m, sec) = (pairs & 0xFF, (pairs >> 24) & 0xFF, (pairs >> 48) & 0xFF);
    let days = civil_days(year, month, day)?;
    Some(days as i64 * 86_400 + (h * 3600 + m * 60 + sec.min(59)) as i64)
}

/// Microseconds since midnight (UTC when the value has an offset).
pub fn time_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() >= 8 && b[2] == b':' && b[5] == b':' {
        let (h, m, sec) = (digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..8])?);
        if h > 23 || m > 59 || sec > 59 {
            return None;
        }
        let (frac, offset) = fraction_and_offset(&b[8..])?;
        let v = ((h * 3600 + m * 60 + sec) as i64 - offset) * 1_000_000 + frac;
        return Some(v.rem_euclid(MICROS_PER_DAY));
    }
    let t = NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()?;
    Some(t.num_seconds_from_midnight() as i64 * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_days_match_chrono_for_every_four_digit_date() {
        use chrono::Datelike;
        for year in 0..=9999u32 {
            // Every day of the months around leap days and century rules, day 0 and 32 for every month.
            for month in 0..=13u32 {
                for day in 0..=32u32 {
                    let want = NaiveDate::from_ymd_opt(year as i32, month, day)
                        .map(|d| d.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE);
                    assert_eq!(civil_days(year, month, day), want, "{year:04}-{month:02}-{day:02}");
                }
            }
        }
        assert_eq!(date("1970-01-01"), Some(0));
        assert_eq!(date("2000-02-29"), Some(11_016));
        assert_eq!(date("1900-02-29"), None);
        assert_eq!(timestamp_micros("1969-12-31T23:59:59Z"), Some(-1_000_000));
    }

    #[test]
    fn scalars_and_coercions() {
        assert_eq!(integer("42"), Some(42));
        assert_eq!(integer("3.0"), Some(3));
        assert_eq!(integer("\"7\""), Some(7));
        assert_eq!(integer("3.5"), None);
        assert_eq!(integer("1e30"), None);
        assert_eq!(integer("true"), None);
        assert_eq!(number("-1.5e3"), Some(-1500.0));
        assert_eq!(number("\"2.5\""), Some(2.5));
        assert_eq!(number("{}"), None);
        assert_eq!(boolean("true"), Some(true));
        assert_eq!(boolean("1"), None);
        assert_eq!(string(r#""a\"b""#).as_deref(), Some("a\"b"));
        assert_eq!(string("12"), None);
    }

    #[test]
    fn numbers_parse_exactly_like_the_general_parser() {
        let mut next = crate::tests::xorshift(0x9E37_79B9_7F4A_7C15);
        let mut fast = 0;
        for _ in 0..200_000 {
            let int_digits = (next() % 20) as usize + 1;
            let frac_digits = (next() % 12) as usize;
            let mut text = String::new();
            if next() % 3 == 0 {
                text.push('-');
            }
            text.push((b'1' + (next() % 9) as u8) as char);
            for _ in 1..int_digits {
                text.push((b'0' + (next() % 10) as u8) as char);
            }
            if frac_digits > 0 {
                text.push('.');
                for _ in 0..frac_digits {
                    text.push((b'0' + (next() % 10) as u8) as char);
                }
            }
            let expected: f64 = text.parse().unwrap();
            fast += usize::from(parse_number(text.as_bytes()).is_some());
            assert_eq!(number(&text).map(f64::to_bits), Some(expected.to_bits()), "{text}");
            if frac_digits == 0 {
                assert_eq!(integer(&text), text.parse::<i64>().ok(), "{text}");
            } else {
                let whole = expected.fract() == 0.0 && (-2f64.powi(63)..2f64.powi(63)).contains(&expected);
                assert_eq!(integer(&text), whole.then_some(expected as i64), "{text}");
            }
        }
        assert!(fast > 50_000, "the codec's exact parse took only {fast} values");
        for text in ["-0", "-0.0", "0.0", "1e3", "-1.5E-3", "01", "00.5", "123456789012345678901234567890"] {
            let expected = text.parse::<f64>().unwrap();
            assert_eq!(number(text).map(f64::to_bits), Some(expected.to_bits()), "{text}");
        }
        assert_eq!(number("-0").map(f64::to_bits), Some((-0.0f64).to_bits()));
        assert_eq!(integer("-0"), Some(0));
        assert_eq!(integer("-0.0"), Some(0));
        assert_eq!(integral(9_223_372_036_854_775_808.0), None);
        assert_eq!(integral(-9_223_372_036_854_775_808.0), Some(i64::MIN));
        assert_eq!(integral(f64::NAN), None);
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(date("1970-01-02"), Some(1));
        assert_eq!(date("2024-02-30"), None);
        assert_eq!(date("2024-01-01T23:00:00-02:00"), date("2024-01-02"));
        assert_eq!(timestamp_micros("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(timestamp_micros("1970-01-01 01:00:00+01:00"), Some(0));
        assert_eq!(timestamp_micros("1970-01-01T00:00:00.000001+0000"), Some(1));
        assert_eq!(timestamp_micros("1970-01-01T00:00:00"), Some(0));
        assert_eq!(timestamp_micros("2024-13-01T00:00:00Z"), None);
        assert_eq!(timestamp_micros("yesterday"), None);
        assert_eq!(time_micros("00:00:01.25"), Some(1_250_000));
        assert_eq!(time_micros("01:00:00+01:00"), Some(0));
        assert_eq!(time_micros("25:00:00"), None);
        // Ten bytes that are no calendar date (these overflowed the stack, `date` and `timestamp_micros` asking
        // each other): no value, unless they are a date-time, as text of any other length would be.
        for text in ["yesterday!", "2024/01/01", "2024-01-1x", "20240101  "] {
            assert_eq!(date(text), None, "{text}");
            assert_eq!(timestamp_micros(text), None, "{text}");
        }
        let year_one = -719_162;
        assert_eq!(date("1-1-1T1:01"), Some(year_one));
        assert_eq!(timestamp_micros("1-1-1T1:01"), Some(year_one as i64 * MICROS_PER_DAY + 3_660_000_000));
        assert_eq!(date("1-1-1T1:01:00"), date("1-1-1T1:01"), "as at other lengths");
    }

    // The implementation before the fixed-shape fast paths, kept as the reference the fast paths must match.
    // (Copied unchanged apart from the names; `digits`, `fraction_and_offset` and the chrono fallback did not
    // change and are shared.)
    fn reference_civil_days(year: u32, month: u32, day: u32) -> Option<i32> {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        if day == 0 || day > month_days {
            return None;
        }
        // Years 0000-9999 from March: 0000-03-01 is day 0 of era 0 (no negative years here).
        let y = if month <= 2 { year as i64 - 1 } else { year as i64 };
        let era = y.div_euclid(400);
        let year_of_era = y - era * 400;
        let shifted_month = (month as i64 + 9) % 12;
        let day_of_year = (153 * shifted_month + 2) / 5 + day as i64 - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        // 719,468 days from 0000-03-01 to 1970-01-01.
        Some((era * 146_097 + day_of_era - 719_468) as i32)
    }
    fn reference_date(s: &str) -> Option<i32> {
        let b = s.as_bytes();
        if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
            return reference_civil_days(digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
        }
        if let Ok(d) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
            return Some(epoch_days(d));
        }
        reference_timestamp_micros(s).map(|us| us.div_euclid(MICROS_PER_DAY) as i32)
    }
    fn reference_timestamp_micros(s: &str) -> Option<i64> {
        let b = s.as_bytes();
        if b.len() >= 19
            && b[4] == b'-'
            && b[7] == b'-'
            && matches!(b[10], b'T' | b't' | b' ')
            && b[13] == b':'
            && b[16] == b':'
        {
            if let Some(v) = reference_fast_timestamp(b) {
                return Some(v);
            }
        }
        if b.len() == 10 {
            return reference_date(s).map(|d| d as i64 * MICROS_PER_DAY);
        }
        chrono_timestamp(s)
    }
    fn reference_fast_timestamp(b: &[u8]) -> Option<i64> {
        let days = reference_civil_days(digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?)?;
        let (h, m, sec) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
        if h > 23 || m > 59 || sec > 60 {
            return None;
        }
        let (frac, offset) = fraction_and_offset(&b[19..])?;
        let secs = days as i64 * 86_400 + (h * 3600 + m * 60 + sec.min(59)) as i64 - offset;
        secs.checked_mul(1_000_000)?.checked_add(frac)
    }

    /// Ten bytes without the date's dashes that chrono's date parser rejects: the reference's `date` asks
    /// `timestamp_micros`, which asks `date` again, until the stack overflows. Both are now chrono's date-time
    /// reading of the text, as for text of any other length (mostly none).
    fn recurses_without_end(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() == 10 && !(b[4] == b'-' && b[7] == b'-') && NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").is_err()
    }

    /// Asserts `date` and `timestamp_micros` agree with the reference; returns whether each gave a value.
    fn same_as_reference(s: &str) -> (bool, bool) {
        let (d, ts) = (date(s), timestamp_micros(s));
        if recurses_without_end(s) {
            let expected = chrono_timestamp(s);
            assert_eq!((d, ts), (expected.map(|us| us.div_euclid(MICROS_PER_DAY) as i32), expected), "{s:?}");
            return (d.is_some(), ts.is_some());
        }
        assert_eq!(d, reference_date(s), "date({s:?})");
        assert_eq!(ts, reference_timestamp_micros(s), "timestamp_micros({s:?})");
        (d.is_some(), ts.is_some())
    }

    const TIMES: [&str; 8] = [
        "T00:00:00Z",
        " 23:59:60",
        "t12:34:56.789+05:30",
        "T23:59:59.999999999-23:59",
        "T01:02:03z",
        " 00:00:00.5-0130",
        "T24:00:00Z",
        "T10:60:00Z",
    ];

    #[test]
    fn fast_paths_match_the_reference_on_every_day_of_edge_years() {
        let mut years: Vec<u32> = vec![0, 1, 2, 3, 4, 5, 1582, 1899, 1900, 1901, 1969, 1970, 1971, 2026, 9995, 9999];
        years.extend([96, 100, 104, 396, 400, 404, 1996, 2000, 2004, 2096, 2100, 2104, 2396, 2400, 2404]);
        let mut valid = 0;
        for (n, &year) in years.iter().enumerate() {
            for month in 0..=13 {
                for day in 0..=32 {
                    let text = format!("{year:04}-{month:02}-{day:02}");
                    let (is_date, _) = same_as_reference(&text);
                    valid += usize::from(is_date);
                    for time in TIMES.iter().skip(n % 4).step_by(2) {
                        same_as_reference(&format!("{text}{time}"));
                    }
                }
            }
        }
        let leap_days = years.iter().filter(|&&y| NaiveDate::from_ymd_opt(y as i32, 2, 29).is_some()).count();
        assert_eq!(valid, 365 * years.len() + leap_days);
        // Every real day of every year, as a date and as a timestamp.
        for year in 0..=9999u32 {
            for month in 1..=12 {
                for day in 1..=31 {
                    let text = format!("{year:04}-{month:02}-{day:02}");
                    let (is_date, _) = same_as_reference(&text);
                    if is_date {
                        same_as_reference(&format!("{text}{}", TIMES[(year + day) as usize % 4]));
                    }
                }
            }
        }
    }

    /// A random string of the shapes the fast paths take, with random field values (many out of range), random
    /// fractions and offsets, and sometimes a byte or two replaced.
    fn random_date_time(next: &mut impl FnMut() -> u64) -> String {
        const EDGES: [u64; 20] = [0, 1, 2, 9, 10, 12, 13, 19, 20, 23, 24, 28, 29, 30, 31, 32, 59, 60, 61, 99];
        // Mostly in range, else any two digits or an edge value.
        fn pick(next: &mut impl FnMut() -> u64, range: u64) -> u64 {
            match next() % 8 {
                0 => next() % 100,
                1 => EDGES[(next() % EDGES.len() as u64) as usize],
                _ => next() % range,
            }
        }
        let year = match pick(next, 4) {
            0 => [0, 1, 4, 100, 400, 1900, 1970, 2000, 2024, 9999][(next() % 10) as usize],
            _ => next() % 10_000,
        };
        let (month, day) = (pick(next, 12) + 1, pick(next, 31) + 1);
        let mut text = format!("{year:04}-{month:02}-{day:02}");
        if next() % 5 != 0 {
            let sep = ["T", "t", " ", "T", "x"][(next() % 5) as usize];
            let (h, m, s) = (pick(next, 24), pick(next, 60), pick(next, 60));
            text += &format!("{sep}{h:02}:{m:02}");
            if next() % 8 != 0 {
                text += &format!(":{s:02}");
            }
            match next() % 4 {
                0 => {}
                1 => text.push('.'),
                _ => {
                    text.push('.');
                    for _ in 0..next() % 12 + 1 {
                        text.push((b'0' + (next() % 10) as u8) as char);
                    }
                }
            }
            let (oh, om) = (pick(next, 24), pick(next, 60));
            let sign = if next() % 2 == 0 { '+' } else { '-' };
            match next() % 8 {
                0 => {}
                1 => text.push('Z'),
                2 => text.push('z'),
                3 => text += &format!("{sign}{oh:02}{om:02}"),
                4 => text += &format!("{sign}{oh:02}"),
                5 => text += &format!("{sign}{oh}"),
                _ => text += &format!("{sign}{oh:02}:{om:02}"),
            }
        }
        // Half the strings unchanged, a third one byte replaced, a sixth two.
        for _ in 0..[0, 0, 0, 1, 1, 2][(next() % 6) as usize] {
            // The string is ASCII before its first non-ASCII replacement; later replacements stay before it.
            let ascii = text.bytes().take_while(u8::is_ascii).count();
            if ascii == 0 {
                break;
            }
            let at = (next() % ascii as u64) as usize;
            let letter = (b'a' + (next() % 26) as u8 - if next() % 2 == 0 { 32 } else { 0 }) as char;
            let digit = (b'0' + (next() % 10) as u8) as char;
            let by = [digit, digit, letter, '-', ':', 'T', ' ', 'Z', '+', '.', '\0', '\u{80}'][(next() % 12) as usize];
            text.replace_range(at..at + 1, by.encode_utf8(&mut [0; 4]));
        }
        text
    }

    #[test]
    fn fast_paths_match_the_reference_on_random_date_times() {
        let mut next = crate::tests::xorshift(0x2545_F491_4F6C_DD1D);
        let (mut dates, mut timestamps) = (0, 0);
        for _ in 0..400_000 {
            let (d, ts) = same_as_reference(&random_date_time(&mut next));
            dates += usize::from(d);
            timestamps += usize::from(ts);
        }
        // Enough of both outcomes for the comparison to mean something.
        assert!((40_000..360_000).contains(&dates), "{dates} dates");
        assert!((50_000..350_000).contains(&timestamps), "{timestamps} timestamps");
    }

    #[test]
    fn fast_paths_match_the_reference_on_truncations_and_extensions() {
        let mut next = crate::tests::xorshift(0xD1B5_4A32_D192_ED03);
        let mut texts: Vec<String> =
            ["2026-04-02T17:54:08Z", "2032-10-04", "0000-01-01 00:00:00.000001+23:59"].map(String::from).to_vec();
        while texts.len() < 1000 {
            let text = random_date_time(&mut next);
            if !recurses_without_end(&text) && reference_timestamp_micros(&text).is_some() {
                texts.push(text);
            }
        }
        let tails = ["0", "5", "Z", "z", "+", "-", ".", " ", ":", "T", "\u{80}", "+01:00", ".5", "00", "Z0", "+0100"];
        for text in &texts {
            for cut in (0..=text.len()).filter(|&cut| text.is_char_boundary(cut)) {
                let prefix = &text[..cut];
                same_as_reference(prefix);
                same_as_reference(prefix.trim_end());
                for tail in tails {
                    same_as_reference(&format!("{prefix}{tail}"));
                    same_as_reference(&format!(" {prefix}{tail}"));
                }
            }
        }
    }
}
