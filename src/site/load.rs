//! One bundle for the site: verified with `verify`'s own code (and its attestation, as
//! `verify --attestation` checks it), then read once more for what the pages show — the same
//! bytes, checked by the file's sha256 — with its bundle and log pages written on the way.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::inputs::Unique;
use super::model::{Cell, Entry, Signature};
use super::render;
use crate::bundle::verify::{CheckLine, VerifyReport};
use crate::bundle::{self, paths, Limits, Manifest};
use crate::observation::CaseObservation;
use crate::provenance::files as prov;
use crate::provenance::TrustedKey;
use crate::spec::catalog::{FileTree, LoadedCase};
use crate::verdict::Verdicts;

/// Bytes of a log shown on its page; the rest stays in the bundle (the page says so).
pub const LOG_PAGE_BYTES: usize = 1 << 20;
/// Largest `resolved/` file shown as text on the bundle page.
pub const RESOLVED_SHOWN: usize = 16 << 10;

/// What one bundle's pages are made of (dropped once they are written).
#[derive(Debug)]
pub struct Detail {
    pub manifest: Manifest,
    pub verdicts: Verdicts,
    pub checks: Vec<CheckLine>,
    pub observations: BTreeMap<String, CaseObservation>,
    /// The cases of the suite recorded in `inputs/suite/` that have charts (TrafficSplit weights,
    /// metrics checks), by name.
    pub cases: BTreeMap<String, LoadedCase>,
    /// `resolved/...` → bytes (the small ones) and sha256.
    pub resolved: BTreeMap<String, (String, Option<String>)>,
    pub logs: Vec<LogRef>,
}

/// A log file of the bundle and its page.
#[derive(Debug, Clone)]
pub struct LogRef {
    pub path: String,
    pub size: u64,
    /// Page name relative to the bundle's folder (`log-3.html`).
    pub page: String,
    pub truncated: bool,
}

/// Where the worker writes and which keys it trusts.
#[derive(Debug)]
pub struct Context<'a> {
    pub staging: &'a Path,
    pub keys: &'a [TrustedKey],
    pub require_signed: bool,
}

/// Verify, read and render one bundle. `Err` is the reason it is rejected (nothing of it is left
/// in the staging directory).
pub fn load(input: &Unique, ctx: &Context) -> Result<Entry, String> {
    let folder = ctx.staging.join("bundles").join(&input.sha256[..16]);
    let r = load_inner(input, ctx, &folder);
    if r.is_err() {
        let _ = std::fs::remove_dir_all(&folder);
        let _ = std::fs::remove_file(folder.with_extension("html"));
    }
    r
}

fn load_inner(input: &Unique, ctx: &Context, folder: &Path) -> Result<Entry, String> {
    let (report, checks, signature) = verify(input, ctx)?;
    let (Some(manifest), Some(verdicts)) = (report.manifest, report.verdicts) else {
        return Err("verify: no manifest or verdicts".into());
    };
    std::fs::create_dir_all(folder).map_err(|e| format!("writing the site: {e}"))?;
    let mut detail = Detail {
        manifest,
        verdicts,
        checks,
        observations: BTreeMap::new(),
        cases: BTreeMap::new(),
        resolved: BTreeMap::new(),
        logs: Vec::new(),
    };
    let pins = read_again(input, folder, &mut detail)?;
    let entry = entry(input, &detail, &pins, signature);
    let page = render::bundle::page(&entry, &detail);
    std::fs::write(folder.with_extension("html"), page)
        .map_err(|e| format!("writing the site: {e}"))?;
    Ok(entry)
}

/// `verify`, or `verify --attestation BUNDLE.intoto.json --key …` when keys are given and the
/// attestation is there. Every check must pass.
fn verify(
    input: &Unique,
    ctx: &Context,
) -> Result<(VerifyReport, Vec<CheckLine>, Signature), String> {
    let att = prov::attestation_path(&input.path);
    let beside = att.is_file();
    if ctx.keys.is_empty() || !beside {
        if ctx.require_signed {
            return Err(format!(
                "unsigned: no attestation {} beside it (--require-signed)",
                super::inputs::shown_name(&att)
            ));
        }
        let report = crate::seal::verify(&input.path, &Limits::default());
        if let Some(p) = report.first_problem() {
            return Err(format!("verify: {}: {}", p.name, p.detail));
        }
        let signature = if ctx.keys.is_empty() {
            Signature::NotChecked {
                attestation_beside: beside,
            }
        } else {
            Signature::Unsigned
        };
        let lines = report.lines.clone();
        return Ok((report, lines, signature));
    }
    let (lines, verified) = prov::verify_with_attestation(&input.path, &att, ctx.keys)
        .map_err(|e| format!("verify --attestation: {e}"))?;
    if let Some(p) = lines.iter().find(|l| !l.ok) {
        return Err(format!("verify --attestation: {}: {}", p.name, p.detail));
    }
    if verified.sha256 != input.sha256 {
        return Err("the file changed while the site was built".into());
    }
    let checked = prov::who_signed(&input.path, &att, ctx.keys)
        .map_err(|e| format!("verify --attestation: {e}"))?;
    let signature = Signature::Verified {
        key: super::inputs::shown_name(&checked.signer.path),
        keyid: checked.signer.key.keyid().to_string(),
        result: checked.statement.predicate.result.as_str().to_string(),
    };
    Ok((verified.report, lines, signature))
}

