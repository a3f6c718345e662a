//! [`BatchBuilder`]: raw record JSON -> Arrow columns in one pass per value, with values that do not fit their
//! column nulled and reported in `_airbyte_meta.changes`.

use crate::schema::{ColumnSpec, ColumnType, StreamSchema};
use crate::values;
use airbyte_protocol::codec::{DataMember, ParsedNumber, ValueKind};
use airbyte_protocol::{ConnectorError, FieldChange};
use arrow::array::{
    new_null_array, ArrayRef, BooleanBufferBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Array,
    Int64Builder, ListArray, NullBufferBuilder, RecordBatch, StringArray, StringBuilder, StructArray,
    Time64MicrosecondBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use arrow::array::{Array, ArrowPrimitiveType, PrimitiveArray, PrimitiveBuilder};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Fields, SchemaRef};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// Builds RecordBatches for one stream from raw record `data` bytes.
///
/// ```
/// use destination_core::{BatchBuilder, StreamSchema};
/// use airbyte_protocol::StreamDescriptor;
/// let schema = serde_json::json!({"properties": {"id": {"type": "integer"}}});
/// let schema = std::sync::Arc::new(StreamSchema::from_parts(StreamDescriptor::new("s", None), &schema, Some(1), 0));
/// let mut builder = destination_core::BatchBuilder::new(schema);
/// builder.push(r#"{"id": 1, "extra": true}"#, 1_700_000_000_000, &[]).unwrap();
/// builder.push(r#"{"id": "not a number"}"#, 1_700_000_000_001, &[]).unwrap();
/// let batch = builder.finish().unwrap();
/// assert_eq!(batch.num_rows(), 2);
/// ```
pub struct BatchBuilder {
    schema: Arc<StreamSchema>,
    arrow: SchemaRef,
    root: ObjectColumns,
    /// The rows' raw ids, 36 ASCII bytes each (assembled into a string column once per batch).
    raw_ids: Vec<u8>,
    extracted_at: Vec<i64>,
    change_offsets: Vec<i32>,
    change_field: StringBuilder,
    change_kind: StringBuilder,
    change_reason: StringBuilder,
    additional: StringValues,
    raw_ids_clock: RawIdClock,
    data_bytes: usize,
    ctx: RowContext,
}

/// What is known about a record's `data` text before it is decoded.
#[derive(Clone, Copy)]
enum DataText<'a> {
    /// Any text: serde validates it while decoding.
    Unvalidated,
    /// Valid JSON: a light scan splits it.
    Validated,
    /// Valid JSON whose top-level members the protocol codec has already split; `true` when it was given this
    /// stream's expected keys (so a member's `expected` index names its column).
    Split(&'a [DataMember], bool),
}

/// Per-row scratch: changes and undeclared properties found while decoding one record.
#[derive(Default)]
struct RowContext {
    changes: Vec<String>,
    extras: String,
    /// The record text was validated as JSON: nested values are split by [`RawScan`] instead of serde.
    validated: bool,
}

impl RowContext {
    fn mismatch(&mut self, path: &FieldPath<'_>) {
        self.changes.push(path.render());
    }
    fn extra(&mut self, path: &FieldPath<'_>, key: &str, raw: &str) {
        self.extras.push(if self.extras.is_empty() { '{' } else { ',' });
        let full = match path.parent_render() {
            Some(prefix) => format!("{prefix}.{key}"),
            None => key.to_string(),
        };
        // A string always serialises.
        self.extras.push_str(&serde_json::to_string(&full).unwrap_or_default());
        self.extras.push(':');
        self.extras.push_str(raw);
    }
}

/// Where a value sits in the record, rendered only when a change entry needs it (`a.b`, `tags[2]`).
#[derive(Clone, Copy)]
enum FieldPath<'a> {
    Root,
    Key(&'a str, &'a FieldPath<'a>),
    Index(usize, &'a FieldPath<'a>),
}

impl FieldPath<'_> {
    fn render(&self) -> String {
        match self {
            FieldPath::Root => String::new(),
            FieldPath::Key(k, parent) => match parent.render() {
                p if p.is_empty() => k.to_string(),
                p => format!("{p}.{k}"),
            },
            FieldPath::Index(i, parent) => format!("{}[{i}]", parent.render()),
        }
    }
    /// The rendered path of this object (for keys found inside it), `None` at the top level.
    fn parent_render(&self) -> Option<String> {
        match self {
            FieldPath::Root => None,
            other => Some(other.render()),
        }
    }
}

impl BatchBuilder {
    pub fn new(schema: Arc<StreamSchema>) -> Self {
        BatchBuilder {
            arrow: schema.arrow_schema(),
            root: ObjectColumns::new(&schema.columns),
            schema,
            raw_ids: Vec::new(),
            extracted_at: Vec::new(),
            change_offsets: vec![0],
            change_field: StringBuilder::new(),
            change_kind: StringBuilder::new(),
            change_reason: StringBuilder::new(),
            additional: StringValues::default(),
            raw_ids_clock: RawIdClock::new(),
            data_bytes: 0,
            ctx: RowContext::default(),
        }
    }

    pub fn schema(&self) -> &Arc<StreamSchema> {
        &self.schema
    }

