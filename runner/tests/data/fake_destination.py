#!/usr/bin/env python3
"""A tiny protocol destination for the runner's tests: appends records to <config.path>/records.jsonl,
acks every state after writing, records the stream statuses it saw in statuses.json.
fail_on_record: exit 1 with a TRACE ERROR at that record number (1-based)."""
import json, os, sys

args = sys.argv[1:]
opt = {args[i]: args[i + 1] for i in range(1, len(args) - 1, 2)}
if args[0] == "spec":
    print(json.dumps({"type": "SPEC", "spec": {"connectionSpecification": {"type": "object"}}}))
    sys.exit(0)
if args[0] == "check":
    print(json.dumps({"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED"}}))
    sys.exit(0)
config = json.load(open(opt["--config"]))
os.makedirs(config["path"], exist_ok=True)
records = open(os.path.join(config["path"], "records.jsonl"), "a")
statuses, seen = [], 0
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "RECORD":
        seen += 1
        if config.get("fail_on_record") == seen:
            print(json.dumps({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 0, "error": {"message": "disk full on purpose", "failure_type": "system_error"}}}), flush=True)
            sys.exit(1)
        records.write(json.dumps(m["record"]) + "\n")
    elif m["type"] == "STATE":
        records.flush()
        m["state"]["destinationStats"] = {"recordCount": 1.0}
        print(json.dumps(m), flush=True)
    elif m["type"] == "TRACE" and m["trace"]["type"] == "STREAM_STATUS":
        statuses.append([m["trace"]["stream_status"]["stream_descriptor"]["name"], m["trace"]["stream_status"]["status"]])
json.dump(statuses, open(os.path.join(config["path"], "statuses.json"), "w"))
