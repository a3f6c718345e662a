//! Object keys as Airbyte's destination-s3 builds them: `<bucket_path>/<s3_path_format><file_name_pattern>`,
//! with `${VAR}` path variables and `{var}` file-name variables; names from data are sanitised so no key
//! escapes its prefix. [`KeyPattern::matches`] recognises keys of one stream (for overwrite clean-up).

use airbyte_protocol::{ConnectorError, Result};
use chrono::{DateTime, Datelike, Timelike, Utc};
use destination_core::names;

pub const DEFAULT_PATH_FORMAT: &str = "${NAMESPACE}/${STREAM_NAME}/${YEAR}_${MONTH}_${DAY}_${EPOCH}_";
pub const DEFAULT_FILE_NAME_PATTERN: &str = "{part_number}{format_extension}";
pub const EXTENSION: &str = ".parquet";

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(String),
    /// A value that changes per sync or file: matches any run of characters except `/`.
    Wildcard,
}

/// The key template of one stream, with the stream's names fixed.
#[derive(Debug, Clone)]
pub struct KeyPattern {
    bucket_path: String,
    path_format: String,
    file_pattern: String,
    namespace: String,
    stream: String,
}

/// Values that vary per sync or file.
#[derive(Debug, Clone)]
pub struct KeyValues {
    pub sync_start: DateTime<Utc>,
    pub part_number: u64,
    pub sync_id: Option<i64>,
}

impl KeyPattern {
    pub fn new(
        bucket_path: &str,
        path_format: Option<&str>,
        file_pattern: Option<&str>,
        namespace: Option<&str>,
        stream: &str,
    ) -> Result<Self> {
        let path_format =
            path_format.filter(|p| !p.trim().is_empty()).unwrap_or(DEFAULT_PATH_FORMAT).trim().to_string();
        let file_pattern =
            file_pattern.filter(|p| !p.trim().is_empty()).unwrap_or(DEFAULT_FILE_NAME_PATTERN).trim().to_string();
        if file_pattern.contains('/') {
            return Err(ConnectorError::config(format!("file_name_pattern {file_pattern:?} must not contain `/`")));
        }
        Ok(KeyPattern {
            bucket_path: bucket_path.to_string(),
            path_format,
            file_pattern,
            namespace: namespace.map(names::path_segment).unwrap_or_default(),
            stream: names::path_segment(stream),
        })
    }

