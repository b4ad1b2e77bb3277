//! The judge: a pure function from a suite and its recorded observations to verdicts.
//!
//! No clock, no I/O, no randomness: `verify` re-runs `judge` on a bundle's observations and must
//! get byte-identical `verdicts.json`. The runner uses [`evaluate_attempt`] to know when an
//! eventual expectation holds, so both sides share one definition of "holds".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::calls::Semantics;
use crate::observation::{
    Attempt, CallRecord, CaseObservation, MetricsObservation, PodObservation, StepObservation,
    StepStatus,
};
use crate::spec::case::{Expect, MetricsCheck, Step, TrafficCheck};
use crate::spec::catalog::{LoadedCase, Suite};

/// Version of `verdicts.json`. 2: cases that did not finish have a status (`error`, `not-run`)
/// and no capability (`null`); the summary counts cases by status. 3: calls are judged by outcome
/// class (a denial holds only on the mesh's declared denials; inconclusive calls and missing data
/// planes make the step an error); `mesh` names the pin whose signatures judged them.
pub const VERDICT_FORMAT: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
pub enum Capability {
    None,
    Partial,
    Full,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::None => "None",
            Capability::Partial => "Partial",
            Capability::Full => "Full",
        }
    }

    pub fn parse(s: &str) -> Option<Capability> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(Capability::None),
            "partial" => Some(Capability::Partial),
            "full" => Some(Capability::Full),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Scoring {
    /// Every check counts; capability from behavioural checks.
    #[default]
    Strict,
    /// The historical Meshery formula (first failing step decides Full/Half/None).
    Meshery,
}

impl Scoring {
    pub fn as_str(self) -> &'static str {
        match self {
            Scoring::Strict => "strict",
            Scoring::Meshery => "meshery",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    Error,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// CRD presence, workload readiness, objects applied/deleted: not the mesh's behaviour.
    Precondition,
    /// Traffic and metrics expectations: what the capability is made of.
    Behaviour,
    /// Traffic sent only to feed a later check.
    Setup,
    /// Judged and reported, never counted: no capability, step outcome or check total includes it
    /// (behaviour the suite observes but no SMI specification requires, e.g. `default-spread`).
    Informational,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckVerdict {
    pub id: String,
    pub kind: CheckKind,
    pub outcome: Outcome,
    pub expected: String,
    pub observed: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepVerdict {
    pub index: usize,
    pub name: String,
    pub description: String,
    pub outcome: Outcome,
    pub attempts: usize,
    /// 1-based attempt at which every check held (when the step passed).
    pub passed_at_attempt: Option<usize>,
    pub checks: Vec<CheckVerdict>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    pub skipped: usize,
    pub total: usize,
}

impl Stats {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Pass => self.pass += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Error => self.error += 1,
            Outcome::Skipped => self.skipped += 1,
        }
        self.total += 1;
    }

    fn merge(&mut self, o: &Stats) {
        self.pass += o.pass;
        self.fail += o.fail;
        self.error += o.error;
        self.skipped += o.skipped;
        self.total += o.total;
    }
}

/// What became of a case. Only a finished case (`passed`, `failed`) has a capability; a case
/// the harness kept from finishing says so instead of claiming one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseStatus {
    /// Every step passed.
    Passed,
    /// Every step was judged and some did not pass: a statement about the mesh.
    Failed,
    /// The harness or cluster broke during the case (a refused API call, an inconclusive
    /// outcome, an interrupt): not a statement about the mesh.
    Error,
    /// The case never ran (the run was aborted or failed before it started).
    NotRun,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Passed => "passed",
            CaseStatus::Failed => "failed",
            CaseStatus::Error => "error",
            CaseStatus::NotRun => "not-run",
        }
    }

    /// Whether the case ran to a judgement (and so has a capability).
    pub fn finished(self) -> bool {
        matches!(self, CaseStatus::Passed | CaseStatus::Failed)
    }
}

/// Cases of a run by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseCounts {
    pub passed: usize,
    pub failed: usize,
    pub error: usize,
    pub not_run: usize,
    pub total: usize,
}

impl CaseCounts {
    pub fn of<'a>(cases: impl IntoIterator<Item = &'a CaseVerdict>) -> CaseCounts {
        let mut n = CaseCounts::default();
        for c in cases {
            match c.status {
                CaseStatus::Passed => n.passed += 1,
                CaseStatus::Failed => n.failed += 1,
                CaseStatus::Error => n.error += 1,
                CaseStatus::NotRun => n.not_run += 1,
            }
            n.total += 1;
        }
        n
    }

    /// Cases that did not finish (`error` + `not-run`).
    pub fn unfinished(&self) -> usize {
        self.error + self.not_run
    }

    /// `4 cases: 2 passed, 1 failed, 1 error` (zero counts left out).
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            (self.passed, "passed"),
            (self.failed, "failed"),
            (self.error, "error"),
            (self.not_run, "not-run"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, w)| format!("{n} {w}"))
        .collect();
        let noun = if self.total == 1 { "case" } else { "cases" };
        if parts.is_empty() {
            format!("{} {noun}", self.total)
        } else {
            format!("{} {noun}: {}", self.total, parts.join(", "))
        }
    }
}

