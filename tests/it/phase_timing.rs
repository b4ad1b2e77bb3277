//! Phase wall times: recorded in the manifest, shown by `show` (table and Markdown), and read by
//! the e2e workflow's job summary.

use crate::common;

use common::{bin, repo, write_run_dir, MeshModel};
use meshproof::bundle::write::PackOptions;
use meshproof::seal::pack;
use meshproof::timing::{self, PhaseTiming};
use serde_json::{json, Value};

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

/// A packed run directory whose manifest records `phases` (as `run` writes them).
fn bundle_with_phases(tmp: &std::path::Path, phases: Value) -> std::path::PathBuf {
    let dir = tmp.join("run");
    write_run_dir(&dir, MeshModel::Conformant, "osm@1.2.4");
    let path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["run"]["phases"] = phases;
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let out = tmp.join("run.tar.zst");
    pack(&dir, &out, &PackOptions::default()).unwrap();
    out
}

fn phases() -> Value {
    json!([
        {"phase": "preflight", "duration_ms": 412, "ok": true},
        {"phase": "cluster", "duration_ms": 41_250, "ok": true},
        {"phase": "workload image", "duration_ms": 9_800, "ok": true},
        {"phase": "mesh", "duration_ms": 62_031, "ok": true},
        {"phase": "case traffic-access", "duration_ms": 18_400, "ok": true},
        {"phase": "evidence", "duration_ms": 3_100, "ok": true},
        {"phase": "teardown", "duration_ms": 7_700, "ok": false}
    ])
}

#[test]
fn show_prints_every_recorded_phase_with_its_wall_time() {
    let tmp = tempfile::tempdir().unwrap();
    let b = bundle_with_phases(tmp.path(), phases());
    let table = stdout(&bin().arg("show").arg(&b).assert().code(0));
    let at = table.find("Phase wall times:").expect("phase section");
    insta::assert_snapshot!("show_phases_table", &table[at..]);
    let md = stdout(
        &bin()
            .args(["show", "--format", "markdown"])
            .arg(&b)
            .assert()
            .code(0),
    );
    let at = md.find("## Phase timings").expect("phase section");
    insta::assert_snapshot!("show_phases_markdown", &md[at..]);
    // The bundle's own report/summary.md is what verify re-renders: the phases are not in it.
    bin().arg("verify").arg(&b).assert().code(0);
}

#[test]
fn hostile_phase_names_are_escaped_and_malformed_phases_are_named() {
    let hostile = json!([
        {"phase": "a|b<script>\n`x`", "duration_ms": 5, "ok": true}
    ]);
    let rendered = timing::markdown(&serde_json::from_value::<Vec<PhaseTiming>>(hostile).unwrap());
    assert!(
        rendered.contains("| a\\|b&lt;script&gt;?\\`x\\` | 0.0 s | ok |"),
        "{rendered}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let b = bundle_with_phases(
        tmp.path(),
        json!([{"phase": "cluster", "duration_ms": "slow"}]),
    );
    let table = stdout(&bin().arg("show").arg(&b).assert().code(0));
    assert!(
        table.contains("Phase wall times: unreadable (manifest.json: run.phases: "),
        "{table}"
    );
}

#[test]
fn bundles_without_phases_show_no_phase_section() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    write_run_dir(&dir, MeshModel::Conformant, "osm@1.2.4");
    let out = tmp.path().join("run.tar.zst");
    pack(&dir, &out, &PackOptions::default()).unwrap();
    let table = stdout(&bin().arg("show").arg(&out).assert().code(0));
    assert!(!table.contains("Phase"), "{table}");
}

/// The e2e job summary's phase table is cut from `show --format markdown` at the heading the
/// test above pins.
#[test]
fn the_e2e_job_summary_prints_a_phase_table_per_bundle() {
    let text = std::fs::read_to_string(repo().join(".github/workflows/e2e.yml")).unwrap();
    let wf: Value = meshproof::yaml::from_str("e2e.yml", &text).unwrap();
    let steps = wf["jobs"]["table"]["steps"]
        .as_array()
        .expect("table steps");
    let step = steps
        .iter()
        .find(|s| s["name"] == "Job summary: phase timings")
        .expect("a phase-timing step");
    let script = step["run"].as_str().unwrap();
    assert!(script.contains("for b in bundles/*.tar.zst"), "{script}");
    assert!(
        script.contains("show \"$b\" --format markdown | sed -n '/^## Phase timings$/,$p'"),
        "{script}"
    );
    assert!(script.contains("GITHUB_STEP_SUMMARY"), "{script}");
}
