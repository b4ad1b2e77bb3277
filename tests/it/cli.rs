//! Every command through the real binary.

use crate::common;

use std::path::{Path, PathBuf};

use common::{bin, write_run_dir, MeshModel};
use predicates::prelude::*;

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

fn pack_model(tmp: &Path, name: &str, mesh: MeshModel) -> PathBuf {
    let dir = tmp.join(format!("{name}-run"));
    write_run_dir(&dir, mesh, "osm@1.2.4");
    let out = tmp.join(format!("{name}.tar.zst"));
    bin()
        .args(["bundle", "pack"])
        .arg(&dir)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("wrote"));
    out
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        vec!["run"],
        vec!["plan"],
        vec!["verify"],
        vec!["show"],
        vec!["diff"],
        vec!["reproduce"],
        vec!["list"],
        vec!["doctor"],
        vec!["gc"],
        vec!["bundle", "pack"],
        vec!["bundle", "unpack"],
        vec!["keygen"],
        vec!["attest"],
        vec!["site"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let a = bin().args(&args).assert().code(0);
        let out = stdout(&a);
        assert!(
            out.contains("Example"),
            "{cmd:?} --help has no example:\n{out}"
        );
    }
    let a = bin().arg("--help").assert().code(0);
    assert!(stdout(&a).contains("Exit codes"));
}

#[test]
fn run_fails_fast_in_preflight_here_and_writes_nothing() {
    // With no tools on PATH (no kubectl; kind would be provided from the pin's verified
    // release, but only after every check passed): the run stops in preflight with exit 4,
    // says what is missing, and leaves no file behind.
    let tmp = tempfile::tempdir().unwrap();
    let empty_path = tmp.path().join("no-tools");
    std::fs::create_dir(&empty_path).unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let a = bin()
        .args(["run", "--mesh", "none"])
        .env("PATH", &empty_path)
        .current_dir(&work)
        .assert()
        .code(4);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains("preflight failed") && err.contains("kubectl"),
        "{err}"
    );
    assert!(!err.contains("\n  kind:"), "kind is not missing: {err}");
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
    // reproduce / rerun of a missing bundle are usage errors.
    bin()
        .args(["reproduce", "missing.tar.zst"])
        .current_dir(&work)
        .assert()
        .code(2);
    bin()
        .args(["rerun", "--failed", "missing.tar.zst"])
        .current_dir(&work)
        .assert()
        .code(2);
    // --context needs --kubeconfig.
    bin().args(["run", "--context", "x"]).assert().code(2);
}

