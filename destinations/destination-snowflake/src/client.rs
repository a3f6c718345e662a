//! The [`SnowflakeClient`] trait the loader talks to, and its implementation on the snowflake-api crate.
//!
//! The crate is wrapped with three reqwest middlewares:
//! - [`HostRewrite`]: the crate always calls `https://{account}.snowflakecomputing.com`; we send the request to
//!   the configured host (regional or PrivateLink hosts, or a loopback emulator) while the login and the
//!   key-pair JWT keep using the bare account name.
//! - [`PutCapture`]: a PUT's answer (where and how to upload) is taken from the crate, which would upload
//!   unencrypted to AWS only; [`crate::stage`] uploads the file instead.
//! - [`EmulatorPatch`] (only for a plain-http loopback host): fills fields the fakesnow emulator leaves out of
//!   its login and query answers, so the crate can parse them.

use crate::config::{Auth, Endpoint, SnowflakeConfig};
use crate::sql::{self, TableRef};
use airbyte_protocol::{ConnectorError, Result};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use serde_json::{json, Value};
use snowflake_api::{AuthArgs, AuthType, CertificateArgs, PasswordArgs, QueryResult, SnowflakeApi, SnowflakeApiError};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Rows of a small result, every value as text (NULL as `None`).
pub type Rows = Vec<Vec<Option<String>>>;

/// What the loader needs from Snowflake. One statement per call (the API runs one at a time).
#[async_trait]
pub trait SnowflakeClient: Send + Sync {
    /// Run one statement; the rows of its result as text.
    async fn query(&self, sql: &str) -> Result<Rows>;
    /// Upload a local file into a named internal stage (PUT), keeping its file name.
    async fn put_file(&self, local: &Path, stage: &TableRef) -> Result<()>;
}

/// The production client on the snowflake-api crate.
pub struct ApiClient {
    api: SnowflakeApi,
    captured: Captures,
    uploads: reqwest::Client,
    emulator: bool,
}

type Captures = Arc<Mutex<HashMap<String, Value>>>;

impl ApiClient {
    /// Build a client for the config (no request is sent until the first query logs in).
    pub fn connect(config: &SnowflakeConfig) -> Result<Self> {
        let endpoint = config.endpoint()?;
        let auth_type = match config.auth()? {
            Auth::Password(password) => AuthType::Password(PasswordArgs { password }),
            Auth::KeyPair { pem, passphrase } => {
                let private_key_pem = unencrypted_pkcs8_pem(&pem, passphrase.as_deref())?;
                airbyte_protocol::redact::add(&private_key_pem);
                AuthType::Certificate(CertificateArgs { private_key_pem })
            }
        };
        let auth = AuthArgs {
            account_identifier: endpoint.account.clone(),
            warehouse: Some(config.warehouse.clone()),
            database: Some(config.database.clone()),
            schema: Some(sql::snowflake_name(&config.schema)),
            username: config.username.clone(),
            role: Some(config.role.clone()).filter(|r| !r.is_empty()),
            auth_type,
        };
        let captured: Captures = Arc::default();
        let mut builder = snowflake_api::connection::Connection::default_client_builder()
            .map_err(|e| ConnectorError::system(format!("cannot build the HTTP client: {e}")))?
            .with(HostRewrite::new(&endpoint))
            .with(PutCapture { captured: captured.clone() });
        if endpoint.is_emulator() {
            builder = builder.with(EmulatorPatch);
        }
        let api = snowflake_api::SnowflakeApiBuilder::new(auth)
            .with_client(builder.build())
            .build()
            .map_err(|e| map_error(e, "connect"))?;
        let uploads = reqwest::Client::builder()
            .build()
            .map_err(|e| ConnectorError::system(format!("cannot build the HTTP client: {e}")))?;
        Ok(ApiClient { api, captured, uploads, emulator: endpoint.is_emulator() })
    }
}

#[async_trait]
impl SnowflakeClient for ApiClient {
    async fn query(&self, sql: &str) -> Result<Rows> {
        tracing::debug!(sql = %first_line(sql), "snowflake");
        let result = self.api.exec(sql).await.map_err(|e| map_error(e, sql))?;
        rows_of(result)
    }

    async fn put_file(&self, local: &Path, stage: &TableRef) -> Result<()> {
        let local_str = local
            .to_str()
            .ok_or_else(|| ConnectorError::system(format!("staging path {} is not UTF-8", local.display())))?;
        let statement = sql::put(local_str, stage);
        self.api.exec(&statement).await.map_err(|e| map_error(e, &statement))?;
        let answer = self.captured.lock().unwrap_or_else(|e| e.into_inner()).remove(&statement).ok_or_else(|| {
            ConnectorError::system(format!("PUT to stage {stage}: Snowflake's answer did not reach the uploader"))
        })?;
        crate::stage::upload_internal(&answer, local, &self.uploads, self.emulator)
            .await
            .map_err(|e| e.context(format!("PUT to stage {stage}")))
    }
}

