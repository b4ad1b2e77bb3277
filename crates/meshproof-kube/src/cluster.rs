//! Bring-up readiness of a fresh cluster, through the API: every node `Ready`, the CoreDNS
//! Deployment available and the `default` ServiceAccount of the `default` namespace created.
//!
//! `kind create cluster --wait` cannot be trusted for this: kind's `waitforready` action (v0.11.1
//! and v0.32.0) checks control-plane nodes only, never CoreDNS, and on timeout only logs a
//! warning and exits 0. A run that started on such a cluster would blame the mesh for DNS
//! failures, so the cluster layer waits here and names the last state when time runs out.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use kube::api::{Api, ListParams};

use crate::poll::{poll, Check, PollEnd};
use crate::{describe, Kube};

/// Namespace and name of kubeadm's CoreDNS Deployment (what kind deploys).
pub const COREDNS: (&str, &str) = ("kube-system", "coredns");
/// The ServiceAccount the token controller creates in every namespace; pods cannot be created
/// in `default` before it exists.
pub const DEFAULT_SERVICE_ACCOUNT: (&str, &str) = ("default", "default");

/// The cluster did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum ClusterReadyError {
    /// Time ran out; the last state of each part.
    #[error("timed out after {timeout:?} waiting for the cluster to be ready (nodes Ready, CoreDNS available, ServiceAccount default/default); last state: {last_state}")]
    Timeout {
        /// How long.
        timeout: Duration,
        /// Nodes, CoreDNS and the ServiceAccount as last seen.
        last_state: String,
    },
    /// The API refused to answer in a way waiting cannot fix (401/403).
    #[error("cannot wait for the cluster to be ready: {0}")]
    Refused(String),
}

/// What was seen when the cluster was ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterReady {
    /// Node names, sorted.
    pub nodes: Vec<String>,
}

impl Kube {
    /// Waits until the cluster has at least `expected_nodes` nodes, all `Ready`, CoreDNS is
    /// available and the `default` ServiceAccount exists — checked at once, then polled, for at
    /// most `timeout`.
    pub async fn wait_cluster_ready(
        &self,
        expected_nodes: usize,
        timeout: Duration,
    ) -> Result<ClusterReady, ClusterReadyError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), COREDNS.0);
        let accounts: Api<ServiceAccount> =
            Api::namespaced(self.client.clone(), DEFAULT_SERVICE_ACCOUNT.0);
        poll(timeout, || async {
            let n = nodes_ready(&nodes, expected_nodes).await;
            let d = coredns_available(&deployments).await;
            let a = account_present(&accounts).await;
            match (n, d, a) {
                (Check::Fatal(m), _, _) | (_, Check::Fatal(m), _) | (_, _, Check::Fatal(m)) => {
                    Check::Fatal(m)
                }
                (Check::Done(names), Check::Done(()), Check::Done(())) => {
                    Check::Done(ClusterReady { nodes: names })
                }
                (n, d, a) => Check::Pending(format!(
                    "nodes: {}; CoreDNS {}/{}: {}; ServiceAccount {}/{}: {}",
                    state(&n),
                    COREDNS.0,
                    COREDNS.1,
                    state(&d),
                    DEFAULT_SERVICE_ACCOUNT.0,
                    DEFAULT_SERVICE_ACCOUNT.1,
                    state(&a)
                )),
            }
        })
        .await
        .map_err(|end| match end {
            PollEnd::TimedOut(last_state) => ClusterReadyError::Timeout {
                timeout,
                last_state,
            },
            PollEnd::Fatal(m) => ClusterReadyError::Refused(m),
        })
    }
}

fn state<T>(c: &Check<T>) -> String {
    match c {
        Check::Done(_) => "ready".to_string(),
        Check::Pending(s) | Check::Fatal(s) => s.clone(),
    }
}

fn api_error<T>(err: &kube::Error) -> Check<T> {
    let message = describe(err);
    match err {
        kube::Error::Api(status) if matches!(status.code, 401 | 403) => Check::Fatal(message),
        _ => Check::Pending(format!("error: {message}")),
    }
}

async fn nodes_ready(api: &Api<Node>, expected: usize) -> Check<Vec<String>> {
    let list = match api.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => return api_error(&e),
    };
    let mut names = Vec::new();
    let mut not_ready = Vec::new();
    for node in &list {
        let name = node.metadata.name.clone().unwrap_or_default();
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
        match ready {
            Some(c) if c.status == "True" => {}
            Some(c) => {
                let why = match (c.reason.as_deref(), c.message.as_deref()) {
                    (Some(r), Some(m)) => format!(" ({r}: {m})"),
                    (Some(r), None) => format!(" ({r})"),
                    _ => String::new(),
                };
                not_ready.push(format!("{name} Ready={}{why}", c.status));
            }
            None => not_ready.push(format!("{name} has no Ready condition yet")),
        }
        names.push(name);
    }
    names.sort();
    not_ready.sort();
    let ready = list.len() - not_ready.len();
    if list.len() >= expected && not_ready.is_empty() {
        return Check::Done(names);
    }
    let mut s = format!("{ready}/{expected} Ready");
    if !not_ready.is_empty() {
        s.push_str(&format!(", not ready: {}", not_ready.join(", ")));
    }
    Check::Pending(s)
}

async fn coredns_available(api: &Api<Deployment>) -> Check<()> {
    let d = match api.get_opt(COREDNS.1).await {
        Ok(Some(d)) => d,
        Ok(None) => return Check::Pending("not found".into()),
        Err(e) => return api_error(&e),
    };
    let status = d.status.unwrap_or_default();
    let replicas = format!(
        "{}/{} replicas available",
        status.available_replicas.unwrap_or(0),
        d.spec.replicas.unwrap_or(1)
    );
    match status
        .conditions
        .unwrap_or_default()
        .iter()
        .find(|c| c.type_.as_deref() == Some("Available"))
    {
        Some(c) if c.status.as_deref() == Some("True") => Check::Done(()),
        Some(c) => Check::Pending(format!(
            "Available={}{}; {replicas}",
            c.status.as_deref().unwrap_or("Unknown"),
            c.reason
                .as_deref()
                .map_or_else(String::new, |r| format!(" ({r})"))
        )),
        None => Check::Pending(format!("no Available condition yet; {replicas}")),
    }
}

async fn account_present(api: &Api<ServiceAccount>) -> Check<()> {
    match api.get_opt(DEFAULT_SERVICE_ACCOUNT.1).await {
        Ok(Some(_)) => Check::Done(()),
        Ok(None) => Check::Pending("not created yet".into()),
        Err(e) => api_error(&e),
    }
}
