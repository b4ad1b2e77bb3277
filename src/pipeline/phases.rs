//! The phases of `run`, each a function over the [`RunContext`] and the [`Platform`]:
//! preflight, then the work (cluster, workload image, mesh, one unit per case) that stops at
//! the first failure or Ctrl-C ([`work`], the one place that decides), then evidence, teardown
//! and the seal (records, manifest, pack, verify, attestation), which always run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;

use super::{
    new_run_id, rfc3339, write, ClusterFacts, ImageFacts, Platform, PlatformError, PreparedMesh,
    RunInputs, RunOutcome, RunRequest,
};
use crate::bundle::{self, paths, RunStatus};
use crate::error::AppError;
use crate::observation::CaseObservation;
use crate::plan::{self, RunPlan};
use crate::progress::Progress;
use crate::spec::catalog::{Catalog, FileTree, LoadedCase, Sourced, Suite};
use crate::spec::cluster::Cluster;
use crate::spec::mesh::{InstallMethod, Mesh};
use crate::spec::workload::Workload;
use crate::suite::{self, CaseContext, Clock};
use crate::timing::{Phase, PhaseTiming};
use crate::verdict::Capability;

/// Everything one run carries from phase to phase: what it was asked and planned
/// ([`Setup`]), its progress and phase timings ([`PhaseLog`]), and what it recorded so far
/// ([`Record`]). The three parts borrow apart, so a phase can time itself while it reads
/// the plan and fills the record.
#[derive(Debug)]
pub struct RunContext<'a> {
    pub setup: Setup<'a>,
    pub phases: PhaseLog<'a>,
    pub record: Record,
}

/// What the run was asked and planned; fixed once the run starts.
#[derive(Debug)]
pub struct Setup<'a> {
    pub catalog: &'a Catalog,
    pub req: &'a RunRequest,
    pub plan: RunPlan,
    pub run_id: String,
    pub cluster_pin: Sourced<Cluster>,
    pub mesh: Sourced<Mesh>,
    pub workload: Sourced<Workload>,
    /// The workload's files (its layouts' manifests).
    pub workload_tree: FileTree,
    pub suite: Suite,
    pub suite_tree: FileTree,
    /// The bundle to write.
    pub out: PathBuf,
    /// The key that signs the bundle and where its attestation goes (`--sign-key`).
    pub signer: Option<(crate::provenance::files::SigningKey, PathBuf)>,
    pub started_at: String,
}

/// Progress, the clock, Ctrl-C, and the phases' wall times (`run.phases`, `crate::timing`).
pub struct PhaseLog<'a> {
    pub progress: &'a mut dyn Progress,
    pub clock: &'a dyn Clock,
    pub cancel: &'a AtomicBool,
    pub timings: Vec<PhaseTiming>,
}

impl std::fmt::Debug for PhaseLog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhaseLog")
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

/// What the run recorded so far: the run directory that becomes the bundle, the cluster and
/// image it got, resolved facts, observations, and how it ended.
#[derive(Debug)]
pub struct Record {
    run_dir: Option<tempfile::TempDir>,
    pub cluster: Option<ClusterFacts>,
    /// The mesh install's cluster-free part, done while the cluster was created (its error
    /// is the mesh phase's).
    pub prepared: Option<Result<PreparedMesh, PlatformError>>,
    pub image: Option<ImageFacts>,
    /// `resolved/<name>.json`.
    pub resolved: bundle::Resolved,
    pub observations: BTreeMap<String, CaseObservation>,
    pub status: RunStatus,
    pub failure: Option<Arc<PlatformError>>,
}

impl Record {
    /// The run directory (open from the cluster phase on).
    pub fn dir(&self) -> &Path {
        self.run_dir
            .as_ref()
            .expect("the run directory is open after preflight")
            .path()
    }
}

/// A unit of the run's work after preflight; the first that fails (or meets Ctrl-C) ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Cluster,
    WorkloadImage,
    Mesh,
    /// The planned case at this index of `plan.cases`.
    Case(usize),
}