/// The historical Meshery result of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MesheryCase {
    /// `FULL`, `HALF` or `NONE`.
    pub capability: String,
    /// `PASSED` or `FAILED`.
    pub status: String,
    pub steps: usize,
    pub passed: usize,
    /// 1-based index of the first step that did not pass.
    pub failed_step: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseVerdict {
    pub name: String,
    pub smi_spec: String,
    pub spec_version: String,
    pub variant: String,
    /// SMI group → version the variant used.
    pub apis: BTreeMap<String, String>,
    pub status: CaseStatus,
    /// Capability under strict scoring (behavioural checks); `None` (`null`) when the case did
    /// not finish (status `error` or `not-run`).
    pub capability: Option<Capability>,
    pub behaviour: Stats,
    pub checks: Stats,
    pub steps: Vec<StepVerdict>,
    /// Present for finished cases of the historical Meshery suite.
    pub meshery: Option<MesheryCase>,
    /// Why the case could not be judged at all (unknown case or variant).
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecRollup {
    pub smi_spec: String,
    /// `None` when a case of the spec did not finish: the spec's capability is unknown.
    pub capability: Option<Capability>,
    pub cases: Vec<String>,
    pub behaviour: Stats,
    pub checks: Stats,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub cases: CaseCounts,
    pub checks: Stats,
    /// Passed checks / all checks, two decimals.
    pub percent: String,
    pub meshery_cases_passed: usize,
    pub meshery_steps: usize,
    pub meshery_percent: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdicts {
    pub format: u32,
    pub scoring: Scoring,
    pub suite: String,
    /// The mesh pin whose denial and data-plane signatures classified the calls.
    pub mesh: String,
    pub cases: Vec<CaseVerdict>,
    pub specs: Vec<SpecRollup>,
    pub summary: Summary,
}

impl Verdicts {
    /// The capability of a case under the verdicts' scoring mode; `None` when it did not finish.
    pub fn effective(&self, case: &CaseVerdict) -> Option<Capability> {
        if !case.status.finished() {
            return None;
        }
        match (self.scoring, &case.meshery) {
            (Scoring::Meshery, Some(m)) => Some(match m.capability.as_str() {
                "FULL" => Capability::Full,
                "HALF" => Capability::Partial,
                _ => Capability::None,
            }),
            _ => case.capability,
        }
    }

    /// Cases below `required`: every case that did not finish, and finished ones with a lower
    /// capability.
    pub fn below(&self, required: Capability) -> Vec<&CaseVerdict> {
        self.cases
            .iter()
            .filter(|c| self.effective(c).is_none_or(|cap| cap < required))
            .collect()
    }

    /// Cases that did not finish (status `error` or `not-run`).
    pub fn unfinished(&self) -> Vec<&CaseVerdict> {
        self.cases.iter().filter(|c| !c.status.finished()).collect()
    }

    /// `Full`, `Partial`, `None`, or the status (`error`, `not-run`) of a case without one.
    pub fn capability_word(&self, case: &CaseVerdict) -> &'static str {
        match self.effective(case) {
            Some(c) => c.as_str(),
            None => case.status.as_str(),
        }
    }

    /// Canonical bytes of `verdicts.json`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("verdicts serialize");
        out.push(b'\n');
        out
    }
}

/// One check's evaluation against one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckEval {
    pub id: String,
    pub kind: CheckKind,
    pub expected: String,
    pub holds: bool,
    /// The check does not hold and the harness cannot tell why: inconclusive calls, a pod without
    /// the mesh's data plane. When the decisive attempt has one, the step is an error.
    pub inconclusive: bool,
    pub observed: String,
}

impl CheckEval {
    /// Inconclusive and counted (an informational check never decides a step).
    pub fn blocks(&self) -> bool {
        !self.holds && self.inconclusive && self.kind != CheckKind::Informational
    }
}

/// Judge a suite's observations. Total: any observation set gives verdicts.
pub fn judge(
    suite: &Suite,
    observations: &BTreeMap<String, CaseObservation>,
    scoring: Scoring,
    sem: &Semantics,
) -> Verdicts {
    let mut cases = Vec::new();
    // Suite order first, then unknown observations by name.
    for lc in &suite.cases {
        if let Some(obs) = observations.get(lc.name()) {
            cases.push(judge_case(lc, obs, sem));
        }
    }
    for (name, obs) in observations {
        if suite.case(name).is_none() {
            cases.push(problem_case(
                name,
                &obs.variant,
                "no such case in the suite",
            ));
        }
    }
    let specs = rollup(&cases);
    let summary = summarize(&cases);
    Verdicts {
        format: VERDICT_FORMAT,
        scoring,
        suite: suite.name.clone(),
        mesh: sem.mesh.clone(),
        cases,
        specs,
        summary,
    }
}

