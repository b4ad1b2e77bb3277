//! SVG charts of a case: the weights each TrafficSplit asked for against the backends that
//! answered, and the metrics edges read against the traffic sent. Labels carry the numbers, so
//! colour is never the only signal.

use std::collections::BTreeMap;

use maud::{html, Markup};

use crate::observation::CaseObservation;
use crate::spec::catalog::LoadedCase;

const WIDTH: u32 = 640;
const LABEL: u32 = 150;
const BAR: u32 = 18;
/// Backends coloured by position; more than this many share the last class.
const PALETTE: usize = 4;

/// The charts that fit a case (none for most cases).
pub fn for_case(lc: &LoadedCase, obs: &CaseObservation) -> Markup {
    let split = split_rows(lc, obs);
    let metrics = metrics_rows(lc, obs);
    html! {
        @if !split.is_empty() { (split_chart(&split)) }
        @if !metrics.is_empty() { (metrics_chart(&metrics)) }
    }
}

/// One traffic step: the split in force (backend → weight) and who answered (backend → calls).
#[derive(Debug, PartialEq)]
pub struct SplitRow {
    pub step: String,
    pub expected: Option<Vec<(String, f64)>>,
    pub observed: Vec<(String, usize)>,
}

/// A weight as SMI writes it: a number, or a quantity string (`"500m"`, v1alpha1).
fn weight(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => match s.strip_suffix('m') {
            Some(m) => m.parse::<f64>().ok().map(|x| x / 1000.0),
            None => s.parse().ok(),
        },
        _ => None,
    }
}

/// The TrafficSplit backends a step applies, from the suite recorded in the bundle.
fn applied_split(lc: &LoadedCase, variant: &str, files: &[String]) -> Option<Vec<(String, f64)>> {
    for f in files {
        let (shown, bytes) = lc.resolve(variant, f)?;
        let text = std::str::from_utf8(bytes).ok()?;
        for doc in crate::yaml::documents(&shown, text).ok()? {
            if doc.get("kind").and_then(|k| k.as_str()) != Some("TrafficSplit") {
                continue;
            }
            let backends = doc.pointer("/spec/backends")?.as_array()?;
            return backends
                .iter()
                .map(|b| {
                    Some((
                        b.get("service")?.as_str()?.to_string(),
                        weight(b.get("weight")?)?,
                    ))
                })
                .collect();
        }
    }
    None
}

pub fn split_rows(lc: &LoadedCase, obs: &CaseObservation) -> Vec<SplitRow> {
    let mut rows = Vec::new();
    let mut current: Option<Vec<(String, f64)>> = None;
    for step in &lc.case.spec.steps {
        if !step.apply.is_empty() {
            if let Some(s) = applied_split(lc, &obs.variant, &step.apply) {
                current = Some(s);
            }
        }
        let Some(o) = obs.steps.iter().find(|s| s.name == step.name) else {
            continue;
        };
        let Some(last) = o.attempts.last() else {
            continue;
        };
        let mut answered: BTreeMap<String, usize> = BTreeMap::new();
        for r in last.traffic.iter().flat_map(|t| &t.records) {
            let who = match (&r.backend, r.succeeded()) {
                (Some(b), true) => b.clone(),
                _ => "failed".to_string(),
            };
            *answered.entry(who).or_insert(0) += 1;
        }
        let has_backends = last
            .traffic
            .iter()
            .flat_map(|t| &t.records)
            .any(|r| r.backend.is_some());
        if answered.is_empty() || (current.is_none() && !has_backends) {
            continue;
        }
        if lc.case.spec.smi_spec != "traffic-split" {
            continue;
        }
        rows.push(SplitRow {
            step: step.name.clone(),
            expected: current.clone(),
            observed: answered.into_iter().collect(),
        });
    }
    rows
}

