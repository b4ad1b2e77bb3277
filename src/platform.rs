//! The real platform of `run`: kind clusters through the kind CLI and the Docker engine
//! (`meshproof-cluster`), the Kubernetes API through kube-rs (`meshproof-kube`), Helm for charts.
//!
//! Async layers run on one private tokio runtime; the pipeline above stays synchronous.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meshproof_cluster::guard::{ClusterGuard, TeardownOutcome};
use meshproof_cluster::kind::{
    self, CreateRequest, KindCli, KindConfigInput, NodeRole, ScratchKubeconfig,
};
use meshproof_cluster::Engine;
use meshproof_kube::{Condition, Kube};
use serde_json::Value;

use crate::bundle;
use crate::observation::{CallRecord, MetricsObservation, ObjectResult, PodObservation, SourcePod};
use crate::pipeline::{
    ClusterFacts, ImageFacts, MeshFacts, MeshPreparation, Platform, PlatformError, PreparedMesh,
    RunInputs,
};
use crate::spec::case::TrafficCheck;
use crate::spec::catalog::{Catalog, Sourced};
use crate::spec::mesh::{InstallMethod, Mesh};
use crate::spec::workload::Workload;
use crate::suite::{HarnessError, SuiteBackend};
use crate::timeouts::Timeouts;

/// Ctrl-C while a request or wait is in flight: it is dropped at once instead of waited for
/// (the run then stops; evidence, namespace cleanup and teardown are never interrupted).
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Option<Arc<AtomicBool>>);

/// What an interrupted request returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted (Ctrl-C)")
    }
}

impl From<Interrupted> for HarnessError {
    fn from(i: Interrupted) -> Self {
        HarnessError::fatal(i.to_string())
    }
}

impl From<Interrupted> for PlatformError {
    fn from(_: Interrupted) -> Self {
        PlatformError::Interrupted { before: None }
    }
}

impl Interrupt {
    /// How often an in-flight request looks at the flag.
    const POLL: Duration = Duration::from_millis(100);

    pub fn new(flag: Arc<AtomicBool>) -> Self {
        Interrupt(Some(flag))
    }

    /// Run `f` to completion, or until the flag is set (then `Interrupted`, `f` dropped).
    pub fn run<F: std::future::Future>(
        &self,
        handle: &tokio::runtime::Handle,
        f: F,
    ) -> Result<F::Output, Interrupted> {
        let Some(flag) = self.0.clone() else {
            return Ok(handle.block_on(f));
        };
        if flag.load(Ordering::SeqCst) {
            return Err(Interrupted);
        }
        handle.block_on(async move {
            let watch = async {
                while !flag.load(Ordering::SeqCst) {
                    tokio::time::sleep(Self::POLL).await;
                }
            };
            tokio::select! {
                out = f => Ok(out),
                () = watch => Err(Interrupted),
            }
        })
    }
}

/// The suite backend over kube-rs.
#[derive(Debug)]
pub struct KubeBackend {
    handle: tokio::runtime::Handle,
    kube: Option<Kube>,
    port: u16,
    /// The run's timeouts (from the plan when the cluster is connected), scaled by
    /// `--timeout-scale`.
    timeouts: Timeouts,
    /// Ctrl-C drops the request in flight (not `delete_namespace`: cleanup runs to its end).
    interrupt: Interrupt,
}

impl KubeBackend {
    fn kube(&self) -> Result<&Kube, HarnessError> {
        self.kube
            .as_ref()
            .ok_or_else(|| HarnessError::fatal("no cluster connection"))
    }
}

/// A kube-layer error as a harness error, retried by the runner when it is transient.
fn harness(e: impl std::fmt::Display, transient: bool) -> HarnessError {
    HarnessError {
        message: e.to_string(),
        transient,
    }
}

impl SuiteBackend for KubeBackend {
    fn served_smi(&mut self) -> Result<BTreeMap<String, Vec<String>>, HarnessError> {
        let k = self.kube()?.clone();
        self.interrupt
            .run(&self.handle, k.served_smi())?
            .map_err(|e| {
                let t = e.is_transient();
                harness(e, t)
            })
    }

