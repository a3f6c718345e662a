//! One configured stream -> its Snowflake table: names, typed columns, dedup keys, and bringing an existing
//! table up to date (new columns added, changed types migrated without losing values).

use crate::client::SnowflakeClient;
use crate::config::{CdcDeletionMode, SnowflakeConfig};
use crate::sql::{self, Column, LoadKind, SfType, TableRef};
use airbyte_protocol::{ConfiguredAirbyteStream, ConnectorError, DestinationSyncMode, Result};
use arrow::array::{Array, ArrayBuilder, AsArray, ListArray, RecordBatch, StringArray, StringBuilder, StructArray};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use destination_core::{ColumnType, StreamSchema};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// Everything the loader needs to write one stream.
#[derive(Debug, Clone)]
pub struct TablePlan {
    pub target: TableRef,
    /// The schema of the connector's own objects (stages, load tables): `raw_data_dataset`, default
    /// `airbyte_internal`, as in Airbyte.
    pub internal_schema: String,
    /// Columns in the order of the core's Arrow batches: Airbyte columns, declared properties, additional
    /// properties. Their names are the Snowflake names and the staged Parquet column names.
    pub columns: Vec<Column>,
    /// The core's schema, built from the catalog schema with objects and arrays as JSON text (so nested keys
    /// keep their original names inside OBJECT/ARRAY values).
    pub core_schema: Arc<StreamSchema>,
    /// The Arrow schema of staged files: the core's, renamed to the Snowflake names.
    pub staged_schema: SchemaRef,
    pub mode: DestinationSyncMode,
    /// Primary key and cursor columns (Snowflake names) for dedup.
    pub primary_key: Vec<String>,
    pub cursor: Option<String>,
    pub hard_delete: bool,
    pub generation_id: i64,
    /// Whether the catalog carries generation ids (only then can an interrupted truncate be resumed).
    pub has_generations: bool,
    pub minimum_generation_id: i64,
}

impl TablePlan {
    /// Whether this sync replaces the table's content (overwrite, or a truncate refresh by generation).
    pub fn truncates(&self) -> bool {
        self.mode == DestinationSyncMode::Overwrite
            || (self.minimum_generation_id > 0 && self.minimum_generation_id == self.generation_id)
    }

    /// The table a truncating sync fills before it replaces the live one.
    pub fn temp_table(&self) -> TableRef {
        self.target.with_suffix("_AIRBYTE_TMP")
    }

    /// The internal stage of this table (server-side encrypted). Its name keeps only `[A-Z0-9_]` of the table
    /// name plus a hash of the exact name: stage references (`@stage/file`) are parsed by PUT and COPY, where
    /// `/`, `"` or `.` in a name invite trouble.
    pub fn stage(&self) -> TableRef {
        TableRef::new(&self.internal_schema, format!("AIRBYTE_SSE_STAGE_{}", self.simple_name()))
    }

    /// The per-run load table (transient, dropped at the end), named like the stage.
    pub fn load_table(&self, run: &str) -> TableRef {
        TableRef::new(&self.internal_schema, format!("AIRBYTE_LOAD_{}_{run}", self.simple_name()))
    }

    /// `[A-Z0-9_]` of the schema and table names plus a hash of the exact names, for the connector's own
    /// objects in the internal schema.
    fn simple_name(&self) -> String {
        use sha2::Digest;
        let full = format!("{}.{}", self.target.schema, self.target.name);
        let simple: String = self
            .target
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
            .take(100)
            .collect();
        let hash = sha2::Sha256::digest(full.as_bytes());
        let hash: String = hash[..4].iter().map(|b| format!("{b:02X}")).collect();
        format!("{simple}_{hash}")
    }

    pub fn is_dedup(&self) -> bool {
        self.mode == DestinationSyncMode::AppendDedup
    }