impl PhaseLog<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Run `f` as `phase`: progress before and after, its wall time recorded whatever the
    /// result; `f` returns its value and a short detail for the progress line.
    fn timed<T>(
        &mut self,
        phase: Phase,
        f: impl FnOnce(&mut dyn Progress) -> Result<(T, String), PlatformError>,
    ) -> Result<T, PlatformError> {
        self.progress.phase_started(&phase);
        let start = self.clock.now_ms();
        let r = f(self.progress);
        let ms = self.clock.now_ms().saturating_sub(start);
        let (ok, detail) = match &r {
            Ok((_, d)) => (true, d.clone()),
            Err(e) => (false, e.to_string()),
        };
        self.progress.phase_finished(&phase, ms, ok, &detail);
        self.timings.push(PhaseTiming {
            phase,
            duration_ms: ms,
            ok,
        });
        r.map(|(t, _)| t)
    }
}

impl<'a> RunContext<'a> {
    /// Plan the request and check what can be checked before anything starts (the pins, `--out`,
    /// the signing key); reports the planned cases.
    pub fn new(
        catalog: &'a Catalog,
        req: &'a RunRequest,
        progress: &'a mut dyn Progress,
        clock: &'a dyn Clock,
        cancel: &'a AtomicBool,
    ) -> Result<Self, AppError> {
        let setup = Setup::new(catalog, req)?;
        let planned: Vec<String> = setup.plan.cases.iter().map(|c| c.name.clone()).collect();
        progress.run_planned(&planned);
        Ok(RunContext {
            setup,
            phases: PhaseLog {
                progress,
                clock,
                cancel,
                timings: Vec::new(),
            },
            record: Record {
                run_dir: None,
                cluster: None,
                prepared: None,
                image: None,
                resolved: bundle::Resolved::default(),
                observations: BTreeMap::new(),
                status: RunStatus::Complete,
                failure: None,
            },
        })
    }

    /// The run directory next to the output, with the run's inputs in it.
    pub fn open_run_dir(&mut self) -> Result<(), AppError> {
        let s = &self.setup;
        let parent = out_dir(&s.out).to_path_buf();
        let run_dir = tempfile::Builder::new()
            .prefix(&format!(".meshproof-run-{}-", &s.run_id[..8]))
            .tempdir_in(&parent)
            .map_err(AppError::io(parent.display()))?;
        let dir = run_dir.path();
        write(dir, paths::INPUT_CLUSTER, &s.cluster_pin.bytes)?;
        write(dir, paths::INPUT_MESH, &s.mesh.bytes)?;
        write(
            dir,
            &format!("{}/workload.yaml", paths::INPUT_WORKLOAD),
            &s.workload.bytes,
        )?;
        for (k, v) in &s.workload_tree {
            write(dir, &format!("{}/{k}", paths::INPUT_WORKLOAD), v)?;
        }
        for (k, v) in &s.suite_tree {
            write(dir, &format!("{}/{k}", paths::INPUT_SUITE), v)?;
        }
        self.record.run_dir = Some(run_dir);
        Ok(())
    }

    /// The work after preflight, in order: cluster, workload image, mesh, every planned case.
    pub fn work(&self) -> Vec<Work> {
        let cases = (0..self.setup.plan.cases.len()).map(Work::Case);
        [Work::Cluster, Work::WorkloadImage, Work::Mesh]
            .into_iter()
            .chain(cases)
            .collect()
    }

    /// The work ended early with `e`: aborted if Ctrl-C was pressed, an infrastructure
    /// failure otherwise.
    pub fn fail(&mut self, e: PlatformError) {
        self.record.status = if self.phases.cancelled() {
            RunStatus::Aborted
        } else {
            RunStatus::InfrastructureFailed
        };
        self.record.failure = Some(Arc::new(e));
    }

    fn kind_cluster(&self) -> bool {
        self.setup.req.kubeconfig.is_none()
    }
}

