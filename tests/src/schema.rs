//! JSON-schema helpers shared by the checks: walking every sub-schema, the AirbyteMessage validator built
//! from `shared/airbyte/airbyte_protocol.yaml`, Draft-7 checks and undeclared-field detection.

use serde_json::{Map, Value};
use std::sync::OnceLock;

/// One sub-schema met by [`walk`].
pub struct Node<'a> {
    pub schema: &'a Map<String, Value>,
    /// JSON pointer of this sub-schema inside the walked document.
    pub pointer: String,
    /// Property name when this node is the schema of a property.
    pub property: Option<&'a str>,
    /// The object schema whose `properties` hold this node.
    pub parent: Option<&'a Map<String, Value>>,
    /// Depth counted in properties (a root property has 1).
    pub property_depth: usize,
}

/// Visit every sub-schema of `root` (properties, items, additionalProperties, combinators, definitions).
/// Keys inside `properties` are property names, never keywords.
pub fn walk<'a>(root: &'a Value, visit: &mut dyn FnMut(&Node<'a>)) {
    fn go<'a>(
        value: &'a Value,
        pointer: String,
        property: Option<&'a str>,
        parent: Option<&'a Map<String, Value>>,
        depth: usize,
        visit: &mut dyn FnMut(&Node<'a>),
    ) {
        let Some(schema) = value.as_object() else { return };
        visit(&Node { schema, pointer: pointer.clone(), property, parent, property_depth: depth });
        for (key, sub) in schema {
            let here = format!("{pointer}/{}", escape(key));
            match key.as_str() {
                "properties" | "patternProperties" => {
                    if let Some(props) = sub.as_object() {
                        for (name, s) in props {
                            let p = format!("{here}/{}", escape(name));
                            let child_depth = if key == "properties" { depth + 1 } else { depth };
                            go(s, p, Some(name), Some(schema), child_depth, visit);
                        }
                    }
                }
                "definitions" | "$defs" | "dependentSchemas" => {
                    if let Some(defs) = sub.as_object() {
                        for (name, s) in defs {
                            go(s, format!("{here}/{}", escape(name)), None, None, depth, visit);
                        }
                    }
                }
                "items" | "prefixItems" | "oneOf" | "anyOf" | "allOf" => match sub {
                    Value::Array(items) => {
                        for (i, s) in items.iter().enumerate() {
                            go(s, format!("{here}/{i}"), None, None, depth, visit);
                        }
                    }
                    other => go(other, here, None, None, depth, visit),
                },
                "additionalProperties" | "additionalItems" | "not" | "if" | "then" | "else" | "contains" => {
                    go(sub, here, None, None, depth, visit)
                }
                _ => {}
            }
        }
    }
    go(root, String::new(), None, None, 0, visit);
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The `type` of a schema as a list of names (`"string"` -> `["string"]`).
pub fn types(schema: &Map<String, Value>) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Keys of schema nodes (not property names) equal to one of `keywords`, as (keyword, pointer).
pub fn find_keywords(root: &Value, keywords: &[&str]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    walk(root, &mut |node| {
        for k in node.schema.keys() {
            if keywords.contains(&k.as_str()) {
                found.push((k.clone(), format!("{}/{}", node.pointer, escape(k))));
            }
        }
    });
    found
}

/// Whether `path` (e.g. `["address", "city"]`) exists under the schema's nested `properties`.
pub fn path_exists(schema: &Value, path: &[String]) -> bool {
    property_at(schema, path).is_some()
}

/// The schema of the property at `path`, following nested `properties`.
pub fn property_at<'a>(schema: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut node = schema;
    for part in path {
        node = node.get("properties")?.get(part)?;
    }
    Some(node)
}

