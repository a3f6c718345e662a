#!/usr/bin/env python3
"""A tiny protocol source for the runner's tests. Behaviour from the config:
records (per stream, default 3), fail_after (emit a TRACE ERROR and exit 1 after N records),
rotate_token (emit a CONTROL message with a new token). Incremental: state {"cursor": n} skips rows <= n."""
import json, sys, time

def out(m):
    sys.stdout.write(json.dumps(m) + "\n")

args = sys.argv[1:]
cmd = args[0]
opt = {args[i]: args[i + 1] for i in range(1, len(args) - 1, 2)}
config = json.load(open(opt["--config"])) if "--config" in opt else {}
streams = ["alpha", "beta"]
now = lambda: int(time.time() * 1000)
if cmd == "spec":
    out({"type": "SPEC", "spec": {"connectionSpecification": {"type": "object"}}})
elif cmd == "check":
    out({"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED"}})
elif cmd == "discover":
    out({"type": "LOG", "log": {"level": "INFO", "message": "discovering"}})
    out({"type": "CATALOG", "catalog": {"streams": [
        {"name": s, "json_schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
         "supported_sync_modes": ["full_refresh", "incremental"], "source_defined_cursor": True,
         "default_cursor_field": ["id"], "source_defined_primary_key": [["id"]]} for s in streams]}})
elif cmd == "read":
    catalog = json.load(open(opt["--catalog"]))
    state = json.load(open(opt["--state"])) if "--state" in opt else []
    cursors = {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"]["cursor"] for s in state}
    n = config.get("records", 3)
    if config.get("rotate_token"):
        out({"type": "CONTROL", "control": {"type": "CONNECTOR_CONFIG", "emitted_at": now(),
             "connectorConfig": {"config": dict(config, token=config["rotate_token"])}}})
    emitted = 0
    for cs in catalog["streams"]:
        name = cs["stream"]["name"]
        out({"type": "TRACE", "trace": {"type": "ESTIMATE", "emitted_at": now(), "estimate": {"name": name, "type": "STREAM", "row_estimate": n}}})
        start = cursors.get(name, 0) if cs["sync_mode"] == "incremental" else 0
        count = 0
        for i in range(start + 1, n + 1):
            if "fail_after" in config and emitted >= config["fail_after"]:
                out({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now(), "error": {"message": "source broke on purpose", "failure_type": "system_error"}}})
                sys.stdout.flush()
                sys.exit(1)
            out({"type": "RECORD", "record": {"stream": name, "data": {"id": i}, "emitted_at": now()}})
            emitted += 1
            count += 1
            if i % 2 == 0:
                out({"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": {"cursor": i}}, "sourceStats": {"recordCount": float(count)}}})
                count = 0
        out({"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": {"cursor": max(n, start)}}, "sourceStats": {"recordCount": float(count)}}})
