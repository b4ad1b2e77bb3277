//! The suite runner: executes each case's steps against a backend with eventual semantics and
//! returns observations — never pass/fail (the judge decides).
//!
//! Each step is attempted until every check holds (the same `evaluate_attempt` the judge uses)
//! or the step's timeout passes; every attempt is recorded; there are no fixed sleeps, only the
//! poll interval between attempts. A precondition step that does not hold stops the case (the
//! later steps are recorded `not-run`); a harness failure is recorded as `harness-error` — at
//! once when trying again cannot help, else when it persists until the step's timeout (each
//! retried one is recorded in the step's `retried`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::calls::Semantics;
use crate::observation::{
    Attempt, CallRecord, CaseObservation, MetricsObservation, ObjectResult, ObjectSnapshot,
    PodObservation, RetriedError, StepObservation, StepStatus, TrafficObservation,
    OBSERVATION_FORMAT,
};
use crate::spec::case::{MetricsCheck, TrafficCheck};
use crate::spec::catalog::LoadedCase;
use crate::spec::mesh::Mesh;
use crate::timeouts::Timeouts;
use crate::verdict::{evaluate_attempt, expected_objects, object_ref};

/// The harness (not the mesh) failed: the cluster, the API server, the port-forward, ...
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HarnessError {
    pub message: String,
    /// Trying again may succeed (a broken port-forward, no ready pod yet, a 5xx from the API
    /// server): the runner retries the step within its timeout. Otherwise the step ends now.
    pub transient: bool,
}

impl HarnessError {
    /// An error that trying again cannot fix (a refused request, a malformed probe answer).
    pub fn fatal(message: impl Into<String>) -> Self {
        HarnessError {
            message: message.into(),
            transient: false,
        }
    }

    /// An error that may go away: retried within the step's timeout.
    pub fn transient(message: impl Into<String>) -> Self {
        HarnessError {
            message: message.into(),
            transient: true,
        }
    }
}

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
    /// The pods of the case namespace with their containers (data-plane checks).
    fn pods(&mut self, namespace: &str) -> Result<Vec<PodObservation>, HarnessError>;
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
        .map_err(HarnessError::fatal)?;
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
///
/// Transient harness errors (a broken port-forward, no ready pod yet, a 5xx from the API
/// server) are retried within the timeout of the step (of the apply timeout during set-up) and
/// recorded in the step's `retried`; only one that persists to the timeout, or one that trying
/// again cannot fix, ends the step as a harness error.
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
    let mut stop: Option<(StepStatus, Option<String>)> =
        match set_up(lc, namespace, ctx, backend, clock, &mut obs) {
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
                retried: Vec::new(),
            });
            progress.step_done(at, status, false, 0);
            stop = Some((StepStatus::NotRun, None));
            continue;
        }
        let held = run_step(
            lc, index, namespace, ctx, backend, clock, progress, &mut obs,
        );
        let so = &obs.steps[index];
        if so.status == StepStatus::HarnessError || (!held && !step.is_behavioural()) {
            stop = Some((StepStatus::NotRun, None));
        }
        progress.step_done(at, so.status, held, so.attempts.len());
    }
    // The caller collects evidence from the namespace, then deletes it.
    obs
}

/// Discover the served SMI versions, pick the variant, create the namespace with the mesh's
/// onboarding and install the workload; transient errors are tried again within the apply
/// timeout.
fn set_up(
    lc: &LoadedCase,
    namespace: &str,
    ctx: &CaseContext<'_>,
    backend: &mut dyn SuiteBackend,
    clock: &dyn Clock,
    obs: &mut CaseObservation,
) -> Result<(), HarnessError> {
    let started = clock.now_ms();
    let timeout = ctx.timeouts.apply().as_millis() as u64;
    let mut tries = 0u32;
    loop {
        tries += 1;
        let result = (|| -> Result<(), HarnessError> {
            discover(lc, backend, obs)?;
            backend.create_namespace(
                namespace,
                &ctx.mesh.spec.onboarding.labels,
                &ctx.mesh.spec.onboarding.annotations,
            )?;
            let applied = backend.apply(namespace, "workload", &ctx.workload)?;
            if let Some(bad) = applied.iter().find(|r| !r.ok) {
                return Err(HarnessError::fatal(format!(
                    "installing the workload: {} rejected: {}",
                    bad.object,
                    bad.message.as_deref().unwrap_or("no reason given")
                )));
            }
            Ok(())
        })();
        match result {
            Err(e)
                if e.transient
                    && clock.now_ms().saturating_sub(started) < timeout
                    && !ctx.cancel.load(Ordering::SeqCst) =>
            {
                clock.sleep_ms(ctx.timeouts.poll_interval_ms);
            }
            Err(e) if tries > 1 => {
                return Err(HarnessError {
                    message: format!("{} (tried {tries} times)", e.message),
                    ..e
                })
            }
            other => return other,
        }
    }
}

/// Ask the cluster which SMI versions it serves and take the most preferred variant it serves
/// (the most preferred one when it serves none). `served` records the answer the variant was
/// picked from.
fn discover(
    lc: &LoadedCase,
    backend: &mut dyn SuiteBackend,
    obs: &mut CaseObservation,
) -> Result<(), HarnessError> {
    obs.served = backend.served_smi()?;
    if let Some(v) = lc.case.spec.pick_variant(&obs.served) {
        obs.variant = v.name.clone();
    }
    Ok(())
}

