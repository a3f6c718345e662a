//! A loopback soda4LCA node that replays the real recorded responses in `shared/fixtures/oekobaudat/`.
//!
//! - EPD detail (`.../processes/{uuid}?format=json&view=extended`): the recorded extended views, verbatim
//!   apart from the fixture-only top-level key `source`; synthesised EPDs are copies with a new UUID.
//! - Process list pages: built from those EPDs per soda4LCA's `JSONDatasetListSerializer` (no real list sample
//!   exists): `{startIndex, pageSize (echoes the request), totalCount, data: [...]}`, null keys left out.
//! - `/datastocks?format=json`: the real stock UUIDs/short names (fixtures derived from a real call) in the
//!   Gson shape `{"dataStock": [{root, uuid, shortName, name: [{lang, value}]}]}`.
//! - `/categorySystems/OEKOBAU.DAT`: the real category system XML.
//! - Without `format=json` the JSON endpoints answer HTML, as soda4LCA does by default.
//!
//! Faults are injected per path substring: 429 with Retry-After, 500, an HTML page, a truncated body, a slow
//! answer, 403. Every request is logged with its time, so tests can check what the connector sent.

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The fixtures folder beside the checkout.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/oekobaudat")
}

/// The recorded extended views: (uuid, parsed JSON) for each `process_extended_*.json`.
pub fn fixture_epds(dir: &Path) -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("process_extended_")))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            // Added by the tool that saved the fixtures; not part of the API response.
            v.as_object_mut().unwrap().remove("source");
            let uuid = v["processInformation"]["dataSetInformation"]["UUID"].as_str().unwrap().to_string();
            (uuid, v)
        })
        .collect()
}

#[derive(Debug, Clone)]
pub enum FaultKind {
    TooManyRequests { retry_after_secs: u64 },
    ServerError,
    Html,
    Truncated,
    Slow(Duration),
    Forbidden,
}

#[derive(Debug, Clone)]
pub struct Fault {
    /// Applies to requests whose path contains this text.
    pub path_contains: String,
    pub kind: FaultKind,
    pub remaining: usize,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub at: Instant,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub status: u16,
}

impl Logged {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    pub fn is_detail(&self) -> bool {
        self.path.contains("/processes/")
    }
}

pub struct Epd {
    pub uuid: String,
    pub version: String,
    template: usize,
}

pub struct Node {
    templates: Vec<Value>,
    pub epds: Mutex<Vec<Epd>>,
    stocks: Value,
    categories_xml: String,
    pub faults: Mutex<Vec<Fault>>,
    pub log: Mutex<Vec<Logged>>,
    latency: Duration,
    base_url: Mutex<String>,
}

