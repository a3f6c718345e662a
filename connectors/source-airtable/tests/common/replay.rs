//! A loopback Airtable API for tests, the offline example and the benchmark. It replays the real recorded responses
//! in `shared/fixtures/airtable` (the 3-page offset chain, the 422 body), serves generated tables with every field
//! type of `pyairtable_sample_data/field_schema`, enforces Airtable's limits (5 requests/s per base, 50/s overall:
//! excess gets a 429 as Airtable would answer), checks bearer tokens, runs an OAuth token endpoint that rotates
//! refresh tokens, and injects faults (429, 5xx, slow answers, expired iterators, expired tokens, any status).
#![allow(dead_code)]

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub const PAT: &str = "patReplay0000000.replay-secret-token";
pub const CLIENT_ID: &str = "replay-client-id";
pub const CLIENT_SECRET: &str = "replay-client-secret";
pub const FIRST_REFRESH_TOKEN: &str = "replay-refresh-0";
/// Recorded base of pyairtable's 2017 dump.
pub const RECORDED_BASE: &str = "appJMY16gZDQrMWpA";
pub const RECORDED_TABLE_ID: &str = "tblTableRead00001";
const PAGE_SIZE: usize = 100;
/// Requests arriving closer than this to a full second still count in the same second (network jitter).
const LIMIT_WINDOW: Duration = Duration::from_millis(950);

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/airtable")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// One table: its meta object, its records, or a recorded chain of page bodies replayed verbatim.
#[derive(Clone)]
pub struct TableData {
    pub meta: Value,
    pub records: Vec<Value>,
    pub recorded_pages: Option<Vec<Value>>,
}

impl TableData {
    pub fn id(&self) -> &str {
        self.meta["id"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.meta["name"].as_str().unwrap_or_default()
    }
    /// Every record the table serves, in order.
    pub fn all_records(&self) -> Vec<Value> {
        match &self.recorded_pages {
            Some(pages) => pages.iter().flat_map(|p| p["records"].as_array().cloned().unwrap_or_default()).collect(),
            None => self.records.clone(),
        }
    }
}

#[derive(Clone)]
pub struct BaseData {
    pub id: String,
    pub name: String,
    pub permission_level: Option<String>,
    /// Answer record requests with 403 INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND.
    pub deny_records: bool,
    pub tables: Vec<TableData>,
}

/// The recorded table: 300 records over the real 3-page offset chain.
pub fn recorded_table() -> TableData {
    let dir = fixtures_dir().join("pyairtable_dump_2017");
    let pages: Vec<Value> = ["GET-200_409276.json", "GET-200_740659.json", "GET-200_0487516.json"]
        .iter()
        .map(|f| read_json(&dir.join(f))["response_json"].clone())
        .collect();
    let text = |id: &str, name: &str| json!({"id": id, "name": name, "type": "singleLineText"});
    TableData {
        meta: json!({"id": RECORDED_TABLE_ID, "name": "TABLE READ", "primaryFieldId": "fldColumnId000001",
            "fields": [text("fldColumnId000001", "COLUMN_ID"), text("fldColumnStr00001", "COLUMN_STR"),
                       text("fldColumnUpd00001", "COLUMN_UPDATE")],
            "views": [{"id": "viwAll00000000001", "name": "ViewAll", "type": "grid"}]}),
        records: Vec::new(),
        recorded_pages: Some(pages),
    }
}

/// The 422 body recorded in 2017 (UNKNOWN_FIELD_NAME).
pub fn recorded_422_body() -> Value {
    read_json(&fixtures_dir().join("pyairtable_dump_2017/GET-422_9345489.json"))["response_json"].clone()
}

/// Every field type of the sample data, names made unique, in file order.
pub fn all_type_fields() -> Vec<Value> {
    let dir = fixtures_dir().join("pyairtable_sample_data/field_schema");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("field_schema dir").map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let mut field = read_json(f);
        let name = field["name"].as_str().unwrap_or("field").to_string();
        if !names.insert(name.to_lowercase()) {
            let unique = format!("{name} ({})", field["type"].as_str().unwrap_or("?"));
            names.insert(unique.to_lowercase());
            field["name"] = unique.into();
        }
        field["id"] = format!("fldType{i:010}").into();
        out.push(field);
    }
    out
}

