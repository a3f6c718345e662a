//! destination-parquet: Airbyte records to Parquet files on local disk or S3, atomically, in input order.
//!
//! - [`config`]: Airbyte destination-s3's config keys plus local mode (`destination_path`).
//! - [`paths`]: object keys and path variables as in Airbyte.
//! - [`storage`]: local directory / S3 via `object_store`; staging then commit (rename / completed upload).
//! - [`writer`]: the parallel decode -> ordered write -> commit -> ack pipeline and sync-mode clean-up, with
//!   a [`writer::BatchObserver`] seam that sees every RecordBatch (the post-sync profiler).

pub mod config;
pub mod paths;
pub mod storage;
pub mod writer;

use airbyte_protocol::cli::Input;
use airbyte_protocol::{
    Config, ConfiguredAirbyteCatalog, ConnectorSpecification, Destination, DestinationSyncMode, Extra, Output, Result,
};
use config::ParquetConfig;
use serde_json::json;

/// The connector.
#[derive(Debug, Default)]
pub struct ParquetDestination;

impl ParquetDestination {
    fn parse(config: &Config) -> Result<ParquetConfig> {
        let parsed: ParquetConfig = config.parse()?;
        parsed.validate()?;
        Ok(parsed)
    }
}

impl Destination for ParquetDestination {
    fn spec(&self) -> ConnectorSpecification {
        ConnectorSpecification {
            documentation_url: Some("https://docs.airbyte.com/integrations/destinations/s3".into()),
            changelog_url: None,
            connection_specification: connection_specification(),
            supports_incremental: Some(true),
            supports_normalization: Some(false),
            supports_dbt: Some(false),
            supported_destination_sync_modes: Some(vec![DestinationSyncMode::Overwrite, DestinationSyncMode::Append]),
            advanced_auth: None,
            protocol_version: Some("0.5.2".into()),
            extra: Extra::new(),
        }
    }

    async fn check(&self, config: &Config) -> Result<()> {
        let parsed = Self::parse(config)?;
        // Unknown path variables are a config problem check should report.
        paths::KeyPattern::new(
            &parsed.s3_bucket_path,
            parsed.s3_path_format.as_deref(),
            parsed.file_name_pattern.as_deref(),
            Some("namespace"),
            "stream",
        )?
        .validate()?;
        let storage = storage::Storage::new(&parsed)?;
        storage.probe(&parsed.s3_bucket_path).await
    }

    async fn write(
        &self,
        config: &Config,
        catalog: &ConfiguredAirbyteCatalog,
        input: Input,
        out: &Output,
    ) -> Result<()> {
        let parsed = Self::parse(config)?;
        let Some(hook_value) = parsed.post_sync.clone() else {
            let summary = writer::write(&parsed, catalog, input, out, None).await?;
            log_summary(&summary);
            return Ok(());
        };
        let hook: post_sync::PostSyncConfig = airbyte_protocol::files::from_value(hook_value, "config post_sync")?;
        let mut profilers: Vec<post_sync::StreamProfiler> = catalog
            .streams
            .iter()
            .map(|s| {
                let schema = destination_core::StreamSchema::new(s);
                post_sync::StreamProfiler::new(
                    s.descriptor(),
                    schema.arrow_schema(),
                    s.primary_key.clone().unwrap_or_default(),
                    s.effective_cursor().cloned().unwrap_or_default(),
                )
            })
            .collect();
        let index = airbyte_protocol::destination::StreamIndex::new(catalog);
        let mut observe = |stream: &destination_core::StreamSchema, batch: &arrow::array::RecordBatch| {
            let d = &stream.descriptor;
            if let Some(i) = index.lookup(&d.name, d.namespace.as_deref()) {
                profilers[i].observe(batch);
            }
            Ok(())
        };
        let summary = writer::write(&parsed, catalog, input, out, Some(&mut observe)).await?;
        log_summary(&summary);
        // Every state is acknowledged by now: the hook runs on committed data only.
        let profiles: Vec<_> = profilers.into_iter().map(post_sync::StreamProfiler::finish).collect();
        let sync_id = catalog
            .streams
            .iter()
            .find_map(|s| s.sync_id)
            .map(|id| id.to_string())
            .unwrap_or_else(|| airbyte_protocol::now_millis().to_string());
        let location = post_sync::DataLocation::local(hook_location(&parsed));
        let result = post_sync::run_post_sync(&hook, &location, profiles, post_sync::SyncInfo::new(sync_id)).await;
        if let Ok(outcome) = &result {
            tracing::info!(
                "post-sync: {} ({}); report {}",
                outcome.decision.as_str(),
                outcome.reasons.join("; "),
                outcome.report_html.display()
            );
        }
        match post_sync::sync_failure(&hook, &result) {
            Some(message) => Err(airbyte_protocol::ConnectorError::system(message)),
            None => Ok(()),
        }
    }
}