fn first_line(sql: &str) -> &str {
    let sql = sql.trim_start();
    let end = sql.char_indices().nth(200).map(|(i, _)| i).unwrap_or(sql.len());
    sql[..end].lines().next().unwrap_or_default()
}

/// Arrow or JSON results as text rows.
fn rows_of(result: QueryResult) -> Result<Rows> {
    match result {
        QueryResult::Empty => Ok(Vec::new()),
        QueryResult::Json(json) => Ok(json
            .value
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|row| {
                        row.as_array()
                            .map(|cells| {
                                cells
                                    .iter()
                                    .map(|c| match c {
                                        Value::Null => None,
                                        Value::String(s) => Some(s.clone()),
                                        other => Some(other.to_string()),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default()),
        QueryResult::Arrow(batches) => {
            let mut rows = Vec::new();
            let options = FormatOptions::default();
            for batch in batches {
                let formatters: Vec<ArrayFormatter<'_>> = batch
                    .columns()
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| ConnectorError::system(format!("cannot read a Snowflake result: {e}")))?;
                for i in 0..batch.num_rows() {
                    rows.push(
                        batch
                            .columns()
                            .iter()
                            .zip(&formatters)
                            .map(|(c, f)| if c.is_null(i) { None } else { Some(f.value(i).to_string()) })
                            .collect(),
                    );
                }
            }
            Ok(rows)
        }
    }
}

/// Snowflake error codes that mean the user must change something (credentials, grants, names).
const CONFIG_ERROR_CODES: &[&str] = &[
    "390100", // incorrect username or password
    "390101", // user disabled
    "390102", // user locked
    "390144", // JWT invalid (wrong key or fingerprint)
    "390189", // role not granted
    "390190", // warehouse / database not accessible
    "390201", // database does not exist or not authorised
    "002003", // object does not exist or not authorised
    "003001", // insufficient privileges
    "002043", // object does not exist or operation cannot be performed
    "000606", // no active warehouse
    "090105", // no current database
    "090106", // no current schema
];

/// Map a crate error to the right failure type; `sql` names the statement (secrets are masked on output).
pub fn map_error(e: SnowflakeApiError, sql: &str) -> ConnectorError {
    use snowflake_api::connection::ConnectionError;
    let what = first_line(sql);
    match e {
        SnowflakeApiError::AuthError(auth) => {
            let text = auth.to_string();
            if text.contains("error sending request") || text.contains("connect") && text.contains("tcp") {
                ConnectorError::transient(format!("cannot reach Snowflake to log in: {text}"))
            } else {
                ConnectorError::config(format!(
                    "Snowflake login failed ({text}); check host, username, role, warehouse, database and the \
                     password or key pair"
                ))
            }
        }
        SnowflakeApiError::ApiError(code, message) => {
            let msg = format!("Snowflake error {code}: {message} (statement: {what})");
            if CONFIG_ERROR_CODES.contains(&code.as_str()) {
                ConnectorError::config(msg)
            } else {
                ConnectorError::system(msg)
            }
        }
        SnowflakeApiError::RequestError(ConnectionError::Deserialization(err)) => {
            ConnectorError::system(format!("unexpected answer from Snowflake ({err}) to statement: {what}"))
        }
        SnowflakeApiError::RequestError(err) => {
            ConnectorError::transient(format!("request to Snowflake failed: {err} (statement: {what})"))
        }
        other => ConnectorError::system(format!("Snowflake client error: {other} (statement: {what})")),
    }
}

/// The key as unencrypted PKCS#8 PEM (what the crate's JWT signer reads), decrypting it with the passphrase
/// when it is an `ENCRYPTED PRIVATE KEY` (PBES2 with AES or 3DES, as OpenSSL writes them).
pub fn unencrypted_pkcs8_pem(pem: &str, passphrase: Option<&str>) -> Result<String> {
    use pkcs8::der::pem::LineEnding;
    use pkcs8::der::{Decode, Document};
    // Pasted keys sometimes arrive with literal `\n` or with `\r\n`.
    let pem = pem.replace("\\n", "\n").replace("\r\n", "\n");
    let pem = pem.trim();
    let bad = |why: String| ConnectorError::config(format!("credentials.private_key: {why}"));
    if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
        return Err(bad("this is a PKCS#1 key; Snowflake key-pair auth needs PKCS#8: convert it with \
             `openssl pkcs8 -topk8 -inform PEM -in rsa_key.pem -out rsa_key.p8`"
            .into()));
    }
    let (label, doc) = Document::from_pem(pem).map_err(|e| {
        bad(format!("not a PEM private key ({e}); paste the whole file including the -----BEGIN/END----- lines"))
    })?;
    match label {
        "PRIVATE KEY" => {
            pkcs8::PrivateKeyInfo::from_der(doc.as_bytes()).map_err(|e| bad(format!("not a valid PKCS#8 key: {e}")))?;
            Ok(format!("{pem}\n"))
        }
        "ENCRYPTED PRIVATE KEY" => {
            let passphrase = passphrase.filter(|p| !p.is_empty()).ok_or_else(|| {
                bad("the key is encrypted; set credentials.private_key_password to its passphrase".into())
            })?;
            let info = pkcs8::EncryptedPrivateKeyInfo::from_der(doc.as_bytes())
                .map_err(|e| bad(format!("not a valid encrypted PKCS#8 key: {e}")))?;
            let secret = info.decrypt(passphrase).map_err(|_| {
                bad("cannot decrypt the key: wrong passphrase or an unsupported cipher (PBES2 with AES or 3DES)".into())
            })?;
            let pem = secret
                .to_pem("PRIVATE KEY", LineEnding::LF)
                .map_err(|e| ConnectorError::system(format!("cannot re-encode the decrypted key: {e}")))?;
            Ok(pem.to_string())
        }
        other => Err(bad(format!("expected a PRIVATE KEY or ENCRYPTED PRIVATE KEY block, found {other:?}"))),
    }
}

// ---- middlewares -------------------------------------------------------------------------------------------

/// Sends the crate's `https://{account}.snowflakecomputing.com` requests to the configured host.
struct HostRewrite {
    crate_host: String,
    endpoint: Endpoint,
}

impl HostRewrite {
    fn new(endpoint: &Endpoint) -> Self {
        HostRewrite {
            crate_host: format!("{}.snowflakecomputing.com", endpoint.account.to_ascii_lowercase()),
            endpoint: endpoint.clone(),
        }
    }
}

#[async_trait]
impl reqwest_middleware::Middleware for HostRewrite {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let ours = req.url().host_str().is_some_and(|h| h.eq_ignore_ascii_case(&self.crate_host));
        if ours {
            let url = req.url_mut();
            let rewritten = url
                .set_scheme(&self.endpoint.scheme)
                .and_then(|_| url.set_host(Some(&self.endpoint.host)).map_err(|_| ()))
                .and_then(|_| url.set_port(self.endpoint.port));
            if rewritten.is_err() {
                return Err(reqwest_middleware::Error::middleware(std::io::Error::other(
                    "cannot point the request at the configured host",
                )));
            }
        }
        next.run(req, extensions).await
    }
}

/// Takes the answers of our PUT statements out of the crate's hands (see [`sql::put`]).
struct PutCapture {
    captured: Captures,
}

/// The SQL text of a query request, when its body is JSON we can read.
fn sql_text(req: &reqwest::Request) -> Option<String> {
    if !req.url().path().ends_with("/queries/v1/query-request") {
        return None;
    }
    let body = req.body()?.as_bytes()?;
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("sqlText")?.as_str().map(str::to_string)
}

/// Rebuild a response with a new JSON body (the original body has been read).
fn json_response(status: reqwest::StatusCode, body: &Value) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let resp = http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(bytes)
        .unwrap_or_else(|_| http::Response::new(Vec::new()));
    reqwest::Response::from(resp)
}

#[async_trait]
impl reqwest_middleware::Middleware for PutCapture {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let Some(sql) = sql_text(&req).filter(|s| s.starts_with("\nPUT ")) else {
            return next.run(req, extensions).await;
        };
        let resp = next.run(req, extensions).await?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(reqwest_middleware::Error::Reqwest)?;
        if body.get("success").and_then(Value::as_bool) != Some(true) {
            // An error answer goes back to the crate, which reports it.
            return Ok(json_response(status, &body));
        }
        self.captured.lock().unwrap_or_else(|e| e.into_inner()).insert(sql, body);
        // What the crate sees: a successful statement without rows.
        let empty = json!({"success": true, "data": {"parameters": [], "rowtype": [], "rowset": [], "total": 0,
            "returned": 0, "queryId": "", "finalRoleName": "", "statementTypeId": 0, "version": 1}});
        Ok(json_response(status, &empty))
    }
}

