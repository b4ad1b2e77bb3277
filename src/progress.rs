//! Progress of a run: one line per phase with its elapsed time, per case `step k/n` with the
//! current expectation and attempt count; `--output jsonl` streams the same as JSON events, and
//! an interactive terminal gets an `indicatif` bar (phase, case and step counts, elapsed time).

use std::io::Write;

use serde_json::json;

use crate::observation::StepStatus;
use crate::suite::{StepAt, StepProgress};
use crate::timing::Phase;
use crate::verdict::CaseVerdict;

/// What the pipeline reports while it runs.
pub trait Progress: StepProgress {
    fn phase_started(&mut self, phase: &Phase);
    /// `detail` is a short note (`kind-v0.32.0`, `3 images loaded`, the error).
    fn phase_finished(&mut self, phase: &Phase, elapsed_ms: u64, ok: bool, detail: &str);
    /// A free-form note (where the bundle went, how to reach a kept cluster).
    fn note(&mut self, text: &str);
    /// A case finished and was judged (the same judge `verify` re-runs): its status, capability
    /// and every check with expected and observed values.
    fn case_judged(&mut self, _case: &CaseVerdict) {}
    /// The cases the run will execute, in order (before the first phase).
    fn run_planned(&mut self, _cases: &[String]) {}
    /// The run ended and its bundle is written (status as the bundle records it).
    fn finished(&mut self, _outcome: &crate::pipeline::outcome::RunOutcome) {}
}

fn secs(ms: u64) -> String {
    format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

/// `  <case> step k/n <step>: held after 2 attempt(s)`
fn step_line(at: StepAt<'_>, status: StepStatus, held: bool, attempts: usize) -> String {
    format!(
        "  {} step {}/{} {}: {} after {} attempt(s)",
        at.case,
        at.k,
        at.n,
        at.step,
        status_word(status, held),
        attempts
    )
}

/// `[phase] done in 1.2s: detail`
fn phase_line(phase: &Phase, elapsed_ms: u64, ok: bool, detail: &str) -> String {
    format!(
        "[{phase}] {} in {}{}{}",
        if ok { "done" } else { "FAILED" },
        secs(elapsed_ms),
        if detail.is_empty() { "" } else { ": " },
        detail
    )
}

fn status_word(status: StepStatus, held: bool) -> &'static str {
    match (status, held) {
        (StepStatus::Completed, true) => "held",
        (StepStatus::Completed, false) => "did not hold",
        (StepStatus::HarnessError, _) => "harness error",
        (StepStatus::NotRun, _) => "not run",
    }
}

/// Plain lines (no terminal tricks): CI logs and the non-interactive form.
#[derive(Debug)]
pub struct TextProgress<W: Write> {
    out: W,
    /// Print every attempt (interactive terminals get a spinner instead, see `Spinner`).
    attempts: bool,
}

