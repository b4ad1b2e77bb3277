//! `diff A B`: compare two bundles — the selection, every input and resolved file that differs
//! (the changed fields of YAML/JSON files, a unified diff of small text files, the sha256 of the
//! rest), and the verdicts — every difference labelled A and B.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::bundle::{paths, read::read_selected, BundleError, Limits, Manifest};
use crate::verdict::{Capability, Outcome, Scoring, Verdicts};

/// Text files up to this size (each side) get a unified diff.
const SMALL_TEXT: usize = 16 * 1024;
/// At most this many changed fields per file, then a count of the rest.
const MAX_FIELDS: usize = 40;
/// At most this many lines of a unified diff, then a count of the rest.
const MAX_DIFF_LINES: usize = 80;
/// Values longer than this are shortened in field lines.
const MAX_VALUE: usize = 100;

#[derive(Debug, Default)]
pub struct DiffReport {
    /// `A: <path> (run <id>, status <status>)` and the same for B.
    pub sides: Vec<String>,
    /// Every difference, in order: selection and tool, inputs, resolved, verdicts.
    pub lines: Vec<String>,
    pub verdicts_differ: bool,
}

/// What `diff` compares of one bundle: input and resolved digests and, per case, the capability,
/// variant and step outcomes. Small enough to keep for many bundles (`meshproof site`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub inputs: BTreeMap<String, String>,
    /// `resolved/...` path → sha256 of its bytes.
    pub resolved: BTreeMap<String, String>,
    pub scoring: Scoring,
    pub cases: Vec<CaseFacts>,
}

/// One case as `diff` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFacts {
    pub name: String,
    pub capability: Option<Capability>,
    /// `Full`/`Partial`/`None` or the status of a case without a capability.
    pub word: &'static str,
    pub variant: String,
    /// Step name → outcome, in step order.
    pub steps: Vec<(String, Outcome)>,
}

impl Facts {
    /// The facts of a bundle's manifest, verdicts and `resolved/` files (path → bytes or sha256).
    pub fn new(
        manifest: &Manifest,
        verdicts: &Verdicts,
        resolved: BTreeMap<String, String>,
    ) -> Facts {
        Facts {
            inputs: manifest.inputs.clone(),
            resolved,
            scoring: verdicts.scoring,
            cases: verdicts
                .cases
                .iter()
                .map(|c| CaseFacts {
                    name: c.name.clone(),
                    capability: verdicts.effective(c),
                    word: verdicts.capability_word(c),
                    variant: c.variant.clone(),
                    steps: c
                        .steps
                        .iter()
                        .map(|s| (s.name.clone(), s.outcome))
                        .collect(),
                })
                .collect(),
        }
    }
}

struct Side {
    manifest: Manifest,
    facts: Facts,
    /// `inputs/…` and `resolved/…` files.
    files: BTreeMap<String, Vec<u8>>,
}

fn load(bundle: &Path, limits: &Limits) -> Result<Side, BundleError> {
    let files = read_selected(bundle, limits, |p| {
        p == paths::MANIFEST
            || p == paths::VERDICTS
            || p.starts_with("resolved/")
            || p.starts_with("inputs/")
    })
    .map_err(crate::bundle::naming_bundle(bundle))?;
    let parse = |p: &str| -> Result<&Vec<u8>, BundleError> {
        files.get(p).ok_or_else(|| BundleError::Integrity {
            file: format!("{}: {p}", bundle.display()),
            reason: "missing".into(),
        })
    };
    let bad = |p: &str, e: serde_json::Error| BundleError::Integrity {
        file: format!("{}: {p}", bundle.display()),
        reason: e.to_string(),
    };
    let manifest =
        serde_json::from_slice(parse(paths::MANIFEST)?).map_err(|e| bad(paths::MANIFEST, e))?;
    let verdicts =
        serde_json::from_slice(parse(paths::VERDICTS)?).map_err(|e| bad(paths::VERDICTS, e))?;
    let files: BTreeMap<String, Vec<u8>> = files
        .into_iter()
        .filter(|(k, _)| k.starts_with("resolved/") || k.starts_with("inputs/"))
        .collect();
    let resolved = files
        .iter()
        .filter(|(k, _)| k.starts_with("resolved/"))
        .map(|(k, v)| (k.clone(), crate::sha256_hex(v)))
        .collect();
    Ok(Side {
        facts: Facts::new(&manifest, &verdicts, resolved),
        manifest,
        files,
    })
}

