//! Every environment variable meshproof reads, in one place.
//!
//! The other crates of the workspace take what they need as arguments, except the provider
//! layer's `meshproof_cluster::docker::DockerEnv::from_process`, which reads the Docker CLI's own
//! variables (`DOCKER_HOST`, `DOCKER_CONTEXT`, `DOCKER_CONFIG`, `HOME`) in one function as `docker`
//! does, and its test gate `docker_required` (the same [`MESHPROOF_REQUIRE_DOCKER`]).

use std::path::PathBuf;

/// Root directory holding `clusters/`, `meshes/`, `workloads/`, `suites/`.
pub const MESHPROOF_HOME: &str = "MESHPROOF_HOME";
/// Tests that need Docker fail instead of skipping when this is `1` (CI sets it).
pub const MESHPROOF_REQUIRE_DOCKER: &str = "MESHPROOF_REQUIRE_DOCKER";
/// Tests that need a working `helm` binary fail instead of skipping when this is `1` (the GitHub
/// CI job and the flake's `checks.tests` set it: they have helm).
pub const MESHPROOF_REQUIRE_HELM: &str = "MESHPROOF_REQUIRE_HELM";
/// Tests that need files outside the repository (`../shared`, e.g. the SMI CRDs) fail instead of
/// skipping when this is `1` (`.ci/run` sets it).
pub const MESHPROOF_REQUIRE_SHARED: &str = "MESHPROOF_REQUIRE_SHARED";
/// Tests that run the Python in-toto verifiers (securesystemslib, in-toto-attestation) fail
/// instead of skipping when this is `1` (`.ci/run` sets it after installing them).
pub const MESHPROOF_REQUIRE_INTEROP: &str = "MESHPROOF_REQUIRE_INTEROP";
/// The browser tests of `meshproof site` fail instead of skipping when this is `1` (`.ci/run`
/// sets it after installing Debian's `chromium`).
pub const MESHPROOF_REQUIRE_BROWSER: &str = "MESHPROOF_REQUIRE_BROWSER";
/// The Chromium binary the browser tests drive (default: `chromium`, then `chromium-browser`, on
/// `PATH`).
pub const MESHPROOF_CHROMIUM: &str = "MESHPROOF_CHROMIUM";
/// The Python interpreter that has `.ci/interop-requirements.txt` installed (default `python3`).
pub const MESHPROOF_INTEROP_PYTHON: &str = "MESHPROOF_INTEROP_PYTHON";
/// Where the SMI CRD files are for `tests/it/crd_schema.rs` (default `../shared/smi-crds`).
pub const MESHPROOF_SMI_CRDS: &str = "MESHPROOF_SMI_CRDS";
/// The git revision meshproof was built from, recorded in every bundle: read at run time (the
/// Nix wrapper and the GitHub Action set it, so a new commit does not rebuild anything), else
/// what `build.rs` compiled in: this variable's value at build time (`cargo build` in the
/// workflows), the git checkout's HEAD, or `unknown`.
pub const MESHPROOF_GIT_REV: &str = "MESHPROOF_GIT_REV";
/// Path of a prebuilt probe image archive (the Nix wrapper sets it).
pub const MESHPROOF_PROBE_IMAGE_ARCHIVE: &str = "MESHPROOF_PROBE_IMAGE_ARCHIVE";
/// An image reference an external cluster (`run --kubeconfig`) can pull for the probe.
pub const MESHPROOF_PROBE_IMAGE: &str = "MESHPROOF_PROBE_IMAGE";
/// The `nix run` reference that built this binary (the flake sets it).
pub const MESHPROOF_FLAKE_REF: &str = "MESHPROOF_FLAKE_REF";

/// The program search path, passed on to the mesh CLIs meshproof runs (`method: cli`) in an
/// otherwise cleared environment; also where `kind` is looked for.
pub const PATH: &str = "PATH";
/// Where kind release binaries are downloaded from (default: kind's GitHub releases); for a
/// mirror. Downloads are checked against the pinned sha256 wherever they come from.
pub const MESHPROOF_KIND_DOWNLOAD_BASE: &str = "MESHPROOF_KIND_DOWNLOAD_BASE";
/// XDG base directories and the home directory: where provided kind binaries are cached
/// (`$XDG_CACHE_HOME/meshproof`, else `~/.cache/meshproof`) and where a kept cluster's
/// kubeconfig is written (`$XDG_STATE_HOME/meshproof`, else `~/.local/state/meshproof`).
pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
/// See [`XDG_CACHE_HOME`]; `$XDG_DATA_HOME/meshproof` (else `~/.local/share/meshproof`) is where
/// `lock` writes lock files unless given `--out`.
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
/// See [`XDG_CACHE_HOME`].
pub const XDG_STATE_HOME: &str = "XDG_STATE_HOME";
/// See [`XDG_CACHE_HOME`].
pub const HOME: &str = "HOME";

