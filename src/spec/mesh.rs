//! The `Mesh` spec (`meshes/<mesh>/<version>.yaml`, `meshes/none.yaml`): a pinned mesh install and what it serves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{parse, Document, SpecError, Validator};
use crate::verdict::Capability;

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
    /// SMI API group → versions the mesh serves (`access.smi-spec.io: [v1alpha3]`).
    #[serde(default)]
    pub smi: BTreeMap<String, Vec<String>>,
    /// Kubernetes versions the mesh is known to work on.
    #[serde(default)]
    pub kubernetes: KubernetesRange,
    /// Capability per case that upstream documentation leads us to expect (reports only).
    #[serde(default)]
    pub expected: BTreeMap<String, Capability>,
    pub sources: Vec<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<Helm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<RemoteFile>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum InstallMethod {
    None,
    Helm,
    Manifests,
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
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemoteFile {
    pub url: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Readiness {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Onboarding {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
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

pub fn load(file: &str, text: &str) -> Result<Mesh, SpecError> {
    let doc: Mesh = parse(file, text, "Mesh")?;
    let mut v = Validator::new(file, text);
    v.check(
        super::is_dns_label(&doc.metadata.name),
        "metadata.name",
        "must be a lowercase DNS label",
    );
    let s = &doc.spec;
    match s.install.method {
        InstallMethod::None => {
            v.check(
                s.install.helm.is_none() && s.install.manifests.is_empty(),
                "spec.install",
                "method `none` takes no helm or manifests",
            );
        }
        InstallMethod::Helm => match &s.install.helm {
            None => v.problem("spec.install.helm", "required when method is `helm`"),
            Some(h) => {
                v.check(
                    h.repo.starts_with("https://"),
                    "spec.install.helm.repo",
                    "must be an https URL",
                );
                v.check(
                    semver::Version::parse(h.version.trim_start_matches('v')).is_ok(),
                    "spec.install.helm.version",
                    "must be an exact chart version (no ranges)",
                );
                if let Some(d) = &h.digest {
                    v.check(
                        super::is_sha256_hex(d),
                        "spec.install.helm.digest",
                        "must be 64 lowercase hex digits",
                    );
                }
            }
        },
        InstallMethod::Manifests => {
            v.check(
                !s.install.manifests.is_empty(),
                "spec.install.manifests",
                "required when method is `manifests`",
            );
            for (i, m) in s.install.manifests.iter().enumerate() {
                v.check(
                    m.url.starts_with("https://"),
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
    }
    for group in s.smi.keys() {
        v.check(
            SMI_GROUPS.contains(&group.as_str()),
            &format!("spec.smi.{group}"),
            format!(
                "unknown SMI API group; expected one of {}",
                SMI_GROUPS.join(", ")
            ),
        );
    }
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
    v.check(
        !s.sources.is_empty(),
        "spec.sources",
        "cite where the pin's facts come from",
    );
    v.finish()?;
    Ok(doc)
}

impl Mesh {
    /// `osm@1.2.4`, or `none`.
    pub fn id(&self) -> String {
        match &self.metadata.version {
            Some(ver) => format!("{}@{}", self.metadata.name, ver),
            None => self.metadata.name.clone(),
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
