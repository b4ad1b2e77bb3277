//! The `Mesh` spec (`meshes/<mesh>/<version>.yaml`, `meshes/none.yaml`): a pinned mesh install and what it serves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{parse, Document, SpecError, Validator};
use crate::vocab::Capability;
use crate::yaml::YamlError;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MeshSpec {
    pub project: Project,
    pub install: Install,
    /// Namespaces the mesh installs into (evidence is collected there).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Objects that must be ready before the workload is installed.
    #[serde(default)]
    pub readiness: Vec<Readiness>,
    /// Labels and annotations put on every case namespace.
    #[serde(default)]
    pub onboarding: Onboarding,
    /// How a client in the mesh names a service.
    #[serde(default)]
    pub dns: Dns,
    /// How a client in the mesh reaches a service: by name (`dns`, the default) or through local
    /// upstream ports of its own sidecar (`local-upstreams`).
    #[serde(default, skip_serializing_if = "Addressing::is_dns")]
    pub addressing: Addressing,
    /// SMI API group → versions the mesh serves (`access.smi-spec.io: [v1alpha3]`).
    #[serde(default)]
    pub smi: BTreeMap<String, Vec<String>>,
    /// Kubernetes versions the mesh is known to work on.
    #[serde(default)]
    pub kubernetes: KubernetesRange,
    /// Capability per case that upstream documentation leads us to expect (reports only).
    #[serde(default)]
    pub expected: BTreeMap<String, Capability>,
    /// How the mesh answers a request it does not allow: only calls matching one of these are
    /// `mesh-denied` (`docs/specs.md`, outcome classes).
    #[serde(default, skip_serializing_if = "Denial::is_empty")]
    pub denial: Denial,
    /// What proves a workload pod joined the mesh (injected container, or node proxy).
    #[serde(default, skip_serializing_if = "DataPlane::is_empty")]
    pub data_plane: DataPlane,
    pub sources: Vec<String>,
}

/// The ways a mesh denies, each with the upstream source it was read from.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Denial {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<DenialSignature>,
    /// What could not be established from upstream (and so is left out rather than guessed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

impl Denial {
    fn is_empty(&self) -> bool {
        *self == Denial::default()
    }
}

/// One way a mesh denies: an HTTP answer (status, optionally a header it carries and a text its
/// body contains) or a transport error kind the probe records.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DenialSignature {
    /// A short name for reports (`envoy-rbac`).
    pub name: String,
    /// The HTTP status the mesh answers with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// A response header the answer carries (lowercase name), e.g. `l5d-proxy-error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Text the response body contains, e.g. `RBAC: access denied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// A transport error kind of the probe (`reset`, `connect-refused`, ...) instead of a status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where this was read: repository, file and tag.
    pub source: String,
}

/// What a pod of the mesh carries: an injected container (sidecar meshes) or, for node-proxy
/// meshes, a DaemonSet of proxies reached through a DNS suffix.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DataPlane {
    /// Name of the container the mesh injects into every workload pod (`linkerd-proxy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Node-proxy meshes: the proxy DaemonSet and the DNS suffix clients call through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_proxy: Option<NodeProxy>,
    /// The injector's webhook Service: the install waits until it has ready endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injector: Option<ServiceRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

impl DataPlane {
    fn is_empty(&self) -> bool {
        *self == DataPlane::default()
    }

