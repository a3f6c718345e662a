//! Process-wide registry of secret values that must never appear in any output, log or error.
//!
//! The scaffold registers every `airbyte_secret` value of the loaded config; connectors register
//! secrets they obtain at run time (refreshed tokens). [`apply`] masks them, raw or JSON-escaped.

use std::borrow::Cow;
use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// The text written in place of a secret.
pub const MASK: &str = "****";

/// Register a secret value. Values shorter than 3 characters are ignored (they would mask ordinary text).
pub fn add(secret: &str) {
    if secret.chars().count() < 3 {
        return;
    }
    let mut all = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    let mut forms = vec![secret.to_string()];
    // The JSON-escaped form, as it appears inside a serialised message.
    if let Ok(quoted) = serde_json::to_string(secret) {
        let escaped = &quoted[1..quoted.len() - 1];
        if escaped != secret {
            forms.push(escaped.to_string());
        }
    }
    for f in forms {
        if !all.contains(&f) {
            all.push(f);
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Whether any secret is registered (lets hot paths skip the scan).
pub fn any() -> bool {
    !SECRETS.read().unwrap_or_else(|e| e.into_inner()).is_empty()
}

/// Mask every registered secret in `text`.
pub fn apply(text: &str) -> Cow<'_, str> {
    let all = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if all.iter().all(|s| !text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in all.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    Cow::Owned(out)
}

/// Walk a connection specification and a config together and register every value the spec marks
/// `airbyte_secret: true` (including inside `oneOf` variants and arrays).
pub fn register_config_secrets(spec: &serde_json::Value, config: &serde_json::Value) {
    for s in collect_secrets(spec, config) {
        add(&s);
    }
}

/// Every secret string (or number, as text) of `config` according to `spec`.
pub fn collect_secrets(spec: &serde_json::Value, config: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(spec, config, &mut out);
    out
}

fn walk(schema: &serde_json::Value, value: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    if schema.get("airbyte_secret").and_then(Value::as_bool) == Some(true) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            _ => {}
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(variants)) = schema.get(key) {
            for v in variants {
                walk(v, value, out);
            }
        }
    }
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = schema.get("properties") {
                for (k, sub) in props {
                    if let Some(v) = map.get(k) {
                        walk(sub, v, out);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for v in items {
                    walk(item_schema, v, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_in_one_of_are_found_and_masked() {
        let spec = json!({"type":"object","properties":{"credentials":{"type":"object","oneOf":[
            {"properties":{"api_key":{"type":"string","airbyte_secret":true}}},
            {"properties":{"client_secret":{"type":"string","airbyte_secret":true},"client_id":{"type":"string"}}}
        ]}}});
        let config = json!({"credentials":{"client_id":"visible-id","client_secret":"s3cr\"et-value"}});
        let found = collect_secrets(&spec, &config);
        assert_eq!(found, vec!["s3cr\"et-value".to_string()]);
        register_config_secrets(&spec, &config);
        let line = serde_json::to_string(&json!({"m": "oops s3cr\"et-value visible-id"})).unwrap();
        let masked = apply(&line);
        assert!(!masked.contains("et-value"), "{masked}");
        assert!(masked.contains("visible-id"));
    }
}
