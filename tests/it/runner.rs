//! The suite runner: eventual polling, every attempt recorded, harness errors, interruption.

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{model_timeouts, osm, suite, FakeClock, MeshModel, World};
use meshproof::observation::{
    CallRecord, MetricsObservation, ObjectResult, PodObservation, StepStatus,
};
use meshproof::spec::case::TrafficCheck;
use meshproof::suite::{
    run_case, traffic_url, CaseContext, HarnessError, NoProgress, StepAt, StepProgress,
    SuiteBackend,
};
use serde_json::Value;

/// Wraps the model, records calls, and can fail or interrupt on demand.
struct Probe<'a> {
    world: World,
    urls: Vec<String>,
    namespaces: Vec<String>,
    fail_traffic_after: Option<usize>,
    /// The traffic calls (1-based) that fail once with a port-forward error.
    fail_traffic_calls: Vec<usize>,
    /// Failed traffic calls fail for good (a refused port-forward) rather than transiently.
    fatal: bool,
    cancel_after_traffic: Option<(usize, &'a AtomicBool)>,
    traffic_calls: usize,
}

impl SuiteBackend for Probe<'_> {
    fn served_smi(&mut self) -> Result<BTreeMap<String, Vec<String>>, HarnessError> {
        self.world.served_smi()
    }
    fn create_namespace(
        &mut self,
        ns: &str,
        l: &BTreeMap<String, String>,
        a: &BTreeMap<String, String>,
    ) -> Result<(), HarnessError> {
        self.namespaces.push(format!("create {ns} {l:?} {a:?}"));
        Ok(())
    }
    fn delete_namespace(&mut self, ns: &str) -> Result<(), HarnessError> {
        self.namespaces.push(format!("delete {ns}"));
        Ok(())
    }
    fn apply(&mut self, ns: &str, f: &str, o: &[Value]) -> Result<Vec<ObjectResult>, HarnessError> {
        self.world.apply(ns, f, o)
    }
    fn delete(
        &mut self,
        ns: &str,
        f: &str,
        o: &[Value],
    ) -> Result<Vec<ObjectResult>, HarnessError> {
        SuiteBackend::delete(&mut self.world, ns, f, o)
    }
    fn lookup(&mut self, ns: &str, o: &Value) -> Result<Option<Value>, HarnessError> {
        SuiteBackend::lookup(&mut self.world, ns, o)
    }
    fn traffic(
        &mut self,
        ns: &str,
        c: &TrafficCheck,
        url: &str,
    ) -> Result<Vec<CallRecord>, HarnessError> {
        self.traffic_calls += 1;
        self.urls.push(url.to_string());
        if self
            .fail_traffic_after
            .is_some_and(|n| self.traffic_calls > n)
            || self.fail_traffic_calls.contains(&self.traffic_calls)
        {
            let message = "port-forward to pod ns/app-a-1 port 9091 failed: connection closed";
            return Err(if self.fatal {
                HarnessError::fatal(message)
            } else {
                HarnessError::transient(message)
            });
        }
        if let Some((n, flag)) = self.cancel_after_traffic {
            if self.traffic_calls >= n {
                flag.store(true, Ordering::SeqCst);
            }
        }
        self.world.traffic(ns, c, url)
    }
    fn metrics(&mut self, path: &str) -> Result<MetricsObservation, HarnessError> {
        SuiteBackend::metrics(&mut self.world, path)
    }
    fn pods(&mut self, ns: &str) -> Result<Vec<PodObservation>, HarnessError> {
        SuiteBackend::pods(&mut self.world, ns)
    }
}

fn probe(mesh: MeshModel) -> Probe<'static> {
    Probe {
        world: World::new(mesh),
        urls: vec![],
        namespaces: vec![],
        fail_traffic_after: None,
        fail_traffic_calls: vec![],
        fatal: false,
        cancel_after_traffic: None,
        traffic_calls: 0,
    }
}

#[derive(Default)]
struct Log(Vec<String>);

impl StepProgress for Log {
    fn attempt(&mut self, at: StepAt<'_>, _: &str, attempt: usize) {
        self.0.push(format!(
            "{} {}/{} {} attempt {attempt}",
            at.case, at.k, at.n, at.step
        ));
    }
    fn step_done(&mut self, at: StepAt<'_>, status: StepStatus, held: bool, attempts: usize) {
        self.0.push(format!(
            "{} {}/{} {} {status:?} held={held} attempts={attempts}",
            at.case, at.k, at.n, at.step
        ));
    }
}