#[test]
fn usage_errors_exit_2() {
    bin()
        .args(["plan", "--mesh", "nosuchmesh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown mesh `nosuchmesh`; available: none, ",
        ))
        .stderr(predicate::str::contains("osm@1.2.4, osm@1.1.3"));
    bin().args(["plan", "--mesh", "osm@9.9.9"]).assert().code(2);
    bin()
        .args(["plan", "--only", "traffic-nothing"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown case"));
    bin()
        .args(["plan", "--timeout-scale", "0"])
        .assert()
        .code(2);
    bin().args(["frobnicate"]).assert().code(2);
}

#[test]
fn plan_renders_every_step_with_input_digests() {
    let a = bin().args(["plan", "--mesh", "osm"]).assert().code(0);
    let out = stdout(&a);
    // Every input file is listed with the sha256 of its bytes.
    let case_file = common::repo().join("suites/smi/traffic-split/case.yaml");
    let sha = meshproof::sha256_hex(&std::fs::read(case_file).unwrap());
    assert!(out.contains(&format!("suites/smi/traffic-split/case.yaml  sha256:{sha}")));
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[digest]");
    settings.bind(|| insta::assert_snapshot!("plan_osm", out));

    let a = bin()
        .args([
            "plan",
            "--mesh",
            "none",
            "--only",
            "traffic-access",
            "--format",
            "json",
        ])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v["cases"].as_array().unwrap().len(), 1);
    assert_eq!(v["cases"][0]["variant"], "access-v1alpha3");
    assert!(v["cases"][0]["variant_note"]
        .as_str()
        .unwrap()
        .contains("serves none"));
    assert_eq!(v["mesh"]["id"], "none");
    assert_eq!(v["cluster"]["name"], "kind-v0.32.0");
}

#[test]
fn list_shows_each_catalog() {
    let out = stdout(&bin().args(["list", "meshes"]).assert().code(0));
    assert!(
        out.contains("osm@1.2.4") && out.contains("archived") && out.contains("split:v1alpha2"),
        "{out}"
    );
    let out = stdout(&bin().args(["list", "clusters"]).assert().code(0));
    assert!(
        out.contains("kind-v0.32.0 (kind-default)") && out.contains("1.36.1"),
        "{out}"
    );
    let out = stdout(&bin().args(["list", "workloads"]).assert().code(0));
    assert!(
        out.contains("smi-apps") && out.contains("access, split"),
        "{out}"
    );
    let out = stdout(&bin().args(["list", "suites"]).assert().code(0));
    for c in [
        "smi/traffic-access",
        "smi/traffic-spec",
        "smi/traffic-split",
        "smi/traffic-metrics",
    ] {
        assert!(out.contains(c), "{out}");
    }
}

#[test]
fn bundle_pack_unpack_verify_show_and_diff() {
    let tmp = tempfile::tempdir().unwrap();
    let good = pack_model(tmp.path(), "conformant", MeshModel::Conformant);
    let blind = pack_model(tmp.path(), "blind", MeshModel::IgnoresHttpRouteGroup);

    let out = stdout(&bin().arg("verify").arg(&good).assert().code(0));
    assert_eq!(out.lines().count(), 9, "{out}");
    assert!(out.lines().all(|l| l.starts_with("ok")), "{out}");
    // The run status and the case count, then the reports re-rendered.
    assert!(
        out.lines()
            .any(|l| l.ends_with("run status      complete, 4 cases: 4 passed")),
        "{out}"
    );
    assert!(
        out.lines().last().unwrap().starts_with("ok   reports"),
        "{out}"
    );

    // show: every format.
    let table = stdout(&bin().arg("show").arg(&blind).assert().code(0));
    insta::assert_snapshot!("show_table_blind", table);
    let md = stdout(
        &bin()
            .args(["show", "--format", "markdown"])
            .arg(&blind)
            .assert()
            .code(0),
    );
    insta::assert_snapshot!("show_markdown_blind", md);
    let junit = stdout(
        &bin()
            .args(["show", "--format", "junit"])
            .arg(&blind)
            .assert()
            .code(0),
    );
    assert!(junit.starts_with("<?xml"));
    assert!(
        junit.contains("<failure message=\"fail in step 04-path-rules\">"),
        "{junit}"
    );
    assert_eq!(junit.matches("<testsuite ").count(), 4);
    let json = stdout(
        &bin()
            .args(["show", "--format", "json"])
            .arg(&blind)
            .assert()
            .code(0),
    );
    let v: meshproof::verdict::Verdicts = serde_json::from_str(&json).unwrap();
    assert_eq!(v.cases.len(), 4);
    let meshery = stdout(
        &bin()
            .args(["show", "--format", "meshery"])
            .arg(&blind)
            .assert()
            .code(0),
    );
    let m: serde_json::Value = serde_json::from_str(&meshery).unwrap();
    let order: Vec<&str> = m["more_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["smi_specification"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["traffic-access", "traffic-split", "traffic-spec"]);
    assert_eq!(m["mesh_name"], "Open Service Mesh");
    assert_eq!(m["mesh_version"], "1.2.4");
    assert_eq!(m["more_details"][2]["capability"], "HALF");
    assert_eq!(
        m["more_details"][2]["reason"],
        "failed in step 04-path-rules"
    );
    assert_eq!(m["passing_percentage"], "87.50");
    // The version of the API group each case is about (the variant also uses access/v1alpha3).
    assert_eq!(m["more_details"][1]["smi_version"], "v0.6.0/v1alpha4");
    assert_eq!(m["more_details"][0]["smi_version"], "v0.6.0/v1alpha3");
    // A UUIDv5 of the run id: python3 -c 'import uuid; print(uuid.uuid5(uuid.NAMESPACE_URL,
    // "urn:meshproof:run:0123456789abcdef"))'
    assert_eq!(m["id"], "c948e83d-6feb-5096-a160-26961ae860a2");
    assert_eq!(m["status"], "completed");

    // diff: a bundle against itself, and against a mesh with other verdicts.
    let out = stdout(&bin().arg("diff").arg(&good).arg(&good).assert().code(0));
    assert!(out.contains("no differences"));
    let a = bin().arg("diff").arg(&good).arg(&blind).assert().code(1);
    let out = stdout(&a);
    assert!(
        out.contains("verdict traffic-spec: capability A Full / B Partial"),
        "{out}"
    );
    assert!(
        out.contains("verdict traffic-spec step path-rules: A pass / B fail"),
        "{out}"
    );

    // unpack → edit an observation → pack → verify: a contributor re-judging by hand.
    let dir = tmp.path().join("unpacked");
    bin()
        .args(["bundle", "unpack"])
        .arg(&good)
        .arg("-o")
        .arg(&dir)
        .assert()
        .code(0);
    assert!(dir.join("verdicts.json").is_file());
    let obs = dir.join("observations/traffic-access.json");
    let text = std::fs::read_to_string(&obs)
        .unwrap()
        .replace("\"status\": 200", "\"status\": 503");
    std::fs::write(&obs, text).unwrap();
    let rejudged = tmp.path().join("rejudged.tar.zst");
    let out = stdout(
        &bin()
            .args(["bundle", "pack"])
            .arg(&dir)
            .arg("-o")
            .arg(&rejudged)
            .assert()
            .code(0),
    );
    assert!(out.contains("traffic-access"), "{out}");
    // The re-packed bundle says it is a re-judgement of the original, and what changed.
    let good_sha = meshproof::sha256_hex(&std::fs::read(&good).unwrap());
    let says = format!(
        "re-judged from run 0123456789abcdef (bundle sha256 {good_sha}); changed: observations/traffic-access.json"
    );
    assert!(out.contains(&says), "{out}");
    let out = stdout(&bin().arg("verify").arg(&rejudged).assert().code(0));
    assert!(out.contains(&says), "{out}");
    let out = stdout(&bin().arg("show").arg(&rejudged).assert().code(0));
    assert!(out.contains(&says), "{out}");
    let json = stdout(
        &bin()
            .args(["show", "--format", "json"])
            .arg(&rejudged)
            .assert()
            .code(0),
    );
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        j["run"]["rejudged_from"]["bundle_sha256"],
        good_sha.as_str()
    );
    assert_eq!(j["run"]["rejudged_from"]["run_id"], "0123456789abcdef");
    let files = meshproof::bundle::read::read_selected(&rejudged, &Default::default(), |p| {
        p == "manifest.json"
    })
    .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(m["format"]["minor"], meshproof::bundle::FORMAT_MINOR);
    assert_eq!(
        m["rejudged_from"]["changed"],
        serde_json::json!(["observations/traffic-access.json"])
    );
    // The unpack marker never goes into a bundle.
    assert!(dir.join(".meshproof-unpacked.json").is_file());
    assert!(!files.keys().any(|k| k.contains("unpacked")));
    bin()
        .args(["verify", "--require", "full"])
        .arg(&rejudged)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("traffic-access (Partial)"));
    // --scoring meshery re-judges with the historical formula.
    let meshery = tmp.path().join("meshery.tar.zst");
    bin()
        .args(["bundle", "pack", "--scoring", "meshery"])
        .arg(&dir)
        .arg("-o")
        .arg(&meshery)
        .assert()
        .code(0);
    bin().arg("verify").arg(&meshery).assert().code(0);
    let json = stdout(
        &bin()
            .args(["show", "--format", "json"])
            .arg(&meshery)
            .assert()
            .code(0),
    );
    assert!(json.contains("\"scoring\": \"meshery\""));
}

