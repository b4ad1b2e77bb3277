//! meshproof's Kubernetes layer: everything the run does against a cluster's API server, on kube-rs.
//!
//! It sits between the cluster layer (which brings a kind cluster up and hands over a kubeconfig)
//! and the suite runner (which turns what this crate returns into observations). Nothing here
//! decides pass or fail: operations report what the API server said, as plain data.
//!
//! - [`Kube`] wraps a [`kube::Client`]; build it from a kubeconfig ([`Kube::from_kubeconfig`]) or
//!   from any client, e.g. one over a `tower_test` mock ([`Kube::new`]).
//! - [`discovery`]: the server version, the SMI API groups/versions the cluster serves, raw GETs
//!   of the aggregated SMI metrics API.
//! - [`apply`]: server-side apply of multi-document manifests through discovery, `get`, `delete`.
//! - [`namespace`]: per-case namespaces with the mesh's onboarding labels and annotations.
//! - [`wait`]: named wait conditions with explicit timeouts.
//! - [`cluster`]: bring-up readiness of a fresh cluster (nodes, CoreDNS, default ServiceAccount).
//! - [`traffic`]: the traffic driver, the probe's `/call` through a pod port-forward.
//! - [`external`]: a cluster meshproof did not create: the kubeconfig checked offline, its
//!   nodes, and the images a user-installed mesh runs.
//! - [`pods`]: pods as plain data (containers, readiness) for data-plane checks.
//! - [`evidence`]: best-effort diagnostics (logs, events, object dumps, image ids) and [`redact`].

pub mod apply;
pub mod cluster;
pub mod discovery;
pub mod evidence;
pub mod external;
pub mod namespace;
pub mod pods;
mod poll;
pub mod traffic;
pub mod wait;

use std::path::{Path, PathBuf};

pub use apply::{ApplyOutcome, DeleteOutcome, ObjectError};
pub use cluster::{ClusterReady, ClusterReadyError};
pub use discovery::{DiscoveryError, RawGetError, ServedApiVersions, ServerVersionError};
pub use evidence::{redact, redact_bytes, EvidenceReport};
pub use external::{
    check_kubeconfig, KubeconfigError, KubeconfigTarget, NodeInfo, NodesError, RunningMesh,
};
pub use namespace::NamespaceError;
pub use pods::PodSummary;
pub use traffic::{post_call, probe_call_request, ProbeAnswer, TrafficError};
pub use wait::{Condition, WaitError};

/// The field manager meshproof's server-side applies are recorded under.
pub const FIELD_MANAGER: &str = "meshproof";

/// A handle on one cluster's API server.
///
/// Cheap to clone (the underlying [`kube::Client`] is a shared, buffered service).
#[derive(Clone)]
pub struct Kube {
    client: kube::Client,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("default_namespace", &self.client.default_namespace())
            .finish_non_exhaustive()
    }
}

/// Loading a kubeconfig and building a client from it failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The kubeconfig could not be read or did not make a usable configuration.
    #[error("cannot use kubeconfig {path} (context {context}): {source}; check that the file exists and names a reachable cluster")]
    Kubeconfig {
        /// The kubeconfig path given.
        path: PathBuf,
        /// The context asked for, or `current-context`.
        context: String,
        /// What kube-rs reported.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The configuration was read but a client could not be built from it (e.g. TLS setup).
    #[error(
        "cannot build a Kubernetes client from kubeconfig {path} (context {context}): {source}"
    )]
    Client {
        /// The kubeconfig path given.
        path: PathBuf,
        /// The context asked for, or `current-context`.
        context: String,
        /// What kube-rs reported.
        #[source]
        source: kube::Error,
    },
}

impl Kube {
    /// Wraps an existing client (production code uses [`Kube::from_kubeconfig`]; tests pass a
    /// client over a `tower_test::mock` service).
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    /// Builds a client from the kubeconfig at `path`, using `context` or else the file's
    /// `current-context`. No request is made yet.
    pub async fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<Self, ConnectError> {
        let context_label = context.unwrap_or("current-context").to_string();
        let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|source| {
            ConnectError::Kubeconfig {
                path: path.to_path_buf(),
                context: context_label.clone(),
                source,
            }
        })?;
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|source| ConnectError::Kubeconfig {
                path: path.to_path_buf(),
                context: context_label.clone(),
                source,
            })?;
        let client = kube::Client::try_from(config).map_err(|source| ConnectError::Client {
            path: path.to_path_buf(),
            context: context_label,
            source,
        })?;
        Ok(Self { client })
    }

    /// The underlying kube-rs client, for operations this crate does not wrap.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }
}

/// Renders a kube-rs error for humans: the API server's own message for API errors (the
/// `Status` message, reason and code), the error chain otherwise.
pub(crate) fn describe(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => {
            let mut s = status.message.clone();
            if s.is_empty() {
                s = "the API server answered with an error".to_string();
            }
            if !status.reason.is_empty() || status.code != 0 {
                s.push_str(&format!(" ({} {})", status.code, status.reason));
            }
            s
        }
        other => {
            let mut s = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(e) = source {
                let next = e.to_string();
                if !s.contains(&next) {
                    s.push_str(": ");
                    s.push_str(&next);
                }
                source = e.source();
            }
            s
        }
    }
}

/// True when the same request may succeed if repeated: the API server answered 429 or 5xx (an
/// aggregated API without a ready backend answers 503), the connection failed or broke, or a
/// connection upgrade (a port-forward) failed. Every other 4xx answer and every local error
/// (bad request, TLS or auth setup) is final.
pub fn is_transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_)
        | kube::Error::Service(_)
        | kube::Error::ReadEvents(_)
        | kube::Error::UpgradeConnection(_) => true,
        _ => false,
    }
}

/// True when `err` is the API server saying 404 Not Found.
pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_not_found())
}
