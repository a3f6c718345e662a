#!/usr/bin/env bash
# Benchmark: EPD detail fetching against a loopback soda4LCA node with 100 ms latency per request and 1,000 EPDs
# (synthesised from the four recorded fixtures with new UUIDs). Target: the achieved detail request rate reaches
# at least 90% of the configured requests_per_second. Prints achieved vs configured rate and total time, plus,
# for comparison, a sequential client (one request after another, as the existing Python scripts do).
#
#   bash connectors/source-oekobaudat/bench.sh            # RPS=20 CONCURRENCY=8 EPDS=1000 LATENCY_MS=100
#   RPS=50 CONCURRENCY=10 bash connectors/source-oekobaudat/bench.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
RPS="${RPS:-20}"
CONCURRENCY="${CONCURRENCY:-8}"
EPDS="${EPDS:-1000}"
LATENCY_MS="${LATENCY_MS:-100}"

cd "$root"
cargo build --release --quiet -p source-oekobaudat --bin source-oekobaudat --example replay_server
tmp="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$target/release/examples/replay_server" --port "$port" --latency-ms "$LATENCY_MS" --epds "$EPDS" >"$tmp/server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 1 100); do grep -q listening "$tmp/server.log" && break; sleep 0.1; done
base="http://127.0.0.1:$port/resource"

cat >"$tmp/config.json" <<EOF
{"base_url": "$base", "data_stock": "OBD_2024_I", "page_size": 500,
 "requests_per_second": $RPS, "detail_concurrency": $CONCURRENCY}
EOF
"$target/release/source-oekobaudat" discover --config "$tmp/config.json" | python3 -c '
import json, sys
cat = json.loads(sys.stdin.readline())["catalog"]
s = next(s for s in cat["streams"] if s["name"] == "epd_indicators")
print(json.dumps({"streams": [{"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}))
' >"$tmp/catalog.json"

echo "source-oekobaudat: $EPDS EPDs, ${LATENCY_MS} ms latency, requests_per_second=$RPS, detail_concurrency=$CONCURRENCY"
start=$(date +%s.%N)
"$target/release/source-oekobaudat" read --config "$tmp/config.json" --catalog "$tmp/catalog.json" >"$tmp/out.jsonl"
end=$(date +%s.%N)
curl -s "$base/__stats" >"$tmp/stats.json"

# A sequential client on the same node: 100 detail requests one after another.
python3 - "$base" >"$tmp/sequential.txt" <<'EOF'
import json, sys, time, urllib.request
base = sys.argv[1]
page = json.load(urllib.request.urlopen(f"{base}/datastocks/OBD_2024_I/processes?format=json&startIndex=0&pageSize=100"))
t = time.monotonic()
for item in page["data"]:
    urllib.request.urlopen(f"{base}/datastocks/OBD_2024_I/processes/{item['uuid']}?format=json&view=extended&version={item['version']}").read()
print(len(page["data"]) / (time.monotonic() - t))
EOF

python3 - "$tmp" "$RPS" "$start" "$end" "$EPDS" <<'EOF'
import json, sys
tmp, rps, start, end, epds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
stats = json.load(open(f"{tmp}/stats.json"))
records, errors = 0, []
for line in open(f"{tmp}/out.jsonl"):
    m = json.loads(line)
    if m["type"] == "RECORD":
        records += 1
    elif m["type"] == "TRACE" and m["trace"]["type"] == "ERROR":
        errors.append(m["trace"]["error"]["message"])
if errors:
    sys.exit(f"read failed: {errors}")
details, span = stats["detail_ok"], stats["detail_span_seconds"]
# n requests spaced 1/rps apart span (n-1)/rps seconds.
achieved = (details - 1) / span if span > 0 else float("nan")
sequential = float(open(f"{tmp}/sequential.txt").read())
print(f"detail requests:     {details} (of {epds} EPDs), {records} epd_indicators records")
print(f"achieved rate:       {achieved:.2f} req/s   configured: {rps:.2f} req/s   -> {100 * achieved / rps:.1f}% of configured")
print(f"total read time:     {end - start:.1f} s (all requests: {stats['requests']})")
print(f"sequential client:   {sequential:.2f} req/s -> ours / sequential = {achieved / sequential:.1f}x")
print("target (>= 90% of configured rate):", "met" if achieved >= 0.9 * rps else "NOT met")
EOF
