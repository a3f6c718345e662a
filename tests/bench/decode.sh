#!/usr/bin/env bash
# Decode micro-benchmark of the destination line codec (protocol/benches/decode.rs) on
# shared/bench/gen_messages.py output, beside the Airbyte Python CDK's 255k messages/s on this machine.
# Usage: bash tests/bench/decode.sh [RECORDS]   (default 1000000; input cached in $BENCH_DATA_DIR or /tmp)
set -euo pipefail
cd "$(dirname "$0")/../.."
records="${1:-1000000}"
cargo bench -p airbyte-protocol --bench decode -- "$records"
