//! Bundle format v1: one version constant, the path constants, the manifest, limits and errors.
//!
//! A bundle is a deterministic zstd-compressed tar: regular files only, sorted by path, mtime 0,
//! uid/gid 0, mode 0644, no owner names, compression level 3, so the same files give the same bytes.

pub mod check;
pub mod format;
pub mod json;
pub mod names;
pub mod read;
pub mod verify;
pub mod write;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::verdict::Scoring;

/// Path → sha256 hex of every file in the archive.
pub type Sums = BTreeMap<String, String>;

/// One pass over a bundle: every file's sha256, the files kept in memory, the entry count.
#[derive(Debug, Default)]
pub struct Scanned {
    pub sums: Sums,
    pub files: BTreeMap<String, Vec<u8>>,
    pub entries: u64,
}

pub use format::{
    ChartRecord, CliCommand, CliRecord, ClusterMode, ClusterNodes, CommandRecord, DockerEngine,
    ExternalCluster, ExternalNode, FormatIncompatible, FormatVersion, HelmCapabilities, KindNode,
    KubernetesVersion, ManifestRecord, Phase, PhaseTiming, PinnedImages, PlatformResolved,
    RenderReports, Resolved, ResolvedCluster, ResolvedMesh, RunExtras, RunManifest, RunSelection,
    RunningContainer, ServedSmi, WorkloadImage, FORMAT_MAJOR, FORMAT_MINOR, REPORT_FORMAT,
};

/// Every path of the bundle format, in one place.
pub mod paths {
    pub const MANIFEST: &str = "manifest.json";
    pub const SHA256SUMS: &str = "SHA256SUMS";
    pub const VERDICTS: &str = "verdicts.json";
    pub const INPUTS: &str = "inputs";
    pub const INPUT_SUITE: &str = "inputs/suite";
    pub const INPUT_CLUSTER: &str = "inputs/cluster.yaml";
    pub const INPUT_KIND_CONFIG: &str = "inputs/kind-config.yaml";
    pub const INPUT_MESH: &str = "inputs/mesh.yaml";
    pub const INPUT_MESH_RENDERED: &str = "inputs/mesh-rendered";
    pub const INPUT_WORKLOAD: &str = "inputs/workload";
    pub const RESOLVED: &str = "resolved";
    pub const OBSERVATIONS: &str = "observations";
    pub const REPORT: &str = "report";
    pub const REPORT_JUNIT: &str = "report/junit.xml";
    pub const REPORT_SUMMARY: &str = "report/summary.md";
    pub const REPORT_MESHERY: &str = "report/meshery.json";
    pub const LOGS: &str = "logs";
    /// Left by `bundle unpack` in the directory it fills: which bundle the files came from, so
    /// `bundle pack` of that directory can say the result was re-judged. Never packed.
    pub const UNPACK_MARKER: &str = ".meshproof-unpacked.json";

    /// Top-level folders a run directory may hold (besides `manifest.json`).
    pub const RUN_DIRS: [&str; 4] = [INPUTS, RESOLVED, OBSERVATIONS, LOGS];
    /// Files `bundle pack` generates; copies of them in a run directory are replaced.
    pub const GENERATED: [&str; 6] = [
        SHA256SUMS,
        VERDICTS,
        MANIFEST,
        REPORT_JUNIT,
        REPORT_SUMMARY,
        REPORT_MESHERY,
    ];

    /// Files every bundle holds (`report/meshery.json` only when the run is complete).
    pub const REQUIRED: [&str; 5] = [MANIFEST, SHA256SUMS, VERDICTS, REPORT_JUNIT, REPORT_SUMMARY];

    /// `observations/<case>.json`
    pub fn observation(case: &str) -> String {
        format!("{OBSERVATIONS}/{case}.json")
    }
}

/// zstd level of every bundle (part of the format: a different level gives different bytes).
pub const ZSTD_LEVEL: i32 = 3;
/// Bundles are compressed in zstd's multi-threaded mode with at least this many workers. Any
/// worker count ≥ 1 gives the same bytes (zstd cuts the frame into jobs whose size depends on the
/// level, not on the workers; `tests/it/bundle.rs` packs one directory with 1 and 4 workers and
/// compares), but single-threaded mode (0 workers) gives other bytes, so the mode is part of the
/// format and the count is free: `bundle pack --jobs`, default one per core.
pub const ZSTD_MIN_WORKERS: u32 = 1;

/// Workers `bundle pack` uses when not told: one per core the process may use.
pub fn default_jobs() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(ZSTD_MIN_WORKERS)
        .max(ZSTD_MIN_WORKERS)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
    /// The revision meshproof was built from (`crate::git_revision`): a commit, `<commit>-dirty`,
    /// or `unknown`; written by every meshproof since format 1.1's revision fix, `null` only in
    /// bundles written before.
    pub git_revision: Option<String>,
    /// `nix run github:…/<rev>` that reproduces this binary, when built by the flake.
    pub flake_ref: Option<String>,
}