fn problem_case(name: &str, variant: &str, problem: &str) -> CaseVerdict {
    CaseVerdict {
        name: name.to_string(),
        smi_spec: String::new(),
        spec_version: String::new(),
        variant: variant.to_string(),
        apis: BTreeMap::new(),
        status: CaseStatus::Error,
        capability: None,
        behaviour: Stats::default(),
        checks: Stats::default(),
        steps: Vec::new(),
        meshery: None,
        problem: Some(problem.to_string()),
    }
}

fn judge_case(lc: &LoadedCase, obs: &CaseObservation, sem: &Semantics) -> CaseVerdict {
    let spec = &lc.case.spec;
    let Some(variant) = spec.variants.iter().find(|v| v.name == obs.variant) else {
        let mut c = problem_case(
            lc.name(),
            &obs.variant,
            &format!("variant `{}` is not defined by the case", obs.variant),
        );
        c.smi_spec = spec.smi_spec.clone();
        c.spec_version = spec.spec_version.clone();
        return c;
    };
    let mut steps = Vec::new();
    let mut blocked: Option<String> = None;
    // A step skipped without a failed precondition before it: the runner never ran it.
    let mut unrun = false;
    for (i, step) in spec.steps.iter().enumerate() {
        let step_obs = obs.steps.iter().find(|s| s.name == step.name);
        let sv = judge_step(lc, obs, sem, i, step, step_obs, blocked.as_deref());
        unrun |= blocked.is_none() && sv.outcome == Outcome::Skipped;
        if !step.is_behavioural() && sv.outcome != Outcome::Pass && blocked.is_none() {
            blocked = Some(format!("step {} `{}` did not pass", i + 1, step.name));
        }
        steps.push(sv);
    }
    let mut behaviour = Stats::default();
    let mut checks = Stats::default();
    for s in &steps {
        for c in s
            .checks
            .iter()
            .filter(|c| c.kind != CheckKind::Informational)
        {
            checks.add(c.outcome);
            if c.kind == CheckKind::Behaviour {
                behaviour.add(c.outcome);
            }
        }
    }
    let status = case_status(&steps, unrun);
    let capability = status.finished().then(|| capability_of(&behaviour));
    let meshery = (spec.meshery && status.finished()).then(|| meshery_case(&steps));
    CaseVerdict {
        name: lc.name().to_string(),
        smi_spec: spec.smi_spec.clone(),
        spec_version: spec.spec_version.clone(),
        variant: variant.name.clone(),
        apis: variant.apis.clone(),
        status,
        capability,
        behaviour,
        checks,
        steps,
        meshery,
        problem: None,
    }
}

/// `error` when a step hit a harness error; `not-run` when a step was not run for another
/// reason than a failed precondition (the case never started, or the runner stopped it);
/// otherwise `passed` or `failed`.
fn case_status(steps: &[StepVerdict], unrun: bool) -> CaseStatus {
    if steps.iter().any(|s| s.outcome == Outcome::Error) {
        CaseStatus::Error
    } else if unrun {
        CaseStatus::NotRun
    } else if steps.iter().all(|s| s.outcome == Outcome::Pass) {
        CaseStatus::Passed
    } else {
        CaseStatus::Failed
    }
}

fn capability_of(behaviour: &Stats) -> Capability {
    if behaviour.total > 0 && behaviour.pass == behaviour.total {
        Capability::Full
    } else if behaviour.pass > 0 {
        Capability::Partial
    } else {
        Capability::None
    }
}

/// Meshery's formula: the first step that did not pass decides; HALF when `passed >= steps / 2`.
fn meshery_case(steps: &[StepVerdict]) -> MesheryCase {
    let n = steps.len();
    match steps.iter().position(|s| s.outcome != Outcome::Pass) {
        None => MesheryCase {
            capability: "FULL".into(),
            status: "PASSED".into(),
            steps: n,
            passed: n,
            failed_step: None,
        },
        Some(i) => {
            let passed = i;
            MesheryCase {
                capability: if passed >= n / 2 { "HALF" } else { "NONE" }.into(),
                status: "FAILED".into(),
                steps: n,
                passed,
                failed_step: Some(i + 1),
            }
        }
    }
}

