//! A compare page: two bundles side by side and what `meshproof diff A B` says about them.

use maud::html;

use super::badge;
use crate::site::model::{self, Entry};

pub fn page(a: &Entry, b: &Entry) -> String {
    let report = crate::diff::compare(&a.facts, &b.facts);
    let mut cases: Vec<&String> = a.cases.keys().chain(b.cases.keys()).collect();
    cases.sort();
    cases.dedup();
    let title = format!("{} vs {}", a.file, b.file);
    let body = html! {
        p.crumbs { a href="../history/index.html" { "History" } " › compare" }
        h1 { "Compare" }
        table.compare {
            thead { tr { th {} th { "A" } th { "B" } } }
            tbody {
                tr { th { "Bundle" } td { a href={ "../" (a.page()) } { (a.file) } } td { a href={ "../" (b.page()) } { (b.file) } } }
                tr { th { "Run" } td { (badge(super::run_status_class(a.status), a.status.as_str())) " " (a.finished_at) } td { (badge(super::run_status_class(b.status), b.status.as_str())) " " (b.finished_at) } }
                tr { th { "Mesh" } td { (a.mesh_name) " " (a.mesh_version) } td { (b.mesh_name) " " (b.mesh_version) } }
                tr { th { "Cluster" } td { (a.cluster) ", Kubernetes " (a.kubernetes) } td { (b.cluster) ", Kubernetes " (b.kubernetes) } }
                tr { th { "meshproof" } td { (a.tool_version) " " code { (a.tool_revision) } } td { (b.tool_version) " " code { (b.tool_revision) } } }
                @for c in &cases {
                    @let (x, y) = (a.cases.get(*c), b.cases.get(*c));
                    tr {
                        th { (c) }
                        td { @if let Some(x) = x { (badge(x.class(), x.word())) } @else { "not planned" } }
                        td class=[model::regressed(x, y).then_some("regression-cell")] {
                            @if let Some(y) = y { (badge(y.class(), y.word())) } @else { "not planned" }
                            @if model::regressed(x, y) { " " span.regression { "▼ regression" } }
                        }
                    }
                }
            }
        }
        h2 { "meshproof diff A B" }
        pre.cmd { "meshproof diff " (super::shell_word(&a.file)) " " (super::shell_word(&b.file)) }
        @if report.lines.is_empty() {
            pre { "no differences" }
        } @else {
            pre { @for l in &report.lines { (l) "\n" } }
        }
        p {
            @if report.verdicts_differ { strong { "The verdicts differ" } " (diff exits 1)." }
            @else { "The verdicts are the same (diff exits 0)." }
        }
    };
    super::page("../", &title, body)
}
