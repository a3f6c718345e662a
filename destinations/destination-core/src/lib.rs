//! The shared record -> Arrow core of our destinations (Parquet, Snowflake).
//!
//! # Overview
//! 1. [`StreamSchema::new`] turns a configured stream (its JSON schema, `sync_id`, `generation_id`) into typed
//!    columns ([`ColumnSpec`], [`ColumnType`]) and an Arrow schema ([`StreamSchema::arrow_schema`]).
//! 2. [`BatchBuilder::push`] appends one record from its raw `data` JSON text (as borrowed from the protocol
//!    codec's `RecordRef::data.get()`), its `emitted_at` and the source's `meta.changes`;
//!    [`BatchBuilder::finish`] returns a [`arrow::array::RecordBatch`] and resets the builder.
//!    [`BatchBuilder::push_members`] takes the top-level members the protocol codec split while it validated
//!    the line (`codec::decode_line_split`), so the record is scanned once;
//!    [`BatchBuilder::push_members_expected`] takes members split with the stream's
//!    [`StreamSchema::expected_keys`] (`codec::decode_line_split_expecting`), placed by the codec's marks.
//! 3. [`ParquetFileWriter`] writes batches to a Parquet file with its columns encoded on several threads.
//! 4. [`names`] sanitises names from data for column names and object-key segments.
//! 5. [`s3`] holds the S3 connection keys of Airbyte's destination-s3 and builds the `object_store` client.
//! 6. [`memory`] keeps a long sync's resident memory flat under glibc (fewer arenas, freed pages returned).
//! 7. [`limits`] raises the open-file limit, which a sync of hundreds of streams needs.
//!
//! # Columns of every batch
//! | column | Arrow type | content |
//! |---|---|---|
//! | `_airbyte_raw_id` | Utf8 | UUID v7 per record (time-ordered, randomly seeded counter) |
//! | `_airbyte_extracted_at` | Timestamp(us, "UTC") | `emitted_at` |
//! | `_airbyte_generation_id` | Int64 | the stream's `generation_id` (0 when absent) |
//! | `_airbyte_meta` | Struct{sync_id Int64, changes List<Struct{field, change, reason}>} | source changes first, then ours |
//! | one per declared top-level property | see below | sanitised name, original in field metadata |
//! | `_airbyte_additional_properties` | Utf8 (JSON object text) | undeclared properties, null when none |
//!
//! # Typing (Airbyte's current Bulk CDK rules)
//! `integer` -> Int64; `number` -> Float64 (`airbyte_type: integer` -> Int64); `boolean`; `string` -> Utf8;
//! `format: date` -> Date32; `date-time` -> Timestamp(us, "UTC") (or Timestamp(us) with
//! `airbyte_type: timestamp_without_timezone`); `format: time` -> Time64(us); `object` with `properties` ->
//! Struct; `array` with one `items` schema -> List; schemaless objects/arrays, unions (`type: [a, b]`,
//! `anyOf`, `oneOf`), `$ref` and untyped properties -> JSON text (Utf8, field metadata
//! `airbyte.logical_type = json`). `"null"` in a type list only makes the column nullable (all columns are).
//!
//! # Values that do not fit
//! A value that cannot be represented in its column (a string in an integer column, `"2024-13-01"` in a date
//! column, an object in a number column, ...) becomes null and adds `{field, change: NULLED, reason:
//! DESTINATION_SERIALIZATION_ERROR}` to `_airbyte_meta.changes`, with `field` the path (`a.b`, `tags[2]`).
//! Lossless coercions are applied instead of nulling (see [`values`]): integral floats and numeric strings into
//! integer/number columns, `"true"`/`"false"` into booleans, any non-string value into a string column as its
//! JSON text, offsets in timestamps converted to UTC.
//!
//! # Undeclared properties
//! Properties not in the schema, at any depth, and duplicate keys go to `_airbyte_additional_properties` as
//! one JSON object keyed by dotted path (`{"extra": 1, "address.zip4": "1234"}`): nothing is dropped.
//!
//! # Names
//! Column names follow Airbyte's rule ([`names::column_name`]: `[A-Za-z0-9_]`, leading digit -> `_` prefix),
//! made unique per level ([`names::UniqueNames`], `_2` suffixes; the Airbyte column names are reserved).
//! [`StreamSchema::column_mapping`] and [`StreamSchema::key_value_metadata`] (`airbyte.column_mapping`) give
//! the original names. For object keys use [`names::path_segment`] (no `/`, `\`, `.`/`..`, spaces or
//! non-ASCII) and check assembled keys with [`names::is_contained_key`].
//!
//! # Threads
//! [`StreamSchema`] is immutable and shared in an `Arc`; a [`BatchBuilder`] is `Send`, one per thread and
//! stream. Building batches from independent chunks of input in parallel is safe; order is the caller's job.

pub mod builder;
mod dict_column;
pub mod limits;
pub mod memory;
pub mod names;
pub mod page_spill;
pub mod parquet_file;
mod plain_column;
pub mod s3;
pub mod sampled_file;
pub mod schema;
pub mod values;

pub use builder::BatchBuilder;
pub use parquet_file::ParquetFileWriter;
pub use sampled_file::SampledParquetWriter;
pub use schema::{ColumnSpec, ColumnType, StreamSchema};

#[cfg(test)]
mod tests;
