//! Getting a staged Parquet file to where COPY can read it.
//!
//! - Internal stage: Snowflake's answer to PUT says where to upload. Our stages are created with
//!   `ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE')`, so the answer carries no client-side encryption material and the
//!   file is uploaded as is: to S3 with the temporary credentials (AWS-hosted accounts), to a presigned URL or
//!   with the access token (GCP-hosted accounts), or copied into the stage directory for a `LOCAL_FS` answer
//!   (local emulators only). Azure-hosted accounts and client-side-encrypted stages are refused with advice.
//! - External S3 stage: the file is written to the user's bucket with object_store.
//!
//! Files are read in chunks for the digest and the uploads to S3 (one PUT when the file fits one part, else a
//! multipart upload of [`UPLOAD_PART_BYTES`] parts) and GCS (a streamed request body), so memory does not grow
//! with `batch_size_mb`.

use crate::config::S3Staging;
use airbyte_protocol::{ConnectorError, Result, ResultExt};
use base64::Engine;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, ObjectStore};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Part size of multipart uploads (S3's minimum is 5 MB); a smaller file goes in one PUT.
pub const UPLOAD_PART_BYTES: usize = 8 << 20;
/// Parts uploaded at once: with the part being filled, at most 5 parts (40 MB) of a file are in memory.
const UPLOAD_PARTS_IN_FLIGHT: usize = 4;
/// Bytes read from a staged file at a time.
const READ_CHUNK_BYTES: usize = 1 << 20;

/// The next chunk of a file (empty at its end).
async fn read_chunk(file: &mut tokio::fs::File) -> std::io::Result<Vec<u8>> {
    let mut chunk = Vec::with_capacity(READ_CHUNK_BYTES);
    file.take(READ_CHUNK_BYTES as u64).read_to_end(&mut chunk).await?;
    Ok(chunk)
}

/// Base64 SHA-256 of the file, the `sfc-digest` metadata Snowflake's drivers attach to staged files; read in
/// chunks.
pub async fn sfc_digest(local: &Path) -> Result<String> {
    let context = || format!("reading staging file {}", local.display());
    let mut file = tokio::fs::File::open(local).await.system_context(context())?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let read = file.read(&mut chunk).await.system_context(context())?;
        if read == 0 {
            break;
        }
        hasher.update(&chunk[..read]);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
}

/// Stream `local` into `writer`; `target` names the destination in errors (a failed upload is transient).
async fn put_file_streamed(mut writer: BufWriter, local: &Path, target: &str) -> Result<()> {
    let context = || format!("reading staging file {}", local.display());
    let upload_error = |e: &dyn std::fmt::Display| ConnectorError::transient(format!("uploading to {target}: {e}"));
    let mut file = tokio::fs::File::open(local).await.system_context(context())?;
    let written = async {
        loop {
            let chunk = read_chunk(&mut file).await.system_context(context())?;
            if chunk.is_empty() {
                return Ok(());
            }
            writer.put(chunk.into()).await.map_err(|e| upload_error(&e))?;
        }
    }
    .await;
    if let Err(e) = written {
        // Before shutdown an abort removes the parts of a started multipart upload (after it, it would panic).
        let _ = writer.abort().await;
        return Err(e);
    }
    writer.shutdown().await.map_err(|e| upload_error(&e))
}

fn upload_writer(store: Arc<dyn ObjectStore>, path: ObjectPath) -> BufWriter {
    BufWriter::with_capacity(store, path, UPLOAD_PART_BYTES).with_max_concurrency(UPLOAD_PARTS_IN_FLIGHT)
}

fn file_name(local: &Path) -> Result<String> {
    local
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| ConnectorError::system(format!("staging file {} has no name", local.display())))
}

/// Whether the PUT answer asks for client-side encryption (a stage without `SNOWFLAKE_SSE`).
fn wants_client_encryption(data: &Value) -> bool {
    match data.get("encryptionMaterial") {
        None | Some(Value::Null) => false,
        Some(Value::Array(items)) => items.iter().any(|m| !m.is_null()),
        Some(Value::Object(m)) => m.get("queryStageMasterKey").is_some_and(|k| !k.is_null()),
        Some(_) => true,
    }
}

