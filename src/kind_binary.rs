//! The kind binary a cluster pin runs with: the `kind` on PATH when its version is inside the
//! pin's range, otherwise the pin's kind release, downloaded from kind's GitHub releases,
//! checked against a sha256 from the pin or its lock file (`clusters/<name>.lock.yaml`) and
//! cached per version (`~/.cache/meshproof/kind/v<version>/kind-<platform>`, re-hashed at every
//! use). A release whose sha256 is not recorded is never run: `meshproof lock --cluster NAME`
//! records it on a machine with network (cross-checked against kind's published
//! `.sha256sum`, which exists from kind v0.12.0 on).
//!
//! [`choose`] decides without network (what `doctor` reports); [`provide`] downloads when
//! needed (the first phase of `run`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::install::{fetch, InstallError};
use crate::spec::catalog::{Catalog, Sourced};
use crate::spec::cluster::{Cluster, KIND_PLATFORMS};
use crate::spec::{Document, SpecError, Validator};

/// The first kind release that publishes `kind-<platform>.sha256sum` next to each binary.
pub const FIRST_SHA256SUM_RELEASE: (u64, u64) = (0, 12);
/// The largest kind binary accepted (kind v0.32.0's are about 10 MB).
pub const MAX_KIND_BYTES: u64 = 128 * 1024 * 1024;

/// kind's name for this machine's platform (`linux-amd64`), if kind publishes one for it.
pub fn host_platform() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("linux-amd64"),
        ("linux", "aarch64") => Some("linux-arm64"),
        ("macos", "x86_64") => Some("darwin-amd64"),
        ("macos", "aarch64") => Some("darwin-arm64"),
        _ => None,
    }
}

/// Where kind release `version`'s binary for `platform` is downloaded from.
pub fn release_url(base: &str, version: &str, platform: &str) -> String {
    format!("{base}/v{version}/kind-{platform}")
}

/// A cluster pin's lock file: the sha256 of its kind release binaries, computed by
/// `meshproof lock --cluster` from the downloaded bytes.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterLockSpec {
    pub kind: LockedKind,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedKind {
    /// The release (`spec.kind.release.version` of the pin).
    pub version: String,
    pub binaries: Vec<LockedKindBinary>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedKindBinary {
    /// `linux-amd64`, ...
    pub platform: String,
    pub url: String,
    pub sha256: String,
    /// How the digest was checked besides hashing the download: `kind-<platform>.sha256sum`
    /// (published from kind v0.12.0 on) and/or the pin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checked_against: Vec<String>,
}

pub type ClusterLock = Document<ClusterLockSpec>;

/// Parse and validate a cluster lock file.
pub fn load_lock(file: &str, text: &str) -> Result<ClusterLock, SpecError> {
    let doc: ClusterLock = crate::spec::parse(file, text, "ClusterLock")?;
    let mut v = Validator::new(file, text);
    for (i, b) in doc.spec.kind.binaries.iter().enumerate() {
        v.check(
            KIND_PLATFORMS.contains(&b.platform.as_str()),
            &format!("spec.kind.binaries[{i}].platform"),
            format!("unknown platform; use one of {}", KIND_PLATFORMS.join(", ")),
        );
        v.check(
            crate::spec::is_sha256_hex(&b.sha256),
            &format!("spec.kind.binaries[{i}].sha256"),
            "must be 64 lowercase hex digits",
        );
    }
    v.finish()?;
    Ok(doc)
}

/// `clusters/<name>.lock.yaml` for `clusters/<name>.yaml`.
pub fn lock_path(pin_path: &str) -> String {
    format!("{}.lock.yaml", pin_path.trim_end_matches(".yaml"))
}

/// The lock of a cluster pin, if there is one: next to it, else in the user's lock directory
/// ([`Catalog::lock_file`]).
pub fn load_lock_for(
    catalog: &Catalog,
    pin: &Sourced<Cluster>,
) -> Result<Option<Sourced<ClusterLock>>, SpecError> {
    let rel = lock_path(&pin.path);
    let Some((full, name)) = catalog.lock_file(&rel) else {
        return Ok(None);
    };
    let bytes = std::fs::read(&full).map_err(|e| SpecError::Io {
        file: name.clone(),
        source: e,
    })?;
    let text = String::from_utf8(bytes.clone())
        .map_err(|_| SpecError::Invalid(format!("{name}: not UTF-8")))?;
    let value = load_lock(&name, &text)?;
    Ok(Some(Sourced {
        value,
        path: name,
        bytes,
    }))
}

/// The kind a run will use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindChoice {
    /// The `kind` on PATH: its version is inside the pin's range.
    OnPath { binary: PathBuf, version: String },
    /// The pin's release, verified by sha256 before every use.
    Pinned(PinnedKind),
}