/// kind's release downloads: `$MESHPROOF_KIND_DOWNLOAD_BASE` or kind's GitHub releases.
pub fn kind_download_base() -> String {
    std::env::var(MESHPROOF_KIND_DOWNLOAD_BASE)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().trim_end_matches('/').to_string())
        .unwrap_or_else(|| "https://github.com/kubernetes-sigs/kind/releases/download".to_string())
}

fn xdg_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os(HOME).map(|h| PathBuf::from(h).join(fallback)))
        .map(|d| d.join("meshproof"))
}

/// meshproof's cache directory (`None` without `XDG_CACHE_HOME` and `HOME`).
pub fn cache_dir() -> Option<PathBuf> {
    xdg_dir(XDG_CACHE_HOME, ".cache")
}

/// meshproof's state directory (`None` without `XDG_STATE_HOME` and `HOME`).
pub fn state_dir() -> Option<PathBuf> {
    xdg_dir(XDG_STATE_HOME, ".local/state")
}

/// `$PATH`, or a conventional default when it is unset.
pub fn search_path() -> std::ffi::OsString {
    std::env::var_os(PATH).unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into())
}

/// How the input root was chosen: every message about the root names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    /// `--root DIR`.
    Flag,
    /// `$MESHPROOF_HOME`.
    Env,
    /// The current directory, which has `suites/` and `clusters/`.
    CurrentDir,
    /// The source tree this binary was built from (the last resort).
    BuildTree,
}

impl RootSource {
    /// `from --root`, `from MESHPROOF_HOME`, …
    pub fn describe(self) -> &'static str {
        match self {
            RootSource::Flag => "from --root",
            RootSource::Env => "from MESHPROOF_HOME",
            RootSource::CurrentDir => "the current directory",
            RootSource::BuildTree => "default: the source tree this binary was built from",
        }
    }
}

/// Where the input catalog lives: `--root`, then `$MESHPROOF_HOME`, then the current directory
/// when it has `suites/` and `clusters/`, then the directory the crate was built from.
pub fn catalog_root(flag: Option<PathBuf>) -> (PathBuf, RootSource) {
    if let Some(p) = flag {
        return (p, RootSource::Flag);
    }
    if let Some(p) = std::env::var_os(MESHPROOF_HOME).filter(|p| !p.is_empty()) {
        return (PathBuf::from(p), RootSource::Env);
    }
    if let Ok(cwd) = std::env::current_dir() {
        if cwd.join("suites").is_dir() && cwd.join("clusters").is_dir() {
            return (cwd, RootSource::CurrentDir);
        }
    }
    (
        PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        RootSource::BuildTree,
    )
}

/// `$MESHPROOF_GIT_REV`, trimmed (`None` when unset or blank): the revision bundles record
/// instead of the one compiled in.
pub fn git_rev() -> Option<String> {
    std::env::var(MESHPROOF_GIT_REV)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `$MESHPROOF_FLAKE_REF` (`None` when unset or empty): the `nix run` reference bundles record.
pub fn flake_ref() -> Option<String> {
    std::env::var(MESHPROOF_FLAKE_REF)
        .ok()
        .filter(|r| !r.is_empty())
}

/// `$MESHPROOF_PROBE_IMAGE_ARCHIVE`: a prebuilt probe image archive to load instead of
/// building one (`None` when unset).
pub fn probe_image_archive() -> Option<PathBuf> {
    std::env::var_os(MESHPROOF_PROBE_IMAGE_ARCHIVE).map(PathBuf::from)
}

/// The probe image an external cluster (`run --kubeconfig`) pulls: `$MESHPROOF_PROBE_IMAGE`
/// (`None` when unset or empty).
pub fn probe_image() -> Option<String> {
    std::env::var(MESHPROOF_PROBE_IMAGE)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// meshproof's data directory (`$XDG_DATA_HOME/meshproof`, else `~/.local/share/meshproof`;
/// `None` without either): where `lock` writes by default.
pub fn data_dir() -> Option<PathBuf> {
    xdg_dir(XDG_DATA_HOME, ".local/share")
}

/// True when `MESHPROOF_REQUIRE_DOCKER=1`.
pub fn require_docker() -> bool {
    is_one(MESHPROOF_REQUIRE_DOCKER)
}

/// True when `MESHPROOF_REQUIRE_HELM=1`.
pub fn require_helm() -> bool {
    is_one(MESHPROOF_REQUIRE_HELM)
}

/// True when `MESHPROOF_REQUIRE_SHARED=1`.
pub fn require_shared() -> bool {
    is_one(MESHPROOF_REQUIRE_SHARED)
}

/// True when `MESHPROOF_REQUIRE_INTEROP=1`.
pub fn require_interop() -> bool {
    is_one(MESHPROOF_REQUIRE_INTEROP)
}

/// True when `MESHPROOF_REQUIRE_BROWSER=1`.
pub fn require_browser() -> bool {
    is_one(MESHPROOF_REQUIRE_BROWSER)
}

fn is_one(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}
