//! `verify`: archive safety → checksums → format → layout → inputs → re-judge → verdicts
//! identical → run status → reports identical.
//!
//! One streaming pass ([`super::read::scan`]) decompresses the bundle while a second thread
//! hashes what was decompressed; memory stays bounded by the reader limits.

use std::path::Path;

use super::check;
use super::format::{FormatVersion, Readable, RenderReports};
use super::read::scan;
use super::{paths, BundleError, Limits, Manifest};
use crate::verdict::{Verdicts, VERDICT_FORMAT};

/// One line of `verify` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub lines: Vec<CheckLine>,
    pub manifest: Option<Manifest>,
    pub verdicts: Option<Verdicts>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        !self.lines.is_empty() && self.lines.iter().all(|l| l.ok)
    }

    /// The first failing check's detail.
    pub fn first_problem(&self) -> Option<&CheckLine> {
        self.lines.iter().find(|l| !l.ok)
    }

    fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.lines.push(CheckLine {
            name,
            ok: true,
            detail: detail.into(),
        });
    }

    fn fail(mut self, name: &'static str, detail: impl Into<String>) -> Self {
        self.lines.push(CheckLine {
            name,
            ok: false,
            detail: detail.into(),
        });
        self
    }
}

/// Files `verify` needs in memory: everything the judge and the checks read.
pub fn is_structured(path: &str) -> bool {
    super::check::is_structural(path)
        || path == paths::VERDICTS
        || path == paths::INPUT_MESH
        || path.starts_with("inputs/suite/")
        || path.starts_with("observations/")
        || path.starts_with("report/")
}

pub use super::check::parse_sums;

impl VerifyReport {
    /// A check's line: passed with its detail, or failed with the error (which names the file).
    fn record<T>(
        &mut self,
        name: &'static str,
        r: Result<T, BundleError>,
        detail: impl FnOnce(&T) -> String,
    ) -> Option<T> {
        match r {
            Ok(v) => {
                self.pass(name, detail(&v));
                Some(v)
            }
            Err(e) => {
                self.lines.push(CheckLine {
                    name,
                    ok: false,
                    detail: e.to_string(),
                });
                None
            }
        }
    }
}

/// Verify a bundle offline, comparing its `report/` with what `reports` renders (this build's
/// renderings: `crate::seal::verify`). Never needs Docker, a cluster or the network.
pub fn verify(bundle: &Path, limits: &Limits, reports: &dyn RenderReports) -> VerifyReport {
    let mut report = VerifyReport::default();
    let scanned = scan(bundle, limits, &is_structured, None)
        .and_then(|s| check::parse_limits(&s, limits).map(|_| s));
    let Some(s) = report.record("archive safety", scanned, |s| {
        format!(
            "{} regular files, no unsafe entries, one zstd frame with its checksum, nothing after the tar end",
            s.entries
        )
    }) else {
        return report;
    };
    if report
        .record("checksums", check::checksums(&s), String::clone)
        .is_none()
    {
        return report;
    }
    let Some(manifest) = report.record("format", check::manifest(&s), |m| {
        format!("bundle format {}.{}", m.format.major, m.format.minor)
    }) else {
        return report;
    };
    if report
        .record("layout", check::layout(&s), String::clone)
        .is_none()
        || report
            .record("inputs", check::inputs(&manifest, &s.sums), String::clone)
            .is_none()
    {
        return report;
    }
    let suite_name = manifest.run.selection.suite_or_default().to_string();
    let scoring = manifest.run.scoring;
    report.manifest = Some(manifest);
    let files = s.files;

    // Re-judge.
    let rejudged = match super::write::judge_files(&files, &suite_name, scoring) {
        Ok((_, obs, v)) => {
            report.pass(
                "re-judge",
                format!(
                    "{} case observation(s) judged ({})",
                    obs.len(),
                    scoring.as_str()
                ),
            );
            v
        }
        Err(e) => return report.fail("re-judge", e.to_string()),
    };

    // Compare.
    let Some(stored) = files.get(paths::VERDICTS) else {
        return report.fail("verdicts", "verdicts.json: missing");
    };
    let fresh = rejudged.to_json();
    if *stored != fresh {
        return verdicts_differ(report, stored, &rejudged);
    }
    report.pass(
        "verdicts",
        "verdicts.json is identical to the re-judged verdicts",
    );
    match run_status(report.manifest.as_ref(), &rejudged) {
        Ok(line) => report.pass("run status", line),
        Err(line) => return report.fail("run status", line),
    }
    let manifest = report.manifest.as_ref().expect("set above");
    let checked = check_reports(manifest, &rejudged, &files, reports);
    report.verdicts = Some(rejudged);
    report.record("reports", checked, String::clone);
    report
}

