//! The write pipeline.
//!
//! ```text
//! stdin -> reading thread (a pipe), mapped chunks (a regular file) or pump + chunker threads (other readers)
//!   --(chunks of whole lines, numbered)--> dispatcher
//!   --(a decode task per chunk, at most MAX_CHUNKS_IN_FLIGHT)--> worker pool (one thread per core)
//!   workers: envelope decode + record data -> Arrow (destination-core), per chunk and stream
//!   --(results, any order)--> merger (this task): reorders by chunk number, feeds the observer and the
//!   per-stream Parquet files, counts records/states in input order, commits files and acknowledges states.
//!   The files' columns are encoded by the same workers, which take encoding work before decoding work.
//! ```
//! One pool for both kinds of work keeps one busy thread per core: with separate decoders and encoders, four
//! busy threads took turns on two cores, each turn evicting the other's working set from the caches (5-7%
//! more wall time on the benchmark), and a fixed split of threads between the two suits one schema only.
//! Workers number lines within their chunk; the merger, which sees the chunks in input order, adds the
//! lines of the chunks before (so the chunker need not count them) and words line-numbered errors.
//! A state is acknowledged only after every file holding a record before it is committed (renamed into
//! place / upload completed). Committing at a state runs beside the pipeline (one commit at a time): the
//! merger goes on writing new files while the finished ones are flushed, synced and renamed or uploaded, and
//! the states it covers are acknowledged when it completes. Files are committed when they reach the size
//! limit, and all open files are committed together when states have waited `max_ack_delay_seconds` or
//! `max_ack_lag_mb` of input arrived since the last commit, so frequent states do not produce tiny files.

use crate::config::ParquetConfig;
use crate::paths::{KeyPattern, KeyValues};
use crate::storage::{StagingFile, Storage};
use airbyte_protocol::cli::Input;
use airbyte_protocol::codec::{decode_line_split_expecting, DataMember, DecodeError, InputMessage};
use airbyte_protocol::destination::{AckTracker, StreamIndex};
use airbyte_protocol::{
    ConfiguredAirbyteCatalog, ConnectorError, DestinationSyncMode, Output, Result, StateMessage, TraceMessage,
};
use arrow::array::RecordBatch;
use chrono::{DateTime, Utc};
use destination_core::parquet_file::{Encoders, WorkPool};
use destination_core::{BatchBuilder, SampledParquetWriter, StreamSchema};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Seek};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Sees every RecordBatch in input order before it is written (the post-sync profiler plugs in here).
pub trait BatchObserver: Send {
    fn observe(&mut self, stream: &StreamSchema, batch: &RecordBatch) -> Result<()>;
}

impl<F: FnMut(&StreamSchema, &RecordBatch) -> Result<()> + Send> BatchObserver for F {
    fn observe(&mut self, stream: &StreamSchema, batch: &RecordBatch) -> Result<()> {
        self(stream, batch)
    }
}

/// Input chunk size handed to one decode worker.
const CHUNK_BYTES: usize = 2 << 20;
/// A partial chunk is handed on after this long, so a slow source's states are not held back.
const CHUNK_MAX_WAIT: Duration = Duration::from_millis(200);
/// The pump stops reading stdin while this much input waits for the chunker. The chunker hands on all
/// whole lines waiting, so this also caps a chunk (and its batch) near `CHUNK_BYTES`: larger values let
/// every buffer in the pipeline grow with it (8 MB here cost 60 MB of peak memory for 2% of speed).
const MAX_PENDING_INPUT: usize = 2 << 20;
/// Chunks handed to the workers and not yet taken in by the merger (each holds a chunk's records as Arrow):
/// enough to keep both kinds of work going, few enough for memory.
const MAX_CHUNKS_IN_FLIGHT: usize = 6;

/// What one sync wrote.
#[derive(Debug, Default)]
pub struct SyncSummary {
    pub committed_keys: Vec<String>,
    pub deleted_keys: Vec<String>,
    pub records: u64,
}

/// Run the whole write: returns after EOF with every state acknowledged, or with the first error (after
/// committing and acknowledging what came before it).
pub async fn write(
    config: &ParquetConfig,
    catalog: &ConfiguredAirbyteCatalog,
    input: Input,
    out: &Output,
    observer: Option<&mut dyn BatchObserver>,
) -> Result<SyncSummary> {
    let storage = Arc::new(Storage::new(config)?);
    storage.clean_stale_staging();
    let index = StreamIndex::new(catalog);
    let mut schemas: Vec<StreamSchema> = catalog.streams.iter().map(StreamSchema::new).collect();
    StreamSchema::share_expected_keys(&mut schemas);
    let schemas: Vec<Arc<StreamSchema>> = schemas.into_iter().map(Arc::new).collect();
    let sync_start = Utc::now();
    let props_base = writer_properties(config)?;
    // One thread per core decodes chunks and encodes every open file's columns (encoding first), kept until
    // the last commit is done.
    let workers = WorkPool::start(destination_core::parquet_file::default_threads())
        .map_err(|e| ConnectorError::system(format!("cannot start the worker threads: {e}")))?;
    let mut sinks = Vec::new();
    for (stream, schema) in catalog.streams.iter().zip(&schemas) {
        let d = stream.descriptor();
        let pattern = KeyPattern::new(
            &config.s3_bucket_path,
            config.s3_path_format.as_deref(),
            config.file_name_pattern.as_deref(),
            d.namespace.as_deref(),
            &d.name,
        )?;
        pattern.validate()?;
        let kv: Vec<KeyValue> =
            schema.key_value_metadata().into_iter().map(|(k, v)| KeyValue::new(k, Some(v))).collect();
        let mut props = props_base.clone().set_key_value_metadata(Some(kv));
        // Min/max of JSON text prunes nothing and costs a comparison per value.
        let json_columns = schema.columns.iter().filter(|c| matches!(c.kind, destination_core::ColumnType::Json));
        for column in json_columns.map(|c| c.column.as_str()).chain([destination_core::schema::ADDITIONAL_PROPERTIES]) {
            props = props.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
        }
        let props = props.build();
        sinks.push(StreamSink::new(schema.clone(), pattern, props, sync_start, workers.pool().clone()));
    }
    check_distinct_prefixes(&sinks)?;

    // Unbounded: the chunks in flight are bounded where they are handed out (`spawn_pipeline`).
    let (results_tx, mut results_rx) = tokio::sync::mpsc::unbounded_channel::<ChunkResult>();
    spawn_pipeline(input, index.clone(), schemas.clone(), results_tx, workers.pool().clone());

    let mut merger = Merger {
        config,
        storage: storage.clone(),
        sinks,
        tracker: Arc::new(Mutex::new(AckTracker::new(out.clone(), index))),
        observer,
        uncommitted_input: 0,
        oldest_pending_state: None,
        at_boundary: true,
        commit_requested: false,
        in_flight: None,
        input_ended: false,
        lines_before: 0,
        summary: SyncSummary::default(),
    };
    let mut reorder: BTreeMap<u64, ChunkResult> = BTreeMap::new();
    let mut next_seq = 0u64;
    let max_delay = Duration::from_secs(config.max_ack_delay_seconds);
    let outcome = async {
        loop {
            // Once a commit is requested for the next state, only new input can make progress: no deadline.
            let deadline = merger.oldest_pending_state.filter(|_| !merger.commit_requested).map(|t| t + max_delay);
            let step = {
                let in_flight = merger.in_flight.as_mut().map(|f| &mut f.task);
                let committing = in_flight.is_some();
                tokio::select! {
                    biased;
                    done = async { in_flight.expect("guarded by the condition").await }, if committing => {
                        Step::Committed(done)
                    }
                    received = async {
                        match deadline {
                            Some(d) => tokio::time::timeout_at(d.into(), results_rx.recv()).await.ok(),
                            None => Some(results_rx.recv().await),
                        }
                    } => Step::Received(received),
                }
            };
            match step {
                Step::Committed(done) => merger.complete_in_flight(done)?,
                Step::Received(None) => merger.deadline_passed().await?,
                Step::Received(Some(None)) => break,
                Step::Received(Some(Some(result))) => {
                    reorder.insert(result.seq, result);
                    while let Some(result) = reorder.remove(&next_seq) {
                        next_seq += 1;
                        merger.process(result).await?;
                    }
                }
            }
        }
        if !reorder.is_empty() {
            return Err(ConnectorError::system("input pipeline ended with chunks missing"));
        }
        merger.input_ended = true;
        merger.commit_all().await?;
        merger.finalise(catalog).await
    }
    .await;
    if let Err(error) = outcome {
        // States whose files are already being committed are still acknowledged when that succeeds.
        if let Err(e) = merger.finish_in_flight().await {
            tracing::warn!("a commit in progress failed after another error: {}", e.message);
        }
        return Err(error);
    }
    Ok(merger.summary)
}

