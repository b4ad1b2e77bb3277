//! Named wait conditions with explicit timeouts: a CRD established, a Deployment available, a
//! DaemonSet or StatefulSet rolled out, the pods behind a selector ready, an APIService available. Each is checked right away and then
//! polled at a short interval; a timeout names the condition and the last state seen.

use std::fmt;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, ListParams};

use crate::poll::{poll, Check, PollEnd};
use crate::{describe, Kube};

/// Something the run waits for before it goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The CustomResourceDefinition `name` (e.g. `traffictargets.access.smi-spec.io`) has the
    /// condition `Established=True`.
    CrdEstablished {
        /// The CRD's name (`<plural>.<group>`).
        name: String,
    },
    /// The Deployment has `Available=True` for its current generation.
    DeploymentAvailable {
        /// The Deployment's namespace.
        namespace: String,
        /// The Deployment's name.
        name: String,
    },
    /// The DaemonSet's current generation is rolled out on every node that should run it, as
    /// `kubectl rollout status` judges it: the controller observed the generation, and the
    /// updated and the available pods both equal the desired number, which is not zero (a node
    /// proxy or agent that no node runs is not ready).
    DaemonSetReady {
        /// The DaemonSet's namespace.
        namespace: String,
        /// The DaemonSet's name.
        name: String,
    },
    /// The StatefulSet's current generation is rolled out, as `kubectl rollout status` judges
    /// it: the controller observed the generation, every wanted replica is ready, and the
    /// current revision is the update revision.
    StatefulSetReady {
        /// The StatefulSet's namespace.
        namespace: String,
        /// The StatefulSet's name.
        name: String,
    },
    /// At least one pod matches `selector` and every matching pod that is not finished or being
    /// deleted has `Ready=True`.
    PodsReady {
        /// The pods' namespace.
        namespace: String,
        /// A label selector, e.g. `app=app-a`.
        selector: String,
    },
    /// The APIService `name` (e.g. `v1alpha1.metrics.smi-spec.io`) has `Available=True`.
    ApiServiceAvailable {
        /// The APIService's name (`<version>.<group>`).
        name: String,
    },
    /// The Service has at least one ready endpoint in its EndpointSlices (e.g. a mesh's sidecar
    /// injector: until then its webhook cannot answer and pods may start without a sidecar).
    ServiceEndpointsReady {
        /// The Service's namespace.
        namespace: String,
        /// The Service's name.
        name: String,
    },
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::CrdEstablished { name } => {
                write!(f, "CustomResourceDefinition {name} established")
            }
            Condition::DeploymentAvailable { namespace, name } => {
                write!(f, "Deployment {namespace}/{name} available")
            }
            Condition::DaemonSetReady { namespace, name } => {
                write!(f, "DaemonSet {namespace}/{name} ready")
            }
            Condition::StatefulSetReady { namespace, name } => {
                write!(f, "StatefulSet {namespace}/{name} ready")
            }
            Condition::PodsReady {
                namespace,
                selector,
            } => write!(f, "pods {selector} in {namespace} ready"),
            Condition::ApiServiceAvailable { name } => write!(f, "APIService {name} available"),
            Condition::ServiceEndpointsReady { namespace, name } => {
                write!(f, "Service {namespace}/{name} has a ready endpoint")
            }
        }
    }
}

/// Waiting for a [`Condition`] failed.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The condition did not hold within the timeout.
    #[error("timed out after {timeout:?} waiting for {condition}; last state: {last_state}")]
    Timeout {
        /// What was waited for.
        condition: Condition,
        /// How long.
        timeout: Duration,
        /// The last state observed (or the last error met while checking).
        last_state: String,
    },
    /// Waiting cannot help (e.g. the API server forbids reading the object, a bad selector).
    #[error("cannot wait for {condition}: {message}")]
    Refused {
        /// What was waited for.
        condition: Condition,
        /// Why.
        message: String,
    },
}

