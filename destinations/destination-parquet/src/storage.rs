//! Where committed files live: a local directory or an S3 bucket, both through `object_store` for listing,
//! reading and deleting. Files are written to a staging file first and become visible under their final key
//! only when complete: by `rename` on local disk, by a single PUT or a completed multipart upload on S3.

use crate::config::{ParquetConfig, StorageTarget};
use airbyte_protocol::{ConnectorError, Result};
use destination_core::page_spill::PageSpill;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, AttributeValue, Attributes, BackoffConfig, ObjectStore, PutMultipartOptions, PutOptions, PutPayload,
    RetryConfig, WriteMultipart,
};
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Staging directory name under a local root; starts with `.` so dataset readers skip it.
pub const LOCAL_STAGING_DIR: &str = ".airbyte_tmp";
/// Whole-upload attempts on top of `object_store`'s per-request retries.
const UPLOAD_ATTEMPTS: u32 = 3;

pub struct Storage {
    store: Arc<dyn ObjectStore>,
    kind: Kind,
    staging: PathBuf,
}

enum Kind {
    Local { root: PathBuf },
    S3 { bucket: String, part_size: usize },
}

impl Storage {
    pub fn new(config: &ParquetConfig) -> Result<Self> {
        match config.target() {
            StorageTarget::Local { root } => {
                std::fs::create_dir_all(&root).map_err(|e| {
                    ConnectorError::config(format!("cannot create destination_path {}: {e}", root.display()))
                })?;
                let store = LocalFileSystem::new_with_prefix(&root).map_err(|e| {
                    ConnectorError::config(format!("destination_path {} is not usable: {e}", root.display()))
                })?;
                let staging = root.join(LOCAL_STAGING_DIR);
                Ok(Storage { store: Arc::new(store), kind: Kind::Local { root }, staging })
            }
            StorageTarget::S3 { bucket } => {
                let retry = RetryConfig {
                    backoff: BackoffConfig {
                        init_backoff: Duration::from_millis(100),
                        max_backoff: Duration::from_secs(5),
                        base: 2.0,
                    },
                    max_retries: 6,
                    retry_timeout: Duration::from_secs(120),
                };
                let builder = config.s3.store_builder(&bucket, "")?.with_retry(retry);
                let store = builder
                    .build()
                    .map_err(|e| ConnectorError::config(format!("invalid S3 settings for bucket {bucket}: {e}")))?;
                let staging = match config.staging_directory.as_deref().filter(|s| !s.is_empty()) {
                    Some(dir) => PathBuf::from(dir),
                    None => std::env::temp_dir().join("destination-parquet"),
                };
                Ok(Storage {
                    store: Arc::new(store),
                    kind: Kind::S3 { bucket, part_size: config.upload_part_size_bytes() },
                    staging,
                })
            }
        }
    }