#[test]
fn eventual_steps_are_polled_and_every_attempt_is_recorded() {
    let s = suite();
    let lc = s.case("traffic-access").unwrap();
    let cancel = AtomicBool::new(false);
    let mesh = osm();
    let ctx = CaseContext {
        mesh: &mesh,
        port: 9091,
        workload: vec![],
        timeouts: model_timeouts(),
        cancel: &cancel,
    };
    let mut b = probe(MeshModel::Conformant);
    let mut log = Log::default();
    let clock = FakeClock::default();
    let obs = run_case(lc, "mp-abc-traffic-access", &ctx, &mut b, &clock, &mut log);
    let allowed = obs.steps.iter().find(|s| s.name == "allowed").unwrap();
    // The model's data plane lags one round: attempt 1 denied, attempt 2 allowed, both recorded.
    assert_eq!(allowed.attempts.len(), 2);
    assert_eq!(allowed.attempts[0].at_ms, 0);
    assert_eq!(
        allowed.attempts[1].at_ms, 1000,
        "one poll interval later, simulated"
    );
    assert!(allowed.attempts[0].traffic[0]
        .records
        .iter()
        .all(|r| r.error.as_deref() == Some("reset")));
    assert!(allowed.attempts[1].traffic[0]
        .records
        .iter()
        .all(|r| r.status == Some(200)));
    // Correct cluster DNS names (the original suite's template had a double dot).
    assert_eq!(
        b.urls[0],
        "http://app-b.mp-abc-traffic-access.svc.cluster.local:9091/echo"
    );
    // The namespace carries the mesh's onboarding; it is left for evidence collection.
    assert_eq!(b.namespaces.len(), 1);
    assert!(
        b.namespaces[0].contains("openservicemesh.io/monitored-by")
            && b.namespaces[0].contains("openservicemesh.io/sidecar-injection")
    );
    assert!(
        log.0
            .contains(&"traffic-access 5/7 allowed attempt 2".to_string()),
        "{:?}",
        log.0
    );
    assert!(log
        .0
        .contains(&"traffic-access 5/7 allowed Completed held=true attempts=2".to_string()));
    assert!(clock_ms(&clock) > 0);
}

fn clock_ms(c: &FakeClock) -> u64 {
    use meshproof::suite::Clock;
    c.now_ms()
}

#[test]
fn a_failed_precondition_stops_the_case_after_its_timeout() {
    let s = suite();
    let lc = s.case("traffic-split").unwrap();
    let cancel = AtomicBool::new(false);
    let mesh = osm();
    let ctx = CaseContext {
        mesh: &mesh,
        port: 9091,
        workload: vec![],
        timeouts: model_timeouts(),
        cancel: &cancel,
    };
    let mut b = probe(MeshModel::NoMesh);
    let obs = run_case(
        lc,
        "ns",
        &ctx,
        &mut b,
        &FakeClock::default(),
        &mut NoProgress,
    );
    assert_eq!(obs.steps[0].status, StepStatus::Completed);
    assert_eq!(
        obs.steps[0].attempts.len(),
        4,
        "polled until the 3 s timeout: t=0,1,2,3"
    );
    assert!(obs.steps[1..]
        .iter()
        .all(|s| s.status == StepStatus::NotRun && s.attempts.is_empty()));
    assert!(b.urls.is_empty(), "no traffic after a failed precondition");
    // No SMI API is served: the most preferred variant is recorded.
    assert_eq!(obs.variant, "split-v1alpha4");
    assert!(obs.served.is_empty());
}

#[test]
fn harness_failures_are_recorded_as_harness_errors() {
    let s = suite();
    let lc = s.case("traffic-access").unwrap();
    let cancel = AtomicBool::new(false);
    let mesh = osm();
    let ctx = CaseContext {
        mesh: &mesh,
        port: 9091,
        workload: vec![],
        timeouts: model_timeouts(),
        cancel: &cancel,
    };
    let mut b = probe(MeshModel::Conformant);
    b.fail_traffic_after = Some(1);
    let obs = run_case(
        lc,
        "ns",
        &ctx,
        &mut b,
        &FakeClock::default(),
        &mut NoProgress,
    );
    let st: Vec<StepStatus> = obs.steps.iter().map(|s| s.status).collect();
    use StepStatus::*;
    assert_eq!(
        st,
        [
            Completed,
            Completed,
            Completed,
            Completed,
            HarnessError,
            NotRun,
            NotRun
        ]
    );
    // A transient error that persists: retried at every poll until the 3 s timeout (t=0..3),
    // then the step is a harness error naming it, never a verdict on the mesh.
    let allowed = &obs.steps[4];
    let error = allowed.error.as_deref().unwrap();
    assert!(
        error.contains("port-forward to pod ns/app-a-1") && error.contains("4 time(s) in a row"),
        "{error}"
    );
    assert_eq!(allowed.retried.len(), 4);
    assert_eq!(
        allowed.retried.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
        [0, 1000, 2000, 3000]
    );
    // The namespace is left for evidence collection; the pipeline deletes it afterwards.
    assert_eq!(b.namespaces.len(), 1);
}

