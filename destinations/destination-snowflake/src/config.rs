//! The connector's configuration: the keys of Airbyte's destination-snowflake (so a user can switch with the same
//! config JSON) plus the loading method of its earlier versions (internal stage or an external S3 stage).

use airbyte_protocol::{ConnectorError, Result};
use destination_core::s3::{validate_bucket_name, S3Connection};
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;

/// The whole config as the platform passes it.
#[derive(Deserialize, Clone)]
pub struct SnowflakeConfig {
    /// Account host, e.g. `abc123.us-east-2.aws.snowflakecomputing.com` (`https://` optional). For emulators
    /// (tests) also `http://127.0.0.1:PORT`.
    pub host: String,
    /// Role the session uses.
    pub role: String,
    /// Warehouse that runs COPY and MERGE.
    pub warehouse: String,
    /// Target database.
    pub database: String,
    /// Default schema for streams without a namespace.
    pub schema: String,
    /// Login name.
    pub username: String,
    /// Key pair or password.
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// Older Airbyte configs put the password at the top level.
    #[serde(default)]
    pub password: Option<String>,
    /// How staged Parquet files reach Snowflake.
    #[serde(default)]
    pub loading_method: LoadingMethod,
    /// Time Travel days for the tables this connector creates (Snowflake's `DATA_RETENTION_TIME_IN_DAYS`).
    #[serde(default = "default_retention")]
    pub retention_period_days: u32,
    /// `Hard delete` removes rows whose `_ab_cdc_deleted_at` is set (dedup streams); `Soft delete` keeps them.
    #[serde(default)]
    pub cdc_deletion_mode: CdcDeletionMode,
    /// Airbyte's legacy raw-tables mode; not supported (typed tables only).
    #[serde(default)]
    pub disable_type_dedupe: bool,
    /// Schema for the connector's own objects (stages, per-run load tables); default `airbyte_internal`.
    #[serde(default)]
    pub raw_data_dataset: Option<String>,
    /// Accepted for compatibility; there is no JDBC here.
    #[serde(default)]
    pub jdbc_url_params: Option<String>,
    /// Accepted for compatibility; dedup always uses MERGE.
    #[serde(default)]
    pub use_merge_for_upsert: Option<bool>,
    /// Staged file size that triggers a load (MB of Parquet input buffered per stream).
    #[serde(default = "default_batch_mb")]
    pub batch_size_mb: u32,
    /// Longest time (seconds) a STATE waits for its records to be loaded while input keeps coming.
    #[serde(default = "default_flush_seconds")]
    pub flush_interval_seconds: u64,
}

fn default_retention() -> u32 {
    1
}
fn default_batch_mb() -> u32 {
    64
}
fn default_flush_seconds() -> u64 {
    300
}

/// Authentication.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
pub enum Credentials {
    /// RSA key pair (PKCS#8 PEM), optionally encrypted with a passphrase.
    KeyPair {
        /// `PRIVATE_KEY` (current Airbyte) or `Key Pair Authentication` (older Airbyte).
        #[serde(default)]
        auth_type: Option<String>,
        /// The PEM text.
        private_key: String,
        /// Passphrase of an encrypted key.
        #[serde(default)]
        private_key_password: Option<String>,
    },
    /// Username and password.
    Password {
        /// `USERNAME_PASSWORD` (current Airbyte) or `Username and Password` (older Airbyte).
        #[serde(default)]
        auth_type: Option<String>,
        /// The password.
        password: String,
    },
}

/// How the connector stages files.
#[derive(Deserialize, Clone, Default)]
#[serde(tag = "method")]
pub enum LoadingMethod {
    /// A named internal stage per table, created with server-side encryption (`SNOWFLAKE_SSE`).
    #[default]
    #[serde(rename = "Internal Staging", alias = "INTERNAL_STAGING", alias = "Standard")]
    Internal,
    /// Files are written to your S3 bucket with object_store and loaded from there.
    #[serde(rename = "S3 Staging", alias = "S3_STAGING")]
    S3(S3Staging),
}

