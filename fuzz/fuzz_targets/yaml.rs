//! Fuzz target `yaml`: see `meshproof::fuzzing::yaml` and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| meshproof::fuzzing::yaml(data));
