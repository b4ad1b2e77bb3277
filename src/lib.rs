//! meshproof: reproduce SMI conformance runs and make their results verifiable.
//!
//! The pure core (specs, plan, judge, bundle, reports) lives here and needs nothing running;
//! the Docker/kind provider layer is the separate `meshproof-cluster` crate.

pub mod app;
pub mod bringup;
pub mod bundle;
pub mod calls;
pub mod cli;
pub mod diff;
pub mod doctor;
pub mod env;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod install;
pub mod kind_binary;
pub mod observation;
pub mod pipeline;
pub mod plan;
pub mod platform;
pub mod progress;
pub mod provenance;
pub mod report;
pub mod site;
pub mod spec;
pub mod suite;
pub mod timeouts;
pub mod timing;
pub mod verdict;
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

/// The tool version recorded in bundles.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The revision recorded when the tree meshproof was built from is not known (said explicitly,
/// never left out).
pub const UNKNOWN_REVISION: &str = "unknown";

/// The revision this binary was built from, as `build.rs` found it: `MESHPROOF_GIT_REV` at build
/// time, the git work tree's HEAD (`-dirty` when compiled-in files differ from it), a packaged
/// crate's `.cargo_vcs_info.json`, or [`UNKNOWN_REVISION`].
pub fn build_revision() -> &'static str {
    env!("MESHPROOF_BUILD_REVISION")
}

/// The revision every bundle records: `$MESHPROOF_GIT_REV` at run time (the Nix wrapper and the
/// GitHub Action pass it, so the build itself does not depend on the commit), else
/// [`build_revision`]. Never empty.
pub fn git_revision() -> String {
    std::env::var(env::MESHPROOF_GIT_REV)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| build_revision().to_string())
}

/// sha256 of a file's bytes as 64 lowercase hex digits (streamed).
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}
