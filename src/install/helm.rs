//! The `helm` install method's effects: fetch the pinned chart tarball from the repository's
//! index over HTTP(S), check its sha256 (pin, lock, index), and render it offline with
//! `helm template`; the kube layer applies the rendered YAML, so the exact manifests go into the
//! bundle. The model (index lookup, arguments, hooks, redaction) is `meshproof_core::install::helm`.

use std::ffi::OsString;
use std::path::Path;

pub use meshproof_core::install::helm::*;

use super::{fetch, InstallError};
use crate::spec::mesh::Helm;

/// A chart tarball as downloaded and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartArtifact {
    /// `<chart>-<version>.tgz`.
    pub file_name: String,
    /// Where it was downloaded from (resolved from the index).
    pub url: String,
    pub sha256: String,
    /// The digest the repository index lists for it, if any.
    pub index_digest: Option<String>,
    pub bytes: Vec<u8>,
}

/// Download the pinned chart and check it against the pin's digest, the lock's digest and the
/// index's digest (each when present).
pub fn fetch_chart(h: &Helm, locked: Option<&str>) -> Result<ChartArtifact, InstallError> {
    let index = fetch::get(&index_url(&h.repo))?;
    let index_text = String::from_utf8_lossy(&index);
    let (url, index_digest) = resolve_in_index(&index_text, &h.repo, &h.chart, &h.version)?;
    let bytes = fetch::get(&url)?;
    let what = format!("chart {}", tarball_name(h));
    let sha256 = crate::sha256_hex(&bytes);
    for (expected, by) in [
        (h.digest.as_deref(), "the pin"),
        (locked, "the lock file"),
        (index_digest.as_deref(), "the repository index"),
    ] {
        if let Some(e) = expected {
            super::check_sha256(&what, &url, &bytes, e, by)?;
        }
    }
    Ok(ChartArtifact {
        file_name: tarball_name(h),
        url,
        sha256,
        index_digest,
        bytes,
    })
}

/// Run `helm` with `args` and return its stdout (the rendered YAML).
pub fn render(helm: &Path, args: &[OsString]) -> Result<Vec<u8>, InstallError> {
    let out = std::process::Command::new(helm)
        .args(args)
        .output()
        .map_err(|e| InstallError::Tool {
            program: helm.display().to_string(),
            reason: format!("cannot start: {e} (install helm, see `meshproof doctor`)"),
        })?;
    if !out.status.success() {
        return Err(InstallError::Tool {
            program: format!("helm {}", command_line(args)),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}
