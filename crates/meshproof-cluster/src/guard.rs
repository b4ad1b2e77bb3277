//! The cluster guard: deletes a run's cluster when the run ends, fails, panics or gets
//! Ctrl-C/SIGTERM (unless `keep`), and [`verify_gone`] checks afterwards that no container,
//! volume or network of the run remains.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
};
use serde::Serialize;

use crate::docker::{root_cause, Engine};
use crate::LABEL_CLUSTER;

/// Deleting a cluster failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot delete cluster {cluster}: {cause}")]
pub struct TeardownError {
    /// Cluster name.
    pub cluster: String,
    /// What went wrong.
    pub cause: String,
}

/// Something that deletes a cluster: [`crate::kind::KindCli`] (`kind delete cluster`), or
/// [`DockerTeardown`] (removes the labelled containers and their volumes directly).
/// Blocking: it runs from `Drop`.
pub trait Teardown: Send + Sync + std::fmt::Debug {
    /// Delete `cluster`; succeed when it does not exist.
    fn delete_cluster(&self, cluster: &str) -> Result<(), TeardownError>;
}

/// What the guard did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeardownOutcome {
    /// The cluster was deleted now.
    Deleted,
    /// `keep` was set; nothing deleted.
    Kept,
    /// It had already been torn down (e.g. by the signal handler).
    AlreadyDone,
}

#[derive(Debug)]
struct Inner {
    cluster: String,
    teardown: Arc<dyn Teardown>,
    keep: bool,
    kubeconfig: Option<PathBuf>,
    done: AtomicBool,
}

impl Inner {
    fn run(&self) -> Result<TeardownOutcome, TeardownError> {
        if self.done.swap(true, Ordering::SeqCst) {
            return Ok(TeardownOutcome::AlreadyDone);
        }
        if self.keep {
            eprintln!(
                "{}",
                keep_message(&self.cluster, self.kubeconfig.as_deref())
            );
            return Ok(TeardownOutcome::Kept);
        }
        self.teardown.delete_cluster(&self.cluster)?;
        Ok(TeardownOutcome::Deleted)
    }
}

/// Deletes its cluster exactly once: on [`ClusterGuard::teardown`], on drop (normal end, `?`
/// error paths, panics with unwinding), or on Ctrl-C / SIGTERM once
/// [`ClusterGuard::spawn_signal_handler`] is running — unless `keep` is set, in which case it
/// prints how to reach and delete the cluster instead.
#[derive(Debug)]
pub struct ClusterGuard {
    inner: Arc<Inner>,
}

impl ClusterGuard {
    /// Guard `cluster`; delete it with `teardown` unless `keep`.
    pub fn new(cluster: impl Into<String>, teardown: Arc<dyn Teardown>, keep: bool) -> Self {
        Self::with_kubeconfig(cluster, teardown, keep, None)
    }