    /// `true` for the control (no data plane at all).
    pub fn is_none(&self) -> bool {
        self.container.is_none() && self.node_proxy.is_none()
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeProxy {
    pub daemon_set: ServiceRef,
    /// The DNS suffix a client calls to go through the node proxy (`traefik.mesh`).
    pub dns_suffix: String,
}

/// `namespace/name` of an object the pin names.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Project {
    /// The project's name as people know it (`Open Service Mesh`).
    pub name: String,
    pub url: String,
    pub status: ProjectStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ProjectStatus {
    Active,
    Archived,
    Unmaintained,
    Control,
}

impl ProjectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectStatus::Active => "active",
            ProjectStatus::Archived => "archived",
            ProjectStatus::Unmaintained => "unmaintained",
            ProjectStatus::Control => "control",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Install {
    pub method: InstallMethod,
    /// One Helm chart (`method: helm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<Helm>,
    /// Several Helm charts installed in this order (`method: helm`; e.g. Linkerd's CRDs,
    /// control plane and SMI extension). Use either `helm` or `charts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<Helm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<RemoteFile>,
    /// A pinned CLI that renders the install manifests offline (`method: cli`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli: Option<Cli>,
    /// Why the pin cannot be installed reproducibly (`method: unpinned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Install {
    /// The Helm charts to install, in order (`helm` or `charts`).
    pub fn helm_charts(&self) -> Vec<&Helm> {
        self.helm.iter().chain(self.charts.iter()).collect()
    }

    /// Every remote artifact has a pinned sha256 (charts with `digest`, manifests and CLI
    /// downloads always).
    pub fn fully_pinned(&self) -> bool {
        match self.method {
            InstallMethod::None | InstallMethod::Manifests | InstallMethod::Cli => true,
            InstallMethod::Helm => self.helm_charts().iter().all(|h| h.digest.is_some()),
            InstallMethod::Unpinned => false,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum InstallMethod {
    None,
    Helm,
    Manifests,
    /// Download a pinned CLI (sha256 per platform), run it offline to render manifests, apply them.
    Cli,
    /// Known facts are recorded but the install cannot be pinned reproducibly (`install.reason`
    /// says why); `plan` renders it, `run` refuses it.
    Unpinned,
}

impl InstallMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallMethod::None => "none",
            InstallMethod::Helm => "helm",
            InstallMethod::Manifests => "manifests",
            InstallMethod::Cli => "cli",
            InstallMethod::Unpinned => "unpinned",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Helm {
    pub repo: String,
    pub chart: String,
    pub version: String,
    pub release: String,
    pub namespace: String,
    /// sha256 of the chart tarball, when it was resolved from the real artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default)]
    pub values: serde_json::Map<String, serde_json::Value>,
    /// Values meshproof generates at install time (their secrets never enter the bundle).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generate: Vec<Generated>,
}

/// Install-time generated Helm values.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Generated {
    /// Linkerd identity: an ECDSA P-256 trust anchor and issuer (`identityTrustAnchorsPEM`,
    /// `identity.issuer.tls.crtPEM`, `identity.issuer.tls.keyPEM`).
    LinkerdIdentity,
}

/// `https://…`, or `http://` on the loopback interface (local mirrors and tests).
pub fn is_fetchable_url(url: &str) -> bool {
    url.starts_with("https://")
        || [
            "http://127.0.0.1:",
            "http://127.0.0.1/",
            "http://localhost:",
            "http://[::1]:",
        ]
        .iter()
        .any(|p| url.starts_with(p))
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemoteFile {
    pub url: String,
    pub sha256: String,
}

/// A mesh CLI pinned per platform, and the offline commands whose stdout is the install YAML.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cli {
    /// The program's name (`linkerd`), shown in plans and recorded.
    pub name: String,
    /// One download per platform, keyed `<os>-<arch>` as Rust's `std::env::consts`
    /// (`linux-x86_64`, `linux-aarch64`, `macos-aarch64`).
    pub platforms: BTreeMap<String, CliDownload>,
    /// When the downloads are `.tar.gz` archives: the path of the program inside them (a
    /// platform's own `member` takes precedence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Render commands, run in order; each one's stdout is applied in its namespace.
    pub render: Vec<RenderStep>,
}

/// One platform's pinned CLI download.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CliDownload {
    pub url: String,
    pub sha256: String,
    /// The program's path inside this platform's `.tar.gz` (archives often name a directory
    /// per platform, `linux-amd64/osm`); overrides `cli.member`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
}

impl Cli {
    /// The path of the program inside `platform`'s archive, if its download is one.
    pub fn member_for(&self, platform: &str) -> Option<&str> {
        self.platforms
            .get(platform)
            .and_then(|d| d.member.as_deref())
            .or(self.member.as_deref())
    }
}

/// One offline render command of a pinned CLI.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RenderStep {
    pub args: Vec<String>,
    /// Namespace the rendered objects are applied in (created first).
    pub namespace: String,
}

/// A platform key: `<os>-<arch>` in lowercase letters, digits and `_` (`linux-x86_64`).
pub fn is_platform_key(s: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    s.split_once('-')
        .is_some_and(|(os, arch)| part(os) && part(arch))
}

/// A program name: letters, digits, `-`, `_`, `.`, starting with a letter or digit (no paths).
pub fn is_program_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A relative path inside an archive with no `.`, `..` or empty components (`linux-amd64/osm`).
pub fn is_archive_member(s: &str) -> bool {
    !s.is_empty()
        && !s.contains('\\')
        && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Readiness {
    /// What is waited for (a pin naming another kind fails to load, naming the field).
    pub kind: ReadinessKind,
    /// The object's namespace; required for namespaced kinds, ignored for a
    /// CustomResourceDefinition (cluster-scoped).
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

/// The kinds a readiness entry may wait for, and what ready means for each (the kube layer's
/// wait conditions): a Deployment available, a DaemonSet or StatefulSet rolled out (node proxies
/// such as Traefik Mesh's, SPIRE servers and agents), a CustomResourceDefinition established
/// (CRDs a mesh creates at run time, such as OSM's SMI CRDs from osm-bootstrap).
///
/// A kind outside these loads as `Unknown` so the loader reports it with every other problem of
/// the pin (file, line, field); a loaded pin never holds one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadinessKind {
    Deployment,
    DaemonSet,
    StatefulSet,
    CustomResourceDefinition,
    /// Not a readiness kind (refused by [`load`]).
    Unknown(String),
}

impl<'de> Deserialize<'de> for ReadinessKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().unwrap_or(ReadinessKind::Unknown(s)))
    }
}

