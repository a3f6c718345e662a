//! JSON schema (from the configured catalog) -> typed columns -> Arrow schema, following Airbyte's current
//! (Bulk CDK) Parquet rules.

use crate::names::{self, UniqueNames};
use airbyte_protocol::codec::ExpectedKeys;
use airbyte_protocol::{ConfiguredAirbyteStream, StreamDescriptor};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// `_airbyte_raw_id`: a random UUID per record (string).
pub const RAW_ID: &str = "_airbyte_raw_id";
/// `_airbyte_extracted_at`: the RECORD's `emitted_at` (timestamp, UTC).
pub const EXTRACTED_AT: &str = "_airbyte_extracted_at";
/// `_airbyte_generation_id`: the stream's `generation_id` (0 when the catalog has none).
pub const GENERATION_ID: &str = "_airbyte_generation_id";
/// `_airbyte_meta`: `{sync_id, changes: [{field, change, reason}]}`.
pub const META: &str = "_airbyte_meta";
/// Properties the schema does not declare, as one JSON object string (null when there are none).
pub const ADDITIONAL_PROPERTIES: &str = "_airbyte_additional_properties";
/// The Airbyte columns, in the order they lead every table.
pub const AIRBYTE_COLUMNS: [&str; 4] = [RAW_ID, EXTRACTED_AT, GENERATION_ID, META];

/// Field metadata key holding the original (unsanitised) property name when it was changed.
pub const ORIGINAL_NAME_KEY: &str = "airbyte.original_name";
/// Field metadata key marking a column that holds JSON text (`"json"`).
pub const LOGICAL_TYPE_KEY: &str = "airbyte.logical_type";

/// The type a JSON-schema property maps to.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnType {
    /// `integer` (or `number` with `airbyte_type: integer`) -> Int64.
    Integer,
    /// `number` -> Float64.
    Number,
    Boolean,
    /// `string` -> Utf8.
    String,
    /// `string` + `format: date` -> Date32.
    Date,
    /// `date-time` with zone (the default) -> Timestamp(us, "UTC").
    TimestampWithTimezone,
    /// `date-time` with `airbyte_type: timestamp_without_timezone` -> Timestamp(us).
    TimestampWithoutTimezone,
    /// `format: time` -> Time64(us); a value with an offset is converted to UTC.
    Time,
    /// Schemaless objects/arrays, unions, `$ref`, untyped: JSON text in a Utf8 column.
    Json,
    /// `object` with `properties` -> Struct.
    Object(Vec<ColumnSpec>),
    /// `array` with a single `items` schema -> List.
    Array(Box<ColumnType>),
}

/// One declared property: its original name, its sanitised column name and its type.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub name: String,
    pub column: String,
    pub kind: ColumnType,
}

impl ColumnType {
    /// The type for one property schema.
    pub fn from_json_schema(schema: &Value) -> ColumnType {
        let Some(obj) = schema.as_object() else { return ColumnType::Json };
        if obj.contains_key("$ref") || obj.contains_key("anyOf") || obj.contains_key("oneOf") {
            return ColumnType::Json;
        }
        let types: Vec<&str> = match obj.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let non_null: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
        let airbyte_type = obj.get("airbyte_type").and_then(Value::as_str);
        let format = obj.get("format").and_then(Value::as_str);
        match non_null.as_slice() {
            ["string"] => match (format, airbyte_type) {
                (_, Some("timestamp_without_timezone")) => ColumnType::TimestampWithoutTimezone,
                (_, Some("timestamp_with_timezone")) | (Some("date-time"), _) => ColumnType::TimestampWithTimezone,
                (_, Some("date")) | (Some("date"), _) => ColumnType::Date,
                (_, Some("time_with_timezone" | "time_without_timezone")) | (Some("time"), _) => ColumnType::Time,
                _ => ColumnType::String,
            },
            ["integer"] => ColumnType::Integer,
            ["number"] if airbyte_type == Some("integer") => ColumnType::Integer,
            ["number"] => ColumnType::Number,
            ["boolean"] => ColumnType::Boolean,
            ["object"] => match obj.get("properties").and_then(Value::as_object) {
                Some(props) if !props.is_empty() => ColumnType::Object(columns_of(props)),
                _ => ColumnType::Json,
            },
            ["array"] => match obj.get("items") {
                Some(items @ Value::Object(_)) => ColumnType::Array(Box::new(ColumnType::from_json_schema(items))),
                _ => ColumnType::Json,
            },
            _ => ColumnType::Json,
        }
    }