    fn create_namespace(
        &mut self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<(), HarnessError> {
        let k = self.kube()?.clone();
        self.interrupt
            .run(
                &self.handle,
                k.ensure_namespace(namespace, labels, annotations),
            )?
            .map_err(|e| {
                let t = e.is_transient();
                harness(e, t)
            })
    }

    fn delete_namespace(&mut self, namespace: &str) -> Result<(), HarnessError> {
        let k = self.kube()?.clone();
        self.handle
            .block_on(k.delete_namespace(namespace, self.timeouts.delete()))
            .map_err(|e| {
                let t = e.is_transient();
                harness(e, t)
            })
    }

    fn apply(
        &mut self,
        namespace: &str,
        file: &str,
        objects: &[Value],
    ) -> Result<Vec<ObjectResult>, HarnessError> {
        let k = self.kube()?.clone();
        let out = self.interrupt.run(
            &self.handle,
            k.apply(objects, Some(namespace), self.timeouts.apply()),
        )?;
        Ok(out
            .into_iter()
            .map(|o| ObjectResult {
                file: file.to_string(),
                object: o.object,
                ok: o.ok,
                message: o.message,
            })
            .collect())
    }

    fn delete(
        &mut self,
        namespace: &str,
        file: &str,
        objects: &[Value],
    ) -> Result<Vec<ObjectResult>, HarnessError> {
        let k = self.kube()?.clone();
        let mut out = Vec::new();
        for o in objects {
            let d = self
                .interrupt
                .run(
                    &self.handle,
                    k.delete(o, Some(namespace), self.timeouts.delete()),
                )?
                .map_err(|e| {
                    let t = e.is_transient();
                    harness(e, t)
                })?;
            out.push(ObjectResult {
                file: file.to_string(),
                object: d.object,
                ok: d.ok,
                message: d.message,
            });
        }
        Ok(out)
    }

    fn lookup(&mut self, namespace: &str, object: &Value) -> Result<Option<Value>, HarnessError> {
        let k = self.kube()?.clone();
        self.interrupt
            .run(&self.handle, k.get(object, Some(namespace)))?
            .map_err(|e| {
                let t = e.is_transient();
                harness(e, t)
            })
    }

    fn traffic(
        &mut self,
        namespace: &str,
        check: &TrafficCheck,
        url: &str,
    ) -> Result<Vec<CallRecord>, HarnessError> {
        let k = self.kube()?.clone();
        // Each call's deadline goes to the probe, and `count` of them fit the batch timeout.
        let budget = self.timeouts.call_budget(check.count);
        let request =
            meshproof_kube::probe_call_request(url, &check.method, check.count, budget.per_call);
        let selector = format!("app={}", check.from);
        let answer = self
            .interrupt
            .run(
                &self.handle,
                k.call_probe(namespace, &selector, self.port, &request, budget.batch),
            )?
            .map_err(|e| {
                let t = e.is_transient();
                harness(e, t)
            })?;
        let mut records = records_from_answer(&check.from, &answer.answer, check.count)?;
        // Which pod called, and whether it runs the mesh's data plane, is the driver's to say.
        let source = SourcePod {
            name: answer.pod.name.clone(),
            containers: answer.pod.containers.clone(),
        };
        for r in &mut records {
            r.source_pod = Some(source.clone());
        }
        Ok(records)
    }

    fn pods(&mut self, namespace: &str) -> Result<Vec<PodObservation>, HarnessError> {
        let k = self.kube()?.clone();
        let pods = self.handle.block_on(k.pods(namespace, "")).map_err(|e| {
            let t = e.is_transient();
            harness(e, t)
        })?;
        Ok(pods
            .into_iter()
            .map(|p| PodObservation {
                name: p.name,
                app: p.app,
                containers: p.containers,
                ready: p.ready,
            })
            .collect())
    }

    fn metrics(&mut self, path: &str) -> Result<MetricsObservation, HarnessError> {
        let k = self.kube()?.clone();
        Ok(match self.interrupt.run(&self.handle, k.raw_get(path))? {
            Ok((status, body)) => MetricsObservation {
                check: 0,
                path: path.to_string(),
                status: Some(status),
                body,
                error: None,
            },
            Err(e) => MetricsObservation {
                check: 0,
                path: path.to_string(),
                status: None,
                body: None,
                error: Some(e.to_string()),
            },
        })
    }
}

/// The kube layer's wait condition for a pin's readiness entry.
pub fn readiness_condition(r: &crate::spec::mesh::Readiness) -> Result<Condition, String> {
    use crate::spec::mesh::ReadinessKind;
    let (namespace, name) = (r.namespace.clone(), r.name.clone());
    Ok(match &r.kind {
        ReadinessKind::Deployment => Condition::DeploymentAvailable { namespace, name },
        ReadinessKind::DaemonSet => Condition::DaemonSetReady { namespace, name },
        ReadinessKind::StatefulSet => Condition::StatefulSetReady { namespace, name },
        ReadinessKind::CustomResourceDefinition => Condition::CrdEstablished { name },
        ReadinessKind::Unknown(other) => {
            return Err(format!(
                "readiness kind `{other}` is not supported ({})",
                crate::spec::mesh::READINESS_KINDS.join(", ")
            ))
        }
    })
}

/// The probe's batch `/call` answer (`{"records": [...]}`) as observations; a probe that
/// answers something else, or fewer records than asked, is a harness error.
pub fn records_from_answer(
    from: &str,
    answer: &Value,
    count: u32,
) -> Result<Vec<CallRecord>, HarnessError> {
    let records = answer.get("records").cloned().ok_or_else(|| {
        HarnessError::fatal(format!("probe {from} answered without records: {answer}"))
    })?;
    let records: Vec<CallRecord> = serde_json::from_value(records).map_err(|e| {
        HarnessError::fatal(format!("probe {from} answered unreadable records: {e}"))
    })?;
    if records.len() != count as usize {
        return Err(HarnessError::fatal(format!(
            "probe {from} returned {} records for {count} calls",
            records.len()
        )));
    }
    Ok(records)
}

/// kind + Docker + kube-rs.
#[derive(Debug)]
pub struct KindPlatform {
    rt: tokio::runtime::Runtime,
    /// The user's catalog: the probe image's build context, and the cluster pins.
    catalog: Catalog,
    /// The kind binary preflight chose (and provided) for the cluster pin.
    kind_choice: Option<crate::kind_binary::KindChoice>,
    kind_binary: Option<PathBuf>,
    kind: Option<Arc<KindCli>>,
    engine: Option<Engine>,
    cluster: Option<String>,
    guard: Option<ClusterGuard>,
    /// Where kind writes the cluster's credentials (never the user's kubeconfig).
    kubeconfig: Option<ScratchKubeconfig>,
    backend: KubeBackend,
    images: BTreeMap<String, String>,
    server_version: Option<String>,
    /// Temporary files (kind config, image archive) kept alive for the run.
    scratch: tempfile::TempDir,
    /// Ctrl-C drops the request or wait in flight (`KindPlatform::interrupt_on`).
    interrupt: Interrupt,
    /// The probe image's `docker build` and `docker save`, started by preflight so they run
    /// while kind creates the cluster; `load_workload_image` takes the archive from it.
    probe_build: Option<std::thread::JoinHandle<Result<PathBuf, PlatformError>>>,
}

impl KindPlatform {
    pub fn new(catalog: Catalog) -> Result<Self, PlatformError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(PlatformError::io("cannot start the async runtime"))?;
        let backend = KubeBackend {
            handle: rt.handle().clone(),
            kube: None,
            port: 9091,
            timeouts: Timeouts::default(),
            interrupt: Interrupt::default(),
        };
        Ok(KindPlatform {
            rt,
            catalog,
            kind_choice: None,
            kind_binary: None,
            kind: None,
            engine: None,
            cluster: None,
            guard: None,
            kubeconfig: None,
            backend,
            images: BTreeMap::new(),
            server_version: None,
            scratch: tempfile::tempdir()
                .map_err(PlatformError::io("creating a scratch directory"))?,
            interrupt: Interrupt::default(),
            probe_build: None,
        })
    }

    /// Once `flag` is set (Ctrl-C), requests and waits in flight end at once instead of
    /// running to their timeouts.
    pub fn interrupt_on(&mut self, flag: Arc<AtomicBool>) {
        self.interrupt = Interrupt::new(flag);
        self.backend.interrupt = self.interrupt.clone();
    }

    fn engine(&mut self) -> Result<&Engine, PlatformError> {
        if self.engine.is_none() {
            let e = self.rt.block_on(meshproof_cluster::connect())?;
            self.engine = Some(e);
        }
        Ok(self.engine.as_ref().expect("connected"))
    }

    fn kube(&self) -> Result<Kube, PlatformError> {
        self.backend
            .kube
            .clone()
            .ok_or_else(|| PlatformError::failed("no cluster connection"))
    }

