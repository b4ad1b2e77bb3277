//! Mesh install steps (between `plan` and the kube layer): fetch pinned artifacts and check
//! their sha256 (`fetch`, `manifests`), render Helm charts offline (`helm`), generate Linkerd
//! identity certificates (`certs`), run a pinned mesh CLI offline (`cli`), pin images to digests
//! (`images`), resolve image tags to digests over the registry API (`registry`), render a pin
//! into the manifests to apply, shared by `run` and `lock` (`render`), and lock files (`lock`).
//!
//! Nothing here talks to a cluster: the platform applies what these functions return, so the
//! exact manifests go into the bundle.

pub mod certs;
pub mod cli;
pub mod fetch;
pub mod helm;
pub mod images;
pub mod lock;
pub mod manifests;
pub mod registry;
pub mod render;

/// Errors of the install layer; every message names the artifact and what to do.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("downloading {url}: {reason}")]
    Download { url: String, reason: String },
    #[error(
        "{what} ({url}) has sha256 {actual}, but {expected_by} says {expected}: refusing to use it \
         (the artifact changed upstream, or the pin/lock is wrong; re-check the source, then `meshproof lock`)"
    )]
    DigestMismatch {
        what: String,
        url: String,
        expected: String,
        actual: String,
        expected_by: String,
    },
    #[error("chart {chart} {version} is not in the Helm index {index}: {reason}")]
    NotInIndex {
        chart: String,
        version: String,
        index: String,
        reason: String,
    },
    #[error("{program}: {reason}")]
    Tool { program: String, reason: String },
    #[error(
        "{program}: no download is pinned for this machine's platform {platform}; the pin has {available} \
         (run on one of those, or add a `{platform}` entry to spec.install.cli.platforms)"
    )]
    NoPlatform {
        program: String,
        platform: String,
        available: String,
    },
    #[error("{url}: {reason}")]
    Archive { url: String, reason: String },
    #[error("image {reference}: {reason}")]
    Registry { reference: String, reason: String },
    #[error("lock file {file}: {reason}")]
    Lock { file: String, reason: String },
    #[error("generating certificates: {0}")]
    Certificates(String),
    #[error("{0}")]
    Other(String),
}

/// Check `bytes` against an expected sha256; `expected_by` names who pinned it (`the pin`, `the lock`).
pub fn check_sha256(
    what: &str,
    url: &str,
    bytes: &[u8],
    expected: &str,
    expected_by: &str,
) -> Result<String, InstallError> {
    let actual = crate::sha256_hex(bytes);
    if actual != expected {
        return Err(InstallError::DigestMismatch {
            what: what.to_string(),
            url: url.to_string(),
            expected: expected.to_string(),
            actual,
            expected_by: expected_by.to_string(),
        });
    }
    Ok(actual)
}
