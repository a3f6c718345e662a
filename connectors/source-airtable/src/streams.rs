//! discover (bases -> tables -> streams) and read (records per table, incremental by a lastModifiedTime field).

use crate::client::{AirtableClient, ApiError, Base, RecordQuery};
use crate::config::AirtableConfig;
use crate::schema::{self, Column, ColumnType};
use airbyte_protocol::cli::{emit_error, match_catalog};
use airbyte_protocol::files::reads_incrementally;
use airbyte_protocol::{
    AirbyteCatalog, AirbyteStream, ChangeKind, ChangeReason, ConfiguredAirbyteCatalog, ConnectorError, FieldChange,
    InputState, Result, SourceOutput, StreamDescriptor, SyncMode,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Tables of one base read at the same time (they share the base's 5 requests/s, so a slow answer on one table
/// does not leave the budget unused).
const TABLES_IN_FLIGHT_PER_BASE: usize = 2;
/// Bases read at the same time (the 50 requests/s total allows ten at full speed).
const BASES_IN_FLIGHT: usize = 16;
/// How often a table is restarted after Airtable expired its list iterator.
const MAX_ITERATOR_RESTARTS: u32 = 5;
/// State key of the records already emitted within the look-back window.
const RECENT_KEY: &str = "_airtable_recent_records";

/// A table as a stream.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub base: Base,
    pub table_id: String,
    pub table_name: String,
    pub stream_name: String,
    pub columns: Vec<Column>,
    by_field: HashMap<String, usize>,
    /// The lastModifiedTime field used as cursor, if the table has one.
    pub cursor: Option<Column>,
}

impl TableInfo {
    fn new(base: &Base, table: &Value) -> Option<Self> {
        let table_id = table.get("id")?.as_str()?.to_string();
        let table_name = table.get("name").and_then(Value::as_str).unwrap_or(&table_id).to_string();
        let columns = schema::table_columns(table);
        let by_field = columns.iter().enumerate().map(|(i, c)| (c.field_name.clone(), i)).collect();
        let cursor = cursor_field(table).and_then(|f| columns.iter().find(|c| c.field_name == f).cloned());
        Some(TableInfo {
            stream_name: schema::stream_name(&base.name, &table_name, &table_id),
            base: base.clone(),
            table_id,
            table_name,
            columns,
            by_field,
            cursor,
        })
    }

    /// The catalog entry: primary key `_airtable_id`; incremental when there is a cursor.
    pub fn airbyte_stream(&self) -> AirbyteStream {
        let mut s = AirbyteStream::new(self.stream_name.clone(), schema::json_schema(&self.columns));
        s.source_defined_primary_key = Some(vec![vec![schema::ID_COLUMN.to_string()]]);
        if let Some(c) = &self.cursor {
            s.supported_sync_modes = vec![SyncMode::FullRefresh, SyncMode::Incremental];
            s.source_defined_cursor = Some(true);
            s.default_cursor_field = Some(vec![c.name.clone()]);
        }
        s
    }
}

/// The lastModifiedTime field (with date-time values) to use as cursor: one that tracks every field if there is
/// one, else the first.
fn cursor_field(table: &Value) -> Option<String> {
    let fields = table.get("fields")?.as_array()?;
    let candidates: Vec<&Value> = fields
        .iter()
        .filter(|f| f.get("type").and_then(Value::as_str) == Some("lastModifiedTime"))
        .filter(|f| schema::column_type(f) == ColumnType::DateTime)
        .collect();
    let tracks_all = |f: &&&Value| {
        f.pointer("/options/referencedFieldIds").and_then(Value::as_array).is_none_or(|ids| ids.is_empty())
    };
    let chosen = candidates.iter().find(tracks_all).or(candidates.first())?;
    chosen.get("name").and_then(Value::as_str).map(str::to_string)
}

fn selected(filter: &[String], id: &str, name: &str) -> bool {
    filter.is_empty() || filter.iter().any(|f| f == id || f == name)
}

/// Every table the config selects, in base order then table order.
pub async fn discover_tables(client: &AirtableClient, config: &AirtableConfig) -> Result<Vec<TableInfo>> {
    let all_bases = client.list_bases().await?;
    // As Airbyte: bases without a permission level are not readable; "none" and the rest are kept.
    let bases: Vec<Base> = all_bases
        .into_iter()
        .filter(|b| b.permission_level.as_deref().is_some_and(|p| !p.is_empty()))
        .filter(|b| selected(&config.bases, &b.id, &b.name))
        .collect();
    for wanted in &config.bases {
        if !bases.iter().any(|b| &b.id == wanted || &b.name == wanted) {
            return Err(ConnectorError::config(format!(
                "config: base `{wanted}` is not among the bases this token can read (check the token's base access)"
            )));
        }
    }
    let per_base: Vec<Result<Vec<TableInfo>>> = futures::stream::iter(bases.iter())
        .map(|base| async move {
            let tables = client.list_tables(base).await?;
            Ok(tables
                .iter()
                .filter_map(|t| TableInfo::new(base, t))
                .filter(|t| selected(&config.tables, &t.table_id, &t.table_name))
                .collect())
        })
        .buffered(BASES_IN_FLIGHT)
        .collect()
        .await;
    let mut out = Vec::new();
    for r in per_base {
        out.extend(r?);
    }
    for wanted in &config.tables {
        if !out.iter().any(|t| &t.table_id == wanted || &t.table_name == wanted) {
            return Err(ConnectorError::config(format!(
                "config: table `{wanted}` was not found in the selected bases"
            )));
        }
    }
    Ok(out)
}

/// The catalog.
pub async fn discover(client: &AirtableClient, config: &AirtableConfig) -> Result<AirbyteCatalog> {
    let tables = discover_tables(client, config).await?;
    Ok(AirbyteCatalog { streams: tables.iter().map(TableInfo::airbyte_stream).collect(), ..Default::default() })
}

/// Check as Airbyte does: list the bases, read the schema of one, and one record page of its first table
/// (proves the `schema.bases:read` and `data.records:read` scopes).
pub async fn check(client: &AirtableClient, config: &AirtableConfig) -> Result<()> {
    let tables = discover_tables(client, config).await?;
    let Some(first) = tables.first() else {
        return Err(ConnectorError::config(
            "the token sees no table: give it access to at least one base (scopes schema.bases:read, data.records:read)",
        ));
    };
    let query = RecordQuery { page_size: Some(1), ..Default::default() };
    let what = format!("reading records of `{}`", first.stream_name);
    client.list_records(&first.base.id, &first.table_id, None, &query, &what).await.map_err(ConnectorError::from)?;
    Ok(())
}

/// Read the configured streams: bases in parallel, a few tables per base at a time.
pub async fn read(
    client: &AirtableClient,
    config: &AirtableConfig,
    catalog: &ConfiguredAirbyteCatalog,
    state: &InputState,
    out: &SourceOutput,
) -> Result<()> {
    let tables = discover_tables(client, config).await?;
    let discovered =
        AirbyteCatalog { streams: tables.iter().map(TableInfo::airbyte_stream).collect(), ..Default::default() };
    let matched = match_catalog(&discovered, catalog)?;
    let mut by_base: BTreeMap<&str, Vec<TableJob>> = BTreeMap::new();
    for (configured, _) in matched {
        let table = tables.iter().find(|t| t.stream_name == configured.stream.name).expect("matched stream");
        let descriptor = configured.descriptor();
        let incremental = reads_incrementally(configured) && table.cursor.is_some();
        by_base.entry(table.base.id.as_str()).or_default().push(TableJob {
            table,
            prior_state: state.stream(&descriptor).cloned(),
            descriptor,
            incremental,
        });
    }
    let lookback = config.lookback();
    let results: Vec<Vec<Result<()>>> = futures::stream::iter(by_base.into_values())
        .map(|jobs| {
            futures::stream::iter(jobs)
                .map(|job| read_table(client, job, lookback, out))
                .buffer_unordered(TABLES_IN_FLIGHT_PER_BASE)
                .collect::<Vec<_>>()
        })
        .buffer_unordered(BASES_IN_FLIGHT)
        .collect()
        .await;
    let mut errors: Vec<ConnectorError> = results.into_iter().flatten().filter_map(|r| r.err()).collect();
    let Some(last) = errors.pop() else { return Ok(()) };
    for e in &errors {
        emit_error(out.output(), e);
    }
    Err(last)
}

struct TableJob<'a> {
    table: &'a TableInfo,
    descriptor: StreamDescriptor,
    prior_state: Option<Value>,
    incremental: bool,
}

