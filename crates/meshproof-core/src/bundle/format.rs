//! The bundle format's versions and typed records: which bundles this build can read
//! ([`FormatVersion`], after nextest's `check_readable_by`), which renderings a bundle's
//! `report/` files are ([`REPORT_FORMAT`], [`RenderReports`]), what the runner records in
//! `manifest.json` `run` ([`RunExtras`]) and under `resolved/` ([`Resolved`]).

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::Manifest;
use crate::verdict::Verdicts;

/// Format version written by this meshproof; readers refuse other majors.
pub const FORMAT_MAJOR: u32 = 1;
/// 1: run status `incomplete`; `rejudged_from` in the manifest. 2: observations format 2 and
/// verdicts format 3 (outcome classes judged with the mesh pin's signatures); bundles of 1.0 and
/// 1.1 are read, and `verify` names their older observation format instead of re-judging them.
pub const FORMAT_MINOR: u32 = 2;

/// The renderings of `report/` (JUnit, Markdown summary, Meshery export) this build writes.
/// Their bytes are a function of the verdicts, the manifest, the mesh pin and this number: a
/// change to what a renderer writes bumps it together with [`FORMAT_MINOR`], and
/// [`FormatVersion::report_format`] learns which bundle minors hold which report format. A
/// bundle of an older report format keeps its reports as they were rendered (`verify` checks
/// them against `SHA256SUMS` and says it did not re-render them); it is not failed for being old.
///
/// 1: the renderings of every meshproof up to bundle format 1.2 (they were not versioned
/// before; such a bundle whose meshproof rendered differently fails the comparison, naming it).
pub const REPORT_FORMAT: u32 = 1;

/// `{major, minor}` of a bundle's format, as `manifest.json` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FormatVersion {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// How a readable bundle's format relates to the reader's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readable {
    /// The format the reader writes.
    Current,
    /// An older minor of the reader's major: read as it was written (fields added since are
    /// absent and read as such).
    OlderMinor,
    /// A newer minor of the reader's major: a minor only adds, so every field the reader knows
    /// means what it knows; what it does not know it ignores. Its reports may be of a newer
    /// report format (`verify` says so when they differ).
    NewerMinor,
}

/// Why a bundle cannot be read by this build: its major differs. Both versions are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatIncompatible {
    #[error(
        "unsupported bundle format {bundle} (this meshproof reads {}.x): the bundle is of a newer \
         major format; read it with a meshproof that reads format {}.x",
        reader.major,
        bundle.major
    )]
    NewerMajor {
        bundle: FormatVersion,
        reader: FormatVersion,
    },
    #[error(
        "unsupported bundle format {bundle} (this meshproof reads {}.x): the bundle is of an older \
         major format; read it with the meshproof that wrote it (manifest.json `tool`)",
        reader.major
    )]
    OlderMajor {
        bundle: FormatVersion,
        reader: FormatVersion,
    },
}

impl FormatVersion {
    /// The format this build writes.
    pub const CURRENT: FormatVersion = FormatVersion {
        major: FORMAT_MAJOR,
        minor: FORMAT_MINOR,
    };

    /// Whether a bundle of this format can be read by a meshproof that writes `reader`: the
    /// same major is readable whatever its minor (older minors as written, newer ones for what
    /// the reader knows); another major, older or newer, is refused naming both versions.
    pub fn check_readable_by(self, reader: FormatVersion) -> Result<Readable, FormatIncompatible> {
        use std::cmp::Ordering;
        match (self.major.cmp(&reader.major), self.minor.cmp(&reader.minor)) {
            (Ordering::Greater, _) => Err(FormatIncompatible::NewerMajor {
                bundle: self,
                reader,
            }),
            (Ordering::Less, _) => Err(FormatIncompatible::OlderMajor {
                bundle: self,
                reader,
            }),
            (Ordering::Equal, Ordering::Equal) => Ok(Readable::Current),
            (Ordering::Equal, Ordering::Less) => Ok(Readable::OlderMinor),
            (Ordering::Equal, Ordering::Greater) => Ok(Readable::NewerMinor),
        }
    }

    /// The report format of a bundle of this format, when this build knows it (`None`: a
    /// newer minor or another major).
    pub fn report_format(self) -> Option<u32> {
        match (self.major, self.minor) {
            (1, 0..=2) => Some(1),
            _ => None,
        }
    }
}

