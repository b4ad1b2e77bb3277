//! Why a run stopped early: the platform's typed errors, each carrying the layer's own error as
//! its source (kind, Docker, the Kubernetes API, the install layer), and the run-level error the
//! CLI exits 4 with — so `main` prints the whole cause chain, not one flattened string.
//!
//! Messages keep the words the layers chose; a variant adds context only where the platform
//! knows more than the layer (which cluster, which mesh, which install step).

use std::path::PathBuf;
use std::sync::Arc;

use crate::timing::Phase;

/// An infrastructure failure (not the mesh's): Docker, kind, the API server, an install, Ctrl-C.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// Ctrl-C: a request in flight was dropped, or the next phase did not start (`before`; a
    /// case boundary is not named, as bundles have always recorded it).
    #[error("interrupted (Ctrl-C){}", before.as_ref().map(|p| format!(" before {p}")).unwrap_or_default())]
    Interrupted { before: Option<Phase> },
    /// The machine failed preflight: the failed checks, each with what to do.
    #[error("{0}")]
    Preflight(String),
    /// The preflight checks failed (each named, with its detail), or could not run.
    #[error(transparent)]
    Checks(#[from] crate::doctor::DoctorError),
    /// A pin or lock file of the run's inputs cannot be used.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// The kind binary the cluster pin needs could not be provided.
    #[error("providing kind for cluster pin {pin}: {source}")]
    KindBinary {
        pin: String,
        #[source]
        source: Box<crate::kind_binary::KindChoiceError>,
    },
    /// The kind CLI failed (`kind version`).
    #[error(transparent)]
    Kind(#[from] meshproof_cluster::kind::KindError),
    /// The kind on this machine does not satisfy the cluster pin.
    #[error(transparent)]
    KindVersion(#[from] meshproof_cluster::kind::KindVersionError),
    /// The kind config cannot be rendered from the cluster pin.
    #[error(transparent)]
    KindConfig(#[from] meshproof_cluster::kind::RenderError),
    /// The run id gives no valid cluster name.
    #[error(transparent)]
    ClusterName(#[from] meshproof_cluster::kind::ClusterNameError),
    /// `kind create cluster` failed, or the cluster never became ready.
    #[error("creating kind cluster {cluster}: {source}")]
    ClusterCreate {
        cluster: String,
        #[source]
        source: crate::bringup::BringUpError,
    },
    /// The Docker engine cannot be reached.
    #[error(transparent)]
    Docker(Box<meshproof_cluster::docker::ConnectError>),
    /// The cluster's node containers cannot be listed.
    #[error(transparent)]
    Nodes(Box<meshproof_cluster::nodes::ListNodesError>),
    /// The workload image archive cannot be opened for loading.
    #[error(transparent)]
    ImageArchive(#[from] meshproof_cluster::images::ImageArchiveError),
    /// Deleting the cluster failed.
    #[error(transparent)]
    ClusterDelete(#[from] meshproof_cluster::guard::TeardownError),
    /// The cluster's kubeconfig cannot be used.
    #[error(transparent)]
    KubeConnect(Box<meshproof_kube::ConnectError>),
    /// `GET /version` failed.
    #[error(transparent)]
    ServerVersion(#[from] meshproof_kube::ServerVersionError),
    /// API discovery failed (served groups and versions).
    #[error(transparent)]
    Discovery(#[from] meshproof_kube::DiscoveryError),
    /// The external cluster's nodes cannot be listed.
    #[error(transparent)]
    NodeInfo(#[from] meshproof_kube::NodesError),
    /// A namespace of the mesh install cannot be created.
    #[error(transparent)]
    Namespace(#[from] meshproof_kube::NamespaceError),
    /// A readiness check of the mesh failed or timed out.
    #[error(transparent)]
    Wait(Box<meshproof_kube::WaitError>),
    /// The mesh's sidecar injector never had ready endpoints.
    #[error("{mesh}: the sidecar injector is not ready: {source}")]
    Injector {
        mesh: String,
        #[source]
        source: Box<meshproof_kube::WaitError>,
    },
    /// The install layer failed (downloads, digests, the lock, helm, a mesh CLI).
    #[error(transparent)]
    Install(Box<crate::install::InstallError>),
    /// A manifest (rendered or of the workload) does not parse.
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
    /// The API server rejected an object of the mesh install.
    #[error("installing {mesh} ({step}): {object} rejected: {reason}")]
    Rejected {
        mesh: String,
        step: String,
        object: String,
        reason: String,
    },
    /// A local file or process (scratch files, `docker build`, the image archive).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Deleting the cluster failed after the run's work (recorded as the run's failure).
    #[error("teardown: {source}")]
    Teardown {
        #[source]
        source: Box<PlatformError>,
    },
    /// What failed, in words: there is no underlying error to carry.
    #[error("{0}")]
    Failed(String),
}

impl PlatformError {
    /// An error that is only words.
    pub fn failed(message: impl Into<String>) -> Self {
        PlatformError::Failed(message.into())
    }

    /// A local I/O error, saying what was being done.
    pub fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.to_string();
        move |source| PlatformError::Io { what, source }
    }
}

/// The layers' larger errors are boxed, so a `Result` of the platform stays small.
macro_rules! boxed_from {
    ($($error:ty => $variant:ident),* $(,)?) => {
        $(impl From<$error> for PlatformError {
            fn from(e: $error) -> Self {
                PlatformError::$variant(Box::new(e))
            }
        })*
    };
}

boxed_from! {
    meshproof_cluster::docker::ConnectError => Docker,
    meshproof_cluster::nodes::ListNodesError => Nodes,
    meshproof_kube::ConnectError => KubeConnect,
    meshproof_kube::WaitError => Wait,
    crate::install::InstallError => Install,
}

/// A run that did not end with its verdicts standing: what `run`, `reproduce` and `rerun` exit
/// 4 with (`crate::error::AppError::Run`).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The platform failed before anything was written (preflight, its runtime).
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// Interrupted: the bundle holds what was recorded until then.
    #[error("run aborted ({source}); the bundle {} holds what was recorded", bundle.display())]
    Aborted {
        bundle: PathBuf,
        #[source]
        source: Arc<PlatformError>,
    },
    /// An infrastructure failure ended the run early; the bundle holds what was recorded.
    #[error("infrastructure failure: {source}; the bundle {} holds what was recorded", bundle.display())]
    Infrastructure {
        bundle: PathBuf,
        #[source]
        source: Arc<PlatformError>,
    },
}