async fn read_table(
    client: &AirtableClient,
    job: TableJob<'_>,
    lookback: chrono::Duration,
    out: &SourceOutput,
) -> Result<()> {
    let table = job.table;
    let descriptor = job.descriptor.clone();
    let with_stream = |e: ConnectorError| e.with_stream(descriptor.clone());
    let mut writer = out.start_stream(descriptor.clone())?;
    let mut tracker = match (&table.cursor, job.incremental) {
        (Some(cursor), true) => {
            Some(CursorTracker::new(cursor, job.prior_state.as_ref(), lookback).map_err(&with_stream)?)
        }
        _ => None,
    };
    let query = RecordQuery {
        filter: tracker.as_ref().and_then(CursorTracker::filter_formula),
        sort_field: tracker.as_ref().map(|t| t.field_name.clone()),
        page_size: None,
    };
    let what = format!("reading records of `{}`", table.stream_name);
    let mut emitted_ids: HashSet<String> = HashSet::new();
    let mut restarts = 0;
    'table: loop {
        let mut offset: Option<String> = None;
        loop {
            let page =
                match client.list_records(&table.base.id, &table.table_id, offset.as_deref(), &query, &what).await {
                    Ok(p) => p,
                    Err(ApiError::IteratorExpired) if restarts < MAX_ITERATOR_RESTARTS => {
                        restarts += 1;
                        tracing::warn!(
                            "Airtable expired the list iterator of `{}`; reading the table again from the start \
                             (records already emitted are skipped).",
                            table.stream_name
                        );
                        continue 'table;
                    }
                    Err(e) => return Err(with_stream(e.into())),
                };
            for record in page.records {
                let Some(id) = record.get("id").and_then(Value::as_str).map(str::to_string) else {
                    tracing::warn!("A record of `{}` has no id; skipped.", table.stream_name);
                    continue;
                };
                if emitted_ids.contains(&id) {
                    continue;
                }
                let cursor_value = tracker.as_ref().and_then(|t| t.value_of(&record));
                if let Some(t) = &tracker {
                    if t.already_emitted(&id, cursor_value.as_deref()) {
                        continue;
                    }
                }
                let (data, changes) = record_data(record, table);
                writer.record_raw_with_changes(&data, &changes)?;
                if let Some(t) = &mut tracker {
                    t.observe(&id, cursor_value);
                }
                emitted_ids.insert(id);
            }
            if let Some(t) = &tracker {
                writer.state(t.state())?;
            }
            match page.offset.filter(|o| !o.is_empty()) {
                Some(next) => offset = Some(next),
                None => break 'table,
            }
        }
    }
    if tracker.is_none() {
        writer.state(json!({}))?;
    }
    writer.complete()
}