pub struct Replay {
    pub node: Arc<Node>,
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Replay {
    /// Serve the fixture EPDs (plus `synthesised` copies with new UUIDs) on 127.0.0.1:`port` (0 = any).
    pub async fn start(port: u16, latency: Duration, synthesised: usize) -> Replay {
        let dir = fixtures_dir();
        let fixtures = fixture_epds(&dir);
        let mut epds: Vec<Epd> = Vec::new();
        let version_of = |v: &Value| {
            v["administrativeInformation"]["publicationAndOwnership"]["dataSetVersion"].as_str().unwrap().to_string()
        };
        if synthesised == 0 {
            for (i, (uuid, v)) in fixtures.iter().enumerate() {
                epds.push(Epd { uuid: uuid.clone(), version: version_of(v), template: i });
            }
        } else {
            for i in 0..synthesised {
                let t = i % fixtures.len();
                let uuid = format!("{:08x}-5e17-4a00-8000-{:012x}", i, i);
                epds.push(Epd { uuid, version: version_of(&fixtures[t].1), template: t });
            }
        }
        let node = Arc::new(Node {
            templates: fixtures.into_iter().map(|(_, v)| v).collect(),
            epds: Mutex::new(epds),
            stocks: datastocks_json(&dir),
            categories_xml: std::fs::read_to_string(dir.join("category_system_OEKOBAU.DAT.xml")).unwrap(),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            latency,
            base_url: Mutex::new(String::new()),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind replay server");
        let addr = listener.local_addr().unwrap();
        let base_url = format!("http://{addr}/resource");
        *node.base_url.lock().unwrap() = base_url.clone();
        let app = Router::new().fallback(handle).with_state(node.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Replay { node, base_url, task }
    }

    pub fn add_fault(&self, path_contains: &str, kind: FaultKind, times: usize) {
        self.node.faults.lock().unwrap().push(Fault { path_contains: path_contains.into(), kind, remaining: times });
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.node.log.lock().unwrap().clone()
    }

    /// Publish a new version of one EPD (its list entry and detail view change).
    pub fn bump_version(&self, uuid: &str, version: &str) {
        let mut epds = self.node.epds.lock().unwrap();
        let e = epds.iter_mut().find(|e| e.uuid == uuid).expect("known EPD");
        e.version = version.to_string();
    }
}

/// Real stock UUIDs and short names (derived from a real `/datastocks?format=json` call) in Gson's shape.
fn datastocks_json(dir: &Path) -> Value {
    let old: Map<String, Value> = serde_json::from_slice(
        &std::fs::read(dir.join("datastocks_derived_n3xtcoder_oekobaudat_versions_old.json")).unwrap(),
    )
    .unwrap();
    let current: Value = serde_json::from_slice(
        &std::fs::read(dir.join("datastocks_derived_n3xtcoder_current_dataset_version.json")).unwrap(),
    )
    .unwrap();
    let mut list: Vec<Value> = old
        .iter()
        .map(|(uuid, v)| {
            let name = v[0].as_str().unwrap_or_default();
            let mut o = json!({"root": false, "uuid": uuid, "shortName": v[1]});
            if !name.is_empty() {
                o["name"] = json!([{"lang": "de", "value": name}]);
            }
            o
        })
        .collect();
    list.push(json!({"root": false, "uuid": current["uuid"], "shortName": current["name"],
                     "name": [{"lang": "de", "value": current["description"]}]}));
    json!({ "dataStock": list })
}

fn text(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    Response::builder().status(status).header(header::CONTENT_TYPE, content_type).body(body.into()).unwrap()
}

const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>soda4LCA</title></head><body>Maintenance</body></html>";

fn multilang_pick(v: &Value, lang: Option<&str>, fallback: bool) -> Option<String> {
    let items = v.as_array()?;
    let find = |l: &str| items.iter().find(|i| i["lang"] == l).and_then(|i| i["value"].as_str());
    match lang {
        Some(l) => find(l).or_else(|| if fallback { items.first().and_then(|i| i["value"].as_str()) } else { None }),
        None => items.first().and_then(|i| i["value"].as_str()),
    }
    .map(str::to_string)
}

/// A list entry as soda4LCA's JSON list serializer writes it (keys only when non-null).
fn list_item(detail: &Value, uuid: &str, version: &str, base: &str, lang: Option<&str>, fallback: bool) -> Value {
    let info = &detail["processInformation"];
    let mut o = Map::new();
    let names = &info["dataSetInformation"]["name"]["baseName"];
    let langs: Vec<Value> = names.as_array().into_iter().flatten().filter_map(|n| n.get("lang").cloned()).collect();
    o.insert("languages".into(), Value::Array(langs));
    if let Some(n) = multilang_pick(names, lang, fallback) {
        o.insert("name".into(), json!(n));
    }
    o.insert("uuid".into(), json!(uuid));
    o.insert("version".into(), json!(version));
    if let Some(g) = info["geography"]["locationOfOperationSupplyOrProduction"]["location"].as_str() {
        o.insert("geo".into(), json!(g));
    }
    if let Some(c) = info["dataSetInformation"]["classificationInformation"]["classification"].get(0) {
        let classes = c["class"].as_array().cloned().unwrap_or_default();
        let path: Vec<&str> = classes.iter().filter_map(|k| k["value"].as_str()).collect();
        o.insert("classific".into(), json!(path.join(" / ")));
        if let Some(id) = classes.iter().rev().find_map(|k| k["classId"].as_str()) {
            o.insert("classificId".into(), json!(id));
        }
        o.insert("classificSystem".into(), c["name"].clone());
    }
    if let Some(t) = detail["modellingAndValidation"]["LCIMethodAndAllocation"]["typeOfDataSet"].as_str() {
        o.insert("type".into(), json!(t));
    }
    if let Some(y) = info["time"]["referenceYear"].as_i64() {
        o.insert("refYear".into(), json!(y));
    }
    if let Some(y) = info["time"]["dataSetValidUntil"].as_i64() {
        o.insert("validUntil".into(), json!(y));
    }
    let compliance: Vec<Value> = detail["modellingAndValidation"]["complianceDeclarations"]["compliance"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let r = &c["referenceToComplianceSystem"];
            json!({"name": multilang_pick(&r["shortDescription"], None, false), "uuid": r["refObjectId"]})
        })
        .collect();
    o.insert("compliance".into(), Value::Array(compliance));
    let admin = &detail["administrativeInformation"]["publicationAndOwnership"];
    if let Some(owner) = multilang_pick(&admin["referenceToOwnershipOfDataSet"]["shortDescription"], None, false) {
        o.insert("owner".into(), json!(owner));
    }
    let sub_type = detail["modellingAndValidation"]["LCIMethodAndAllocation"]["other"]["anies"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["name"] == "subType")
        .map(|a| a["value"].clone());
    if let Some(s) = sub_type {
        o.insert("subType".into(), s);
    }
    let sources: Vec<Value> = detail["modellingAndValidation"]["dataSourcesTreatmentAndRepresentativeness"]
        ["referenceToDataSource"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| json!({"uuid": r["refObjectId"], "name": multilang_pick(&r["shortDescription"], None, false)}))
        .collect();
    if !sources.is_empty() {
        o.insert("dataSources".into(), Value::Array(sources));
    }
    if let Some(r) = admin["registrationNumber"].as_str() {
        o.insert("regNo".into(), json!(r));
    }
    o.insert("uri".into(), json!(format!("{base}/processes/{uuid}?version={version}")));
    o.insert("dsType".into(), json!("Process"));
    Value::Object(o)
}

fn detail_json(node: &Node, epd: &Epd) -> Value {
    let mut v = node.templates[epd.template].clone();
    v["processInformation"]["dataSetInformation"]["UUID"] = json!(epd.uuid);
    v["administrativeInformation"]["publicationAndOwnership"]["dataSetVersion"] = json!(epd.version);
    v
}

fn is_known_stock(node: &Node, id: &str) -> bool {
    node.stocks["dataStock"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["uuid"].as_str() == Some(id) || s["shortName"].as_str() == Some(id))
}

fn forbidden() -> Response {
    text(StatusCode::FORBIDDEN, "text/plain", "permission denied")
}

fn route(node: &Node, path: &str, q: &[(String, String)]) -> Response {
    let param = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
    let json_format = param("format").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let segments: Vec<String> =
        path.trim_start_matches("/resource").split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let base = node.base_url.lock().unwrap().clone();
    match seg.as_slice() {
        ["datastocks"] if json_format => {
            text(StatusCode::OK, "application/json;charset=UTF-8", node.stocks.to_string())
        }
        ["datastocks"] => text(StatusCode::OK, "application/xml", "<sapi:dataStockList/>"),
        ["datastocks", stock, "processes"] => {
            if !is_known_stock(node, stock) {
                return forbidden();
            }
            if !json_format {
                return text(StatusCode::OK, "text/html", HTML_PAGE);
            }
            let start: usize = param("startIndex").and_then(|s| s.parse().ok()).unwrap_or(0);
            let page_size: usize = param("pageSize").and_then(|s| s.parse().ok()).unwrap_or(500);
            let lang = param("lang");
            let fallback = param("langFallback") == Some("true");
            let search = param("search") == Some("true");
            let epds = node.epds.lock().unwrap();
            let items: Vec<Value> = epds
                .iter()
                .map(|e| list_item(&node.templates[e.template], &e.uuid, &e.version, &base, lang, fallback))
                .filter(|item| {
                    !search
                        || (param("classId").is_none_or(|c| item["classificId"].as_str() == Some(c))
                            && param("name").is_none_or(|n| {
                                item["name"].as_str().is_some_and(|x| x.to_lowercase().contains(&n.to_lowercase()))
                            }))
                })
                .collect();
            let data: Vec<Value> = items.iter().skip(start).take(page_size).cloned().collect();
            let body = json!({"startIndex": start, "pageSize": page_size, "totalCount": items.len(), "data": data});
            text(StatusCode::OK, "application/json;charset=UTF-8", body.to_string())
        }
        ["datastocks", stock, "processes", uuid] => {
            if !is_known_stock(node, stock) {
                return forbidden();
            }
            let epds = node.epds.lock().unwrap();
            let Some(epd) = epds.iter().find(|e| e.uuid == *uuid) else {
                return text(StatusCode::NOT_FOUND, "text/plain", "not found");
            };
            if param("version").is_some_and(|v| v != epd.version) {
                return text(StatusCode::NOT_FOUND, "text/plain", "version not found");
            }
            if !json_format || param("view") != Some("extended") {
                return text(StatusCode::OK, "text/html", HTML_PAGE);
            }
            text(StatusCode::OK, "application/json;charset=UTF-8", detail_json(node, epd).to_string())
        }
        ["categorySystems", "OEKOBAU.DAT"] => text(StatusCode::OK, "application/xml", node.categories_xml.clone()),
        ["__stats"] => {
            let log = node.log.lock().unwrap();
            let details: Vec<&Logged> = log.iter().filter(|l| l.is_detail() && l.status == 200).collect();
            let span = match (details.first(), details.last()) {
                (Some(a), Some(b)) => b.at.duration_since(a.at).as_secs_f64(),
                _ => 0.0,
            };
            text(
                StatusCode::OK,
                "application/json",
                json!({"requests": log.len(), "detail_ok": details.len(), "detail_span_seconds": span}).to_string(),
            )
        }
        _ => text(StatusCode::NOT_FOUND, "text/plain", "no such resource"),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(State(node): State<Arc<Node>>, uri: Uri, Query(q): Query<Vec<(String, String)>>) -> Response {
    let path = uri.path().to_string();
    if !node.latency.is_zero() {
        tokio::time::sleep(node.latency).await;
    }
    let fault = {
        let mut faults = node.faults.lock().unwrap();
        faults.iter_mut().find(|f| f.remaining > 0 && path.contains(&f.path_contains)).map(|f| {
            f.remaining -= 1;
            f.kind.clone()
        })
    };
    let response = match fault {
        Some(FaultKind::TooManyRequests { retry_after_secs }) => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::RETRY_AFTER, retry_after_secs.to_string())
            .body(Body::from("Too Many Requests"))
            .unwrap(),
        Some(FaultKind::ServerError) => text(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "Internal Server Error"),
        Some(FaultKind::Forbidden) => forbidden(),
        Some(FaultKind::Html) => text(StatusCode::OK, "text/html", HTML_PAGE),
        Some(FaultKind::Truncated) => {
            let full = route(&node, &path, &q);
            let bytes = axum::body::to_bytes(full.into_body(), usize::MAX).await.unwrap();
            text(StatusCode::OK, "application/json", bytes.slice(..bytes.len() / 2))
        }
        Some(FaultKind::Slow(d)) => {
            tokio::time::sleep(d).await;
            route(&node, &path, &q)
        }
        None => route(&node, &path, &q),
    };
    node.log.lock().unwrap().push(Logged { at: Instant::now(), path, query: q, status: response.status().as_u16() });
    response.into_response()
}