/// The directory `--out` goes into.
fn out_dir(out: &Path) -> &Path {
    out.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `--out` must be a new file in an existing directory: refused (exit 2) before anything starts,
/// not after the cluster phase.
fn check_out(out: &Path) -> Result<(), AppError> {
    if out.symlink_metadata().is_ok() {
        return Err(AppError::Usage(format!(
            "{}: already exists; choose another --out",
            out.display()
        )));
    }
    let parent = out_dir(out);
    if !parent.is_dir() {
        return Err(AppError::Usage(format!(
            "--out {}: the directory {} does not exist; create it or choose another --out",
            out.display(),
            parent.display()
        )));
    }
    Ok(())
}

impl<'a> Setup<'a> {
    fn new(catalog: &'a Catalog, req: &'a RunRequest) -> Result<Self, AppError> {
        // Plan: validated inputs, before anything touches Docker.
        let plan = plan::plan(catalog, &req.plan)?;
        // The plan resolved `kind-default` against the mesh's Kubernetes versions.
        let cluster_pin = catalog.select_cluster(&plan.cluster.name)?;
        let mesh = catalog.select_mesh(&req.plan.mesh)?;
        let workload = catalog.select_workload(&req.plan.workload)?;
        let (suite, suite_tree) = catalog.suite(&req.plan.suite)?;
        let workload_tree = catalog.workload_tree(&workload.value.metadata.name)?;
        let run_id = new_run_id();
        let out = req.out.clone().unwrap_or_else(|| {
            PathBuf::from(format!(
                "meshproof-{}-{}.tar.zst",
                mesh.value.id().replace('@', "-"),
                &run_id[..8]
            ))
        });
        check_out(&out)?;
        let signer = signer(req, &out)?;
        Ok(Setup {
            catalog,
            req,
            plan,
            run_id,
            cluster_pin,
            mesh,
            workload,
            workload_tree,
            suite,
            suite_tree,
            out,
            signer,
            started_at: rfc3339(std::time::SystemTime::now()),
        })
    }

    /// What the platform's calls are given.
    pub fn inputs(&self) -> RunInputs<'_> {
        RunInputs {
            run_id: &self.run_id,
            plan: &self.plan,
            catalog: self.catalog,
            image_pins: &self.req.image_pins,
            probe_image: self.req.probe_image.as_deref(),
            keep: self.req.keep,
        }
    }

    /// The workload manifests of a case's layout, with the loaded image and the mesh's pod
    /// onboarding (meshes whose pods opt in themselves: Consul's connect-inject, upstreams).
    fn workload_docs(&self, lc: &LoadedCase, image: &str) -> Result<Vec<Value>, PlatformError> {
        let w = &self.workload.value;
        let mut docs = Vec::new();
        for m in &w.spec.layouts[&lc.case.spec.layout].manifests {
            let text = String::from_utf8_lossy(&self.workload_tree[m])
                .replace(&w.spec.image.placeholder, image);
            docs.extend(crate::yaml::documents(
                &format!("workloads/{}/{m}", w.metadata.name),
                &text,
            )?);
        }
        crate::spec::workload::onboard_pods(&mut docs, &self.mesh.value)
            .map_err(|e| PlatformError::failed(format!("onboarding the workload pods: {e}")))?;
        Ok(docs)
    }
}

/// A key that cannot sign fails the run before it starts, not after it.
fn signer(
    req: &RunRequest,
    out: &Path,
) -> Result<Option<(crate::provenance::files::SigningKey, PathBuf)>, AppError> {
    let Some(k) = &req.sign_key else {
        return Ok(None);
    };
    let attestation = crate::provenance::files::attestation_path(out);
    if attestation.symlink_metadata().is_ok() {
        return Err(AppError::Usage(format!(
            "{}: already exists; choose another --out",
            attestation.display()
        )));
    }
    Ok(Some((
        crate::provenance::files::load_signing_key(k)?,
        attestation,
    )))
}

