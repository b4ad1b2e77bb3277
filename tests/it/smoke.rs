//! The harness's data-path smoke (`suites/smi/smoke`): planned only for the control run, passes
//! against a cluster without a mesh, and is a real check — calls that a mesh denies fail it, and a
//! port-forward that keeps failing makes it an error, never a pass.

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use common::{model_timeouts, repo, suite, FakeClock, MeshModel, World};
use meshproof::observation::{CallRecord, MetricsObservation, ObjectResult, StepStatus};
use meshproof::plan::{plan, PlanRequest};
use meshproof::spec::case::TrafficCheck;
use meshproof::spec::catalog::Catalog;
use meshproof::suite::{run_case, CaseContext, HarnessError, NoProgress, SuiteBackend};
use meshproof::verdict::{judge, Capability, CaseStatus, CaseVerdict, Scoring};
use serde_json::Value;

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

/// The model as a backend, with a port-forward that can be made to fail on every call.
struct Backend {
    world: World,
    port_forward_broken: bool,
}

impl SuiteBackend for Backend {
    fn served_smi(&mut self) -> Result<BTreeMap<String, Vec<String>>, HarnessError> {
        self.world.served_smi()
    }
    fn create_namespace(
        &mut self,
        n: &str,
        l: &BTreeMap<String, String>,
        a: &BTreeMap<String, String>,
    ) -> Result<(), HarnessError> {
        self.world.create_namespace(n, l, a)
    }
    fn delete_namespace(&mut self, n: &str) -> Result<(), HarnessError> {
        self.world.delete_namespace(n)
    }
    fn apply(&mut self, n: &str, f: &str, o: &[Value]) -> Result<Vec<ObjectResult>, HarnessError> {
        self.world.apply(n, f, o)
    }
    fn delete(&mut self, n: &str, f: &str, o: &[Value]) -> Result<Vec<ObjectResult>, HarnessError> {
        SuiteBackend::delete(&mut self.world, n, f, o)
    }
    fn lookup(&mut self, n: &str, o: &Value) -> Result<Option<Value>, HarnessError> {
        SuiteBackend::lookup(&mut self.world, n, o)
    }
    fn traffic(
        &mut self,
        n: &str,
        c: &TrafficCheck,
        url: &str,
    ) -> Result<Vec<CallRecord>, HarnessError> {
        if self.port_forward_broken {
            return Err(HarnessError::transient(format!(
                "port-forward to pod {n}/{}-1 port 9091 failed: error upgrading connection",
                c.from
            )));
        }
        self.world.traffic(n, c, url)
    }
    fn metrics(&mut self, path: &str) -> Result<MetricsObservation, HarnessError> {
        SuiteBackend::metrics(&mut self.world, path)
    }
    fn pods(
        &mut self,
        n: &str,
    ) -> Result<Vec<meshproof::observation::PodObservation>, HarnessError> {
        SuiteBackend::pods(&mut self.world, n)
    }
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
    let mut b = Backend {
        world: World::new(mesh),
        port_forward_broken,
    };
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