/// A record's `data`: the `_airtable_*` columns, then each field under its column name with its declared type.
/// Values that do not fit the type are nulled and listed in `meta.changes`.
pub fn record_data(record: Value, table: &TableInfo) -> (Vec<u8>, Vec<FieldChange>) {
    let Value::Object(mut record) = record else { return (b"{}".to_vec(), Vec::new()) };
    let mut data = Map::new();
    data.insert(schema::ID_COLUMN.into(), record.remove("id").unwrap_or(Value::Null));
    data.insert(schema::CREATED_TIME_COLUMN.into(), record.remove("createdTime").unwrap_or(Value::Null));
    data.insert(schema::TABLE_NAME_COLUMN.into(), Value::String(table.table_name.clone()));
    let mut changes = Vec::new();
    if let Some(Value::Object(fields)) = record.remove("fields") {
        for (field_name, value) in fields {
            match table.by_field.get(&field_name).map(|&i| &table.columns[i]) {
                Some(column) => {
                    let conformed = column.kind.conform(value).unwrap_or_else(|| {
                        changes.push(FieldChange::new(
                            column.name.clone(),
                            ChangeKind::Nulled,
                            ChangeReason::SourceSerializationError,
                        ));
                        Value::Null
                    });
                    data.insert(column.name.clone(), conformed);
                }
                // A field added after the schema was read: kept as is (the schema allows more properties).
                None => {
                    data.insert(schema::column_name(&field_name), value);
                }
            }
        }
    }
    (serde_json::to_vec(&Value::Object(data)).unwrap_or_else(|_| b"{}".to_vec()), changes)
}

/// Incremental bookkeeping for one table: the saved cursor, the records emitted within the look-back window
/// (so re-reading the window emits nothing twice), and what this sync has seen.
struct CursorTracker {
    field_name: String,
    column: String,
    lookback: chrono::Duration,
    prior_cursor: Option<(DateTime<Utc>, String)>,
    /// Record id -> cursor value, of records emitted at or after `cursor - lookback`.
    recent: HashMap<String, String>,
    max: Option<(DateTime<Utc>, String)>,
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc))
}

