//! HTTP(S) downloads of pinned artifacts (chart indexes and tarballs, manifest files).

use std::time::Duration;

use super::InstallError;

/// The largest artifact meshproof downloads (charts and manifests are far smaller).
pub const MAX_ARTIFACT_BYTES: u64 = 64 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(120);

/// The largest mesh CLI download (a static binary, or an archive holding one).
pub const MAX_CLI_BYTES: u64 = 256 * 1024 * 1024;

/// GET `url` and return the body; non-2xx statuses, oversize bodies and transport errors are errors.
pub fn get(url: &str) -> Result<Vec<u8>, InstallError> {
    get_limited(url, MAX_ARTIFACT_BYTES)
}

/// [`get`] with a size limit of `limit` bytes.
pub fn get_limited(url: &str, limit: u64) -> Result<Vec<u8>, InstallError> {
    if !crate::spec::mesh::is_fetchable_url(url) {
        return Err(InstallError::Download {
            url: url.to_string(),
            reason: "only https URLs (or http on the loopback interface) are fetched".into(),
        });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let err = |reason: String| InstallError::Download {
        url: url.to_string(),
        reason,
    };
    let mut resp = agent.get(url).call().map_err(|e| err(e.to_string()))?;
    resp.body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| err(e.to_string()))
}

/// GET `url` and check its sha256 against `expected` (from `expected_by`: the pin or the lock).
pub fn get_verified(
    what: &str,
    url: &str,
    expected: &str,
    expected_by: &str,
) -> Result<Vec<u8>, InstallError> {
    let bytes = get(url)?;
    super::check_sha256(what, url, &bytes, expected, expected_by)?;
    Ok(bytes)
}
