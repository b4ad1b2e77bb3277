//! Phase wall times a run records in its manifest (`run.phases`): typed records, read from a
//! (hostile) manifest and rendered for `show`.

use crate::bundle::Manifest;
pub use crate::bundle::{Phase, PhaseTiming};

/// Key of the phase list in the manifest's `run` section.
pub const PHASES: &str = "phases";

/// The phases a bundle recorded: `Ok(None)` when it recorded none (a hand-made run directory,
/// a bundle written before phase timings), an error naming the field when they are malformed.
pub fn recorded(m: &Manifest) -> Result<Option<Vec<PhaseTiming>>, String> {
    if let Some(why) = m.run.extra.malformed(PHASES) {
        return Err(format!("manifest.json: run.{PHASES}: {why}"));
    }
    Ok(m.run.extra.phases.clone())
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
        .map(|p| plain(&p.phase.name()).chars().count())
        .chain(["sum of phases".len()])
        .max()
        .unwrap_or(0);
    let mut out = String::from("\nPhase wall times:\n");
    for p in phases {
        out.push_str(&format!(
            "  {:<width$}  {:>9}  {}\n",
            plain(&p.phase.name()),
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
            cell(&p.phase.name()),
            secs(p.duration_ms),
            word(p.ok)
        ));
    }
    out.push_str(&format!("| sum of phases | {} | |\n", secs(sum(phases))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every phase is written as the name bundles have always recorded, and read back as the
    /// same phase; names this build does not know survive unchanged.
    #[test]
    fn phases_keep_their_recorded_names() {
        let named = [
            (Phase::Preflight, "preflight"),
            (Phase::Cluster, "cluster"),
            (Phase::WorkloadImage, "workload image"),
            (Phase::Mesh, "mesh"),
            (Phase::Case("traffic-split".into()), "case traffic-split"),
            (Phase::Evidence, "evidence"),
            (Phase::Teardown, "teardown"),
            (Phase::Other("warm-up".into()), "warm-up"),
        ];
        for (phase, name) in named {
            assert_eq!(phase.to_string(), name);
            assert_eq!(serde_json::to_value(&phase).unwrap(), name);
            assert_eq!(serde_json::from_value::<Phase>(name.into()).unwrap(), phase);
            assert_eq!(Phase::parse(name), phase);
        }
        let t: PhaseTiming =
            serde_json::from_str(r#"{"phase": "a|b\n", "duration_ms": 1, "ok": true}"#).unwrap();
        assert_eq!(t.phase, Phase::Other("a|b\n".into()));
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"phase":"a|b\n","duration_ms":1,"ok":true}"#
        );
    }
}
