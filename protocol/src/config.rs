//! Config validation against the connector's spec (JSON Schema draft 7), with messages that name the
//! JSON pointer of each problem and never echo a value.

use crate::error::{ConnectorError, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A validated config, handed to the connector.
#[derive(Clone)]
pub struct Config {
    value: Value,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print values: they may hold secrets.
        f.debug_struct("Config").finish_non_exhaustive()
    }
}

impl Config {
    /// Validate `value` against `connection_specification`; register its secrets for masking first.
    pub fn validate(connection_specification: &Value, value: Value) -> Result<Self> {
        crate::redact::register_config_secrets(connection_specification, &value);
        let problems = schema_problems(connection_specification, &value)?;
        if !problems.is_empty() {
            return Err(ConnectorError::config(format!("invalid config: {}", problems.join("; "))));
        }
        Ok(Config { value })
    }

    /// A config that skips validation (tests, embedded defaults).
    pub fn unchecked(value: Value) -> Self {
        Config { value }
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Parse into the connector's typed config; errors name the path and are config errors.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        crate::files::from_value(self.value.clone(), "config")
    }
}

/// Every violation of `schema` by `instance`, described without the offending values.
pub fn schema_problems(schema: &Value, instance: &Value) -> Result<Vec<String>> {
    let validator = jsonschema::draft7::new(schema)
        .map_err(|e| ConnectorError::system(format!("the connector's spec is not a valid JSON schema: {e}")))?;
    let mut out = Vec::new();
    for err in validator.iter_errors(instance) {
        let pointer = err.instance_path().to_string();
        let pointer = if pointer.is_empty() { "/".to_string() } else { pointer };
        out.push(format!("at {pointer}: {}", describe(err.kind())));
    }
    Ok(out)
}

fn describe(kind: &jsonschema::error::ValidationErrorKind) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    match kind {
        K::Required { property } => format!("required property {property} is missing"),
        K::Type { kind } => format!("wrong type, expected {kind:?}").replace("Single(", "").replace(')', ""),
        K::Enum { options } => format!("value is not one of {options}"),
        K::Constant { expected_value } => format!("value must be {expected_value}"),
        K::Minimum { limit } => format!("value is below the minimum {limit}"),
        K::Maximum { limit } => format!("value is above the maximum {limit}"),
        K::ExclusiveMinimum { limit } => format!("value must be greater than {limit}"),
        K::ExclusiveMaximum { limit } => format!("value must be less than {limit}"),
        K::MinLength { limit } => format!("value is shorter than {limit} characters"),
        K::MaxLength { limit } => format!("value is longer than {limit} characters"),
        K::Pattern { pattern } => format!("value does not match the pattern {pattern}"),
        K::Format { format } => format!("value is not a valid {format}"),
        K::AdditionalProperties { unexpected } => format!("unexpected properties {unexpected:?}"),
        K::OneOfNotValid { .. } => "value matches none of the allowed options".to_string(),
        K::OneOfMultipleValid { .. } => "value matches more than one of the allowed options".to_string(),
        K::AnyOf { .. } => "value matches none of the allowed options".to_string(),
        K::MinItems { limit } => format!("fewer than {limit} items"),
        K::MaxItems { limit } => format!("more than {limit} items"),
        K::UniqueItems => "items are not unique".to_string(),
        other => format!("{other:?}").chars().take(80).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_pointer_and_hide_values() {
        let spec = json!({"type":"object","required":["path","token"],"properties":{
            "path":{"type":"string"},"token":{"type":"string","airbyte_secret":true,"pattern":"^x"},
            "n":{"type":"integer","minimum":1}}});
        let e = Config::validate(&spec, json!({"token":"hunter2-secret","n":0})).unwrap_err();
        assert!(e.is_config());
        assert!(e.message.contains("at /: required property \"path\""), "{}", e.message);
        assert!(e.message.contains("at /token"), "{}", e.message);
        assert!(e.message.contains("at /n"), "{}", e.message);
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        assert!(Config::validate(&spec, json!({"path":"a","token":"xyz"})).is_ok());
    }
}
