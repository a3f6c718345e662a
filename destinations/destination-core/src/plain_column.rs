//! [`PlainColumnWriter`]: our own encoder for flat columns Parquet writes PLAIN, with or without a dictionary.
//!
//! Columns without a dictionary (ids, names, timestamps, measurements, JSON text) carry most of a file's
//! bytes. parquet's Arrow writer encodes them through general machinery: definition levels computed value by
//! value, page buffers grown from nothing for every page, and a new streaming zstd context per page that
//! copies its input. Here a column's values go straight into a reused page buffer in PLAIN layout, the
//! definition levels come from the validity bitmap, and every page is compressed with one reused context. The
//! pages, page index and column metadata follow the Parquet format as parquet writes them (data page v1,
//! PLAIN values, RLE/bit-packed definition levels), and the chunk is spliced into the row group by parquet
//! itself.
//!
//! Columns Parquet writes with a dictionary get the same pages with RLE_DICTIONARY ids instead of values
//! (see [`Dictionary`]), the dictionary page first, and parquet's fallback: once the dictionary's PLAIN
//! size reaches `dictionary_page_size_limit` at the end of one of parquet's write batches, its page is
//! written and the rest of the chunk is PLAIN. The column metadata lists the encodings and page encoding
//! statistics parquet lists; the page index has no level histograms.
//!
//! A one-leaf `List<item>` of these types (tags, codes) gets its repetition and definition levels made here
//! from the offsets and validity bitmaps in one pass (see [`ListLevels`]), pages cut at row boundaries, and the
//! present items through the same value paths.

use crate::dict_column::{encode_hybrid, Dictionary};
use crate::page_spill::PageSpill;
use crate::parquet_file::MemoryBudget;
use arrow::array::{Array, ArrayRef, AsArray, ListArray};
use arrow::datatypes::{
    DataType, Date32Type, Float64Type, Int64Type, Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
};
use bytes::Bytes;
use parquet::basic::{BoundaryOrder, Compression, Encoding, PageType, Repetition, Type as PhysicalType};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnChunkMetaData, ColumnIndexBuilder, OffsetIndexBuilder, PageEncodingStats};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnDescPtr, ColumnPath};
use std::io::Read;
use std::sync::Arc;
use zstd::zstd_safe::{CCtx, CParameter, ParamSwitch, ResetDirective};

/// Rows per page at most, whatever the properties say (bounds the room kept for definition levels).
const MAX_PAGE_ROWS: usize = 1 << 20;

/// The first 8 bytes of `v`, zero-padded, as a big-endian number. Byte strings order as their prefixes do
/// wherever the prefixes differ (a zero pad sorts like the end of the shorter string), so only equal prefixes
/// need the whole comparison.
fn prefix(v: &[u8]) -> u64 {
    // One load for the usual value of 8 bytes or more (a copy of variable length is a `memcpy` call).
    if let Some(head) = v.first_chunk::<8>() {
        return u64::from_be_bytes(*head);
    }
    let mut head = [0u8; 8];
    let n = v.len().min(8);
    head[..n].copy_from_slice(&v[..n]);
    u64::from_be_bytes(head)
}

/// Physical layout of a supported column's values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Layout {
    Bytes,
    Int64,
    Int32,
    Double,
}

/// Running min/max of one page or chunk, in the column's physical order.
#[derive(Clone, Default)]
pub(crate) struct Bounds {
    bytes: Option<(Vec<u8>, Vec<u8>)>,
    /// [`prefix`] of the byte bounds: most values are settled by comparing these, not the whole bytes.
    byte_prefixes: (u64, u64),
    int: Option<(i64, i64)>,
    double: Option<(f64, f64)>,
}

impl Bounds {
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        let p = prefix(v);
        let (min_p, max_p) = &mut self.byte_prefixes;
        match &mut self.bytes {
            Some((min, max)) => {
                if p < *min_p || (p == *min_p && v < min.as_slice()) {
                    min.clear();
                    min.extend_from_slice(v);
                    *min_p = p;
                } else if p > *max_p || (p == *max_p && v > max.as_slice()) {
                    max.clear();
                    max.extend_from_slice(v);
                    *max_p = p;
                }
            }
            None => {
                self.bytes = Some((v.to_vec(), v.to_vec()));
                self.byte_prefixes = (p, p);
            }
        }
    }
    pub(crate) fn int(&mut self, v: i64) {
        let (min, max) = self.int.get_or_insert((v, v));
        *min = (*min).min(v);
        *max = (*max).max(v);
    }
    pub(crate) fn double(&mut self, v: f64) {
        // NaN orders nowhere: Parquet statistics leave it out.
        if v.is_nan() {
            return;
        }
        let (min, max) = self.double.get_or_insert((v, v));
        if v < *min {
            *min = v;
        }
        if v > *max {
            *max = v;
        }
    }
    fn merge(&mut self, other: &Bounds) {
        if let Some((min, max)) = &other.bytes {
            self.bytes(min);
            self.bytes(max);
        }
        if let Some((min, max)) = other.int {
            self.int(min);
            self.int(max);
        }
        if let Some((min, max)) = other.double {
            self.double(min);
            self.double(max);
        }
    }
    /// (min, max) in the column's order (`None` without a non-null, non-NaN value).
    fn ordered(&self) -> Option<(OrderKey, OrderKey)> {
        if let Some((a, b)) = &self.bytes {
            return Some((OrderKey::Bytes(a.clone()), OrderKey::Bytes(b.clone())));
        }
        if let Some((a, b)) = self.int {
            return Some((OrderKey::Int(a), OrderKey::Int(b)));
        }
        self.double.map(|(a, b)| (OrderKey::Double(a), OrderKey::Double(b)))
    }
    /// (min, max) as Parquet's plain-encoded bound bytes, or `None` without a non-null, non-NaN value.
    fn encoded(&self, layout: Layout) -> Option<(Vec<u8>, Vec<u8>)> {
        match layout {
            Layout::Bytes => self.bytes.clone(),
            Layout::Int64 => self.int.map(|(a, b)| (a.to_le_bytes().to_vec(), b.to_le_bytes().to_vec())),
            Layout::Int32 => {
                self.int.map(|(a, b)| ((a as i32).to_le_bytes().to_vec(), (b as i32).to_le_bytes().to_vec()))
            }
            Layout::Double => self.double.map(|(a, b)| {
                let (a, b) = signed_zero_bounds(a, b);
                (a.to_le_bytes().to_vec(), b.to_le_bytes().to_vec())
            }),
        }
    }
}

/// A page bound compared as parquet compares them for the page index's boundary order (bytes unsigned).
#[derive(PartialEq, PartialOrd)]
enum OrderKey {
    Bytes(Vec<u8>),
    Int(i64),
    Double(f64),
}

/// Whether the pages' bounds so far rise or fall from page to page (parquet's rule for the boundary order).
struct PageOrder {
    ascending: bool,
    descending: bool,
    last: Option<(OrderKey, OrderKey)>,
}

impl PageOrder {
    fn add(&mut self, (min, max): (OrderKey, OrderKey)) {
        if let Some((last_min, last_max)) = &self.last {
            self.ascending &= !(*last_min > min || *last_max > max);
            self.descending &= !(min > *last_min || max > *last_max);
        }
        self.last = Some((min, max));
    }
    fn boundary_order(&self) -> BoundaryOrder {
        match (self.ascending, self.descending) {
            (true, _) => BoundaryOrder::ASCENDING,
            (false, true) => BoundaryOrder::DESCENDING,
            (false, false) => BoundaryOrder::UNORDERED,
        }
    }
}

/// The format's rule for zeros: a min of zero is written -0.0, a max of zero +0.0.
fn signed_zero_bounds(min: f64, max: f64) -> (f64, f64) {
    (if min == 0.0 { -0.0 } else { min }, if max == 0.0 { 0.0 } else { max })
}

