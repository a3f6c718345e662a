#!/usr/bin/env bash
# Memory benchmark: Airbyte RECORD messages -> destination-snowflake (internal stage, Parquet, COPY, INSERT)
# against fakesnow, the Snowflake emulator the integration tests use, in server mode.
#
#   bash destinations/destination-snowflake/bench.sh [RECORDS] [BATCH_SIZES_MB]   (defaults: 1000000, "16 256 1024")
#
# Runs our release binary on RECORDS and 2x RECORDS messages at the default batch_size_mb (64), then on
# RECORDS at each of BATCH_SIZES_MB. For each run it prints wall seconds, CPU seconds and peak RSS of our
# process (/usr/bin/time), the rows queried back from the table and the STATE messages acknowledged.
# The claim shown: peak RSS < 256 MB at the default settings and about the same for N and 2N.
#
# fakesnow (DuckDB behind a Python HTTP server) loads 1M records in seconds, so the default N is 1M (436 MB of
# messages) and the whole script runs in about a minute plus message generation. Wall time includes the
# emulator's PUT/COPY/INSERT work on the same 2 cores: it is not a Snowflake figure and not compared.
# Message files: $BENCH_DIR/messages_N.jsonl (generated with /work/shared/bench/gen_messages.py if missing).
# Needs the fakesnow venv (bash tests/python/setup.sh). Nothing here is asserted in tests.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED:-$(cd "$ROOT/.." && pwd)/shared}
WORK=${BENCH_DIR:-/tmp/destination-snowflake-bench}
RECORDS=${1:-1000000}
BATCH_SIZES=${2:-16 256 1024}
PY=$ROOT/.venv/fakesnow/bin/python
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$WORK"

cargo build --release -q -p destination-snowflake
BIN=$CARGO_TARGET_DIR/release/destination-snowflake

messages() { # messages N -> path (generated once)
  local f="$WORK/messages_$1.jsonl"
  [ -s "$f" ] || python3 "$SHARED/bench/gen_messages.py" "$1" > "$f"
  echo "$f"
}

# fakesnow in server mode on a free port, its databases on disk (so the emulator's memory stays small too).
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -rf "$WORK/fakesnow-db"
mkdir -p "$WORK/fakesnow-db"
"$ROOT/.venv/fakesnow/bin/fakesnow" -s -p "$PORT" -d "$WORK/fakesnow-db" > "$WORK/fakesnow.log" 2>&1 &
FAKESNOW=$!
trap 'kill "$FAKESNOW" 2>/dev/null || true' EXIT
for _ in $(seq 60); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 1
done

sql() { # sql DATABASE STATEMENT -> rows, one per line
  "$PY" - "$PORT" "$1" "$2" <<'EOF'
import sys, snowflake.connector
port, database, statement = sys.argv[1:]
conn = snowflake.connector.connect(host="127.0.0.1", port=int(port), protocol="http", account="fakesnow",
                                   user="bench", password="bench", database=database)
for row in conn.cursor().execute(statement).fetchall():
    print(*row)
EOF
}

RUN=0
run_ours() { # run_ours MESSAGES BATCH_MB -> prints one result line; each run loads into a fresh database
  RUN=$((RUN + 1))
  local db="BENCH_$RUN" records states_in states_out rows
  sql "$db" "CREATE DATABASE IF NOT EXISTS $db" > /dev/null
  cat > "$WORK/config.json" <<EOF
{"host": "http://127.0.0.1:$PORT", "role": "SYSADMIN", "warehouse": "WH", "database": "$db", "schema": "public",
 "username": "bench", "credentials": {"auth_type": "USERNAME_PASSWORD", "password": "bench"},
 "batch_size_mb": $2}
EOF
  /usr/bin/time -f "%e %M %U %S" -o "$WORK/time.txt" "$BIN" write --config "$WORK/config.json" \
    --catalog "$SHARED/bench/catalog.json" < "$1" > "$WORK/stdout.jsonl"
  records=$(grep -c '"type":"RECORD"' "$1" || true)
  states_in=$(grep -c '"type": *"STATE"' "$1" || true)
  states_out=$(grep -c '"type":"STATE"' "$WORK/stdout.jsonl" || true)
  rows=$(sql "$db" 'SELECT COUNT(*) FROM "PUBLIC"."EPD"')
  awk -v n="$records" -v b="$2" -v r="$rows" -v si="$states_in" -v so="$states_out" \
    '{printf "%8d records  batch_size_mb %4d  %7.2f s  %6.2f CPU-s  peak RSS %4.0f MB  %d rows  %d/%d states acked\n",
      n, b, $1, $3 + $4, $2 / 1024, r, so, si}' "$WORK/time.txt"
  [ "$rows" = "$records" ] || { echo "row count mismatch: $rows rows in the table, $records records sent"; exit 1; }
  [ "$states_in" = "$states_out" ] || { echo "acks: $states_out of $states_in states"; exit 1; }
}

MSGS=$(messages "$RECORDS")
MSGS2=$(messages $((RECORDS * 2)))
echo "input: $MSGS ($(du -Lm "$MSGS" | cut -f1) MB) and 2x, fakesnow $("$PY" -c 'import importlib.metadata as m; print(m.version("fakesnow"))'), $(nproc) cores"
echo "default batch_size_mb (64): N and 2N records"
run_ours "$MSGS" 64
run_ours "$MSGS2" 64
[ -z "${BATCH_SIZES// /}" ] || echo "batch_size_mb varied, N records"
for mb in $BATCH_SIZES; do
  run_ours "$MSGS" "$mb"
done
