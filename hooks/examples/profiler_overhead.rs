//! Profiler overhead vs writing: builds the 1M-record benchmark stream (`../shared/bench/gen_messages.py`'s
//! columns, typed the way the destinations type the bench catalog) as 64k-row batches in memory, then times
//! writing them to zstd Parquet (what destination-parquet does after decoding) and profiling them.
//! The budget is 10% of destination-parquet's whole write time; this compares against the Parquet
//! encode alone, a smaller (stricter) denominator.
//!
//! `cargo run --release -p post-sync --example profiler_overhead -- [ROWS]`

use airbyte_protocol::message::StreamDescriptor;
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, ListBuilder, StringArray, StringBuilder,
    StructArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use post_sync::StreamProfiler;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MATERIALS: [&str; 10] = [
    "Beton C25/30",
    "Mineralwolle",
    "Brettschichtholz",
    "Ziegel",
    "Stahlblech",
    "Gipskarton",
    "Glaswolle",
    "Aluminiumprofil",
    "PVC-Rohr",
    "Zementestrich",
];
const UNITS: [&str; 5] = ["kg", "m3", "m2", "m", "pcs."];
const OWNERS: [&str; 5] = ["IBU", "Bauforumstahl", "EPD Norge", "ift Rosenheim", "Kiwa-Ecobility"];
const TAGS: [&str; 6] = ["insulation", "structure", "finish", "roof", "facade", "floor"];

fn meta_fields() -> Fields {
    let change = Fields::from(vec![
        Field::new("field", DataType::Utf8, true),
        Field::new("change", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, true),
    ]);
    Fields::from(vec![
        Field::new("sync_id", DataType::Int64, true),
        Field::new("changes", DataType::List(Arc::new(Field::new("item", DataType::Struct(change), true))), true),
    ])
}

fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("_airbyte_raw_id", DataType::Utf8, false),
        Field::new("_airbyte_extracted_at", ts.clone(), false),
        Field::new("_airbyte_generation_id", DataType::Int64, true),
        Field::new("_airbyte_meta", DataType::Struct(meta_fields()), false),
        Field::new("uuid", DataType::Utf8, true),
        Field::new("version", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("owner", DataType::Utf8, true),
        Field::new("ref_year", DataType::Int64, true),
        Field::new("valid_until", DataType::Date32, true),
        Field::new("declared_unit", DataType::Utf8, true),
        Field::new("density_kg_m3", DataType::Float64, true),
        Field::new("gwp_total", DataType::Float64, true),
        Field::new("gwp_by_module", DataType::Utf8, true),
        Field::new("is_generic", DataType::Boolean, true),
        Field::new("tags", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true),
        Field::new("updated_at", ts, true),
    ]))
}