/// Encodes one flat column of one row group, with or without a dictionary; see the module docs.
pub(crate) struct PlainColumnWriter {
    descr: ColumnDescPtr,
    layout: Layout,
    nullable: bool,
    compression: Compression,
    compressor: Option<PageCompressor>,
    statistics: EnabledStatistics,
    truncate_index: Option<usize>,
    truncate_statistics: Option<usize>,
    page_bytes_limit: usize,
    /// Makes pages smaller while many leaves are open ([`MemoryBudget`]).
    page_budget: Option<Arc<MemoryBudget>>,
    page_rows_limit: usize,
    /// While the chunk is dictionary-encoded: its dictionary (the open page's values are ids in it).
    dictionary: Option<Box<Dictionary>>,
    dictionary_limit: usize,
    /// The dictionary's bytes as counted in the budget the open files share ([`MemoryBudget::count_dictionary`]).
    dictionary_counted: Option<CountedDictionary>,
    /// Rows parquet writes at a time (`write_batch_size`): its fallback is decided after each such batch.
    batch_rows: usize,
    /// Bytes of the dictionary page (header and body) once written; it goes before the data pages.
    dictionary_page_len: Option<u64>,
    // The page being filled: `level_room` bytes kept free for the definition levels, then the values, so the
    // page is compressed from one buffer without copying it.
    level_room: usize,
    values: Vec<u8>,
    validity: Vec<bool>,
    page_nulls: u64,
    page_bounds: Bounds,
    // The chunk so far.
    /// The chunk's pages (header and body each), kept apart: one growing buffer would double its memory.
    pages: EncodedPages,
    levels: Vec<u8>,
    chunk_bounds: Bounds,
    rows: u64,
    nulls: u64,
    uncompressed_size: u64,
    column_index: ColumnIndexBuilder,
    page_order: PageOrder,
    /// Each data page's offset after the dictionary page, size and rows (for the offset index).
    page_locations: Vec<(u64, i32, i64)>,
    offset_index: bool,
    /// Data pages by encoding, in order (RLE_DICTIONARY pages, then PLAIN ones after a fallback).
    data_page_encodings: Vec<PageEncodingStats>,
    /// Level entries so far (values and nulls; for a list column also empty and null lists).
    level_entries: u64,
    /// For a list column: its levels (the open page's), kept instead of `validity`.
    list: Option<Box<ListLevels>>,
}

/// For string pages at zstd level 1, a 4096-entry match-finder hash table (16 KB, inside the L1 cache) rather
/// than the 16384 entries zstd picks for a 1 MB page: the benchmark's string columns compress 13-15% faster to
/// within 1% of the same size. Numbers keep zstd's own tuning: their repeats lie further apart (float columns
/// grew 10-20% with the small table).
const STRING_LEVEL_1_HASH_LOG: u32 = 12;
/// `_airbyte_raw_id` pages at zstd level 1: zstd's smallest match-finder table (64 entries). The ids are
/// time-ordered (UUID v7 from a counter, see `builder::RawIdClock`), so an id's best match is one of the few
/// ids just before it, which a small table still holds, while a big one is slower to fill. On the benchmark's
/// 1M records the column is 16% smaller (775 KB against 928 KB), with 10 streams interleaved 42% smaller (865 KB
/// against 1,488 KB), for 0.2% fewer instructions in the whole sync. No accelerated trial either: these ids
/// lose 15% with it.
const RAW_ID_HASH_LOG: u32 = 6;
/// The accelerated settings tried on string columns at level 1: a 2048-entry table and zstd's acceleration 2
/// (it looks for matches at fewer positions), with the literals still Huffman-coded (zstd turns that off with
/// acceleration unless told). On this benchmark's pages: ids and hex strings 15-18% faster to within 0.3% of
/// the size, names 14% faster and smaller, but JSON text 6% larger and sequential ids 15% larger.
const ACCELERATED_HASH_LOG: u32 = 11;
const ACCELERATED_TARGET_LENGTH: u32 = 2;
/// Where the accelerated settings were kept, the next big data page is compressed with zstd's acceleration 8
/// (its match search steps further) and compared with the page before: ids whose bytes do not repeat (random
/// UUIDs, hashes) lose the 2-3% that the match search found in them and compress about a quarter faster, while
/// anything with repeats (names, time-ordered ids) grows by 15% or more. A 64 KB sample cannot tell these apart
/// (random ids vary by 2-4% there), whole pages can.
const FASTEST_TARGET_LENGTH: u32 = 8;
/// How much worse (in percent of the earlier page's ratio) the trial page may compress for acceleration 8 to stay:
/// between the 2-3% random ids lose and the 15% or more that columns with repeats lose.
const FASTEST_TOLERANCE_PERCENT: usize = 4;
/// Pages smaller than this take no part in the trial: their ratios vary too much to compare.
const FASTEST_MIN_PAGE: usize = 256 << 10;
/// How much of the first data page both settings compress to choose between them (and the least worth it).
const ACCELERATION_SAMPLE: usize = 64 << 10;
const ACCELERATION_MIN_SAMPLE: usize = 16 << 10;
/// The settings tried on 8-byte number columns at level 1: matches from 5 bytes (zstd's level 1 takes 6 on
/// pages up to 256 KB) and literals stored as they are. The low mantissa bytes of doubles are close to random:
/// Huffman coding gains them little, while the shorter matches catch repeated signs, exponents and leading
/// digits. On this benchmark's pages (`zstd -b1`): `gwp_total` 9% smaller, `density_kg_m3` as small, both
/// 10-19% faster to compress and 20-30% faster to read back; its timestamps, sequential or random, grow by 10%
/// or more and keep zstd's own settings. In a sync the CPU time stayed the same (1% more instructions in more,
/// shorter matches) and the output of 1M records is 0.7% smaller.
const NUMBER_MIN_MATCH: u32 = 5;

/// Settings a column at zstd level 1 tries against its usual ones on a sample of its first data page.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Alternative {
    /// String columns: [`ACCELERATED_HASH_LOG`] and [`ACCELERATED_TARGET_LENGTH`].
    Accelerated,
    /// 8-byte number columns: [`NUMBER_MIN_MATCH`] and literals not compressed.
    RawLiterals,
}

/// zstd settings for one column's pages. A string or 8-byte number column at level 1 compresses a sample of its
/// first data page with its usual settings and with an [`Alternative`], and keeps the alternative for the chunk
/// when it gives at most 1% more bytes; a string column that keeps it then tries acceleration 8 on one page
/// ([`FASTEST_TARGET_LENGTH`]). The pages are compressed by the compressing thread's context ([`ZSTD_CONTEXT`]),
/// set to these settings for each page.
struct PageCompressor {
    level: i32,
    /// zstd's `0` (the level's own value) where not set.
    hash_log: u32,
    target_length: u32,
    min_match: u32,
    literals: ParamSwitch,
    /// What the first data page's sample tries, while the choice is still to be made.
    try_alternative: Option<Alternative>,
    /// The accelerated string settings are on.
    accelerated: bool,
    /// The raw-literal number settings are on.
    raw_literals: bool,
    fastest: FastestTrial,
}

/// Where the trial of [`FASTEST_TARGET_LENGTH`] stands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum FastestTrial {
    /// Waiting for a big page compressed with the accelerated settings.
    NotYet,
    /// The next big page is compressed with acceleration 8; the last one gave (compressed, uncompressed).
    Trying(usize, usize),
    Kept,
    Rejected,
}

impl PageCompressor {
    fn new(level: i32, layout: Layout) -> Option<PageCompressor> {
        let try_alternative = match (level, layout) {
            (1, Layout::Bytes) => Some(Alternative::Accelerated),
            (1, Layout::Double | Layout::Int64) => Some(Alternative::RawLiterals),
            _ => None,
        };
        Some(PageCompressor {
            level,
            hash_log: if try_alternative == Some(Alternative::Accelerated) { STRING_LEVEL_1_HASH_LOG } else { 0 },
            target_length: 0,
            min_match: 0,
            literals: ParamSwitch::Auto,
            try_alternative,
            accelerated: false,
            raw_literals: false,
            fastest: FastestTrial::NotYet,
        })
    }

    /// The settings for the column at `path`: for `_airbyte_raw_id` at level 1, [`RAW_ID_HASH_LOG`] and no
    /// trial of other settings.
    fn for_column(path: &ColumnPath, level: i32, layout: Layout) -> Option<PageCompressor> {
        let mut compressor = Self::new(level, layout)?;
        if level == 1 && layout == Layout::Bytes && path.parts() == [crate::schema::RAW_ID] {
            (compressor.hash_log, compressor.try_alternative) = (RAW_ID_HASH_LOG, None);
        }
        Some(compressor)
    }

    /// After a PLAIN data page of `uncompressed` bytes compressed to `compressed`: start or settle the trial of
    /// acceleration 8 (see [`FASTEST_TARGET_LENGTH`]).
    fn after_data_page(&mut self, uncompressed: usize, compressed: usize) -> Result<()> {
        if !self.accelerated || uncompressed < FASTEST_MIN_PAGE {
            return Ok(());
        }
        match self.fastest {
            FastestTrial::NotYet => {
                self.fastest = FastestTrial::Trying(compressed, uncompressed);
                self.target_length = FASTEST_TARGET_LENGTH;
            }
            FastestTrial::Trying(before_compressed, before_uncompressed) => {
                // compressed / uncompressed <= before ratio * (1 + tolerance), in integers.
                let keep = compressed * before_uncompressed * 100
                    <= before_compressed * uncompressed * (100 + FASTEST_TOLERANCE_PERCENT);
                self.fastest = if keep { FastestTrial::Kept } else { FastestTrial::Rejected };
                if !keep {
                    self.target_length = ACCELERATED_TARGET_LENGTH;
                }
            }
            FastestTrial::Kept | FastestTrial::Rejected => {}
        }
        Ok(())
    }