    fn connect(&mut self, path: &Path, context: Option<&str>) -> Result<String, PlatformError> {
        let k = self.rt.block_on(Kube::from_kubeconfig(path, context))?;
        let v = self.interrupt.run(self.rt.handle(), k.server_version())??;
        self.backend.kube = Some(k);
        self.server_version = Some(v.clone());
        Ok(v)
    }

    /// The probe image as a docker archive: `$MESHPROOF_PROBE_IMAGE_ARCHIVE` (the Nix wrapper
    /// sets it), else the build preflight started, else `docker build` of the workload's
    /// Dockerfile and `docker save` now.
    fn image_archive(&mut self, w: &Sourced<Workload>) -> Result<PathBuf, PlatformError> {
        if let Some(build) = self.probe_build.take() {
            return build.join().unwrap_or_else(|_| {
                Err(PlatformError::failed("building the probe image panicked"))
            });
        }
        self.image_archive_or_build(w, crate::env::probe_image_archive())
    }

    /// `given` (the variable's value), else the image built from the catalog's source tree.
    fn image_archive_or_build(
        &mut self,
        w: &Sourced<Workload>,
        given: Option<PathBuf>,
    ) -> Result<PathBuf, PlatformError> {
        if let Some(p) = given {
            return Ok(p);
        }
        let build = self.probe_build_job(&w.value)?;
        build()
    }

    /// The probe image's `docker build` and `docker save` into the scratch directory, detached
    /// from the platform (it runs on another thread while kind creates the cluster), or why the
    /// catalog cannot build it.
    fn probe_build_job(
        &mut self,
        w: &Workload,
    ) -> Result<impl FnOnce() -> Result<PathBuf, PlatformError> + Send + 'static, PlatformError>
    {
        let root = self.catalog.root.clone();
        if !root.join("Cargo.toml").is_file() {
            // An installed catalog (Nix, a release archive) is no build context: the probe's
            // Dockerfile builds from the source tree.
            return Err(PlatformError::failed(format!(
                "no probe image: {} is not set and {} is not a meshproof source tree to `docker build` \
                 the probe from; build the Linux probe image archive (on Linux: `nix build .#probe-image`) \
                 and set {} to it (docs/packaging.md)",
                crate::env::MESHPROOF_PROBE_IMAGE_ARCHIVE,
                root.display(),
                crate::env::MESHPROOF_PROBE_IMAGE_ARCHIVE
            )));
        }
        let reference = format!("{}:{}", w.spec.image.name, crate::TOOL_VERSION);
        let dockerfile = root.join(&w.spec.image.dockerfile);
        // The same engine the nodes run on (the resolved Docker context).
        let (set, remove) = self.engine()?.cli_env();
        let archive = self.scratch.path().join("probe-image.tar");
        Ok(move || build_probe_archive(&set, &remove, &dockerfile, &root, &reference, archive))
    }

    /// Start the probe image build when this run will load it from a local build: a kind
    /// cluster (an external one pulls `--probe-image`), no `$MESHPROOF_PROBE_IMAGE_ARCHIVE`, a
    /// source tree to build from. Anything else is decided (and reported) when the image loads.
    fn start_probe_build(&mut self, run: &RunInputs<'_>) {
        let given = crate::env::probe_image_archive().is_some();
        if !builds_probe_during_cluster(run.probe_image, given) {
            return;
        }
        let Ok(w) = run.catalog.select_workload(&run.plan.workload.name) else {
            return;
        };
        if let Ok(job) = self.probe_build_job(&w.value) {
            self.probe_build = Some(std::thread::spawn(job));
        }
    }
}

/// The cluster pin a run creates: from the run's inputs (for `reproduce` and `rerun`, the
/// bundle's own pin), never from the user's checkout, whose pin of the same name may differ.
fn cluster_pin(run: &RunInputs<'_>) -> Result<crate::spec::cluster::Cluster, PlatformError> {
    Ok(run.catalog.select_cluster(&run.plan.cluster.name)?.value)
}

/// Whether preflight starts the probe image build: only for a kind cluster (no `--probe-image`,
/// which only external clusters take) without a prebuilt archive.
fn builds_probe_during_cluster(probe_image: Option<&str>, archive_given: bool) -> bool {
    probe_image.is_none() && !archive_given
}

/// `docker build` of the probe and `docker save` into `archive`, on the engine `set`/`remove`
/// select. Their output goes to `<archive>.log` (the build runs beside kind's progress); a
/// failure shows its last lines.
fn build_probe_archive(
    set: &[(String, String)],
    remove: &[String],
    dockerfile: &Path,
    context: &Path,
    reference: &str,
    archive: PathBuf,
) -> Result<PathBuf, PlatformError> {
    let log_path = archive.with_extension("log");
    let log =
        std::fs::File::create(&log_path).map_err(PlatformError::io("creating the build log"))?;
    let run = |what: &str, args: &mut dyn FnMut(&mut std::process::Command)| {
        let mut c = std::process::Command::new("docker");
        c.envs(set.iter().map(|(k, v)| (k, v)));
        for k in remove {
            c.env_remove(k);
        }
        args(&mut c);
        let out = log
            .try_clone()
            .map_err(PlatformError::io("the build log"))?;
        let err = log
            .try_clone()
            .map_err(PlatformError::io("the build log"))?;
        let status = c
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(PlatformError::io("docker"))?;
        if status.success() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n  ");
        Err(PlatformError::failed(format!(
            "docker {what} of {reference} failed ({status}); last lines of its output:\n  {tail}"
        )))
    };
    run("build", &mut |c| {
        c.arg("build")
            .arg("-f")
            .arg(dockerfile)
            .arg("-t")
            .arg(reference)
            .arg(context);
    })?;
    run("save", &mut |c| {
        c.args(["save", "-o"]).arg(&archive).arg(reference);
    })?;
    Ok(archive)
}

/// What the kind platform prepares of a mesh install before there is a cluster.
#[derive(Debug)]
struct KindPrepared {
    /// The pin's lock, read from the run's inputs and checked against the pin.
    lock: Option<Sourced<crate::install::lock::Lock>>,
    /// Every artifact fetched and checked; manifests and CLI output already rendered.
    fetched: crate::install::render::Fetched,
}

