//! Synthetic syncs for the tests and the labelled benchmark: a clean generator in the Destinations V2
//! layout and one injector per anomaly kind.

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, ListBuilder, StringArray, StringBuilder, StructArray,
    StructBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

use crate::checks::CheckKind;

/// Materials and their shares in clean syncs.
pub const MATERIALS: [(&str, f64); 5] =
    [("concrete", 0.35), ("steel", 0.25), ("timber", 0.2), ("glass", 0.12), ("insulation", 0.08)];
pub const UNITS: [&str; 4] = ["kg", "m2", "m3", "pcs"];

/// What to put in one synthetic sync.
#[derive(Debug, Clone)]
pub struct SynthSpec {
    pub seed: u64,
    pub rows: usize,
    /// The sync's time in microseconds since the epoch (cursor values are up to a day before it).
    pub sync_micros: i64,
    pub anomaly: Option<CheckKind>,
}

fn changes_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Struct(change_fields()), true)))
}
fn change_fields() -> Fields {
    Fields::from(vec![
        Field::new("field", DataType::Utf8, true),
        Field::new("change", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, true),
    ])
}

/// The clean schema.
pub fn schema(anomaly: Option<CheckKind>) -> SchemaRef {
    let meta =
        Fields::from(vec![Field::new("sync_id", DataType::Int64, true), Field::new("changes", changes_type(), true)]);
    let mut fields = vec![
        Field::new("_airbyte_raw_id", DataType::Utf8, false),
        Field::new("_airbyte_extracted_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("_airbyte_meta", DataType::Struct(meta), false),
        Field::new("_airbyte_generation_id", DataType::Int64, true),
        Field::new("id", DataType::Utf8, true),
        Field::new("material", DataType::Utf8, true),
        Field::new("unit", DataType::Utf8, true),
        Field::new("price", DataType::Float64, true),
        Field::new("quantity", DataType::Int64, true),
        Field::new("density", DataType::Float64, true),
        Field::new("is_generic", DataType::Boolean, true),
        Field::new("updated_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
    ];
    if anomaly == Some(CheckKind::Schema) {
        // The source renamed a column: `density` disappears, `density_kg_m3` appears.
        let i = fields.iter().position(|f| f.name() == "density").expect("density");
        fields[i] = Field::new("density_kg_m3", DataType::Float64, true);
    }
    Arc::new(Schema::new(fields))
}

fn normal(rng: &mut StdRng) -> f64 {
    // Box-Muller.
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn pick<'a>(rng: &mut StdRng, weights: &[(&'a str, f64)]) -> &'a str {
    let mut x: f64 = rng.random();
    for (v, w) in weights {
        if x < *w {
            return v;
        }
        x -= w;
    }
    weights[weights.len() - 1].0
}

/// One synthetic sync as a single batch (plus its schema).
pub fn generate(spec: &SynthSpec) -> RecordBatch {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let a = spec.anomaly;
    let n = match a {
        Some(CheckKind::Volume) => spec.rows / 5,
        _ => spec.rows,
    };
    let drifted_materials = [("concrete", 0.1), ("steel", 0.15), ("timber", 0.45), ("glass", 0.2), ("insulation", 0.1)];
    let mut ids = Vec::with_capacity(n);
    let mut materials = Vec::with_capacity(n);
    let mut units = Vec::with_capacity(n);
    let mut prices: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut quantities = Vec::with_capacity(n);
    let mut densities: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut generic = Vec::with_capacity(n);
    let mut updated = Vec::with_capacity(n);
    let mut changed = Vec::with_capacity(n);
    let stale = if a == Some(CheckKind::Freshness) { 10 * 86_400_000_000i64 } else { 0 };
    for i in 0..n {
        let dup = a == Some(CheckKind::Uniqueness) && i > 0 && rng.random::<f64>() < 0.05;
        ids.push(if dup {
            format!("{}-{:08}", spec.seed, rng.random_range(0..i))
        } else {
            format!("{}-{i:08}", spec.seed)
        });
        let mat = if a == Some(CheckKind::CategoricalDrift) {
            pick(&mut rng, &drifted_materials)
        } else {
            pick(&mut rng, &MATERIALS)
        };
        materials.push(mat.to_string());
        let unit = if a == Some(CheckKind::Rule) && rng.random::<f64>() < 0.01 {
            "lbs"
        } else {
            UNITS[rng.random_range(0..UNITS.len())]
        };
        units.push(unit.to_string());
        let mu = if a == Some(CheckKind::NumericDrift) { 4.0 + 0.35 } else { 4.0 };
        let mut price = (mu + 0.5 * normal(&mut rng)).exp();
        if a == Some(CheckKind::Ranges) && rng.random::<f64>() < 0.02 {
            price *= 1000.0;
        }
        let invalid = a == Some(CheckKind::Validity) && rng.random::<f64>() < 0.03;
        prices.push(if invalid { None } else { Some((price * 100.0).round() / 100.0) });
        changed.push(invalid);
        quantities.push(rng.random_range(1..=500i64));
        let null_rate = if a == Some(CheckKind::Completeness) { 0.4 } else { 0.05 };
        densities.push(if rng.random::<f64>() < null_rate { None } else { Some(800.0 + 300.0 * normal(&mut rng)) });
        generic.push(rng.random::<f64>() < 0.2);
        updated.push(spec.sync_micros - stale - rng.random_range(0..86_400_000_000i64));
    }
    let schema = schema(a);
    let raw_ids: StringArray = (0..n).map(|i| Some(format!("raw-{}-{i}", spec.seed))).collect();
    let extracted = TimestampMicrosecondArray::from(vec![spec.sync_micros; n]).with_timezone("UTC");
    let meta = meta_array(spec.seed as i64, &changed);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(raw_ids),
        Arc::new(extracted),
        Arc::new(meta),
        Arc::new(Int64Array::from(vec![1i64; n])),
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(materials)),
        Arc::new(StringArray::from(units)),
        Arc::new(Float64Array::from(prices)),
        Arc::new(Int64Array::from(quantities)),
        Arc::new(Float64Array::from(densities)),
        Arc::new(BooleanArray::from(generic)),
        Arc::new(TimestampMicrosecondArray::from(updated).with_timezone("UTC")),
    ];
    RecordBatch::try_new(schema, columns).expect("synthetic batch")
}

fn meta_array(sync_id: i64, changed: &[bool]) -> StructArray {
    let meta_fields =
        Fields::from(vec![Field::new("sync_id", DataType::Int64, true), Field::new("changes", changes_type(), true)]);
    let mut builder = StructBuilder::from_fields(meta_fields, changed.len());
    for c in changed {
        builder.field_builder::<arrow::array::Int64Builder>(0).expect("sync_id").append_value(sync_id);
        let list = builder.field_builder::<ListBuilder<Box<dyn arrow::array::ArrayBuilder>>>(1).expect("changes");
        if *c {
            let entry = list.values().as_any_mut().downcast_mut::<StructBuilder>().expect("change struct");
            entry.field_builder::<StringBuilder>(0).expect("field").append_value("price");
            entry.field_builder::<StringBuilder>(1).expect("change").append_value("NULLED");
            entry.field_builder::<StringBuilder>(2).expect("reason").append_value("DESTINATION_SERIALIZATION_ERROR");
            entry.append(true);
        }
        list.append(true);
        builder.append(true);
    }
    builder.finish()
}

/// The catalog's primary key and cursor for the synthetic stream.
pub fn keys() -> (Vec<Vec<String>>, Vec<String>) {
    (vec![vec!["id".to_string()]], vec!["updated_at".to_string()])
}
