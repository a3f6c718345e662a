//! Each spec lint rule fails on a spec breaking it, and only that rule; a clean spec passes them all.

use conformance::spec_lint::{config_problems, lint};
use serde_json::{json, Value};

fn clean() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "required": ["api_token"],
        "additionalProperties": true,
        "properties": {
            "api_token": {"type": "string", "airbyte_secret": true, "order": 0, "group": "auth"},
            "region": {"type": "string", "enum": ["eu", "us"], "order": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "order": 2},
            "start": {"type": ["string", "null"], "format": "date", "order": 0, "group": "sync"},
            "credentials": {"type": "object", "title": "Auth", "display_type": "radio", "order": 3, "oneOf": [
                {"type": "object", "required": ["auth_type"], "properties": {
                    "auth_type": {"type": "string", "const": "oauth", "default": "oauth", "enum": ["oauth"]},
                    "client_secret": {"type": "string", "airbyte_secret": true}}},
                {"type": "object", "properties": {
                    "auth_type": {"type": "string", "const": "key"},
                    "password": {"type": "string", "airbyte_secret": true},
                    "token": {"type": "string", "const": "fixed"}}}
            ]},
            "nested": {"type": "object", "properties": {"not": {"type": "string"}, "ref": {"$ref": "#/properties/region"}}}
        }
    })
}

fn failing(spec: &Value) -> Vec<&'static str> {
    lint(spec).into_iter().filter(|(_, _, f)| !f.is_empty()).map(|(n, _, _)| n).collect()
}

fn with(patch: impl FnOnce(&mut Value)) -> Value {
    let mut s = clean();
    patch(&mut s);
    s
}

#[test]
fn clean_spec_passes_every_rule() {
    assert_eq!(failing(&clean()), Vec::<&str>::new(), "{:#?}", lint(&clean()));
}

#[test]
fn each_rule_fails_alone_on_its_defect() {
    let cases: Vec<(&[&str], Value)> = vec![
        (&["spec.valid_schema"], with(|s| s["properties"]["region"]["type"] = json!("strung"))),
        (&["spec.enum_unique"], with(|s| s["properties"]["region"]["enum"] = json!(["eu", "eu"]))),
        (
            &["spec.oneof_rules"],
            with(|s| s["properties"]["credentials"]["oneOf"][1]["properties"]["auth_type"] = json!({"type": "string"})),
        ),
        (
            &["spec.oneof_rules"],
            with(|s| s["properties"]["credentials"]["oneOf"][0]["properties"]["auth_type"]["default"] = json!("other")),
        ),
        (&["spec.oneof_rules"], with(|s| drop(s["properties"]["credentials"].as_object_mut().unwrap().remove("type")))),
        (
            &["spec.secrets_marked"],
            with(|s| s["properties"]["credentials"]["oneOf"][1]["properties"]["password"] = json!({"type": "string"})),
        ),
        (&["spec.secrets_marked"], with(|s| s["properties"]["Secret"] = json!({"type": "string"}))),
        (
            &["spec.secrets_marked"],
            with(|s| s["properties"]["flag"] = json!({"type": "boolean", "airbyte_secret": true})),
        ),
        (&["spec.type_arrays"], with(|s| s["properties"]["start"]["type"] = json!(["null", "string"]))),
        (&["spec.type_arrays"], with(|s| s["properties"]["start"]["type"] = json!(["string", "integer"]))),
        (&["spec.object_not_empty"], with(|s| s["properties"]["empty"] = json!({"type": "object"}))),
        (&["spec.array_items"], with(|s| s["properties"]["tags"]["items"] = json!({"type": "boolean"}))),
        (&["spec.array_items"], with(|s| s["properties"]["tags"]["items"] = json!([{"type": "string"}]))),
        (&["spec.forbidden_keywords"], with(|s| s["properties"]["region"]["not"] = json!({"const": "x"}))),
        (
            &["spec.forbidden_keywords"],
            with(|s| s["properties"]["nested"]["patternProperties"] = json!({"^x": {"type": "string"}})),
        ),
        (&["spec.group_order"], with(|s| s["properties"]["region"]["order"] = json!(2))),
        (&["spec.group_order"], with(|s| s["properties"]["nested"]["properties"]["not"]["group"] = json!("auth"))),
        (&["spec.display_type"], with(|s| s["properties"]["region"]["display_type"] = json!("dropdown"))),
        (&["spec.display_type"], with(|s| s["properties"]["credentials"]["display_type"] = json!("tabs"))),
        // An unresolvable $ref also stops the schema from compiling.
        (
            &["spec.valid_schema", "spec.refs_resolvable"],
            with(|s| s["properties"]["nested"]["properties"]["ref"]["$ref"] = json!("#/definitions/missing")),
        ),
        (&["spec.additional_properties"], with(|s| s["additionalProperties"] = json!(false))),
    ];
    for (rules, spec) in cases {
        assert_eq!(failing(&spec), rules.to_vec(), "{rules:?}: {:#?}", lint(&spec));
    }
}

#[test]
fn config_is_checked_against_the_spec_with_underscore_keys_dropped() {
    let spec = clean();
    assert!(config_problems(&spec, &json!({"api_token": "x", "_comment": 5})).is_empty());
    let problems = config_problems(&spec, &json!({"region": "mars"}));
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("/region")), "{problems:?}");
}