/// Preflight (kind clusters only): the machine is checked; nothing is written when it fails.
pub fn preflight(
    cx: &mut RunContext<'_>,
    platform: &mut dyn Platform,
) -> Result<(), PlatformError> {
    if !cx.kind_cluster() {
        return Ok(());
    }
    let inputs = cx.setup.inputs();
    cx.phases.timed(Phase::Preflight, |_| {
        platform.preflight(&inputs).map(|()| ((), String::new()))
    })
}

/// One unit of work — unless Ctrl-C was pressed, then the run stops here (the interrupt is
/// looked at before every unit and after every case).
pub fn work(
    cx: &mut RunContext<'_>,
    platform: &mut dyn Platform,
    unit: Work,
) -> Result<(), PlatformError> {
    let interrupted = |before: Option<Phase>| PlatformError::Interrupted { before };
    if cx.phases.cancelled() {
        return Err(interrupted(match unit {
            Work::Cluster => Some(Phase::Cluster),
            Work::WorkloadImage => Some(Phase::WorkloadImage),
            Work::Mesh => Some(Phase::Mesh),
            Work::Case(_) => None,
        }));
    }
    match unit {
        Work::Cluster => cluster(cx, platform),
        Work::WorkloadImage => workload_image(cx, platform),
        Work::Mesh => mesh(cx, platform),
        Work::Case(i) => {
            case(cx, platform, i)?;
            if cx.phases.cancelled() {
                return Err(interrupted(None));
            }
            Ok(())
        }
    }
}

/// The cluster: a kind cluster created for the run, or the external one connected — while
/// another thread prepares the mesh install (what needs no cluster), so the two take the
/// longer of their times, not the sum.
fn cluster(cx: &mut RunContext<'_>, platform: &mut dyn Platform) -> Result<(), PlatformError> {
    let s = &cx.setup;
    let inputs = s.inputs();
    let preparation =
        (!s.req.mesh_installed).then(|| platform.prepare_mesh(&s.mesh.value, &inputs));
    let phases = &mut cx.phases;
    let (facts, prepared) = std::thread::scope(|scope| {
        let preparing = preparation.map(|p| scope.spawn(p));
        let facts = phases.timed(Phase::Cluster, |_| match &s.req.kubeconfig {
            Some(k) => platform
                .connect_external(k, s.req.context.as_deref(), &inputs)
                .map(|f| {
                    let d = format!("external cluster {}", f.record.name);
                    (f, d)
                }),
            None => platform.cluster_up(&inputs).map(|f| {
                let d = format!("{} ({})", f.record.name, s.plan.cluster.node_image);
                (f, d)
            }),
        });
        let prepared = preparing.map(|p| {
            p.join().unwrap_or_else(|_| {
                Err(PlatformError::failed("preparing the mesh install panicked"))
            })
        });
        (facts, prepared)
    });
    cx.record.prepared = prepared;
    cx.record.cluster = Some(facts?);
    Ok(())
}

/// The workload image, loaded into the nodes (or pulled by an external cluster).
fn workload_image(
    cx: &mut RunContext<'_>,
    platform: &mut dyn Platform,
) -> Result<(), PlatformError> {
    let s = &cx.setup;
    let image = cx.phases.timed(Phase::WorkloadImage, |_| {
        platform
            .load_workload_image(&s.workload, &s.inputs())
            .map(|i| {
                let d = format!("{} ({})", i.reference, i.id);
                (i, d)
            })
    })?;
    cx.record.resolved.workload_image = Some(image.clone());
    cx.record.image = Some(image);
    Ok(())
}