    /// Before the first data page: keep the [`Alternative`] settings if they cost at most 1% of the sample's
    /// size. When the sample is the whole page, the page compressed with the settings kept is returned:
    /// compressing it a third time for the page itself made the choice cost as much as the page again (with many
    /// streams, many files of small pages each choose for every string column).
    fn choose(&mut self, page: &[u8]) -> Result<Option<Bytes>> {
        let Some(alternative) = self.try_alternative.take() else { return Ok(None) };
        if page.len() < ACCELERATION_MIN_SAMPLE {
            return Ok(None);
        }
        let whole_page = page.len() <= ACCELERATION_SAMPLE;
        let sample = &page[..page.len().min(ACCELERATION_SAMPLE)];
        let (mut usual, mut other) = (Vec::new(), Vec::new());
        self.compress(sample, &mut usual)?;
        self.set_alternative(alternative, true);
        self.compress(sample, &mut other)?;
        let kept = if other.len() * 100 > usual.len() * 101 {
            self.set_alternative(alternative, false);
            usual
        } else {
            other
        };
        Ok(whole_page.then(|| Bytes::copy_from_slice(&kept)))
    }

    fn set_alternative(&mut self, alternative: Alternative, on: bool) {
        match alternative {
            Alternative::Accelerated => {
                (self.hash_log, self.target_length, self.literals) = match on {
                    true => (ACCELERATED_HASH_LOG, ACCELERATED_TARGET_LENGTH, ParamSwitch::Enable),
                    false => (STRING_LEVEL_1_HASH_LOG, 0, ParamSwitch::Auto),
                };
                self.accelerated = on;
            }
            Alternative::RawLiterals => {
                (self.min_match, self.literals) = match on {
                    true => (NUMBER_MIN_MATCH, ParamSwitch::Disable),
                    false => (0, ParamSwitch::Auto),
                };
                self.raw_literals = on;
            }
        }
    }

    /// `page` compressed with these settings into `out`, replacing what it held.
    fn compress(&self, page: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        // zstd writes into the vector's capacity only.
        out.reserve(zstd::zstd_safe::compress_bound(page.len()));
        let zstd_error = |code| ParquetError::General(format!("zstd: {}", zstd::zstd_safe::get_error_name(code)));
        ZSTD_CONTEXT.with_borrow_mut(|context| {
            let context = match context {
                Some(context) => context,
                None => context.insert(
                    CCtx::try_create().ok_or_else(|| ParquetError::General("zstd: no memory for a context".into()))?,
                ),
            };
            context.reset(ResetDirective::Parameters).map_err(zstd_error)?;
            for parameter in [
                CParameter::CompressionLevel(self.level),
                CParameter::HashLog(self.hash_log),
                CParameter::TargetLength(self.target_length),
                CParameter::MinMatch(self.min_match),
                CParameter::LiteralCompressionMode(self.literals),
            ] {
                context.set_parameter(parameter).map_err(zstd_error)?;
            }
            context.compress2(out, page).map_err(zstd_error).map(drop)
        })
    }
}

thread_local! {
    /// Each thread compresses every column's pages with one zstd context, set to the column's settings per page.
    /// A context per column kept its workspace (about 0.5-1 MB) for the file's whole life: 13 MB of the heap's
    /// peak on the benchmark's 16 columns (two files open at a commit), and 159 MB on a table of 300 string
    /// columns. zstd resets a context for every page it compresses in one go anyway.
    static ZSTD_CONTEXT: std::cell::RefCell<Option<CCtx<'static>>> = const { std::cell::RefCell::new(None) };
}

/// Repetition and definition levels of a list column's open page, as parquet makes them for a one-leaf
/// `List<item>`: a null list is (0, 0), an empty list (0, `empty_def`), an item (0 for a list's first, else
/// 1; `max_def`, or `max_def - 1` when the item is null).
struct ListLevels {
    max_def: u8,
    /// 1 for a nullable list (0 is then its null), 0 for a required one.
    empty_def: u8,
    item_nullable: bool,
    rows: usize,
    /// A byte per level (levels here are at most 3): as `u32`, a list column's levels took 31 MB with 100
    /// streams interleaved, whose small pages hold many rows of short lists.
    rep: Vec<u8>,
    def: Vec<u8>,
    /// Item ranges of the open batch slice whose present values go into the page (reused).
    runs: Vec<(usize, usize)>,
}

impl ListLevels {
    /// The page body: repetition levels, then definition levels (each with its 4-byte length), then `values`.
    fn page_body(&self, values: &[u8]) -> Vec<u8> {
        let mut body = Vec::with_capacity(values.len() + self.rep.len() / 2 + 32);
        for (levels, max) in [(&self.rep, 1u8), (&self.def, self.max_def)] {
            let at = body.len();
            body.extend_from_slice(&[0; 4]);
            encode_hybrid(levels, (u8::BITS - max.leading_zeros()) as u8, &mut body);
            let len = (body.len() - at - 4) as u32;
            body[at..at + 4].copy_from_slice(&len.to_le_bytes());
        }
        body.extend_from_slice(values);
        body
    }
}

impl PlainColumnWriter {
    /// A writer for the leaf `descr` holding Arrow values of `data_type`, if this encoder supports it under
    /// `props` (PLAIN with or without dictionary, data page v1, zstd or no compression, no bloom filter, a
    /// flat column or a one-leaf list of such values).
    pub(crate) fn try_new(descr: ColumnDescPtr, data_type: &DataType, props: &WriterProperties) -> Option<Self> {
        let path: &ColumnPath = descr.path();
        // A one-leaf list of a supported item type: its levels are made here too.
        let (data_type, is_list) = match data_type {
            DataType::List(item) => (item.data_type(), true),
            other => (other, false),
        };
        let layout = match (data_type, descr.physical_type()) {
            (DataType::Utf8, PhysicalType::BYTE_ARRAY) => Layout::Bytes,
            (DataType::Int64 | DataType::Timestamp(TimeUnit::Microsecond, _), PhysicalType::INT64) => Layout::Int64,
            (DataType::Time64(TimeUnit::Microsecond), PhysicalType::INT64) => Layout::Int64,
            (DataType::Date32, PhysicalType::INT32) => Layout::Int32,
            (DataType::Float64, PhysicalType::DOUBLE) => Layout::Double,
            _ => return None,
        };
        let plain = matches!(props.encoding(path), None | Some(Encoding::PLAIN));
        let compressor = match props.compression(path) {
            Compression::UNCOMPRESSED => None,
            Compression::ZSTD(level) => Some(PageCompressor::for_column(path, level.compression_level(), layout)?),
            _ => return None,
        };
        if !plain
            || props.writer_version() != WriterVersion::PARQUET_1_0
            || props.bloom_filter_properties(path).is_some()
            || props.write_page_header_statistics(path)
        {
            return None;
        }
        let list = if is_list {
            // Levels as the descriptor has them (parquet's three-level list: optional or required list, the
            // repeated group, optional or required item).
            let item_nullable = match descr.self_type().get_basic_info().repetition() {
                Repetition::OPTIONAL => true,
                Repetition::REQUIRED => false,
                Repetition::REPEATED => return None,
            };
            let max_def = u8::try_from(descr.max_def_level()).ok()?;
            let empty_def = max_def.checked_sub(1 + u8::from(item_nullable)).filter(|&d| d <= 1)?;
            if descr.max_rep_level() != 1 {
                return None;
            }
            Some(Box::new(ListLevels {
                max_def,
                empty_def,
                item_nullable,
                rows: 0,
                rep: Vec::new(),
                def: Vec::new(),
                runs: Vec::new(),
            }))
        } else {
            if descr.max_rep_level() != 0 || descr.max_def_level() > 1 {
                return None;
            }
            None
        };
        let nullable = list.is_none() && descr.max_def_level() == 1;
        let page_rows_limit = props.data_page_row_count_limit().clamp(1, MAX_PAGE_ROWS);
        // 4-byte length, a run header (at most 5 bytes) and one bit per row at most.
        let level_room = if nullable { 16 + page_rows_limit.div_ceil(8) } else { 0 };
        Some(PlainColumnWriter {
            layout,
            nullable,
            compression: props.compression(path),
            compressor,
            statistics: props.statistics_enabled(path),
            truncate_index: props.column_index_truncate_length(),
            truncate_statistics: props.statistics_truncate_length(),
            page_bytes_limit: props.data_page_size_limit(),
            page_budget: None,
            page_rows_limit,
            dictionary: props.dictionary_enabled(path).then(|| Box::new(Dictionary::new(layout))),
            dictionary_counted: None,
            dictionary_limit: props.column_dictionary_page_size_limit(path),
            batch_rows: props.write_batch_size().max(1),
            dictionary_page_len: None,
            level_room,
            values: vec![0; level_room],
            validity: Vec::new(),
            page_nulls: 0,
            page_bounds: Bounds::default(),
            pages: EncodedPages::default(),
            levels: Vec::new(),
            chunk_bounds: Bounds::default(),
            rows: 0,
            nulls: 0,
            uncompressed_size: 0,
            column_index: ColumnIndexBuilder::new(descr.physical_type()),
            page_order: PageOrder { ascending: true, descending: true, last: None },
            page_locations: Vec::new(),
            offset_index: !props.offset_index_disabled(),
            data_page_encodings: Vec::new(),
            level_entries: 0,
            list,
            descr,
        })
    }