pub const LAST_MODIFIED_FIELD: &str = "Last Modified";

fn created_time(i: usize) -> String {
    let t = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap() + chrono::Duration::seconds(i as i64);
    t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A cell value for a field of `kind` in record `i`; None = empty (Airtable omits empty cells).
fn cell(field: &Value, i: usize, created: &str) -> Option<Value> {
    let collaborator = |n: usize| json!({"id": format!("usr{n:014}"), "email": format!("user{n}@example.com"), "name": format!("User {n}")});
    let choices: Vec<Value> = field.pointer("/options/choices").and_then(Value::as_array).cloned().unwrap_or_default();
    let choice = |k: usize| choices.get(k % choices.len().max(1)).map(|c| c["name"].clone()).unwrap_or(json!("One"));
    let v = match field["type"].as_str().unwrap_or("") {
        "singleLineText" => json!(format!("Row {i}")),
        "multilineText" | "richText" => json!(format!("First line {i}\nsecond line")),
        "email" => json!(format!("row{i}@example.com")),
        "url" => json!(format!("https://example.com/rows/{i}")),
        "phoneNumber" => json!(format!("(555) 010-{:04}", i % 10000)),
        "singleSelect" | "externalSyncSource" => choice(i),
        "multipleSelects" if i % 3 == 0 => return None,
        "multipleSelects" => json!([choice(i), choice(i + 1)]),
        "number" => json!(i),
        "percent" => json!(0.25),
        "currency" => json!(12.5),
        "rating" => json!(i % 5 + 1),
        "duration" => json!(3600.5),
        "count" => json!(i % 4),
        "autoNumber" => json!(i + 1),
        "checkbox" if i % 2 == 1 => return None,
        "checkbox" => json!(true),
        "date" => json!(format!("2024-01-{:02}", i % 28 + 1)),
        "dateTime" => json!("2024-03-01T10:30:00.000Z"),
        "createdTime" => json!(created),
        "lastModifiedTime" => json!(created),
        "singleCollaborator" | "createdBy" | "lastModifiedBy" => collaborator(i % 7),
        "multipleCollaborators" => json!([collaborator(1), collaborator(2)]),
        "multipleAttachments" => json!([{"id": format!("att{i:014}"), "url": "https://dl.example.com/a.png",
            "filename": "a.png", "size": 1234, "type": "image/png"}]),
        "multipleRecordLinks" => json!([format!("recLink{i:010}")]),
        // The sample formula is named "Formula NaN": every tenth row carries Airtable's NaN marker.
        "formula" if i % 10 == 9 => json!({"specialValue": "NaN"}),
        "formula" => json!(i * 2),
        "rollup" if i % 10 == 9 => json!({"error": "#ERROR!"}),
        "rollup" => json!(i * 3),
        "multipleLookupValues" => json!([choice(0), choice(2)]),
        "button" => json!({"label": "Open", "url": format!("https://example.com/open/{i}")}),
        "barcode" => json!({"text": format!("0123{i}"), "type": "upce"}),
        "aiText" => json!({"state": "generated", "value": format!("Summary {i}"), "isStale": false}),
        "manualSort" => return None,
        _ => json!({"something": "wacky", "row": i}),
    };
    Some(v)
}

/// A generated table with every field type and `rows` records.
pub fn all_types_table(id: &str, name: &str, rows: usize) -> TableData {
    let fields = all_type_fields();
    let records = (0..rows)
        .map(|i| {
            let created = created_time(i);
            let mut cells = serde_json::Map::new();
            for f in &fields {
                if let Some(v) = cell(f, i, &created) {
                    cells.insert(f["name"].as_str().unwrap().to_string(), v);
                }
            }
            json!({"id": format!("rec{}{i:07}", &id[3..10.min(id.len())]), "createdTime": created, "fields": cells})
        })
        .collect();
    TableData {
        meta: json!({"id": id, "name": name, "primaryFieldId": fields[0]["id"], "fields": fields,
            "views": [{"id": "viwGrid0000000001", "name": "Grid view", "type": "grid"}]}),
        records,
        recorded_pages: None,
    }
}

/// A small generated table with a name, a number and a lastModifiedTime field (benchmark-sized tables).
pub fn simple_table(id: &str, name: &str, rows: usize) -> TableData {
    let fields = json!([
        {"id": "fldName0000000001", "name": "Name", "type": "singleLineText"},
        {"id": "fldAmount00000001", "name": "Amount", "type": "number", "options": {"precision": 2}},
        {"id": "fldModified000001", "name": LAST_MODIFIED_FIELD, "type": "lastModifiedTime",
         "options": {"isValid": true, "referencedFieldIds": [], "result": {"type": "dateTime", "options": {}}}}
    ]);
    let records = (0..rows)
        .map(|i| {
            let created = created_time(i);
            json!({"id": format!("rec{}{i:07}", &id[3..10.min(id.len())]), "createdTime": created,
                   "fields": {"Name": format!("Row {i}"), "Amount": i as f64 * 1.5, LAST_MODIFIED_FIELD: created}})
        })
        .collect();
    TableData {
        meta: json!({"id": id, "name": name, "primaryFieldId": "fldName0000000001", "fields": fields, "views": []}),
        records,
        recorded_pages: None,
    }
}

/// What to do to a matching request.
#[derive(Clone, Debug)]
pub enum FaultKind {
    /// Answer with this status and body.
    Status(u16, Value),
    /// Answer normally after this extra delay.
    Slow(Duration),
    /// 422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE.
    IteratorExpired,
    /// Invalidate every OAuth access token, then answer 401 (as an expired token would).
    ExpireTokens,
}

/// A fault for the records requests of `table` (id) at page `page` (0 = first), `times` times.
#[derive(Clone, Debug)]
pub struct Fault {
    pub table: String,
    pub page: usize,
    pub kind: FaultKind,
    pub times: usize,
}

#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub query: String,
    pub base: Option<String>,
    pub status: u16,
    /// Answered by an injected fault (not by the server's own rate limiter).
    pub injected: bool,
}

