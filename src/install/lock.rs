//! Lock resolution (`meshproof lock`) and the pre-run artifact check: download a pin's remote
//! artifacts, render it as `run` does and ask registries for image digests. The lock file model
//! (types, loading, checks against the pin, rendering) is `meshproof_core::install::lock`,
//! re-exported here.

pub use meshproof_core::install::lock::*;

use super::{cli, fetch, helm, InstallError};
use crate::spec::mesh::{InstallMethod, Mesh};
use crate::spec::Document;

/// How `lock` finds the images a pin runs: render the pin (`helm` for charts, in `scratch`, for
/// the cluster `capabilities` describes) and ask the registry (`resolve`: reference → `sha256:…`)
/// for each one named by tag.
pub struct ImageResolution<'a> {
    pub helm: &'a std::path::Path,
    pub scratch: &'a std::path::Path,
    /// `lock` has no cluster: the Kubernetes version of the cluster pin `run` picks by default,
    /// and no API versions (Helm's built-in set).
    pub capabilities: helm::Capabilities,
    pub resolve: &'a dyn Fn(&str) -> Result<String, InstallError>,
}

impl std::fmt::Debug for ImageResolution<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageResolution")
            .field("helm", &self.helm)
            .field("scratch", &self.scratch)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

/// Resolve a pin's remote artifacts by downloading them (needs network). Pinned digests are
/// checked on the way, so a lock never contradicts its pin. With `images`, the pin is also
/// rendered exactly as `run` renders it and every image named by tag is resolved to a digest.
pub fn resolve(mesh: &Mesh, images: Option<&ImageResolution>) -> Result<Lock, InstallError> {
    let mut spec = LockSpec::default();
    match mesh.spec.install.method {
        InstallMethod::None => {}
        InstallMethod::Unpinned => {
            return Err(InstallError::Other(format!(
                "{} cannot be locked: {}",
                mesh.id(),
                mesh.spec.install.reason.as_deref().unwrap_or("unpinned")
            )))
        }
        InstallMethod::Helm => {
            for h in mesh.spec.install.helm_charts() {
                let a = helm::fetch_chart(h, None)?;
                spec.charts.push(LockedChart {
                    repo: h.repo.clone(),
                    chart: h.chart.clone(),
                    version: h.version.clone(),
                    url: a.url,
                    sha256: a.sha256,
                });
            }
        }
        InstallMethod::Manifests => {
            for m in &mesh.spec.install.manifests {
                fetch::get_verified("manifest", &m.url, &m.sha256, "the pin")?;
                spec.manifests.push(LockedFile {
                    url: m.url.clone(),
                    sha256: m.sha256.clone(),
                });
            }
        }
        InstallMethod::Cli => {
            let c = mesh.spec.install.cli.as_ref().ok_or_else(|| {
                InstallError::Other(format!("{}: method `cli` without `cli`", mesh.id()))
            })?;
            for (platform, f) in &c.platforms {
                cli::download_verified(c, platform, None)?;
                spec.cli.push(LockedCli {
                    platform: platform.clone(),
                    url: f.url.clone(),
                    sha256: f.sha256.clone(),
                });
            }
        }
    }
    let mut lock = Document {
        api_version: crate::spec::API_VERSION.to_string(),
        kind: "MeshLock".to_string(),
        metadata: crate::spec::Metadata {
            name: mesh.metadata.name.clone(),
            version: mesh.metadata.version.clone(),
            description: format!("resolved artifacts of {}", mesh.id()),
        },
        spec,
    };
    if let Some(r) = images {
        let rendered =
            super::render::render_mesh(mesh, Some(&lock), r.scratch, r.helm, &r.capabilities)?;
        let mut references: Vec<String> = rendered
            .steps
            .iter()
            .flat_map(|s| super::images::references(&s.text))
            .collect();
        references.sort();
        references.dedup();
        for reference in references {
            let digest = (r.resolve)(&reference)?;
            if !crate::spec::is_sha256_digest(&digest) {
                return Err(InstallError::Other(format!(
                    "image {reference}: the registry answered digest {digest:?}, not sha256:<64 hex>"
                )));
            }
            lock.spec.images.push(LockedImage { reference, digest });
        }
    }
    Ok(lock)
}

/// Download the pin's artifacts and compare them with the lock (before a run creates anything).
/// Of a CLI pin, only this machine's download is fetched: it is the one the run uses.
pub fn verify_artifacts(mesh: &Mesh, lock: &Lock) -> Result<(), InstallError> {
    for h in mesh.spec.install.helm_charts() {
        helm::fetch_chart(h, locked_chart(Some(lock), h))?;
    }
    for m in &lock.spec.manifests {
        fetch::get_verified("manifest", &m.url, &m.sha256, "the lock file")?;
    }
    if let Some(c) = &mesh.spec.install.cli {
        let platform = cli::host_platform();
        cli::download_verified(c, &platform, locked_cli(Some(lock), &platform))?;
    }
    Ok(())
}