fn judge_step(
    lc: &LoadedCase,
    obs: &CaseObservation,
    sem: &Semantics,
    index: usize,
    step: &Step,
    step_obs: Option<&StepObservation>,
    blocked: Option<&str>,
) -> StepVerdict {
    let specs = check_specs(step);
    let mk = |outcome: Outcome, observed: &str, attempts: usize| StepVerdict {
        index: index + 1,
        name: step.name.clone(),
        description: step.description.clone(),
        outcome,
        attempts,
        passed_at_attempt: None,
        checks: specs
            .iter()
            .map(|(id, kind, expected)| CheckVerdict {
                id: id.clone(),
                kind: *kind,
                outcome,
                expected: expected.clone(),
                observed: observed.to_string(),
            })
            .collect(),
    };
    if let Some(reason) = blocked {
        return mk(Outcome::Skipped, &format!("skipped: {reason}"), 0);
    }
    let Some(so) = step_obs else {
        return mk(Outcome::Skipped, "skipped: not observed", 0);
    };
    match so.status {
        StepStatus::NotRun => {
            let observed = match &so.error {
                Some(why) => format!("skipped: not run ({why})"),
                None => "skipped: not run".to_string(),
            };
            return mk(Outcome::Skipped, &observed, 0);
        }
        StepStatus::HarnessError => {
            let msg = so.error.as_deref().unwrap_or("unknown harness error");
            return mk(
                Outcome::Error,
                &format!("harness error: {msg}"),
                so.attempts.len(),
            );
        }
        StepStatus::Completed => {}
    }
    if so.attempts.is_empty() {
        return mk(Outcome::Error, "harness error: no attempt recorded", 0);
    }
    let evals: Vec<Vec<CheckEval>> = so
        .attempts
        .iter()
        .map(|a| evaluate_attempt(lc, obs, index, a, sem))
        .collect();
    // The decisive attempt: the first one where every check held, else the last one (the state
    // after waiting out the timeout). Checks are judged on it, so a check cannot pass on a stale
    // attempt the step later moved away from.
    let passed_at = evals.iter().position(|e| e.iter().all(|c| c.holds));
    let decisive_at = passed_at.unwrap_or(evals.len() - 1);
    let decisive = &evals[decisive_at];
    // Informational checks never decide a step: it passes when its counted checks held.
    let counted_held = decisive
        .iter()
        .all(|c| c.holds || c.kind == CheckKind::Informational);
    let passed_at = counted_held.then_some(decisive_at);
    // Still inconclusive after the step's timeout: the harness could not tell, not a verdict.
    let inconclusive = passed_at.is_none() && decisive.iter().any(CheckEval::blocks);
    let checks = specs
        .iter()
        .zip(decisive)
        .map(|((id, kind, expected), ev)| CheckVerdict {
            id: id.clone(),
            kind: *kind,
            outcome: if ev.holds {
                Outcome::Pass
            } else if ev.inconclusive {
                Outcome::Error
            } else {
                Outcome::Fail
            },
            expected: expected.clone(),
            observed: if ev.inconclusive && !ev.holds {
                format!("inconclusive: {}", ev.observed)
            } else {
                ev.observed.clone()
            },
        })
        .collect();
    StepVerdict {
        index: index + 1,
        name: step.name.clone(),
        description: step.description.clone(),
        outcome: if passed_at.is_some() {
            Outcome::Pass
        } else if inconclusive {
            Outcome::Error
        } else {
            Outcome::Fail
        },
        attempts: so.attempts.len(),
        passed_at_attempt: passed_at.map(|p| p + 1),
        checks,
    }
}

/// The checks of a step in a fixed order: (id, kind, expected in words).
pub fn check_specs(step: &Step) -> Vec<(String, CheckKind, String)> {
    let mut out = Vec::new();
    if !step.apply.is_empty() {
        out.push((
            "apply".to_string(),
            CheckKind::Precondition,
            format!("every object of {} is accepted", step.apply.join(", ")),
        ));
    }
    if !step.delete.is_empty() {
        out.push((
            "delete".to_string(),
            CheckKind::Precondition,
            format!("every object of {} is deleted", step.delete.join(", ")),
        ));
    }
    if let Some(a) = &step.assert {
        if !a.present.is_empty() {
            out.push((
                "assert-present".to_string(),
                CheckKind::Precondition,
                format!("objects of {} exist and match", a.present.join(", ")),
            ));
        }
        if !a.absent.is_empty() {
            out.push((
                "assert-absent".to_string(),
                CheckKind::Precondition,
                format!("objects of {} are gone", a.absent.join(", ")),
            ));
        }
    }
    if step.data_plane {
        out.push((
            "data-plane".to_string(),
            CheckKind::Precondition,
            "every workload pod carries the mesh's data plane".to_string(),
        ));
    }
    for (i, t) in step.traffic.iter().enumerate() {
        let kind = if t.informational {
            CheckKind::Informational
        } else if t.expect.is_behavioural() {
            CheckKind::Behaviour
        } else {
            CheckKind::Setup
        };
        let mut expected = describe_traffic(t);
        if t.informational {
            expected.push_str(" (informational: reported, not counted)");
        }
        out.push((format!("traffic-{}", i + 1), kind, expected));
    }
    for (i, m) in step.metrics.iter().enumerate() {
        out.push((
            format!("metrics-{}", i + 1),
            CheckKind::Behaviour,
            describe_metrics(m),
        ));
    }
    out
}

fn describe_traffic(t: &TrafficCheck) -> String {
    let req = format!(
        "{} × {} {} from {} to {}",
        t.count, t.method, t.path, t.from, t.to
    );
    let what = match &t.expect {
        Expect::Allowed => "all succeed (HTTP 2xx/3xx)".to_string(),
        Expect::Denied => {
            "all denied the way the mesh denies (its pin's denial signatures)".to_string()
        }
        Expect::Any => "sent (no expectation)".to_string(),
        Expect::Only(b) => format!("all succeed and are answered by {b}"),
        Expect::Spread(bs) => format!("all succeed and each of {} answers some", bs.join(", ")),
        Expect::Greater(bs) => format!(
            "all succeed and {} answers more than {}",
            bs.first().map(String::as_str).unwrap_or("?"),
            bs.get(1).map(String::as_str).unwrap_or("?")
        ),
    };
    format!("{req}: {what}")
}