    /// [`ClusterGuard::new`] for a cluster whose kubeconfig is at `kubeconfig` (what a kept
    /// cluster's message points the user to).
    pub fn with_kubeconfig(
        cluster: impl Into<String>,
        teardown: Arc<dyn Teardown>,
        keep: bool,
        kubeconfig: Option<PathBuf>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                cluster: cluster.into(),
                teardown,
                keep,
                kubeconfig,
                done: AtomicBool::new(false),
            }),
        }
    }

    /// The kubeconfig of the guarded cluster, when known.
    pub fn kubeconfig(&self) -> Option<&Path> {
        self.inner.kubeconfig.as_deref()
    }

    /// The guarded cluster.
    pub fn cluster(&self) -> &str {
        &self.inner.cluster
    }

    /// Whether the cluster is kept.
    pub fn keep(&self) -> bool {
        self.inner.keep
    }

    /// Tear down now (after evidence collection) and report the outcome; later calls and the
    /// drop do nothing.
    pub fn teardown(&self) -> Result<TeardownOutcome, TeardownError> {
        self.inner.run()
    }

    /// Install Ctrl-C and SIGTERM handlers (needs a tokio runtime; they are active when this
    /// returns) and spawn a task that, on either signal, tears the cluster down (or prints how
    /// to reach it when kept) and exits the process with `130` (SIGINT) or `143` (SIGTERM).
    /// Abort the returned handle to stop watching.
    pub fn spawn_signal_handler(
        &self,
    ) -> std::io::Result<tokio::task::JoinHandle<Option<Result<TeardownOutcome, TeardownError>>>>
    {
        Ok(self.spawn_teardown_on(shutdown_signal()?, true))
    }

    /// Spawn a task that tears the cluster down when `trigger` resolves, then exits the process
    /// with the signal's exit code if `exit_process` (else returns the outcome). The building
    /// block of [`ClusterGuard::spawn_signal_handler`], usable with any trigger.
    pub fn spawn_teardown_on<F>(
        &self,
        trigger: F,
        exit_process: bool,
    ) -> tokio::task::JoinHandle<Option<Result<TeardownOutcome, TeardownError>>>
    where
        F: std::future::Future<Output = ShutdownSignal> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let signal = trigger.await;
            eprintln!("received {signal}: tearing down cluster {}", inner.cluster);
            let inner2 = Arc::clone(&inner);
            let result = tokio::task::spawn_blocking(move || inner2.run()).await.ok();
            if let Some(Err(e)) = &result {
                eprintln!("{e}");
            }
            if exit_process {
                std::process::exit(signal.exit_code());
            }
            result
        })
    }
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if let Err(e) = self.inner.run() {
            eprintln!(
                "{e} — remove it with `kind delete cluster --name {}` or `meshproof gc --yes`",
                self.inner.cluster
            );
        }
    }
}

/// A shutdown signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownSignal {
    /// Ctrl-C.
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl ShutdownSignal {
    /// Conventional exit code (128 + signal number).
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Interrupt => 130,
            Self::Terminate => 143,
        }
    }
}

impl std::fmt::Display for ShutdownSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Interrupt => "Ctrl-C (SIGINT)",
            Self::Terminate => "SIGTERM",
        })
    }
}

/// Install Ctrl-C (SIGINT) and SIGTERM handlers now (needs a tokio runtime) and return a
/// future that resolves with the first of them to arrive.
pub fn shutdown_signal(
) -> std::io::Result<impl std::future::Future<Output = ShutdownSignal> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => ShutdownSignal::Interrupt,
            _ = terminate.recv() => ShutdownSignal::Terminate,
        }
    })
}

/// Wait for Ctrl-C or SIGTERM (for callers that `select!` on it themselves).
pub async fn wait_for_shutdown_signal() -> std::io::Result<ShutdownSignal> {
    Ok(shutdown_signal()?.await)
}

/// What to tell the user when a cluster is kept: the `KUBECONFIG=… kubectl` line when the
/// kubeconfig meshproof gave kind is known (the user's own kubeconfig never names the cluster).
pub fn keep_message(cluster: &str, kubeconfig: Option<&Path>) -> String {
    match kubeconfig {
        Some(k) => format!(
            "keeping cluster {cluster}: reach it with\n  KUBECONFIG={} kubectl get nodes
delete it with `meshproof gc --yes` (or `kind delete cluster --name {cluster} --kubeconfig {}`)",
            k.display(),
            k.display()
        ),
        None => format!(
            "keeping cluster {cluster}: reach it with `kind get kubeconfig --name {cluster} > kubeconfig && KUBECONFIG=kubeconfig kubectl get nodes` (context kind-{cluster}); delete it with `meshproof gc --yes`"
        ),
    }
}

/// Deletes a cluster through the Docker API: removes every container labelled
/// `io.x-k8s.kind.cluster=<cluster>` with force and its anonymous volumes (what
/// `kind delete cluster` does for the Docker provider, minus the kubeconfig cleanup). Used by
/// `gc`, as a fallback without kind, and by tests.
#[derive(Debug, Clone)]
pub struct DockerTeardown {
    engine: Engine,
}