/// `report/` must be exactly what this meshproof renders from the re-judged verdicts (the
/// renderings are deterministic): an edited, added or removed report is named. Reports of a
/// report format this build does not render (an older bundle's: [`FormatVersion::report_format`])
/// are not re-rendered; `SHA256SUMS` covers them, and the line says so.
fn check_reports(
    manifest: &Manifest,
    verdicts: &Verdicts,
    files: &std::collections::BTreeMap<String, Vec<u8>>,
    renderer: &dyn RenderReports,
) -> Result<String, BundleError> {
    let format = manifest.format;
    let newer = format.check_readable_by(FormatVersion::CURRENT) == Ok(Readable::NewerMinor);
    if let Some(old) = format.report_format().filter(|f| *f != renderer.format()) {
        return Ok(format!(
            "not re-rendered: bundle format {format} holds report format {old}, this meshproof \
             renders report format {}; the reports match SHA256SUMS",
            renderer.format()
        ));
    }
    let fresh = renderer.render(
        verdicts,
        manifest,
        files.get(paths::INPUT_MESH).map(Vec::as_slice),
    );
    let other_version = || {
        let tool = &manifest.tool;
        if newer {
            format!(
                " (bundle format {format} is newer than this meshproof's {}: its reports may be \
                 of a newer report format; re-verify with meshproof {})",
                FormatVersion::CURRENT,
                tool.version
            )
        } else if tool.version == crate::TOOL_VERSION {
            String::new()
        } else {
            format!(
                " (written by meshproof {}; if that version renders reports differently, \
                 re-verify with it)",
                tool.version
            )
        }
    };
    let stored: Vec<&String> = files
        .keys()
        .filter(|k| k.starts_with(&format!("{}/", paths::REPORT)))
        .collect();
    for (path, want) in &fresh {
        match files.get(path) {
            None => {
                return Err(BundleError::Integrity {
                    file: path.clone(),
                    reason: "missing: the re-judged verdicts render it".into(),
                })
            }
            Some(got) if got != want => {
                return Err(BundleError::Integrity {
                    file: path.clone(),
                    reason: format!(
                        "differs from the report rendered from the re-judged verdicts{}",
                        other_version()
                    ),
                })
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = stored.iter().find(|p| !fresh.contains_key(**p)) {
        return Err(BundleError::Integrity {
            file: (*extra).clone(),
            reason: "present, but the re-judged verdicts render no such report (Meshery exports \
                     exist only for complete runs)"
                .into(),
        });
    }
    Ok(format!(
        "{} identical to the re-rendered reports",
        fresh.keys().cloned().collect::<Vec<_>>().join(", ")
    ))
}

fn verdicts_differ(report: VerifyReport, stored: &[u8], rejudged: &Verdicts) -> VerifyReport {
    if let Some(old) = stored_verdict_format(stored).filter(|f| *f != VERDICT_FORMAT) {
        return report.fail(
            "verdicts",
            format!(
                "verdicts.json has verdict format {old}, this meshproof judges format \
                 {VERDICT_FORMAT}: re-verify with the meshproof that wrote the bundle \
                 (its version and revision are in manifest.json `tool`)"
            ),
        );
    }
    let detail = match super::json::parse::<Verdicts>(paths::VERDICTS, stored) {
        Err(e) => format!("verdicts.json: not valid verdicts: {e}"),
        Ok(old) => first_difference(&old, rejudged),
    };
    report.fail("verdicts", detail)
}

/// The `format` of a stored `verdicts.json`, whatever else it holds.
fn stored_verdict_format(stored: &[u8]) -> Option<u32> {
    #[derive(serde::Deserialize)]
    struct F {
        format: u32,
    }
    serde_json::from_slice::<F>(stored).ok().map(|f| f.format)
}

/// The manifest's run status must be the one its verdicts allow (`bundle pack` derives it): a
/// bundle claiming `complete` with a case that did not finish is refused.
fn run_status(manifest: Option<&Manifest>, v: &Verdicts) -> Result<String, String> {
    let Some(m) = manifest else {
        return Err("manifest.json: missing".into());
    };
    let status = m.run.status;
    let cases = v.summary.cases.describe();
    if status.given(v) != status {
        return Err(format!(
            "manifest.json: run status `{status}` contradicts the verdicts ({cases}): expected `{}`",
            status.given(v)
        ));
    }
    Ok(format!("{status}, {cases}"))
}

/// Words for the first difference between recorded and re-judged verdicts.
pub fn first_difference(recorded: &Verdicts, rejudged: &Verdicts) -> String {
    for new in &rejudged.cases {
        let Some(old) = recorded.cases.iter().find(|c| c.name == new.name) else {
            return format!("verdicts.json: case `{}` missing", new.name);
        };
        for (o, n) in old.steps.iter().zip(&new.steps) {
            if o != n {
                let words = |s: &crate::verdict::StepVerdict| {
                    s.checks
                        .iter()
                        .map(|c| format!("{} {}: {}", c.id, c.outcome.as_str(), c.observed))
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                return format!(
                    "verdicts.json: case `{}` step {} `{}`: recorded {} [{}], re-judged {} [{}]",
                    new.name,
                    n.index,
                    n.name,
                    o.outcome.as_str(),
                    words(o),
                    n.outcome.as_str(),
                    words(n)
                );
            }
        }
        if old != new {
            return format!(
                "verdicts.json: case `{}`: recorded {}, re-judged {}",
                new.name,
                recorded.capability_word(old),
                rejudged.capability_word(new)
            );
        }
    }
    if let Some(extra) = recorded
        .cases
        .iter()
        .find(|c| !rejudged.cases.iter().any(|n| n.name == c.name))
    {
        return format!("verdicts.json: case `{}` has no observations", extra.name);
    }
    "verdicts.json: differs from the canonical rendering of the re-judged verdicts".to_string()
}
