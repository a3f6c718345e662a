//! The write path: records -> Arrow (destination-core) -> Parquet file -> stage -> COPY INTO a load table ->
//! INSERT (append) or MERGE (dedup) into the target (or its temporary twin for a truncating sync) -> STATE acks.
//!
//! A STATE is acknowledged only when every record before it is in a committed INSERT/MERGE. Loads happen when
//! a stream's buffer reaches `batch_size_mb`, when a STATE has waited `flush_interval_seconds`, and at the end.
//! At a successful end a truncating stream's temporary table replaces the live one (SWAP), and rows of
//! generations below `minimum_generation_id` are deleted.

use crate::client::SnowflakeClient;
use crate::config::{LoadingMethod, SnowflakeConfig};
use crate::sql::{self, TableRef};
use crate::stage::S3Stage;
use crate::tables::TablePlan;
use airbyte_protocol::codec::{decode_line, InputMessage, LineReader};
use airbyte_protocol::destination::{AckTracker, StreamIndex};
use airbyte_protocol::{ConfiguredAirbyteCatalog, ConnectorError, Output, Result, ResultExt};
use arrow::array::RecordBatch;
use destination_core::{BatchBuilder, SampledParquetWriter};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Raw input bytes per Arrow batch (one Parquet row group at most this size of input).
const BATCH_BYTES: usize = 8 << 20;

/// Where staged files go.
pub enum Staging {
    Internal,
    S3(Box<S3Stage>),
}

impl Staging {
    pub fn from_config(config: &SnowflakeConfig) -> Result<Self> {
        Ok(match &config.loading_method {
            LoadingMethod::Internal => Staging::Internal,
            LoadingMethod::S3(s3) => Staging::S3(Box::new(S3Stage::new(s3)?)),
        })
    }
}

/// One stream being written.
struct StreamWriter {
    plan: TablePlan,
    /// The table loads go into: the target, or its temporary twin when the sync truncates.
    write_table: TableRef,
    load_table: TableRef,
    builder: BatchBuilder,
    file: Option<(PathBuf, SampledParquetWriter<std::fs::File>)>,
    buffered_bytes: usize,
    /// Tracker position of the first record not yet loaded.
    first_unloaded: Option<u64>,
}

/// Everything `write` needs besides the input.
pub struct Loader<'a> {
    client: &'a dyn SnowflakeClient,
    config: &'a SnowflakeConfig,
    staging: Staging,
    dir: tempfile::TempDir,
    streams: Vec<StreamWriter>,
    batch_limit: usize,
}

