//! The connector's configuration: serde structs (with defaults) and the JSON schema published by `spec`.
//!
//! The schema in [`connection_specification`] and the struct below describe the same fields; a test parses a
//! config with every property and compares the `spec` output with `specs/source-oekobaudat/spec.json`.

use airbyte_protocol::{Config, ConnectorError, Result};
use serde::Deserialize;
use serde_json::{json, Value};

/// The public OEKOBAU.DAT node; any soda4LCA node's `/resource` URL works.
pub const DEFAULT_BASE_URL: &str = "https://oekobaudat.de/OEKOBAU.DAT/resource";
/// soda4LCA serves at most what it is asked for; larger pages than this are not polite.
pub const MAX_PAGE_SIZE: u32 = 500;

/// How to reach a soda4LCA node and what to read from it. Holds no secrets (public read needs none).
#[derive(Debug, Clone, Deserialize)]
pub struct OekobaudatConfig {
    /// The node's Service API root, e.g. `https://oekobaudat.de/OEKOBAU.DAT/resource`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Data stock (release) to read, by UUID or short name (e.g. `OBD_2024_I`). Default: the newest
    /// `OBD_<year>_<release>` stock listed by `/datastocks`.
    #[serde(default)]
    pub data_stock: Option<String>,
    /// Preferred language for names (ISO 639-1, e.g. `en`, `de`); names fall back to other languages.
    #[serde(default = "default_language")]
    pub language: String,
    /// Only EPDs declaring compliance with these EN 15804 versions (`A1`, `A2`); empty = all.
    #[serde(default)]
    pub compliance: Vec<Compliance>,
    /// Only EPDs in this classification class id (exact, e.g. `1.4.01`).
    #[serde(default)]
    pub classification_id: Option<String>,
    /// Only EPDs of these sub types; empty = all.
    #[serde(default)]
    pub sub_types: Vec<SubType>,
    /// Only EPDs whose name or synonyms contain all these words.
    #[serde(default)]
    pub name_search: Option<String>,
    /// Category system of the `categories` stream.
    #[serde(default = "default_classification_system")]
    pub classification_system: String,
    /// List page size (1..=500).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Requests per second for all requests together.
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    /// How many EPD detail requests may be in flight at once (the rate limit still applies).
    #[serde(default = "default_detail_concurrency")]
    pub detail_concurrency: u32,
    /// Seconds before a request is abandoned and retried.
    #[serde(default = "default_request_timeout_seconds")]
    pub request_timeout_seconds: u64,
    /// Retries of a failed request (429, 5xx, timeouts, HTML or truncated answers) before the sync fails.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
}

/// EN 15804 versions, identified on soda4LCA by the UUID of their compliance-system source data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Compliance {
    A1,
    A2,
}

impl Compliance {
    /// UUID of the compliance system (from the EN 15804+A1 source data set and openLCA's EN 15804+A2 profile).
    pub fn uuid(self) -> &'static str {
        match self {
            Compliance::A1 => crate::indicators::COMPLIANCE_EN15804_A1,
            Compliance::A2 => crate::indicators::COMPLIANCE_EN15804_A2,
        }
    }
}

/// soda4LCA process sub types, as the search parameter `subType` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubType {
    Generic,
    Specific,
    Average,
    Representative,
    Template,
}

impl SubType {
    pub fn query_value(self) -> &'static str {
        match self {
            SubType::Generic => "GENERIC_DATASET",
            SubType::Specific => "SPECIFIC_DATASET",
            SubType::Average => "AVERAGE_DATASET",
            SubType::Representative => "REPRESENTATIVE_DATASET",
            SubType::Template => "TEMPLATE_DATASET",
        }
    }
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_language() -> String {
    "en".to_string()
}
fn default_classification_system() -> String {
    "OEKOBAU.DAT".to_string()
}
fn default_page_size() -> u32 {
    100
}
fn default_requests_per_second() -> f64 {
    2.0
}
fn default_detail_concurrency() -> u32 {
    4
}
fn default_request_timeout_seconds() -> u64 {
    60
}
fn default_max_retries() -> u32 {
    5
}