impl Serialize for ReadinessKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl ReadinessKind {
    /// Every kind, in the order docs and errors list them.
    pub const ALL: [ReadinessKind; 4] = [
        ReadinessKind::Deployment,
        ReadinessKind::DaemonSet,
        ReadinessKind::StatefulSet,
        ReadinessKind::CustomResourceDefinition,
    ];

    /// The Kubernetes kind, as written in pins.
    pub fn as_str(&self) -> &str {
        match self {
            ReadinessKind::Deployment => "Deployment",
            ReadinessKind::DaemonSet => "DaemonSet",
            ReadinessKind::StatefulSet => "StatefulSet",
            ReadinessKind::CustomResourceDefinition => "CustomResourceDefinition",
            ReadinessKind::Unknown(s) => s,
        }
    }
}

impl std::str::FromStr for ReadinessKind {
    type Err = String;
    /// A kind as written in pins; the error lists the kinds there are.
    fn from_str(s: &str) -> Result<Self, String> {
        ReadinessKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "`{s}` is not a readiness kind; expected one of {}",
                    READINESS_KINDS.join(", ")
                )
            })
    }
}

impl std::fmt::Display for ReadinessKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds a readiness entry may name, as written in pins (the order of [`ReadinessKind::ALL`]).
pub const READINESS_KINDS: [&str; 4] = [
    "Deployment",
    "DaemonSet",
    "StatefulSet",
    "CustomResourceDefinition",
];

