#!/usr/bin/env bash
# Benchmark: Airbyte RECORD messages -> local zstd Parquet, ours vs DuckDB on the same file and machine.
#
#   bash destinations/destination-parquet/bench.sh [RECORDS] [RUNS]     (defaults: 1000000, 3)
#
# Prints each run, the medians, the ratio (DuckDB seconds / ours) and peak RSS, checks the row count of our
# output with DuckDB, then runs 2x the records once to show memory does not grow with input size, and the
# same input three times through a pipe (as the platform feeds a destination).
# Needs the tools venv (bash tests/python/setup.sh) for DuckDB. Timing is not asserted anywhere.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED:-$(cd "$ROOT/.." && pwd)/shared}
WORK=${BENCH_DIR:-/tmp/destination-parquet-bench}
RECORDS=${1:-1000000}
RUNS=${2:-3}
PY=$ROOT/.venv/tools/bin/python
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$WORK"

cargo build --release -q -p destination-parquet
BIN=$CARGO_TARGET_DIR/release/destination-parquet

messages() { # messages N -> path (generated once)
  local f="$WORK/messages_$1.jsonl"
  [ -s "$f" ] || python3 "$SHARED/bench/gen_messages.py" "$1" > "$f"
  echo "$f"
}

cat > "$WORK/config.json" <<EOF
{"destination_path": "$WORK/ours", "format": {"format_type": "Parquet", "compression_codec": "ZSTD"}}
EOF

run_ours() { # run_ours MESSAGES -> "seconds rss_mb cpu_seconds"
  rm -rf "$WORK/ours"
  /usr/bin/time -f "%e %M %U %S" -o "$WORK/time.txt" "$BIN" write --config "$WORK/config.json" \
    --catalog "$SHARED/bench/catalog.json" < "$1" > "$WORK/ours_stdout.jsonl"
  awk '{printf "%.2f %.0f %.2f\n", $1, $2/1024, $3 + $4}' "$WORK/time.txt"
}

run_duckdb() { # run_duckdb MESSAGES -> "seconds rss_mb cpu_seconds" (seconds as DuckDB's script reports them;
  # CPU of the whole Python process, so it includes interpreter start and `import duckdb`)
  rm -f "$WORK/duckdb.parquet"
  /usr/bin/time -f "%e %M %U %S" -o "$WORK/time.txt" "$PY" "$SHARED/bench/anchor_duckdb.py" "$1" \
    "$WORK/duckdb.parquet" > "$WORK/duckdb_out.txt"
  local secs
  secs=$(awk '/duckdb_seconds/ {print $2}' "$WORK/duckdb_out.txt")
  awk -v s="$secs" '{printf "%.2f %.0f %.2f\n", s, $2/1024, $3 + $4}' "$WORK/time.txt"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

MSGS=$(messages "$RECORDS")
echo "input: $MSGS ($(du -Lm "$MSGS" | cut -f1) MB, $RECORDS records), $RUNS runs each, $(nproc) cores"
: > "$WORK/ours.txt"
: > "$WORK/duckdb.txt"
for i in $(seq "$RUNS"); do
  o=$(run_ours "$MSGS"); echo "$o" >> "$WORK/ours.txt"
  echo "$o" | awk -v i="$i" '{print "run " i "  ours:   " $1 " s  " $2 " MB  " $3 " CPU-s"}'
  d=$(run_duckdb "$MSGS"); echo "$d" >> "$WORK/duckdb.txt"
  echo "$d" | awk -v i="$i" '{print "run " i "  duckdb: " $1 " s  " $2 " MB  " $3 " CPU-s"}'

done
OURS_S=$(cut -d' ' -f1 "$WORK/ours.txt" | median)
OURS_MB=$(cut -d' ' -f2 "$WORK/ours.txt" | sort -n | tail -1)
DUCK_S=$(cut -d' ' -f1 "$WORK/duckdb.txt" | median)
DUCK_MB=$(cut -d' ' -f2 "$WORK/duckdb.txt" | sort -n | tail -1)
OURS_CPU=$(cut -d' ' -f3 "$WORK/ours.txt" | median)
DUCK_CPU=$(cut -d' ' -f3 "$WORK/duckdb.txt" | median)

ROWS=$("$PY" -c "import duckdb,sys; print(duckdb.sql(\"select count(*) from read_parquet('$WORK/ours/**/*.parquet')\").fetchall()[0][0])")
STATES_IN=$(grep -c '"type": *"STATE"' "$MSGS" || true)
STATES_OUT=$(grep -c '"type":"STATE"' "$WORK/ours_stdout.jsonl" || true)
[ "$ROWS" = "$RECORDS" ] || { echo "row count mismatch: $ROWS in our Parquet, $RECORDS records sent"; exit 1; }
[ "$STATES_IN" = "$STATES_OUT" ] || { echo "acks: $STATES_OUT of $STATES_IN states"; exit 1; }

echo "ours:   median ${OURS_S} s, ${OURS_CPU} CPU-s, peak RSS ${OURS_MB} MB, $ROWS rows, $STATES_OUT/$STATES_IN states acked"
echo "duckdb: median ${DUCK_S} s, ${DUCK_CPU} CPU-s (whole Python process), peak RSS ${DUCK_MB} MB"
awk -v d="$DUCK_S" -v o="$OURS_S" 'BEGIN {printf "ratio (duckdb / ours): %.2fx  (goal >= 3x)\n", d / o}'

MSGS2=$(messages $((RECORDS * 2)))
o2=$(run_ours "$MSGS2")
echo "$o2" | awk -v n="$RECORDS" -v m="$OURS_MB" \
  '{print "memory flatness: " n " records " m " MB peak, " 2 * n " records " $2 " MB peak (" $1 " s)"}'

# The platform feeds a destination through a pipe, not a file: the same input through `cat |` (3 runs; the
# time includes cat's copy into the pipe).
: > "$WORK/pipe.txt"
for _ in 1 2 3; do
  rm -rf "$WORK/ours"
  /usr/bin/time -f "%e" -o "$WORK/time.txt" sh -c "cat '$MSGS' | '$BIN' write --config '$WORK/config.json' \
    --catalog '$SHARED/bench/catalog.json' > /dev/null"
  cat "$WORK/time.txt" >> "$WORK/pipe.txt"
done
PIPE_S=$(median < "$WORK/pipe.txt")
awk -v d="$DUCK_S" -v p="$PIPE_S" \
  'BEGIN {printf "through a pipe: median %.2f s of 3 runs, ratio (duckdb / ours) %.2fx\n", p, d / p}'

# Optional, for comparing two builds on this noisy machine: instructions per record under valgrind, which do
# not drift with the machine's speed (INSTRUCTIONS=1; needs valgrind; 100k records, about 10 s).
if [ "${INSTRUCTIONS:-0}" = 1 ] && command -v valgrind > /dev/null; then
  SMALL="$WORK/messages_100000.jsonl"
  [ -s "$SMALL" ] || python3 "$SHARED/bench/gen_messages.py" 100000 > "$SMALL"
  rm -rf "$WORK/ours"
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$BIN" write --config "$WORK/config.json" \
    --catalog "$SHARED/bench/catalog.json" < "$SMALL" 2> "$WORK/valgrind.txt" > /dev/null
  awk '/I *refs/ {gsub(",", "", $NF); printf "instructions per record: %.0f (100k records, valgrind)\n", $NF / 100000}' \
    "$WORK/valgrind.txt"
fi