    /// A fresh staging file path (its directory exists).
    fn staging_file(&self) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.staging).map_err(|e| {
            ConnectorError::config(format!("cannot create staging directory {}: {e}", self.staging.display()))
        })?;
        Ok(self.staging.join(format!("{}.tmp", uuid::Uuid::new_v4())))
    }

    /// Whether a commit uploads the staged file (S3) rather than renaming it on this disk.
    pub fn uploads(&self) -> bool {
        matches!(self.kind, Kind::S3 { .. })
    }

    /// A new staging file for a Parquet file to be committed here, and its path.
    pub fn create_staging_file(&self) -> Result<(PathBuf, StagingFile)> {
        let path = self.staging_file()?;
        let file = std::fs::File::create(&path)
            .map_err(|e| ConnectorError::system(format!("cannot create staging file {}: {e}", path.display())))?;
        // On S3 the staging file is read once for the upload and deleted: it need not reach the disk.
        let durable = !self.uploads();
        Ok((path, StagingFile::new(file, durable)))
    }

    /// Where a staged file's pages wait for their row group to close ([`PageSpill`]), beside it.
    pub fn create_page_spill(&self) -> Result<PageSpill> {
        PageSpill::create_in(&self.staging).map_err(|e| {
            ConnectorError::system(format!("cannot create a page spill file in {}: {e}", self.staging.display()))
        })
    }

    /// Remove staging files a killed earlier run left behind (older than an hour, so concurrent syncs into
    /// the same directory keep theirs).
    pub fn clean_stale_staging(&self) {
        let Ok(entries) = std::fs::read_dir(&self.staging) else { return };
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if old && entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    pub fn describe(&self, key: &str) -> String {
        match &self.kind {
            Kind::Local { root } => root.join(key).display().to_string(),
            Kind::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
        }
    }

    /// Make a complete staging file visible under `key`, then remove the staging file.
    pub async fn commit(&self, staged: &Path, key: &str, generation: i64) -> Result<()> {
        match &self.kind {
            Kind::Local { root } => {
                let target = root.join(key);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        ConnectorError::system(format!("cannot create directory {}: {e}", parent.display()))
                    })?;
                }
                std::fs::rename(staged, &target).map_err(|e| {
                    ConnectorError::system(format!("cannot move the finished file to {}: {e}", target.display()))
                })?;
                // Persist the directory entry too; a crash after the ack must not lose the file.
                if let Some(parent) = target.parent() {
                    if let Ok(dir) = std::fs::File::open(parent) {
                        let _ = dir.sync_all();
                    }
                }
                Ok(())
            }
            Kind::S3 { part_size, .. } => {
                let mut last = None;
                for attempt in 1..=UPLOAD_ATTEMPTS {
                    match self.upload(staged, key, *part_size, generation).await {
                        Ok(()) => {
                            let _ = std::fs::remove_file(staged);
                            return Ok(());
                        }
                        Err(e) if e.is_config() => return Err(e),
                        Err(e) => {
                            tracing::warn!(
                                "upload of {key} failed (attempt {attempt}/{UPLOAD_ATTEMPTS}): {}",
                                e.message
                            );
                            last = Some(e);
                            tokio::time::sleep(Duration::from_millis(500 * attempt as u64)).await;
                        }
                    }
                }
                Err(last.expect("at least one attempt"))
            }
        }
    }

    async fn upload(&self, staged: &Path, key: &str, part_size: usize, generation: i64) -> Result<()> {
        let path = ObjectPath::from(key);
        let mut file = std::fs::File::open(staged)
            .map_err(|e| ConnectorError::system(format!("cannot reopen staged file {}: {e}", staged.display())))?;
        let size = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
        let attributes = Attributes::from_iter([(
            Attribute::Metadata("ab-generation-id".into()),
            AttributeValue::from(generation.to_string()),
        )]);
        let read_err = |e: std::io::Error| ConnectorError::system(format!("cannot read staged file: {e}"));
        if size <= part_size {
            let mut bytes = Vec::with_capacity(size);
            file.read_to_end(&mut bytes).map_err(read_err)?;
            let opts = PutOptions { attributes, ..Default::default() };
            self.store
                .put_opts(&path, PutPayload::from(bytes), opts)
                .await
                .map_err(|e| self.error("upload", key, e))?;
            return Ok(());
        }
        let opts = PutMultipartOptions { attributes, ..Default::default() };
        let upload = self.store.put_multipart_opts(&path, opts).await.map_err(|e| self.error("upload", key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match file.read(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(read_err(e));
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = writer.wait_for_capacity(2).await {
                let _ = writer.abort().await;
                return Err(self.error("upload", key, e));
            }
            writer.write(&buf[..n]);
        }
        // `finish` aborts the upload itself when a part fails.
        writer.finish().await.map_err(|e| self.error("upload", key, e))?;
        Ok(())
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error("look up", key, e)),
        }
    }

    /// Keys under `prefix` (recursive).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix_path = if prefix.is_empty() { None } else { Some(ObjectPath::from(prefix.trim_end_matches('/'))) };
        let listed: Vec<_> = match self.store.list(prefix_path.as_ref()).try_collect().await {
            Ok(v) => v,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.error("list", prefix, e)),
        };
        Ok(listed.into_iter().map(|m| m.location.to_string()).collect())
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("delete", key, e)),
        }
    }

    /// The generation id recorded in a Parquet file's footer; `Ok(None)` when the file has none.
    pub async fn file_generation(&self, key: &str) -> Result<Option<i64>> {
        let reader = ParquetObjectReader::new(self.store.clone(), ObjectPath::from(key));
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| ConnectorError::system(format!("cannot read the Parquet footer of {key}: {e}")))?;
        let kv = builder.metadata().file_metadata().key_value_metadata();
        Ok(kv
            .into_iter()
            .flatten()
            .find(|kv| kv.key == destination_core::schema::GENERATION_METADATA_KEY)
            .and_then(|kv| kv.value.as_deref().and_then(|v| v.parse().ok())))
    }

    /// `check`: write, read back and delete a probe object under the configured prefix.
    pub async fn probe(&self, bucket_path: &str) -> Result<()> {
        let key = format!("{}_airbyte_connection_test_{}", prefix_of(bucket_path), uuid::Uuid::new_v4().simple());
        let path = ObjectPath::from(key.as_str());
        let body = b"airbyte destination-parquet connection check".to_vec();
        self.store.put(&path, PutPayload::from(body.clone())).await.map_err(|e| self.check_error("write", &key, e))?;
        let got = self.store.get(&path).await.map_err(|e| self.check_error("read back", &key, e))?;
        let bytes = got.bytes().await.map_err(|e| self.check_error("read back", &key, e))?;
        if bytes.as_ref() != body.as_slice() {
            return Err(ConnectorError::transient(format!("the probe object {key} read back different content")));
        }
        let listed = self.list(&prefix_of(bucket_path)).await?;
        if !listed.contains(&key) {
            return Err(ConnectorError::transient(format!("the probe object {key} does not appear in a listing")));
        }
        self.store.delete(&path).await.map_err(|e| self.check_error("delete", &key, e))?;
        Ok(())
    }

    fn check_error(&self, op: &str, key: &str, e: object_store::Error) -> ConnectorError {
        let mut err = self.error(op, key, e);
        if err.is_transient() && matches!(self.kind, Kind::S3 { .. }) {
            // In `check`, an unreachable endpoint is almost always a wrong s3_endpoint or region.
            err.message.push_str(" (check s3_endpoint, s3_bucket_region and network access)");
        }
        err
    }

    /// Map an object_store error: rejected credentials and missing buckets are config errors, the rest is
    /// transient (object_store has already retried 5xx, throttling and dropped connections).
    fn error(&self, op: &str, key: &str, e: object_store::Error) -> ConnectorError {
        let text = e.to_string();
        let target = self.describe(key);
        match rejection(&text) {
            Some(Rejection::NoBucket) => {
                return ConnectorError::config(format!("cannot {op} {target}: the bucket does not exist"))
                    .with_internal(text);
            }
            Some(Rejection::AccessDenied) => {
                return ConnectorError::config(format!(
                    "cannot {op} {target}: access denied (check access_key_id / secret_access_key and the bucket \
                     policy)"
                ))
                .with_internal(text);
            }
            None => {}
        }
        match &self.kind {
            Kind::Local { .. } => ConnectorError::system(format!("cannot {op} {target}: {text}")),
            Kind::S3 { .. } => ConnectorError::transient(format!("cannot {op} {target} after retries: {text}")),
        }
    }
}

