//! Phase wall times a run records in its manifest (`run.phases`): typed records, read from a
//! (hostile) manifest and rendered for `show`.

use serde::{Deserialize, Serialize};

use crate::bundle::Manifest;

/// Key of the phase list in the manifest's `run` section.
pub const PHASES: &str = "phases";

/// One phase of a run, in the order the phases started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseTiming {
    /// `preflight`, `cluster`, `workload image`, `mesh`, `case <name>`, `evidence`, `teardown`.
    pub phase: String,
    /// Wall time from the phase's start to its end.
    pub duration_ms: u64,
    /// Whether the phase succeeded.
    pub ok: bool,
}

/// The phases a bundle recorded: `Ok(None)` when it recorded none (a hand-made run directory,
/// a bundle written before phase timings), an error naming the field when they are malformed.
pub fn recorded(m: &Manifest) -> Result<Option<Vec<PhaseTiming>>, String> {
    let Some(v) = m.run.extra.get(PHASES) else {
        return Ok(None);
    };
    Vec::<PhaseTiming>::deserialize(v)
        .map(Some)
        .map_err(|e| format!("manifest.json: run.{PHASES}: {e}"))
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// A phase name from a bundle, safe in a terminal line: control characters become `?`.
fn plain(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A phase name from a bundle, safe in one Markdown table cell (no HTML, no cell break).
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in plain(s).chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' | '*' | '_' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn word(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "failed"
    }
}

fn sum(phases: &[PhaseTiming]) -> u64 {
    phases.iter().map(|p| p.duration_ms).sum()
}

/// The phases as `show`'s table format prints them, after the verdicts.
pub fn table(phases: &[PhaseTiming]) -> String {
    let width = phases
        .iter()
        .map(|p| plain(&p.phase).chars().count())
        .chain(["sum of phases".len()])
        .max()
        .unwrap_or(0);
    let mut out = String::from("\nPhase wall times:\n");
    for p in phases {
        out.push_str(&format!(
            "  {:<width$}  {:>9}  {}\n",
            plain(&p.phase),
            secs(p.duration_ms),
            word(p.ok)
        ));
    }
    out.push_str(&format!(
        "  {:<width$}  {:>9}\n",
        "sum of phases",
        secs(sum(phases))
    ));
    out
}

/// The phases as a Markdown section (`show --format markdown`, the e2e job summary).
pub fn markdown(phases: &[PhaseTiming]) -> String {
    let mut out = String::from("\n## Phase timings\n\n| phase | wall | result |\n|---|---:|---|\n");
    for p in phases {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            cell(&p.phase),
            secs(p.duration_ms),
            word(p.ok)
        ));
    }
    out.push_str(&format!("| sum of phases | {} | |\n", secs(sum(phases))));
    out
}