    /// Rows pushed since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.extracted_at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.extracted_at.is_empty()
    }

    /// Raw `data` bytes pushed since the last finish: a cheap size measure for batching decisions.
    pub fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    /// Append one record: `data` is the raw JSON object text of `record.data`, `emitted_at` epoch
    /// milliseconds, `source_changes` the record's `meta.changes` (kept first in `_airbyte_meta.changes`).
    ///
    /// A value that does not fit its column becomes null and adds a `NULLED` /
    /// `DESTINATION_SERIALIZATION_ERROR` change naming the field (`a.b`, `tags[2]`). Properties the schema
    /// does not declare (at any depth) go into `_airbyte_additional_properties` keyed by their dotted path.
    /// An error (data not a JSON object) leaves the builder as it was before the call.
    pub fn push(&mut self, data: &str, emitted_at: i64, source_changes: &[FieldChange]) -> Result<(), ConnectorError> {
        self.push_with(data, emitted_at, source_changes, DataText::Unvalidated)
    }

    /// [`push`](Self::push) for `data` already validated as JSON (e.g. `record.data` from the protocol codec's
    /// `decode_line`): the same rows, changes and additional properties, from one lighter pass that splits the
    /// text into values without re-validating it. Text that is not valid JSON gives an error or values
    /// nulled as misfits, never a panic.
    pub fn push_validated(
        &mut self,
        data: &str,
        emitted_at: i64,
        source_changes: &[FieldChange],
    ) -> Result<(), ConnectorError> {
        self.push_with(data, emitted_at, source_changes, DataText::Validated)
    }

    /// [`push_validated`](Self::push_validated) for a record whose top-level members the protocol codec has
    /// already split (`codec::decode_line_split`): only nested values are scanned again.
    pub fn push_members(
        &mut self,
        data: &str,
        members: &[DataMember],
        emitted_at: i64,
        source_changes: &[FieldChange],
    ) -> Result<(), ConnectorError> {
        self.push_with(data, emitted_at, source_changes, DataText::Split(members, false))
    }

    /// [`push_members`](Self::push_members) for members split with this stream's expected keys
    /// (`codec::decode_line_split_expecting` with [`StreamSchema::expected_keys`]): a member marked as an
    /// expected key goes to that column without its key being compared again.
    pub fn push_members_expected(
        &mut self,
        data: &str,
        members: &[DataMember],
        emitted_at: i64,
        source_changes: &[FieldChange],
    ) -> Result<(), ConnectorError> {
        self.push_with(data, emitted_at, source_changes, DataText::Split(members, true))
    }

    fn push_with(
        &mut self,
        data: &str,
        emitted_at: i64,
        source_changes: &[FieldChange],
        text: DataText<'_>,
    ) -> Result<(), ConnectorError> {
        // Compact JSON settles it on the first byte; `trim_start` walks chars (0.2% of a sync's instructions).
        if data.as_bytes().first() != Some(&b'{') && !data.trim_start().starts_with('{') {
            return Err(ConnectorError::config("record data is not a JSON object"));
        }
        self.ctx.changes.clear();
        self.ctx.extras.clear();
        self.ctx.validated = !matches!(text, DataText::Unvalidated);
        let result = match text {
            // An empty member list is `{}` (or text the codec did not split): the scan handles both.
            DataText::Split(members, expected) if !members.is_empty() => {
                place_members(data, members, expected, &mut self.root, &mut self.ctx)
                    .ok_or_else(|| "malformed member".to_string())
            }
            DataText::Split(..) | DataText::Validated => {
                let mut scan = RawScan::new(data);
                scan.ws();
                scan_object(&mut scan, &mut self.root, &mut self.ctx, &FieldPath::Root)
                    .ok_or_else(|| "malformed JSON object".to_string())
            }
            DataText::Unvalidated => {
                let mut de = serde_json::Deserializer::from_str(data);
                de.deserialize_map(ObjectVisitor { columns: &mut self.root, ctx: &mut self.ctx, path: FieldPath::Root })
                    .map_err(|e| e.to_string())
            }
        };
        if let Err(e) = result {
            // The text was validated as JSON by the envelope decoder, so this is unexpected; the row is
            // half-written, which no later batch may see.
            let rows = self.len();
            self.truncate_root(rows);
            return Err(ConnectorError::system(format!("cannot decode record data: {e}")));
        }
        self.data_bytes += data.len();
        self.extracted_at.push(emitted_at.saturating_mul(1000));
        self.push_raw_id();
        for change in source_changes {
            self.change_field.append_value(&change.field);
            self.change_kind.append_value(change_kind_str(change));
            self.change_reason.append_value(change.reason.as_str());
        }
        for field in &self.ctx.changes {
            self.change_field.append_value(field);
            self.change_kind.append_value("NULLED");
            self.change_reason.append_value("DESTINATION_SERIALIZATION_ERROR");
        }
        let total =
            self.change_offsets.last().copied().unwrap_or(0) + (source_changes.len() + self.ctx.changes.len()) as i32;
        self.change_offsets.push(total);
        if self.ctx.extras.is_empty() {
            self.additional.append_null();
        } else {
            self.ctx.extras.push('}');
            self.additional.append_value(&self.ctx.extras);
        }
        Ok(())
    }

    fn truncate_root(&mut self, _rows: usize) {
        // Rebuilding the column builders drops the rows of this batch; callers treat a push error as fatal.
        self.root = ObjectColumns::new(&self.schema.columns);
        self.extracted_at.clear();
        self.raw_ids = Vec::new();
        self.change_offsets = vec![0];
        self.change_field = StringBuilder::new();
        self.change_kind = StringBuilder::new();
        self.change_reason = StringBuilder::new();
        self.additional = StringValues::default();
        self.data_bytes = 0;
    }

    fn push_raw_id(&mut self) {
        let id = self.raw_ids_clock.next();
        self.raw_ids.extend_from_slice(&hyphenated_lower(&id));
    }

    /// The rows pushed so far as one RecordBatch (schema = [`StreamSchema::arrow_schema`]); the builder is
    /// empty afterwards and can be reused.
    pub fn finish(&mut self) -> Result<RecordBatch, ConnectorError> {
        let rows = self.len();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.arrow.fields().len());
        arrays.push(Arc::new(self.finish_raw_ids(rows)?));
        let extracted = TimestampMicrosecondArray::from(std::mem::take(&mut self.extracted_at)).with_timezone("UTC");
        arrays.push(Arc::new(extracted));
        arrays.push(Arc::new(Int64Array::from_value(self.schema.generation_id, rows)));
        arrays.push(self.finish_meta(rows)?);
        for column in &mut self.root.columns {
            arrays.push(column.finish()?);
        }
        arrays.push(Arc::new(self.additional.finish()));
        self.data_bytes = 0;
        self.raw_ids_clock.tick();
        RecordBatch::try_new(self.arrow.clone(), arrays)
            .map_err(|e| ConnectorError::system(format!("cannot assemble a record batch: {e}")))
    }

    /// The raw ids as a string column: one UTF-8 check for the whole buffer rather than one per id.
    fn finish_raw_ids(&mut self, rows: usize) -> Result<StringArray, ConnectorError> {
        let values = std::mem::replace(&mut self.raw_ids, Vec::with_capacity(rows * RAW_ID_LEN));
        let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(RAW_ID_LEN, rows));
        StringArray::try_new(offsets, Buffer::from_vec(values), None)
            .map_err(|e| ConnectorError::system(format!("cannot assemble the raw ids: {e}")))
    }

    fn finish_meta(&mut self, rows: usize) -> Result<ArrayRef, ConnectorError> {
        let DataType::Struct(meta_fields) = crate::schema::meta_type() else { unreachable!("meta is a struct") };
        let DataType::List(item) = meta_fields[1].data_type().clone() else { unreachable!("changes is a list") };
        let changes: ArrayRef = if self.change_offsets.last().is_none_or(|&total| total == 0) {
            // The usual batch, without a change: one shared empty array rather than four new ones.
            static NO_CHANGES: std::sync::OnceLock<ArrayRef> = std::sync::OnceLock::new();
            NO_CHANGES.get_or_init(|| arrow::array::new_empty_array(item.data_type())).clone()
        } else {
            let DataType::Struct(change_fields) = item.data_type().clone() else { unreachable!("change is a struct") };
            Arc::new(
                StructArray::try_new(
                    change_fields,
                    vec![
                        Arc::new(self.change_field.finish()),
                        Arc::new(self.change_kind.finish()),
                        Arc::new(self.change_reason.finish()),
                    ],
                    None,
                )
                .map_err(arrow_error)?,
            )
        };
        let offsets = OffsetBuffer::new(ScalarBuffer::from(std::mem::replace(&mut self.change_offsets, vec![0])));
        let list = ListArray::try_new(item, offsets, changes, None).map_err(arrow_error)?;
        let sync_id: ArrayRef = match self.schema.sync_id {
            Some(id) => Arc::new(Int64Array::from_value(id, rows)),
            None => new_null_array(&DataType::Int64, rows),
        };
        Ok(Arc::new(StructArray::try_new(meta_fields, vec![sync_id, Arc::new(list)], None).map_err(arrow_error)?))
    }
}

