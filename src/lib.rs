//! meshproof: reproduce SMI conformance runs and make their results verifiable.
//!
//! The pure core (specs, plan, judge, bundle, reports) lives here and needs nothing running;
//! the Docker/kind provider layer is the separate `meshproof-cluster` crate.

pub mod app;
pub mod bringup;
pub mod bundle;
pub mod cli;
pub mod diff;
pub mod doctor;
pub mod env;
pub mod error;
pub mod install;
pub mod kind_binary;
pub mod observation;
pub mod pipeline;
pub mod plan;
pub mod platform;
pub mod progress;
pub mod report;
pub mod spec;
pub mod suite;
pub mod timeouts;
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

/// The git revision meshproof was built from, when known: `$MESHPROOF_GIT_REV` at run time (the
/// Nix wrapper passes it, so the build itself does not depend on the commit), else its value at
/// compile time.
pub fn git_revision() -> Option<String> {
    std::env::var(env::MESHPROOF_GIT_REV)
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            option_env!("MESHPROOF_GIT_REV")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        })
}
