//! Renderings of verdicts: table, json, junit, markdown, and Meshery's `SmiResult` JSON.
//!
//! Every rendering is a pure function of `verdicts.json` and the manifest's run section. Each
//! one says when a run is not complete; Meshery's format cannot, so it refuses such runs.

use std::fmt::Write as _;

use crate::bundle::{Manifest, Rejudged, RunStatus};
use crate::verdict::{CaseVerdict, Outcome, Verdicts};

/// What reports say about the run besides the verdicts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportContext {
    pub run_id: String,
    /// `None` when unknown (verdicts rendered without a manifest): judged from the verdicts.
    pub status: Option<RunStatus>,
    /// The error that ended the run early, as the runner recorded it.
    pub failure: Option<String>,
    pub rejudged_from: Option<Rejudged>,
    pub finished_at: String,
    pub mesh: String,
    /// Project name as Meshery showed it (`Open Service Mesh`).
    pub mesh_name: String,
    pub mesh_version: String,
    pub cluster: String,
}

/// Why a report cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error(
        "the Meshery export needs a complete run, and this one is not ({0}); Meshery's SmiResult \
         has no way to say that a case did not finish, so nothing is exported \
         (`meshproof show --format table` shows what was recorded)"
    )]
    NotComplete(String),
}

/// A rendering of verdicts: `show --format` picks one, `bundle pack` and `run` store
/// [`Format::BUNDLED`] in a bundle's `report/`, and `verify` re-renders those to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One row per case with status, capability and the failed checks.
    Table,
    /// The verdicts with a `run` object saying how the run ended.
    Json,
    /// JUnit XML (harness errors and incomplete runs as `<error>`).
    Junit,
    /// Markdown (CI job summaries).
    Markdown,
    /// Meshery's `SmiResult` JSON; refused for a run that is not complete.
    Meshery,
}

impl Format {
    /// The formats a bundle stores, in `report/` (Meshery's only for a complete run).
    pub const BUNDLED: [Format; 3] = [Format::Junit, Format::Markdown, Format::Meshery];

    /// Render `v`; only [`Format::Meshery`] can refuse (a run that is not complete).
    pub fn render(self, v: &Verdicts, ctx: &ReportContext) -> Result<String, ReportError> {
        Ok(match self {
            Format::Table => table(v, ctx),
            Format::Json => json_with_run(v, ctx),
            Format::Junit => junit(v, ctx),
            Format::Markdown => markdown(v, ctx),
            Format::Meshery => return meshery_json(v, ctx),
        })
    }

    /// Where a bundle stores this rendering, for the [`Format::BUNDLED`] ones.
    pub fn bundle_path(self) -> Option<&'static str> {
        use crate::bundle::paths;
        match self {
            Format::Junit => Some(paths::REPORT_JUNIT),
            Format::Markdown => Some(paths::REPORT_SUMMARY),
            Format::Meshery => Some(paths::REPORT_MESHERY),
            Format::Table | Format::Json => None,
        }
    }
}

/// An external cluster (`run --kubeconfig`) is named by its context and server version, not by
/// the kind pin a reproduction would use.
fn cluster_label(m: &crate::bundle::Manifest) -> Option<String> {
    let e = m.run.extra.external_cluster.as_ref()?;
    Some(match &e.server_version {
        Some(v) => format!("external {} (Kubernetes {v})", e.context),
        None => format!("external {}", e.context),
    })
}

impl ReportContext {
    pub fn from_manifest(m: &Manifest, mesh_yaml: Option<&[u8]>) -> ReportContext {
        let sel = &m.run.selection;
        let mesh = sel.mesh.clone().unwrap_or_default();
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
            status: Some(m.run.status),
            failure: m.run.extra.failure.clone(),
            rejudged_from: m.rejudged_from.clone(),
            finished_at: m.run.finished_at.clone(),
            mesh,
            mesh_name,
            mesh_version,
            cluster: cluster_label(m).unwrap_or_else(|| sel.cluster.clone().unwrap_or_default()),
        }
    }

    /// The run status: the manifest's, else what the verdicts alone allow.
    fn status(&self, v: &Verdicts) -> RunStatus {
        self.status.unwrap_or(RunStatus::Complete.given(v))
    }

    fn status_word(&self, v: &Verdicts) -> &'static str {
        self.status(v).as_str()
    }

    /// Why the run is not complete (status, unfinished cases, the recorded failure), or `None`.
    pub fn not_complete(&self, v: &Verdicts) -> Option<String> {
        let mut why = self.status(v).why_not_complete(v)?;
        if let Some(f) = &self.failure {
            why.push_str(&format!("; {f}"));
        }
        Some(why)
    }
}

