//! The harness's data-path smoke (`suites/smi/smoke`): planned only for the control run, passes
//! against a cluster without a mesh, and is a real check — calls that a mesh denies fail it, and a
//! port-forward that keeps failing makes it an error, never a pass.

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use common::{model_timeouts, repo, suite, FakeClock, MeshModel, Scripted};
use meshproof::observation::StepStatus;
use meshproof::plan::{plan, PlanRequest};
use meshproof::spec::catalog::Catalog;
use meshproof::suite::{run_case, CaseContext, HarnessError, NoProgress};
use meshproof::verdict::{judge, Capability, CaseStatus, CaseVerdict, Scoring};

fn planned(mesh: &str) -> Vec<String> {
    let req = PlanRequest {
        mesh: mesh.into(),
        ..PlanRequest::default()
    };
    plan(&Catalog::new(repo()), &req)
        .unwrap()
        .cases
        .into_iter()
        .map(|c| c.name)
        .collect()
}

#[test]
fn the_smoke_is_planned_for_the_control_run_only() {
    assert!(planned("none").contains(&"smoke".to_string()));
    for mesh in ["osm", "linkerd", "traefik-mesh"] {
        assert!(!planned(mesh).contains(&"smoke".to_string()), "{mesh}");
    }
    // Asking for it under a mesh is bad input, named.
    common::bin()
        .args(["plan", "--mesh", "osm", "--only", "smoke"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "case `smoke` is the harness's data-path smoke: it runs only in the control run",
        ));
}

fn smoke(mesh: MeshModel, port_forward_broken: bool) -> CaseVerdict {
    let s = suite();
    let lc = s.case("smoke").unwrap();
    // The pin the model plays: the control for the no-mesh model (its calls are judged by it).
    let pin = common::pin_of(mesh);
    let cancel = AtomicBool::new(false);
    let ctx = CaseContext {
        mesh: &pin,
        port: 9091,
        workload: vec![],
        timeouts: model_timeouts(),
        cancel: &cancel,
    };
    let mut b = Scripted::new(mesh);
    if port_forward_broken {
        // The port-forward fails on every call.
        b.fail_traffic_when(|_, n, c| {
            Some(HarnessError::transient(format!(
                "port-forward to pod {n}/{}-1 port 9091 failed: error upgrading connection",
                c.from
            )))
        });
    }
    let obs = run_case(
        lc,
        "mp-test-smoke",
        &ctx,
        &mut b,
        &FakeClock::default(),
        &mut NoProgress,
    );
    if port_forward_broken {
        assert_eq!(obs.steps[1].status, StepStatus::HarnessError);
    }
    judge(
        &s,
        &BTreeMap::from([("smoke".into(), obs)]),
        Scoring::Strict,
        &meshproof::calls::Semantics::of(&pin),
    )
    .cases
    .remove(0)
}

#[test]
fn without_a_mesh_every_call_reaches_the_app_it_was_sent_to() {
    let v = smoke(MeshModel::NoMesh, false);
    assert_eq!(v.status, CaseStatus::Passed, "{:?}", v.steps);
    assert_eq!(v.capability, Some(Capability::Full));
    let reach = &v.steps[1];
    assert_eq!(reach.checks.len(), 3);
    assert!(
        reach.checks[0].observed.contains("app-b"),
        "{:?}",
        reach.checks
    );
}

/// The smoke can fail: where calls are denied (here a deny-by-default mesh model with no
/// TrafficTarget), its traffic checks do not hold and the case fails.
#[test]
fn calls_that_are_denied_fail_the_smoke() {
    let v = smoke(MeshModel::Conformant, false);
    assert_eq!(v.status, CaseStatus::Failed, "{:?}", v.steps);
    assert_eq!(v.capability, Some(Capability::None));
}

/// A driver that cannot reach any probe makes the smoke an error (exit 4 for the run), never a
/// pass and never a capability.
#[test]
fn a_port_forward_that_keeps_failing_makes_the_smoke_an_error() {
    let v = smoke(MeshModel::NoMesh, true);
    assert_eq!(v.status, CaseStatus::Error, "{:?}", v.steps);
    assert_eq!(v.capability, None);
    assert!(v.steps[1].checks[0].observed.contains("port-forward"));
}
