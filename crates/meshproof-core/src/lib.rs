//! meshproof-core: everything meshproof decides without anything running — specs, plan,
//! observations, the judge and verdicts, reports, the bundle format with its reader and writer,
//! diff, provenance records and the install model (lock files, image references, planned commands).
//!
//! Its `Cargo.toml` lists no runtime, cluster, container or network crate, so `verify` and the
//! judge stay pure by construction; effects (Docker, kind, Kubernetes, downloads, subprocesses)
//! live in the `meshproof` crate and the provider crates, which call into this one.

pub mod bundle;
pub mod calls;
pub mod diff;
pub mod install;
pub mod observation;
pub mod plan;
pub mod provenance;
pub mod report;
pub mod seal;
pub mod spec;
pub mod staged;
pub mod suite;
pub mod timeouts;
pub mod timing;
pub mod verdict;
pub mod vocab;
pub mod yaml;

/// The placeholder for the case namespace in suite files (kuttl used `<NAMESPACE>`).
pub const NAMESPACE_PLACEHOLDER: &str = "{{namespace}}";

/// Replace the namespace placeholder in a suite file's text.
pub fn substitute(text: &str, namespace: &str) -> String {
    text.replace(NAMESPACE_PLACEHOLDER, namespace)
}

/// sha256 of bytes as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// sha256 of a file's bytes as 64 lowercase hex digits (streamed).
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// The tool version recorded in bundles (the `meshproof` package has the same version).
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The revision recorded when the tree meshproof was built from is not known (said explicitly,
/// never left out).
pub const UNKNOWN_REVISION: &str = "unknown";
