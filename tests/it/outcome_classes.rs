//! Outcome classes end to end through the real runner and judge (issue 11): calls that never
//! reached a mesh decision (DNS failures, refused connections, a pod without its sidecar) satisfy
//! no expectation, are retried within the step's timeout, and when they persist the step is an
//! inconclusive harness error naming them: the case is an error, never a capability.

use crate::common;

use common::{observe_case_in, osm, semantics, suite, MeshModel, Scripted, World};
use meshproof::calls::Semantics;
use meshproof::observation::{CallRecord, StepStatus};
use meshproof::spec::mesh::Mesh;
use meshproof::verdict::{judge, CaseStatus, Outcome, Scoring, Verdicts};

/// OSM 1.2.4 as a sidecar mesh that does not claim refused connections: its pin declares a
/// refused connection as its own denial (no outbound listener, with sources), which is exactly the
/// per-pin exception this test must not rely on.
fn sidecar_pin() -> Mesh {
    let mut pin = osm();
    pin.spec
        .denial
        .signatures
        .retain(|s| s.error.as_deref() != Some("connect-refused"));
    pin
}

/// Run traffic-access against the model with the first `broken` traffic rounds failing before
/// the mesh: every call gets the transport error `kind` (`dns`: CoreDNS not answering yet;
/// `connect-refused`: a ClusterIP kube-proxy has not programmed yet). Judged with `pin`'s
/// semantics.
fn access_with(
    pin: &Mesh,
    kind: &'static str,
    broken: usize,
) -> (Verdicts, Vec<(String, StepStatus)>) {
    let s = suite();
    let lc = s.case("traffic-access").unwrap();
    let mut backend = Scripted::new(MeshModel::Conformant);
    let mut broken = broken;
    backend.rewrite_calls_with(move |_, records| {
        if broken > 0 {
            broken -= 1;
            for r in records {
                *r = CallRecord {
                    status: None,
                    error: Some(kind.to_string()),
                    error_detail: Some(format!("{kind}: before any mesh decision")),
                    backend: None,
                    ..r.clone()
                };
            }
        }
    });
    let obs = common::observe_case_with(lc, pin, &mut backend);
    let statuses = obs
        .steps
        .iter()
        .map(|s| (s.name.clone(), s.status))
        .collect();
    let v = judge(
        &s,
        &[(lc.name().to_string(), obs)].into(),
        Scoring::Strict,
        &Semantics::of(pin),
    );
    (v, statuses)
}

fn step<'a>(v: &'a Verdicts, name: &str) -> &'a meshproof::verdict::StepVerdict {
    v.cases[0].steps.iter().find(|s| s.name == name).unwrap()
}

#[test]
fn dns_and_refused_calls_never_satisfy_default_deny_and_persisting_ones_are_an_error() {
    for kind in ["dns", "connect-refused"] {
        // Every round fails before the mesh: the old `ok == 0` rule would have passed
        // default-deny on the first attempt.
        let (v, statuses) = access_with(&sidecar_pin(), kind, usize::MAX);
        let deny = step(&v, "default-deny");
        assert_eq!(deny.outcome, Outcome::Error, "{kind}: {:?}", deny.checks);
        assert_eq!(deny.attempts, 4, "{kind}: retried until the step's timeout");
        let observed = &deny.checks[0].observed;
        assert!(
            observed.contains("inconclusive after the step's timeout")
                && observed.contains(&format!("{kind}×3 (inconclusive×3)"))
                && observed.contains("inconclusive calls from app-a to http://app-b."),
            "{kind}: {observed}"
        );
        // The case is an error, claims no capability, and the rest of it was not run.
        let c = &v.cases[0];
        assert_eq!(c.status, CaseStatus::Error, "{kind}");
        assert_eq!(c.capability, None, "{kind}");
        assert_eq!(v.unfinished().len(), 1);
        let after: Vec<_> = statuses
            .iter()
            .skip_while(|(n, _)| n != "default-deny")
            .skip(1)
            .collect();
        assert!(
            after.iter().all(|(_, s)| *s == StepStatus::NotRun),
            "{statuses:?}"
        );
        assert!(statuses.contains(&("default-deny".to_string(), StepStatus::HarnessError)));
    }
}

