#!/usr/bin/env bash
# Start the loopback soda4LCA node that config.json points at (http://127.0.0.1:8765/resource). It replays
# the recorded OEKOBAU.DAT fixtures in ../shared/fixtures/oekobaudat/ and runs until Ctrl-C.
#
#   bash specs/source-oekobaudat/examples/replay_server.sh            # 4 recorded EPDs
#   bash specs/source-oekobaudat/examples/replay_server.sh --epds 50  # 50 EPDs synthesised from them
#
# Then, in another shell (from the repository root):
#   target/debug/source-oekobaudat check --config specs/source-oekobaudat/examples/config.json
#   target/debug/source-oekobaudat read --config specs/source-oekobaudat/examples/config.json \
#       --catalog specs/source-oekobaudat/examples/configured_catalog.json
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
cargo build --quiet -p source-oekobaudat --example replay_server
# exec, so the PID of this script is the server's (kill it to stop).
exec "${CARGO_TARGET_DIR:-$root/target}/debug/examples/replay_server" --port "${PORT:-8765}" "$@"