impl OekobaudatConfig {
    /// Parse and check a validated config; problems are config errors naming the field.
    pub fn from_config(config: &Config) -> Result<Self> {
        // The schema allows other properties (Airbyte's convention); name them, as they are likely typos.
        let spec = connection_specification();
        if let (Some(given), Some(known)) = (config.value().as_object(), spec["properties"].as_object()) {
            for key in given.keys().filter(|k| !known.contains_key(*k)) {
                tracing::warn!("Config property {key} is not used by this connector.");
            }
        }
        let parsed: OekobaudatConfig = config.parse()?;
        parsed.checked()
    }

    fn checked(mut self) -> Result<Self> {
        let url = reqwest::Url::parse(self.base_url.trim())
            .map_err(|e| ConnectorError::config(format!("config /base_url is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConnectorError::config("config /base_url must start with http:// or https://"));
        }
        self.base_url = url.as_str().trim_end_matches('/').to_string();
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ConnectorError::config(format!("config /page_size must be between 1 and {MAX_PAGE_SIZE}")));
        }
        if !(self.requests_per_second.is_finite() && self.requests_per_second > 0.0) {
            return Err(ConnectorError::config("config /requests_per_second must be greater than 0"));
        }
        if self.detail_concurrency == 0 {
            return Err(ConnectorError::config("config /detail_concurrency must be at least 1"));
        }
        if self.request_timeout_seconds == 0 {
            return Err(ConnectorError::config("config /request_timeout_seconds must be at least 1"));
        }
        self.data_stock = self.data_stock.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        self.name_search = self.name_search.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        self.classification_id = self.classification_id.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        self.language = self.language.trim().to_ascii_lowercase();
        Ok(self)
    }

    /// Whether any search filter is set (soda4LCA applies filters only with `search=true`).
    pub fn has_filters(&self) -> bool {
        !self.compliance.is_empty()
            || self.classification_id.is_some()
            || !self.sub_types.is_empty()
            || self.name_search.is_some()
    }
}

