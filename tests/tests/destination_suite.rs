//! Harness self-tests on the fixture destination: the good fixture passes every check, each defect fails
//! exactly the check written for it.

mod common_fixtures;
use common_fixtures::*;

#[test]
fn good_fixture_destination_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let report = destination_suite("", dir.path()).run();
    println!("{report}");
    report.assert_passed();
    assert!(report.checks.iter().all(|c| c.skipped.is_none()), "{report}");
    // The records really went through: one file per stream, 6 line-break records among them.
    let users = std::fs::read_to_string(dir.path().join("default__users.jsonl")).unwrap();
    assert!(users.lines().any(|l| l.contains("x\\u2028y") || l.contains("x\u{2028}y")), "{users}");
}

fn fails_exactly(defect: &str, expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    assert_fails_exactly(&destination_suite(defect, dir.path()).run(), expected);
}

#[test]
fn out_of_order_acks_fail_order_check() {
    fails_exactly("acks_out_of_order", &["write.acks_in_order"]);
}

#[test]
fn dropped_state_fails_exactly_once() {
    fails_exactly("drops_state", &["write.acks_exactly_once"]);
}

#[test]
fn wrong_count_fails_record_counts() {
    fails_exactly("wrong_count", &["write.record_counts"]);
}

#[test]
fn count_without_decimal_point_fails_its_check() {
    fails_exactly("count_without_decimal", &["write.count_decimal_point"]);
}

#[test]
fn ack_for_unsent_state_fails_unknown_acks() {
    fails_exactly("fabricated_ack", &["write.no_unknown_acks"]);
}

#[test]
fn altered_state_fails_unchanged() {
    fails_exactly("alters_state", &["write.acks_unchanged"]);
}

#[test]
fn nonzero_exit_fails_exit_ok() {
    fails_exactly("exit_nonzero", &["write.exit_ok"]);
}

#[test]
fn accepting_a_bad_config_fails_invalid_config_check() {
    fails_exactly("accept_any_config", &["check.invalid_config_failed"]);
}

#[test]
fn spec_differing_from_golden_fails_matches_golden() {
    fails_exactly("spec_differs_from_golden", &["spec.matches_golden"]);
}

#[test]
fn leaked_secret_fails_no_secrets() {
    fails_exactly("leak_secret", &["output.no_secrets"]);
}
