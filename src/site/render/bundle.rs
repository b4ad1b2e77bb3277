//! The bundle page: run summary, every case → step → check (expected vs observed), each attempt's
//! calls summarised, charts, inputs with digests, resolved pins, logs and how to reproduce it.

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::{badge, outcome_class, run_status_class, shell_word, tally};
use crate::observation::{Attempt, StepObservation};
use crate::site::load::Detail;
use crate::site::model::Entry;
use crate::verdict::{CaseVerdict, CheckKind, StepVerdict};

pub fn page(e: &Entry, d: &Detail) -> String {
    let title = format!("{} {} on {}", e.mesh_name, e.mesh_version, e.cluster);
    let body = html! {
        p.crumbs { a href="../index.html" { "Matrix" } " › bundle " (e.file) }
        h1 { (title) " " (badge(run_status_class(e.status), e.status.as_str())) }
        (summary(e, d))
        (phases(d))
        h2 { "Cases" }
        (case_index(e, d))
        @for (i, c) in d.verdicts.cases.iter().enumerate() {
            (case(e, d, i, c))
        }
        (inputs(e))
        (resolved(d))
        (logs(d, e))
        (reproduce(e, d))
    };
    super::page("../", &title, body)
}

fn summary(e: &Entry, d: &Detail) -> Markup {
    let m = &d.manifest;
    let why = m.run.status.why_not_complete(&d.verdicts);
    let failure = m.run.extra.failure.as_deref();
    html! {
        table.kv {
            tr { th { "Bundle" } td { code { (e.file) } } }
            tr { th { "sha256" } td { code { (e.sha256) } } }
            tr { th { "Run id" } td { code { (e.run_id) } } }
            tr { th { "Status" } td {
                (badge(run_status_class(e.status), e.status.as_str())) " " (d.verdicts.summary.cases.describe())
                @if let Some(w) = &why { br; (w) }
                @if let Some(f) = failure { br; "failure: " (f) }
            } }
            tr { th { "Mesh" } td { (e.mesh_name) " " (e.mesh_version) " (" code { (e.selection.get("mesh").map(String::as_str).unwrap_or("")) } ")" } }
            tr { th { "Cluster" } td { (e.cluster) ", Kubernetes " (e.kubernetes) } }
            tr { th { "Scoring" } td { (e.scoring.as_str()) } }
            tr { th { "Checks" } td { (d.verdicts.summary.checks.pass) " of " (d.verdicts.summary.checks.total) " passed (" (d.verdicts.summary.percent) "%)" } }
            tr { th { "meshproof" } td { (e.tool_version) ", revision " code { (e.tool_revision) } } }
            tr { th { "Started" } td { (e.started_at) } }
            tr { th { "Finished" } td { (e.finished_at) } }
            @if let Some(r) = &m.rejudged_from {
                tr { th { "Re-judged" } td.warn { (r.describe()) } }
            }
            @if let Some(p) = &m.run.parent {
                tr { th { "Parent run" } td { code { (p) } } }
            }
            tr { th { "Signature" } td { (e.signature.describe()) } }
            tr { th { "Verification" } td {
                ul.checks {
                    @for l in &d.checks {
                        li { (badge(if l.ok { "out-pass" } else { "out-fail" }, if l.ok { "ok" } else { "FAIL" })) " " strong { (l.name) } " " (l.detail) }
                    }
                }
            } }
        }
    }
}

fn phases(d: &Detail) -> Markup {
    let phases: &[crate::bundle::PhaseTiming] =
        d.manifest.run.extra.phases.as_deref().unwrap_or_default();
    html! {
        h2 { "Timings per phase" }
        @if phases.is_empty() {
            p { "The bundle records no phase timings." }
        } @else {
            table {
                thead { tr { th { "Phase" } th.num { "Duration" } th { "Result" } } }
                tbody {
                    @for p in phases {
                        tr {
                            td { (p.phase) }
                            td.num { (format_ms(p.duration_ms)) }
                            td { (badge(if p.ok { "out-pass" } else { "out-fail" }, if p.ok { "ok" } else { "failed" })) }
                        }
                    }
                }
            }
        }
    }
}

fn format_ms(ms: u64) -> String {
    if ms >= 1000 {
        format!("{}.{:03} s", ms / 1000, ms % 1000)
    } else {
        format!("{ms} ms")
    }
}

