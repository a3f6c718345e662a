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
/// The usual era arithmetic of the proleptic Gregorian calendar (400-year eras of 146,097 days, years
/// counted from March so the leap day comes last): a few integer operations where chrono's constructor
/// and day count cost about a hundred instructions a value.
fn civil_days(year: u32, month: u32, day: u32) -> Option<i32> {
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

/// Days since 1970-01-01.
pub fn date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return civil_days(digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        return Some(epoch_days(d));
    }
    timestamp_micros(s).map(|us| us.div_euclid(MICROS_PER_DAY) as i32)
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
    let b = s.as_bytes();
    if b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':'
    {
        if let Some(v) = fast_timestamp(b) {
            return Some(v);
        }
    }
    if b.len() == 10 {
        return date(s).map(|d| d as i64 * MICROS_PER_DAY);
    }
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

fn fast_timestamp(b: &[u8]) -> Option<i64> {
    let days = civil_days(digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?)?;
    let (h, m, sec) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let (frac, offset) = fraction_and_offset(&b[19..])?;
    let secs = days as i64 * 86_400 + (h * 3600 + m * 60 + sec.min(59)) as i64 - offset;
    secs.checked_mul(1_000_000)?.checked_add(frac)
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
    }
}
