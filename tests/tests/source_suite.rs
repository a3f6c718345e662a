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
