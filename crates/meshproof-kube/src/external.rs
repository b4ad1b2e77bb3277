//! A cluster meshproof did not create (`run --kubeconfig`): the kubeconfig checked before any
//! request, and what the cluster actually runs — its nodes and the images of a mesh installed by
//! the user — recorded instead of a kind pin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use serde::Serialize;

use crate::{describe, Kube};

/// A kubeconfig that cannot be used, found without contacting any server.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// The file is missing, unreadable or not a kubeconfig (kube-rs's message names the path).
    #[error("{source}")]
    Read {
        /// The path given.
        path: PathBuf,
        /// What kube-rs reported.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The context asked for (or the file's `current-context`) is not in the file.
    #[error("kubeconfig {path}: {what}; contexts in the file: {available}")]
    Context {
        /// The path given.
        path: PathBuf,
        /// What is missing (`no context "x"`, `no current-context`).
        what: String,
        /// The contexts the file has, comma-separated (`none` when empty).
        available: String,
    },
    /// The context names a cluster that is not in the file, or one without a server.
    #[error("kubeconfig {path}: context {context} names cluster {cluster}, {what}")]
    Cluster {
        /// The path given.
        path: PathBuf,
        /// The context used.
        context: String,
        /// The cluster it names.
        cluster: String,
        /// What is wrong with it.
        what: String,
    },
}

/// Where a kubeconfig points, as read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigTarget {
    /// The context used (the one asked for, else the file's `current-context`).
    pub context: String,
    /// The cluster entry it names.
    pub cluster: String,
    /// The API server URL.
    pub server: String,
}

/// Reads the kubeconfig at `path` and resolves `context` (or its `current-context`) to a
/// cluster with a server. No request is made.
pub fn check_kubeconfig(
    path: &Path,
    context: Option<&str>,
) -> Result<KubeconfigTarget, KubeconfigError> {
    let config =
        kube::config::Kubeconfig::read_from(path).map_err(|source| KubeconfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    let available = || {
        let names: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    let name = match context {
        Some(c) => c.to_string(),
        None => config
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| KubeconfigError::Context {
                path: path.to_path_buf(),
                what: "no current-context (pass --context NAME)".into(),
                available: available(),
            })?,
    };
    let ctx = config
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| KubeconfigError::Context {
            path: path.to_path_buf(),
            what: format!("no context {name:?}"),
            available: available(),
        })?;
    let cluster_err = |what: &str| KubeconfigError::Cluster {
        path: path.to_path_buf(),
        context: name.clone(),
        cluster: ctx.cluster.clone(),
        what: what.to_string(),
    };
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .ok_or_else(|| cluster_err("which is not in the file"))?;
    let server = cluster
        .cluster
        .as_ref()
        .and_then(|c| c.server.clone())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| cluster_err("which has no server"))?;
    Ok(KubeconfigTarget {
        context: name.clone(),
        cluster: ctx.cluster.clone(),
        server,
    })
}

/// One node of the cluster, as its kubelet reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// The node's name.
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

/// One container of a pod in a mesh namespace, with what it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunningContainer {
    /// `namespace/pod`.
    pub pod: String,
    /// The container's name (init containers too).
    pub container: String,
    /// The image reference of the pod spec or status (`openservicemesh/osm-controller:v1.2.4`).
    pub image: String,
    /// The image id the kubelet resolved (`docker.io/…@sha256:…`); empty while not started.
    pub image_id: String,
}

/// What a user-installed mesh runs: every container of every pod in its namespaces, and the
/// version labels its workloads carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunningMesh {
    /// Sorted by pod, then container.
    pub containers: Vec<RunningContainer>,
    /// `app.kubernetes.io/version`, `helm.sh/chart`, `version` labels seen on the pods:
    /// label → every distinct value.
    pub version_labels: BTreeMap<String, Vec<String>>,
    /// Namespaces that could not be listed, with the API server's reason.
    pub unlisted: BTreeMap<String, String>,
}

/// Listing the nodes failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list the cluster's nodes (GET /api/v1/nodes): {message}")]
pub struct NodesError {
    /// The API server's message or the transport error.
    pub message: String,
}

/// Pod labels that say which version of a mesh component runs.
const VERSION_LABELS: [&str; 3] = ["app.kubernetes.io/version", "helm.sh/chart", "version"];

impl Kube {
    /// Every node with its kubelet, runtime, OS and kernel versions, sorted by name.
    pub async fn node_info(&self) -> Result<Vec<NodeInfo>, NodesError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let list = nodes
            .list(&ListParams::default())
            .await
            .map_err(|e| NodesError {
                message: describe(&e),
            })?;
        let mut out: Vec<NodeInfo> = list
            .items
            .iter()
            .map(|n| {
                let info = n.status.as_ref().and_then(|s| s.node_info.as_ref());
                let field = |f: fn(&k8s_openapi::api::core::v1::NodeSystemInfo) -> &String| {
                    info.map(|i| f(i).clone()).unwrap_or_default()
                };
                NodeInfo {
                    name: n.metadata.name.clone().unwrap_or_default(),
                    kubelet_version: field(|i| &i.kubelet_version),
                    container_runtime_version: field(|i| &i.container_runtime_version),
                    operating_system: field(|i| &i.operating_system),
                    architecture: field(|i| &i.architecture),
                    os_image: field(|i| &i.os_image),
                    kernel_version: field(|i| &i.kernel_version),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The containers running in `namespaces` and their images and image ids, with the
    /// version labels of their pods. A namespace that cannot be listed is recorded, not fatal.
    pub async fn running_mesh(&self, namespaces: &[String]) -> RunningMesh {
        let mut out = RunningMesh::default();
        for ns in namespaces {
            let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
            match pods.list(&ListParams::default()).await {
                Ok(list) => {
                    for pod in &list.items {
                        record_pod(ns, pod, &mut out);
                    }
                }
                Err(e) => {
                    out.unlisted.insert(ns.clone(), describe(&e));
                }
            }
        }
        out.containers.sort_by(|a, b| {
            (a.pod.as_str(), a.container.as_str()).cmp(&(b.pod.as_str(), b.container.as_str()))
        });
        for v in out.version_labels.values_mut() {
            v.sort();
            v.dedup();
        }
        out
    }
}

/// One pod's containers (spec images, resolved by the statuses where started) and labels.
fn record_pod(ns: &str, pod: &Pod, out: &mut RunningMesh) {
    let name = format!("{ns}/{}", pod.metadata.name.as_deref().unwrap_or(""));
    let status = pod.status.as_ref();
    let statuses: Vec<&k8s_openapi::api::core::v1::ContainerStatus> = status
        .map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
                .collect()
        })
        .unwrap_or_default();
    let spec_containers = pod.spec.as_ref().map(|s| {
        s.init_containers
            .iter()
            .flatten()
            .chain(s.containers.iter())
            .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
    });
    for (container, spec_image) in spec_containers.unwrap_or_default() {
        let st = statuses.iter().find(|s| s.name == container);
        out.containers.push(RunningContainer {
            pod: name.clone(),
            container,
            image: st
                .map(|s| s.image.clone())
                .filter(|i| !i.is_empty())
                .unwrap_or(spec_image),
            image_id: st.map(|s| s.image_id.clone()).unwrap_or_default(),
        });
    }
    if let Some(labels) = &pod.metadata.labels {
        for key in VERSION_LABELS {
            if let Some(v) = labels.get(key) {
                out.version_labels
                    .entry(key.to_string())
                    .or_default()
                    .push(v.clone());
            }
        }
    }
}
