#!/usr/bin/env bash
# Benchmark: source-xlsx vs python-calamine + json.dumps vs Airbyte's source-file on the same workbook
# (../shared/bench/gen_xlsx.py: 3 sheets x 100,000 rows x 14 columns), plus the memory check on a workbook
# with 3x the rows. Prints wall time (median), peak RSS and the ratios.
#
# Usage: connectors/source-xlsx/bench.sh [--with-source-file] [--runs N]
#   --with-source-file  also run Airbyte's source-file 0.6.0 (about 70 s; needs `source-file` on PATH or in
#                       .venv/sourcefile, e.g. `python3 -m venv .venv/sourcefile && .venv/sourcefile/bin/pip
#                       install airbyte-source-file`); without it the ratio uses the figure recorded in
#                       ../shared/bench/README.md (70 s, 342 MB), marked "recorded".
# Env: BENCH_DIR (default /tmp/source-xlsx-bench) keeps the generated workbooks between runs;
#      CARGO_TARGET_DIR is honoured. Uses hyperfine when installed, else /usr/bin/time.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
shared="$root/../shared/bench"
runs=5
with_source_file=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --with-source-file) with_source_file=1 ;;
    --runs) runs="$2"; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
work="${BENCH_DIR:-/tmp/source-xlsx-bench}"
mkdir -p "$work"

bash "$root/tests/python/setup.sh"
gen_py="$root/.venv/tools/bin/python"      # openpyxl
anchor_py="$root/.venv/xlsx/bin/python"    # python-calamine

echo "== building source-xlsx (release)" >&2
(cd "$root" && cargo build --release --quiet -p source-xlsx)
bin="${CARGO_TARGET_DIR:-$root/target}/release/source-xlsx"

book="$work/book_100k.xlsx"
big="$work/book_300k.xlsx"
[[ -s "$book" ]] || { echo "== generating $book" >&2; "$gen_py" "$shared/gen_xlsx.py" "$book" --rows 100000; }
[[ -s "$big" ]] || { echo "== generating $big (3x rows)" >&2; "$gen_py" "$shared/gen_xlsx.py" "$big" --rows 300000; }

# Config and full-refresh catalog for one workbook.
prepare() { # BOOK NAME
  printf '{"files": ["%s"]}' "$1" > "$work/$2.config.json"
  "$bin" discover --config "$work/$2.config.json" | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "CATALOG":
        json.dump({"streams": [{"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
                               for s in m["catalog"]["streams"]]}, sys.stdout)
' > "$work/$2.catalog.json"
}
prepare "$book" small
prepare "$big" big

# Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one command, stdout discarded.
measure() {
  /usr/bin/time -f "%e %M %U %S" -o "$work/time.txt" "$@" > /dev/null
  awk '{printf "%.2f %.1f %.2f\n", $1, $2/1024, $3 + $4}' "$work/time.txt"
}
# Median wall seconds over $runs runs.
median_seconds() {
  if command -v hyperfine > /dev/null; then
    hyperfine --runs "$runs" --warmup 1 --style none --export-json "$work/hf.json" "$*" > /dev/null 2>&1
    python3 -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["results"][0]["median"])' "$work/hf.json"
  else
    for _ in $(seq "$runs"); do measure "$@" | cut -d' ' -f1; done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
  fi
}

ours_read=("$bin" read --config "$work/small.config.json" --catalog "$work/small.catalog.json")
records=$("${ours_read[@]}" | grep -c '"type":"RECORD"')
echo "== source-xlsx: $records records from $(du -h "$book" | cut -f1) workbook" >&2
ours_s=$(median_seconds "${ours_read[@]}")
ours=$(measure "${ours_read[@]}")
ours_rss=$(echo "$ours" | cut -d' ' -f2); ours_cpu=$(echo "$ours" | cut -d' ' -f3)
big_rss=$(measure "$bin" read --config "$work/big.config.json" --catalog "$work/big.catalog.json" | cut -d' ' -f2)

echo "== python-calamine + json.dumps" >&2
cal=$(measure "$anchor_py" "$root/connectors/source-xlsx/bench/calamine_anchor.py" "$book")
cal_s=$(echo "$cal" | cut -d' ' -f1); cal_rss=$(echo "$cal" | cut -d' ' -f2); cal_cpu=$(echo "$cal" | cut -d' ' -f3)

sf_s=70; sf_rss=342; sf_note="recorded"
if [[ $with_source_file == 1 ]]; then
  PATH="$root/.venv/sourcefile/bin:$PATH"
  if command -v source-file > /dev/null; then
    echo "== Airbyte source-file (slow)" >&2
    line=$(PATH="$PATH" bash "$shared/anchor_source_file.sh" "$book")
    sf_s=$(echo "$line" | awk '{print $2}'); sf_rss=$(echo "$line" | awk '{printf "%.1f", $4/1024}'); sf_note="measured"
  else
    echo "source-file not found; using the recorded figure" >&2
  fi
fi

python3 - "$ours_s" "$ours_rss" "$big_rss" "$cal_s" "$cal_rss" "$sf_s" "$sf_rss" "$sf_note" "$records" "$ours_cpu" "$cal_cpu" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import sys
ours_s, ours_rss, big_rss, cal_s, cal_rss, sf_s, sf_rss = map(float, sys.argv[1:8])
note, records = sys.argv[8], int(sys.argv[9])
ours_cpu, cal_cpu, cores, load = float(sys.argv[10]), float(sys.argv[11]), int(sys.argv[12]), float(sys.argv[13])
print(f"workbook: 3 sheets x 100,000 rows ({records} records)")
print(f"machine: {cores} cores, load average {load} (other work slows the multi-threaded run most; compare CPU too)")
print(f"{'':32}{'seconds':>10}{'peak RSS MB':>14}{'CPU s':>8}")
print(f"{'source-xlsx (ours)':32}{ours_s:>10.2f}{ours_rss:>14.1f}{ours_cpu:>8.2f}")
print(f"{'python-calamine + json.dumps':32}{cal_s:>10.2f}{cal_rss:>14.1f}{cal_cpu:>8.2f}")
print(f"{'Airbyte source-file (' + note + ')':32}{sf_s:>10.2f}{sf_rss:>14.1f}")
print(f"speed-up vs source-file:      {sf_s / ours_s:6.1f}x  (goal >= 40x)")
print(f"speed-up vs python-calamine:  {cal_s / ours_s:6.1f}x  (goal >= 4x); CPU time {cal_cpu / ours_cpu:.1f}x less")
print(f"peak RSS: {ours_rss:.1f} MB (goal < 100 MB); with 3x rows {big_rss:.1f} MB = {big_rss / ours_rss:.2f}x (goal < 1.2x)")
PY