    /// Build the plan of a configured stream.
    pub fn new(stream: &ConfiguredAirbyteStream, config: &SnowflakeConfig) -> Result<Self> {
        let descriptor = stream.descriptor();
        let schema_name = sql::snowflake_name(descriptor.namespace.as_deref().unwrap_or(&config.schema));
        let target = TableRef::new(schema_name, sql::snowflake_name(&descriptor.name));
        let json_schema = &stream.stream.json_schema;
        let (core_json, property_types) = core_schema_and_types(json_schema);
        let core_schema = Arc::new(StreamSchema::from_parts(
            descriptor.clone(),
            &core_json,
            stream.sync_id,
            stream.generation_id.unwrap_or(0),
        ));
        let mut taken: HashSet<String> =
            [sql::RAW_ID, sql::EXTRACTED_AT, sql::GENERATION_ID, sql::META, sql::ADDITIONAL_PROPERTIES]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let mut columns = vec![
            Column { not_null: true, ..Column::new(sql::RAW_ID, SfType::Text, LoadKind::Direct) },
            Column { not_null: true, ..Column::new(sql::EXTRACTED_AT, SfType::TimestampTz, LoadKind::Direct) },
            Column::new(sql::GENERATION_ID, SfType::Number, LoadKind::Direct),
            Column { not_null: true, ..Column::new(sql::META, SfType::Variant, LoadKind::Direct) },
        ];
        let mut property_columns = Vec::new();
        for spec in &core_schema.columns {
            let sf_type =
                property_types.iter().find(|(n, _)| *n == spec.name).map(|(_, t)| *t).unwrap_or(SfType::Variant);
            let load = if spec.kind == ColumnType::Json { LoadKind::ParseJson } else { LoadKind::Direct };
            // Upper-cased names can collide (`id` and `ID`): later ones get `_2`, `_3`, ...
            let base = sql::snowflake_name(&spec.name);
            let mut name = base.clone();
            let mut n = 1;
            while !taken.insert(name.clone()) {
                n += 1;
                name = format!("{base}_{n}");
            }
            property_columns.push((spec.name.clone(), name.clone()));
            columns.push(Column { property: Some(spec.name.clone()), ..Column::new(name, sf_type, load) });
        }
        columns.push(Column::new(sql::ADDITIONAL_PROPERTIES, SfType::Object, LoadKind::ParseJson));

        let core_arrow = core_schema.arrow_schema();
        if core_arrow.fields().len() != columns.len() {
            return Err(ConnectorError::system(format!(
                "stream {descriptor}: {} Arrow fields for {} table columns",
                core_arrow.fields().len(),
                columns.len()
            )));
        }
        let staged_fields: Vec<Field> = core_arrow
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| f.as_ref().clone().with_name(c.name.clone()))
            .collect();
        let staged_schema = Arc::new(Schema::new(staged_fields));

