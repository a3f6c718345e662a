//! Airtable field types -> JSON schema (Airbyte's mapping table, typed where Airbyte emitted Python-repr strings),
//! and conforming cell values to the declared type.
//!
//! Mapping origin: Airbyte source-airtable `manifest.yaml` `types_mapping` and the unit-test pair in
//! `fixtures/airtable/airbyte_source_airtable` (formulas starting with ARRAY* are arrays of strings).

use serde_json::{json, Map, Value};

/// The JSON type a column's values are emitted as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Number,
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339 with offset.
    DateTime,
    /// A JSON object (collaborators, buttons, AI text).
    Object,
    Array(Box<ColumnType>),
}

impl ColumnType {
    fn array(item: ColumnType) -> Self {
        ColumnType::Array(Box::new(item))
    }

    /// The nullable JSON schema of this type.
    pub fn schema(&self) -> Value {
        match self {
            ColumnType::String => json!({"type": ["null", "string"]}),
            ColumnType::Number => json!({"type": ["null", "number"]}),
            ColumnType::Boolean => json!({"type": ["null", "boolean"]}),
            ColumnType::Date => json!({"type": ["null", "string"], "format": "date"}),
            ColumnType::DateTime => {
                json!({"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"})
            }
            ColumnType::Object => json!({"type": ["null", "object"]}),
            ColumnType::Array(item) => json!({"type": ["null", "array"], "items": item.schema()}),
        }
    }

    /// `value` in this type: strings stay strings, objects stay objects; a scalar where an array is declared (a
    /// rollup's aggregate) becomes a one-element array; numbers and booleans in a string column become their text,
    /// objects their JSON text. `None` when the value cannot be this type (e.g. a formula error object in a
    /// number column): the caller nulls it and records the change.
    pub fn conform(&self, value: Value) -> Option<Value> {
        match (self, value) {
            (_, Value::Null) => Some(Value::Null),
            (ColumnType::String, Value::String(s)) => Some(Value::String(s)),
            (ColumnType::String, Value::Number(n)) => Some(Value::String(n.to_string())),
            (ColumnType::String, Value::Bool(b)) => Some(Value::String(b.to_string())),
            (ColumnType::String, v) => Some(Value::String(v.to_string())),
            (ColumnType::Number, v @ Value::Number(_)) => Some(v),
            (ColumnType::Boolean, v @ Value::Bool(_)) => Some(v),
            (ColumnType::Date | ColumnType::DateTime, v @ Value::String(_)) => Some(v),
            (ColumnType::Object, v @ Value::Object(_)) => Some(v),
            (ColumnType::Array(item), Value::Array(items)) => {
                items.into_iter().map(|v| item.conform(v)).collect::<Option<Vec<_>>>().map(Value::Array)
            }
            (ColumnType::Array(item), scalar) => item.conform(scalar).map(|v| Value::Array(vec![v])),
            _ => None,
        }
    }
}

const NUMBER_TYPES: &[&str] = &["number", "percent", "currency", "rating", "duration", "count", "autoNumber"];
const OBJECT_TYPES: &[&str] = &["singleCollaborator", "createdBy", "lastModifiedBy", "button", "aiText"];
const ARRAY_FORMULAS: &[&str] = &["ARRAYCOMPACT", "ARRAYFLATTEN", "ARRAYUNIQUE", "ARRAYSLICE"];

/// The column type of one field object from `GET /v0/meta/bases/{id}/tables`.
pub fn column_type(field: &Value) -> ColumnType {
    let kind = field.get("type").and_then(Value::as_str).unwrap_or("");
    let options = field.get("options");
    let result = options.and_then(|o| o.get("result")).filter(|r| r.is_object());
    let result_type = result.and_then(|r| r.get("type")).and_then(Value::as_str);
    match kind {
        "formula" => {
            let formula = options.and_then(|o| o.get("formula")).and_then(Value::as_str).unwrap_or("");
            if matches!(result_type, Some("number" | "currency" | "percent" | "duration")) {
                ColumnType::Number
            } else if ARRAY_FORMULAS.iter().any(|f| formula.trim_start().starts_with(f)) {
                ColumnType::array(ColumnType::String)
            } else {
                ColumnType::String
            }
        }
        "lookup" | "multipleLookupValues" | "rollup" => match result_type {
            None => ColumnType::array(ColumnType::String),
            Some(t) => ColumnType::array(lookup_item_type(t)),
        },
        "createdTime" | "lastModifiedTime" => match result_type {
            Some("dateTime") => ColumnType::DateTime,
            Some("date") => ColumnType::Date,
            _ => ColumnType::String,
        },
        _ => simple_type(kind),
    }
}