fn arrow_error(e: arrow::error::ArrowError) -> ConnectorError {
    ConnectorError::system(format!("cannot build Arrow arrays: {e}"))
}

fn change_kind_str(change: &FieldChange) -> &'static str {
    match change.change {
        airbyte_protocol::ChangeKind::Nulled => "NULLED",
        airbyte_protocol::ChangeKind::Truncated => "TRUNCATED",
    }
}

/// `_airbyte_raw_id` values: UUID v7 (RFC 9562) with a randomly seeded counter (the RFC's "monotonic random"
/// method): ids are unique, ordered by time within a builder, and share their leading characters, which makes
/// the column far cheaper to compress than random v4 ids.
struct RawIdClock {
    millis: u64,
    /// 74 bits: rand_a (12) then rand_b (62).
    counter: u128,
}

impl RawIdClock {
    const COUNTER_BITS: u32 = 74;

    fn new() -> Self {
        let seed = uuid::Uuid::new_v4().as_u128() & ((1u128 << Self::COUNTER_BITS) - 1);
        let mut clock = RawIdClock { millis: 0, counter: seed };
        clock.tick();
        clock
    }

    /// Move to the current time (never backwards), once per batch.
    fn tick(&mut self) {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        self.millis = self.millis.max(now);
    }

    fn next(&mut self) -> uuid::Uuid {
        self.counter = (self.counter + 1) & ((1u128 << Self::COUNTER_BITS) - 1);
        if self.counter == 0 {
            // The counter wrapped: the RFC moves the timestamp on.
            self.millis += 1;
        }
        let rand_a = (self.counter >> 62) as u16;
        let rand_b = (self.counter as u64) & ((1 << 62) - 1);
        let mut bytes = [0u8; 10];
        bytes[..2].copy_from_slice(&rand_a.to_be_bytes());
        bytes[2..].copy_from_slice(&rand_b.to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(self.millis, &bytes).into_uuid()
    }
}

/// The declared properties of one object level (the record itself or a nested struct).
struct ObjectColumns {
    names: Vec<String>,
    by_name: HashMap<String, usize>,
    columns: Vec<Column>,
    /// `seen[i] == stamp` when property i was filled in the current object (catches duplicates and gaps).
    seen: Vec<u64>,
    stamp: u64,
}

impl ObjectColumns {
    fn new(specs: &[ColumnSpec]) -> Self {
        ObjectColumns {
            names: specs.iter().map(|c| c.name.clone()).collect(),
            by_name: specs.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect(),
            columns: specs.iter().map(|c| Column::new(&c.kind)).collect(),
            seen: vec![0; specs.len()],
            stamp: 0,
        }
    }
    fn find(&self, key: &str, hint: usize) -> Option<usize> {
        // Records usually list keys in schema order: try the next column before hashing.
        if self.names.get(hint).is_some_and(|n| same_bytes(n.as_bytes(), key.as_bytes())) {
            return Some(hint);
        }
        self.by_name.get(key).copied()
    }
    fn append_null(&mut self) {
        self.columns.iter_mut().for_each(Column::append_null);
    }
}

struct ObjectVisitor<'c, 'p> {
    columns: &'c mut ObjectColumns,
    ctx: &'c mut RowContext,
    path: FieldPath<'p>,
}

impl<'de> Visitor<'de> for ObjectVisitor<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let cols = self.columns;
        cols.stamp += 1;
        let stamp = cols.stamp;
        let mut hint = 0;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let raw: &RawValue = map.next_value()?;
            match cols.find(&key, hint) {
                Some(i) if cols.seen[i] != stamp => {
                    cols.seen[i] = stamp;
                    hint = i + 1;
                    let path = FieldPath::Key(&key, &self.path);
                    cols.columns[i].append_raw(raw.get(), self.ctx, &path);
                }
                // Undeclared, or a duplicate key: keep it rather than drop it.
                _ => self.ctx.extra(&self.path, &key, raw.get()),
            }
        }
        for (i, column) in cols.columns.iter_mut().enumerate() {
            if cols.seen[i] != stamp {
                column.append_null();
            }
        }
        Ok(())
    }
}