        let column_of = |property: &str| property_columns.iter().find(|(p, _)| p == property).map(|(_, c)| c.clone());
        let mut primary_key = Vec::new();
        for path in stream.primary_key.clone().unwrap_or_default() {
            let Some(first) = path.first() else { continue };
            primary_key.push(column_of(first).ok_or_else(|| {
                ConnectorError::config(format!(
                    "stream {descriptor}: primary key field {first:?} is not a property of the stream's schema"
                ))
            })?);
        }
        let cursor = stream.effective_cursor().and_then(|c| c.first()).and_then(|c| column_of(c));
        let mode = stream.destination_sync_mode;
        if mode == DestinationSyncMode::AppendDedup && primary_key.is_empty() {
            return Err(ConnectorError::config(format!(
                "stream {descriptor}: append_dedup needs a primary key in the configured catalog"
            )));
        }
        if !matches!(
            mode,
            DestinationSyncMode::Append | DestinationSyncMode::Overwrite | DestinationSyncMode::AppendDedup
        ) {
            return Err(ConnectorError::config(format!(
                "stream {descriptor}: destination sync mode {mode:?} is not supported (append, overwrite, append_dedup)"
            )));
        }
        let hard_delete =
            config.cdc_deletion_mode == CdcDeletionMode::Hard && columns.iter().any(|c| c.name == sql::CDC_DELETED_AT);
        let internal_schema = sql::snowflake_name(
            config.raw_data_dataset.as_deref().filter(|s| !s.is_empty()).unwrap_or("airbyte_internal"),
        );
        Ok(TablePlan {
            target,
            internal_schema,
            columns,
            core_schema,
            staged_schema,
            mode,
            primary_key,
            cursor,
            hard_delete,
            generation_id: stream.generation_id.unwrap_or(0),
            has_generations: stream.generation_id.is_some(),
            minimum_generation_id: stream.minimum_generation_id.unwrap_or(0),
        })
    }

    /// Create `table` if missing, add new columns and migrate changed types. Returns statements run.
    pub async fn ensure_table(&self, client: &dyn SnowflakeClient, table: &TableRef, retention: u32) -> Result<()> {
        client.query(&sql::create_table(table, &self.columns, retention)).await?;
        let existing = client.query(&sql::describe_columns(table)).await?;
        let existing: Vec<(String, Option<SfType>)> = existing
            .into_iter()
            .filter_map(|row| {
                let name = row.first().cloned().flatten()?;
                let data_type = row.get(1).cloned().flatten().unwrap_or_default();
                let scale = row.get(2).cloned().flatten().and_then(|s| s.parse().ok());
                Some((name, SfType::from_information_schema(&data_type, scale)))
            })
            .collect();
        for column in &self.columns {
            match existing.iter().find(|(n, _)| *n == column.name) {
                None => {
                    tracing::info!(table = %table, column = %column.name, "adding column");
                    client.query(&sql::add_column(table, column)).await?;
                }
                Some((_, Some(old))) if old.needs_migration_to(column.sf_type) => {
                    tracing::info!(table = %table, column = %column.name, from = ?old, to = ?column.sf_type, "migrating column type");
                    let unique = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
                    for statement in sql::migrate_column(table, column, *old, &unique) {
                        client.query(&statement).await?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl TablePlan {
    /// Null JSON values that do not fit their OBJECT or ARRAY column (Snowflake would reject the whole load) and
    /// record each as a `NULLED` / `DESTINATION_SERIALIZATION_ERROR` change in `_AIRBYTE_META`. Batches without
    /// such values are returned as they are.
    pub fn enforce_json_shapes(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let mut nulled: Vec<(usize, Vec<bool>)> = Vec::new();
        for (ci, column) in self.columns.iter().enumerate() {
            let want = match (column.load, column.sf_type) {
                (LoadKind::ParseJson, SfType::Object) if column.property.is_some() => b'{',
                (LoadKind::ParseJson, SfType::Array) if column.property.is_some() => b'[',
                _ => continue,
            };
            let Some(values) = batch.column(ci).as_string_opt::<i32>() else { continue };
            let bad: Vec<bool> = (0..values.len())
                .map(|r| values.is_valid(r) && values.value(r).trim_start().as_bytes().first() != Some(&want))
                .collect();
            if bad.iter().any(|b| *b) {
                nulled.push((ci, bad));
            }
        }
        if nulled.is_empty() {
            return Ok(batch);
        }
        let arrow_err = |e: arrow::error::ArrowError| ConnectorError::system(format!("fixing JSON columns: {e}"));
        let mut arrays = batch.columns().to_vec();
        for (ci, bad) in &nulled {
            let values = batch.column(*ci).as_string::<i32>();
            let fixed: StringArray =
                (0..values.len()).map(|r| (!bad[r] && values.is_valid(r)).then(|| values.value(r))).collect();
            arrays[*ci] = Arc::new(fixed);
        }
        let meta_index = self.columns.iter().position(|c| c.name == sql::META).unwrap_or(3);
        let meta = batch.column(meta_index).as_struct();
        let DataType::Struct(meta_fields) = meta.data_type().clone() else {
            return Err(ConnectorError::system("_airbyte_meta is not a struct"));
        };
        let changes = meta.column(1).as_list::<i32>();
        let DataType::List(item_field) = changes.data_type().clone() else {
            return Err(ConnectorError::system("_airbyte_meta.changes is not a list"));
        };
        let DataType::Struct(change_fields) = item_field.data_type().clone() else {
            return Err(ConnectorError::system("a change is not a struct"));
        };
        let items = changes.values().as_struct();
        let (old_field, old_change, old_reason) = (
            items.column(0).as_string::<i32>(),
            items.column(1).as_string::<i32>(),
            items.column(2).as_string::<i32>(),
        );
        let (mut field, mut change, mut reason) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
        let mut offsets = vec![0i32];
        for row in 0..batch.num_rows() {
            let start = changes.value_offsets()[row] as usize;
            let end = changes.value_offsets()[row + 1] as usize;
            for j in start..end {
                field.append_value(old_field.value(j));
                change.append_value(old_change.value(j));
                reason.append_value(old_reason.value(j));
            }
            for (ci, bad) in &nulled {
                if bad[row] {
                    field.append_value(self.columns[*ci].property.as_deref().unwrap_or_default());
                    change.append_value("NULLED");
                    reason.append_value("DESTINATION_SERIALIZATION_ERROR");
                }
            }
            offsets.push(field.len() as i32);
        }
        let items = StructArray::try_new(
            change_fields,
            vec![Arc::new(field.finish()), Arc::new(change.finish()), Arc::new(reason.finish())],
            None,
        )
        .map_err(arrow_err)?;
        let list =
            ListArray::try_new(item_field, OffsetBuffer::new(ScalarBuffer::from(offsets)), Arc::new(items), None)
                .map_err(arrow_err)?;
        let meta =
            StructArray::try_new(meta_fields, vec![meta.column(0).clone(), Arc::new(list)], meta.nulls().cloned())
                .map_err(arrow_err)?;
        arrays[meta_index] = Arc::new(meta);
        RecordBatch::try_new(batch.schema(), arrays).map_err(arrow_err)
    }
}

/// The JSON schema handed to the core (objects and arrays as JSON text) and each property's Snowflake type
/// (Airbyte's map: string TEXT, number FLOAT, integer NUMBER, boolean, date, timestamps with/without zone,
/// time, object OBJECT, array ARRAY, anything else VARIANT).
fn core_schema_and_types(json_schema: &Value) -> (Value, Vec<(String, SfType)>) {
    let mut core = json_schema.clone();
    let mut types = Vec::new();
    let Some(props) = core.get_mut("properties").and_then(Value::as_object_mut) else {
        return (core, types);
    };
    for (name, prop) in props.iter_mut() {
        let sf_type = match ColumnType::from_json_schema(prop) {
            ColumnType::Integer => SfType::Number,
            ColumnType::Number => SfType::Float,
            ColumnType::Boolean => SfType::Boolean,
            ColumnType::String => SfType::Text,
            ColumnType::Date => SfType::Date,
            ColumnType::TimestampWithTimezone => SfType::TimestampTz,
            ColumnType::TimestampWithoutTimezone => SfType::TimestampNtz,
            ColumnType::Time => SfType::Time,
            ColumnType::Object(_) => SfType::Object,
            ColumnType::Array(_) => SfType::Array,
            ColumnType::Json => match single_type(prop) {
                Some("object") => SfType::Object,
                Some("array") => SfType::Array,
                _ => SfType::Variant,
            },
        };
        if matches!(sf_type, SfType::Object | SfType::Array) {
            // Untyped JSON text in the core: keys keep their original names inside the OBJECT/ARRAY.
            *prop = json!({});
        }
        types.push((name.clone(), sf_type));
    }
    (core, types)
}

/// The one non-null JSON type of a property schema, if it has exactly one.
fn single_type(schema: &Value) -> Option<&str> {
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    let non_null: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    (non_null.len() == 1).then(|| non_null[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use airbyte_protocol::{AirbyteStream, SyncMode};

    fn config() -> SnowflakeConfig {
        SnowflakeConfig::from_value(&json!({"host":"a.snowflakecomputing.com","role":"R","warehouse":"W",
            "database":"D","schema":"public","username":"u","credentials":{"password":"p"}}))
        .unwrap()
    }

    #[test]
    fn plan_maps_types_names_and_keys() {
        let schema = json!({"properties": {
            "id": {"type": "integer"}, "ID": {"type": "string"}, "price": {"type": ["null", "number"]},
            "ok": {"type": "boolean"}, "day": {"type": "string", "format": "date"},
            "at": {"type": "string", "format": "date-time"},
            "local": {"type": "string", "format": "date-time", "airbyte_type": "timestamp_without_timezone"},
            "t": {"type": "string", "format": "time"}, "doc": {"type": "object", "properties": {"a b": {"type": "string"}}},
            "tags": {"type": "array", "items": {"type": "string"}}, "any": {"type": ["string", "integer"]},
            "a\"; drop table x; --": {"type": "string"}
        }});
        let mut stream = ConfiguredAirbyteStream::new(
            AirbyteStream::new("my stream", schema),
            SyncMode::Incremental,
            DestinationSyncMode::AppendDedup,
        );
        stream.primary_key = Some(vec![vec!["id".into()]]);
        stream.cursor_field = Some(vec!["at".into()]);
        let plan = TablePlan::new(&stream, &config()).unwrap();
        assert_eq!(plan.target.to_string(), r#""PUBLIC"."MY STREAM""#);
        let stage = plan.stage().name;
        assert!(stage.starts_with("AIRBYTE_SSE_STAGE_MY_STREAM_") && stage.len() == 36, "{stage}");
        assert_eq!(plan.stage().schema, "AIRBYTE_INTERNAL");
        let cols: Vec<(&str, SfType)> = plan.columns.iter().map(|c| (c.name.as_str(), c.sf_type)).collect();
        assert!(cols.contains(&("ID", SfType::Number)) && cols.contains(&("ID_2", SfType::Text)), "{cols:?}");
        for (name, t) in [
            ("PRICE", SfType::Float),
            ("OK", SfType::Boolean),
            ("DAY", SfType::Date),
            ("AT", SfType::TimestampTz),
            ("LOCAL", SfType::TimestampNtz),
            ("T", SfType::Time),
            ("DOC", SfType::Object),
            ("TAGS", SfType::Array),
            ("ANY", SfType::Variant),
            ("A\"; DROP TABLE X; --", SfType::Text),
        ] {
            assert!(cols.contains(&(name, t)), "{name}: {cols:?}");
        }
        assert_eq!(plan.primary_key, vec!["ID".to_string()]);
        assert_eq!(plan.cursor.as_deref(), Some("AT"));
        let staged: Vec<&str> = plan.staged_schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(staged[..4], [sql::RAW_ID, sql::EXTRACTED_AT, sql::GENERATION_ID, sql::META]);
        assert_eq!(staged.len(), plan.columns.len());
        let doc = plan.columns.iter().find(|c| c.name == "DOC").unwrap();
        assert_eq!(doc.load, LoadKind::ParseJson, "objects travel as JSON text");
    }

    #[test]
    fn dedup_without_key_is_a_config_error() {
        let stream = ConfiguredAirbyteStream::new(
            AirbyteStream::new("s", json!({"properties": {"id": {"type": "integer"}}})),
            SyncMode::Incremental,
            DestinationSyncMode::AppendDedup,
        );
        let e = TablePlan::new(&stream, &config()).unwrap_err();
        assert!(e.is_config() && e.message.contains("primary key"), "{}", e.message);
    }
}
