//! The judge against observations from the reference model: conformant, no mesh, HTTPRouteGroup-blind.

use crate::common;

use common::{observe_case, observe_suite, semantics, suite, MeshModel};
use meshproof::observation::StepStatus;
use meshproof::verdict::{judge, Capability, CaseStatus, Outcome, Scoring};

/// The capability of every finished case (a case that did not finish has none).
fn capabilities(v: &meshproof::verdict::Verdicts) -> Vec<(String, Capability)> {
    v.cases
        .iter()
        .filter_map(|c| Some((c.name.clone(), v.effective(c)?)))
        .collect()
}

#[test]
fn conformant_mesh_is_full_everywhere() {
    let s = suite();
    let obs = observe_suite(&s, MeshModel::Conformant);
    let v = judge(&s, &obs, Scoring::Strict, &semantics(MeshModel::Conformant));
    assert_eq!(v.cases.len(), 4);
    for c in &v.cases {
        assert_eq!(
            c.capability,
            Some(Capability::Full),
            "{}: {:#?}",
            c.name,
            c.steps
        );
        assert_eq!(c.status, CaseStatus::Passed, "{}", c.name);
    }
    assert_eq!(v.summary.percent, "100.00");
    // Policy changes reach the data plane one attempt late: eventual checks pass on attempt 2.
    let access = v.cases.iter().find(|c| c.name == "traffic-access").unwrap();
    let allowed = access.steps.iter().find(|s| s.name == "allowed").unwrap();
    assert_eq!(allowed.attempts, 2);
    assert_eq!(allowed.passed_at_attempt, Some(2));
    // Variants follow what the mesh serves.
    assert_eq!(access.variant, "access-v1alpha3");
    let split = v.cases.iter().find(|c| c.name == "traffic-split").unwrap();
    assert_eq!(split.variant, "split-v1alpha4");
}

#[test]
fn no_mesh_is_none_on_access_split_and_spec() {
    let s = suite();
    let obs = observe_suite(&s, MeshModel::NoMesh);
    let v = judge(&s, &obs, Scoring::Strict, &semantics(MeshModel::NoMesh));
    for name in [
        "traffic-access",
        "traffic-split",
        "traffic-spec",
        "traffic-metrics",
    ] {
        let c = v.cases.iter().find(|c| c.name == name).unwrap();
        assert_eq!(c.capability, Some(Capability::None), "{name}");
        assert_eq!(c.status, CaseStatus::Failed, "{name}");
        // The CRD (or APIService) precondition fails, everything after it is skipped.
        assert_eq!(c.steps[0].outcome, Outcome::Fail, "{name}");
        assert!(
            c.steps[1..].iter().all(|s| s.outcome == Outcome::Skipped),
            "{name}"
        );
        assert!(
            c.steps[1].checks[0].observed.starts_with("skipped: step 1"),
            "{name}"
        );
    }
    let crd = &v.cases[0].steps[0].checks[0];
    assert!(crd.observed.contains("not found"), "{}", crd.observed);
}

#[test]
fn mesh_ignoring_http_route_groups_is_partial_on_traffic_spec() {
    let s = suite();
    let obs = observe_suite(&s, MeshModel::IgnoresHttpRouteGroup);
    let v = judge(
        &s,
        &obs,
        Scoring::Strict,
        &semantics(MeshModel::IgnoresHttpRouteGroup),
    );
    let caps = capabilities(&v);
    assert!(
        caps.contains(&("traffic-spec".into(), Capability::Partial)),
        "{caps:?}"
    );
    assert!(
        caps.contains(&("traffic-access".into(), Capability::Full)),
        "{caps:?}"
    );
    assert!(
        caps.contains(&("traffic-split".into(), Capability::Full)),
        "{caps:?}"
    );
    let spec = v.cases.iter().find(|c| c.name == "traffic-spec").unwrap();
    assert_eq!(spec.behaviour.pass, 2);
    assert_eq!(spec.behaviour.total, 4);
    let path = spec.steps.iter().find(|s| s.name == "path-rules").unwrap();
    assert_eq!(path.outcome, Outcome::Fail);
    assert_eq!(path.attempts, 4, "polled until the timeout");
    let denied = &path.checks[1];
    assert_eq!(denied.outcome, Outcome::Fail);
    assert!(
        denied.expected.contains("all denied"),
        "{}",
        denied.expected
    );
    assert!(denied.observed.contains("200×2"), "{}", denied.observed);
}

