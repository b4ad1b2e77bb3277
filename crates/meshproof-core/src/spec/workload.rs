//! The `Workload` spec (`workloads/<name>/workload.yaml`): the instrumented app, its layouts and image.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::mesh::Mesh;
use super::{parse, Document, SpecError, Validator};
use crate::yaml::YamlError;

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

/// What a layout's manifests define, for checking names that cases and the workload use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayoutApps {
    /// Deployments: the apps a case can send from and wait for.
    pub deployments: BTreeSet<String>,
    /// The names the probes answer with (`SERVICE_NAME`, else the Deployment's name): the backends
    /// a traffic expectation can name.
    pub backends: BTreeSet<String>,
    /// Services: what a case can call.
    pub services: BTreeSet<String>,
}

impl LayoutApps {
    /// Collect apps and Services from a layout's parsed manifests.
    pub fn from_manifests(docs: &[serde_json::Value]) -> LayoutApps {
        let mut apps = LayoutApps::default();
        for d in docs {
            let Some(name) = d["metadata"]["name"].as_str() else {
                continue;
            };
            match d["kind"].as_str() {
                Some("Deployment") => {
                    apps.deployments.insert(name.to_string());
                    apps.backends
                        .insert(probe_name(d).unwrap_or(name).to_string());
                }
                Some("Service") => {
                    apps.services.insert(name.to_string());
                }
                _ => {}
            }
        }
        apps
    }
}

/// The `SERVICE_NAME` the probe of a Deployment answers with (`x-meshproof-backend`).
fn probe_name(deployment: &serde_json::Value) -> Option<&str> {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()?
        .iter()
        .filter_map(|c| c["env"].as_array())
        .flatten()
        .find(|e| e["name"] == "SERVICE_NAME")
        .and_then(|e| e["value"].as_str())
}

/// Names in `spec.layouts.<name>.ready` that the layout's manifests do not define as Deployments.
pub fn check_ready(
    file: &str,
    text: &str,
    workload: &Workload,
    apps: &BTreeMap<String, LayoutApps>,
) -> Vec<YamlError> {
    let mut v = Validator::new(file, text);
    for (name, layout) in &workload.spec.layouts {
        let Some(a) = apps.get(name) else { continue };
        for (i, r) in layout.ready.iter().enumerate() {
            v.check(
                a.deployments.contains(r),
                &format!("spec.layouts.{name}.ready[{i}]"),
                format!(
                    "`{r}` is not a Deployment of the layout's manifests; they define {}",
                    join(&a.deployments)
                ),
            );
        }
    }
    v.into_problems()
}

/// Put the mesh's pod annotations (`spec.onboarding.podAnnotations`) on every Deployment's pod
/// template of a layout, filling in `{account}` (the pod's ServiceAccount) and `{upstreams}` (the
/// pin's local upstreams as `<account>:<port>`, the account being the one the Service's pods run
/// as). An upstream Service this layout does not define is left out; one whose pods run as several
/// accounts cannot be named and is an error naming it.
pub fn onboard_pods(docs: &mut [serde_json::Value], mesh: &Mesh) -> Result<(), String> {
    let wanted = &mesh.spec.onboarding.pod_annotations;
    if wanted.is_empty() {
        return Ok(());
    }
    let upstreams = upstream_list(docs, mesh)?;
    for d in docs.iter_mut().filter(|d| d["kind"] == "Deployment") {
        let t = &mut d["spec"]["template"];
        let account = t["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let ann = &mut t["metadata"]["annotations"];
        if !ann.is_object() {
            *ann = serde_json::json!({});
        }
        for (k, v) in wanted {
            let v = v
                .replace("{account}", &account)
                .replace("{upstreams}", &upstreams);
            ann[k] = serde_json::Value::String(v);
        }
    }
    Ok(())
}

/// `<account>:<port>,...` for the pin's local upstreams this layout defines.
fn upstream_list(docs: &[serde_json::Value], mesh: &Mesh) -> Result<String, String> {
    let mut out = Vec::new();
    for (service, port) in &mesh.spec.addressing.upstreams {
        let Some(svc) = docs
            .iter()
            .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == service.as_str())
        else {
            continue;
        };
        let selector = &svc["spec"]["selector"];
        let accounts: BTreeSet<&str> = docs
            .iter()
            .filter(|d| d["kind"] == "Deployment")
            .filter(|d| {
                let labels = &d["spec"]["template"]["metadata"]["labels"];
                selector
                    .as_object()
                    .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| &labels[k] == v))
            })
            .map(|d| {
                d["spec"]["template"]["spec"]["serviceAccountName"]
                    .as_str()
                    .unwrap_or("default")
            })
            .collect();
        match accounts.len() {
            1 => out.push(format!("{}:{port}", accounts.first().expect("one"))),
            n => {
                return Err(format!(
                    "local upstream `{service}`: its pods run as {n} ServiceAccounts ({}), so no \
                     single upstream name reaches it",
                    accounts.into_iter().collect::<Vec<_>>().join(", ")
                ))
            }
        }
    }
    Ok(out.join(","))
}

/// `a, b, c`, or `none`.
pub fn join(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        return "none".to_string();
    }
    names.iter().cloned().collect::<Vec<_>>().join(", ")
}

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
                super::is_relative_file(m),
                &format!("{base}.manifests[{i}]"),
                "must be a relative path inside the workload directory",
            );
        }
    }
    v.finish()?;
    Ok(doc)
}