fn simple_type(kind: &str) -> ColumnType {
    match kind {
        k if NUMBER_TYPES.contains(&k) => ColumnType::Number,
        k if OBJECT_TYPES.contains(&k) => ColumnType::Object,
        "checkbox" => ColumnType::Boolean,
        "date" => ColumnType::Date,
        "dateTime" => ColumnType::DateTime,
        "multipleAttachments" | "multipleCollaborators" => ColumnType::array(ColumnType::Object),
        "multipleRecordLinks" | "multipleSelects" => ColumnType::array(ColumnType::String),
        // Text, selects, barcode ({text,type} as JSON text), manual sort, unknown future types.
        _ => ColumnType::String,
    }
}

/// Item type of a lookup/rollup by the looked-up field's type. The API returns lookups of multi-value fields
/// flattened, so their items are the inner values.
fn lookup_item_type(result_type: &str) -> ColumnType {
    match result_type {
        "lastModifiedTime" | "createdTime" | "dateTime" => ColumnType::DateTime,
        "multipleAttachments" | "multipleCollaborators" => ColumnType::Object,
        "multipleRecordLinks" | "multipleSelects" => ColumnType::String,
        other => simple_type(other),
    }
}

/// Airbyte's column name for a field: lower-cased, spaces replaced by `_` (KeysToLower + KeysReplace).
pub fn column_name(field_name: &str) -> String {
    field_name.to_lowercase().replace(' ', "_")
}

/// Airbyte's name part for bases and tables in stream names: `.replace(' ', '_').lower().strip()`.
pub fn stream_name_part(name: &str) -> String {
    name.replace(' ', "_").to_lowercase().trim().to_string()
}

/// The stream name Airbyte gives a table: `{base}/{table}/{table_id}`.
pub fn stream_name(base_name: &str, table_name: &str, table_id: &str) -> String {
    format!("{}/{}/{}", stream_name_part(base_name), stream_name_part(table_name), table_id)
}

pub const ID_COLUMN: &str = "_airtable_id";
pub const CREATED_TIME_COLUMN: &str = "_airtable_created_time";
pub const TABLE_NAME_COLUMN: &str = "_airtable_table_name";

/// One column of a table: the Airtable field name, the emitted name and type.
#[derive(Debug, Clone)]
pub struct Column {
    pub field_name: String,
    pub name: String,
    pub kind: ColumnType,
}

/// Columns of a table object, in field order. A field whose normalised name collides with an earlier one is
/// skipped (with a warning), as the record could not hold both.
pub fn table_columns(table: &Value) -> Vec<Column> {
    let mut out: Vec<Column> = Vec::new();
    for field in table.get("fields").and_then(Value::as_array).into_iter().flatten() {
        let Some(field_name) = field.get("name").and_then(Value::as_str) else { continue };
        let name = column_name(field_name);
        if [ID_COLUMN, CREATED_TIME_COLUMN, TABLE_NAME_COLUMN].contains(&name.as_str())
            || out.iter().any(|c| c.name == name)
        {
            tracing::warn!("Field `{field_name}` is skipped: its column name `{name}` is already taken.");
            continue;
        }
        out.push(Column { field_name: field_name.to_string(), name, kind: column_type(field) });
    }
    out
}

/// The stream's JSON schema: one nullable property per column plus the three `_airtable_*` columns.
pub fn json_schema(columns: &[Column]) -> Value {
    let mut props = Map::new();
    props.insert(ID_COLUMN.into(), json!({"type": ["null", "string"]}));
    props.insert(CREATED_TIME_COLUMN.into(), ColumnType::DateTime.schema());
    props.insert(TABLE_NAME_COLUMN.into(), json!({"type": ["null", "string"]}));
    for c in columns {
        props.insert(c.name.clone(), c.kind.schema());
    }
    // Airbyte writes the https form; jsonschema validators only know the canonical http URI of draft 7.
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": true,
        "properties": props,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_airbyte() {
        assert_eq!(stream_name("Apartment Hunting", "Table 1", "tblX"), "apartment_hunting/table_1/tblX");
        assert_eq!(stream_name(" My Base\t", "ÄB c", "tblY"), "_my_base/äb_c/tblY");
        assert_eq!(column_name("Assignee (from Table 6)"), "assignee_(from_table_6)");
    }

    #[test]
    fn conform_types_values() {
        let n = ColumnType::Number;
        assert_eq!(n.conform(json!(17)), Some(json!(17)));
        assert_eq!(n.conform(json!({"specialValue": "NaN"})), None);
        let s = ColumnType::String;
        assert_eq!(s.conform(json!({"text": "123", "type": "upce"})), Some(json!(r#"{"text":"123","type":"upce"}"#)));
        let a = ColumnType::Array(Box::new(ColumnType::Number));
        assert_eq!(a.conform(json!(3)), Some(json!([3])));
        assert_eq!(a.conform(json!([1, "x"])), None);
        assert_eq!(ColumnType::Object.conform(json!({"id": "usr1"})), Some(json!({"id": "usr1"})));
    }
}
