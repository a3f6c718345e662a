//! A loopback Airtable API for the offline examples (`specs/source-airtable/examples/run-offline.sh`) and the
//! benchmark (`bench.sh`). Same server as the integration tests.
//!
//! `airtable-replay [--port 8765] [--latency-ms 0] [--bases N --tables N --records N]`
//! Without `--bases`: the example dataset (recorded 3-page table, a table with every field type, a second base).
//! With `--bases`: N bases x `--tables` tables x `--records` records of a small table with a lastModifiedTime field.
//! Prints `listening on http://127.0.0.1:PORT`; `GET /_replay/stats` gives per-base request counts.

#[path = "../tests/common/replay.rs"]
mod replay;

use replay::{BaseData, Options, ReplayServer};
use std::time::Duration;

fn arg(args: &[String], name: &str) -> Option<u64> {
    let i = args.iter().position(|a| a == name)?;
    let v = args.get(i + 1)?;
    Some(v.parse().unwrap_or_else(|_| panic!("{name} takes a number, got {v}")))
}

fn example_dataset() -> Vec<BaseData> {
    vec![
        BaseData {
            id: replay::RECORDED_BASE.into(),
            name: "Replay Base".into(),
            permission_level: Some("create".into()),
            deny_records: false,
            tables: vec![replay::recorded_table(), replay::all_types_table("tblAllTypes000001", "All Types", 250)],
        },
        BaseData {
            id: "appSecondBase0001".into(),
            name: "Second Base".into(),
            permission_level: Some("edit".into()),
            deny_records: false,
            tables: vec![replay::simple_table("tblSimple00000001", "Simple Table", 120)],
        },
    ]
}

fn generated_dataset(bases: u64, tables: u64, records: u64) -> Vec<BaseData> {
    (0..bases)
        .map(|b| BaseData {
            id: format!("appBench{b:09}"),
            name: format!("Bench Base {b}"),
            permission_level: Some("read".into()),
            deny_records: false,
            tables: (0..tables)
                .map(|t| replay::simple_table(&format!("tblB{b:03}T{t:010}"), &format!("Table {t}"), records as usize))
                .collect(),
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = arg(&args, "--port").unwrap_or(8765) as u16;
    let latency = Duration::from_millis(arg(&args, "--latency-ms").unwrap_or(0));
    let data = match arg(&args, "--bases") {
        Some(b) => generated_dataset(b, arg(&args, "--tables").unwrap_or(1), arg(&args, "--records").unwrap_or(100)),
        None => example_dataset(),
    };
    let server = ReplayServer::start_on(port, data, Options { latency, ..Default::default() }).await;
    println!("listening on {}", server.url);
    let _ = tokio::signal::ctrl_c().await;
}