/// The mesh, installed (pinned to the parent's images for `reproduce`), or the installed one
/// recorded (`--mesh-installed`).
fn mesh(cx: &mut RunContext<'_>, platform: &mut dyn Platform) -> Result<(), PlatformError> {
    let s = &cx.setup;
    let mesh = &s.mesh.value;
    let prepared = cx.record.prepared.take();
    let facts = cx.phases.timed(Phase::Mesh, |_| {
        if s.req.mesh_installed {
            return platform
                .observe_installed_mesh(mesh)
                .map(|m| (m, "already installed (recorded, not installed)".to_string()));
        }
        let prepared = prepared.expect("the cluster phase prepared the mesh install")?;
        platform.install_mesh(mesh, prepared, &s.inputs()).map(|m| {
            let d = match mesh.spec.install.method {
                InstallMethod::None => "no mesh (the control run)".to_string(),
                _ => format!("{} installed", mesh.id()),
            };
            (m, d)
        })
    })?;
    for (k, v) in &facts.rendered {
        write(
            cx.record.dir(),
            &format!("{}/{k}", paths::INPUT_MESH_RENDERED),
            v,
        )
        .map_err(|e| PlatformError::failed(e.to_string()))?;
    }
    cx.record.resolved.mesh = Some(facts.record);
    Ok(())
}

/// One case in its own namespace: run, judged for the progress output (the same judge `pack`
/// and `verify` run), its evidence collected, its namespace deleted.
fn case(
    cx: &mut RunContext<'_>,
    platform: &mut dyn Platform,
    i: usize,
) -> Result<(), PlatformError> {
    let s = &cx.setup;
    let lc = s
        .suite
        .case(&s.plan.cases[i].name)
        .expect("planned cases exist");
    let image = cx
        .record
        .image
        .as_ref()
        .expect("the workload image is loaded");
    let ctx = CaseContext {
        mesh: &s.mesh.value,
        port: s.workload.value.spec.port,
        workload: s.workload_docs(lc, &image.reference)?,
        timeouts: s.plan.timeouts,
        cancel: cx.phases.cancel,
    };
    let ns = suite::namespace_for(lc.name(), &s.run_id);
    let clock = cx.phases.clock;
    let obs = cx
        .phases
        .timed(Phase::Case(lc.name().to_string()), |progress| {
            let obs = suite::run_case(lc, &ns, &ctx, platform.backend(), clock, progress);
            let one = BTreeMap::from([(lc.name().to_string(), obs.clone())]);
            let judged = crate::verdict::judge(
                &s.suite,
                &one,
                s.req.plan.scoring,
                &crate::calls::Semantics::of(ctx.mesh),
            );
            let mut d = format!("variant {}", obs.variant);
            if let Some(c) = judged.cases.first() {
                progress.case_judged(c);
                d.push_str(&format!(
                    ", {} ({})",
                    judged.capability_word(c),
                    c.status.as_str()
                ));
            }
            Ok((obs, d))
        })?;
    let logs = cx.record.dir().join(paths::LOGS);
    for f in platform.collect_evidence(std::slice::from_ref(&ns), &logs) {
        cx.phases.progress.note(&format!("evidence: {f}"));
    }
    // Only the namespaces this run made are removed.
    if let Err(e) = platform.backend().delete_namespace(&ns) {
        cx.phases
            .progress
            .note(&format!("could not delete namespace {ns}: {e}"));
    }
    cx.record.observations.insert(lc.name().to_string(), obs);
    Ok(())
}

/// Evidence of the mesh and the nodes, before anything is deleted (always). A kind cluster
/// whose creation failed has no facts but may have retained nodes: their logs are the evidence.
pub fn evidence(cx: &mut RunContext<'_>, platform: &mut dyn Platform) {
    let connected = cx.record.cluster.is_some();
    if !connected && !cx.kind_cluster() {
        return;
    }
    let logs = cx.record.dir().join(paths::LOGS);
    let namespaces = &cx.setup.mesh.value.spec.namespaces;
    let _ = cx.phases.timed(Phase::Evidence, |_| {
        let mut f = Vec::new();
        if connected {
            f.extend(platform.collect_evidence(namespaces, &logs));
        }
        f.extend(platform.collect_node_logs(&logs.join("nodes")));
        let d = if f.is_empty() {
            String::new()
        } else {
            format!("{} item(s) missing: {}", f.len(), f.join("; "))
        };
        Ok(((), d))
    });
    cx.record.resolved.extend(platform.resolved());
}