#[test]
fn meshery_scoring_reproduces_the_historical_formula() {
    let s = suite();
    // HTTPRouteGroup-blind mesh: traffic-spec first fails at step 4 of 6 → passed 3 ≥ 6/2 → HALF.
    let v = judge(
        &s,
        &observe_suite(&s, MeshModel::IgnoresHttpRouteGroup),
        Scoring::Meshery,
        &semantics(MeshModel::IgnoresHttpRouteGroup),
    );
    let spec = v.cases.iter().find(|c| c.name == "traffic-spec").unwrap();
    let m = spec.meshery.as_ref().unwrap();
    assert_eq!(
        (m.capability.as_str(), m.passed, m.steps, m.failed_step),
        ("HALF", 3, 6, Some(4))
    );
    assert_eq!(v.effective(spec), Some(Capability::Partial));
    // traffic-metrics is not part of the historical suite.
    let metrics = v
        .cases
        .iter()
        .find(|c| c.name == "traffic-metrics")
        .unwrap();
    assert!(metrics.meshery.is_none());
    assert_eq!(v.summary.meshery_steps, 24);
    assert_eq!(v.summary.meshery_cases_passed, 7 + 11 + 3);
    assert_eq!(v.summary.meshery_percent, "87.50");

    // No mesh: every case fails at step 1 → NONE, 0 of 24.
    let v = judge(
        &s,
        &observe_suite(&s, MeshModel::NoMesh),
        Scoring::Meshery,
        &semantics(MeshModel::NoMesh),
    );
    for c in v.cases.iter().filter(|c| c.meshery.is_some()) {
        let m = c.meshery.as_ref().unwrap();
        assert_eq!(
            (m.capability.as_str(), m.status.as_str(), m.passed),
            ("NONE", "FAILED", 0),
            "{}",
            c.name
        );
    }
    assert_eq!(v.summary.meshery_percent, "0.00");

    // Conformant: FULL, PASSED, 100 %.
    let v = judge(
        &s,
        &observe_suite(&s, MeshModel::Conformant),
        Scoring::Meshery,
        &semantics(MeshModel::Conformant),
    );
    assert!(v
        .cases
        .iter()
        .filter_map(|c| c.meshery.as_ref())
        .all(|m| m.capability == "FULL" && m.status == "PASSED"));
    assert_eq!(v.summary.meshery_percent, "100.00");
}

#[test]
fn a_reset_is_a_denial_only_where_the_pin_declares_it() {
    let s = suite();
    let lc = s.case("traffic-access").unwrap();
    let obs = observe_case(lc, MeshModel::Conformant);
    let deny = obs.steps.iter().find(|s| s.name == "default-deny").unwrap();
    let rec = &deny.attempts[0].traffic[0].records[0];
    assert_eq!(rec.error.as_deref(), Some("reset"));
    assert_eq!(rec.status, None);
    let v = judge(
        &s,
        &[(lc.name().to_string(), obs)].into(),
        Scoring::Strict,
        &semantics(MeshModel::Conformant),
    );
    let step = v.cases[0]
        .steps
        .iter()
        .find(|s| s.name == "default-deny")
        .unwrap();
    assert_eq!(step.outcome, Outcome::Pass);
    assert!(
        step.checks[0].observed.contains("reset×3 (mesh-denied×3)"),
        "{}",
        step.checks[0].observed
    );
    // Judged with the control's semantics (no signature), the same resets deny nothing: the
    // step cannot tell, so it is an error and the case claims no capability.
    let obs = observe_case(lc, MeshModel::Conformant);
    let v = judge(
        &s,
        &[(lc.name().to_string(), obs)].into(),
        Scoring::Strict,
        &semantics(MeshModel::NoMesh),
    );
    let step = v.cases[0]
        .steps
        .iter()
        .find(|s| s.name == "default-deny")
        .unwrap();
    assert_eq!(step.outcome, Outcome::Error, "{:?}", step.checks);
    assert!(
        step.checks[0]
            .observed
            .starts_with("inconclusive: 3 request(s): reset×3 (failed×3)"),
        "{}",
        step.checks[0].observed
    );
    assert_eq!(v.cases[0].status, CaseStatus::Error);
    assert_eq!(v.cases[0].capability, None);
}

