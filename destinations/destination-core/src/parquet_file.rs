//! [`ParquetFileWriter`]: an Arrow -> Parquet file writer that encodes columns on several threads.
//!
//! parquet's `ArrowWriter` encodes every column of a batch on the calling thread, which makes the writer the
//! slowest stage of a destination. Here [`write`](ParquetFileWriter::write) only queues the batch for each
//! top-level column, and the threads of a [`WorkPool`] (the file's own, or one a destination shares between
//! its files and its decoding) take the columns' queued batches as they come free: whichever thread is free
//! encodes the next column that has work, one batch of a column at a time and in order, so a costly column
//! does not leave a thread idle as a fixed split of columns over threads did.
//! [`flush`](ParquetFileWriter::flush) has the threads close the columns and appends the row group in column
//! order. The file has what `ArrowWriter` writes (schema, metadata, row-group rules, values, statistics);
//! flat columns, one-leaf lists of flat items, and required structs of these and of lists of required structs
//! of flat items (`_airbyte_meta`) (PLAIN, with or without a dictionary) are encoded by [`PlainColumnWriter`],
//! whose pages may be cut at other rows and whose page index carries no level histograms.

use crate::dict_column::{hash_bytes, hash_word};
use crate::page_spill::PageSpill;
use crate::plain_column::{EncodedPages, PlainColumnWriter};
use arrow::array::{Array, ArrayRef, AsArray, ListArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Int64Type, SchemaRef};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Batches a column may have queued before [`ParquetFileWriter::write`] waits (bounds memory).
const COLUMN_QUEUE: usize = 2;

/// What the open pages of all columns of the files open at once ([`MemoryBudget`]) may hold together. Every
/// column fills a page in memory before compressing it, so a table of 300 string columns held 193 MB of page
/// buffers at 1 MB pages; with more leaf columns open than this allows at the configured page size, pages get
/// smaller.
pub const PAGE_BUFFER_BUDGET_BYTES: usize = 64 << 20;
/// The smallest page size [`PAGE_BUFFER_BUDGET_BYTES`] leads to: below it, headers and compression suffer.
pub const MIN_BUDGETED_PAGE_BYTES: usize = 32 << 10;
/// The open files' dictionaries together, as their pages' bytes: past this, a dictionary that still grows is
/// written and its column goes on PLAIN (parquet's fallback, which otherwise comes at `dictionary_page_size_kb`
/// per column). A dictionary takes about three times its page's bytes in memory (its hash table and entries),
/// so with 1000 streams open, dictionaries of their near-unique columns came to 142 MB of the peak.
pub const DICTIONARY_BUDGET_BYTES: usize = 16 << 20;

/// One top-level column's leaf writers (a struct or list column has several leaves).
struct EncodedColumn {
    field: usize,
    writers: Vec<(usize, LeafWriter)>,
    /// Where each leaf's values are in the column, when every leaf is own-encoded (else parquet splits it).
    own_sources: Option<Vec<LeafSource>>,
}

/// Where an own-encoded leaf's values are in its top-level column.
#[derive(Clone, Copy, Debug, PartialEq)]
enum LeafSource {
    /// The column itself: a flat column or a one-leaf list.
    Whole,
    /// Child `i` of a struct column that has no nulls.
    StructField(usize),
    /// Child `k` of the items of the list that is child `i` of a struct column (items: structs without nulls),
    /// as a one-leaf list with the outer list's offsets and validity.
    StructListItemField(usize, usize),
}

impl LeafSource {
    /// The leaf's values out of `column`, shaped as [`PlainColumnWriter`] takes them.
    fn extract(self, column: &ArrayRef) -> Result<ArrayRef> {
        let not_own = |what: &str| ParquetError::General(format!("{what} does not fit the own encoder"));
        let parent = |column: &ArrayRef| match column.as_struct_opt() {
            Some(s) if s.null_count() == 0 => Ok(s.clone()),
            _ => Err(not_own("a struct column with nulls")),
        };
        Ok(match self {
            LeafSource::Whole => column.clone(),
            LeafSource::StructField(i) => parent(column)?.column(i).clone(),
            LeafSource::StructListItemField(i, k) => {
                let parent = parent(column)?;
                let list = parent.column(i).as_list_opt::<i32>().ok_or_else(|| not_own("a struct child"))?;
                let items = match list.values().as_struct_opt() {
                    Some(items) if items.null_count() == 0 => items,
                    _ => return Err(not_own("a list of structs with null items")),
                };
                let leaf = &items.fields()[k];
                let item = Arc::new(Field::new("item", leaf.data_type().clone(), leaf.is_nullable()));
                Arc::new(ListArray::try_new(
                    item,
                    list.offsets().clone(),
                    items.column(k).clone(),
                    list.nulls().cloned(),
                )?)
            }
        })
    }
}

/// The leaves of a top-level column as the own encoder takes them, in parquet's leaf order, with the Arrow type
/// each is handed over as: the column itself, or, for a struct column without nulls, its flat children and
/// the flat children of its lists of structs (the shape of `_airbyte_meta`). `None` for other shapes.
fn own_leaf_sources(field: &Field) -> Option<Vec<(LeafSource, DataType)>> {
    let flat = |t: &DataType| !t.is_nested();
    let DataType::Struct(children) = field.data_type() else {
        return Some(vec![(LeafSource::Whole, field.data_type().clone())]);
    };
    // A nullable struct adds a definition level the own encoder does not make.
    if field.is_nullable() || children.is_empty() {
        return None;
    }
    let mut sources = Vec::new();
    for (i, child) in children.iter().enumerate() {
        match child.data_type() {
            t if flat(t) => sources.push((LeafSource::StructField(i), t.clone())),
            DataType::List(item) if !item.is_nullable() => {
                let DataType::Struct(item_fields) = item.data_type() else { return None };
                if item_fields.is_empty() || !item_fields.iter().all(|f| flat(f.data_type())) {
                    return None;
                }
                for (k, f) in item_fields.iter().enumerate() {
                    let as_list = DataType::List(Arc::new(Field::new("item", f.data_type().clone(), f.is_nullable())));
                    sources.push((LeafSource::StructListItemField(i, k), as_list));
                }
            }
            _ => return None,
        }
    }
    Some(sources)
}

/// A leaf column's encoder: parquet's, or ours ([`PlainColumnWriter`], dictionary or not) for the leaves
/// [`own_leaf_sources`] finds.
enum LeafWriter {
    Arrow(Box<ArrowColumnWriter>),
    Plain(Box<PlainColumnWriter>),
}

/// A leaf's encoded column chunk, ready to be appended to the row group.
enum LeafChunk {
    Arrow(ArrowColumnChunk),
    Plain(EncodedPages, ColumnCloseResult),
}

impl LeafWriter {
    fn estimated_size(&self) -> usize {
        match self {
            LeafWriter::Arrow(w) => w.get_estimated_total_bytes(),
            LeafWriter::Plain(w) => w.estimated_size(),
        }
    }
    fn close(self) -> Result<LeafChunk> {
        Ok(match self {
            LeafWriter::Arrow(w) => LeafChunk::Arrow(w.close()?),
            LeafWriter::Plain(w) => {
                let (bytes, close) = w.close()?;
                LeafChunk::Plain(bytes, close)
            }
        })
    }
}

/// What a column's queue holds: a batch to encode, or the end of its row group.
enum ColumnWork {
    /// One batch shared by all the file's columns: a clone per column cost an allocation and an atomic increment
    /// per array, which with many streams (thousands of small batches) added up.
    Batch(Arc<RecordBatch>),
    Close,
}

/// One top-level column of the open row group, as the encoding threads share it.
#[derive(Default)]
struct ColumnSlot {
    /// Its writers; `None` while a thread is encoding it (or before the row group opens).
    column: Option<EncodedColumn>,
    queue: VecDeque<ColumnWork>,
    /// Estimated encoded bytes so far in the row group.
    estimate: usize,
    /// The column's chunks once closed.
    closed: Option<Result<Vec<(usize, LeafChunk)>>>,
}

/// One file's columns in a [`WorkPool`].
struct FileState {
    fields: Fields,
    slots: Vec<ColumnSlot>,
    /// Columns with [`COLUMN_QUEUE`] batches or more queued: the writer waits while there are any.
    full_queues: usize,
    /// Columns closed in the row group: the flush waits for all.
    closed: usize,
    /// The writer waits on `WorkPool::done`.
    writer_waiting: bool,
    /// The first encoding error of the row group; later batches are skipped and the flush returns it.
    failure: Option<ParquetError>,
}

#[derive(Default)]
struct PoolState {
    /// Open files by id (ids are not reused, so a column coming back from a dropped file finds no other's).
    files: HashMap<u64, FileState>,
    next_file: u64,
    /// Columns with queued work and no thread on them, in the order their work came: (file, field).
    ready: VecDeque<(u64, usize)>,
    /// Other work handed to the pool, run when no column is ready.
    tasks: VecDeque<Box<dyn FnOnce() + Send>>,
    stop: bool,
}

impl PoolState {
    fn queue(&mut self, file: u64, field: usize, work: ColumnWork) {
        let Some(state) = self.files.get_mut(&file) else { return };
        let slot = &mut state.slots[field];
        if slot.queue.is_empty() && slot.column.is_some() {
            self.ready.push_back((file, field));
        }
        slot.queue.push_back(work);
        if slot.queue.len() == COLUMN_QUEUE {
            state.full_queues += 1;
        }
    }

    fn file(&mut self, file: u64) -> Result<&mut FileState> {
        self.files.get_mut(&file).ok_or_else(encoders_stopped)
    }
}

/// Threads that encode Parquet files' columns (any number of files) and run other work handed to them with
/// [`spawn`](Self::spawn) when no column is waiting: a destination decodes its input on the same threads, so
/// it runs one busy thread per core instead of decoders and encoders taking turns on the cores.
pub struct WorkPool {
    state: Mutex<PoolState>,
    /// Shared by the files encoded here.
    memory_budget: Arc<MemoryBudget>,
    /// Work queued (or stop): for the threads.
    work: Condvar,
    /// A batch encoded or a column closed: for the writers.
    done: Condvar,
}

/// Owns a [`WorkPool`]'s threads: dropping it stops them once the work queued is done.
pub struct WorkPoolThreads {
    pool: Arc<WorkPool>,
}

impl WorkPool {
    /// A pool of `threads` threads (at least one).
    pub fn start(threads: usize) -> Result<WorkPoolThreads> {
        let pool = Arc::new(WorkPool {
            state: Mutex::default(),
            memory_budget: Arc::default(),
            work: Condvar::new(),
            done: Condvar::new(),
        });
        // Made before spawning: a failed spawn drops it, which stops the threads already started.
        let owner = WorkPoolThreads { pool: pool.clone() };
        for _ in 0..threads.max(1) {
            let pool = pool.clone();
            std::thread::Builder::new()
                .name("parquet-encode".into())
                .spawn(move || run_worker(&pool))
                .map_err(|e| ParquetError::General(format!("cannot start a Parquet encoding thread: {e}")))?;
        }
        Ok(owner)
    }

    /// Run `task` on a pool thread when no column is waiting to be encoded. It should only compute: a task
    /// that waits for another may hold the thread a column needs.
    pub fn spawn(&self, task: impl FnOnce() + Send + 'static) {
        self.lock().tasks.push_back(Box::new(task));
        self.work.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, fields: Fields) -> u64 {
        let mut state = self.lock();
        let id = state.next_file;
        state.next_file += 1;
        let slots = (0..fields.len()).map(|_| ColumnSlot::default()).collect();
        state
            .files
            .insert(id, FileState { fields, slots, full_queues: 0, closed: 0, writer_waiting: false, failure: None });
        id
    }
}

impl WorkPoolThreads {
    pub fn pool(&self) -> &Arc<WorkPool> {
        &self.pool
    }
}

impl Drop for WorkPoolThreads {
    fn drop(&mut self) {
        self.pool.lock().stop = true;
        self.pool.work.notify_all();
    }
}

/// Where a file's columns are encoded.
#[derive(Clone)]
pub enum Encoders {
    /// Threads of its own, started with the first batch.
    Threads(usize),
    /// A shared pool's.
    Pool(Arc<WorkPool>),
}

