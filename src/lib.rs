//! meshproof: reproduce SMI conformance runs and make their results verifiable.
//!
//! This crate holds the effects and the command line: the run pipeline and its platform (kind,
//! Docker, Kubernetes through `meshproof-cluster` and `meshproof-kube`), install effects,
//! doctor, site. The pure core (specs, plan, judge, bundle, reports, diff, install model) is
//! `meshproof-core`, re-exported here under the same paths (`meshproof::bundle`, …).

pub use meshproof_core::{
    bundle, calls, diff, observation, plan, provenance, report, seal, sha256_file, sha256_hex,
    spec, substitute, suite, timeouts, timing, verdict, yaml, NAMESPACE_PLACEHOLDER, TOOL_VERSION,
    UNKNOWN_REVISION,
};

pub mod app;
pub mod bringup;
pub mod cli;
pub mod commands;
pub mod doctor;
pub mod env;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod install;
pub mod kind_binary;
pub mod pipeline;
pub mod platform;
pub mod progress;
pub mod site;

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
    env::git_rev().unwrap_or_else(|| build_revision().to_string())
}

/// This meshproof as bundles record it: version, [`git_revision`], and `$MESHPROOF_FLAKE_REF`
/// (`nix run github:…/<rev>`) when the flake's wrapper set it.
pub fn tool() -> bundle::Tool {
    bundle::Tool::new(git_revision(), env::flake_ref())
}

#[cfg(test)]
mod tests {
    /// Bundles record `meshproof_core::TOOL_VERSION`: it must be this package's version.
    #[test]
    fn the_core_crate_has_the_tool_version() {
        assert_eq!(super::TOOL_VERSION, env!("CARGO_PKG_VERSION"));
    }

    /// The provider layer's default node image is the default cluster pin's.
    #[test]
    fn the_provider_layers_default_node_image_is_the_default_cluster_pin() {
        let c = super::spec::catalog::Catalog::new(env!("CARGO_MANIFEST_DIR"));
        let pin = c
            .select_cluster(super::spec::catalog::DEFAULT_CLUSTER)
            .unwrap();
        assert_eq!(
            meshproof_cluster::kind::DEFAULT_NODE_IMAGE,
            pin.value.spec.node_image
        );
    }
}
