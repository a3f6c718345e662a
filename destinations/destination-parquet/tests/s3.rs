//! S3 mode against a real S3-compatible server (moto_server on loopback): multipart upload, listing,
//! overwrite clean-up, check, and fault injection through a loopback proxy (5xx, SlowDown, dropped uploads).

mod common;

use common::*;
use conformance::support::ChildGuard;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Moto {
    _guard: ChildGuard,
    port: u16,
}

fn start_moto() -> Moto {
    let _ = tools_python();
    let (guard, endpoint) = conformance::support::moto_server();
    let port = endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in endpoint");
    Moto { _guard: guard, port }
}

fn create_bucket(port: u16, bucket: &str) {
    conformance::support::s3_create_bucket(&format!("http://127.0.0.1:{port}"), bucket);
}

fn s3_config(port: u16, bucket: &str) -> Value {
    json!({"s3_bucket_name": bucket, "s3_bucket_path": "sync", "s3_bucket_region": "us-east-1",
           "s3_endpoint": format!("http://127.0.0.1:{port}"), "access_key_id": "test", "secret_access_key": "test",
           "upload_part_size_mb": 5,
           "format": {"format_type": "Parquet", "compression_codec": "UNCOMPRESSED", "dictionary_encoding": false}})
}

fn read_s3(moto_port: u16, bucket: &str) -> Value {
    read_back(json!({"endpoint": format!("127.0.0.1:{moto_port}"), "bucket": bucket}))
}

/// Incompressible records of about 1 KB so a few thousand make a file above the part size.
fn big_record(stream: &str, id: i64) -> String {
    let mut x = (id as u64).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let payload: String = (0..64)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            format!("{:016x}", x)
        })
        .collect();
    json!({"type": "RECORD", "record": {"stream": stream, "emitted_at": 1, "data": {"id": id, "name": payload}}})
        .to_string()
}

#[test]
fn multipart_upload_listing_and_overwrite_cleanup_on_moto() {
    let moto = start_moto();
    create_bucket(moto.port, "bucket-a");
    let dir = tempfile::tempdir().unwrap();
    let config = s3_config(moto.port, "bucket-a");

    let out = run(dir.path(), &["check"], &config, None, b"");
    assert_eq!(out.connection_status().unwrap()["status"], "SUCCEEDED", "{}", out.transcript());

    let cat = catalog(vec![stream("big", None, simple_schema(), "overwrite", Some((1, 1)))]);
    let mut input: Vec<String> = (0..7000).map(|i| big_record("big", i)).collect();
    input.push(state("big", None, 7000));
    let out = run(dir.path(), &["write"], &config, Some(&cat), &lines(&input));
    assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    assert_eq!(out.states().len(), 1);
    assert_eq!(out.states()[0]["state"]["destinationStats"]["recordCount"], 7000.0);
    let files = read_s3(moto.port, "bucket-a");
    let keys: Vec<&String> = files["files"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("sync/big/") && keys[0].ends_with("_0.parquet"), "{keys:?}");
    assert_eq!(ids_under(&files, "sync/big/"), (0..7000).collect::<Vec<_>>());
    assert!(files["other"].as_array().unwrap().is_empty(), "no probe or partial objects: {files}");
    let logs: Vec<String> = out.of_type("LOG").map(|m| m.to_string()).collect();
    assert!(logs.iter().any(|l| l.contains("committed s3://bucket-a/sync/big/")), "{logs:?}");

    // Second generation: overwrite removes the first file after success.
    let cat = catalog(vec![stream("big", None, simple_schema(), "overwrite", Some((2, 2)))]);
    let input: Vec<String> = (10_000..10_010).map(|i| big_record("big", i)).collect();
    let out = run(dir.path(), &["write"], &config, Some(&cat), &lines(&input));
    assert_eq!(out.exit_code, Some(0), "{}", out.transcript());
    let files = read_s3(moto.port, "bucket-a");
    assert_eq!(ids_under(&files, "sync/big/"), (10_000..10_010).collect::<Vec<_>>());
    assert_eq!(files["files"].as_object().unwrap().len(), 1);

    // Wrong bucket: check FAILED with a clear message.
    let out = run(dir.path(), &["check"], &s3_config(moto.port, "no-such-bucket"), None, b"");
    let status = out.connection_status().unwrap();
    assert_eq!(status["status"], "FAILED", "{}", out.transcript());
    assert!(status["message"].as_str().unwrap().contains("bucket does not exist"), "{status}");
    // Secrets never appear.
    let mut secret_config = s3_config(moto.port, "no-such-bucket");
    secret_config["secret_access_key"] = json!("sUpErSeCrEt123");
    let out = run(dir.path(), &["check"], &secret_config, None, b"");
    assert!(!out.transcript().contains("sUpErSeCrEt123"));
}

/// How the proxy misbehaves.
#[derive(Clone, Copy)]
enum Faults {
    /// Every `n`th request gets 503 SlowDown, 500 or a dropped connection mid-body, in turn.
    EveryNth(usize),
    /// After `n` good requests, every request fails.
    DieAfter(usize),
}