fn describe_metrics(m: &MetricsCheck) -> String {
    let target = match &m.edge {
        Some(e) => format!(
            "TrafficMetrics edge {}/{} → {e}",
            m.resource.kind, m.resource.name
        ),
        None => format!("TrafficMetrics of {}/{}", m.resource.kind, m.resource.name),
    };
    match &m.counts_from {
        Some(s) => format!(
            "{target} exists with success/failure counts ≥ the successes/failures sent in step `{s}`"
        ),
        None => format!("{target} exists with success_count and failure_count"),
    }
}

/// Evaluate every check of step `index` against one attempt.
pub fn evaluate_attempt(
    lc: &LoadedCase,
    obs: &CaseObservation,
    index: usize,
    attempt: &Attempt,
    sem: &Semantics,
) -> Vec<CheckEval> {
    let step = &lc.case.spec.steps[index];
    let specs = check_specs(step);
    let mut out = Vec::with_capacity(specs.len());
    for (id, kind, expected) in specs {
        let mut inconclusive = false;
        let (holds, observed) = if id == "data-plane" {
            let (holds, observed) = data_plane(sem, attempt.pods.as_deref());
            inconclusive = !holds;
            (holds, observed)
        } else if id == "apply" {
            objects_ok(lc, obs, &step.apply, &attempt.applied, "accepted")
        } else if id == "delete" {
            objects_ok(lc, obs, &step.delete, &attempt.deleted, "deleted")
        } else if id == "assert-present" {
            let files = &step.assert.as_ref().expect("has assert").present;
            assert_present(lc, obs, files, attempt)
        } else if id == "assert-absent" {
            let files = &step.assert.as_ref().expect("has assert").absent;
            assert_absent(lc, obs, files, attempt)
        } else if let Some(n) = id.strip_prefix("traffic-") {
            let i: usize = n.parse::<usize>().expect("own id") - 1;
            let records = attempt
                .traffic
                .iter()
                .find(|t| t.check == i)
                .map(|t| t.records.as_slice());
            let t = eval_traffic(&step.traffic[i], records, sem);
            inconclusive = t.inconclusive;
            (t.holds, t.observed)
        } else {
            let i: usize = id
                .strip_prefix("metrics-")
                .and_then(|n| n.parse::<usize>().ok())
                .expect("own id")
                - 1;
            let m = attempt.metrics.iter().find(|m| m.check == i);
            eval_metrics(lc, obs, &step.metrics[i], m)
        };
        out.push(CheckEval {
            id,
            kind,
            expected,
            holds,
            inconclusive: inconclusive && !holds,
            observed,
        });
    }
    out
}

/// The objects of a case file as the run saw them: `{{namespace}}` replaced, documents parsed.
pub fn expected_objects(
    lc: &LoadedCase,
    variant: &str,
    namespace: &str,
    file: &str,
) -> Result<Vec<serde_json::Value>, String> {
    let (path, bytes) = lc
        .resolve(variant, file)
        .ok_or_else(|| format!("{file}: not in the suite"))?;
    let text = std::str::from_utf8(bytes).map_err(|_| format!("{path}: not UTF-8"))?;
    let text = crate::substitute(text, namespace);
    crate::yaml::documents(&path, &text).map_err(|e| e.to_string())
}

/// `Kind/name` of a manifest object.
pub fn object_ref(v: &serde_json::Value) -> String {
    format!(
        "{}/{}",
        v["kind"].as_str().unwrap_or("?"),
        v["metadata"]["name"].as_str().unwrap_or("?")
    )
}

fn objects_ok(
    lc: &LoadedCase,
    obs: &CaseObservation,
    files: &[String],
    results: &[crate::observation::ObjectResult],
    verb: &str,
) -> (bool, String) {
    let mut missing = Vec::new();
    let mut rejected = Vec::new();
    for f in files {
        let objects = match expected_objects(lc, &obs.variant, &obs.namespace, f) {
            Ok(o) => o,
            Err(e) => return (false, format!("suite file unreadable: {e}")),
        };
        for o in objects {
            let r = object_ref(&o);
            match results.iter().find(|x| x.file == *f && x.object == r) {
                None => missing.push(r),
                Some(x) if !x.ok => rejected.push(format!(
                    "{r}: {}",
                    x.message.as_deref().unwrap_or("rejected")
                )),
                Some(_) => {}
            }
        }
    }
    if missing.is_empty() && rejected.is_empty() {
        (true, format!("all {verb}"))
    } else {
        let mut parts = Vec::new();
        if !rejected.is_empty() {
            parts.push(format!("not {verb}: {}", rejected.join("; ")));
        }
        if !missing.is_empty() {
            parts.push(format!("not attempted: {}", missing.join(", ")));
        }
        (false, parts.join("; "))
    }
}

