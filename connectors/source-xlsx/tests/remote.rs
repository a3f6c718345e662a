//! Workbooks over HTTP (a loopback server with ETag/Last-Modified, 404 and a transient 503) and on S3 (a real
//! S3-compatible server: moto_server from `.venv/tools`), with globs and incremental skips.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn workbook_bytes() -> Vec<u8> {
    let case = Case::new();
    python_workbook("multi", &case.path("b.xlsx"));
    std::fs::read(case.path("b.xlsx")).unwrap()
}

#[derive(Default)]
struct Hits {
    get: AtomicUsize,
    head: AtomicUsize,
    flaky: AtomicUsize,
}

/// Serves `/book.xlsx` (ETag "v1"), `/flaky.xlsx` (503 once, then the file) and 404 for anything else.
fn serve(body: Vec<u8>) -> (String, Arc<Hits>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(Hits::default());
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let mut parts = request.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let counter = if method == "HEAD" { &h.head } else { &h.get };
            counter.fetch_add(1, Ordering::SeqCst);
            let path = path.split('?').next().unwrap_or("");
            let ok = path == "/book.xlsx" || (path == "/flaky.xlsx" && h.flaky.fetch_add(1, Ordering::SeqCst) > 0);
            let head = if ok {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: \"v1\"\r\nLast-Modified: Tue, 03 Mar 2026 10:00:00 GMT\r\nConnection: close\r\n\r\n",
                    body.len()
                )
            } else if path == "/flaky.xlsx" {
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found".to_string()
            };
            let _ = stream.write_all(head.as_bytes());
            if ok && method == "GET" {
                let _ = stream.write_all(&body);
            }
        }
    });
    (base, hits)
}

#[test]
fn http_files_with_versions_retries_and_clear_errors() {
    let (base, hits) = serve(workbook_bytes());
    let case = Case::new();
    let cfg = json!({"files": [format!("{base}/book.xlsx?sig=secret-token-123")], "sheets": ["Suppliers"]});
    let (catalog, r) = case.read_all(&cfg, "incremental", None);
    r.assert_ok();
    assert_eq!(names(&catalog), ["book_suppliers"]);
    let rows = r.data("book_suppliers");
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[0]["_ab_source_file"], format!("{base}/book.xlsx"), "no query string in records");
    assert_eq!(rows[0]["_ab_source_file_last_modified"], "2026-03-03T10:00:00.000000Z");
    assert!(!r.stdout.contains("secret-token-123"));
    let state: Vec<Value> = r.states();
    assert_eq!(state[0]["stream"]["stream_state"]["etag"], "\"v1\"");
    // Unchanged (same ETag): no download at all.
    let gets = hits.get.load(Ordering::SeqCst);
    let again = case.read(&cfg, &configured(&catalog, "incremental"), Some(&json!(state)));
    again.assert_ok();
    assert_eq!(again.of_type("RECORD").count(), 0);
    assert_eq!(hits.get.load(Ordering::SeqCst), gets, "an unchanged remote file is not downloaded");
    assert!(hits.head.load(Ordering::SeqCst) >= 2);
    // A transient 503 is retried.
    let flaky = json!({"files": [format!("{base}/flaky.xlsx")], "sheets": ["Materials"]});
    let (_, r) = case.read_all(&flaky, "full_refresh", None);
    r.assert_ok();
    assert_eq!(r.data("flaky_materials").len(), 5);
    // 404 is a config error naming the URL.
    let e = case.discover(&json!({"files": [format!("{base}/gone.xlsx")]})).error();
    assert_eq!(e["failure_type"], "config_error");
    assert!(
        e["message"].as_str().unwrap().contains("gone.xlsx") && e["message"].as_str().unwrap().contains("404"),
        "{e}"
    );
}

#[test]
fn s3_files_with_globs_on_a_real_s3_server() {
    let (_guard, endpoint) = conformance::support::moto_server();
    let body = workbook_bytes();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let ok = client.put(format!("{endpoint}/epd-bucket")).send().await.unwrap();
        assert!(ok.status().is_success(), "create bucket: {}", ok.status());
        for key in ["exports/2026/a.xlsx", "exports/2026/b.xlsx", "exports/notes.txt"] {
            let r = client.put(format!("{endpoint}/epd-bucket/{key}")).body(body.clone()).send().await.unwrap();
            assert!(r.status().is_success(), "put {key}: {}", r.status());
        }
    });
    let secret = "moto-secret-key-xyz";
    let s3 =
        json!({"endpoint": endpoint, "region": "us-east-1", "access_key_id": "testing", "secret_access_key": secret});
    let case = Case::new();
    let cfg = json!({"files": ["s3://epd-bucket/exports/*/*.xlsx"], "sheets": ["Lab Results"], "s3": s3});
    let c = case.check(&cfg);
    assert_eq!(
        c.of_type("CONNECTION_STATUS").next().unwrap()["connectionStatus"]["status"],
        "SUCCEEDED",
        "{}",
        c.stdout
    );
    let (catalog, r) = case.read_all(&cfg, "incremental", None);
    r.assert_ok();
    assert_eq!(names(&catalog), ["a_lab_results", "b_lab_results"]);
    assert_eq!(r.data("a_lab_results").len(), 3);
    assert_eq!(r.data("b_lab_results")[0]["_ab_source_file"], "s3://epd-bucket/exports/2026/b.xlsx");
    assert_records_valid(&catalog, &r);
    // Unchanged objects are skipped on the next incremental read.
    let again = case.read(&cfg, &configured(&catalog, "incremental"), Some(&json!(r.states())));
    again.assert_ok();
    assert_eq!(again.of_type("RECORD").count(), 0);
    // A missing key is a config error; the secret never shows.
    let missing = json!({"files": ["s3://epd-bucket/exports/none.xlsx"], "s3": s3});
    let d = case.discover(&missing);
    let e = d.error();
    assert_eq!(e["failure_type"], "config_error");
    assert!(e["message"].as_str().unwrap().contains("s3://epd-bucket/exports/none.xlsx"), "{e}");
    for out in [&c.stdout, &r.stdout, &d.stdout, &d.stderr] {
        assert!(!out.contains(secret));
    }
}