/// A loopback HTTP proxy in front of moto that injects faults. One request per connection.
fn start_proxy(upstream: u16, faults: Faults) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let counter = Arc::new(AtomicUsize::new(0));
    let injected = Arc::new(AtomicUsize::new(0));
    let injected_out = injected.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(client) = conn else { continue };
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let injected = injected.clone();
            std::thread::spawn(move || {
                let fault = match faults {
                    Faults::EveryNth(k) if n % k == 0 => Some((n / k) % 3),
                    Faults::DieAfter(k) if n > k => Some(n % 3),
                    _ => None,
                };
                let _ = handle(client, upstream, fault, &injected);
            });
        }
    });
    (port, injected_out)
}

fn read_request(client: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>, usize)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
        .unwrap_or(0);
    Ok((head, Vec::new(), length))
}

fn handle(mut client: TcpStream, upstream: u16, fault: Option<usize>, injected: &AtomicUsize) -> std::io::Result<()> {
    let (head, _, length) = read_request(&mut client)?;
    if let Some(kind) = fault {
        injected.fetch_add(1, Ordering::SeqCst);
        if kind == 2 {
            // Drop the connection in the middle of the body.
            let mut half = vec![0u8; length / 2];
            client.read_exact(&mut half)?;
            return client.shutdown(std::net::Shutdown::Both);
        }
        let mut body = vec![0u8; length];
        client.read_exact(&mut body)?;
        let (status, code) =
            if kind == 0 { ("503 Slow Down", "SlowDown") } else { ("500 Internal Server Error", "InternalError") };
        let xml = format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>injected</Message></Error>");
        write!(
            client,
            "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        )?;
        return Ok(());
    }
    let mut body = vec![0u8; length];
    client.read_exact(&mut body)?;
    // Forward with `Connection: close` so the response ends at EOF.
    let head_text = String::from_utf8_lossy(&head).into_owned();
    let mut new_head = String::new();
    for line in head_text.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            new_head.push_str(line);
            new_head.push_str("\r\n");
        }
    }
    new_head.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.write_all(new_head.as_bytes())?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    client.write_all(&response)?;
    client.shutdown(std::net::Shutdown::Write)
}

fn fault_input() -> (Value, Vec<String>) {
    let cat = catalog(vec![stream("f", None, simple_schema(), "append", None)]);
    let mut input = Vec::new();
    for i in 0..12_000 {
        input.push(big_record("f", i));
        if i % 1000 == 999 {
            input.push(state("f", None, i));
        }
    }
    (cat, input)
}

/// Every acknowledged state's records must be readable: the ids 0..=cursor of the last acked state.
fn assert_acked_records_present(out: &Output, files: &Value) {
    let ids = ids_under(files, "sync/f/");
    let last_acked = out.states().last().map(|s| s["state"]["stream"]["stream_state"]["cursor"].as_i64().unwrap());
    if let Some(cursor) = last_acked {
        let expected: Vec<i64> = (0..=cursor).collect();
        let mut present = ids.clone();
        present.dedup();
        assert!(present.len() as i64 > cursor, "acked up to {cursor} but only {} ids present", present.len());
        assert_eq!(&present[..expected.len()], &expected[..], "an acknowledged record is missing");
    }
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "a record was committed twice");
}

#[test]
fn transient_s3_faults_are_retried_and_the_sync_completes_intact() {
    let moto = start_moto();
    create_bucket(moto.port, "bucket-f");
    let (proxy, injected) = start_proxy(moto.port, Faults::EveryNth(2));
    let dir = tempfile::tempdir().unwrap();
    let mut config = s3_config(proxy, "bucket-f");
    // Files of about 6 MB: multipart uploads (5 MB parts) whose requests get 503/500/dropped connections.
    config["max_ack_lag_mb"] = json!(6);
    let (cat, input) = fault_input();
    let out = run(dir.path(), &["write"], &config, Some(&cat), &lines(&input));
    assert!(injected.load(Ordering::SeqCst) >= 3, "the proxy injected faults");
    let files = read_s3(moto.port, "bucket-f");
    if out.exit_code == Some(0) {
        assert_eq!(out.states().len(), 12, "{}", out.transcript());
        assert_eq!(ids_under(&files, "sync/f/"), (0..12_000).collect::<Vec<_>>());
    } else {
        let errors = out.errors();
        assert_eq!(errors[0]["trace"]["error"]["failure_type"], "transient_error", "{}", out.transcript());
        assert_acked_records_present(&out, &files);
    }
    assert!(files["other"].as_array().unwrap().is_empty(), "no partial objects: {files}");
}

#[test]
fn a_dying_s3_endpoint_fails_with_transient_error_and_acks_only_committed_data() {
    let moto = start_moto();
    create_bucket(moto.port, "bucket-d");
    let (proxy, _) = start_proxy(moto.port, Faults::DieAfter(5));
    let dir = tempfile::tempdir().unwrap();
    let mut config = s3_config(proxy, "bucket-d");
    config["max_ack_lag_mb"] = json!(3);
    let (cat, input) = fault_input();
    let out = run(dir.path(), &["write"], &config, Some(&cat), &lines(&input));
    assert_ne!(out.exit_code, Some(0), "{}", out.transcript());
    let errors = out.errors();
    assert_eq!(errors.len(), 1, "{}", out.transcript());
    assert_eq!(errors[0]["trace"]["error"]["failure_type"], "transient_error", "{}", out.transcript());
    assert!(!out.states().is_empty() && out.states().len() < 12, "{}", out.transcript());
    let files = read_s3(moto.port, "bucket-d");
    assert_acked_records_present(&out, &files);
    assert!(files["other"].as_array().unwrap().is_empty(), "no partial objects: {files}");
}
