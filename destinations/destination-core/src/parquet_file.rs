//! [`ParquetFileWriter`]: an Arrow -> Parquet file writer that encodes columns on several threads.
//!
//! parquet's `ArrowWriter` encodes every column of a batch on the calling thread, which makes the writer the
//! slowest stage of a destination. Here the top-level columns are split into lanes (one thread each) once the
//! first batch shows their sizes; [`write`](ParquetFileWriter::write) only hands the batch to the lanes, and
//! [`flush`](ParquetFileWriter::flush) collects the encoded column chunks and appends the row group in column
//! order. The file is the same as `ArrowWriter` writes (same schema, metadata, row-group rules).

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Fields, Float64Type, Int64Type, SchemaRef};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

/// Batches a lane may have queued before [`ParquetFileWriter::write`] waits (bounds memory).
const LANE_QUEUE: usize = 2;

/// One top-level column's leaf writers (a struct or list column has several leaves).
struct LaneColumn {
    field: usize,
    writers: Vec<(usize, ArrowColumnWriter)>,
}

enum LaneJob {
    Open(Vec<LaneColumn>),
    Write(RecordBatch),
    Close(mpsc::Sender<Result<Vec<(usize, ArrowColumnChunk)>>>),
}

struct Lane {
    jobs: mpsc::SyncSender<LaneJob>,
    /// Estimated encoded bytes of this lane's columns in the open row group.
    estimate: Arc<AtomicUsize>,
}

/// Writes one Parquet file; see the module docs. Dropping it without [`into_inner`](Self::into_inner)
/// abandons the file (the lanes stop).
pub struct ParquetFileWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Leaf writers per top-level field, in schema order.
    leaf_counts: Vec<usize>,
    threads: usize,
    lanes: Vec<Lane>,
    /// Lane of each top-level field, decided from the first batch.
    lane_of_field: Vec<usize>,
    row_group_open: bool,
    buffered_rows: usize,
    max_row_group_rows: usize,
}

