//! The connector's configuration: Airbyte-compatible (`credentials` oneOf personal access token / OAuth2.0,
//! legacy top-level `api_key` accepted), plus optional base/table filters and advanced settings.

use airbyte_protocol::{Config, ConnectorError, Result};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// The public Airtable API.
pub const DEFAULT_API_URL: &str = "https://api.airtable.com";
/// Airtable's OAuth token endpoint (refresh grant).
pub const DEFAULT_TOKEN_URL: &str = "https://airtable.com/oauth2/v1/token";
/// Airtable asks clients to wait 30 s after a 429.
pub const DEFAULT_RATE_LIMIT_WAIT_SECONDS: f64 = 30.0;
/// Records modified this long before the saved cursor are read again (and de-duplicated).
pub const DEFAULT_LOOKBACK_SECONDS: u64 = 300;

/// The connector's configuration.
#[derive(Deserialize)]
pub struct AirtableConfig {
    /// How to authenticate: a personal access token or OAuth2.0.
    #[serde(default)]
    credentials: Option<RawCredentials>,
    /// Configs written for Airbyte's connector before 4.0 kept the token here; it is used when `credentials` is absent.
    #[serde(default)]
    api_key: Option<String>,
    /// Only read these bases (ids like `app…` or names). Empty: every base the token can see.
    #[serde(default)]
    pub bases: Vec<String>,
    /// Only read these tables (ids like `tbl…` or names), in any selected base. Empty: every table.
    #[serde(default)]
    pub tables: Vec<String>,
    /// Advanced: the API's base URL (tests point it at a local replay server). The OAuth token endpoint is
    /// `{api_url}/oauth2/v1/token` when this is set to anything but the default.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Advanced: seconds to wait after Airtable answers 429 (it asks for 30).
    #[serde(default = "default_rate_limit_wait")]
    pub rate_limit_wait_seconds: f64,
    /// Advanced: incremental syncs read records modified up to this many seconds before the saved cursor again,
    /// so late-visible changes are not missed; records already emitted are skipped.
    #[serde(default = "default_lookback")]
    pub lookback_window_seconds: u64,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.to_string()
}
fn default_rate_limit_wait() -> f64 {
    DEFAULT_RATE_LIMIT_WAIT_SECONDS
}
fn default_lookback() -> u64 {
    DEFAULT_LOOKBACK_SECONDS
}

/// Both credential variants as they appear in JSON; resolved by [`AirtableConfig::credentials`].
#[derive(Deserialize)]
struct RawCredentials {
    #[serde(default)]
    auth_method: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token_expiry_date: Option<String>,
}

/// Resolved credentials.
#[derive(Clone)]
pub enum Credentials {
    /// A personal access token.
    Token(String),
    /// OAuth2.0 with a rotating refresh token.
    OAuth(OAuthCredentials),
}

/// OAuth2.0 credentials. Airtable rotates the refresh token on every refresh.
#[derive(Clone)]
pub struct OAuthCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub access_token: Option<String>,
    pub token_expiry_date: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Credentials::Token(****)"),
            Credentials::OAuth(o) => o.fmt(f),
        }
    }
}

impl std::fmt::Debug for OAuthCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthCredentials")
            .field("client_id", &"****")
            .field("client_secret", &"****")
            .field("refresh_token", &"****")
            .field("access_token", &self.access_token.as_ref().map(|_| "****"))
            .field("token_expiry_date", &self.token_expiry_date)
            .finish()
    }
}

impl std::fmt::Debug for AirtableConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AirtableConfig")
            .field("credentials", &self.credentials().ok())
            .field("bases", &self.bases)
            .field("tables", &self.tables)
            .field("api_url", &self.api_url)
            .field("rate_limit_wait_seconds", &self.rate_limit_wait_seconds)
            .field("lookback_window_seconds", &self.lookback_window_seconds)
            .finish()
    }
}

impl AirtableConfig {
    /// Parse a validated config; secrets outside the spec (the legacy top-level `api_key`) are registered for masking.
    pub fn from_config(config: &Config) -> Result<Self> {
        let parsed: AirtableConfig = config.parse()?;
        if let Some(key) = &parsed.api_key {
            airbyte_protocol::redact::add(key);
        }
        parsed.credentials()?;
        if !(parsed.rate_limit_wait_seconds.is_finite() && parsed.rate_limit_wait_seconds >= 0.0) {
            return Err(ConnectorError::config("config: rate_limit_wait_seconds must be a non-negative number"));
        }
        url::Url::parse(&parsed.api_url)
            .map_err(|e| ConnectorError::config(format!("config: api_url `{}` is not a URL: {e}", parsed.api_url)))?;
        Ok(parsed)
    }