/// The `report/` files of a bundle, rendered from its verdicts and manifest. Implemented above
/// the bundle layer (`crate::report::BundleReports`): `bundle` writes and checks these files
/// without knowing how they are rendered.
pub trait RenderReports {
    /// The report format of these renderings ([`REPORT_FORMAT`] for this build's).
    fn format(&self) -> u32;
    /// Path under `report/` → bytes. Meshery's export exists only for complete runs.
    fn render(
        &self,
        verdicts: &Verdicts,
        manifest: &Manifest,
        mesh_pin: Option<&[u8]>,
    ) -> BTreeMap<String, Vec<u8>>;
}

/// A timed phase of a run: what progress lines and JSON events name, and what the manifest
/// records. Written as its name (`preflight`, `cluster`, `workload image`, `mesh`,
/// `case <name>`, `evidence`, `teardown`), the same strings bundles have always carried.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The machine is checked (tools, Docker, the kind binary); nothing written yet.
    Preflight,
    /// The kind cluster is created, or the external one connected.
    Cluster,
    /// The workload image is loaded into the nodes (or named for an external cluster).
    WorkloadImage,
    /// The mesh is installed (or the installed one recorded).
    Mesh,
    /// One case of the suite.
    Case(String),
    /// Evidence of the mesh and the nodes, before anything is deleted.
    Evidence,
    /// The cluster is deleted (or kept).
    Teardown,
    /// A name this build does not know (a bundle from another build, or hostile input): kept
    /// as written.
    Other(String),
}

impl Phase {
    /// The phase's recorded name.
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Phase::Preflight => Cow::Borrowed("preflight"),
            Phase::Cluster => Cow::Borrowed("cluster"),
            Phase::WorkloadImage => Cow::Borrowed("workload image"),
            Phase::Mesh => Cow::Borrowed("mesh"),
            Phase::Case(name) => Cow::Owned(format!("case {name}")),
            Phase::Evidence => Cow::Borrowed("evidence"),
            Phase::Teardown => Cow::Borrowed("teardown"),
            Phase::Other(name) => Cow::Borrowed(name),
        }
    }

    /// The phase a recorded name stands for; every string is some phase (unknown ones are
    /// [`Phase::Other`]), and `Phase::parse(&p.name()) == p`.
    pub fn parse(name: &str) -> Phase {
        match name {
            "preflight" => Phase::Preflight,
            "cluster" => Phase::Cluster,
            "workload image" => Phase::WorkloadImage,
            "mesh" => Phase::Mesh,
            "evidence" => Phase::Evidence,
            "teardown" => Phase::Teardown,
            other => match other.strip_prefix("case ") {
                Some(case) => Phase::Case(case.to_string()),
                None => Phase::Other(other.to_string()),
            },
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Phase {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Phase {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Phase::parse(&name))
    }
}

/// One phase of a run, in the order the phases started (`run.phases`, shown by `crate::timing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseTiming {
    pub phase: Phase,
    /// Wall time from the phase's start to its end.
    pub duration_ms: u64,
    /// Whether the phase succeeded.
    pub ok: bool,
}

/// Where a run's cluster came from (`run.cluster_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterMode {
    /// An ephemeral kind cluster of the pinned cluster spec.
    Kind,
    /// An existing cluster (`run --kubeconfig`): recorded as found, nothing about it pinned.
    External,
}

/// The external cluster a run used (`run.external_cluster`): what reports name instead of the
/// kind pin, which only a reproduction would use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalCluster {
    /// The kubeconfig context.
    pub context: String,
    /// The API server's version (`null` when it was not recorded).
    pub server_version: Option<String>,
}

/// What the runner records in `manifest.json` `run` besides the fields every run has. Flattened
/// into `run` with its keys in sorted order, as a map; every field is optional (hand-made run
/// directories and older bundles record fewer). Read from hostile bundles without failing: a
/// value of the wrong shape is kept as written in [`RunExtras::malformed`] (so a re-pack writes it
/// back unchanged) and named by the reader that needs it; keys this build does not know are
/// kept in [`RunExtras::other`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunExtras {
    /// `cluster_mode`.
    pub cluster_mode: Option<ClusterMode>,
    /// `external_cluster`: only for [`ClusterMode::External`].
    pub external_cluster: Option<ExternalCluster>,
    /// `failure`: the infrastructure error that ended the run early.
    pub failure: Option<String>,
    /// `force`: `true` when the plan was forced (`run --force`).
    pub force: Option<bool>,
    /// `forced`: why the cluster was outside the mesh pin's known Kubernetes versions.
    pub forced: Option<String>,
    /// `mesh_installed_by_user`: `run --mesh-installed`.
    pub mesh_installed_by_user: Option<bool>,
    /// `overrides`: what `reproduce`/`rerun` ran differently from the parent's inputs, and why.
    pub overrides: Option<BTreeMap<String, String>>,
    /// `phases`: the phases' wall times.
    pub phases: Option<Vec<PhaseTiming>>,
    /// `timeout_scale`: `run --timeout-scale`.
    pub timeout_scale: Option<f64>,
    /// Known keys whose value has another shape: the value as written and why it was not read.
    pub malformed: BTreeMap<String, (Value, String)>,
    /// Keys this build does not know, as written.
    pub other: BTreeMap<String, Value>,
}