/// Upload `local` as Snowflake's PUT answer (`{"data": {"stageInfo": ...}}`) directs.
pub async fn upload_internal(answer: &Value, local: &Path, http: &reqwest::Client, emulator: bool) -> Result<()> {
    let data = answer.get("data").unwrap_or(answer);
    let info =
        data.get("stageInfo").ok_or_else(|| ConnectorError::system("Snowflake's PUT answer has no stageInfo"))?;
    let location_type = info.get("locationType").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
    let location = info.get("location").and_then(Value::as_str).unwrap_or_default();
    let name = file_name(local)?;
    if wants_client_encryption(data) {
        return Err(ConnectorError::config(
            "the stage uses client-side encryption, which this connector does not implement; it creates its \
             stages with ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE'): drop the existing AIRBYTE_STAGE_* stage so it is \
             recreated, or use the S3 staging loading method",
        ));
    }
    match location_type.as_str() {
        "S3" => upload_s3(info, location, &name, local).await,
        "GCS" => upload_gcs(info, location, &name, local, http).await,
        "LOCAL_FS" if emulator => {
            // What Snowflake's drivers do for a local stage: the "upload" is a copy into its directory.
            let dir = Path::new(location);
            tokio::fs::create_dir_all(dir).await.system_context(format!("creating stage directory {location}"))?;
            tokio::fs::copy(local, dir.join(&name)).await.system_context(format!("copying into {location}"))?;
            Ok(())
        }
        "LOCAL_FS" => Err(ConnectorError::system("Snowflake answered PUT with a local stage directory; refused")),
        "AZURE" => Err(ConnectorError::config(
            "internal stages of Azure-hosted Snowflake accounts are not supported; use the S3 staging loading \
             method",
        )),
        other => Err(ConnectorError::system(format!("unknown stage location type {other:?} in the PUT answer"))),
    }
}

async fn upload_s3(info: &Value, location: &str, name: &str, local: &Path) -> Result<()> {
    let digest = sfc_digest(local).await?;
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    let creds = info.get("creds").cloned().unwrap_or(Value::Null);
    let cred = |k: &str| creds.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(info.get("region").and_then(Value::as_str).unwrap_or("us-east-1"))
        .with_access_key_id(cred("AWS_KEY_ID"))
        .with_secret_access_key(cred("AWS_SECRET_KEY"))
        .with_token(cred("AWS_TOKEN"));
    if let Some(end_point) = info.get("endPoint").and_then(Value::as_str).filter(|e| !e.is_empty()) {
        // Snowflake sends a bare host name (FIPS endpoints); a full URL is taken as is (S3-compatible tests).
        let url = if end_point.contains("://") { end_point.to_string() } else { format!("https://{end_point}") };
        builder = builder
            .with_allow_http(url.starts_with("http://"))
            .with_endpoint(url)
            .with_virtual_hosted_style_request(false);
    }
    let store = builder.build().map_err(|e| ConnectorError::system(format!("stage S3 client: {e}")))?;
    let path = ObjectPath::from(format!("{prefix}{name}"));
    let attributes = Attributes::from_iter([(Attribute::Metadata("sfc-digest".into()), digest)]);
    let writer = upload_writer(Arc::new(store), path).with_attributes(attributes);
    put_file_streamed(writer, local, "the stage's S3 location").await
}

async fn upload_gcs(info: &Value, location: &str, name: &str, local: &Path, http: &reqwest::Client) -> Result<()> {
    let digest = sfc_digest(local).await?;
    let context = || format!("reading staging file {}", local.display());
    let file = tokio::fs::File::open(local).await.system_context(context())?;
    let length = file.metadata().await.system_context(context())?.len();
    // A body read in chunks as it is sent (reqwest's `stream` feature comes with object_store's `aws`).
    let chunks = futures::stream::try_unfold(file, |mut file| async move {
        let chunk = read_chunk(&mut file).await?;
        Ok::<_, std::io::Error>((!chunk.is_empty()).then(|| (bytes::Bytes::from(chunk), file)))
    });
    let presigned = info.get("presignedUrl").and_then(Value::as_str).filter(|u| !u.is_empty());
    let request = match presigned {
        Some(url) => http.put(url),
        None => {
            let token = info
                .pointer("/creds/GCS_ACCESS_TOKEN")
                .and_then(Value::as_str)
                .ok_or_else(|| ConnectorError::system("GCS stage answer has neither a presigned URL nor a token"))?;
            let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
            let object = format!("{prefix}{name}");
            let url = reqwest::Url::parse_with_params(
                &format!("https://storage.googleapis.com/upload/storage/v1/b/{bucket}/o"),
                &[("uploadType", "media"), ("name", object.as_str())],
            )
            .map_err(|e| ConnectorError::system(format!("GCS upload URL: {e}")))?;
            http.post(url).bearer_auth(token)
        }
    };
    let resp = request
        .header("x-goog-meta-sfc-digest", &digest)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .header(reqwest::header::CONTENT_LENGTH, length)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .map_err(|e| ConnectorError::transient(format!("uploading to the stage's GCS location: {e}")))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let failure = if status.is_server_error() || status.as_u16() == 429 {
            ConnectorError::transient
        } else {
            ConnectorError::system
        };
        return Err(failure(format!("uploading to the stage's GCS location: HTTP {status}")));
    }
    Ok(())
}

