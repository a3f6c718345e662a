//! CAT's TestSpec lint rules on a `connectionSpecification` (reference/cat.md, section A).
//! Each rule returns its failures; [`lint`] runs them all under their check names.

use crate::schema::{types, walk};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// Property names CAT requires to be marked `airbyte_secret` (test_secret_is_properly_marked; compared
/// lower-cased and whole, so `api_key` is not one of them but `api_token` is).
pub const SECRET_NAMES: &[&str] = &[
    "client_token",
    "access_token",
    "api_token",
    "token",
    "secret",
    "client_secret",
    "password",
    "key",
    "service_account_info",
    "service_account",
    "tenant_id",
    "certificate",
    "jwt",
    "credentials",
    "app_id",
    "appid",
    "refresh_token",
];

/// Keywords CAT forbids in specs (test_forbidden_complex_types).
pub const FORBIDDEN_KEYWORDS: &[&str] = &[
    "not",
    "anyOf",
    "patternProperties",
    "prefixItems",
    "allOf",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependentRequired",
];

/// One lint rule: check name, what it asserts, and the function.
pub type Rule = (&'static str, &'static str, fn(&Value) -> Vec<String>);

/// Every lint rule, in CAT's order.
pub const RULES: &[Rule] = &[
    ("spec.valid_schema", "connectionSpecification is a valid Draft-7 JSON schema", valid_schema),
    ("spec.enum_unique", "every enum lists unique values", enum_unique),
    (
        "spec.oneof_rules",
        "oneOf/anyOf: object parent, variants with properties sharing one const discriminator",
        oneof_rules,
    ),
    (
        "spec.secrets_marked",
        "secret-named string/number properties are airbyte_secret; no other type is",
        secrets_marked,
    ),
    ("spec.type_arrays", "type arrays are only [T] or [T, \"null\"]", type_arrays),
    ("spec.object_not_empty", "every nested object declares properties (or oneOf)", object_not_empty),
    ("spec.array_items", "array items are one schema of type object/string/number/integer or an enum", array_items),
    (
        "spec.forbidden_keywords",
        "no not/anyOf/allOf/patternProperties/prefixItems/if/then/else/dependent*",
        forbidden_keywords,
    ),
    ("spec.group_order", "order unique within a group; group only on top-level properties", group_order),
    ("spec.display_type", "display_type only on oneOf fields, dropdown or radio", display_type),
    ("spec.refs_resolvable", "every $ref resolves inside the spec", refs_resolvable),
    ("spec.additional_properties", "additionalProperties, where present, is true", additional_properties),
];

/// Run every rule; returns (check name, what, failures).
pub fn lint(connection_specification: &Value) -> Vec<(&'static str, &'static str, Vec<String>)> {
    RULES.iter().map(|(name, what, rule)| (*name, *what, rule(connection_specification))).collect()
}

fn at(pointer: &str) -> &str {
    if pointer.is_empty() {
        "/"
    } else {
        pointer
    }
}

pub fn valid_schema(spec: &Value) -> Vec<String> {
    crate::schema::draft7_problems(spec)
}

pub fn enum_unique(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(spec, &mut |n| {
        if let Some(Value::Array(values)) = n.schema.get("enum") {
            let mut seen = HashSet::new();
            for v in values {
                if !seen.insert(v.to_string()) {
                    out.push(format!("{}: enum value {v} appears twice", at(&n.pointer)));
                }
            }
        }
    });
    out
}

pub fn oneof_rules(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(spec, &mut |n| {
        for key in ["oneOf", "anyOf"] {
            let Some(variants) = n.schema.get(key).and_then(Value::as_array) else { continue };
            let here = format!("{}/{key}", n.pointer);
            if !types(n.schema).contains(&"object") {
                out.push(format!("{here}: the parent of {key} must have type object"));
            }
            let mut prop_sets: Vec<&Map<String, Value>> = Vec::new();
            for (i, v) in variants.iter().enumerate() {
                match v.get("properties").and_then(Value::as_object) {
                    Some(p) => prop_sets.push(p),
                    None => out.push(format!("{here}/{i}: variant has no properties")),
                }
            }
            if prop_sets.len() != variants.len() || prop_sets.is_empty() {
                continue;
            }
            let shared: Vec<&String> =
                prop_sets[0].keys().filter(|k| prop_sets.iter().all(|p| p.contains_key(k.as_str()))).collect();
            if shared.is_empty() {
                out.push(format!("{here}: variants share no property"));
                continue;
            }
            let discriminators: Vec<&&String> =
                shared.iter().filter(|k| prop_sets.iter().all(|p| p[k.as_str()].get("const").is_some())).collect();
            if discriminators.len() != 1 {
                out.push(format!(
                    "{here}: exactly one shared property must have a const in every variant, found {}",
                    discriminators.len()
                ));
                continue;
            }
            let d = discriminators[0].as_str();
            for (i, p) in prop_sets.iter().enumerate() {
                let prop = &p[d];
                let c = &prop["const"];
                if let Some(def) = prop.get("default") {
                    if def != c {
                        out.push(format!("{here}/{i}/properties/{d}: default {def} differs from const {c}"));
                    }
                }
                if let Some(e) = prop.get("enum") {
                    if e != &Value::Array(vec![c.clone()]) {
                        out.push(format!("{here}/{i}/properties/{d}: enum {e} must be [const]"));
                    }
                }
            }
        }
    });
    out
}