/// `manifest.json` `run.selection`: the selectors the run resolved. Written as a map with its
/// keys in sorted order; every key is optional (hand-made run directories record fewer), and
/// keys this build does not know are kept as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSelection {
    /// Cluster pin name (`kind-v0.32.0`).
    pub cluster: Option<String>,
    /// Mesh pin id (`osm@1.2.4`).
    pub mesh: Option<String>,
    /// `--only` case names, comma-separated.
    pub only: Option<String>,
    /// Suite name (`smi`).
    pub suite: Option<String>,
    /// Workload name (`smi-apps`).
    pub workload: Option<String>,
    /// Keys this build does not know, as written.
    pub other: BTreeMap<String, String>,
}

impl RunSelection {
    /// Every recorded key and value, sorted by key (what `diff` compares).
    pub fn entries(&self) -> BTreeMap<&str, &str> {
        let known = [
            ("cluster", &self.cluster),
            ("mesh", &self.mesh),
            ("only", &self.only),
            ("suite", &self.suite),
            ("workload", &self.workload),
        ];
        let mut out: BTreeMap<&str, &str> = self
            .other
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for (k, v) in known {
            if let Some(v) = v {
                out.insert(k, v);
            }
        }
        out
    }

    /// The suite the run ran: `suite`, else the default suite (bundles that name none).
    pub fn suite_or_default(&self) -> &str {
        self.suite
            .as_deref()
            .unwrap_or(crate::spec::catalog::DEFAULT_SUITE)
    }

    fn from_map(map: BTreeMap<String, String>) -> RunSelection {
        let mut out = RunSelection::default();
        for (k, v) in map {
            match k.as_str() {
                "cluster" => out.cluster = Some(v),
                "mesh" => out.mesh = Some(v),
                "only" => out.only = Some(v),
                "suite" => out.suite = Some(v),
                "workload" => out.workload = Some(v),
                _ => {
                    out.other.insert(k, v);
                }
            }
        }
        out
    }
}

impl Serialize for RunSelection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.entries().serialize(s)
    }
}

impl<'de> Deserialize<'de> for RunSelection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, String>::deserialize(d).map(RunSelection::from_map)
    }
}

