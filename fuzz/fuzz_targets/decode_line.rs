#![no_main]
//! Fuzz target `decode_line`: see protocol/tests/fuzz_bodies/mod.rs for what it checks.

#[path = "../../protocol/tests/fuzz_bodies/mod.rs"]
mod fuzz_bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_bodies::decode_lines(data));
