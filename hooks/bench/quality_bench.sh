#!/usr/bin/env bash
# The post-sync benchmark, run once by hand (not in CI):
#  1. the labelled benchmark: precision/recall per anomaly kind (quality_bench example),
#  2. Evidently's DataDriftPreset on the same cases: agreement and speed,
#  3. profiler overhead vs Parquet writing on 1M rows (profiler_overhead example).
# Usage: bash hooks/bench/quality_bench.sh [TRIALS] [ROWS_PER_SYNC]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
trials="${1:-10}"
rows="${2:-3000}"
target="${CARGO_TARGET_DIR:-$root/target}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cd "$root"
bash tests/python/setup.sh --bench
cargo build --release -q -p post-sync --example quality_bench --example profiler_overhead
echo "== labelled benchmark ($trials trials, $rows rows per sync) =="
"$target/release/examples/quality_bench" "$out" "$trials" "$rows"
echo
echo "== Evidently on the same cases =="
"$root/.venv/evidently/bin/python" "$root/hooks/bench/evidently_drift.py" "$out"
echo
echo "== profiler overhead, 1M rows =="
"$target/release/examples/profiler_overhead" 1000000
