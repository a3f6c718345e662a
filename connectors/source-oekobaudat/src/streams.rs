//! The streams: catalog (static, no network) and read.
//!
//! `processes`, `epd_indicators` and `epd_details` share one pass over the process list: list pages are
//! fetched in order (startIndex until totalCount), then the extended view of every EPD that a detail stream
//! needs is fetched with bounded concurrency (`buffer_unordered`); rows are emitted as answers arrive. Each
//! of the three streams keeps its own state, a compact map `uuid -> version` of what it has emitted, so an
//! EPD is emitted again only when it is new or its version changed.

use crate::client::{self, DataStock, ListQuery, SodaClient};
use crate::config::OekobaudatConfig;
use crate::records;
use airbyte_protocol::cli::match_catalog;
use airbyte_protocol::files::reads_incrementally;
use airbyte_protocol::http::paginate;
use airbyte_protocol::{
    AirbyteCatalog, AirbyteStream, ConfiguredAirbyteCatalog, ConfiguredAirbyteStream, ConnectorError, InputState,
    Result, SourceOutput, StreamWriter, SyncMode,
};
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

pub const DATASTOCKS: &str = "datastocks";
pub const CATEGORIES: &str = "categories";
pub const PROCESSES: &str = "processes";
pub const EPD_INDICATORS: &str = "epd_indicators";
pub const EPD_DETAILS: &str = "epd_details";

/// Detail streams checkpoint their state after this many EPDs.
const CHECKPOINT_EVERY: usize = 100;

fn nullable(t: &str) -> Value {
    json!({"type": [t, "null"]})
}
fn string() -> Value {
    nullable("string")
}
fn number() -> Value {
    nullable("number")
}
fn integer() -> Value {
    nullable("integer")
}
fn refs() -> Value {
    json!({"type": ["array", "null"], "items": {"type": "object", "properties": {"uuid": string(), "name": string()}}})
}

fn schema(properties: Value) -> Value {
    json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": true,
           "properties": properties})
}

/// A stream; `version_field` makes it incremental with that field as the (source-defined) cursor.
fn stream(name: &str, properties: Value, primary_key: &[&str], version_field: Option<&str>) -> AirbyteStream {
    let mut s = AirbyteStream::new(name, schema(properties));
    s.source_defined_primary_key = Some(primary_key.iter().map(|k| vec![k.to_string()]).collect());
    if let Some(field) = version_field {
        // The real cursor is the (uuid, version) set kept in the state; the version field is what changes.
        s.supported_sync_modes = vec![SyncMode::FullRefresh, SyncMode::Incremental];
        s.source_defined_cursor = Some(true);
        s.default_cursor_field = Some(vec![field.to_string()]);
        s.is_resumable = Some(true);
    }
    s
}