/// The `connectionSpecification` JSON schema (draft 7).
pub fn connection_specification() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Oekobaudat (soda4LCA) Source Spec",
        "type": "object",
        "required": [],
        "additionalProperties": true,
        "properties": {
            "base_url": {
                "type": "string",
                "title": "Base URL",
                "description": "The soda4LCA Service API root of the node. Any soda4LCA node works, e.g. https://data.eco-platform.org/resource.",
                "default": DEFAULT_BASE_URL,
                "examples": [DEFAULT_BASE_URL, "https://data.eco-platform.org/resource"],
                "pattern": "^https?://",
                "order": 0
            },
            "data_stock": {
                "type": "string",
                "title": "Data stock",
                "description": "Data stock (release) to read, by UUID or short name (e.g. OBD_2024_I). Empty: the newest OBD_<year>_<release> stock listed by /datastocks.",
                "examples": ["OBD_2024_I", "ca70a7e6-0ea4-4e90-a947-d44585783626"],
                "order": 1
            },
            "language": {
                "type": "string",
                "title": "Language",
                "description": "Preferred language of names (ISO 639-1). Names missing in it fall back to English, German, then any.",
                "default": "en",
                "examples": ["en", "de"],
                "pattern": "^[A-Za-z]{2}$",
                "order": 2
            },
            "compliance": {
                "type": "array",
                "title": "EN 15804 compliance",
                "description": "Only EPDs declaring compliance with one of these EN 15804 versions. Empty: all.",
                "items": {"type": "string", "enum": ["A1", "A2"]},
                "uniqueItems": true,
                "default": [],
                "order": 3
            },
            "classification_id": {
                "type": "string",
                "title": "Classification id",
                "description": "Only EPDs in this class of the classification system (exact class id, e.g. 1.4.01).",
                "examples": ["1.4.01"],
                "order": 4
            },
            "sub_types": {
                "type": "array",
                "title": "Sub types",
                "description": "Only EPDs of these sub types. Empty: all.",
                "items": {"type": "string", "enum": ["generic", "specific", "average", "representative", "template"]},
                "uniqueItems": true,
                "default": [],
                "order": 5
            },
            "name_search": {
                "type": "string",
                "title": "Name search",
                "description": "Only EPDs whose name or synonyms contain all these words.",
                "examples": ["Beton"],
                "order": 6
            },
            "classification_system": {
                "type": "string",
                "title": "Classification system",
                "description": "Category system read by the categories stream.",
                "default": "OEKOBAU.DAT",
                "order": 7
            },
            "page_size": {
                "type": "integer",
                "title": "Page size",
                "description": "EPDs per list request.",
                "default": 100,
                "minimum": 1,
                "maximum": MAX_PAGE_SIZE,
                "order": 8
            },
            "requests_per_second": {
                "type": "number",
                "title": "Requests per second",
                "description": "Upper limit for all requests together (list, detail, retries).",
                "default": 2,
                "exclusiveMinimum": 0,
                "maximum": 1000,
                "order": 9
            },
            "detail_concurrency": {
                "type": "integer",
                "title": "Detail concurrency",
                "description": "EPD detail requests in flight at once; the rate limit still applies.",
                "default": 4,
                "minimum": 1,
                "maximum": 64,
                "order": 10
            },
            "request_timeout_seconds": {
                "type": "integer",
                "title": "Request timeout (seconds)",
                "description": "A request without an answer after this long is retried.",
                "default": 60,
                "minimum": 1,
                "maximum": 600,
                "order": 11
            },
            "max_retries": {
                "type": "integer",
                "title": "Maximum retries",
                "description": "Retries of a failed request (429, 5xx, timeouts, HTML or truncated answers) before the sync fails.",
                "default": 5,
                "minimum": 0,
                "maximum": 20,
                "order": 12
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_property_is_a_config_field() {
        let all = json!({
            "base_url": "http://127.0.0.1:1/resource/", "data_stock": " OBD_2024_I ", "language": "DE",
            "compliance": ["A1", "A2"], "classification_id": "1.4.01", "sub_types": ["generic", "template"],
            "name_search": "Beton", "classification_system": "OEKOBAU.DAT", "page_size": 500,
            "requests_per_second": 0.5, "detail_concurrency": 3, "request_timeout_seconds": 5, "max_retries": 1
        });
        let spec = connection_specification();
        let props = spec["properties"].as_object().unwrap();
        assert_eq!(props.len(), all.as_object().unwrap().len(), "the test config must use every spec property");
        let cfg = Config::validate(&spec, all).unwrap();
        let parsed = OekobaudatConfig::from_config(&cfg).unwrap();
        assert_eq!(parsed.base_url, "http://127.0.0.1:1/resource");
        assert_eq!(parsed.data_stock.as_deref(), Some("OBD_2024_I"));
        assert_eq!(parsed.language, "de");
        assert!(parsed.has_filters());
        assert_eq!(parsed.sub_types[1].query_value(), "TEMPLATE_DATASET");
    }

    #[test]
    fn defaults_and_bounds() {
        let spec = connection_specification();
        let parsed = OekobaudatConfig::from_config(&Config::validate(&spec, json!({})).unwrap()).unwrap();
        assert_eq!(parsed.base_url, DEFAULT_BASE_URL);
        assert_eq!((parsed.page_size, parsed.requests_per_second, parsed.detail_concurrency), (100, 2.0, 4));
        assert!(!parsed.has_filters());
        let e = Config::validate(&spec, json!({"page_size": 501})).unwrap_err();
        assert!(e.is_config() && e.message.contains("/page_size"), "{e}");
        let e = Config::validate(&spec, json!({"base_url": "ftp://x"})).unwrap_err();
        assert!(e.message.contains("/base_url"), "{e}");
        assert!(Config::validate(&spec, json!({"unknown": 1})).is_ok(), "other properties are allowed");
    }
}