/// A cursor over JSON text already known to be valid: it finds where values end without checking them.
/// Positions only ever stop on ASCII bytes, so every slice it hands out is valid UTF-8.
struct RawScan<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> RawScan<'a> {
    fn new(text: &'a str) -> Self {
        RawScan { text, pos: 0 }
    }
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }
    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.pos += 1)
    }
    /// Past a string starting at the cursor; returns whether it holds escapes.
    fn skip_string(&mut self) -> Option<bool> {
        self.eat(b'"')?;
        let mut escaped = false;
        loop {
            self.pos += find_quote_or_backslash(self.bytes().get(self.pos..)?)?;
            if self.bytes()[self.pos] == b'"' {
                self.pos += 1;
                return Some(escaped);
            }
            escaped = true;
            self.pos += 2;
        }
    }
    /// Past one value starting at the cursor; returns its text and whether it is a string without escapes.
    fn value(&mut self) -> Option<(&'a str, bool)> {
        let start = self.pos;
        let mut plain_string = false;
        match self.peek()? {
            b'"' => {
                plain_string = !self.skip_string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                let rest = &self.bytes()[self.pos..];
                let len = rest
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                    .unwrap_or(rest.len());
                if len == 0 {
                    return None;
                }
                self.pos += len;
            }
        }
        Some((self.text.get(start..self.pos)?, plain_string))
    }
}

/// Index of the first `"` or `\\` in `s`. Eight bytes at a time: values are mostly short strings, where a
/// vectorised search costs more to set up than it saves.
fn find_quote_or_backslash(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let quote = word ^ (ONES * b'"' as u64);
        let backslash = word ^ (ONES * b'\\' as u64);
        // A byte of `quote`/`backslash` is zero where the input matches; the lowest flagged byte is exact.
        let hits = (quote.wrapping_sub(ONES) & !quote | backslash.wrapping_sub(ONES) & !backslash) & HIGH;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..].iter().position(|&b| b == b'"' || b == b'\\').map(|p| i + p)
}

/// [`ObjectVisitor::visit_map`] over validated text: the same columns, nulls, duplicates and extras.
fn scan_object(
    scan: &mut RawScan<'_>,
    cols: &mut ObjectColumns,
    ctx: &mut RowContext,
    path: &FieldPath<'_>,
) -> Option<()> {
    cols.stamp += 1;
    let stamp = cols.stamp;
    let result = scan_members(scan, cols, ctx, path, stamp);
    // Always complete the row, so the columns stay the same length even for malformed text.
    for (i, column) in cols.columns.iter_mut().enumerate() {
        if cols.seen[i] != stamp {
            column.append_null();
        }
    }
    result
}

fn scan_members(
    scan: &mut RawScan<'_>,
    cols: &mut ObjectColumns,
    ctx: &mut RowContext,
    path: &FieldPath<'_>,
    stamp: u64,
) -> Option<()> {
    scan.eat(b'{')?;
    scan.ws();
    if scan.eat(b'}').is_some() {
        return Some(());
    }
    let mut hint = 0;
    loop {
        let key_start = scan.pos;
        let escaped = scan.skip_string()?;
        let key_raw = scan.text.get(key_start..scan.pos)?;
        let key: std::borrow::Cow<'_, str> = if escaped {
            std::borrow::Cow::Owned(serde_json::from_str::<String>(key_raw).ok()?)
        } else {
            std::borrow::Cow::Borrowed(&key_raw[1..key_raw.len() - 1])
        };
        scan.ws();
        scan.eat(b':')?;
        scan.ws();
        let (raw, plain_string) = scan.value()?;
        place_member(cols, ctx, path, stamp, &mut hint, &key, raw, plain_string);
        scan.ws();
        match scan.peek()? {
            b',' => {
                scan.pos += 1;
                scan.ws();
            }
            b'}' => return Some(()),
            _ => return None,
        }
    }
}