/// Adds what fakesnow's answers lack and the crate requires (only used with a loopback emulator).
struct EmulatorPatch;

fn fill(obj: &mut serde_json::Map<String, Value>, key: &str, value: Value) {
    if obj.get(key).is_none_or(Value::is_null) {
        obj.insert(key.to_string(), value);
    }
}

#[async_trait]
impl reqwest_middleware::Middleware for EmulatorPatch {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let path = req.url().path().to_string();
        let login = path.ends_with("/session/v1/login-request");
        let query = path.ends_with("/queries/v1/query-request");
        let resp = next.run(req, extensions).await?;
        if !(login || query) {
            return Ok(resp);
        }
        let status = resp.status();
        let mut body: Value = resp.json().await.map_err(reqwest_middleware::Error::Reqwest)?;
        let success = body.get("success").and_then(Value::as_bool) == Some(true);
        let code = body.get("code").cloned().unwrap_or(json!("000000"));
        if let Some(data) = body.get_mut("data").and_then(Value::as_object_mut) {
            if login {
                fill(data, "sessionId", json!(1));
                fill(data, "masterToken", data.get("token").cloned().unwrap_or(json!("")));
                fill(data, "validityInSeconds", json!(3600));
                fill(data, "masterValidityInSeconds", json!(14400));
                fill(data, "serverVersion", json!("emulator"));
                if let Some(info) = data.get_mut("sessionInfo").and_then(Value::as_object_mut) {
                    fill(info, "roleName", json!("EMULATOR"));
                }
            } else if success {
                fill(data, "parameters", json!([]));
                fill(data, "rowtype", json!([]));
                fill(data, "total", json!(0));
                let returned = data
                    .get("rowset")
                    .and_then(Value::as_array)
                    .map(|r| r.len())
                    .or_else(|| data.get("total").and_then(Value::as_u64).map(|t| t as usize))
                    .unwrap_or(0);
                fill(data, "returned", json!(returned));
                fill(data, "queryId", json!(""));
                fill(data, "finalRoleName", json!("EMULATOR"));
                fill(data, "statementTypeId", json!(0));
                fill(data, "version", json!(1));
            } else {
                // Error answers: the crate wants these fields to recognise the error variant.
                fill(data, "age", json!(0));
                fill(data, "internalError", json!(false));
                fill(data, "queryId", json!(""));
                fill(data, "sqlState", json!(""));
                fill(data, "errorCode", code);
            }
        } else if query && !success {
            body["data"] = json!({"age": 0, "errorCode": code, "internalError": true, "queryId": "", "sqlState": ""});
        }
        Ok(json_response(status, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = include_str!("../tests/data/rsa_key.p8");
    const AES: &str = include_str!("../tests/data/rsa_key_aes.p8");
    const DES3: &str = include_str!("../tests/data/rsa_key_des3.p8");

    #[test]
    fn encrypted_keys_decrypt_to_the_plain_key() {
        assert_eq!(unencrypted_pkcs8_pem(PLAIN, None).unwrap().trim(), PLAIN.trim());
        for encrypted in [AES, DES3] {
            let pem = unencrypted_pkcs8_pem(encrypted, Some("test-passphrase")).unwrap();
            assert_eq!(pem.trim(), PLAIN.trim());
            let e = unencrypted_pkcs8_pem(encrypted, Some("wrong")).unwrap_err();
            assert!(e.is_config() && e.message.contains("wrong passphrase"), "{}", e.message);
            let e = unencrypted_pkcs8_pem(encrypted, None).unwrap_err();
            assert!(e.message.contains("private_key_password"), "{}", e.message);
        }
        // Keys pasted with literal \n sequences still work.
        let escaped = AES.replace('\n', "\\n");
        assert!(unencrypted_pkcs8_pem(&escaped, Some("test-passphrase")).is_ok());
    }

    #[test]
    fn unencrypted_keys_pass_and_pkcs1_is_refused_with_advice() {
        let e = unencrypted_pkcs8_pem("not a key", None).unwrap_err();
        assert!(e.is_config() && e.message.contains("PEM"), "{}", e.message);
        let pkcs1 = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK=\n-----END RSA PRIVATE KEY-----";
        let e = unencrypted_pkcs8_pem(pkcs1, None).unwrap_err();
        assert!(e.message.contains("openssl pkcs8 -topk8"), "{}", e.message);
    }

    #[test]
    fn first_line_is_short() {
        assert_eq!(first_line("\nPUT 'x' @s\nmore"), "PUT 'x' @s");
        assert_eq!(first_line(&"x".repeat(500)).len(), 200);
    }
}
