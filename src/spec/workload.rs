//! The `Workload` spec (`workloads/<name>/workload.yaml`): the instrumented app, its layouts and image.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{parse, Document, SpecError, Validator};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkloadSpec {
    pub image: Image,
    /// Port every app listens on.
    pub port: u16,
    /// Deployment whose pod the driver reaches (port-forward) to send traffic.
    pub driver: String,
    /// Named layouts (`access`, `split`): which manifests and which Deployments must be ready.
    pub layouts: BTreeMap<String, Layout>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    /// Local image name the run builds or loads (never pulled from a registry).
    pub name: String,
    /// Text in the manifests replaced by the loaded image reference.
    pub placeholder: String,
    /// Dockerfile (relative to the repository root) that builds the image.
    pub dockerfile: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Layout {
    pub description: String,
    /// Manifest files relative to the workload directory.
    pub manifests: Vec<String>,
    /// Deployments that must be available before a case starts.
    pub ready: Vec<String>,
}

pub type Workload = Document<WorkloadSpec>;

pub fn load(file: &str, text: &str) -> Result<Workload, SpecError> {
    let doc: Workload = parse(file, text, "Workload")?;
    let mut v = Validator::new(file, text);
    v.check(
        super::is_dns_label(&doc.metadata.name),
        "metadata.name",
        "must be a lowercase DNS label",
    );
    v.check(doc.spec.port > 0, "spec.port", "must be a TCP port");
    v.check(
        !doc.spec.image.placeholder.is_empty(),
        "spec.image.placeholder",
        "must not be empty",
    );
    v.check(
        !doc.spec.layouts.is_empty(),
        "spec.layouts",
        "needs at least one layout",
    );
    for (name, layout) in &doc.spec.layouts {
        let base = format!("spec.layouts.{name}");
        v.check(
            !layout.manifests.is_empty(),
            &format!("{base}.manifests"),
            "needs at least one manifest",
        );
        v.check(
            layout.ready.contains(&doc.spec.driver),
            &format!("{base}.ready"),
            format!("must include the driver `{}`", doc.spec.driver),
        );
        for (i, m) in layout.manifests.iter().enumerate() {
            v.check(
                super::catalog::is_relative_file(m),
                &format!("{base}.manifests[{i}]"),
                "must be a relative path inside the workload directory",
            );
        }
    }
    v.finish()?;
    Ok(doc)
}
