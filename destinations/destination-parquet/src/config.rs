//! The config: Airbyte destination-s3's keys (Parquet format) plus a local-disk mode and a few tuning keys.

use airbyte_protocol::{ConnectorError, Result};
use destination_core::s3::{validate_bucket_name, S3Connection};
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use serde::Deserialize;
use std::path::PathBuf;

/// Local directory used when neither `destination_path` nor `s3_bucket_name` is given (Airbyte's convention
/// for local destinations: `/local` is mounted from the host).
pub const DEFAULT_LOCAL_ROOT: &str = "/local";

/// The connector's configuration. Keys match Airbyte's destination-s3 so its configs work unchanged.
#[derive(Clone, Deserialize)]
pub struct ParquetConfig {
    /// Local mode: the directory files are written under. When set, the `s3_*` keys are ignored.
    #[serde(default)]
    pub destination_path: Option<String>,
    /// S3 mode: the bucket name.
    #[serde(default)]
    pub s3_bucket_name: Option<String>,
    /// Prefix inside the bucket (or inside `destination_path`) for every object.
    #[serde(default)]
    pub s3_bucket_path: String,
    /// Region, endpoint and credentials (`s3_bucket_region`, `s3_endpoint`, `access_key_id`,
    /// `secret_access_key`, `role_arn`), at the top level as in Airbyte.
    #[serde(flatten)]
    pub s3: S3Connection,
    /// Object path template; default `${NAMESPACE}/${STREAM_NAME}/${YEAR}_${MONTH}_${DAY}_${EPOCH}_`.
    #[serde(default)]
    pub s3_path_format: Option<String>,
    /// File name template appended to the path; default `{part_number}{format_extension}`.
    #[serde(default)]
    pub file_name_pattern: Option<String>,
    /// Output format options (only Parquet).
    #[serde(default)]
    pub format: FormatConfig,
    /// Roll to a new file when one reaches this many MB (default 200, as Airbyte).
    #[serde(default = "default_file_size_limit_mb")]
    pub file_size_limit_mb: u64,
    /// Acknowledge states at the latest after this many seconds (files are committed then; default 60).
    #[serde(default = "default_max_ack_delay_seconds")]
    pub max_ack_delay_seconds: u64,
    /// ... or after this many MB of input since the last commit (default 256).
    #[serde(default = "default_max_ack_lag_mb")]
    pub max_ack_lag_mb: u64,
    /// S3 multipart part size in MB (5..=5120, default 16); smaller files are one PUT.
    #[serde(default = "default_upload_part_size_mb")]
    pub upload_part_size_mb: u64,
    /// Where S3 mode stages files before upload (default: the system temp directory).
    #[serde(default)]
    pub staging_directory: Option<String>,
    /// Optional post-sync data-quality hook.
    #[serde(default)]
    pub post_sync: Option<serde_json::Value>,
}

impl std::fmt::Debug for ParquetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetConfig")
            .field("destination_path", &self.destination_path)
            .field("s3_bucket_name", &self.s3_bucket_name)
            .field("s3_bucket_path", &self.s3_bucket_path)
            .field("s3", &self.s3)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

fn default_file_size_limit_mb() -> u64 {
    200
}
fn default_max_ack_delay_seconds() -> u64 {
    60
}
fn default_max_ack_lag_mb() -> u64 {
    256
}
fn default_upload_part_size_mb() -> u64 {
    16
}

/// `format` as in Airbyte destination-s3's Parquet option.
#[derive(Debug, Clone, Deserialize)]
pub struct FormatConfig {
    /// Must be `Parquet`.
    #[serde(default = "default_format_type")]
    pub format_type: String,
    /// UNCOMPRESSED (default), SNAPPY, GZIP, ZSTD. LZO, LZ4 and BROTLI are rejected with a config error.
    #[serde(default = "default_codec")]
    pub compression_codec: String,
    /// Row-group size in MB (default 128).
    #[serde(default = "default_block_size_mb")]
    pub block_size_mb: u64,
    /// Accepted for compatibility; Parquet in Rust has no HDFS padding.
    #[serde(default)]
    pub max_padding_size_mb: Option<u64>,
    /// Data page size in KB (default 1024).
    #[serde(default = "default_page_kb")]
    pub page_size_kb: u64,
    /// Dictionary page size in KB (default 1024).
    #[serde(default = "default_page_kb")]
    pub dictionary_page_size_kb: u64,
    /// Dictionary encoding (default true).
    #[serde(default = "default_true")]
    pub dictionary_encoding: bool,
}

impl Default for FormatConfig {
    fn default() -> Self {
        FormatConfig {
            format_type: default_format_type(),
            compression_codec: default_codec(),
            block_size_mb: default_block_size_mb(),
            max_padding_size_mb: None,
            page_size_kb: default_page_kb(),
            dictionary_page_size_kb: default_page_kb(),
            dictionary_encoding: true,
        }
    }
}

fn default_format_type() -> String {
    "Parquet".into()
}
fn default_codec() -> String {
    "UNCOMPRESSED".into()
}
fn default_block_size_mb() -> u64 {
    128
}
fn default_page_kb() -> u64 {
    1024
}
fn default_true() -> bool {
    true
}

