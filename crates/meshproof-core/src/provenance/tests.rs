//! The statement a bundle makes, and the checks, on the committed fixture's manifest and verdicts.

use super::*;
use crate::bundle::Limits;
use crate::verdict::{CaseVerdict, Scoring};

fn fixture() -> (Manifest, Verdicts, BTreeMap<String, String>) {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/fixtures/bundles/osm-model-conformant.tar.zst");
    let files = crate::bundle::read::read_selected(&path, &Limits::default(), |p| {
        p == paths::MANIFEST || p == paths::VERDICTS || p == paths::SHA256SUMS
    })
    .unwrap();
    let manifest: Manifest = serde_json::from_slice(&files[paths::MANIFEST]).unwrap();
    let verdicts: Verdicts = serde_json::from_slice(&files[paths::VERDICTS]).unwrap();
    let sums =
        crate::bundle::verify::parse_sums(std::str::from_utf8(&files[paths::SHA256SUMS]).unwrap())
            .unwrap();
    let inputs = sums
        .into_iter()
        .filter(|(p, _)| p.starts_with("inputs/"))
        .collect();
    (manifest, verdicts, inputs)
}

fn facts<'a>(m: &'a Manifest, v: &'a Verdicts, inputs: &BTreeMap<String, String>) -> Facts<'a> {
    Facts {
        manifest: m,
        verdicts: v,
        inputs: inputs.clone(),
    }
}

/// Make a finished case failed with `capability` (one behaviour check failing when below Full).
fn degrade(c: &mut CaseVerdict, capability: Capability) {
    c.status = CaseStatus::Failed;
    c.capability = Some(capability);
    let check = c
        .steps
        .iter_mut()
        .flat_map(|s| s.checks.iter_mut())
        .rfind(|k| k.kind == crate::verdict::CheckKind::Behaviour)
        .unwrap();
    check.outcome = Outcome::Fail;
}

#[test]
fn result_follows_status_cases_and_the_required_level() {
    let (_, v, _) = fixture();
    use Capability::*;
    use TestOutcome::*;
    assert_eq!(outcome(RunStatus::Complete, &v, Full), Passed);
    assert_eq!(outcome(RunStatus::Complete, &v, None), Passed);
    let mut partial = v.clone();
    degrade(&mut partial.cases[1], Partial);
    assert_eq!(outcome(RunStatus::Complete, &partial, Full), Failed);
    assert_eq!(outcome(RunStatus::Complete, &partial, Partial), Warned);
    assert_eq!(outcome(RunStatus::Complete, &partial, None), Warned);
    let mut none = partial.clone();
    degrade(&mut none.cases[0], None);
    assert_eq!(outcome(RunStatus::Complete, &none, Partial), Failed);
    assert_eq!(outcome(RunStatus::Complete, &none, None), Warned);
    // A Full case whose status is not `passed` (a non-behaviour check failed) only warns.
    let mut setup = v.clone();
    setup.cases[3].status = CaseStatus::Failed;
    assert_eq!(outcome(RunStatus::Complete, &setup, Full), Warned);
    // A run that is not complete never passes, whatever is required.
    for status in [
        RunStatus::Aborted,
        RunStatus::Incomplete,
        RunStatus::InfrastructureFailed,
    ] {
        assert_eq!(outcome(status, &v, None), Failed, "{status}");
    }
    let mut error = v.clone();
    error.cases[2].status = CaseStatus::Error;
    error.cases[2].capability = Option::None;
    assert_eq!(outcome(RunStatus::Complete, &error, None), Failed);
    let empty = Verdicts {
        cases: vec![],
        ..v.clone()
    };
    assert_eq!(outcome(RunStatus::Complete, &empty, None), Failed);
}

#[test]
fn tests_are_named_by_case_step_and_check_and_listed_by_outcome() {
    let (m, mut v, inputs) = fixture();
    let all = predicate(&facts(&m, &v, &inputs), Capability::Full, Option::None);
    // Every check, informational ones included (`checks.total` leaves those out).
    let total: usize = v
        .cases
        .iter()
        .flat_map(|c| &c.steps)
        .map(|s| s.checks.len())
        .sum();
    assert_eq!(all.passed_tests.len(), total);
    assert!(all
        .passed_tests
        .contains(&"traffic-access/default-deny/traffic-1".to_string()));
    assert!(all.warned_tests.is_empty() && all.failed_tests.is_empty());
    // fail and error → failed; skipped → no list.
    let mut checks = v.cases[0]
        .steps
        .iter_mut()
        .flat_map(|s| s.checks.iter_mut());
    for outcome in [Outcome::Fail, Outcome::Error, Outcome::Skipped] {
        checks.next().unwrap().outcome = outcome;
    }
    let p = predicate(&facts(&m, &v, &inputs), Capability::Full, Option::None);
    assert_eq!(
        p.failed_tests,
        [
            "traffic-access/crd-present/assert-present",
            "traffic-access/app-ready/assert-present"
        ]
    );
    assert_eq!(p.passed_tests.len(), total - 3);
}

