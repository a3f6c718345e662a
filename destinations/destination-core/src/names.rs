//! Sanitising names that come from data (streams, namespaces, fields) before they become column names or
//! object-key segments.
//!
//! - [`column_name`]: Airbyte's Avro/Parquet rule: characters outside `[A-Za-z0-9_]` become `_`, a leading
//!   digit gets a `_` prefix, an empty name becomes `_`.
//! - [`path_segment`]: one segment of an object key or file path: never empty, never `.` or `..`, no `/` or
//!   `\`, only S3-safe ASCII (`[A-Za-z0-9_.-]`), so a key built from segments cannot escape its prefix.
//! - [`UniqueNames`]: makes sanitised names unique within one scope (`a b` and `a_b` -> `a_b`, `a_b_2`).

use std::collections::HashSet;

/// A column name following Airbyte's Parquet/Avro rule (`[A-Za-z0-9_]`, no leading digit).
pub fn column_name(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// One path segment that is safe in an S3 key and on a local file system.
///
/// Keeps `[A-Za-z0-9_.-]`, replaces everything else (including `/`, `\`, spaces and non-ASCII) with `_`,
/// and turns a segment made only of dots (`.`, `..`) into underscores. Never returns an empty string.
pub fn path_segment(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '_' }).collect();
    if out.is_empty() {
        out.push('_');
    }
    if out.chars().all(|c| c == '.') {
        out = "_".repeat(out.len());
    }
    out
}

/// Whether `key` is a relative object key with no empty, `.` or `..` segment and no backslash: a key that
/// stays under whatever prefix it is appended to.
pub fn is_contained_key(key: &str) -> bool {
    !key.starts_with('/') && !key.contains('\\') && key.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Hands out unique names within one scope (one struct level, one table).
#[derive(Debug, Default, Clone)]
pub struct UniqueNames {
    taken: HashSet<String>,
}

impl UniqueNames {
    /// A scope where `reserved` names are already taken.
    pub fn with_reserved<'a>(reserved: impl IntoIterator<Item = &'a str>) -> Self {
        UniqueNames { taken: reserved.into_iter().map(str::to_string).collect() }
    }
    /// `candidate`, or `candidate_2`, `candidate_3`, ... if it is taken.
    pub fn claim(&mut self, candidate: String) -> String {
        if self.taken.insert(candidate.clone()) {
            return candidate;
        }
        let mut n = 2;
        loop {
            let next = format!("{candidate}_{n}");
            if self.taken.insert(next.clone()) {
                return next;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_follow_airbyte() {
        assert_eq!(column_name("first name"), "first_name");
        assert_eq!(column_name("2nd"), "_2nd");
        assert_eq!(column_name("Größe.m²"), "Gr__e_m_");
        assert_eq!(column_name(""), "_");
        assert_eq!(column_name("ok_Name1"), "ok_Name1");
    }

    #[test]
    fn path_segments_cannot_escape() {
        for evil in ["..", ".", "a/../b", "/etc/passwd", "a\\b", "", "Bestände 2024", "x/y"] {
            let s = path_segment(evil);
            assert!(is_contained_key(&s), "{evil:?} -> {s:?}");
            assert!(!s.contains('/') && s != ".." && s != ".", "{evil:?} -> {s:?}");
        }
        assert_eq!(path_segment("my stream.v1"), "my_stream.v1");
        assert_eq!(path_segment(".."), "__");
        assert!(!is_contained_key("a/../b") && !is_contained_key("/a") && !is_contained_key("a//b"));
    }

    #[test]
    fn unique_names_get_suffixes() {
        let mut u = UniqueNames::with_reserved(["_airbyte_meta"]);
        assert_eq!(u.claim("a_b".into()), "a_b");
        assert_eq!(u.claim("a_b".into()), "a_b_2");
        assert_eq!(u.claim("_airbyte_meta".into()), "_airbyte_meta_2");
    }
}