/// The recorded pins, as far as the pages use them.
#[derive(Debug, Default)]
pub struct Pins {
    pub mesh_yaml: Option<Vec<u8>>,
    pub cluster_yaml: Option<Vec<u8>>,
}

/// A reader that hashes every byte read through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Read the verified bundle again for the observations, recorded suite and pins, `resolved/`
/// and the logs (each log's page written as it streams past). The file's sha256 must be the one
/// verified, so these are the bytes `verify` checked.
fn read_again(input: &Unique, folder: &Path, d: &mut Detail) -> Result<Pins, String> {
    let file = std::fs::File::open(&input.path).map_err(|e| format!("cannot read: {e}"))?;
    let mut reader = std::io::BufReader::with_capacity(
        1 << 20,
        Hashing {
            inner: file,
            hash: Sha256::new(),
        },
    );
    let limits = Limits::default();
    let mut held = 0u64;
    let mut kept: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut pins = Pins::default();
    let mut logs = Vec::new();
    let log_prefix = format!("{}/", paths::LOGS);
    // Only the recorded cases the charts need are read (their files, not the whole suite).
    let charted: Vec<String> = d
        .verdicts
        .cases
        .iter()
        .filter(|c| CHARTED_SPECS.contains(&c.smi_spec.as_str()))
        .map(|c| format!("{}/{}/", paths::INPUT_SUITE, c.name))
        .collect();
    bundle::read::walk(&mut reader, &limits, |meta, r| {
        let p = meta.path.as_str();
        if p.starts_with(&log_prefix) {
            logs.push(write_log(input, folder, logs.len(), meta, r)?);
        } else if p.starts_with("observations/")
            || charted.iter().any(|c| p.starts_with(c.as_str()))
            || p == paths::INPUT_MESH
            || p == paths::INPUT_CLUSTER
            || p.starts_with("resolved/")
        {
            bundle::read::reserve(meta, &limits, &mut held)?;
            let mut buf = Vec::with_capacity(meta.size as usize);
            r.read_to_end(&mut buf)
                .map_err(|e| bundle::BundleError::Integrity {
                    file: meta.path.clone(),
                    reason: format!("corrupt: {e}"),
                })?;
            kept.insert(meta.path.clone(), buf);
        }
        Ok(())
    })
    .map_err(|e| format!("reading again: {e}"))?;
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| format!("cannot read: {e}"))?;
    if hex::encode(reader.into_inner().hash.finalize()) != input.sha256 {
        return Err("the file changed while the site was built".into());
    }
    let suite_prefix = format!("{}/", paths::INPUT_SUITE);
    let mut tree = FileTree::new();
    for (path, bytes) in kept {
        if let Some(rel) = path.strip_prefix(&suite_prefix) {
            tree.insert(rel.to_string(), bytes);
        } else if path.starts_with("observations/") {
            // `verify` judged these very bytes; a file it could not parse would have failed it.
            let obs = bundle::parse_observation(&path, &bytes).map_err(|e| e.to_string())?;
            d.observations.insert(obs.case.clone(), obs);
        } else if path == paths::INPUT_MESH {
            pins.mesh_yaml = Some(bytes);
        } else if path == paths::INPUT_CLUSTER {
            pins.cluster_yaml = Some(bytes);
        } else {
            let sha = crate::sha256_hex(&bytes);
            let text = (bytes.len() <= RESOLVED_SHOWN)
                .then(|| String::from_utf8(bytes).ok())
                .flatten();
            d.resolved.insert(path, (sha, text));
        }
    }
    d.cases = charted_cases(tree);
    d.logs = logs;
    Ok(pins)
}

/// SMI specifications whose cases get charts.
const CHARTED_SPECS: [&str; 2] = ["traffic-split", "traffic-metrics"];

