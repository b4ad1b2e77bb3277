//! The suite runner: eventual polling, every attempt recorded, harness errors, interruption.

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use common::{model_timeouts, osm, suite, FakeClock, MeshModel, Scripted};
use meshproof::observation::StepStatus;
use meshproof::spec::case::TrafficCheck;
use meshproof::suite::{
    run_case, traffic_url, CaseContext, HarnessError, NoProgress, StepAt, StepProgress,
};

/// The bare model behind the shared scripted backend.
fn probe<'a>(mesh: MeshModel) -> Scripted<'a> {
    Scripted::new(mesh)
}

/// Traffic calls for which `fails(n)` holds fail with a port-forward error: for good when
/// `fatal` (a refused port-forward), otherwise transiently.
fn port_forward_fails(
    b: &mut Scripted<'_>,
    fails: impl Fn(usize) -> bool + Send + 'static,
    fatal: bool,
) {
    b.fail_traffic_when(move |n, _, _| {
        fails(n).then(|| {
            let message = "port-forward to pod ns/app-a-1 port 9091 failed: connection closed";
            if fatal {
                HarnessError::fatal(message)
            } else {
                HarnessError::transient(message)
            }
        })
    })
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
    port_forward_fails(&mut b, |n| n > 1, false);
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
    port_forward_fails(&mut b, |n| n == 3, false);
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
    port_forward_fails(&mut b, |n| n == 1, true);
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

#[test]
fn transient_set_up_errors_are_retried_within_the_apply_timeout() {
    let s = suite();
    let lc = s.case("traffic-access").unwrap();
    let cancel = AtomicBool::new(false);
    let mesh = osm();
    let mut b = probe(MeshModel::Conformant);
    b.discovery_failures = 1;
    b.namespace_failures = 1;
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
    let mut b = probe(MeshModel::Conformant);
    b.discovery_failures = 10;
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
