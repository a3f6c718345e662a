//! Airtable Web API calls over the shared HTTP helper: rate limits (5 requests/s per base, 50/s overall, evenly
//! spaced), retries (429 waits the configured time, 5xx back off), bearer or OAuth credentials refreshed before
//! expiry and after a 401 (each rotation is sent to the platform as a CONTROL message), and error mapping.

use crate::config::{AirtableConfig, Credentials, OAuthCredentials};
use airbyte_protocol::http::{paginate, Authenticator, HttpClient, HttpError, RateLimit, RetryPolicy};
use airbyte_protocol::{AirbyteMessage, ConnectorError, ControlMessage, Output, Result};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::TryStreamExt;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Airtable's documented limit per base.
pub const REQUESTS_PER_SECOND_PER_BASE: f64 = 5.0;
/// Airtable's documented limit across all traffic of one token's user.
pub const REQUESTS_PER_SECOND_TOTAL: f64 = 50.0;
/// Records per page (Airtable's maximum).
pub const PAGE_SIZE: u32 = 100;
/// Refresh an OAuth access token this long before it expires.
const REFRESH_MARGIN_SECONDS: i64 = 120;

/// A failed API call: an expired list iterator is told apart, as the caller restarts the table.
#[derive(Debug)]
pub enum ApiError {
    IteratorExpired,
    Failed(ConnectorError),
}

impl From<ApiError> for ConnectorError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::IteratorExpired => ConnectorError::transient(
                "Airtable's list iterator expired again after restarting the table (LIST_RECORDS_ITERATOR_NOT_AVAILABLE)",
            ),
            ApiError::Failed(e) => e,
        }
    }
}

/// A base from `GET /v0/meta/bases`.
#[derive(Debug, Clone, Deserialize)]
pub struct Base {
    pub id: String,
    pub name: String,
    #[serde(default, rename = "permissionLevel")]
    pub permission_level: Option<String>,
}

/// One page of records.
#[derive(Debug, Deserialize)]
pub struct RecordPage {
    #[serde(default)]
    pub records: Vec<Value>,
    #[serde(default)]
    pub offset: Option<String>,
}

/// Options of a list-records request.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    /// `filterByFormula`.
    pub filter: Option<String>,
    /// Sort ascending by this field name.
    pub sort_field: Option<String>,
    pub page_size: Option<u32>,
}

/// The Airtable API client shared by every stream of a sync.
pub struct AirtableClient {
    http: HttpClient,
    api_root: String,
    auth: Arc<TokenProvider>,
    global: RateLimit,
    per_base: Mutex<HashMap<String, RateLimit>>,
}

impl AirtableClient {
    /// A client for `config`; rotated OAuth tokens are announced as CONTROL messages on `control`, together with
    /// the full config `raw_config` they update.
    pub fn new(config: &AirtableConfig, raw_config: &Value, control: Output) -> Result<Self> {
        let policy = RetryPolicy {
            max_retries: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            rate_limited_wait: Some(config.rate_limit_wait()),
            max_retry_after: Duration::from_secs(120),
        };
        let user_agent = concat!("airbyte-rust-source-airtable/", env!("CARGO_PKG_VERSION"));
        let http = HttpClient::new(user_agent, Duration::from_secs(60), policy)?;
        let auth = match config.credentials()? {
            Credentials::Token(token) => TokenProvider::Static(bearer(&token)?),
            Credentials::OAuth(oauth) => TokenProvider::OAuth(Box::new(OAuthProvider {
                http: http.clone(),
                token_url: config.token_url(),
                state: tokio::sync::Mutex::new(OAuthState::from(&oauth)),
                credentials: oauth,
                config: Mutex::new(raw_config.clone()),
                control,
            })),
        };
        Ok(AirtableClient {
            http,
            api_root: config.api_root().to_string(),
            auth: Arc::new(auth),
            global: RateLimit::spaced(REQUESTS_PER_SECOND_TOTAL),
            per_base: Mutex::new(HashMap::new()),
        })
    }