/// The top level of a record from members the codec split: the same columns, nulls, duplicates and extras
/// as [`scan_object`].
/// `expected`: the members were split with this level's expected keys (their `expected` index is a column).
fn place_members(
    data: &str,
    members: &[DataMember],
    expected: bool,
    cols: &mut ObjectColumns,
    ctx: &mut RowContext,
) -> Option<()> {
    cols.stamp += 1;
    let stamp = cols.stamp;
    let mut hint = 0;
    let mut result = Some(());
    for member in members {
        let plain_string = member.kind == ValueKind::String { escaped: false };
        // A key the codec recognised names its column. Otherwise members usually come in schema order: a key
        // equal to the next column's name goes straight there, named by the column (no text slice of the key
        // is made).
        let column = match member.expected.filter(|_| expected) {
            Some(i) => Some(usize::from(i)).filter(|&i| i < cols.seen.len()),
            None => (!member.key_escaped
                && cols.names.get(hint).is_some_and(|name| {
                    let key = data.as_bytes().get(member.key.0 as usize..member.key.1 as usize).unwrap_or_default();
                    same_bytes(name.as_bytes(), key)
                }))
            .then_some(hint),
        };
        if let Some(i) = column.filter(|&i| cols.seen[i] != stamp) {
            cols.seen[i] = stamp;
            hint = i + 1;
            let column = &mut cols.columns[i];
            if member.number.is_some_and(|number| column.append_number(number)) {
                continue;
            }
            // The most common member: a string without escapes for a string column (as `append_scanned` does).
            if let (true, Column::String(values)) = (plain_string, &mut *column) {
                if let Some(text) = data.get(member.value.0 as usize + 1..member.value.1 as usize - 1) {
                    values.append_value(text);
                    continue;
                }
            }
            let path = FieldPath::Key(&cols.names[i], &FieldPath::Root);
            column.append_scanned(member.value(data), plain_string, ctx, &path);
            continue;
        }
        let Some(key) = member.key(data) else {
            result = None;
            break;
        };
        place_member(cols, ctx, &FieldPath::Root, stamp, &mut hint, &key, member.value(data), plain_string);
    }
    for (i, column) in cols.columns.iter_mut().enumerate() {
        if cols.seen[i] != stamp {
            column.append_null();
        }
    }
    result
}

/// One member of an object: into its column the first time its key is seen, else kept as an extra.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn place_member(
    cols: &mut ObjectColumns,
    ctx: &mut RowContext,
    path: &FieldPath<'_>,
    stamp: u64,
    hint: &mut usize,
    key: &str,
    raw: &str,
    plain_string: bool,
) {
    match cols.find(key, *hint) {
        Some(i) if cols.seen[i] != stamp => {
            cols.seen[i] = stamp;
            *hint = i + 1;
            let path = FieldPath::Key(key, path);
            cols.columns[i].append_scanned(raw, plain_string, ctx, &path);
        }
        _ => ctx.extra(path, key, raw),
    }
}

/// [`ListVisitor::visit_seq`] over validated text: returns the number of elements appended.
fn scan_list(scan: &mut RawScan<'_>, child: &mut Column, ctx: &mut RowContext, path: &FieldPath<'_>) -> Option<usize> {
    scan.eat(b'[')?;
    scan.ws();
    if scan.eat(b']').is_some() {
        return Some(0);
    }
    let mut n = 0;
    loop {
        let (raw, plain_string) = scan.value()?;
        child.append_scanned(raw, plain_string, ctx, &FieldPath::Index(n, path));
        n += 1;
        scan.ws();
        match scan.peek()? {
            b',' => {
                scan.pos += 1;
                scan.ws();
            }
            b']' => return Some(n),
            _ => return None,
        }
    }
}

/// Object keys, borrowed from the input when they contain no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = std::borrow::Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = std::borrow::Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(std::borrow::Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(std::borrow::Cow::Owned(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(std::borrow::Cow::Owned(v))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

struct ListVisitor<'c, 'p> {
    child: &'c mut Column,
    ctx: &'c mut RowContext,
    path: FieldPath<'p>,
}

impl<'de> Visitor<'de> for ListVisitor<'_, '_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0;
        while let Some(raw) = seq.next_element::<&RawValue>()? {
            let path = FieldPath::Index(n, &self.path);
            self.child.append_raw(raw.get(), self.ctx, &path);
            n += 1;
        }
        Ok(n)
    }
}

