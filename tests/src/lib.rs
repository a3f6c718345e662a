//! Conformance harness: Airbyte's acceptance tests (CAT and the CDK standard tests, reference/cat.md
//! sections A-C) as a Rust library, run against any connector binary without Docker. Also shared test support.
//!
//! # Use from a connector's tests
//! ```no_run
//! use conformance::{support, SourceSuite};
//! let mut suite = SourceSuite::new(
//!     support::bin_path("source-xlsx"),
//!     support::workspace_root().join("specs/source-xlsx"),
//!     serde_json::json!({"path": "…"}),
//! );
//! suite.invalid_config = Some(serde_json::json!({"path": "/does/not/exist.xlsx"}));
//! suite.incremental_streams = vec!["sheet1".into()];
//! suite.run().assert_passed(); // panics listing every failing check: what it asserts and why it failed
//! ```
//! [`DestinationSuite`] is used the same way (`binary`, `spec_dir`, `config`, `invalid_config`).
//!
//! # Checks (stable names, see [`Report::failed_checks`])
//! Both: `spec.one_spec`, `spec.matches_golden`, every rule of [`spec_lint::RULES`] (`spec.valid_schema`,
//! `spec.enum_unique`, `spec.oneof_rules`, `spec.secrets_marked`, `spec.type_arrays`, `spec.object_not_empty`,
//! `spec.array_items`, `spec.forbidden_keywords`, `spec.group_order`, `spec.display_type`,
//! `spec.refs_resolvable`, `spec.additional_properties`), `spec.config_matches_spec`, `check.succeeded`,
//! `check.invalid_config_failed`, `check.crash_one_trace`, `protocol.valid_messages` (every stdout line of every
//! command validated against AirbyteMessage from `shared/airbyte/airbyte_protocol.yaml`), `output.no_secrets`.
//!
//! Sources: `discover.one_catalog`, `discover.unique_names`, `discover.valid_schemas`,
//! `discover.no_ref_allof_not`, `discover.pk_cursor_exist`, `discover.sync_modes`,
//! `discover.additional_properties`, `discover.pk_types`, `read.succeeds`, `read.records_match_schema`
//! (schema + no undeclared fields), `read.pk_values`, `read.records_per_stream`, `read.stream_states`,
//! `read.source_stats`, `read.stream_status`, `read.empty_state_accepted`, `read.invalid_catalog_trace`,
//! `full_refresh.emitted_at_order`, `full_refresh.records_subset`, `incremental.two_reads`,
//! `incremental.sequential_slices`, `incremental.future_state`.
//!
//! Destinations: for each scenario of [`destination::scenarios`] (basic, line breaks and U+2028, 400
//! record/state blocks, namespaces and funky names with stream statuses, GLOBAL states): `write.exit_ok`,
//! `write.no_unknown_acks`, `write.acks_exactly_once`, `write.acks_in_order`, `write.acks_unchanged`,
//! `write.record_counts`, `write.count_decimal_point`.
//!
//! # Self-tests
//! `src/bin/fixture_source.rs` and `src/bin/fixture_destination.rs` are a good example source and destination
//! built on the protocol crate; the env var `FIXTURE_DEFECT` switches on one deliberate defect. The tests in
//! `tests/` show the good fixtures pass every check and each defect fails exactly its check.
//!
//! - [`support`]: locating the workspace, built binaries, Python tools in `.venv/`, free ports.

mod common;
pub mod destination;
#[doc(hidden)]
pub mod fixture;
pub mod messages;
pub mod process;
pub mod report;
pub mod schema;
pub mod source;
pub mod spec_lint;
pub mod support;

pub use destination::DestinationSuite;
pub use report::{CheckOutcome, Report};
pub use source::SourceSuite;