/// Teardown (always): the kind cluster is deleted unless kept — also after a failed create;
/// an external cluster is never touched. A failed teardown after the work is the run's failure.
pub fn teardown(cx: &mut RunContext<'_>, platform: &mut dyn Platform) {
    let external = cx.record.cluster.as_ref().map(|f| f.record.external);
    if external == Some(true) || (external.is_none() && !cx.kind_cluster()) {
        return;
    }
    let r = cx.phases.timed(Phase::Teardown, |_| {
        platform
            .teardown()
            .map(|note| ((), note.unwrap_or_default()))
    });
    match (r, external) {
        (Ok(()), _) => {}
        // After a failed create the run has already failed: the note is all there is to say.
        (Err(e), None) => cx.phases.progress.note(&format!("teardown: {e}")),
        (Err(e), Some(_)) => {
            if cx.record.failure.is_none() {
                cx.record.status = RunStatus::InfrastructureFailed;
                cx.record.failure = Some(Arc::new(PlatformError::Teardown {
                    source: Box::new(e),
                }));
            }
        }
    }
}

/// The seal: the records and the manifest into the run directory, packed into the bundle
/// (the judge runs inside `pack`), verified, and signed with `--sign-key`.
pub fn seal(cx: RunContext<'_>) -> Result<RunOutcome, AppError> {
    let RunContext {
        setup,
        phases,
        mut record,
    } = cx;
    write_records(&setup, &mut record)?;
    let dir = record.dir().to_path_buf();
    let manifest = manifest(&setup, &record, &phases.timings);
    write(
        &dir,
        paths::MANIFEST,
        &bundle::RunManifest { run: manifest }.to_json(),
    )?;
    let out = &setup.out;
    let options = bundle::write::PackOptions {
        tool: crate::tool(),
        ..Default::default()
    };
    let packed = crate::seal::pack(&dir, out, &options)?;
    let report = crate::seal::verify(out, &bundle::Limits::default());
    if let Some(p) = report.first_problem() {
        return Err(AppError::VerifyFailed(format!(
            "the bundle just written does not verify ({}: {})",
            p.name, p.detail
        )));
    }
    phases.progress.note(&format!(
        "bundle {} ({} files, verified)",
        out.display(),
        packed.files
    ));
    let attestation = sign(&setup, phases.progress)?;
    Ok(RunOutcome {
        run_id: setup.run_id,
        // `pack` makes a run with a case that did not finish `incomplete`.
        status: packed.manifest.run.status,
        bundle: setup.out,
        verdicts: packed.verdicts,
        failure: record.failure,
        attestation,
    })
}

/// The kind config, `resolved/*.json` and every planned case's observation — a case the run
/// never started is recorded as not run, with the reason.
fn write_records(s: &Setup<'_>, record: &mut Record) -> Result<(), AppError> {
    let dir = record.dir().to_path_buf();
    if let Some(facts) = &record.cluster {
        if let Some(cfg) = &facts.kind_config {
            write(&dir, paths::INPUT_KIND_CONFIG, cfg.as_bytes())?;
        }
        record.resolved.cluster = Some(facts.record.clone());
    }
    record.resolved.served_smi = Some(
        record
            .observations
            .iter()
            .map(|(k, o)| (k.clone(), o.served.clone()))
            .collect(),
    );
    for (path, bytes) in record.resolved.files() {
        write(&dir, &path, &bytes)?;
    }
    let mut unstarted: BTreeMap<String, CaseObservation> = BTreeMap::new();
    if let Some(failure) = &record.failure {
        let why = match record.status {
            RunStatus::Aborted => "the run was aborted before the case started".to_string(),
            _ => format!("the run failed before the case started: {failure}"),
        };
        for cp in &s.plan.cases {
            if let (false, Some(lc)) = (
                record.observations.contains_key(&cp.name),
                s.suite.case(&cp.name),
            ) {
                let ns = suite::namespace_for(lc.name(), &s.run_id);
                unstarted.insert(cp.name.clone(), not_run_observation(lc, &ns, &why));
            }
        }
    }
    for (name, o) in record.observations.iter().chain(&unstarted) {
        write(
            &dir,
            &paths::observation(name),
            &bundle::format::json_file(o),
        )?;
    }
    Ok(())
}

