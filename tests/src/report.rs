//! The outcome of a suite: one entry per check, each with the failures found (empty = passed).

use std::fmt;

/// One named check and what went wrong in it.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// Stable name, e.g. `read.records_match_schema` (see the crate docs for the list).
    pub name: &'static str,
    /// What the check asserts, for the failure print-out.
    pub what: &'static str,
    /// Why it failed; empty when it passed.
    pub failures: Vec<String>,
    /// Set when the check did not apply (no input for it); a skipped check neither passes nor fails.
    pub skipped: Option<String>,
}

impl CheckOutcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// All checks run by a suite.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checks: Vec<CheckOutcome>,
}

/// At most this many failure lines are kept per check (a broken read can fail on every record).
const MAX_FAILURES_PER_CHECK: usize = 20;

impl Report {
    /// Record a check's result, merging with an earlier entry of the same name (checks run per stream/scenario).
    pub fn add(&mut self, name: &'static str, what: &'static str, failures: Vec<String>) {
        match self.checks.iter_mut().find(|c| c.name == name) {
            Some(c) => {
                c.skipped = None;
                for f in failures {
                    if c.failures.len() < MAX_FAILURES_PER_CHECK {
                        c.failures.push(f);
                    }
                }
            }
            None => {
                let mut failures = failures;
                failures.truncate(MAX_FAILURES_PER_CHECK);
                self.checks.push(CheckOutcome { name, what, failures, skipped: None })
            }
        }
    }

    /// Record one failure (or none) for a check.
    pub fn add_one(&mut self, name: &'static str, what: &'static str, failure: Option<String>) {
        self.add(name, what, failure.into_iter().collect());
    }

    /// Record a check that could not run, with the reason.
    pub fn skip(&mut self, name: &'static str, what: &'static str, reason: impl Into<String>) {
        if !self.checks.iter().any(|c| c.name == name) {
            self.checks.push(CheckOutcome { name, what, failures: Vec::new(), skipped: Some(reason.into()) });
        }
    }

    /// Names of the checks that failed, in run order.
    pub fn failed_checks(&self) -> Vec<&'static str> {
        self.checks.iter().filter(|c| !c.passed()).map(|c| c.name).collect()
    }

    /// Names of the checks that passed (not skipped).
    pub fn passed_checks(&self) -> Vec<&'static str> {
        self.checks.iter().filter(|c| c.passed() && c.skipped.is_none()).map(|c| c.name).collect()
    }

    pub fn get(&self, name: &str) -> Option<&CheckOutcome> {
        self.checks.iter().find(|c| c.name == name)
    }

    pub fn passed(&self) -> bool {
        self.checks.iter().all(CheckOutcome::passed)
    }

    /// Panic with every failing check (what it asserts and why it failed) unless all passed.
    #[track_caller]
    pub fn assert_passed(&self) {
        if !self.passed() {
            panic!("conformance checks failed:\n{self}");
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            let mark = match (&c.skipped, c.passed()) {
                (Some(_), _) => "SKIP",
                (None, true) => "ok  ",
                (None, false) => "FAIL",
            };
            writeln!(f, "{mark} {} — {}", c.name, c.what)?;
            if let Some(reason) = &c.skipped {
                writeln!(f, "       skipped: {reason}")?;
            }
            for failure in &c.failures {
                writeln!(f, "       - {failure}")?;
            }
        }
        Ok(())
    }
}