impl<'a> Loader<'a> {
    /// Plan every stream and bring its tables up to date (schemas, tables, columns, stages, load tables).
    pub async fn prepare(
        client: &'a dyn SnowflakeClient,
        config: &'a SnowflakeConfig,
        catalog: &ConfiguredAirbyteCatalog,
    ) -> Result<Loader<'a>> {
        let staging = Staging::from_config(config)?;
        let dir = tempfile::Builder::new()
            .prefix("destination-snowflake-")
            .tempdir()
            .system_context("creating a staging directory")?;
        let run = uuid::Uuid::new_v4().simple().to_string();
        let mut schemas = HashSet::new();
        let mut seen_tables = HashSet::new();
        let mut streams = Vec::new();
        for stream in &catalog.streams {
            let plan = TablePlan::new(stream, config)?;
            if !seen_tables.insert(plan.target.clone()) {
                return Err(ConnectorError::config(format!(
                    "two streams map to the same table {} (names are upper-cased as in Airbyte)",
                    plan.target
                )));
            }
            for schema in [&plan.target.schema, &plan.internal_schema] {
                if schemas.insert(schema.clone()) {
                    client.query(&sql::create_schema(schema)).await?;
                }
            }
            plan.ensure_table(client, &plan.target, config.retention_period_days).await?;
            let write_table = if plan.truncates() {
                let temp = plan.temp_table();
                if !plan.has_generations || !resumable(client, &temp, plan.generation_id).await? {
                    client.query(&sql::drop_table(&temp)).await?;
                }
                plan.ensure_table(client, &temp, config.retention_period_days).await?;
                temp
            } else {
                plan.target.clone()
            };
            if matches!(staging, Staging::Internal) {
                client.query(&sql::create_internal_stage(&plan.stage())).await?;
            }
            let load_table = plan.load_table(&run[..12]);
            client.query(&sql::create_load_table(&load_table, &plan.columns)).await?;
            streams.push(StreamWriter {
                builder: BatchBuilder::new(plan.core_schema.clone()),
                plan,
                write_table,
                load_table,
                file: None,
                buffered_bytes: 0,
                first_unloaded: None,
            });
        }
        let batch_limit = (config.batch_size_mb as usize).max(1) << 20;
        Ok(Loader { client, config, staging, dir, streams, batch_limit })
    }

    /// Consume the input, loading and acknowledging as it goes, then finish every stream.
    pub async fn run(
        mut self,
        catalog: &ConfiguredAirbyteCatalog,
        input: Box<dyn BufRead + Send>,
        out: &Output,
    ) -> Result<()> {
        let result = self.consume(catalog, input, out).await;
        self.cleanup().await;
        result
    }

    async fn consume(
        &mut self,
        catalog: &ConfiguredAirbyteCatalog,
        input: Box<dyn BufRead + Send>,
        out: &Output,
    ) -> Result<()> {
        let index = StreamIndex::new(catalog);
        let mut tracker = AckTracker::new(out.clone(), index.clone());
        let mut reader = LineReader::new(input);
        let flush_interval = Duration::from_secs(self.config.flush_interval_seconds.max(1));
        let mut oldest_pending: Option<Instant> = None;
        loop {
            let next = reader.next_line().system_context("reading stdin")?;
            let Some((line_number, line)) = next else { break };
            let message = decode_line(line, line_number).map_err(|e| ConnectorError::config(e.to_string()))?;
            match message {
                InputMessage::Record(record) => {
                    let i = index.require(&record.stream, record.namespace.as_deref(), line_number)?;
                    let position = tracker.record(i, 1);
                    let changes = record.meta.as_ref().map(|m| m.changes.as_slice()).unwrap_or(&[]);
                    let data = record.data.get();
                    let stream = &mut self.streams[i];
                    stream
                        .builder
                        .push(data, record.emitted_at, changes)
                        .map_err(|e| e.context(format!("input line {line_number}")))?;
                    stream.first_unloaded.get_or_insert(position);
                    stream.buffered_bytes += data.len();
                    if stream.builder.data_bytes() >= BATCH_BYTES {
                        self.spill(i)?;
                    }
                    if self.streams[i].buffered_bytes >= self.batch_limit {
                        self.load(i).await?;
                        tracker.commit(self.durable(&tracker))?;
                    }
                }
                InputMessage::State(state) => {
                    tracker.state(*state, line_number)?;
                    tracker.commit(self.durable(&tracker))?;
                    if tracker.pending() > 0 {
                        oldest_pending.get_or_insert_with(Instant::now);
                    }
                }
                InputMessage::Trace(trace) => tracker.trace(&trace),
                InputMessage::Log(_) | InputMessage::Other(_) => {}
            }
            // A STATE that has waited long enough forces a load of everything buffered (checked on every
            // input line, so a slow source cannot hold an ack back longer than the interval plus one line).
            if oldest_pending.is_some_and(|since| since.elapsed() >= flush_interval) {
                self.load_all().await?;
                tracker.commit(self.durable(&tracker))?;
            }
            if tracker.pending() == 0 {
                oldest_pending = None;
            }
        }
        self.load_all().await?;
        tracker.commit(tracker.position())?;
        for i in 0..self.streams.len() {
            if tracker.stream_succeeded(i) {
                self.finish_stream(i).await?;
            } else {
                tracing::warn!(stream = %index.descriptor(i), "stream did not complete; its table is left as it was");
            }
        }
        Ok(())
    }

    /// Every record before this tracker position is loaded.
    fn durable(&self, tracker: &AckTracker) -> u64 {
        self.streams
            .iter()
            .filter_map(|s| s.first_unloaded)
            .min()
            .map(|first| first - 1)
            .unwrap_or_else(|| tracker.position())
    }

    /// Move the builder's rows into the stream's Parquet file.
    fn spill(&mut self, i: usize) -> Result<()> {
        let stream = &mut self.streams[i];
        if stream.builder.is_empty() {
            return Ok(());
        }
        let batch = stream.builder.finish()?;
        let batch = RecordBatch::try_new(stream.plan.staged_schema.clone(), batch.columns().to_vec())
            .map_err(|e| ConnectorError::system(format!("renaming staged columns: {e}")))?;
        let batch = stream.plan.enforce_json_shapes(batch)?;
        if stream.file.is_none() {
            let path = self.dir.path().join(format!("{}.parquet", uuid::Uuid::new_v4().simple()));
            let file = std::fs::File::create(&path).system_context(format!("creating {}", path.display()))?;
            let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
            let threads = destination_core::parquet_file::default_threads();
            let writer = SampledParquetWriter::new(file, stream.plan.staged_schema.clone(), props, threads);
            stream.file = Some((path, writer));
        }
        let (_, writer) = stream.file.as_mut().expect("file was just created");
        writer.write(&batch).map_err(|e| ConnectorError::system(format!("writing Parquet: {e}")))?;
        writer.flush().map_err(|e| ConnectorError::system(format!("writing Parquet: {e}")))
    }

    async fn load_all(&mut self) -> Result<()> {
        for i in 0..self.streams.len() {
            if self.streams[i].first_unloaded.is_some() {
                self.load(i).await?;
            }
        }
        Ok(())
    }

    /// Stage the stream's buffered records and commit them into its write table.
    async fn load(&mut self, i: usize) -> Result<()> {
        self.spill(i)?;
        let stream = &mut self.streams[i];
        let Some((path, writer)) = stream.file.take() else {
            stream.first_unloaded = None;
            return Ok(());
        };
        writer.into_inner().map_err(|e| ConnectorError::system(format!("finishing Parquet file: {e}")))?;
        destination_core::memory::release_freed_memory_when_large();
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let client = self.client;
        client.query(&sql::delete_all(&stream.load_table)).await?;
        match &self.staging {
            Staging::Internal => {
                let stage = stream.plan.stage();
                client.put_file(&path, &stage).await?;
                client.query(&sql::copy_from_stage(&stream.load_table, &stage, &file_name)).await?;
            }
            Staging::S3(s3) => {
                let url = s3.upload(&path).await?;
                let settings = &s3.settings;
                let auth = match (&settings.storage_integration, settings.connection.access_key()) {
                    (Some(integration), _) => sql::S3Auth::Integration(integration),
                    (None, Some((key_id, secret))) => sql::S3Auth::Keys { key_id, secret },
                    _ => return Err(ConnectorError::config(
                        "loading_method: S3 staging needs storage_integration or access_key_id and secret_access_key",
                    )),
                };
                let copied = client
                    .query(&sql::copy_from_s3(&stream.load_table, &url, &auth, settings.purge_staging_data))
                    .await;
                if copied.is_err() && settings.purge_staging_data {
                    let _ = s3.remove(&url).await;
                }
                copied?;
            }
        }
        let _ = std::fs::remove_file(&path);
        let statement = if stream.plan.is_dedup() {
            sql::merge_from_load(
                &stream.write_table,
                &stream.load_table,
                &stream.plan.columns,
                &sql::DedupKeys {
                    primary_key: &stream.plan.primary_key,
                    cursor: stream.plan.cursor.as_deref(),
                    hard_delete: stream.plan.hard_delete,
                },
            )
        } else {
            sql::insert_from_load(&stream.write_table, &stream.load_table, &stream.plan.columns)
        };
        client.query(&statement).await?;
        stream.first_unloaded = None;
        stream.buffered_bytes = 0;
        Ok(())
    }

    /// After a successful sync of stream `i`: replace the live table (truncating syncs) or drop old generations.
    async fn finish_stream(&mut self, i: usize) -> Result<()> {
        let stream = &self.streams[i];
        let plan = &stream.plan;
        let client = self.client;
        if plan.truncates() {
            replace_table(client, &stream.write_table, &plan.target).await?;
        } else if plan.minimum_generation_id > 0 {
            client.query(&sql::delete_old_generations(&plan.target, plan.minimum_generation_id)).await?;
        }
        Ok(())
    }

    /// Drop the load tables (best effort; they are transient and named per run).
    async fn cleanup(&mut self) {
        for stream in &self.streams {
            if let Err(e) = self.client.query(&sql::drop_table(&stream.load_table)).await {
                tracing::warn!(table = %stream.load_table, error = %e.message, "could not drop load table");
            }
        }
    }
}

