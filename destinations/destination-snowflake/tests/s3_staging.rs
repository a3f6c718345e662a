//! The external S3 stage: Parquet files written with object_store to a real S3-compatible server (moto), and
//! the COPY that names them. fakesnow cannot COPY from S3 offline (its DuckDB httpfs extension is downloaded
//! at run time), so the full write is run to show that a failed COPY acknowledges nothing.

mod common;

use common::*;
use conformance::support::ChildGuard;
use destination_snowflake::config::S3Staging;
use destination_snowflake::sql::{copy_from_s3, S3Auth, TableRef};
use destination_snowflake::stage::{S3Stage, UPLOAD_PART_BYTES};
use serde_json::json;

/// Bytes that span several upload parts (a multipart upload, streamed from the file) and end mid-part.
fn multipart_bytes() -> Vec<u8> {
    (0..2 * UPLOAD_PART_BYTES + 12_345).map(|i| (i % 251) as u8).collect()
}

/// An object of the moto staging bucket and its `sfc-digest` metadata.
fn read_back(endpoint: &str, key: &str) -> (Vec<u8>, Option<String>) {
    runtime().block_on(async {
        let store = staging_bucket(endpoint);
        let got = object_store::ObjectStore::get(&store, &key.into()).await.unwrap();
        let digest = got.attributes.get(&object_store::Attribute::Metadata("sfc-digest".into())).map(|v| v.to_string());
        (got.bytes().await.unwrap().to_vec(), digest)
    })
}

fn moto() -> (ChildGuard, String) {
    wait_for_venv("tools");
    let (guard, endpoint) = conformance::support::moto_server();
    conformance::support::s3_create_bucket(&endpoint, "staging-bucket");
    (guard, endpoint)
}

fn settings(endpoint: &str) -> S3Staging {
    serde_json::from_value(json!({"s3_bucket_name": "staging-bucket", "s3_bucket_region": "us-east-1",
        "s3_bucket_path": "airbyte/stage", "s3_endpoint": endpoint, "access_key_id": "testing",
        "secret_access_key": "testing-secret"}))
    .unwrap()
}