/// One value of [`RunExtras`] to serialize, borrowed.
enum ExtraValue<'a> {
    Mode(ClusterMode),
    External(&'a ExternalCluster),
    Text(&'a str),
    Flag(bool),
    Map(&'a BTreeMap<String, String>),
    Phases(&'a [PhaseTiming]),
    Number(f64),
    Raw(&'a Value),
}

impl Serialize for ExtraValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ExtraValue::Mode(v) => v.serialize(s),
            ExtraValue::External(v) => v.serialize(s),
            ExtraValue::Text(v) => v.serialize(s),
            ExtraValue::Flag(v) => v.serialize(s),
            ExtraValue::Map(v) => v.serialize(s),
            ExtraValue::Phases(v) => v.serialize(s),
            ExtraValue::Number(v) => v.serialize(s),
            ExtraValue::Raw(v) => v.serialize(s),
        }
    }
}

impl RunExtras {
    /// The keys of the typed fields, in sorted order.
    pub const KEYS: [&'static str; 9] = [
        "cluster_mode",
        "external_cluster",
        "failure",
        "force",
        "forced",
        "mesh_installed_by_user",
        "overrides",
        "phases",
        "timeout_scale",
    ];

    /// Every recorded key and value, sorted by key.
    fn entries(&self) -> Vec<(&str, ExtraValue<'_>)> {
        let known: [(&str, Option<ExtraValue<'_>>); 9] = [
            ("cluster_mode", self.cluster_mode.map(ExtraValue::Mode)),
            (
                "external_cluster",
                self.external_cluster.as_ref().map(ExtraValue::External),
            ),
            ("failure", self.failure.as_deref().map(ExtraValue::Text)),
            ("force", self.force.map(ExtraValue::Flag)),
            ("forced", self.forced.as_deref().map(ExtraValue::Text)),
            (
                "mesh_installed_by_user",
                self.mesh_installed_by_user.map(ExtraValue::Flag),
            ),
            ("overrides", self.overrides.as_ref().map(ExtraValue::Map)),
            ("phases", self.phases.as_deref().map(ExtraValue::Phases)),
            ("timeout_scale", self.timeout_scale.map(ExtraValue::Number)),
        ];
        let mut out: Vec<(&str, ExtraValue<'_>)> = known
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        let set: Vec<&str> = out.iter().map(|(k, _)| *k).collect();
        for (k, (v, _)) in &self.malformed {
            if !set.contains(&k.as_str()) {
                out.push((k, ExtraValue::Raw(v)));
            }
        }
        for (k, v) in &self.other {
            if !Self::KEYS.contains(&k.as_str()) {
                out.push((k, ExtraValue::Raw(v)));
            }
        }
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// Read the keys of `run` that are not [`super::RunInfo`]'s own fields.
    fn from_map(map: BTreeMap<String, Value>) -> RunExtras {
        let mut x = RunExtras::default();
        for (k, v) in map {
            let read = match k.as_str() {
                "cluster_mode" => typed(&v).map(|t| x.cluster_mode = Some(t)),
                "external_cluster" => typed(&v).map(|t| x.external_cluster = Some(t)),
                "failure" => typed(&v).map(|t| x.failure = Some(t)),
                "force" => typed(&v).map(|t| x.force = Some(t)),
                "forced" => typed(&v).map(|t| x.forced = Some(t)),
                "mesh_installed_by_user" => typed(&v).map(|t| x.mesh_installed_by_user = Some(t)),
                "overrides" => typed(&v).map(|t| x.overrides = Some(t)),
                "phases" => typed(&v).map(|t| x.phases = Some(t)),
                "timeout_scale" => typed(&v).map(|t| x.timeout_scale = Some(t)),
                _ => {
                    x.other.insert(k, v);
                    continue;
                }
            };
            if let Err(e) = read {
                x.malformed.insert(k, (v, e.to_string()));
            }
        }
        x
    }

    /// Why the recorded value of `key` could not be read (`None`: absent or read).
    pub fn malformed(&self, key: &str) -> Option<&str> {
        self.malformed.get(key).map(|(_, why)| why.as_str())
    }
}

/// A recorded value read as `T`; `null` is read as a value, not as an absent key.
fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, serde_json::Error> {
    T::deserialize(v)
}

impl Serialize for RunExtras {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries = self.entries();
        let mut map = s.serialize_map(Some(entries.len()))?;
        for (k, v) in &entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RunExtras {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, Value>::deserialize(d).map(RunExtras::from_map)
    }
}

/// `manifest.json` of a run directory, as the runner writes it: the `run` section alone
/// (`bundle pack` adds the format, the tool and the inputs' digests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    pub run: super::RunInfo,
}

impl RunManifest {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("run manifest serializes");
        out.push(b'\n');
        out
    }
}

/// `resolved/workload-image.json`: the workload image as loaded into the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadImage {
    /// Reference written into the manifests (`meshproof-probe:0.1.0`).
    pub reference: String,
    /// Image id / config digest (`sha256:…`).
    pub id: String,
}

/// `resolved/cluster.json`: the cluster as the run found it. Keys in sorted order; what a kind
/// cluster records and what an external one does differ (`nodes`, `note`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedCluster {
    /// Every kind command run, in order (kind clusters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<CommandRecord>>,
    /// The Docker engine the kind nodes run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_engine: Option<DockerEngine>,
    /// Whether the cluster was not created by meshproof (`run --kubeconfig`).
    #[serde(default)]
    pub external: bool,
    /// Which kind binary ran and why it was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind_binary: Option<String>,
    /// `kind version` (`0.32.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind_version: Option<String>,
    /// What `kind create cluster` warned about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind_warnings: Option<Vec<String>>,
    /// The API server's version (`v1.36.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_server: Option<String>,
    /// `meshproof-<id>` for kind clusters, the context name for external ones.
    #[serde(default)]
    pub name: String,
    /// `kindest/node:<tag>@sha256:<digest>` of the pin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<ClusterNodes>,
    /// What the record does not say (an external cluster: nothing about it is pinned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The nodes that were Ready when the cluster was up, sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_nodes: Option<Vec<String>>,
}

/// One command a run ran (`kind …`), as the cluster layer recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// The exact command line, binary first.
    pub argv: Vec<String>,
    /// Exit code (`None`: killed by a signal or could not start).
    pub exit_code: Option<i32>,
    /// Wall-clock duration in milliseconds.
    pub duration_ms: u64,
}

/// Which Docker engine a kind cluster ran on, and how meshproof found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerEngine {
    pub host: String,
    pub source: String,
}

