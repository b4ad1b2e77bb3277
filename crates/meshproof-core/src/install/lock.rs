//! Lock files (`meshes/<mesh>/<version>.lock.yaml`): the sha256 of every remote artifact of a
//! pin, computed by `meshproof lock` from the downloaded bytes. `run` checks a lock when present
//! (exit 3 on a mismatch). No lock may hold a digest that was not produced this way.

use serde::{Deserialize, Serialize};

use super::{helm, InstallError};
use crate::spec::catalog::{Catalog, Sourced};
use crate::spec::mesh::{InstallMethod, Mesh};
use crate::spec::{Document, SpecError, Validator};

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockSpec {
    #[serde(default)]
    pub charts: Vec<LockedChart>,
    #[serde(default)]
    pub manifests: Vec<LockedFile>,
    /// The pinned CLI's download for every platform the pin lists (`method: cli`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cli: Vec<LockedCli>,
    /// Images the rendered manifests name by tag, with the digest their registry served.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<LockedImage>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedImage {
    /// The reference as the rendered manifests write it (`nats:2.9-alpine`).
    pub reference: String,
    /// `sha256:…` of the manifest (or multi-platform index) the registry serves for it.
    pub digest: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedChart {
    pub repo: String,
    pub chart: String,
    pub version: String,
    /// The tarball URL the index pointed to.
    pub url: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedFile {
    pub url: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedCli {
    /// `<os>-<arch>`, as the pin's `spec.install.cli.platforms` key.
    pub platform: String,
    pub url: String,
    pub sha256: String,
}

pub type Lock = Document<LockSpec>;

/// Parse and validate a lock file.
pub fn load(file: &str, text: &str) -> Result<Lock, SpecError> {
    let doc: Lock = crate::spec::parse(file, text, "MeshLock")?;
    let mut v = Validator::new(file, text);
    for (i, c) in doc.spec.charts.iter().enumerate() {
        v.check(
            crate::spec::is_sha256_hex(&c.sha256),
            &format!("spec.charts[{i}].sha256"),
            "must be 64 lowercase hex digits",
        );
    }
    for (i, m) in doc.spec.manifests.iter().enumerate() {
        v.check(
            crate::spec::is_sha256_hex(&m.sha256),
            &format!("spec.manifests[{i}].sha256"),
            "must be 64 lowercase hex digits",
        );
    }
    for (i, c) in doc.spec.cli.iter().enumerate() {
        v.check(
            crate::spec::is_sha256_hex(&c.sha256),
            &format!("spec.cli[{i}].sha256"),
            "must be 64 lowercase hex digits",
        );
    }
    for (i, m) in doc.spec.images.iter().enumerate() {
        v.check(
            !m.reference.is_empty()
                && !m.reference.contains('@')
                && !m.reference.contains(char::is_whitespace),
            &format!("spec.images[{i}].reference"),
            "must be an image reference by tag (no digest, no spaces)",
        );
        v.check(
            crate::spec::is_sha256_digest(&m.digest),
            &format!("spec.images[{i}].digest"),
            "must be `sha256:` and 64 lowercase hex digits",
        );
    }
    v.finish()?;
    Ok(doc)
}

/// The lock of a pin, if there is one: next to it, else in the user's lock directory
/// ([`Catalog::lock_file`]).
pub fn load_for(
    catalog: &Catalog,
    pin: &Sourced<Mesh>,
) -> Result<Option<Sourced<Lock>>, SpecError> {
    let rel = Mesh::lock_path(&pin.path);
    let Some((full, name)) = catalog.lock_file(&rel) else {
        return Ok(None);
    };
    let bytes = std::fs::read(&full).map_err(|e| SpecError::Io {
        file: name.clone(),
        source: e,
    })?;
    let text = String::from_utf8(bytes.clone())
        .map_err(|_| SpecError::Invalid(format!("{name}: not UTF-8")))?;
    let value = load(&name, &text)?;
    Ok(Some(Sourced {
        value,
        path: name,
        bytes,
    }))
}

/// The locked sha256 of a pin's chart.
pub fn locked_chart<'a>(lock: Option<&'a Lock>, h: &crate::spec::mesh::Helm) -> Option<&'a str> {
    lock?
        .spec
        .charts
        .iter()
        .find(|c| c.repo == h.repo && c.chart == h.chart && c.version == h.version)
        .map(|c| c.sha256.as_str())
}

/// The locked sha256 of a pin's CLI download for `platform`.
pub fn locked_cli<'a>(lock: Option<&'a Lock>, platform: &str) -> Option<&'a str> {
    lock?
        .spec
        .cli
        .iter()
        .find(|c| c.platform == platform)
        .map(|c| c.sha256.as_str())
}