impl Tool {
    /// This meshproof, built from `git_revision` (the caller knows it: build script, environment),
    /// reproducible with `flake_ref` when built by the flake.
    pub fn new(git_revision: String, flake_ref: Option<String>) -> Tool {
        Tool {
            name: "meshproof".into(),
            version: crate::TOOL_VERSION.into(),
            git_revision: Some(git_revision),
            flake_ref,
        }
    }
}

impl Default for Tool {
    /// A writer that does not know its revision says so (`unknown`), never leaves it out.
    fn default() -> Tool {
        Tool::new(crate::UNKNOWN_REVISION.into(), None)
    }
}

/// How a run ended. Only `complete` runs make statements about every case they planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Every planned case ran to a judgement (`passed` or `failed`), and there was at least one.
    Complete,
    /// The run reached its end, but a case did not finish (status `error` or `not-run`: a harness
    /// error, an inconclusive outcome), or it had no cases. Since format 1.1.
    Incomplete,
    /// Interrupted (Ctrl-C, SIGTERM); cases that never started are `not-run`.
    Aborted,
    /// The infrastructure failed outside a case (cluster, image, mesh install, teardown).
    InfrastructureFailed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Complete => "complete",
            RunStatus::Incomplete => "incomplete",
            RunStatus::Aborted => "aborted",
            RunStatus::InfrastructureFailed => "infrastructure-failed",
        }
    }

    /// The status a run with these verdicts has: `aborted` and `infrastructure-failed` stay
    /// (the runner knows why it stopped); otherwise `complete` exactly when there is at least one
    /// case and every case finished, else `incomplete`.
    pub fn given(self, verdicts: &crate::verdict::Verdicts) -> RunStatus {
        match self {
            RunStatus::Aborted | RunStatus::InfrastructureFailed => self,
            RunStatus::Complete | RunStatus::Incomplete => {
                if verdicts.cases.is_empty() || !verdicts.unfinished().is_empty() {
                    RunStatus::Incomplete
                } else {
                    RunStatus::Complete
                }
            }
        }
    }

    /// Why a run with this status and these verdicts is not complete (`None` when it is).
    pub fn why_not_complete(self, verdicts: &crate::verdict::Verdicts) -> Option<String> {
        if self == RunStatus::Complete && self.given(verdicts) == RunStatus::Complete {
            return None;
        }
        let unfinished = verdicts.unfinished();
        let mut why = format!("run status {}", self.as_str());
        if verdicts.cases.is_empty() {
            why.push_str(": no case was judged");
        } else if !unfinished.is_empty() {
            why.push_str(&format!(
                ": {} of {} case(s) did not finish ({})",
                unfinished.len(),
                verdicts.cases.len(),
                unfinished
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.status.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Some(why)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a re-judged bundle came from (`bundle pack` of an unpacked, possibly edited bundle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejudged {
    /// Run id of the original bundle.
    pub run_id: String,
    /// sha256 of the original bundle file; `None` when pack could not know it (the directory
    /// holds an unpacked bundle's manifest but no `bundle unpack` marker, and no `--from`).
    pub bundle_sha256: Option<String>,
    /// Files that differ from the original's `SHA256SUMS` (edited, added or removed), sorted;
    /// empty when the original's list was available and nothing changed. Generated files
    /// (verdicts, reports, manifest) are not compared.
    pub changed: Vec<String>,
    /// Whether `changed` could be computed (the original's `SHA256SUMS` was available).
    pub compared: bool,
}

impl Rejudged {
    /// One line for `verify` and `show`.
    pub fn describe(&self) -> String {
        let sha = self
            .bundle_sha256
            .as_deref()
            .map(|s| format!("bundle sha256 {s}"))
            .unwrap_or_else(|| "bundle sha256 unknown".into());
        let changed = if !self.compared {
            "changes unknown (the original's SHA256SUMS was not available)".to_string()
        } else if self.changed.is_empty() {
            "no recorded file changed".to_string()
        } else {
            format!("changed: {}", self.changed.join(", "))
        };
        format!("re-judged from run {} ({sha}); {changed}", self.run_id)
    }
}

/// What the runner knows about the run; the only place with wall-clock times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: String,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: String,
    #[serde(default)]
    pub scoring: Scoring,
    /// Selectors the run resolved (`cluster`, `mesh`, `workload`, `suite`, `only`).
    #[serde(default)]
    pub selection: RunSelection,
    /// Run id of the bundle this one re-ran (`rerun --failed`, `reproduce`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Everything else the runner recorded (phase timings, cluster mode, ...).
    #[serde(flatten)]
    pub extra: RunExtras,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: FormatVersion,
    pub tool: Tool,
    pub run: RunInfo,
    /// sha256 of every file under `inputs/`.
    pub inputs: BTreeMap<String, String>,
    /// Set by `bundle pack` when the run directory came from another bundle: these verdicts are
    /// a re-judgement, not what the run itself recorded. Since format 1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejudged_from: Option<Rejudged>,
}

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("manifest serializes");
        out.push(b'\n');
        out
    }
}

/// Reader limits against hostile archives (documented in `docs/specs.md`, "Limits").
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest single file.
    pub max_file: u64,
    /// Largest sum of all files (decompression bombs).
    pub max_total: u64,
    pub max_entries: u64,
    /// Largest sum of the entries' path names (each at most 4096 bytes and 32 segments).
    pub max_path_bytes: u64,
    /// Largest file read into memory (SHA256SUMS, manifest, verdicts, observations, suite).
    pub max_parsed_file: u64,
    /// Largest sum of files read into memory.
    pub max_parsed_total: u64,
    /// Most decompressed bytes per compressed byte read, once past `ratio_floor` (real bundles
    /// compress about 6:1; zeros reach about 32,000:1): bounds the time a small file can cost.
    pub max_ratio: u64,
    /// Decompressed bytes always allowed, whatever the ratio.
    pub ratio_floor: u64,
    /// Largest YAML input a reader parses (`inputs/suite/…`, `inputs/mesh.yaml`).
    pub max_yaml_file: u64,
    /// Largest sum of the YAML inputs a reader parses.
    pub max_yaml_total: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file: 8 << 30,
            max_total: 64 << 30,
            max_entries: 100_000,
            max_path_bytes: 16 << 20,
            max_parsed_file: 64 << 20,
            max_parsed_total: 128 << 20,
            max_ratio: 1000,
            ratio_floor: 1 << 30,
            max_yaml_file: 4 << 20,
            max_yaml_total: 16 << 20,
        }
    }
}

