//! A loopback soda4LCA node replaying the recorded OEKOBAU.DAT fixtures, for running the examples in
//! `specs/source-oekobaudat/examples/` offline and for `bench.sh`.
//!
//! ```text
//! cargo run -p source-oekobaudat --example replay_server -- [--port 8765] [--latency-ms 0] [--epds 0]
//! ```
//! `--epds N` serves N EPDs synthesised from the four recorded ones (new UUIDs) instead of the four.
//! Prints `listening on http://127.0.0.1:PORT/resource` and serves until killed.

#[path = "../tests/common/replay.rs"]
mod replay;

use std::time::Duration;

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    match args.iter().position(|a| a == name) {
        Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            eprintln!("{name} needs a whole number");
            std::process::exit(2)
        }),
        None => default,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: replay_server [--port 8765] [--latency-ms 0] [--epds 0]");
        return;
    }
    let port = arg(&args, "--port", 8765) as u16;
    let latency = Duration::from_millis(arg(&args, "--latency-ms", 0));
    let epds = arg(&args, "--epds", 0) as usize;
    let server = replay::Replay::start(port, latency, epds).await;
    println!("listening on {}", server.base_url);
    let _ = tokio::signal::ctrl_c().await;
}
