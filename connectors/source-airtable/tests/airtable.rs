//! source-airtable against a loopback Airtable (tests/common/replay.rs): recorded fixtures, every field type,
//! injected faults, rate limits, OAuth rotation, errors, incremental syncs.

mod common;

use common::replay::{self, BaseData, FaultKind, Options, ReplayServer};
use common::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

const RECORDED_STREAM: &str = "replay_base/table_read/tblTableRead00001";
const ALL_TYPES_STREAM: &str = "replay_base/all_types/tblAllTypes000001";
const SIMPLE_STREAM: &str = "second_base/simple_table/tblSimple00000001";
const ALL_TYPES_ROWS: usize = 250;

fn base(id: &str, name: &str, tables: Vec<replay::TableData>) -> BaseData {
    BaseData { id: id.into(), name: name.into(), permission_level: Some("create".into()), deny_records: false, tables }
}

fn dataset() -> Vec<BaseData> {
    let mut hidden = base("appNoPermission01", "Hidden", vec![replay::simple_table("tblHidden00000001", "Hidden", 3)]);
    hidden.permission_level = None;
    vec![
        base(
            replay::RECORDED_BASE,
            "Replay Base",
            vec![replay::recorded_table(), replay::all_types_table("tblAllTypes000001", "All Types", ALL_TYPES_ROWS)],
        ),
        base("appSecondBase0001", "Second Base", vec![replay::simple_table("tblSimple00000001", "Simple Table", 120)]),
        hidden,
    ]
}

fn recorded_ids() -> Vec<String> {
    replay::recorded_table().all_records().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

fn ids(records: &[Value]) -> Vec<String> {
    records.iter().map(|r| r["_airtable_id"].as_str().unwrap().to_string()).collect()
}

fn stream<'a>(catalog: &'a Value, name: &str) -> &'a Value {
    catalog["streams"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no {name}"))
}