#[test]
fn staged_file_lands_in_s3_and_copy_names_it() {
    let (_moto, endpoint) = moto();
    let stage = S3Stage::new(&settings(&endpoint)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("0123abcd.parquet");
    let bytes = multipart_bytes();
    std::fs::write(&file, &bytes).unwrap();
    let url = runtime().block_on(stage.upload(&file)).unwrap();
    assert_eq!(url, "s3://staging-bucket/airbyte/stage/0123abcd.parquet");
    assert!(runtime().block_on(stage.exists(&url)).unwrap());
    assert!(read_back(&endpoint, "airbyte/stage/0123abcd.parquet").0 == bytes, "parts reassemble to the file");
    let copy = copy_from_s3(
        &TableRef::new("AIRBYTE_INTERNAL", "AIRBYTE_LOAD_T"),
        &url,
        &S3Auth::Keys { key_id: "testing", secret: "testing-secret" },
        true,
    );
    assert_eq!(
        copy,
        "COPY INTO \"AIRBYTE_INTERNAL\".\"AIRBYTE_LOAD_T\" FROM 's3://staging-bucket/airbyte/stage/0123abcd.parquet' \
         CREDENTIALS = (AWS_KEY_ID = 'testing' AWS_SECRET_KEY = 'testing-secret') FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE) \
         MATCH_BY_COLUMN_NAME = CASE_SENSITIVE ON_ERROR = ABORT_STATEMENT PURGE = TRUE"
    );
    runtime().block_on(stage.remove(&url)).unwrap();
    assert!(!runtime().block_on(stage.exists(&url)).unwrap());
}

#[test]
fn a_failed_copy_from_s3_acknowledges_nothing_and_removes_the_staged_file() {
    let (_moto, endpoint) = moto();
    let sf = Emulator::start();
    let mut config = sf.config();
    config["loading_method"] = json!({"method": "S3 Staging", "s3_bucket_name": "staging-bucket",
        "s3_bucket_path": "airbyte/stage", "s3_endpoint": endpoint, "access_key_id": "testing",
        "secret_access_key": "testing-secret", "purge_staging_data": true});
    let cat =
        json!({"streams": [stream("letters", None, json!({"properties": {"letter": {"type": "string"}}}), "append")]});
    let input = vec![record("letters", None, json!({"letter": "a"}), 1), state("letters", None, 1)];
    let r = run("write", Some(&config), Some(&cat), &input);
    assert_ne!(r.exit_code, Some(0), "fakesnow cannot read S3 offline, so the COPY must fail");
    assert!(r.states().is_empty(), "nothing is acked before its COPY commits: {:?}", r.messages);
    let errors = r.errors();
    assert_eq!(errors.len(), 1);
    let message = errors[0]["trace"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("COPY INTO") && message.contains("s3://staging-bucket/airbyte/stage/"), "{message}");
    assert!(!serde_json::to_string(&r.messages).unwrap().contains("testing-secret"), "secret leaked");
    assert_eq!(
        sf.query(r#"SELECT COUNT(*) FROM "PUBLIC"."LETTERS""#)[0][0].as_deref(),
        Some("0"),
        "the table exists and holds nothing"
    );
    let listed = runtime().block_on(async {
        use futures::TryStreamExt;
        let store = staging_bucket(&endpoint);
        object_store::ObjectStore::list(&store, None).try_collect::<Vec<_>>().await.unwrap()
    });
    assert!(listed.is_empty(), "the staged file of the failed COPY is removed: {listed:?}");
}

#[test]
fn internal_stage_answer_for_aws_uploads_with_the_temporary_credentials() {
    // The shape of Snowflake's PUT answer for an AWS-hosted SNOWFLAKE_SSE stage (no encryption material),
    // pointed at moto: the path AWS-hosted accounts take, run against a real S3 server.
    let (_moto, endpoint) = moto();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feedbeef.parquet");
    std::fs::write(&file, b"PAR1 staged bytes PAR1").unwrap();
    let answer = json!({"success": true, "data": {"command": "UPLOAD", "src_locations": [file.to_str().unwrap()],
        "encryptionMaterial": null, "autoCompress": false, "sourceCompression": "none", "parallel": 4,
        "stageInfo": {"locationType": "S3", "location": "staging-bucket/stages/abc123/", "region": "us-east-1",
            "endPoint": endpoint, "creds": {"AWS_KEY_ID": "testing", "AWS_SECRET_KEY": "testing-secret",
            "AWS_TOKEN": "session-token"}}}});
    let http = reqwest::Client::new();
    runtime().block_on(destination_snowflake::stage::upload_internal(&answer, &file, &http, false)).unwrap();
    let (bytes, digest) = read_back(&endpoint, "stages/abc123/feedbeef.parquet");
    assert_eq!(&bytes[..], b"PAR1 staged bytes PAR1");
    assert_eq!(digest.as_deref(), Some("C2mV1otGtSPgMXwxn3qu45gkYvyojphVQ74a95Bi9QU="), "sfc-digest metadata");

    // A file larger than one part goes up as a multipart upload streamed from disk (memory does not grow with
    // batch_size_mb) and keeps the digest of the whole file.
    let big = dir.path().join("0badcafe.parquet");
    let big_bytes = multipart_bytes();
    std::fs::write(&big, &big_bytes).unwrap();
    runtime().block_on(destination_snowflake::stage::upload_internal(&answer, &big, &http, false)).unwrap();
    let (bytes, digest) = read_back(&endpoint, "stages/abc123/0badcafe.parquet");
    assert!(bytes == big_bytes, "parts reassemble to the file ({} of {} bytes)", bytes.len(), big_bytes.len());
    let expected = runtime().block_on(destination_snowflake::stage::sfc_digest(&big)).unwrap();
    assert_eq!(digest, Some(expected), "sfc-digest metadata of a multipart upload");
}

/// The moto bucket the staging tests upload to, read back independently of the connector.
fn staging_bucket(endpoint: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("staging-bucket")
        .with_region("us-east-1")
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_access_key_id("testing")
        .with_secret_access_key("testing-secret")
        .build()
        .unwrap()
}
