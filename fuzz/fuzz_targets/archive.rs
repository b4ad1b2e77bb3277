//! Fuzz target `archive`: see `meshproof::fuzzing::archive` and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshproof::fuzzing::archive(data));
