//! soda4LCA Service API calls. Every request goes through the shared [`HttpClient`] (retries, backoff,
//! `Retry-After`) and one evenly spaced [`RateLimit`] (no bursts) shared by list, detail and retry requests.

use crate::config::OekobaudatConfig;
use airbyte_protocol::http::{HttpClient, HttpError, HttpResponse, RateLimit, RetryPolicy};
use airbyte_protocol::{ConnectorError, Result};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

const USER_AGENT: &str = concat!("airbyte-source-oekobaudat/", env!("CARGO_PKG_VERSION"), " (Airbyte connector)");

/// A data stock as listed by `/datastocks`.
#[derive(Debug, Clone, PartialEq)]
pub struct DataStock {
    pub uuid: String,
    pub short_name: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub root: Option<bool>,
}

/// One page of `/datastocks/{stock}/processes?format=json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessPage {
    #[serde(default)]
    pub start_index: u64,
    /// Echoes the requested page size, not the number of items.
    #[serde(default)]
    pub page_size: u64,
    pub total_count: u64,
    #[serde(default)]
    pub data: Vec<Value>,
}

/// The list filters sent with every page request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub params: Vec<(&'static str, String)>,
}

impl ListQuery {
    pub fn from_config(config: &OekobaudatConfig) -> Self {
        let mut params: Vec<(&'static str, String)> = Vec::new();
        if !config.language.is_empty() {
            params.push(("lang", config.language.clone()));
            // Without fallback soda4LCA drops EPDs that have no name in `lang` (many are German only).
            params.push(("langFallback", "true".into()));
        }
        if config.has_filters() {
            params.push(("search", "true".into()));
            for c in &config.compliance {
                params.push(("compliance", c.uuid().into()));
            }
            if config.compliance.len() > 1 {
                params.push(("complianceMode", "OR".into()));
            }
            if let Some(id) = &config.classification_id {
                params.push(("classId", id.clone()));
            }
            for s in &config.sub_types {
                params.push(("subType", s.query_value().into()));
            }
            if let Some(name) = &config.name_search {
                params.push(("name", name.clone()));
            }
        }
        ListQuery { params }
    }
}

/// A soda4LCA node.
#[derive(Clone)]
pub struct SodaClient {
    http: HttpClient,
    limit: RateLimit,
    base: String,
}

impl SodaClient {
    pub fn new(config: &OekobaudatConfig) -> Result<Self> {
        let policy = RetryPolicy { max_retries: config.max_retries, ..RetryPolicy::default() };
        let http = HttpClient::new(USER_AGENT, Duration::from_secs(config.request_timeout_seconds), policy)?;
        Ok(SodaClient { http, limit: RateLimit::spaced(config.requests_per_second), base: config.base_url.clone() })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `base/seg1/seg2...` with each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<reqwest::Url> {
        let mut url = reqwest::Url::parse(&self.base)
            .map_err(|e| ConnectorError::config(format!("config /base_url is not a URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|_| ConnectorError::config("config /base_url cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> Result<HttpResponse, HttpError> {
        let url = self.url(segments).map_err(|e| HttpError::Transport {
            url: self.base.clone(),
            message: e.message,
            timeout: false,
        })?;
        self.http
            .send(&[&self.limit], |c| c.get(url.clone()).header("Accept", "application/xml, text/xml").query(query))
            .await
    }

    /// GET with `format=json` (soda4LCA's default is XML or HTML) and parse; HTML or truncated bodies are retried.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, HttpError> {
        let url = self.url(segments).map_err(|e| HttpError::Transport {
            url: self.base.clone(),
            message: e.message,
            timeout: false,
        })?;
        let mut full: Vec<(&str, String)> = vec![("format", "json".into())];
        full.extend(query.iter().cloned());
        self.http
            .send_parsed(
                &[&self.limit],
                |c| c.get(url.clone()).header("Accept", "application/json").query(&full),
                |resp| resp.json::<T>(),
            )
            .await
    }

    /// Every data stock readable on the node.
    pub async fn datastocks(&self) -> Result<Vec<DataStock>> {
        let body: Value = self
            .get_json(&["datastocks"], &[])
            .await
            .map_err(|e| node_error(e, &format!("listing data stocks of {}", self.base)))?;
        parse_datastocks(&body).map_err(|m| ConnectorError::system(format!("{}/datastocks: {m}", self.base)))
    }

    /// One page of the process list of `stock`, starting at `start`.
    pub async fn process_page(
        &self,
        stock: &str,
        query: &ListQuery,
        start: u64,
        page_size: u32,
    ) -> Result<ProcessPage> {
        let mut params: Vec<(&str, String)> =
            vec![("startIndex", start.to_string()), ("pageSize", page_size.to_string())];
        params.extend(query.params.iter().cloned());
        self.get_json(&["datastocks", stock, "processes"], &params)
            .await
            .map_err(|e| stock_error(e, stock, &format!("listing EPDs from index {start}")))
    }

    /// The extended JSON view of one EPD (`view=extended`: flows and units resolved inline).
    /// None if the EPD (version) is not there any more (HTTP 404).
    pub async fn process_detail(&self, stock: &str, uuid: &str, version: Option<&str>) -> Result<Option<Value>> {
        let mut params: Vec<(&str, String)> = vec![("view", "extended".into())];
        if let Some(v) = version {
            params.push(("version", v.to_string()));
        }
        match self.get_json(&["datastocks", stock, "processes", uuid], &params).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => {
                let what = format!("fetching EPD {uuid} version {}", version.unwrap_or("latest"));
                Err(stock_error(e, stock, &what))
            }
        }
    }

    /// The category system definition (ILCD categories XML).
    pub async fn category_system(&self, name: &str) -> Result<String> {
        let resp = self
            .get(&["categorySystems", name], &[("format", "xml".into())])
            .await
            .map_err(|e| node_error(e, &format!("fetching category system {name}")))?;
        String::from_utf8(resp.body.to_vec())
            .map_err(|_| ConnectorError::system(format!("category system {name} from {} is not UTF-8", resp.url)))
    }
}

fn node_error(e: HttpError, what: &str) -> ConnectorError {
    let failure = e.failure_type();
    ConnectorError::new(failure, format!("{what}: {e}"))
}

/// A 403/404 on a data stock URL means the stock is unknown or not readable: the user must change `data_stock`.
fn stock_error(e: HttpError, stock: &str, what: &str) -> ConnectorError {
    match e.status() {
        Some(403) => ConnectorError::config(format!(
            "data stock '{stock}' is not readable on this node (HTTP 403) while {what}; check config /data_stock \
             (list the readable stocks with the datastocks stream)"
        )),
        Some(404) if what.starts_with("listing") => ConnectorError::config(format!(
            "data stock '{stock}' was not found (HTTP 404) while {what}; check config /data_stock and /base_url"
        )),
        _ => node_error(e, &format!("data stock '{stock}': {what}")),
    }
}

/// Read the Gson form of `DataStockList`: `{"dataStock": [{"root"|"@root", "uuid", "shortName", "name": [...]}]}`.
pub fn parse_datastocks(body: &Value) -> std::result::Result<Vec<DataStock>, String> {
    let list = body
        .get("dataStock")
        .or_else(|| body.get("dataStocks"))
        .and_then(Value::as_array)
        .ok_or_else(|| "expected a JSON object with a `dataStock` array".to_string())?;
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
        let uuid = text("uuid").ok_or_else(|| format!("dataStock[{i}] has no uuid"))?;
        out.push(DataStock {
            short_name: text("shortName").unwrap_or_default(),
            name: item.get("name").and_then(|v| crate::records::pick_text(v, None)),
            description: item.get("description").and_then(|v| crate::records::pick_text(v, None)),
            root: item.get("root").or_else(|| item.get("@root")).and_then(|v| match v {
                Value::Bool(b) => Some(*b),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }),
            uuid,
        });
    }
    Ok(out)
}

/// `OBD_2024_I` -> (2024, 1); `OBD_2021_II` -> (2021, 2). Stocks with a suffix (`OBD_2021_II_A1_only`) are
/// derived copies, not releases, and give None.
pub fn obd_release_rank(short_name: &str) -> Option<(u32, u32)> {
    let rest = short_name.strip_prefix("OBD_")?;
    let (year, release) = rest.split_once('_')?;
    let year: u32 = year.parse().ok().filter(|y| (2000..3000).contains(y))?;
    let release = match release {
        "I" => 1,
        "II" => 2,
        "III" => 3,
        "IV" => 4,
        "V" => 5,
        other => other.parse().ok()?,
    };
    Some((year, release))
}

/// The newest OBD release among `stocks`.
pub fn newest_obd_release(stocks: &[DataStock]) -> Option<&DataStock> {
    stocks
        .iter()
        .filter_map(|s| obd_release_rank(&s.short_name).map(|r| (r, s)))
        .max_by_key(|(r, _)| *r)
        .map(|(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn release_ranking_skips_derived_stocks() {
        let stock =
            |n: &str| DataStock { uuid: n.into(), short_name: n.into(), name: None, description: None, root: None };
        let stocks: Vec<DataStock> =
            ["OBD_2021_II", "OBD_2024_I", "OBD_2023_I_for_eLCA", "OBD_2021_II_A1_only", "QNG_2023_TEST", "OBD_150820"]
                .iter()
                .map(|n| stock(n))
                .collect();
        assert_eq!(newest_obd_release(&stocks).unwrap().short_name, "OBD_2024_I");
        assert_eq!(obd_release_rank("OBD_2019_III"), Some((2019, 3)));
        assert_eq!(obd_release_rank("OBD_150820"), None);
        assert!(newest_obd_release(&stocks[4..]).is_none());
    }

    #[test]
    fn datastock_list_forms() {
        let body = json!({"dataStock":[
            {"root": true, "uuid": "u1", "shortName": "OBD_2024_I", "name": [{"lang":"de","value":"ÖBD-Release"}]},
            {"@root": "false", "uuid": "u2", "shortName": "X", "name": "plain", "description": [{"value":"d"}]}]});
        let stocks = parse_datastocks(&body).unwrap();
        assert_eq!(stocks[0].name.as_deref(), Some("ÖBD-Release"));
        assert_eq!((stocks[0].root, stocks[1].root), (Some(true), Some(false)));
        assert_eq!(stocks[1].description.as_deref(), Some("d"));
        assert!(parse_datastocks(&json!({"x": 1})).unwrap_err().contains("dataStock"));
        assert!(parse_datastocks(&json!({"dataStock":[{"shortName":"a"}]})).unwrap_err().contains("[0]"));
    }

    #[test]
    fn filters_need_search_true() {
        let spec = crate::config::connection_specification();
        let cfg = |v| OekobaudatConfig::from_config(&airbyte_protocol::Config::validate(&spec, v).unwrap()).unwrap();
        let q = ListQuery::from_config(&cfg(json!({})));
        assert!(!q.params.iter().any(|(k, _)| *k == "search"));
        let q = ListQuery::from_config(&cfg(
            json!({"compliance":["A1","A2"],"sub_types":["generic"],"name_search":"Beton"}),
        ));
        let has = |k: &str, v: &str| q.params.iter().any(|(a, b)| *a == k && b == v);
        assert!(has("search", "true") && has("compliance", crate::indicators::COMPLIANCE_EN15804_A1));
        assert!(has("complianceMode", "OR") && has("subType", "GENERIC_DATASET") && has("name", "Beton"));
        assert!(has("langFallback", "true"));
    }
}