impl<W: Write + Send> ParquetFileWriter<W> {
    /// A writer with up to `threads` encoding lanes (at least one).
    pub fn try_new(out: W, schema: SchemaRef, props: WriterProperties, threads: usize) -> Result<Self> {
        let max_row_group_rows = props.max_row_group_size().max(1);
        let (file, factory) = ArrowWriter::try_new(out, schema.clone(), Some(props))?.into_serialized_writer()?;
        let leaf_counts = schema.fields().iter().map(|f| leaf_count(f.data_type())).collect();
        Ok(ParquetFileWriter {
            file,
            factory,
            threads: threads.clamp(1, schema.fields().len().max(1)),
            schema,
            leaf_counts,
            lanes: Vec::new(),
            lane_of_field: Vec::new(),
            row_group_open: false,
            buffered_rows: 0,
            max_row_group_rows,
        })
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
        if self.lanes.is_empty() {
            self.start_lanes(batch)?;
        }
        if !self.row_group_open {
            self.open_row_group()?;
        }
        for lane in &self.lanes {
            lane.jobs.send(LaneJob::Write(batch.clone())).map_err(|_| lane_stopped())?;
        }
        self.buffered_rows += batch.num_rows();
        if self.buffered_rows >= self.max_row_group_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Estimated encoded size of the open row group (lags the queued batches slightly).
    pub fn in_progress_size(&self) -> usize {
        self.lanes.iter().map(|l| l.estimate.load(Ordering::Relaxed)).sum()
    }

    /// Rows in the open row group.
    pub fn in_progress_rows(&self) -> usize {
        self.buffered_rows
    }

    /// Bytes written to the output so far (closed row groups).
    pub fn bytes_written(&self) -> usize {
        self.file.bytes_written()
    }

    /// Finish the open row group: wait for the lanes and append its column chunks to the file.
    pub fn flush(&mut self) -> Result<()> {
        if !self.row_group_open {
            return Ok(());
        }
        self.row_group_open = false;
        self.buffered_rows = 0;
        let mut replies = Vec::with_capacity(self.lanes.len());
        for lane in &self.lanes {
            let (tx, rx) = mpsc::channel();
            lane.jobs.send(LaneJob::Close(tx)).map_err(|_| lane_stopped())?;
            replies.push(rx);
        }
        let mut chunks = Vec::new();
        for reply in replies {
            chunks.extend(reply.recv().map_err(|_| lane_stopped())??);
        }
        chunks.sort_unstable_by_key(|(leaf, _)| *leaf);
        let mut row_group = self.file.next_row_group()?;
        for (_, chunk) in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        for lane in &self.lanes {
            lane.estimate.store(0, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Flush, write the footer and return the output.
    pub fn into_inner(mut self) -> Result<W> {
        self.flush()?;
        self.lanes.clear();
        self.file.into_inner()
    }

    /// Spread the top-level columns over the lanes, largest first onto the least loaded lane.
    fn start_lanes(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut order: Vec<(usize, usize)> =
            batch.columns().iter().enumerate().map(|(i, c)| (c.get_buffer_memory_size(), i)).collect();
        order.sort_unstable_by(|a, b| b.cmp(a));
        let mut load = vec![0usize; self.threads];
        self.lane_of_field = vec![0; batch.num_columns()];
        for (cost, field) in order {
            let lane = (0..self.threads).min_by_key(|&l| load[l]).unwrap_or(0);
            load[lane] += cost.max(1);
            self.lane_of_field[field] = lane;
        }
        self.lanes = (0..self.threads).map(|_| spawn_lane(self.schema.fields().clone())).collect::<Result<_>>()?;
        Ok(())
    }

    fn open_row_group(&mut self) -> Result<()> {
        let index = self.file.flushed_row_groups().len();
        let mut writers = self.factory.create_column_writers(index)?.into_iter().enumerate();
        let mut per_lane: Vec<Vec<LaneColumn>> = (0..self.lanes.len()).map(|_| Vec::new()).collect();
        for (field, &leaves) in self.leaf_counts.iter().enumerate() {
            let column = LaneColumn { field, writers: writers.by_ref().take(leaves).collect() };
            if column.writers.len() != leaves {
                return Err(ParquetError::General("fewer column writers than Arrow leaves".into()));
            }
            per_lane[self.lane_of_field[field]].push(column);
        }
        if writers.next().is_some() {
            return Err(ParquetError::General("more column writers than Arrow leaves".into()));
        }
        for (lane, columns) in self.lanes.iter().zip(per_lane) {
            lane.jobs.send(LaneJob::Open(columns)).map_err(|_| lane_stopped())?;
        }
        self.row_group_open = true;
        Ok(())
    }
}

/// Rows at the start of a file's first batch that [`skip_dictionary_for_unique_columns`] looks at.
const DICTIONARY_SAMPLE_ROWS: usize = 4096;
/// Fewer sampled values than this say too little about a column: its dictionary stays on.
const DICTIONARY_MIN_SAMPLE: usize = 1024;

/// Turns dictionary encoding off for the top-level flat columns whose sampled values (the start of `batch`,
/// usually a file's first batch) are at least 98% distinct: ids, timestamps, measurements.
///
/// parquet builds a dictionary for every column and abandons it only once it outgrows its page limit, so for
/// such columns the hashing is wasted work. 98% distinct in 4096 values means roughly 100k distinct values
/// or more in all: 800 KB of 8-byte values, more for strings, so the dictionary would rarely have fitted.
/// Columns with fewer than 1024 sampled non-null values keep their dictionary.
pub fn skip_dictionary_for_unique_columns(
    mut props: WriterPropertiesBuilder,
    batch: &RecordBatch,
) -> WriterPropertiesBuilder {
    let rows = batch.num_rows().min(DICTIONARY_SAMPLE_ROWS);
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let column = column.slice(0, rows);
        let distinct = match field.data_type() {
            DataType::Utf8 => distinct_share(column.as_string::<i32>().iter().flatten()),
            DataType::LargeUtf8 => distinct_share(column.as_string::<i64>().iter().flatten()),
            DataType::Int64 => distinct_share(column.as_primitive::<Int64Type>().iter().flatten()),
            DataType::Float64 => {
                distinct_share(column.as_primitive::<Float64Type>().iter().flatten().map(f64::to_bits))
            }
            // Timestamps and times are i64 underneath, whatever their unit.
            DataType::Timestamp(..) | DataType::Time64(_) => arrow::compute::cast(&column, &DataType::Int64)
                .ok()
                .and_then(|ints| distinct_share(ints.as_primitive::<Int64Type>().iter().flatten())),
            _ => None,
        };
        if distinct.is_some_and(|share| share >= 0.98) {
            props = props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    props
}

/// Share of distinct values among `values`; `None` for too small a sample.
fn distinct_share<T: std::hash::Hash + Eq>(values: impl Iterator<Item = T>) -> Option<f64> {
    let mut seen = std::collections::HashSet::with_capacity(DICTIONARY_SAMPLE_ROWS);
    let mut count = 0usize;
    for value in values {
        seen.insert(value);
        count += 1;
    }
    (count >= DICTIONARY_MIN_SAMPLE).then(|| seen.len() as f64 / count as f64)
}

/// Encoding lanes for one file: the machine's cores (decoding shares them).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8)
}

fn lane_stopped() -> ParquetError {
    ParquetError::General("a Parquet encoding thread stopped".into())
}

fn spawn_lane(fields: Fields) -> Result<Lane> {
    let (jobs, rx) = mpsc::sync_channel::<LaneJob>(LANE_QUEUE);
    let estimate = Arc::new(AtomicUsize::new(0));
    let lane_estimate = estimate.clone();
    // The thread ends when the writer drops its sender.
    std::thread::Builder::new()
        .name("parquet-encode".into())
        .spawn(move || run_lane(rx, &fields, &lane_estimate))
        .map_err(|e| ParquetError::General(format!("cannot start a Parquet encoding thread: {e}")))?;
    Ok(Lane { jobs, estimate })
}

fn run_lane(jobs: mpsc::Receiver<LaneJob>, fields: &Fields, estimate: &AtomicUsize) {
    let mut columns: Vec<LaneColumn> = Vec::new();
    let mut failure: Option<ParquetError> = None;
    for job in jobs {
        match job {
            LaneJob::Open(open) => columns = open,
            LaneJob::Write(batch) if failure.is_none() => {
                let written = columns.iter_mut().try_for_each(|column| {
                    let leaves = compute_leaves(&fields[column.field], batch.column(column.field))?;
                    leaves.iter().zip(&mut column.writers).try_for_each(|(leaf, (_, writer))| writer.write(leaf))
                });
                match written {
                    Ok(()) => estimate.store(
                        columns.iter().flat_map(|c| &c.writers).map(|(_, w)| w.get_estimated_total_bytes()).sum(),
                        Ordering::Relaxed,
                    ),
                    Err(e) => failure = Some(e),
                }
            }
            LaneJob::Write(_) => {}
            LaneJob::Close(reply) => {
                let chunks = match failure.take() {
                    Some(e) => Err(e),
                    None => std::mem::take(&mut columns)
                        .into_iter()
                        .flat_map(|c| c.writers)
                        .map(|(leaf, writer)| writer.close().map(|chunk| (leaf, chunk)))
                        .collect(),
                };
                columns.clear();
                let _ = reply.send(chunks);
            }
        }
    }
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

    #[test]
    fn same_rows_as_arrow_writer_across_row_groups_and_threads() {
        let batches: Vec<RecordBatch> = (0..7).map(|i| sample_batch(i * 1000, 333 + i as usize)).collect();
        let schema = batches[0].schema();
        let props = || WriterProperties::builder().set_max_row_group_size(1000).build();
        let mut reference = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props())).unwrap();
        for b in &batches {
            reference.write(b).unwrap();
        }
        let (expected, expected_groups) = read_all(reference.into_inner().unwrap());
        for threads in [1, 2, 3, 8] {
            let mut ours = ParquetFileWriter::try_new(Vec::new(), schema.clone(), props(), threads).unwrap();
            for (i, b) in batches.iter().enumerate() {
                ours.write(b).unwrap();
                if i == 3 {
                    ours.flush().unwrap();
                }
            }
            let (got, groups) = read_all(ours.into_inner().unwrap());
            let concat = |bs: &[RecordBatch]| arrow::compute::concat_batches(&bs[0].schema(), bs).unwrap();
            assert_eq!(concat(&got), concat(&expected), "threads {threads}");
            // The explicit flush adds one row group; the 1000-row limit cuts the rest as ArrowWriter does.
            assert!(groups >= expected_groups && groups <= expected_groups + 1, "{groups} vs {expected_groups}");
        }
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
        let props = skip_dictionary_for_unique_columns(WriterProperties::builder(), &batch).build();
        let dictionary = |name: &str| props.dictionary_enabled(&ColumnPath::from(name));
        assert!(!dictionary("id") && !dictionary("amount") && !dictionary("at"));
        assert!(dictionary("unit") && dictionary("year") && dictionary("code"));
        // Unique, but only 410 values sampled: too few to judge.
        assert!(dictionary("sparse"));
        let small = skip_dictionary_for_unique_columns(WriterProperties::builder(), &batch.slice(0, 100)).build();
        assert!(small.dictionary_enabled(&ColumnPath::from("id")));
    }
}