    /// The credentials to use, following Airbyte's rules: `credentials.auth_method` picks the variant; without it
    /// the variant is inferred from the fields present; a legacy top-level `api_key` is the fallback.
    pub fn credentials(&self) -> Result<Credentials> {
        let missing = |field: &str| {
            ConnectorError::config(format!("config: credentials.{field} is required for OAuth2.0 authentication"))
        };
        match &self.credentials {
            Some(c) => {
                let method =
                    c.auth_method.as_deref().unwrap_or(if c.refresh_token.is_some() { "oauth2.0" } else { "api_key" });
                match method {
                    "api_key" => match c.api_key.as_deref().or(self.api_key.as_deref()) {
                        Some(k) if !k.trim().is_empty() => Ok(Credentials::Token(k.trim().to_string())),
                        _ => Err(ConnectorError::config(
                            "config: credentials.api_key (a personal access token) is required",
                        )),
                    },
                    "oauth2.0" => {
                        let expiry = match c.token_expiry_date.as_deref().filter(|s| !s.is_empty()) {
                            None => None,
                            Some(s) => Some(parse_expiry(s).ok_or_else(|| {
                                ConnectorError::config(format!(
                                    "config: credentials.token_expiry_date `{s}` is not a date-time"
                                ))
                            })?),
                        };
                        Ok(Credentials::OAuth(OAuthCredentials {
                            client_id: c.client_id.clone().ok_or_else(|| missing("client_id"))?,
                            client_secret: c.client_secret.clone().ok_or_else(|| missing("client_secret"))?,
                            refresh_token: c.refresh_token.clone().ok_or_else(|| missing("refresh_token"))?,
                            access_token: c.access_token.clone().filter(|t| !t.is_empty()),
                            token_expiry_date: expiry,
                        }))
                    }
                    other => Err(ConnectorError::config(format!(
                        "config: credentials.auth_method `{other}` is not one of `api_key`, `oauth2.0`"
                    ))),
                }
            }
            None => match self.api_key.as_deref() {
                Some(k) if !k.trim().is_empty() => Ok(Credentials::Token(k.trim().to_string())),
                _ => Err(ConnectorError::config(
                    "config: `credentials` is missing: give a personal access token or OAuth2.0 credentials",
                )),
            },
        }
    }

    /// The API root without a trailing slash.
    pub fn api_root(&self) -> &str {
        self.api_url.trim_end_matches('/')
    }

    /// Where OAuth refresh requests go.
    pub fn token_url(&self) -> String {
        if self.api_root() == DEFAULT_API_URL {
            DEFAULT_TOKEN_URL.to_string()
        } else {
            format!("{}/oauth2/v1/token", self.api_root())
        }
    }

    pub fn rate_limit_wait(&self) -> Duration {
        Duration::from_secs_f64(self.rate_limit_wait_seconds)
    }

    pub fn lookback(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.lookback_window_seconds.min(365 * 24 * 3600) as i64)
    }
}

/// Airbyte writes `token_expiry_date` as RFC 3339, sometimes without an offset (then UTC).
pub fn parse_expiry(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(d.and_utc());
        }
    }
    None
}