/// The observation of a planned case the run never started: every step `not-run`, the first
/// one saying why.
fn not_run_observation(lc: &LoadedCase, namespace: &str, why: &str) -> CaseObservation {
    let spec = &lc.case.spec;
    CaseObservation {
        format: crate::observation::OBSERVATION_FORMAT,
        case: lc.name().to_string(),
        variant: spec
            .variants
            .first()
            .map(|v| v.name.clone())
            .unwrap_or_default(),
        namespace: namespace.to_string(),
        served: BTreeMap::new(),
        steps: spec
            .steps
            .iter()
            .enumerate()
            .map(|(i, st)| crate::observation::StepObservation {
                name: st.name.clone(),
                status: crate::observation::StepStatus::NotRun,
                error: (i == 0).then(|| why.to_string()),
                attempts: Vec::new(),
                retried: Vec::new(),
            })
            .collect(),
    }
}

/// The manifest's `run` section.
fn manifest(s: &Setup<'_>, record: &Record, timings: &[PhaseTiming]) -> bundle::RunInfo {
    let req = s.req;
    let selection = bundle::RunSelection {
        cluster: Some(s.plan.cluster.name.clone()),
        mesh: Some(s.plan.mesh.id.clone()),
        workload: Some(s.plan.workload.name.clone()),
        suite: Some(s.plan.suite.clone()),
        only: (!req.plan.only.is_empty()).then(|| req.plan.only.join(",")),
        other: BTreeMap::new(),
    };
    let extra = bundle::RunExtras {
        phases: Some(timings.to_vec()),
        cluster_mode: Some(if req.kubeconfig.is_some() {
            bundle::ClusterMode::External
        } else {
            bundle::ClusterMode::Kind
        }),
        // What the summary names instead of the kind pin (which only a reproduction would use).
        external_cluster: record
            .cluster
            .as_ref()
            .filter(|f| f.record.external)
            .map(|f| bundle::ExternalCluster {
                context: f.record.name.clone(),
                server_version: f.record.kubernetes_server.clone(),
            }),
        mesh_installed_by_user: Some(req.mesh_installed),
        timeout_scale: Some(req.plan.timeout_scale),
        force: s.plan.forced.as_ref().map(|_| true),
        forced: s.plan.forced.clone(),
        failure: record.failure.as_ref().map(|f| f.to_string()),
        overrides: (!req.overrides.is_empty()).then(|| req.overrides.clone()),
        ..bundle::RunExtras::default()
    };
    bundle::RunInfo {
        id: s.run_id.clone(),
        status: record.status,
        started_at: s.started_at.clone(),
        finished_at: rfc3339(std::time::SystemTime::now()),
        scoring: req.plan.scoring,
        selection,
        parent: req.parent.clone(),
        extra,
    }
}

/// The attestation beside the bundle (`--sign-key`), and the signing key's keyid.
fn sign(s: &Setup<'_>, progress: &mut dyn Progress) -> Result<Option<(PathBuf, String)>, AppError> {
    let Some((key, path)) = &s.signer else {
        return Ok(None);
    };
    let opts = crate::provenance::files::AttestOptions {
        require: s.req.require.unwrap_or(Capability::Full),
        url: None,
        envelope: Some(path.clone()),
        predicate: None,
        force: false,
    };
    let done = crate::provenance::files::attest(&s.out, Some(key), &opts)?;
    progress.note(&format!(
        "attestation {} ({}, keyid {})",
        path.display(),
        done.statement.predicate.result.as_str(),
        key.keyid()
    ));
    Ok(Some((path.clone(), key.keyid().to_string())))
}
