#!/usr/bin/env bash
# The project's test command (README): sets up everything it needs and runs every suite.
#   - Python tools (PyAirbyte, source-faker, moto S3 server, fakesnow, pyarrow/duckdb) into .venv/ (ignored)
#   - rustfmt and clippy (-D warnings), as pre-commit and GitHub Actions do
#   - every binary, then `cargo test --workspace` (tests start their own loopback servers)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A cold run writes about 2.5 GB of build output and 2 GB of venvs. A full disk shows up much later as a
# linker "Bus error" (signal 7), so say how much room there is up front.
for dir in . "${CARGO_TARGET_DIR:-}"; do
  [[ -n "$dir" ]] || continue
  mkdir -p "$dir"
  free_kb=$(df -Pk "$dir" | awk 'NR == 2 {print $4}')
  echo "== disk: $((free_kb / 1024 / 1024)) GB free under $dir" >&2
  if ((free_kb < 6 * 1024 * 1024)); then
    echo "warning: under 6 GB free under $dir; the build may fail with a linker Bus error (disk full)" >&2
  fi
done
echo "== python tools" >&2
bash tests/python/setup.sh
echo "== rustfmt" >&2
cargo fmt --all -- --check
echo "== clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== build" >&2
cargo build --workspace --bins --locked
echo "== tests" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line that counts every suite.
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
echo "total: ${passed} passed, ${failed} failed"
exit "$status"