struct OAuthServer {
    refresh_token: String,
    valid_access: HashSet<String>,
    issued: usize,
    expires_in: u64,
}

/// Server settings.
pub struct Options {
    pub latency: Duration,
    pub bases_page_size: usize,
    pub token_expires_in: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { latency: Duration::ZERO, bases_page_size: 1000, token_expires_in: 3600 }
    }
}

pub struct ServerState {
    started: Instant,
    pub bases: RwLock<Vec<BaseData>>,
    faults: Mutex<Vec<Fault>>,
    log: Mutex<Vec<LoggedRequest>>,
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    oauth: Mutex<OAuthServer>,
    options: Options,
}

pub struct ReplayServer {
    pub url: String,
    pub state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ReplayServer {
    /// Start on 127.0.0.1 on a free port (or `port`).
    pub async fn start(bases: Vec<BaseData>, options: Options) -> ReplayServer {
        Self::start_on(0, bases, options).await
    }

    pub async fn start_on(port: u16, bases: Vec<BaseData>, options: Options) -> ReplayServer {
        let state = Arc::new(ServerState {
            started: Instant::now(),
            bases: RwLock::new(bases),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            windows: Mutex::new(HashMap::new()),
            oauth: Mutex::new(OAuthServer {
                refresh_token: FIRST_REFRESH_TOKEN.into(),
                valid_access: HashSet::new(),
                issued: 0,
                expires_in: options.token_expires_in,
            }),
            options,
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(handle).with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ReplayServer { url, state, task }
    }

    pub fn add_fault(&self, table: &str, page: usize, kind: FaultKind, times: usize) {
        self.state.faults.lock().unwrap().push(Fault { table: table.into(), page, kind, times });
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// 429 answers the server's own limiter gave (requests over Airtable's limits).
    pub fn rate_limit_violations(&self) -> usize {
        self.requests().iter().filter(|r| r.status == 429 && !r.injected).count()
    }

    /// The refresh token currently accepted (Airtable rotates it on every refresh).
    pub fn current_refresh_token(&self) -> String {
        self.state.oauth.lock().unwrap().refresh_token.clone()
    }

    pub fn tokens_issued(&self) -> usize {
        self.state.oauth.lock().unwrap().issued
    }

    /// Change a record's fields (and its lastModifiedTime cell if the table has one).
    pub fn update_record(&self, table_id: &str, record_id: &str, fields: Value) {
        let mut bases = self.state.bases.write().unwrap();
        let table = bases.iter_mut().flat_map(|b| b.tables.iter_mut()).find(|t| t.id() == table_id).unwrap();
        let rec = table.records.iter_mut().find(|r| r["id"] == record_id).expect("record");
        for (k, v) in fields.as_object().unwrap() {
            rec["fields"][k] = v.clone();
        }
    }

    pub fn add_record(&self, table_id: &str, record: Value) {
        let mut bases = self.state.bases.write().unwrap();
        let table = bases.iter_mut().flat_map(|b| b.tables.iter_mut()).find(|t| t.id() == table_id).unwrap();
        table.records.push(record);
    }
}

fn json_response(status: u16, body: &Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), [(axum::http::header::CONTENT_TYPE, "application/json")], body.to_string())
        .into_response()
}

fn query_params(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let path = uri.path().to_string();
    if path == "/_replay/stats" {
        let since: f64 =
            query_params(&uri).iter().find(|(k, _)| k == "since_ms").and_then(|(_, v)| v.parse().ok()).unwrap_or(0.0);
        return json_response(200, &stats(&state, Duration::from_secs_f64(since / 1000.0)));
    }
    let segments: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
    let base = match segments.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["v0", "meta", "bases", b, "tables"] => Some(b.to_string()),
        ["v0", "meta", ..] | ["oauth2", ..] => None,
        ["v0", b, ..] => Some(b.to_string()),
        _ => None,
    };
    let (status, response, injected) = answer(&state, &method, &segments, &uri, &headers, &body, base.as_deref()).await;
    state.log.lock().unwrap().push(LoggedRequest {
        at,
        method: method.to_string(),
        path,
        query: uri.query().unwrap_or("").to_string(),
        base,
        status,
        injected,
    });
    if !state.options.latency.is_zero() {
        tokio::time::sleep(state.options.latency).await;
    }
    response
}

/// Request counts per base for tools (the benchmark), of requests that arrived `since` after the server started:
/// requests, first/last arrival (ms since start), the most requests in any 950 ms window, the 429s the limiter gave.
fn stats(state: &ServerState, since: Duration) -> Value {
    let log = state.log.lock().unwrap();
    let log: Vec<&LoggedRequest> = log.iter().filter(|r| r.at.duration_since(state.started) >= since).collect();
    let mut per_base: HashMap<String, Vec<Instant>> = HashMap::new();
    for r in log.iter().filter(|r| r.status != 429) {
        if let Some(b) = &r.base {
            per_base.entry(b.clone()).or_default().push(r.at);
        }
    }
    let ms = |t: Instant| t.duration_since(state.started).as_secs_f64() * 1000.0;
    let bases: serde_json::Map<String, Value> = per_base
        .into_iter()
        .map(|(b, times)| {
            let max_in_window = (0..times.len())
                .map(|i| times[i..].iter().take_while(|t| t.duration_since(times[i]) < LIMIT_WINDOW).count())
                .max()
                .unwrap_or(0);
            let v = json!({"requests": times.len(), "first_ms": ms(times[0]), "last_ms": ms(*times.last().unwrap()),
                           "max_in_950ms": max_in_window});
            (b, v)
        })
        .collect();
    let violations = log.iter().filter(|r| r.status == 429 && !r.injected).count();
    json!({"bases": bases, "rate_limit_violations": violations, "requests": log.len(),
           "now_ms": ms(Instant::now())})
}

/// Count the request against Airtable's limits; false = over the limit.
fn within_limits(state: &ServerState, base: Option<&str>, at: Instant) -> bool {
    let mut windows = state.windows.lock().unwrap();
    let mut keys = vec![("*".to_string(), 50usize)];
    if let Some(b) = base {
        keys.push((b.to_string(), 5));
    }
    for (key, limit) in &keys {
        let w = windows.entry(key.clone()).or_default();
        while w.front().is_some_and(|t| at.duration_since(*t) >= LIMIT_WINDOW) {
            w.pop_front();
        }
        if w.len() >= *limit {
            return false;
        }
    }
    for (key, _) in keys {
        windows.get_mut(&key).unwrap().push_back(at);
    }
    true
}

fn take_fault(state: &ServerState, table: &TableData, page: usize) -> Option<FaultKind> {
    let mut faults = state.faults.lock().unwrap();
    let i = faults
        .iter()
        .position(|f| f.times > 0 && f.page == page && (f.table == table.id() || f.table == table.name()))?;
    faults[i].times -= 1;
    Some(faults[i].kind.clone())
}

fn authorized(state: &ServerState, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return false;
    };
    token == PAT || state.oauth.lock().unwrap().valid_access.contains(token)
}