fn batch(rng: &mut StdRng, start: usize, n: usize) -> RecordBatch {
    let uuid = |rng: &mut StdRng| {
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            rng.random::<u32>(),
            rng.random::<u16>(),
            rng.random_range(0..4096u32),
            rng.random_range(0..4096u32),
            rng.random::<u64>() & 0xffff_ffff_ffff
        )
    };
    let raw: StringArray = (0..n).map(|_| Some(uuid(rng))).collect();
    let ids: StringArray = (0..n).map(|_| Some(uuid(rng))).collect();
    let version: StringArray = (0..n).map(|_| Some(format!("00.{:02}.000", rng.random_range(1..=30)))).collect();
    let name: StringArray = (0..n)
        .map(|_| Some(format!("{} {}", MATERIALS[rng.random_range(0..10)], rng.random_range(1..=9999))))
        .collect();
    let owner: StringArray =
        (0..n).map(|_| (rng.random::<f64>() > 0.05).then(|| OWNERS[rng.random_range(0..5)])).collect();
    let year = Int64Array::from_iter_values((0..n).map(|_| rng.random_range(2010..=2026)));
    let valid = Date32Array::from_iter_values((0..n).map(|_| 20_454 + rng.random_range(0..2500)));
    let unit: StringArray = (0..n).map(|_| Some(UNITS[rng.random_range(0..5)])).collect();
    let density = Float64Array::from_iter(
        (0..n).map(|_| (rng.random::<f64>() > 0.1).then(|| (6.5 + 0.8 * (rng.random::<f64>() - 0.5) * 3.4).exp())),
    );
    let gwp = Float64Array::from_iter_values((0..n).map(|_| rng.random_range(-200.0..2000.0)));
    let gwp_json: StringArray = (0..n)
        .map(|_| {
            Some(format!(
                "{{\"A1-A3\":{:.4},\"C3\":{:.4}}}",
                rng.random_range(-50.0..500.0),
                rng.random_range(-50.0..500.0)
            ))
        })
        .collect();
    let generic = BooleanArray::from_iter((0..n).map(|_| Some(rng.random::<f64>() < 0.2)));
    let mut tags = ListBuilder::new(StringBuilder::new());
    for _ in 0..n {
        for _ in 0..rng.random_range(0..=3) {
            tags.values().append_value(TAGS[rng.random_range(0..6)]);
        }
        tags.append(true);
    }
    let updated = TimestampMicrosecondArray::from_iter_values(
        (0..n).map(|_| 1_767_225_600_000_000 + rng.random_range(0..28_000_000i64) * 1_000_000),
    )
    .with_timezone("UTC");
    let extracted =
        TimestampMicrosecondArray::from_iter_values((0..n).map(|i| (1_764_115_200_000 + (start + i) as i64) * 1000))
            .with_timezone("UTC");
    let fields = meta_fields();
    let changes_type = fields[1].data_type().clone();
    let meta = StructArray::new(
        fields,
        vec![Arc::new(Int64Array::from(vec![42i64; n])) as ArrayRef, empty_lists(&changes_type, n)],
        None,
    );
    let columns: Vec<ArrayRef> = vec![
        Arc::new(raw),
        Arc::new(extracted),
        Arc::new(Int64Array::from(vec![1i64; n])),
        Arc::new(meta),
        Arc::new(ids),
        Arc::new(version),
        Arc::new(name),
        Arc::new(owner),
        Arc::new(year),
        Arc::new(valid),
        Arc::new(unit),
        Arc::new(density),
        Arc::new(gwp),
        Arc::new(gwp_json),
        Arc::new(generic),
        Arc::new(tags.finish()),
        Arc::new(updated),
    ];
    RecordBatch::try_new(schema(), columns).expect("batch")
}

/// `n` empty lists of the `changes` type (no record has a change).
fn empty_lists(list_type: &DataType, n: usize) -> ArrayRef {
    let DataType::List(item) = list_type else { unreachable!("changes is a list") };
    let offsets = arrow::buffer::OffsetBuffer::<i32>::new_zeroed(n);
    let values = arrow::array::new_empty_array(item.data_type());
    Arc::new(arrow::array::ListArray::new(item.clone(), offsets, values, None))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let mut rng = StdRng::seed_from_u64(7);
    let batches: Vec<RecordBatch> =
        (0..rows).step_by(65_536).map(|start| batch(&mut rng, start, 65_536.min(rows - start))).collect();
    let dir = tempfile::tempdir()?;
    let (mut write_times, mut profile_times) = (Vec::new(), Vec::new());
    let mut profile = None;
    for round in 0..3 {
        let t = Instant::now();
        let file = std::fs::File::create(dir.path().join(format!("part-{round}.parquet")))?;
        let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?)).build();
        let mut writer = ArrowWriter::try_new(file, schema(), Some(props))?;
        for b in &batches {
            writer.write(b)?;
        }
        writer.close()?;
        write_times.push(t.elapsed());
        let t = Instant::now();
        let mut profiler = StreamProfiler::new(
            StreamDescriptor::new("epd", None),
            schema(),
            vec![vec!["uuid".into()]],
            vec!["updated_at".into()],
        );
        for b in &batches {
            profiler.observe(b);
        }
        profile = Some(profiler.finish());
        profile_times.push(t.elapsed());
    }
    let (w, p) = (median(write_times), median(profile_times));
    let profile = profile.expect("profiled");
    println!("rows: {rows} in {} batches", batches.len());
    println!("parquet zstd-1 write: {:.1} ms (median of 3)", w.as_secs_f64() * 1e3);
    println!("profiler:             {:.1} ms (median of 3)", p.as_secs_f64() * 1e3);
    println!("profiler / parquet write = {:.1}%", 100.0 * p.as_secs_f64() / w.as_secs_f64());
    println!(
        "profile: {} rows, {} duplicate keys, {} columns, {} bytes of JSON",
        profile.rows,
        profile.duplicate_keys,
        profile.columns.len(),
        serde_json::to_vec(&profile)?.len()
    );
    Ok(())
}
