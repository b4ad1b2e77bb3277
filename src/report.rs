//! Renderings of verdicts: table, json, junit, markdown, and Meshery's `SmiResult` JSON.
//!
//! Every rendering is a pure function of `verdicts.json` and the manifest's run section.

use std::fmt::Write as _;

use crate::bundle::Manifest;
use crate::verdict::{CaseStatus, CaseVerdict, Outcome, Verdicts};

/// What reports say about the run besides the verdicts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportContext {
    pub run_id: String,
    pub status: String,
    pub finished_at: String,
    pub mesh: String,
    /// Project name as Meshery showed it (`Open Service Mesh`).
    pub mesh_name: String,
    pub mesh_version: String,
    pub cluster: String,
}

impl ReportContext {
    pub fn from_manifest(m: &Manifest, mesh_yaml: Option<&[u8]>) -> ReportContext {
        let sel = |k: &str| m.run.selection.get(k).cloned().unwrap_or_default();
        let mesh = sel("mesh");
        let mut mesh_name = mesh.split('@').next().unwrap_or_default().to_string();
        let mut mesh_version = mesh
            .split_once('@')
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| "none".into());
        if let Some(text) = mesh_yaml.and_then(|b| std::str::from_utf8(b).ok()) {
            if let Ok(doc) = crate::spec::mesh::load(crate::bundle::paths::INPUT_MESH, text) {
                mesh_name = doc.spec.project.name.clone();
                if let Some(v) = &doc.metadata.version {
                    mesh_version = v.clone();
                }
            }
        }
        ReportContext {
            run_id: m.run.id.clone(),
            status: serde_json::to_value(m.run.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            finished_at: m.run.finished_at.clone(),
            mesh,
            mesh_name,
            mesh_version,
            cluster: sel("cluster"),
        }
    }
}

fn effective(v: &Verdicts, c: &CaseVerdict) -> String {
    if c.status == CaseStatus::Error {
        format!("{} (harness error)", v.effective(c).as_str())
    } else {
        v.effective(c).as_str().to_string()
    }
}

