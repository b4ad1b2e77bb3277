//! Cluster bring-up that really waits: `kind create cluster` against a scratch kubeconfig, then
//! a wait through the API until every node is Ready, CoreDNS is available and the `default`
//! ServiceAccount exists. kind's own `--wait` exits 0 with only a warning when it runs out, so
//! its success is never taken as readiness; a timeout names the last state seen (and kind's
//! warning, when it gave one).

use std::path::Path;
use std::time::Duration;

use meshproof_cluster::kind::{self, CreateOutcome, CreateRequest, KindCli, KindError};
use meshproof_kube::{ClusterReady, ClusterReadyError, Kube};

/// A cluster that is up and ready.
#[derive(Debug)]
pub struct BroughtUp {
    /// A client on the scratch kubeconfig.
    pub kube: Kube,
    /// What kind said besides succeeding (e.g. its own wait timing out).
    pub create: CreateOutcome,
    /// What the readiness wait saw.
    pub ready: ClusterReady,
}

/// Bring-up failed.
#[derive(Debug, thiserror::Error)]
pub enum BringUpError {
    /// `kind create cluster` failed.
    #[error(transparent)]
    Create(#[from] KindError),
    /// The kubeconfig kind wrote cannot be used.
    #[error(
        "cannot connect to cluster {cluster} with the kubeconfig kind wrote ({path}): {reason}"
    )]
    Connect {
        cluster: String,
        path: String,
        reason: String,
    },
    /// The cluster did not become ready.
    #[error("cluster {cluster} is not ready: {source}{}", kind_note(.kind_warnings))]
    NotReady {
        cluster: String,
        kind_warnings: Vec<String>,
        #[source]
        source: ClusterReadyError,
    },
}

fn kind_note(warnings: &[String]) -> String {
    if warnings.is_empty() {
        String::new()
    } else {
        format!(" (kind said: {})", warnings.join("; "))
    }
}

/// Create the cluster with `kind` (its scratch kubeconfig receives the credentials), connect
/// with `connect(kubeconfig, context)`, and wait up to `ready_timeout` for `expected_nodes`
/// Ready nodes, CoreDNS and the `default` ServiceAccount. Blocking: runs the wait on `rt`.
pub fn bring_up(
    rt: &tokio::runtime::Handle,
    kind: &KindCli,
    req: &CreateRequest,
    expected_nodes: usize,
    ready_timeout: Duration,
    connect: impl FnOnce(&Path, &str) -> Result<Kube, String>,
) -> Result<BroughtUp, BringUpError> {
    let create = kind.create(req)?;
    let context = kind::context_name(&req.name);
    let kube = connect(kind.kubeconfig(), &context).map_err(|reason| BringUpError::Connect {
        cluster: req.name.clone(),
        path: kind.kubeconfig().display().to_string(),
        reason,
    })?;
    let ready = rt
        .block_on(kube.wait_cluster_ready(expected_nodes, ready_timeout))
        .map_err(|source| BringUpError::NotReady {
            cluster: req.name.clone(),
            kind_warnings: create.warnings.clone(),
            source,
        })?;
    Ok(BroughtUp {
        kube,
        create,
        ready,
    })
}