/// What the merger loop woke up for.
enum Step {
    Committed(std::result::Result<Result<Vec<String>>, tokio::task::JoinError>),
    Received(Option<Option<ChunkResult>>),
}

fn writer_properties(config: &ParquetConfig) -> Result<parquet::file::properties::WriterPropertiesBuilder> {
    Ok(WriterProperties::builder()
        .set_compression(config.compression()?)
        .set_dictionary_enabled(config.format.dictionary_encoding)
        .set_data_page_size_limit((config.format.page_size_kb as usize) * 1024)
        .set_dictionary_page_size_limit((config.format.dictionary_page_size_kb as usize) * 1024)
        .set_statistics_enabled(EnabledStatistics::Page)
        // Raw ids never repeat: a dictionary would only be built and then abandoned for every row group.
        .set_column_dictionary_enabled(ColumnPath::from(destination_core::schema::RAW_ID), false)
        .set_created_by(format!("airbyte destination-parquet (Rust) {}", env!("CARGO_PKG_VERSION"))))
}

/// Two streams whose keys could collide (after sanitising) would delete each other's files on overwrite.
fn check_distinct_prefixes(sinks: &[StreamSink]) -> Result<()> {
    let probe = KeyValues { sync_start: DateTime::<Utc>::UNIX_EPOCH, part_number: 0, sync_id: None };
    let matchers = sinks.iter().map(|s| s.pattern.matcher()).collect::<Result<Vec<_>>>()?;
    for (i, a) in sinks.iter().enumerate() {
        let key_a = a.pattern.render(&probe)?;
        for (b, matcher) in sinks[i + 1..].iter().zip(&matchers[i + 1..]) {
            if matcher.matches(&key_a) {
                return Err(ConnectorError::config(format!(
                    "streams {} and {} map to the same object keys (after making names path-safe); give them \
                     distinct names or put ${{NAMESPACE}} and ${{STREAM_NAME}} in s3_path_format",
                    a.schema.descriptor, b.schema.descriptor
                )));
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------ input side

struct Chunk {
    seq: u64,
    bytes: ChunkBytes,
}

/// A chunk's lines: read from the input, or a range of stdin's file mapped into memory.
enum ChunkBytes {
    Owned(Vec<u8>),
    Mapped(Arc<MappedBytes>, std::ops::Range<usize>),
}

impl std::ops::Deref for ChunkBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ChunkBytes::Owned(bytes) => bytes,
            ChunkBytes::Mapped(mapped, range) => &mapped.map[range.clone()],
        }
    }
}

enum Job {
    Chunk(Chunk),
    Failed(u64, ConnectorError),
}

enum Event {
    /// Records of one stream, in input order up to the next state.
    Batch(usize, RecordBatch),
    Records(usize, u64),
    /// A state and its line within the chunk.
    State(Box<StateMessage>, u64),
    Trace(Box<TraceMessage>),
}

struct ChunkResult {
    seq: u64,
    events: Vec<Event>,
    input_bytes: usize,
    /// Lines of the chunk (up to the error, if any).
    lines: u64,
    error: Option<ChunkError>,
    /// The chunk's place among those in flight, given back when the merger drops the result.
    _in_flight: Option<InFlightChunk>,
}

impl ChunkResult {
    /// A chunk that yields nothing but `error`.
    fn failed(seq: u64, error: ConnectorError) -> ChunkResult {
        ChunkResult {
            seq,
            events: Vec::new(),
            input_bytes: 0,
            lines: 0,
            error: Some(ChunkError::Other(error)),
            _in_flight: None,
        }
    }
}

/// Chunks handed out and not yet taken in by the merger: at most [`MAX_CHUNKS_IN_FLIGHT`].
#[derive(Default)]
struct ChunksInFlight {
    count: Mutex<usize>,
    freed: Condvar,
}

struct InFlightChunk(Arc<ChunksInFlight>);

impl ChunksInFlight {
    /// Wait until fewer than the maximum are in flight, and count one more.
    fn take(self: &Arc<Self>) -> InFlightChunk {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *count >= MAX_CHUNKS_IN_FLIGHT {
            count = self.freed.wait(count).unwrap_or_else(|e| e.into_inner());
        }
        *count += 1;
        InFlightChunk(self.clone())
    }
}

impl Drop for InFlightChunk {
    fn drop(&mut self) {
        *self.0.count.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.0.freed.notify_one();
    }
}

/// Why a chunk's decoding stopped. Lines are numbered within the chunk: the merger, which knows how many
/// lines came before it, makes the error ([`ChunkError::into_error`]).
enum ChunkError {
    /// The line is not a valid message.
    Decode(DecodeError),
    /// A record of a stream that is not in the catalog.
    UnknownStream { line: u64, name: String, namespace: Option<String> },
    /// A record's data could not be added to its stream's batch.
    Record { line: u64, stream: usize, error: ConnectorError },
    /// Not about one line (finishing a batch, reading stdin).
    Other(ConnectorError),
}

impl ChunkError {
    /// The error as users see it, with line numbers counted from the start of the input.
    fn into_error(self, lines_before: u64, sinks: &[StreamSink]) -> ConnectorError {
        match self {
            ChunkError::Decode(mut e) => {
                e.line_number += lines_before;
                ConnectorError::config(e.to_string())
            }
            ChunkError::UnknownStream { line, name, namespace } => {
                StreamIndex::not_in_catalog(&name, namespace.as_deref(), lines_before + line)
            }
            ChunkError::Record { line, stream, error } => error.context(format!(
                "input line {} (stream {})",
                lines_before + line,
                sinks[stream].schema.descriptor
            )),
            ChunkError::Other(error) => error,
        }
    }
}

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    eof: bool,
    error: Option<std::io::Error>,
}

