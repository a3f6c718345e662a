//! [`SampledParquetWriter`]: a [`ParquetFileWriter`] whose dictionary choices wait for a sample of rows.
//!
//! Dictionaries are turned off for nearly unique columns ([`skip_dictionary_for_unique_columns`]), judged on
//! a file's first rows. A wide record makes a small first batch (a 2 MB input chunk holds only a few hundred
//! 300-column rows): too small a sample, so every column kept a dictionary that parquet hashed and buffered
//! per column until it overflowed. Here a file's first batches are held until the sample is big enough (or
//! big in bytes), then the file opens with the dictionaries that sample calls for.
//! What the files of one encoding pool hold for their samples together is capped too
//! ([`MAX_HELD_BYTES_ACROSS_FILES`]): with a file open per stream, hundreds of streams each held theirs.

use crate::page_spill::PageSpill;
use crate::parquet_file::{
    skip_dictionary_for_unique_columns, Encoders, MemoryBudget, ParquetFileWriter, DICTIONARY_SAMPLE_ROWS,
};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::errors::Result;
use parquet::file::properties::WriterProperties;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Held input above this many bytes (Arrow memory) opens the file whatever the sample's size.
const MAX_HELD_BYTES: usize = 32 << 20;
/// The same for all files of a pool together: with a file open per stream, 200 streams held 75 MB for their
/// samples. Above it, the file being written opens on what it holds.
pub const MAX_HELD_BYTES_ACROSS_FILES: usize = 64 << 20;

/// See the module docs. The methods are [`ParquetFileWriter`]'s; rows held for the sample count as in
/// progress.
pub struct SampledParquetWriter<W: Write + Send> {
    /// Until the file opens.
    sample: Option<Sample<W>>,
    /// Once the file is open (neither: opening failed, and the error was returned).
    writer: Option<ParquetFileWriter<W>>,
}

struct Sample<W> {
    out: W,
    schema: SchemaRef,
    props: WriterProperties,
    encoders: Encoders,
    /// Where pages beyond the page budget go ([`ParquetFileWriter::spill_pages_beyond_page_budget`]).
    spill: Option<Arc<PageSpill>>,
    held: Vec<RecordBatch>,
    /// Rows and Arrow memory of `held`, kept as batches come (frequent states make many one-row batches).
    rows: usize,
    bytes: HeldBytes,
}