#[test]
fn a_transient_pre_mesh_failure_is_retried_and_the_mesh_denial_then_holds() {
    // One round of DNS failures, then the mesh's own denial (a reset, OSM's no-filter-chain).
    let (v, _) = access_with(&sidecar_pin(), "dns", 1);
    let deny = step(&v, "default-deny");
    assert_eq!(deny.outcome, Outcome::Pass, "{:?}", deny.checks);
    assert_eq!(deny.passed_at_attempt, Some(2));
    assert!(
        deny.checks[0].observed.contains("reset×3 (mesh-denied×3)"),
        "{}",
        deny.checks[0].observed
    );
    assert_eq!(v.cases[0].status, CaseStatus::Passed);
}

#[test]
fn a_refused_connection_is_a_denial_only_for_a_pin_that_declares_it_with_a_source() {
    // OSM with egress off has no outbound listener for a caller with no allowed upstream: the
    // iptables redirect is refused, which its own e2e tests expect (the pin cites them).
    let (v, _) = access_with(&osm(), "connect-refused", usize::MAX);
    let deny = step(&v, "default-deny");
    assert_eq!(deny.outcome, Outcome::Pass, "{:?}", deny.checks);
    assert!(deny.checks[0]
        .observed
        .contains("connect-refused×3 (mesh-denied×3)"));
    // DNS is never anyone's denial.
    let (v, _) = access_with(&osm(), "dns", usize::MAX);
    assert_eq!(step(&v, "default-deny").outcome, Outcome::Error);
}

#[test]
fn a_pod_without_its_sidecar_makes_app_ready_a_harness_error_naming_the_pod() {
    let s = suite();
    for case in ["traffic-access", "traffic-split"] {
        let lc = s.case(case).unwrap();
        // The injector failed open: the pods run, ready, without OSM's envoy container.
        let mut world = World::new(MeshModel::Conformant);
        world.unmeshed = true;
        let obs = observe_case_in(lc, world);
        let ready = obs.steps.iter().find(|s| s.name == "app-ready").unwrap();
        assert_eq!(ready.status, StepStatus::HarnessError, "{case}");
        let error = ready.error.as_deref().unwrap();
        assert!(
            error.contains("no envoy container in pod app-a-6d4cf56db6-x7k2p (containers: probe)"),
            "{case}: {error}"
        );
        let v = judge(
            &s,
            &[(lc.name().to_string(), obs)].into(),
            Scoring::Strict,
            &semantics(MeshModel::Conformant),
        );
        let c = &v.cases[0];
        assert_eq!(c.status, CaseStatus::Error, "{case}");
        assert_eq!(c.capability, None, "{case}");
        let ready = c.steps.iter().find(|s| s.name == "app-ready").unwrap();
        assert_eq!(ready.outcome, Outcome::Error);
        let dp = ready.checks.iter().find(|c| c.id == "data-plane").unwrap();
        assert!(
            dp.observed.contains("app-a-6d4cf56db6-x7k2p"),
            "{}",
            dp.observed
        );
    }
}

#[test]
fn the_control_needs_no_sidecar_and_its_calls_are_judged_on_what_happened() {
    // No mesh: pods without a sidecar are fine, every call succeeds, default-deny fails (earned).
    let s = suite();
    let lc = s.case("traffic-access").unwrap();
    let obs = observe_case_in(lc, World::new(MeshModel::NoMesh));
    let v = judge(
        &s,
        &[(lc.name().to_string(), obs)].into(),
        Scoring::Strict,
        &semantics(MeshModel::NoMesh),
    );
    // The control serves no SMI CRD, so the case stops at crd-present: a failure, not an error.
    assert_eq!(v.cases[0].status, CaseStatus::Failed);
}

#[test]
fn calls_from_a_pod_that_lost_its_sidecar_are_inconclusive_not_allowed() {
    // Judge recorded observations where app-a's pod has no envoy container: the successes of
    // `allowed` say nothing about the mesh, so the step is an error rather than a pass.
    let s = suite();
    let lc = s.case("traffic-access").unwrap();
    let mut obs = common::observe_case(lc, MeshModel::Conformant);
    for st in &mut obs.steps {
        for a in &mut st.attempts {
            for t in &mut a.traffic {
                for r in &mut t.records {
                    if let Some(p) = r.source_pod.as_mut() {
                        p.containers.retain(|c| c != "envoy");
                    }
                }
            }
        }
    }
    let v = judge(
        &s,
        &[(lc.name().to_string(), obs)].into(),
        Scoring::Strict,
        &semantics(MeshModel::Conformant),
    );
    let allowed = step(&v, "allowed");
    assert_eq!(allowed.outcome, Outcome::Error);
    assert!(
        allowed.checks[0]
            .observed
            .contains("has no envoy container (containers: probe)"),
        "{}",
        allowed.checks[0].observed
    );
    assert_eq!(v.cases[0].status, CaseStatus::Error);
}