/// Whether a leftover temporary table holds an interrupted attempt of this same generation (then it is kept
/// and appended to: its records were acknowledged). Without generation ids in the catalog the platform restarts
/// a full refresh from the beginning, so the leftover is dropped instead.
async fn resumable(client: &dyn SnowflakeClient, temp: &TableRef, generation: i64) -> Result<bool> {
    let exists = client.query(&sql::describe_columns(temp)).await?;
    if exists.is_empty() {
        return Ok(false);
    }
    let rows = match client.query(&sql::select_generation(temp)).await {
        Ok(rows) => rows,
        Err(_) => return Ok(false),
    };
    Ok(match rows.first().and_then(|r| r.first()).cloned().flatten() {
        None => true,
        Some(g) => g.parse::<i64>().ok() == Some(generation),
    })
}

/// Put `staged` in place of `live` atomically with SWAP; where SWAP is not available (emulators), rename the
/// live table aside, rename the staged one in, then drop the old one: readers never see an empty table.
pub async fn replace_table(client: &dyn SnowflakeClient, staged: &TableRef, live: &TableRef) -> Result<()> {
    match client.query(&sql::swap(staged, live)).await {
        Ok(_) => client.query(&sql::drop_table(staged)).await.map(|_| ()),
        Err(e) if e.message.contains("SWAP") || e.message.to_ascii_lowercase().contains("syntax error") => {
            tracing::info!("SWAP WITH is not supported here; replacing the table by renames");
            let old = live.with_suffix("_AIRBYTE_OLD");
            client.query(&sql::drop_table(&old)).await?;
            client.query(&sql::rename(live, &old)).await?;
            client.query(&sql::rename(staged, live)).await?;
            client.query(&sql::drop_table(&old)).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// `check`: log in, create and drop a probe table in the default schema, and (internal staging) create the
/// stage of the probe so a missing CREATE STAGE grant shows now rather than mid-sync.
pub async fn check(client: &dyn SnowflakeClient, config: &SnowflakeConfig) -> Result<()> {
    let schema = sql::snowflake_name(&config.schema);
    client.query(&sql::create_schema(&schema)).await?;
    let probe = TableRef::new(&schema, format!("_AIRBYTE_CONNECTION_TEST_{}", uuid::Uuid::new_v4().simple()));
    client
        .query(&format!("CREATE TABLE {probe} ({} VARCHAR)", sql::quote_ident("TEST_KEY")))
        .await
        .map_err(|e| e.context(format!("creating a probe table in schema {schema}")))?;
    let result = async {
        client.query(&format!("INSERT INTO {probe} VALUES ({})", sql::quote_literal("probe"))).await?;
        if matches!(config.loading_method, LoadingMethod::Internal) {
            let internal = sql::snowflake_name(
                config.raw_data_dataset.as_deref().filter(|s| !s.is_empty()).unwrap_or("airbyte_internal"),
            );
            client.query(&sql::create_schema(&internal)).await?;
            let stage = TableRef::new(&internal, "AIRBYTE_SSE_STAGE_CONNECTION_TEST");
            client.query(&sql::create_internal_stage(&stage)).await?;
        }
        Ok::<(), ConnectorError>(())
    }
    .await;
    client.query(&sql::drop_table(&probe)).await?;
    result
}