/// A kind release binary and how it is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedKind {
    pub version: String,
    pub platform: String,
    pub url: String,
    pub sha256: String,
    /// Which files recorded the sha256 (`clusters/x.yaml`, `clusters/x.lock.yaml`).
    pub verified_by: Vec<String>,
    /// Where it is (or will be) cached.
    pub cache: PathBuf,
    /// The cached file is there and has the sha256.
    pub cached: bool,
    /// Why the kind on PATH is not used.
    pub path_kind: String,
}

impl KindChoice {
    /// The binary to run (for a pinned release: its cache path, valid after [`provide`]).
    pub fn binary(&self) -> &Path {
        match self {
            Self::OnPath { binary, .. } => binary,
            Self::Pinned(p) => &p.cache,
        }
    }

    /// One line for `doctor` and the run's facts: which kind and how it is verified.
    pub fn describe(&self, range: &str) -> String {
        match self {
            Self::OnPath { binary, version } => format!(
                "v{version} at {} (on PATH, inside the pin's {range})",
                binary.display()
            ),
            Self::Pinned(p) => {
                let how = format!("sha256 {} from {}", p.sha256, p.verified_by.join(" and "));
                let action = if p.cached {
                    format!(
                        "the run uses kind v{} from {} (cached; {how}, checked at every use)",
                        p.version,
                        p.cache.display()
                    )
                } else {
                    format!(
                        "the run downloads kind v{} from {} and checks {how} before use (cached as {})",
                        p.version,
                        p.url,
                        p.cache.display()
                    )
                };
                format!("{action}; kind on PATH: {}", p.path_kind)
            }
        }
    }
}

/// No kind can be run for the pin.
#[derive(Debug, thiserror::Error)]
pub enum KindChoiceError {
    /// PATH has no fitting kind and the pin names no release.
    #[error(
        "kind on PATH: {path_kind}; the cluster pin {pin} names no kind release to provide instead"
    )]
    NoRelease { pin: String, path_kind: String },
    /// kind publishes no binary for this machine.
    #[error("kind on PATH: {path_kind}; kind publishes no release binary for {os}-{arch}")]
    NoPlatform {
        path_kind: String,
        os: &'static str,
        arch: &'static str,
    },
    /// Neither the pin nor its lock records the binary's sha256.
    #[error("kind on PATH: {path_kind}; {binary} has no recorded sha256 in {pin} or {lock}, and meshproof does not run an unverified binary")]
    Unverified {
        path_kind: String,
        /// `kind v0.21.0 for linux-amd64`.
        binary: String,
        pin: String,
        lock: String,
    },
    /// The pin and its lock disagree.
    #[error("{binary}: {pin} records sha256 {pinned} but {lock} records {locked}")]
    Conflict {
        /// `kind v0.21.0 for linux-amd64`.
        binary: String,
        pin: String,
        pinned: String,
        lock: String,
        locked: String,
    },
    /// No cache directory.
    #[error("no cache directory for the kind binary (neither XDG_CACHE_HOME nor HOME is set)")]
    NoCache,
    /// Downloading or checking failed.
    #[error(transparent)]
    Install(Box<InstallError>),
    /// Writing the cache failed.
    #[error("cannot cache kind at {path}: {source}")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<InstallError> for KindChoiceError {
    fn from(e: InstallError) -> Self {
        Self::Install(Box::new(e))
    }
}

impl KindChoiceError {
    /// The one-line fix `doctor` prints.
    pub fn fix(&self, pin: &Cluster) -> String {
        let range = &pin.spec.kind.version;
        let name = &pin.metadata.name;
        match self {
            Self::Unverified { .. } => format!(
                "run `meshproof lock --cluster {name}` on a machine with network (records the sha256 in the pin's lock file), or put kind {range} on PATH"
            ),
            Self::Conflict { .. } => format!(
                "re-check the digests against kind's release page and fix the pin or run `meshproof lock --cluster {name}`"
            ),
            _ => format!("install kind {range} and put it on PATH"),
        }
    }
}