/// The user's S3 bucket used as an external stage.
pub struct S3Stage {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
    pub settings: S3Staging,
}

impl S3Stage {
    pub fn new(settings: &S3Staging) -> Result<Self> {
        let store = settings
            .connection
            .store_builder(&settings.s3_bucket_name, "loading_method.")?
            .build()
            .config_context("loading_method: S3 staging settings")?;
        let prefix = settings.s3_bucket_path.as_deref().unwrap_or("").trim_matches('/').to_string();
        Ok(S3Stage {
            store: Arc::new(store),
            bucket: settings.s3_bucket_name.clone(),
            prefix,
            settings: settings.clone(),
        })
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// Write the file; returns its `s3://` URL for COPY.
    pub async fn upload(&self, local: &Path) -> Result<String> {
        let name = file_name(local)?;
        let key = self.key(&name);
        let url = format!("s3://{}/{key}", self.bucket);
        put_file_streamed(upload_writer(self.store.clone(), ObjectPath::from(key)), local, &url).await?;
        Ok(url)
    }

    /// Remove a staged file (after a COPY that could not purge it, e.g. on failure).
    pub async fn remove(&self, url: &str) -> Result<()> {
        let key = url.strip_prefix(&format!("s3://{}/", self.bucket)).unwrap_or(url);
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(ConnectorError::transient(format!("deleting {url}: {e}"))),
        }
    }

    /// Whether an object exists (check and tests).
    pub async fn exists(&self, url: &str) -> Result<bool> {
        let key = url.strip_prefix(&format!("s3://{}/", self.bucket)).unwrap_or(url);
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(ConnectorError::transient(format!("checking {url}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encryption_material_is_detected() {
        assert!(!wants_client_encryption(&json!({"encryptionMaterial": null})));
        assert!(!wants_client_encryption(&json!({})));
        assert!(!wants_client_encryption(&json!({"encryptionMaterial": [null]})));
        assert!(wants_client_encryption(
            &json!({"encryptionMaterial": {"queryStageMasterKey": "k", "queryId": "q", "smkId": 1}})
        ));
    }

    #[tokio::test]
    async fn digest_read_in_chunks_is_the_digest_of_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.parquet");
        let bytes: Vec<u8> = (0..3 * READ_CHUNK_BYTES + 7).map(|i| (i * 7 % 256) as u8).collect();
        std::fs::write(&file, &bytes).unwrap();
        let whole = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
        assert_eq!(sfc_digest(&file).await.unwrap(), whole);
        std::fs::write(&file, b"").unwrap();
        assert_eq!(sfc_digest(&file).await.unwrap(), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    #[tokio::test]
    async fn local_fs_is_only_for_emulators_and_azure_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.parquet");
        std::fs::write(&file, b"PAR1").unwrap();
        let target = dir.path().join("stage");
        let answer = json!({"data": {"stageInfo": {"locationType": "LOCAL_FS", "location": target.to_str().unwrap()}}});
        let http = reqwest::Client::new();
        assert!(upload_internal(&answer, &file, &http, false).await.is_err());
        upload_internal(&answer, &file, &http, true).await.unwrap();
        assert_eq!(std::fs::read(target.join("f.parquet")).unwrap(), b"PAR1");
        let azure = json!({"data": {"stageInfo": {"locationType": "AZURE", "location": "c/p/"}}});
        let e = upload_internal(&azure, &file, &http, false).await.unwrap_err();
        assert!(e.is_config() && e.message.contains("S3 staging"), "{}", e.message);
        let enc = json!({"data": {"stageInfo": {"locationType": "S3", "location": "b/p/"},
            "encryptionMaterial": {"queryStageMasterKey": "k"}}});
        assert!(upload_internal(&enc, &file, &http, false).await.unwrap_err().message.contains("SNOWFLAKE_SSE"));
    }
}