    /// The Arrow type of this column.
    pub fn arrow_type(&self) -> DataType {
        match self {
            ColumnType::Integer => DataType::Int64,
            ColumnType::Number => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::String | ColumnType::Json => DataType::Utf8,
            ColumnType::Date => DataType::Date32,
            ColumnType::TimestampWithTimezone => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColumnType::TimestampWithoutTimezone => DataType::Timestamp(TimeUnit::Microsecond, None),
            ColumnType::Time => DataType::Time64(TimeUnit::Microsecond),
            ColumnType::Object(children) => DataType::Struct(children.iter().map(ColumnSpec::arrow_field).collect()),
            ColumnType::Array(item) => DataType::List(Arc::new(item.arrow_item_field())),
        }
    }

    fn arrow_item_field(&self) -> Field {
        let f = Field::new("item", self.arrow_type(), true);
        if *self == ColumnType::Json {
            f.with_metadata(HashMap::from([(LOGICAL_TYPE_KEY.to_string(), "json".to_string())]))
        } else {
            f
        }
    }
}

impl ColumnSpec {
    /// The nullable Arrow field, with the original name and JSON marker in its metadata.
    pub fn arrow_field(&self) -> Field {
        let mut meta = HashMap::new();
        if self.column != self.name {
            meta.insert(ORIGINAL_NAME_KEY.to_string(), self.name.clone());
        }
        if self.kind == ColumnType::Json {
            meta.insert(LOGICAL_TYPE_KEY.to_string(), "json".to_string());
        }
        Field::new(&self.column, self.kind.arrow_type(), true).with_metadata(meta)
    }
}

fn columns_of(props: &serde_json::Map<String, Value>) -> Vec<ColumnSpec> {
    let mut names = UniqueNames::default();
    props
        .iter()
        .map(|(name, schema)| ColumnSpec {
            name: name.clone(),
            column: names.claim(names::column_name(name)),
            kind: ColumnType::from_json_schema(schema),
        })
        .collect()
}

/// The Arrow type of `_airbyte_meta`. Built once: its fields are shared, not made again for every batch (with
/// many streams, thousands of small batches are alive at once).
pub fn meta_type() -> DataType {
    static META_TYPE: std::sync::OnceLock<DataType> = std::sync::OnceLock::new();
    META_TYPE
        .get_or_init(|| {
            let change = Fields::from(vec![
                Field::new("field", DataType::Utf8, false),
                Field::new("change", DataType::Utf8, false),
                Field::new("reason", DataType::Utf8, false),
            ]);
            let item = Arc::new(Field::new("item", DataType::Struct(change), false));
            DataType::Struct(Fields::from(vec![
                Field::new("sync_id", DataType::Int64, true),
                Field::new("changes", DataType::List(item), false),
            ]))
        })
        .clone()
}

/// Everything needed to turn one stream's records into Arrow: its columns, Arrow schema and metadata.
#[derive(Debug, Clone)]
pub struct StreamSchema {
    pub descriptor: StreamDescriptor,
    pub sync_id: Option<i64>,
    /// The catalog's `generation_id`, 0 when absent.
    pub generation_id: i64,
    pub json_schema: Value,
    /// Declared top-level properties, in schema order.
    pub columns: Vec<ColumnSpec>,
    arrow: SchemaRef,
    by_name: HashMap<String, usize>,
    /// The top-level property names in schema order, for the protocol codec to recognise (shared by streams with
    /// the same names in the same order, see [`StreamSchema::share_expected_keys`]).
    expected_keys: Arc<ExpectedKeys>,
}