fn spawn_pipeline(
    input: Input,
    index: StreamIndex,
    schemas: Vec<Arc<StreamSchema>>,
    results: tokio::sync::mpsc::UnboundedSender<ChunkResult>,
    workers: Arc<WorkPool>,
) {
    let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job>(1);
    let pool: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
    match input.regular_file().and_then(MappedInput::new) {
        Some(mapped) => {
            let pool = pool.clone();
            std::thread::spawn(move || mapped.cut_into_chunks(jobs_tx, pool));
        }
        #[cfg(unix)]
        None if matches!(input, Input::Stdin) => spawn_stdin_chunks(jobs_tx, pool.clone()),
        None => spawn_reader_chunks(input.into_reader(), 0, true, jobs_tx, pool.clone()),
    }
    // Each chunk becomes a task of the worker threads; the chunks between here and the merger are bounded
    // (memory), and a task never waits for the merger (the workers encode what the merger hands on).
    let in_flight = Arc::new(ChunksInFlight::default());
    let scratches: Arc<Mutex<Vec<DecodeScratch>>> = Arc::new(Mutex::new(Vec::new()));
    // Shared by every chunk's task: cloned per chunk, the index copied every stream's names (1000 streams:
    // thousands of allocations per 2 MB chunk).
    let (index, schemas) = (Arc::new(index), Arc::new(schemas));
    std::thread::spawn(move || {
        for job in jobs_rx {
            let place = in_flight.take();
            // The merger stopped (an error ends the sync): decode no more.
            if results.is_closed() {
                return;
            }
            let (results, index, schemas, pool, scratches) =
                (results.clone(), index.clone(), schemas.clone(), pool.clone(), scratches.clone());
            workers.spawn(move || {
                let mut result = match job {
                    Job::Chunk(chunk) => {
                        let taken = scratches.lock().unwrap_or_else(|e| e.into_inner()).pop();
                        let mut scratch = taken.unwrap_or_else(|| DecodeScratch::new(schemas.len()));
                        // A panic would leave the merger waiting for this chunk: it becomes the chunk's error.
                        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            decode_chunk(&chunk, &index, &schemas, &mut scratch)
                        }));
                        let result = match decoded {
                            Ok(result) => {
                                scratches.lock().unwrap_or_else(|e| e.into_inner()).push(scratch);
                                result
                            }
                            Err(_) => ChunkResult::failed(
                                chunk.seq,
                                ConnectorError::system(format!(
                                    "decoding input chunk {} failed unexpectedly (a bug; please report it)",
                                    chunk.seq
                                )),
                            ),
                        };
                        match chunk.bytes {
                            ChunkBytes::Owned(mut bytes) => {
                                bytes.clear();
                                let mut free = pool.lock().unwrap_or_else(|e| e.into_inner());
                                if free.len() < 4 {
                                    free.push(bytes);
                                }
                            }
                            ChunkBytes::Mapped(mapped, range) => mapped.release(range),
                        }
                        result
                    }
                    Job::Failed(seq, error) => ChunkResult::failed(seq, error),
                };
                result._in_flight = Some(place);
                let _ = results.send(result);
            });
        }
    });
}

/// Stdin redirected from a regular file, mapped: its lines go to the decode workers as ranges of the mapping,
/// without the two copies reading costs (the kernel's into our buffer, ours into the pending input).
struct MappedInput {
    file: std::fs::File,
    mapped: Arc<MappedBytes>,
    /// Where stdin stood when the sync started.
    start: usize,
}

impl MappedInput {
    fn new(mut file: std::fs::File) -> Option<MappedInput> {
        let start = file.stream_position().ok()? as usize;
        if file.metadata().ok()?.len() as usize <= start {
            return None;
        }
        // SAFETY: a read-only private mapping of the file stdin was redirected from. Its bytes are only read.
        // Were another process to truncate the file during the sync, reading past the new end would fault
        // (SIGBUS), as for any program reading a mapped file; growth is handled (read after the mapping).
        let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        let _ = map.advise(memmap2::Advice::Sequential);
        tracing::info!("stdin is a regular file: reading its {} bytes from {start} on through a memory map", map.len());
        let mapped = Arc::new(MappedBytes { map, decoded: Mutex::default() });
        Some(MappedInput { file, mapped, start })
    }

    /// Hand the mapped whole lines on in chunks of about `CHUNK_BYTES`, then read whatever follows the last
    /// line end (a last line without one, or what was appended since) through the reader path.
    fn cut_into_chunks(mut self, jobs: mpsc::SyncSender<Job>, pool: Arc<Mutex<Vec<Vec<u8>>>>) {
        let data: &[u8] = &self.mapped.map;
        let mut pos = self.start;
        // As the reader path does, a BOM where reading starts is dropped.
        if data[pos..].starts_with(UTF8_BOM) {
            pos += UTF8_BOM.len();
        }
        self.mapped.decoded_below(pos);
        let whole_lines_end = memchr::memrchr(b'\n', &data[pos..]).map_or(pos, |i| pos + i + 1);
        let mut seq = 0;
        while pos < whole_lines_end {
            let limit = pos + CHUNK_BYTES;
            let cut = if limit >= whole_lines_end {
                whole_lines_end
            } else {
                match memchr::memrchr(b'\n', &data[pos..limit]) {
                    Some(i) => pos + i + 1,
                    // The limit falls in a line longer than a chunk: up to that line's end.
                    None => {
                        memchr::memchr(b'\n', &data[limit..whole_lines_end]).map_or(whole_lines_end, |i| limit + i + 1)
                    }
                }
            };
            if jobs.send(Job::Chunk(Chunk { seq, bytes: ChunkBytes::Mapped(self.mapped.clone(), pos..cut) })).is_err() {
                return;
            }
            seq += 1;
            pos = cut;
        }
        match self.file.seek(std::io::SeekFrom::Start(whole_lines_end as u64)) {
            Ok(_) => {
                let rest = std::io::BufReader::with_capacity(1 << 20, self.file);
                spawn_reader_chunks(Box::new(rest), seq, whole_lines_end == self.start, jobs, pool);
            }
            Err(e) => {
                let _ = jobs.send(Job::Failed(seq, ConnectorError::transient(format!("cannot read stdin: {e}"))));
            }
        }
    }
}