/// External S3 stage settings.
#[derive(Deserialize, Clone)]
pub struct S3Staging {
    /// Bucket name.
    pub s3_bucket_name: String,
    /// Prefix under which staged files are written.
    #[serde(default)]
    pub s3_bucket_path: Option<String>,
    /// Region, endpoint and credentials (`s3_bucket_region`, `s3_endpoint`, `access_key_id`,
    /// `secret_access_key`, `role_arn`); the key pair is not needed when `storage_integration` is set and the
    /// connector runs with an IAM role.
    #[serde(flatten)]
    pub connection: S3Connection,
    /// Snowflake storage integration used by COPY instead of inline credentials.
    #[serde(default)]
    pub storage_integration: Option<String>,
    /// Delete staged files after they are loaded.
    #[serde(default = "default_true")]
    pub purge_staging_data: bool,
}

fn default_true() -> bool {
    true
}

/// CDC deletions in dedup streams.
#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq, Debug)]
pub enum CdcDeletionMode {
    #[default]
    #[serde(rename = "Hard delete")]
    Hard,
    #[serde(rename = "Soft delete")]
    Soft,
}

impl fmt::Debug for SnowflakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnowflakeConfig")
            .field("host", &self.host)
            .field("role", &self.role)
            .field("warehouse", &self.warehouse)
            .field("database", &self.database)
            .field("schema", &self.schema)
            .field("username", &self.username)
            .field("credentials", &self.credentials.as_ref().map(Credentials::kind))
            .field("loading_method", &self.loading_method)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LoadingMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadingMethod::Internal => f.write_str("Internal"),
            LoadingMethod::S3(s3) => f
                .debug_struct("S3")
                .field("bucket", &s3.s3_bucket_name)
                .field("path", &s3.s3_bucket_path)
                .field("storage_integration", &s3.storage_integration)
                .field("connection", &s3.connection)
                .finish_non_exhaustive(),
        }
    }
}

impl Credentials {
    fn kind(&self) -> &'static str {
        match self {
            Credentials::KeyPair { .. } => "key pair",
            Credentials::Password { .. } => "password",
        }
    }
}

/// Where the account's API lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The account name the login and the key-pair JWT use (first label of the host, upper case).
    pub account: String,
    /// `https` for Snowflake; `http` only for a loopback emulator.
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
}

impl Endpoint {
    /// Whether this is a local emulator (plain HTTP on loopback), whose answers lack some fields.
    pub fn is_emulator(&self) -> bool {
        self.scheme == "http"
    }
}

impl SnowflakeConfig {
    /// Parse and check what the JSON schema cannot.
    pub fn from_value(value: &Value) -> Result<Self> {
        let config: SnowflakeConfig = airbyte_protocol::files::from_value(value.clone(), "config")?;
        if config.disable_type_dedupe {
            return Err(ConnectorError::config(
                "config: `disable_type_dedupe` (Airbyte's legacy raw tables) is not supported by this connector; \
                 remove it or set it to false",
            ));
        }
        config.auth()?;
        config.endpoint()?;
        if let LoadingMethod::S3(s3) = &config.loading_method {
            validate_bucket_name("loading_method.s3_bucket_name", &s3.s3_bucket_name)?;
            s3.connection.validate("loading_method.")?;
        }
        for (key, v) in [("warehouse", &config.warehouse), ("database", &config.database), ("schema", &config.schema)] {
            if v.trim().is_empty() {
                return Err(ConnectorError::config(format!("config: `{key}` must not be empty")));
            }
        }
        Ok(config)
    }

    /// The account and URL parts of `host`.
    pub fn endpoint(&self) -> Result<Endpoint> {
        parse_host(&self.host)
    }

    /// The authentication to use.
    pub fn auth(&self) -> Result<Auth> {
        match (&self.credentials, &self.password) {
            (Some(Credentials::KeyPair { private_key, private_key_password, .. }), _) => {
                Ok(Auth::KeyPair { pem: private_key.clone(), passphrase: private_key_password.clone() })
            }
            (Some(Credentials::Password { password, .. }), _) | (None, Some(password)) => {
                Ok(Auth::Password(password.clone()))
            }
            (None, None) => Err(ConnectorError::config(
                "config: `credentials` is missing: give a key pair (`private_key`) or a `password`",
            )),
        }
    }
}