/// A sample's bytes, counted in the budget it shares with the other files while it is held.
struct HeldBytes {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl HeldBytes {
    fn add(&mut self, bytes: usize) {
        self.bytes += bytes;
        self.budget.held_sample_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn across_files(&self) -> usize {
        self.budget.held_sample_bytes.load(Ordering::Relaxed)
    }
}

impl Drop for HeldBytes {
    fn drop(&mut self) {
        self.budget.held_sample_bytes.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl<W: Write + Send> SampledParquetWriter<W> {
    /// A file whose dictionaries follow `props`, minus those the first rows show to be nearly unique.
    pub fn new(out: W, schema: SchemaRef, props: WriterProperties, encoders: impl Into<Encoders>) -> Self {
        let encoders = encoders.into();
        let bytes = HeldBytes { budget: encoders.budget(), bytes: 0 };
        let sample = Sample { out, schema, props, encoders, spill: None, held: Vec::new(), rows: 0, bytes };
        SampledParquetWriter { sample: Some(sample), writer: None }
    }

    /// See [`ParquetFileWriter::spill_pages_beyond_page_budget`]; call it before the first write.
    pub fn spill_pages_beyond_page_budget(mut self, spill: Arc<PageSpill>) -> Self {
        if let Some(sample) = &mut self.sample {
            sample.spill = Some(spill);
        }
        self
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if let Some(sample) = &mut self.sample {
            if batch.num_rows() > 0 {
                sample.rows += batch.num_rows();
                sample.bytes.add(batch.get_array_memory_size());
                sample.held.push(batch.clone());
            }
            if sample.rows < DICTIONARY_SAMPLE_ROWS
                && sample.bytes.bytes < MAX_HELD_BYTES
                && sample.bytes.across_files() < MAX_HELD_BYTES_ACROSS_FILES
            {
                return Ok(());
            }
            return self.writer().map(|_| ());
        }
        self.writer()?.write(batch)
    }

    /// Estimated size of the open row group, or the Arrow memory of the rows held for the sample.
    pub fn in_progress_size(&self) -> usize {
        match (&self.sample, &self.writer) {
            (Some(sample), _) => sample.bytes.bytes,
            (None, Some(writer)) => writer.in_progress_size(),
            (None, None) => 0,
        }
    }

    pub fn in_progress_rows(&self) -> usize {
        match (&self.sample, &self.writer) {
            (Some(sample), _) => sample.rows,
            (None, Some(writer)) => writer.in_progress_rows(),
            (None, None) => 0,
        }
    }

    pub fn bytes_written(&self) -> usize {
        self.writer.as_ref().map_or(0, ParquetFileWriter::bytes_written)
    }

    /// Finish the open row group; held rows are decided on and written first.
    pub fn flush(&mut self) -> Result<()> {
        self.writer()?.flush()
    }

    /// Flush, write the footer and return the output.
    pub fn into_inner(mut self) -> Result<W> {
        self.writer()?;
        self.writer.take().ok_or_else(not_opened)?.into_inner()
    }

    /// The file writer; the first call decides the dictionaries on the held rows, opens the file and
    /// writes them.
    fn writer(&mut self) -> Result<&mut ParquetFileWriter<W>> {
        if let Some(Sample { out, schema, props, encoders, spill, held, .. }) = self.sample.take() {
            let props = skip_dictionary_for_unique_columns(props.into_builder(), &held).build();
            let mut writer = ParquetFileWriter::try_new(out, schema, props, encoders)?;
            if let Some(spill) = spill {
                writer = writer.spill_pages_beyond_page_budget(spill);
            }
            for batch in &held {
                writer.write(batch)?;
            }
            self.writer = Some(writer);
        }
        self.writer.as_mut().ok_or_else(not_opened)
    }
}

fn not_opened() -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::General("the Parquet file could not be opened".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringArray};
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::Encoding;
    use std::sync::Arc;

    /// `rows` rows from `offset`: a unique id and a two-valued unit.
    fn batch(offset: usize, rows: usize) -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(StringArray::from_iter_values((offset..offset + rows).map(|i| format!("id-{i}")))) as ArrayRef,
            ),
            ("unit", Arc::new(StringArray::from_iter_values((offset..offset + rows).map(|i| ["kg", "m3"][i % 2])))),
        ])
        .unwrap()
    }

    /// Whether each column's first chunk is dictionary encoded, and the rows read back.
    fn dictionaries_and_rows(file: Vec<u8>) -> (Vec<bool>, usize) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(file)).unwrap();
        let group = reader.metadata().row_group(0).clone();
        let dictionary = group.columns().iter().map(|c| c.encodings().any(|e| e == Encoding::RLE_DICTIONARY)).collect();
        (dictionary, reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum())
    }

    #[test]
    fn dictionaries_are_decided_on_rows_from_several_small_batches() {
        let schema = batch(0, 1).schema();
        let mut writer = SampledParquetWriter::new(Vec::new(), schema, WriterProperties::default(), 2);
        // Wide records make batches of a few hundred rows: none alone is a big enough sample.
        for k in 0..10 {
            writer.write(&batch(k * 200, 200)).unwrap();
            if k < 9 {
                assert_eq!(writer.in_progress_rows(), (k + 1) * 200, "held for the sample");
                assert_eq!(writer.bytes_written(), 0);
            }
        }
        for k in 10..30 {
            writer.write(&batch(k * 200, 200)).unwrap();
        }
        let (dictionary, rows) = dictionaries_and_rows(writer.into_inner().unwrap());
        assert_eq!(dictionary, vec![false, true], "the unique id loses its dictionary, the unit keeps it");
        assert_eq!(rows, 6000);
    }

    #[test]
    fn a_file_smaller_than_the_sample_is_written_whole() {
        let mut writer = SampledParquetWriter::new(Vec::new(), batch(0, 1).schema(), WriterProperties::default(), 2);
        writer.write(&batch(0, 300)).unwrap();
        writer.write(&batch(300, 0)).unwrap();
        writer.write(&batch(300, 300)).unwrap();
        writer.flush().unwrap();
        assert!(writer.bytes_written() > 0, "flush opens the file");
        writer.write(&batch(600, 5)).unwrap();
        let (dictionary, rows) = dictionaries_and_rows(writer.into_inner().unwrap());
        // 600 values are too few to judge: both keep their dictionary.
        assert_eq!(dictionary, vec![true, true]);
        assert_eq!(rows, 605);
    }

    #[test]
    fn files_of_one_pool_hold_at_most_their_shared_budget_for_samples() {
        let threads = crate::parquet_file::WorkPool::start(1).unwrap();
        let pool = || Encoders::Pool(threads.pool().clone());
        // 3000 rows of 4 KB: 12 MB, below a file's own limits (4096 rows, 32 MB).
        let big = || {
            let values = (0..3000).map(|i| format!("{i:06}{}", "x".repeat(4090)));
            RecordBatch::try_from_iter([("s", Arc::new(StringArray::from_iter_values(values)) as ArrayRef)]).unwrap()
        };
        let batch = big();
        let new_file = || SampledParquetWriter::new(Vec::new(), batch.schema(), WriterProperties::default(), pool());
        let held_files = MAX_HELD_BYTES_ACROSS_FILES / batch.get_array_memory_size();
        let mut files: Vec<_> = (0..held_files).map(|_| new_file()).collect();
        for file in &mut files {
            file.write(&batch).unwrap();
            assert!(file.sample.is_some(), "held for the sample");
        }
        // The next file's rows take the pool's total past the budget: it opens on what it holds.
        let mut over = new_file();
        over.write(&batch).unwrap();
        assert!(over.sample.is_none(), "opened at {} held files", held_files + 1);
        // Samples given up (a file opened or dropped) leave the budget: the next file holds again.
        drop(over);
        files.truncate(held_files - 1);
        let mut next = new_file();
        next.write(&batch).unwrap();
        assert!(next.sample.is_some(), "held again once the others let go");
        // Files of their own threads share nothing.
        let mut own = SampledParquetWriter::new(Vec::new(), batch.schema(), WriterProperties::default(), 1);
        own.write(&batch).unwrap();
        assert!(own.sample.is_some());
    }

    #[test]
    fn an_empty_file_is_valid() {
        let writer = SampledParquetWriter::new(Vec::new(), batch(0, 1).schema(), WriterProperties::default(), 2);
        let file = writer.into_inner().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(file)).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 0);
    }
}