/// The nodes of `resolved/cluster.json`: kind's node containers, or an external cluster's nodes
/// as their kubelets report them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClusterNodes {
    Kind(Vec<KindNode>),
    External(Vec<ExternalNode>),
}

/// A kind node container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindNode {
    /// Container name (`<cluster>-control-plane`).
    pub name: String,
    pub container_id: String,
    /// `control-plane`, `worker` (empty when the label was missing).
    pub role: String,
    /// Image id (`sha256:…`) the container runs.
    pub image_id: String,
}

/// A node of an external cluster, as its kubelet reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalNode {
    pub name: String,
    /// `v1.29.2`.
    pub kubelet_version: String,
    /// `containerd://1.7.13`.
    pub container_runtime_version: String,
    /// `linux`.
    pub operating_system: String,
    /// `amd64`.
    pub architecture: String,
    /// `Ubuntu 22.04.4 LTS`.
    pub os_image: String,
    /// `6.5.0-1016-azure`.
    pub kernel_version: String,
}

/// `resolved/mesh.json`: how the mesh was installed (charts, manifests, CLI commands, the lock,
/// the images pinned and left by tag) or, with `--mesh-installed`, what runs in its namespaces.
/// Keys in sorted order; each present only when the install method records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedMesh {
    /// Helm charts, in install order (`method: helm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charts: Option<Vec<ChartRecord>>,
    /// The mesh CLI and its render commands (`method: cli`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli: Option<CliRecord>,
    /// Containers running in the mesh namespaces (`--mesh-installed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<RunningContainer>>,
    /// What `helm template` was told about the cluster (`method: helm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_capabilities: Option<HelmCapabilities>,
    /// `true` with `--mesh-installed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_by_user: Option<bool>,
    /// sha256 of the lock file the install used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_sha256: Option<String>,
    /// Manifest files, in apply order (`method: manifests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests: Option<Vec<ManifestRecord>>,
    /// The mesh's namespaces (`--mesh-installed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    /// What the record does not say (`--mesh-installed` found no pod).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Image reference → the digest reference it was rewritten to (lock, or a parent run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_images: Option<PinnedImages>,
    /// The pin the user said is installed (`--mesh-installed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_pin: Option<String>,
    /// Image → image id of what runs (`--mesh-installed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_images: Option<BTreeMap<String, String>>,
    /// SMI API group → versions the cluster serves (`--mesh-installed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_smi: Option<BTreeMap<String, Vec<String>>>,
    /// Namespaces that could not be listed, with the API server's reason (`--mesh-installed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlisted: Option<BTreeMap<String, String>>,
    /// Image references left by tag (no digest known), in the order first met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpinned_images: Option<Vec<String>>,
    /// Version labels seen on the mesh's pods: label → every distinct value (`--mesh-installed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_labels: Option<BTreeMap<String, Vec<String>>>,
}

/// Image reference → the digest reference it was rewritten to, in the order the references
/// were first pinned (install step after install step, each step's in sorted order), as a JSON
/// object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinnedImages(Vec<(String, String)>);

impl PinnedImages {
    /// Record that `reference` was rewritten to `to` (a reference pinned again keeps its place).
    pub fn insert(&mut self, reference: &str, to: &str) {
        match self.0.iter_mut().find(|(r, _)| r == reference) {
            Some(e) => e.1 = to.to_string(),
            None => self.0.push((reference.to_string(), to.to_string())),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(r, t)| (r, t))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for PinnedImages {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (r, t) in &self.0 {
            map.serialize_entry(r, t)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PinnedImages {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = PinnedImages;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of image references")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<PinnedImages, A::Error> {
                let mut out = PinnedImages::default();
                while let Some((r, t)) = m.next_entry::<String, String>()? {
                    out.insert(&r, &t);
                }
                Ok(out)
            }
        }
        d.deserialize_map(Visit)
    }
}

/// One Helm chart as installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChartRecord {
    pub repo: String,
    pub chart: String,
    pub version: String,
    /// Where the tarball was downloaded from.
    pub url: String,
    /// sha256 of the tarball.
    pub sha256: String,
    /// The digest the repository index gives for it, when it gives one.
    #[serde(default)]
    pub index_digest: Option<String>,
    /// `Kind/name (events)` of every hook left out of the install.
    #[serde(default)]
    pub dropped_hooks: Vec<String>,
    /// The `helm template` command, as `plan` shows it.
    #[serde(default)]
    pub command: String,
}

/// One manifest file as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub url: String,
    pub sha256: String,
    /// Its name under `inputs/mesh-rendered/`.
    pub file: String,
}