/// A plain-text table for terminals.
pub fn table(v: &Verdicts, ctx: &ReportContext) -> String {
    let mut rows: Vec<[String; 6]> = vec![[
        "CASE".into(),
        "SMI SPEC".into(),
        "VARIANT".into(),
        "CAPABILITY".into(),
        "BEHAVIOUR".into(),
        "CHECKS".into(),
    ]];
    for c in &v.cases {
        rows.push([
            c.name.clone(),
            c.smi_spec.clone(),
            c.variant.clone(),
            effective(v, c),
            format!("{}/{}", c.behaviour.pass, c.behaviour.total),
            format!("{}/{}", c.checks.pass, c.checks.total),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    if !ctx.run_id.is_empty() {
        let _ = writeln!(
            out,
            "run {} · mesh {} · cluster {} · status {} · scoring {}",
            ctx.run_id,
            ctx.mesh,
            ctx.cluster,
            ctx.status,
            v.scoring.as_str()
        );
    }
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    let _ = writeln!(
        out,
        "checks: {} passed, {} failed, {} errors, {} skipped ({}%)",
        v.summary.checks.pass,
        v.summary.checks.fail,
        v.summary.checks.error,
        v.summary.checks.skipped,
        v.summary.percent
    );
    for c in &v.cases {
        for s in &c.steps {
            if s.outcome == Outcome::Pass || s.outcome == Outcome::Skipped {
                continue;
            }
            for ch in s.checks.iter().filter(|ch| ch.outcome != Outcome::Pass) {
                let _ = writeln!(
                    out,
                    "  {} step {} {} [{}] {}: expected {}; observed {}",
                    c.name,
                    s.index,
                    s.name,
                    ch.id,
                    ch.outcome.as_str(),
                    ch.expected,
                    ch.observed
                );
            }
        }
    }
    out
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one testsuite per case, one testcase per step, failure text with expected/observed.
pub fn junit(v: &Verdicts, ctx: &ReportContext) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let steps: usize = v.cases.iter().map(|c| c.steps.len()).sum();
    let count = |o: Outcome| {
        v.cases
            .iter()
            .flat_map(|c| &c.steps)
            .filter(|s| s.outcome == o)
            .count()
    };
    let _ = writeln!(
        out,
        "<testsuites name=\"meshproof {}\" tests=\"{steps}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        xml_escape(&ctx.mesh),
        count(Outcome::Fail),
        count(Outcome::Error),
        count(Outcome::Skipped)
    );
    for c in &v.cases {
        let f = |o: Outcome| c.steps.iter().filter(|s| s.outcome == o).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
            xml_escape(&c.name),
            c.steps.len(),
            f(Outcome::Fail),
            f(Outcome::Error),
            f(Outcome::Skipped)
        );
        let _ = writeln!(out, "    <properties>");
        for (k, val) in [
            ("smi-spec", c.smi_spec.clone()),
            ("variant", c.variant.clone()),
            ("capability", v.effective(c).as_str().to_string()),
            ("scoring", v.scoring.as_str().to_string()),
        ] {
            let _ = writeln!(
                out,
                "      <property name=\"{k}\" value=\"{}\"/>",
                xml_escape(&val)
            );
        }
        let _ = writeln!(out, "    </properties>");
        for s in &c.steps {
            let name = format!("{:02}-{}", s.index, s.name);
            let _ = write!(
                out,
                "    <testcase classname=\"smi.{}\" name=\"{}\"",
                xml_escape(&c.name),
                xml_escape(&name)
            );
            let bad: Vec<String> = s
                .checks
                .iter()
                .filter(|ch| ch.outcome != Outcome::Pass)
                .map(|ch| {
                    format!(
                        "[{}] expected {}; observed {}",
                        ch.id, ch.expected, ch.observed
                    )
                })
                .collect();
            match s.outcome {
                Outcome::Pass => {
                    let _ = writeln!(out, "/>");
                }
                Outcome::Skipped => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml_escape(bad.first().map(String::as_str).unwrap_or("skipped"))
                    );
                }
                Outcome::Fail | Outcome::Error => {
                    let tag = if s.outcome == Outcome::Fail {
                        "failure"
                    } else {
                        "error"
                    };
                    let _ = writeln!(
                        out,
                        ">\n      <{tag} message=\"{}\">{}</{tag}>\n    </testcase>",
                        xml_escape(&format!("{} in step {name}", s.outcome.as_str())),
                        xml_escape(&bad.join("\n"))
                    );
                }
            }
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Markdown summary (the GitHub job summary).
pub fn markdown(v: &Verdicts, ctx: &ReportContext) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# SMI conformance: {}\n", ctx.mesh);
    let _ = writeln!(
        out,
        "Run `{}` on cluster `{}`, status **{}**, scoring `{}`.\n",
        ctx.run_id,
        ctx.cluster,
        ctx.status,
        v.scoring.as_str()
    );
    let _ = writeln!(
        out,
        "| Case | SMI spec | Variant | Capability | Behaviour checks | All checks |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for c in &v.cases {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {}/{} | {}/{} |",
            c.name,
            c.smi_spec,
            c.variant,
            effective(v, c),
            c.behaviour.pass,
            c.behaviour.total,
            c.checks.pass,
            c.checks.total
        );
    }
    let _ = writeln!(
        out,
        "\n{} of {} checks passed ({}%). Meshery formula: {} of {} steps ({}%).",
        v.summary.checks.pass,
        v.summary.checks.total,
        v.summary.percent,
        v.summary.meshery_cases_passed,
        v.summary.meshery_steps,
        v.summary.meshery_percent
    );
    let mut failures = String::new();
    for c in &v.cases {
        for s in &c.steps {
            for ch in s
                .checks
                .iter()
                .filter(|ch| matches!(ch.outcome, Outcome::Fail | Outcome::Error))
            {
                let _ = writeln!(
                    failures,
                    "- **{}** step {} `{}` [{}] {}: expected {}; observed {}",
                    c.name,
                    s.index,
                    s.name,
                    ch.id,
                    ch.outcome.as_str(),
                    ch.expected,
                    ch.observed
                );
            }
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\n## Failed checks\n\n{failures}");
    }
    out
}

/// The cases of the historical suite, in the fixed order Meshery's `more_details` should have had.
const MESHERY_ORDER: [&str; 3] = ["traffic-access", "traffic-split", "traffic-spec"];

/// Meshery's `SmiResult` (snake_case), `more_details` in fixed order.
pub fn meshery_json(v: &Verdicts, ctx: &ReportContext) -> String {
    let mut details = Vec::new();
    for name in MESHERY_ORDER {
        let Some(c) = v.cases.iter().find(|c| c.name == name) else {
            continue;
        };
        let Some(m) = &c.meshery else { continue };
        let version = c.apis.values().next().cloned().unwrap_or_default();
        let (result, reason) = match m.failed_step {
            None => ("All test passed".to_string(), String::new()),
            Some(n) => {
                let step = &c.steps[n - 1];
                let text = step
                    .checks
                    .iter()
                    .find(|ch| ch.outcome != Outcome::Pass)
                    .map(|ch| ch.observed.clone())
                    .unwrap_or_default();
                (text, format!("failed in step {:02}-{}", n, step.name))
            }
        };
        details.push(serde_json::json!({
            "smi_specification": c.name,
            "smi_version": format!("{}/{}", c.spec_version, version),
            "time": "",
            "assertions": m.steps.to_string(),
            "result": result,
            "reason": reason,
            "capability": m.capability,
            "status": m.status,
        }));
    }
    let doc = serde_json::json!({
        "id": ctx.run_id,
        "date": ctx.finished_at,
        "mesh_name": ctx.mesh_name,
        "mesh_version": ctx.mesh_version,
        "cases_passed": v.summary.meshery_cases_passed.to_string(),
        "passing_percentage": v.summary.meshery_percent,
        "status": if ctx.status == "complete" { "completed" } else { "running" },
        "more_details": details,
    });
    let mut s = serde_json::to_string_pretty(&doc).expect("json");
    s.push('\n');
    s
}

/// `verdicts.json` as JSON text.
pub fn json(v: &Verdicts) -> String {
    String::from_utf8(v.to_json()).expect("utf-8 json")
}