impl Encoders {
    /// The budget the files of these encoders share (a new one for threads of a file's own).
    pub(crate) fn budget(&self) -> Arc<MemoryBudget> {
        match self {
            Encoders::Pool(pool) => pool.memory_budget.clone(),
            Encoders::Threads(_) => Arc::default(),
        }
    }
}

impl From<usize> for Encoders {
    fn from(threads: usize) -> Self {
        Encoders::Threads(threads)
    }
}

/// A file's place in a pool; leaving drops its queued work.
struct FileEncoding {
    pool: Arc<WorkPool>,
    file: u64,
    /// The pool's threads when they are the file's own (dropped after the file leaves).
    _own: Option<WorkPoolThreads>,
}

impl Drop for FileEncoding {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        state.files.remove(&self.file);
        let file = self.file;
        state.ready.retain(|(f, _)| *f != file);
        if state.stop && state.files.is_empty() {
            self.pool.work.notify_all();
        }
    }
}

/// Writes one Parquet file; see the module docs. Dropping it without [`into_inner`](Self::into_inner)
/// abandons the file (the encoding threads stop).
pub struct ParquetFileWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    props: WriterProperties,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Leaf writers per top-level field, in schema order.
    leaf_counts: Vec<usize>,
    encoders: Encoders,
    /// Started with the first batch.
    encoding: Option<FileEncoding>,
    row_group_open: bool,
    buffered_rows: usize,
    max_row_group_rows: usize,
    /// Flat columns, one-leaf lists and struct columns of these go to [`PlainColumnWriter`]
    /// (`DESTINATION_OWN_PAGE_ENCODER=0`: never).
    own_encoder: bool,
    /// Per top-level field, its leaves as the own encoder would take them ([`own_leaf_sources`]).
    own_sources: Vec<Option<Vec<(LeafSource, DataType)>>>,
    /// Where the own encoder's pages wait for their row group to close ([`Self::spill_pages`]).
    page_spill: Option<Arc<PageSpill>>,
    /// Pages stay in memory while the page budget has room, and only the rest spills
    /// ([`Self::spill_pages_beyond_page_budget`]).
    hold_pages: bool,
    /// This file's leaves in the page budget it shares.
    page_budget: BudgetShare,
}

impl<W: Write + Send> ParquetFileWriter<W> {
    /// A writer whose columns are encoded by `encoders`: a number of threads of its own (at least one, at
    /// most one per column), or a shared [`WorkPool`].
    pub fn try_new(out: W, schema: SchemaRef, props: WriterProperties, encoders: impl Into<Encoders>) -> Result<Self> {
        let max_row_group_rows = props.max_row_group_size().max(1);
        let leaf_counts: Vec<usize> = schema.fields().iter().map(|f| leaf_count(f.data_type())).collect();
        let leaves = leaf_counts.iter().sum();
        // Parquet's own column writers keep the page size they start with; the own encoder's follow the budget
        // shared with the other open files.
        let props = pages_within_budget(props, leaves);
        let encoders = encoders.into();
        let budget = encoders.budget();
        let (file, factory) =
            ArrowWriter::try_new(out, schema.clone(), Some(props.clone()))?.into_serialized_writer()?;
        let own_sources = schema.fields().iter().map(|f| own_leaf_sources(f)).collect();
        Ok(ParquetFileWriter {
            file,
            props,
            factory,
            encoders: match encoders {
                Encoders::Threads(threads) => Encoders::Threads(threads.clamp(1, schema.fields().len().max(1))),
                pool => pool,
            },
            schema,
            leaf_counts,
            encoding: None,
            row_group_open: false,
            buffered_rows: 0,
            max_row_group_rows,
            own_encoder: own_encoder_enabled(),
            own_sources,
            page_spill: None,
            hold_pages: false,
            page_budget: BudgetShare::take(budget, leaves),
        })
    }

    /// Keep the open row group's pages in `spill` rather than in memory (the columns [`PlainColumnWriter`]
    /// encodes; see [`crate::page_spill`]).
    pub fn spill_pages(mut self, spill: Arc<PageSpill>) -> Self {
        self.page_spill = Some(spill);
        self
    }

    /// As [`Self::spill_pages`], but pages stay in memory while the budget the open files share has room for
    /// them ([`MemoryBudget::hold_pages`]): with few streams open, a row group's pages then never touch the
    /// spill. Writing them there and reading them back took 1-2% of the CPU time at 1M narrow records (40
    /// alternating runs); the spill kept the peak 40 MB lower there.
    pub fn spill_pages_beyond_page_budget(mut self, spill: Arc<PageSpill>) -> Self {
        self.hold_pages = true;
        self.spill_pages(spill)
    }

    /// Queue a batch for encoding; a full row group (by the properties' row limit) is flushed.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if batch.schema().fields() != self.schema.fields() {
            return Err(ParquetError::General("record batch schema differs from the file schema".into()));
        }
        let room = self.max_row_group_rows - self.buffered_rows;
        if batch.num_rows() > room {
            self.write(&batch.slice(0, room))?;
            return self.write(&batch.slice(room, batch.num_rows() - room));
        }
        if self.encoding.is_none() {
            self.start_encoders()?;
        }
        if !self.row_group_open {
            self.open_row_group()?;
        }
        let (pool, file) = self.encoding()?;
        let mut state = pool.lock();
        while state.file(file)?.full_queues > 0 {
            state.file(file)?.writer_waiting = true;
            state = pool.done.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.file(file)?.writer_waiting = false;
        let shared = Arc::new(batch.clone());
        for field in 0..self.leaf_counts.len() {
            state.queue(file, field, ColumnWork::Batch(shared.clone()));
        }
        drop(state);
        pool.work.notify_all();
        self.buffered_rows += batch.num_rows();
        if self.buffered_rows >= self.max_row_group_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Estimated encoded size of the open row group (lags the queued batches slightly).
    pub fn in_progress_size(&self) -> usize {
        self.encoding.as_ref().map_or(0, |e| {
            e.pool.lock().files.get(&e.file).map_or(0, |f| f.slots.iter().map(|slot| slot.estimate).sum())
        })
    }

    fn encoding(&self) -> Result<(Arc<WorkPool>, u64)> {
        self.encoding.as_ref().map(|e| (e.pool.clone(), e.file)).ok_or_else(encoders_stopped)
    }

    /// Rows in the open row group.
    pub fn in_progress_rows(&self) -> usize {
        self.buffered_rows
    }

    /// Bytes written to the output so far (closed row groups).
    pub fn bytes_written(&self) -> usize {
        self.file.bytes_written()
    }

    /// Finish the open row group: have the threads close its columns and append their chunks to the file, each
    /// as soon as it and the columns before it are closed (while the threads close the rest).
    pub fn flush(&mut self) -> Result<()> {
        if !self.row_group_open {
            return Ok(());
        }
        self.row_group_open = false;
        self.buffered_rows = 0;
        let (pool, file) = self.encoding()?;
        let mut guard = pool.lock();
        for field in 0..self.leaf_counts.len() {
            guard.queue(file, field, ColumnWork::Close);
        }
        pool.work.notify_all();
        let mut row_group = self.file.next_row_group()?;
        let mut error = None;
        for field in 0..self.leaf_counts.len() {
            let closed = loop {
                let state = guard.file(file)?;
                if state.failure.is_some() {
                    break None;
                }
                if let Some(closed) = state.slots[field].closed.take() {
                    state.slots[field].estimate = 0;
                    break Some(closed);
                }
                state.writer_waiting = true;
                guard = pool.done.wait(guard).unwrap_or_else(|e| e.into_inner());
            };
            let Some(closed) = closed else { break };
            drop(guard);
            let appended = closed.and_then(|mut chunks| {
                chunks.sort_unstable_by_key(|(leaf, _)| *leaf);
                chunks.into_iter().try_for_each(|(_, chunk)| match chunk {
                    LeafChunk::Arrow(chunk) => chunk.append_to_row_group(&mut row_group),
                    LeafChunk::Plain(bytes, close) => row_group.append_column(&bytes, close),
                })
            });
            guard = pool.lock();
            if let Err(e) = appended {
                error = Some(e);
                break;
            }
        }
        // Every column is closed before the file goes on, after a failure too.
        while guard.file(file).map(|f| f.closed < f.slots.len())? {
            guard.file(file)?.writer_waiting = true;
            guard = pool.done.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
        let state = guard.file(file)?;
        state.writer_waiting = false;
        state.closed = 0;
        let failure = state.failure.take().or(error);
        for slot in &mut state.slots {
            slot.closed = None;
            slot.estimate = 0;
        }
        drop(guard);
        if let Some(e) = failure {
            return Err(e);
        }
        row_group.close()?;
        if let Some(spill) = &self.page_spill {
            spill.clear()?;
        }
        Ok(())
    }

    /// Flush, write the footer and return the output.
    pub fn into_inner(mut self) -> Result<W> {
        self.flush()?;
        self.encoding = None;
        self.file.into_inner()
    }

    /// Join the pool, or start the file's own encoding threads.
    fn start_encoders(&mut self) -> Result<()> {
        let (pool, own) = match &self.encoders {
            Encoders::Threads(threads) => {
                let own = WorkPool::start(*threads)?;
                (own.pool().clone(), Some(own))
            }
            Encoders::Pool(pool) => (pool.clone(), None),
        };
        let file = pool.register(self.schema.fields().clone());
        self.encoding = Some(FileEncoding { pool, file, _own: own });
        Ok(())
    }

    fn open_row_group(&mut self) -> Result<()> {
        let index = self.file.flushed_row_groups().len();
        let mut writers = self.factory.create_column_writers(index)?.into_iter().enumerate();
        let mut columns = Vec::with_capacity(self.leaf_counts.len());
        let descriptors = self.file.schema_descr().clone();
        for (field, &leaves) in self.leaf_counts.iter().enumerate() {
            let arrow_writers: Vec<(usize, ArrowColumnWriter)> = writers.by_ref().take(leaves).collect();
            // Every leaf of the column goes to our encoder, or none does (parquet then splits the column).
            let sources = self.own_sources[field]
                .as_deref()
                .filter(|sources| self.own_encoder && sources.len() == arrow_writers.len());
            let own: Option<Vec<(usize, LeafWriter)>> = sources.and_then(|sources| {
                arrow_writers
                    .iter()
                    .zip(sources)
                    .map(|((leaf, _), (_, data_type))| {
                        let writer = PlainColumnWriter::try_new(descriptors.column(*leaf), data_type, &self.props)?
                            .spilling_pages_to(self.page_spill.clone())
                            .sharing_page_budget(self.page_budget.budget.clone(), self.hold_pages);
                        Some((*leaf, LeafWriter::Plain(Box::new(writer))))
                    })
                    .collect()
            });
            let column = match (own, sources) {
                (Some(writers), Some(sources)) => EncodedColumn {
                    field,
                    writers,
                    own_sources: Some(sources.iter().map(|(source, _)| *source).collect()),
                },
                _ => EncodedColumn {
                    field,
                    writers: arrow_writers
                        .into_iter()
                        .map(|(leaf, w)| (leaf, LeafWriter::Arrow(Box::new(w))))
                        .collect(),
                    own_sources: None,
                },
            };
            if column.writers.len() != leaves {
                return Err(ParquetError::General("fewer column writers than Arrow leaves".into()));
            }
            columns.push(column);
        }
        if writers.next().is_some() {
            return Err(ParquetError::General("more column writers than Arrow leaves".into()));
        }
        let (pool, file) = self.encoding()?;
        let mut guard = pool.lock();
        let state = guard.file(file)?;
        for (slot, column) in state.slots.iter_mut().zip(columns) {
            // The last flush drained every queue, so no column has work waiting to be made ready.
            debug_assert!(slot.queue.is_empty());
            slot.column = Some(column);
        }
        drop(guard);
        self.row_group_open = true;
        Ok(())
    }
}

/// Rows at the start of a file that [`skip_dictionary_for_unique_columns`] looks at.
pub(crate) const DICTIONARY_SAMPLE_ROWS: usize = 4096;
/// Fewer sampled values than this say too little about a column: its dictionary stays on.
const DICTIONARY_MIN_SAMPLE: usize = 1024;

/// Turns dictionary encoding off for the top-level flat columns whose sampled values (the first rows of
/// `batches`, usually a file's first batches) are at least 98% distinct: ids, timestamps, measurements.
///
/// parquet builds a dictionary for every column and abandons it only once it outgrows its page limit, so for
/// such columns the hashing is wasted work. 98% distinct in 4096 values means roughly 100k distinct values
/// or more in all: 800 KB of 8-byte values, more for strings, so the dictionary would rarely have fitted.
/// Columns with fewer than 1024 sampled non-null values keep their dictionary.
pub fn skip_dictionary_for_unique_columns(
    mut props: WriterPropertiesBuilder,
    batches: &[RecordBatch],
) -> WriterPropertiesBuilder {
    let Some(first) = batches.first() else { return props };
    let schema = first.schema();
    let mut sample = DistinctSample::default();
    for (i, field) in schema.fields().iter().enumerate() {
        sample.clear();
        let mut left = DICTIONARY_SAMPLE_ROWS;
        for batch in batches {
            if left == 0 {
                break;
            }
            let rows = batch.num_rows().min(left);
            if !sample.add(batch.column(i).slice(0, rows).as_ref()) {
                break;
            }
            left -= rows;
        }
        if sample.distinct_share().is_some_and(|share| share >= 0.98) {
            props = props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    props
}

/// The distinct non-null values of a column's sample, counted by their 64-bit hashes, the dictionary's own
/// (two values collide at odds near 2^-64). A file opens only once its sample is judged, on the thread that
/// routes every batch: with many streams, hundreds of files are judged.
#[derive(Default)]
struct DistinctSample {
    seen: hashbrown::HashTable<u64>,
    values: usize,
    /// A column of a type that is not sampled: its dictionary stays on.
    unsampled: bool,
}

impl DistinctSample {
    fn clear(&mut self) {
        self.seen.clear();
        self.values = 0;
        self.unsampled = false;
    }

    /// Count the non-null values of `part`; false for a type that is not sampled.
    fn add(&mut self, part: &dyn Array) -> bool {
        match part.data_type() {
            DataType::Utf8 => {
                part.as_string::<i32>().iter().flatten().for_each(|v| self.insert(hash_bytes(v.as_bytes())))
            }
            DataType::LargeUtf8 => {
                part.as_string::<i64>().iter().flatten().for_each(|v| self.insert(hash_bytes(v.as_bytes())))
            }
            DataType::Int64 => {
                part.as_primitive::<Int64Type>().iter().flatten().for_each(|v| self.insert(hash_word(v as u64)))
            }
            DataType::Float64 => {
                part.as_primitive::<Float64Type>().iter().flatten().for_each(|v| self.insert(hash_word(v.to_bits())))
            }
            // Timestamps and times are i64 underneath, whatever their unit.
            DataType::Timestamp(..) | DataType::Time64(_) => match arrow::compute::cast(part, &DataType::Int64) {
                Ok(ints) => {
                    ints.as_primitive::<Int64Type>().iter().flatten().for_each(|v| self.insert(hash_word(v as u64)))
                }
                Err(_) => self.unsampled = true,
            },
            _ => self.unsampled = true,
        }
        !self.unsampled
    }

    fn insert(&mut self, hash: u64) {
        self.values += 1;
        if self.seen.find(hash, |&seen| seen == hash).is_none() {
            self.seen.insert_unique(hash, hash, |&seen| seen);
        }
    }

    /// Share of distinct values; `None` for too small a sample or a type that is not sampled.
    fn distinct_share(&self) -> Option<f64> {
        (!self.unsampled && self.values >= DICTIONARY_MIN_SAMPLE).then(|| self.seen.len() as f64 / self.values as f64)
    }
}

/// Encoding threads for one file: the machine's cores (decoding shares them).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8)
}

fn encoders_stopped() -> ParquetError {
    ParquetError::General("the Parquet encoding threads stopped".into())
}

/// A pool thread: encodes the next column with queued work (its oldest batch, or closes it) and gives it back;
/// with no column waiting, runs the next task.
fn run_worker(pool: &WorkPool) {
    let mut state = pool.lock();
    loop {
        if let Some((file, field)) = state.ready.pop_front() {
            state = encode_next(pool, state, file, field);
            continue;
        }
        if let Some(task) = state.tasks.pop_front() {
            drop(state);
            // A task's panic is the task's to report; the thread stays for the columns.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
            state = pool.lock();
            continue;
        }
        // Stopped pools serve their open files to the end (a commit may still flush one).
        if state.stop && state.files.is_empty() {
            return;
        }
        state = pool.work.wait(state).unwrap_or_else(|e| e.into_inner());
    }
}

/// Encode or close one column of `file` (taken from the ready queue) outside the lock.
fn encode_next<'a>(
    pool: &'a WorkPool,
    mut state: MutexGuard<'a, PoolState>,
    file: u64,
    field: usize,
) -> MutexGuard<'a, PoolState> {
    let Some(open) = state.files.get_mut(&file) else { return state };
    let slot = &mut open.slots[field];
    // A column is ready only with its writers and queued work (see `PoolState::queue`); were it not, leaving
    // it alone keeps the file consistent where a panic here would leave its writer waiting.
    if slot.column.is_none() || slot.queue.is_empty() {
        return state;
    }
    let (Some(mut column), Some(work)) = (slot.column.take(), slot.queue.pop_front()) else { return state };
    if slot.queue.len() == COLUMN_QUEUE - 1 {
        open.full_queues -= 1;
    }
    // The writer waits only for room in every queue, or for every column closed: wake it just then.
    let wake_writer = open.writer_waiting && open.full_queues == 0;
    let skip = open.failure.is_some();
    let fields = open.fields.clone();
    drop(state);
    if wake_writer {
        pool.done.notify_all();
    }
    match work {
        ColumnWork::Batch(batch) => {
            let outcome = (!skip).then(|| {
                // A panic in an encoder fails the file instead of leaving the writer waiting for the column.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    encode_batch(&mut column, &batch, &fields)?;
                    Ok(column.writers.iter().map(|(_, w)| w.estimated_size()).sum())
                }))
                .unwrap_or_else(|_| Err(encoder_panicked()))
            });
            drop(batch);
            state = pool.lock();
            let PoolState { files, ready, .. } = &mut *state;
            // The file may have been dropped meanwhile: the column goes with it.
            let Some(open) = files.get_mut(&file) else { return state };
            match outcome {
                Some(Ok(estimate)) => open.slots[field].estimate = estimate,
                Some(Err(e)) => {
                    open.failure.get_or_insert(e);
                }
                None => {}
            }
            let slot = &mut open.slots[field];
            slot.column = Some(column);
            if !slot.queue.is_empty() {
                ready.push_back((file, field));
            }
        }
        ColumnWork::Close => {
            let chunks = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                column.writers.into_iter().map(|(leaf, w)| w.close().map(|chunk| (leaf, chunk))).collect()
            }))
            .unwrap_or_else(|_| Err(encoder_panicked()));
            state = pool.lock();
            let Some(open) = state.files.get_mut(&file) else { return state };
            open.slots[field].closed = Some(chunks);
            open.closed += 1;
            // The writer appends each column as it is closed (see `ParquetFileWriter::flush`).
            if open.writer_waiting {
                pool.done.notify_all();
            }
        }
    }
    state
}

