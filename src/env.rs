//! Every environment variable meshproof reads, in one place.

use std::path::PathBuf;

/// Root directory holding `clusters/`, `meshes/`, `workloads/`, `suites/`.
pub const MESHPROOF_HOME: &str = "MESHPROOF_HOME";
/// Tests that need Docker fail instead of skipping when this is `1` (CI sets it).
pub const MESHPROOF_REQUIRE_DOCKER: &str = "MESHPROOF_REQUIRE_DOCKER";
/// Path of a prebuilt probe image archive (the Nix wrapper sets it).
pub const MESHPROOF_PROBE_IMAGE_ARCHIVE: &str = "MESHPROOF_PROBE_IMAGE_ARCHIVE";
/// An image reference an external cluster (`run --kubeconfig`) can pull for the probe.
pub const MESHPROOF_PROBE_IMAGE: &str = "MESHPROOF_PROBE_IMAGE";
/// The `nix run` reference that built this binary (the flake sets it).
pub const MESHPROOF_FLAKE_REF: &str = "MESHPROOF_FLAKE_REF";

/// The program search path, passed on to the mesh CLIs meshproof runs (`method: cli`) in an
/// otherwise cleared environment.
pub const PATH: &str = "PATH";

/// `$PATH`, or a conventional default when it is unset.
pub fn search_path() -> std::ffi::OsString {
    std::env::var_os(PATH).unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into())
}

/// Where the input catalog lives: `--root`, then `$MESHPROOF_HOME`, then the current directory
/// when it has a `suites/` folder, then the directory the crate was built from.
pub fn catalog_root(flag: Option<PathBuf>) -> PathBuf {
    if let Some(p) = flag {
        return p;
    }
    if let Some(p) = std::env::var_os(MESHPROOF_HOME) {
        return PathBuf::from(p);
    }
    if let Ok(cwd) = std::env::current_dir() {
        if cwd.join("suites").is_dir() && cwd.join("clusters").is_dir() {
            return cwd;
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when `MESHPROOF_REQUIRE_DOCKER=1`.
pub fn require_docker() -> bool {
    std::env::var(MESHPROOF_REQUIRE_DOCKER).is_ok_and(|v| v == "1")
}