/// Resolved authentication.
#[derive(Clone)]
pub enum Auth {
    KeyPair { pem: String, passphrase: Option<String> },
    Password(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Auth::KeyPair { .. } => "Auth::KeyPair(****)",
            Auth::Password(_) => "Auth::Password(****)",
        })
    }
}

fn parse_host(raw: &str) -> Result<Endpoint> {
    let bad = |why: &str| ConnectorError::config(format!("config: `host` {why}"));
    let raw = raw.trim().trim_end_matches('/');
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, rest)) => (s.to_ascii_lowercase(), rest),
        None => ("https".to_string(), raw),
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad("has an invalid port"))?)),
        None => (rest, None),
    };
    let host = host.to_ascii_lowercase();
    match scheme.as_str() {
        "https" => {
            let account = host
                .strip_suffix(".snowflakecomputing.com")
                .or_else(|| host.strip_suffix(".localstack.cloud"))
                .ok_or_else(|| {
                    bad("must look like <account>.snowflakecomputing.com or <locator>.<region>.<cloud>.snowflakecomputing.com")
                })?;
            let account = account.split('.').next().unwrap_or_default();
            if account.is_empty() {
                return Err(bad("has no account name before .snowflakecomputing.com"));
            }
            Ok(Endpoint { account: account.to_ascii_uppercase(), scheme, host, port })
        }
        "http" if host == "127.0.0.1" || host == "localhost" => {
            Ok(Endpoint { account: "EMULATOR".into(), scheme, host, port })
        }
        _ => Err(bad("must use https (plain http is accepted only for a local emulator on 127.0.0.1)")),
    }
}

