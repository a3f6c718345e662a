#!/usr/bin/env bash
# Run the example config and catalog offline: start the loopback Airtable replay server on 127.0.0.1:8765
# (connectors/source-airtable/examples/airtable-replay.rs: the recorded fixtures plus generated tables), then
# spec, check, discover and read (twice: the second read continues from the first read's state).
# Usage: bash specs/source-airtable/examples/run-offline.sh   (uses $CARGO_TARGET_DIR if set)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
cargo build -q --manifest-path "$root/Cargo.toml" -p source-airtable --bin source-airtable --example airtable-replay
bin="$target/debug/source-airtable"
work=$(mktemp -d)
# config.json points at port 8765; if that port is taken, use a free one in a copy of the config.
port=8765
config="$here/config.json"
if ! python3 -c "import socket; socket.socket().bind(('127.0.0.1', 8765))" 2>/dev/null; then
  port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  sed "s#127.0.0.1:8765#127.0.0.1:$port#" "$here/config.json" >"$work/config.json"
  config="$work/config.json"
fi
"$target/debug/examples/airtable-replay" --port "$port" >"$work/replay.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q listening "$work/replay.log" && break; sleep 0.1; done
grep -q listening "$work/replay.log" || { echo "replay server did not start:"; cat "$work/replay.log"; exit 1; }

"$bin" spec | head -c 200; echo
"$bin" check --config "$config"
"$bin" discover --config "$config" | head -c 300; echo
sleep 1 # Airtable counts requests per second across processes
"$bin" read --config "$config" --catalog "$here/configured_catalog.json" >"$work/read1.jsonl"
echo "first read: $(grep -c '"type":"RECORD"' "$work/read1.jsonl") records"
# The last state of each stream, as the platform would pass it to the next sync.
python3 - "$work/read1.jsonl" >"$work/state.json" <<'PY'
import json, sys
last = {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m["type"] == "STATE":
        last[m["state"]["stream"]["stream_descriptor"]["name"]] = m["state"]
print(json.dumps(list(last.values())))
PY
sleep 1
"$bin" read --config "$config" --catalog "$here/configured_catalog.json" --state "$work/state.json" >"$work/read2.jsonl"
echo "second read (incremental streams continue from the state): $(grep -c '"type":"RECORD"' "$work/read2.jsonl") records"
