//! The site's index: one small summary per verified bundle and per rejected input, and what the
//! matrix, history and compare pages derive from them. Pure and sorted: the same bundles in any
//! order give the same index.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::bundle::RunStatus;
use crate::diff::Facts;
use crate::verdict::{Capability, CaseStatus, Scoring};

/// An input that is not shown as a result, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Rejected {
    /// The file name as given (never a path on the site).
    pub name: String,
    /// sha256 of the file when it could be read.
    pub sha256: Option<String>,
    pub reason: String,
}

/// Whether a bundle's attestation was checked, and what it said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Signature {
    /// No `--key` was given: attestations were not checked.
    NotChecked { attestation_beside: bool },
    /// `--key` was given and no `BUNDLE.intoto.json` lies beside the bundle.
    Unsigned,
    /// The attestation beside the bundle verified (signature, subject, results, not re-judged).
    Verified {
        /// File name of the trusted key that verified the signature.
        key: String,
        keyid: String,
        /// The statement's `result` (PASSED, WARNED, FAILED).
        result: String,
    },
}

impl Signature {
    /// Words for the pages.
    pub fn describe(&self) -> String {
        match self {
            Signature::NotChecked {
                attestation_beside: true,
            } => "attestation present, not checked (no --key given)".into(),
            Signature::NotChecked {
                attestation_beside: false,
            } => "not checked (no --key given)".into(),
            Signature::Unsigned => "unsigned: no attestation beside the bundle".into(),
            Signature::Verified { key, keyid, result } => {
                format!("signed: verified with {key} (keyid {keyid}), attested result {result}")
            }
        }
    }
}

/// One case of a bundle as the matrix and history show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub status: CaseStatus,
    /// Under the bundle's scoring; `None` when the case did not finish.
    pub capability: Option<Capability>,
    /// 0-based position of the case in the bundle's verdicts (the bundle page's anchor).
    #[serde(skip)]
    pub index: usize,
}

impl Cell {
    /// `Full`, `Partial`, `None`, or the status of a case without a capability.
    pub fn word(&self) -> &'static str {
        match self.capability {
            Some(c) => c.as_str(),
            None => self.status.as_str(),
        }
    }

    /// CSS class of the cell: one per capability and per status without one.
    pub fn class(&self) -> &'static str {
        match (self.capability, self.status) {
            (Some(Capability::Full), _) => "cap-full",
            (Some(Capability::Partial), _) => "cap-partial",
            (Some(Capability::None), _) => "cap-none",
            (None, CaseStatus::Passed | CaseStatus::Failed) => "cap-unknown",
            (None, CaseStatus::Error) => "st-error",
            (None, CaseStatus::NotRun) => "st-not-run",
        }
    }
}

/// Everything the site keeps of a verified bundle (its pages are written as it is loaded).
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub sha256: String,
    /// File name the bundle was given as.
    pub file: String,
    pub run_id: String,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: String,
    pub scoring: Scoring,
    /// The run's selection (`cluster`, `mesh`, `workload`, `suite`, ...).
    pub selection: BTreeMap<String, String>,
    /// Mesh without version (`osm`), the history it belongs to.
    pub mesh: String,
    /// The mesh project's name (`Open Service Mesh`) from the recorded pin.
    pub mesh_name: String,
    pub mesh_version: String,
    pub cluster: String,
    pub kubernetes: String,
    pub tool_version: String,
    pub tool_revision: String,
    /// `bundle pack` re-judged it from another bundle: not what a run recorded.
    pub rejudged: bool,
    pub signature: Signature,
    pub cases: BTreeMap<String, Cell>,
    /// Capability per case the recorded mesh pin expects.
    pub expected: BTreeMap<String, Capability>,
    /// The `verify` checks, `name: detail`.
    pub checks: Vec<String>,
    /// What `diff` compares; serialized as `inputs`, the sha256 of every input file (from the
    /// verified manifest), kept once.
    #[serde(rename = "inputs", serialize_with = "inputs_of")]
    pub facts: Facts,
}

fn inputs_of<S: serde::Serializer>(f: &Facts, s: S) -> Result<S::Ok, S::Error> {
    f.inputs.serialize(s)
}

impl Entry {
    /// The 16 hex digits that name its pages.
    pub fn id(&self) -> &str {
        &self.sha256[..16]
    }

    /// Relative link from the site root to its page.
    pub fn page(&self) -> String {
        format!("bundles/{}.html", self.id())
    }