fn assert_present(
    lc: &LoadedCase,
    obs: &CaseObservation,
    files: &[String],
    attempt: &Attempt,
) -> (bool, String) {
    let mut problems = Vec::new();
    let mut count = 0;
    for f in files {
        let objects = match expected_objects(lc, &obs.variant, &obs.namespace, f) {
            Ok(o) => o,
            Err(e) => return (false, format!("suite file unreadable: {e}")),
        };
        for want in objects {
            count += 1;
            let r = object_ref(&want);
            match attempt
                .objects
                .iter()
                .find(|s| s.file == *f && s.object == r)
            {
                None => problems.push(format!("{r} not looked up")),
                Some(s) if !s.found => problems.push(format!("{r} not found")),
                Some(s) => {
                    let got = s.value.clone().unwrap_or(serde_json::Value::Null);
                    if let Err(path) = subset(&want, &got, "") {
                        problems.push(format!("{r} differs at {path}"));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        (true, format!("{count} object(s) present and matching"))
    } else {
        (false, problems.join("; "))
    }
}

fn assert_absent(
    lc: &LoadedCase,
    obs: &CaseObservation,
    files: &[String],
    attempt: &Attempt,
) -> (bool, String) {
    let mut problems = Vec::new();
    let mut count = 0;
    for f in files {
        let objects = match expected_objects(lc, &obs.variant, &obs.namespace, f) {
            Ok(o) => o,
            Err(e) => return (false, format!("suite file unreadable: {e}")),
        };
        for want in objects {
            count += 1;
            let r = object_ref(&want);
            match attempt
                .objects
                .iter()
                .find(|s| s.file == *f && s.object == r)
            {
                None => problems.push(format!("{r} not looked up")),
                Some(s) if s.found => problems.push(format!("{r} still exists")),
                Some(_) => {}
            }
        }
    }
    if problems.is_empty() {
        (true, format!("{count} object(s) absent"))
    } else {
        (false, problems.join("; "))
    }
}

/// Subset match: every field of `want` is in `got` with an equal value. Arrays match when every
/// element of `want` matches a distinct element of `got`, in any order (kuttl required equal
/// lengths, which made a CRD with an extra shortName fail).
pub fn subset(want: &serde_json::Value, got: &serde_json::Value, path: &str) -> Result<(), String> {
    use serde_json::Value;
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match g.get(k) {
                    Some(gv) => subset(wv, gv, &p)?,
                    None => return Err(p),
                }
            }
            Ok(())
        }
        (Value::Array(w), Value::Array(g)) => {
            let mut used = vec![false; g.len()];
            for (i, wv) in w.iter().enumerate() {
                let hit = g
                    .iter()
                    .enumerate()
                    .find(|(j, gv)| !used[*j] && subset(wv, gv, "").is_ok());
                match hit {
                    Some((j, _)) => used[j] = true,
                    None => return Err(format!("{path}[{i}]")),
                }
            }
            Ok(())
        }
        (Value::Number(a), Value::Number(b)) => {
            if a.as_f64() == b.as_f64() {
                Ok(())
            } else {
                Err(path.to_string())
            }
        }
        (w, g) if w == g => Ok(()),
        _ => Err(if path.is_empty() {
            ".".into()
        } else {
            path.to_string()
        }),
    }
}

fn tally<'a>(items: impl Iterator<Item = String> + 'a) -> String {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    m.iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A traffic check's evaluation on one attempt.
struct TrafficEval {
    holds: bool,
    inconclusive: bool,
    observed: String,
}

fn eval_traffic(
    check: &TrafficCheck,
    records: Option<&[CallRecord]>,
    sem: &Semantics,
) -> TrafficEval {
    let Some(records) = records else {
        return TrafficEval {
            holds: false,
            inconclusive: false,
            observed: "no requests recorded".to_string(),
        };
    };
    let n = records.len();
    let t = sem.tally(records);
    let success = |r: &CallRecord| sem.classify(r).0 == crate::calls::CallClass::Success;
    let outcomes = tally(records.iter().map(|r| r.outcome()));
    let classes = tally(
        records
            .iter()
            .map(|r| sem.classify(r).0.as_str().to_string()),
    );
    let backends = tally(
        records
            .iter()
            .filter(|r| success(r))
            .map(|r| r.backend.clone().unwrap_or_else(|| "unknown".into())),
    );
    let mut observed = format!("{n} request(s): {outcomes} ({classes})");
    if !backends.is_empty() {
        observed.push_str(&format!("; answered by {backends}"));
    }
    if !t.inconclusive_why.is_empty() {
        observed.push_str(&format!(
            "; inconclusive calls from {} to {}: {}",
            check.from,
            records.first().map(|r| r.url.as_str()).unwrap_or("?"),
            t.inconclusive_why.join("; ")
        ));
    }
    if n < check.count as usize {
        return TrafficEval {
            holds: false,
            inconclusive: false,
            observed: format!(
                "only {n} of {} request(s) recorded; {observed}",
                check.count
            ),
        };
    }
    let ok = t.success;
    let by = |b: &str| {
        records
            .iter()
            .filter(|r| success(r) && r.backend.as_deref() == Some(b))
            .count()
    };
    let holds = match &check.expect {
        Expect::Any => true,
        Expect::Allowed => ok == n,
        Expect::Denied => t.denied == n,
        Expect::Only(b) => ok == n && by(b) == n,
        Expect::Spread(bs) => ok == n && bs.iter().all(|b| by(b) > 0),
        Expect::Greater(bs) => match bs.as_slice() {
            [more, less] => ok == n && by(more) > by(less),
            _ => false,
        },
    };
    // A denial the mesh did not give in its declared way, with nothing let through, is not a
    // statement about the mesh; neither is any expectation met or missed on inconclusive calls.
    let inconclusive = !holds
        && match &check.expect {
            Expect::Any => false,
            Expect::Denied => ok == 0 && (t.inconclusive > 0 || t.failed > 0),
            _ => t.inconclusive > 0,
        };
    TrafficEval {
        holds,
        inconclusive,
        observed,
    }
}

/// Every listed workload pod runs the pin's injected container (node-proxy meshes and the control
/// inject nothing: their pods only have to be listed).
fn data_plane(sem: &Semantics, pods: Option<&[PodObservation]>) -> (bool, String) {
    let Some(pods) = pods else {
        return (false, "workload pods not listed".to_string());
    };
    if pods.is_empty() {
        return (false, "no workload pod in the namespace".to_string());
    }
    let Some(container) = &sem.data_plane.container else {
        let what = match &sem.data_plane.node_proxy {
            Some(np) => format!(
                "node proxy {}/{} (no container injected)",
                np.daemon_set.namespace, np.daemon_set.name
            ),
            None => "no mesh, no data plane".to_string(),
        };
        return (true, format!("{} pod(s) listed; {what}", pods.len()));
    };
    let missing: Vec<String> = pods
        .iter()
        .filter(|p| !p.containers.iter().any(|c| c == container))
        .map(|p| format!("{} (containers: {})", p.name, p.containers.join(", ")))
        .collect();
    if missing.is_empty() {
        (
            true,
            format!("{} pod(s), each with a {container} container", pods.len()),
        )
    } else {
        (
            false,
            format!("no {container} container in pod {}", missing.join(", pod ")),
        )
    }
}

/// A metric value as TrafficMetrics carries it: a number or a quantity string (`"12"`, `"1500m"`).
fn metric_value(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => {
            let s = s.trim();
            if let Some(m) = s.strip_suffix('m') {
                m.parse::<f64>().ok().map(|x| x / 1000.0)
            } else if let Some(k) = s.strip_suffix('k') {
                k.parse::<f64>().ok().map(|x| x * 1000.0)
            } else {
                s.parse::<f64>().ok()
            }
        }
        _ => None,
    }
}