fn case_index(e: &Entry, d: &Detail) -> Markup {
    html! {
        table {
            thead { tr { th { "Case" } th { "SMI spec" } th { "Variant" } th { "Capability" } th { "Expected by the pin" } th.num { "Behaviour" } th.num { "Checks" } } }
            tbody {
                @for (i, c) in d.verdicts.cases.iter().enumerate() {
                    @let cell = e.cases.get(&c.name);
                    @let expected = e.expected.get(&c.name).copied();
                    tr {
                        td { a href={ "#case-" (i) } { (c.name) } }
                        td { (c.smi_spec) }
                        td { (c.variant) }
                        td { @if let Some(cell) = cell { (badge(cell.class(), cell.word())) } }
                        td {
                            @match expected {
                                Some(x) => {
                                    (x.as_str())
                                    @if crate::site::model::mismatch(cell, Some(x)) { " " span.mismatch { "≠ measured" } }
                                }
                                None => { "–" }
                            }
                        }
                        td.num { (c.behaviour.pass) "/" (c.behaviour.total) }
                        td.num { (c.checks.pass) "/" (c.checks.total) }
                    }
                }
            }
        }
    }
}

fn case(e: &Entry, d: &Detail, i: usize, c: &CaseVerdict) -> Markup {
    let obs = d.observations.get(&c.name);
    let lc = d.cases.get(&c.name);
    let cell = e.cases.get(&c.name);
    html! {
        section.case id={ "case-" (i) } {
            h3 {
                (c.name) " "
                @if let Some(cell) = cell { (badge(cell.class(), cell.word())) }
                " " span.muted { "status " (c.status.as_str()) }
            }
            p {
                "SMI " (c.smi_spec) " " (c.spec_version) ", variant " code { (c.variant) }
                @if !c.apis.is_empty() {
                    " (" (c.apis.iter().map(|(g, v)| format!("{g}/{v}")).collect::<Vec<_>>().join(", ")) ")"
                }
            }
            @if let Some(p) = &c.problem { p.warn { "Not judged: " (p) } }
            @if let (Some(obs), Some(lc)) = (obs, lc) {
                (super::charts::for_case(lc, obs))
            }
            table.steps {
                thead { tr { th.num { "#" } th { "Step" } th { "Outcome" } th { "Check" } th { "Kind" } th { "Expected" } th { "Observed" } } }
                tbody {
                    @for s in &c.steps { (step_rows(s)) }
                }
            }
            @if let Some(obs) = obs {
                h4 { "Attempts" }
                @for s in &obs.steps { (attempts(s)) }
            }
        }
    }
}

fn kind_word(k: CheckKind) -> &'static str {
    match k {
        CheckKind::Precondition => "precondition",
        CheckKind::Behaviour => "behaviour",
        CheckKind::Setup => "setup",
        CheckKind::Informational => "informational",
    }
}

fn step_rows(s: &StepVerdict) -> Markup {
    let span = s.checks.len().max(1);
    html! {
        tr {
            td.num rowspan=(span) { (s.index) }
            td rowspan=(span) {
                strong { (s.name) } br; span.muted { (s.description) }
                br; span.muted { (s.attempts) " attempt(s)"
                    @if let Some(n) = s.passed_at_attempt { ", held at attempt " (n) } }
            }
            td rowspan=(span) { (badge(outcome_class(s.outcome), s.outcome.as_str())) }
            @if let Some(k) = s.checks.first() {
                td { (k.id) } td { (kind_word(k.kind)) } td { (k.expected) }
                td { (badge(outcome_class(k.outcome), k.outcome.as_str())) " " (k.observed) }
            } @else {
                td colspan="4" { "no checks" }
            }
        }
        @for k in s.checks.iter().skip(1) {
            tr {
                td { (k.id) } td { (kind_word(k.kind)) } td { (k.expected) }
                td { (badge(outcome_class(k.outcome), k.outcome.as_str())) " " (k.observed) }
            }
        }
    }
}

/// Errors shown per traffic check and attempt; the rest are counted.
const ERRORS_SHOWN: usize = 5;

fn attempts(s: &StepObservation) -> Markup {
    html! {
        details.attempts {
            summary {
                strong { (s.name) } ": " (s.attempts.len()) " attempt(s), " (step_status(s))
                @if let Some(e) = &s.error { " — " (e) }
            }
            @if !s.attempts.is_empty() {
                table {
                    thead { tr { th.num { "#" } th.num { "At" } th { "What was done and seen" } } }
                    tbody {
                        @for (n, a) in s.attempts.iter().enumerate() {
                            tr { td.num { (n + 1) } td.num { (format_ms(a.at_ms)) } td { (attempt(a)) } }
                        }
                    }
                }
            }
        }
    }
}