    /// Append a column's values (the leaf's whole Arrow array).
    pub(crate) fn write(&mut self, array: &ArrayRef) -> Result<()> {
        let list = match self.list.is_some() {
            true => Some(array.as_list_opt::<i32>().ok_or_else(|| {
                ParquetError::General(format!(
                    "{} is not a list array for column {}",
                    array.data_type(),
                    self.descr.path()
                ))
            })?),
            false => None,
        };
        if list.is_none() && !self.nullable && array.null_count() > 0 {
            return Err(ParquetError::General(format!("null in required column {}", self.descr.path())));
        }
        let mut start = 0;
        while start < array.len() {
            // Slices of at most 1024 rows, so a page overshoots its size limit by little (as in parquet), that
            // end at parquet's batch boundaries (where it decides whether to leave its dictionary).
            let room = self.page_rows_limit.saturating_sub(self.open_rows()).clamp(1, 1024);
            let batch_end = (start / self.batch_rows + 1) * self.batch_rows;
            let end = (start + room).min(batch_end).min(array.len());
            match list {
                Some(list) => self.append_list(list, start, end)?,
                None => self.append(array, start, end)?,
            }
            if self.open_rows() >= self.page_rows_limit || self.open_page_size() >= self.page_bytes() {
                self.flush_page()?;
            }
            // parquet's fallback, at the end of each of its batches: the dictionary's page is written as it is
            // and the rest of the chunk goes PLAIN.
            // A dictionary that grows while the open files' dictionaries are over their shared budget goes the
            // same way (see [`DICTIONARY_BUDGET_BYTES`]).
            let batch_done = end == batch_end || end == array.len();
            let size = self.dictionary.as_ref().filter(|_| batch_done).map(|d| d.encoded_size());
            if let Some(size) = size {
                let over_budget = self.dictionary_counted.as_mut().is_some_and(|counted| counted.grow_to(size));
                if size >= self.dictionary_limit || over_budget {
                    self.flush_page()?;
                    self.write_dictionary_page()?;
                }
            }
            start = end;
        }
        Ok(())
    }

    fn append(&mut self, array: &ArrayRef, start: usize, end: usize) -> Result<()> {
        let nulls = array.logical_nulls().filter(|n| n.null_count() > 0);
        let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
        let before = self.validity.len();
        if nulls.is_some() {
            self.validity.extend((start..end).map(valid));
            self.page_nulls += self.validity[before..].iter().filter(|v| !**v).count() as u64;
        } else {
            self.validity.resize(before + end - start, true);
        }
        self.append_values(array, start, end, valid)
    }

    /// Rows in the open page.
    fn open_rows(&self) -> usize {
        self.list.as_ref().map_or(self.validity.len(), |list| list.rows)
    }

