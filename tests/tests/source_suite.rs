//! Harness self-tests on the fixture source: the good fixture passes every check, each defect fails
//! exactly the check written for it.

mod common_fixtures;
use common_fixtures::*;

#[test]
fn good_fixture_source_passes_every_check() {
    let report = source_suite("").run();
    println!("{report}");
    report.assert_passed();
    // Every check ran (none skipped) and the suite covered each CAT area.
    assert!(report.checks.iter().all(|c| c.skipped.is_none()), "{report}");
    assert!(report.passed_checks().len() >= 40, "{report}");
}

/// Run the suite with `defect` and assert exactly `expected` fail.
fn fails_exactly(defect: &str, adjust: impl FnOnce(&mut conformance::SourceSuite), expected: &[&str]) {
    let mut suite = source_suite(defect);
    adjust(&mut suite);
    assert_fails_exactly(&suite.run(), expected);
}

fn explicit_catalog(s: &mut conformance::SourceSuite) {
    s.configured_catalog = Some(good_configured_catalog());
}

#[test]
fn secret_not_marked_fails_spec_secrets_marked() {
    let golden = own_golden("fixture_source", "secret_not_marked");
    fails_exactly("secret_not_marked", |s| s.spec_dir = golden.path().to_path_buf(), &["spec.secrets_marked"]);
}

#[test]
fn spec_differing_from_golden_fails_matches_golden() {
    fails_exactly("spec_differs_from_golden", |_| {}, &["spec.matches_golden"]);
}

#[test]
fn two_spec_messages_fail_one_spec() {
    fails_exactly("two_spec_messages", |_| {}, &["spec.one_spec"]);
}

#[test]
fn two_catalogs_fail_one_catalog() {
    fails_exactly("two_catalogs", |_| {}, &["discover.one_catalog"]);
}

#[test]
fn error_trace_with_exit_zero_fails_read_succeeds() {
    fails_exactly("error_trace_without_state", |_| {}, &["read.succeeds"]);
}

#[test]
fn two_statuses_fail_check_succeeded() {
    fails_exactly("two_statuses", |_| {}, &["check.succeeded"]);
}

#[test]
fn accepting_a_bad_config_fails_invalid_config_check() {
    fails_exactly("accept_any_config", |_| {}, &["check.invalid_config_failed"]);
}

#[test]
fn crash_without_trace_fails_crash_check() {
    fails_exactly("crash_without_trace", |_| {}, &["check.crash_one_trace"]);
}

#[test]
fn duplicate_stream_names_fail_unique_names() {
    fails_exactly("duplicate_stream_names", explicit_catalog, &["discover.unique_names"]);
}

#[test]
fn invalid_schema_fails_valid_schemas() {
    fails_exactly("invalid_schema", explicit_catalog, &["discover.valid_schemas"]);
}

#[test]
fn allof_in_schema_fails_keyword_check() {
    fails_exactly("allof_in_schema", explicit_catalog, &["discover.no_ref_allof_not"]);
}

#[test]
fn primary_key_missing_from_schema_fails_path_check() {
    fails_exactly("pk_not_in_schema", explicit_catalog, &["discover.pk_cursor_exist"]);
}

#[test]
fn empty_sync_modes_fail_sync_modes() {
    // The protocol itself requires minItems 1, so the message check fails with it.
    fails_exactly("no_sync_modes", explicit_catalog, &["discover.sync_modes", "protocol.valid_messages"]);
}

#[test]
fn additional_properties_false_fails_in_catalog() {
    fails_exactly("additional_properties_false", explicit_catalog, &["discover.additional_properties"]);
}

#[test]
fn object_primary_key_fails_pk_types() {
    fails_exactly("pk_object", explicit_catalog, &["discover.pk_types"]);
}

#[test]
fn undeclared_field_fails_schema_check() {
    fails_exactly("undeclared_field", |_| {}, &["read.records_match_schema"]);
}

#[test]
fn null_primary_key_fails_pk_values() {
    fails_exactly("pk_null", |_| {}, &["read.pk_values"]);
}

#[test]
fn stream_without_records_fails_records_per_stream() {
    fails_exactly("missing_records", |_| {}, &["read.records_per_stream"]);
}

#[test]
fn missing_source_stats_fail_source_stats() {
    // Incremental slices rely on sourceStats too; switched off to judge the read check alone.
    fails_exactly("missing_source_stats", |s| s.incremental_streams.clear(), &["read.source_stats"]);
}

#[test]
fn legacy_state_fails_stream_states() {
    fails_exactly("legacy_state", |s| s.incremental_streams.clear(), &["read.stream_states"]);
}

#[test]
fn missing_running_status_fails_status_order() {
    fails_exactly("wrong_status_order", |_| {}, &["read.stream_status"]);
}

#[test]
fn no_trace_on_invalid_catalog_fails_its_check() {
    fails_exactly("no_trace_on_invalid_catalog", |_| {}, &["read.invalid_catalog_trace"]);
}

#[test]
fn rejecting_empty_state_file_fails_its_check() {
    fails_exactly("rejects_empty_state", |_| {}, &["read.empty_state_accepted"]);
}

#[test]
fn constant_emitted_at_fails_full_refresh_order() {
    fails_exactly("emitted_at_constant", |_| {}, &["full_refresh.emitted_at_order"]);
}

#[test]
fn changing_records_fail_full_refresh_subset() {
    fails_exactly("nondeterministic_records", |_| {}, &["full_refresh.records_subset"]);
}

#[test]
fn ignoring_state_fails_two_reads() {
    // Ignoring state also breaks the future-state check; switched off to judge two_reads alone.
    fails_exactly("ignores_state", |s| s.future_state = None, &["incremental.two_reads"]);
}

#[test]
fn records_for_future_state_fail_future_state() {
    fails_exactly("future_state_emits_records", |_| {}, &["incremental.future_state"]);
}

#[test]
fn inflated_checkpoint_counts_fail_sequential_slices() {
    fails_exactly("inflated_slice_counts", |_| {}, &["incremental.sequential_slices"]);
}

#[test]
fn invalid_protocol_line_fails_message_validation() {
    fails_exactly("invalid_protocol_line", |_| {}, &["protocol.valid_messages"]);
}

#[test]
fn leaked_secret_fails_no_secrets() {
    fails_exactly("leak_secret", |_| {}, &["output.no_secrets"]);
}