pub fn secrets_marked(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(spec, &mut |n| {
        let Some(name) = n.property else { return };
        let ts = types(n.schema);
        let capable = ts.iter().any(|t| matches!(*t, "string" | "integer" | "number"));
        let marked = n.schema.get("airbyte_secret") == Some(&Value::Bool(true));
        let is_const = n.schema.contains_key("const");
        if SECRET_NAMES.contains(&name.to_lowercase().as_str()) && capable && !is_const && !marked {
            out.push(format!("{}: property `{name}` holds a secret but is not marked airbyte_secret", n.pointer));
        }
        if marked && !ts.is_empty() && !capable {
            out.push(format!("{}: property `{name}` of type {ts:?} cannot be airbyte_secret", n.pointer));
        }
    });
    out
}

pub fn type_arrays(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(spec, &mut |n| {
        if let Some(Value::Array(ts)) = n.schema.get("type") {
            let ok = ts.len() == 1 || (ts.len() == 2 && ts[1] == "null" && ts[0] != "null");
            if !ok {
                out.push(format!("{}: type {} must be [T] or [T, \"null\"]", at(&n.pointer), Value::Array(ts.clone())));
            }
        }
    });
    out
}

pub fn object_not_empty(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(spec, &mut |n| {
        if n.pointer.is_empty() || !types(n.schema).contains(&"object") {
            return;
        }
        let has_props = n.schema.get("properties").and_then(Value::as_object).is_some_and(|p| !p.is_empty());
        if !has_props && !n.schema.contains_key("oneOf") {
            out.push(format!("{}: object declares no properties", n.pointer));
        }
    });
    out
}

pub fn array_items(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(spec, &mut |n| {
        if !types(n.schema).contains(&"array") {
            return;
        }
        match n.schema.get("items") {
            Some(Value::Object(items)) => {
                let ok = items.contains_key("enum")
                    || types(items).iter().any(|t| matches!(*t, "object" | "string" | "number" | "integer"));
                if !ok {
                    out.push(format!(
                        "{}/items: items must be of type object/string/number/integer or an enum",
                        n.pointer
                    ));
                }
            }
            Some(_) => out.push(format!("{}/items: items must be one schema, not a list", n.pointer)),
            None => out.push(format!("{}: array has no items schema", at(&n.pointer))),
        }
    });
    out
}

pub fn forbidden_keywords(spec: &Value) -> Vec<String> {
    crate::schema::find_keywords(spec, FORBIDDEN_KEYWORDS)
        .into_iter()
        .map(|(k, p)| format!("{p}: keyword `{k}` is not allowed in a spec"))
        .collect()
}

pub fn group_order(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(spec, &mut |n| {
        if n.schema.contains_key("group") && n.property_depth != 1 {
            out.push(format!("{}: `group` is allowed only on top-level properties", n.pointer));
        }
        let Some(props) = n.schema.get("properties").and_then(Value::as_object) else { return };
        let mut seen: HashMap<(String, String), &str> = HashMap::new();
        for (name, p) in props {
            let Some(order) = p.get("order") else { continue };
            let group = p.get("group").map(Value::to_string).unwrap_or_default();
            if let Some(other) = seen.insert((group.clone(), order.to_string()), name) {
                out.push(format!(
                    "{}/properties: `{other}` and `{name}` share order {order} in group {group}",
                    n.pointer
                ));
            }
        }
    });
    out
}

pub fn display_type(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(spec, &mut |n| {
        let Some(dt) = n.schema.get("display_type") else { return };
        if !n.schema.contains_key("oneOf") {
            out.push(format!("{}: display_type is allowed only on oneOf fields", n.pointer));
        }
        if dt != "dropdown" && dt != "radio" {
            out.push(format!("{}: display_type {dt} must be dropdown or radio", n.pointer));
        }
    });
    out
}

pub fn refs_resolvable(spec: &Value) -> Vec<String> {
    fn go(v: &Value, root: &Value, pointer: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, sub) in m {
                    if k == "$ref" {
                        let ok =
                            sub.as_str().and_then(|r| r.strip_prefix('#')).is_some_and(|p| root.pointer(p).is_some());
                        if !ok {
                            out.push(format!("{pointer}: $ref {sub} does not resolve inside the spec"));
                        }
                    } else {
                        go(sub, root, &format!("{pointer}/{k}"), out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, sub) in items.iter().enumerate() {
                    go(sub, root, &format!("{pointer}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    go(spec, spec, "", &mut out);
    out
}

pub fn additional_properties(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(spec, &mut |n| {
        if let Some(ap) = n.schema.get("additionalProperties") {
            if ap != &Value::Bool(true) {
                out.push(format!("{}: additionalProperties is {ap}, must be true", at(&n.pointer)));
            }
        }
    });
    out
}

/// The config's problems against the spec, CAT-style: keys starting with `_` are removed first.
pub fn config_problems(connection_specification: &Value, config: &Value) -> Vec<String> {
    let mut config = config.clone();
    if let Some(map) = config.as_object_mut() {
        map.retain(|k, _| !k.starts_with('_'));
    }
    match jsonschema::draft7::new(connection_specification) {
        Ok(v) => crate::schema::violations(&v, &config),
        Err(e) => vec![format!("the spec does not compile: {e}")],
    }
}

/// Values of every `airbyte_secret` property found in `config` (for the no-secret-in-output check); values
/// under 3 characters are left out, as the protocol crate's mask does.
pub fn secret_values(connection_specification: &Value, config: &Value) -> Vec<String> {
    let mut out = airbyte_protocol::redact::collect_secrets(connection_specification, config);
    out.retain(|s| s.chars().count() >= 3);
    out.sort();
    out.dedup();
    out
}
