//! The suite runner: executes each case's steps against a backend with eventual semantics and
//! returns observations — never pass/fail (the judge decides).
//!
//! Each step is attempted until every check holds (the same `evaluate_attempt` the judge uses)
//! or the step's timeout passes; every attempt is recorded; there are no fixed sleeps, only the
//! poll interval between attempts. A precondition step that does not hold stops the case (the
//! later steps are recorded `not-run`); a harness failure is recorded as `harness-error`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::observation::{
    Attempt, CallRecord, CaseObservation, MetricsObservation, ObjectResult, ObjectSnapshot,
    StepObservation, StepStatus, TrafficObservation, OBSERVATION_FORMAT,
};
use crate::spec::case::{MetricsCheck, TrafficCheck};
use crate::spec::catalog::LoadedCase;
use crate::spec::mesh::Mesh;
use crate::timeouts::Timeouts;
use crate::verdict::{evaluate_attempt, expected_objects, object_ref};

/// The harness (not the mesh) failed: the cluster, the API server, the port-forward, ...
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HarnessError(pub String);

/// What the runner needs from a cluster. Synchronous: the real implementation blocks on kube-rs;
/// tests implement it with a model of a mesh.
pub trait SuiteBackend {
    /// SMI API group → versions the cluster serves now (discovery).
    fn served_smi(&mut self) -> Result<BTreeMap<String, Vec<String>>, HarnessError>;
    fn create_namespace(
        &mut self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<(), HarnessError>;
    fn delete_namespace(&mut self, namespace: &str) -> Result<(), HarnessError>;
    /// Server-side apply; a rejected object is an `ok: false` result, not an error.
    fn apply(
        &mut self,
        namespace: &str,
        file: &str,
        objects: &[Value],
    ) -> Result<Vec<ObjectResult>, HarnessError>;
    /// Delete and wait until gone; an absent object is `ok`.
    fn delete(
        &mut self,
        namespace: &str,
        file: &str,
        objects: &[Value],
    ) -> Result<Vec<ObjectResult>, HarnessError>;
    /// Read an object as the API server has it (`None` when absent or its kind is not served).
    fn lookup(&mut self, namespace: &str, object: &Value) -> Result<Option<Value>, HarnessError>;
    /// Ask `check.from` to call `url` `check.count` times, each on a fresh connection.
    fn traffic(
        &mut self,
        namespace: &str,
        check: &TrafficCheck,
        url: &str,
    ) -> Result<Vec<CallRecord>, HarnessError>;
    /// GET an API path (the SMI metrics API).
    fn metrics(&mut self, path: &str) -> Result<MetricsObservation, HarnessError>;
}

/// Time for the runner: real in a run, simulated in tests (no test ever sleeps).
pub trait Clock {
    fn now_ms(&self) -> u64;
    fn sleep_ms(&self, ms: u64);
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock {
    start: Option<std::time::Instant>,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            start: Some(std::time::Instant::now()),
        }
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.start
            .map(|s| s.elapsed().as_millis() as u64)
            .unwrap_or_default()
    }
    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Which step of which case an event is about.
#[derive(Debug, Clone, Copy)]
pub struct StepAt<'a> {
    pub case: &'a str,
    /// 1-based step index.
    pub k: usize,
    /// Steps in the case.
    pub n: usize,
    pub step: &'a str,
}

