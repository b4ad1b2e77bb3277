//! `meshproof diff A B` through the binary: per differing input and resolved file the fields
//! that changed (selection, versions, digests) and a unified diff of small text files, labelled
//! A and B; a verdict difference exits 1.

use crate::common;

use std::path::Path;

use common::{bin, repo};

const FIXTURE: &str = "tests/fixtures/bundles/osm-model-conformant.tar.zst";

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{}: {from}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// B: the fixture unpacked, its cluster pin moved to another Kubernetes patch and node image
/// digest, its resolved versions changed, a suite file added, and re-packed.
fn edited_bundle(tmp: &Path) {
    std::fs::copy(repo().join(FIXTURE), tmp.join("a.tar.zst")).unwrap();
    let dir = tmp.join("b");
    bin()
        .current_dir(tmp)
        .args(["bundle", "unpack", "a.tar.zst", "--out", "b"])
        .assert()
        .code(0);
    edit(
        &dir.join("inputs/cluster.yaml"),
        "kubernetesVersion: \"1.24.17\"",
        "kubernetesVersion: \"1.24.99\"",
    );
    edit(
        &dir.join("inputs/cluster.yaml"),
        "@sha256:ea292d57ec5dd0e2f3f5a2d77efa246ac883c051ff80e887109fabefbd3125c7",
        "@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    );
    edit(
        &dir.join("resolved/versions.json"),
        "\"kubernetes\": \"v1.36.1\"",
        "\"kubernetes\": \"v1.36.2\",\n  \"docker\": \"27.5.1\"",
    );
    std::fs::write(dir.join("inputs/suite/NOTES.txt"), "added in B\n").unwrap();
    bin()
        .current_dir(tmp)
        .env(meshproof::env::MESHPROOF_GIT_REV, "unknown")
        .args(["bundle", "pack", "b", "--out", "b.tar.zst"])
        .assert()
        .code(0);
}

#[test]
fn diff_shows_changed_fields_and_a_unified_diff_labelled_a_and_b() {
    let tmp = tempfile::tempdir().unwrap();
    edited_bundle(tmp.path());
    // Same verdicts: exit 0, whatever the inputs say.
    let a = bin()
        .current_dir(tmp.path())
        .args(["diff", "a.tar.zst", "b.tar.zst"])
        .assert()
        .code(0);
    let out = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    insta::assert_snapshot!("diff_inputs_and_resolved", out);
    // Swapped, A and B swap too.
    let a = bin()
        .current_dir(tmp.path())
        .args(["diff", "b.tar.zst", "a.tar.zst"])
        .assert()
        .code(0);
    let out = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert!(
        out.contains("  spec.kubernetesVersion: A \"1.24.99\" / B \"1.24.17\""),
        "{out}"
    );
    assert!(
        out.contains("input inputs/suite/NOTES.txt: only in A"),
        "{out}"
    );
}