/// Where the files go.
#[derive(Debug, Clone, PartialEq)]
pub enum StorageTarget {
    Local { root: PathBuf },
    S3 { bucket: String },
}

const MB: u64 = 1024 * 1024;

impl ParquetConfig {
    /// Check the values serde cannot: format type, codec, ranges, mode.
    pub fn validate(&self) -> Result<()> {
        if !self.format.format_type.eq_ignore_ascii_case("parquet") {
            return Err(ConnectorError::config(format!(
                "format.format_type is {:?}; this destination writes Parquet only (use format_type \"Parquet\")",
                self.format.format_type
            )));
        }
        self.compression()?;
        if self.format.block_size_mb == 0 || self.file_size_limit_mb == 0 || self.max_ack_lag_mb == 0 {
            return Err(ConnectorError::config(
                "format.block_size_mb, file_size_limit_mb and max_ack_lag_mb must be at least 1",
            ));
        }
        if !(5..=5120).contains(&self.upload_part_size_mb) {
            return Err(ConnectorError::config("upload_part_size_mb must be between 5 and 5120 (S3's limits)"));
        }
        if let StorageTarget::S3 { bucket } = self.target() {
            validate_bucket_name("s3_bucket_name", &bucket)?;
            self.s3.validate("")?;
        }
        Ok(())
    }

    pub fn target(&self) -> StorageTarget {
        if let Some(path) = self.destination_path.as_deref().filter(|p| !p.is_empty()) {
            return StorageTarget::Local { root: PathBuf::from(path) };
        }
        match self.s3_bucket_name.as_deref().filter(|b| !b.is_empty()) {
            Some(bucket) => StorageTarget::S3 { bucket: bucket.to_string() },
            None => StorageTarget::Local { root: PathBuf::from(DEFAULT_LOCAL_ROOT) },
        }
    }

    pub fn compression(&self) -> Result<Compression> {
        Ok(match self.format.compression_codec.to_ascii_uppercase().as_str() {
            "UNCOMPRESSED" | "" => Compression::UNCOMPRESSED,
            "SNAPPY" => Compression::SNAPPY,
            "GZIP" => Compression::GZIP(GzipLevel::default()),
            "ZSTD" => Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1 is valid")),
            other @ ("LZO" | "LZ4" | "BROTLI") => {
                return Err(ConnectorError::config(format!(
                    "format.compression_codec {other} is not supported by this destination; use UNCOMPRESSED, \
                     SNAPPY, GZIP or ZSTD"
                )))
            }
            other => {
                return Err(ConnectorError::config(format!(
                    "format.compression_codec {other:?} is unknown; use UNCOMPRESSED, SNAPPY, GZIP or ZSTD"
                )))
            }
        })
    }

    pub fn block_size_bytes(&self) -> usize {
        (self.format.block_size_mb * MB) as usize
    }
    pub fn file_size_limit_bytes(&self) -> usize {
        (self.file_size_limit_mb * MB) as usize
    }
    pub fn max_ack_lag_bytes(&self) -> usize {
        (self.max_ack_lag_mb * MB) as usize
    }
    pub fn upload_part_size_bytes(&self) -> usize {
        (self.upload_part_size_mb * MB) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> ParquetConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn airbyte_s3_config_parses_unchanged() {
        let c = parse(json!({
            "s3_bucket_name": "my-bucket", "s3_bucket_path": "data", "s3_bucket_region": "eu-west-1",
            "access_key_id": "AKIA", "secret_access_key": "s3cr3t",
            "format": {"format_type": "Parquet", "compression_codec": "SNAPPY", "block_size_mb": 128,
                       "max_padding_size_mb": 8, "page_size_kb": 1024, "dictionary_page_size_kb": 1024,
                       "dictionary_encoding": true}
        }));
        c.validate().unwrap();
        assert_eq!(c.target(), StorageTarget::S3 { bucket: "my-bucket".into() });
        assert_eq!(c.compression().unwrap(), Compression::SNAPPY);
        assert_eq!((c.s3.region(), c.s3.access_key()), ("eu-west-1", Some(("AKIA", "s3cr3t"))));
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cr3t") && !debug.contains("AKIA"), "{debug}");
    }

    #[test]
    fn local_mode_and_bad_values() {
        let c = parse(json!({"destination_path": "/tmp/x"}));
        assert_eq!(c.target(), StorageTarget::Local { root: "/tmp/x".into() });
        assert_eq!(parse(json!({})).target(), StorageTarget::Local { root: DEFAULT_LOCAL_ROOT.into() });
        let e = parse(json!({"format": {"format_type": "CSV"}})).validate().unwrap_err();
        assert!(e.is_config() && e.message.contains("Parquet"), "{e}");
        let e = parse(json!({"format": {"compression_codec": "LZO"}})).validate().unwrap_err();
        assert!(e.message.contains("LZO"), "{e}");
        assert!(parse(json!({"upload_part_size_mb": 1})).validate().is_err());
        let e = parse(json!({"s3_bucket_name": "b/c"})).validate().unwrap_err();
        assert!(e.is_config() && e.message.contains("s3_bucket_name"), "{e}");
        let e = parse(json!({"s3_bucket_name": "bucket", "access_key_id": "AKIA"})).validate().unwrap_err();
        assert!(e.is_config() && e.message.contains("secret_access_key"), "{e}");
    }
}