/// The capability cell of a case: its capability, or its status when it has none.
fn effective(v: &Verdicts, c: &CaseVerdict) -> String {
    match v.effective(c) {
        Some(cap) => cap.as_str().to_string(),
        None => c.status.as_str().to_string(),
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
            ctx.status_word(v),
            v.scoring.as_str()
        );
    }
    if let Some(r) = &ctx.rejudged_from {
        let _ = writeln!(out, "{}", r.describe());
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
        "{}; checks: {} passed, {} failed, {} errors, {} skipped ({}%)",
        v.summary.cases.describe(),
        v.summary.checks.pass,
        v.summary.checks.fail,
        v.summary.checks.error,
        v.summary.checks.skipped,
        v.summary.percent
    );
    if let Some(why) = ctx.not_complete(v) {
        let _ = writeln!(
            out,
            "NOT COMPLETE: {why}; cases that did not finish claim no capability"
        );
    }
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
/// A run that is not complete (aborted, failed, a case that did not finish, no case at all) gets
/// a `run` testsuite with an `<error>`, so no CI reads it as green.
pub fn junit(v: &Verdicts, ctx: &ReportContext) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let run_error = ctx.not_complete(v);
    let extra = usize::from(run_error.is_some());
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
        "<testsuites name=\"meshproof {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        xml_escape(&ctx.mesh),
        steps + extra,
        count(Outcome::Fail),
        count(Outcome::Error) + extra,
        count(Outcome::Skipped)
    );
    if let Some(why) = &run_error {
        let _ = writeln!(
            out,
            "  <testsuite name=\"run\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">"
        );
        let _ = writeln!(
            out,
            "    <testcase classname=\"meshproof.run\" name=\"status\">\n      <error message=\"run {} is not complete\">{}</error>\n    </testcase>",
            xml_escape(&ctx.run_id),
            xml_escape(why)
        );
        let _ = writeln!(out, "  </testsuite>");
    }
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
            ("status", c.status.as_str().to_string()),
            ("capability", v.capability_word(c).to_string()),
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
        ctx.status_word(v),
        v.scoring.as_str()
    );
    if let Some(r) = &ctx.rejudged_from {
        let _ = writeln!(out, "**Re-judged**: {}.\n", r.describe());
    }
    if let Some(why) = ctx.not_complete(v) {
        let _ = writeln!(
            out,
            "> **Not complete**: {why}. Cases that did not finish claim no capability.\n"
        );
    }
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
        "\n{}. {} of {} checks passed ({}%). Meshery formula: {} of {} steps ({}%).",
        v.summary.cases.describe(),
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

/// The SMI API group an SMI specification is about (a case's `smiSpec` → its API group).
const SPEC_GROUPS: [(&str, &str); 4] = [
    ("traffic-access", "access.smi-spec.io"),
    ("traffic-specs", "specs.smi-spec.io"),
    ("traffic-split", "split.smi-spec.io"),
    ("traffic-metrics", "metrics.smi-spec.io"),
];

/// `v0.6.0/v1alpha4`: the SMI release of the case and the version of the API group the case is
/// about, as its variant used it (not whichever group sorts first).
pub fn smi_version(c: &CaseVerdict) -> String {
    let version = SPEC_GROUPS
        .iter()
        .find(|(spec, _)| *spec == c.smi_spec)
        .and_then(|(_, group)| c.apis.get(*group));
    match version {
        Some(v) => format!("{}/{v}", c.spec_version),
        None => c.spec_version.clone(),
    }
}

/// The Meshery `id` of a run: a UUIDv5 (RFC 9562, name-based, SHA-1) in the URL namespace of
/// the name `urn:meshproof:run:<run id>`, so the same run always exports the same id and anyone
/// can recompute it (`uuid.uuid5(uuid.NAMESPACE_URL, "urn:meshproof:run:<id>")`). A re-judged
/// bundle appends `:rejudged:<sha256 of its verdicts.json>`: its verdicts may differ from the
/// original's, so it must not overwrite the original's record.
pub fn meshery_id(v: &Verdicts, ctx: &ReportContext) -> uuid::Uuid {
    let mut name = format!("urn:meshproof:run:{}", ctx.run_id);
    if ctx.rejudged_from.is_some() {
        name.push_str(&format!(":rejudged:{}", crate::sha256_hex(&v.to_json())));
    }
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes())
}