#[derive(Debug, PartialEq)]
enum Rejection {
    NoBucket,
    AccessDenied,
}

/// What an object-store error's text says the store refused for good (retrying will not help). Words, not
/// bare status digits: "403" also turns up inside ports, request ids and byte counts.
fn rejection(error_text: &str) -> Option<Rejection> {
    let lower = error_text.to_ascii_lowercase();
    if lower.contains("nosuchbucket") || lower.contains("bucket does not exist") {
        return Some(Rejection::NoBucket);
    }
    ["forbidden", "accessdenied", "invalidaccesskeyid", "signaturedoesnotmatch"]
        .iter()
        .any(|m| lower.contains(m))
        .then_some(Rejection::AccessDenied)
}

/// `data` -> `data/`, empty stays empty (leading and repeated `/` removed).
pub fn prefix_of(bucket_path: &str) -> String {
    let parts: Vec<&str> = bucket_path.split('/').filter(|s| !s.is_empty()).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{}/", parts.join("/"))
    }
}

/// Growth of a staging file between two requests to start writing it to disk. At 2 MB rather than 8 MB, the
/// last file's sync waited 0.5 ms instead of 4-5 ms (1M records); the extra requests cost nothing measurable.
const WRITE_BACK_STEP_BYTES: u64 = 2 << 20;