/// Whether an error while checking is worth retrying.
fn check_error<T>(err: &kube::Error) -> Check<T> {
    let message = describe(err);
    match err {
        kube::Error::Api(status) if matches!(status.code, 400 | 401 | 403) => Check::Fatal(message),
        _ => Check::Pending(format!("error: {message}")),
    }
}

/// Formats a condition list entry as `Type=Status (Reason: message)`.
fn condition_text(kind: &str, status: &str, reason: Option<&str>, message: Option<&str>) -> String {
    let mut s = format!("{kind}={status}");
    match (
        reason.filter(|r| !r.is_empty()),
        message.filter(|m| !m.is_empty()),
    ) {
        (Some(r), Some(m)) => s.push_str(&format!(" ({r}: {m})")),
        (Some(r), None) => s.push_str(&format!(" ({r})")),
        (None, Some(m)) => s.push_str(&format!(" ({m})")),
        (None, None) => {}
    }
    s
}

impl Kube {
    /// Waits until `condition` holds, for at most `timeout`.
    ///
    /// The state is checked immediately, then every 100 ms to 1 s. Transient API errors are
    /// retried (and reported as the last state if the time runs out); 400/401/403 answers end the
    /// wait with [`WaitError::Refused`].
    pub async fn wait(&self, condition: &Condition, timeout: Duration) -> Result<(), WaitError> {
        let result = match condition {
            Condition::CrdEstablished { name } => {
                let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
                poll(timeout, || crd_established(&api, name)).await
            }
            Condition::DeploymentAvailable { namespace, name } => {
                let api: Api<Deployment> = Api::namespaced(self.client.clone(), namespace);
                poll(timeout, || deployment_available(&api, name)).await
            }
            Condition::DaemonSetReady { namespace, name } => {
                let api: Api<DaemonSet> = Api::namespaced(self.client.clone(), namespace);
                poll(timeout, || daemon_set_ready(&api, name)).await
            }
            Condition::StatefulSetReady { namespace, name } => {
                let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), namespace);
                poll(timeout, || stateful_set_ready(&api, name)).await
            }
            Condition::PodsReady {
                namespace,
                selector,
            } => {
                let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
                poll(timeout, || pods_ready(&api, selector)).await
            }
            Condition::ApiServiceAvailable { name } => {
                let api: Api<APIService> = Api::all(self.client.clone());
                poll(timeout, || api_service_available(&api, name)).await
            }
            Condition::ServiceEndpointsReady { namespace, name } => {
                let services: Api<Service> = Api::namespaced(self.client.clone(), namespace);
                let slices: Api<EndpointSlice> = Api::namespaced(self.client.clone(), namespace);
                poll(timeout, || {
                    service_endpoints_ready(&services, &slices, name)
                })
                .await
            }
        };
        result.map_err(|end| match end {
            PollEnd::TimedOut(last_state) => WaitError::Timeout {
                condition: condition.clone(),
                timeout,
                last_state,
            },
            PollEnd::Fatal(message) => WaitError::Refused {
                condition: condition.clone(),
                message,
            },
        })
    }
}

async fn crd_established(api: &Api<CustomResourceDefinition>, name: &str) -> Check<()> {
    let crd = match api.get_opt(name).await {
        Ok(Some(crd)) => crd,
        Ok(None) => return Check::Pending("not found".to_string()),
        Err(e) => return check_error(&e),
    };
    let conditions = crd
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|c| c.as_slice())
        .unwrap_or_default();
    match conditions.iter().find(|c| c.type_ == "Established") {
        Some(c) if c.status == "True" => Check::Done(()),
        Some(c) => Check::Pending(condition_text(
            "Established",
            &c.status,
            c.reason.as_deref(),
            c.message.as_deref(),
        )),
        None => {
            let seen: Vec<String> = conditions
                .iter()
                .map(|c| format!("{}={}", c.type_, c.status))
                .collect();
            if seen.is_empty() {
                Check::Pending("no status conditions yet".to_string())
            } else {
                Check::Pending(format!("no Established condition ({})", seen.join(", ")))
            }
        }
    }
}