/// The cluster-free part of a mesh install (it runs while kind creates the cluster): the lock,
/// and every artifact of the pin fetched into `scratch` and checked against the pin and lock.
fn prepare_install(
    mesh: &Mesh,
    catalog: &Catalog,
    scratch: &Path,
) -> Result<KindPrepared, PlatformError> {
    let lock = match mesh.spec.install.method {
        InstallMethod::None => {
            return Ok(KindPrepared {
                lock: None,
                fetched: Default::default(),
            })
        }
        InstallMethod::Unpinned => None,
        _ => {
            let pin = catalog.select_mesh(&mesh.id())?;
            crate::install::lock::load_for(catalog, &pin)?
        }
    };
    if let Some(l) = &lock {
        crate::install::lock::check(mesh, &l.value, &l.path)?;
    }
    let fetched =
        crate::install::render::fetch_mesh(mesh, lock.as_ref().map(|l| &l.value), scratch)?;
    Ok(KindPrepared { lock, fetched })
}

/// One apply of a mesh install: file name under `inputs/mesh-rendered/`, the recorded (redacted)
/// bytes, the documents to apply, and their default namespace.
type InstallStep = (String, Vec<u8>, Vec<Value>, Option<String>);

/// Rewrite `text`'s images to the digests in `digests` and record what was pinned and what
/// was left by tag in the mesh facts (`pinned_images`, `unpinned_images`).
fn pin_and_record(text: &str, digests: &BTreeMap<String, String>, facts: &mut MeshFacts) -> String {
    let r = crate::install::images::pin_images(text, digests);
    if !r.pinned.is_empty() {
        let pinned = facts
            .record
            .pinned_images
            .get_or_insert_with(Default::default);
        for (from, to) in &r.pinned {
            pinned.insert(from, to);
        }
    }
    if !r.unresolved.is_empty() {
        let list = facts.record.unpinned_images.get_or_insert_with(Vec::new);
        for u in r.unresolved {
            if !list.contains(&u) {
                list.push(u);
            }
        }
    }
    r.text
}

/// Reference and config digest of the first image in a docker-archive tar (`manifest.json`).
pub fn archive_image(archive: &Path) -> Result<ImageFacts, PlatformError> {
    let io = || PlatformError::io(archive.display());
    let f = std::fs::File::open(archive).map_err(io())?;
    let mut ar = tar::Archive::new(f);
    for entry in ar.entries().map_err(io())? {
        let mut entry = entry.map_err(io())?;
        if entry.path().map_err(io())?.to_string_lossy() == "manifest.json" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).map_err(io())?;
            let v: Value = serde_json::from_str(&text).map_err(|e| {
                PlatformError::failed(format!("{}: manifest.json: {e}", archive.display()))
            })?;
            let first = &v[0];
            let reference = first["RepoTags"][0]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let config = first["Config"].as_str().unwrap_or_default();
            // `blobs/sha256/<hex>` (OCI layout) or `<hex>.json` (docker save).
            let hex = config
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .trim_end_matches(".json");
            if reference.is_empty() || !crate::spec::is_sha256_hex(hex) {
                return Err(PlatformError::failed(format!(
                    "{}: manifest.json names no tagged image with a sha256 config",
                    archive.display()
                )));
            }
            return Ok(ImageFacts {
                reference,
                id: format!("sha256:{hex}"),
            });
        }
    }
    Err(PlatformError::failed(format!(
        "{}: not a docker image archive (no manifest.json)",
        archive.display()
    )))
}

impl KindPlatform {
    /// What `helm template` is told about the cluster: the API server's version and every API
    /// version it serves (empty for pins that render no chart).
    fn helm_capabilities(
        &mut self,
        mesh: &Mesh,
    ) -> Result<crate::install::helm::Capabilities, PlatformError> {
        if mesh.spec.install.method != InstallMethod::Helm {
            return Ok(Default::default());
        }
        let k = self.kube()?;
        let kube_version = match &self.server_version {
            Some(v) => v.clone(),
            None => self.interrupt.run(self.rt.handle(), k.server_version())??,
        };
        let served = self
            .interrupt
            .run(self.rt.handle(), k.served_api_versions())??;
        Ok(crate::install::helm::Capabilities {
            kube_version,
            api_versions: served.versions,
        })
    }

    /// The mesh's install steps, rendered from what the preparation fetched (Helm charts for
    /// the cluster's capabilities), images pinned to the lock's digests and then the parent
    /// run's (`reproduce`); the pinned and unpinned images go to the facts.
    fn render_install(
        &mut self,
        mesh: &Mesh,
        prepared: KindPrepared,
        run: &RunInputs<'_>,
        facts: &mut MeshFacts,
    ) -> Result<Vec<InstallStep>, PlatformError> {
        let lock = prepared.lock;
        let caps = self.helm_capabilities(mesh)?;
        let rendered = crate::install::render::render_fetched(
            mesh,
            prepared.fetched,
            Path::new("helm"),
            &caps,
        )?;
        facts.record = bundle::ResolvedMesh {
            lock_sha256: lock.as_ref().map(|l| crate::sha256_hex(&l.bytes)),
            ..rendered.record
        };
        facts.rendered.extend(rendered.files);
        // Images: the lock's registry digests, overridden by a parent run's observed ones
        // (`reproduce`), so the applied manifests name exactly the bits to run.
        let mut digests = lock
            .as_ref()
            .map(|l| crate::install::lock::locked_images(&l.value))
            .unwrap_or_default();
        digests.extend(run.image_pins.clone());
        let mut steps: Vec<InstallStep> = Vec::new();
        for step in rendered.steps {
            let text = pin_and_record(&step.text, &digests, facts);
            let docs = crate::yaml::documents(&step.source, &text)?;
            steps.push((
                step.name,
                crate::install::helm::redact_secrets(&text).into_bytes(),
                docs,
                step.namespace,
            ));
        }
        Ok(steps)
    }

    /// Apply the install steps in order (each step's namespace first), recording each step's
    /// redacted bytes.
    fn apply_install(
        &mut self,
        mesh: &Mesh,
        steps: Vec<InstallStep>,
        timeouts: &Timeouts,
        facts: &mut MeshFacts,
    ) -> Result<(), PlatformError> {
        let k = self.kube()?;
        for (name, recorded, docs, namespace) in steps {
            if let Some(ns) = &namespace {
                self.interrupt.run(
                    self.rt.handle(),
                    k.ensure_namespace(ns, &BTreeMap::new(), &BTreeMap::new()),
                )??;
            }
            let outcomes = self.interrupt.run(
                self.rt.handle(),
                k.apply(&docs, namespace.as_deref(), timeouts.apply()),
            )?;
            if let Some(bad) = outcomes.iter().find(|o| !o.ok) {
                return Err(PlatformError::Rejected {
                    mesh: mesh.id(),
                    step: name,
                    object: bad.object.to_string(),
                    reason: bad
                        .message
                        .as_deref()
                        .unwrap_or("no reason given")
                        .to_string(),
                });
            }
            facts.rendered.insert(name, recorded);
        }
        Ok(())
    }