impl CursorTracker {
    fn new(cursor: &Column, prior: Option<&Value>, lookback: chrono::Duration) -> Result<Self> {
        let mut tracker = CursorTracker {
            field_name: cursor.field_name.clone(),
            column: cursor.name.clone(),
            lookback,
            prior_cursor: None,
            recent: HashMap::new(),
            max: None,
        };
        let Some(prior) = prior.filter(|p| p.as_object().is_some_and(|o| !o.is_empty())) else { return Ok(tracker) };
        match prior.get(&tracker.column) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                let at = parse_time(s).ok_or_else(|| {
                    ConnectorError::config(format!(
                        "state: cursor `{}` = `{s}` is not an RFC 3339 date-time",
                        tracker.column
                    ))
                })?;
                tracker.prior_cursor = Some((at, s.clone()));
            }
            Some(other) => {
                return Err(ConnectorError::config(format!(
                    "state: cursor `{}` must be a date-time string, got {other}",
                    tracker.column
                )))
            }
        }
        if let Some(Value::Object(recent)) = prior.get(RECENT_KEY) {
            for (id, v) in recent {
                if let Some(s) = v.as_str() {
                    tracker.recent.insert(id.clone(), s.to_string());
                }
            }
        }
        Ok(tracker)
    }

    /// `IS_AFTER({field}, 'cursor - lookback')`, or none on a first sync.
    fn filter_formula(&self) -> Option<String> {
        let (at, _) = self.prior_cursor.as_ref()?;
        let from = *at - self.lookback;
        let field = self.field_name.replace('\\', "\\\\").replace('}', "\\}");
        Some(format!("IS_AFTER({{{field}}}, '{}')", from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
    }

    fn value_of(&self, record: &Value) -> Option<String> {
        record.get("fields")?.get(&self.field_name)?.as_str().map(str::to_string)
    }

    /// Whether a record was emitted by an earlier sync: at or before the saved cursor, with the same cursor value.
    fn already_emitted(&self, id: &str, value: Option<&str>) -> bool {
        let (Some((cursor, _)), Some(value)) = (&self.prior_cursor, value) else { return false };
        parse_time(value).is_some_and(|at| at <= *cursor) && self.recent.get(id).map(String::as_str) == Some(value)
    }

    fn observe(&mut self, id: &str, value: Option<String>) {
        let Some(value) = value else { return };
        let Some(at) = parse_time(&value) else { return };
        if self.max.as_ref().is_none_or(|(m, _)| at > *m) {
            self.max = Some((at, value.clone()));
        }
        self.recent.insert(id.to_string(), value);
    }

    /// `{ <cursor column>: <max cursor>, "_airtable_recent_records": {id: value} }`.
    fn state(&self) -> Value {
        let cursor = match (&self.prior_cursor, &self.max) {
            (Some(p), Some(m)) => Some(if m.0 > p.0 { m } else { p }),
            (p, m) => p.as_ref().or(m.as_ref()),
        };
        let Some((at, raw)) = cursor else { return json!({}) };
        let horizon = *at - self.lookback;
        let recent: Map<String, Value> = self
            .recent
            .iter()
            .filter(|(_, v)| parse_time(v).is_some_and(|t| t >= horizon))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut state = Map::new();
        state.insert(self.column.clone(), Value::String(raw.clone()));
        state.insert(RECENT_KEY.into(), Value::Object(recent));
        Value::Object(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column() -> Column {
        Column { field_name: "Last Modified".into(), name: "last_modified".into(), kind: ColumnType::DateTime }
    }

    #[test]
    fn tracker_skips_what_was_emitted_and_keeps_the_window() {
        let prior = json!({"last_modified": "2024-01-01T00:10:00.000Z",
            RECENT_KEY: {"recA": "2024-01-01T00:09:00.000Z", "recB": "2024-01-01T00:10:00.000Z"}});
        let mut t = CursorTracker::new(&column(), Some(&prior), chrono::Duration::seconds(300)).unwrap();
        assert_eq!(t.filter_formula().unwrap(), "IS_AFTER({Last Modified}, '2024-01-01T00:05:00.000Z')");
        assert!(t.already_emitted("recA", Some("2024-01-01T00:09:00.000Z")));
        // Changed since, or never emitted (late-visible): emitted again.
        assert!(!t.already_emitted("recA", Some("2024-01-01T00:11:00.000Z")));
        assert!(!t.already_emitted("recC", Some("2024-01-01T00:08:00.000Z")));
        t.observe("recC", Some("2024-01-01T00:20:00.000Z".into()));
        let s = t.state();
        assert_eq!(s["last_modified"], "2024-01-01T00:20:00.000Z");
        // recA and recB fell out of the window (before 00:15), recC is in it.
        assert_eq!(s[RECENT_KEY], json!({"recC": "2024-01-01T00:20:00.000Z"}));
        let bad = CursorTracker::new(&column(), Some(&json!({"last_modified": 5})), chrono::Duration::zero());
        assert!(bad.err().unwrap().is_config());
    }

    #[test]
    fn cursor_prefers_a_field_tracking_everything() {
        let table = json!({"fields": [
            {"name": "Some", "type": "lastModifiedTime", "options": {"referencedFieldIds": ["fld1"], "result": {"type": "dateTime"}}},
            {"name": "All", "type": "lastModifiedTime", "options": {"referencedFieldIds": [], "result": {"type": "dateTime"}}},
            {"name": "Day", "type": "lastModifiedTime", "options": {"result": {"type": "date"}}}
        ]});
        assert_eq!(cursor_field(&table).as_deref(), Some("All"));
        assert_eq!(
            cursor_field(
                &json!({"fields": [{"name": "x", "type": "lastModifiedTime", "options": {"result": {"type": "date"}}}]})
            ),
            None
        );
    }
}