    /// Add rows `start..end` of a list column: their levels, and their lists' present items as values. The
    /// items of null lists are left out whatever Arrow holds under them.
    fn append_list(&mut self, array: &ListArray, start: usize, end: usize) -> Result<()> {
        let Some(levels) = self.list.as_mut() else { return Err(ParquetError::General("not a list column".into())) };
        let offsets = array.value_offsets();
        let list_nulls = array.nulls().filter(|n| n.null_count() > 0);
        let items = array.values();
        let item_nulls = items.logical_nulls().filter(|n| n.null_count() > 0);
        let mut runs = std::mem::take(&mut levels.runs);
        let mut run: Option<(usize, usize)> = None;
        let mut nulls = 0u64;
        let required = |what: &str| ParquetError::General(format!("null {what} in column {}", self.descr.path()));
        for row in start..end {
            if list_nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                if levels.empty_def == 0 {
                    return Err(required("list"));
                }
                levels.rep.push(0);
                levels.def.push(0);
                nulls += 1;
                continue;
            }
            let (first, last) = (offsets[row] as usize, offsets[row + 1] as usize);
            if first == last {
                levels.rep.push(0);
                levels.def.push(levels.empty_def);
                nulls += 1;
                continue;
            }
            levels.rep.push(0);
            levels.rep.resize(levels.rep.len() + last - first - 1, 1);
            match &item_nulls {
                None => levels.def.resize(levels.def.len() + last - first, levels.max_def),
                Some(item_nulls) => {
                    for i in first..last {
                        if item_nulls.is_valid(i) {
                            levels.def.push(levels.max_def);
                        } else if levels.item_nullable {
                            levels.def.push(levels.max_def - 1);
                            nulls += 1;
                        } else {
                            return Err(required("item"));
                        }
                    }
                }
            }
            match &mut run {
                Some((_, run_end)) if *run_end == first => *run_end = last,
                _ => runs.extend(run.replace((first, last))),
            }
        }
        runs.extend(run);
        levels.rows += end - start;
        self.page_nulls += nulls;
        let valid = |i: usize| item_nulls.as_ref().is_none_or(|n| n.is_valid(i));
        let appended = runs.iter().try_for_each(|&(first, last)| self.append_values(items, first, last, valid));
        runs.clear();
        if let Some(levels) = self.list.as_mut() {
            levels.runs = runs;
        }
        appended
    }

    /// Add the values of `array[start..end]` that `valid` says are present to the open page.
    fn append_values(
        &mut self,
        array: &ArrayRef,
        start: usize,
        end: usize,
        valid: impl Fn(usize) -> bool,
    ) -> Result<()> {
        if let Some(dictionary) = self.dictionary.as_mut() {
            return dictionary.append(array, start, end, valid, &mut self.page_bounds);
        }
        // The page buffer doubles, but not past the page size (and an eighth more, as the last slice overshoots)
        // unless the slice needs it: grown by doubling alone from the level room, it ended at 2^k times that, up
        // to twice the page size (300 columns with 223 KB pages: 322 KB each). Growing to the page size at once
        // would hold a page's worth for every column of every stream however few rows they get.
        let room = match self.layout {
            Layout::Bytes => {
                let offsets = array.as_string::<i32>().value_offsets();
                (offsets[end] - offsets[start]) as usize + 4 * (end - start)
            }
            Layout::Double | Layout::Int64 => 8 * (end - start),
            Layout::Int32 => 4 * (end - start),
        };
        let (len, capacity) = (self.values.len(), self.values.capacity());
        if capacity - len < room {
            let page_bytes = self.page_bytes();
            let page = self.level_room + page_bytes + page_bytes / 8;
            let doubled = (2 * capacity).min(page).max(len + room);
            self.values.reserve_exact(doubled - len);
        }
        match self.layout {
            Layout::Bytes => {
                let a = array.as_string::<i32>();
                for i in (start..end).filter(|&i| valid(i)) {
                    let v = a.value(i).as_bytes();
                    self.values.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    self.values.extend_from_slice(v);
                    self.page_bounds.bytes(v);
                }
            }
            Layout::Double => {
                let a = array.as_primitive::<Float64Type>();
                for i in (start..end).filter(|&i| valid(i)) {
                    let v = a.value(i);
                    self.values.extend_from_slice(&v.to_le_bytes());
                    self.page_bounds.double(v);
                }
            }
            Layout::Int32 => {
                let a = array.as_primitive::<Date32Type>();
                for i in (start..end).filter(|&i| valid(i)) {
                    let v = a.value(i);
                    self.values.extend_from_slice(&v.to_le_bytes());
                    self.page_bounds.int(v as i64);
                }
            }
            Layout::Int64 => {
                let raw = i64_values(array)?;
                for i in (start..end).filter(|&i| valid(i)) {
                    let v = raw[i];
                    self.values.extend_from_slice(&v.to_le_bytes());
                    self.page_bounds.int(v);
                }
            }
        }
        Ok(())
    }

    /// Write the filled page: levels and values, compressed, with its index entries.
    fn flush_page(&mut self) -> Result<()> {
        let rows = self.open_rows();
        if rows == 0 {
            return Ok(());
        }
        let encoding = match self.dictionary.as_mut() {
            Some(dictionary) => {
                dictionary.finish_page(&mut self.values);
                Encoding::RLE_DICTIONARY
            }
            None => Encoding::PLAIN,
        };
        // The levels (length-prefixed) go right before the values, into the room kept for them.
        let mut start = 0;
        if self.nullable {
            self.levels.clear();
            encode_levels(&self.validity, self.page_nulls == 0, &mut self.levels);
            start = self.level_room - self.levels.len() - 4;
            self.values[start..start + 4].copy_from_slice(&(self.levels.len() as u32).to_le_bytes());
            self.values[start + 4..self.level_room].copy_from_slice(&self.levels);
        }
        let list_body;
        let (page_body, entries) = match &self.list {
            Some(levels) => {
                list_body = levels.page_body(&self.values[self.level_room..]);
                (list_body.as_slice(), levels.rep.len())
            }
            None => (&self.values[start..], rows),
        };
        let uncompressed = page_body.len();
        let chosen = match self.compressor.as_mut() {
            Some(compressor) => compressor.choose(page_body)?,
            None => None,
        };
        let body = match chosen {
            Some(body) => body,
            None => compress(self.compressor.as_mut(), page_body)?,
        };
        // The trial compares PLAIN pages only: a dictionary's index pages compress quite differently.
        if let Some(compressor) = self.compressor.as_mut().filter(|_| encoding == Encoding::PLAIN) {
            compressor.after_data_page(uncompressed, body.len())?;
        }
        let page = Page::DataPage {
            buf: body,
            num_values: entries as u32,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let (header, body, spec) = serialize_page(CompressedPage::new(page, uncompressed))?;
        // Offsets count from the end of the dictionary page, which may be written after this page.
        let offset = self.pages.len() - self.dictionary_page_len.unwrap_or(0);
        self.pages.push(header, body)?;
        self.uncompressed_size += spec.uncompressed_size as u64;
        self.page_locations.push((offset, spec.compressed_size as i32, rows as i64));
        match self.data_page_encodings.last_mut() {
            Some(last) if last.encoding == encoding => last.count += 1,
            _ => {
                self.data_page_encodings.push(PageEncodingStats { page_type: PageType::DATA_PAGE, encoding, count: 1 })
            }
        }
        if self.statistics == EnabledStatistics::Page {
            // parquet's rule, which for a list column may call a page with values null (null entries as many
            // as rows): no bounds then, and the page leaves the boundary order alone.
            let all_null = self.page_nulls as usize == rows;
            match self.page_bounds.encoded(self.layout) {
                _ if all_null => self.column_index.append(true, Vec::new(), Vec::new(), self.page_nulls as i64),
                Some((min, max)) => {
                    let (min, max) = self.truncate(min, max, self.truncate_index);
                    self.column_index.append(false, min.0, max.0, self.page_nulls as i64);
                    if let Some(bounds) = self.page_bounds.ordered() {
                        self.page_order.add(bounds);
                    }
                }
                // Only NaN: no bounds to give, so no page index for this chunk (as parquet does).
                None => self.column_index.to_invalid(),
            }
        }
        self.chunk_bounds.merge(&self.page_bounds);
        self.rows += rows as u64;
        self.level_entries += entries as u64;
        self.nulls += self.page_nulls;
        self.values.truncate(self.level_room);
        self.validity.clear();
        if let Some(levels) = self.list.as_mut() {
            levels.rep.clear();
            levels.def.clear();
            levels.rows = 0;
        }
        self.page_nulls = 0;
        self.page_bounds = Bounds::default();
        Ok(())
    }

    /// Write the dictionary page (PLAIN entries, compressed like the data pages) and stop using the dictionary:
    /// values from here on are PLAIN. The open page must be empty.
    fn write_dictionary_page(&mut self) -> Result<()> {
        let Some(dictionary) = self.dictionary.take() else { return Ok(()) };
        self.dictionary_counted = None;
        let (body, entries) = dictionary.page_body();
        let page = Page::DictionaryPage {
            buf: compress(self.compressor.as_mut(), body)?,
            num_values: entries as u32,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        let (header, body, spec) = serialize_page(CompressedPage::new(page, body.len()))?;
        self.uncompressed_size += spec.uncompressed_size as u64;
        self.dictionary_page_len = Some((header.len() + body.len()) as u64);
        self.pages.push_front(header, body)?;
        Ok(())
    }

    /// Encoded size of the open page's values (ids while the dictionary is used).
    fn open_page_size(&self) -> usize {
        match &self.dictionary {
            Some(dictionary) => dictionary.estimated_page_size(),
            None => self.values.len() - self.level_room,
        }
    }

    /// Bounds cut to `length` bytes for byte columns: the min's prefix, and a max whose last character is
    /// raised so it stays an upper bound (left whole when no character can be raised). `bool`: exact.
    fn truncate(&self, min: Vec<u8>, max: Vec<u8>, length: Option<usize>) -> (Bound, Bound) {
        match (self.layout, length) {
            (Layout::Bytes, Some(n)) => (truncate_min(min, n), truncate_max(max, n)),
            _ => ((min, true), (max, true)),
        }
    }

    /// Keep the chunk's pages in `spill` rather than in memory (before any page is written).
    pub(crate) fn spilling_pages_to(mut self, spill: Option<Arc<PageSpill>>) -> Self {
        self.pages = EncodedPages::spilled_to(spill);
        self
    }

    /// Cut pages at the size `budget` allows (at most the configured one); with `hold_pages`, finished pages
    /// stay in memory while `budget` has room for them, and only the rest goes to the spill (call it after
    /// [`Self::spilling_pages_to`], which starts the chunk's pages afresh).
    pub(crate) fn sharing_page_budget(mut self, budget: Arc<MemoryBudget>, hold_pages: bool) -> Self {
        if hold_pages {
            self.pages.holding =
                Some(HeldPages { budget: budget.clone(), configured: self.page_bytes_limit, bytes: 0 });
        }
        if self.dictionary.is_some() {
            self.dictionary_counted = Some(CountedDictionary { budget: budget.clone(), bytes: 0 });
        }
        self.page_budget = Some(budget);
        self
    }

    /// The page size limit now.
    fn page_bytes(&self) -> usize {
        self.page_budget.as_ref().map_or(self.page_bytes_limit, |budget| budget.page_bytes(self.page_bytes_limit))
    }

    /// Encoded bytes so far, the open page included (for row group and file sizing).
    pub(crate) fn estimated_size(&self) -> usize {
        Length::len(&self.pages) as usize
            + self.open_page_size()
            + self.dictionary.as_ref().map_or(0, |dictionary| dictionary.encoded_size())
    }

    /// Finish the chunk: its bytes (pages from offset 0) and what the row group needs to splice them in.
    pub(crate) fn close(mut self) -> Result<(EncodedPages, ColumnCloseResult)> {
        self.pages.keep_in_memory_unless_spilled();
        self.flush_page()?;
        self.write_dictionary_page()?;
        let statistics = (self.statistics != EnabledStatistics::None).then(|| {
            let bounds = self
                .chunk_bounds
                .encoded(self.layout)
                .map(|(min, max)| self.truncate(min, max, self.truncate_statistics));
            statistics_from(self.layout, bounds, self.nulls)
        });
        let bytes = self.pages;
        let dictionary_len = self.dictionary_page_len.unwrap_or(0);
        // As parquet lists them: RLE for the levels, the data pages' encodings, PLAIN for a dictionary page.
        let mut encodings = std::collections::BTreeSet::from([Encoding::RLE]);
        encodings.extend(self.data_page_encodings.iter().map(|e| e.encoding));
        let mut page_encodings = Vec::new();
        if self.dictionary_page_len.is_some() {
            encodings.insert(Encoding::PLAIN);
            page_encodings.push(PageEncodingStats {
                page_type: PageType::DICTIONARY_PAGE,
                encoding: Encoding::PLAIN,
                count: 1,
            });
        }
        page_encodings.extend(self.data_page_encodings);
        let mut metadata = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(self.compression)
            .set_encodings(encodings.into_iter().collect())
            .set_page_encoding_stats(page_encodings)
            .set_num_values(self.level_entries as i64)
            .set_total_compressed_size(bytes.len() as i64)
            .set_total_uncompressed_size(self.uncompressed_size as i64)
            .set_data_page_offset(dictionary_len as i64)
            .set_dictionary_page_offset(self.dictionary_page_len.is_some().then_some(0));
        if let Some(s) = statistics {
            metadata = metadata.set_statistics(s);
        }
        self.column_index.set_boundary_order(self.page_order.boundary_order());
        let column_index = (self.statistics == EnabledStatistics::Page && self.column_index.valid() && self.rows > 0)
            .then(|| self.column_index.build())
            .transpose()?;
        let close = ColumnCloseResult {
            bytes_written: bytes.len(),
            rows_written: self.rows,
            metadata: metadata.build()?,
            bloom_filter: None,
            column_index,
            offset_index: self.offset_index.then(|| {
                let mut offsets = OffsetIndexBuilder::new();
                for (offset, size, rows) in self.page_locations {
                    offsets.append_offset_and_size((offset + dictionary_len) as i64, size);
                    offsets.append_row_count(rows);
                }
                offsets.build()
            }),
        };
        Ok((bytes, close))
    }
}

/// A column chunk's encoded pages, read back in order by parquet when it splices the chunk into the file: in
/// memory, or in the file's [`PageSpill`] when it has one.
#[derive(Default)]
pub(crate) struct EncodedPages {
    segments: Vec<Segment>,
    len: u64,
    spill: Option<Arc<PageSpill>>,
    /// Pages pushed go to `spill` (when there is one).
    spill_new_pages: bool,
    /// Pages that would spill stay in memory while the budget has room.
    holding: Option<HeldPages>,
}

/// Pages of a column chunk kept in memory under a [`MemoryBudget`] ([`MemoryBudget::hold_pages`]), given back
/// to it when they are dropped.
struct HeldPages {
    budget: Arc<MemoryBudget>,
    /// The column's configured page size.
    configured: usize,
    bytes: usize,
}

impl Drop for HeldPages {
    fn drop(&mut self) {
        self.budget.release_pages(self.bytes);
    }
}

/// A column's dictionary bytes counted in a [`MemoryBudget`], given back when the dictionary is written or
/// dropped.
struct CountedDictionary {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl CountedDictionary {
    /// Count the dictionary at `bytes` now; whether it grew while the budget is spent.
    fn grow_to(&mut self, bytes: usize) -> bool {
        let grew = bytes > self.bytes;
        self.budget.count_dictionary(self.bytes, bytes);
        self.bytes = bytes;
        grew && self.budget.dictionaries_over_budget()
    }
}

impl Drop for CountedDictionary {
    fn drop(&mut self) {
        self.budget.count_dictionary(self.bytes, 0);
    }
}

/// Consecutive bytes of a column chunk.
#[derive(Clone)]
enum Segment {
    Memory(Bytes),
    Spilled { start: u64, len: u64 },
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Segment::Memory(bytes) => bytes.len() as u64,
            Segment::Spilled { len, .. } => *len,
        }
    }
}

