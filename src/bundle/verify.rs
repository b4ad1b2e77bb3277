//! `verify`: archive safety → checksums → format version → re-judge → verdicts identical.
//!
//! One streaming pass decompresses the bundle while a second thread hashes what was
//! decompressed, so decompression and hashing overlap; memory stays bounded.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use super::read::{reserve, walk, EntryMeta};
use super::{paths, BundleError, Limits, Manifest, FORMAT_MAJOR};
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
    path == paths::SHA256SUMS
        || path == paths::MANIFEST
        || path == paths::VERDICTS
        || path == paths::INPUT_MESH
        || path.starts_with("inputs/suite/")
        || path.starts_with("observations/")
}

/// Path → sha256 hex of every file in the archive.
type Sums = BTreeMap<String, String>;

enum Msg {
    Start(String),
    Data(Vec<u8>, usize),
    End,
}

const CHUNK: usize = 256 << 10;

/// Stream the bundle once: per-file sha256 (hashed on a second thread) and the structured files.
fn scan(bundle: &Path, limits: &Limits) -> Result<(Sums, BTreeMap<String, Vec<u8>>), BundleError> {
    let input = super::read::open(bundle)?;
    let (tx, rx) = mpsc::sync_channel::<Msg>(8);
    let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
    let hasher = std::thread::spawn(move || {
        let mut sums = BTreeMap::new();
        let mut current: Option<(String, Sha256)> = None;
        for msg in rx {
            match msg {
                Msg::Start(p) => current = Some((p, Sha256::new())),
                Msg::Data(buf, n) => {
                    if let Some((_, h)) = current.as_mut() {
                        h.update(&buf[..n]);
                    }
                    let _ = free_tx.send(buf);
                }
                Msg::End => {
                    if let Some((p, h)) = current.take() {
                        sums.insert(p, hex::encode(h.finalize()));
                    }
                }
            }
        }
        sums
    });
    let mut structured = BTreeMap::new();
    let mut held = 0u64;
    let walked = walk(input, limits, |meta: &EntryMeta, r: &mut dyn Read| {
        let send = |m: Msg| {
            tx.send(m)
                .map_err(|_| BundleError::io("verify", std::io::Error::other("hasher stopped")))
        };
        send(Msg::Start(meta.path.clone()))?;
        let keep = is_structured(&meta.path);
        // Structured files count against the parsed-size limits before any byte is held, so a
        // hostile bundle cannot make verify buffer a huge "observation".
        if keep {
            reserve(meta, limits, &mut held)?;
        }
        let mut kept = Vec::with_capacity(if keep { meta.size as usize } else { 0 });
        loop {
            let mut buf = free_rx.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
            let n = read_full(r, &mut buf).map_err(|e| BundleError::Integrity {
                file: meta.path.clone(),
                reason: format!("corrupt: {e}"),
            })?;
            if n == 0 {
                break;
            }
            if keep {
                kept.extend_from_slice(&buf[..n]);
            }
            send(Msg::Data(buf, n))?;
        }
        send(Msg::End)?;
        if keep {
            structured.insert(meta.path.clone(), kept);
        }
        Ok(())
    });
    drop(tx);
    let sums = hasher.join().expect("hasher thread panicked");
    walked?;
    Ok((sums, structured))
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = r.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

/// Parse a `sha256sum` file: `<64 hex>  <path>` per line.
pub fn parse_sums(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let (hash, path) = line
            .split_once("  ")
            .ok_or_else(|| format!("line {}: expected `<sha256>  <path>`", i + 1))?;
        if !crate::spec::is_sha256_hex(hash) {
            return Err(format!("line {}: `{hash}` is not a sha256", i + 1));
        }
        if out.insert(path.to_string(), hash.to_string()).is_some() {
            return Err(format!("line {}: `{path}` listed twice", i + 1));
        }
    }
    Ok(out)
}

/// Verify a bundle offline. Never needs Docker, a cluster or the network.
pub fn verify(bundle: &Path, limits: &Limits) -> VerifyReport {
    let mut report = VerifyReport::default();
    let (sums, files) = match scan(bundle, limits) {
        Ok(x) => x,
        Err(e) => return report.fail("archive safety", e.to_string()),
    };
    report.pass(
        "archive safety",
        format!("{} regular files, no unsafe entries", sums.len()),
    );

    // Checksums.
    let Some(listed) = files.get(paths::SHA256SUMS) else {
        return report.fail("checksums", "SHA256SUMS: missing");
    };
    let listed = match std::str::from_utf8(listed)
        .map_err(|_| "not UTF-8".to_string())
        .and_then(parse_sums)
    {
        Ok(l) => l,
        Err(e) => return report.fail("checksums", format!("SHA256SUMS: {e}")),
    };
    for (path, want) in &listed {
        match sums.get(path) {
            None => {
                return report.fail(
                    "checksums",
                    format!("{path}: listed in SHA256SUMS but missing"),
                )
            }
            Some(got) if got != want => {
                return report.fail("checksums", format!("{path}: sha256 mismatch"))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = sums
        .keys()
        .find(|p| *p != paths::SHA256SUMS && !listed.contains_key(*p))
    {
        return report.fail(
            "checksums",
            format!("{extra}: extra file not listed in SHA256SUMS"),
        );
    }
    report.pass(
        "checksums",
        format!("{} files match SHA256SUMS", listed.len()),
    );

    // Format version.
    let manifest: Manifest = match files.get(paths::MANIFEST).map(|b| {
        #[derive(serde::Deserialize)]
        struct V {
            format: super::FormatVersion,
        }
        serde_json::from_slice::<V>(b).map(|v| v.format)
    }) {
        None => return report.fail("format", "manifest.json: missing"),
        Some(Err(e)) => return report.fail("format", format!("manifest.json: {e}")),
        Some(Ok(v)) if v.major != FORMAT_MAJOR => {
            return report.fail(
                "format",
                BundleError::Format {
                    major: v.major,
                    minor: v.minor,
                }
                .to_string(),
            )
        }
        Some(Ok(_)) => match serde_json::from_slice(&files[paths::MANIFEST]) {
            Ok(m) => m,
            Err(e) => return report.fail("format", format!("manifest.json: {e}")),
        },
    };
    report.pass(
        "format",
        format!(
            "bundle format {}.{}",
            manifest.format.major, manifest.format.minor
        ),
    );
    let suite_name = manifest
        .run
        .selection
        .get("suite")
        .cloned()
        .unwrap_or_else(|| crate::spec::catalog::DEFAULT_SUITE.to_string());
    let scoring = manifest.run.scoring;
    report.manifest = Some(manifest);

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
    if *stored == fresh {
        report.pass(
            "verdicts",
            "verdicts.json is identical to the re-judged verdicts",
        );
        let status = run_status(report.manifest.as_ref(), &rejudged);
        report.verdicts = Some(rejudged);
        return match status {
            Ok(line) => {
                report.pass("run status", line);
                report
            }
            Err(line) => report.fail("run status", line),
        };
    }
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
    let detail = match serde_json::from_slice::<Verdicts>(stored) {
        Err(e) => format!("verdicts.json: not valid verdicts: {e}"),
        Ok(old) => first_difference(&old, &rejudged),
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