/// Writes to a staging file are gathered up to this size. Row groups arrive in parquet's 8 KB pieces.
const STAGED_WRITE_BYTES: usize = 128 << 10;

/// A staging file being written. On local storage, where the committed file must be durable, its pages are
/// handed to the disk as it grows (without waiting for them), so the sync at commit waits for the last few
/// megabytes rather than for the whole file: that sync is the end of every sync's critical path.
///
/// Small writes are gathered in a buffer that grows with what is written, up to [`STAGED_WRITE_BYTES`]: a file is
/// only written when a row group closes, so most open files hold a few bytes, where fixed buffers (1 MB each, in
/// a `BufWriter`) held 131 MB at 1000 streams. Once grown, the buffer is kept until the file is finished: let go
/// after every write-out, it grew again from a few bytes for every 128 KB written.
pub struct StagingFile {
    file: std::fs::File,
    durable: bool,
    buffer: Vec<u8>,
    written: u64,
    handed_to_disk: u64,
}

impl StagingFile {
    fn new(file: std::fs::File, durable: bool) -> StagingFile {
        StagingFile { file, durable, buffer: Vec::new(), written: 0, handed_to_disk: 0 }
    }

    /// The file is complete: write out what is gathered and, on local storage, wait until it is on disk.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.write_out()?;
        if self.durable {
            self.file.sync_all()?;
        }
        Ok(())
    }

    /// Write the gathered bytes; the buffer keeps its room.
    fn write_out(&mut self) -> std::io::Result<()> {
        let buffer = std::mem::take(&mut self.buffer);
        let written = self.write_through(&buffer);
        self.buffer = buffer;
        self.buffer.clear();
        written
    }

    fn write_through(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        std::io::Write::write_all(&mut self.file, bytes)?;
        self.written += bytes.len() as u64;
        if self.durable && self.written - self.handed_to_disk >= WRITE_BACK_STEP_BYTES {
            self.start_write_back();
        }
        Ok(())
    }

    fn start_write_back(&mut self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (from, len) = (self.handed_to_disk, self.written - self.handed_to_disk);
            // SAFETY: the descriptor is this open file's; SYNC_FILE_RANGE_WRITE only starts writing back
            // dirty pages of the range. A failure is not an error here: the sync at commit reports it.
            unsafe {
                libc::sync_file_range(self.file.as_raw_fd(), from as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
            }
        }
        self.handed_to_disk = self.written;
    }
}