/// Compare bundle `a` with bundle `b`.
pub fn diff(a_path: &Path, b_path: &Path, limits: &Limits) -> Result<DiffReport, BundleError> {
    let a = load(a_path, limits)?;
    let b = load(b_path, limits)?;
    let mut r = DiffReport {
        sides: vec![side_line("A", a_path, &a), side_line("B", b_path, &b)],
        ..DiffReport::default()
    };
    compare_run(&a, &b, &mut r.lines);
    compare_files("input", "inputs/", &a, &b, &mut r.lines);
    compare_files("resolved", "resolved/", &a, &b, &mut r.lines);
    compare_verdicts(&a.facts, &b.facts, &mut r);
    Ok(r)
}

fn side_line(label: &str, path: &Path, s: &Side) -> String {
    format!(
        "{label}: {} (run {}, status {})",
        path.display(),
        s.manifest.run.id,
        s.manifest.run.status.as_str()
    )
}

/// `what: A x / B y` when they differ.
fn ab(lines: &mut Vec<String>, what: &str, a: &str, b: &str) {
    if a != b {
        lines.push(format!("{what}: A {a} / B {b}"));
    }
}

/// The run's selection, status, scoring and the meshproof that made it.
fn compare_run(a: &Side, b: &Side, lines: &mut Vec<String>) {
    let (ra, rb) = (&a.manifest.run, &b.manifest.run);
    let (sa, sb) = (ra.selection.entries(), rb.selection.entries());
    let keys: BTreeSet<&str> = sa.keys().chain(sb.keys()).copied().collect();
    for k in keys {
        ab(
            lines,
            &format!("selection {k}"),
            sa.get(k).copied().unwrap_or("(none)"),
            sb.get(k).copied().unwrap_or("(none)"),
        );
    }
    ab(lines, "run status", ra.status.as_str(), rb.status.as_str());
    let tool = |m: &Manifest| {
        format!(
            "{} {} ({})",
            m.tool.name,
            m.tool.version,
            m.tool.git_revision.as_deref().unwrap_or("revision unknown")
        )
    };
    ab(lines, "tool", &tool(&a.manifest), &tool(&b.manifest));
}

/// Every file under `prefix` that is only on one side or differs, with what changed.
fn compare_files(what: &str, prefix: &str, a: &Side, b: &Side, lines: &mut Vec<String>) {
    let under = |s: &Side| -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = s
            .files
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), crate::sha256_hex(v)))
            .collect();
        // Inputs the manifest lists but the archive lacks still count (by digest).
        if prefix == "inputs/" {
            for (k, d) in &s.manifest.inputs {
                m.entry(k.clone()).or_insert_with(|| d.clone());
            }
        }
        m
    };
    let (ma, mb) = (under(a), under(b));
    let keys: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
    for k in keys {
        match (ma.get(k), mb.get(k)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => {
                lines.push(format!("{what} {k}: differs"));
                match (a.files.get(k.as_str()), b.files.get(k.as_str())) {
                    (Some(fa), Some(fb)) => file_changes(k, fa, fb, lines),
                    _ => lines.push(format!("  sha256: A {x} / B {y}")),
                }
            }
            (Some(_), None) => lines.push(format!("{what} {k}: only in A")),
            (None, Some(_)) => lines.push(format!("{what} {k}: only in B")),
            (None, None) => {}
        }
    }
}