fn encoder_panicked() -> ParquetError {
    ParquetError::General("a Parquet encoding thread panicked".into())
}

/// Encode one batch's values of one top-level column.
fn encode_batch(column: &mut EncodedColumn, batch: &RecordBatch, fields: &Fields) -> Result<()> {
    let array = batch.column(column.field);
    if let Some(sources) = &column.own_sources {
        return column.writers.iter_mut().zip(sources).try_for_each(|((_, writer), source)| match writer {
            LeafWriter::Plain(writer) => writer.write(&source.extract(array)?),
            LeafWriter::Arrow(_) => Err(ParquetError::General("a parquet leaf among own ones".into())),
        });
    }
    let leaves = compute_leaves(&fields[column.field], array)?;
    leaves.iter().zip(&mut column.writers).try_for_each(|(leaf, (_, writer))| match writer {
        LeafWriter::Arrow(w) => w.write(leaf),
        LeafWriter::Plain(_) => Err(ParquetError::General("an own leaf among parquet ones".into())),
    })
}

/// The memory shared by the files open at once: those of a [`WorkPool`] (a sync of many streams has a file open
/// per stream), or one file encoded by threads of its own. Their leaf columns share [`PAGE_BUFFER_BUDGET_BYTES`]
/// of page buffers (with the finished pages they keep in memory instead of a spill), and the rows they hold for
/// their dictionary samples share [`crate::sampled_file::MAX_HELD_BYTES_ACROSS_FILES`].
#[derive(Default)]
pub(crate) struct MemoryBudget {
    open_leaves: AtomicUsize,
    pub(crate) held_sample_bytes: AtomicUsize,
    /// Finished pages of open row groups kept in memory rather than spilled ([`Self::hold_pages`]).
    held_page_bytes: AtomicUsize,
    /// The open dictionaries' page bytes ([`Self::count_dictionary`]).
    dictionary_bytes: AtomicUsize,
}

impl MemoryBudget {
    /// The page size for a column now: `configured`, or less while more leaves are open than the budget allows
    /// at that size (not below [`MIN_BUDGETED_PAGE_BYTES`], unless configured so).
    pub(crate) fn page_bytes(&self, configured: usize) -> usize {
        let open = self.open_leaves.load(Ordering::Relaxed).max(1);
        configured.min((PAGE_BUFFER_BUDGET_BYTES / open).max(MIN_BUDGETED_PAGE_BYTES))
    }

    /// Whether `bytes` more of finished pages may stay in memory rather than go to a page spill; if so they are
    /// counted until [`Self::release_pages`]. Up to [`PAGE_BUFFER_BUDGET_BYTES`] of them stay in memory while
    /// the open leaves' pages (at `configured` bytes each) fit in that budget too: one to three streams of 20
    /// leaves keep their pages (a file committing beside the next one included); with more, every page spills,
    /// as a sync of many streams always did.
    pub(crate) fn hold_pages(&self, bytes: usize, configured: usize) -> bool {
        let open_pages = self.open_leaves.load(Ordering::Relaxed).saturating_mul(configured);
        let room = if open_pages <= PAGE_BUFFER_BUDGET_BYTES { PAGE_BUFFER_BUDGET_BYTES } else { 0 };
        self.held_page_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(bytes).filter(|&after| after <= room)
            })
            .is_ok()
    }

    /// Pages counted by [`Self::hold_pages`] that are written or dropped.
    pub(crate) fn release_pages(&self, bytes: usize) {
        self.held_page_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// A dictionary counted at `before` bytes is now `after` bytes (0 once written or dropped).
    pub(crate) fn count_dictionary(&self, before: usize, after: usize) {
        match after.cmp(&before) {
            std::cmp::Ordering::Greater => self.dictionary_bytes.fetch_add(after - before, Ordering::Relaxed),
            _ => self.dictionary_bytes.fetch_sub(before - after, Ordering::Relaxed),
        };
    }

    /// Whether the open dictionaries take more than [`DICTIONARY_BUDGET_BYTES`].
    pub(crate) fn dictionaries_over_budget(&self) -> bool {
        self.dictionary_bytes.load(Ordering::Relaxed) > DICTIONARY_BUDGET_BYTES
    }
}

/// A file's leaves, counted in its [`MemoryBudget`] while the file is open.
struct BudgetShare {
    budget: Arc<MemoryBudget>,
    leaves: usize,
}

impl BudgetShare {
    fn take(budget: Arc<MemoryBudget>, leaves: usize) -> BudgetShare {
        budget.open_leaves.fetch_add(leaves, Ordering::Relaxed);
        BudgetShare { budget, leaves }
    }
}

impl Drop for BudgetShare {
    fn drop(&mut self) {
        self.budget.open_leaves.fetch_sub(self.leaves, Ordering::Relaxed);
    }
}

/// Whether [`PlainColumnWriter`] takes the columns it supports (`DESTINATION_OWN_PAGE_ENCODER=0` turns it off).
fn own_encoder_enabled() -> bool {
    std::env::var("DESTINATION_OWN_PAGE_ENCODER").map_or(true, |v| v != "0")
}