impl StreamSchema {
    /// The schema of a configured stream.
    pub fn new(stream: &ConfiguredAirbyteStream) -> Self {
        Self::from_parts(
            stream.descriptor(),
            &stream.stream.json_schema,
            stream.sync_id,
            stream.generation_id.unwrap_or(0),
        )
    }

    /// The schema from its parts (tests, other callers without a configured stream).
    pub fn from_parts(
        descriptor: StreamDescriptor,
        json_schema: &Value,
        sync_id: Option<i64>,
        generation: i64,
    ) -> Self {
        let mut names = UniqueNames::with_reserved(AIRBYTE_COLUMNS.iter().copied().chain([ADDITIONAL_PROPERTIES]));
        let empty = serde_json::Map::new();
        let props = json_schema.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let columns: Vec<ColumnSpec> = props
            .iter()
            .map(|(name, schema)| ColumnSpec {
                name: name.clone(),
                column: names.claim(names::column_name(name)),
                kind: ColumnType::from_json_schema(schema),
            })
            .collect();
        let mut fields = vec![
            Field::new(RAW_ID, DataType::Utf8, false),
            Field::new(EXTRACTED_AT, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
            Field::new(GENERATION_ID, DataType::Int64, false),
            Field::new(META, meta_type(), false),
        ];
        fields.extend(columns.iter().map(ColumnSpec::arrow_field));
        fields.push(
            Field::new(ADDITIONAL_PROPERTIES, DataType::Utf8, true)
                .with_metadata(HashMap::from([(LOGICAL_TYPE_KEY.to_string(), "json".to_string())])),
        );
        let by_name = columns.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
        let expected_keys = Arc::new(ExpectedKeys::new(columns.iter().map(|c| c.name.as_str())));
        StreamSchema {
            descriptor,
            sync_id,
            generation_id: generation,
            json_schema: json_schema.clone(),
            columns,
            arrow: Arc::new(Schema::new(fields)),
            by_name,
            expected_keys,
        }
    }

    /// The declared top-level properties as keys for `codec::decode_line_split_expecting`: a member it marks
    /// as expected key `i` belongs in column `i` of `columns`.
    pub fn expected_keys(&self) -> &Arc<ExpectedKeys> {
        &self.expected_keys
    }

    /// Let streams whose declared properties have the same names in the same order share one
    /// [`expected_keys`](Self::expected_keys): a member split with another such stream's keys (the one before it
    /// in the input, say) names the same column in either, which a caller can tell by `Arc::ptr_eq`.
    pub fn share_expected_keys(schemas: &mut [StreamSchema]) {
        let mut first_with: HashMap<Vec<&str>, Arc<ExpectedKeys>> = HashMap::new();
        let shared: Vec<Arc<ExpectedKeys>> = schemas
            .iter()
            .map(|schema| {
                let names = schema.columns.iter().map(|c| c.name.as_str()).collect();
                first_with.entry(names).or_insert_with(|| schema.expected_keys.clone()).clone()
            })
            .collect();
        for (schema, keys) in schemas.iter_mut().zip(shared) {
            schema.expected_keys = keys;
        }
    }

    /// The Arrow schema of every batch: Airbyte columns, declared properties, additional properties.
    pub fn arrow_schema(&self) -> SchemaRef {
        self.arrow.clone()
    }

    /// The index (into [`columns`](Self::columns)) of a top-level property by its original name.
    pub fn column_index(&self, property: &str) -> Option<usize> {
        self.by_name.get(property).copied()
    }

    /// `(original property name, column name)` for every top-level property.
    pub fn column_mapping(&self) -> Vec<(&str, &str)> {
        self.columns.iter().map(|c| (c.name.as_str(), c.column.as_str())).collect()
    }

    /// Key-value metadata describing the stream (for Parquet footers and similar): `airbyte.stream`,
    /// `airbyte.namespace`, `airbyte.sync_id`, `airbyte.generation_id`, `airbyte.json_schema`,
    /// `airbyte.column_mapping` (JSON object original -> column, only renamed ones).
    pub fn key_value_metadata(&self) -> Vec<(String, String)> {
        let mut kv = vec![("airbyte.stream".to_string(), self.descriptor.name.clone())];
        if let Some(ns) = &self.descriptor.namespace {
            kv.push(("airbyte.namespace".into(), ns.clone()));
        }
        if let Some(id) = self.sync_id {
            kv.push(("airbyte.sync_id".into(), id.to_string()));
        }
        kv.push((GENERATION_METADATA_KEY.into(), self.generation_id.to_string()));
        kv.push(("airbyte.json_schema".into(), self.json_schema.to_string()));
        let renamed: serde_json::Map<String, Value> = self
            .columns
            .iter()
            .filter(|c| c.name != c.column)
            .map(|c| (c.name.clone(), Value::String(c.column.clone())))
            .collect();
        kv.push(("airbyte.column_mapping".into(), Value::Object(renamed).to_string()));
        kv
    }
}

/// The metadata key that carries the generation id (readers use it to clean up old generations).
pub const GENERATION_METADATA_KEY: &str = "airbyte.generation_id";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_follow_airbyte_rules() {
        let t = |s: Value| ColumnType::from_json_schema(&s);
        assert_eq!(t(json!({"type": ["null", "integer"]})), ColumnType::Integer);
        assert_eq!(t(json!({"type": "number", "airbyte_type": "integer"})), ColumnType::Integer);
        assert_eq!(t(json!({"type": "number"})), ColumnType::Number);
        assert_eq!(t(json!({"type": "string", "format": "date"})), ColumnType::Date);
        assert_eq!(t(json!({"type": "string", "format": "date-time"})), ColumnType::TimestampWithTimezone);
        assert_eq!(
            t(json!({"type": "string", "format": "date-time", "airbyte_type": "timestamp_without_timezone"})),
            ColumnType::TimestampWithoutTimezone
        );
        assert_eq!(t(json!({"type": "string", "format": "time"})), ColumnType::Time);
        assert_eq!(t(json!({"type": ["string", "integer"]})), ColumnType::Json);
        assert_eq!(t(json!({"oneOf": [{"type": "string"}]})), ColumnType::Json);
        assert_eq!(t(json!({"type": "object"})), ColumnType::Json);
        assert_eq!(t(json!({"type": "array"})), ColumnType::Json);
        assert_eq!(t(json!({})), ColumnType::Json);
        assert_eq!(
            t(json!({"type": "array", "items": {"type": "integer"}})),
            ColumnType::Array(Box::new(ColumnType::Integer))
        );
        match t(json!({"type": "object", "properties": {"a b": {"type": "string"}}})) {
            ColumnType::Object(c) => assert_eq!((c[0].name.as_str(), c[0].column.as_str()), ("a b", "a_b")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn schema_has_airbyte_columns_and_sanitised_names() {
        let schema =
            json!({"properties": {"1st": {"type": "string"}, "_airbyte_meta": {"type": "integer"}, "a.b": {}}});
        let s = StreamSchema::from_parts(StreamDescriptor::new("s", None), &schema, Some(7), 3);
        let arrow = s.arrow_schema();
        let names: Vec<&str> = arrow.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [RAW_ID, EXTRACTED_AT, GENERATION_ID, META, "_1st", "_airbyte_meta_2", "a_b", ADDITIONAL_PROPERTIES]
        );
        assert_eq!(arrow.field(4).metadata().get(ORIGINAL_NAME_KEY).map(String::as_str), Some("1st"));
        assert_eq!(s.column_index("a.b"), Some(2));
        let kv = s.key_value_metadata();
        assert!(kv.contains(&(GENERATION_METADATA_KEY.to_string(), "3".to_string())));
    }
}