/// What changed in one file: its fields when it parses as YAML/JSON, a unified diff when it is
/// small text, else both digests.
fn file_changes(name: &str, a: &[u8], b: &[u8], lines: &mut Vec<String>) {
    let mut shown = false;
    let mut fields_only = false;
    if let (Some(va), Some(vb)) = (structured(name, a), structured(name, b)) {
        let fields = field_changes(&va, &vb);
        shown = !fields.is_empty();
        // JSON is all fields; YAML keeps comments and layout worth a diff too.
        fields_only = shown && name.ends_with(".json");
        let more = fields.len().saturating_sub(MAX_FIELDS);
        lines.extend(
            fields
                .into_iter()
                .take(MAX_FIELDS)
                .map(|f| format!("  {f}")),
        );
        if more > 0 {
            lines.push(format!("  … {more} more changed field(s)"));
        }
    }
    match (std::str::from_utf8(a), std::str::from_utf8(b)) {
        (Ok(ta), Ok(tb)) if !fields_only && ta.len() <= SMALL_TEXT && tb.len() <= SMALL_TEXT => {
            unified(name, ta, tb, lines);
            shown = true;
        }
        _ => {}
    }
    if !shown {
        lines.push(format!(
            "  sha256: A {} / B {}",
            crate::sha256_hex(a),
            crate::sha256_hex(b)
        ));
    }
}

/// A YAML (single document) or JSON file as a value; `None` for anything else.
fn structured(name: &str, bytes: &[u8]) -> Option<Value> {
    if name.ends_with(".json") {
        return serde_json::from_slice(bytes).ok();
    }
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        let text = std::str::from_utf8(bytes).ok()?;
        return serde_saphyr::from_str::<Value>(text).ok();
    }
    None
}

/// `path: A x / B y`, `path: only in A (x)`, … for every leaf that differs, in key order.
fn field_changes(a: &Value, b: &Value) -> Vec<String> {
    let (fa, fb) = (flatten(a), flatten(b));
    let keys: BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        match (fa.get(k), fb.get(k)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => out.push(format!("{k}: A {} / B {}", show(x), show(y))),
            (Some(x), None) => out.push(format!("{k}: only in A ({})", show(x))),
            (None, Some(y)) => out.push(format!("{k}: only in B ({})", show(y))),
            (None, None) => {}
        }
    }
    out
}

/// Leaves by path: `spec.install.helm.version`, `items[2].image`, `["docker.io/x:1"]`.
fn flatten(v: &Value) -> BTreeMap<String, Value> {
    fn walk(v: &Value, path: String, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, x) in m {
                    let plain = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    let p = match (plain, path.is_empty()) {
                        (true, true) => k.clone(),
                        (true, false) => format!("{path}.{k}"),
                        (false, _) => format!("{path}[{}]", Value::from(k.as_str())),
                    };
                    walk(x, p, out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, x) in items.iter().enumerate() {
                    walk(x, format!("{path}[{i}]"), out);
                }
            }
            leaf => {
                let p = if path.is_empty() {
                    "(value)".into()
                } else {
                    path
                };
                out.insert(p, leaf.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(v, String::new(), &mut out);
    out
}

/// A value as JSON, shortened.
fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= MAX_VALUE {
        return s;
    }
    let cut: String = s.chars().take(MAX_VALUE).collect();
    format!("{cut}…")
}

/// A unified diff with `A/<name>` and `B/<name>` headers, indented, bounded.
fn unified(name: &str, a: &str, b: &str, lines: &mut Vec<String>) {
    let d = similar::TextDiff::from_lines(a, b);
    let text = d
        .unified_diff()
        .context_radius(2)
        .header(&format!("A/{name}"), &format!("B/{name}"))
        .to_string();
    let all: Vec<&str> = text.lines().collect();
    for l in all.iter().take(MAX_DIFF_LINES) {
        lines.push(format!("  {l}"));
    }
    if all.len() > MAX_DIFF_LINES {
        lines.push(format!(
            "  … {} more diff line(s)",
            all.len() - MAX_DIFF_LINES
        ));
    }
}

fn compare_maps(
    what: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    lines: &mut Vec<String>,
) {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(_), Some(_)) => lines.push(format!("{what} {k}: differs")),
            (Some(_), None) => lines.push(format!("{what} {k}: only in A")),
            (None, Some(_)) => lines.push(format!("{what} {k}: only in B")),
            (None, None) => {}
        }
    }
}

