//! Verdicts: the types of `verdicts.json` (cases, steps, checks, capabilities, summary) and
//! the judge that produces them (`judge`: a pure function from a suite and its recorded
//! observations), the checks it evaluates (`checks`) and the historical Meshery scoring
//! (`meshery`).
//!
//! No clock, no I/O, no randomness: `verify` re-runs `judge` on a bundle's observations and must
//! get byte-identical `verdicts.json`. The runner uses [`evaluate_attempt`] to know when an
//! eventual expectation holds, so both sides share one definition of "holds".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::vocab::{Capability, Scoring};

mod checks;
mod judge;
mod meshery;

pub use checks::{counts, evaluate_attempt, expected_objects, object_ref, subset};
pub use judge::{check_specs, judge};

/// Version of `verdicts.json`. 2: cases that did not finish have a status (`error`, `not-run`)
/// and no capability (`null`); the summary counts cases by status. 3: calls are judged by outcome
/// class (a denial holds only on the mesh's declared denials; inconclusive calls and missing data
/// planes make the step an error); `mesh` names the pin whose signatures judged them.
pub const VERDICT_FORMAT: u32 = 3;

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