fn access_ctx<'a>(
    mesh: &'a meshproof::spec::mesh::Mesh,
    cancel: &'a AtomicBool,
) -> CaseContext<'a> {
    CaseContext {
        mesh,
        port: 9091,
        workload: vec![],
        timeouts: model_timeouts(),
        cancel,
    }
}

/// One port-forward error in the middle of a step is tried again at the next poll, and the step
/// completes and passes: a single harness hiccup no longer ends the case.
#[test]
fn one_port_forward_error_mid_step_is_retried_and_the_step_completes() {
    let s = suite();
    let lc = s.case("traffic-access").unwrap();
    let cancel = AtomicBool::new(false);
    let mesh = osm();
    let mut b = probe(MeshModel::Conformant);
    // Call 1: default-deny; call 2: `allowed` attempt 1 (the model's data plane still denies);
    // call 3: `allowed` attempt 2 breaks with a port-forward error; call 4 goes through.
    b.fail_traffic_calls = vec![3];
    let mut log = Log::default();
    let obs = run_case(
        lc,
        "ns",
        &access_ctx(&mesh, &cancel),
        &mut b,
        &FakeClock::default(),
        &mut log,
    );
    let allowed = obs.steps.iter().find(|s| s.name == "allowed").unwrap();
    assert_eq!(allowed.status, StepStatus::Completed);
    assert_eq!(allowed.error, None);
    assert_eq!(allowed.retried.len(), 1);
    assert_eq!(allowed.retried[0].at_ms, 1000);
    assert!(allowed.retried[0].error.contains("port-forward"));
    // Two completed attempts (the retried try is not one): t=0 denied, t=2000 allowed.
    assert_eq!(
        allowed.attempts.iter().map(|a| a.at_ms).collect::<Vec<_>>(),
        [0, 2000]
    );
    assert!(log
        .0
        .contains(&"traffic-access 5/7 allowed Completed held=true attempts=2".to_string()));
    // The case goes on and, judged, passes every step.
    assert!(obs.steps.iter().all(|s| s.status == StepStatus::Completed));
    let v = meshproof::verdict::judge(
        &s,
        &BTreeMap::from([("traffic-access".to_string(), obs)]),
        meshproof::verdict::Scoring::Strict,
        &common::semantics(MeshModel::Conformant),
    );
    assert_eq!(
        v.cases[0].status,
        meshproof::verdict::CaseStatus::Passed,
        "{:?}",
        v.cases[0].steps
    );
    // default-deny 1, allowed 3 (one retried), denied-again 2 (the data plane lags a round).
    assert_eq!(b.traffic_calls, 6);
}

/// An error that trying again cannot fix (a forbidden port-forward, a probe that miscounts) ends
/// the step at once, without waiting out the timeout.
#[test]
fn a_fatal_harness_error_ends_the_step_at_once() {
    let s = suite();
    let lc = s.case("traffic-access").unwrap();
    let cancel = AtomicBool::new(false);
    let mesh = osm();
    let mut b = probe(MeshModel::Conformant);
    b.fail_traffic_calls = vec![1];
    b.fatal = true;
    let obs = run_case(
        lc,
        "ns",
        &access_ctx(&mesh, &cancel),
        &mut b,
        &FakeClock::default(),
        &mut NoProgress,
    );
    let deny = &obs.steps[2];
    assert_eq!(deny.status, StepStatus::HarnessError);
    assert!(deny.retried.is_empty() && deny.attempts.is_empty());
    assert!(deny.error.as_deref().unwrap().contains("port-forward"));
    assert!(obs.steps[3..]
        .iter()
        .all(|s| s.status == StepStatus::NotRun));
    assert_eq!(b.traffic_calls, 1, "not retried");
}

/// A backend whose API server answers 503 to the first discovery and the first namespace
/// creation: the case set-up tries again within the apply timeout and the case runs.
struct Flaky {
    world: World,
    discovery_failures: usize,
    namespace_failures: usize,
}

