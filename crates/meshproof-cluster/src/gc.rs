//! Garbage collection of leftover meshproof clusters: [`plan`] lists every container whose
//! kind cluster label starts with `meshproof-` (grouped by cluster, with its volumes);
//! [`apply`] removes exactly what a plan lists (force, with volumes). Dry-run is the caller's
//! default: nothing is removed unless `apply` is called.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use serde::Serialize;

use crate::docker::{root_cause, Engine};
use crate::{CLUSTER_PREFIX, LABEL_CLUSTER, LABEL_ROLE};

/// A leftover container of a meshproof cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LeftoverContainer {
    /// Container name.
    pub name: String,
    /// Container id.
    pub id: String,
    /// kind role label.
    pub role: String,
    /// State (`running`, `exited`, ...).
    pub state: String,
}

/// A leftover meshproof cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftoverCluster {
    /// Cluster name (`meshproof-...`).
    pub name: String,
    /// Its containers, sorted by name.
    pub containers: Vec<LeftoverContainer>,
    /// Volumes its containers mount (kind's anonymous `/var` volumes), sorted.
    pub volumes: Vec<String>,
}

/// What `gc` would remove, sorted by cluster name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcPlan {
    /// Leftover clusters.
    pub clusters: Vec<LeftoverCluster>,
}

impl GcPlan {
    /// Nothing to remove.
    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }
}

/// One thing `apply` could not remove.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct GcFailure {
    /// `container <name>` or `volume <name>`.
    pub object: String,
    /// Root cause.
    pub error: String,
}

/// What `apply` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Containers removed, sorted.
    pub removed_containers: Vec<String>,
    /// Volumes removed (or already gone with their container), sorted.
    pub removed_volumes: Vec<String>,
    /// What could not be removed, sorted.
    pub failures: Vec<GcFailure>,
}

/// Listing leftovers failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list leftover meshproof clusters (containers labelled {LABEL_CLUSTER}={CLUSTER_PREFIX}*): {cause}")]
pub struct GcError {
    /// Root cause.
    pub cause: String,
    /// Underlying error.
    #[source]
    pub source: bollard::errors::Error,
}

/// List leftover meshproof clusters (nothing is removed).
pub async fn plan(engine: &Engine) -> Result<GcPlan, GcError> {
    let filters = HashMap::from([("label".to_string(), vec![LABEL_CLUSTER.to_string()])]);
    let list = engine
        .client()
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| GcError {
            cause: root_cause(&e),
            source: e,
        })?;
    let mut by_cluster: BTreeMap<String, (BTreeSet<LeftoverContainer>, BTreeSet<String>)> =
        BTreeMap::new();
    for c in list {
        let labels = c.labels.clone().unwrap_or_default();
        let Some(cluster) = labels.get(LABEL_CLUSTER) else {
            continue;
        };
        if !cluster.starts_with(CLUSTER_PREFIX) {
            continue;
        }
        let entry = by_cluster.entry(cluster.clone()).or_default();
        entry.0.insert(LeftoverContainer {
            name: c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            id: c.id.clone().unwrap_or_default(),
            role: labels.get(LABEL_ROLE).cloned().unwrap_or_default(),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
        });
        for m in c.mounts.unwrap_or_default() {
            if m.typ.as_deref() == Some("volume") {
                if let Some(name) = m.name {
                    entry.1.insert(name);
                }
            }
        }
    }
    Ok(GcPlan {
        clusters: by_cluster
            .into_iter()
            .map(|(name, (containers, volumes))| LeftoverCluster {
                name,
                containers: containers.into_iter().collect(),
                volumes: volumes.into_iter().collect(),
            })
            .collect(),
    })
}

/// Remove what `plan` lists: each container with force and its anonymous volumes, then any
/// listed volume that is still there. Failures are collected, not fatal. Only clusters named
/// `meshproof-*` are ever touched, even if a hand-made plan lists others.
pub async fn apply(engine: &Engine, plan: &GcPlan) -> GcReport {
    let client = engine.client();
    let mut report = GcReport::default();
    let rm_c = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    for cluster in plan
        .clusters
        .iter()
        .filter(|c| c.name.starts_with(CLUSTER_PREFIX))
    {
        for c in &cluster.containers {
            match client.remove_container(&c.id, Some(rm_c.clone())).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => report.removed_containers.push(c.name.clone()),
                Err(e) => report.failures.push(GcFailure {
                    object: format!("container {}", c.name),
                    error: root_cause(&e),
                }),
            }
        }
        for v in &cluster.volumes {
            match client
                .remove_volume(
                    v,
                    Some(RemoveVolumeOptionsBuilder::default().force(true).build()),
                )
                .await
            {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => report.removed_volumes.push(v.clone()),
                Err(e) => report.failures.push(GcFailure {
                    object: format!("volume {v}"),
                    error: root_cause(&e),
                }),
            }
        }
    }
    report.removed_containers.sort();
    report.removed_volumes.sort();
    report.failures.sort();
    report
}
