//! The shared conformance harness (CAT's spec/check checks and the destination write checks) against our
//! binary, backed by fakesnow.

mod common;

use common::Emulator;
use serde_json::json;

#[test]
fn destination_suite_passes_against_fakesnow() {
    let sf = Emulator::start();
    let mut suite = conformance::DestinationSuite::new(
        env!("CARGO_BIN_EXE_destination-snowflake"),
        conformance::support::workspace_root().join("specs/destination-snowflake"),
        sf.config(),
    );
    let mut invalid = sf.config();
    invalid["credentials"] = json!({"auth_type": "PRIVATE_KEY",
        "private_key": include_str!("data/rsa_key_aes.p8"), "private_key_password": "not-the-passphrase"});
    suite.invalid_config = Some(invalid);
    suite.run().assert_passed();
}