/// Stdin's file mapped into memory, cut into chunks (consecutive ranges), and which of them are decoded.
struct MappedBytes {
    map: memmap2::Mmap,
    decoded: Mutex<DecodedRanges>,
}

#[derive(Default)]
struct DecodedRanges {
    /// Every chunk below this offset is decoded.
    below: usize,
    /// `below` when the pages under it were last dropped.
    dropped_below: usize,
    /// Decoded chunks above `below` (start to end).
    above: BTreeMap<usize, usize>,
}

/// Pages a page fault maps lie in the 2 MB-aligned block of the faulting address (one page table): the most
/// that a fault in one chunk maps of the chunks before it.
const FAULT_MAPS_WITHIN: usize = 2 << 20;

impl MappedBytes {
    /// Chunks start at `offset` (where reading starts).
    fn decoded_below(&self, offset: usize) {
        let mut decoded = self.decoded.lock().unwrap_or_else(|e| e.into_inner());
        (decoded.below, decoded.dropped_below) = (offset, offset);
    }

    /// Drop a decoded chunk's pages from our resident memory (they stay in the page cache), so the peak does
    /// not grow with the input. A page fault maps the cached pages around it too (with large folios, up to
    /// its whole 2 MB block), so decoding a chunk maps pages of chunks decoded before it, and those stayed
    /// resident for good (the mapping's resident size crept up to 15 MB over 4M records). So each time the
    /// decoded chunks reach further, everything from [`FAULT_MAPS_WITHIN`] below where they reached last
    /// time is dropped again.
    fn release(&self, range: std::ops::Range<usize>) {
        let drop_again = {
            let mut guard = self.decoded.lock().unwrap_or_else(|e| e.into_inner());
            let decoded = &mut *guard;
            decoded.above.insert(range.start, range.end);
            while let Some(end) = decoded.above.remove(&decoded.below) {
                decoded.below = end;
            }
            let from = decoded.dropped_below.saturating_sub(FAULT_MAPS_WITHIN);
            let again = (decoded.below > decoded.dropped_below).then_some(from..decoded.below);
            decoded.dropped_below = decoded.below;
            again
        };
        for range in std::iter::once(range).chain(drop_again) {
            // SAFETY: the mapping is private and read-only, so dropping its pages loses nothing: a later read
            // of them (by a worker on a neighbouring range) reads the file again.
            let _ = unsafe {
                self.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, range.start, range.len())
            };
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Hands the read input on as numbered chunks (both read paths): a UTF-8 BOM at the start of the input is
/// dropped, empty chunks are skipped.
struct ChunkSender {
    jobs: mpsc::SyncSender<Job>,
    next: u64,
    at_input_start: bool,
}

impl ChunkSender {
    /// Hand `bytes` on as the next chunk; false when the pipeline has stopped taking chunks.
    fn send(&mut self, mut bytes: Vec<u8>) -> bool {
        if self.at_input_start && !bytes.is_empty() {
            self.at_input_start = false;
            if bytes.starts_with(UTF8_BOM) {
                bytes.drain(..UTF8_BOM.len());
            }
        }
        if bytes.is_empty() {
            return true;
        }
        let job = Job::Chunk(Chunk { seq: self.next, bytes: ChunkBytes::Owned(bytes) });
        self.next += 1;
        self.jobs.send(job).is_ok()
    }

    /// Reading stdin failed after the chunks handed on.
    fn fail(&self, e: std::io::Error) {
        let _ = self.jobs.send(Job::Failed(self.next, ConnectorError::transient(format!("cannot read stdin: {e}"))));
    }
}

/// The whole lines of `buf` (all of it if `all`), handed on as they are (no copy of the input); `buf` becomes a
/// buffer from `pool` holding the partial last line. Buffers come back through the pool, as fresh multi-MB
/// allocations fragment the allocator.
fn take_whole_lines(buf: &mut Vec<u8>, all: bool, pool: &Mutex<Vec<Vec<u8>>>) -> Vec<u8> {
    let cut = if all { buf.len() } else { memchr::memrchr(b'\n', buf).map_or(0, |i| i + 1) };
    let mut rest = take_pooled(pool);
    rest.extend_from_slice(&buf[cut..]);
    let mut bytes = std::mem::replace(buf, rest);
    bytes.truncate(cut);
    bytes
}

/// A chunk buffer back from the pipeline, or a new one.
fn take_pooled(pool: &Mutex<Vec<Vec<u8>>>) -> Vec<u8> {
    pool.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default()
}

/// Stdin that is not a mapped regular file (a pipe, as the platform feeds a destination, a socket or a
/// terminal): one thread reads straight into the chunk being filled and cuts it at line ends. The reader path
/// below copied every read into a shared buffer and woke a second thread for it (2% of the CPU time and a
/// wake-up per 64 KB pipe read). So that a slow source's lines are not held back while the thread would block
/// in `read`, it waits for input with a deadline (`poll`) whenever whole lines are waiting, and hands them on
/// after [`CHUNK_MAX_WAIT`].
#[cfg(unix)]
fn spawn_stdin_chunks(jobs_tx: mpsc::SyncSender<Job>, pool: Arc<Mutex<Vec<Vec<u8>>>>) {
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let fd = std::io::stdin().as_raw_fd();
        // A pipe of 1 MB instead of 64 KB: fewer reads, and fewer wake-ups of the source writing into it. A
        // larger pipe stays as it is; nothing changes where stdin is no pipe or the system's limit
        // (`fs.pipe-max-size`) is lower.
        #[cfg(target_os = "linux")]
        // SAFETY: F_GETPIPE_SZ and F_SETPIPE_SZ only read and resize the pipe's kernel buffer; on anything else
        // they fail harmlessly.
        unsafe {
            if (0..STDIN_PIPE_BYTES).contains(&libc::fcntl(fd, libc::F_GETPIPE_SZ)) {
                libc::fcntl(fd, libc::F_SETPIPE_SZ, STDIN_PIPE_BYTES);
            }
        }
        let mut chunks = ChunkSender { jobs: jobs_tx, next: 0, at_input_start: true };
        let mut buf = take_pooled(&pool);
        // When the first whole line of `buf` arrived.
        let mut lines_since: Option<Instant> = None;
        loop {
            if let Some(since) = lines_since {
                let waited = since.elapsed();
                if buf.len() >= CHUNK_BYTES || waited >= CHUNK_MAX_WAIT {
                    lines_since = None;
                    if !chunks.send(take_whole_lines(&mut buf, false, &pool)) {
                        return;
                    }
                    continue;
                }
                if !readable_within(fd, CHUNK_MAX_WAIT - waited) {
                    continue;
                }
            }
            let want = CHUNK_BYTES.saturating_sub(buf.len()).max(STDIN_READ_BYTES);
            buf.reserve(want);
            let filled = buf.len();
            // SAFETY: `reserve` left at least `want` bytes of spare capacity after `filled`; `read` writes at
            // most `want` bytes there, and the length grows only by what it wrote.
            let read = unsafe { libc::read(fd, buf.as_mut_ptr().add(filled).cast(), want) };
            match read {
                0 => {
                    chunks.send(buf);
                    return;
                }
                n if n > 0 => {
                    // SAFETY: as above: `read` initialised these `n` bytes.
                    unsafe { buf.set_len(filled + n as usize) };
                    if lines_since.is_none() && memchr::memchr(b'\n', &buf[filled..]).is_some() {
                        lines_since = Some(Instant::now());
                    }
                }
                _ => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    if e.kind() == std::io::ErrorKind::WouldBlock {
                        // Stdin was left non-blocking by whoever started us: wait for input as a read would,
                        // or until whole lines waiting are due.
                        let due = lines_since.map(|since| CHUNK_MAX_WAIT.saturating_sub(since.elapsed()));
                        readable_within(fd, due.unwrap_or(CHUNK_MAX_WAIT));
                        continue;
                    }
                    // As on the reader path: what was read goes on, then the error.
                    if chunks.send(buf) {
                        chunks.fail(e);
                    }
                    return;
                }
            }
        }
    });
}