/// Meshery's `SmiResult`, as `report/meshery.json` holds it (snake_case, fields in Meshery's
/// order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MesheryResult {
    /// [`meshery_id`].
    pub id: String,
    /// When the run finished (RFC 3339).
    pub date: String,
    pub mesh_name: String,
    pub mesh_version: String,
    /// Cases passed, as a decimal string.
    pub cases_passed: String,
    pub passing_percentage: String,
    /// Always `completed`: incomplete runs are not exported.
    pub status: String,
    /// The historical cases, in [`MESHERY_ORDER`].
    pub more_details: Vec<MesheryDetail>,
}

/// One case of [`MesheryResult::more_details`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MesheryDetail {
    pub smi_specification: String,
    /// [`smi_version`].
    pub smi_version: String,
    /// Always empty (Meshery recorded none).
    pub time: String,
    /// The case's step count, as a decimal string.
    pub assertions: String,
    /// `All test passed`, or what the first step that did not pass observed.
    pub result: String,
    /// `failed in step NN-<step>`, or empty.
    pub reason: String,
    /// `FULL`, `HALF` or `NONE`.
    pub capability: String,
    /// `PASSED` or `FAILED`.
    pub status: String,
}

/// Meshery's `SmiResult` (snake_case), `more_details` in fixed order. Refused for a run that is
/// not complete: the format would show a case the harness kept from finishing as a failure.
pub fn meshery_json(v: &Verdicts, ctx: &ReportContext) -> Result<String, ReportError> {
    if let Some(why) = ctx.not_complete(v) {
        return Err(ReportError::NotComplete(why));
    }
    let mut details = Vec::new();
    for name in MESHERY_ORDER {
        let Some(c) = v.cases.iter().find(|c| c.name == name) else {
            continue;
        };
        let Some(m) = &c.meshery else { continue };
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
        details.push(MesheryDetail {
            smi_specification: c.name.clone(),
            smi_version: smi_version(c),
            time: String::new(),
            assertions: m.steps.to_string(),
            result,
            reason,
            capability: m.capability.clone(),
            status: m.status.clone(),
        });
    }
    let doc = MesheryResult {
        id: meshery_id(v, ctx).to_string(),
        date: ctx.finished_at.clone(),
        mesh_name: ctx.mesh_name.clone(),
        mesh_version: ctx.mesh_version.clone(),
        cases_passed: v.summary.meshery_cases_passed.to_string(),
        passing_percentage: v.summary.meshery_percent.clone(),
        status: "completed".into(),
        more_details: details,
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("json");
    s.push('\n');
    Ok(s)
}

/// `show --format json`: the verdicts, plus a `run` object saying how the run ended (the
/// status, why it is not complete, where a re-judged bundle came from). `verdicts.json` in the
/// bundle stays the judge's output alone.
pub fn json_with_run(v: &Verdicts, ctx: &ReportContext) -> String {
    let mut doc = serde_json::to_value(v).expect("verdicts serialize");
    let run = serde_json::json!({
        "id": ctx.run_id,
        "status": ctx.status_word(v),
        "complete": ctx.not_complete(v).is_none(),
        "not_complete": ctx.not_complete(v),
        "rejudged_from": ctx.rejudged_from,
    });
    if let Some(o) = doc.as_object_mut() {
        o.insert("run".into(), run);
    }
    let mut s = serde_json::to_string_pretty(&doc).expect("json");
    s.push('\n');
    s
}

/// `verdicts.json` as JSON text.
pub fn json(v: &Verdicts) -> String {
    String::from_utf8(v.to_json()).expect("utf-8 json")
}

/// This build's renderings of a bundle's `report/` files (report format
/// [`crate::bundle::REPORT_FORMAT`]): what `pack` writes and `verify` re-renders to compare.
#[derive(Debug, Clone, Copy, Default)]
pub struct BundleReports;

impl crate::bundle::RenderReports for BundleReports {
    fn format(&self) -> u32 {
        crate::bundle::REPORT_FORMAT
    }

    /// [`Format::BUNDLED`]: JUnit and the Markdown summary always; Meshery's format cannot say
    /// "incomplete", so only complete runs get an export.
    fn render(
        &self,
        verdicts: &Verdicts,
        manifest: &Manifest,
        mesh_pin: Option<&[u8]>,
    ) -> std::collections::BTreeMap<String, Vec<u8>> {
        let ctx = ReportContext::from_manifest(manifest, mesh_pin);
        Format::BUNDLED
            .iter()
            .filter_map(|f| {
                let text = f.render(verdicts, &ctx).ok()?;
                Some((f.bundle_path()?.to_string(), text.into_bytes()))
            })
            .collect()
    }
}
