//! Packaging contracts the Nix wrapper and the GitHub Action rely on: the git revision and the
//! flake reference a bundle records are read at run time (so the build does not depend on the
//! commit), and the run-time value wins over the compile-time one.

use crate::common;

use common::{bin, write_run_dir, MeshModel};
use meshproof::bundle::read::read_selected;
use meshproof::bundle::Limits;
use serde_json::Value;

/// `manifest.json` of a bundle packed by `meshproof bundle pack` with `env` set.
fn packed_manifest(env: &[(&str, &str)]) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    write_run_dir(&run, MeshModel::Conformant, "osm@1.2.4");
    let bundle = tmp.path().join("b.tar.zst");
    let mut cmd = bin();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(["bundle", "pack"])
        .arg(&run)
        .arg("-o")
        .arg(&bundle)
        .assert()
        .code(0);
    let files = read_selected(&bundle, &Limits::default(), |p| p == "manifest.json").unwrap();
    serde_json::from_slice(&files["manifest.json"]).unwrap()
}

#[test]
fn the_revision_and_flake_ref_are_read_at_run_time() {
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let flake_ref = format!("github:acme/meshproof/{rev}");
    let m = packed_manifest(&[
        (meshproof::env::MESHPROOF_GIT_REV, rev),
        (meshproof::env::MESHPROOF_FLAKE_REF, &flake_ref),
    ]);
    assert_eq!(m["tool"]["git_revision"], rev, "{m}");
    assert_eq!(m["tool"]["flake_ref"], flake_ref.as_str(), "{m}");

    // Without them: the revision build.rs compiled in (the workflows' MESHPROOF_GIT_REV, the
    // git checkout's HEAD, or `unknown`), never null.
    let m = packed_manifest(&[]);
    let compiled = Some(meshproof::build_revision());
    assert_eq!(m["tool"]["git_revision"].as_str(), compiled, "{m}");
    assert_eq!(m["tool"]["flake_ref"], Value::Null, "{m}");

    // Empty values are not recorded, and an empty revision does not hide the compile-time one.
    let m = packed_manifest(&[
        (meshproof::env::MESHPROOF_GIT_REV, ""),
        (meshproof::env::MESHPROOF_FLAKE_REF, ""),
    ]);
    assert_eq!(m["tool"]["git_revision"].as_str(), compiled, "{m}");
    assert_eq!(m["tool"]["flake_ref"], Value::Null, "{m}");
}
