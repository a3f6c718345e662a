//! Helpers shared by the integration tests.
#![allow(dead_code)]

use airbyte_protocol::message::StreamDescriptor;
use post_sync::checks::CheckKind;
use post_sync::synth::{generate, keys, SynthSpec};
use post_sync::{StreamProfile, StreamProfiler};

pub const DAY_MICROS: i64 = 86_400_000_000;
pub const START_MICROS: i64 = 1_780_000_000_000_000;

/// The profile of one synthetic sync number `n` (a day apart), with or without an anomaly.
pub fn synthetic_profile(n: u64, rows: usize, anomaly: Option<CheckKind>) -> StreamProfile {
    let sync_micros = START_MICROS + n as i64 * DAY_MICROS;
    let batch = generate(&SynthSpec { seed: 1000 + n, rows, sync_micros, anomaly });
    let (pk, cursor) = keys();
    let mut profiler = StreamProfiler::new(StreamDescriptor::new("items", None), batch.schema(), pk, cursor);
    // Two batches, as a destination would feed them.
    let half = batch.num_rows() / 2;
    profiler.observe(&batch.slice(0, half));
    profiler.observe(&batch.slice(half, batch.num_rows() - half));
    let mut p = profiler.finish();
    p.sync_id = Some(format!("sync-{n:03}"));
    p.synced_at = chrono::DateTime::from_timestamp_micros(sync_micros);
    p
}

/// Clean history of `count` syncs with slightly varying volume.
pub fn clean_history(count: u64, rows: usize) -> Vec<StreamProfile> {
    (0..count).map(|n| synthetic_profile(n, rows + (n as usize * 37) % 400, None)).collect()
}