impl DockerTeardown {
    /// Teardown through `engine`.
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }
}

impl Teardown for DockerTeardown {
    fn delete_cluster(&self, cluster: &str) -> Result<(), TeardownError> {
        // Drop cannot await: run on a private runtime in a scoped thread, which also works
        // when called from inside another tokio runtime.
        let engine = self.engine.clone();
        let result = std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(remove_cluster_containers(&engine, cluster))
            })
            .join()
            .unwrap_or_else(|_| Err("teardown thread panicked".to_string()))
        });
        result.map(|_| ()).map_err(|cause| TeardownError {
            cluster: cluster.to_string(),
            cause,
        })
    }
}

/// Remove (force, with anonymous volumes) every container labelled for `cluster`; returns the
/// removed container names, sorted.
pub async fn remove_cluster_containers(
    engine: &Engine,
    cluster: &str,
) -> Result<Vec<String>, String> {
    let nodes = crate::nodes::list_containers(engine, cluster)
        .await
        .map_err(|e| e.to_string())?;
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    let mut removed = Vec::new();
    let mut errors = Vec::new();
    for node in nodes {
        match engine
            .client()
            .remove_container(&node.container_id, Some(opts.clone()))
            .await
        {
            Ok(()) => removed.push(node.name),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => removed.push(node.name),
            Err(e) => errors.push(format!("container {}: {}", node.name, root_cause(&e))),
        }
    }
    if errors.is_empty() {
        removed.sort();
        Ok(removed)
    } else {
        Err(errors.join("; "))
    }
}

/// What a cluster occupies in Docker, captured before teardown so [`verify_gone`] can check
/// that all of it went away.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// Cluster name.
    pub cluster: String,
    /// Node container ids, sorted.
    pub containers: Vec<String>,
    /// Volumes mounted by the nodes (kind's anonymous `/var` volumes), sorted.
    pub volumes: Vec<String>,
}

/// Leftovers found by [`verify_gone`]; empty when the cluster is gone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Leftovers {
    /// Containers still present (name or id), sorted.
    pub containers: Vec<String>,
    /// Volumes still present, sorted.
    pub volumes: Vec<String>,
    /// Networks still present (named after the cluster or labelled for it), sorted.
    pub networks: Vec<String>,
}

impl Leftovers {
    /// Nothing left.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.volumes.is_empty() && self.networks.is_empty()
    }
}

/// Looking at Docker for a cluster's footprint or leftovers failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot check Docker for what remains of cluster {cluster} ({step}): {cause}")]
pub struct VerifyError {
    /// Cluster name.
    pub cluster: String,
    /// `list containers`, `list volumes`, `list networks`.
    pub step: &'static str,
    /// Root cause.
    pub cause: String,
    /// Underlying error.
    #[source]
    pub source: bollard::errors::Error,
}

fn verify_err<'a>(
    cluster: &'a str,
    step: &'static str,
) -> impl Fn(bollard::errors::Error) -> VerifyError + 'a {
    move |e| VerifyError {
        cluster: cluster.to_string(),
        step,
        cause: root_cause(&e),
        source: e,
    }
}

/// Capture the containers and volumes of `cluster` (before tearing it down).
pub async fn footprint(engine: &Engine, cluster: &str) -> Result<Footprint, VerifyError> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_CLUSTER}={cluster}")],
    )]);
    let list = engine
        .client()
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(verify_err(cluster, "list containers"))?;
    let mut containers = BTreeSet::new();
    let mut volumes = BTreeSet::new();
    for c in list {
        if let Some(id) = c.id {
            containers.insert(id);
        }
        for m in c.mounts.unwrap_or_default() {
            if m.typ.as_deref() == Some("volume") {
                if let Some(name) = m.name {
                    volumes.insert(name);
                }
            }
        }
    }
    Ok(Footprint {
        cluster: cluster.to_string(),
        containers: containers.into_iter().collect(),
        volumes: volumes.into_iter().collect(),
    })
}