/// The mesh CLI a `method: cli` install ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliRecord {
    pub name: String,
    /// `<os>-<arch>` of the machine it ran on.
    pub platform: String,
    pub url: String,
    /// sha256 of the download (the archive when `member` is set).
    pub sha256: String,
    pub member: Option<String>,
    pub commands: Vec<CliCommand>,
}

/// One render command of the mesh CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliCommand {
    pub command: String,
    /// Where its output was applied.
    pub namespace: String,
}

/// What `helm template` was told about the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelmCapabilities {
    /// `--kube-version` (empty: not passed).
    pub kube_version: String,
    /// `--api-versions`, one each (empty: none passed).
    pub api_versions: Vec<String>,
}

/// A container running in a mesh namespace (`--mesh-installed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningContainer {
    /// `namespace/pod`.
    pub pod: String,
    pub container: String,
    /// The image reference of the pod spec or status.
    pub image: String,
    /// The image id the kubelet resolved; empty while not started.
    pub image_id: String,
}

/// `resolved/kubernetes.json`: the API server's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesVersion {
    pub server_version: String,
}

/// What a platform resolved beyond the cluster and the mesh: the images pod statuses reported
/// (`resolved/images.json`) and the API server's version (`resolved/kubernetes.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformResolved {
    /// Image reference → image id, from pod statuses; `None`: not recorded.
    pub images: Option<BTreeMap<String, String>>,
    pub kubernetes: Option<KubernetesVersion>,
}

/// SMI API group → served versions, per case (`resolved/served-smi.json`).
pub type ServedSmi = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// Everything a run writes under `resolved/`, one file per field that is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// `resolved/cluster.json`.
    pub cluster: Option<ResolvedCluster>,
    /// `resolved/images.json`.
    pub images: Option<BTreeMap<String, String>>,
    /// `resolved/kubernetes.json`.
    pub kubernetes: Option<KubernetesVersion>,
    /// `resolved/mesh.json`.
    pub mesh: Option<ResolvedMesh>,
    /// `resolved/served-smi.json`.
    pub served_smi: Option<ServedSmi>,
    /// `resolved/workload-image.json`.
    pub workload_image: Option<WorkloadImage>,
}

/// Pretty JSON and a final newline, as every JSON file of a bundle is written.
pub fn json_file(v: &impl Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).expect("bundle records serialize");
    out.push(b'\n');
    out
}

impl Resolved {
    /// Add what the platform resolved.
    pub fn extend(&mut self, p: PlatformResolved) {
        if p.images.is_some() {
            self.images = p.images;
        }
        if p.kubernetes.is_some() {
            self.kubernetes = p.kubernetes;
        }
    }

    /// `resolved/<name>.json` → bytes, for every record that is set.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut add = |name: &str, bytes: Option<Vec<u8>>| {
            if let Some(b) = bytes {
                out.insert(format!("{}/{name}.json", super::paths::RESOLVED), b);
            }
        };
        add("cluster", self.cluster.as_ref().map(json_file));
        add("images", self.images.as_ref().map(json_file));
        add("kubernetes", self.kubernetes.as_ref().map(json_file));
        add("mesh", self.mesh.as_ref().map(json_file));
        add("served-smi", self.served_smi.as_ref().map(json_file));
        add(
            "workload-image",
            self.workload_image.as_ref().map(json_file),
        );
        out
    }
}

/// `inputs/mesh-rendered/<NN>-<release>-values.json`: the values a chart was rendered with — the
/// pin's, and the public part of values generated for the run (never a private key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedValues {
    /// The pin's `values`, as written there.
    pub pinned: serde_json::Map<String, Value>,
    /// Linkerd's identity, generated per run, its issuer key redacted.
    #[serde(
        rename = "generated-linkerd-identity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub generated_linkerd_identity: Option<LinkerdIdentityValues>,
}

/// Helm values of Linkerd's identity (`linkerd-control-plane`): the trust anchor and the issuer's
/// certificate and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkerdIdentityValues {
    #[serde(rename = "identityTrustAnchorsPEM")]
    pub identity_trust_anchors_pem: String,
    pub identity: LinkerdIdentityIssuer,
}

/// `identity.issuer` of [`LinkerdIdentityValues`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkerdIdentityIssuer {
    pub issuer: LinkerdIssuerTls,
}

/// `identity.issuer.tls` of [`LinkerdIdentityValues`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkerdIssuerTls {
    pub tls: LinkerdIssuerPems,
}

