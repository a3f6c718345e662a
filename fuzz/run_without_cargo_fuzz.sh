#!/usr/bin/env bash
# Build and run the fuzz targets with libFuzzer when cargo-fuzz is not installed (same coverage flags
# as `cargo fuzz build`, without AddressSanitizer). Needs a nightly toolchain.
# Usage: bash fuzz/run_without_cargo_fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
target_dir="${CARGO_TARGET_DIR:-target}/fuzz-libfuzzer"
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
  CARGO_TARGET_DIR="$target_dir" cargo +nightly build --release --bins --target x86_64-unknown-linux-gnu
bin="$target_dir/x86_64-unknown-linux-gnu/release"
malformed=../protocol/tests/data/malformed
work="$(mktemp -d)"
mkdir -p artifacts
for t in decode_line state_catalog config_schema; do
  case "$t" in
    decode_line) seeds="$malformed/lines" ;;
    state_catalog) seeds="$malformed/state $malformed/catalog" ;;
    config_schema) seeds="$malformed/config" ;;
  esac
  mkdir -p "$work/$t"
  # shellcheck disable=SC2086
  "$bin/$t" "$work/$t" "corpus/$t" $seeds -max_total_time="$secs" -max_len=8192 -rss_limit_mb=4096 \
    -artifact_prefix="artifacts/$t-"
done
echo "no crash; new corpus entries in $work (copy crashers from artifacts/ into corpus/<target>/)"