/// `success_count` and `failure_count` of a TrafficMetrics object, as the judge reads them.
pub fn counts(tm: &serde_json::Value) -> Option<(f64, f64)> {
    let metrics = tm.get("metrics")?.as_array()?;
    let get = |name: &str| {
        metrics
            .iter()
            .find(|m| m.get("name").and_then(|n| n.as_str()) == Some(name))
            .and_then(|m| m.get("value"))
            .and_then(metric_value)
    };
    Some((get("success_count")?, get("failure_count")?))
}

fn eval_metrics(
    lc: &LoadedCase,
    obs: &CaseObservation,
    check: &MetricsCheck,
    m: Option<&MetricsObservation>,
) -> (bool, String) {
    let Some(m) = m else {
        return (false, "metrics API not read".to_string());
    };
    if let Some(e) = &m.error {
        return (false, format!("read {} failed: {e}", m.path));
    }
    if m.status != Some(200) {
        return (
            false,
            format!(
                "read {} answered {}",
                m.path,
                m.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "nothing".into())
            ),
        );
    }
    let Some(body) = &m.body else {
        return (false, "empty metrics response".to_string());
    };
    let tm = match &check.edge {
        None => Some(body.clone()),
        Some(target) => body
            .get("items")
            .and_then(|i| i.as_array())
            .and_then(|items| {
                items
                    .iter()
                    .find(|it| it["edge"]["resource"]["name"].as_str() == Some(target.as_str()))
                    .cloned()
            }),
    };
    let Some(tm) = tm else {
        return (
            false,
            format!(
                "no edge to {} in the TrafficMetricsList",
                check.edge.as_deref().unwrap_or("?")
            ),
        );
    };
    let Some((succ, fail)) = counts(&tm) else {
        return (
            false,
            "TrafficMetrics lacks numeric success_count/failure_count".to_string(),
        );
    };
    let observed = format!("success_count={succ}, failure_count={fail}");
    let Some(from) = &check.counts_from else {
        return (true, observed);
    };
    // Successes and failures of the last attempt of the step that generated the traffic.
    let sent = obs
        .steps
        .iter()
        .find(|s| &s.name == from)
        .and_then(|s| s.attempts.last())
        .map(|a| {
            let recs = a.traffic.iter().flat_map(|t| t.records.iter());
            recs.fold((0usize, 0usize), |(s, f), r| {
                if r.succeeded() {
                    (s + 1, f)
                } else {
                    (s, f + 1)
                }
            })
        });
    let _ = lc;
    match sent {
        None => (false, format!("{observed}; step `{from}` sent no traffic")),
        Some((s, f)) => (
            succ >= s as f64 && fail >= f as f64,
            format!("{observed}; sent {s} succeeded, {f} failed in `{from}`"),
        ),
    }
}