/// Whether step `index` re-discovers the served SMI versions before each of its attempts after
/// the first: the case's first step, when it only asserts objects (`crd-present`). Meshes such
/// as OSM create their SMI CRDs at run time (osm-bootstrap), so the case-start snapshot may miss
/// versions the cluster serves a moment later; while this step waits for the CRDs, the variant
/// follows discovery. Once the step is over nothing has been applied under the variant yet, and
/// from then on it is fixed.
fn rediscovers(lc: &LoadedCase, index: usize) -> bool {
    let step = &lc.case.spec.steps[index];
    index == 0
        && step.assert.is_some()
        && step.apply.is_empty()
        && step.delete.is_empty()
        && step.traffic.is_empty()
        && step.metrics.is_empty()
}

/// Attempt step `index` until every check holds or its timeout passes, recording every attempt
/// (and every retried harness error) in `obs`; returns whether every check held.
#[allow(clippy::too_many_arguments)]
fn run_step(
    lc: &LoadedCase,
    index: usize,
    namespace: &str,
    ctx: &CaseContext<'_>,
    backend: &mut dyn SuiteBackend,
    clock: &dyn Clock,
    progress: &mut dyn StepProgress,
    obs: &mut CaseObservation,
) -> bool {
    let step = &lc.case.spec.steps[index];
    let at = StepAt {
        case: lc.name(),
        k: index + 1,
        n: lc.case.spec.steps.len(),
        step: &step.name,
    };
    let timeout = ctx.timeouts.for_step(step).as_millis() as u64;
    let started = clock.now_ms();
    obs.steps.push(StepObservation {
        name: step.name.clone(),
        status: StepStatus::Completed,
        error: None,
        attempts: Vec::new(),
        retried: Vec::new(),
    });
    let what = doing(lc, index);
    let sem = Semantics::of(ctx.mesh);
    let mut tries = 0usize;
    // The harness error of the latest try, while it is not followed by a completed attempt.
    let mut pending: Option<HarnessError>;
    // Why the latest completed attempt was inconclusive (calls that never reached the mesh, a pod
    // without the data plane); retried like any other attempt within the timeout.
    let mut inconclusive: Option<String> = None;
    loop {
        tries += 1;
        progress.attempt(at, &what, tries);
        let at_ms = clock.now_ms().saturating_sub(started);
        let result = if tries > 1 && rediscovers(lc, index) {
            discover(lc, backend, obs)
        } else {
            Ok(())
        }
        .and_then(|()| attempt(lc, obs, index, namespace, ctx, backend, at_ms));
        match result {
            Ok(a) => {
                pending = None;
                let evals = evaluate_attempt(lc, obs, index, &a, &sem);
                obs.steps[index].attempts.push(a);
                if evals.iter().all(|e| e.holds) {
                    return true;
                }
                inconclusive = inconclusive_reason(&evals);
            }
            Err(e) if e.transient => {
                obs.steps[index].retried.push(RetriedError {
                    at_ms,
                    error: e.message.clone(),
                });
                pending = Some(e);
            }
            Err(e) => {
                let so = &mut obs.steps[index];
                so.status = StepStatus::HarnessError;
                so.error = Some(e.message);
                return false;
            }
        }
        if clock.now_ms().saturating_sub(started) >= timeout {
            break;
        }
        if ctx.cancel.load(Ordering::SeqCst) {
            let so = &mut obs.steps[index];
            so.status = StepStatus::HarnessError;
            so.error = Some("interrupted (Ctrl-C) before the step's expectations held".into());
            return false;
        }
        clock.sleep_ms(ctx.timeouts.poll_interval_ms);
    }
    // The time ran out while the harness, not the mesh, was failing: nothing can be said.
    if let Some(e) = pending {
        let so = &mut obs.steps[index];
        let n = so.retried.len();
        so.status = StepStatus::HarnessError;
        so.error = Some(format!(
            "{} (a harness error {n} time(s) in a row until the step's {} s timeout)",
            e.message,
            timeout / 1000
        ));
    } else if let Some(why) = inconclusive {
        // Still inconclusive when the time ran out: the harness could not tell, not the mesh.
        let so = &mut obs.steps[index];
        so.status = StepStatus::HarnessError;
        so.error = Some(format!("inconclusive after the step's timeout: {why}"));
    }
    false
}

/// What made the attempt's counted checks inconclusive, if anything did.
fn inconclusive_reason(evals: &[crate::verdict::CheckEval]) -> Option<String> {
    let why: Vec<String> = evals
        .iter()
        .filter(|e| e.blocks())
        .map(|e| format!("{}: {}", e.id, e.observed))
        .collect();
    (!why.is_empty()).then(|| why.join("; "))
}

/// One attempt of step `index`: list pods, apply, delete, look up, send traffic, read metrics.
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
            .map_err(|e| HarnessError::fatal(format!("suite file: {e}")))
    };
    let mut a = Attempt {
        at_ms,
        ..Attempt::default()
    };
    if step.data_plane {
        let mut pods = backend.pods(namespace)?;
        pods.sort_by(|x, y| x.name.cmp(&y.name));
        a.pods = Some(pods);
    }
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
