//! The kind driver: version checks against a cluster pin's range, deterministic rendering of
//! the kind `Cluster` config, `kind create/delete cluster` against a scratch kubeconfig, and a
//! record of every command line run (for the bundle).
//!
//! The user's kubeconfig is never touched: every invocation runs with `KUBECONFIG` set to the
//! scratch file, and `create`/`delete` also pass `--kubeconfig <scratch>` (both flags exist at
//! kind v0.11.1 and v0.32.0, `pkg/cmd/kind/{create,delete}/cluster`). kind writes the cluster's
//! credentials there and takes its `<file>.lock` next to it, so a Ctrl-C during create cannot
//! leave a lock on `~/.kube/config`.
//!
//! `kind create cluster --wait` is not a readiness check: kind's `waitforready` action (v0.11.1
//! and v0.32.0, `pkg/cluster/internal/create/actions/waitforready`) only logs
//! `WARNING: Timed out waiting for Ready` and returns success, and it looks at control-plane
//! nodes only. [`KindCli::create`] returns such warnings; the caller waits through the API.
//!
//! The `kind` binary is run with `std::process` (blocking; from async code call it inside
//! `tokio::task::spawn_blocking`). Its stdout/stderr are captured, never inherited.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::guard::{Teardown, TeardownError};
use crate::CLUSTER_PREFIX;

/// `apiVersion` of the kind cluster config rendered by [`render_config`].
pub const KIND_CONFIG_API_VERSION: &str = "kind.x-k8s.io/v1alpha4";
/// Default node image of kind v0.32.0 (source: kubernetes-sigs/kind
/// `pkg/apis/config/defaults/image.go` at tag v0.32.0).
pub const DEFAULT_NODE_IMAGE: &str =
    "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";
/// How many characters of the run id go into a cluster name.
pub const SHORT_RUN_ID_LEN: usize = 8;
/// Keys of the rendered config that [`KindConfigInput::extra`] may not set.
pub const RESERVED_CONFIG_KEYS: &[&str] = &["apiVersion", "kind", "name", "nodes"];

/// One command run by [`KindCli`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandRecord {
    /// The exact command line, binary first.
    pub argv: Vec<String>,
    /// Exit code (`None`: killed by a signal or could not start).
    pub exit_code: Option<i32>,
    /// Wall-clock duration in milliseconds.
    pub duration_ms: u64,
}

/// Parsed `kind version` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindVersion {
    /// The version, e.g. `0.32.0`.
    pub version: semver::Version,
    /// The whole line printed by `kind version`.
    pub raw: String,
}

/// What the bundle records about a run's cluster (`resolved/`): the kind version, the node
/// image by digest, the node containers and every kind command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterRecord {
    /// Cluster name.
    pub name: String,
    /// Installed kind.
    pub kind_version: KindVersion,
    /// Node image reference, pinned by digest.
    pub node_image: String,
    /// Node containers (ids, image ids, roles), sorted by name.
    pub nodes: Vec<crate::nodes::Node>,
    /// kind command lines run, in order.
    pub commands: Vec<CommandRecord>,
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// Cluster name (see [`cluster_name`]).
    pub name: String,
    /// Rendered kind config file (see [`render_config`]).
    pub config_path: PathBuf,
    /// `--wait`: how long kind waits for the control plane to be ready.
    pub wait: Duration,
    /// `--retain`: keep the nodes when creation fails, so their logs can be exported (the
    /// guard deletes them afterwards).
    pub retain: bool,
}

/// Where kind writes the cluster's kubeconfig: a file in a private (0700) directory that only
/// this run uses — temporary (deleted when dropped) or, for a kept cluster, a stable path the
/// user is told about. Never put it in a bundle.
#[derive(Debug)]
pub struct ScratchKubeconfig {
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl ScratchKubeconfig {
    /// File name inside the scratch directory.
    pub const FILE: &'static str = "kubeconfig";

    /// A fresh private temporary directory, removed (with the kubeconfig and kind's lock file)
    /// when this is dropped.
    pub fn temporary() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("meshproof-kind-")
            .tempdir()?;
        Ok(Self {
            path: dir.path().join(Self::FILE),
            _dir: Some(dir),
        })
    }