/// One column of any supported type.
enum Column {
    Integer(Int64Builder),
    Number(Float64Builder),
    Boolean(BooleanBuilder),
    String(StringValues),
    Json(StringValues),
    Date(Date32Builder),
    TimestampTz(TimestampMicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Time(Time64MicrosecondBuilder),
    Struct { fields: Fields, children: Box<ObjectColumns>, validity: BooleanBufferBuilder },
    List { item: Arc<Field>, offsets: Vec<i32>, child: Box<Column>, validity: BooleanBufferBuilder },
}

impl Column {
    fn new(kind: &ColumnType) -> Column {
        match kind {
            ColumnType::Integer => Column::Integer(Int64Builder::new()),
            ColumnType::Number => Column::Number(Float64Builder::new()),
            ColumnType::Boolean => Column::Boolean(BooleanBuilder::new()),
            ColumnType::String => Column::String(StringValues::default()),
            ColumnType::Json => Column::Json(StringValues::default()),
            ColumnType::Date => Column::Date(Date32Builder::new()),
            ColumnType::TimestampWithTimezone => Column::TimestampTz(TimestampMicrosecondBuilder::new()),
            ColumnType::TimestampWithoutTimezone => Column::Timestamp(TimestampMicrosecondBuilder::new()),
            ColumnType::Time => Column::Time(Time64MicrosecondBuilder::new()),
            ColumnType::Object(specs) => {
                let DataType::Struct(fields) = kind.arrow_type() else { unreachable!("object is a struct") };
                Column::Struct {
                    fields,
                    children: Box::new(ObjectColumns::new(specs)),
                    validity: BooleanBufferBuilder::new(0),
                }
            }
            ColumnType::Array(item) => {
                let DataType::List(field) = kind.arrow_type() else { unreachable!("array is a list") };
                Column::List {
                    item: field,
                    offsets: vec![0],
                    child: Box::new(Column::new(item)),
                    validity: BooleanBufferBuilder::new(0),
                }
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            Column::Integer(b) => b.append_null(),
            Column::Number(b) => b.append_null(),
            Column::Boolean(b) => b.append_null(),
            Column::String(b) | Column::Json(b) => b.append_null(),
            Column::Date(b) => b.append_null(),
            Column::TimestampTz(b) | Column::Timestamp(b) => b.append_null(),
            Column::Time(b) => b.append_null(),
            Column::Struct { children, validity, .. } => {
                children.append_null();
                validity.append(false);
            }
            Column::List { offsets, validity, .. } => {
                offsets.push(*offsets.last().expect("offsets start with 0"));
                validity.append(false);
            }
        }
    }

    /// A number the codec computed while it validated ([`ParsedNumber`]): appended to a numeric column exactly as
    /// [`append_raw`](Self::append_raw) would parse its text; `false`, with nothing appended, for any other column
    /// and for a fraction an integer column does not take (the caller then goes the general way).
    #[inline]
    fn append_number(&mut self, number: ParsedNumber) -> bool {
        match (self, number) {
            (Column::Integer(b), ParsedNumber::Integer(v)) => b.append_value(v),
            (Column::Integer(b), ParsedNumber::Float(v)) => match values::integral(v) {
                Some(v) => b.append_value(v),
                None => return false,
            },
            (Column::Number(b), ParsedNumber::Integer(v)) => b.append_value(v as f64),
            (Column::Number(b), ParsedNumber::Float(v)) => b.append_value(v),
            _ => return false,
        }
        true
    }

    /// [`append_raw`](Self::append_raw) for a value split by [`RawScan`]: a string without escapes goes into
    /// a string column without looking at it again.
    fn append_scanned(&mut self, raw: &str, plain_string: bool, ctx: &mut RowContext, path: &FieldPath<'_>) {
        if plain_string && raw.len() >= 2 {
            // The scanner saw no escapes: the text between the quotes is the string.
            let text = &raw[1..raw.len() - 1];
            let placed = match self {
                Column::String(b) => {
                    b.append_value(text);
                    Some(())
                }
                Column::Date(b) => values::date(text).map(|v| b.append_value(v)),
                Column::TimestampTz(b) | Column::Timestamp(b) => {
                    values::timestamp_micros(text).map(|v| b.append_value(v))
                }
                Column::Time(b) => values::time_micros(text).map(|v| b.append_value(v)),
                _ => None,
            };
            if placed.is_some() {
                return;
            }
        }
        // Values that do not fit go this way too: it nulls them and records the change.
        self.append_raw(raw, ctx, path)
    }

    /// Append one raw JSON value; `null` is null, a value that does not fit is null plus a change entry.
    fn append_raw(&mut self, raw: &str, ctx: &mut RowContext, path: &FieldPath<'_>) {
        if raw == "null" {
            self.append_null();
            return;
        }
        let ok = match self {
            Column::Integer(b) => values::integer(raw).map(|v| b.append_value(v)).is_some(),
            Column::Number(b) => values::number(raw).map(|v| b.append_value(v)).is_some(),
            Column::Boolean(b) => values::boolean(raw).map(|v| b.append_value(v)).is_some(),
            Column::String(b) => {
                match values::string(raw) {
                    Some(s) => b.append_value(&s),
                    // Numbers, booleans, objects and arrays keep their JSON text: nothing is lost.
                    None => b.append_value(raw),
                }
                true
            }
            Column::Json(b) => {
                b.append_value(raw);
                true
            }
            Column::Date(b) => values::string(raw).and_then(|s| values::date(&s)).map(|v| b.append_value(v)).is_some(),
            Column::TimestampTz(b) | Column::Timestamp(b) => {
                values::string(raw).and_then(|s| values::timestamp_micros(&s)).map(|v| b.append_value(v)).is_some()
            }
            Column::Time(b) => {
                values::string(raw).and_then(|s| values::time_micros(&s)).map(|v| b.append_value(v)).is_some()
            }
            Column::Struct { children, validity, .. } if ctx.validated => {
                if raw.starts_with('{') {
                    // Like the serde path, a malformed nested value cannot occur in validated text.
                    let _ = scan_object(&mut RawScan::new(raw), children, ctx, path);
                    validity.append(true);
                    true
                } else {
                    false
                }
            }
            Column::List { offsets, child, validity, .. } if ctx.validated => {
                if raw.starts_with('[') {
                    let strings = match child.as_mut() {
                        Column::String(values) => values.append_string_list(raw),
                        _ => None,
                    };
                    let n = match strings {
                        Some(n) => n,
                        None => scan_list(&mut RawScan::new(raw), child, ctx, path).unwrap_or(0),
                    };
                    close_list(offsets, validity, n);
                    true
                } else {
                    false
                }
            }
            Column::Struct { children, validity, .. } => {
                if raw.starts_with('{') {
                    let mut de = serde_json::Deserializer::from_str(raw);
                    let visitor = ObjectVisitor { columns: children, ctx, path: *path };
                    // `raw` is valid JSON (it came out of a parsed document), so this cannot fail.
                    let _ = de.deserialize_map(visitor);
                    validity.append(true);
                    true
                } else {
                    false
                }
            }
            Column::List { offsets, child, validity, .. } => {
                if raw.starts_with('[') {
                    let mut de = serde_json::Deserializer::from_str(raw);
                    let n = de.deserialize_seq(ListVisitor { child, ctx, path: *path }).unwrap_or(0);
                    close_list(offsets, validity, n);
                    true
                } else {
                    false
                }
            }
        };
        if !ok {
            self.append_null();
            ctx.mismatch(path);
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, ConnectorError> {
        Ok(match self {
            Column::Integer(b) => Arc::new(finish_primitive(b)),
            Column::Number(b) => Arc::new(finish_primitive(b)),
            Column::Boolean(b) => Arc::new(b.finish()),
            Column::String(b) | Column::Json(b) => Arc::new(b.finish()),
            Column::Date(b) => Arc::new(finish_primitive(b)),
            Column::TimestampTz(b) => Arc::new(finish_primitive(b).with_timezone("UTC")),
            Column::Timestamp(b) => Arc::new(finish_primitive(b)),
            Column::Time(b) => Arc::new(finish_primitive(b)),
            Column::Struct { fields, children, validity } => {
                let arrays = children
                    .columns
                    .iter_mut()
                    .map(Column::finish)
                    .collect::<Result<Vec<ArrayRef>, ConnectorError>>()?;
                let nulls = NullBuffer::new(validity.finish());
                let len = nulls.len();
                if fields.is_empty() {
                    Arc::new(StructArray::new_empty_fields(len, Some(nulls)))
                } else {
                    Arc::new(StructArray::try_new(fields.clone(), arrays, Some(nulls)).map_err(arrow_error)?)
                }
            }
            Column::List { item, offsets, child, validity } => {
                let values = child.finish()?;
                let offsets = OffsetBuffer::new(ScalarBuffer::from(std::mem::replace(offsets, vec![0])));
                let nulls = NullBuffer::new(validity.finish());
                Arc::new(ListArray::try_new(item.clone(), offsets, values, Some(nulls)).map_err(arrow_error)?)
            }
        })
    }
}

/// End one non-null list value of `n` elements.
fn close_list(offsets: &mut Vec<i32>, validity: &mut BooleanBufferBuilder, n: usize) {
    let last = *offsets.last().expect("offsets start with 0");
    offsets.push(last + n as i32);
    validity.append(true);
}

/// Two lower-case hex digits per byte value.
static HEX_PAIRS: [[u8; 2]; 256] = {
    let digits = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [digits[i >> 4], digits[i & 15]];
        i += 1;
    }
    t
};

/// A UUID as `8-4-4-4-12` lower-case hex, a byte pair at a time (the uuid crate goes a nibble at a time; this
/// runs once per record).
fn hyphenated_lower(id: &uuid::Uuid) -> [u8; RAW_ID_LEN] {
    let mut out = [b'-'; RAW_ID_LEN];
    let mut at = 0;
    for (i, &byte) in id.as_bytes().iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        out[at..at + 2].copy_from_slice(&HEX_PAIRS[byte as usize]);
        at += 2;
    }
    out
}

/// Bytes of a hyphenated UUID.
const RAW_ID_LEN: usize = 36;

/// `a == b` for the short strings keys are, without a call into `memcmp` (a call per key per record shows
/// in profiles): word loads that may overlap cover 4 to 16 bytes.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"));
    match n {
        0..=3 => a == b,
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// A string column being built. Arrow's `StringBuilder` converts and checks every offset through its generic
/// offset type and grows three buffers per value; this appends to two vectors, with the (rare) nulls apart.
struct StringValues {
    bytes: Vec<u8>,
    /// Where each value starts in `bytes`, then where the last one ends.
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl Default for StringValues {
    fn default() -> Self {
        StringValues { bytes: Vec::new(), offsets: vec![0], nulls: NullBufferBuilder::new(0) }
    }
}

impl StringValues {
    #[inline]
    fn append_value(&mut self, value: &str) {
        self.bytes.extend_from_slice(value.as_bytes());
        self.offsets.push(i32::try_from(self.bytes.len()).expect("a batch's strings stay under 2 GiB"));
        self.nulls.append_non_null();
    }

    fn append_null(&mut self) {
        self.offsets.push(self.bytes.len() as i32);
        self.nulls.append_null();
    }

    /// The elements of `list`, a validated JSON array, appended when it is the usual compact list of strings
    /// without escapes (`["a","b"]`), and their number returned; `None`, with nothing appended, for any other
    /// list, which then goes through the general scan.
    fn append_string_list(&mut self, list: &str) -> Option<usize> {
        let b = list.as_bytes();
        if b.len() == 2 {
            return (b == b"[]").then_some(0);
        }
        let rows = self.offsets.len() - 1;
        let mut pos = 1;
        let mut n = 0;
        loop {
            let end = match b.get(pos) {
                Some(b'"') => find_quote_or_backslash(&b[pos + 1..]).map(|len| pos + 1 + len),
                _ => None,
            };
            // A closing quote, then a comma and the next string, or the end of the list.
            let next = end.filter(|&end| b[end] == b'"').and_then(|end| match b.get(end + 1) {
                Some(b',') => Some(end + 2),
                Some(b']') if end + 2 == b.len() => Some(b.len()),
                _ => None,
            });
            let (Some(end), Some(next)) = (end, next) else {
                self.truncate(rows);
                return None;
            };
            self.append_value(list.get(pos + 1..end)?);
            n += 1;
            if next == b.len() {
                return Some(n);
            }
            pos = next;
        }
    }

    /// Drop the values after the first `rows`.
    fn truncate(&mut self, rows: usize) {
        self.offsets.truncate(rows + 1);
        self.bytes.truncate(self.offsets[rows] as usize);
        self.nulls.truncate(rows);
    }

    /// The values as an array; the builder keeps the capacity it needed, so the next batch (usually as large)
    /// does not grow its buffers from nothing again.
    fn finish(&mut self) -> StringArray {
        let (values, offsets) = (self.bytes.capacity(), self.offsets.capacity());
        let bytes = std::mem::replace(&mut self.bytes, Vec::with_capacity(values));
        let mut next_offsets = Vec::with_capacity(offsets);
        next_offsets.push(0);
        let offsets = std::mem::replace(&mut self.offsets, next_offsets);
        let nulls = self.nulls.finish();
        // SAFETY: the offsets start at 0, never decrease and end at the length of `bytes`, and every value was
        // appended whole from a `&str`, so each is valid UTF-8: all that `try_new` would check.
        unsafe {
            StringArray::new_unchecked(OffsetBuffer::new_unchecked(offsets.into()), Buffer::from_vec(bytes), nulls)
        }
    }
}

fn finish_primitive<T: ArrowPrimitiveType>(b: &mut PrimitiveBuilder<T>) -> PrimitiveArray<T> {
    let array = b.finish();
    *b = PrimitiveBuilder::with_capacity(array.len());
    array
}

/// Convenience for tests and readers: the `_airbyte_additional_properties` column of a batch.
pub fn additional_properties(batch: &RecordBatch) -> Option<&StringArray> {
    batch.column_by_name(crate::schema::ADDITIONAL_PROPERTIES)?.as_any().downcast_ref::<StringArray>()
}

#[cfg(test)]
mod raw_id_tests {
    use super::RawIdClock;

    #[test]
    fn raw_ids_format_like_the_uuid_crate() {
        let mut clock = RawIdClock::new();
        for id in (0..1000).map(|_| clock.next()).chain([uuid::Uuid::nil(), uuid::Uuid::max(), uuid::Uuid::new_v4()]) {
            assert_eq!(super::hyphenated_lower(&id).as_slice(), id.hyphenated().to_string().as_bytes());
        }
    }

    #[test]
    fn raw_ids_are_v7_unique_and_ordered_even_when_the_counter_wraps() {
        let mut clock = RawIdClock::new();
        clock.counter = (1u128 << RawIdClock::COUNTER_BITS) - 3;
        let start = clock.millis;
        let ids: Vec<uuid::Uuid> = (0..6).map(|_| clock.next()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0].hyphenated().to_string() < pair[1].hyphenated().to_string(), "{pair:?}");
        }
        assert!(ids.iter().all(|id| id.get_version_num() == 7 && id.get_variant() == uuid::Variant::RFC4122));
        assert_eq!(clock.millis, start + 1, "the wrap moves the timestamp on");
        let other = RawIdClock::new().next();
        assert!(!ids.contains(&other));
    }
}

#[cfg(test)]
mod key_tests {
    use super::same_bytes;