    fn tokens(&self, values: Option<&KeyValues>) -> Result<Vec<Token>> {
        let mut tokens = Vec::new();
        let lit = |s: String| Token::Literal(s);
        let fixed = |s: &str| -> Vec<Token> { vec![Token::Literal(s.to_string())] };
        tokens.extend(fixed(&self.bucket_path));
        tokens.push(lit("/".into()));
        // Path variables: ${NAME}.
        let path = &self.path_format;
        let mut rest = path.as_str();
        while let Some(start) = rest.find("${") {
            tokens.push(lit(rest[..start].to_string()));
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| ConnectorError::config(format!("s3_path_format {path:?}: `${{` without `}}`")))?;
            let var = &rest[start + 2..start + end];
            tokens.push(self.path_variable(var, values).map_err(|e| e.context(format!("s3_path_format {path:?}")))?);
            rest = &rest[start + end + 1..];
        }
        tokens.push(lit(rest.to_string()));
        // File variables: {name}. Airbyte appends the file name to the path directly (no separator).
        let file = &self.file_pattern;
        let mut rest = file.as_str();
        while let Some(start) = rest.find('{') {
            tokens.push(lit(rest[..start].to_string()));
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| ConnectorError::config(format!("file_name_pattern {file:?}: `{{` without `}}`")))?;
            let var = &rest[start + 1..start + end];
            tokens.push(self.file_variable(var, values).map_err(|e| e.context(format!("file_name_pattern {file:?}")))?);
            rest = &rest[start + end + 1..];
        }
        tokens.push(lit(rest.to_string()));
        Ok(tokens)
    }

    fn path_variable(&self, var: &str, values: Option<&KeyValues>) -> Result<Token> {
        let t = values.map(|v| v.sync_start);
        let val = |f: &dyn Fn(DateTime<Utc>) -> String| t.map(|t| Token::Literal(f(t))).unwrap_or(Token::Wildcard);
        Ok(match var {
            "NAMESPACE" => Token::Literal(self.namespace.clone()),
            "STREAM_NAME" => Token::Literal(self.stream.clone()),
            "YEAR" => val(&|t| format!("{:04}", t.year())),
            "MONTH" => val(&|t| format!("{:02}", t.month())),
            "DAY" => val(&|t| format!("{:02}", t.day())),
            "HOUR" => val(&|t| format!("{:02}", t.hour())),
            "MINUTE" => val(&|t| format!("{:02}", t.minute())),
            "SECOND" => val(&|t| format!("{:02}", t.second())),
            // Airbyte pads milliseconds to four digits.
            "MILLISECOND" => val(&|t| format!("{:04}", t.timestamp_subsec_millis())),
            "EPOCH" => val(&|t| t.timestamp_millis().to_string()),
            "UUID" => match values {
                Some(_) => Token::Literal(uuid::Uuid::new_v4().to_string()),
                None => Token::Wildcard,
            },
            other => return Err(ConnectorError::config(format!("unknown path variable ${{{other}}}"))),
        })
    }

    fn file_variable(&self, var: &str, values: Option<&KeyValues>) -> Result<Token> {
        let Some(v) = values else {
            return Ok(if var == "format_extension" { Token::Literal(EXTENSION.into()) } else { Token::Wildcard });
        };
        let t = v.sync_start;
        Ok(Token::Literal(match var {
            "date" => t.format("%Y_%m_%d").to_string(),
            "date:yyyy_MM" => t.format("%Y_%m").to_string(),
            "timestamp" | "timestamp:millis" => t.timestamp_millis().to_string(),
            "timestamp:micros" => t.timestamp_micros().to_string(),
            "part_number" => v.part_number.to_string(),
            "sync_id" => v.sync_id.map(|s| s.to_string()).unwrap_or_default(),
            "format_extension" => EXTENSION.to_string(),
            other => return Err(ConnectorError::config(format!("unknown file name variable {{{other}}}"))),
        }))
    }

    /// The key of one file.
    pub fn render(&self, values: &KeyValues) -> Result<String> {
        let tokens = self.tokens(Some(values))?;
        let raw: String = tokens
            .into_iter()
            .map(|t| match t {
                Token::Literal(s) => s,
                Token::Wildcard => String::new(),
            })
            .collect();
        let key = collapse_slashes(&raw);
        if !names::is_contained_key(&key) {
            return Err(ConnectorError::config(format!(
                "the object key {key:?} built from s3_bucket_path / s3_path_format / file_name_pattern is not a \
                 plain relative key (empty, `.` or `..` segment)"
            )));
        }
        Ok(key)
    }

    /// Check the templates (unknown variables, unbalanced braces) without values.
    pub fn validate(&self) -> Result<()> {
        self.tokens(None).map(|_| ())
    }

    /// The longest fixed directory prefix of this stream's keys (for listing), ending in `/` or empty.
    pub fn list_prefix(&self) -> Result<String> {
        let mut prefix = String::new();
        for t in self.tokens(None)? {
            match t {
                Token::Literal(s) => prefix.push_str(&s),
                Token::Wildcard => break,
            }
        }
        let prefix = collapse_slashes(&prefix);
        Ok(match prefix.rfind('/') {
            Some(i) => prefix[..=i].to_string(),
            None => String::new(),
        })
    }

    /// Whether `key` could have been written for this stream by any sync.
    pub fn matches(&self, key: &str) -> Result<bool> {
        Ok(self.matcher()?.matches(key))
    }

    /// [`matches`](Self::matches) made once for many keys: the templates are read once, not per key (1000
    /// streams compared pairwise at start took 0.8 s).
    pub fn matcher(&self) -> Result<KeyMatcher> {
        // Render the template with a marker for every varying value, collapse it like keys, then glob-match.
        let pattern: String = self
            .tokens(None)?
            .into_iter()
            .map(|t| match t {
                Token::Literal(s) => s,
                Token::Wildcard => WILDCARD.to_string(),
            })
            .collect();
        Ok(KeyMatcher { pattern: collapse_slashes(&pattern).into_bytes() })
    }
}