    /// A kubeconfig that outlives the run (a kept cluster) at `path`; its directory is created
    /// private (0700) when missing.
    pub fn persistent(path: &Path) -> std::io::Result<Self> {
        if let Some(parent) = path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            _dir: None,
        })
    }

    /// The file kind writes (it may not exist before `create`).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Context name kind gives cluster `name` in a kubeconfig.
pub fn context_name(name: &str) -> String {
    format!("kind-{name}")
}

/// What `kind create cluster` said besides succeeding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CreateOutcome {
    /// Lines of kind's output that carry `WARNING` (e.g. kind's
    /// `WARNING: Timed out waiting for Ready`), trimmed.
    pub warnings: Vec<String>,
}

/// Whether kind's output says its own `--wait` ran out (kind still exits 0 then).
pub fn timed_out_waiting(outcome: &CreateOutcome) -> bool {
    outcome
        .warnings
        .iter()
        .any(|w| w.contains("Timed out waiting for Ready"))
}

/// Running `kind` failed.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    /// The binary is not there.
    #[error("kind binary `{binary}` not found: {source} — install kind (a release matching the cluster pin's kind version range) and put it on PATH")]
    NotFound {
        /// Binary as given (`kind` = looked up on PATH).
        binary: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The binary could not be started for another reason (permissions, ...).
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// Command line.
        command: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// kind ran and failed.
    #[error("`{command}` failed (exit code {}): {stderr}", exit_code.map_or_else(|| "none: killed by a signal".to_string(), |c| c.to_string()))]
    Failed {
        /// Command line.
        command: String,
        /// Exit code.
        exit_code: Option<i32>,
        /// Last lines of stderr.
        stderr: String,
    },
    /// `kind version` printed something unexpected.
    #[error("cannot parse the output of `{command}`: {output:?} (expected e.g. `kind v0.32.0 go1.24.2 linux/amd64`)")]
    UnparsableVersion {
        /// Command line.
        command: String,
        /// What it printed.
        output: String,
    },
    /// kind reported success but left no kubeconfig in the scratch file.
    #[error("`{command}` succeeded but wrote no kubeconfig to {path}: {source}")]
    Kubeconfig {
        /// Command line.
        command: String,
        /// The scratch kubeconfig.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The installed kind does not satisfy the pin.
#[derive(Debug, thiserror::Error)]
pub enum KindVersionError {
    /// The range in the pin is not a valid semver requirement.
    #[error("invalid kind version range {range:?} in the cluster pin: {source} (write e.g. \">=0.32.0, <0.33.0\")")]
    BadRange {
        /// Range as written.
        range: String,
        /// Underlying error.
        #[source]
        source: semver::Error,
    },
    /// Installed version outside the range.
    #[error("kind v{installed} is installed but the cluster pin requires kind {range} — install a matching kind release (node images are only supported with the kind release they were built for)")]
    Refused {
        /// Installed version.
        installed: semver::Version,
        /// Required range.
        range: String,
    },
}

/// Rendering the kind config failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The node image has no `@sha256:<64 hex>` digest.
    #[error("node image {image:?} is not pinned by digest — use `<repo>:<tag>@sha256:<64 hex digits>` from the kind release notes")]
    ImageNotPinned {
        /// Image as given.
        image: String,
    },
    /// No control-plane node.
    #[error("a kind cluster needs at least one control-plane node")]
    NoControlPlane,
    /// The cluster name is not a valid kind cluster name.
    #[error("invalid cluster name {name:?}: use lowercase letters, digits and '-' (1-50 characters, starting with a letter or digit)")]
    BadName {
        /// Name as given.
        name: String,
    },
    /// `extra` is not a JSON object.
    #[error("extra kind config must be a mapping of Cluster fields, got {got}")]
    ExtraNotObject {
        /// JSON type found.
        got: &'static str,
    },
    /// `extra` sets a key meshproof renders itself.
    #[error("extra kind config may not set `{key}` (meshproof renders it from the cluster pin)")]
    ReservedKey {
        /// The key.
        key: String,
    },
    /// YAML serialisation failed.
    #[error("cannot render the kind config as YAML: {0}")]
    Yaml(String),
}

/// Making a cluster name failed.
#[derive(Debug, thiserror::Error)]
#[error("run id {run_id:?} has no letters or digits to build a cluster name from")]
pub struct ClusterNameError {
    /// Run id as given.
    pub run_id: String,
}

/// Role of a kind node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    /// `control-plane`
    ControlPlane,
    /// `worker`
    Worker,
}