/// Problems found by Draft-7 meta-validation and compilation of `schema` (empty = valid).
pub fn draft7_problems(schema: &Value) -> Vec<String> {
    if let Err(e) = jsonschema::draft7::meta::validate(schema) {
        return vec![format!("not a valid Draft-7 schema: {e} at {}", e.instance_path())];
    }
    match jsonschema::draft7::new(schema) {
        Ok(_) => Vec::new(),
        Err(e) => vec![format!("schema does not compile: {e}")],
    }
}

/// The validator CAT uses for records: Draft 7, with CAT's lenient `date-time` check
/// (`connector_acceptance_test/utils/asserts.py` `CustomFormatChecker`): date, `T` or space, time, anything after,
/// so `timestamp_without_timezone` values such as `2024-01-02T10:30:00` are valid.
pub fn record_validator(schema: &Value) -> Option<jsonschema::Validator> {
    jsonschema::draft7::options().with_format("date-time", cat_date_time).build(schema).ok()
}

fn cat_date_time(value: &str) -> bool {
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let mut parts = value.splitn(2, ['T', ' ', 't']);
    let (Some(date), Some(rest)) = (parts.next(), parts.next()) else { return false };
    let d: Vec<&str> = date.split('-').collect();
    let date_ok = d.len() == 3 && d[0].len() == 4 && d.iter().all(|p| digits(p.as_bytes()) && p.len() <= 4);
    let t: Vec<&str> = rest.splitn(3, ':').collect();
    let time_ok = t.len() == 3
        && digits(t[0].as_bytes())
        && digits(t[1].as_bytes())
        && t[2].len() >= 2
        && digits(&t[2].as_bytes()[..2]);
    date_ok && time_ok
}

/// Every violation of `schema` by `instance`, as "at POINTER: message".
pub fn violations(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| {
            let p = e.instance_path().to_string();
            format!("at {}: {e}", if p.is_empty() { "/" } else { &p })
        })
        .collect()
}

/// Fields present in `value` but not declared in `schema` (`fail_on_extra_columns`), as JSON pointers.
/// Objects whose schema declares no `properties` are free-form and not descended into.
pub fn undeclared_fields(schema: &Value, value: &Value) -> Vec<String> {
    fn go(schema: &Value, value: &Value, pointer: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
                for (k, v) in map {
                    let here = format!("{pointer}/{}", escape(k));
                    match props.get(k) {
                        Some(s) => go(s, v, &here, out),
                        None => out.push(here),
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                    for (i, v) in items.iter().enumerate() {
                        go(item_schema, v, &format!("{pointer}/{i}"), out);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    go(schema, value, "", &mut out);
    out
}

/// The AirbyteMessage validator from the protocol YAML (built once per process).
pub fn airbyte_message_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = crate::support::shared_dir().join("airbyte/airbyte_protocol.yaml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let doc: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
        let schema = serde_json::json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$ref": "#/definitions/AirbyteMessage",
            "definitions": doc["definitions"].clone(),
        });
        jsonschema::draft7::new(&schema).unwrap_or_else(|e| panic!("AirbyteMessage schema does not compile: {e}"))
    })
}

/// Why `message` is not a valid AirbyteMessage (empty = valid).
pub fn message_problems(message: &Value) -> Vec<String> {
    violations(airbyte_message_validator(), message)
}

#[cfg(test)]
mod cat_format_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn date_time_is_as_lenient_as_cat() {
        let v = record_validator(&json!({"type": "string", "format": "date-time"})).unwrap();
        for ok in
            ["2024-01-02T10:30:00", "2024-01-02 10:30:00.123", "2024-01-02T10:30:00Z", "2024-01-02T10:30:00+02:00"]
        {
            assert!(v.is_valid(&json!(ok)), "{ok}");
        }
        for bad in ["2024-01-02", "yesterday", "10:30:00", "2024-01-02Tnoon"] {
            assert!(!v.is_valid(&json!(bad)), "{bad}");
        }
        // Other formats keep the strict checks.
        let d = record_validator(&json!({"type": "string", "format": "date"})).unwrap();
        assert!(!d.is_valid(&json!("2024-13-45")));
    }
}