/// The recorded cases (`<case>/case.yaml` and its files) as the suite loads them; a case that
/// does not load gets no chart (`verify` already judged it from the same files).
fn charted_cases(tree: FileTree) -> BTreeMap<String, LoadedCase> {
    let mut by_case: BTreeMap<String, FileTree> = BTreeMap::new();
    for (path, bytes) in tree {
        if let Some((dir, rest)) = path.split_once('/') {
            by_case
                .entry(dir.to_string())
                .or_default()
                .insert(rest.to_string(), bytes);
        }
    }
    by_case
        .into_iter()
        .filter_map(|(dir, files)| {
            let shown = format!("{}/{dir}/case.yaml", paths::INPUT_SUITE);
            let text = std::str::from_utf8(files.get("case.yaml")?).ok()?;
            let case = crate::spec::case::load(&shown, text, &|p| files.contains_key(p)).ok()?;
            (case.metadata.name == dir).then_some((dir, LoadedCase { case, files }))
        })
        .collect()
}

/// Stream one log into its text page (at most [`LOG_PAGE_BYTES`] shown).
fn write_log(
    input: &Unique,
    folder: &Path,
    n: usize,
    meta: &bundle::read::EntryMeta,
    r: &mut dyn Read,
) -> Result<LogRef, bundle::BundleError> {
    let mut shown = Vec::with_capacity((meta.size as usize).min(LOG_PAGE_BYTES));
    r.take(LOG_PAGE_BYTES as u64)
        .read_to_end(&mut shown)
        .map_err(|e| bundle::BundleError::Integrity {
            file: meta.path.clone(),
            reason: format!("corrupt: {e}"),
        })?;
    let log = LogRef {
        path: meta.path.clone(),
        size: meta.size,
        page: format!("log-{n}.html"),
        truncated: (shown.len() as u64) < meta.size,
    };
    let page = render::logs::page(input, &log, &shown);
    let target: PathBuf = folder.join(&log.page);
    std::fs::write(&target, page).map_err(|e| bundle::BundleError::io(target.display(), e))?;
    Ok(log)
}

/// The index entry of a verified bundle.
fn entry(input: &Unique, d: &Detail, pins: &Pins, signature: Signature) -> Entry {
    let m = &d.manifest;
    let ctx = crate::report::ReportContext::from_manifest(m, pins.mesh_yaml.as_deref());
    let mesh_pin = pins
        .mesh_yaml
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|t| crate::spec::mesh::load(paths::INPUT_MESH, t).ok());
    let kubernetes = pins
        .cluster_yaml
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|t| crate::spec::cluster::load(paths::INPUT_CLUSTER, t).ok())
        .map(|c| c.spec.kubernetes_version)
        .or_else(|| resolved_kubernetes(d))
        .unwrap_or_else(|| "unknown".into());
    let cases = d
        .verdicts
        .cases
        .iter()
        .enumerate()
        .map(|(index, c)| {
            (
                c.name.clone(),
                Cell {
                    status: c.status,
                    capability: d.verdicts.effective(c),
                    index,
                },
            )
        })
        .collect();
    let resolved = d
        .resolved
        .iter()
        .map(|(k, (sha, _))| (k.clone(), sha.clone()))
        .collect();
    Entry {
        sha256: input.sha256.clone(),
        file: input.name.clone(),
        run_id: m.run.id.clone(),
        status: m.run.status,
        started_at: m.run.started_at.clone(),
        finished_at: m.run.finished_at.clone(),
        scoring: m.run.scoring,
        selection: m
            .run
            .selection
            .entries()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        mesh: ctx.mesh.split('@').next().unwrap_or_default().to_string(),
        mesh_name: ctx.mesh_name.clone(),
        mesh_version: ctx.mesh_version.clone(),
        cluster: ctx.cluster.clone(),
        kubernetes,
        tool_version: m.tool.version.clone(),
        tool_revision: m
            .tool
            .git_revision
            .clone()
            .unwrap_or_else(|| "not recorded".into()),
        rejudged: m.rejudged_from.is_some(),
        signature,
        cases,
        expected: mesh_pin.map(|p| p.spec.expected).unwrap_or_default(),
        checks: d
            .checks
            .iter()
            .map(|l| format!("{}: {}", l.name, l.detail))
            .collect(),
        facts: crate::diff::Facts::new(m, &d.verdicts, resolved),
    }
}

/// `kubernetes` from `resolved/versions.json`, when the cluster pin is not readable.
fn resolved_kubernetes(d: &Detail) -> Option<String> {
    /// `resolved/versions.json`, as hand-made run directories (the test model's) record it.
    #[derive(serde::Deserialize)]
    struct Versions {
        kubernetes: String,
    }
    let (_, text) = d.resolved.get("resolved/versions.json")?;
    let v: Versions = serde_json::from_str(text.as_deref()?).ok()?;
    Some(v.kubernetes.trim_start_matches('v').to_string())
}
