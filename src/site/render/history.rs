//! History pages: per mesh, every verified bundle in time order with each case's capability,
//! regressions (a case that got worse than the bundle before) highlighted, and a compare link
//! between neighbours.

use maud::{html, Markup};

use super::badge;
use crate::site::model::{self, Entry, History};

/// The page of one mesh's history, under `history/`.
pub fn page_name(h: &History) -> String {
    format!("history/{}.html", model::safe_name(h.mesh))
}

pub fn index(histories: &[History]) -> String {
    let body = html! {
        h1 { "History" }
        @if histories.is_empty() { p { "No bundle verified." } }
        ul {
            @for h in histories {
                @let regressions = count_regressions(h);
                li {
                    a href={ (page_name(h).trim_start_matches("history/")) } { (h.entries[0].mesh_name) " (" (h.mesh) ")" }
                    " — " (h.entries.len()) " bundle(s)"
                    @if regressions > 0 { ", " span.regression { (regressions) " regression(s)" } }
                }
            }
        }
    };
    super::page("../", "History", body)
}

fn count_regressions(h: &History) -> usize {
    h.entries
        .windows(2)
        .map(|w| {
            w[1].cases
                .iter()
                .filter(|(name, c)| model::regressed(w[0].cases.get(*name), Some(c)))
                .count()
        })
        .sum()
}

pub fn page(h: &History) -> String {
    let cases = model::case_names(h.entries.iter().copied());
    let title = format!("History of {}", h.entries[0].mesh_name);
    let body = html! {
        p.crumbs { a href="index.html" { "History" } " › " (h.mesh) }
        h1 { (title) }
        p { "Oldest first, by the finish time each bundle records. A case that got worse than in the bundle before is marked "
            span.regression { "▼ regression" } "." }
        table.history {
            thead {
                tr {
                    th { "Finished" } th { "Mesh version" } th { "Cluster pin" } th { "Kubernetes" } th { "meshproof" } th { "Run" }
                    @for c in &cases { th { (c) } }
                    th { "Compare" }
                }
            }
            tbody {
                @for (i, e) in h.entries.iter().enumerate() {
                    @let before = if i > 0 { Some(h.entries[i - 1]) } else { None };
                    (row(e, before, &cases))
                }
            }
        }
    };
    super::page("../", &title, body)
}

fn row(e: &Entry, before: Option<&Entry>, cases: &[String]) -> Markup {
    html! {
        tr {
            td { (e.finished_at) }
            td { (e.mesh_version) }
            td { (e.cluster) }
            td { (e.kubernetes) }
            td { (e.tool_version) " " code { (short(&e.tool_revision)) } }
            td { a href={ "../" (e.page()) } { (badge(super::run_status_class(e.status), e.status.as_str())) } }
            @for c in cases {
                @let cell = e.cases.get(c);
                @let prev = before.and_then(|b| b.cases.get(c));
                @let worse = model::regressed(prev, cell);
                td class={ "cell" @if worse { " regression-cell" } } {
                    @match cell {
                        Some(x) => { a href={ "../" (e.page()) "#case-" (x.index) } { (badge(x.class(), x.word())) } }
                        None => { span.muted { "not planned" } }
                    }
                    @if worse {
                        br; span.regression { "▼ regression from " (prev.map(|p| p.word()).unwrap_or("")) }
                    }
                }
            }
            td {
                @if let Some(b) = before {
                    a href={ "../" (model::compare_page(b, e)) } { "vs previous" }
                }
            }
        }
    }
}

/// The first 12 characters of a revision.
fn short(rev: &str) -> String {
    rev.chars().take(12).collect()
}