/// The lock's image digests, `reference → sha256:…` (what `images::pin_images` takes).
pub fn locked_images(lock: &Lock) -> std::collections::BTreeMap<String, String> {
    lock.spec
        .images
        .iter()
        .map(|i| (i.reference.clone(), i.digest.clone()))
        .collect()
}

/// A lock rebuilt from what a parent run downloaded (`resolved/mesh.json`: `charts`,
/// `manifests`, `pinned_images`), so `reproduce`/`rerun` check that upstream still serves the
/// same bytes. `None` when the facts do not cover every artifact of the pin (CLI pins record
/// only the platform they ran on) or would contradict it.
pub fn from_parent(mesh: &Mesh, facts: &crate::bundle::ResolvedMesh) -> Option<Lock> {
    let mut spec = LockSpec::default();
    match mesh.spec.install.method {
        InstallMethod::Helm => {
            for c in facts.charts.as_ref()? {
                spec.charts.push(LockedChart {
                    repo: c.repo.clone(),
                    chart: c.chart.clone(),
                    version: c.version.clone(),
                    url: c.url.clone(),
                    sha256: c.sha256.clone(),
                });
            }
        }
        InstallMethod::Manifests => {
            for m in facts.manifests.as_ref()? {
                spec.manifests.push(LockedFile {
                    url: m.url.clone(),
                    sha256: m.sha256.clone(),
                });
            }
        }
        InstallMethod::None | InstallMethod::Unpinned | InstallMethod::Cli => return None,
    }
    for (reference, to) in facts.pinned_images.iter().flat_map(|p| p.iter()) {
        let digest = to.rsplit('@').next()?.to_string();
        if crate::spec::is_sha256_digest(&digest) {
            spec.images.push(LockedImage {
                reference: reference.to_string(),
                digest,
            });
        }
    }
    let lock = Document {
        api_version: crate::spec::API_VERSION.to_string(),
        kind: "MeshLock".to_string(),
        metadata: crate::spec::Metadata {
            name: mesh.metadata.name.clone(),
            version: mesh.metadata.version.clone(),
            description: format!("artifacts of {} as a parent run downloaded them", mesh.id()),
        },
        spec,
    };
    check(mesh, &lock, "parent lock").ok()?;
    load("parent lock", &render(&lock)).ok()
}