/// The revision the fixture bundle records: every build records its own revision, so the
/// fixture is packed as by a build whose tree is not known, and stays byte-identical.
const FIXTURE_REVISION: &str = meshproof::UNKNOWN_REVISION;

#[test]
fn the_fixture_bundle_verifies_and_is_reproducible_from_its_run_directory() {
    let fixtures = common::repo().join("tests/fixtures");
    let bundle = fixtures.join("bundles/osm-model-conformant.tar.zst");
    let run = fixtures.join("runs/osm-model-conformant");
    if std::env::var_os("MESHPROOF_REGENERATE_FIXTURES").is_some() {
        let _ = std::fs::remove_dir_all(&run);
        write_run_dir(&run, MeshModel::Conformant, "osm@1.2.4");
        std::fs::create_dir_all(bundle.parent().unwrap()).unwrap();
        bin()
            .env(meshproof::env::MESHPROOF_GIT_REV, FIXTURE_REVISION)
            .args(["bundle", "pack", "--force"])
            .arg(&run)
            .arg("-o")
            .arg(&bundle)
            .assert()
            .code(0);
    }
    bin().arg("verify").arg(&bundle).assert().code(0);
    let tmp = tempfile::tempdir().unwrap();
    let again = tmp.path().join("again.tar.zst");
    bin()
        .env(meshproof::env::MESHPROOF_GIT_REV, FIXTURE_REVISION)
        .args(["bundle", "pack"])
        .arg(&run)
        .arg("-o")
        .arg(&again)
        .assert()
        .code(0);
    assert_eq!(
        std::fs::read(&bundle).unwrap(),
        std::fs::read(&again).unwrap(),
        "the fixture bundle is out of date: MESHPROOF_REGENERATE_FIXTURES=1 cargo test --test it cli::the_fixture"
    );
}