    #[test]
    fn same_bytes_agrees_with_slice_equality() {
        let text = b"abcdefghijklmnopqrstuvwxyz0123456789";
        for len in 0..=30 {
            for shift in 0..4 {
                let a = &text[shift..shift + len];
                assert!(same_bytes(a, a), "{len}");
                for flip in 0..len {
                    let mut b = a.to_vec();
                    b[flip] ^= 0x20;
                    assert!(!same_bytes(a, &b), "len {len}, byte {flip}");
                }
                if len > 0 {
                    assert!(!same_bytes(a, &a[..len - 1]));
                }
            }
        }
    }
}

#[cfg(test)]
mod string_values_tests {
    use super::StringValues;
    use arrow::array::{Array, StringBuilder};

    #[test]
    fn string_values_build_what_arrows_builder_builds_batch_after_batch() {
        let mut next = crate::tests::xorshift(7);
        let mut ours = StringValues::default();
        for batch in 0..6 {
            let mut arrows = StringBuilder::new();
            let rows = [0, 1, 5, 300, 2000, 17][batch];
            for _ in 0..rows {
                match next() % 5 {
                    0 => {
                        ours.append_null();
                        arrows.append_null();
                    }
                    k => {
                        let value: String =
                            (0..(next() % 40) * (k - 1)).map(|i| ['a', 'é', '€', '"'][(i % 4) as usize]).collect();
                        ours.append_value(&value);
                        arrows.append_value(&value);
                    }
                }
            }
            let (ours, arrows) = (ours.finish(), arrows.finish());
            ours.to_data().validate_full().expect("a valid string array");
            assert_eq!(ours, arrows, "batch {batch}");
            assert_eq!(ours.nulls(), arrows.nulls(), "batch {batch}");
        }
    }
}