/// The issuer's certificate and key (PEM; the key redacted in what is recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkerdIssuerPems {
    #[serde(rename = "crtPEM")]
    pub crt_pem: String,
    #[serde(rename = "keyPEM")]
    pub key_pem: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32) -> FormatVersion {
        FormatVersion { major, minor }
    }

    #[test]
    fn the_same_version_is_readable() {
        assert_eq!(
            FormatVersion::CURRENT.check_readable_by(FormatVersion::CURRENT),
            Ok(Readable::Current)
        );
    }

    #[test]
    fn older_minors_of_the_same_major_are_readable() {
        assert_eq!(v(1, 0).check_readable_by(v(1, 2)), Ok(Readable::OlderMinor));
        assert_eq!(v(1, 1).check_readable_by(v(1, 2)), Ok(Readable::OlderMinor));
    }

    #[test]
    fn newer_minors_of_the_same_major_are_readable() {
        assert_eq!(v(1, 3).check_readable_by(v(1, 2)), Ok(Readable::NewerMinor));
    }

    #[test]
    fn newer_majors_are_refused_naming_both_versions() {
        let e = v(2, 0).check_readable_by(v(1, 2)).unwrap_err();
        assert_eq!(
            e,
            FormatIncompatible::NewerMajor {
                bundle: v(2, 0),
                reader: v(1, 2)
            }
        );
        let text = e.to_string();
        assert!(
            text.starts_with("unsupported bundle format 2.0 (this meshproof reads 1.x)")
                && text.contains("a meshproof that reads format 2.x"),
            "{text}"
        );
    }

    #[test]
    fn older_majors_are_refused_naming_both_versions() {
        let e = v(0, 9).check_readable_by(v(1, 2)).unwrap_err();
        assert!(matches!(e, FormatIncompatible::OlderMajor { .. }));
        let text = e.to_string();
        assert!(
            text.starts_with("unsupported bundle format 0.9 (this meshproof reads 1.x)")
                && text.contains("older major format"),
            "{text}"
        );
    }

    #[test]
    fn report_formats_are_known_for_the_minors_this_build_knows() {
        for minor in 0..=FORMAT_MINOR {
            assert_eq!(v(1, minor).report_format(), Some(1), "1.{minor}");
        }
        assert_eq!(FormatVersion::CURRENT.report_format(), Some(REPORT_FORMAT));
        assert_eq!(v(1, FORMAT_MINOR + 1).report_format(), None);
        assert_eq!(v(2, 0).report_format(), None);
    }

    fn extras(json: &str) -> RunExtras {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn run_extras_are_written_as_a_sorted_map_with_unknown_keys_in_place() {
        let x = RunExtras {
            timeout_scale: Some(1.0),
            cluster_mode: Some(ClusterMode::External),
            external_cluster: Some(ExternalCluster {
                context: "ctx".into(),
                server_version: None,
            }),
            phases: Some(vec![PhaseTiming {
                phase: Phase::Cluster,
                duration_ms: 12,
                ok: true,
            }]),
            other: BTreeMap::from([
                ("zz".to_string(), Value::from(1)),
                ("aa".to_string(), Value::from(2)),
            ]),
            ..RunExtras::default()
        };
        assert_eq!(
            serde_json::to_string(&x).unwrap(),
            r#"{"aa":2,"cluster_mode":"external","external_cluster":{"context":"ctx","server_version":null},"phases":[{"phase":"cluster","duration_ms":12,"ok":true}],"timeout_scale":1.0,"zz":1}"#
        );
        let back = extras(&serde_json::to_string(&x).unwrap());
        assert_eq!(back, x);
    }

    #[test]
    fn malformed_run_extras_are_kept_as_written_and_named() {
        let text = r#"{"failure":7,"phases":[{"phase":"x"}],"timeout_scale":2.5}"#;
        let x = extras(text);
        assert_eq!(x.timeout_scale, Some(2.5));
        assert_eq!(x.failure, None);
        assert_eq!(x.phases, None);
        assert!(
            x.malformed("failure")
                .unwrap()
                .contains("expected a string"),
            "{x:?}"
        );
        assert!(
            x.malformed("phases")
                .unwrap()
                .contains("missing field `duration_ms`"),
            "{x:?}"
        );
        assert_eq!(x.malformed("timeout_scale"), None);
        // Written back unchanged.
        assert_eq!(serde_json::to_string(&x).unwrap(), text);
    }

    #[test]
    fn a_run_manifest_is_the_run_section_alone() {
        let m: RunManifest = serde_json::from_str(
            r#"{"run":{"id":"r","status":"aborted","started_at":"a","finished_at":"b","failure":"kind: gone"}}"#,
        )
        .unwrap();
        assert_eq!(m.run.extra.failure.as_deref(), Some("kind: gone"));
        let text = String::from_utf8(m.to_json()).unwrap();
        assert!(
            text.starts_with("{\n  \"run\": {\n    \"id\": \"r\","),
            "{text}"
        );
        assert!(
            text.ends_with("\"failure\": \"kind: gone\"\n  }\n}\n"),
            "{text}"
        );
    }

    /// The records serialize as the runner wrote them with `json!` maps before they were typed:
    /// top-level keys sorted, nested records in their fields' order.
    #[test]
    fn resolved_records_keep_their_recorded_layout() {
        let mut pinned = PinnedImages::default();
        pinned.insert("z:1", "z@sha256:1");
        pinned.insert("a:1", "a@sha256:1");
        pinned.insert("z:1", "z@sha256:2");
        let mesh = ResolvedMesh {
            lock_sha256: Some("ab".into()),
            charts: Some(vec![ChartRecord {
                repo: "https://r".into(),
                chart: "c".into(),
                version: "1".into(),
                url: "https://r/c-1.tgz".into(),
                sha256: "cd".into(),
                index_digest: None,
                dropped_hooks: vec!["Job/x (post-delete)".into()],
                command: "helm template c".into(),
            }]),
            helm_capabilities: Some(HelmCapabilities::default()),
            pinned_images: Some(pinned),
            unpinned_images: Some(vec!["b:2".into()]),
            ..ResolvedMesh::default()
        };
        assert_eq!(
            serde_json::to_string(&mesh).unwrap(),
            concat!(
                r#"{"charts":[{"repo":"https://r","chart":"c","version":"1","url":"https://r/c-1.tgz","#,
                r#""sha256":"cd","index_digest":null,"dropped_hooks":["Job/x (post-delete)"],"#,
                r#""command":"helm template c"}],"helm_capabilities":{"kube_version":"","api_versions":[]},"#,
                r#""lock_sha256":"ab","pinned_images":{"z:1":"z@sha256:2","a:1":"a@sha256:1"},"#,
                r#""unpinned_images":["b:2"]}"#
            )
        );
        let back: ResolvedMesh =
            serde_json::from_str(&serde_json::to_string(&mesh).unwrap()).unwrap();
        assert_eq!(back, mesh);
        let cluster = ResolvedCluster {
            name: "meshproof-1".into(),
            kind_version: Some("0.32.0".into()),
            nodes: Some(ClusterNodes::Kind(vec![KindNode {
                name: "n".into(),
                container_id: "c".into(),
                role: "control-plane".into(),
                image_id: "sha256:i".into(),
            }])),
            ..ResolvedCluster::default()
        };
        assert_eq!(
            serde_json::to_string(&cluster).unwrap(),
            r#"{"external":false,"kind_version":"0.32.0","name":"meshproof-1","nodes":[{"name":"n","container_id":"c","role":"control-plane","image_id":"sha256:i"}]}"#
        );
        // The control run installs nothing: an empty object.
        assert_eq!(json_file(&ResolvedMesh::default()), b"{}\n");
    }

    #[test]
    fn resolved_files_are_one_per_record_set() {
        let mut r = Resolved {
            workload_image: Some(WorkloadImage {
                reference: "p:1".into(),
                id: "sha256:0".into(),
            }),
            served_smi: Some(ServedSmi::new()),
            ..Resolved::default()
        };
        r.extend(PlatformResolved {
            images: Some(BTreeMap::new()),
            kubernetes: None,
        });
        let files = r.files();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            [
                "resolved/images.json",
                "resolved/served-smi.json",
                "resolved/workload-image.json"
            ]
        );
        assert_eq!(
            files["resolved/workload-image.json"],
            b"{\n  \"reference\": \"p:1\",\n  \"id\": \"sha256:0\"\n}\n"
        );
    }

    #[test]
    fn a_run_selection_is_written_as_a_sorted_map_with_unknown_keys_in_place() {
        let text = r#"{"cluster":"kind-v0.32.0","mesh":"osm@1.2.4","note":"x","suite":"smi","workload":"smi-apps"}"#;
        let sel: RunSelection = serde_json::from_str(text).unwrap();
        assert_eq!(sel.mesh.as_deref(), Some("osm@1.2.4"));
        assert_eq!(sel.only, None);
        assert_eq!(sel.other["note"], "x");
        assert_eq!(serde_json::to_string(&sel).unwrap(), text);
        assert_eq!(sel.suite_or_default(), "smi");
        assert_eq!(RunSelection::default().suite_or_default(), "smi");
        // Values are names: anything else is not a selection.
        assert!(serde_json::from_str::<RunSelection>(r#"{"mesh":1}"#).is_err());
    }
}
