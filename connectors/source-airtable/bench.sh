#!/usr/bin/env bash
# Benchmark (not a test): how much of Airtable's request budget a read uses. A loopback replay server answers
# with 50 ms latency; case 1 is one base with 10 tables x 2,000 records, case 2 two such bases read in parallel.
# Prints achieved vs allowed requests/s per base (allowed: 5/s per base, 50/s overall) and the server's 429 count
# (requests over the limit). The anchor is Airbyte's source-airtable: sequential requests and a flat 30 s wait on
# any 429; it cannot be pointed at a loopback server (its API URL is fixed to api.airtable.com), so it is not run.
# Usage: bash connectors/source-airtable/bench.sh   (uses $CARGO_TARGET_DIR if set; takes about 2 minutes)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q --manifest-path "$root/Cargo.toml" -p source-airtable --bin source-airtable --example airtable-replay
bin="$target/release/source-airtable"
replay="$target/release/examples/airtable-replay"
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT

free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }

run_case() {
  local bases=$1 port
  port=$(free_port)
  "$replay" --port "$port" --latency-ms 50 --bases "$bases" --tables 10 --records 2000 >"$work/replay.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do grep -q listening "$work/replay.log" && break; sleep 0.1; done
  grep -q listening "$work/replay.log" || { echo "replay server did not start:"; cat "$work/replay.log"; exit 1; }
  cat >"$work/config.json" <<JSON
{"credentials": {"auth_method": "api_key", "api_key": "patReplay0000000.replay-secret-token"},
 "api_url": "http://127.0.0.1:$port"}
JSON
  "$bin" discover --config "$work/config.json" >"$work/discover.jsonl"
  python3 - "$work/discover.jsonl" >"$work/catalog.json" <<'PY'
import json, sys
cat = next(json.loads(l)["catalog"] for l in open(sys.argv[1]) if '"CATALOG"' in l)
print(json.dumps({"streams": [{"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
                              for s in cat["streams"]]}))
PY
  sleep 1.2 # let the discover requests leave Airtable's one-second window
  local since
  since=$(python3 -c "import json,urllib.request;print(json.load(urllib.request.urlopen('http://127.0.0.1:$port/_replay/stats'))['now_ms'])")
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" read --config "$work/config.json" --catalog "$work/catalog.json" >"$work/read.jsonl"
  t1=$(date +%s.%N)
  python3 - "$port" "$since" "$t0" "$t1" "$bases" "$work/read.jsonl" <<'PY'
import json, sys, urllib.request
port, since, t0, t1, bases, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/_replay/stats?since_ms={since}"))
records = sum(1 for l in open(out) if l.startswith('{"type":"RECORD"'))
print(f"== {bases} base(s) x 10 tables x 2,000 records, 50 ms latency: {records} records in {t1 - t0:.1f} s "
      f"({records / (t1 - t0):.0f} records/s)")
total = 0.0
for base, s in sorted(stats["bases"].items()):
    span = (s["last_ms"] - s["first_ms"]) / 1000
    rate = (s["requests"] - 1) / span if span > 0 else 0.0
    total += rate
    print(f"   {base}: {s['requests']} requests, achieved {rate:.2f} req/s vs allowed 5.00 "
          f"({100 * rate / 5:.1f}% of the budget; most in any 950 ms window: {s['max_in_950ms']})")
allowed = min(5.0 * bases, 50.0)
print(f"   total: achieved {total:.2f} req/s vs allowed {allowed:.2f} ({100 * total / allowed:.1f}%); "
      f"429s caused by over-limit requests: {stats['rate_limit_violations']}")
PY
  kill $server; wait $server 2>/dev/null || true; server=""
}

run_case 1
run_case 2