/// A stream's keys as a glob pattern ([`KeyPattern::matcher`]).
pub struct KeyMatcher {
    pattern: Vec<u8>,
}

impl KeyMatcher {
    /// Whether `key` could have been written for the stream by any sync.
    pub fn matches(&self, key: &str) -> bool {
        glob_match(&self.pattern, key.as_bytes())
    }
}

/// Stands for one varying value in a pattern; cannot occur in keys (they are sanitised). One byte in UTF-8, so
/// patterns match byte by byte (no byte of a multi-byte character is a `/`).
const WILDCARD: char = '\u{0}';
const WILDCARD_BYTE: u8 = 0;

/// `a//b/` -> `a/b/`, no leading `/`.
fn collapse_slashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '/' && (out.is_empty() || out.ends_with('/')) {
            continue;
        }
        out.push(c);
    }
    out
}

/// Glob match where [`WILDCARD`] stands for any run of bytes other than `/`.
fn glob_match(pattern: &[u8], key: &[u8]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&WILDCARD_BYTE, rest)) => {
            let mut i = 0;
            loop {
                if glob_match(rest, &key[i..]) {
                    return true;
                }
                if i >= key.len() || key[i] == b'/' {
                    return false;
                }
                i += 1;
            }
        }
        Some((c, rest)) => key.first() == Some(c) && glob_match(rest, &key[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn values(part: u64) -> KeyValues {
        KeyValues {
            sync_start: Utc.with_ymd_and_hms(2021, 1, 2, 3, 4, 5).unwrap(),
            part_number: part,
            sync_id: Some(9),
        }
    }

    #[test]
    fn default_key_matches_airbyte() {
        let p = KeyPattern::new("data", None, None, Some("public"), "users").unwrap();
        assert_eq!(p.render(&values(0)).unwrap(), "data/public/users/2021_01_02_1609556645000_0.parquet");
        let p = KeyPattern::new("", None, None, None, "users").unwrap();
        assert_eq!(p.render(&values(3)).unwrap(), "users/2021_01_02_1609556645000_3.parquet");
        assert_eq!(p.list_prefix().unwrap(), "users/");
        assert!(p.matches("users/2021_01_02_1609556645000_3.parquet").unwrap());
        assert!(!p.matches("users_v2/2021_01_02_1609556645000_3.parquet").unwrap());
        assert!(!p.matches("users/sub/2021_01_02_1_3.parquet").unwrap());
    }

    #[test]
    fn hostile_names_stay_inside_the_prefix() {
        for (ns, stream) in [(Some(".."), ".."), (Some("a/b"), "../../etc"), (None, "Bestände 2024"), (Some("."), "/")]
        {
            let p = KeyPattern::new("base", None, None, ns, stream).unwrap();
            let key = p.render(&values(0)).unwrap();
            assert!(key.starts_with("base/") && names::is_contained_key(&key), "{key}");
            assert!(p.matches(&key).unwrap(), "{key}");
        }
    }

    #[test]
    fn custom_patterns_and_variables() {
        let p = KeyPattern::new(
            "b/",
            Some("${STREAM_NAME}/${YEAR}/${MONTH}/${DAY}/${HOUR}${MINUTE}${SECOND}_${MILLISECOND}"),
            Some("{date}_{sync_id}_{part_number}{format_extension}"),
            None,
            "s",
        )
        .unwrap();
        let key = p.render(&values(1)).unwrap();
        assert_eq!(key, "b/s/2021/01/02/030405_00002021_01_02_9_1.parquet");
        assert!(p.matches(&key).unwrap());
        assert_eq!(p.list_prefix().unwrap(), "b/s/");
        assert!(KeyPattern::new("", Some("${NOPE}"), None, None, "s").unwrap().validate().is_err());
        assert!(KeyPattern::new("", None, Some("a/{part_number}"), None, "s").is_err());
    }
}