#[test]
fn a_failed_informational_check_is_a_warned_test_and_warns() {
    let (m, mut v, inputs) = fixture();
    let check = v
        .cases
        .iter_mut()
        .flat_map(|c| c.steps.iter_mut())
        .flat_map(|s| s.checks.iter_mut())
        .find(|c| c.kind == crate::verdict::CheckKind::Informational)
        .expect("the suite has an informational check (traffic-split default-spread)");
    check.outcome = Outcome::Fail;
    let id = check.id.clone();
    // Never counted: the case still passed.
    assert!(v.cases.iter().all(|c| c.status == CaseStatus::Passed));
    let p = predicate(&facts(&m, &v, &inputs), Capability::Full, Option::None);
    assert_eq!(p.result, TestOutcome::Warned);
    assert_eq!(
        p.warned_tests,
        [format!("traffic-split/default-spread/{id}")]
    );
    assert!(p.failed_tests.is_empty());
}

#[test]
fn configuration_digests_every_input_and_describes_the_run() {
    let (m, v, inputs) = fixture();
    let p = predicate(
        &facts(&m, &v, &inputs),
        Capability::Partial,
        Some("https://ci.example/run/1"),
    );
    let names: Vec<_> = p
        .configuration
        .iter()
        .map(|d| d.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "inputs/cluster.yaml",
            "inputs/mesh.yaml",
            "inputs/suite",
            "inputs/workload",
            HARNESS
        ]
    );
    let mesh = &p.configuration[1];
    assert_eq!(mesh.digest["sha256"], inputs["inputs/mesh.yaml"]);
    assert_eq!(mesh.annotations["selection"], "osm@1.2.4");
    // dirHash over the files below inputs/suite/, paths relative to it.
    let suite = &p.configuration[2];
    let rel: Vec<(String, String)> = inputs
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("inputs/suite/")?.to_string(), v.clone())))
        .collect();
    assert_eq!(
        suite.digest["dirHash"],
        meshproof_attest::dir_hash(rel.iter().map(|(a, b)| (a.as_str(), b.as_str())))
    );
    let h = &p.configuration[4];
    assert_eq!(h.uri.as_deref(), Some("pkg:generic/meshproof@0.1.0"));
    assert_eq!(h.annotations["require"], "partial");
    assert_eq!(h.annotations["runStatus"], "complete");
    assert_eq!(h.annotations["scoring"], "strict");
    assert_eq!(h.annotations["runId"], m.run.id.as_str());
    assert_eq!(
        h.annotations["cases"]["traffic-split"],
        json!({"status": "passed", "capability": "Full"})
    );
    // The fixture was packed by a build of no known tree: said so, and no gitCommit claimed.
    assert_eq!(h.annotations["revision"], crate::UNKNOWN_REVISION);
    assert!(h.digest.is_empty());
    assert_eq!(p.url.as_deref(), Some("https://ci.example/run/1"));
    assert_eq!(attested_require(&p), Ok(Capability::Partial));
}

#[test]
fn a_clean_revision_is_a_git_commit_digest_and_a_dirty_one_is_not() {
    let (mut m, v, inputs) = fixture();
    let rev = "0123456789abcdef0123456789abcdef01234567";
    m.tool.git_revision = Some(rev.into());
    let p = predicate(&facts(&m, &v, &inputs), Capability::Full, Option::None);
    assert_eq!(p.configuration[4].digest["gitCommit"], rev);
    m.tool.git_revision = Some(format!("{rev}-dirty"));
    let p = predicate(&facts(&m, &v, &inputs), Capability::Full, Option::None);
    assert!(p.configuration[4].digest.is_empty());
    assert_eq!(
        p.configuration[4].annotations["revision"],
        format!("{rev}-dirty")
    );
    // Bundles written before the revision was always recorded.
    m.tool.git_revision = Option::None;
    let p = predicate(&facts(&m, &v, &inputs), Capability::Full, Option::None);
    assert_eq!(p.configuration[4].annotations["revision"], "unknown");
}