/// The numbers of a row in words: `expected app-b 75%, app-c 25%; observed app-b 38, app-c 12`.
fn split_words(r: &SplitRow) -> String {
    let expected = match &r.expected {
        None => "no TrafficSplit".to_string(),
        Some(w) => {
            let total: f64 = w.iter().map(|(_, v)| v.max(0.0)).sum();
            w.iter()
                .map(|(n, v)| {
                    let pct = if total > 0.0 {
                        v.max(0.0) / total * 100.0
                    } else {
                        0.0
                    };
                    format!("{n} {}%", fmt(pct))
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let observed = r
        .observed
        .iter()
        .map(|(n, c)| format!("{n} {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("expected {expected}; observed {observed}")
}

fn split_chart(rows: &[SplitRow]) -> Markup {
    let row_h = 2 * BAR + 30;
    let height = 24 + rows.len() as u32 * row_h;
    let mut names: Vec<&str> = rows
        .iter()
        .flat_map(|r| {
            r.observed
                .iter()
                .map(|(n, _)| n.as_str())
                .chain(r.expected.iter().flatten().map(|(n, _)| n.as_str()))
        })
        .collect();
    names.sort();
    names.dedup();
    let class = |n: &str| -> String {
        let i = names
            .iter()
            .position(|x| *x == n)
            .unwrap_or(0)
            .min(PALETTE - 1);
        if n == "failed" {
            "seg-failed".into()
        } else {
            format!("seg-{i}")
        }
    };
    let bar_w = WIDTH - LABEL - 10;
    html! {
        figure.chart {
            svg xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(height) viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-label="TrafficSplit weights against the backends that answered, per step" {
                title { "TrafficSplit: expected weights vs observed backend shares" }
                text x="0" y="14" class="axis" { "weights asked for (upper bar) vs share of calls each backend answered (lower bar)" }
                @for (i, r) in rows.iter().enumerate() {
                    @let y = 24 + i as u32 * row_h;
                    text x="0" y=(y + BAR - 4) class="label" { (r.step) }
                    text x=(LABEL) y=(y + 2 * BAR + 16) class="sub" { (split_words(r)) }
                    @match &r.expected {
                        Some(w) => { (segments(w.iter().map(|(n, x)| (n.as_str(), *x)).collect(), LABEL, y, bar_w, &class)) }
                        None => { text x=(LABEL) y=(y + BAR - 4) class="sub" { "no TrafficSplit applied" } }
                    }
                    (segments(r.observed.iter().map(|(n, x)| (n.as_str(), *x as f64)).collect(), LABEL, y + BAR + 2, bar_w, &class))
                }
            }
            figcaption { "Upper bar: the weights of the TrafficSplit in force (from the suite recorded in the bundle). Lower bar: who answered the calls of the step's last attempt." }
        }
    }
}

/// A stacked bar of `parts` scaled to `w`, each labelled with its name and share.
fn segments(
    parts: Vec<(&str, f64)>,
    x0: u32,
    y: u32,
    w: u32,
    class: &dyn Fn(&str) -> String,
) -> Markup {
    let total: f64 = parts.iter().map(|(_, v)| v.max(0.0)).sum();
    let mut x = x0 as f64;
    let mut placed = Vec::new();
    for (n, v) in &parts {
        let share = if total > 0.0 { v.max(0.0) / total } else { 0.0 };
        let sw = share * w as f64;
        placed.push((*n, x, sw, share));
        x += sw;
    }
    html! {
        @if total <= 0.0 {
            rect x=(x0) y=(y) width=(w) height=(BAR) class="seg-empty" {}
            text x=(x0 + 4) y=(y + BAR - 5) class="seglabel dark" { "all weights 0" }
        } @else {
            @for (n, x, sw, share) in &placed {
                rect x=(fmt(*x)) y=(y) width=(fmt(*sw)) height=(BAR) class=(class(n)) {
                    title { (n) ": " (fmt(share * 100.0)) "%" }
                }
                @if *sw >= 40.0 {
                    text x=(fmt(x + 4.0)) y=(y + BAR - 5) class="seglabel" { (n) " " (fmt(share * 100.0)) "%" }
                }
            }
        }
    }
}

/// Numbers in SVG attributes: at most one decimal, no trailing `.0`.
fn fmt(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// One metrics edge: what the metrics API counted and what the traffic step sent.
#[derive(Debug, PartialEq)]
pub struct MetricsRow {
    pub label: String,
    pub observed: Option<(f64, f64)>,
    pub sent: Option<(usize, usize)>,
}

pub fn metrics_rows(lc: &LoadedCase, obs: &CaseObservation) -> Vec<MetricsRow> {
    let mut rows = Vec::new();
    for step in &lc.case.spec.steps {
        let Some(o) = obs.steps.iter().find(|s| s.name == step.name) else {
            continue;
        };
        let Some(last) = o.attempts.last() else {
            continue;
        };
        for m in &last.metrics {
            let Some(check) = step.metrics.get(m.check) else {
                continue;
            };
            let tm = m.body.as_ref().and_then(|body| match &check.edge {
                None => Some(body.clone()),
                Some(target) => body
                    .get("items")
                    .and_then(|i| i.as_array())
                    .and_then(|items| {
                        items
                            .iter()
                            .find(|it| {
                                it.pointer("/edge/resource/name").and_then(|n| n.as_str())
                                    == Some(target.as_str())
                            })
                            .cloned()
                    }),
            });
            let sent = check.counts_from.as_ref().and_then(|from| {
                let a = obs
                    .steps
                    .iter()
                    .find(|s| &s.name == from)?
                    .attempts
                    .last()?;
                let recs = a.traffic.iter().flat_map(|t| t.records.iter());
                Some(recs.fold((0, 0), |(s, f), r| {
                    if r.succeeded() {
                        (s + 1, f)
                    } else {
                        (s, f + 1)
                    }
                }))
            });
            let res = &check.resource;
            rows.push(MetricsRow {
                label: match &check.edge {
                    Some(t) => format!("{}/{} → {t}", res.kind, res.name),
                    None => format!("{}/{}", res.kind, res.name),
                },
                observed: tm.as_ref().and_then(crate::verdict::counts),
                sent,
            });
        }
    }
    rows
}

fn metrics_chart(rows: &[MetricsRow]) -> Markup {
    let max = rows
        .iter()
        .flat_map(|r| {
            let (a, b) = r.observed.unwrap_or((0.0, 0.0));
            let (c, d) = r.sent.unwrap_or((0, 0));
            [a, b, c as f64, d as f64]
        })
        .fold(1.0f64, f64::max);
    let bar_w = (WIDTH - LABEL - 120) as f64;
    let row_h = 4 * (BAR - 4) + 26;
    let height = 24 + rows.len() as u32 * row_h;
    let bar = |y: u32, v: Option<f64>, class: &str, what: &str, missing: &str| {
        html! {
            text x=(LABEL - 6) y=(y + BAR - 8) class="sub end" { (what) }
            @match v {
                Some(v) => {
                    rect x=(LABEL) y=(y) width=(fmt(v / max * bar_w)) height=(BAR - 6) class=(class) {}
                    text x=(fmt(LABEL as f64 + v / max * bar_w + 4.0)) y=(y + BAR - 8) class="seglabel dark" { (fmt(v)) }
                }
                None => { text x=(LABEL) y=(y + BAR - 8) class="sub" { (missing) } }
            }
        }
    };
    html! {
        figure.chart {
            svg xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(height) viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-label="Metrics counted against traffic sent" {
                title { "Traffic metrics: counted by the metrics API vs sent by the probe" }
                text x="0" y="14" class="axis" { "success and failure counts: read from the metrics API vs sent in the traffic step" }
                @for (i, r) in rows.iter().enumerate() {
                    @let y = 24 + i as u32 * row_h;
                    text x="0" y=(y + 10) class="label" { (r.label) }
                    (bar(y + 14, r.observed.map(|o| o.0), "seg-0", "success read", "not read"))
                    (bar(y + 14 + (BAR - 4), r.sent.map(|s| s.0 as f64), "seg-2", "success sent", "not compared with a step"))
                    (bar(y + 14 + 2 * (BAR - 4), r.observed.map(|o| o.1), "seg-failed", "failure read", "not read"))
                    (bar(y + 14 + 3 * (BAR - 4), r.sent.map(|s| s.1 as f64), "seg-3", "failure sent", "not compared with a step"))
                }
            }
            figcaption { "Each edge's success_count and failure_count as the metrics API answered (last attempt), beside the successes and failures the step named by the check sent; the check needs read ≥ sent." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_read_numbers_and_milli_quantities() {
        assert_eq!(weight(&serde_json::json!(75)), Some(75.0));
        assert_eq!(weight(&serde_json::json!("500m")), Some(0.5));
        assert_eq!(weight(&serde_json::json!("x")), None);
        assert_eq!(fmt(12.345), "12.3");
        assert_eq!(fmt(40.0), "40");
    }
}
