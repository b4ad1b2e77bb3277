//! The matrix (the site's front page): meshes and versions on cluster pins as rows, SMI cases as
//! columns, each cell the newest verified bundle's capability beside the pin's expectation;
//! filters; and the rejected inputs with their reasons.

use maud::{html, Markup};

use super::badge;
use crate::site::model::{self, Entry, Rejected, Row};

pub fn page(entries: &[Entry], rejected: &[Rejected]) -> String {
    let rows = model::matrix(entries);
    let cases = model::case_names(entries);
    let body = html! {
        h1 { "SMI conformance matrix" }
        p {
            (entries.len()) " verified bundle(s), " (rejected.len()) " rejected input(s). "
            "Each cell is the capability the newest verified bundle of the row measured, re-derived from its observations while this site was built; "
            "the pin's expected capability stands beside it and a difference is marked " span.mismatch { "≠ expected" } "."
        }
        (filters(&rows))
        @if rows.is_empty() {
            p.warn { "No bundle verified: there is nothing to show." }
        } @else {
            (table(&rows, &cases))
        }
        (rejected_list(rejected))
    };
    super::page("", "SMI conformance matrix", body)
}

fn filters(rows: &[Row]) -> Markup {
    let mut meshes: Vec<&str> = rows.iter().map(|r| r.newest.mesh.as_str()).collect();
    meshes.sort();
    meshes.dedup();
    let mut kube: Vec<&str> = rows.iter().map(|r| r.newest.kubernetes.as_str()).collect();
    kube.sort();
    kube.dedup();
    let statuses = ["Full", "Partial", "None", "error", "not-run", "mismatch"];
    html! {
        form #filters .filters {
            label { "Mesh " select name="mesh" { option value="" { "all" } @for m in &meshes { option value=(m) { (m) } } } }
            label { "Kubernetes " select name="k8s" { option value="" { "all" } @for k in &kube { option value=(k) { (k) } } } }
            label { "Status " select name="status" { option value="" { "all" } @for s in statuses { option value=(s) { (s) } } } }
            span #shown .muted {}
        }
    }
}

fn table(rows: &[Row], cases: &[String]) -> Markup {
    html! {
        table #matrix .matrix {
            thead {
                tr {
                    th { "Mesh" } th { "Version" } th { "Cluster pin" } th { "Kubernetes" } th { "Run" }
                    @for c in cases { th { (c) } }
                }
            }
            tbody {
                @for r in rows { (row(r, cases)) }
            }
        }
    }
}

fn row(r: &Row, cases: &[String]) -> Markup {
    let e = r.newest;
    let mut words: Vec<&str> = Vec::new();
    for c in cases {
        let cell = e.cases.get(c);
        words.push(cell.map(|c| c.word()).unwrap_or("not-planned"));
        if model::mismatch(cell, e.expected.get(c).copied()) {
            words.push("mismatch");
        }
    }
    words.sort();
    words.dedup();
    html! {
        tr data-mesh=(e.mesh) data-k8s=(e.kubernetes) data-status=(words.join(" ")) {
            th scope="row" { (e.mesh_name) }
            td { (e.mesh_version) }
            td { (e.cluster) }
            td { (e.kubernetes) }
            td {
                a href=(e.page()) { (super::badge(super::run_status_class(e.status), e.status.as_str())) }
                @if r.all.len() > 1 { br; span.muted { (r.all.len()) " bundles, newest shown" } }
                @if e.rejudged { br; span.warn { "re-judged" } }
            }
            @for c in cases { (cell(e, c)) }
        }
    }
}

fn cell(e: &Entry, case: &str) -> Markup {
    let cell = e.cases.get(case);
    let expected = e.expected.get(case).copied();
    let mismatch = model::mismatch(cell, expected);
    html! {
        td class={ "cell" @if mismatch { " mismatch-cell" } } {
            @match cell {
                Some(c) => { a href={ (e.page()) "#case-" (c.index) } { (badge(c.class(), c.word())) } }
                None => { span.muted { "not planned" } }
            }
            @if let Some(x) = expected {
                br;
                span class={ "expected" @if mismatch { " mismatch" } } {
                    @if mismatch { "≠ expected " } @else { "expected " }
                    (x.as_str())
                }
            }
        }
    }
}

fn rejected_list(rejected: &[Rejected]) -> Markup {
    html! {
        h2 #rejected { "Rejected inputs" }
        @if rejected.is_empty() {
            p { "None: every input verified." }
        } @else {
            p { "These inputs did not verify (or repeat another input); nothing of them is shown as a result." }
            table.rejected {
                thead { tr { th { "File" } th { "sha256" } th { "Reason" } } }
                tbody {
                    @for r in rejected {
                        tr {
                            td { code { (r.name) } }
                            td { @if let Some(s) = &r.sha256 { code { (s) } } @else { "–" } }
                            td { (r.reason) }
                        }
                    }
                }
            }
        }
    }
}
