//! Every check proven both ways: a clean sync passes it, a sync with that anomaly injected fails it.

mod common;

use common::{clean_history, synthetic_profile};
use post_sync::checks::{run_checks, CheckKind, Finding};
use post_sync::config::{PostSyncConfig, RuleKind, UserRule};

fn config() -> PostSyncConfig {
    let mut c = PostSyncConfig::default();
    c.rules.insert(
        "items".into(),
        vec![UserRule {
            column: "unit".into(),
            rule: RuleKind::InSet { values: ["kg", "m2", "m3", "pcs"].map(String::from).to_vec() },
            severity: None,
        }],
    );
    c
}

fn history() -> &'static [post_sync::StreamProfile] {
    static HISTORY: std::sync::OnceLock<Vec<post_sync::StreamProfile>> = std::sync::OnceLock::new();
    HISTORY.get_or_init(|| clean_history(6, 8000))
}

fn findings_of(kind: CheckKind, anomaly: Option<CheckKind>) -> Vec<Finding> {
    let history = history();
    let current = synthetic_profile(6, 8000, anomaly);
    let now = current.synced_at.unwrap();
    run_checks(&current, history, &config(), now).into_iter().filter(|f| f.check == kind).collect()
}

fn proves(kind: CheckKind) {
    let clean = findings_of(kind, None);
    assert!(clean.is_empty(), "{kind:?} fired on a clean sync: {clean:#?}");
    let bad = findings_of(kind, Some(kind));
    assert!(!bad.is_empty(), "{kind:?} missed its anomaly");
    assert!(!bad[0].message.is_empty());
}

#[test]
fn volume_check_passes_clean_and_fails_on_a_volume_drop() {
    proves(CheckKind::Volume);
}
#[test]
fn freshness_check_passes_clean_and_fails_on_stale_cursors() {
    proves(CheckKind::Freshness);
}
#[test]
fn schema_check_passes_clean_and_fails_on_a_renamed_column() {
    proves(CheckKind::Schema);
    let bad = findings_of(CheckKind::Schema, Some(CheckKind::Schema));
    assert!(bad.iter().any(|f| f.message.contains("density") && f.message.contains("removed")), "{bad:#?}");
    assert!(bad.iter().any(|f| f.message.contains("density_kg_m3") && f.message.contains("added")), "{bad:#?}");
}
#[test]
fn completeness_check_passes_clean_and_fails_on_a_null_jump() {
    proves(CheckKind::Completeness);
    let bad = findings_of(CheckKind::Completeness, Some(CheckKind::Completeness));
    assert_eq!(bad[0].column.as_deref(), Some("density"));
    assert!(bad[0].metrics["null_rate"] > 0.3);
}
#[test]
fn uniqueness_check_passes_clean_and_fails_on_duplicate_keys() {
    proves(CheckKind::Uniqueness);
}
#[test]
fn validity_check_passes_clean_and_fails_on_cast_failures() {
    proves(CheckKind::Validity);
    let bad = findings_of(CheckKind::Validity, Some(CheckKind::Validity));
    assert!(bad[0].message.contains("DESTINATION_SERIALIZATION_ERROR"), "{}", bad[0].message);
}
#[test]
fn ranges_check_passes_clean_and_fails_on_far_out_values() {
    proves(CheckKind::Ranges);
}
#[test]
fn numeric_drift_check_passes_clean_and_fails_on_a_shift() {
    proves(CheckKind::NumericDrift);
    let bad = findings_of(CheckKind::NumericDrift, Some(CheckKind::NumericDrift));
    let price = bad.iter().find(|f| f.column.as_deref() == Some("price")).expect("price drift");
    assert!(price.histogram.is_some());
    assert!(price.metrics["wasserstein_normed"] >= 0.1);
}
#[test]
fn categorical_drift_check_passes_clean_and_fails_on_a_new_mix() {
    proves(CheckKind::CategoricalDrift);
}
#[test]
fn user_rule_passes_clean_and_fails_on_values_outside_the_set() {
    proves(CheckKind::Rule);
}

#[test]
fn other_user_rules_each_pass_and_fail() {
    let history = clean_history(4, 3000);
    let current = synthetic_profile(4, 3000, None);
    let now = current.synced_at.unwrap();
    let check = |rule: RuleKind, column: &str| {
        let mut c = PostSyncConfig::default();
        c.rules.insert("items".into(), vec![UserRule { column: column.into(), rule, severity: None }]);
        run_checks(&current, &history, &c, now).into_iter().filter(|f| f.check == CheckKind::Rule).count()
    };
    assert_eq!(check(RuleKind::NotNull, "quantity"), 0);
    assert_eq!(check(RuleKind::NotNull, "density"), 1);
    assert_eq!(check(RuleKind::Between { min: Some(1.0), max: Some(500.0) }, "quantity"), 0);
    assert_eq!(check(RuleKind::Between { min: Some(1.0), max: Some(100.0) }, "quantity"), 1);
    assert_eq!(check(RuleKind::Regex { pattern: "^(kg|m2|m3|pcs)$".into() }, "unit"), 0);
    assert_eq!(check(RuleKind::Regex { pattern: "^m".into() }, "unit"), 1);
    assert_eq!(check(RuleKind::Unique, "id"), 0);
    assert_eq!(check(RuleKind::Unique, "material"), 1);
    assert_eq!(check(RuleKind::Unique, "quantity"), 1);
    assert_eq!(check(RuleKind::NotNull, "no_such_column"), 1);
}

#[test]
fn zero_rows_fail_volume_even_without_long_history() {
    let history = clean_history(1, 2000);
    let current = synthetic_profile(1, 0, None);
    let f = run_checks(&current, &history, &config(), current.synced_at.unwrap());
    assert!(f.iter().any(|f| f.check == CheckKind::Volume && f.severity == post_sync::Severity::Fail), "{f:#?}");
}

#[test]
fn severities_are_configurable() {
    let history = history();
    let current = synthetic_profile(6, 8000, Some(CheckKind::Completeness));
    let mut c = config();
    c.checks.completeness.severity = post_sync::Severity::Info;
    let f = run_checks(&current, history, &c, current.synced_at.unwrap());
    let comp: Vec<_> = f.iter().filter(|f| f.check == CheckKind::Completeness).collect();
    assert!(!comp.is_empty() && comp.iter().all(|f| f.severity == post_sync::Severity::Info));
    c.checks.completeness.enabled = false;
    let f = run_checks(&current, history, &c, current.synced_at.unwrap());
    assert!(f.iter().all(|f| f.check != CheckKind::Completeness));
}