/// The connection specification (the golden copy is `specs/destination-snowflake/spec.json`).
pub fn connection_specification() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Snowflake Destination Spec",
        "type": "object",
        "required": ["host", "role", "warehouse", "database", "schema", "username"],
        "additionalProperties": true,
        "properties": {
            "host": {
                "title": "Host", "type": "string", "order": 0,
                "description": "Your Snowflake account host: <account_locator>.<region>.<cloud>.snowflakecomputing.com or <org>-<account>.snowflakecomputing.com. http://127.0.0.1:PORT only for a local emulator.",
                "examples": ["accountname.us-east-2.aws.snowflakecomputing.com", "accountname.snowflakecomputing.com"],
                "pattern": "^((http(s)?:\\/\\/)?([^./?#]+\\.)?([^./?#]+\\.)?([^./?#]+\\.)?([^./?#]+\\.(snowflakecomputing\\.com|localstack\\.cloud))|http:\\/\\/(127\\.0\\.0\\.1|localhost)(:[0-9]+)?)$"
            },
            "role": {"title": "Role", "type": "string", "order": 1, "description": "The role the connector uses.", "examples": ["AIRBYTE_ROLE"]},
            "warehouse": {"title": "Warehouse", "type": "string", "order": 2, "description": "The warehouse that runs the loads.", "examples": ["AIRBYTE_WAREHOUSE"]},
            "database": {"title": "Database", "type": "string", "order": 3, "description": "The database to write to.", "examples": ["AIRBYTE_DATABASE"]},
            "schema": {"title": "Default Schema", "type": "string", "order": 4, "description": "The schema for streams without a namespace.", "examples": ["AIRBYTE_SCHEMA"]},
            "username": {"title": "Username", "type": "string", "order": 5, "description": "The user to log in as.", "examples": ["AIRBYTE_USER"]},
            "credentials": {
                "title": "Authorization Method", "type": "object", "order": 6,
                "oneOf": [
                    {
                        "title": "Key Pair Authentication", "type": "object", "required": ["private_key"],
                        "properties": {
                            "auth_type": {"type": "string", "const": "PRIVATE_KEY", "default": "PRIVATE_KEY", "order": 0},
                            "private_key": {"title": "Private Key", "type": "string", "multiline": true, "airbyte_secret": true, "order": 1,
                                "description": "RSA private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY----- or -----BEGIN ENCRYPTED PRIVATE KEY-----)."},
                            "private_key_password": {"title": "Passphrase", "type": "string", "airbyte_secret": true, "order": 2,
                                "description": "Passphrase of an encrypted private key."}
                        }
                    },
                    {
                        "title": "Username and Password", "type": "object", "required": ["password"],
                        "properties": {
                            "auth_type": {"type": "string", "const": "USERNAME_PASSWORD", "default": "USERNAME_PASSWORD", "order": 0},
                            "password": {"title": "Password", "type": "string", "airbyte_secret": true, "order": 1,
                                "description": "The password of the user."}
                        }
                    }
                ]
            },
            "loading_method": {
                "title": "Data Staging Method", "type": "object", "order": 7,
                "description": "Where Parquet files are staged before COPY INTO.",
                "oneOf": [
                    {
                        "title": "Internal Staging", "type": "object", "required": ["method"],
                        "description": "A named internal stage per table, created with SNOWFLAKE_SSE encryption (AWS- and GCP-hosted accounts).",
                        "properties": {"method": {"type": "string", "const": "Internal Staging"}}
                    },
                    {
                        "title": "AWS S3 Staging", "type": "object", "required": ["method", "s3_bucket_name"],
                        "description": "Files are written to your S3 bucket and loaded from there (any account).",
                        "properties": {
                            "method": {"type": "string", "const": "S3 Staging"},
                            "s3_bucket_name": {"title": "S3 Bucket Name", "type": "string", "order": 1},
                            "s3_bucket_region": {"title": "S3 Bucket Region", "type": "string", "default": "us-east-1", "order": 2},
                            "s3_bucket_path": {"title": "S3 Bucket Path", "type": "string", "order": 3, "description": "Prefix for staged files."},
                            "access_key_id": {"title": "Access Key Id", "type": "string", "airbyte_secret": true, "order": 4},
                            "secret_access_key": {"title": "Secret Access Key", "type": "string", "airbyte_secret": true, "order": 5},
                            "storage_integration": {"title": "Storage Integration", "type": "string", "order": 6,
                                "description": "A Snowflake storage integration for COPY; without it COPY passes the access key."},
                            "s3_endpoint": {"title": "S3 Endpoint", "type": "string", "order": 7, "description": "Custom endpoint of an S3-compatible store."},
                            "purge_staging_data": {"title": "Purge Staging Files", "type": "boolean", "default": true, "order": 8}
                        }
                    }
                ]
            },
            "cdc_deletion_mode": {"title": "CDC deletion mode", "type": "string", "enum": ["Hard delete", "Soft delete"], "default": "Hard delete", "order": 8,
                "description": "Whether rows whose _ab_cdc_deleted_at is set are deleted (dedup streams) or kept as tombstones."},
            "disable_type_dedupe": {"title": "Legacy raw tables", "type": "boolean", "default": false, "order": 9,
                "description": "Airbyte's legacy raw tables; not supported, must be false."},
            "raw_data_dataset": {"title": "Airbyte Internal Table Dataset Name", "type": "string", "order": 10, "description": "Schema for the connector's stages and per-run load tables. Defaults to airbyte_internal."},
            "jdbc_url_params": {"title": "JDBC URL Params", "type": "string", "order": 11, "description": "Accepted for compatibility; unused."},
            "retention_period_days": {"title": "Data Retention Period (days)", "type": "integer", "minimum": 0, "default": 1, "order": 12,
                "description": "Snowflake Time Travel days for the tables this connector creates."},
            "use_merge_for_upsert": {"title": "Use MERGE for De-duplication", "type": "boolean", "default": false, "order": 13,
                "description": "Accepted for compatibility; dedup always uses MERGE."},
            "batch_size_mb": {"title": "Batch size (MB)", "type": "integer", "minimum": 1, "maximum": 1024, "default": 64, "order": 14,
                "description": "Buffered input per stream that triggers a stage + COPY."},
            "flush_interval_seconds": {"title": "Flush interval (seconds)", "type": "integer", "minimum": 1, "default": 300, "order": 15,
                "description": "Longest time a STATE waits for its records to be loaded."}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({"host":"abc123.us-east-2.aws.snowflakecomputing.com","role":"R","warehouse":"W","database":"D",
               "schema":"S","username":"u","credentials":{"auth_type":"USERNAME_PASSWORD","password":"hunter2pw"}})
    }

    #[test]
    fn host_gives_account_and_url() {
        let c = SnowflakeConfig::from_value(&base()).unwrap();
        let e = c.endpoint().unwrap();
        assert_eq!(e.account, "ABC123");
        assert_eq!(e.host, "abc123.us-east-2.aws.snowflakecomputing.com");
        assert!(!e.is_emulator());
        let e = parse_host("https://MyOrg-Acct.snowflakecomputing.com/").unwrap();
        assert_eq!((e.account.as_str(), e.scheme.as_str()), ("MYORG-ACCT", "https"));
        let e = parse_host("http://127.0.0.1:8080").unwrap();
        assert!(e.is_emulator());
        assert_eq!(e.port, Some(8080));
        assert!(parse_host("http://example.com").is_err());
        assert!(parse_host("example.com").is_err());
    }

    #[test]
    fn credentials_in_all_airbyte_spellings() {
        let c = SnowflakeConfig::from_value(&base()).unwrap();
        assert!(matches!(c.auth().unwrap(), Auth::Password(p) if p == "hunter2pw"));
        let mut v = base();
        v["credentials"] =
            json!({"auth_type":"Key Pair Authentication","private_key":"PEM","private_key_password":"x"});
        let c = SnowflakeConfig::from_value(&v).unwrap();
        assert!(matches!(c.auth().unwrap(), Auth::KeyPair { passphrase: Some(_), .. }));
        let mut v = base();
        v.as_object_mut().unwrap().remove("credentials");
        v["password"] = json!("legacy");
        assert!(matches!(SnowflakeConfig::from_value(&v).unwrap().auth().unwrap(), Auth::Password(_)));
        v.as_object_mut().unwrap().remove("password");
        let e = SnowflakeConfig::from_value(&v).unwrap_err();
        assert!(e.is_config() && e.message.contains("credentials"), "{}", e.message);
    }

    #[test]
    fn debug_hides_secrets_and_loading_method_parses() {
        let mut v = base();
        v["loading_method"] = json!({"method":"S3 Staging","s3_bucket_name":"bkt","access_key_id":"AKIAXX",
                                      "secret_access_key":"topsecretkey"});
        let c = SnowflakeConfig::from_value(&v).unwrap();
        let dbg = format!("{c:?} {:?}", c.auth().unwrap());
        assert!(!dbg.contains("hunter2pw") && !dbg.contains("topsecretkey") && !dbg.contains("AKIAXX"), "{dbg}");
        assert!(matches!(c.loading_method, LoadingMethod::S3(ref s) if s.purge_staging_data));
        let LoadingMethod::S3(s3) = &c.loading_method else { unreachable!() };
        assert_eq!(s3.connection.access_key(), Some(("AKIAXX", "topsecretkey")));
        let schema_ok = airbyte_protocol::config::schema_problems(&connection_specification(), &v).unwrap();
        assert!(schema_ok.is_empty(), "{schema_ok:?}");
        v["loading_method"]["secret_access_key"] = Value::Null;
        let e = SnowflakeConfig::from_value(&v).unwrap_err();
        assert!(e.is_config() && e.message.contains("loading_method.secret_access_key"), "{}", e.message);
    }

    #[test]
    fn legacy_raw_tables_are_refused() {
        let mut v = base();
        v["disable_type_dedupe"] = json!(true);
        assert!(SnowflakeConfig::from_value(&v).unwrap_err().message.contains("disable_type_dedupe"));
    }
}