async fn deployment_available(api: &Api<Deployment>, name: &str) -> Check<()> {
    let deployment = match api.get_opt(name).await {
        Ok(Some(d)) => d,
        Ok(None) => return Check::Pending("not found".to_string()),
        Err(e) => return check_error(&e),
    };
    let generation = deployment.metadata.generation.unwrap_or(0);
    let status = deployment.status.unwrap_or_default();
    let wanted = deployment.spec.replicas.unwrap_or(1);
    let replicas = format!(
        "{}/{} replicas available",
        status.available_replicas.unwrap_or(0),
        wanted
    );
    if status.observed_generation.unwrap_or(0) < generation {
        return Check::Pending(format!(
            "generation {generation} not yet observed by the controller; {replicas}"
        ));
    }
    let conditions = status.conditions.unwrap_or_default();
    match conditions
        .iter()
        .find(|c| c.type_.as_deref() == Some("Available"))
    {
        Some(c) if c.status.as_deref() == Some("True") => Check::Done(()),
        Some(c) => Check::Pending(format!(
            "{}; {replicas}",
            condition_text(
                "Available",
                c.status.as_deref().unwrap_or("Unknown"),
                c.reason.as_deref(),
                c.message.as_deref()
            )
        )),
        None => Check::Pending(format!("no Available condition yet; {replicas}")),
    }
}

async fn daemon_set_ready(api: &Api<DaemonSet>, name: &str) -> Check<()> {
    let ds = match api.get_opt(name).await {
        Ok(Some(d)) => d,
        Ok(None) => return Check::Pending("not found".to_string()),
        Err(e) => return check_error(&e),
    };
    let generation = ds.metadata.generation.unwrap_or(0);
    let status = ds.status.unwrap_or_default();
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    let pods = format!("{available}/{desired} pods available, {updated}/{desired} updated");
    if status.observed_generation.unwrap_or(0) < generation {
        return Check::Pending(format!(
            "generation {generation} not yet observed by the controller; {pods}"
        ));
    }
    if desired == 0 {
        return Check::Pending(format!(
            "no node is to run it yet (desired 0; {} misscheduled)",
            status.number_misscheduled
        ));
    }
    if updated < desired || available < desired {
        return Check::Pending(pods);
    }
    Check::Done(())
}

async fn stateful_set_ready(api: &Api<StatefulSet>, name: &str) -> Check<()> {
    let sts = match api.get_opt(name).await {
        Ok(Some(s)) => s,
        Ok(None) => return Check::Pending("not found".to_string()),
        Err(e) => return check_error(&e),
    };
    let generation = sts.metadata.generation.unwrap_or(0);
    let wanted = sts.spec.replicas.unwrap_or(1);
    let status = sts.status.unwrap_or_default();
    let ready = status.ready_replicas.unwrap_or(0);
    let replicas = format!("{ready}/{wanted} replicas ready");
    if status.observed_generation.unwrap_or(0) < generation {
        return Check::Pending(format!(
            "generation {generation} not yet observed by the controller; {replicas}"
        ));
    }
    if ready < wanted {
        return Check::Pending(replicas);
    }
    match (
        status.current_revision.as_deref(),
        status.update_revision.as_deref(),
    ) {
        (Some(current), Some(update)) if current != update => Check::Pending(format!(
            "rolling update in progress (revision {current} → {update}); {replicas}"
        )),
        _ => Check::Done(()),
    }
}

