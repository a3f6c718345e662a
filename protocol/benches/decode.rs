//! Decode throughput of the destination line codec on `shared/bench/gen_messages.py` output.
//!
//! Run with `bash tests/bench/decode.sh` (builds --release). Prints messages/s and MB/s for one core and for
//! the two-core chunked pipeline, beside the Airbyte Python CDK's 255k messages/s measured on this machine.

use airbyte_protocol::codec::DecodeError;
use airbyte_protocol::codec::{decode_line, decode_line_serde, split_lines_balanced, InputMessage, LineReader};
use std::path::PathBuf;
use std::time::Instant;

/// The Airbyte Python CDK's decode rate measured on this machine (shared/bench/README.md).
const PYTHON_CDK_MSGS_PER_SEC: f64 = 255_000.0;

fn input_file(records: usize) -> PathBuf {
    let dir = std::env::var_os("BENCH_DATA_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("airbyte_decode_bench_{records}.jsonl"));
    if !path.exists() {
        let generator = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/gen_messages.py");
        let tmp = path.with_extension("partial");
        let file = std::fs::File::create(&tmp).expect("create bench input");
        let status = std::process::Command::new("python3")
            .arg(&generator)
            .arg(records.to_string())
            .stdout(file)
            .status()
            .expect("run gen_messages.py");
        assert!(status.success(), "gen_messages.py failed");
        std::fs::rename(&tmp, &path).expect("rename bench input");
    }
    path
}

/// Decode every line of `chunk`; returns (messages, record data bytes) so the work cannot be optimised away.
fn decode_all<D>(chunk: &[u8], decode: D) -> (u64, u64)
where
    D: for<'a> Fn(&'a [u8], u64) -> Result<InputMessage<'a>, DecodeError>,
{
    let mut reader = LineReader::new(chunk);
    let (mut messages, mut data_bytes) = (0u64, 0u64);
    while let Some((n, line)) = reader.next_line().expect("in-memory read") {
        match decode(line, n).unwrap_or_else(|e| panic!("{e}")) {
            InputMessage::Record(r) => data_bytes += r.data.get().len() as u64,
            _ => data_bytes += 1,
        }
        messages += 1;
    }
    (messages, data_bytes)
}

/// CPU time of the calling thread in seconds (Linux `schedstat`), so a busy shared machine does not
/// hide the decoder's own speed; `None` elsewhere.
fn thread_cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(s.split_whitespace().next()?.parse::<f64>().ok()? / 1e9)
}

fn report(label: &str, messages: u64, bytes: usize, secs: f64) {
    let rate = messages as f64 / secs;
    println!(
        "{label:<44} {:>10.0} msg/s {:>8.1} MB/s  = {:>5.1}x the Python CDK's 255k msg/s (goal >= 10x)",
        rate,
        bytes as f64 / secs / 1e6,
        rate / PYTHON_CDK_MSGS_PER_SEC
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; the first numeric argument is the record count.
    let records: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let runs = 5;
    let path = input_file(records);
    let input = std::fs::read(&path).expect("read bench input");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "input: {} ({records} records, {:.1} MB), median of {runs} runs; load average: {}",
        path.display(),
        input.len() as f64 / 1e6,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );

    let mut messages = 0;
    let mut run_single = |label: &str, fast: bool| {
        let (mut wall, mut cpu) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let (t, c) = (Instant::now(), thread_cpu_secs());
            messages = if fast { decode_all(&input, decode_line).0 } else { decode_all(&input, decode_line_serde).0 };
            wall.push(t.elapsed().as_secs_f64());
            if let (Some(c0), Some(c1)) = (c, thread_cpu_secs()) {
                cpu.push(c1 - c0);
            }
        }
        report(&format!("{label}, wall clock"), messages, input.len(), median(wall));
        if !cpu.is_empty() {
            report(&format!("{label}, CPU time"), messages, input.len(), median(cpu));
        }
    };
    run_single("decode_line (fast path), 1 core", true);
    run_single("serde-only decoder, 1 core", false);

    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(2);
    let (mut parallel, mut critical_cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let chunks = split_lines_balanced(&input, threads);
        let results: Vec<(u64, Option<f64>)> = std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|c| {
                    s.spawn(move || {
                        let c0 = thread_cpu_secs();
                        let n = decode_all(c, decode_line).0;
                        (n, c0.zip(thread_cpu_secs()).map(|(a, b)| b - a))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("decode thread")).collect()
        });
        parallel.push(t.elapsed().as_secs_f64());
        assert_eq!(results.iter().map(|r| r.0).sum::<u64>(), messages);
        // The slowest thread's own CPU time: the pipeline's time when each thread has a core to itself.
        if let Some(max) =
            results.iter().map(|r| r.1).collect::<Option<Vec<f64>>>().and_then(|v| v.into_iter().reduce(f64::max))
        {
            critical_cpu.push(max);
        }
    }
    report(&format!("decode_line, {threads} cores (chunks), wall clock"), messages, input.len(), median(parallel));
    if !critical_cpu.is_empty() {
        report(
            &format!("decode_line, {threads} cores (chunks), CPU time"),
            messages,
            input.len(),
            median(critical_cpu),
        );
    }
    println!("(CPU time = the decoding threads' own CPU time: the figure for a machine whose cores are free;");
    println!(" wall clock includes waiting for cores other processes hold — compare both with the load average.)");
}