/// Does the lock describe exactly the pin's artifacts, with the pin's digests where it has them?
pub fn check(mesh: &Mesh, lock: &Lock, file: &str) -> Result<(), InstallError> {
    let bad = |reason: String| InstallError::Lock {
        file: file.to_string(),
        reason,
    };
    if lock.metadata.name != mesh.metadata.name || lock.metadata.version != mesh.metadata.version {
        return Err(bad(format!(
            "is for {}@{}, not {}",
            lock.metadata.name,
            lock.metadata.version.as_deref().unwrap_or("-"),
            mesh.id()
        )));
    }
    let charts = mesh.spec.install.helm_charts();
    if charts.len() != lock.spec.charts.len() {
        return Err(bad(format!(
            "locks {} chart(s), the pin installs {}; run `meshproof lock --mesh {}` again",
            lock.spec.charts.len(),
            charts.len(),
            mesh.id()
        )));
    }
    for h in charts {
        let Some(l) = locked_chart(Some(lock), h) else {
            return Err(bad(format!(
                "has no entry for chart {} {} from {}; run `meshproof lock --mesh {}` again",
                h.chart,
                h.version,
                h.repo,
                mesh.id()
            )));
        };
        if let Some(d) = &h.digest {
            if d != l {
                return Err(bad(format!(
                    "chart {}: the lock says sha256 {l}, the pin says {d}",
                    helm::tarball_name(h)
                )));
            }
        }
    }
    let pinned = &mesh.spec.install.manifests;
    if pinned.len() != lock.spec.manifests.len() {
        return Err(bad(format!(
            "locks {} manifest(s), the pin has {}",
            lock.spec.manifests.len(),
            pinned.len()
        )));
    }
    for (p, l) in pinned.iter().zip(&lock.spec.manifests) {
        if p.url != l.url {
            return Err(bad(format!(
                "manifest {} is not the pin's {}",
                l.url, p.url
            )));
        }
        if p.sha256 != l.sha256 {
            return Err(bad(format!(
                "manifest {}: the lock says sha256 {}, the pin says {}",
                p.url, l.sha256, p.sha256
            )));
        }
    }
    let pinned: Vec<(&String, &crate::spec::mesh::CliDownload)> = match &mesh.spec.install.cli {
        Some(c) => c.platforms.iter().collect(),
        None => Vec::new(),
    };
    let locked: Vec<&str> = lock.spec.cli.iter().map(|l| l.platform.as_str()).collect();
    let pinned_keys: Vec<&str> = pinned.iter().map(|(k, _)| k.as_str()).collect();
    let mut sorted = locked.clone();
    sorted.sort_unstable();
    if sorted != pinned_keys {
        return Err(bad(format!(
            "locks CLI downloads for [{}], the pin has [{}]; run `meshproof lock --mesh {}` again",
            locked.join(", "),
            pinned_keys.join(", "),
            mesh.id()
        )));
    }
    for (platform, p) in pinned {
        let l = lock
            .spec
            .cli
            .iter()
            .find(|l| &l.platform == platform)
            .expect("same platforms");
        if p.url != l.url {
            return Err(bad(format!(
                "CLI download for {platform} {} is not the pin's {}",
                l.url, p.url
            )));
        }
        if p.sha256 != l.sha256 {
            return Err(bad(format!(
                "CLI download for {platform} ({}): the lock says sha256 {}, the pin says {}",
                p.url, l.sha256, p.sha256
            )));
        }
    }
    Ok(())
}

/// The lock file's text (stable field order; strings JSON-quoted, which YAML reads as-is).
pub fn render(lock: &Lock) -> String {
    use std::fmt::Write as _;
    let q = |s: &str| serde_json::to_string(s).expect("strings serialize");
    let mut out = String::new();
    out.push_str(
        "# Written by `meshproof lock`: every sha256 below was computed from the downloaded artifact.\n",
    );
    let _ = writeln!(out, "apiVersion: {}", lock.api_version);
    let _ = writeln!(out, "kind: {}", lock.kind);
    out.push_str("metadata:\n");
    let _ = writeln!(out, "  name: {}", q(&lock.metadata.name));
    if let Some(v) = &lock.metadata.version {
        let _ = writeln!(out, "  version: {}", q(v));
    }
    let _ = writeln!(out, "  description: {}", q(&lock.metadata.description));
    out.push_str("spec:\n");
    out.push_str("  charts:");
    if lock.spec.charts.is_empty() {
        out.push_str(" []");
    }
    out.push('\n');
    for c in &lock.spec.charts {
        let _ = writeln!(out, "    - repo: {}", q(&c.repo));
        let _ = writeln!(out, "      chart: {}", q(&c.chart));
        let _ = writeln!(out, "      version: {}", q(&c.version));
        let _ = writeln!(out, "      url: {}", q(&c.url));
        let _ = writeln!(out, "      sha256: {}", q(&c.sha256));
    }
    out.push_str("  manifests:");
    if lock.spec.manifests.is_empty() {
        out.push_str(" []");
    }
    out.push('\n');
    for m in &lock.spec.manifests {
        let _ = writeln!(out, "    - url: {}", q(&m.url));
        let _ = writeln!(out, "      sha256: {}", q(&m.sha256));
    }
    // Only CLI pins have this list, so chart and manifest locks keep their exact bytes.
    if !lock.spec.cli.is_empty() {
        out.push_str("  cli:\n");
    }
    for c in &lock.spec.cli {
        let _ = writeln!(out, "    - platform: {}", q(&c.platform));
        let _ = writeln!(out, "      url: {}", q(&c.url));
        let _ = writeln!(out, "      sha256: {}", q(&c.sha256));
    }
    // Only locks resolved with images have this list.
    if !lock.spec.images.is_empty() {
        out.push_str("  images:\n");
    }
    for i in &lock.spec.images {
        let _ = writeln!(out, "    - reference: {}", q(&i.reference));
        let _ = writeln!(out, "      digest: {}", q(&i.digest));
    }
    out
}