#[allow(clippy::too_many_arguments)]
async fn answer(
    state: &ServerState,
    method: &Method,
    segments: &[String],
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    base: Option<&str>,
) -> (u16, Response, bool) {
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    if seg.as_slice() == ["oauth2", "v1", "token"] && method == Method::POST {
        let (status, body) = token_endpoint(state, headers, body);
        return (status, json_response(status, &body), false);
    }
    if method != Method::GET {
        return (404, json_response(404, &json!({"error": "NOT_FOUND"})), false);
    }
    if !within_limits(state, base, Instant::now()) {
        let body = json!({"errors": [{"error": "RATE_LIMIT_REACHED",
            "message": "Rate limit exceeded. Please try again later"}]});
        return (429, json_response(429, &body), false);
    }
    if !authorized(state, headers) {
        let body = json!({"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}});
        return (401, json_response(401, &body), false);
    }
    let params = query_params(uri);
    match seg.as_slice() {
        ["v0", "meta", "bases"] => {
            let bases = state.bases.read().unwrap();
            let start: usize = param(&params, "offset")
                .and_then(|o| o.strip_prefix("bases"))
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            let size = state.options.bases_page_size.max(1);
            let page: Vec<Value> = bases
                .iter()
                .skip(start)
                .take(size)
                .map(|b| json!({"id": b.id, "name": b.name, "permissionLevel": b.permission_level}))
                .collect();
            let mut body = json!({"bases": page});
            if start + size < bases.len() {
                body["offset"] = format!("bases{}", start + size).into();
            }
            (200, json_response(200, &body), false)
        }
        ["v0", "meta", "bases", b, "tables"] => {
            let bases = state.bases.read().unwrap();
            match bases.iter().find(|x| x.id == *b) {
                Some(base) => {
                    let tables: Vec<Value> = base.tables.iter().map(|t| t.meta.clone()).collect();
                    (200, json_response(200, &json!({"tables": tables})), false)
                }
                None => {
                    let body = json!({"error": {"type": "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
                        "message": "Invalid permissions, or the requested model was not found."}});
                    (403, json_response(403, &body), false)
                }
            }
        }
        ["v0", b, t] => list_records(state, b, t, &params).await,
        _ => (404, json_response(404, &json!({"error": "NOT_FOUND"})), false),
    }
}

async fn list_records(
    state: &ServerState,
    base_id: &str,
    table_ref: &str,
    params: &[(String, String)],
) -> (u16, Response, bool) {
    let forbidden = json!({"error": {"type": "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
        "message": "Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct."}});
    let table = {
        let bases = state.bases.read().unwrap();
        let Some(base) = bases.iter().find(|b| b.id == base_id) else {
            return (403, json_response(403, &forbidden), false);
        };
        if base.deny_records {
            return (403, json_response(403, &forbidden), false);
        }
        match base.tables.iter().find(|t| t.id() == table_ref || t.name() == table_ref) {
            Some(t) => t.clone(),
            None => return (404, json_response(404, &json!({"error": "NOT_FOUND"})), false),
        }
    };
    let page_size: usize =
        param(params, "pageSize").and_then(|p| p.parse().ok()).unwrap_or(PAGE_SIZE).clamp(1, PAGE_SIZE);
    let offset = param(params, "offset");
    // Where the page starts and which page it is.
    let (page_index, start) = match (&table.recorded_pages, offset) {
        (_, None) => (0, 0),
        (Some(pages), Some(o)) => match pages.iter().position(|p| p["offset"].as_str() == Some(o)) {
            Some(i) => (i + 1, 0),
            None => return (422, json_response(422, &iterator_expired()), false),
        },
        (None, Some(o)) => {
            match o.rsplit_once('/').and_then(|(_, n)| n.strip_prefix("rec")).and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => (n / page_size, n),
                None => return (422, json_response(422, &iterator_expired()), false),
            }
        }
    };
    match take_fault(state, &table, page_index) {
        Some(FaultKind::Status(status, body)) => return (status, json_response(status, &body), true),
        Some(FaultKind::IteratorExpired) => return (422, json_response(422, &iterator_expired()), true),
        Some(FaultKind::ExpireTokens) => {
            state.oauth.lock().unwrap().valid_access.clear();
            let body = json!({"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}});
            return (401, json_response(401, &body), true);
        }
        Some(FaultKind::Slow(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    if let Some(pages) = &table.recorded_pages {
        return (200, json_response(200, &pages[page_index]), false);
    }
    let mut records = table.records.clone();
    if let Some(formula) = param(params, "filterByFormula") {
        let Some((field, after)) = parse_is_after(formula) else {
            let body = json!({"error": {"type": "INVALID_FILTER_BY_FORMULA", "message": format!("The formula for filtering records is invalid: {formula}")}});
            return (422, json_response(422, &body), false);
        };
        records.retain(|r| {
            r["fields"][&field]
                .as_str()
                .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
                .is_some_and(|v| v > after)
        });
    }
    if let Some(field) = param(params, "sort[0][field]") {
        records.sort_by(|a, b| {
            let key =
                |r: &Value| r["fields"][field].as_str().and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok());
            key(a).cmp(&key(b))
        });
    }
    let page: Vec<Value> = records.iter().skip(start).take(page_size).cloned().collect();
    let mut body = json!({"records": page});
    if start + page_size < records.len() {
        body["offset"] = format!("itrReplay0000001/rec{:07}", start + page_size).into();
    }
    (200, json_response(200, &body), false)
}

fn iterator_expired() -> Value {
    json!({"error": {"type": "LIST_RECORDS_ITERATOR_NOT_AVAILABLE", "message": "The iterator is not available. Restart the listing."}})
}

/// `IS_AFTER({Field}, 'date-time')` -> (field, time).
fn parse_is_after(formula: &str) -> Option<(String, chrono::DateTime<chrono::FixedOffset>)> {
    let rest = formula.strip_prefix("IS_AFTER({")?;
    let (field, rest) = rest.split_once("}, '")?;
    let value = rest.strip_suffix("')")?;
    Some((field.replace("\\}", "}").replace("\\\\", "\\"), chrono::DateTime::parse_from_rfc3339(value).ok()?))
}

fn token_endpoint(state: &ServerState, headers: &HeaderMap, body: &Bytes) -> (u16, Value) {
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    let auth = headers.get(axum::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok()).unwrap_or("");
    if auth != expected {
        return (401, json!({"error": "invalid_client", "error_description": "client authentication failed"}));
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let mut oauth = state.oauth.lock().unwrap();
    if form.get("grant_type").map(String::as_str) != Some("refresh_token")
        || form.get("refresh_token") != Some(&oauth.refresh_token)
    {
        return (400, json!({"error": "invalid_grant", "error_description": "refresh token invalid or already used"}));
    }
    oauth.issued += 1;
    let access = format!("replay-access-{}", oauth.issued);
    oauth.refresh_token = format!("replay-refresh-{}", oauth.issued);
    oauth.valid_access.insert(access.clone());
    (
        200,
        json!({"access_token": access, "refresh_token": oauth.refresh_token, "token_type": "Bearer",
        "scope": "data.records:read schema.bases:read", "expires_in": oauth.expires_in, "refresh_expires_in": 5184000}),
    )
}
