//! The `Cluster` spec (`clusters/*.yaml`): a kind version range (and the kind release meshproof
//! provides itself when the kind on PATH does not fit, with its sha256 per platform) and a node
//! image pinned by digest.

use serde::{Deserialize, Serialize};

use super::{parse, Document, SpecError, Validator};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSpec {
    /// The kind binary this pin is built for.
    pub kind: KindRequirement,
    /// Kubernetes version of the node image (`1.36.1`).
    pub kubernetes_version: String,
    /// `kindest/node:<tag>@sha256:<digest>`; the digest is mandatory.
    pub node_image: String,
    /// Node roles; one control-plane node when omitted.
    #[serde(default = "default_nodes")]
    pub nodes: Vec<Node>,
    /// Extra kind `Cluster` config fields merged into the rendered config (networking, patches).
    #[serde(default)]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Where the node image digest was read (release notes, kind source at a tag).
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KindRequirement {
    /// A semver range the installed kind must match, e.g. `>=0.32.0, <0.33.0`.
    pub version: String,
    /// The kind release run when the kind on PATH is outside `version`: downloaded from
    /// kind's GitHub releases and checked against `sha256` (or the pin's lock file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<KindRelease>,
}

/// A kind release binary per platform.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KindRelease {
    /// The release, e.g. `0.21.0` (inside the range).
    pub version: String,
    /// sha256 of `kind-<platform>` as released (platform: `linux-amd64`, `linux-arm64`,
    /// `darwin-amd64`, `darwin-arm64`), read from an upstream source the pin's `sources` name.
    /// A platform without one is verified through `meshproof lock --cluster` instead.
    #[serde(default)]
    pub sha256: std::collections::BTreeMap<String, String>,
}

/// The platforms kind publishes release binaries for that meshproof runs on, as kind names
/// them in its asset names (`kind-linux-amd64`).
pub const KIND_PLATFORMS: &[&str] = &["linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"];

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Node {
    pub role: NodeRole,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    ControlPlane,
    Worker,
}

fn default_nodes() -> Vec<Node> {
    vec![Node {
        role: NodeRole::ControlPlane,
    }]
}

pub type Cluster = Document<ClusterSpec>;

/// Parse and validate a cluster pin.
pub fn load(file: &str, text: &str) -> Result<Cluster, SpecError> {
    let doc: Cluster = parse(file, text, "Cluster")?;
    let mut v = Validator::new(file, text);
    v.check(
        super::is_pin_name(&doc.metadata.name),
        "metadata.name",
        "must be lowercase letters, digits, `-` and `.`",
    );
    if semver::VersionReq::parse(&doc.spec.kind.version).is_err() {
        v.problem(
            "spec.kind.version",
            format!(
                "`{}` is not a version range (e.g. `>=0.32.0, <0.33.0`)",
                doc.spec.kind.version
            ),
        );
    }
    if let Some(r) = &doc.spec.kind.release {
        match (
            semver::Version::parse(&r.version),
            semver::VersionReq::parse(&doc.spec.kind.version),
        ) {
            (Err(_), _) => v.problem(
                "spec.kind.release.version",
                "expected a release version like `0.21.0` (no leading `v`)",
            ),
            (Ok(rv), Ok(req)) if !req.matches(&rv) => v.problem(
                "spec.kind.release.version",
                format!(
                    "{rv} is outside spec.kind.version `{}`",
                    doc.spec.kind.version
                ),
            ),
            _ => {}
        }
        for (platform, sha) in &r.sha256 {
            v.check(
                KIND_PLATFORMS.contains(&platform.as_str()),
                &format!("spec.kind.release.sha256.{platform}"),
                format!("unknown platform; use one of {}", KIND_PLATFORMS.join(", ")),
            );
            v.check(
                super::is_sha256_hex(sha),
                &format!("spec.kind.release.sha256.{platform}"),
                "must be 64 lowercase hex digits",
            );
        }
    }
    if semver::Version::parse(&doc.spec.kubernetes_version).is_err() {
        v.problem(
            "spec.kubernetesVersion",
            "expected a version like `1.36.1` (no leading `v`)",
        );
    }
    match doc.spec.node_image.split_once('@') {
        Some((name, digest)) if name.contains(':') && super::is_sha256_digest(digest) => {
            let tag = name.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
            v.check(
                tag.trim_start_matches('v') == doc.spec.kubernetes_version,
                "spec.nodeImage",
                format!(
                    "tag `{tag}` does not match kubernetesVersion `{}`",
                    doc.spec.kubernetes_version
                ),
            );
        }
        _ => v.problem(
            "spec.nodeImage",
            "must be pinned by digest: `kindest/node:<tag>@sha256:<64 hex digits>`",
        ),
    }
    v.check(
        doc.spec
            .nodes
            .iter()
            .any(|n| n.role == NodeRole::ControlPlane),
        "spec.nodes",
        "needs at least one control-plane node",
    );
    v.check(
        !doc.spec.sources.is_empty(),
        "spec.sources",
        "name where the node image digest was read",
    );
    for key in ["kind", "apiVersion", "nodes", "name"] {
        if doc.spec.config.contains_key(key) {
            v.problem(
                &format!("spec.config.{key}"),
                "is set by meshproof; remove it",
            );
        }
    }
    v.finish()?;
    Ok(doc)
}

impl ClusterSpec {
    /// The digest part of the node image (`sha256:…`).
    pub fn node_image_digest(&self) -> &str {
        self.node_image
            .split_once('@')
            .map(|(_, d)| d)
            .unwrap_or_default()
    }
}