impl<W: Write> TextProgress<W> {
    pub fn new(out: W) -> Self {
        TextProgress {
            out,
            attempts: false,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> StepProgress for TextProgress<W> {
    fn attempt(&mut self, at: StepAt<'_>, doing: &str, attempt: usize) {
        if attempt == 1 || self.attempts {
            let _ = writeln!(
                self.out,
                "  {} step {}/{} {}: {}",
                at.case, at.k, at.n, at.step, doing
            );
        }
    }
    fn step_done(&mut self, at: StepAt<'_>, status: StepStatus, held: bool, attempts: usize) {
        let _ = writeln!(self.out, "{}", step_line(at, status, held, attempts));
    }
}

impl<W: Write> Progress for TextProgress<W> {
    fn phase_started(&mut self, phase: &Phase) {
        let _ = writeln!(self.out, "[{phase}] …");
    }
    fn phase_finished(&mut self, phase: &Phase, elapsed_ms: u64, ok: bool, detail: &str) {
        let _ = writeln!(self.out, "{}", phase_line(phase, elapsed_ms, ok, detail));
    }
    fn note(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }
}

/// One JSON object per line and per event, flushed as it happens (CI, dashboards).
#[derive(Debug)]
pub struct JsonlProgress<W: Write> {
    out: W,
}

impl<W: Write> JsonlProgress<W> {
    pub fn new(out: W) -> Self {
        JsonlProgress { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
    fn emit(&mut self, v: serde_json::Value) {
        let _ = writeln!(self.out, "{v}");
        let _ = self.out.flush();
    }
}

impl<W: Write> StepProgress for JsonlProgress<W> {
    fn attempt(&mut self, at: StepAt<'_>, doing: &str, attempt: usize) {
        self.emit(json!({"event": "attempt", "case": at.case, "step": at.step, "k": at.k, "n": at.n, "doing": doing, "attempt": attempt}));
    }
    fn step_done(&mut self, at: StepAt<'_>, status: StepStatus, held: bool, attempts: usize) {
        self.emit(json!({"event": "step", "case": at.case, "step": at.step, "k": at.k, "n": at.n, "status": status, "held": held, "attempts": attempts}));
    }
}

impl<W: Write> Progress for JsonlProgress<W> {
    fn run_planned(&mut self, cases: &[String]) {
        self.emit(json!({"event": "plan", "cases": cases}));
    }
    /// The last line: the run's status and bundle, and every case's status and capability.
    fn finished(&mut self, outcome: &crate::pipeline::outcome::RunOutcome) {
        let cases: Vec<serde_json::Value> = outcome
            .verdicts
            .cases
            .iter()
            .map(|c| json!({"case": c.name, "status": c.status, "capability": c.capability}))
            .collect();
        self.emit(json!({
            "event": "run", "run_id": outcome.run_id, "status": outcome.status,
            "bundle": outcome.bundle, "failure": outcome.failure.as_ref().map(|e| e.to_string()),
            "cases": cases,
        }));
    }
    fn phase_started(&mut self, phase: &Phase) {
        self.emit(json!({"event": "phase-started", "phase": phase}));
    }
    fn phase_finished(&mut self, phase: &Phase, elapsed_ms: u64, ok: bool, detail: &str) {
        self.emit(json!({"event": "phase", "phase": phase, "elapsed_ms": elapsed_ms, "ok": ok, "detail": detail}));
    }
    fn note(&mut self, text: &str) {
        self.emit(json!({"event": "note", "text": text}));
    }
    /// One `check` event per check of every step (expected and observed, as judged), then one
    /// `case` event with the case's status and capability.
    fn case_judged(&mut self, case: &CaseVerdict) {
        for s in &case.steps {
            for c in &s.checks {
                self.emit(json!({
                    "event": "check", "case": case.name, "step": s.name, "k": s.index,
                    "n": case.steps.len(), "check": c.id, "kind": c.kind, "outcome": c.outcome,
                    "expected": c.expected, "observed": c.observed,
                }));
            }
        }
        self.emit(json!({
            "event": "case", "case": case.name, "status": case.status,
            "capability": case.capability, "variant": case.variant,
            "behaviour": case.behaviour, "checks": case.checks,
        }));
    }
}

/// Nothing but the final summary (`--quiet`).
#[derive(Debug, Default)]
pub struct QuietProgress;

impl StepProgress for QuietProgress {
    fn attempt(&mut self, _: StepAt<'_>, _: &str, _: usize) {}
    fn step_done(&mut self, _: StepAt<'_>, _: StepStatus, _: bool, _: usize) {}
}

impl Progress for QuietProgress {
    fn phase_started(&mut self, _: &Phase) {}
    fn phase_finished(&mut self, _: &Phase, _: u64, _: bool, _: &str) {}
    fn note(&mut self, _: &str) {}
}

/// Interactive terminals: one `indicatif` bar over the planned cases, showing the elapsed time,
/// the phase, `case i/n`, and the current `step k/n` with its attempt; finished phases and steps
/// print as lines above it.
#[derive(Debug, Default)]
pub struct TerminalProgress {
    bar: Option<indicatif::ProgressBar>,
    cases: usize,
    /// Cases started so far (the one running is the last).
    case: usize,
    phase: String,
}

impl TerminalProgress {
    fn bar(&mut self) -> &indicatif::ProgressBar {
        let cases = self.cases as u64;
        self.bar.get_or_insert_with(|| {
            let b = indicatif::ProgressBar::with_draw_target(
                Some(cases),
                indicatif::ProgressDrawTarget::stderr(),
            );
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {prefix} {wide_bar:.cyan/blue} {pos}/{len} cases\n  {msg}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            b
        })
    }

    /// `[case traffic-split] case 3/4`
    fn prefix(&self) -> String {
        if self.case == 0 {
            format!("[{}]", self.phase)
        } else {
            format!("[{}] case {}/{}", self.phase, self.case, self.cases)
        }
    }

    fn println(&mut self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }
}

impl StepProgress for TerminalProgress {
    fn attempt(&mut self, at: StepAt<'_>, doing: &str, attempt: usize) {
        let msg = format!(
            "{} step {}/{} {} (attempt {attempt}): {doing}",
            at.case, at.k, at.n, at.step
        );
        self.bar().set_message(msg);
    }
    fn step_done(&mut self, at: StepAt<'_>, status: StepStatus, held: bool, attempts: usize) {
        self.println(&step_line(at, status, held, attempts));
    }
}

impl Progress for TerminalProgress {
    fn run_planned(&mut self, cases: &[String]) {
        self.cases = cases.len();
        self.bar().set_length(cases.len() as u64);
    }
    fn phase_started(&mut self, phase: &Phase) {
        self.phase = phase.to_string();
        if matches!(phase, Phase::Case(_)) {
            self.case += 1;
        }
        let prefix = self.prefix();
        let b = self.bar();
        b.set_prefix(prefix);
        b.set_message("");
    }
    fn phase_finished(&mut self, phase: &Phase, elapsed_ms: u64, ok: bool, detail: &str) {
        self.println(&phase_line(phase, elapsed_ms, ok, detail));
        if matches!(phase, Phase::Case(_)) {
            self.bar().inc(1);
        }
    }
    fn note(&mut self, text: &str) {
        self.println(text);
    }
    fn finished(&mut self, _outcome: &crate::pipeline::outcome::RunOutcome) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bar's prefix follows the phases: `[phase]` before the cases, then `case i/n`.
    #[test]
    fn the_terminal_bar_counts_cases_by_phase() {
        let mut p = TerminalProgress::default();
        p.run_planned(&["traffic-access".into(), "traffic-split".into()]);
        p.phase_started(&Phase::Mesh);
        assert_eq!(p.prefix(), "[mesh]");
        p.phase_finished(&Phase::Mesh, 1200, true, "");
        let access = Phase::Case("traffic-access".into());
        p.phase_started(&access);
        assert_eq!(p.prefix(), "[case traffic-access] case 1/2");
        p.phase_finished(&access, 10, true, "");
        let split = Phase::Case("traffic-split".into());
        p.phase_started(&split);
        assert_eq!(p.prefix(), "[case traffic-split] case 2/2");
        p.phase_finished(&split, 10, true, "");
        assert_eq!(p.bar.as_ref().unwrap().position(), 2);
        assert_eq!(p.bar.as_ref().unwrap().length(), Some(2));
    }
}
