#![no_main]
//! Fuzz target `state_catalog`: see protocol/tests/fuzz_bodies/mod.rs for what it checks.

#[path = "../../protocol/tests/fuzz_bodies/mod.rs"]
mod fuzz_bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_bodies::state_and_catalog(data));