fn statuses(run: &Run, name: &str) -> Vec<String> {
    run.of_type("TRACE")
        .into_iter()
        .filter(|m| {
            m["trace"]["type"] == "STREAM_STATUS" && m["trace"]["stream_status"]["stream_descriptor"]["name"] == name
        })
        .map(|m| m["trace"]["stream_status"]["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_matches_golden_file_and_airbyte_shape() {
    let run = run(&["spec"], &[]).await;
    assert_eq!(run.code, 0);
    let spec = run.of_type("SPEC")[0]["spec"].clone();
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../specs/source-airtable/spec.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(spec, golden, "spec output differs from specs/source-airtable/spec.json");
    let variants = spec.pointer("/connectionSpecification/properties/credentials/oneOf").unwrap().as_array().unwrap();
    let consts: Vec<&str> =
        variants.iter().map(|v| v.pointer("/properties/auth_method/const").unwrap().as_str().unwrap()).collect();
    assert_eq!(consts, ["oauth2.0", "api_key"]);
    for secret in ["client_id", "client_secret", "access_token", "refresh_token"] {
        assert_eq!(variants[0]["properties"][secret]["airbyte_secret"], true, "{secret}");
    }
    assert_eq!(variants[1]["properties"]["api_key"]["airbyte_secret"], true);
}

#[test]
fn airbyte_type_mapping_pair_is_honoured() {
    let dir = replay::fixtures_dir().join("airbyte_source_airtable");
    let table: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sample_table_with_formulas.json")).unwrap()).unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected_schema_for_sample_table.json")).unwrap())
            .unwrap();
    let mut ours = source_airtable::schema::json_schema(&source_airtable::schema::table_columns(&table));
    // Added since the pair was written (Airbyte 4.1+), our created time says it is a timestamp, and `$schema` is
    // the canonical draft-7 URI (validators do not resolve Airbyte's https spelling).
    assert_eq!(ours["$schema"], "http://json-schema.org/draft-07/schema#");
    ours["$schema"] = expected["$schema"].clone();
    let props = ours["properties"].as_object_mut().unwrap();
    props.remove("_airtable_table_name");
    assert_eq!(props["_airtable_created_time"]["format"], "date-time");
    props.insert("_airtable_created_time".into(), json!({"type": ["null", "string"]}));
    assert_eq!(ours, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_follows_base_pages_and_names_streams_like_airbyte() {
    let server = ReplayServer::start(dataset(), Options { bases_page_size: 1, ..Default::default() }).await;
    let catalog = discover(&pat_config(&server.url)).await;
    let names: Vec<&str> = catalog["streams"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    // The base without a permission level is left out, as Airbyte does.
    assert_eq!(names, [RECORDED_STREAM, ALL_TYPES_STREAM, SIMPLE_STREAM]);
    let base_pages = server.requests().iter().filter(|r| r.path == "/v0/meta/bases").count();
    assert_eq!(base_pages, 3, "one request per page of bases (page size 1)");

    for s in catalog["streams"].as_array().unwrap() {
        jsonschema::draft7::new(&s["json_schema"]).expect("valid draft 7 schema");
        assert_eq!(s["source_defined_primary_key"], json!([["_airtable_id"]]));
    }
    let recorded = stream(&catalog, RECORDED_STREAM);
    assert_eq!(recorded["supported_sync_modes"], json!(["full_refresh"]));
    let all = stream(&catalog, ALL_TYPES_STREAM);
    assert_eq!(all["supported_sync_modes"], json!(["full_refresh", "incremental"]));
    assert_eq!(all["default_cursor_field"], json!(["last_modified"]));
    let p = &all["json_schema"]["properties"];
    let ty = |col: &str| p[col]["type"].clone();
    assert_eq!(p.as_object().unwrap().len(), 3 + replay::all_type_fields().len());
    assert_eq!(ty("assignee"), json!(["null", "object"]));
    assert_eq!(p["attachments"]["items"]["type"], json!(["null", "object"]));
    assert_eq!(p["watchers"]["items"]["type"], json!(["null", "object"]));
    assert_eq!(ty("integer"), json!(["null", "number"]));
    assert_eq!(ty("dollars"), json!(["null", "number"]));
    assert_eq!(ty("done"), json!(["null", "boolean"]));
    assert_eq!(ty("formula_nan"), json!(["null", "number"]));
    assert_eq!(p["rollup_error"]["items"]["type"], json!(["null", "number"]));
    assert_eq!(p["lookup_multi_select"]["items"]["type"], json!(["null", "string"]));
    assert_eq!(p["tags"]["items"]["type"], json!(["null", "string"]));
    assert_eq!(p["date"]["format"], "date");
    assert_eq!(p["last_modified"]["airbyte_type"], "timestamp_with_timezone");
    assert_eq!(ty("barcode"), json!(["null", "string"]));
    assert_eq!(ty("unknown_field_type"), json!(["null", "string"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_refresh_replays_recorded_chain_and_types_every_field() {
    let server = ReplayServer::start(dataset(), Options::default()).await;
    let config = pat_config(&server.url);
    let discovered = discover(&config).await;
    let catalog = catalog_of(&discovered, false);
    let run = read(&config, &catalog, None).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    // The 3-page offset chain, each offset sent back exactly as recorded.
    assert_eq!(ids(&run.records(RECORDED_STREAM)), recorded_ids());
    let offsets: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/tblTableRead00001"))
        .map(|r| {
            url::form_urlencoded::parse(r.query.as_bytes())
                .find(|(k, _)| k == "offset")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(offsets, ["", "itrxxbgEd5XUkVg0s/recK56FOjid5w72n8", "itrxxbgEd5XUkVg0s/recidalNlK6b1i4Un"]);
    let first = &run.records(RECORDED_STREAM)[0];
    assert_eq!(
        first,
        &json!({"_airtable_id": "rec0HLFTLAXuJ6suq", "_airtable_created_time": "2017-08-05T23:13:06.000Z",
                "_airtable_table_name": "TABLE READ", "column_id": "211"})
    );

    let all = run.records(ALL_TYPES_STREAM);
    assert_eq!(all.len(), ALL_TYPES_ROWS);
    assert_eq!(ids(&all).into_iter().collect::<HashSet<_>>().len(), ALL_TYPES_ROWS);
    let validator = jsonschema::draft7::new(&stream(&discovered, ALL_TYPES_STREAM)["json_schema"]).unwrap();
    for r in &all {
        assert!(validator.is_valid(r), "record does not match its schema: {r}");
        let extra: Vec<&String> = r
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| stream(&discovered, ALL_TYPES_STREAM)["json_schema"]["properties"].get(k.as_str()).is_none())
            .collect();
        assert!(extra.is_empty(), "undeclared columns {extra:?}");
    }
    let r1 = &all[1];
    assert_eq!(r1["assignee"], json!({"id": "usr00000000000001", "email": "user1@example.com", "name": "User 1"}));
    assert_eq!(r1["attachments"][0]["filename"], "a.png");
    assert_eq!(r1["integer"], json!(1));
    assert_eq!(r1["dollars"], json!(12.5));
    assert_eq!(r1["rollup_error"], json!([3]), "a rollup's aggregate becomes a one-element array");
    assert_eq!(r1["barcode"], json!(r#"{"text":"01231","type":"upce"}"#), "JSON text, not a Python repr");
    assert_eq!(r1["open_url"], json!({"label": "Open", "url": "https://example.com/open/1"}));
    assert!(r1.get("done").is_none(), "Airtable omits false checkboxes");
    assert_eq!(all[0]["done"], json!(true));
    // Row 9 carries formula NaN and a rollup error: nulled and reported in meta.changes.
    assert_eq!(all[9]["formula_nan"], Value::Null);
    let raw9 = run
        .of_type("RECORD")
        .into_iter()
        .find(|m| m["record"]["data"]["_airtable_id"] == all[9]["_airtable_id"])
        .unwrap()
        .clone();
    let changed: HashSet<&str> =
        raw9["record"]["meta"]["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(changed, HashSet::from(["formula_nan", "rollup_error"]));

    assert_eq!(run.records(SIMPLE_STREAM).len(), 120);
    for s in [RECORDED_STREAM, ALL_TYPES_STREAM, SIMPLE_STREAM] {
        assert_eq!(statuses(&run, s), ["STARTED", "RUNNING", "COMPLETE"], "{s}");
        let states = run.states(s);
        assert_eq!(states.len(), 1);
        assert!(states[0]["sourceStats"]["recordCount"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(server.rate_limit_violations(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_neither_lose_nor_duplicate_records() {
    let server = ReplayServer::start(dataset(), Options::default()).await;
    let config = pat_config(&server.url);
    let catalog = catalog_of(&discover(&config).await, false);
    let rate_limited =
        json!({"errors": [{"error": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try again later"}]});
    server.add_fault("tblAllTypes000001", 0, FaultKind::Slow(Duration::from_millis(800)), 1);
    server.add_fault("tblAllTypes000001", 1, FaultKind::Status(429, rate_limited), 2);
    server.add_fault("tblAllTypes000001", 2, FaultKind::Status(503, json!({"error": "SERVICE_UNAVAILABLE"})), 1);
    server.add_fault("tblTableRead00001", 1, FaultKind::Status(502, json!("bad gateway")), 1);
    server.add_fault("tblTableRead00001", 2, FaultKind::IteratorExpired, 1);
    server.add_fault("tblSimple00000001", 1, FaultKind::IteratorExpired, 1);
    server.add_fault("tblSimple00000001", 0, FaultKind::Status(500, json!({"error": "SERVER_ERROR"})), 1);
    let run = read(&config, &catalog, None).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    assert_eq!(
        ids(&run.records(RECORDED_STREAM)),
        recorded_ids(),
        "restart after the expired iterator emits no duplicate"
    );
    let all_ids = ids(&run.records(ALL_TYPES_STREAM));
    assert_eq!(all_ids.len(), ALL_TYPES_ROWS);
    assert_eq!(all_ids.iter().collect::<HashSet<_>>().len(), ALL_TYPES_ROWS);
    let expected_simple: Vec<String> = (0..120).map(|i| format!("recSimple0{i:07}")).collect();
    assert_eq!(ids(&run.records(SIMPLE_STREAM)), expected_simple);

    let log = server.requests();
    assert_eq!(log.iter().filter(|r| r.injected).count(), 7, "every fault fired");
    assert_eq!(server.rate_limit_violations(), 0, "our requests never exceed Airtable's limits");
    // After each 429 the next request to that table waited the configured time (0.3 s).
    let all_types: Vec<_> = log.iter().filter(|r| r.path.ends_with("/tblAllTypes000001")).collect();
    for pair in all_types.windows(2) {
        if pair[0].status == 429 {
            assert!(pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(300));
        }
    }
    assert!(run.errors().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_is_five_per_base_and_bases_run_in_parallel() {
    let bases = vec![
        base(
            "appRateBaseA00001",
            "Rate A",
            vec![
                replay::simple_table("tblRateA000000001", "One", 600),
                replay::simple_table("tblRateA000000002", "Two", 600),
            ],
        ),
        base(
            "appRateBaseB00001",
            "Rate B",
            vec![
                replay::simple_table("tblRateB000000001", "One", 600),
                replay::simple_table("tblRateB000000002", "Two", 600),
            ],
        ),
    ];
    let server = ReplayServer::start(bases, Options { latency: Duration::from_millis(20), ..Default::default() }).await;
    let config = pat_config(&server.url);
    let catalog = catalog_of(&discover(&config).await, false);
    let run = read(&config, &catalog, None).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.of_type("RECORD").len(), 2400);
    assert_eq!(server.rate_limit_violations(), 0, "no 429 caused by us");
    let log = server.requests();
    for b in ["appRateBaseA00001", "appRateBaseB00001"] {
        let times: Vec<_> = log.iter().filter(|r| r.base.as_deref() == Some(b)).map(|r| r.at).collect();
        // The most requests in any 950 ms window: at most 5 (Airtable counts per second).
        let max_in_window = (0..times.len())
            .map(|i| times[i..].iter().take_while(|t| t.duration_since(times[i]) < Duration::from_millis(950)).count())
            .max()
            .unwrap();
        assert!(max_in_window <= 5, "{b}: {max_in_window} requests within 950 ms");
    }
    // Both bases were read at the same time: B started before A finished.
    let span = |b: &str| {
        let t: Vec<_> =
            log.iter().filter(|r| r.base.as_deref() == Some(b) && r.path.contains("/tbl")).map(|r| r.at).collect();
        (*t.first().unwrap(), *t.last().unwrap())
    };
    let (a, b) = (span("appRateBaseA00001"), span("appRateBaseB00001"));
    assert!(b.0 < a.1 && a.0 < b.1, "bases were read one after the other");
}

fn oauth_config(url: &str, access_token: Option<&str>, expiry: &str, refresh_token: &str) -> Value {
    let mut creds = json!({"auth_method": "oauth2.0", "client_id": replay::CLIENT_ID, "client_secret": replay::CLIENT_SECRET,
        "refresh_token": refresh_token, "token_expiry_date": expiry});
    if let Some(t) = access_token {
        creds["access_token"] = t.into();
    }
    json!({"credentials": creds, "api_url": url, "rate_limit_wait_seconds": 0.3, "tables": ["All Types"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_refreshes_before_expiry_and_on_401_and_emits_control() {
    let server = ReplayServer::start(dataset(), Options::default()).await;
    // An expired access token: refreshed before the first API request.
    let config =
        oauth_config(&server.url, Some("stale-access-token"), "2020-01-01T00:00:00Z", replay::FIRST_REFRESH_TOKEN);
    let catalog_config = pat_config(&server.url);
    let mut catalog = catalog_of(&discover(&catalog_config).await, false);
    catalog["streams"].as_array_mut().unwrap().retain(|s| s["stream"]["name"] == ALL_TYPES_STREAM);
    server.add_fault("tblAllTypes000001", 1, FaultKind::ExpireTokens, 1);
    let before = server.requests().len();
    let run = read(&config, &catalog, None).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.records(ALL_TYPES_STREAM).len(), ALL_TYPES_ROWS);
    let api_requests: Vec<_> =
        server.requests()[before..].iter().filter(|r| r.path.starts_with("/v0")).cloned().collect();
    assert_ne!(api_requests[0].status, 401, "the expired token was refreshed before the first request");
    assert_eq!(api_requests.iter().filter(|r| r.status == 401).count(), 1, "only the injected expiry");

    // One refresh before expiry, one after the 401: each announced with the full, updated config.
    let controls = run.controls();
    assert_eq!(controls.len(), 2);
    assert_eq!(server.tokens_issued(), 2);
    let latest = &controls[1]["connectorConfig"]["config"];
    assert_eq!(controls[1]["type"], "CONNECTOR_CONFIG");
    assert_eq!(latest["credentials"]["refresh_token"], server.current_refresh_token());
    assert_eq!(latest["credentials"]["access_token"], "replay-access-2");
    assert_eq!(latest["credentials"]["client_secret"], replay::CLIENT_SECRET);
    assert_eq!(latest["tables"], json!(["All Types"]));
    // Secrets appear only inside CONTROL messages.
    for line in run.stdout.lines().filter(|l| !l.contains("\"CONTROL\"")) {
        for secret in [replay::CLIENT_SECRET, "replay-access-", "replay-refresh-"] {
            assert!(!line.contains(secret), "secret leaked: {line}");
        }
    }
    assert!(!run.stderr.contains(replay::CLIENT_SECRET));

    // The persisted config works as is: its access token is valid, so no refresh happens.
    let run2 = read(latest, &catalog, None).await;
    assert_eq!(run2.code, 0);
    assert_eq!(run2.records(ALL_TYPES_STREAM).len(), ALL_TYPES_ROWS);
    assert_eq!(server.tokens_issued(), 2);
    assert!(run2.controls().is_empty());

    // `check` refreshes too, and announces the rotated tokens on stdout next to its status.
    let expired = oauth_config(&server.url, None, "2020-01-01T00:00:00Z", &server.current_refresh_token());
    let check = common::run(&["check", "--config", "{config}"], &[("config", &expired)]).await;
    assert_eq!(check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"], "SUCCEEDED", "{}", check.stdout);
    let control = &check.controls()[0]["connectorConfig"]["config"]["credentials"];
    assert_eq!(control["refresh_token"], server.current_refresh_token());

    // The old refresh token was rotated away: a config that lost the CONTROL message fails clearly.
    let lost = oauth_config(&server.url, None, "2020-01-01T00:00:00Z", replay::FIRST_REFRESH_TOKEN);
    let run3 = read(&lost, &catalog, None).await;
    assert_ne!(run3.code, 0);
    let e = &run3.errors()[0];
    assert_eq!(e["failure_type"], "config_error");
    assert!(e["message"].as_str().unwrap().contains("re-authenticate"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_become_clear_config_errors() {
    let mut data = dataset();
    data[1].deny_records = true;
    let server = ReplayServer::start(data, Options::default()).await;
    let config = pat_config(&server.url);

    let ok = run(&["check", "--config", "{config}"], &[("config", &config)]).await;
    assert_eq!(ok.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"], "SUCCEEDED");

    let mut bad = config.clone();
    bad["credentials"]["api_key"] = "patWrong.wrong-token-value".into();
    let check = run(&["check", "--config", "{config}"], &[("config", &bad)]).await;
    assert_eq!(check.code, 0);
    let status = &check.of_type("CONNECTION_STATUS")[0]["connectionStatus"];
    assert_eq!(status["status"], "FAILED");
    assert!(status["message"].as_str().unwrap().contains("invalid credentials"), "{status}");
    assert!(!check.stdout.contains("wrong-token-value"));

    let catalog = catalog_of(&discover(&config).await, false);
    let run_bad = read(&bad, &catalog, None).await;
    assert_ne!(run_bad.code, 0);
    assert_eq!(run_bad.errors()[0]["failure_type"], "config_error");

    // 403 on one base, the recorded 422 and a string-bodied 404 on the others: each a config_error naming it.
    server.add_fault("tblTableRead00001", 0, FaultKind::Status(422, replay::recorded_422_body()), 1);
    server.add_fault("tblAllTypes000001", 0, FaultKind::Status(404, json!({"error": "NOT_FOUND"})), 1);
    let run = read(&config, &catalog, None).await;
    assert_ne!(run.code, 0);
    let errors = run.errors();
    assert_eq!(errors.len(), 3, "{}", run.stdout);
    let find = |stream: &str| {
        errors
            .iter()
            .find(|e| e["stream_descriptor"]["name"] == stream)
            .unwrap_or_else(|| panic!("no error for {stream}"))
    };
    let e422 = find(RECORDED_STREAM);
    assert_eq!(e422["failure_type"], "config_error");
    assert!(e422["message"]
        .as_str()
        .unwrap()
        .contains("UNKNOWN_FIELD_NAME: Could not find a field named NON_EXISTING"));
    let e404 = find(ALL_TYPES_STREAM);
    assert!(e404["message"].as_str().unwrap().contains("not found (NOT_FOUND)"), "{e404}");
    let e403 = find(SIMPLE_STREAM);
    assert_eq!(e403["failure_type"], "config_error");
    let msg = e403["message"].as_str().unwrap();
    assert!(msg.contains("appSecondBase0001") && msg.contains("data.records:read"), "{msg}");
    for s in [RECORDED_STREAM, ALL_TYPES_STREAM, SIMPLE_STREAM] {
        assert_eq!(statuses(&run, s).last().unwrap(), "INCOMPLETE");
    }

    // An invalid catalog (CAT's test) gives a TRACE error.
    let invalid = json!({"streams": [{"stream": {"name": "__AIRBYTE__stream_that_does_not_exist", "json_schema": {},
        "supported_sync_modes": ["full_refresh"]}, "sync_mode": "INVALID", "destination_sync_mode": "INVALID"}]});
    let run = read(&config, &invalid, None).await;
    assert_ne!(run.code, 0);
    assert_eq!(run.errors().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_reads_each_change_once_despite_lookback() {
    let bases =
        vec![base("appIncBase0000001", "Inc Base", vec![replay::simple_table("tblIncremental001", "Changes", 250)])];
    let server = ReplayServer::start(bases, Options::default()).await;
    let config = pat_config(&server.url);
    let catalog = catalog_of(&discover(&config).await, true);
    let name = "inc_base/changes/tblIncremental001";
    assert_eq!(catalog["streams"][0]["sync_mode"], "incremental");

    let first = read(&config, &catalog, None).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.records(name).len(), 250);
    let states = first.states(name);
    assert_eq!(states.len(), 3, "a checkpoint per page");
    assert_eq!(
        states.iter().map(|s| s["sourceStats"]["recordCount"].as_f64().unwrap()).collect::<Vec<_>>(),
        [100.0, 100.0, 50.0]
    );
    let state1 = &states[2]["stream"]["stream_state"];
    assert_eq!(state1["last_modified"], "2024-01-01T00:04:09.000Z");

    // Changes after the first sync: one record edited, one added, one that became visible late with a
    // modification time inside the look-back window.
    server.update_record(
        "tblIncremental001",
        "recIncreme0000005",
        json!({"Name": "edited", replay::LAST_MODIFIED_FIELD: "2024-01-01T01:00:00.000Z"}),
    );
    server.add_record(
        "tblIncremental001",
        json!({"id": "recIncNew00000001", "createdTime": "2024-01-01T01:00:01.000Z",
        "fields": {"Name": "new", replay::LAST_MODIFIED_FIELD: "2024-01-01T01:00:01.000Z"}}),
    );
    server.add_record(
        "tblIncremental001",
        json!({"id": "recIncLate0000001", "createdTime": "2024-01-01T00:03:00.000Z",
        "fields": {"Name": "late", replay::LAST_MODIFIED_FIELD: "2024-01-01T00:03:00.000Z"}}),
    );
    let state_arg = json!([states[2]]);
    let second = read(&config, &catalog, Some(&state_arg)).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    let got: HashSet<String> = ids(&second.records(name)).into_iter().collect();
    assert_eq!(
        got,
        HashSet::from(["recIncreme0000005".into(), "recIncNew00000001".into(), "recIncLate0000001".into()])
    );
    assert!(server.requests().iter().any(|r| r.query.contains("filterByFormula")));
    let state2 = second.states(name).last().unwrap().clone();
    assert_eq!(state2["stream"]["stream_state"]["last_modified"], "2024-01-01T01:00:01.000Z");

    let third = read(&config, &catalog, Some(&json!([state2]))).await;
    assert_eq!(third.records(name).len(), 0, "nothing changed: nothing emitted");

    // CAT's abnormally large state: no records, and the state keeps the cursor's type and format.
    let future = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": name},
        "stream_state": {"last_modified": "2999-01-01T00:00:00.000Z"}}}]);
    let run = read(&config, &catalog, Some(&future)).await;
    assert_eq!(run.records(name).len(), 0);
    assert_eq!(run.states(name).last().unwrap()["stream"]["stream_state"]["last_modified"], "2999-01-01T00:00:00.000Z");
}