#[test]
fn meshery_scoring_reports_the_effective_capability() {
    let (mut m, mut v, inputs) = fixture();
    v.scoring = Scoring::Meshery;
    m.run.scoring = Scoring::Meshery;
    let p = predicate(&facts(&m, &v, &inputs), Capability::Full, Option::None);
    let h = &p.configuration[4];
    assert_eq!(h.annotations["scoring"], "meshery");
    assert_eq!(
        h.annotations["cases"]["traffic-access"]["capability"],
        "Full"
    );
}

#[test]
fn results_check_names_the_first_field_that_differs() {
    let (m, v, inputs) = fixture();
    let f = facts(&m, &v, &inputs);
    let good = predicate(&f, Capability::Full, Option::None);
    assert!(check_results(&good, &f)
        .unwrap()
        .starts_with("PASSED (require full)"));
    // A url is the signer's claim, not re-derived: any url passes.
    let mut with_url = good.clone();
    with_url.url = Some("https://example.org/x".into());
    assert!(check_results(&with_url, &f).is_ok());

    let mut lied = good.clone();
    lied.result = TestOutcome::Warned;
    let e = check_results(&lied, &f).unwrap_err();
    assert!(
        e.contains("predicate.result: attested \"WARNED\", re-derived \"PASSED\""),
        "{e}"
    );

    let mut capability = good.clone();
    capability.configuration[4].annotations.insert(
        "cases".into(),
        json!({"traffic-access": {"status": "passed", "capability": "Partial"}}),
    );
    let e = check_results(&capability, &f).unwrap_err();
    assert!(
        e.contains("predicate.configuration[4].annotations.cases"),
        "{e}"
    );

    let mut digest = good.clone();
    digest.configuration[1]
        .digest
        .insert("sha256".into(), "00".repeat(32));
    let e = check_results(&digest, &f).unwrap_err();
    assert!(
        e.contains("predicate.configuration[1].digest.sha256"),
        "{e}"
    );

    let mut dropped = good.clone();
    dropped.failed_tests.push("traffic-access/x/y".into());
    let e = check_results(&dropped, &f).unwrap_err();
    assert!(
        e.contains("predicate.failedTests[0]: attested \"traffic-access/x/y\", re-derived nothing"),
        "{e}"
    );

    // The required level is read from the attestation; without it nothing can be compared.
    let mut no_require = good.clone();
    no_require.configuration[4].annotations.remove("require");
    assert!(check_results(&no_require, &f)
        .unwrap_err()
        .contains("no `require` annotation"));
    // The result is checked against the level the attestation says it used.
    let mut partial = v.clone();
    degrade(&mut partial.cases[0], Capability::Partial);
    let f = facts(&m, &partial, &inputs);
    let mut weaker = predicate(&f, Capability::None, Option::None);
    assert_eq!(weaker.result, TestOutcome::Warned);
    assert!(check_results(&weaker, &f)
        .unwrap()
        .contains("WARNED (require none)"));
    weaker.configuration[4]
        .annotations
        .insert("require".into(), json!("full"));
    let e = check_results(&weaker, &f).unwrap_err();
    assert!(
        e.contains("attested \"WARNED\", re-derived \"FAILED\""),
        "{e}"
    );
}

#[test]
fn subject_and_rejudged_checks() {
    let (mut m, v, inputs) = fixture();
    let sha = "ab".repeat(32);
    let s = statement(
        "run.tar.zst",
        &sha,
        predicate(&facts(&m, &v, &inputs), Capability::Full, Option::None),
    );
    assert!(check_subject(&s, &sha).unwrap().contains("`run.tar.zst`"));
    let e = check_subject(&s, &"cd".repeat(32)).unwrap_err();
    assert!(e.contains(&format!("`run.tar.zst` (sha256 {sha})")), "{e}");
    assert!(check_not_rejudged(&m).is_ok());
    m.rejudged_from = Some(crate::bundle::Rejudged {
        run_id: "0123".into(),
        bundle_sha256: Some(sha.clone()),
        changed: vec!["observations/traffic-split.json".into()],
        compared: true,
    });
    let e = check_not_rejudged(&m).unwrap_err();
    assert!(e.contains("re-judged from run 0123"), "{e}");
    assert!(e.contains("observations/traffic-split.json"), "{e}");
}

#[test]
fn text_from_an_attestation_is_escaped() {
    assert_eq!(printable("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
    assert_eq!(printable(&"x".repeat(500)).chars().count(), 201);
}
