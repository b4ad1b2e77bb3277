//! `diff A B`: compare two bundles' inputs, resolved pins and verdicts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::bundle::{paths, read::read_selected, BundleError, Limits, Manifest};
use crate::verdict::Verdicts;

#[derive(Debug, Default)]
pub struct DiffReport {
    pub lines: Vec<String>,
    pub verdicts_differ: bool,
}

struct Side {
    manifest: Manifest,
    verdicts: Verdicts,
    resolved: BTreeMap<String, Vec<u8>>,
}

fn load(bundle: &Path, limits: &Limits) -> Result<Side, BundleError> {
    let files = read_selected(bundle, limits, |p| {
        p == paths::MANIFEST || p == paths::VERDICTS || p.starts_with("resolved/")
    })?;
    let get = |p: &str| {
        files.get(p).ok_or_else(|| BundleError::Integrity {
            file: format!("{}: {p}", bundle.display()),
            reason: "missing".into(),
        })
    };
    let manifest =
        serde_json::from_slice(get(paths::MANIFEST)?).map_err(|e| BundleError::Integrity {
            file: format!("{}: {}", bundle.display(), paths::MANIFEST),
            reason: e.to_string(),
        })?;
    let verdicts =
        serde_json::from_slice(get(paths::VERDICTS)?).map_err(|e| BundleError::Integrity {
            file: format!("{}: {}", bundle.display(), paths::VERDICTS),
            reason: e.to_string(),
        })?;
    let resolved = files
        .into_iter()
        .filter(|(k, _)| k.starts_with("resolved/"))
        .collect();
    Ok(Side {
        manifest,
        verdicts,
        resolved,
    })
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
    let mut r = DiffReport::default();
    compare_maps(
        "input",
        &a.manifest.inputs,
        &b.manifest.inputs,
        &mut r.lines,
    );
    let hashed = |m: &BTreeMap<String, Vec<u8>>| {
        m.iter()
            .map(|(k, v)| (k.clone(), crate::sha256_hex(v)))
            .collect::<BTreeMap<_, _>>()
    };
    compare_maps(
        "resolved",
        &hashed(&a.resolved),
        &hashed(&b.resolved),
        &mut r.lines,
    );
    if a.verdicts.scoring != b.verdicts.scoring {
        r.lines.push(format!(
            "scoring: A {} / B {}",
            a.verdicts.scoring.as_str(),
            b.verdicts.scoring.as_str()
        ));
        r.verdicts_differ = true;
    }
    let names: BTreeSet<&String> = a
        .verdicts
        .cases
        .iter()
        .chain(&b.verdicts.cases)
        .map(|c| &c.name)
        .collect();
    for name in names {
        let ca = a.verdicts.cases.iter().find(|c| &c.name == name);
        let cb = b.verdicts.cases.iter().find(|c| &c.name == name);
        match (ca, cb) {
            (Some(x), Some(y)) => {
                let (ex, ey) = (a.verdicts.effective(x), b.verdicts.effective(y));
                if ex != ey {
                    r.lines.push(format!(
                        "verdict {name}: capability A {} / B {}",
                        a.verdicts.capability_word(x),
                        b.verdicts.capability_word(y)
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
                for sx in &x.steps {
                    match y.steps.iter().find(|s| s.name == sx.name) {
                        Some(sy) if sy.outcome != sx.outcome => {
                            r.lines.push(format!(
                                "verdict {name} step {}: A {} / B {}",
                                sx.name,
                                sx.outcome.as_str(),
                                sy.outcome.as_str()
                            ));
                            r.verdicts_differ = true;
                        }
                        Some(_) => {}
                        None => {
                            r.lines
                                .push(format!("verdict {name} step {}: only in A", sx.name));
                            r.verdicts_differ = true;
                        }
                    }
                }
                for sy in &y.steps {
                    if !x.steps.iter().any(|s| s.name == sy.name) {
                        r.lines
                            .push(format!("verdict {name} step {}: only in B", sy.name));
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
    Ok(r)
}