    /// Wait for the mesh's readiness checks, then for its sidecar injector.
    fn wait_ready(&mut self, mesh: &Mesh, timeouts: &Timeouts) -> Result<(), PlatformError> {
        let k = self.kube()?;
        for r in &mesh.spec.readiness {
            let cond = readiness_condition(r)
                .map_err(|e| PlatformError::failed(format!("{}: {e}", mesh.id())))?;
            self.interrupt
                .run(self.rt.handle(), k.wait(&cond, timeouts.assert()))??;
        }
        // Proof of onboarding starts here: a pod created before the injector answers may run
        // without its sidecar (Linkerd's webhook fails open), so no case starts until it can.
        if let Some(inj) = &mesh.spec.data_plane.injector {
            let cond = Condition::ServiceEndpointsReady {
                namespace: inj.namespace.clone(),
                name: inj.name.clone(),
            };
            self.rt
                .block_on(k.wait(&cond, timeouts.assert()))
                .map_err(|source| PlatformError::Injector {
                    mesh: mesh.id(),
                    source: Box::new(source),
                })?;
        }
        Ok(())
    }

    /// The kind config of `name` for the cluster pin, written to the scratch directory.
    fn kind_config(
        &self,
        name: &str,
        pin: &crate::spec::cluster::Cluster,
    ) -> Result<(String, PathBuf), PlatformError> {
        let roles = pin
            .spec
            .nodes
            .iter()
            .map(|n| match n.role {
                crate::spec::cluster::NodeRole::ControlPlane => NodeRole::ControlPlane,
                crate::spec::cluster::NodeRole::Worker => NodeRole::Worker,
            })
            .collect();
        let config = kind::render_config(&KindConfigInput {
            name: name.to_string(),
            node_image: pin.spec.node_image.clone(),
            roles,
            extra: (!pin.spec.config.is_empty()).then(|| Value::Object(pin.spec.config.clone())),
        })?;
        let path = self.scratch.path().join("kind-config.yaml");
        std::fs::write(&path, &config).map_err(PlatformError::io(path.display()))?;
        Ok((config, path))
    }

    /// The kind CLI on a scratch kubeconfig (the user's is never touched; it outlives the run
    /// only when the cluster is kept), checked against the pin's kind version range.
    fn kind_cli(
        &self,
        name: &str,
        pin: &crate::spec::cluster::Cluster,
        engine: &Engine,
        keep: bool,
    ) -> Result<(Arc<KindCli>, ScratchKubeconfig, kind::KindVersion), PlatformError> {
        let scratch = if keep {
            let dir = crate::env::state_dir().ok_or_else(|| {
                PlatformError::failed(
                    "--keep needs a state directory for the kubeconfig (set XDG_STATE_HOME or HOME)",
                )
            })?;
            ScratchKubeconfig::persistent(&dir.join("clusters").join(format!("{name}.kubeconfig")))
        } else {
            ScratchKubeconfig::temporary()
        }
        .map_err(PlatformError::io("creating the scratch kubeconfig"))?;
        let binary = self
            .kind_binary
            .clone()
            .unwrap_or_else(|| PathBuf::from("kind"));
        let (set, remove) = engine.cli_env();
        let kind =
            Arc::new(KindCli::new(binary.to_string_lossy(), scratch.path()).with_env(set, remove));
        let version = kind.version()?;
        kind::check_kind_version(&version.version, &pin.spec.kind.version)?;
        Ok((kind, scratch, version))
    }

    /// `resolved/cluster.json` of a kind cluster this run brought up (its name and its API
    /// server's version, `kubernetes_server`, added by the caller).
    fn kind_record(
        &self,
        pin: &crate::spec::cluster::Cluster,
        engine: &Engine,
        kind: &KindCli,
        version: &kind::KindVersion,
        up: &crate::bringup::BroughtUp,
        nodes: &[meshproof_cluster::Node],
    ) -> bundle::ResolvedCluster {
        bundle::ResolvedCluster {
            kind_version: Some(version.version.to_string()),
            kind_binary: self
                .kind_choice
                .as_ref()
                .map(|c| c.describe(&pin.spec.kind.version)),
            docker_engine: Some(bundle::DockerEngine {
                host: engine.host().to_string(),
                source: engine.source().to_string(),
            }),
            node_image: Some(pin.spec.node_image.clone()),
            ready_nodes: Some(up.ready.nodes.clone()),
            kind_warnings: (!up.create.warnings.is_empty()).then(|| up.create.warnings.clone()),
            nodes: Some(bundle::ClusterNodes::Kind(
                nodes
                    .iter()
                    .map(|n| bundle::KindNode {
                        name: n.name.clone(),
                        container_id: n.container_id.clone(),
                        role: n.role.clone(),
                        image_id: n.image_id.clone(),
                    })
                    .collect(),
            )),
            commands: Some(
                kind.records()
                    .into_iter()
                    .map(|c| bundle::CommandRecord {
                        argv: c.argv,
                        exit_code: c.exit_code,
                        duration_ms: c.duration_ms,
                    })
                    .collect(),
            ),
            ..bundle::ResolvedCluster::default()
        }
    }
}

impl Platform for KindPlatform {
    fn preflight(&mut self, run: &RunInputs<'_>) -> Result<(), PlatformError> {
        let cluster = run.catalog.select_cluster(&run.plan.cluster.name)?;
        let mesh = run.catalog.select_mesh(&run.plan.mesh.id)?;
        let (checks, choice) = crate::doctor::preflight_checks(run.catalog, &cluster, &mesh.value)?;
        if let Some(e) = crate::doctor::failed_checks_error(&checks) {
            return Err(e.into());
        }
        // The kind binary: the one on PATH, or the pin's release, downloaded and verified now.
        let choice = choice
            .ok_or_else(|| PlatformError::Preflight("preflight chose no kind binary".into()))?;
        let binary =
            crate::kind_binary::provide(&choice).map_err(|source| PlatformError::KindBinary {
                pin: cluster.value.metadata.name.clone(),
                source: Box::new(source),
            })?;
        self.kind_binary = Some(binary);
        self.kind_choice = Some(choice);
        self.start_probe_build(run);
        Ok(())
    }