fn step_status(s: &StepObservation) -> &'static str {
    match s.status {
        crate::observation::StepStatus::Completed => "completed",
        crate::observation::StepStatus::HarnessError => "harness error",
        crate::observation::StepStatus::NotRun => "not run",
    }
}

fn attempt(a: &Attempt) -> Markup {
    let objs = |v: &[crate::observation::ObjectResult]| {
        let ok = v.iter().filter(|o| o.ok).count();
        (ok, v.len())
    };
    html! {
        ul.attempt {
            @if !a.applied.is_empty() {
                @let (ok, n) = objs(&a.applied);
                li { "applied " (ok) "/" (n) " accepted"
                    @for o in a.applied.iter().filter(|o| !o.ok) { "; " (o.object) ": " (o.message.as_deref().unwrap_or("refused")) } }
            }
            @if !a.deleted.is_empty() {
                @let (ok, n) = objs(&a.deleted);
                li { "deleted " (ok) "/" (n)
                    @for o in a.deleted.iter().filter(|o| !o.ok) { "; " (o.object) ": " (o.message.as_deref().unwrap_or("failed")) } }
            }
            @if !a.objects.is_empty() {
                li { "looked up " (a.objects.len()) " object(s), " (a.objects.iter().filter(|o| o.found).count()) " found" }
            }
            @for t in &a.traffic {
                @let outcomes: BTreeMap<String, usize> = count(t.records.iter().map(|r| r.outcome()));
                @let backends: BTreeMap<String, usize> = count(t.records.iter().map(|r| r.backend.clone().unwrap_or_else(|| "none".into())));
                @let errors: Vec<String> = t.records.iter().filter_map(|r| r.error.as_ref().map(|e| match &r.error_detail { Some(d) => format!("{e}: {d}"), None => e.clone() })).collect();
                @let sources: BTreeMap<String, usize> = count(t.records.iter().map(|r| format!("{} {} {}", r.source, r.method, r.url)));
                li {
                    "traffic-" (t.check + 1) ": " (t.records.len()) " call(s) — " (tally(&sources))
                    br; "status: " (tally(&outcomes)) "; answered by: " (tally(&backends))
                    @if !errors.is_empty() {
                        br; "errors: "
                        @for e in errors.iter().take(ERRORS_SHOWN) { code { (e) } " " }
                        @if errors.len() > ERRORS_SHOWN { "(and " (errors.len() - ERRORS_SHOWN) " more)" }
                    }
                }
            }
            @for m in &a.metrics {
                li { "metrics-" (m.check + 1) ": read " code { (m.path) } " → "
                    (m.status.map(|s| s.to_string()).unwrap_or_else(|| "no status".into()))
                    @if let Some(e) = &m.error { " (" (e) ")" } }
            }
        }
    }
}

fn count(items: impl Iterator<Item = String>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i).or_insert(0) += 1;
    }
    m
}

fn inputs(e: &Entry) -> Markup {
    html! {
        h2 { "Inputs" }
        p { "Every input file the run used, with the sha256 the verified manifest records." }
        table.digests {
            thead { tr { th { "File" } th { "sha256" } } }
            tbody { @for (p, sha) in &e.facts.inputs { tr { td { code { (p) } } td { code { (sha) } } } } }
        }
    }
}

fn resolved(d: &Detail) -> Markup {
    html! {
        h2 { "Resolved" }
        @if d.resolved.is_empty() { p { "Nothing resolved was recorded." } }
        @for (p, (sha, text)) in &d.resolved {
            h4 { code { (p) } " " span.muted { "sha256 " (sha) } }
            @if let Some(t) = text { pre { (super::display_text(t.as_bytes())) } }
        }
    }
}

fn logs(d: &Detail, e: &Entry) -> Markup {
    html! {
        h2 { "Logs" }
        @if d.logs.is_empty() { p { "The bundle holds no logs." } }
        ul.logs {
            @for l in &d.logs {
                li { a href={ (e.id()) "/" (l.page) } { (l.path) } " " span.muted { (l.size) " bytes" @if l.truncated { ", page shows the first part" } } }
            }
        }
    }
}

fn reproduce(e: &Entry, d: &Detail) -> Markup {
    let file = shell_word(&e.file);
    html! {
        h2 { "Reproduce" }
        p { "With the bundle file (sha256 " code { (e.sha256) } "):" }
        pre.cmd {
            "sha256sum " (file) "\n"
            "meshproof verify " (file) "\n"
            "meshproof reproduce " (file)
        }
        @if let Some(r) = &d.manifest.tool.flake_ref {
            p { "With the exact meshproof build that made it:" }
            pre.cmd { "nix run " (shell_word(r)) " -- reproduce " (file) }
        }
    }
}