impl EncodedPages {
    pub(crate) fn spilled_to(spill: Option<Arc<PageSpill>>) -> Self {
        EncodedPages { spill, spill_new_pages: true, ..Default::default() }
    }

    /// Keep the pages pushed from now on in memory if none was spilled yet: at its close, a chunk that has spilled
    /// nothing is written right away, and a spill would only make its file (see [`PageSpill`]).
    fn keep_in_memory_unless_spilled(&mut self) {
        if !self.segments.iter().any(|segment| matches!(segment, Segment::Spilled { .. })) {
            self.spill_new_pages = false;
        }
    }

    /// Where a page of `len` bytes goes: the spill, or memory (none, or the budget had room).
    fn spill(&mut self, len: usize) -> Option<Arc<PageSpill>> {
        let spill = self.spill.clone().filter(|_| self.spill_new_pages)?;
        match &mut self.holding {
            Some(held) if held.budget.hold_pages(len, held.configured) => {
                held.bytes += len;
                None
            }
            _ => Some(spill),
        }
    }

    fn push(&mut self, header: Bytes, body: Bytes) -> Result<()> {
        self.len += (header.len() + body.len()) as u64;
        match self.spill(header.len() + body.len()) {
            Some(spill) => {
                let (start, len) = (spill.append(&[&header, &body])?, (header.len() + body.len()) as u64);
                // A column's pages are usually appended one after another: one segment for the run of them.
                match self.segments.last_mut() {
                    Some(Segment::Spilled { start: last, len: last_len }) if *last + *last_len == start => {
                        *last_len += len
                    }
                    _ => self.segments.push(Segment::Spilled { start, len }),
                }
            }
            None => self.segments.extend([Segment::Memory(header), Segment::Memory(body)]),
        }
        Ok(())
    }

    /// Put a page before the others (a dictionary page written after its data pages).
    fn push_front(&mut self, header: Bytes, body: Bytes) -> Result<()> {
        self.len += (header.len() + body.len()) as u64;
        let page = match self.spill(header.len() + body.len()) {
            Some(spill) => {
                vec![Segment::Spilled {
                    start: spill.append(&[&header, &body])?,
                    len: (header.len() + body.len()) as u64,
                }]
            }
            None => vec![Segment::Memory(header), Segment::Memory(body)],
        };
        self.segments.splice(0..0, page);
        Ok(())
    }
}

thread_local! {
    /// Each thread compresses into one reused buffer, and a page keeps a copy of exactly its compressed size.
    /// A page-sized buffer per page, shrunk in place, left a hole behind every page kept until its row group
    /// closed, and the heaps grew from file to file: at 2M records the peak RSS was 108-119 MB, with the copy
    /// 100-107 MB (1M records: 87-94 MB either way), at no measurable cost in time.
    static COMPRESSED_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `body` compressed with `compressor` (zstd), or copied when the column is not compressed.
fn compress(compressor: Option<&mut PageCompressor>, body: &[u8]) -> Result<Bytes> {
    Ok(match compressor {
        Some(c) => COMPRESSED_SCRATCH.with_borrow_mut(|scratch| -> Result<Bytes> {
            scratch.clear();
            scratch.reserve(zstd::zstd_safe::compress_bound(body.len()));
            c.compress(body, scratch)?;
            Ok(Bytes::copy_from_slice(scratch))
        })?,
        None => Bytes::copy_from_slice(body),
    })
}

/// A page's header as parquet writes it, its body, and what the column metadata needs of it. The body is
/// handed on as it is: copying it behind the header cost a second page-sized buffer per page.
fn serialize_page(page: CompressedPage) -> Result<(Bytes, Bytes, parquet::column::page::PageWriteSpec)> {
    let body = page.compressed_page().buffer().clone();
    let mut sink = TrackedWrite::new(HeaderSink::default());
    let spec = SerializedPageWriter::new(&mut sink).write_page(page)?;
    let written = sink.into_inner()?;
    let header_len = spec.bytes_written as usize - body.len();
    if written.head.len() < header_len {
        return Err(ParquetError::General(format!("a page header of {header_len} bytes")));
    }
    let mut header = written.head;
    header.truncate(header_len);
    Ok((Bytes::from(header), body, spec))
}

/// Keeps the first bytes written to it ([`HeaderSink::KEPT`], more than any page header we write: data pages
/// carry no statistics) and only counts the rest.
#[derive(Default)]
struct HeaderSink {
    head: Vec<u8>,
}

impl HeaderSink {
    const KEPT: usize = 4096;
}

impl std::io::Write for HeaderSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = Self::KEPT.saturating_sub(self.head.len());
        self.head.extend_from_slice(&buf[..buf.len().min(room)]);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Length for EncodedPages {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for EncodedPages {
    type T = PagesReader;

    fn get_read(&self, start: u64) -> Result<PagesReader> {
        let mut reader = PagesReader {
            segments: self.segments.clone().into(),
            spill: self.spill.clone(),
            spilled: Vec::new(),
            spilled_at: 0,
        };
        reader.skip(start);
        Ok(reader)
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        let mut out = Vec::with_capacity(length);
        self.get_read(start)?.take(length as u64).read_to_end(&mut out)?;
        if out.len() != length {
            return Err(ParquetError::EOF(format!("{length} bytes at {start} past the end of the chunk")));
        }
        Ok(out.into())
    }
}

/// Reads [`EncodedPages`] from an offset on. Spilled bytes come in reads of up to [`Self::SPILL_READ`]:
/// parquet copies a chunk in 8 KB pieces, a system call each.
pub(crate) struct PagesReader {
    segments: std::collections::VecDeque<Segment>,
    spill: Option<Arc<PageSpill>>,
    /// Spilled bytes read ahead, handed out from `spilled_at` on.
    spilled: Vec<u8>,
    spilled_at: usize,
}

impl PagesReader {
    const SPILL_READ: u64 = 256 << 10;

    fn skip(&mut self, mut skip: u64) {
        while let Some(first) = self.segments.front_mut() {
            if skip < first.len() {
                match first {
                    Segment::Memory(bytes) => drop(bytes.split_to(skip as usize)),
                    Segment::Spilled { start, len } => (*start, *len) = (*start + skip, *len - skip),
                }
                return;
            }
            skip -= first.len();
            self.segments.pop_front();
        }
    }
}

impl Read for PagesReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.spilled_at < self.spilled.len() {
                let n = (self.spilled.len() - self.spilled_at).min(buf.len());
                buf[..n].copy_from_slice(&self.spilled[self.spilled_at..self.spilled_at + n]);
                self.spilled_at += n;
                return Ok(n);
            }
            match self.segments.front_mut() {
                None => return Ok(0),
                Some(segment) if segment.len() == 0 => drop(self.segments.pop_front()),
                Some(Segment::Memory(bytes)) => {
                    let n = bytes.len().min(buf.len());
                    buf[..n].copy_from_slice(&bytes.split_to(n));
                    return Ok(n);
                }
                Some(Segment::Spilled { start, len }) => {
                    let spill = self.spill.as_ref().ok_or_else(|| std::io::Error::other("spilled pages, no spill"))?;
                    let n = (*len).min(Self::SPILL_READ);
                    self.spilled.resize(n as usize, 0);
                    spill.read_exact_at(&mut self.spilled, *start)?;
                    self.spilled_at = 0;
                    (*start, *len) = (*start + n, *len - n);
                }
            }
        }
    }
}

/// The i64 values behind Int64, timestamp and time arrays.
pub(crate) fn i64_values(array: &ArrayRef) -> Result<&[i64]> {
    Ok(match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().values(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => array.as_primitive::<TimestampMicrosecondType>().values(),
        DataType::Time64(TimeUnit::Microsecond) => array.as_primitive::<Time64MicrosecondType>().values(),
        other => return Err(ParquetError::General(format!("{other} is not a 64-bit integer column"))),
    })
}

