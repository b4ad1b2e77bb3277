//! The install model: lock files (`lock`), image references (`reference`) and their pinning to
//! digests (`images`), and what the Helm and CLI methods will do (`helm`, `cli`: arguments, planned
//! commands, hook filtering, redaction). Pure: the effects (downloads, `helm` and mesh CLI
//! subprocesses, registries) are the `meshproof` crate's `install` module.

pub mod cli;
pub mod helm;
pub mod images;
pub mod lock;
pub mod reference;

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
