//! Pods of a namespace as plain data (name, `app` label, containers, readiness): what the suite
//! needs to prove every workload pod carries the mesh's data plane and to say which pod called.

use k8s_openapi::api::core::v1::Pod;

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