/// Progress callbacks of the runner (the pipeline renders them).
pub trait StepProgress {
    /// The step is being attempted for the `attempt`-th time; `doing` says what it checks.
    fn attempt(&mut self, at: StepAt<'_>, doing: &str, attempt: usize);
    /// The step finished with this status after `attempts` attempts; `held`: every check held.
    fn step_done(&mut self, at: StepAt<'_>, status: StepStatus, held: bool, attempts: usize);
}

/// Ignores progress.
#[derive(Debug, Default)]
pub struct NoProgress;

impl StepProgress for NoProgress {
    fn attempt(&mut self, _: StepAt<'_>, _: &str, _: usize) {}
    fn step_done(&mut self, _: StepAt<'_>, _: StepStatus, _: bool, _: usize) {}
}

/// Everything a case run needs besides the backend.
#[derive(Debug)]
pub struct CaseContext<'a> {
    pub mesh: &'a Mesh,
    /// Port every workload app listens on.
    pub port: u16,
    /// The workload layout's manifests for this case, image placeholder already replaced.
    pub workload: Vec<Value>,
    pub timeouts: Timeouts,
    /// Set by Ctrl-C / SIGTERM: stop at the next attempt boundary.
    pub cancel: &'a AtomicBool,
}

/// The namespace of a case in a run.
pub fn namespace_for(case: &str, run_id: &str) -> String {
    let short: String = run_id.chars().take(8).collect();
    format!("mp-{short}-{case}")
}

/// The URL the probe calls for a traffic check: the mesh's addressing (DNS naming or a local
/// upstream port) and the workload port. A pin that cannot address the Service is a harness error.
pub fn traffic_url(
    mesh: &Mesh,
    namespace: &str,
    port: u16,
    check: &TrafficCheck,
) -> Result<String, HarnessError> {
    let authority = mesh
        .authority(&check.to, namespace, port)
        .map_err(HarnessError)?;
    Ok(format!("http://{authority}{}", check.path))
}

/// The metrics API path of a check.
pub fn metrics_path(namespace: &str, check: &MetricsCheck) -> String {
    let base = format!(
        "/apis/metrics.smi-spec.io/v1alpha1/namespaces/{namespace}/{}/{}",
        check.resource.kind, check.resource.name
    );
    if check.edge.is_some() {
        format!("{base}/edges")
    } else {
        base
    }
}

/// Short words for what a step does, for progress lines.
fn doing(lc: &LoadedCase, index: usize) -> String {
    let checks = crate::verdict::check_specs(&lc.case.spec.steps[index]);
    checks
        .first()
        .map(|(_, _, e)| e.clone())
        .unwrap_or_default()
}

/// Run one case in `namespace`: create it with the mesh's onboarding, install the workload
/// layout, run the steps. The namespace is left for the caller, which collects evidence from it
/// before deleting it. Observations come back in every case; harness failures are inside them.
pub fn run_case(
    lc: &LoadedCase,
    namespace: &str,
    ctx: &CaseContext<'_>,
    backend: &mut dyn SuiteBackend,
    clock: &dyn Clock,
    progress: &mut dyn StepProgress,
) -> CaseObservation {
    let spec = &lc.case.spec;
    let steps = &spec.steps;
    let n = steps.len();
    let mut obs = CaseObservation {
        format: OBSERVATION_FORMAT,
        case: lc.name().to_string(),
        variant: spec.variants[0].name.clone(),
        namespace: namespace.to_string(),
        served: BTreeMap::new(),
        steps: Vec::new(),
    };
    // Set-up failures are harness errors recorded on the first step.
    let setup = (|| -> Result<(), HarnessError> {
        obs.served = backend.served_smi()?;
        if let Some(v) = spec.pick_variant(&obs.served) {
            obs.variant = v.name.clone();
        }
        backend.create_namespace(
            namespace,
            &ctx.mesh.spec.onboarding.labels,
            &ctx.mesh.spec.onboarding.annotations,
        )?;
        let applied = backend.apply(namespace, "workload", &ctx.workload)?;
        if let Some(bad) = applied.iter().find(|r| !r.ok) {
            return Err(HarnessError(format!(
                "installing the workload: {} rejected: {}",
                bad.object,
                bad.message.as_deref().unwrap_or("no reason given")
            )));
        }
        Ok(())
    })();
    let mut stop: Option<(StepStatus, Option<String>)> = match setup {
        Ok(()) => None,
        Err(e) => Some((StepStatus::HarnessError, Some(format!("case set-up: {e}")))),
    };
    for (index, step) in steps.iter().enumerate() {
        let at = StepAt {
            case: lc.name(),
            k: index + 1,
            n,
            step: &step.name,
        };
        if stop.is_none() && ctx.cancel.load(Ordering::SeqCst) {
            stop = Some((
                StepStatus::HarnessError,
                Some("interrupted (Ctrl-C)".into()),
            ));
        }
        if let Some((status, error)) = stop.take() {
            // The first step after a stop carries the reason; the rest are simply not run.
            obs.steps.push(StepObservation {
                name: step.name.clone(),
                status,
                error,
                attempts: Vec::new(),
            });
            progress.step_done(at, status, false, 0);
            stop = Some((StepStatus::NotRun, None));
            continue;
        }
        let timeout = ctx.timeouts.for_step(step).as_millis() as u64;
        let started = clock.now_ms();
        obs.steps.push(StepObservation {
            name: step.name.clone(),
            status: StepStatus::Completed,
            error: None,
            attempts: Vec::new(),
        });
        let what = doing(lc, index);
        let mut held = false;
        let mut failure: Option<String> = None;
        let mut interrupted = false;
        loop {
            let k = obs.steps[index].attempts.len() + 1;
            progress.attempt(at, &what, k);
            let at_ms = clock.now_ms().saturating_sub(started);
            match attempt(lc, &obs, index, namespace, ctx, backend, at_ms) {
                Ok(a) => {
                    let evals = evaluate_attempt(lc, &obs, index, &a);
                    obs.steps[index].attempts.push(a);
                    if evals.iter().all(|e| e.holds) {
                        held = true;
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(e.0);
                    break;
                }
            }
            if clock.now_ms().saturating_sub(started) >= timeout {
                break;
            }
            if ctx.cancel.load(Ordering::SeqCst) {
                interrupted = true;
                break;
            }
            clock.sleep_ms(ctx.timeouts.poll_interval_ms);
        }
        let so = &mut obs.steps[index];
        if let Some(e) = failure {
            so.status = StepStatus::HarnessError;
            so.error = Some(e);
            stop = Some((StepStatus::NotRun, None));
        } else if interrupted {
            so.status = StepStatus::HarnessError;
            so.error = Some("interrupted (Ctrl-C) before the step's expectations held".into());
            stop = Some((StepStatus::NotRun, None));
        } else if !held && !step.is_behavioural() {
            stop = Some((StepStatus::NotRun, None));
        }
        let (status, attempts) = (so.status, so.attempts.len());
        progress.step_done(at, status, held, attempts);
    }
    // The caller collects evidence from the namespace, then deletes it.
    obs
}

/// One attempt of step `index`: apply, delete, look up, send traffic, read metrics.
fn attempt(
    lc: &LoadedCase,
    obs: &CaseObservation,
    index: usize,
    namespace: &str,
    ctx: &CaseContext<'_>,
    backend: &mut dyn SuiteBackend,
    at_ms: u64,
) -> Result<Attempt, HarnessError> {
    let step = &lc.case.spec.steps[index];
    let objects = |f: &str| {
        expected_objects(lc, &obs.variant, namespace, f)
            .map_err(|e| HarnessError(format!("suite file: {e}")))
    };
    let mut a = Attempt {
        at_ms,
        ..Attempt::default()
    };
    for f in &step.apply {
        let docs = objects(f)?;
        a.applied.extend(backend.apply(namespace, f, &docs)?);
    }
    for f in &step.delete {
        let docs = objects(f)?;
        a.deleted.extend(backend.delete(namespace, f, &docs)?);
    }
    if let Some(asrt) = &step.assert {
        for f in asrt.present.iter().chain(&asrt.absent) {
            for o in objects(f)? {
                let value = backend.lookup(namespace, &o)?;
                a.objects.push(ObjectSnapshot {
                    file: f.clone(),
                    object: object_ref(&o),
                    found: value.is_some(),
                    value: value.map(strip_secret_data),
                });
            }
        }
    }
    for (i, t) in step.traffic.iter().enumerate() {
        let url = traffic_url(ctx.mesh, namespace, ctx.port, t)?;
        let records = backend.traffic(namespace, t, &url)?;
        a.traffic.push(TrafficObservation { check: i, records });
    }
    for (i, m) in step.metrics.iter().enumerate() {
        let mut mo = backend.metrics(&metrics_path(namespace, m))?;
        mo.check = i;
        a.metrics.push(mo);
    }
    Ok(a)
}

/// Secrets are recorded as metadata only.
fn strip_secret_data(mut v: Value) -> Value {
    if v["kind"] == "Secret" {
        if let Some(m) = v.as_object_mut() {
            m.remove("data");
            m.remove("stringData");
        }
    }
    v
}
