//! The `manifests` install method: download every pinned manifest URL, check its sha256, and
//! return the bytes to apply (in pin order).

use super::{fetch, InstallError};
use crate::spec::mesh::RemoteFile;

/// One downloaded, verified manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub url: String,
    /// File name used under `inputs/mesh-rendered/` (`01-<last path segment>`).
    pub name: String,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

/// The recorded file name of the `i`th manifest.
pub fn file_name(i: usize, url: &str) -> String {
    let last = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("manifest.yaml");
    let clean: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{:02}-{clean}", i + 1)
}

/// Download and verify every manifest; the first mismatch stops with an error naming the URL,
/// the expected and the actual sha256.
pub fn fetch_all(files: &[RemoteFile]) -> Result<Vec<Fetched>, InstallError> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let bytes = fetch::get_verified("manifest", &f.url, &f.sha256, "the pin")?;
            Ok(Fetched {
                url: f.url.clone(),
                name: file_name(i, &f.url),
                sha256: f.sha256.clone(),
                bytes,
            })
        })
        .collect()
}