    fn base_limit(&self, base_id: &str) -> RateLimit {
        let mut map = self.per_base.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(base_id.to_string()).or_insert_with(|| RateLimit::spaced(REQUESTS_PER_SECOND_PER_BASE)).clone()
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<url::Url> {
        let mut url = url::Url::parse(&format!("{}/{}", self.api_root, path))
            .map_err(|e| ConnectorError::config(format!("config: api_url gives an invalid URL: {e}")))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        base_id: Option<&str>,
        url: url::Url,
        what: &str,
    ) -> std::result::Result<T, ApiError> {
        // The base's budget first: waiting for it must not hold a slot of the global budget.
        let base_limit = base_id.map(|b| self.base_limit(b));
        let mut limits: Vec<&RateLimit> = base_limit.iter().collect();
        limits.push(&self.global);
        let auth: &dyn Authenticator = self.auth.as_ref();
        self.http
            .send_authorized(&limits, Some(auth), |c| c.get(url.clone()), |r| r.json::<T>())
            .await
            .map_err(|e| map_error(e, what, base_id))
    }

    /// Every base the token can see (`GET /v0/meta/bases`, following `offset`).
    pub async fn list_bases(&self) -> Result<Vec<Base>> {
        #[derive(Deserialize)]
        struct BasesPage {
            #[serde(default)]
            bases: Vec<Base>,
            #[serde(default)]
            offset: Option<String>,
        }
        let pages = paginate(None, |offset: Option<String>| async move {
            let query: Vec<(&str, String)> = offset.into_iter().map(|o| ("offset", o)).collect();
            let url = self.url("v0/meta/bases", &query)?;
            let page: BasesPage = self.get_json(None, url, "listing bases").await?;
            Ok((page.bases, page.offset.filter(|o| !o.is_empty())))
        });
        let pages: Vec<Vec<Base>> = pages.try_collect().await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// The tables (with fields) of one base (`GET /v0/meta/bases/{id}/tables`).
    pub async fn list_tables(&self, base: &Base) -> Result<Vec<Value>> {
        #[derive(Deserialize)]
        struct TablesPage {
            #[serde(default)]
            tables: Vec<Value>,
            #[serde(default)]
            offset: Option<String>,
        }
        let what = format!("reading the schema of base `{}` ({})", base.name, base.id);
        let path = format!("v0/meta/bases/{}/tables", urlencode(&base.id));
        let pages = paginate(None, |offset: Option<String>| {
            let (what, path) = (&what, &path);
            async move {
                let query: Vec<(&str, String)> = offset.into_iter().map(|o| ("offset", o)).collect();
                let url = self.url(path, &query)?;
                let page: TablesPage = self.get_json(Some(&base.id), url, what).await?;
                Ok((page.tables, page.offset.filter(|o| !o.is_empty())))
            }
        });
        let pages: Vec<Vec<Value>> = pages.try_collect().await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// One page of records of a table.
    pub async fn list_records(
        &self,
        base_id: &str,
        table_id: &str,
        offset: Option<&str>,
        query: &RecordQuery,
        what: &str,
    ) -> std::result::Result<RecordPage, ApiError> {
        let mut params: Vec<(&str, String)> =
            vec![("pageSize", query.page_size.unwrap_or(PAGE_SIZE).min(PAGE_SIZE).to_string())];
        if let Some(f) = &query.filter {
            params.push(("filterByFormula", f.clone()));
        }
        if let Some(s) = &query.sort_field {
            params.push(("sort[0][field]", s.clone()));
            params.push(("sort[0][direction]", "asc".into()));
        }
        if let Some(o) = offset {
            params.push(("offset", o.to_string()));
        }
        let url = self
            .url(&format!("v0/{}/{}", urlencode(base_id), urlencode(table_id)), &params)
            .map_err(ApiError::Failed)?;
        self.get_json(Some(base_id), url, what).await
    }
}

fn urlencode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>().replace('+', "%20")
}

fn bearer(token: &str) -> Result<HeaderValue> {
    let mut h = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| ConnectorError::config("config: the access token contains characters not allowed in a header"))?;
    h.set_sensitive(true);
    Ok(h)
}

/// Airtable's error body: `{"error": {"type", "message"}}` or `{"error": "NOT_FOUND"}`.
pub fn parse_error_body(body: &str) -> (String, String) {
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) => return (String::new(), body.chars().take(300).collect()),
    };
    match v.get("error") {
        Some(Value::String(t)) => (t.clone(), String::new()),
        Some(Value::Object(o)) => (
            o.get("type").and_then(Value::as_str).unwrap_or("").to_string(),
            o.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
        ),
        _ => (String::new(), body.chars().take(300).collect()),
    }
}