/// After teardown: list what remains of `fp`'s cluster — containers labelled for it or with
/// the recorded ids, the recorded volumes and volumes labelled for it, networks named after it
/// or labelled for it. (kind's shared `kind` network is not the run's and is not reported.)
pub async fn verify_gone(engine: &Engine, fp: &Footprint) -> Result<Leftovers, VerifyError> {
    let cluster = fp.cluster.as_str();
    let client = engine.client();
    let all = client
        .list_containers(Some(
            ListContainersOptionsBuilder::default().all(true).build(),
        ))
        .await
        .map_err(verify_err(cluster, "list containers"))?;
    let mut left = Leftovers::default();
    for c in all {
        let labelled = c
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_CLUSTER))
            .is_some_and(|v| v == cluster);
        let id = c.id.clone().unwrap_or_default();
        if labelled || fp.containers.contains(&id) {
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map_or(id, |n| n.trim_start_matches('/').to_string());
            left.containers.push(name);
        }
    }
    let vols = client
        .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
        .await
        .map_err(verify_err(cluster, "list volumes"))?;
    for v in vols.volumes.unwrap_or_default() {
        if fp.volumes.contains(&v.name) || v.labels.get(LABEL_CLUSTER).is_some_and(|c| c == cluster)
        {
            left.volumes.push(v.name);
        }
    }
    let nets = client
        .list_networks(Some(ListNetworksOptionsBuilder::default().build()))
        .await
        .map_err(verify_err(cluster, "list networks"))?;
    for n in nets {
        let name = n.name.unwrap_or_default();
        let labelled = n
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_CLUSTER))
            .is_some_and(|c| c == cluster);
        if name == cluster || labelled {
            left.networks.push(name);
        }
    }
    left.containers.sort();
    left.volumes.sort();
    left.networks.sort();
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<String>>);
    impl Teardown for Recorder {
        fn delete_cluster(&self, cluster: &str) -> Result<(), TeardownError> {
            self.0.lock().unwrap().push(cluster.to_string());
            Ok(())
        }
    }

    #[test]
    fn deletes_once_on_drop_and_never_when_kept() {
        let rec = Arc::new(Recorder::default());
        {
            let g = ClusterGuard::new("meshproof-a", rec.clone(), false);
            assert_eq!(g.teardown().unwrap(), TeardownOutcome::Deleted);
            assert_eq!(g.teardown().unwrap(), TeardownOutcome::AlreadyDone);
        }
        {
            let _g = ClusterGuard::new("meshproof-b", rec.clone(), false);
        }
        {
            let g = ClusterGuard::new("meshproof-c", rec.clone(), true);
            assert_eq!(g.teardown().unwrap(), TeardownOutcome::Kept);
        }
        assert_eq!(*rec.0.lock().unwrap(), vec!["meshproof-a", "meshproof-b"]);
    }

    #[test]
    fn deletes_on_panic_unwind() {
        let rec = Arc::new(Recorder::default());
        let r2 = rec.clone();
        let res = std::panic::catch_unwind(move || {
            let _g = ClusterGuard::new("meshproof-p", r2, false);
            panic!("run blew up");
        });
        assert!(res.is_err());
        assert_eq!(*rec.0.lock().unwrap(), vec!["meshproof-p"]);
    }

    #[test]
    fn keep_message_says_how_to_reach_and_delete() {
        let m = keep_message("meshproof-x", Some(Path::new("/s/meshproof-x.kubeconfig")));
        assert_eq!(
            m.lines().nth(1),
            Some("  KUBECONFIG=/s/meshproof-x.kubeconfig kubectl get nodes")
        );
        assert!(m.contains(
            "kind delete cluster --name meshproof-x --kubeconfig /s/meshproof-x.kubeconfig"
        ));
        let m = keep_message("meshproof-x", None);
        assert!(m.contains("kind get kubeconfig --name meshproof-x"), "{m}");
        assert!(m.contains("meshproof gc --yes"));
    }
}