/// Every stream this source offers; the same for any node.
pub fn catalog() -> AirbyteCatalog {
    let datastocks = stream(
        DATASTOCKS,
        json!({"uuid": string(), "short_name": string(), "name": string(), "description": string(),
               "root": nullable("boolean"), "is_newest_obd_release": nullable("boolean")}),
        &["uuid"],
        None,
    );
    let categories = stream(
        CATEGORIES,
        json!({"classification_system": string(), "id": string(), "name": string(), "parent_id": string(),
               "level": integer(), "path": string()}),
        &["id"],
        None,
    );
    let processes = stream(
        PROCESSES,
        json!({
            "uuid": string(), "version": string(), "name": string(),
            "languages": {"type": ["array", "null"], "items": {"type": "string"}},
            "classification": string(), "classification_id": string(), "classification_system": string(),
            "type": string(), "sub_type": string(), "location": string(), "reference_year": integer(),
            "valid_until": integer(), "owner": string(), "compliance": refs(), "data_sources": refs(),
            "reference_flows": {"type": ["array", "null"], "items": {"type": "object", "properties": {
                "uuid": string(), "name": string(), "unit": string(), "mean_value": number()}}},
            "registration_number": string(),
            "registration_authority": {"type": ["object", "null"], "properties": {"uuid": string(), "name": string()}},
            "meta_data_only": nullable("boolean"), "node_id": string(), "uri": string(), "data_stock": string()
        }),
        &["uuid", "version"],
        Some("version"),
    );
    let indicators = stream(
        EPD_INDICATORS,
        json!({
            "process_uuid": string(), "process_version": string(), "indicator_key": string(),
            "indicator_uuid": string(), "indicator_name": string(), "indicator_kind": string(),
            "indicator_group": string(), "direction": string(), "module": string(), "scenario": string(),
            "value": number(), "value_text": string(), "unit": string(), "unit_group_uuid": string(),
            "standard": string(), "indicator_profile": string()
        }),
        &["process_uuid", "process_version", "indicator_uuid", "module", "scenario"],
        Some("process_version"),
    );
    let details = stream(
        EPD_DETAILS,
        json!({
            "process_uuid": string(), "process_version": string(), "name": string(), "classification": string(),
            "classification_id": string(), "type_of_dataset": string(), "sub_type": string(),
            "reference_year": integer(), "valid_until": integer(), "location": string(), "standard": string(),
            "indicator_profile": string(), "registration_number": string(), "owner": string(),
            "data_entry_time": {"type": ["string", "null"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"},
            "reference_flow_uuid": string(), "reference_flow_name": string(), "declared_amount": number(),
            "declared_unit": string(), "declared_property": string(), "mass_kg_per_declared_unit": number(),
            "gross_density_kg_per_m3": number(), "grammage_kg_per_m2": number(), "layer_thickness_m": number(),
            "conversion_factor_to_1_kg": number(),
            "flow_properties": {"type": ["array", "null"], "items": {"type": "object", "properties": {
                "uuid": string(), "name": string(), "mean_value": number(), "unit": string(),
                "is_reference": nullable("boolean")}}},
            "material_properties": {"type": ["array", "null"], "items": {"type": "object", "properties": {
                "name": string(), "value": number(), "unit": string(), "unit_description": string()}}}
        }),
        &["process_uuid", "process_version"],
        Some("process_version"),
    );
    AirbyteCatalog { streams: vec![datastocks, categories, processes, indicators, details], extra: Default::default() }
}

/// The data stock to read: the configured one (by UUID or short name), else the newest OBD release.
/// Returns (identifier for URLs, UUID for records).
pub fn resolve_stock(config: &OekobaudatConfig, stocks: Option<&[DataStock]>) -> Result<(String, String)> {
    match (&config.data_stock, stocks) {
        (Some(id), stocks) => {
            let found = stocks.and_then(|all| {
                all.iter().find(|s| s.uuid.eq_ignore_ascii_case(id) || s.short_name.eq_ignore_ascii_case(id))
            });
            Ok((id.clone(), found.map(|s| s.uuid.clone()).unwrap_or_else(|| id.clone())))
        }
        (None, Some(all)) => match client::newest_obd_release(all) {
            Some(s) => {
                tracing::info!("Reading data stock {} ({}), the newest OBD release on the node.", s.short_name, s.uuid);
                Ok((s.uuid.clone(), s.uuid.clone()))
            }
            None => {
                let names: Vec<&str> = all.iter().map(|s| s.short_name.as_str()).take(30).collect();
                Err(ConnectorError::config(format!(
                    "config /data_stock is empty and the node lists no OBD_<year>_<release> data stock; set \
                     /data_stock to one of: {}",
                    names.join(", ")
                )))
            }
        },
        (None, None) => Err(ConnectorError::system("data stocks were not listed before resolving the default")),
    }
}

/// What a stream remembered: `{"versions": {uuid: version}}`.
fn load_versions(state: &InputState, cs: &ConfiguredAirbyteStream) -> Result<HashMap<String, String>> {
    let Some(value) = state.stream(&cs.descriptor()) else { return Ok(HashMap::new()) };
    if value.is_null() || value.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(HashMap::new());
    }
    let versions = value.get("versions").and_then(Value::as_object).ok_or_else(|| {
        ConnectorError::config(format!(
            "state of stream {}: expected an object {{\"versions\": {{uuid: version}}}}",
            cs.stream.name
        ))
    })?;
    versions
        .iter()
        .map(|(k, v)| match v.as_str() {
            Some(v) => Ok((k.clone(), v.to_string())),
            None => Err(ConnectorError::config(format!(
                "state of stream {} at /versions/{k}: expected a version string",
                cs.stream.name
            ))),
        })
        .collect()
}

fn versions_state(map: &BTreeMap<&str, &str>) -> Value {
    json!({ "versions": map })
}

/// One of the EPD streams during a read. Full refresh and incremental reads both emit the `versions` state
/// (the platform wants a state per stream; a later switch to incremental can use it).
struct Tracked {
    writer: StreamWriter,
    incremental: bool,
    old: HashMap<String, String>,
    /// Emitted in this read: uuid -> version.
    done: HashMap<String, String>,
    /// The last state emitted, so the same state is not sent twice without records in between.
    last_state: Option<Value>,
}

impl Tracked {
    fn open(out: &SourceOutput, cs: &ConfiguredAirbyteStream, state: &InputState) -> Result<Self> {
        let incremental = reads_incrementally(cs);
        let old = if incremental { load_versions(state, cs)? } else { HashMap::new() };
        Ok(Tracked {
            writer: out.start_stream(cs.descriptor())?,
            incremental,
            old,
            done: HashMap::new(),
            last_state: None,
        })
    }
    fn needs(&self, uuid: &str, version: &str) -> bool {
        !self.incremental || self.old.get(uuid).map(String::as_str) != Some(version)
    }
    fn emit_state(&mut self, state: Value) -> Result<()> {
        if self.last_state.as_ref() != Some(&state) {
            self.writer.state(state.clone())?;
            self.last_state = Some(state);
        }
        Ok(())
    }
    /// Mid-read checkpoint: what was remembered plus what was emitted since.
    fn checkpoint(&mut self) -> Result<()> {
        let state = {
            let mut map: BTreeMap<&str, &str> = self.old.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            map.extend(self.done.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            versions_state(&map)
        };
        self.emit_state(state)
    }
    /// Final state: the EPDs of the current list this stream has emitted, now or before (drops EPDs that left
    /// the list, so the state stays as small as the stock).
    fn finish(mut self, listed: &[(String, String)]) -> Result<()> {
        let state = {
            let map: BTreeMap<&str, &str> = listed
                .iter()
                .filter(|(u, v)| self.done.get(u) == Some(v) || self.old.get(u.as_str()) == Some(v))
                .map(|(u, v)| (u.as_str(), v.as_str()))
                .collect();
            versions_state(&map)
        };
        self.emit_state(state)?;
        self.writer.complete()
    }
}

struct DetailJob {
    uuid: String,
    version: String,
    indicators: bool,
    details: bool,
}

pub async fn read(
    config: &OekobaudatConfig,
    configured: &ConfiguredAirbyteCatalog,
    state: &InputState,
    out: &SourceOutput,
) -> Result<()> {
    let discovered = catalog();
    let selected = match_catalog(&discovered, configured)?;
    let want = |name: &str| selected.iter().find(|(cs, _)| cs.stream.name == name).map(|(cs, _)| *cs);
    let client = SodaClient::new(config)?;
    let epd_streams = [want(PROCESSES), want(EPD_INDICATORS), want(EPD_DETAILS)];
    let needs_epds = epd_streams.iter().any(Option::is_some);

    // The stock list also turns a configured short name into the UUID the records carry.
    let stocks = if want(DATASTOCKS).is_some() || (needs_epds && config.data_stock.is_none()) {
        Some(client.datastocks().await?)
    } else if needs_epds {
        client
            .datastocks()
            .await
            .inspect_err(|e| {
                tracing::warn!("Cannot list data stocks ({e}); reading {:?} as configured.", config.data_stock)
            })
            .ok()
    } else {
        None
    };
    if let Some(cs) = want(DATASTOCKS) {
        let all = stocks.as_deref().unwrap_or_default();
        let newest = client::newest_obd_release(all).map(|s| s.uuid.clone());
        let mut w = out.start_stream(cs.descriptor())?;
        for s in all {
            w.record(
                &json!({"uuid": s.uuid, "short_name": s.short_name, "name": s.name, "description": s.description,
                             "root": s.root, "is_newest_obd_release": newest.as_deref() == Some(s.uuid.as_str())}),
            )?;
        }
        w.state(json!({}))?;
        w.complete()?;
    }
    if let Some(cs) = want(CATEGORIES) {
        let mut w = out.start_stream(cs.descriptor())?;
        let xml = client.category_system(&config.classification_system).await?;
        let rows = records::parse_categories(&xml, "Process").map_err(|m| {
            ConnectorError::system(format!(
                "category system {} is not valid ILCD categories XML: {m}",
                config.classification_system
            ))
        })?;
        for r in rows {
            w.record(&json!({"classification_system": config.classification_system, "id": r.id, "name": r.name,
                             "parent_id": r.parent_id, "level": r.level, "path": r.path}))?;
        }
        w.state(json!({}))?;
        w.complete()?;
    }
    if needs_epds {
        let (stock, stock_uuid) = resolve_stock(config, stocks.as_deref())?;
        read_epds(config, &client, &stock, &stock_uuid, epd_streams, state, out).await?;
    }
    Ok(())
}

async fn read_epds(
    config: &OekobaudatConfig,
    client: &SodaClient,
    stock: &str,
    stock_uuid: &str,
    [processes, indicators, details]: [Option<&ConfiguredAirbyteStream>; 3],
    state: &InputState,
    out: &SourceOutput,
) -> Result<()> {
    let open = |cs: Option<&ConfiguredAirbyteStream>| cs.map(|cs| Tracked::open(out, cs, state)).transpose();
    let mut processes = open(processes)?;
    let mut indicators = open(indicators)?;
    let mut details = open(details)?;

    // 1. The list, page by page; `processes` rows go out as pages arrive.
    let query = ListQuery::from_config(config);
    let page_size = config.page_size;
    let pages = paginate(Some(0u64), |start| {
        let (client, stock, query) = (client.clone(), stock.to_string(), query.clone());
        async move {
            let start = start.unwrap_or(0);
            let page = client.process_page(&stock, &query, start, page_size).await?;
            let next = start + page.data.len() as u64;
            // pageSize echoes the request, so progress is counted by items; an empty page ends the list too.
            let more = !page.data.is_empty() && next < page.total_count;
            Ok((vec![page], more.then_some(next)))
        }
    });
    futures::pin_mut!(pages);
    let mut listed: Vec<(String, String)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut jobs: Vec<DetailJob> = Vec::new();
    let mut estimated = false;
    let mut total_count = 0u64;
    while let Some(page) = pages.next().await {
        let Some(page) = page?.pop() else { continue };
        total_count = page.total_count;
        if !estimated {
            estimated = true;
            if let Some(p) = processes.as_mut() {
                p.writer.estimate(Some(page.total_count as i64), None)?;
            }
        }
        for item in &page.data {
            let (Some(uuid), Some(version)) =
                (item.get("uuid").and_then(Value::as_str), item.get("version").and_then(Value::as_str))
            else {
                tracing::warn!("Skipping a list entry without uuid or version at data stock {stock}.");
                continue;
            };
            // A list that shifts between pages can repeat an entry; emit each EPD once per read.
            if !seen.insert(uuid.to_string()) {
                continue;
            }
            listed.push((uuid.to_string(), version.to_string()));
            if let Some(p) = processes.as_mut() {
                if p.needs(uuid, version) {
                    p.writer.record(&records::process_record(item, stock_uuid))?;
                    p.done.insert(uuid.to_string(), version.to_string());
                }
            }
            let job = DetailJob {
                uuid: uuid.to_string(),
                version: version.to_string(),
                indicators: indicators.as_ref().is_some_and(|t| t.needs(uuid, version)),
                details: details.as_ref().is_some_and(|t| t.needs(uuid, version)),
            };
            if job.indicators || job.details {
                jobs.push(job);
            }
        }
        if let Some(p) = processes.as_mut() {
            p.checkpoint()?;
        }
    }
    if (listed.len() as u64) < total_count {
        tracing::warn!(
            "The list of data stock {stock} gave {} distinct EPDs although it announced {total_count}; it probably \
             changed while being paged. The missing EPDs will be read by the next sync.",
            listed.len()
        );
    }
    if let Some(p) = processes {
        p.finish(&listed)?;
    }
    if indicators.is_none() && details.is_none() {
        return Ok(());
    }

    if let Some(t) = details.as_mut() {
        let rows = jobs.iter().filter(|j| j.details).count();
        t.writer.estimate(Some(rows as i64), None)?;
    }

    // 2. Details, concurrently under the shared rate limit; rows are emitted in completion order.
    tracing::info!("Fetching {} EPD detail views (concurrency {}).", jobs.len(), config.detail_concurrency);
    let started = std::time::Instant::now();
    let total_jobs = jobs.len();
    let lang = config.language.clone();
    let mut answers = futures::stream::iter(jobs)
        .map(|job| {
            let (client, stock) = (client.clone(), stock.to_string());
            async move {
                let result = client.process_detail(&stock, &job.uuid, Some(&job.version)).await;
                (job, result)
            }
        })
        .buffer_unordered(config.detail_concurrency as usize);
    let mut fetched = 0usize;
    let mut failure = None;
    while let Some((job, result)) = answers.next().await {
        let epd = match result {
            Ok(Some(epd)) => epd,
            Ok(None) => {
                tracing::warn!(
                    "EPD {} version {} is gone from data stock {stock} (HTTP 404); it will be tried again next sync.",
                    job.uuid,
                    job.version
                );
                continue;
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let rows = records::epd_rows(&epd, &job.uuid, &job.version, &lang);
        if let (true, Some(t)) = (job.indicators, indicators.as_mut()) {
            for row in &rows.indicators {
                t.writer.record(row)?;
            }
            t.done.insert(job.uuid.clone(), job.version.clone());
        }
        if let (true, Some(t)) = (job.details, details.as_mut()) {
            t.writer.record(&rows.details)?;
            t.done.insert(job.uuid.clone(), job.version.clone());
        }
        fetched += 1;
        if fetched % CHECKPOINT_EVERY == 0 {
            for t in [indicators.as_mut(), details.as_mut()].into_iter().flatten() {
                t.checkpoint()?;
            }
        }
    }
    drop(answers);
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        "Fetched {fetched} of {total_jobs} EPD detail views in {secs:.1} s ({:.2} per second; limit {} requests per second).",
        if secs > 0.0 { fetched as f64 / secs } else { 0.0 },
        config.requests_per_second
    );
    if let Some(e) = failure {
        // Keep what was emitted: a retried sync resumes after the last EPD it saw.
        for t in [indicators.as_mut(), details.as_mut()].into_iter().flatten() {
            t.checkpoint()?;
        }
        return Err(e);
    }
    for t in [indicators, details].into_iter().flatten() {
        t.finish(&listed)?;
    }
    Ok(())
}