impl SuiteBackend for Flaky {
    fn served_smi(&mut self) -> Result<BTreeMap<String, Vec<String>>, HarnessError> {
        if self.discovery_failures > 0 {
            self.discovery_failures -= 1;
            return Err(HarnessError::transient(
                "cannot list the API groups the cluster serves (GET /apis): the server is currently unable to handle the request (503 ServiceUnavailable)",
            ));
        }
        self.world.served_smi()
    }
    fn create_namespace(
        &mut self,
        ns: &str,
        l: &BTreeMap<String, String>,
        a: &BTreeMap<String, String>,
    ) -> Result<(), HarnessError> {
        if self.namespace_failures > 0 {
            self.namespace_failures -= 1;
            return Err(HarnessError::transient(format!(
                "cannot create namespace {ns}: etcdserver: request timed out (500 InternalError)"
            )));
        }
        self.world.create_namespace(ns, l, a)
    }
    fn delete_namespace(&mut self, ns: &str) -> Result<(), HarnessError> {
        self.world.delete_namespace(ns)
    }
    fn apply(&mut self, ns: &str, f: &str, o: &[Value]) -> Result<Vec<ObjectResult>, HarnessError> {
        self.world.apply(ns, f, o)
    }
    fn delete(
        &mut self,
        ns: &str,
        f: &str,
        o: &[Value],
    ) -> Result<Vec<ObjectResult>, HarnessError> {
        SuiteBackend::delete(&mut self.world, ns, f, o)
    }
    fn lookup(&mut self, ns: &str, o: &Value) -> Result<Option<Value>, HarnessError> {
        SuiteBackend::lookup(&mut self.world, ns, o)
    }
    fn traffic(
        &mut self,
        ns: &str,
        c: &TrafficCheck,
        url: &str,
    ) -> Result<Vec<CallRecord>, HarnessError> {
        self.world.traffic(ns, c, url)
    }
    fn metrics(&mut self, path: &str) -> Result<MetricsObservation, HarnessError> {
        SuiteBackend::metrics(&mut self.world, path)
    }
    fn pods(&mut self, ns: &str) -> Result<Vec<PodObservation>, HarnessError> {
        SuiteBackend::pods(&mut self.world, ns)
    }
}

#[test]
fn transient_set_up_errors_are_retried_within_the_apply_timeout() {
    let s = suite();
    let lc = s.case("traffic-access").unwrap();
    let cancel = AtomicBool::new(false);
    let mesh = osm();
    let mut b = Flaky {
        world: World::new(MeshModel::Conformant),
        discovery_failures: 1,
        namespace_failures: 1,
    };
    let clock = FakeClock::default();
    let obs = run_case(
        lc,
        "ns",
        &access_ctx(&mesh, &cancel),
        &mut b,
        &clock,
        &mut NoProgress,
    );
    assert!(
        obs.steps.iter().all(|s| s.status == StepStatus::Completed),
        "{:?}",
        obs.steps.first()
    );
    assert_eq!(obs.variant, "access-v1alpha3");

    // Failing past the apply timeout (3 s: tries at t=0..3) is a set-up harness error.
    let mut b = Flaky {
        world: World::new(MeshModel::Conformant),
        discovery_failures: 10,
        namespace_failures: 0,
    };
    let obs = run_case(
        lc,
        "ns",
        &access_ctx(&mesh, &cancel),
        &mut b,
        &FakeClock::default(),
        &mut NoProgress,
    );
    assert_eq!(obs.steps[0].status, StepStatus::HarnessError);
    let e = obs.steps[0].error.as_deref().unwrap();
    assert!(
        e.starts_with("case set-up: cannot list the API groups") && e.contains("tried 4 times"),
        "{e}"
    );
    assert_eq!(b.discovery_failures, 6);
}

#[test]
fn an_interrupt_stops_at_the_next_attempt_boundary() {
    let s = suite();
    let lc = s.case("traffic-split").unwrap();
    let cancel = AtomicBool::new(false);
    let mesh = osm();
    let ctx = CaseContext {
        mesh: &mesh,
        port: 9091,
        workload: vec![],
        timeouts: model_timeouts(),
        cancel: &cancel,
    };
    let mut b = probe(MeshModel::Conformant);
    b.cancel_after_traffic = Some((1, &cancel));
    let obs = run_case(
        lc,
        "ns",
        &ctx,
        &mut b,
        &FakeClock::default(),
        &mut NoProgress,
    );
    let spread = &obs.steps[2];
    assert_eq!(spread.status, StepStatus::HarnessError);
    assert!(spread.error.as_deref().unwrap().contains("interrupted"));
    assert_eq!(spread.attempts.len(), 1, "the attempt in flight is kept");
    assert!(obs.steps[3..]
        .iter()
        .all(|s| s.status == StepStatus::NotRun));
    assert_eq!(b.traffic_calls, 1);
}

#[test]
fn traffic_urls_follow_the_mesh_dns_template() {
    let mut mesh = osm();
    mesh.spec.dns.template = "{service}.{namespace}.traefik.mesh".into();
    let check: TrafficCheck =
        meshproof::yaml::from_str("t", "{from: app-a, to: app-svc, path: /echo, expect: any}")
            .unwrap();
    assert_eq!(
        traffic_url(&mesh, "ns1", 9091, &check).unwrap(),
        "http://app-svc.ns1.traefik.mesh:9091/echo"
    );
}
