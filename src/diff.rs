//! `diff A B`: compare two bundles' inputs, resolved pins and verdicts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::bundle::{paths, read::read_selected, BundleError, Limits, Manifest};
use crate::verdict::{Capability, Outcome, Scoring, Verdicts};

#[derive(Debug, Default)]
pub struct DiffReport {
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

fn load(bundle: &Path, limits: &Limits) -> Result<Facts, BundleError> {
    let files = read_selected(bundle, limits, |p| {
        p == paths::MANIFEST || p == paths::VERDICTS || p.starts_with("resolved/")
    })
    .map_err(crate::error::naming_bundle(bundle))?;
    let get = |p: &str| {
        files.get(p).ok_or_else(|| BundleError::Integrity {
            file: format!("{}: {p}", bundle.display()),
            reason: "missing".into(),
        })
    };
    let manifest: Manifest =
        serde_json::from_slice(get(paths::MANIFEST)?).map_err(|e| BundleError::Integrity {
            file: format!("{}: {}", bundle.display(), paths::MANIFEST),
            reason: e.to_string(),
        })?;
    let verdicts: Verdicts =
        serde_json::from_slice(get(paths::VERDICTS)?).map_err(|e| BundleError::Integrity {
            file: format!("{}: {}", bundle.display(), paths::VERDICTS),
            reason: e.to_string(),
        })?;
    let resolved = files
        .iter()
        .filter(|(k, _)| k.starts_with("resolved/"))
        .map(|(k, v)| (k.clone(), crate::sha256_hex(v)))
        .collect();
    Ok(Facts::new(&manifest, &verdicts, resolved))
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

/// Compare bundle `a` with bundle `b`.
pub fn diff(a: &Path, b: &Path, limits: &Limits) -> Result<DiffReport, BundleError> {
    let a = load(a, limits)?;
    let b = load(b, limits)?;
    Ok(compare(&a, &b))
}

/// What `diff` says about two bundles' facts.
pub fn compare(a: &Facts, b: &Facts) -> DiffReport {
    let mut r = DiffReport::default();
    compare_maps("input", &a.inputs, &b.inputs, &mut r.lines);
    compare_maps("resolved", &a.resolved, &b.resolved, &mut r.lines);
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
    r
}