/// What `diff` says about two bundles' facts.
pub fn compare(a: &Facts, b: &Facts) -> DiffReport {
    let mut r = DiffReport::default();
    compare_maps("input", &a.inputs, &b.inputs, &mut r.lines);
    compare_maps("resolved", &a.resolved, &b.resolved, &mut r.lines);
    compare_verdicts(a, b, &mut r);
    r
}

/// Scoring, per-case capability and variant, per-step outcome: any difference sets
/// `verdicts_differ`.
fn compare_verdicts(a: &Facts, b: &Facts, r: &mut DiffReport) {
    if a.scoring != b.scoring {
        r.lines.push(format!(
            "scoring: A {} / B {}",
            a.scoring.as_str(),
            b.scoring.as_str()
        ));
        r.verdicts_differ = true;
    }
    let names: BTreeSet<&String> = a.cases.iter().chain(&b.cases).map(|c| &c.name).collect();
    for name in names {
        let ca = a.cases.iter().find(|c| &c.name == name);
        let cb = b.cases.iter().find(|c| &c.name == name);
        match (ca, cb) {
            (Some(x), Some(y)) => {
                if x.capability != y.capability {
                    r.lines.push(format!(
                        "verdict {name}: capability A {} / B {}",
                        x.word, y.word
                    ));
                    r.verdicts_differ = true;
                }
                if x.variant != y.variant {
                    r.lines.push(format!(
                        "verdict {name}: variant A {} / B {}",
                        x.variant, y.variant
                    ));
                    r.verdicts_differ = true;
                }
                for (sx, ox) in &x.steps {
                    match y.steps.iter().find(|(s, _)| s == sx) {
                        Some((_, oy)) if oy != ox => {
                            r.lines.push(format!(
                                "verdict {name} step {sx}: A {} / B {}",
                                ox.as_str(),
                                oy.as_str()
                            ));
                            r.verdicts_differ = true;
                        }
                        Some(_) => {}
                        None => {
                            r.lines.push(format!("verdict {name} step {sx}: only in A"));
                            r.verdicts_differ = true;
                        }
                    }
                }
                for (sy, _) in &y.steps {
                    if !x.steps.iter().any(|(s, _)| s == sy) {
                        r.lines.push(format!("verdict {name} step {sy}: only in B"));
                        r.verdicts_differ = true;
                    }
                }
            }
            (Some(_), None) => {
                r.lines.push(format!("verdict {name}: only in A"));
                r.verdicts_differ = true;
            }
            (None, Some(_)) => {
                r.lines.push(format!("verdict {name}: only in B"));
                r.verdicts_differ = true;
            }
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_named_by_path_and_labelled_a_and_b() {
        let a = json!({"spec": {"kubernetesVersion": "1.29.2", "nodes": [{"image": "kindest/node@sha256:aa"}]},
                       "images": {"docker.io/x:1": "sha256:11"}});
        let b = json!({"spec": {"kubernetesVersion": "1.30.0", "nodes": [{"image": "kindest/node@sha256:bb"}], "extra": true},
                       "images": {"docker.io/x:1": "sha256:22"}});
        assert_eq!(
            field_changes(&a, &b),
            [
                r#"images["docker.io/x:1"]: A "sha256:11" / B "sha256:22""#,
                "spec.extra: only in B (true)",
                r#"spec.kubernetesVersion: A "1.29.2" / B "1.30.0""#,
                r#"spec.nodes[0].image: A "kindest/node@sha256:aa" / B "kindest/node@sha256:bb""#,
            ]
        );
        assert!(field_changes(&a, &a).is_empty());
    }

    #[test]
    fn large_or_binary_files_show_their_digests() {
        let mut lines = Vec::new();
        let big_a = "x".repeat(SMALL_TEXT + 1);
        let big_b = "y".repeat(SMALL_TEXT + 1);
        file_changes(
            "inputs/suite/blob",
            big_a.as_bytes(),
            big_b.as_bytes(),
            &mut lines,
        );
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("  sha256: A "), "{lines:?}");
        let mut lines = Vec::new();
        file_changes("inputs/x.bin", &[0xff, 0xfe], &[0xff, 0xfd], &mut lines);
        assert!(lines[0].starts_with("  sha256: A "), "{lines:?}");
    }
}