/// Whether a file written under `props` can put pages in a [`PageSpill`] ([`ParquetFileWriter::spill_pages`]):
/// only the own encoder does, and only for zstd or uncompressed pages (with SNAPPY, GZIP and the other codecs
/// parquet's writer encodes every column, and a spill file would only take a descriptor).
pub fn pages_may_spill(props: &WriterProperties) -> bool {
    let default_compression = props.compression(&ColumnPath::new(Vec::new()));
    own_encoder_enabled() && matches!(default_compression, Compression::UNCOMPRESSED | Compression::ZSTD(_))
}

/// `props` with a page size that keeps `leaves` open pages within [`PAGE_BUFFER_BUDGET_BYTES`] (never below
/// [`MIN_BUDGETED_PAGE_BYTES`], never above the configured size).
fn pages_within_budget(props: WriterProperties, leaves: usize) -> WriterProperties {
    let share = (PAGE_BUFFER_BUDGET_BYTES / leaves.max(1)).max(MIN_BUDGETED_PAGE_BYTES);
    if props.data_page_size_limit() <= share {
        return props;
    }
    props.into_builder().set_data_page_size_limit(share).build()
}

/// Parquet leaf columns under one Arrow type.
fn leaf_count(data_type: &DataType) -> usize {
    match data_type {
        DataType::Struct(fields) => fields.iter().map(|f| leaf_count(f.data_type())).sum::<usize>().max(1),
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::FixedSizeList(item, _)
        | DataType::ListView(item)
        | DataType::LargeListView(item)
        | DataType::Map(item, _) => leaf_count(item.data_type()),
        DataType::Dictionary(_, value) => leaf_count(value),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, ArrayRef, Int64Array, ListArray, StringArray, StructArray};
    use arrow::datatypes::{Field, Int64Type, Schema};
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn sample_batch(offset: i64, rows: usize) -> RecordBatch {
        let ids = Int64Array::from_iter_values((0..rows as i64).map(|i| i + offset));
        let names =
            StringArray::from_iter((0..rows).map(|i| (i % 3 != 0).then(|| format!("name {}", i as i64 + offset))));
        let tags = ListArray::from_iter_primitive::<Int64Type, _, _>(
            (0..rows).map(|i| (i % 4 != 0).then(|| vec![Some(i as i64), None])),
        );
        let inner = StructArray::from(vec![
            (Arc::new(Field::new("a", DataType::Int64, true)), Arc::new(ids.clone()) as ArrayRef),
            (Arc::new(Field::new("b", DataType::Utf8, true)), Arc::new(names.clone()) as ArrayRef),
        ]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("tags", tags.data_type().clone(), true),
            Field::new("inner", inner.data_type().clone(), true),
        ]));
        RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(names), Arc::new(tags), Arc::new(inner)]).unwrap()
    }

    fn read_all(bytes: Vec<u8>) -> (Vec<RecordBatch>, usize) {
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
        let row_groups = builder.metadata().num_row_groups();
        (builder.build().unwrap().map(|b| b.unwrap()).collect(), row_groups)
    }

    fn concat(batches: &[RecordBatch]) -> RecordBatch {
        arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
    }

    /// What `ArrowWriter` writes for `batches` under `props`: the rows read back, and the row groups.
    fn arrow_writer_output(batches: &[RecordBatch], props: WriterProperties) -> (RecordBatch, usize) {
        let mut reference = ArrowWriter::try_new(Vec::new(), batches[0].schema(), Some(props)).unwrap();
        for b in batches {
            reference.write(b).unwrap();
        }
        let (rows, groups) = read_all(reference.into_inner().unwrap());
        (concat(&rows), groups)
    }

    #[test]
    fn same_rows_as_arrow_writer_across_row_groups_and_threads() {
        let batches: Vec<RecordBatch> = (0..7).map(|i| sample_batch(i * 1000, 333 + i as usize)).collect();
        let schema = batches[0].schema();
        let props = || WriterProperties::builder().set_max_row_group_size(1000).build();
        let (expected, expected_groups) = arrow_writer_output(&batches, props());
        for threads in [1, 2, 3, 8] {
            let mut ours = ParquetFileWriter::try_new(Vec::new(), schema.clone(), props(), threads).unwrap();
            for (i, b) in batches.iter().enumerate() {
                ours.write(b).unwrap();
                if i == 3 {
                    ours.flush().unwrap();
                }
            }
            let (got, groups) = read_all(ours.into_inner().unwrap());
            assert_eq!(concat(&got), expected, "threads {threads}");
            // The explicit flush adds one row group; the 1000-row limit cuts the rest as ArrowWriter does.
            assert!(groups >= expected_groups && groups <= expected_groups + 1, "{groups} vs {expected_groups}");
        }
    }

    #[test]
    fn files_sharing_a_pool_with_other_tasks_write_what_arrow_writer_writes() {
        let batches: Vec<RecordBatch> = (0..40).map(|i| sample_batch(i * 100, 1 + (i as usize * 53) % 120)).collect();
        let schema = batches[0].schema();
        let props = || WriterProperties::builder().set_max_row_group_size(300).build();
        let (expected, _) = arrow_writer_output(&batches, props());
        let threads = WorkPool::start(2).unwrap();
        let pool = threads.pool().clone();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let mut files: Vec<ParquetFileWriter<Vec<u8>>> = (0..2)
            .map(|_| {
                ParquetFileWriter::try_new(Vec::new(), schema.clone(), props(), Encoders::Pool(pool.clone())).unwrap()
            })
            .collect();
        for (i, b) in batches.iter().enumerate() {
            // Other work queued between the files' batches runs too, after the columns waiting.
            let done = done_tx.clone();
            pool.spawn(move || done.send(i).unwrap());
            files[0].write(b).unwrap();
            files[1].write(b).unwrap();
        }
        // The pool's owner may go first: its threads serve the files still open until they finish (waited for
        // with a deadline, so a pool that stops too early fails the test instead of hanging it).
        drop(threads);
        let (finished_tx, finished_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let outputs: Vec<Vec<u8>> = files.into_iter().map(|file| file.into_inner().unwrap()).collect();
            finished_tx.send(outputs).unwrap();
        });
        let outputs = finished_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the files were not finished: the pool stopped serving them");
        for output in outputs {
            let (got, _) = read_all(output);
            assert_eq!(concat(&got), expected);
        }
        let mut ran: Vec<usize> = (0..batches.len()).map(|_| done_rx.recv().unwrap()).collect();
        ran.sort_unstable();
        assert_eq!(ran, (0..batches.len()).collect::<Vec<_>>());
    }

    #[test]
    fn an_encoding_error_fails_the_flush_on_own_threads_and_in_a_pool() {
        // A null in a required column fails that column's encoding on a pool thread: the writer must get the
        // error at the flush (not wait for the column), and other files in the pool go on.
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let good = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(StringArray::from(vec![Some("a"), None]))],
        )
        .unwrap();
        // SAFETY: only the declared nullability is broken (the check RecordBatch::try_new makes), which is
        // what the writer must reject; lengths and types match the schema.
        let bad = unsafe {
            RecordBatch::new_unchecked(
                schema.clone(),
                vec![Arc::new(Int64Array::from(vec![Some(3), None])), Arc::new(StringArray::from(vec!["b", "c"]))],
                2,
            )
        };
        let pool = WorkPool::start(2).unwrap();
        for encoders in [Encoders::Threads(2), Encoders::Pool(pool.pool().clone())] {
            let props = WriterProperties::default();
            let mut failing =
                ParquetFileWriter::try_new(Vec::new(), schema.clone(), props.clone(), encoders.clone()).unwrap();
            let mut healthy = ParquetFileWriter::try_new(Vec::new(), schema.clone(), props, encoders).unwrap();
            for batch in [&good, &bad, &good] {
                failing.write(batch).unwrap();
                healthy.write(&good).unwrap();
            }
            let error = failing.into_inner().unwrap_err().to_string();
            assert!(error.contains(r#"null in required column "id""#), "{error}");
            let (rows, _) = read_all(healthy.into_inner().unwrap());
            assert_eq!(concat(&rows), concat(&[good.clone(), good.clone(), good.clone()]));
        }
    }

    #[test]
    fn columns_keep_their_batch_order_however_the_threads_take_them() {
        // Many small batches and row groups: each column's batches must still be encoded in order while
        // threads take whichever column comes free, and every row group must wait for all its columns.
        let batches: Vec<RecordBatch> = (0..150).map(|i| sample_batch(i * 100, 1 + (i as usize * 37) % 90)).collect();
        let schema = batches[0].schema();
        let props = || WriterProperties::builder().set_max_row_group_size(250).build();
        let (expected, expected_groups) = arrow_writer_output(&batches, props());
        for threads in [2, 4] {
            let mut ours = ParquetFileWriter::try_new(Vec::new(), schema.clone(), props(), threads).unwrap();
            for b in &batches {
                ours.write(b).unwrap();
            }
            let (got, groups) = read_all(ours.into_inner().unwrap());
            assert_eq!(concat(&got), expected, "threads {threads}");
            assert_eq!(groups, expected_groups, "threads {threads}");
        }
    }

    /// Flat columns of every type the own page encoder takes, with nulls, NaN, signed zeros, long and
    /// multi-byte strings; `offset` varies the values from batch to batch.
    fn flat_batch(offset: i64, rows: usize) -> RecordBatch {
        use arrow::array::{Date32Array, Float64Array, Time64MicrosecondArray, TimestampMicrosecondArray};
        let n = |i: usize| i as i64 + offset;
        let text = |i: usize| match n(i) % 7 {
            0 => None,
            1 => Some(format!("{}{}", "A".repeat(100), n(i))),
            2 => Some(format!("{}-{}", "ä€😀".repeat(30), n(i))),
            3 => Some(format!("{}{}", "z".repeat(90), n(i))),
            _ => Some(format!("value {}", n(i) * 7919 % 1000)),
        };
        let double = |i: usize| match n(i) % 9 {
            0 => None,
            1 => Some(f64::NAN),
            2 => Some(-0.0),
            3 => Some(0.0),
            _ => Some((n(i) as f64 - 500.0) / 3.0),
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("text", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
            Field::new("nan_only", DataType::Float64, true),
            Field::new("at", DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into())), true),
            Field::new("day", DataType::Date32, true),
            Field::new("time", DataType::Time64(arrow::datatypes::TimeUnit::Microsecond), true),
            Field::new("nothing", DataType::Utf8, true),
            Field::new("zero_min", DataType::Float64, true),
            Field::new("zero_max", DataType::Float64, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values((0..rows).map(|i| n(i) * 31 % 1009 - 500))),
            Arc::new(StringArray::from_iter((0..rows).map(text))),
            Arc::new(Float64Array::from_iter((0..rows).map(double))),
            Arc::new(Float64Array::from_iter((0..rows).map(|i| (i % 2 == 0).then_some(f64::NAN)))),
            Arc::new(
                TimestampMicrosecondArray::from_iter((0..rows).map(|i| (n(i) % 5 != 0).then(|| n(i) * 1_000_003)))
                    .with_timezone("UTC"),
            ),
            Arc::new(Date32Array::from_iter((0..rows).map(|i| (n(i) % 4 != 0).then(|| (n(i) % 3000) as i32 - 1000)))),
            Arc::new(Time64MicrosecondArray::from_iter(
                (0..rows).map(|i| (n(i) % 6 != 0).then(|| n(i) % 86_400_000_000)),
            )),
            Arc::new(StringArray::from_iter((0..rows).map(|_| None::<String>))),
            // Bounds that are zeros, reached first with the other sign: written -0.0 (min) and +0.0 (max).
            Arc::new(Float64Array::from_iter_values((0..rows).map(|i| [0.0, -0.0, 2.0][i % 3]))),
            Arc::new(Float64Array::from_iter_values((0..rows).map(|i| [-0.0, 0.0, -2.0][i % 3]))),
        ];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    #[test]
    fn own_page_encoder_writes_what_arrow_writer_writes() {
        let batches: Vec<RecordBatch> = (0..6).map(|i| flat_batch(i * 977, 1500 + 371 * i as usize)).collect();
        for (compression, page_rows) in [(parquet::basic::Compression::UNCOMPRESSED, 700), (zstd(), 20_000)] {
            let props = WriterProperties::builder()
                .set_max_row_group_size(4000)
                .set_dictionary_enabled(false)
                .set_compression(compression)
                .set_data_page_row_count_limit(page_rows)
                .set_data_page_size_limit(16 * 1024)
                .build();
            assert_same_file_as_arrow_writer(&batches, props);
        }
    }

    /// Low-cardinality flat columns (dictionary-encoded) with nulls, multi-byte and long strings, NaN and signed
    /// zeros, a constant, an all-null column, and `many` whose dictionary outgrows its limit mid-chunk.
    fn low_cardinality_batch(offset: i64, rows: usize) -> RecordBatch {
        use arrow::array::{Date32Array, Float64Array, Time64MicrosecondArray, TimestampMicrosecondArray};
        use arrow::datatypes::TimeUnit;
        let n = |i: usize| i as i64 + offset;
        let unit = |i: usize| match n(i) % 11 {
            0 => None,
            1 => Some(format!("{}{}", "A".repeat(100), n(i) % 3)),
            2 => Some(format!("{}-{}", "ä€😀".repeat(30), n(i) % 2)),
            3 => Some("zz".repeat(50)),
            4 => Some(String::new()),
            k => Some(format!("unit {}", k * (n(i) % 3))),
        };
        let double = |i: usize| match n(i) % 9 {
            0 => None,
            1 => Some(f64::NAN),
            2 => Some(-0.0),
            3 => Some(0.0),
            k => Some(k as f64 / 4.0 - 1.5),
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("year", DataType::Int64, false),
            Field::new("unit", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
            Field::new("nan_only", DataType::Float64, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
            Field::new("day", DataType::Date32, true),
            Field::new("time", DataType::Time64(TimeUnit::Microsecond), true),
            Field::new("nothing", DataType::Utf8, true),
            Field::new("constant", DataType::Int64, false),
            Field::new("many", DataType::Utf8, true),
            Field::new("many_ints", DataType::Int64, true),
            Field::new("rising", DataType::Int64, false),
            Field::new("falling", DataType::Utf8, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values((0..rows).map(|i| 1990 + n(i) * 7 % 31))),
            Arc::new(StringArray::from_iter((0..rows).map(unit))),
            Arc::new(Float64Array::from_iter((0..rows).map(double))),
            Arc::new(Float64Array::from_iter((0..rows).map(|i| (i % 3 == 0).then_some(f64::NAN)))),
            Arc::new(
                TimestampMicrosecondArray::from_iter((0..rows).map(|i| (n(i) % 5 != 0).then(|| n(i) % 13 * 86_400)))
                    .with_timezone("UTC"),
            ),
            Arc::new(Date32Array::from_iter((0..rows).map(|i| (n(i) % 4 != 0).then(|| (n(i) % 40) as i32 - 20)))),
            Arc::new(Time64MicrosecondArray::from_iter((0..rows).map(|i| (n(i) % 6 != 0).then(|| n(i) % 17)))),
            Arc::new(StringArray::from_iter((0..rows).map(|_| None::<String>))),
            Arc::new(Int64Array::from_iter_values((0..rows).map(|_| 7))),
            // Mostly repeated at first, then new values: the dictionary outgrows its limit after a few pages.
            Arc::new(StringArray::from_iter((0..rows).map(|i| {
                let k = n(i) % 4000;
                (k % 10 != 0).then(|| if k < 1500 { format!("m{}", k % 5) } else { format!("{}{k}", "m".repeat(70)) })
            }))),
            Arc::new(Int64Array::from_iter((0..rows).map(|i| (i % 7 != 0).then(|| n(i) % 4000 / 3)))),
            // Pages in ascending and descending order, over all batches (for the page index's boundary order).
            Arc::new(Int64Array::from_iter_values((0..rows).map(|i| (offset * 10 + i as i64) / 500))),
            Arc::new(StringArray::from_iter(
                (0..rows).map(|i| (i % 5 != 1).then(|| format!("{:05}", 99_999 - (offset * 10 + i as i64) / 500))),
            )),
        ];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    #[test]
    fn a_file_whose_pages_all_come_at_its_close_never_makes_its_spill_file() {
        let batch = |rows: i64| {
            RecordBatch::try_from_iter([
                ("id", Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef),
                ("name", Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("name {i}"))))),
            ])
            .unwrap()
        };
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(Default::default()))
            .set_dictionary_enabled(false)
            .set_data_page_size_limit(4096)
            .build();
        for (rows, spills) in [(100, false), (20_000, true)] {
            let dir = tempfile::tempdir().unwrap();
            let spill = Arc::new(PageSpill::create_in(dir.path()).unwrap());
            let mut writer = ParquetFileWriter::try_new(Vec::new(), batch(rows).schema(), props.clone(), 2)
                .unwrap()
                .spill_pages(spill.clone());
            writer.write(&batch(rows)).unwrap();
            let file = writer.into_inner().unwrap();
            assert_eq!(spill.made(), spills, "{rows} rows");
            assert_eq!(spill.bytes_appended() > 0, spills, "{rows} rows");
            assert_eq!(read_all(file).0.iter().map(RecordBatch::num_rows).sum::<usize>(), rows as usize);
        }
    }

    #[test]
    fn pages_stay_in_memory_while_the_page_budget_has_room_and_go_back_to_it() {
        const MB: usize = 1 << 20;
        let budget = MemoryBudget::default();
        budget.open_leaves.store(20, Ordering::Relaxed);
        assert!(budget.hold_pages(60 * MB, MB), "20 open leaves of 1 MB pages leave room");
        assert!(budget.hold_pages(4 * MB, MB), "up to the whole budget");
        assert!(!budget.hold_pages(1, MB), "nothing beyond it");
        budget.release_pages(10 * MB);
        assert!(budget.hold_pages(10 * MB, MB), "released pages make room again");
        budget.release_pages(PAGE_BUFFER_BUDGET_BYTES);
        assert_eq!(budget.held_page_bytes.load(Ordering::Relaxed), 0);
        // More open pages than the budget holds (a sync of many streams): every page spills.
        budget.open_leaves.store(65, Ordering::Relaxed);
        assert!(!budget.hold_pages(1, MB));
        assert!(budget.hold_pages(1, 64 << 10), "65 leaves of 64 KB pages fit");
    }

    #[test]
    fn pages_spill_beyond_the_page_budget_into_the_same_file() {
        let rows = 30_000;
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef),
            ("name", Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("name {}", i * 7919 % 10007))))),
        ])
        .unwrap();
        let props = WriterProperties::builder()
            .set_compression(Compression::UNCOMPRESSED)
            .set_dictionary_enabled(false)
            .set_data_page_size_limit(16 << 10)
            .build();
        let mut in_memory = ParquetFileWriter::try_new(Vec::new(), batch.schema(), props.clone(), 2).unwrap();
        in_memory.write(&batch).unwrap();
        let expected = in_memory.into_inner().unwrap();
        // Room for none, some or all of the pages: the room other files' pages leave. (With room for some, how
        // many spill depends on whether the first column is appended, and its pages given back, before the
        // second one's are made.)
        for (taken_by_others, spills_some, spills_all) in [
            (0, false, Some(false)),
            (PAGE_BUFFER_BUDGET_BYTES - (300 << 10), true, None),
            (PAGE_BUFFER_BUDGET_BYTES, true, Some(true)),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let spill = Arc::new(PageSpill::create_in(dir.path()).unwrap());
            let mut writer = ParquetFileWriter::try_new(Vec::new(), batch.schema(), props.clone(), 2)
                .unwrap()
                .spill_pages_beyond_page_budget(spill.clone());
            let budget = writer.page_budget.budget.clone();
            assert!(budget.hold_pages(taken_by_others, 0));
            writer.write(&batch).unwrap();
            writer.flush().unwrap();
            assert_eq!(budget.held_page_bytes.load(Ordering::Relaxed), taken_by_others, "written pages go back");
            let file = writer.into_inner().unwrap();
            assert!(file == expected, "the file differs with {taken_by_others} bytes taken");
            let (spilled, total) = (spill.bytes_appended() as usize, expected.len());
            assert_eq!(spilled > 0, spills_some, "{spilled} of {total} bytes spilled");
            // All pages but those that came at the close (kept in memory since nothing else had spilled).
            if let Some(spills_all) = spills_all {
                assert_eq!(spilled > total / 2, spills_all, "{spilled} of {total} bytes spilled");
            }
        }
    }

    #[test]
    fn dictionaries_that_grow_past_the_shared_budget_go_on_plain() {
        use parquet::basic::{Encoding, PageType};
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let rows = 20_000;
        let names = StringArray::from_iter_values((0..rows).map(|i| format!("name {}", i % 5000)));
        let batch = RecordBatch::try_from_iter([("name", Arc::new(names) as ArrayRef)]).unwrap();
        let props = WriterProperties::builder().set_compression(Compression::UNCOMPRESSED).build();
        // Other files' dictionaries take none of the budget, or all of it.
        for (taken_by_others, goes_plain) in [(0, false), (DICTIONARY_BUDGET_BYTES, true)] {
            let mut writer = ParquetFileWriter::try_new(Vec::new(), batch.schema(), props.clone(), 2).unwrap();
            let budget = writer.page_budget.budget.clone();
            budget.count_dictionary(0, taken_by_others);
            writer.write(&batch).unwrap();
            writer.flush().unwrap();
            assert_eq!(
                budget.dictionary_bytes.load(Ordering::Relaxed),
                taken_by_others,
                "written dictionaries go back"
            );
            let file = writer.into_inner().unwrap();
            let reader = SerializedFileReader::new(Bytes::from(file.clone())).unwrap();
            let stats = reader.metadata().row_group(0).column(0).page_encoding_stats().unwrap().clone();
            let data_pages = |encoding| {
                stats
                    .iter()
                    .filter(|s| s.page_type == PageType::DATA_PAGE && s.encoding == encoding)
                    .map(|s| s.count)
                    .sum::<i32>()
            };
            assert!(data_pages(Encoding::RLE_DICTIONARY) > 0, "{stats:?}");
            assert_eq!(data_pages(Encoding::PLAIN) > 0, goes_plain, "{stats:?}");
            assert_eq!(format!("{:?}", concat(&read_all(file).0)), format!("{batch:?}"));
        }
    }

    #[test]
    fn pages_spill_only_under_the_codecs_the_own_encoder_writes() {
        let descriptor = |props: &WriterProperties| {
            let schema = Schema::new(vec![Field::new("name", DataType::Utf8, true)]);
            let parquet = parquet::arrow::ArrowSchemaConverter::new().convert(&schema).unwrap();
            let own = PlainColumnWriter::try_new(parquet.column(0), &DataType::Utf8, props);
            own.is_some()
        };
        for (compression, spills) in [
            (Compression::UNCOMPRESSED, true),
            (zstd(), true),
            (Compression::SNAPPY, false),
            (Compression::GZIP(Default::default()), false),
            (Compression::LZ4_RAW, false),
        ] {
            let props = WriterProperties::builder().set_compression(compression).build();
            assert_eq!(pages_may_spill(&props), spills, "{compression:?}");
            // The own encoder takes a string column exactly where its pages may spill.
            assert_eq!(descriptor(&props), spills, "{compression:?}");
        }
    }

    #[test]
    fn wide_tables_get_pages_small_enough_for_the_page_buffer_budget() {
        let props = |kb: usize| WriterProperties::builder().set_data_page_size_limit(kb << 10).build();
        let page = |props: WriterProperties, leaves| pages_within_budget(props, leaves).data_page_size_limit();
        assert_eq!(page(props(1024), 16), 1 << 20, "within the budget: as configured");
        assert_eq!(page(props(1024), 300), PAGE_BUFFER_BUDGET_BYTES / 300);
        assert_eq!(page(props(64), 300), 64 << 10, "a smaller configured page stays");
        assert_eq!(page(props(1024), 100_000), MIN_BUDGETED_PAGE_BYTES);
        // The writer's columns get it (own encoder and parquet's alike), leaves of nested columns counted:
        // 150 structs of two leaves.
        let pair = |i| {
            let leaves = vec![Field::new("a", DataType::Utf8, true), Field::new("b", DataType::Int64, true)];
            Field::new(format!("s{i}"), DataType::Struct(leaves.into()), true)
        };
        let schema = Arc::new(Schema::new((0..150).map(pair).collect::<Vec<_>>()));
        let writer = ParquetFileWriter::try_new(Vec::new(), schema.clone(), props(1024), 1).unwrap();
        assert_eq!(writer.props.data_page_size_limit(), PAGE_BUFFER_BUDGET_BYTES / 300);

        // Files of one pool share the budget: while a file of 300 leaves is open, a one-column file's pages are
        // cut at 64 MB / 301 too; once it is closed, at the configured size again.
        let threads = WorkPool::start(2).unwrap();
        let pool = || Encoders::Pool(threads.pool().clone());
        let pages_of_one_column_file = || {
            let one = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
            let plain = props(1024).into_builder().set_dictionary_enabled(false).build();
            let mut file = ParquetFileWriter::try_new(Vec::new(), one.clone(), plain, pool()).unwrap();
            let values = (0..20_000).map(|i| format!("{i:08}-{}", "v".repeat(91)));
            let batch = RecordBatch::try_new(one, vec![Arc::new(StringArray::from_iter_values(values))]).unwrap();
            file.write(&batch).unwrap();
            let options = parquet::file::serialized_reader::ReadOptionsBuilder::new().with_page_index().build();
            let read = parquet::file::serialized_reader::SerializedFileReader::new_with_options(
                Bytes::from(file.into_inner().unwrap()),
                options,
            )
            .unwrap();
            parquet::file::reader::FileReader::metadata(&read).offset_index().unwrap()[0][0].page_locations().len()
        };
        let wide = ParquetFileWriter::try_new(Vec::new(), schema, props(1024), pool()).unwrap();
        // A page ends after the slice of 1024 rows (106 KB) that takes it to the limit: three slices at 213 KB.
        let shared = pages_of_one_column_file();
        assert!(shared >= 6, "2 MB in pages of about 320 KB, not {shared}");
        drop(wide);
        assert!(pages_of_one_column_file() <= 3, "2 MB in 1 MB pages once the wide file is closed");
    }

    #[test]
    fn own_dictionary_encoder_writes_what_arrow_writer_writes() {
        let batches: Vec<RecordBatch> =
            (0..5).map(|i| low_cardinality_batch(i * 1231, 1800 + 377 * i as usize)).collect();
        for (compression, page_rows) in [(parquet::basic::Compression::UNCOMPRESSED, 300), (zstd(), 20_000)] {
            let props = WriterProperties::builder()
                .set_max_row_group_size(4000)
                .set_compression(compression)
                .set_data_page_row_count_limit(page_rows)
                .set_data_page_size_limit(1024)
                .set_column_dictionary_page_size_limit("many".into(), 8 * 1024)
                .set_column_dictionary_page_size_limit("many_ints".into(), 2 * 1024)
                .build();
            let chunks = assert_same_file_as_arrow_writer(&batches, props);
            let dictionary = |c: &ColumnChunkMetaData| c.dictionary_page_offset().is_some();
            assert!(chunks.iter().all(dictionary), "every chunk dictionary-encoded");
            // The fallback: a dictionary page, dictionary-encoded data pages, then PLAIN ones.
            let fallback = vec![
                (PageType::DICTIONARY_PAGE, Encoding::PLAIN),
                (PageType::DATA_PAGE, Encoding::RLE_DICTIONARY),
                (PageType::DATA_PAGE, Encoding::PLAIN),
            ];
            for name in ["many", "many_ints"] {
                let column = chunks.iter().filter(|c| c.column_path().string() == name);
                let fell_back = column.filter(|c| page_kinds(c) == Some(fallback.clone())).count();
                assert!(fell_back >= 2, "{name}: {fell_back} chunks fell back");
            }
            let year = chunks.iter().find(|c| c.column_path().string() == "year").unwrap();
            assert_eq!(page_kinds(year).unwrap().len(), 2, "no fallback for a small dictionary");
        }
    }

    /// One-leaf list columns: strings (null and empty lists, null items, long and multi-byte strings, null lists
    /// with items under them in Arrow), integers with required items, a required list, doubles with NaN and
    /// signed zeros, dates, a column of empty lists only and one of null lists only.
    fn list_batch(offset: i64, rows: usize) -> RecordBatch {
        use arrow::array::{Date32Array, Float64Array};
        use arrow::buffer::{NullBuffer, OffsetBuffer};
        let n = |i: usize| i as i64 + offset;
        let item = |name: &str, t: DataType, nullable: bool| Arc::new(Field::new(name, t, nullable));
        let list = |field: &Arc<Field>, lengths: &[usize], values: ArrayRef, valid: Vec<bool>| -> ArrayRef {
            let offsets = OffsetBuffer::from_lengths(lengths.iter().copied());
            Arc::new(ListArray::new(field.clone(), offsets, values, Some(NullBuffer::from(valid))))
        };
        // tags: every 7th list null (but with two items underneath in Arrow), every 5th empty.
        let tag_lengths: Vec<usize> = (0..rows)
            .map(|i| {
                if n(i) % 7 == 0 {
                    2
                } else if n(i) % 5 == 0 {
                    0
                } else {
                    (n(i) % 4) as usize + 1
                }
            })
            .collect();
        let tag_values = StringArray::from_iter((0..tag_lengths.iter().sum::<usize>()).map(|k| {
            let k = k as i64 + offset;
            match k % 6 {
                0 => None,
                1 => Some(format!("{}{}", "A".repeat(80), k % 50)),
                2 => Some(format!("{}-{}", "ä€😀".repeat(20), k % 3)),
                3 => Some(String::new()),
                _ => Some(format!("tag {}", k * 7919 % 300)),
            }
        }));
        let tags_field = item("item", DataType::Utf8, true);
        let tags = list(&tags_field, &tag_lengths, Arc::new(tag_values), (0..rows).map(|i| n(i) % 7 != 0).collect());
        // ints: nullable list of required items.
        let int_lengths: Vec<usize> = (0..rows).map(|i| (n(i) % 3) as usize).collect();
        let ints_field = item("item", DataType::Int64, false);
        let ints_values =
            Int64Array::from_iter_values((0..int_lengths.iter().sum::<usize>()).map(|k| k as i64 % 997 - 400));
        let ints = list(&ints_field, &int_lengths, Arc::new(ints_values), (0..rows).map(|i| n(i) % 11 != 3).collect());
        // counts: required list of required items (empty lists, no null ones).
        let counts_values = Int64Array::from_iter_values((0..int_lengths.iter().sum::<usize>()).map(|k| k as i64 / 3));
        let counts: ArrayRef = Arc::new(ListArray::new(
            ints_field.clone(),
            OffsetBuffer::from_lengths(int_lengths.iter().copied()),
            Arc::new(counts_values),
            None,
        ));
        // xs: doubles with NaN and signed zeros.
        let x_lengths: Vec<usize> = (0..rows).map(|i| (n(i) % 4) as usize).collect();
        let xs_field = item("item", DataType::Float64, true);
        let xs_values = Float64Array::from_iter((0..x_lengths.iter().sum::<usize>()).map(|k| match k % 8 {
            0 => None,
            1 => Some(f64::NAN),
            2 => Some(-0.0),
            3 => Some(0.0),
            _ => Some((k as f64 + offset as f64) / 7.0 - 300.0),
        }));
        let xs = list(&xs_field, &x_lengths, Arc::new(xs_values), (0..rows).map(|i| n(i) % 13 != 0).collect());
        let days_field = item("item", DataType::Date32, true);
        let day_lengths: Vec<usize> = (0..rows).map(|i| (n(i) % 2) as usize * 2).collect();
        let days_values = Date32Array::from_iter(
            (0..day_lengths.iter().sum::<usize>()).map(|k| (k % 9 != 0).then_some(k as i32 % 400)),
        );
        let days = list(&days_field, &day_lengths, Arc::new(days_values), vec![true; rows]);
        let empty =
            list(&tags_field, &vec![0; rows], Arc::new(StringArray::from(Vec::<String>::new())), vec![true; rows]);
        let nothing =
            list(&ints_field, &vec![0; rows], Arc::new(Int64Array::from(Vec::<i64>::new())), vec![false; rows]);
        // Rows of one null entry each (a null list, or a null item and a value): parquet calls every page null.
        let sparse_values = Int64Array::from_iter((0..2 * rows).map(|k| (k % 2 == 1).then_some(k as i64 + offset)));
        let sparse_valid: Vec<bool> = (0..rows).map(|i| n(i) % 3 != 0).collect();
        let sparse_lengths: Vec<usize> = sparse_valid.iter().map(|&v| if v { 2 } else { 0 }).collect();
        let sparse = list(&item("item", DataType::Int64, true), &sparse_lengths, Arc::new(sparse_values), sparse_valid);
        let columns = vec![tags, ints, counts, xs, days, empty, nothing, sparse];
        let names = ["tags", "ints", "counts", "xs", "days", "empty", "nothing", "sparse"];
        let fields: Vec<Field> = names
            .iter()
            .zip(&columns)
            .map(|(name, c)| Field::new(*name, c.data_type().clone(), *name != "counts"))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    /// Small-page properties, dictionary off and on, uncompressed with row-limited pages and zstd with
    /// size-limited ones: (dictionary, properties).
    fn small_page_settings(max_row_group_size: usize) -> Vec<(bool, WriterProperties)> {
        let mut settings = Vec::new();
        for dictionary in [false, true] {
            for (compression, page_rows) in [(parquet::basic::Compression::UNCOMPRESSED, 300), (zstd(), 20_000)] {
                let props = WriterProperties::builder()
                    .set_max_row_group_size(max_row_group_size)
                    .set_dictionary_enabled(dictionary)
                    .set_compression(compression)
                    .set_data_page_row_count_limit(page_rows)
                    .set_data_page_size_limit(2048)
                    .build();
                settings.push((dictionary, props));
            }
        }
        settings
    }

    #[test]
    fn own_encoder_writes_list_columns_as_arrow_writer_does() {
        let batches: Vec<RecordBatch> = (0..5).map(|i| list_batch(i * 1231, 1800 + 377 * i as usize)).collect();
        for (dictionary, props) in small_page_settings(4000) {
            let chunks = assert_same_file_as_arrow_writer(&batches, props);
            let dictionary_chunks = chunks.iter().filter(|c| c.dictionary_page_offset().is_some()).count();
            assert_eq!(dictionary_chunks > 0, dictionary);
            // Several pages in the list columns with values.
            let tags = chunks.iter().find(|c| c.column_path().string() == "tags.list.item").unwrap();
            assert!(tags.num_values() > 4000, "levels counted: {}", tags.num_values());
        }
    }

    /// Rows with an `_airbyte_meta`-shaped column (`{sync_id, changes: [{field, change, reason}]}`: sync_id
    /// sometimes null, 0-3 changes per row) and a required struct of a date and a nullable float.
    fn struct_batch(offset: i64, rows: usize) -> RecordBatch {
        use arrow::array::{Date32Array, Float64Array, StructArray};
        use arrow::buffer::OffsetBuffer;
        let n = |i: usize| i as i64 + offset;
        let meta_type = crate::schema::meta_type();
        let DataType::Struct(meta_fields) = &meta_type else { unreachable!() };
        let DataType::List(item) = meta_fields[1].data_type() else { unreachable!() };
        let DataType::Struct(change_fields) = item.data_type() else { unreachable!() };
        let sync_ids = Int64Array::from_iter((0..rows).map(|i| (n(i) % 13 != 0).then_some(n(i) / 1000)));
        let lengths: Vec<usize> = (0..rows).map(|i| if n(i) % 9 < 6 { 0 } else { (n(i) % 9 - 5) as usize }).collect();
        let total: usize = lengths.iter().sum();
        let text = |f: &dyn Fn(i64) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values((0..total).map(|k| f(k as i64 + offset))))
        };
        let changes = StructArray::new(
            change_fields.clone(),
            vec![
                text(&|k| format!("field_{}", k % 37)),
                text(&|k| if k % 5 == 0 { "TRUNCATED".into() } else { "NULLED".into() }),
                text(&|k| format!("DESTINATION_SERIALIZATION_ERROR {}", "ä".repeat((k % 4) as usize))),
            ],
            None,
        );
        let changes = ListArray::new(item.clone(), OffsetBuffer::from_lengths(lengths), Arc::new(changes), None);
        let meta = StructArray::new(meta_fields.clone(), vec![Arc::new(sync_ids), Arc::new(changes)], None);
        let when_fields = Fields::from(vec![
            Field::new("day", DataType::Date32, false),
            Field::new("score", DataType::Float64, true),
        ]);
        let when = StructArray::new(
            when_fields.clone(),
            vec![
                Arc::new(Date32Array::from_iter_values((0..rows).map(|i| (n(i) / 50) as i32))),
                Arc::new(Float64Array::from_iter(
                    (0..rows).map(|i| (n(i) % 4 != 1).then(|| (n(i) % 211) as f64 / 8.0)),
                )),
            ],
            None,
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("_airbyte_meta", meta_type.clone(), false),
            Field::new("when", DataType::Struct(when_fields), false),
        ]));
        RecordBatch::try_new(schema, vec![Arc::new(meta), Arc::new(when)]).unwrap()
    }

    #[test]
    fn own_encoder_writes_struct_columns_as_arrow_writer_does() {
        let batches: Vec<RecordBatch> = (0..4).map(|i| struct_batch(i * 977, 1500 + 311 * i as usize)).collect();
        for (_, props) in small_page_settings(3000) {
            let chunks = assert_same_file_as_arrow_writer(&batches, props);
            let field = chunks.iter().find(|c| c.column_path().string() == "_airbyte_meta.changes.list.item.field");
            assert!(field.unwrap().num_values() > 3000, "levels of empty lists and changes counted");
        }
    }

    #[test]
    fn struct_columns_get_the_own_encoder_only_in_shapes_it_makes_levels_for() {
        let fields = |v: Vec<Field>| Fields::from(v);
        let flat = || fields(vec![Field::new("a", DataType::Int64, true), Field::new("b", DataType::Utf8, false)]);
        let list_of = |t: DataType, nullable: bool| DataType::List(Arc::new(Field::new("item", t, nullable)));
        let meta = Field::new("m", crate::schema::meta_type(), false);
        let sources = |f: &Field| own_leaf_sources(f).map(|s| s.into_iter().map(|(s, _)| s).collect::<Vec<_>>());
        assert_eq!(
            sources(&meta),
            Some(vec![
                LeafSource::StructField(0),
                LeafSource::StructListItemField(1, 0),
                LeafSource::StructListItemField(1, 1),
                LeafSource::StructListItemField(1, 2),
            ])
        );
        assert_eq!(sources(&Field::new("s", DataType::Struct(flat()), false)).map(|s| s.len()), Some(2));
        assert_eq!(sources(&Field::new("x", DataType::Utf8, true)), Some(vec![LeafSource::Whole]));
        let parquets = [
            // A nullable struct, a struct in a struct, a list of nullable structs, a list of lists.
            Field::new("n", DataType::Struct(flat()), true),
            Field::new("s", DataType::Struct(fields(vec![Field::new("in", DataType::Struct(flat()), false)])), false),
            Field::new(
                "l",
                DataType::Struct(fields(vec![Field::new("c", list_of(DataType::Struct(flat()), true), false)])),
                false,
            ),
            Field::new(
                "ll",
                DataType::Struct(fields(vec![Field::new("c", list_of(list_of(DataType::Int64, true), false), false)])),
                false,
            ),
        ];
        for field in parquets {
            assert_eq!(sources(&field), None, "{field}");
        }
    }

    #[test]
    fn only_one_leaf_lists_of_flat_items_get_the_own_encoder() {
        let list = |t: DataType, nullable: bool| DataType::List(Arc::new(Field::new("item", t, nullable)));
        let own = [list(DataType::Utf8, true), list(DataType::Int64, false), list(DataType::Float64, true)];
        let parquets = [
            DataType::LargeList(Arc::new(Field::new("item", DataType::Utf8, true))),
            list(list(DataType::Int64, true), true),
            list(DataType::Boolean, true),
            DataType::Struct(vec![Field::new("a", DataType::Int64, true)].into()),
            list(DataType::Struct(vec![Field::new("a", DataType::Int64, true)].into()), true),
        ];
        let fields: Vec<Field> = own
            .iter()
            .chain(&parquets)
            .enumerate()
            .map(|(i, t)| Field::new(format!("c{i}"), t.clone(), true))
            .collect();
        let schema = Schema::new(fields);
        let descriptors = parquet::arrow::ArrowSchemaConverter::new().convert(&schema).unwrap();
        let props = WriterProperties::default();
        for (i, field) in schema.fields().iter().enumerate() {
            let own_encoder = PlainColumnWriter::try_new(descriptors.column(i), field.data_type(), &props).is_some();
            assert_eq!(own_encoder, i < own.len(), "{field}");
        }
    }

    use parquet::basic::{Encoding, PageType};
    use parquet::file::metadata::ColumnChunkMetaData;

    /// A chunk's page kinds in order (counts left out: pages are cut at other rows than parquet's).
    fn page_kinds(chunk: &ColumnChunkMetaData) -> Option<Vec<(PageType, Encoding)>> {
        let mut kinds: Vec<_> = chunk.page_encoding_stats()?.iter().map(|s| (s.page_type, s.encoding)).collect();
        kinds.dedup();
        Some(kinds)
    }

    /// Writes `batches` with `ArrowWriter` and with [`ParquetFileWriter`] (own encoder on) under `props`, and
    /// compares what a reader sees: values, row groups, and per chunk compression, value count, statistics
    /// (bounds byte for byte), encodings, page kinds and dictionary page. The page index must read back and
    /// locate the pages (rows read through it with a selection). Returns our column chunks.
    fn assert_same_file_as_arrow_writer(batches: &[RecordBatch], props: WriterProperties) -> Vec<ColumnChunkMetaData> {
        use parquet::arrow::arrow_reader::{ArrowReaderOptions, RowSelection, RowSelector};
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let schema = batches[0].schema();
        let mut reference = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props.clone())).unwrap();
        let mut ours = ParquetFileWriter::try_new(Vec::new(), schema.clone(), props.clone(), 2).unwrap();
        assert!(ours.own_encoder, "DESTINATION_OWN_PAGE_ENCODER=0 would make this compare parquet with itself");
        let spill_dir = tempfile::tempdir().unwrap();
        let spill = Arc::new(PageSpill::create_in(spill_dir.path()).unwrap());
        let mut spilling = ParquetFileWriter::try_new(Vec::new(), schema.clone(), props.clone(), 2)
            .unwrap()
            .spill_pages(spill.clone());
        for b in batches {
            reference.write(b).unwrap();
            ours.write(b).unwrap();
            spilling.write(b).unwrap();
        }
        let (expected, ours) = (reference.into_inner().unwrap(), ours.into_inner().unwrap());
        // Pages that waited in a spill file make the same file as pages kept in memory.
        assert!(spilling.into_inner().unwrap() == ours, "the file written with a page spill differs");
        // Chunks that spilled nothing before their close keep their last pages in memory; the others spill.
        assert!(spill.bytes_appended() > 0, "pages went to the spill");
        let (ours_bytes, expected_bytes) = (Bytes::from(ours.clone()), expected.clone());
        let (want, got) = (concat(&read_all(expected.clone()).0), concat(&read_all(ours.clone()).0));
        // NaN != NaN: compare the columns' printed form.
        let show = |b: &RecordBatch| format!("{:?}", b.columns());
        assert_eq!(show(&got), show(&want));
        let (want_file, got_file) = (
            SerializedFileReader::new(Bytes::from(expected)).unwrap(),
            SerializedFileReader::new(Bytes::from(ours)).unwrap(),
        );
        assert_eq!(got_file.num_row_groups(), want_file.num_row_groups());
        // Every leaf went through the own encoder (else parquet would be compared with itself).
        let descriptors = got_file.metadata().file_metadata().schema_descr_ptr();
        let got_leaves = own_leaves(&got);
        for (leaf, field) in got_leaves.schema().fields().iter().enumerate() {
            let own = PlainColumnWriter::try_new(descriptors.column(leaf), field.data_type(), &props);
            assert!(own.is_some(), "{} is not written by the own encoder", field.name());
        }
        assert_eq!(got_leaves.num_columns(), descriptors.num_columns());
        let mut chunks = Vec::new();
        for g in 0..want_file.num_row_groups() {
            let (w, o) = (want_file.metadata().row_group(g), got_file.metadata().row_group(g));
            assert_eq!(o.num_rows(), w.num_rows());
            for c in 0..w.num_columns() {
                let (wc, oc) = (w.column(c), o.column(c));
                let at = format!("row group {g} column {}", wc.column_path());
                assert_eq!(oc.compression(), wc.compression());
                assert_eq!(oc.num_values(), wc.num_values(), "{at}");
                assert_eq!(oc.statistics(), wc.statistics(), "{at}");
                // Floats compare -0.0 == 0.0: the bytes tell the signed zeros apart.
                let bounds = |s: Option<&parquet::file::statistics::Statistics>| {
                    s.map(|s| (s.min_bytes_opt().map(<[u8]>::to_vec), s.max_bytes_opt().map(<[u8]>::to_vec)))
                };
                assert_eq!(bounds(oc.statistics()), bounds(wc.statistics()), "{at}");
                assert_eq!(oc.encodings().collect::<Vec<_>>(), wc.encodings().collect::<Vec<_>>(), "{at}");
                assert_eq!(page_kinds(oc), page_kinds(wc), "{at}");
                assert_eq!(oc.dictionary_page_offset().is_some(), wc.dictionary_page_offset().is_some(), "{at}");
                chunks.push(oc.clone());
            }
        }
        // The page index reads back: offsets for every column, bounds for those with page statistics.
        let options = || parquet::file::serialized_reader::ReadOptionsBuilder::new().with_page_index().build();
        let indexed = SerializedFileReader::new_with_options(ours_bytes.clone(), options()).unwrap();
        let offsets = indexed.metadata().offset_index().expect("offset index");
        assert!(offsets.iter().all(|group| group.len() == got_leaves.num_columns()));
        for (group, chunks) in offsets.iter().zip(indexed.metadata().row_groups()) {
            for (index, chunk) in group.iter().zip(chunks.columns()) {
                assert_eq!(index.page_locations()[0].offset, chunk.data_page_offset(), "{}", chunk.column_path());
            }
        }
        let pages: usize = offsets[0].iter().map(|c| c.page_locations().len()).sum();
        assert!(pages > got_leaves.num_columns(), "several pages per column: {pages}");
        let reference = SerializedFileReader::new_with_options(Bytes::from(expected_bytes), options()).unwrap();
        assert_page_bounds_match_pages(indexed.metadata(), reference.metadata(), &got_leaves, &props);
        // Rows found through the offset index (pages skipped by a selection) are the rows written.
        let (skip, take) = (want.num_rows() / 3, want.num_rows() / 2);
        let selection = RowSelection::from(vec![RowSelector::skip(skip), RowSelector::select(take)]);
        let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(
            ours_bytes,
            ArrowReaderOptions::new().with_page_index(true),
        )
        .unwrap()
        .with_row_selection(selection)
        .build()
        .unwrap();
        let selected: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(show(&concat(&selected)), show(&want.slice(skip, take)));
        chunks
    }

    /// One column per Parquet leaf, as the own encoder takes it (a top-level column keeps its name).
    fn own_leaves(batch: &RecordBatch) -> RecordBatch {
        let (mut fields, mut columns) = (Vec::new(), Vec::new());
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let sources = own_leaf_sources(field).unwrap_or_else(|| panic!("{field} has no own leaves"));
            for (k, (source, data_type)) in sources.into_iter().enumerate() {
                let name =
                    if source == LeafSource::Whole { field.name().clone() } else { format!("{}.{k}", field.name()) };
                fields.push(Field::new(name, data_type, true));
                columns.push(source.extract(column).unwrap());
            }
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    /// A page's min and max, plain-encoded.
    type PageBounds = (Vec<u8>, Vec<u8>);

    /// A page bound in the column's order.
    #[derive(PartialEq, PartialOrd)]
    enum Key {
        Bytes(Vec<u8>),
        Int(i64),
        Double(f64),
    }

    /// Expected and indexed bounds of an integer page as `width`-byte little-endian values, and its order key.
    fn int_bounds(
        values: Option<(i64, i64)>,
        index: Option<(i64, i64)>,
        width: usize,
    ) -> (Option<PageBounds>, Option<PageBounds>, Option<(Key, Key)>) {
        let bytes = |(a, b): (i64, i64)| (a.to_le_bytes()[..width].to_vec(), b.to_le_bytes()[..width].to_vec());
        (values.map(bytes), index.map(bytes), values.map(|(a, b)| (Key::Int(a), Key::Int(b))))
    }

    /// The column index against the pages' rows (located by the offset index): null pages, null counts, and
    /// min/max of every page equal to its values' bounds (strings truncated as the properties say), and the
    /// boundary order `reference` (parquet's file) has. A chunk with a NaN-only page has no column index (as
    /// parquet writes it).
    fn assert_page_bounds_match_pages(
        metadata: &parquet::file::metadata::ParquetMetaData,
        reference: &parquet::file::metadata::ParquetMetaData,
        rows: &RecordBatch,
        props: &WriterProperties,
    ) {
        use crate::plain_column::{truncate_max, truncate_min};
        use arrow::datatypes::{Date32Type, Float64Type};
        use parquet::file::page_index::column_index::ColumnIndexMetaData as Index;
        let (offsets, indexes) = (metadata.offset_index().unwrap(), metadata.column_index().expect("column index"));
        let mut group_start = 0;
        let (mut checked_pages, mut checked_orders) = (0, 0);
        for (g, group) in metadata.row_groups().iter().enumerate() {
            let group_rows = group.num_rows() as usize;
            for (c, index) in indexes[g].iter().enumerate() {
                let locations = offsets[g][c].page_locations();
                let at = |p: usize| format!("row group {g} column {c} page {p}");
                let array = rows.column(c);
                let data_type = match rows.schema().field(c).data_type() {
                    DataType::List(item) => item.data_type().clone(),
                    other => other.clone(),
                };
                // A page that is not null (fewer null entries than rows) without a bound: NaN only, or for a
                // list column only null items.
                let unbounded_page = locations.iter().enumerate().any(|(p, l)| {
                    let end = locations.get(p + 1).map_or(group_rows, |n| n.first_row_index as usize);
                    let first = l.first_row_index as usize;
                    let (page, nulls) = page_entries(array, group_start + first, end - first);
                    let no_bound = match &data_type {
                        DataType::Float64 => page.as_primitive::<Float64Type>().iter().flatten().all(f64::is_nan),
                        _ => page.null_count() == page.len(),
                    };
                    nulls != end - first && no_bound
                });
                if unbounded_page {
                    assert_eq!(index, &Index::NONE, "{}", at(0));
                    continue;
                }
                // Sorted columns have the order whatever the page cuts (of several pages): parquet's must be ours.
                let reference_pages = reference.offset_index().unwrap()[g][c].page_locations().len();
                let sorted = ["rising", "falling"].contains(&rows.schema().field(c).name().as_str());
                if sorted && reference_pages > 1 && locations.len() > 1 {
                    checked_orders += 1;
                    let reference_order = reference.column_index().unwrap()[g][c].get_boundary_order();
                    assert_eq!(index.get_boundary_order(), reference_order, "{}", at(0));
                    assert_ne!(reference_order, Some(parquet::basic::BoundaryOrder::UNORDERED));
                }
                let (mut ascending, mut descending, mut last) = (true, true, None::<(Key, Key)>);
                for (p, location) in locations.iter().enumerate() {
                    let first = location.first_row_index as usize;
                    let end = locations.get(p + 1).map_or(group_rows, |n| n.first_row_index as usize);
                    let (page, nulls) = page_entries(array, group_start + first, end - first);
                    let null_page = nulls == end - first;
                    assert_eq!(index.null_count(p), Some(nulls as i64), "{}", at(p));
                    assert_eq!(index.is_null_page(p), null_page, "{}", at(p));
                    let (want, got, key): (Option<PageBounds>, Option<PageBounds>, _) = match (&data_type, index) {
                        (DataType::Utf8, Index::BYTE_ARRAY(i)) => {
                            let values = page.as_string::<i32>().iter().flatten().map(str::as_bytes);
                            let n = props.column_index_truncate_length().unwrap_or(usize::MAX);
                            let bounds = values.clone().min().zip(values.max());
                            (
                                bounds.map(|(a, b)| (truncate_min(a.to_vec(), n).0, truncate_max(b.to_vec(), n).0)),
                                i.min_value(p).map(|a| (a.to_vec(), i.max_value(p).unwrap().to_vec())),
                                bounds.map(|(a, b)| (Key::Bytes(a.to_vec()), Key::Bytes(b.to_vec()))),
                            )
                        }
                        (DataType::Float64, Index::DOUBLE(i)) => {
                            let values = page.as_primitive::<Float64Type>().iter().flatten().filter(|v| !v.is_nan());
                            let min = values.clone().reduce(f64::min).map(|v| if v == 0.0 { -0.0 } else { v });
                            let max = values.reduce(f64::max).map(|v| if v == 0.0 { 0.0 } else { v });
                            (
                                min.zip(max).map(|(a, b)| (a.to_le_bytes().to_vec(), b.to_le_bytes().to_vec())),
                                i.min_value(p).map(|a| {
                                    (a.to_le_bytes().to_vec(), i.max_value(p).unwrap().to_le_bytes().to_vec())
                                }),
                                min.zip(max).map(|(a, b)| (Key::Double(a), Key::Double(b))),
                            )
                        }
                        // Dates are INT32 in the file, the other integer kinds INT64: bounds in the index's width.
                        (DataType::Date32, Index::INT32(i)) => {
                            let values = page.as_primitive::<Date32Type>().iter().flatten();
                            let bounds = values.clone().min().zip(values.max());
                            let index = i.min_value(p).zip(i.max_value(p)).map(|(a, b)| (*a as i64, *b as i64));
                            int_bounds(bounds.map(|(a, b)| (a as i64, b as i64)), index, 4)
                        }
                        (_, Index::INT64(i)) => {
                            let ints = arrow::compute::cast(&page, &DataType::Int64).unwrap();
                            let values = ints.as_primitive::<Int64Type>().iter().flatten();
                            let bounds = values.clone().min().zip(values.max());
                            int_bounds(bounds, i.min_value(p).zip(i.max_value(p)).map(|(a, b)| (*a, *b)), 8)
                        }
                        (t, i) => panic!("{}: column index {i:?} for {t}", at(p)),
                    };
                    // parquet's null page has no bounds (for a list column even if it has values).
                    let (want, key) = if null_page { (None, None) } else { (want, key) };
                    assert_eq!(got, want, "{}", at(p));
                    checked_pages += 1;
                    // Parquet's rule: non-null pages' (untruncated) bounds never falling, or never rising.
                    if let Some((min, max)) = key {
                        if let Some((last_min, last_max)) = &last {
                            ascending &= *last_min <= min && *last_max <= max;
                            descending &= min <= *last_min && max <= *last_max;
                        }
                        last = Some((min, max));
                    }
                }
                let order = match (ascending, descending) {
                    (true, _) => parquet::basic::BoundaryOrder::ASCENDING,
                    (false, true) => parquet::basic::BoundaryOrder::DESCENDING,
                    (false, false) => parquet::basic::BoundaryOrder::UNORDERED,
                };
                assert_eq!(index.get_boundary_order(), Some(order), "{}", at(0));
            }
            group_start += group_rows;
        }
        assert!(checked_pages > 0);
        let schema = rows.schema();
        let sorted_columns = schema.fields().iter().filter(|f| ["rising", "falling"].contains(&f.name().as_str()));
        assert!(sorted_columns.count() == 0 || checked_orders >= 4, "{checked_orders} sorted chunks compared");
    }

    /// The leaf entries of `len` rows of `array` from `start`: the values (null ones included; for a list column
    /// the items of its non-null lists) and the null entries as parquet counts them (null values; for a list
    /// column also null and empty lists).
    fn page_entries(array: &ArrayRef, start: usize, len: usize) -> (ArrayRef, usize) {
        let page = array.slice(start, len);
        let Some(list) = page.as_list_opt::<i32>() else { return (page.clone(), page.null_count()) };
        let mut parts = Vec::new();
        let mut nulls = 0;
        for row in 0..list.len() {
            if list.is_null(row) || list.value_length(row) == 0 {
                nulls += 1;
            } else {
                parts.push(list.value(row));
            }
        }
        let items = match parts.is_empty() {
            true => arrow::array::new_empty_array(&list.value_type()),
            false => arrow::compute::concat(&parts.iter().map(|p| p.as_ref()).collect::<Vec<_>>()).unwrap(),
        };
        nulls += items.null_count();
        (items, nulls)
    }

    fn zstd() -> parquet::basic::Compression {
        parquet::basic::Compression::ZSTD(parquet::basic::ZstdLevel::try_new(1).unwrap())
    }

    #[test]
    fn empty_file_and_size_estimates() {
        let batch = sample_batch(0, 10);
        let w = ParquetFileWriter::try_new(Vec::new(), batch.schema(), WriterProperties::default(), 2).unwrap();
        let (got, groups) = read_all(w.into_inner().unwrap());
        assert!(got.is_empty());
        assert_eq!(groups, 0);

        let mut w = ParquetFileWriter::try_new(Vec::new(), batch.schema(), WriterProperties::default(), 2).unwrap();
        w.write(&batch).unwrap();
        assert_eq!(w.in_progress_rows(), 10);
        w.flush().unwrap();
        assert_eq!(w.in_progress_rows(), 0);
        assert!(w.bytes_written() > 4);
    }

    #[test]
    fn a_batch_of_another_schema_is_an_error() {
        let batch = sample_batch(0, 10);
        let mut w = ParquetFileWriter::try_new(Vec::new(), batch.schema(), WriterProperties::default(), 2).unwrap();
        let other = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]).unwrap();
        assert!(w.write(&other).is_err());
        w.write(&batch).unwrap();
        assert_eq!(read_all(w.into_inner().unwrap()).0[0].num_rows(), 10);
    }

    #[test]
    fn dictionary_is_skipped_only_for_nearly_unique_columns() {
        use arrow::array::{Float64Array, TimestampMicrosecondArray};
        let rows = 5000;
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("id-{i}")))) as ArrayRef),
            ("unit", Arc::new(StringArray::from_iter_values((0..rows).map(|i| ["kg", "m3"][i % 2])))),
            ("amount", Arc::new(Float64Array::from_iter_values((0..rows).map(|i| i as f64 * 0.5)))),
            ("year", Arc::new(Int64Array::from_iter_values((0..rows).map(|i| 2000 + (i % 30) as i64)))),
            ("at", Arc::new(TimestampMicrosecondArray::from_iter_values((0..rows).map(|i| i as i64 * 1000)))),
            // 90% distinct: a dictionary may still fit.
            ("code", Arc::new(Int64Array::from_iter_values((0..rows).map(|i| (i - usize::from(i % 10 == 1)) as i64)))),
            ("sparse", Arc::new(Int64Array::from_iter((0..rows).map(|i| (i % 10 == 0).then_some(i as i64))))),
        ])
        .unwrap();
        let props =
            skip_dictionary_for_unique_columns(WriterProperties::builder(), std::slice::from_ref(&batch)).build();
        let dictionary = |name: &str| props.dictionary_enabled(&ColumnPath::from(name));
        assert!(!dictionary("id") && !dictionary("amount") && !dictionary("at"));
        assert!(dictionary("unit") && dictionary("year") && dictionary("code"));
        // Unique, but only 410 values sampled: too few to judge.
        assert!(dictionary("sparse"));
        let small = skip_dictionary_for_unique_columns(WriterProperties::builder(), &[batch.slice(0, 100)]).build();
        assert!(small.dictionary_enabled(&ColumnPath::from("id")));
        // The sample spans batches: 25 batches of 200 rows judge as the whole batch does.
        let split: Vec<RecordBatch> = (0..25).map(|k| batch.slice(k * 200, 200)).collect();
        let props = skip_dictionary_for_unique_columns(WriterProperties::builder(), &split).build();
        let dictionary = |name: &str| props.dictionary_enabled(&ColumnPath::from(name));
        assert!(!dictionary("id") && !dictionary("amount") && !dictionary("at"));
        assert!(dictionary("unit") && dictionary("year") && dictionary("code") && dictionary("sparse"));
    }
}
