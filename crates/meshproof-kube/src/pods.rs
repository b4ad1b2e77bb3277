//! Pods of a namespace as plain data (name, `app` label, containers, readiness): what the suite
//! needs to prove every workload pod carries the mesh's data plane and to say which pod called.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use crate::traffic::TrafficError;
use crate::{describe, Kube};

/// One pod as the API server listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSummary {
    /// The pod's name.
    pub name: String,
    /// Its `app` label, if any.
    pub app: Option<String>,
    /// Names of its containers and init containers (injected ones included), sorted.
    pub containers: Vec<String>,
    /// Phase `Running`, condition `Ready` true and not being deleted.
    pub ready: bool,
    /// Its phase (`Unknown` when the status has none).
    pub phase: String,
}

impl PodSummary {
    /// Summarise a pod object.
    pub fn of(pod: &Pod) -> Self {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let app = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app").cloned());
        let mut containers: Vec<String> = pod
            .spec
            .as_ref()
            .map(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
                    .map(|c| c.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        containers.sort();
        containers.dedup();
        let status = pod.status.as_ref();
        let phase = status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".to_string());
        let is_ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let ready = phase == "Running" && is_ready && pod.metadata.deletion_timestamp.is_none();
        PodSummary {
            name,
            app,
            containers,
            ready,
            phase,
        }
    }
}

impl Kube {
    /// The pods of `namespace` matching `selector` (every pod when empty), sorted by name.
    pub async fn pods(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<PodSummary>, TrafficError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let mut lp = ListParams::default();
        if !selector.is_empty() {
            lp = lp.labels(selector);
        }
        let mut pods: Vec<PodSummary> = api
            .list(&lp)
            .await
            .map_err(|e| TrafficError::ListPods {
                namespace: namespace.to_string(),
                selector: selector.to_string(),
                message: describe(&e),
                transient: crate::is_transient(&e),
            })?
            .items
            .iter()
            .map(PodSummary::of)
            .collect();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(pods)
    }
}