impl std::io::Write for StagingFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.buffer.len() + bytes.len() > STAGED_WRITE_BYTES {
            self.write_out()?;
        }
        if bytes.len() >= STAGED_WRITE_BYTES {
            self.write_through(bytes)?;
        } else {
            let (len, capacity) = (self.buffer.len(), self.buffer.capacity());
            if capacity - len < bytes.len() {
                // Doubling from 64 bytes (a file's magic bytes come first, then nothing until a row group
                // closes), never past the write size.
                let grown = (2 * capacity).max(64).max(len + bytes.len()).min(STAGED_WRITE_BYTES);
                self.buffer.reserve_exact(grown - len);
            }
            self.buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.write_out()?;
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_in_words_are_permanent() {
        let dropped = "Generic S3 error: Error after 10 retries in 3.2s, max_retries:10, retry_timeout:180s, \
                       source:error sending request for url (http://127.0.0.1:40317/bucket/sync/f/x_0.parquet)";
        assert_eq!(rejection(dropped), None);
        assert_eq!(rejection("Server returned 503 Service Unavailable; 4030 bytes sent"), None);
        let denied = "Client error with status 403 Forbidden: <Code>SignatureDoesNotMatch</Code>";
        assert_eq!(rejection(denied), Some(Rejection::AccessDenied));
        assert_eq!(rejection("<Code>InvalidAccessKeyId</Code>"), Some(Rejection::AccessDenied));
        assert_eq!(rejection("<Code>NoSuchBucket</Code> 403"), Some(Rejection::NoBucket));
    }

    #[test]
    fn only_s3_commits_upload_and_only_local_staging_files_must_reach_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let parse = |v: serde_json::Value| serde_json::from_value::<ParquetConfig>(v).unwrap();
        let root = dir.path().join("local");
        let local = Storage::new(&parse(serde_json::json!({"destination_path": root}))).unwrap();
        let s3 = Storage::new(&parse(serde_json::json!({
            "s3_bucket_name": "bucket", "s3_endpoint": "http://127.0.0.1:9", "staging_directory": dir.path().join("s3"),
            "access_key_id": "AKIA", "secret_access_key": "s3cr3t"
        })))
        .unwrap();
        for (storage, uploads) in [(&local, false), (&s3, true)] {
            assert_eq!(storage.uploads(), uploads);
            let (_, staged) = storage.create_staging_file().unwrap();
            assert_eq!(staged.durable, !uploads);
        }
    }

    #[test]
    fn a_local_staging_file_is_handed_to_the_disk_in_steps_as_it_grows_and_an_upload_staging_file_never() {
        let dir = tempfile::tempdir().unwrap();
        let block: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        for durable in [true, false] {
            let path = dir.path().join(format!("{durable}.tmp"));
            let file = std::fs::File::create(&path).unwrap();
            let mut staged = StagingFile::new(file, durable);
            let mut handed = Vec::new();
            for _ in 0..20 {
                std::io::Write::write_all(&mut staged, &block).unwrap();
                handed.push(staged.handed_to_disk >> 20);
            }
            let expected: Vec<u64> = match durable {
                // Every step, up to what is written then.
                true => (1..=20).map(|mb| mb / (WRITE_BACK_STEP_BYTES >> 20) * (WRITE_BACK_STEP_BYTES >> 20)).collect(),
                false => vec![0; 20],
            };
            assert_eq!(handed, expected, "durable: {durable}");
            staged.finish().unwrap();
            let read = std::fs::read(&path).unwrap();
            assert_eq!(read.len(), 20 << 20);
            assert!(read.chunks(1 << 20).all(|chunk| chunk == block.as_slice()));
        }
    }

    #[test]
    fn small_writes_are_gathered_in_a_buffer_that_grows_with_them_up_to_the_write_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gathered.tmp");
        let mut staged = StagingFile::new(std::fs::File::create(&path).unwrap(), true);
        let mut expected = b"PAR1".to_vec();
        std::io::Write::write_all(&mut staged, b"PAR1").unwrap();
        // An open file with only its magic bytes holds a small buffer.
        assert!(staged.buffer.capacity() < 1024, "{}", staged.buffer.capacity());
        // A row group in 8 KB pieces: written out in gathered runs, never piece by piece.
        for i in 0..100u32 {
            let piece: Vec<u8> = (0..8192).map(|j| (i * 31 + j) as u8).collect();
            std::io::Write::write_all(&mut staged, &piece).unwrap();
            expected.extend_from_slice(&piece);
            assert!(staged.buffer.capacity() <= STAGED_WRITE_BYTES, "{}", staged.buffer.capacity());
            assert_eq!(staged.written as usize + staged.buffer.len(), expected.len());
        }
        assert!(staged.written as usize >= expected.len() - STAGED_WRITE_BYTES, "written out as it grew");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), staged.written, "what is not gathered is in the file");
        // A piece larger than the buffer goes straight through, after what was gathered.
        let large = vec![7u8; 3 * STAGED_WRITE_BYTES];
        std::io::Write::write_all(&mut staged, &large).unwrap();
        expected.extend_from_slice(&large);
        assert!(staged.buffer.is_empty(), "what was gathered went first");
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, expected.len());
        std::io::Write::write_all(&mut staged, b"footer").unwrap();
        expected.extend_from_slice(b"footer");
        // A flush writes out what is gathered and keeps the room for what comes next.
        std::io::Write::flush(&mut staged).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, expected.len());
        assert_eq!(staged.buffer.capacity(), STAGED_WRITE_BYTES, "the buffer's room is kept");
        staged.finish().unwrap();
        assert!(std::fs::read(&path).unwrap() == expected);
    }
}