/// Errors of the bundle layer.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unsafe archive entry `{entry}`: {reason}")]
    Unsafe { entry: String, reason: String },
    #[error("archive entry `{entry}` exceeds a limit: {reason}")]
    Limit { entry: String, reason: String },
    #[error("{file}: {reason}")]
    Integrity { file: String, reason: String },
    #[error(transparent)]
    Format(#[from] FormatIncompatible),
    #[error("{file}: {reason}")]
    BadInput { file: String, reason: String },
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
}

impl BundleError {
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        BundleError::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// Parse `observations/*.json` bytes, naming the file and line on error.
pub fn parse_observation(
    file: &str,
    bytes: &[u8],
) -> Result<crate::observation::CaseObservation, BundleError> {
    json::shape(file, bytes)?;
    let obs: crate::observation::CaseObservation =
        serde_json::from_slice(bytes).map_err(|e| BundleError::BadInput {
            file: format!("{file}:{}", e.line()),
            reason: e.to_string(),
        })?;
    if obs.format != crate::observation::OBSERVATION_FORMAT {
        return Err(BundleError::BadInput {
            file: file.to_string(),
            reason: format!(
                "observation format {} is not supported (this meshproof reads format {}; format \
                 1 predates outcome classes: re-verify with the meshproof that wrote the bundle, \
                 named in manifest.json `tool`)",
                obs.format,
                crate::observation::OBSERVATION_FORMAT
            ),
        });
    }
    let stem = file
        .rsplit('/')
        .next()
        .unwrap_or(file)
        .trim_end_matches(".json");
    if obs.case != stem {
        return Err(BundleError::BadInput {
            file: file.to_string(),
            reason: format!("holds case `{}`, but the file is named `{stem}`", obs.case),
        });
    }
    Ok(obs)
}

/// A bundle error that names `bundle` (the file the user passed), so `diff A B` and every other
/// command say which archive was corrupt or unsafe instead of "(archive)".
pub fn naming_bundle(bundle: &std::path::Path) -> impl Fn(BundleError) -> BundleError + '_ {
    move |e| {
        let name = |inner: &str| match inner {
            "" | "(archive)" | "bundle" => bundle.display().to_string(),
            other if other.starts_with(&bundle.display().to_string()) => other.to_string(),
            other => format!("{}: {other}", bundle.display()),
        };
        match e {
            BundleError::Io { path, source } => BundleError::Io {
                path: name(&path),
                source,
            },
            BundleError::Unsafe { entry, reason } => BundleError::Unsafe {
                entry: name(&entry),
                reason,
            },
            BundleError::Limit { entry, reason } => BundleError::Limit {
                entry: name(&entry),
                reason,
            },
            BundleError::Integrity { file, reason } => BundleError::Integrity {
                file: name(&file),
                reason,
            },
            BundleError::BadInput { file, reason } => BundleError::BadInput {
                file: name(&file),
                reason,
            },
            other => other,
        }
    }
}
