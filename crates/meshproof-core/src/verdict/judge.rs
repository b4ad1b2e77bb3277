//! The judge: cases, steps and checks from recorded observations, and the summary.

use super::checks::*;
use super::meshery::meshery_case;
use super::*;

use std::collections::BTreeMap;

use crate::calls::Semantics;
use crate::observation::{CaseObservation, StepObservation, StepStatus};
use crate::spec::case::{Expect, MetricsCheck, Step, TrafficCheck};
use crate::spec::catalog::{LoadedCase, Suite};

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

    #[test]
    fn percent_rounds_in_integer_arithmetic() {
        assert_eq!(percent(20, 24), "83.33");
        assert_eq!(percent(2, 3), "66.67");
        assert_eq!(percent(0, 0), "0.00");
        assert_eq!(percent(24, 24), "100.00");
    }
}
