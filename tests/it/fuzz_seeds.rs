//! The fuzz targets' entry points (`meshproof::fuzzing`, run by `fuzz/`) on their seeds and on
//! cut and flipped variants of them, in plain `cargo test`: the targets cannot rot, and every
//! seed must be answered (an error is fine) without a panic.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, ext, out);
        } else if p.to_string_lossy().ends_with(ext) {
            out.push(p);
        }
    }
}

/// The seed itself, cut at a few places and with a few bytes flipped.
fn variants(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![seed.to_vec()];
    for k in 1..8 {
        let at = seed.len() * k / 8;
        out.push(seed[..at].to_vec());
        let mut flipped = seed.to_vec();
        if let Some(b) = flipped.get_mut(at) {
            *b ^= 0x5a;
        }
        out.push(flipped);
    }
    out
}

#[test]
fn archive_target_answers_its_seeds() {
    let fixture = repo().join("tests/fixtures/bundles/osm-model-conformant.tar.zst");
    let bundle = std::fs::read(&fixture).unwrap();
    for v in variants(&bundle) {
        meshproof::fuzzing::archive(&v);
    }
    // The tar mode: the fixture's tar stream, cut and flipped inside a good frame.
    let tar = zstd::decode_all(bundle.as_slice()).unwrap();
    for v in variants(&tar) {
        let mut input = vec![1u8];
        input.extend_from_slice(&v);
        meshproof::fuzzing::archive(&input);
    }
}

#[test]
fn json_target_answers_its_seeds() {
    let run = repo().join("tests/fixtures/runs/osm-model-conformant");
    let mut seeds = vec![run.join("manifest.json")];
    files_under(&run.join("observations"), ".json", &mut seeds);
    for s in seeds {
        for v in variants(&std::fs::read(&s).unwrap()) {
            meshproof::fuzzing::json(&v);
        }
    }
}

#[test]
fn yaml_target_answers_its_seeds() {
    let mut seeds = Vec::new();
    files_under(&repo().join("suites"), ".yaml", &mut seeds);
    files_under(&repo().join("meshes"), ".yaml", &mut seeds);
    assert!(seeds.len() > 10);
    for s in seeds {
        for v in variants(&std::fs::read(&s).unwrap()) {
            meshproof::fuzzing::yaml(&v);
        }
    }
}
