//! The connector binary against the loopback soda4LCA node replaying the real fixtures.

mod common;

use common::replay::{fixture_epds, fixtures_dir, FaultKind, Replay};
use common::run::{catalog, config, run};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const ALL: [&str; 5] = ["datastocks", "categories", "processes", "epd_indicators", "epd_details"];
const EPD_STREAMS: [&str; 3] = ["processes", "epd_indicators", "epd_details"];
/// OBD_2024_I, the newest release in the recorded `/datastocks` data.
const NEWEST_STOCK: &str = "ca70a7e6-0ea4-4e90-a947-d44585783626";
const THUENEN: &str = "f63ac879-fa7d-4f91-813e-e816cbdf1927";
const MOEDING: &str = "0e9fd868-9656-489e-be6c-8251b3d43283";

async fn server() -> Replay {
    Replay::start(0, Duration::ZERO, 0).await
}

/// Indicator values straight from the fixture files, parsed here independently of the connector:
/// (process, indicator UUID, module, scenario) -> value (None for a module declared without a value).
fn expected_indicator_values() -> BTreeMap<(String, String, String, String), Option<f64>> {
    let mut out = BTreeMap::new();
    for (uuid, epd) in fixture_epds(&fixtures_dir()) {
        let lcia = epd["LCIAResults"]["LCIAResult"].as_array().cloned().unwrap_or_default();
        let lcia = lcia.iter().map(|r| (&r["referenceToLCIAMethodDataSet"]["refObjectId"], &r["other"]["anies"]));
        let exchanges = epd["exchanges"]["exchange"].as_array().unwrap();
        let flows = exchanges.iter().map(|e| (&e["referenceToFlowDataSet"]["refObjectId"], &e["other"]["anies"]));
        for (indicator, anies) in lcia.chain(flows) {
            for a in anies.as_array().into_iter().flatten().filter(|a| a.get("module").is_some()) {
                let key = (
                    uuid.clone(),
                    indicator.as_str().unwrap().to_string(),
                    a["module"].as_str().unwrap().to_string(),
                    a["scenario"].as_str().unwrap_or("").to_string(),
                );
                let value = a["value"].as_str().map(|s| s.parse::<f64>().expect("fixture values are numbers"));
                assert!(out.insert(key, value).is_none(), "duplicate indicator entry in a fixture");
            }
        }
    }
    out
}