impl NodeRole {
    /// kind's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ControlPlane => "control-plane",
            Self::Worker => "worker",
        }
    }
}

/// Inputs of [`render_config`].
#[derive(Debug, Clone, PartialEq)]
pub struct KindConfigInput {
    /// Cluster name.
    pub name: String,
    /// Node image, pinned by digest.
    pub node_image: String,
    /// Node roles in order; empty means one control-plane.
    pub roles: Vec<NodeRole>,
    /// Further `Cluster` fields (networking, featureGates, containerdConfigPatches, ...).
    pub extra: Option<Value>,
}

/// Cluster name for a run: `meshproof-` + the first [`SHORT_RUN_ID_LEN`] lowercase letters and
/// digits of the run id.
pub fn cluster_name(run_id: &str) -> Result<String, ClusterNameError> {
    let short: String = run_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(SHORT_RUN_ID_LEN)
        .collect();
    if short.is_empty() {
        return Err(ClusterNameError {
            run_id: run_id.to_string(),
        });
    }
    Ok(format!("{CLUSTER_PREFIX}{short}"))
}

/// Whether `image` is `<ref>@sha256:<64 lowercase hex>`.
pub fn is_digest_pinned(image: &str) -> bool {
    match image.rsplit_once("@sha256:") {
        Some((name, hex)) => {
            !name.is_empty()
                && !name.contains(char::is_whitespace)
                && hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        None => false,
    }
}

fn valid_cluster_name(name: &str) -> bool {
    (1..=50).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// Render the kind `Cluster` config (YAML) deterministically: `kind`, `apiVersion`, `name`,
/// `nodes` (each with `role` and the digest-pinned `image`), then the fields of `extra` with
/// keys sorted at every level.
pub fn render_config(input: &KindConfigInput) -> Result<String, RenderError> {
    if !valid_cluster_name(&input.name) {
        return Err(RenderError::BadName {
            name: input.name.clone(),
        });
    }
    if !is_digest_pinned(&input.node_image) {
        return Err(RenderError::ImageNotPinned {
            image: input.node_image.clone(),
        });
    }
    let roles = if input.roles.is_empty() {
        vec![NodeRole::ControlPlane]
    } else {
        input.roles.clone()
    };
    if !roles.contains(&NodeRole::ControlPlane) {
        return Err(RenderError::NoControlPlane);
    }
    let mut doc = Map::new();
    doc.insert("kind".into(), Value::from("Cluster"));
    doc.insert("apiVersion".into(), Value::from(KIND_CONFIG_API_VERSION));
    doc.insert("name".into(), Value::from(input.name.clone()));
    let nodes: Vec<Value> = roles
        .iter()
        .map(|r| {
            let mut n = Map::new();
            n.insert("role".into(), Value::from(r.as_str()));
            n.insert("image".into(), Value::from(input.node_image.clone()));
            Value::Object(n)
        })
        .collect();
    doc.insert("nodes".into(), Value::Array(nodes));
    match &input.extra {
        None | Some(Value::Null) => {}
        Some(Value::Object(extra)) => {
            let mut keys: Vec<&String> = extra.keys().collect();
            keys.sort();
            for key in keys {
                if RESERVED_CONFIG_KEYS.contains(&key.as_str()) {
                    return Err(RenderError::ReservedKey { key: key.clone() });
                }
                doc.insert(key.clone(), sorted(&extra[key]));
            }
        }
        Some(other) => {
            return Err(RenderError::ExtraNotObject {
                got: json_type(other),
            })
        }
    }
    // Long single-line strings (image references) stay plain scalars; multi-line strings
    // (containerd patches) become literal blocks.
    let mut opts = serde_saphyr::SerializerOptions::default();
    opts.folded_wrap_chars = 4096;
    serde_saphyr::to_string_with_options(&Value::Object(doc), opts)
        .map_err(|e| RenderError::Yaml(e.to_string()))
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Parse `kind version` output (`kind v0.32.0 go1.24.2 linux/amd64`).
pub fn parse_kind_version(output: &str) -> Option<semver::Version> {
    output
        .split_whitespace()
        .filter_map(|tok| tok.strip_prefix('v'))
        .find_map(|v| semver::Version::parse(v).ok())
}

/// Refuse an installed kind outside the pin's range (semver requirement such as
/// `">=0.32.0, <0.33.0"`).
pub fn check_kind_version(
    installed: &semver::Version,
    required_range: &str,
) -> Result<(), KindVersionError> {
    let req =
        semver::VersionReq::parse(required_range).map_err(|source| KindVersionError::BadRange {
            range: required_range.to_string(),
            source,
        })?;
    if req.matches(installed) {
        Ok(())
    } else {
        Err(KindVersionError::Refused {
            installed: installed.clone(),
            range: required_range.to_string(),
        })
    }
}

/// Drives the `kind` binary and records every command it runs.
#[derive(Debug)]
pub struct KindCli {
    binary: String,
    kubeconfig: PathBuf,
    env: Vec<(String, String)>,
    env_remove: Vec<String>,
    records: Mutex<Vec<CommandRecord>>,
}

struct Ran {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl KindCli {
    /// Run `binary` (a path, or a name looked up on PATH) with `kubeconfig` as its only
    /// kubeconfig (see the module documentation).
    pub fn new(binary: impl Into<String>, kubeconfig: &Path) -> Self {
        Self {
            binary: binary.into(),
            kubeconfig: kubeconfig.to_path_buf(),
            env: Vec::new(),
            env_remove: Vec::new(),
            records: Mutex::new(Vec::new()),
        }
    }

    /// Also set these variables for every invocation (e.g. `DOCKER_HOST` of the engine
    /// meshproof talks to, so kind's `docker` calls reach the same one) and remove those.
    #[must_use]
    pub fn with_env(mut self, set: Vec<(String, String)>, remove: Vec<String>) -> Self {
        self.env = set;
        self.env_remove = remove;
        self
    }

    /// The binary this driver runs.
    pub fn binary(&self) -> &str {
        &self.binary
    }

    /// The scratch kubeconfig every invocation uses.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Every command run so far, in order.
    pub fn records(&self) -> Vec<CommandRecord> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn run(&self, args: &[&str]) -> Result<Ran, KindError> {
        let mut argv = vec![self.binary.clone()];
        argv.extend(args.iter().map(|s| (*s).to_string()));
        let command = argv.join(" ");
        let start = Instant::now();
        let mut cmd = Command::new(&self.binary);
        cmd.args(args).env("KUBECONFIG", &self.kubeconfig);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        let result = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output();
        let duration_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let record = |exit_code| CommandRecord {
            argv: argv.clone(),
            exit_code,
            duration_ms,
        };
        let output = match result {
            Ok(o) => o,
            Err(source) => {
                self.push(record(None));
                return Err(if source.kind() == std::io::ErrorKind::NotFound {
                    KindError::NotFound {
                        binary: self.binary.clone(),
                        source,
                    }
                } else {
                    KindError::Spawn { command, source }
                });
            }
        };
        self.push(record(output.status.code()));
        if !output.status.success() {
            return Err(KindError::Failed {
                command,
                exit_code: output.status.code(),
                stderr: tail(&String::from_utf8_lossy(&output.stderr), 20),
            });
        }
        Ok(Ran {
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }

    fn push(&self, r: CommandRecord) {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(r);
    }

    /// `kind version` (no kubeconfig is involved; `KUBECONFIG` still points at the scratch).
    pub fn version(&self) -> Result<KindVersion, KindError> {
        let ran = self.run(&["version"])?;
        let raw = String::from_utf8_lossy(&ran.stdout).trim().to_string();
        match parse_kind_version(&raw) {
            Some(version) => Ok(KindVersion { version, raw }),
            None => Err(KindError::UnparsableVersion {
                command: format!("{} version", self.binary),
                output: raw,
            }),
        }
    }

    /// `kind create cluster --name N --config P --wait Ns --kubeconfig <scratch> [--retain]`.
    /// Success only means kind finished: see [`CreateOutcome::warnings`].
    pub fn create(&self, req: &CreateRequest) -> Result<CreateOutcome, KindError> {
        let config = req.config_path.to_string_lossy().into_owned();
        let wait = format!("{}s", req.wait.as_secs());
        let kubeconfig = self.kubeconfig.to_string_lossy().into_owned();
        let mut args = vec![
            "create",
            "cluster",
            "--name",
            &req.name,
            "--config",
            &config,
            "--wait",
            &wait,
            "--kubeconfig",
            &kubeconfig,
        ];
        if req.retain {
            args.push("--retain");
        }
        let ran = self.run(&args)?;
        let warnings = [&ran.stdout, &ran.stderr]
            .iter()
            .flat_map(|b| {
                String::from_utf8_lossy(b)
                    .lines()
                    .filter(|l| l.contains("WARNING"))
                    .map(|l| l.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        // kind wrote the cluster's kubeconfig there; make sure before anyone relies on it.
        std::fs::metadata(&self.kubeconfig).map_err(|source| KindError::Kubeconfig {
            command: format!("{} {}", self.binary, args.join(" ")),
            path: self.kubeconfig.clone(),
            source,
        })?;
        Ok(CreateOutcome { warnings })
    }

    /// `kind delete cluster --name N --kubeconfig <scratch>` (succeeds when the cluster does
    /// not exist).
    pub fn delete(&self, name: &str) -> Result<(), KindError> {
        let kubeconfig = self.kubeconfig.to_string_lossy().into_owned();
        self.run(&[
            "delete",
            "cluster",
            "--name",
            name,
            "--kubeconfig",
            &kubeconfig,
        ])
        .map(|_| ())
    }
}

/// `<binary> version`, for telling which kind a binary is before a cluster exists
/// (`KUBECONFIG` points at `/dev/null`: nothing is read or written).
pub fn probe_version(binary: &str) -> Result<KindVersion, KindError> {
    KindCli::new(binary, Path::new("/dev/null")).version()
}

impl Teardown for KindCli {
    fn delete_cluster(&self, cluster: &str) -> Result<(), TeardownError> {
        self.delete(cluster).map_err(|e| TeardownError {
            cluster: cluster.to_string(),
            cause: e.to_string(),
        })
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(roles: Vec<NodeRole>, extra: Option<Value>) -> KindConfigInput {
        KindConfigInput {
            name: "meshproof-abc12345".into(),
            node_image: DEFAULT_NODE_IMAGE.into(),
            roles,
            extra,
        }
    }

    #[test]
    fn render_default_single_control_plane() {
        insta::assert_snapshot!(render_config(&input(vec![], None)).unwrap());
    }

    #[test]
    fn render_with_workers_and_extra_sorted() {
        let extra = serde_json::json!({
            "networking": {"podSubnet": "10.244.0.0/16", "disableDefaultCNI": false, "apiServerAddress": "127.0.0.1"},
            "featureGates": {"SomeGate": true},
            "containerdConfigPatches": [
                "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"
            ]
        });
        let a = render_config(&input(
            vec![NodeRole::ControlPlane, NodeRole::Worker, NodeRole::Worker],
            Some(extra.clone()),
        ))
        .unwrap();
        // Same input, same bytes.
        let b = render_config(&input(
            vec![NodeRole::ControlPlane, NodeRole::Worker, NodeRole::Worker],
            Some(extra),
        ))
        .unwrap();
        assert_eq!(a, b);
        insta::assert_snapshot!(a);
    }

    #[test]
    fn rendered_yaml_reads_back_as_the_same_config() {
        let extra = serde_json::json!({
            "networking": {"disableDefaultCNI": true, "kubeProxyMode": "iptables"},
            "containerdConfigPatches": ["[plugins]\n  x = 1\n"]
        });
        let text = render_config(&input(
            vec![NodeRole::ControlPlane, NodeRole::Worker],
            Some(extra),
        ))
        .unwrap();
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back["kind"], "Cluster");
        assert_eq!(back["apiVersion"], KIND_CONFIG_API_VERSION);
        assert_eq!(back["nodes"][1]["role"], "worker");
        assert_eq!(back["nodes"][1]["image"], DEFAULT_NODE_IMAGE);
        assert_eq!(back["networking"]["disableDefaultCNI"], true);
        assert_eq!(back["containerdConfigPatches"][0], "[plugins]\n  x = 1\n");
    }

    #[test]
    fn render_refuses_tag_only_and_bad_digest() {
        for image in [
            "kindest/node:v1.36.1",
            "kindest/node:v1.36.1@sha256:abc",
            "kindest/node@sha256:3489C7674813BA5D8B1A9977BAEA8A6E553784DAB7B84759D1014DBD78F7EBD5",
            "@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5",
        ] {
            let mut i = input(vec![], None);
            i.node_image = image.into();
            let err = render_config(&i).unwrap_err();
            assert!(
                matches!(err, RenderError::ImageNotPinned { .. }),
                "{image}: {err}"
            );
            assert!(err.to_string().contains("not pinned by digest"));
        }
    }

    #[test]
    fn render_refuses_reserved_keys_non_objects_and_no_control_plane() {
        let err =
            render_config(&input(vec![], Some(serde_json::json!({"nodes": []})))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "extra kind config may not set `nodes` (meshproof renders it from the cluster pin)"
        );
        let err = render_config(&input(vec![], Some(serde_json::json!(["x"])))).unwrap_err();
        assert!(matches!(err, RenderError::ExtraNotObject { got: "a list" }));
        let err = render_config(&input(vec![NodeRole::Worker], None)).unwrap_err();
        assert!(matches!(err, RenderError::NoControlPlane));
        let mut i = input(vec![], None);
        i.name = "Bad_Name".into();
        assert!(matches!(
            render_config(&i).unwrap_err(),
            RenderError::BadName { .. }
        ));
    }

    #[test]
    fn cluster_names() {
        assert_eq!(
            cluster_name("01J9Z-K3M4_P5Q6R7").unwrap(),
            "meshproof-01j9zk3m"
        );
        assert_eq!(cluster_name("ab").unwrap(), "meshproof-ab");
        assert!(cluster_name("--__").is_err());
        assert!(valid_cluster_name(
            &cluster_name("ZZZZZZZZZZZZZZZZ").unwrap()
        ));
    }

    #[test]
    fn kind_version_parsing() {
        let v = parse_kind_version("kind v0.32.0 go1.24.2 linux/amd64").unwrap();
        assert_eq!(v, semver::Version::new(0, 32, 0));
        let v = parse_kind_version("kind v0.33.0-alpha+fed26882 go1.25 linux/arm64").unwrap();
        assert_eq!(v.major, 0);
        assert_eq!(v.minor, 33);
        assert!(!v.pre.is_empty());
        assert!(parse_kind_version("kind version unknown").is_none());
    }

    #[test]
    fn kind_version_ranges() {
        let range = ">=0.32.0, <0.33.0";
        check_kind_version(&semver::Version::new(0, 32, 0), range).unwrap();
        check_kind_version(&semver::Version::new(0, 32, 9), range).unwrap();
        let err = check_kind_version(&semver::Version::new(0, 31, 0), range).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kind v0.31.0 is installed but the cluster pin requires kind >=0.32.0, <0.33.0 — install a matching kind release (node images are only supported with the kind release they were built for)"
        );
        assert!(check_kind_version(&semver::Version::new(0, 33, 0), range).is_err());
        // A pre-release of the next minor is not in the range.
        let pre = semver::Version::parse("0.33.0-alpha").unwrap();
        assert!(check_kind_version(&pre, range).is_err());
        let err = check_kind_version(&semver::Version::new(0, 32, 0), "0.32 or so").unwrap_err();
        assert!(matches!(err, KindVersionError::BadRange { .. }), "{err}");
        assert!(err
            .to_string()
            .starts_with("invalid kind version range \"0.32 or so\""));
    }

    #[test]
    fn missing_kind_binary_is_named_with_root_cause() {
        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("no-such-kind");
        let kind = KindCli::new(bogus.to_string_lossy(), Path::new("/dev/null"));
        let err = kind.version().unwrap_err();
        assert!(matches!(err, KindError::NotFound { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "kind binary `{}` not found: No such file or directory (os error 2)",
                bogus.display()
            )),
            "{msg}"
        );
        assert!(msg.contains("install kind"), "{msg}");
        // The attempt is recorded.
        let rec = kind.records();
        assert_eq!(rec.len(), 1);
        assert_eq!(
            rec[0].argv,
            vec![bogus.to_string_lossy().into_owned(), "version".into()]
        );
        assert_eq!(rec[0].exit_code, None);
    }

    /// A shell script standing in for kind: logs `KUBECONFIG` and its arguments, prints a
    /// version, writes a kubeconfig where `--kubeconfig` says, prints kind's timeout warning and
    /// exits 0 for `meshproof-slow`, fails `create` for `meshproof-bad`.
    const FAKE_KIND: &str = r#"#!/bin/sh
echo "KUBECONFIG=$KUBECONFIG DOCKER_HOST=$DOCKER_HOST DOCKER_CONTEXT=${DOCKER_CONTEXT:-unset} $*" >> "$(dirname "$0")/calls.log"
case "$1" in
  version) echo 'kind v0.32.0 go1.24.2 linux/amd64';;
  create)
    name="$4"; kc=""
    while [ $# -gt 0 ]; do [ "$1" = --kubeconfig ] && kc="$2"; shift; done
    [ "$name" = meshproof-bad ] && { echo 'ERROR: failed to create cluster: boom' >&2; exit 1; }
    echo 'apiVersion: v1' > "$kc"
    [ "$name" = meshproof-slow ] && echo ' • WARNING: Timed out waiting for Ready ⚠️' >&2
    exit 0;;
  *) exit 0;;
esac
"#;

    fn fake_kind(dir: &Path) -> PathBuf {
        let bin = dir.join("kind");
        std::fs::write(&bin, FAKE_KIND).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    #[test]
    fn every_kind_invocation_uses_the_scratch_kubeconfig_and_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_kind(dir.path());
        let scratch = ScratchKubeconfig::temporary().unwrap();
        let kind = KindCli::new(bin.to_string_lossy(), scratch.path()).with_env(
            vec![("DOCKER_HOST".into(), "unix:///run/colima.sock".into())],
            vec!["DOCKER_CONTEXT".into()],
        );
        assert_eq!(
            kind.version().unwrap().version,
            semver::Version::new(0, 32, 0)
        );
        let req = CreateRequest {
            name: "meshproof-good".into(),
            config_path: PathBuf::from("/tmp/kind.yaml"),
            wait: Duration::from_secs(300),
            retain: true,
        };
        assert_eq!(kind.create(&req).unwrap(), CreateOutcome::default());
        assert_eq!(
            std::fs::read_to_string(scratch.path()).unwrap(),
            "apiVersion: v1\n"
        );
        let slow = kind
            .create(&CreateRequest {
                name: "meshproof-slow".into(),
                ..req.clone()
            })
            .unwrap();
        assert!(timed_out_waiting(&slow), "{slow:?}");
        let err = kind
            .create(&CreateRequest {
                name: "meshproof-bad".into(),
                ..req.clone()
            })
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("failed (exit code 1): ERROR: failed to create cluster: boom"),
            "{err}"
        );
        kind.delete_cluster("meshproof-good").unwrap();
        let kc = scratch.path().display().to_string();
        let argvs: Vec<String> = kind
            .records()
            .iter()
            .map(|r| r.argv[1..].join(" "))
            .collect();
        assert_eq!(
            argvs,
            vec![
                "version".to_string(),
                format!("create cluster --name meshproof-good --config /tmp/kind.yaml --wait 300s --kubeconfig {kc} --retain"),
                format!("create cluster --name meshproof-slow --config /tmp/kind.yaml --wait 300s --kubeconfig {kc} --retain"),
                format!("create cluster --name meshproof-bad --config /tmp/kind.yaml --wait 300s --kubeconfig {kc} --retain"),
                format!("delete cluster --name meshproof-good --kubeconfig {kc}"),
            ]
        );
        assert_eq!(kind.records()[3].exit_code, Some(1));
        // What the binary saw: every call with KUBECONFIG at the scratch file and the
        // engine's address, the Docker context variable removed.
        let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
        assert_eq!(calls.lines().count(), 5, "{calls}");
        for line in calls.lines() {
            assert!(
                line.starts_with(&format!(
                    "KUBECONFIG={kc} DOCKER_HOST=unix:///run/colima.sock DOCKER_CONTEXT=unset "
                )),
                "{line}"
            );
        }
    }

    #[test]
    fn a_create_that_writes_no_kubeconfig_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("kind");
        std::fs::write(&bin, "#!/bin/sh\nexit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let scratch = ScratchKubeconfig::temporary().unwrap();
        let kind = KindCli::new(bin.to_string_lossy(), scratch.path());
        let err = kind
            .create(&CreateRequest {
                name: "meshproof-x".into(),
                config_path: PathBuf::from("/tmp/kind.yaml"),
                wait: Duration::from_secs(1),
                retain: false,
            })
            .unwrap_err();
        assert!(matches!(err, KindError::Kubeconfig { .. }), "{err}");
        assert!(err.to_string().contains("wrote no kubeconfig"), "{err}");
    }
}