    /// Newest first: by recorded finish time, then by sha256 (total and input-order free).
    fn recency(&self) -> (&str, &str) {
        (&self.finished_at, &self.sha256)
    }
}

/// A matrix row: one mesh version on one cluster pin, shown with its newest bundle.
#[derive(Debug)]
pub struct Row<'a> {
    pub newest: &'a Entry,
    /// Bundles of the row, newest first.
    pub all: Vec<&'a Entry>,
}

/// Rows sorted by mesh, version and cluster; each row's newest bundle first.
pub fn matrix(entries: &[Entry]) -> Vec<Row<'_>> {
    let mut rows: BTreeMap<(&str, &str, &str), Vec<&Entry>> = BTreeMap::new();
    for e in entries {
        rows.entry((&e.mesh, &e.mesh_version, &e.cluster))
            .or_default()
            .push(e);
    }
    rows.into_values()
        .map(|mut all| {
            all.sort_by(|a, b| b.recency().cmp(&a.recency()));
            Row {
                newest: all[0],
                all,
            }
        })
        .collect()
}

/// Every case name of the bundles, sorted (the matrix columns).
pub fn case_names<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Vec<String> {
    let mut names: Vec<String> = entries
        .into_iter()
        .flat_map(|e| e.cases.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether a measured cell differs from the pin's expectation.
pub fn mismatch(cell: Option<&Cell>, expected: Option<Capability>) -> bool {
    match (cell, expected) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(c), Some(e)) => c.capability != Some(e),
    }
}

/// A case that got worse from one bundle to the next of a history: both finished, and the
/// later capability is lower.
pub fn regressed(before: Option<&Cell>, after: Option<&Cell>) -> bool {
    match (
        before.and_then(|c| c.capability),
        after.and_then(|c| c.capability),
    ) {
        (Some(b), Some(a)) => a < b,
        _ => false,
    }
}

/// One mesh's bundles in time order (oldest first), by recorded finish time then sha256.
#[derive(Debug)]
pub struct History<'a> {
    pub mesh: &'a str,
    pub entries: Vec<&'a Entry>,
}

pub fn histories(entries: &[Entry]) -> Vec<History<'_>> {
    let mut by: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in entries {
        by.entry(&e.mesh).or_default().push(e);
    }
    by.into_iter()
        .map(|(mesh, mut entries)| {
            entries.sort_by(|a, b| a.recency().cmp(&b.recency()));
            History { mesh, entries }
        })
        .collect()
}

/// Page name of a compare page between two bundles.
pub fn compare_page(a: &Entry, b: &Entry) -> String {
    format!("compare/{}-{}.html", a.id(), b.id())
}

/// A file name for a string from a bundle: lower-case letters, digits and `-` (at most 40),
/// then 8 hex digits of its sha256, so different strings never share a page.
pub fn safe_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    out = out.trim_matches('-').to_string();
    if out.is_empty() {
        out.push('x');
    }
    format!("{out}-{}", &crate::sha256_hex(s.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_are_plain_and_distinct() {
        let a = safe_name("../../etc/passwd");
        let b = safe_name("..-..-etc-passwd");
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        assert_ne!(a, b);
        assert!(safe_name("<script>").starts_with("script-"));
        assert!(safe_name("").starts_with("x-"));
        assert!(safe_name(&"a".repeat(500)).len() <= 49);
    }

    fn cell(cap: Option<Capability>, status: CaseStatus) -> Cell {
        Cell {
            status,
            capability: cap,
            index: 0,
        }
    }

    #[test]
    fn regressions_need_two_capabilities() {
        let full = cell(Some(Capability::Full), CaseStatus::Passed);
        let partial = cell(Some(Capability::Partial), CaseStatus::Failed);
        let err = cell(None, CaseStatus::Error);
        assert!(regressed(Some(&full), Some(&partial)));
        assert!(!regressed(Some(&partial), Some(&full)));
        assert!(!regressed(Some(&full), Some(&err)));
        assert!(!regressed(None, Some(&partial)));
    }

    #[test]
    fn mismatch_against_the_pin() {
        let full = cell(Some(Capability::Full), CaseStatus::Passed);
        assert!(!mismatch(Some(&full), Some(Capability::Full)));
        assert!(mismatch(Some(&full), Some(Capability::Partial)));
        assert!(mismatch(None, Some(Capability::Full)));
        assert!(!mismatch(Some(&full), None));
        assert!(mismatch(
            Some(&cell(None, CaseStatus::NotRun)),
            Some(Capability::None)
        ));
    }
}