/// The `connectionSpecification` (golden copy: `specs/source-airtable/spec.json`).
pub fn connection_specification() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Airtable Source Spec",
        "type": "object",
        "additionalProperties": true,
        "properties": {
            "credentials": {
                "title": "Authentication",
                "type": "object",
                "order": 0,
                "oneOf": [
                    {
                        "type": "object",
                        "title": "OAuth2.0",
                        "required": ["client_id", "client_secret", "refresh_token"],
                        "properties": {
                            "auth_method": {"type": "string", "const": "oauth2.0"},
                            "client_id": {
                                "type": "string",
                                "title": "Client ID",
                                "description": "The client ID of the Airtable developer application.",
                                "airbyte_secret": true
                            },
                            "client_secret": {
                                "type": "string",
                                "title": "Client Secret",
                                "description": "The client secret of the Airtable developer application.",
                                "airbyte_secret": true
                            },
                            "access_token": {
                                "type": "string",
                                "description": "Access Token for making authenticated requests.",
                                "airbyte_secret": true
                            },
                            "token_expiry_date": {
                                "type": "string",
                                "description": "The date-time when the access token should be refreshed.",
                                "format": "date-time"
                            },
                            "refresh_token": {
                                "type": "string",
                                "title": "Refresh token",
                                "description": "The key to refresh the expired access token.",
                                "airbyte_secret": true
                            }
                        }
                    },
                    {
                        "type": "object",
                        "title": "Personal Access Token",
                        "required": ["api_key"],
                        "properties": {
                            "auth_method": {"type": "string", "const": "api_key"},
                            "api_key": {
                                "type": "string",
                                "title": "Personal Access Token",
                                "description": "The Personal Access Token for the Airtable account. See the <a href=\"https://airtable.com/developers/web/guides/personal-access-tokens\">Support Guide</a> for more information on how to obtain this token.",
                                "airbyte_secret": true,
                                "examples": ["key1234567890"]
                            }
                        }
                    }
                ]
            },
            "bases": {
                "type": "array",
                "title": "Bases",
                "description": "Only read these bases (base ids like appXXXXXXXXXXXXXX, or base names). Empty: every base the token can see.",
                "items": {"type": "string"},
                "order": 1
            },
            "tables": {
                "type": "array",
                "title": "Tables",
                "description": "Only read these tables (table ids like tblXXXXXXXXXXXXXX, or table names) in the selected bases. Empty: every table.",
                "items": {"type": "string"},
                "order": 2
            },
            "api_url": {
                "type": "string",
                "title": "API base URL (advanced)",
                "description": "The Airtable API base URL. Change it only to go through a proxy or a test server; the OAuth token endpoint is then {api_url}/oauth2/v1/token.",
                "default": DEFAULT_API_URL,
                "order": 3
            },
            "rate_limit_wait_seconds": {
                "type": "number",
                "title": "Wait after a rate-limit answer (advanced)",
                "description": "Seconds to wait after Airtable answers 429 before trying again (Airtable asks for 30).",
                "default": DEFAULT_RATE_LIMIT_WAIT_SECONDS,
                "minimum": 0,
                "order": 4
            },
            "lookback_window_seconds": {
                "type": "integer",
                "title": "Incremental look-back window (advanced)",
                "description": "Incremental syncs read records modified up to this many seconds before the saved cursor again, so late-visible changes are not missed; records already emitted are skipped.",
                "default": DEFAULT_LOOKBACK_SECONDS,
                "minimum": 0,
                "order": 5
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<AirtableConfig> {
        AirtableConfig::from_config(&Config::unchecked(v))
    }

    #[test]
    fn credential_variants_and_legacy_key() {
        let c = parse(json!({"credentials": {"auth_method": "api_key", "api_key": "patABC.secret"}})).unwrap();
        assert!(matches!(c.credentials().unwrap(), Credentials::Token(t) if t == "patABC.secret"));
        let c = parse(json!({"api_key": "patLegacy.secret"})).unwrap();
        assert!(matches!(c.credentials().unwrap(), Credentials::Token(t) if t == "patLegacy.secret"));
        let c = parse(json!({"credentials": {"client_id": "cid", "client_secret": "cs", "refresh_token": "rt",
            "token_expiry_date": "2030-01-01T00:00:00"}}))
        .unwrap();
        let Credentials::OAuth(o) = c.credentials().unwrap() else { panic!("expected OAuth") };
        assert_eq!(o.token_expiry_date.unwrap().to_rfc3339(), "2030-01-01T00:00:00+00:00");
        assert_eq!(c.token_url(), DEFAULT_TOKEN_URL);
        let e = parse(json!({"credentials": {"auth_method": "oauth2.0", "client_id": "x"}})).unwrap_err();
        assert!(e.is_config() && e.message.contains("client_secret"), "{e}");
        assert!(parse(json!({})).unwrap_err().message.contains("credentials"));
        let c = parse(json!({"credentials": {"api_key": "k"}, "api_url": "http://127.0.0.1:9/"})).unwrap();
        assert_eq!(c.token_url(), "http://127.0.0.1:9/oauth2/v1/token");
    }

    #[test]
    fn debug_hides_secrets() {
        let c = parse(json!({"credentials": {"auth_method": "oauth2.0", "client_id": "cid-visible?",
            "client_secret": "very-secret", "refresh_token": "refresh-secret", "access_token": "access-secret"}}))
        .unwrap();
        let dbg = format!("{c:?}");
        for s in ["cid-visible?", "very-secret", "refresh-secret", "access-secret"] {
            assert!(!dbg.contains(s), "{dbg}");
        }
    }
}