impl Readiness {
    /// Whether the kind lives in a namespace (everything but a CustomResourceDefinition).
    pub fn namespaced(&self) -> bool {
        self.kind != ReadinessKind::CustomResourceDefinition
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Onboarding {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Annotations put on every workload pod template, for meshes whose pods opt in themselves.
    /// [`POD_ANNOTATION_PLACEHOLDERS`] in the values are filled in per pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
}

/// Placeholders a pod annotation value may use: `{account}`, the pod's ServiceAccount, and
/// `{upstreams}`, the pin's local upstreams as `<account behind the Service>:<port>,...`.
pub const POD_ANNOTATION_PLACEHOLDERS: [&str; 2] = ["{account}", "{upstreams}"];

/// How a client in the mesh reaches a service the suite calls.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Addressing {
    pub mode: AddressingMode,
    /// `local-upstreams`: Service name → the port on 127.0.0.1 where the caller's sidecar listens
    /// for it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, u16>,
}

impl Addressing {
    fn is_dns(&self) -> bool {
        *self == Addressing::default()
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AddressingMode {
    /// `http://<spec.dns.template>:<port>`: the mesh intercepts or resolves service names.
    #[default]
    Dns,
    /// `http://127.0.0.1:<upstream port>`: the caller's sidecar listens on a local port per upstream
    /// and forwards to it (no transparent proxy, e.g. Consul 1.5 Connect).
    LocalUpstreams,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Dns {
    /// `{service}` and `{namespace}` are replaced; the default is the cluster DNS name.
    pub template: String,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            template: "{service}.{namespace}.svc.cluster.local".to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesRange {
    /// A semver range of Kubernetes versions, e.g. `>=1.22.9, <1.25`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<String>,
}

pub type Mesh = Document<MeshSpec>;

/// SMI API groups a mesh may declare.
pub const SMI_GROUPS: [&str; 4] = [
    "access.smi-spec.io",
    "specs.smi-spec.io",
    "split.smi-spec.io",
    "metrics.smi-spec.io",
];

/// Every version each SMI API group has had: servicemeshinterface/smi-spec `apis/` at cc4babdc (the
/// archived head; access v1alpha4 was drafted after v0.6.0) and smi-sdk-go `pkg/apis/` at a143f8bc
/// (metrics v1alpha2). A version outside this table is a typo.
pub const SMI_VERSIONS: [(&str, &[&str]); 4] = [
    (
        "access.smi-spec.io",
        &["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"],
    ),
    (
        "specs.smi-spec.io",
        &["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"],
    ),
    (
        "split.smi-spec.io",
        &["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"],
    ),
    ("metrics.smi-spec.io", &["v1alpha1", "v1alpha2"]),
];

/// `None` when `version` is a version `group` has had; else what to say about it.
pub fn smi_version_problem(group: &str, version: &str) -> Option<String> {
    let (_, known) = SMI_VERSIONS.iter().find(|(g, _)| *g == group)?;
    (!known.contains(&version)).then(|| {
        format!(
            "`{version}` is not a version of {group}; expected one of {}",
            known.join(", ")
        )
    })
}

pub fn load(file: &str, text: &str) -> Result<Mesh, SpecError> {
    let doc: Mesh = parse(file, text, "Mesh")?;
    let mut v = Validator::new(file, text);
    v.check(
        super::is_dns_label(&doc.metadata.name),
        "metadata.name",
        "must be a lowercase DNS label",
    );
    let s = &doc.spec;
    validate_install(&mut v, s);
    validate_readiness(&mut v, s);
    validate_smi(&mut v, s);
    if let Some(r) = &s.kubernetes.versions {
        v.check(
            semver::VersionReq::parse(r).is_ok(),
            "spec.kubernetes.versions",
            "must be a version range like `>=1.22.9, <1.25`",
        );
    }
    v.check(
        s.dns.template.contains("{service}"),
        "spec.dns.template",
        "must contain `{service}`",
    );
    validate_addressing(&mut v, s);
    validate_denial(&mut v, s);
    validate_data_plane(&mut v, s);
    v.check(
        !s.sources.is_empty(),
        "spec.sources",
        "cite where the pin's facts come from",
    );
    v.finish()?;
    Ok(doc)
}

/// `spec.install`: the method and the fields it takes.
fn validate_install(v: &mut Validator<'_>, s: &MeshSpec) {
    let unpinned_fields =
        s.install.helm.is_none() && s.install.charts.is_empty() && s.install.manifests.is_empty();
    if s.install.method != InstallMethod::Cli && s.install.cli.is_some() {
        v.problem("spec.install.cli", "only for method `cli`");
    }
    match s.install.method {
        InstallMethod::None => {
            v.check(
                unpinned_fields,
                "spec.install",
                "method `none` takes no helm, charts or manifests",
            );
        }
        InstallMethod::Unpinned => {
            v.check(
                unpinned_fields,
                "spec.install",
                "method `unpinned` takes no helm, charts or manifests (keep known coordinates in comments and `project.note`)",
            );
            v.check(
                s.install
                    .reason
                    .as_deref()
                    .is_some_and(|r| !r.trim().is_empty()),
                "spec.install.reason",
                "say why this pin cannot be installed reproducibly",
            );
        }
        InstallMethod::Helm => {
            validate_helm(v, s);
        }
        InstallMethod::Cli => {
            v.check(
                unpinned_fields,
                "spec.install",
                "method `cli` takes no helm, charts or manifests",
            );
            if s.install.reason.is_some() {
                v.problem("spec.install.reason", "only for method `unpinned`");
            }
            match &s.install.cli {
                None => v.problem("spec.install.cli", "required when method is `cli`"),
                Some(cli) => validate_cli(v, cli),
            }
        }
        InstallMethod::Manifests => {
            validate_manifests(v, s);
        }
    }
}

/// `spec.install.helm` or `spec.install.charts`: https repositories, exact versions, digests.
fn validate_helm(v: &mut Validator<'_>, s: &MeshSpec) {
    match (s.install.helm.is_some(), s.install.charts.is_empty()) {
        (false, true) => v.problem(
            "spec.install.helm",
            "required when method is `helm` (or `charts`, a list of charts)",
        ),
        (true, false) => v.problem(
            "spec.install",
            "use either `helm` (one chart) or `charts` (a list), not both",
        ),
        _ => {}
    }
    let field = if s.install.helm.is_some() {
        "spec.install.helm".to_string()
    } else {
        "spec.install.charts".to_string()
    };
    for (i, h) in s.install.helm_charts().into_iter().enumerate() {
        let at = if s.install.helm.is_some() {
            field.clone()
        } else {
            format!("{field}[{i}]")
        };
        v.check(
            is_fetchable_url(&h.repo),
            &format!("{at}.repo"),
            "must be an https URL",
        );
        v.check(
            semver::Version::parse(h.version.trim_start_matches('v')).is_ok(),
            &format!("{at}.version"),
            "must be an exact chart version (no ranges)",
        );
        v.check(
            super::is_dns_label(&h.release),
            &format!("{at}.release"),
            "must be a lowercase DNS label",
        );
        if let Some(d) = &h.digest {
            v.check(
                super::is_sha256_hex(d),
                &format!("{at}.digest"),
                "must be 64 lowercase hex digits",
            );
        }
    }
    if s.install.reason.is_some() {
        v.problem("spec.install.reason", "only for method `unpinned`");
    }
}

/// `spec.install.manifests`: https URLs with their sha256.
fn validate_manifests(v: &mut Validator<'_>, s: &MeshSpec) {
    v.check(
        !s.install.manifests.is_empty(),
        "spec.install.manifests",
        "required when method is `manifests`",
    );
    for (i, m) in s.install.manifests.iter().enumerate() {
        v.check(
            is_fetchable_url(&m.url),
            &format!("spec.install.manifests[{i}].url"),
            "must be an https URL",
        );
        v.check(
            super::is_sha256_hex(&m.sha256),
            &format!("spec.install.manifests[{i}].sha256"),
            "must be 64 lowercase hex digits",
        );
    }
}

/// `spec.readiness`: known kinds, namespaces where the kind needs one.
fn validate_readiness(v: &mut Validator<'_>, s: &MeshSpec) {
    for (i, r) in s.readiness.iter().enumerate() {
        let known = !matches!(r.kind, ReadinessKind::Unknown(_));
        v.check(
            known,
            &format!("spec.readiness[{i}].kind"),
            format!(
                "`{}` is not a readiness kind; expected one of {}",
                r.kind,
                READINESS_KINDS.join(", ")
            ),
        );
        v.check(
            !known || !r.namespaced() || super::is_dns_label(&r.namespace),
            &format!("spec.readiness[{i}].namespace"),
            format!("a {} needs its namespace (a DNS label)", r.kind),
        );
    }
}

/// `spec.smi`: known API groups and versions.
fn validate_smi(v: &mut Validator<'_>, s: &MeshSpec) {
    for (group, versions) in &s.smi {
        v.check(
            SMI_GROUPS.contains(&group.as_str()),
            &format!("spec.smi.{group}"),
            format!(
                "unknown SMI API group; expected one of {}",
                SMI_GROUPS.join(", ")
            ),
        );
        for (i, version) in versions.iter().enumerate() {
            if let Some(p) = smi_version_problem(group, version) {
                v.problem(&format!("spec.smi.{group}[{i}]"), p);
            }
        }
    }
}

fn validate_addressing(v: &mut Validator<'_>, s: &MeshSpec) {
    let a = &s.addressing;
    match a.mode {
        AddressingMode::Dns => v.check(
            a.upstreams.is_empty(),
            "spec.addressing.upstreams",
            "only for mode `local-upstreams`",
        ),
        AddressingMode::LocalUpstreams => v.check(
            !a.upstreams.is_empty(),
            "spec.addressing.upstreams",
            "mode `local-upstreams` needs a local port per Service the suite calls",
        ),
    }
    for (service, port) in &a.upstreams {
        v.check(
            *port > 0,
            &format!("spec.addressing.upstreams.{service}"),
            "must be a TCP port",
        );
    }
    for (key, value) in &s.onboarding.pod_annotations {
        let mut rest = value.clone();
        for p in POD_ANNOTATION_PLACEHOLDERS {
            rest = rest.replace(p, "");
        }
        v.check(
            !rest.contains('{'),
            &format!("spec.onboarding.podAnnotations.{key}"),
            format!(
                "unknown placeholder; the known ones are {}",
                POD_ANNOTATION_PLACEHOLDERS.join(", ")
            ),
        );
        v.check(
            !value.contains("{upstreams}") || a.mode == AddressingMode::LocalUpstreams,
            &format!("spec.onboarding.podAnnotations.{key}"),
            "`{upstreams}` needs spec.addressing.mode `local-upstreams`",
        );
    }
}

/// Transport error kinds the probe records (`workloads/smi-apps/probe/src/record.rs`).
pub const CALL_ERROR_KINDS: [&str; 7] = [
    "dns",
    "connect-refused",
    "connect-timeout",
    "reset",
    "timeout",
    "protocol",
    "other",
];

fn validate_denial(v: &mut Validator<'_>, s: &MeshSpec) {
    let d = &s.denial;
    let control = s.install.method == InstallMethod::None;
    if control {
        v.check(
            d.signatures.is_empty(),
            "spec.denial.signatures",
            "the control has no mesh, so nothing denies: declare none",
        );
    } else {
        v.check(
            !d.signatures.is_empty() || d.unknown.as_deref().is_some_and(|u| !u.trim().is_empty()),
            "spec.denial",
            "declare how the mesh denies (`signatures`, each with its upstream `source`), or say in \
             `unknown` which fact is missing",
        );
    }
    for (i, sig) in d.signatures.iter().enumerate() {
        let at = format!("spec.denial.signatures[{i}]");
        v.check(
            super::is_dns_label(&sig.name),
            &format!("{at}.name"),
            "must be a lowercase DNS label",
        );
        match (sig.status, &sig.error) {
            (Some(_), Some(_)) | (None, None) => v.problem(
                &at,
                "give either `status` (an HTTP answer) or `error` (a transport error kind)",
            ),
            (Some(st), None) => v.check(
                (100..600).contains(&st) && !(200..400).contains(&st),
                &format!("{at}.status"),
                "must be an HTTP error status (400-599; 1xx-3xx are not denials)",
            ),
            (None, Some(e)) => {
                v.check(
                    CALL_ERROR_KINDS.contains(&e.as_str()),
                    &format!("{at}.error"),
                    format!("expected one of {}", CALL_ERROR_KINDS.join(", ")),
                );
                v.check(
                    sig.header.is_none() && sig.body_contains.is_none(),
                    &at,
                    "`header` and `bodyContains` need an HTTP answer (`status`)",
                );
            }
        }
        if let Some(h) = &sig.header {
            v.check(
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                &format!("{at}.header"),
                "must be a lowercase header name",
            );
        }
        v.check(
            !sig.source.trim().is_empty(),
            &format!("{at}.source"),
            "cite the upstream file and tag this was read from",
        );
    }
}

fn validate_data_plane(v: &mut Validator<'_>, s: &MeshSpec) {
    let dp = &s.data_plane;
    if s.install.method == InstallMethod::None {
        v.check(
            dp.is_empty(),
            "spec.dataPlane",
            "the control has no data plane: leave it out",
        );
        return;
    }
    match (&dp.container, &dp.node_proxy) {
        (None, None) => v.problem(
            "spec.dataPlane",
            "declare the injected `container` (sidecar meshes) or the `nodeProxy` (DaemonSet and \
             DNS suffix), so app-ready can prove every workload pod joined the mesh",
        ),
        (Some(_), Some(_)) => v.problem(
            "spec.dataPlane",
            "use either `container` or `nodeProxy`, not both",
        ),
        (Some(c), None) => v.check(
            super::is_dns_label(c),
            "spec.dataPlane.container",
            "must be a container name (a lowercase DNS label)",
        ),
        (None, Some(np)) => {
            v.check(
                super::is_dns_label(&np.daemon_set.name)
                    && super::is_dns_label(&np.daemon_set.namespace),
                "spec.dataPlane.nodeProxy.daemonSet",
                "namespace and name must be lowercase DNS labels",
            );
            v.check(
                !np.dns_suffix.is_empty()
                    && s.dns.template.ends_with(&format!(".{}", np.dns_suffix)),
                "spec.dataPlane.nodeProxy.dnsSuffix",
                "must be the suffix of spec.dns.template (the name clients call through the proxy)",
            );
        }
    }
    if let Some(w) = &dp.injector {
        v.check(
            super::is_dns_label(&w.name) && super::is_dns_label(&w.namespace),
            "spec.dataPlane.injector",
            "namespace and name must be lowercase DNS labels",
        );
    }
    v.check(
        !dp.sources.is_empty(),
        "spec.dataPlane.sources",
        "cite where the container name or node proxy comes from",
    );
}

fn validate_cli(v: &mut Validator<'_>, cli: &Cli) {
    let at = "spec.install.cli";
    v.check(
        is_program_name(&cli.name),
        &format!("{at}.name"),
        "must be a program name (letters, digits, `-`, `_`, `.`; no path)",
    );
    v.check(
        !cli.platforms.is_empty(),
        &format!("{at}.platforms"),
        "pin at least one platform (`linux-x86_64: {url, sha256}`)",
    );
    for (key, f) in &cli.platforms {
        let p = format!("{at}.platforms.{key}");
        v.check(
            is_platform_key(key),
            &p,
            "must be `<os>-<arch>` as Rust names them (`linux-x86_64`, `macos-aarch64`)",
        );
        v.check(
            is_fetchable_url(&f.url),
            &format!("{p}.url"),
            "must be an https URL",
        );
        v.check(
            super::is_sha256_hex(&f.sha256),
            &format!("{p}.sha256"),
            "must be 64 lowercase hex digits",
        );
        if let Some(m) = &f.member {
            v.check(
                is_archive_member(m),
                &format!("{p}.member"),
                "must be a relative path inside the archive (no `..`, `.` or empty parts)",
            );
        }
    }
    if let Some(m) = &cli.member {
        v.check(
            is_archive_member(m),
            &format!("{at}.member"),
            "must be a relative path inside the archive (no `..`, `.` or empty parts)",
        );
    }
    v.check(
        !cli.render.is_empty(),
        &format!("{at}.render"),
        "list at least one render command (`{args: [install], namespace: <ns>}`)",
    );
    for (i, r) in cli.render.iter().enumerate() {
        let p = format!("{at}.render[{i}]");
        v.check(
            !r.args.is_empty(),
            &format!("{p}.args"),
            "must name at least one argument",
        );
        v.check(
            super::is_dns_label(&r.namespace),
            &format!("{p}.namespace"),
            "must be a lowercase DNS label",
        );
    }
}

/// The pin's `expected` keys that name no case of the suite (a typo reports nothing, ever).
pub fn check_expected(file: &str, text: &str, mesh: &Mesh, cases: &[&str]) -> Vec<YamlError> {
    let mut v = Validator::new(file, text);
    for name in mesh.spec.expected.keys() {
        v.check(
            cases.contains(&name.as_str()),
            &format!("spec.expected.{name}"),
            format!(
                "`{name}` is not a case of the suite; expected one of {}",
                cases.join(", ")
            ),
        );
    }
    v.into_problems()
}

impl Mesh {
    /// `osm@1.2.4`, or `none`.
    pub fn id(&self) -> String {
        match &self.metadata.version {
            Some(ver) => format!("{}@{}", self.metadata.name, ver),
            None => self.metadata.name.clone(),
        }
    }

    /// Where this pin's lock file lives, given the pin's own path (`meshes/osm/1.2.4.yaml` →
    /// `meshes/osm/1.2.4.lock.yaml`).
    pub fn lock_path(pin_path: &str) -> String {
        format!("{}.lock.yaml", pin_path.trim_end_matches(".yaml"))
    }

    /// The `host:port` a client in the mesh calls for `service` in `namespace` (whose apps listen on
    /// `port`), or why the pin gives none.
    pub fn authority(&self, service: &str, namespace: &str, port: u16) -> Result<String, String> {
        let a = &self.spec.addressing;
        match a.mode {
            AddressingMode::Dns => Ok(format!("{}:{port}", self.host(service, namespace))),
            AddressingMode::LocalUpstreams => a
                .upstreams
                .get(service)
                .map(|p| format!("127.0.0.1:{p}"))
                .ok_or_else(|| {
                    format!(
                        "mesh {} reaches services through local upstream ports and declares none \
                         for `{service}` (spec.addressing.upstreams)",
                        self.id()
                    )
                }),
        }
    }

    /// The URL host a client uses for `service` in `namespace`.
    pub fn host(&self, service: &str, namespace: &str) -> String {
        self.spec
            .dns
            .template
            .replace("{service}", service)
            .replace("{namespace}", namespace)
    }
}
