//! Entry points of the fuzz targets (`fuzz/`): hostile bytes into each reader of bundle content.
//! They must return (an error is the expected answer), never panic, abort or hang; plain
//! `cargo test` runs them on the seeds (`tests/it/fuzz_seeds.rs`) so they cannot rot.

use std::path::PathBuf;

use crate::bundle::{self, Limits};

/// Limits for fuzzing: the real ones, with the totals small enough that one input cannot keep
/// the fuzzer busy for long (the real totals are checked by `tests/it/hostile.rs`).
fn limits() -> Limits {
    Limits {
        max_file: 64 << 20,
        max_total: 256 << 20,
        ..Limits::default()
    }
}

/// One scratch file per fuzzing process: `verify` reads a path.
fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("meshproof-fuzz-{}.tar.zst", std::process::id()))
}

/// The archive reader and everything `verify` does with what it finds: the bytes as a bundle,
/// or (first byte odd) the rest as a tar stream put into a proper zstd frame, so mutations reach
/// the tar layer and the checks behind it instead of failing the frame's checksum.
pub fn archive(data: &[u8]) {
    let bytes = match data.split_first() {
        Some((mode, rest)) if mode & 1 == 1 => {
            let mut enc = match zstd::stream::write::Encoder::new(Vec::new(), 1) {
                Ok(e) => e,
                Err(_) => return,
            };
            if enc.include_checksum(true).is_err() {
                return;
            }
            if std::io::Write::write_all(&mut enc, rest).is_err() {
                return;
            }
            match enc.finish() {
                Ok(b) => b,
                Err(_) => return,
            }
        }
        _ => data.to_vec(),
    };
    let path = scratch();
    if std::fs::write(&path, &bytes).is_err() {
        return;
    }
    let report = crate::seal::verify(&path, &limits());
    let _ = std::fs::remove_file(&path);
    // A failing check names itself and says why.
    if let Some(p) = report.first_problem() {
        assert!(!p.detail.is_empty(), "{} failed without saying why", p.name);
    }
}

/// The JSON readers of bundle files: manifest, observation, verdicts, `SHA256SUMS`.
pub fn json(data: &[u8]) {
    let _ = bundle::json::parse::<bundle::Manifest>("manifest.json", data);
    let _ = bundle::parse_observation("observations/traffic-access.json", data);
    let _ = bundle::json::parse::<crate::verdict::Verdicts>("verdicts.json", data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = bundle::check::parse_sums(text);
    }
}

/// The YAML readers: generic documents, the spec loaders a bundle's inputs go through, and the
/// line index errors use.
pub fn yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::yaml::documents("fuzz.yaml", text);
    let _ = crate::yaml::from_str::<serde_json::Value>("fuzz.yaml", text);
    let _ = crate::spec::case::load("suites/smi/fuzz/case.yaml", text, &|_| true);
    let _ = crate::spec::mesh::load("meshes/fuzz/1.0.0.yaml", text);
    if crate::yaml::check_bounds("fuzz.yaml", text).is_ok() {
        let _ = crate::yaml::LineIndex::new(text).line_of("spec.steps[0].name");
    }
}