#[test]
fn harness_errors_are_errors_not_mesh_failures() {
    let s = suite();
    let lc = s.case("traffic-split").unwrap();
    let mut obs = observe_case(lc, MeshModel::Conformant);
    let step = obs.steps.iter_mut().find(|s| s.name == "only-b").unwrap();
    step.status = StepStatus::HarnessError;
    step.error = Some("port-forward to app-a closed".into());
    let v = judge(
        &s,
        &[(lc.name().to_string(), obs)].into(),
        Scoring::Strict,
        &semantics(MeshModel::Conformant),
    );
    let c = &v.cases[0];
    assert_eq!(c.status, CaseStatus::Error);
    // It claims no capability, and neither does its spec.
    assert_eq!(c.capability, None);
    assert_eq!(v.effective(c), None);
    assert_eq!(v.specs[0].capability, None);
    assert_eq!(v.summary.cases.error, 1);
    let only_b = c.steps.iter().find(|s| s.name == "only-b").unwrap();
    assert_eq!(only_b.outcome, Outcome::Error);
    assert!(only_b.checks[0]
        .observed
        .contains("port-forward to app-a closed"));
    // A harness error never satisfies --require, whatever the capability.
    assert_eq!(v.below(Capability::None).len(), 1);
}

#[test]
fn judge_is_deterministic_and_total() {
    let s = suite();
    let obs = observe_suite(&s, MeshModel::Conformant);
    let sem = semantics(MeshModel::Conformant);
    let a = judge(&s, &obs, Scoring::Strict, &sem).to_json();
    let b = judge(&s, &obs, Scoring::Strict, &sem).to_json();
    assert_eq!(a, b);

    // Malformed observation sets still give verdicts.
    let mut broken = obs.clone();
    let acc = broken.get_mut("traffic-access").unwrap();
    acc.steps.remove(2); // a step never observed
    acc.steps[0].attempts.clear(); // completed without attempts
    for st in acc.steps.iter_mut() {
        for at in st.attempts.iter_mut() {
            for t in at.traffic.iter_mut() {
                t.check = 99; // traffic recorded for a check that does not exist
            }
        }
    }
    broken.get_mut("traffic-split").unwrap().variant = "split-v9".into();
    let mut stray = broken["traffic-spec"].clone();
    stray.case = "traffic-unknown".into();
    broken.insert("traffic-unknown".into(), stray);
    let v = judge(&s, &broken, Scoring::Strict, &sem);
    let acc = v.cases.iter().find(|c| c.name == "traffic-access").unwrap();
    assert_eq!(acc.steps[0].outcome, Outcome::Error);
    assert!(acc.steps[1..].iter().all(|s| s.outcome == Outcome::Skipped));
    let split = v.cases.iter().find(|c| c.name == "traffic-split").unwrap();
    assert_eq!(split.status, CaseStatus::Error);
    assert!(split.problem.as_deref().unwrap().contains("split-v9"));
    let unknown = v
        .cases
        .iter()
        .find(|c| c.name == "traffic-unknown")
        .unwrap();
    assert_eq!(
        unknown.problem.as_deref(),
        Some("no such case in the suite")
    );
    assert_eq!(
        judge(&s, &broken, Scoring::Strict, &sem).to_json(),
        v.to_json()
    );
}

#[test]
fn split_weights_are_judged_from_the_answering_backend() {
    let s = suite();
    let lc = s.case("traffic-split").unwrap();
    let obs = observe_case(lc, MeshModel::Conformant);
    let v = judge(
        &s,
        &[(lc.name().to_string(), obs)].into(),
        Scoring::Strict,
        &semantics(MeshModel::Conformant),
    );
    let c = &v.cases[0];
    let b_more = c.steps.iter().find(|s| s.name == "b-more").unwrap();
    assert_eq!(b_more.outcome, Outcome::Pass);
    // Smooth weighted round robin: 75/25 of 50 requests → 38/12 (rounded by the model).
    assert!(
        b_more.checks[0].observed.contains("app-b×38"),
        "{}",
        b_more.checks[0].observed
    );
    let only_c = c.steps.iter().find(|s| s.name == "only-c").unwrap();
    assert!(
        only_c.checks[0].observed.contains("answered by app-c×50"),
        "{}",
        only_c.checks[0].observed
    );
}
