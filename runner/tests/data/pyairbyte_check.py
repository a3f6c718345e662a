"""PyAirbyte as a real client of our binaries (run with .venv/pyairbyte/bin/python, AIRBYTE_OFFLINE_MODE=1).

Usage: pyairbyte_check.py JOB.json, where JOB holds:
  source: {name, executable, config}, expect: {stream: row count, ...} (exact),
  destination (optional): {name, executable, config}
Prints one JSON line with what it saw; exits non-zero with a message when an expectation fails."""
import json, sys, tempfile
from pathlib import Path

import airbyte as ab

job = json.load(open(sys.argv[1]))
src_def = job["source"]
src = ab.get_source(src_def["name"], config=src_def["config"], local_executable=src_def["executable"])
src.check()
streams = sorted(src.get_available_streams())
src.select_all_streams()
cache_dir = Path(tempfile.mkdtemp())
cache = ab.new_local_cache(cache_name="pyairbyte_check", cache_dir=str(cache_dir))
# PyAirbyte asks for incremental on every stream and always passes --state.
result = src.read(cache=cache)
counts = {name: len(list(dataset)) for name, dataset in result.streams.items()}
report = {"streams": streams, "counts": counts}
failures = []
for stream, n in job.get("expect", {}).items():
    if counts.get(stream) != n:
        failures.append(f"stream {stream}: expected {n} rows, PyAirbyte cached {counts.get(stream)}")
# A second read with the saved state must work too (incremental resume).
result2 = src.read(cache=cache)
report["second_read"] = {name: len(list(ds)) for name, ds in result2.streams.items()}
if "destination" in job:
    d = job["destination"]
    dst = ab.get_destination(d["name"], config=d["config"], local_executable=d["executable"])
    dst.check()
    write_result = dst.write(src, cache=False)
    # Read back what landed with an independent reader (pyarrow), per stream folder.
    import pyarrow.parquet as pq
    root = Path(d["config"]["destination_path"])
    landed = {}
    for f in root.rglob("*.parquet"):
        if "_airbyte_quality" in f.parts:
            continue
        stream = f.parent.name
        landed[stream] = landed.get(stream, 0) + pq.read_metadata(f).num_rows
    report["landed"] = landed
    for stream, n in job.get("expect", {}).items():
        if landed.get(stream) != n:
            failures.append(f"destination stream {stream}: expected {n} rows in Parquet, found {landed.get(stream)}")
print(json.dumps(report))
if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