fn log_summary(summary: &writer::SyncSummary) {
    tracing::info!(
        "sync done: {} records, {} files committed, {} files replaced",
        summary.records,
        summary.committed_keys.len(),
        summary.deleted_keys.len()
    );
}

/// Where the post-sync hook keeps profiles, reports and its queue: the local root in local mode, the
/// staging directory in S3 mode (mount it to keep the history between runs).
fn hook_location(config: &ParquetConfig) -> std::path::PathBuf {
    match config.target() {
        config::StorageTarget::Local { root } => root,
        config::StorageTarget::S3 { .. } => match config.staging_directory.as_deref().filter(|s| !s.is_empty()) {
            Some(dir) => std::path::PathBuf::from(dir),
            None => std::env::temp_dir().join("destination-parquet"),
        },
    }
}

/// The `connectionSpecification`: Airbyte destination-s3's keys (Parquet format) plus ours.
pub fn connection_specification() -> serde_json::Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Parquet Destination Spec (local disk or S3)",
        "type": "object",
        "required": [],
        "additionalProperties": true,
        "properties": {
            "destination_path": {
                "title": "Local Directory",
                "description": "Local mode: write files under this directory (in Docker, mount a host folder at /local). When set, the S3 keys are ignored. Without it and without s3_bucket_name, /local is used.",
                "type": "string",
                "examples": ["/local/parquet"],
                "order": 0
            },
            "s3_bucket_name": {
                "title": "S3 Bucket Name",
                "description": "S3 mode: the bucket to write to.",
                "type": "string",
                "examples": ["airbyte_sync"],
                "order": 1
            },
            "s3_bucket_path": {
                "title": "S3 Bucket Path",
                "description": "Prefix under the bucket (or under destination_path) for every file.",
                "type": "string",
                "default": "",
                "examples": ["data_sync/test"],
                "order": 2
            },
            "s3_bucket_region": {
                "title": "S3 Bucket Region",
                "description": "The region of the bucket (empty: us-east-1).",
                "type": "string",
                "default": "",
                "examples": ["us-east-1", "eu-central-1"],
                "order": 3
            },
            "access_key_id": {
                "title": "S3 Key ID",
                "description": "Access key id; without it the default AWS credential chain (environment, web identity, instance profile) is used.",
                "type": "string",
                "airbyte_secret": true,
                "always_show": true,
                "order": 4
            },
            "secret_access_key": {
                "title": "S3 Access Key",
                "description": "The secret for access_key_id.",
                "type": "string",
                "airbyte_secret": true,
                "always_show": true,
                "order": 5
            },
            "role_arn": {
                "title": "Role ARN",
                "description": "Role to assume with the container's web identity token (AWS_WEB_IDENTITY_TOKEN_FILE).",
                "type": "string",
                "order": 6
            },
            "s3_endpoint": {
                "title": "Endpoint",
                "description": "Endpoint of an S3-compatible server (MinIO etc.); empty for AWS.",
                "type": "string",
                "default": "",
                "examples": ["http://localhost:9000"],
                "order": 7
            },
            "s3_path_format": {
                "title": "S3 Path Format",
                "description": "Path template. Variables: ${NAMESPACE} ${STREAM_NAME} ${YEAR} ${MONTH} ${DAY} ${HOUR} ${MINUTE} ${SECOND} ${MILLISECOND} ${EPOCH} ${UUID}.",
                "type": "string",
                "examples": ["${NAMESPACE}/${STREAM_NAME}/${YEAR}_${MONTH}_${DAY}_${EPOCH}_"],
                "order": 8
            },
            "file_name_pattern": {
                "title": "File Name Pattern",
                "description": "File name template appended to the path. Variables: {date} {date:yyyy_MM} {timestamp} {timestamp:millis} {timestamp:micros} {part_number} {sync_id} {format_extension}.",
                "type": "string",
                "examples": ["{date}", "{date:yyyy_MM}", "{timestamp}", "{part_number}", "{sync_id}"],
                "order": 9
            },
            "format": {
                "title": "Output Format",
                "description": "Parquet options (the only format).",
                "type": "object",
                "order": 10,
                "properties": {
                    "format_type": {"title": "Format Type", "type": "string", "enum": ["Parquet"], "default": "Parquet"},
                    "compression_codec": {
                        "title": "Compression Codec",
                        "type": "string",
                        "enum": ["UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD"],
                        "default": "UNCOMPRESSED",
                        "description": "UNCOMPRESSED, SNAPPY, GZIP and ZSTD are supported; LZO, BROTLI and LZ4 are rejected."
                    },
                    "block_size_mb": {"title": "Block Size (Row Group Size) (MB)", "type": "integer", "minimum": 1, "default": 128},
                    "max_padding_size_mb": {"title": "Max Padding Size (MB)", "type": "integer", "default": 8, "description": "Accepted for compatibility; has no effect."},
                    "page_size_kb": {"title": "Page Size (KB)", "type": "integer", "minimum": 1, "default": 1024},
                    "dictionary_page_size_kb": {"title": "Dictionary Page Size (KB)", "type": "integer", "minimum": 1, "default": 1024},
                    "dictionary_encoding": {"title": "Dictionary Encoding", "type": "boolean", "default": true}
                }
            },
            "file_size_limit_mb": {
                "title": "File Size Limit (MB)",
                "description": "Start a new file when one reaches this size.",
                "type": "integer", "minimum": 1, "default": 200, "order": 11
            },
            "max_ack_delay_seconds": {
                "title": "Maximum State Acknowledgement Delay (s)",
                "description": "Commit open files and acknowledge states at the latest after this long.",
                "type": "integer", "minimum": 0, "default": 60, "order": 12
            },
            "max_ack_lag_mb": {
                "title": "Maximum Uncommitted Input (MB)",
                "description": "... or when this much input arrived since the last commit.",
                "type": "integer", "minimum": 1, "default": 256, "order": 13
            },
            "upload_part_size_mb": {
                "title": "S3 Upload Part Size (MB)",
                "description": "Multipart upload part size; smaller files are uploaded in one request.",
                "type": "integer", "minimum": 5, "maximum": 5120, "default": 16, "order": 14
            },
            "staging_directory": {
                "title": "Staging Directory",
                "description": "S3 mode: local directory for files before upload (default: the system temp directory).",
                "type": "string", "order": 15
            },
            "post_sync": {
                "title": "Post-Sync Data Quality Hook",
                "description": "Optional: profile every batch while writing and, after the last state is acknowledged, run the post-sync checks, report and retraining queue. `{}` gives a local report. Further keys (checks, rules, queue, report, triggers, notify) as documented for the post-sync hook.",
                "type": "object",
                "additionalProperties": true,
                "order": 16,
                "properties": {
                    "enabled": {"title": "Run the checks", "type": "boolean", "default": true},
                    "fail_sync_on_error": {"title": "Fail the sync when the hook fails", "type": "boolean", "default": false},
                    "fail_sync_on_quarantine": {"title": "Fail the sync on a quarantine decision", "type": "boolean", "default": false},
                    "min_new_rows": {"title": "Minimum new rows to retrain", "type": "integer", "minimum": 0},
                    "history_syncs": {"title": "Past syncs to compare with", "type": "integer", "minimum": 1},
                    "dispatch_inline": {"title": "Deliver queued jobs right away", "type": "boolean", "default": true}
                }
            }
        }
    })
}
