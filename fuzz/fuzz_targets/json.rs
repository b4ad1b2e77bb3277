//! Fuzz target `json`: see `meshproof::fuzzing::json` and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshproof::fuzzing::json(data));