/// The first executable `kind` in `search_path`.
pub fn kind_on_path(search_path: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(search_path)
        .map(|d| d.join("kind"))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What is on PATH: `Ok((binary, version))`, or why there is no usable kind.
pub fn probe_path(search_path: &std::ffi::OsStr) -> Result<(PathBuf, semver::Version), String> {
    let Some(bin) = kind_on_path(search_path) else {
        return Err("not found".to_string());
    };
    meshproof_cluster::kind::probe_version(&bin.to_string_lossy())
        .map(|v| (bin.clone(), v.version))
        .map_err(|e| format!("{}: {e}", bin.display()))
}

/// Decide which kind runs `pin` (no network): the kind on PATH when `on_path` is inside the
/// range, else the pin's release for `platform`, with the sha256 from the pin and/or `lock`.
pub fn choose(
    pin: &Sourced<Cluster>,
    lock: Option<&Sourced<ClusterLock>>,
    on_path: Result<(PathBuf, semver::Version), String>,
    platform: Option<&str>,
    cache_root: Option<&Path>,
    download_base: &str,
) -> Result<KindChoice, KindChoiceError> {
    let range = &pin.value.spec.kind.version;
    let path_kind = match on_path {
        Ok((binary, version)) => {
            if semver::VersionReq::parse(range).is_ok_and(|r| r.matches(&version)) {
                return Ok(KindChoice::OnPath {
                    binary,
                    version: version.to_string(),
                });
            }
            format!("v{version} at {} is outside {range}", binary.display())
        }
        Err(why) => why,
    };
    let Some(release) = &pin.value.spec.kind.release else {
        return Err(KindChoiceError::NoRelease {
            pin: pin.path.clone(),
            path_kind,
        });
    };
    let Some(platform) = platform else {
        return Err(KindChoiceError::NoPlatform {
            path_kind,
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
        });
    };
    let pinned = release.sha256.get(platform);
    let lock_path = lock_path(&pin.path);
    let locked = lock
        .filter(|l| l.value.spec.kind.version == release.version)
        .and_then(|l| {
            l.value
                .spec
                .kind
                .binaries
                .iter()
                .find(|b| b.platform == platform)
        })
        .map(|b| &b.sha256);
    let (sha256, verified_by) = match (pinned, locked) {
        (Some(p), Some(l)) if p != l => {
            return Err(KindChoiceError::Conflict {
                binary: format!("kind v{} for {platform}", release.version),
                pin: pin.path.clone(),
                pinned: p.clone(),
                lock: lock_path,
                locked: l.clone(),
            })
        }
        (Some(p), Some(_)) => (p.clone(), vec![pin.path.clone(), lock_path]),
        (Some(p), None) => (p.clone(), vec![pin.path.clone()]),
        (None, Some(l)) => (l.clone(), vec![lock_path]),
        (None, None) => {
            return Err(KindChoiceError::Unverified {
                path_kind,
                binary: format!("kind v{} for {platform}", release.version),
                pin: pin.path.clone(),
                lock: lock_path,
            })
        }
    };
    let cache_root = cache_root.ok_or(KindChoiceError::NoCache)?;
    let cache = cache_path(cache_root, &release.version, platform);
    let cached = hash_file(&cache).is_some_and(|h| h == sha256);
    Ok(KindChoice::Pinned(PinnedKind {
        version: release.version.clone(),
        platform: platform.to_string(),
        url: release_url(download_base, &release.version, platform),
        sha256,
        verified_by,
        cache,
        cached,
        path_kind,
    }))
}

/// `<cache>/kind/v<version>/kind-<platform>`.
pub fn cache_path(cache_root: &Path, version: &str, platform: &str) -> PathBuf {
    cache_root
        .join("kind")
        .join(format!("v{version}"))
        .join(format!("kind-{platform}"))
}

fn hash_file(p: &Path) -> Option<String> {
    std::fs::read(p).ok().map(|b| crate::sha256_hex(&b))
}

/// Make the chosen kind runnable and return its path: a kind on PATH as it is; a pinned
/// release from the cache when its sha256 still matches, else downloaded, checked and cached
/// (written to a temporary file and renamed, so a partial download is never used).
pub fn provide(choice: &KindChoice) -> Result<PathBuf, KindChoiceError> {
    let p = match choice {
        KindChoice::OnPath { binary, .. } => return Ok(binary.clone()),
        KindChoice::Pinned(p) => p,
    };
    if hash_file(&p.cache).is_some_and(|h| h == p.sha256) {
        return Ok(p.cache.clone());
    }
    let bytes = fetch::get_limited(&p.url, MAX_KIND_BYTES)?;
    crate::install::check_sha256(
        &format!("kind v{} for {}", p.version, p.platform),
        &p.url,
        &bytes,
        &p.sha256,
        &p.verified_by.join(" and "),
    )?;
    let cache_err = |source| KindChoiceError::Cache {
        path: p.cache.clone(),
        source,
    };
    let dir = p.cache.parent().expect("cache path has a parent");
    std::fs::create_dir_all(dir).map_err(cache_err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(cache_err)?;
    std::io::Write::write_all(&mut tmp, &bytes).map_err(cache_err)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(cache_err)?;
    }
    tmp.persist(&p.cache).map_err(|e| cache_err(e.error))?;
    Ok(p.cache.clone())
}

/// What `meshproof lock --cluster` writes: every platform's binary of the pin's release,
/// downloaded and hashed, cross-checked against kind's `.sha256sum` (from v0.12.0 on) and the
/// pin's own digests. `get` fetches a URL (the network in production).
pub fn resolve_lock(
    pin: &Cluster,
    download_base: &str,
    get: &dyn Fn(&str) -> Result<Vec<u8>, InstallError>,
) -> Result<ClusterLock, InstallError> {
    let release = pin
        .spec
        .kind
        .release
        .as_ref()
        .ok_or_else(|| InstallError::Lock {
            file: lock_path(&format!("clusters/{}.yaml", pin.metadata.name)),
            reason: format!(
                "cluster pin {} names no kind release (spec.kind.release) to lock",
                pin.metadata.name
            ),
        })?;
    let version = semver::Version::parse(&release.version).map_err(|e| InstallError::Lock {
        file: lock_path(&format!("clusters/{}.yaml", pin.metadata.name)),
        reason: format!("spec.kind.release.version: {e}"),
    })?;
    let has_sums = (version.major, version.minor) >= FIRST_SHA256SUM_RELEASE;
    let mut binaries = Vec::new();
    for platform in KIND_PLATFORMS {
        let url = release_url(download_base, &release.version, platform);
        let bytes = get(&url)?;
        let sha256 = crate::sha256_hex(&bytes);
        let what = format!("kind v{} for {platform}", release.version);
        let mut checked_against = Vec::new();
        if has_sums {
            let sum_url = format!("{url}.sha256sum");
            let text = String::from_utf8_lossy(&get(&sum_url)?).into_owned();
            let published = text
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            crate::install::check_sha256(&what, &url, &bytes, &published, &sum_url)?;
            checked_against.push(format!("kind-{platform}.sha256sum"));
        }
        if let Some(p) = release.sha256.get(*platform) {
            crate::install::check_sha256(&what, &url, &bytes, p, "the pin")?;
            checked_against.push("the pin".to_string());
        }
        binaries.push(LockedKindBinary {
            platform: (*platform).to_string(),
            url,
            sha256,
            checked_against,
        });
    }
    Ok(Document {
        api_version: crate::spec::API_VERSION.to_string(),
        kind: "ClusterLock".to_string(),
        metadata: crate::spec::Metadata {
            name: pin.metadata.name.clone(),
            version: None,
            description: format!(
                "sha256 of the kind v{} release binaries, computed by `meshproof lock --cluster` from the downloaded bytes",
                release.version
            ),
        },
        spec: ClusterLockSpec {
            kind: LockedKind {
                version: release.version.clone(),
                binaries,
            },
        },
    })
}

/// A lock file's text.
pub fn render_lock(lock: &ClusterLock) -> String {
    let mut opts = serde_saphyr::SerializerOptions::default();
    opts.folded_wrap_chars = 4096;
    let body = serde_saphyr::to_string_with_options(lock, opts).expect("a lock serializes");
    format!("# Written by `meshproof lock --cluster`: do not edit by hand.\n{body}")
}
