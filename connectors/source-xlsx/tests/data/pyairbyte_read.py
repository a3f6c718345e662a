"""Read a workbook through PyAirbyte into a local DuckDB cache and print row counts per stream as JSON.

Usage: pyairbyte_read.py CONFIG_JSON EXECUTABLE CACHE_DIR
Runs two reads: the second (incremental, with PyAirbyte's saved state) must not duplicate rows.
"""
import json
import sys

import airbyte as ab

config, executable, cache_dir = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
source = ab.get_source("source-xlsx", config=config, local_executable=executable)
source.check()
source.select_all_streams()
cache = ab.new_local_cache(cache_name="xlsx_test", cache_dir=cache_dir)
first = source.read(cache=cache)
counts = {name: len(first[name].to_pandas()) for name in first.streams}
second = source.read(cache=cache)
again = {name: len(cache[name].to_pandas()) for name in first.streams}
sample = first[sorted(first.streams)[0]].to_pandas().iloc[0].to_dict()
print(json.dumps({"first": counts, "second": again, "processed_second": second.processed_records,
                  "columns": sorted(sample.keys())}, default=str))