fn rollup(cases: &[CaseVerdict]) -> Vec<SpecRollup> {
    let mut by: BTreeMap<String, (SpecRollup, bool)> = BTreeMap::new();
    // Harness smoke cases test meshproof, not an SMI specification: no rollup.
    for c in cases
        .iter()
        .filter(|c| !c.smi_spec.is_empty() && c.smi_spec != crate::spec::case::HARNESS_SPEC)
    {
        let (r, finished) = by.entry(c.smi_spec.clone()).or_insert_with(|| {
            let r = SpecRollup {
                smi_spec: c.smi_spec.clone(),
                capability: None,
                cases: Vec::new(),
                behaviour: Stats::default(),
                checks: Stats::default(),
            };
            (r, true)
        });
        r.cases.push(c.name.clone());
        r.behaviour.merge(&c.behaviour);
        r.checks.merge(&c.checks);
        *finished &= c.status.finished();
    }
    let mut out: Vec<SpecRollup> = by
        .into_values()
        .map(|(mut r, finished)| {
            // A spec with an unfinished case has no capability: its checks were not all judged.
            r.capability = finished.then(|| capability_of(&r.behaviour));
            r
        })
        .collect();
    out.sort_by_key(|r| {
        crate::spec::case::SMI_SPECS
            .iter()
            .position(|s| *s == r.smi_spec)
            .unwrap_or(usize::MAX)
    });
    out
}

fn percent(num: usize, den: usize) -> String {
    if den == 0 {
        return "0.00".to_string();
    }
    // Integer arithmetic in hundredths, rounded half up, so the text never depends on float printing.
    let hundredths = (num as u128 * 10000 * 2 + den as u128) / (2 * den as u128);
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

fn summarize(cases: &[CaseVerdict]) -> Summary {
    let mut checks = Stats::default();
    let (mut mp, mut ms) = (0, 0);
    for c in cases {
        checks.merge(&c.checks);
        if let Some(m) = &c.meshery {
            mp += m.passed;
            ms += m.steps;
        }
    }
    Summary {
        cases: CaseCounts::of(cases),
        percent: percent(checks.pass, checks.total),
        checks,
        meshery_cases_passed: mp,
        meshery_steps: ms,
        meshery_percent: percent(mp, ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_ignores_extra_fields_and_array_order() {
        let want = json!({"spec": {"names": {"shortNames": ["tt"]}}});
        let got =
            json!({"spec": {"names": {"shortNames": ["x", "tt"], "kind": "K"}}, "status": {}});
        assert!(subset(&want, &got, "").is_ok());
        let bad = json!({"spec": {"names": {"shortNames": ["x"]}}});
        assert_eq!(
            subset(&want, &bad, "").unwrap_err(),
            "spec.names.shortNames[0]"
        );
    }

    #[test]
    fn percent_rounds_in_integer_arithmetic() {
        assert_eq!(percent(20, 24), "83.33");
        assert_eq!(percent(2, 3), "66.67");
        assert_eq!(percent(0, 0), "0.00");
        assert_eq!(percent(24, 24), "100.00");
    }

    #[test]
    fn meshery_half_when_first_failure_past_midpoint() {
        let step = |o| StepVerdict {
            index: 0,
            name: String::new(),
            description: String::new(),
            outcome: o,
            attempts: 1,
            passed_at_attempt: None,
            checks: vec![],
        };
        let mut s = vec![step(Outcome::Pass); 7];
        s[3] = step(Outcome::Fail); // fails at step 4 → passed 3 ≥ 7/2 = 3 → HALF
        assert_eq!(meshery_case(&s).capability, "HALF");
        s[3] = step(Outcome::Pass);
        s[2] = step(Outcome::Fail); // fails at step 3 → passed 2 < 3 → NONE
        assert_eq!(meshery_case(&s).capability, "NONE");
        assert_eq!(meshery_case(&s).failed_step, Some(3));
    }

    #[test]
    fn metric_values_parse_quantities() {
        assert_eq!(metric_value(&json!("12")), Some(12.0));
        assert_eq!(metric_value(&json!("1500m")), Some(1.5));
        assert_eq!(metric_value(&json!(3)), Some(3.0));
        assert_eq!(metric_value(&json!("x")), None);
    }
}