/// A plain-encoded bound and whether it is exact (not truncated).
type Bound = (Vec<u8>, bool);

/// Chunk statistics of the column's physical type from plain-encoded bounds and whether each is exact.
fn statistics_from(layout: Layout, bounds: Option<(Bound, Bound)>, nulls: u64) -> Statistics {
    let (min_exact, max_exact) = bounds.as_ref().map_or((true, true), |((_, a), (_, b))| (*a, *b));
    let (min, max) = match bounds {
        Some(((min, _), (max, _))) => (Some(min), Some(max)),
        None => (None, None),
    };
    let le8 = |b: Vec<u8>| <[u8; 8]>::try_from(b.as_slice()).unwrap_or_default();
    let le4 = |b: Vec<u8>| <[u8; 4]>::try_from(b.as_slice()).unwrap_or_default();
    let nulls = Some(nulls);
    match layout {
        Layout::Bytes => ValueStatistics::new(min.map(ByteArray::from), max.map(ByteArray::from), None, nulls, false)
            .with_min_is_exact(min_exact)
            .with_max_is_exact(max_exact)
            .into(),
        Layout::Int64 => ValueStatistics::new(
            min.map(|b| i64::from_le_bytes(le8(b))),
            max.map(|b| i64::from_le_bytes(le8(b))),
            None,
            nulls,
            false,
        )
        .into(),
        Layout::Int32 => ValueStatistics::new(
            min.map(|b| i32::from_le_bytes(le4(b))),
            max.map(|b| i32::from_le_bytes(le4(b))),
            None,
            nulls,
            false,
        )
        .into(),
        Layout::Double => ValueStatistics::new(
            min.map(|b| f64::from_le_bytes(le8(b))),
            max.map(|b| f64::from_le_bytes(le8(b))),
            None,
            nulls,
            false,
        )
        .into(),
    }
}