fn describe(kind: &str, message: &str) -> String {
    match (kind.is_empty(), message.is_empty()) {
        (true, true) => "no details".to_string(),
        (false, true) => kind.to_string(),
        (true, false) => message.to_string(),
        (false, false) => format!("{kind}: {message}"),
    }
}

/// What an HTTP failure means to the user.
pub fn map_error(e: HttpError, what: &str, base_id: Option<&str>) -> ApiError {
    let HttpError::Status { status, body, url, .. } = &e else {
        return ApiError::Failed(ConnectorError::from(e).context(what));
    };
    let (kind, message) = parse_error_body(body);
    let detail = describe(&kind, &message);
    let failed =
        |msg: String| ApiError::Failed(ConnectorError::config(msg).with_internal(format!("HTTP {status} from {url}")));
    if url.contains("/oauth2/") {
        return match status {
            400 | 401 => failed(format!(
                "{what}: Airtable rejected the OAuth refresh token ({detail}); re-authenticate the connection"
            )),
            _ => ApiError::Failed(ConnectorError::from(e).context(format!("{what}: refreshing the OAuth token"))),
        };
    }
    match status {
        401 => failed(format!(
            "{what}: invalid credentials: Airtable answered 401 ({detail}). Check the personal access token, or \
             re-authenticate OAuth"
        )),
        403 if kind == "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND" => failed(format!(
            "{what}: the token lacks a required scope (data.records:read, schema.bases:read) or access to base {} \
             ({detail})",
            base_id.unwrap_or("(all bases)")
        )),
        403 => failed(format!("{what}: permission denied ({detail})")),
        404 => failed(format!("{what}: not found ({detail})")),
        422 if kind == "LIST_RECORDS_ITERATOR_NOT_AVAILABLE" => ApiError::IteratorExpired,
        422 => failed(format!("{what}: Airtable rejected the request ({detail})")),
        429 => ApiError::Failed(ConnectorError::transient(format!(
            "{what}: still rate limited by Airtable (HTTP 429) after several waits; try again later"
        ))),
        _ => ApiError::Failed(ConnectorError::from(e).context(what)),
    }
}

/// Where request credentials come from.
pub enum TokenProvider {
    Static(HeaderValue),
    OAuth(Box<OAuthProvider>),
}

/// OAuth2.0 with Airtable's rotating refresh tokens.
pub struct OAuthProvider {
    http: HttpClient,
    token_url: String,
    credentials: OAuthCredentials,
    state: tokio::sync::Mutex<OAuthState>,
    config: Mutex<Value>,
    control: Output,
}

struct OAuthState {
    refresh_token: String,
    access: Option<HeaderValue>,
    expiry: Option<DateTime<Utc>>,
}

impl From<&OAuthCredentials> for OAuthState {
    fn from(c: &OAuthCredentials) -> Self {
        OAuthState {
            refresh_token: c.refresh_token.clone(),
            access: c.access_token.as_deref().and_then(|t| bearer(t).ok()),
            expiry: c.token_expiry_date,
        }
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<f64>,
}

impl OAuthProvider {
    fn needs_refresh(state: &OAuthState) -> bool {
        match (&state.access, state.expiry) {
            (Some(_), Some(expiry)) => expiry - Utc::now() < chrono::Duration::seconds(REFRESH_MARGIN_SECONDS),
            _ => true,
        }
    }

    async fn refresh(&self, state: &mut OAuthState) -> std::result::Result<(), HttpError> {
        let form = [("grant_type", "refresh_token"), ("refresh_token", state.refresh_token.as_str())];
        let c = &self.credentials;
        let answer: TokenAnswer = self
            .http
            .send_parsed(
                &[],
                |client| client.post(&self.token_url).basic_auth(&c.client_id, Some(&c.client_secret)).form(&form),
                |r| r.json::<TokenAnswer>(),
            )
            .await?;
        airbyte_protocol::redact::add(&answer.access_token);
        if let Some(rt) = &answer.refresh_token {
            airbyte_protocol::redact::add(rt);
            state.refresh_token = rt.clone();
        }
        let expiry = Utc::now() + chrono::Duration::milliseconds((answer.expires_in.unwrap_or(3600.0) * 1000.0) as i64);
        state.access = Some(bearer(&answer.access_token).map_err(|e| HttpError::Body {
            url: self.token_url.clone(),
            message: e.message,
            retryable: false,
        })?);
        state.expiry = Some(expiry);
        tracing::info!("Refreshed the OAuth access token; it expires at {}.", expiry.to_rfc3339());
        self.announce(&answer.access_token, &state.refresh_token, expiry);
        Ok(())
    }