fn without_emitted_at(run: &common::run::Run, streams: &[&str]) -> Vec<String> {
    let mut all: Vec<String> =
        streams.iter().flat_map(|s| run.records(s).into_iter().map(move |r| format!("{s} {r}"))).collect();
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_matches_the_golden_file() {
    let run = run("spec", None, None, None).await;
    assert_eq!(run.code, 0);
    let spec = &run.of_type("SPEC")[0]["spec"];
    let golden: Value = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../specs/source-oekobaudat/spec.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(spec, &golden, "spec output differs from specs/source-oekobaudat/spec.json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_read_emits_every_stream_from_the_fixtures() {
    let node = server().await;
    let cfg = config(&node.base_url);
    let cat = catalog(&cfg, &ALL, "full_refresh").await;
    let run = run("read", Some(&cfg), Some(&cat), None).await;
    assert_eq!(run.code, 0, "{:?}", run.errors());
    for s in ALL {
        assert_eq!(run.statuses(s), ["STARTED", "RUNNING", "COMPLETE"], "{s}");
    }

    let stocks = run.records("datastocks");
    assert_eq!(stocks.len(), 17);
    let newest: Vec<&str> = stocks
        .iter()
        .filter(|s| s["is_newest_obd_release"] == true)
        .map(|s| s["short_name"].as_str().unwrap())
        .collect();
    assert_eq!(newest, ["OBD_2024_I"]);

    // Categories: every Process class of the real category system, counted here from the raw XML.
    let xml = std::fs::read_to_string(fixtures_dir().join("category_system_OEKOBAU.DAT.xml")).unwrap();
    let process_part = xml.split("dataType=\"Flow\"").next().unwrap();
    let categories = run.records("categories");
    assert_eq!(categories.len(), process_part.matches("<ns2:category ").count());
    let beton = categories.iter().find(|c| c["id"] == "1.4.01").expect("class 1.4.01");
    assert_eq!(beton["parent_id"], "1.4");
    assert_eq!(beton["level"], 2);
    assert!(beton["path"].as_str().unwrap().starts_with("Mineralische Baustoffe / "));

    // Processes: the four EPDs of the default stock (the newest OBD release), each once.
    let mut got: Vec<(String, String)> = run
        .records("processes")
        .iter()
        .map(|p| (p["uuid"].as_str().unwrap().to_string(), p["version"].as_str().unwrap().to_string()))
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = fixture_epds(&fixtures_dir())
        .iter()
        .map(|(u, v)| {
            (
                u.clone(),
                v["administrativeInformation"]["publicationAndOwnership"]["dataSetVersion"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
    let thuenen = run.records("processes").into_iter().find(|p| p["uuid"] == THUENEN).unwrap().clone();
    assert_eq!(thuenen["classification_id"], "3.2.01");
    assert_eq!(thuenen["classification"], "Holz / Holzwerkstoffe / 3- und 5-Schichtplatten");
    assert_eq!(thuenen["data_stock"], NEWEST_STOCK);
    assert_eq!(thuenen["compliance"][0]["uuid"], "b00f9ec0-7874-11e3-981f-0800200c9a66");
    assert_eq!(thuenen["reference_year"], 2020);

    // Details: reference flow and conversion factors.
    let details = run.records("epd_details");
    assert_eq!(details.len(), 4);
    let d = details.iter().find(|d| d["process_uuid"] == THUENEN).unwrap();
    assert_eq!((d["declared_unit"].as_str(), d["declared_amount"].as_f64()), (Some("m3"), Some(1.0)));
    assert_eq!(d["gross_density_kg_per_m3"], 510.45);
    assert_eq!(d["mass_kg_per_declared_unit"], 510.45);
    assert_eq!(d["standard"], "EN 15804+A1");
    let m = details.iter().find(|d| d["process_uuid"] == MOEDING).unwrap();
    assert_eq!((m["grammage_kg_per_m2"].as_f64(), m["layer_thickness_m"].as_f64()), (Some(52.95), Some(0.03)));
    assert_eq!((m["declared_unit"].as_str(), m["standard"].as_str()), (Some("qm"), Some("EN 15804+A2")));
    assert_eq!(m["indicator_profile"], "EN_15804_A2_EF30");

    // What was sent: JSON always, the default stock by UUID, the list paged from 0.
    let requests = node.requests();
    for r in requests.iter().filter(|r| !r.path.contains("categorySystems")) {
        assert_eq!(r.param("format"), Some("json"), "{}", r.path);
    }
    assert!(requests.iter().any(|r| r.path == format!("/resource/datastocks/{NEWEST_STOCK}/processes")));
    assert_eq!(requests.iter().filter(|r| r.is_detail()).count(), 4, "one detail request per EPD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indicator_values_match_the_fixture_files() {
    let node = server().await;
    let cfg = config(&node.base_url);
    let run = run("read", Some(&cfg), Some(&catalog(&cfg, &["epd_indicators"], "full_refresh").await), None).await;
    assert_eq!(run.code, 0, "{:?}", run.errors());
    let rows = run.records("epd_indicators");
    let expected = expected_indicator_values();
    let values = run.raw_numbers("epd_indicators", "value");
    let mut got = BTreeMap::new();
    for (r, value) in rows.iter().zip(values) {
        let key = (
            r["process_uuid"].as_str().unwrap().to_string(),
            r["indicator_uuid"].as_str().unwrap().to_string(),
            r["module"].as_str().unwrap().to_string(),
            r["scenario"].as_str().unwrap().to_string(),
        );
        assert!(r["indicator_key"].is_string(), "every fixture indicator is in the profiles: {r}");
        assert!(got.insert(key, value).is_none(), "duplicate row {r}");
    }
    let differing: Vec<String> = expected
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k:?}: fixture {v:?}, emitted {:?}", got.get(k)))
        .take(10)
        .collect();
    assert!(differing.is_empty(), "indicator values differ from the fixture files: {differing:#?}");
    assert_eq!(got.len(), expected.len(), "rows not in the fixtures were emitted");

    let find = |uuid: &str, key: &str, module: &str, scenario: &str| {
        rows.iter()
            .find(|r| {
                r["process_uuid"] == uuid
                    && r["indicator_key"] == key
                    && r["module"] == module
                    && r["scenario"] == scenario
            })
            .unwrap_or_else(|| panic!("{uuid} {key} {module} {scenario}"))
    };
    // Module D with two scenarios; A1, A2, A3 and A1-A3 side by side; the unit from the EPD.
    let gwp_d = find(THUENEN, "GWP", "D", "stofflich");
    assert_eq!(gwp_d["value"], -11.125577109865484);
    assert_eq!(gwp_d["unit"], "kg CO2-Äqv.");
    assert_eq!(find(THUENEN, "GWP", "D", "energetisch")["value"], -261.09709844067464);
    for module in ["A1", "A2", "A3", "A1-A3"] {
        assert!(find(THUENEN, "GWP", module, "")["value"].is_number());
    }
    // The exchange direction key with a space.
    assert_eq!(find(THUENEN, "PERE", "A1", "")["direction"], "INPUT");
    assert_eq!(find(THUENEN, "HWD", "A1", "")["direction"], "OUTPUT");
    // A module declared without a value.
    let b1 = find(MOEDING, "GWP-total", "B1", "");
    assert!(b1["value"].is_null() && b1["value_text"].is_null());
    assert_eq!(b1["standard"], "EN 15804+A2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_emits_only_new_or_changed_epds() {
    let node = server().await;
    let cfg = config(&node.base_url);
    let cat = catalog(&cfg, &EPD_STREAMS, "incremental").await;
    let first = run("read", Some(&cfg), Some(&cat), None).await;
    assert_eq!(first.code, 0, "{:?}", first.errors());
    assert_eq!(first.records("processes").len(), 4);
    let state = first.final_states();
    assert_eq!(state.as_array().unwrap().len(), 3);
    for s in state.as_array().unwrap() {
        let versions = s["stream"]["stream_state"]["versions"].as_object().unwrap();
        assert_eq!(versions.len(), 4, "{s}");
        assert_eq!(versions[THUENEN], "00.00.025");
    }

    let second = run("read", Some(&cfg), Some(&cat), Some(&state)).await;
    assert_eq!(second.code, 0, "{:?}", second.errors());
    for s in EPD_STREAMS {
        assert!(second.records(s).is_empty(), "{s} emitted records although nothing changed");
        assert_eq!(second.statuses(s).last().map(String::as_str), Some("COMPLETE"));
    }
    assert_eq!(second.final_states(), state, "the state is unchanged when nothing changed");
    assert_eq!(node.requests().iter().filter(|r| r.is_detail()).count(), 4, "no detail fetched on the second read");

    node.bump_version(THUENEN, "00.00.026");
    let third = run("read", Some(&cfg), Some(&cat), Some(&second.final_states())).await;
    assert_eq!(third.code, 0, "{:?}", third.errors());
    let processes = third.records("processes");
    assert_eq!(processes.len(), 1);
    assert_eq!((processes[0]["uuid"].as_str(), processes[0]["version"].as_str()), (Some(THUENEN), Some("00.00.026")));
    let details = third.records("epd_details");
    assert_eq!(details.len(), 1);
    assert_eq!(details[0]["process_version"], "00.00.026");
    let indicators = third.records("epd_indicators");
    let expected_rows = expected_indicator_values().keys().filter(|k| k.0 == THUENEN).count();
    assert_eq!(indicators.len(), expected_rows);
    assert!(indicators.iter().all(|r| r["process_uuid"] == THUENEN && r["process_version"] == "00.00.026"));
    for s in third.final_states().as_array().unwrap() {
        assert_eq!(s["stream"]["stream_state"]["versions"][THUENEN], "00.00.026");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_without_loss_or_duplicates() {
    let clean_node = server().await;
    let cfg = config(&clean_node.base_url);
    let cat = catalog(&cfg, &EPD_STREAMS, "full_refresh").await;
    let clean = run("read", Some(&cfg), Some(&cat), None).await;
    assert_eq!(clean.code, 0, "{:?}", clean.errors());

    let node = server().await;
    let epds = fixture_epds(&fixtures_dir());
    node.add_fault("/processes", FaultKind::TooManyRequests { retry_after_secs: 1 }, 1);
    node.add_fault(&format!("/processes/{}", epds[0].0), FaultKind::ServerError, 2);
    node.add_fault(&format!("/processes/{}", epds[1].0), FaultKind::Html, 1);
    node.add_fault(&format!("/processes/{}", epds[2].0), FaultKind::Truncated, 1);
    node.add_fault(&format!("/processes/{}", epds[3].0), FaultKind::Slow(Duration::from_secs(4)), 1);
    let mut cfg = config(&node.base_url);
    cfg["page_size"] = json!(2); // two list pages, so a page boundary is crossed too
    cfg["request_timeout_seconds"] = json!(1);
    let faulty = run("read", Some(&cfg), Some(&cat), None).await;
    assert_eq!(faulty.code, 0, "{:?}", faulty.errors());
    let (faulty_rows, clean_rows) =
        (without_emitted_at(&faulty, &EPD_STREAMS), without_emitted_at(&clean, &EPD_STREAMS));
    let faulty_rows: Vec<String> = faulty_rows.iter().map(|r| r.replace(&node.base_url, "BASE")).collect();
    let clean_rows: Vec<String> = clean_rows.iter().map(|r| r.replace(&clean_node.base_url, "BASE")).collect();
    assert_eq!(faulty_rows.len(), clean_rows.len(), "records lost or duplicated under faults");
    assert!(faulty_rows == clean_rows, "records differ under faults");

    let requests = node.requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert!(statuses.contains(&429) && statuses.contains(&500), "{statuses:?}");
    // Retry-After: 1 was honoured before the list page was asked for again.
    let rate_limited = requests.iter().position(|r| r.status == 429).unwrap();
    let retry = requests[rate_limited + 1..].iter().find(|r| r.path == requests[rate_limited].path).unwrap();
    assert!(retry.at.duration_since(requests[rate_limited].at) >= Duration::from_millis(950));
    let starts: Vec<&str> =
        requests.iter().filter(|r| r.path.ends_with("/processes")).filter_map(|r| r.param("startIndex")).collect();
    assert_eq!(starts, ["0", "0", "2"], "pages by startIndex, the rate-limited one asked again");
    assert!(faulty.logs().contains("HTML"), "retries are logged with their reason");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_data_stock_is_a_config_error_naming_it() {
    let node = server().await;
    node.add_fault("/datastocks/QNG_2023_TEST/", FaultKind::Forbidden, usize::MAX);
    let mut cfg = config(&node.base_url);
    cfg["data_stock"] = json!("QNG_2023_TEST");
    let read = run("read", Some(&cfg), Some(&catalog(&cfg, &["processes"], "full_refresh").await), None).await;
    assert_eq!(read.code, 1);
    let errors = read.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["failure_type"], "config_error");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains("'QNG_2023_TEST'") && message.contains("403"), "{message}");
    assert_eq!(read.statuses("processes").last().map(String::as_str), Some("INCOMPLETE"));
    assert_eq!(node.requests().iter().filter(|r| r.status == 403).count(), 1, "a 403 is not retried");

    let check = run("check", Some(&cfg), None, None).await;
    assert_eq!(check.code, 0);
    let status = &check.of_type("CONNECTION_STATUS")[0]["connectionStatus"];
    assert_eq!(status["status"], "FAILED");
    assert!(status["message"].as_str().unwrap().contains("QNG_2023_TEST"));

    cfg["data_stock"] = json!("OBD_2021_II");
    let check = run("check", Some(&cfg), None, None).await;
    assert_eq!(check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"], "SUCCEEDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_html_fails_with_a_clear_transient_error_and_keeps_progress() {
    let node = server().await;
    let epds = fixture_epds(&fixtures_dir());
    node.add_fault(&format!("/processes/{}", epds[3].0), FaultKind::Html, usize::MAX);
    let mut cfg = config(&node.base_url);
    cfg["max_retries"] = json!(1);
    cfg["detail_concurrency"] = json!(1);
    let cat = catalog(&cfg, &["epd_details"], "incremental").await;
    let read = run("read", Some(&cfg), Some(&cat), None).await;
    assert_eq!(read.code, 1);
    let errors = read.errors();
    assert_eq!(errors[0]["failure_type"], "transient_error");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains("HTML") && message.contains(&epds[3].0), "{message}");
    // The three EPDs before it were emitted and checkpointed: a retried sync does not fetch them again.
    assert_eq!(read.records("epd_details").len(), 3);
    let state = read.final_states();
    assert_eq!(state[0]["stream"]["stream_state"]["versions"].as_object().unwrap().len(), 3);
    node.node.faults.lock().unwrap().clear();
    let retry = run("read", Some(&cfg), Some(&cat), Some(&state)).await;
    assert_eq!(retry.code, 0, "{:?}", retry.errors());
    let again: Vec<&str> = retry.records("epd_details").iter().map(|d| d["process_uuid"].as_str().unwrap()).collect();
    assert_eq!(again, [epds[3].0.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_short_names_reach_the_node() {
    let node = server().await;
    let mut cfg = config(&node.base_url);
    cfg["data_stock"] = json!("OBD_2021_II");
    cfg["classification_id"] = json!("3.2.01");
    cfg["language"] = json!("de");
    let run = run("read", Some(&cfg), Some(&catalog(&cfg, &["processes"], "full_refresh").await), None).await;
    assert_eq!(run.code, 0, "{:?}", run.errors());
    let processes = run.records("processes");
    assert_eq!(processes.len(), 1);
    assert_eq!(processes[0]["uuid"], THUENEN);
    assert_eq!(processes[0]["data_stock"], "cd2bda71-760b-4fcc-8a0b-3877c10000a8", "short name resolved to the UUID");
    let list = node.requests().into_iter().find(|r| r.path == "/resource/datastocks/OBD_2021_II/processes").unwrap();
    assert_eq!((list.param("search"), list.param("classId")), (Some("true"), Some("3.2.01")));
    assert_eq!((list.param("lang"), list.param("langFallback")), (Some("de"), Some("true")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_run_offline() {
    let node = server().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../specs/source-oekobaudat/examples");
    let read_json = |name: &str| -> Value { serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap() };
    let mut cfg = read_json("config.json");
    // The example points at replay_server.sh's fixed port; this test's node listens on a free one.
    assert_eq!(cfg["base_url"], "http://127.0.0.1:8765/resource");
    cfg["base_url"] = json!(node.base_url);
    let cat = read_json("configured_catalog.json");
    let discovered = run("discover", Some(&cfg), None, None).await;
    let streams = &discovered.of_type("CATALOG")[0]["catalog"]["streams"];
    for (configured, found) in cat["streams"].as_array().unwrap().iter().zip(streams.as_array().unwrap()) {
        assert_eq!(&configured["stream"], found, "the example catalog is out of date with discover");
    }
    let read = run("read", Some(&cfg), Some(&cat), None).await;
    assert_eq!(read.code, 0, "{:?}", read.errors());
    for s in ALL {
        assert!(!read.records(s).is_empty(), "{s}");
    }
}