    fn cluster_up(&mut self, run: &RunInputs<'_>) -> Result<ClusterFacts, PlatformError> {
        let pin = cluster_pin(run)?;
        let name = kind::cluster_name(run.run_id)?;
        let (config, config_path) = self.kind_config(&name, &pin)?;
        let engine = self.engine()?.clone();
        let (kind, scratch, version) = self.kind_cli(&name, &pin, &engine, run.keep)?;
        // From here on the cluster is deleted on every path (drop, panic), unless kept; a
        // failed create keeps its nodes (`--retain`) until the pipeline has exported their logs.
        self.guard = Some(ClusterGuard::with_kubeconfig(
            name.clone(),
            kind.clone() as Arc<dyn meshproof_cluster::guard::Teardown>,
            run.keep,
            Some(scratch.path().to_path_buf()),
        ));
        self.cluster = Some(name.clone());
        self.kind = Some(kind.clone());
        self.kubeconfig = Some(scratch);
        self.backend.timeouts = run.plan.timeouts;
        let req = CreateRequest {
            name: name.clone(),
            config_path,
            wait: crate::timeouts::KIND_WAIT,
            retain: true,
        };
        let handle = self.rt.handle().clone();
        let up = crate::bringup::bring_up(
            &handle,
            &kind,
            &req,
            pin.spec.nodes.len(),
            crate::timeouts::CLUSTER_READY,
            |path, context| {
                handle
                    .block_on(Kube::from_kubeconfig(path, Some(context)))
                    .map_err(|e| e.to_string())
            },
        )
        .map_err(|source| PlatformError::ClusterCreate {
            cluster: name.clone(),
            source,
        })?;
        let server = self.rt.block_on(up.kube.server_version())?;
        self.backend.kube = Some(up.kube.clone());
        self.server_version = Some(server.clone());
        let nodes = self
            .rt
            .block_on(meshproof_cluster::nodes::list_nodes(&engine, &name))?;
        let record = bundle::ResolvedCluster {
            name,
            external: false,
            kubernetes_server: Some(server),
            ..self.kind_record(&pin, &engine, &kind, &version, &up, &nodes)
        };
        Ok(ClusterFacts {
            kind_config: Some(config),
            record,
        })
    }

    fn connect_external(
        &mut self,
        kubeconfig: &Path,
        context: Option<&str>,
        run: &RunInputs<'_>,
    ) -> Result<ClusterFacts, PlatformError> {
        self.backend.timeouts = run.plan.timeouts;
        let server = self.connect(kubeconfig, context)?;
        let k = self.kube()?;
        let nodes = self.interrupt.run(self.rt.handle(), k.node_info())??;
        let record = bundle::ResolvedCluster {
            kubernetes_server: Some(server),
            nodes: Some(external_nodes(nodes)),
            note: Some(
                "external cluster: recorded as found (server version, nodes); nothing about it is \
                 pinned"
                    .into(),
            ),
            name: context.unwrap_or("current-context").to_string(),
            external: true,
            ..bundle::ResolvedCluster::default()
        };
        Ok(ClusterFacts {
            kind_config: None,
            record,
        })
    }

    fn load_workload_image(
        &mut self,
        w: &Sourced<Workload>,
        run: &RunInputs<'_>,
    ) -> Result<ImageFacts, PlatformError> {
        self.backend.port = w.value.spec.port;
        let Some(cluster) = self.cluster.clone() else {
            // External clusters pull: the image must be reachable from them (`run` checks
            // that one was given before anything touches the cluster).
            let reference = run.probe_image.map(str::to_string).ok_or_else(|| {
                PlatformError::failed(format!(
                    "an external cluster cannot be loaded with a local image; push the probe image \
                     somewhere it can pull and pass --probe-image or set {}",
                    crate::env::MESHPROOF_PROBE_IMAGE
                ))
            })?;
            return Ok(ImageFacts {
                reference,
                id: "unknown (pulled by the external cluster; see resolved/images.json)".into(),
            });
        };
        let archive = self.image_archive(w)?;
        let image = archive_image(&archive)?;
        let engine = self.engine()?.clone();
        let nodes = self
            .rt
            .block_on(meshproof_cluster::nodes::list_nodes(&engine, &cluster))?;
        let report = self.interrupt.run(
            self.rt.handle(),
            meshproof_cluster::images::load_image_archive(&engine, &nodes, &archive),
        )??;
        if !report.all_ok() {
            return Err(PlatformError::failed(format!(
                "loading {} into the nodes failed: {report:?}",
                image.reference
            )));
        }
        Ok(image)
    }

    fn prepare_mesh(&mut self, mesh: &Mesh, run: &RunInputs<'_>) -> MeshPreparation {
        let (mesh, catalog) = (mesh.clone(), run.catalog.clone());
        let scratch = self.scratch.path().to_path_buf();
        Box::new(move || prepare_install(&mesh, &catalog, &scratch).map(PreparedMesh::new))
    }

    fn install_mesh(
        &mut self,
        mesh: &Mesh,
        prepared: PreparedMesh,
        run: &RunInputs<'_>,
    ) -> Result<MeshFacts, PlatformError> {
        let mut facts = MeshFacts::default();
        if mesh.spec.install.method == InstallMethod::None {
            return Ok(facts);
        }
        let prepared = prepared.take::<KindPrepared>().ok_or_else(|| {
            PlatformError::failed("the mesh install was not prepared by this platform")
        })?;
        let steps = self.render_install(mesh, prepared, run, &mut facts)?;
        self.apply_install(mesh, steps, &run.plan.timeouts, &mut facts)?;
        self.wait_ready(mesh, &run.plan.timeouts)?;
        Ok(facts)
    }

    fn observe_installed_mesh(&mut self, mesh: &Mesh) -> Result<MeshFacts, PlatformError> {
        let k = self.kube()?;
        let served = self.interrupt.run(self.rt.handle(), k.served_smi())??;
        let running = self
            .interrupt
            .run(self.rt.handle(), k.running_mesh(&mesh.spec.namespaces))?;
        Ok(installed_mesh_facts(mesh, served, running))
    }

    fn backend(&mut self) -> &mut dyn SuiteBackend {
        &mut self.backend
    }

    fn collect_evidence(&mut self, namespaces: &[String], dir: &Path) -> Vec<String> {
        let Ok(k) = self.kube() else {
            return vec!["no cluster connection: evidence not collected".into()];
        };
        let report = self.rt.block_on(k.collect_evidence(namespaces, dir));
        self.images.extend(report.images);
        report.failures
    }

