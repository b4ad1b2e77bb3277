//! `plan` rejects, with file:line:field and exit 2, the typos that only a live run would reveal:
//! a traffic check from an unknown app, an expectation naming an unknown backend, an HTTP method
//! typo, an SMI version typo in a pin or a variant, an unknown case under a pin's `expected:`, and
//! a workload `ready:` naming an unknown app.

use crate::common;

use std::path::Path;

/// Replace the one occurrence of `from` in `file` (relative to the copy); return the 1-based line
/// of `marker` (unique) in the result.
fn typo(dir: &Path, file: &str, from: &str, to: &str, marker: &str) -> usize {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches(from).count(), 1, "`{from}` in {file}");
    let text = text.replacen(from, to, 1);
    assert_eq!(text.matches(marker).count(), 1, "`{marker}` in {file}");
    let line = text[..text.find(marker).unwrap()].matches('\n').count() + 1;
    std::fs::write(&path, text).unwrap();
    line
}

fn plan(dir: &Path, mesh: &str) -> assert_cmd::assert::Assert {
    common::bin()
        .arg("--root")
        .arg(dir)
        .args(["plan", "--mesh", mesh])
        .assert()
}

/// Apply one typo to a fresh copy and check `plan` names it, at the line of `marker`.
fn rejects(file: &str, (from, to, marker): (&str, &str, &str), field: &str, says: &str) {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_catalog(tmp.path());
    let line = typo(tmp.path(), file, from, to, marker);
    let a = plan(tmp.path(), "osm@1.2.4").code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    let want = format!("{file}:{line}: {field}: ");
    assert!(err.contains(&want), "expected `{want}` in:\n{err}");
    assert!(err.contains(says), "expected `{says}` in:\n{err}");
}

#[test]
fn the_copied_catalog_plans() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_catalog(tmp.path());
    plan(tmp.path(), "osm@1.2.4").code(0);
    plan(tmp.path(), "none").code(0);
}

#[test]
fn an_unknown_caller_is_rejected() {
    rejects(
        "suites/smi/traffic-access/case.yaml",
        (
            "- {from: app-a, to: app-b, method: GET, path: /echo, count: 3, expect: {only: app-b}}",
            "- {from: app-q, to: app-b, method: GET, path: /echo, count: 3, expect: {only: app-b}}",
            "app-q",
        ),
        "spec.steps[4].traffic[0].from",
        "`app-q` is not an app of layout `access`; it has app-a, app-b, app-c",
    );
}

#[test]
fn an_unknown_called_service_is_rejected() {
    rejects(
        "suites/smi/traffic-split/case.yaml",
        (
            "count: 50, expect: {only: app-c}}",
            "count: 50, expect: {only: app-c}}\n        - {from: app-a, to: app-sv, path: /echo, expect: any}",
            "to: app-sv,",
        ),
        "spec.steps[6].traffic[1].to",
        "`app-sv` is not a Service of layout `split`",
    );
}

#[test]
fn an_unknown_backend_is_rejected() {
    rejects(
        "suites/smi/traffic-access/case.yaml",
        ("expect: {only: app-b}", "expect: {only: app-z}", "app-z"),
        "spec.steps[4].traffic[0].expect.only",
        "`app-z` is not a backend of layout `access`",
    );
    rejects(
        "suites/smi/traffic-split/case.yaml",
        (
            "expect: {greater: [app-c, app-b]}",
            "expect: {greater: [app-c, app-bb]}",
            "app-bb",
        ),
        "spec.steps[10].traffic[0].expect.greater[1]",
        "`app-bb` is not a backend of layout `split`",
    );
}

#[test]
fn a_method_typo_is_rejected() {
    rejects(
        "suites/smi/traffic-spec/case.yaml",
        ("method: POST", "method: GETT", "GETT"),
        "spec.steps[5].traffic[1].method",
        "`GETT` is not an HTTP method",
    );
}

#[test]
fn an_smi_version_typo_in_a_pin_is_rejected() {
    rejects(
        "meshes/osm/1.2.4.yaml",
        (
            "access.smi-spec.io: [v1alpha3]",
            "access.smi-spec.io: [v1alpa3]",
            "v1alpa3",
        ),
        "spec.smi.access.smi-spec.io[0]",
        "`v1alpa3` is not a version of access.smi-spec.io",
    );
}

#[test]
fn an_smi_version_typo_in_a_variant_is_rejected() {
    rejects(
        "suites/smi/traffic-access/case.yaml",
        (
            "apis: {access.smi-spec.io: v1alpha2, specs.smi-spec.io: v1alpha3}",
            "apis: {access.smi-spec.io: v1alpa2, specs.smi-spec.io: v1alpha3}",
            "v1alpa2",
        ),
        "spec.variants[1].apis.access.smi-spec.io",
        "`v1alpa2` is not a version of access.smi-spec.io",
    );
}

#[test]
fn an_unknown_expected_case_is_rejected() {
    rejects(
        "meshes/osm/1.2.4.yaml",
        (
            "    traffic-split: Full",
            "    traffic-splt: Full",
            "traffic-splt",
        ),
        "spec.expected.traffic-splt",
        "`traffic-splt` is not a case of the suite",
    );
}

#[test]
fn a_workload_ready_entry_naming_an_unknown_app_is_rejected() {
    rejects(
        "workloads/smi-apps/workload.yaml",
        (
            "manifests: [split.yaml]\n      ready: [app-a, app-b, app-c]",
            "manifests: [split.yaml]\n      ready: [app-a, app-b, app-x]",
            "app-x",
        ),
        "spec.layouts.split.ready[2]",
        "`app-x` is not a Deployment of the layout's manifests; they define app-a, app-b, app-c",
    );
}

#[test]
fn every_pin_expects_only_cases_of_the_suite() {
    let catalog = meshproof::spec::catalog::Catalog::new(common::repo());
    let suite = common::suite();
    let cases: Vec<&str> = suite.cases.iter().map(|c| c.name()).collect();
    for m in catalog.meshes().unwrap() {
        let text = String::from_utf8(m.bytes.clone()).unwrap();
        let problems = meshproof::spec::mesh::check_expected(&m.path, &text, &m.value, &cases);
        assert!(problems.is_empty(), "{problems:?}");
    }
}