async fn pods_ready(api: &Api<Pod>, selector: &str) -> Check<()> {
    let pods = match api.list(&ListParams::default().labels(selector)).await {
        Ok(list) => list.items,
        Err(e) => return check_error(&e),
    };
    let mut considered = 0usize;
    let mut not_ready = Vec::new();
    for pod in &pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".to_string());
        if pod.metadata.deletion_timestamp.is_some() || phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        considered += 1;
        let ready = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
        match ready {
            Some(c) if c.status == "True" => {}
            Some(c) => not_ready.push(format!(
                "{name} ({phase}, {})",
                condition_text("Ready", &c.status, c.reason.as_deref(), None)
            )),
            None => not_ready.push(format!("{name} ({phase})")),
        }
    }
    if considered == 0 {
        return Check::Pending(if pods.is_empty() {
            "no pods match".to_string()
        } else {
            format!("{} matching pods, all finished or terminating", pods.len())
        });
    }
    if not_ready.is_empty() {
        Check::Done(())
    } else {
        not_ready.sort();
        Check::Pending(format!(
            "{}/{considered} pods ready; not ready: {}",
            considered - not_ready.len(),
            not_ready.join(", ")
        ))
    }
}

async fn api_service_available(api: &Api<APIService>, name: &str) -> Check<()> {
    let service = match api.get_opt(name).await {
        Ok(Some(s)) => s,
        Ok(None) => return Check::Pending("not found".to_string()),
        Err(e) => return check_error(&e),
    };
    let conditions = service
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    match conditions.iter().find(|c| c.type_ == "Available") {
        Some(c) if c.status == "True" => Check::Done(()),
        Some(c) => Check::Pending(condition_text(
            "Available",
            &c.status,
            c.reason.as_deref(),
            c.message.as_deref(),
        )),
        None => Check::Pending("no Available condition yet".to_string()),
    }
}

async fn service_endpoints_ready(
    services: &Api<Service>,
    slices: &Api<EndpointSlice>,
    name: &str,
) -> Check<()> {
    match services.get_opt(name).await {
        Ok(Some(_)) => {}
        Ok(None) => return Check::Pending("Service not found".to_string()),
        Err(e) => return check_error(&e),
    }
    let selector = format!("kubernetes.io/service-name={name}");
    let list = match slices.list(&ListParams::default().labels(&selector)).await {
        Ok(l) => l.items,
        Err(e) => return check_error(&e),
    };
    let (mut ready, mut not_ready) = (0usize, 0usize);
    for slice in &list {
        for ep in slice.endpoints.iter().flatten() {
            // `ready` unset means ready (discovery.k8s.io/v1 EndpointConditions).
            if ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) {
                ready += 1;
            } else {
                not_ready += 1;
            }
        }
    }
    if ready > 0 {
        Check::Done(())
    } else if list.is_empty() {
        Check::Pending("no EndpointSlice for the Service yet".to_string())
    } else {
        Check::Pending(format!("0 ready endpoints ({not_ready} not ready)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_display_their_object_and_state() {
        let c = Condition::DeploymentAvailable {
            namespace: "osm-system".into(),
            name: "osm-controller".into(),
        };
        assert_eq!(
            c.to_string(),
            "Deployment osm-system/osm-controller available"
        );
        let c = Condition::CrdEstablished {
            name: "traffictargets.access.smi-spec.io".into(),
        };
        assert_eq!(
            c.to_string(),
            "CustomResourceDefinition traffictargets.access.smi-spec.io established"
        );
        let c = Condition::DaemonSetReady {
            namespace: "traefik-mesh".into(),
            name: "traefik-mesh-proxy".into(),
        };
        assert_eq!(
            c.to_string(),
            "DaemonSet traefik-mesh/traefik-mesh-proxy ready"
        );
        let c = Condition::StatefulSetReady {
            namespace: "nginx-mesh".into(),
            name: "spire-server".into(),
        };
        assert_eq!(c.to_string(), "StatefulSet nginx-mesh/spire-server ready");
        let c = Condition::PodsReady {
            namespace: "smi-access".into(),
            selector: "app=app-a".into(),
        };
        assert_eq!(c.to_string(), "pods app=app-a in smi-access ready");
        let c = Condition::ApiServiceAvailable {
            name: "v1alpha1.metrics.smi-spec.io".into(),
        };
        assert_eq!(
            c.to_string(),
            "APIService v1alpha1.metrics.smi-spec.io available"
        );
    }
}