    fn collect_node_logs(&mut self, dir: &Path) -> Vec<String> {
        let Some(cluster) = self.cluster.clone() else {
            return Vec::new();
        };
        let engine = match self.engine() {
            Ok(e) => e.clone(),
            Err(e) => return vec![e.to_string()],
        };
        // By the cluster label, so a failed create's retained nodes are exported too; every
        // file through the same redaction as pod logs.
        match self.rt.block_on(meshproof_cluster::logs::export_logs(
            &engine,
            &cluster,
            dir,
            meshproof_kube::redact_bytes,
        )) {
            Ok(export) => export.failures.iter().map(|f| format!("{f:?}")).collect(),
            Err(e) => vec![e.to_string()],
        }
    }

    fn resolved(&mut self) -> bundle::PlatformResolved {
        bundle::PlatformResolved {
            images: Some(self.images.clone()),
            kubernetes: self
                .server_version
                .clone()
                .map(|server_version| bundle::KubernetesVersion { server_version }),
        }
    }

    fn teardown(&mut self) -> Result<Option<String>, PlatformError> {
        let Some(guard) = self.guard.take() else {
            return Ok(None);
        };
        match guard.teardown()? {
            TeardownOutcome::Kept => Ok(Some(meshproof_cluster::guard::keep_message(
                guard.cluster(),
                guard.kubeconfig(),
            ))),
            TeardownOutcome::Deleted | TeardownOutcome::AlreadyDone => Ok(None),
        }
    }
}

/// An external cluster's nodes, as `resolved/cluster.json` records them.
fn external_nodes(nodes: Vec<meshproof_kube::external::NodeInfo>) -> bundle::ClusterNodes {
    bundle::ClusterNodes::External(
        nodes
            .into_iter()
            .map(|n| bundle::ExternalNode {
                name: n.name,
                kubelet_version: n.kubelet_version,
                container_runtime_version: n.container_runtime_version,
                operating_system: n.operating_system,
                architecture: n.architecture,
                os_image: n.os_image,
                kernel_version: n.kernel_version,
            })
            .collect(),
    )
}