/// The pipe buffer stdin asks for: 1 MB, the most an unprivileged process may set by default.
#[cfg(target_os = "linux")]
const STDIN_PIPE_BYTES: libc::c_int = 1 << 20;

/// The least a read of stdin asks for, even when the chunk is nearly full: a default pipe buffer's 64 KB.
#[cfg(unix)]
const STDIN_READ_BYTES: usize = 64 << 10;

/// Whether `fd` has input (or its end, or an error for `read` to report) within `timeout`.
#[cfg(unix)]
fn readable_within(fd: std::os::fd::RawFd, timeout: Duration) -> bool {
    let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // Rounded up: a deadline rounded down to 0 ms would spin.
    let millis = timeout.as_micros().div_ceil(1000).clamp(1, i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd, for the duration of the call.
    match unsafe { libc::poll(&mut poll, 1, millis) } {
        0 => false,
        // A signal: the caller checks its deadline and waits again.
        r if r < 0 => std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted,
        _ => true,
    }
}

/// The reader path: a pump thread copies whatever `input` has into a shared buffer (the only thread that may
/// block on it), and a chunker cuts that at line ends into chunks numbered from `first_seq`; a UTF-8 BOM is
/// dropped from the first chunk if `input_start`.
fn spawn_reader_chunks(
    mut input: Box<dyn BufRead + Send>,
    first_seq: u64,
    input_start: bool,
    jobs_tx: mpsc::SyncSender<Job>,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    let shared = Arc::new((Mutex::new(Pending::default()), Condvar::new(), Condvar::new()));
    let pump_shared = shared.clone();
    std::thread::spawn(move || {
        let (lock, data_ready, space_ready) = &*pump_shared;
        loop {
            let (n, done, error) = match input.fill_buf() {
                Ok([]) => (0, true, None),
                Ok(bytes) => {
                    let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
                    // Wait for room, unless the chunker needs more bytes to see a line end.
                    while p.buf.len() >= MAX_PENDING_INPUT && memchr::memchr(b'\n', &p.buf).is_some() {
                        p = space_ready.wait(p).unwrap_or_else(|e| e.into_inner());
                    }
                    p.buf.extend_from_slice(bytes);
                    data_ready.notify_one();
                    (bytes.len(), false, None)
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => (0, true, Some(e)),
            };
            input.consume(n);
            if done {
                let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
                p.eof = true;
                p.error = error;
                data_ready.notify_one();
                return;
            }
        }
    });

    let chunker_pool = pool;
    // Chunker: cuts the buffered input at line ends into numbered chunks.
    std::thread::spawn(move || {
        let pool = chunker_pool;
        let (lock, data_ready, space_ready) = &*shared;
        let mut chunks = ChunkSender { jobs: jobs_tx, next: first_seq, at_input_start: input_start };
        loop {
            let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
            let waiting_since = Instant::now();
            loop {
                if p.eof || p.buf.len() >= CHUNK_BYTES {
                    break;
                }
                let waited = waiting_since.elapsed();
                if !p.buf.is_empty() && waited >= CHUNK_MAX_WAIT && memchr::memchr(b'\n', &p.buf).is_some() {
                    break;
                }
                let timeout = CHUNK_MAX_WAIT.saturating_sub(waited).max(Duration::from_millis(10));
                p = data_ready.wait_timeout(p, timeout).unwrap_or_else(|e| e.into_inner()).0;
            }
            let eof = p.eof;
            let bytes = take_whole_lines(&mut p.buf, eof, &pool);
            let eof = eof && p.buf.is_empty();
            let error = if eof { p.error.take() } else { None };
            space_ready.notify_one();
            drop(p);
            if !chunks.send(bytes) {
                return;
            }
            if let Some(e) = error {
                chunks.fail(e);
                return;
            }
            if eof {
                return;
            }
        }
    });
}

/// A decode worker's reusable state: builders keep their buffers' capacity from chunk to chunk.
struct DecodeScratch {
    builders: Vec<Option<BatchBuilder>>,
    members: Vec<DataMember>,
}

impl DecodeScratch {
    fn new(streams: usize) -> Self {
        DecodeScratch { builders: (0..streams).map(|_| None).collect(), members: Vec::new() }
    }
}

/// Decode one chunk: every line's envelope, record data into per-stream builders. Lines are numbered from 1
/// within the chunk.
fn decode_chunk(
    chunk: &Chunk,
    index: &StreamIndex,
    schemas: &[Arc<StreamSchema>],
    scratch: &mut DecodeScratch,
) -> ChunkResult {
    let DecodeScratch { builders, members } = scratch;
    let mut events: Vec<Event> = Vec::new();
    let mut error = None;
    let mut line_number = 0u64;
    let mut last_stream = None;
    let mut start = 0;
    let bytes: &[u8] = &chunk.bytes;
    let ends = memchr::memchr_iter(b'\n', bytes).chain((bytes.last() != Some(&b'\n')).then_some(bytes.len()));
    for end in ends {
        let mut line = &bytes[start..end];
        start = end + 1;
        line_number += 1;
        while let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // The keys of the last record's stream, which the next record most likely shares.
        let expected = last_stream.map(|i: usize| schemas[i].expected_keys());
        match decode_line_split_expecting(line, line_number, members, expected.map(|keys| &**keys)) {
            Ok((InputMessage::Record(record), split)) => {
                // Consecutive records are mostly of one stream: compare with the last one before hashing.
                let same_stream = last_stream.filter(|&i| {
                    let d = index.descriptor(i);
                    d.name == record.stream && d.namespace.as_deref() == record.namespace.as_deref()
                });
                let Some(i) = same_stream.or_else(|| index.lookup(&record.stream, record.namespace.as_deref())) else {
                    let (name, namespace) = (record.stream.to_string(), record.namespace.map(|n| n.to_string()));
                    error = Some(ChunkError::UnknownStream { line: line_number, name, namespace });
                    break;
                };
                last_stream = Some(i);
                let builder = builders[i].get_or_insert_with(|| BatchBuilder::new(schemas[i].clone()));
                let changes = record.meta.as_ref().map(|m| m.changes.as_slice()).unwrap_or(&[]);
                let data = record.data.get();
                // Members split with the keys of the last stream name this stream's columns when the two share them.
                let keys_fit = expected.is_some_and(|keys| Arc::ptr_eq(keys, schemas[i].expected_keys()));
                let pushed = if split && keys_fit {
                    builder.push_members_expected(data, members, record.emitted_at, changes)
                } else if split {
                    builder.push_members(data, members, record.emitted_at, changes)
                } else {
                    builder.push_validated(data, record.emitted_at, changes)
                };
                if let Err(e) = pushed {
                    error = Some(ChunkError::Record { line: line_number, stream: i, error: e });
                    break;
                }
                match events.last_mut() {
                    Some(Event::Records(s, n)) if *s == i => *n += 1,
                    _ => events.push(Event::Records(i, 1)),
                }
            }
            Ok((InputMessage::State(state), _)) => {
                // Batches end at every state, so files can be committed exactly at state boundaries.
                if let Err(e) = flush_builders(builders, &mut events) {
                    error = Some(ChunkError::Other(e));
                    break;
                }
                events.push(Event::State(state, line_number));
            }
            Ok((InputMessage::Trace(trace), _)) => events.push(Event::Trace(trace)),
            Ok((InputMessage::Log(_) | InputMessage::Other(_), _)) => {}
            Err(e) => {
                error = Some(ChunkError::Decode(e));
                break;
            }
        }
    }
    if let Err(e) = flush_builders(builders, &mut events) {
        error.get_or_insert(ChunkError::Other(e));
    }
    ChunkResult { seq: chunk.seq, events, input_bytes: chunk.bytes.len(), lines: line_number, error, _in_flight: None }
}

fn flush_builders(builders: &mut [Option<BatchBuilder>], events: &mut Vec<Event>) -> Result<()> {
    for (i, builder) in builders.iter_mut().enumerate() {
        if let Some(b) = builder.as_mut().filter(|b| !b.is_empty()) {
            events.push(Event::Batch(i, b.finish()?));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------ output side

/// When memory is large, an open row group at least this big is flushed before its file's commit goes beside
/// the pipeline.
const FLUSH_BEFORE_COMMIT_BYTES: usize = 16 << 20;

struct OpenFile {
    staged: PathBuf,
    writer: SampledParquetWriter<StagingFile>,
    rows: usize,
}

struct StreamSink {
    schema: Arc<StreamSchema>,
    pattern: KeyPattern,
    props: WriterProperties,
    sync_start: DateTime<Utc>,
    open: Option<OpenFile>,
    next_part: u64,
    committed: HashSet<String>,
    /// Encode the stream's files' columns.
    workers: Arc<WorkPool>,
}

impl StreamSink {
    fn new(
        schema: Arc<StreamSchema>,
        pattern: KeyPattern,
        props: WriterProperties,
        start: DateTime<Utc>,
        workers: Arc<WorkPool>,
    ) -> Self {
        let committed = HashSet::new();
        StreamSink { schema, pattern, props, sync_start: start, open: None, next_part: 0, committed, workers }
    }

    fn has_rows(&self) -> bool {
        self.open.as_ref().is_some_and(|f| f.rows > 0)
    }

    fn parquet_error(&self, e: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::system(format!("cannot write Parquet for stream {}: {e}", self.schema.descriptor))
    }

    /// Bytes of the open file so far (written plus buffered row group).
    fn size(&self) -> usize {
        self.open.as_ref().map_or(0, |f| f.writer.bytes_written() + f.writer.in_progress_size())
    }

    /// Append a batch; returns the open file's size afterwards.
    fn write(&mut self, storage: &Storage, batch: &RecordBatch, block_size: usize) -> Result<usize> {
        if self.open.is_none() {
            let (staged, file) = storage.create_staging_file()?;
            let mut writer = SampledParquetWriter::new(
                file,
                self.schema.arrow_schema(),
                self.props.clone(),
                Encoders::Pool(self.workers.clone()),
            );
            // The spill needs positioned reads and writes (Unix); elsewhere, and with DESTINATION_SPILL_PAGES=0,
            // the pages stay in memory. Codecs the own encoder does not write never spill. Pages spill only
            // beyond the page budget the open files share: with one to three streams, rarely.
            if cfg!(unix)
                && std::env::var("DESTINATION_SPILL_PAGES").map_or(true, |v| v != "0")
                && destination_core::parquet_file::pages_may_spill(&self.props)
            {
                writer = writer.spill_pages_beyond_page_budget(Arc::new(storage.create_page_spill()?));
            }
            self.open = Some(OpenFile { staged, writer, rows: 0 });
        }
        let open = self.open.as_mut().expect("opened above");
        let result = open.writer.write(batch).and_then(|_| {
            if open.writer.in_progress_size() >= block_size {
                open.writer.flush()?;
            }
            Ok(())
        });
        open.rows += batch.num_rows();
        result.map_err(|e| self.parquet_error(e))?;
        Ok(self.size())
    }

    /// Close the open file and make it visible under its final key.
    async fn commit(&mut self, storage: &Arc<Storage>) -> Result<Option<String>> {
        match self.take_for_commit(storage).await? {
            Some(file) => commit_file(storage.clone(), file, false).await.map(Some),
            None => Ok(None),
        }
    }

    /// Take the open file out of the sink with the key it will be committed under ([`commit_file`]); the
    /// sink opens a new file for the next batch.
    async fn take_for_commit(&mut self, storage: &Storage) -> Result<Option<FileToCommit>> {
        let Some(mut open) = self.open.take() else { return Ok(None) };
        // When memory is large, a big open row group is written out here rather than beside the pipeline, so
        // that it is not still in memory while the next file fills its own: at most one large row group at a
        // time. Otherwise the commit writes it, and the merger goes on handing the workers new chunks (writing
        // here left them idle for 2-3% of the time).
        if open.writer.in_progress_size() >= FLUSH_BEFORE_COMMIT_BYTES
            && destination_core::memory::resident_memory_is_large()
        {
            if let Err(e) = open.writer.flush() {
                let _ = std::fs::remove_file(&open.staged);
                return Err(self.parquet_error(e));
            }
        }
        let key = loop {
            let values =
                KeyValues { sync_start: self.sync_start, part_number: self.next_part, sync_id: self.schema.sync_id };
            self.next_part += 1;
            let key = self.pattern.render(&values)?;
            // A custom pattern without per-sync values could name an existing file: never overwrite one.
            if !self.committed.contains(&key) && !storage.exists(&key).await? {
                break key;
            }
        };
        self.committed.insert(key.clone());
        Ok(Some(FileToCommit {
            open,
            key,
            generation: self.schema.generation_id,
            stream: self.schema.descriptor.to_string(),
        }))
    }
}

/// A finished file on its way to its final key.
struct FileToCommit {
    open: OpenFile,
    key: String,
    generation: i64,
    stream: String,
}

/// Flush the file's last row group and footer, sync it, and make it visible under its key (rename or
/// upload). The flush waits for encoding threads and the sync for the disk, so both run off the runtime.
/// The sync's last upload (`last_of_sync`) hands freed memory back while it runs: at exit, unmapping it came
/// after the last message (about 5 ms, 0.7% of a 1M-record sync). A local commit waits for the disk only
/// briefly (the file went to it as it grew), so there the release, holding the allocator's locks, delayed the
/// last messages instead: 1-1.7% of a 1M-record sync's time.
async fn commit_file(storage: Arc<Storage>, file: FileToCommit, last_of_sync: bool) -> Result<String> {
    let FileToCommit { open, key, generation, stream } = file;
    let OpenFile { staged, writer, rows } = open;
    let finish_staged = staged.clone();
    let release_while_uploading = last_of_sync && storage.uploads();
    let finished = tokio::task::spawn_blocking(move || -> std::result::Result<(), String> {
        let file = writer.into_inner().map_err(|e| e.to_string())?;
        if release_while_uploading {
            drop(destination_core::memory::release_freed_memory_in_background());
        }
        file.finish().map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(format!("the file writer stopped: {e}")));
    if let Err(e) = finished {
        let _ = std::fs::remove_file(&finish_staged);
        return Err(ConnectorError::system(format!("cannot write Parquet for stream {stream}: {e}")));
    }
    storage.commit(&staged, &key, generation).await?;
    tracing::info!("committed {} ({rows} rows)", storage.describe(&key));
    Ok(key)
}

/// Files being committed beside the pipeline; the task acknowledges their states when they are visible.
struct InFlight {
    task: tokio::task::JoinHandle<Result<Vec<String>>>,
    /// Records received when the commit started: every one of them is in a committed file once it is done.
    position: u64,
}

struct Merger<'a, 'o> {
    config: &'a ParquetConfig,
    storage: Arc<Storage>,
    sinks: Vec<StreamSink>,
    /// Shared with the commit task, which acknowledges right after its files are visible.
    tracker: Arc<Mutex<AckTracker>>,
    observer: Option<&'o mut dyn BatchObserver>,
    uncommitted_input: usize,
    oldest_pending_state: Option<Instant>,
    /// The last event was a state: everything received is covered by a state.
    at_boundary: bool,
    /// The ack deadline passed between states: commit at the next one.
    commit_requested: bool,
    /// At most one commit runs beside the pipeline.
    in_flight: Option<InFlight>,
    /// The input is read to its end: the next commit is the last.
    input_ended: bool,
    /// Input lines of the chunks processed so far.
    lines_before: u64,
    summary: SyncSummary,
}

impl Merger<'_, '_> {
    async fn process(&mut self, result: ChunkResult) -> Result<()> {
        let block_size = self.config.block_size_bytes();
        let file_limit = self.config.file_size_limit_bytes();
        self.uncommitted_input += result.input_bytes;
        for event in result.events {
            match event {
                Event::Batch(i, batch) => {
                    self.at_boundary = false;
                    if let Some(observer) = self.observer.as_deref_mut() {
                        observer.observe(&self.sinks[i].schema, &batch)?;
                    }
                    let size = self.sinks[i].write(&self.storage, &batch, block_size)?;
                    // Files are cut at state boundaries; only a source that sends no states for a long
                    // stretch makes us cut one in between (its records may then be sent again after a crash).
                    if size >= file_limit.saturating_mul(2) {
                        if let Some(key) = self.sinks[i].commit(&self.storage).await? {
                            self.summary.committed_keys.push(key);
                        }
                        destination_core::memory::release_freed_memory_when_large();
                    }
                }
                Event::Records(i, n) => {
                    self.at_boundary = false;
                    self.tracker().record(i, n);
                    self.summary.records += n;
                }
                Event::State(state, line) => {
                    self.tracker().state(*state, self.lines_before + line)?;
                    self.oldest_pending_state.get_or_insert_with(Instant::now);
                    self.at_boundary = true;
                    if self.sinks.iter().all(|s| !s.has_rows()) {
                        self.ack_all()?;
                    } else if self.commit_due(file_limit) {
                        self.start_commit_all().await?;
                    }
                }
                Event::Trace(trace) => self.tracker().trace(&trace),
            }
        }
        if let Some(error) = result.error {
            let error = error.into_error(self.lines_before, &self.sinks);
            // Commit only at a state boundary: records after the last state must not become visible
            // without an acknowledgement, or a retry would write them twice.
            if self.at_boundary {
                self.commit_all().await?;
            } else {
                self.finish_in_flight().await?;
                self.discard_open_files();
            }
            return Err(error);
        }
        self.lines_before += result.lines;
        Ok(())
    }

    /// States wait and the lag, the delay or a file's size says it is time.
    fn commit_due(&self, file_limit: usize) -> bool {
        self.tracker().pending() > 0
            && (self.commit_requested
                || self.uncommitted_input >= self.config.max_ack_lag_bytes()
                || self.oldest_pending_state.is_some_and(|t| t.elapsed() >= self.max_delay())
                || self.sinks.iter().any(|s| s.size() >= file_limit))
    }

    fn max_delay(&self) -> Duration {
        Duration::from_secs(self.config.max_ack_delay_seconds)
    }

    /// The ack deadline passed while no input arrived: commit now if we are at a state boundary, else at
    /// the next state.
    async fn deadline_passed(&mut self) -> Result<()> {
        if self.at_boundary {
            self.start_commit_all().await
        } else {
            self.commit_requested = true;
            Ok(())
        }
    }

    fn discard_open_files(&mut self) {
        for sink in &mut self.sinks {
            if let Some(open) = sink.open.take() {
                let _ = std::fs::remove_file(&open.staged);
            }
        }
    }

    /// Acknowledge every state received so far (no open file holds a record before them). With a commit in
    /// flight there can be no record after its start, so its completion acknowledges them.
    fn ack_all(&mut self) -> Result<()> {
        if self.in_flight.is_none() {
            let mut tracker = self.tracker();
            let position = tracker.position();
            tracker.commit(position)?;
        }
        self.oldest_pending_state = None;
        self.commit_requested = false;
        Ok(())
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, AckTracker> {
        self.tracker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start committing every open file beside the pipeline (after the previous commit completed); the
    /// states received so far are acknowledged when it completes.
    async fn start_commit_all(&mut self) -> Result<()> {
        self.finish_in_flight().await?;
        let mut files = Vec::new();
        for sink in &mut self.sinks {
            files.extend(sink.take_for_commit(&self.storage).await?);
        }
        if !files.is_empty() {
            let storage = self.storage.clone();
            let tracker = self.tracker.clone();
            let position = self.tracker().position();
            let last = files.len() - 1;
            let input_ended = self.input_ended;
            let task = tokio::spawn(async move {
                let mut keys = Vec::with_capacity(files.len());
                for (i, file) in files.into_iter().enumerate() {
                    keys.push(commit_file(storage.clone(), file, input_ended && i == last).await?);
                }
                // Acknowledge at once: the time between a file becoming visible and its states being sent is
                // when a crash makes the platform send those records again.
                tracker.lock().unwrap_or_else(|e| e.into_inner()).commit(position)?;
                Ok(keys)
            });
            self.in_flight = Some(InFlight { task, position });
        }
        self.uncommitted_input = 0;
        self.ack_all()
    }

    /// Wait for the commit in flight, if any.
    async fn finish_in_flight(&mut self) -> Result<()> {
        match self.in_flight.as_mut() {
            Some(in_flight) => {
                let done = (&mut in_flight.task).await;
                self.complete_in_flight(done)
            }
            None => Ok(()),
        }
    }

    /// The commit in flight ended with `done`: note its keys, or fail.
    fn complete_in_flight(
        &mut self,
        done: std::result::Result<Result<Vec<String>>, tokio::task::JoinError>,
    ) -> Result<()> {
        let Some(in_flight) = self.in_flight.take() else { return Ok(()) };
        let keys = done.map_err(|e| ConnectorError::system(format!("a file commit stopped: {e}")))??;
        self.summary.committed_keys.extend(keys);
        // Once per commit, not per file: many streams commit together.
        destination_core::memory::release_freed_memory_when_large();
        // States queued after the task acknowledged, with no record since the commit started (their `ack_all`
        // left them to the commit), are durable now too.
        self.tracker().commit(in_flight.position)?;
        Ok(())
    }

    /// Commit every open file and wait for it, then acknowledge every state received so far.
    async fn commit_all(&mut self) -> Result<()> {
        self.start_commit_all().await?;
        self.finish_in_flight().await?;
        self.ack_all()
    }

    /// After a successful end: remove what overwrite and truncate refreshes replace, per stream that
    /// succeeded (COMPLETE status, or clean EOF when the platform sends no statuses).
    async fn finalise(&mut self, catalog: &ConfiguredAirbyteCatalog) -> Result<()> {
        for (i, stream) in catalog.streams.iter().enumerate() {
            if !self.tracker().stream_succeeded(i) {
                tracing::info!("stream {} did not complete; previous files are kept", stream.descriptor());
                continue;
            }
            let threshold = match (stream.destination_sync_mode, stream.generation_id, stream.minimum_generation_id) {
                (DestinationSyncMode::Overwrite, Some(generation), _) => Cleanup::BelowGeneration(generation),
                (DestinationSyncMode::Overwrite, None, _) => Cleanup::AllOlder,
                (_, _, Some(minimum)) if minimum > 0 => Cleanup::BelowGeneration(minimum),
                _ => continue,
            };
            let sink = &self.sinks[i];
            let prefix = sink.pattern.list_prefix()?;
            let matcher = sink.pattern.matcher()?;
            for key in self.storage.list(&prefix).await? {
                if sink.committed.contains(&key) || !matcher.matches(&key) {
                    continue;
                }
                let delete = match threshold {
                    Cleanup::AllOlder => true,
                    Cleanup::BelowGeneration(g) => match self.storage.file_generation(&key).await {
                        Ok(found) => found.unwrap_or(-1) < g,
                        Err(e) => {
                            tracing::warn!("keeping {key}: {}", e.message);
                            false
                        }
                    },
                };
                if delete {
                    self.storage.delete(&key).await?;
                    tracing::info!("removed {} (replaced by this sync)", self.storage.describe(&key));
                    self.summary.deleted_keys.push(key);
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Cleanup {
    BelowGeneration(i64),
    AllOlder,
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write;

    /// Resident KB of this process's mapping that starts at `start` (from /proc/self/smaps).
    fn resident_kb(start: usize) -> usize {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut lines = smaps.lines();
        while let Some(line) = lines.next() {
            let from = line.split(['-', ' ']).next().and_then(|f| usize::from_str_radix(f, 16).ok());
            if from == Some(start) {
                let rss = lines.find_map(|l| l.strip_prefix("Rss:")).expect("an Rss line");
                return rss.trim().trim_end_matches("kB").trim().parse().unwrap();
            }
        }
        panic!("no mapping at {start:#x}");
    }

    #[test]
    fn pages_of_decoded_chunks_mapped_again_by_a_later_fault_are_dropped() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![b'x'; 8 << 20]).unwrap();
        // SAFETY: a private read-only mapping of a file only this test has.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        // Mapped page by page, as the input's pages are: a fault mapping a whole 2 MB block at once would also
        // be dropped whole by any partial release.
        map.advise(memmap2::Advice::NoHugePage).unwrap();
        let mapped = MappedBytes { map, decoded: Mutex::default() };
        let touch = |range: std::ops::Range<usize>| {
            std::hint::black_box(range.step_by(4096).map(|i| mapped.map[i]).max());
        };
        let resident = || resident_kb(mapped.map.as_ptr() as usize);
        // Four chunks from a BOM on, cut inside 2 MB blocks, decoded out of order.
        let cuts = [3, 3 << 20, (5 << 20) + 77, (7 << 20) + 5000, 8 << 20];
        mapped.decoded_below(cuts[0]);
        for k in [1, 0, 3, 2] {
            let chunk = cuts[k]..cuts[k + 1];
            touch(chunk.clone());
            // Decoding a chunk maps the pages before it in its 2 MB block too (fault-around): the last
            // chunk decoded here maps 1 MB of the second, which was decoded and released before.
            touch(chunk.start / FAULT_MAPS_WITHIN * FAULT_MAPS_WITHIN..chunk.start);
            mapped.release(chunk);
        }
        assert_eq!(resident(), 0, "pages of decoded chunks stayed resident");
        // Only up to where the chunks are decoded: an undecoded chunk's pages stay (a worker reads them).
        mapped.decoded_below(0);
        touch(0..(8 << 20));
        mapped.release(0..(2 << 20));
        mapped.release((4 << 20)..(6 << 20));
        let left = resident();
        assert!(left >= 4 << 10, "pages of the undecoded chunks were dropped: {left} KB left");
        mapped.release((2 << 20)..(4 << 20));
        mapped.release((6 << 20)..(8 << 20));
        assert_eq!(resident(), 0);
    }
}