/// Definition levels of one page as the RLE/bit-packed hybrid with bit width 1: one run when every value is
/// present, else bit-packed groups of eight.
fn encode_levels(validity: &[bool], all_valid: bool, out: &mut Vec<u8>) {
    if all_valid {
        put_varint(out, (validity.len() as u64) << 1);
        out.push(1);
        return;
    }
    let groups = validity.len().div_ceil(8);
    put_varint(out, ((groups as u64) << 1) | 1);
    for group in validity.chunks(8) {
        out.push(group.iter().enumerate().fold(0u8, |byte, (i, &v)| byte | (u8::from(v) << i)));
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The longest prefix of at most `n` bytes ending on a character boundary (UTF-8 columns).
pub(crate) fn truncate_min(value: Vec<u8>, n: usize) -> (Vec<u8>, bool) {
    if value.len() <= n {
        return (value, true);
    }
    let mut end = n;
    while end > 0 && !is_char_start(value.get(end).copied()) {
        end -= 1;
    }
    if end == 0 {
        return (value, true);
    }
    (value[..end].to_vec(), false)
}

/// A value of at most `n` bytes that sorts after every value with `value`'s prefix: the prefix with its last
/// character raised (dropping characters that cannot be); `value` itself if none can.
pub(crate) fn truncate_max(value: Vec<u8>, n: usize) -> (Vec<u8>, bool) {
    if value.len() <= n {
        return (value, true);
    }
    let Ok(text) = std::str::from_utf8(&value) else { return (value, true) };
    let mut end = n;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut prefix: Vec<char> = text[..end].chars().collect();
    while let Some(last) = prefix.pop() {
        let raised = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(c) = raised {
            prefix.push(c);
            let out: String = prefix.into_iter().collect();
            if out.len() <= n {
                return (out.into_bytes(), false);
            }
            return (value, true);
        }
    }
    (value, true)
}

fn is_char_start(b: Option<u8>) -> bool {
    b.is_none_or(|b| (b as i8) >= -0x40)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PLAIN byte-array page body of `values`.
    fn plain_page(values: impl Iterator<Item = String>) -> Vec<u8> {
        let mut page = Vec::new();
        for value in values {
            page.extend_from_slice(&(value.len() as u32).to_le_bytes());
            page.extend_from_slice(value.as_bytes());
        }
        page
    }

    /// A PLAIN page of `rows` JSON objects of four numbers under EPD module keys (as `gwp_by_module`).
    fn json_page(rows: usize, next: &mut impl FnMut() -> u64) -> Vec<u8> {
        let modules = ["A1-A3", "A4", "A5", "B1", "C1", "C2", "C3", "C4", "D"];
        plain_page((0..rows).map(|_| {
            let members: Vec<String> = (0..4)
                .map(|_| format!("\"{}\":{}.{}", modules[(next() % 9) as usize], next() % 500, next() % 10_000))
                .collect();
            format!("{{{}}}", members.join(","))
        }))
    }

    #[test]
    fn raw_ids_compress_smaller_on_zstds_smallest_match_table() {
        // Time-ordered ids of two builders, a batch of each in turn (as two threads' chunks give them).
        let mut next = crate::tests::xorshift(0x2545_F491_4F6C_DD1D);
        let mut counters = [u128::from(next()), u128::from(next())];
        let page = plain_page((0..25_000).map(|i| {
            let counter = &mut counters[(i / 1000) % 2];
            *counter += 1;
            let random: [u8; 10] = counter.to_be_bytes()[6..].try_into().unwrap();
            uuid::Builder::from_unix_timestamp_millis(1_764_115_200_000, &random).into_uuid().hyphenated().to_string()
        }));
        let raw_id = ColumnPath::new(vec![crate::schema::RAW_ID.to_string()]);
        let mut compressor = PageCompressor::for_column(&raw_id, 1, Layout::Bytes).unwrap();
        assert_eq!((compressor.hash_log, compressor.choose(&page).unwrap()), (RAW_ID_HASH_LOG, None));
        let raw_ids = compress(Some(&mut compressor), &page).unwrap();
        assert_eq!(&zstd::bulk::decompress(&raw_ids, page.len()).unwrap(), &page);
        // The same ids in any other string column take the usual settings and their trial, and grow.
        let mut usual = PageCompressor::for_column(&ColumnPath::new(vec!["uuid".into()]), 1, Layout::Bytes).unwrap();
        usual.choose(&page).unwrap();
        let other = compress(Some(&mut usual), &page).unwrap();
        assert!(raw_ids.len() * 10 < other.len() * 9, "{} bytes against {}", raw_ids.len(), other.len());
        // Other levels keep zstd's own settings.
        assert_eq!(PageCompressor::for_column(&raw_id, 3, Layout::Bytes).unwrap().hash_log, 0);
    }

    #[test]
    fn string_columns_keep_accelerated_zstd_only_when_it_costs_no_size() {
        let mut next = crate::tests::xorshift(0x9E37_79B9_7F4A_7C15);
        // Random hex ids compress (Huffman-coded literals) as well either way: accelerated.
        let ids = plain_page((0..8000).map(|_| format!("{:016x}-{:016x}", next(), next())));
        let mut compressor = PageCompressor::new(1, Layout::Bytes).unwrap();
        compressor.choose(&ids).unwrap();
        assert!(compressor.accelerated);
        // JSON objects of numbers under a few keys lose their short matches when accelerated: usual settings.
        let json = json_page(8000, &mut next);
        let mut compressor = PageCompressor::new(1, Layout::Bytes).unwrap();
        compressor.choose(&json).unwrap();
        assert!(!compressor.accelerated);
        // Only string columns at level 1 try it, and only on a page big enough to tell.
        for (level, layout, page) in
            [(1, Layout::Double, &ids), (3, Layout::Bytes, &ids), (1, Layout::Bytes, &ids[..4096].to_vec())]
        {
            let mut compressor = PageCompressor::new(level, layout).unwrap();
            compressor.choose(page).unwrap();
            assert!(!compressor.accelerated, "level {level}");
        }
        // Whichever settings it keeps, the pages decompress to what went in.
        for page in [&ids, &json] {
            let mut compressor = PageCompressor::new(1, Layout::Bytes).unwrap();
            compressor.choose(page).unwrap();
            let compressed = compress(Some(&mut compressor), page).unwrap();
            assert_eq!(&zstd::bulk::decompress(&compressed, page.len()).unwrap(), page);
        }
    }

    #[test]
    fn number_columns_keep_raw_literals_only_when_they_cost_no_size() {
        let mut next = crate::tests::xorshift(0x5851_F42D_4C95_7F2D);
        let le = |values: Vec<[u8; 8]>| values.concat();
        // Sums of four measurements with four decimals (as `gwp_total`): short matches, random low bytes.
        let sums = le((0..20_000)
            .map(|_| {
                let sum: f64 = (0..4).map(|_| (next() % 5_500_000) as f64 / 10_000.0 - 50.0).sum();
                ((sum * 10_000.0).round() / 10_000.0).to_le_bytes()
            })
            .collect());
        // Timestamps a millisecond apart, and random ones within a year: Huffman-coded literals pay there.
        let sequential = le((0..20_000i64).map(|i| (1_764_115_200_000_000 + i * 1000).to_le_bytes()).collect());
        let random = le((0..20_000)
            .map(|_| (1_735_689_600_000_000 + (next() % 31_536_000) as i64 * 1_000_000).to_le_bytes())
            .collect());
        for (layout, page, raw) in
            [(Layout::Double, &sums, true), (Layout::Int64, &sequential, false), (Layout::Int64, &random, false)]
        {
            let mut compressor = PageCompressor::new(1, layout).unwrap();
            compressor.choose(page).unwrap();
            assert_eq!(compressor.raw_literals, raw, "{layout:?}");
            assert!(!compressor.accelerated);
            // Whichever settings it keeps, the page decompresses to what went in.
            let compressed = compress(Some(&mut compressor), page).unwrap();
            assert_eq!(&zstd::bulk::decompress(&compressed, page.len()).unwrap(), page);
            // And it is no bigger than with zstd's own settings.
            let own = zstd::bulk::compress(page, 1).unwrap();
            assert!(
                compressed.len() * 100 <= own.len() * 101,
                "{layout:?}: {} against {}",
                compressed.len(),
                own.len()
            );
        }
        // Only at level 1, and not for strings or 4-byte numbers.
        for (level, layout) in [(3, Layout::Double), (1, Layout::Bytes), (1, Layout::Int32)] {
            let mut compressor = PageCompressor::new(level, layout).unwrap();
            compressor.choose(&sums).unwrap();
            assert!(!compressor.raw_literals, "level {level} {layout:?}");
        }
    }

    #[test]
    fn a_first_page_within_the_sample_comes_back_compressed_with_the_settings_kept() {
        let mut next = crate::tests::xorshift(0x2545_F491_4F6C_DD1D);
        let ids = plain_page((0..1200).map(|_| format!("{:016x}-{:016x}", next(), next())));
        let json = json_page(900, &mut next);
        // One page of each kind of column, within the 64 KB sample: ids keep the accelerated settings, JSON not.
        for (page, accelerated) in [(&ids, true), (&json, false)] {
            assert!((ACCELERATION_MIN_SAMPLE..=ACCELERATION_SAMPLE).contains(&page.len()), "{}", page.len());
            let mut compressor = PageCompressor::new(1, Layout::Bytes).unwrap();
            let chosen = compressor.choose(page).unwrap().expect("the whole page was compressed to choose");
            assert_eq!(compressor.accelerated, accelerated);
            // The same bytes as compressing the page again with the settings kept.
            assert_eq!(chosen, compress(Some(&mut compressor), page).unwrap());
        }
        // A bigger page is compressed apart from its sample.
        let big: Vec<u8> = ids.iter().chain(&ids).copied().collect();
        assert!(PageCompressor::new(1, Layout::Bytes).unwrap().choose(&big).unwrap().is_none());
    }

    /// Compresses `pages` as a column's data pages in turn; returns the compressed sizes.
    fn compress_pages(compressor: &mut PageCompressor, pages: &[Vec<u8>]) -> Vec<usize> {
        compressor.choose(&pages[0]).unwrap();
        pages
            .iter()
            .map(|page| {
                let compressed = compress(Some(&mut *compressor), page).unwrap();
                assert_eq!(&zstd::bulk::decompress(&compressed, page.len()).unwrap(), page);
                compressor.after_data_page(page.len(), compressed.len()).unwrap();
                compressed.len()
            })
            .collect()
    }

    #[test]
    fn random_ids_keep_the_fastest_settings_after_a_page_on_trial_and_names_do_not() {
        let mut next = crate::tests::xorshift(0x5851_F42D_4C95_7F2D);
        let ids: Vec<Vec<u8>> = (0..4)
            .map(|_| {
                plain_page((0..10_000).map(|_| {
                    let (a, b) = (next(), next());
                    format!(
                        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                        a >> 32,
                        a & 0xffff,
                        b >> 52,
                        b >> 36 & 0xffff,
                        b & 0xffff_ffff_ffff
                    )
                }))
            })
            .collect();
        let words = ["Mineralwolle", "Beton", "Ziegel", "Holzfaser", "Stahl", "Glas", "Gips", "Kalksandstein"];
        let names: Vec<Vec<u8>> = (0..4)
            .map(|_| plain_page((0..20_000).map(|_| format!("{} {}", words[(next() % 8) as usize], next() % 10_000))))
            .collect();
        assert!(ids[0].len() >= FASTEST_MIN_PAGE && names[0].len() >= FASTEST_MIN_PAGE);

        let mut compressor = PageCompressor::new(1, Layout::Bytes).unwrap();
        let sizes = compress_pages(&mut compressor, &ids);
        assert_eq!(compressor.fastest, FastestTrial::Kept, "random ids: {sizes:?}");
        // The kept settings cost at most the tolerance on the pages after the trial.
        assert!(sizes[3] * 100 <= sizes[0] * (100 + FASTEST_TOLERANCE_PERCENT), "{sizes:?}");

        let mut compressor = PageCompressor::new(1, Layout::Bytes).unwrap();
        let sizes = compress_pages(&mut compressor, &names);
        assert!(compressor.accelerated, "names keep the accelerated settings: {sizes:?}");
        assert_eq!(compressor.fastest, FastestTrial::Rejected, "names: {sizes:?}");
        // Back on the accelerated settings after the trial page: as small as the page before it.
        assert!(sizes[2] * 100 <= sizes[0] * 101 && sizes[1] > sizes[2], "{sizes:?}");

        // No trial without the accelerated settings, nor on small pages.
        let mut compressor = PageCompressor::new(3, Layout::Bytes).unwrap();
        compress_pages(&mut compressor, &ids);
        assert_eq!(compressor.fastest, FastestTrial::NotYet);
        let small: Vec<Vec<u8>> = ids.iter().map(|page| page[..FASTEST_MIN_PAGE / 2].to_vec()).collect();
        let mut compressor = PageCompressor::new(1, Layout::Bytes).unwrap();
        compress_pages(&mut compressor, &small);
        assert!(compressor.accelerated);
        assert_eq!(compressor.fastest, FastestTrial::NotYet);
    }

    #[test]
    fn columns_sharing_a_thread_context_compress_as_with_contexts_of_their_own() {
        let mut next = crate::tests::xorshift(0x2545_F491_4F6C_DD1D);
        let ids = plain_page((0..8000).map(|_| format!("{:016x}-{:016x}", next(), next())));
        let numbers: Vec<u8> = (0..100_000).flat_map(|_| ((next() % 5000) as f64 / 8.0).to_le_bytes()).collect();
        // Accelerated strings (a small table, acceleration, literals forced on) and a number column at level 3.
        let mut strings = PageCompressor::new(1, Layout::Bytes).unwrap();
        strings.choose(&ids).unwrap();
        assert!(strings.accelerated);
        let doubles = PageCompressor::new(3, Layout::Double).unwrap();
        let own_context = |level: i32, parameters: &[CParameter], page: &[u8]| {
            let mut zstd = zstd::bulk::Compressor::new(level).unwrap();
            parameters.iter().for_each(|p| zstd.set_parameter(*p).unwrap());
            zstd.compress(page).unwrap()
        };
        let expected_strings = own_context(
            1,
            &[
                CParameter::HashLog(ACCELERATED_HASH_LOG),
                CParameter::TargetLength(ACCELERATED_TARGET_LENGTH),
                CParameter::LiteralCompressionMode(ParamSwitch::Enable),
            ],
            &ids,
        );
        let expected_doubles = own_context(3, &[], &numbers);
        assert_ne!(own_context(1, &[], &ids), expected_strings, "the settings change the bytes");
        // In turn on this thread's one context: each page as its own settings make it, none left over.
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(numbers.len()));
        for _ in 0..2 {
            strings.compress(&ids, &mut out).unwrap();
            assert!(out == expected_strings, "string page");
            doubles.compress(&numbers, &mut out).unwrap();
            assert!(out == expected_doubles, "number page");
        }
    }

    #[test]
    fn byte_bounds_by_prefix_match_the_whole_comparison() {
        // Short strings over a tiny alphabet with zero bytes: equal prefixes, zero pads and proper prefixes.
        let mut next = crate::tests::xorshift(0x2545_F491_4F6C_DD1D);
        for _ in 0..2000 {
            let mut bounds = Bounds::default();
            let mut values: Vec<Vec<u8>> = Vec::new();
            for _ in 0..1 + next() % 40 {
                let len = (next() % 13) as usize;
                values.push((0..len).map(|_| [0u8, 1, b'a', 0xff][(next() % 4) as usize]).collect());
                bounds.bytes(values.last().unwrap());
            }
            let want = (values.iter().min().unwrap().clone(), values.iter().max().unwrap().clone());
            assert_eq!(bounds.bytes, Some(want), "{values:?}");
        }
    }
}