/// `resolved/mesh.json` of a mesh the user installed: what runs in its namespaces (images,
/// image ids, version labels) and the SMI versions served; the pin is only what was asked for.
pub fn installed_mesh_facts(
    mesh: &Mesh,
    served: BTreeMap<String, Vec<String>>,
    running: meshproof_kube::RunningMesh,
) -> MeshFacts {
    let mut images: BTreeMap<String, String> = BTreeMap::new();
    for c in &running.containers {
        images
            .entry(c.image.clone())
            .or_insert_with(|| c.image_id.clone());
    }
    let note = running.containers.is_empty().then(|| {
        format!(
            "no pod found in the mesh namespaces {}: the mesh may not be installed there",
            mesh.spec.namespaces.join(", ")
        )
    });
    let record = bundle::ResolvedMesh {
        installed_by_user: Some(true),
        requested_pin: Some(mesh.id()),
        namespaces: Some(mesh.spec.namespaces.clone()),
        served_smi: Some(served),
        running_images: Some(images),
        containers: Some(
            running
                .containers
                .into_iter()
                .map(|c| bundle::RunningContainer {
                    pod: c.pod,
                    container: c.container,
                    image: c.image,
                    image_id: c.image_id,
                })
                .collect(),
        ),
        version_labels: Some(running.version_labels),
        unlisted: (!running.unlisted.is_empty()).then_some(running.unlisted),
        note,
        ..bundle::ResolvedMesh::default()
    };
    MeshFacts {
        rendered: Default::default(),
        record,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe build's `docker build` + `docker save` on the real engine (a `FROM scratch`
    /// image needs no registry): the archive is a docker archive, and a failed build says why
    /// with the last lines of its output (which went to a log, not the terminal).
    #[test]
    fn the_probe_archive_is_built_and_saved_and_a_failure_shows_its_output() {
        let docker_ok = std::process::Command::new("docker")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !docker_ok {
            assert!(
                !crate::env::require_docker(),
                "docker is required ({}=1) but does not answer",
                crate::env::MESHPROOF_REQUIRE_DOCKER
            );
            eprintln!("SKIP: no Docker engine");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hello"), b"hi\n").unwrap();
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY hello /hello\n",
        )
        .unwrap();
        let tag = format!("meshproof-test-probe-build:{}", std::process::id());
        let archive = build_probe_archive(
            &[],
            &[],
            &dir.path().join("Dockerfile"),
            dir.path(),
            &tag,
            dir.path().join("probe-image.tar"),
        )
        .unwrap();
        let names: Vec<String> = tar::Archive::new(std::fs::File::open(&archive).unwrap())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(names.iter().any(|n| n == "manifest.json"), "{names:?}");
        let _ = std::process::Command::new("docker")
            .args(["rmi", "-f", &tag])
            .output();

        std::fs::write(
            dir.path().join("Broken"),
            "FROM scratch\nCOPY missing-file /x\n",
        )
        .unwrap();
        let e = build_probe_archive(
            &[],
            &[],
            &dir.path().join("Broken"),
            dir.path(),
            &tag,
            dir.path().join("broken.tar"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(&format!("docker build of {tag} failed")),
            "{e}"
        );
        assert!(e.contains("missing-file"), "{e}");
    }

    /// The cluster a run creates is the pin of its inputs: a reproduction whose bundle pinned
    /// another node image than the user's checkout has today gets the bundle's.
    #[test]
    fn the_cluster_pin_comes_from_the_runs_inputs_not_the_checkout() {
        fn copy(from: &Path, to: &Path) {
            std::fs::create_dir_all(to).unwrap();
            for e in std::fs::read_dir(from).unwrap() {
                let e = e.unwrap();
                let dest = to.join(e.file_name());
                if e.file_type().unwrap().is_dir() {
                    copy(&e.path(), &dest);
                } else {
                    std::fs::copy(e.path(), dest).unwrap();
                }
            }
        }
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let tmp = tempfile::tempdir().unwrap();
        for d in ["clusters", "meshes", "workloads", "suites"] {
            copy(&repo.join(d), &tmp.path().join(d));
        }
        let inputs = Catalog::new(tmp.path());
        let req = crate::plan::PlanRequest::default();
        let chosen = crate::plan::plan(&inputs, &req).unwrap().cluster.file.path;
        let file = tmp.path().join(&chosen);
        let text = std::fs::read_to_string(&file).unwrap();
        let at = text
            .find("@sha256:")
            .expect("the pin names its node image by digest")
            + 8;
        let edited = format!("{}{}{}", &text[..at], "ab".repeat(32), &text[at + 64..]);
        std::fs::write(&file, edited).unwrap();
        let plan = crate::plan::plan(&inputs, &req).unwrap();
        let run = RunInputs {
            run_id: "0123456789abcdef",
            plan: &plan,
            catalog: &inputs,
            image_pins: &BTreeMap::new(),
            probe_image: None,
            keep: false,
        };
        let pin = cluster_pin(&run).unwrap();
        assert!(
            pin.spec.node_image.ends_with(&"ab".repeat(32)),
            "{}",
            pin.spec.node_image
        );
        let checkout = Catalog::new(repo)
            .select_cluster(&plan.cluster.name)
            .unwrap();
        assert_ne!(checkout.value.spec.node_image, pin.spec.node_image);
    }

    /// Preflight builds the probe image beside the cluster creation only for kind clusters
    /// (external ones pull `--probe-image`) that have no prebuilt archive.
    #[test]
    fn the_probe_image_builds_during_the_cluster_phase_only_for_local_builds() {
        assert!(builds_probe_during_cluster(None, false));
        assert!(!builds_probe_during_cluster(
            Some("ghcr.io/me/probe:1"),
            false
        ));
        assert!(!builds_probe_during_cluster(None, true));
    }

    /// Every kind the pin schema accepts has a wait condition, each waiting for the named object.
    #[test]
    fn every_readiness_kind_maps_to_its_wait_condition() {
        let r = |kind: &str, namespace: &str, name: &str| crate::spec::mesh::Readiness {
            kind: kind
                .parse()
                .unwrap_or(crate::spec::mesh::ReadinessKind::Unknown(kind.into())),
            namespace: namespace.into(),
            name: name.into(),
        };
        for kind in crate::spec::mesh::READINESS_KINDS {
            assert!(readiness_condition(&r(kind, "ns", "x")).is_ok(), "{kind}");
        }
        assert_eq!(
            readiness_condition(&r("DaemonSet", "traefik-mesh", "traefik-mesh-proxy"))
                .unwrap()
                .to_string(),
            "DaemonSet traefik-mesh/traefik-mesh-proxy ready"
        );
        assert_eq!(
            readiness_condition(&r("StatefulSet", "nginx-mesh", "spire-server"))
                .unwrap()
                .to_string(),
            "StatefulSet nginx-mesh/spire-server ready"
        );
        assert_eq!(
            readiness_condition(&r(
                "CustomResourceDefinition",
                "",
                "traffictargets.access.smi-spec.io"
            ))
            .unwrap()
            .to_string(),
            "CustomResourceDefinition traffictargets.access.smi-spec.io established"
        );
        assert!(readiness_condition(&r("Daemonset", "ns", "x"))
            .unwrap_err()
            .contains("`Daemonset` is not supported"));
    }

    /// An installed catalog (the Nix store, a release archive: no Cargo.toml) cannot build the
    /// probe image: the error says which variable to set instead of running a doomed `docker build`.
    #[test]
    fn without_an_image_archive_an_installed_catalog_names_the_variable() {
        let repo = Catalog::new(env!("CARGO_MANIFEST_DIR"));
        let w = repo
            .workloads()
            .unwrap()
            .into_iter()
            .next()
            .expect("a workload");
        let installed = tempfile::tempdir().unwrap();
        let mut p = KindPlatform::new(Catalog::new(installed.path())).unwrap();
        let e = p.image_archive_or_build(&w, None).unwrap_err().to_string();
        assert!(
            e.contains(crate::env::MESHPROOF_PROBE_IMAGE_ARCHIVE)
                && e.contains("is not a meshproof source tree"),
            "{e}"
        );
    }

    /// `--mesh-installed` records what runs in the mesh's namespaces, not the pin's name.
    #[test]
    fn an_installed_mesh_is_recorded_by_what_runs() {
        let repo = Catalog::new(env!("CARGO_MANIFEST_DIR"));
        let pin = repo.select_mesh("osm@1.2.4").unwrap().value;
        let running = meshproof_kube::RunningMesh {
            containers: vec![meshproof_kube::external::RunningContainer {
                pod: "osm-system/osm-controller-x".into(),
                container: "osm-controller".into(),
                image: "docker.io/openservicemesh/osm-controller:v1.1.0".into(),
                image_id: "docker.io/openservicemesh/osm-controller@sha256:ab".into(),
            }],
            version_labels: BTreeMap::from([(
                "app.kubernetes.io/version".to_string(),
                vec!["1.1.0".to_string()],
            )]),
            unlisted: BTreeMap::new(),
        };
        let served = BTreeMap::from([(
            "split.smi-spec.io".to_string(),
            vec!["v1alpha2".to_string()],
        )]);
        let f = installed_mesh_facts(&pin, served.clone(), running).record;
        assert_eq!(f.requested_pin.as_deref(), Some("osm@1.2.4"));
        assert_eq!(
            f.running_images,
            Some(BTreeMap::from([(
                "docker.io/openservicemesh/osm-controller:v1.1.0".to_string(),
                "docker.io/openservicemesh/osm-controller@sha256:ab".to_string()
            )]))
        );
        assert_eq!(
            f.version_labels.unwrap()["app.kubernetes.io/version"],
            ["1.1.0"]
        );
        assert_eq!(f.note, None);
        // Nothing found is said, not hidden.
        let f = installed_mesh_facts(&pin, served, Default::default()).record;
        assert!(f
            .note
            .unwrap()
            .starts_with("no pod found in the mesh namespaces"));
    }

    /// Ctrl-C ends a request that would otherwise wait forever; without a flag, or before it is
    /// set, requests run to completion.
    #[test]
    fn an_interrupt_drops_the_request_in_flight() {
        // As `KindPlatform` builds it: worker threads drive the timer under `Handle::block_on`.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(Interrupt::default().run(rt.handle(), async { 7 }), Ok(7));
        let flag = Arc::new(AtomicBool::new(false));
        let i = Interrupt::new(Arc::clone(&flag));
        assert_eq!(i.run(rt.handle(), async { 7 }), Ok(7));
        let setter = Arc::clone(&flag);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            setter.store(true, Ordering::SeqCst);
        });
        // A stalled request: it never answers; only the interrupt ends it.
        assert_eq!(
            i.run(rt.handle(), std::future::pending::<()>()),
            Err(Interrupted)
        );
        t.join().unwrap();
        // Once set, nothing new starts.
        assert_eq!(i.run(rt.handle(), async { 7 }), Err(Interrupted));
        let e: HarnessError = Interrupted.into();
        assert_eq!(e.message, "interrupted (Ctrl-C)");
        assert!(!e.transient);
    }
}