    /// Persist the rotated tokens: the platform stores the config carried by a CONTROL message.
    fn announce(&self, access_token: &str, refresh_token: &str, expiry: DateTime<Utc>) {
        let mut config = self.config.lock().unwrap_or_else(|e| e.into_inner());
        if !config.get("credentials").is_some_and(Value::is_object) {
            config["credentials"] = serde_json::json!({});
        }
        let creds = &mut config["credentials"];
        creds["auth_method"] = "oauth2.0".into();
        creds["access_token"] = access_token.into();
        creds["refresh_token"] = refresh_token.into();
        creds["token_expiry_date"] = expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into();
        let message = AirbyteMessage::control(ControlMessage::connector_config(config.clone()));
        if let Err(e) = self.control.emit(&message) {
            tracing::error!("Could not emit the updated config with the rotated OAuth tokens: {e}");
        }
    }
}

impl Authenticator for TokenProvider {
    fn authorization(&self) -> BoxFuture<'_, std::result::Result<HeaderValue, HttpError>> {
        Box::pin(async move {
            match self {
                TokenProvider::Static(h) => Ok(h.clone()),
                TokenProvider::OAuth(p) => {
                    let mut state = p.state.lock().await;
                    if OAuthProvider::needs_refresh(&state) {
                        p.refresh(&mut state).await?;
                    }
                    Ok(state.access.clone().expect("set by refresh"))
                }
            }
        })
    }

    fn renew<'a>(&'a self, rejected: &'a HeaderValue) -> BoxFuture<'a, std::result::Result<bool, HttpError>> {
        Box::pin(async move {
            match self {
                TokenProvider::Static(_) => Ok(false),
                TokenProvider::OAuth(p) => {
                    let mut state = p.state.lock().await;
                    if state.access.as_ref() != Some(rejected) {
                        // Another request already renewed the token.
                        return Ok(true);
                    }
                    p.refresh(&mut state).await?;
                    Ok(true)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_as_string_or_object() {
        assert_eq!(parse_error_body(r#"{"error":"NOT_FOUND"}"#), ("NOT_FOUND".into(), String::new()));
        assert_eq!(
            parse_error_body(r#"{"error":{"type":"UNKNOWN_FIELD_NAME","message":"Could not find a field named X"}}"#),
            ("UNKNOWN_FIELD_NAME".into(), "Could not find a field named X".into())
        );
        assert_eq!(parse_error_body("<html>").1, "<html>");
    }

    #[test]
    fn status_mapping() {
        let st = |status: u16, body: &str| HttpError::Status {
            status,
            url: "http://x/v0/app1/tbl1".into(),
            body: body.into(),
            retry_after: None,
        };
        let ApiError::Failed(e) = map_error(st(401, r#"{"error":{"type":"AUTHENTICATION_REQUIRED"}}"#), "w", None)
        else {
            panic!()
        };
        assert!(e.is_config() && e.message.contains("invalid credentials"), "{e}");
        let body = r#"{"error":{"type":"INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND","message":"nope"}}"#;
        let ApiError::Failed(e) = map_error(st(403, body), "w", Some("app1")) else { panic!() };
        assert!(e.is_config() && e.message.contains("app1") && e.message.contains("schema.bases:read"), "{e}");
        let body = r#"{"error":{"type":"LIST_RECORDS_ITERATOR_NOT_AVAILABLE"}}"#;
        assert!(matches!(map_error(st(422, body), "w", None), ApiError::IteratorExpired));
        let ApiError::Failed(e) = map_error(st(503, "down"), "w", None) else { panic!() };
        assert!(e.is_transient());
    }
}
