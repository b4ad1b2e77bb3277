//! `meshproof run`: plan → preflight → cluster → workload image → mesh → cases → evidence →
//! teardown → bundle (judge inside `pack`) → verify → summary, against a `Platform`.
//!
//! The real platform (kind + Docker + kube-rs) and the tests' double implement the same trait.
//! A run that fails for infrastructure reasons, or is interrupted, still writes a bundle with
//! what it had (status `infrastructure-failed` / `aborted`); a failed preflight writes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Value};

use crate::bundle::{self, paths, RunStatus};
use crate::error::AppError;
use crate::observation::CaseObservation;
use crate::plan::{self, PlanRequest, RunPlan};
use crate::progress::Progress;
use crate::spec::catalog::{Catalog, FileTree, Sourced};
use crate::spec::mesh::Mesh;
use crate::spec::workload::Workload;
use crate::suite::{self, CaseContext, Clock, SuiteBackend};
use crate::timeouts::Timeouts;
use crate::timing::Phase;
use crate::verdict::{Capability, Verdicts};

/// An infrastructure failure (not the mesh's): Docker, kind, the API server, an install timeout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InfraError(pub String);

/// What a platform knows about the cluster it brought up or connected to.
#[derive(Debug, Clone, Default)]
pub struct ClusterFacts {
    /// `meshproof-<id>` for kind clusters, the context name for external ones.
    pub name: String,
    pub external: bool,
    /// The rendered kind config (kind clusters only) — goes to `inputs/kind-config.yaml`.
    pub kind_config: Option<String>,
    /// Facts for `resolved/cluster.json` (kind/Kubernetes versions, node image digest, node ids, commands).
    pub facts: BTreeMap<String, Value>,
}

/// The workload image as loaded into the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFacts {
    /// Reference written into the manifests (`meshproof-probe:0.1.0`).
    pub reference: String,
    /// Image id / config digest (`sha256:…`).
    pub id: String,
}

/// The mesh as installed.
#[derive(Debug, Clone, Default)]
pub struct MeshFacts {
    /// Rendered manifests that were applied → `inputs/mesh-rendered/`.
    pub rendered: FileTree,
    /// Facts for `resolved/mesh.json` (chart digest, commands, versions).
    pub facts: BTreeMap<String, Value>,
}

/// Everything a run needs from the outside world.
pub trait Platform {
    /// Check the machine before anything starts.
    fn preflight(&mut self, plan: &RunPlan) -> Result<(), InfraError>;
    /// Create an ephemeral cluster for `plan.cluster`.
    fn cluster_up(&mut self, run_id: &str, plan: &RunPlan) -> Result<ClusterFacts, InfraError>;
    /// Use an existing cluster instead (never created or deleted by meshproof).
    fn connect_external(
        &mut self,
        kubeconfig: &Path,
        context: Option<&str>,
    ) -> Result<ClusterFacts, InfraError>;
    /// Build or take the workload image and load it into every node (no registry).
    fn load_workload_image(
        &mut self,
        workload: &Sourced<Workload>,
    ) -> Result<ImageFacts, InfraError>;
    /// The run's timeout table (scaled by `--timeout-scale`), before the cluster phase: every
    /// apply, delete, wait and probe call of the platform is bounded by it.
    fn use_timeouts(&mut self, _timeouts: &Timeouts) {}
    /// Install the mesh and wait for its readiness checks.
    fn install_mesh(&mut self, mesh: &Mesh, timeouts: &Timeouts) -> Result<MeshFacts, InfraError>;
    /// Pin the mesh's images to these digests (image reference → image id) when installing:
    /// `reproduce` installs exactly the bits the original run ran.
    fn pin_images(&mut self, _digests: &BTreeMap<String, String>) {}
    /// The catalog this run's inputs come from (for `reproduce`/`rerun`, the bundle's own
    /// inputs): pins and lock files are read from it, never from another checkout.
    fn use_inputs(&mut self, _catalog: &Catalog) {}
    /// The probe image an external cluster pulls (`run --kubeconfig --probe-image`).
    fn use_probe_image(&mut self, _reference: &str) {}
    /// Record the already-installed mesh instead (`--mesh-installed`).
    fn observe_installed_mesh(&mut self, mesh: &Mesh) -> Result<MeshFacts, InfraError>;
    /// The suite backend on the cluster.
    fn backend(&mut self) -> &mut dyn SuiteBackend;
    /// Best-effort evidence of namespaces (pod logs, events, objects) into `dir`; returns failures.
    fn collect_evidence(&mut self, namespaces: &[String], dir: &Path) -> Vec<String>;
    /// Node logs of the cluster into `dir` (kind clusters); returns failures.
    fn collect_node_logs(&mut self, dir: &Path) -> Vec<String>;
    /// What the run pinned, for `resolved/<name>.json` (image digests from pod statuses, versions).
    fn resolved(&mut self) -> BTreeMap<String, Value>;
    /// Delete the cluster unless `keep`; returns a note (how to reach a kept cluster).
    fn teardown(&mut self, keep: bool) -> Result<Option<String>, InfraError>;
}

/// A `run` request.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub plan: PlanRequest,
    pub keep: bool,
    pub require: Option<Capability>,
    pub out: Option<PathBuf>,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub mesh_installed: bool,
    /// Run id of the bundle this run re-runs.
    pub parent: Option<String>,
    /// Image reference → digest the mesh's manifests are rewritten to (from a parent bundle).
    pub image_pins: BTreeMap<String, String>,
    /// What `reproduce`/`rerun` ran differently from the parent's inputs, and why (recorded in
    /// the manifest as `overrides`).
    pub overrides: BTreeMap<String, String>,
    /// Sign the bundle at the end with this Ed25519 private key (`run --sign-key`): the key is
    /// read before anything starts, the attestation written beside the bundle.
    pub sign_key: Option<PathBuf>,
    /// The probe image an external cluster pulls (`--probe-image`, `MESHPROOF_PROBE_IMAGE`).
    pub probe_image: Option<String>,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub run_id: String,
    /// As the bundle records it: `incomplete` when a case did not finish.
    pub status: RunStatus,
    pub bundle: PathBuf,
    pub verdicts: Verdicts,
    /// The infrastructure error that ended the run early, if any.
    pub failure: Option<String>,
    /// The attestation written with `sign_key`, and the signing key's keyid.
    pub attestation: Option<(PathBuf, String)>,
}

/// A fresh run id: 16 hex digits from the clock and the process id.
pub fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seed = format!("{nanos}-{}", std::process::id());
    crate::sha256_hex(seed.as_bytes())[..16].to_string()
}

/// RFC 3339 UTC timestamp of a system time (seconds precision): `2026-11-29T08:27:00Z`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let at = time::OffsetDateTime::from(t);
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a system time between the years 0 and 9999")
}

/// Write `bytes` to `dir/rel`; `rel` must be plain relative segments (it may hold names a bundle
/// supplied), so nothing lands outside `dir`.
fn write(dir: &Path, rel: &str, bytes: &[u8]) -> Result<(), AppError> {
    let p = bundle::names::join_under(dir, rel)?;
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| AppError::Infrastructure(format!("{}: {e}", parent.display())))?;
    }
    std::fs::write(&p, bytes).map_err(|e| AppError::Infrastructure(format!("{}: {e}", p.display())))
}

fn json_bytes(v: &impl serde::Serialize) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("json");
    b.push(b'\n');
    b
}

/// The observation of a planned case the run never started: every step `not-run`, the first
/// one saying why.
fn not_run_observation(
    lc: &crate::spec::catalog::LoadedCase,
    namespace: &str,
    why: &str,
) -> CaseObservation {
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

/// The phases' wall times, recorded in the manifest as `run.phases` (`crate::timing`).
struct Phases<'a> {
    progress: &'a mut dyn Progress,
    clock: &'a dyn Clock,
    timings: Vec<crate::timing::PhaseTiming>,
    cancel: &'a AtomicBool,
}

impl Phases<'_> {
    /// A phase that does work towards the result: after Ctrl-C it does not start (evidence and
    /// teardown use [`Phases::run`] and always do).
    fn work<T>(
        &mut self,
        phase: Phase,
        f: impl FnOnce(&mut dyn Progress) -> Result<(T, String), InfraError>,
    ) -> Result<T, InfraError> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(InfraError(format!("interrupted (Ctrl-C) before {phase}")));
        }
        self.run(phase, f)
    }

    fn run<T>(
        &mut self,
        phase: Phase,
        f: impl FnOnce(&mut dyn Progress) -> Result<(T, String), InfraError>,
    ) -> Result<T, InfraError> {
        self.progress.phase_started(&phase);
        let start = self.clock.now_ms();
        let r = f(self.progress);
        let ms = self.clock.now_ms().saturating_sub(start);
        let (ok, detail) = match &r {
            Ok((_, d)) => (true, d.clone()),
            Err(e) => (false, e.0.clone()),
        };
        self.progress.phase_finished(&phase, ms, ok, &detail);
        self.timings.push(crate::timing::PhaseTiming {
            phase,
            duration_ms: ms,
            ok,
        });
        r.map(|(t, _)| t)
    }
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
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(AppError::Usage(format!(
            "--out {}: the directory {} does not exist; create it or choose another --out",
            out.display(),
            parent.display()
        )));
    }
    Ok(())
}

/// Run the suite end to end. Bad input is an error before anything starts; afterwards every
/// outcome writes a bundle, and the cluster is torn down (unless kept) in every case.
pub fn run(
    catalog: &Catalog,
    req: &RunRequest,
    platform: &mut dyn Platform,
    progress: &mut dyn Progress,
    clock: &dyn Clock,
    cancel: &AtomicBool,
) -> Result<RunOutcome, AppError> {
    // Plan: validated inputs, before anything touches Docker.
    let plan = plan::plan(catalog, &req.plan)?;
    // The plan resolved `kind-default` against the mesh's Kubernetes versions.
    let cluster_pin = catalog.select_cluster(&plan.cluster.name)?;
    let mesh_pin = catalog.select_mesh(&req.plan.mesh)?;
    let workload = catalog.select_workload(&req.plan.workload)?;
    let (suite, suite_tree) = catalog.suite(&req.plan.suite)?;
    let run_id = new_run_id();
    let out = req.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "meshproof-{}-{}.tar.zst",
            mesh_pin.value.id().replace('@', "-"),
            &run_id[..8]
        ))
    });
    check_out(&out)?;
    // A key that cannot sign fails the run before it starts, not after it.
    let signer = match &req.sign_key {
        None => None,
        Some(k) => {
            let attestation = crate::provenance::files::attestation_path(&out);
            if attestation.symlink_metadata().is_ok() {
                return Err(AppError::Usage(format!(
                    "{}: already exists; choose another --out",
                    attestation.display()
                )));
            }
            Some((crate::provenance::files::load_signing_key(k)?, attestation))
        }
    };
    let started_at = rfc3339(std::time::SystemTime::now());
    platform.use_inputs(catalog);
    if let Some(image) = &req.probe_image {
        platform.use_probe_image(image);
    }
    let mut phases = Phases {
        progress,
        clock,
        timings: Vec::new(),
        cancel,
    };
    let planned: Vec<String> = plan.cases.iter().map(|c| c.name.clone()).collect();
    phases.progress.run_planned(&planned);

    // Preflight: nothing is written when it fails.
    if req.kubeconfig.is_none() {
        phases
            .run(Phase::Preflight, |_| {
                platform.preflight(&plan).map(|()| ((), String::new()))
            })
            .map_err(|e| AppError::Infrastructure(e.0))?;
    }

    // The run directory lives next to the output and becomes the bundle.
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let run_dir = tempfile::Builder::new()
        .prefix(&format!(".meshproof-run-{}-", &run_id[..8]))
        .tempdir_in(&parent)
        .map_err(|e| AppError::Infrastructure(format!("{}: {e}", parent.display())))?;
    let dir = run_dir.path().to_path_buf();
    write(&dir, paths::INPUT_CLUSTER, &cluster_pin.bytes)?;
    write(&dir, paths::INPUT_MESH, &mesh_pin.bytes)?;
    let wname = &workload.value.metadata.name;
    write(
        &dir,
        &format!("{}/workload.yaml", paths::INPUT_WORKLOAD),
        &workload.bytes,
    )?;
    let wtree = catalog.workload_tree(wname)?;
    for (k, v) in &wtree {
        write(&dir, &format!("{}/{k}", paths::INPUT_WORKLOAD), v)?;
    }
    for (k, v) in &suite_tree {
        write(&dir, &format!("{}/{k}", paths::INPUT_SUITE), v)?;
    }

    let mut status = RunStatus::Complete;
    let mut failure: Option<String> = None;
    let mut observations: BTreeMap<String, CaseObservation> = BTreeMap::new();
    let mut cluster_facts: Option<ClusterFacts> = None;
    let mut resolved: BTreeMap<String, Value> = BTreeMap::new();

    platform.use_timeouts(&plan.timeouts);
    let infra = (|| -> Result<(), InfraError> {
        let facts = match &req.kubeconfig {
            Some(k) => phases.work(Phase::Cluster, |_| {
                platform
                    .connect_external(k, req.context.as_deref())
                    .map(|f| {
                        let d = format!("external cluster {}", f.name);
                        (f, d)
                    })
            })?,
            None => phases.work(Phase::Cluster, |_| {
                platform.cluster_up(&run_id, &plan).map(|f| {
                    let d = format!("{} ({})", f.name, plan.cluster.node_image);
                    (f, d)
                })
            })?,
        };
        cluster_facts = Some(facts);
        let image = phases.work(Phase::WorkloadImage, |_| {
            platform.load_workload_image(&workload).map(|i| {
                let d = format!("{} ({})", i.reference, i.id);
                (i, d)
            })
        })?;
        resolved.insert(
            "workload-image".into(),
            json!({"reference": image.reference, "id": image.id}),
        );
        if !req.image_pins.is_empty() {
            platform.pin_images(&req.image_pins);
        }
        let mesh_facts = if req.mesh_installed {
            phases.work(Phase::Mesh, |_| {
                platform
                    .observe_installed_mesh(&mesh_pin.value)
                    .map(|m| (m, "already installed (recorded, not installed)".to_string()))
            })?
        } else {
            phases.work(Phase::Mesh, |_| {
                platform
                    .install_mesh(&mesh_pin.value, &plan.timeouts)
                    .map(|m| {
                        let d = match mesh_pin.value.spec.install.method {
                            crate::spec::mesh::InstallMethod::None => {
                                "no mesh (the control run)".to_string()
                            }
                            _ => format!("{} installed", mesh_pin.value.id()),
                        };
                        (m, d)
                    })
            })?
        };
        for (k, v) in &mesh_facts.rendered {
            write(&dir, &format!("{}/{k}", paths::INPUT_MESH_RENDERED), v)
                .map_err(|e| InfraError(e.to_string()))?;
        }
        resolved.insert("mesh".into(), json!(mesh_facts.facts));

        for cp in &plan.cases {
            if cancel.load(Ordering::SeqCst) {
                return Err(InfraError("interrupted (Ctrl-C)".into()));
            }
            let lc = suite.case(&cp.name).expect("planned cases exist");
            let layout = &workload.value.spec.layouts[&lc.case.spec.layout];
            let mut docs = Vec::new();
            for m in &layout.manifests {
                let text = String::from_utf8_lossy(&wtree[m])
                    .replace(&workload.value.spec.image.placeholder, &image.reference);
                docs.extend(
                    crate::yaml::documents(&format!("workloads/{wname}/{m}"), &text)
                        .map_err(|e| InfraError(e.to_string()))?,
                );
            }
            // Meshes whose pods opt in themselves (Consul's connect-inject, upstreams): checked by plan.
            crate::spec::workload::onboard_pods(&mut docs, &mesh_pin.value)
                .map_err(|e| InfraError(format!("onboarding the workload pods: {e}")))?;
            let ns = suite::namespace_for(lc.name(), &run_id);
            let ctx = CaseContext {
                mesh: &mesh_pin.value,
                port: workload.value.spec.port,
                workload: docs,
                timeouts: plan.timeouts,
                cancel,
            };
            let obs = phases.work(Phase::Case(lc.name().to_string()), |progress| {
                let obs = suite::run_case(lc, &ns, &ctx, platform.backend(), clock, progress);
                // The same judge `pack` and `verify` run: progress shows every check's verdict.
                let one = BTreeMap::from([(lc.name().to_string(), obs.clone())]);
                let judged = crate::verdict::judge(
                    &suite,
                    &one,
                    req.plan.scoring,
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
            let failures =
                platform.collect_evidence(std::slice::from_ref(&ns), &dir.join(paths::LOGS));
            for f in failures {
                phases.progress.note(&format!("evidence: {f}"));
            }
            // Only the namespaces this run made are removed.
            if let Err(e) = platform.backend().delete_namespace(&ns) {
                phases
                    .progress
                    .note(&format!("could not delete namespace {ns}: {e}"));
            }
            observations.insert(lc.name().to_string(), obs);
            if cancel.load(Ordering::SeqCst) {
                return Err(InfraError("interrupted (Ctrl-C)".into()));
            }
        }
        Ok(())
    })();
    // Planned cases the run never started are recorded as not run, with the reason.
    let mut unstarted: BTreeMap<String, CaseObservation> = BTreeMap::new();
    if let Err(e) = infra {
        status = if cancel.load(Ordering::SeqCst) {
            RunStatus::Aborted
        } else {
            RunStatus::InfrastructureFailed
        };
        let why = match status {
            RunStatus::Aborted => "the run was aborted before the case started".to_string(),
            _ => format!("the run failed before the case started: {}", e.0),
        };
        for cp in &plan.cases {
            if let (false, Some(lc)) = (observations.contains_key(&cp.name), suite.case(&cp.name)) {
                let ns = suite::namespace_for(lc.name(), &run_id);
                unstarted.insert(cp.name.clone(), not_run_observation(lc, &ns, &why));
            }
        }
        failure = Some(e.0);
    }

    // Evidence of the mesh and the nodes, before anything is deleted. A kind cluster whose
    // creation failed has no facts but may have retained nodes: their logs are the evidence.
    let kind_cluster = req.kubeconfig.is_none();
    if cluster_facts.is_some() || kind_cluster {
        let _ = phases.run(Phase::Evidence, |_| {
            let mut f = Vec::new();
            if cluster_facts.is_some() {
                f.extend(
                    platform
                        .collect_evidence(&mesh_pin.value.spec.namespaces, &dir.join(paths::LOGS)),
                );
            }
            f.extend(platform.collect_node_logs(&dir.join(paths::LOGS).join("nodes")));
            let d = if f.is_empty() {
                String::new()
            } else {
                format!("{} item(s) missing: {}", f.len(), f.join("; "))
            };
            Ok(((), d))
        });
        resolved.extend(platform.resolved());
    }
    // Teardown: always, unless kept or external (also after a failed create).
    if cluster_facts.is_none() && kind_cluster {
        if let Err(e) = phases.run(Phase::Teardown, |_| {
            platform
                .teardown(req.keep)
                .map(|note| ((), note.unwrap_or_default()))
        }) {
            phases.progress.note(&format!("teardown: {}", e.0));
        }
    }
    if let Some(facts) = &cluster_facts {
        if !facts.external {
            match phases.run(Phase::Teardown, |_| {
                platform
                    .teardown(req.keep)
                    .map(|note| ((), note.unwrap_or_default()))
            }) {
                Ok(()) => {}
                Err(e) => {
                    if failure.is_none() {
                        status = RunStatus::InfrastructureFailed;
                        failure = Some(format!("teardown: {}", e.0));
                    }
                }
            }
        }
        if let Some(cfg) = &facts.kind_config {
            write(&dir, paths::INPUT_KIND_CONFIG, cfg.as_bytes())?;
        }
        let mut cf = facts.facts.clone();
        cf.insert("name".into(), json!(facts.name));
        cf.insert("external".into(), json!(facts.external));
        resolved.insert("cluster".into(), json!(cf));
    }
    let served: BTreeMap<&String, &BTreeMap<String, Vec<String>>> =
        observations.iter().map(|(k, o)| (k, &o.served)).collect();
    resolved.insert("served-smi".into(), json!(served));
    for (name, v) in &resolved {
        write(
            &dir,
            &format!("{}/{name}.json", paths::RESOLVED),
            &json_bytes(v),
        )?;
    }
    for (name, o) in observations.iter().chain(&unstarted) {
        write(&dir, &paths::observation(name), &json_bytes(o))?;
    }
    let mut selection = BTreeMap::new();
    selection.insert("cluster".to_string(), plan.cluster.name.clone());
    selection.insert("mesh".to_string(), plan.mesh.id.clone());
    selection.insert("workload".to_string(), plan.workload.name.clone());
    selection.insert("suite".to_string(), plan.suite.clone());
    if !req.plan.only.is_empty() {
        selection.insert("only".to_string(), req.plan.only.join(","));
    }
    let mut extra = BTreeMap::new();
    extra.insert(crate::timing::PHASES.to_string(), json!(phases.timings));
    extra.insert(
        "cluster_mode".to_string(),
        json!(if req.kubeconfig.is_some() {
            "external"
        } else {
            "kind"
        }),
    );
    if let Some(f) = cluster_facts.as_ref().filter(|f| f.external) {
        // What the summary names instead of the kind pin (which only a reproduction would use).
        extra.insert(
            "external_cluster".to_string(),
            json!({
                "context": f.name,
                "server_version": f.facts.get("kubernetes_server"),
            }),
        );
    }
    extra.insert(
        "mesh_installed_by_user".to_string(),
        json!(req.mesh_installed),
    );
    extra.insert("timeout_scale".to_string(), json!(req.plan.timeout_scale));
    if let Some(f) = &plan.forced {
        extra.insert("force".to_string(), json!(true));
        extra.insert("forced".to_string(), json!(f));
    }
    if let Some(f) = &failure {
        extra.insert("failure".to_string(), json!(f));
    }
    if !req.overrides.is_empty() {
        extra.insert("overrides".to_string(), json!(req.overrides));
    }
    let run_info = bundle::RunInfo {
        id: run_id.clone(),
        status,
        started_at,
        finished_at: rfc3339(std::time::SystemTime::now()),
        scoring: req.plan.scoring,
        selection,
        parent: req.parent.clone(),
        extra,
    };
    write(
        &dir,
        paths::MANIFEST,
        &json_bytes(&json!({ "run": run_info })),
    )?;

    let packed = bundle::write::pack(
        &dir,
        &out,
        &bundle::write::PackOptions {
            tool: crate::tool(),
            ..Default::default()
        },
    )?;
    let report = bundle::verify::verify(&out, &bundle::Limits::default());
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
    let attestation = match signer {
        None => None,
        Some((key, path)) => {
            let opts = crate::provenance::files::AttestOptions {
                require: req.require.unwrap_or(Capability::Full),
                url: None,
                envelope: Some(path.clone()),
                predicate: None,
                force: false,
            };
            let done = crate::provenance::files::attest(&out, Some(&key), &opts)?;
            phases.progress.note(&format!(
                "attestation {} ({}, keyid {})",
                path.display(),
                done.statement.predicate.result.as_str(),
                key.keyid()
            ));
            Some((path, key.keyid().to_string()))
        }
    };
    Ok(RunOutcome {
        run_id,
        // `pack` makes a run with a case that did not finish `incomplete`.
        status: packed.manifest.run.status,
        bundle: out,
        verdicts: packed.verdicts,
        failure,
        attestation,
    })
}

/// A catalog rebuilt from a bundle's `inputs/`: the exact cluster pin, mesh pin, workload and
/// suite bytes the original run used, laid out as `clusters/`, `meshes/`, `workloads/`, `suites/`.
#[derive(Debug)]
pub struct BundleInputs {
    pub dir: tempfile::TempDir,
    pub manifest: bundle::Manifest,
    pub verdicts: Verdicts,
    /// The original run's selection, for a new `RunRequest`.
    pub request: PlanRequest,
}

/// Unpack what `reproduce` and `rerun` need from a bundle (it must verify first).
pub fn inputs_from_bundle(path: &Path) -> Result<BundleInputs, AppError> {
    if !path.is_file() {
        return Err(AppError::Usage(format!(
            "{}: no such bundle file",
            path.display()
        )));
    }
    let report = bundle::verify::verify(path, &bundle::Limits::default());
    if let Some(p) = report.first_problem() {
        return Err(AppError::VerifyFailed(format!("{}: {}", p.name, p.detail)));
    }
    let manifest = report.manifest.expect("verified bundles have a manifest");
    let verdicts = report.verdicts.expect("verified bundles have verdicts");
    let files = bundle::read::read_selected(path, &bundle::Limits::default(), |p| {
        p.starts_with("inputs/")
    })?;
    // Every name that becomes a path below is checked first (verify checked it too).
    let selection = bundle::names::Selection::from_manifest(&manifest)?;
    let (cluster, mesh, workload, suite) = (
        selection.cluster.clone(),
        selection.mesh.clone(),
        selection.workload.clone(),
        selection.suite.clone(),
    );
    let dir = tempfile::tempdir().map_err(|e| AppError::Infrastructure(e.to_string()))?;
    let need = |p: &str| {
        files.get(p).ok_or_else(|| {
            AppError::Bundle(bundle::BundleError::Integrity {
                file: p.to_string(),
                reason: "missing from the bundle's inputs".into(),
            })
        })
    };
    write(
        dir.path(),
        &format!("clusters/{cluster}.yaml"),
        need(paths::INPUT_CLUSTER)?,
    )?;
    let mesh_rel = selection.mesh_pin_path();
    write(dir.path(), &mesh_rel, need(paths::INPUT_MESH)?)?;
    // The parent's downloads become the lock next to its pin: this run must get the same bytes.
    let parent_facts = bundle::read::read_selected(path, &bundle::Limits::default(), |p| {
        p == "resolved/mesh.json"
    })?;
    let pin_text = String::from_utf8_lossy(need(paths::INPUT_MESH)?).into_owned();
    if let (Ok(pin), Some(facts)) = (
        crate::spec::mesh::load(&mesh_rel, &pin_text),
        parent_facts
            .get("resolved/mesh.json")
            .and_then(|b| serde_json::from_slice::<Value>(b).ok()),
    ) {
        if let Some(lock) = crate::install::lock::from_parent(&pin, &facts) {
            let rel = crate::spec::mesh::Mesh::lock_path(&mesh_rel);
            write(
                dir.path(),
                &rel,
                crate::install::lock::render(&lock).as_bytes(),
            )?;
        }
    }
    for (k, v) in &files {
        if let Some(rest) = k.strip_prefix(&format!("{}/", paths::INPUT_WORKLOAD)) {
            write(dir.path(), &format!("workloads/{workload}/{rest}"), v)?;
        } else if let Some(rest) = k.strip_prefix(&format!("{}/", paths::INPUT_SUITE)) {
            write(dir.path(), &format!("suites/{suite}/{rest}"), v)?;
        }
    }
    let only = selection.only;
    let timeout_scale = manifest
        .run
        .extra
        .get("timeout_scale")
        .and_then(Value::as_f64)
        .unwrap_or(1.0);
    let request = PlanRequest {
        cluster,
        mesh,
        workload,
        suite,
        only,
        scoring: manifest.run.scoring,
        timeout_scale,
        force: manifest
            .run
            .extra
            .get("force")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    Ok(BundleInputs {
        dir,
        manifest,
        verdicts,
        request,
    })
}

/// What `rerun --failed` runs: every case the bundle planned (its suite, narrowed by its
/// `--only` selection, without the harness smoke unless it was the `control` run) that is not
/// Full — failed, `error`, `not-run`, or never recorded at all (an aborted run's bundle may hold
/// no case) — in suite order.
pub fn failed_cases(
    suite: &crate::spec::catalog::Suite,
    only: &[String],
    control: bool,
    v: &Verdicts,
) -> Vec<String> {
    suite
        .cases
        .iter()
        .filter(|lc| control || !lc.case.spec.is_harness())
        .map(|lc| lc.name())
        .filter(|name| only.is_empty() || only.iter().any(|o| o == name))
        .filter(|name| {
            !v.cases
                .iter()
                .any(|c| c.name == *name && v.effective(c) == Some(Capability::Full))
        })
        .map(str::to_string)
        .collect()
}

/// How `reproduce` and `rerun` may differ from the parent bundle's inputs; every difference is
/// recorded in the new bundle (`run.overrides`).
#[derive(Debug, Clone, Default)]
pub struct RerunOptions {
    pub out: Option<PathBuf>,
    pub keep: bool,
    /// Run on this cluster pin (from `catalog`) instead of the bundle's.
    pub cluster: Option<String>,
    /// Run even when the cluster is outside the mesh pin's known Kubernetes versions.
    pub force: bool,
    /// The user's catalog: the source of a `--cluster` pin, and of a workload the bundle does
    /// not hold (bundles packed from hand-made run directories may lack `inputs/workload/`).
    pub catalog: Option<Catalog>,
    /// Sign the new bundle with this Ed25519 private key (`--sign-key`).
    pub sign_key: Option<PathBuf>,
}

/// The parent's selection as a request for the new run, with `opts` applied to the inputs
/// catalog in `inputs.dir` and recorded.
fn rerun_request(
    inputs: &BundleInputs,
    original: &Path,
    opts: &RerunOptions,
    progress: &mut dyn Progress,
) -> Result<RunRequest, AppError> {
    let mut plan = inputs.request.clone();
    let mut overrides = BTreeMap::new();
    let dir = inputs.dir.path();
    if let Some(selector) = &opts.cluster {
        let catalog = opts.catalog.as_ref().ok_or_else(|| {
            AppError::Usage("--cluster needs a catalog to take the cluster pin from".into())
        })?;
        let pin = catalog.select_cluster(selector)?;
        let name = pin.value.metadata.name.clone();
        write(dir, &format!("clusters/{name}.yaml"), &pin.bytes)?;
        if name != plan.cluster {
            overrides.insert(
                "cluster".to_string(),
                format!(
                    "{name} from {} instead of the bundle's {} (--cluster)",
                    catalog.root.join(&pin.path).display(),
                    plan.cluster
                ),
            );
        }
        plan.cluster = name;
    }
    if opts.force && !plan.force {
        plan.force = true;
        overrides.insert(
            "force".to_string(),
            "--force: the cluster may be outside the mesh pin's known Kubernetes versions".into(),
        );
    }
    let workload_pin = format!("workloads/{}/workload.yaml", plan.workload);
    if !dir.join(&workload_pin).is_file() {
        let catalog = opts.catalog.as_ref().ok_or_else(|| {
            AppError::Usage(format!(
                "{}: holds no inputs/workload/, and no catalog was given to take workload `{}` from",
                original.display(),
                plan.workload
            ))
        })?;
        catalog.select_workload(&plan.workload)?;
        for (k, v) in catalog.workload_tree(&plan.workload)? {
            write(dir, &format!("workloads/{}/{k}", plan.workload), &v)?;
        }
        let note = format!(
            "workload {} from {} (the bundle holds no inputs/workload/)",
            plan.workload,
            catalog
                .root
                .join("workloads")
                .join(&plan.workload)
                .display()
        );
        progress.note(&format!("note: {note}"));
        overrides.insert("workload".to_string(), note);
    }
    Ok(RunRequest {
        plan,
        keep: opts.keep,
        out: opts.out.clone(),
        parent: Some(inputs.manifest.run.id.clone()),
        // The same mesh bits as the parent, so the cases see what the first run saw.
        image_pins: bundle_image_pins(original)?,
        overrides,
        sign_key: opts.sign_key.clone(),
        ..RunRequest::default()
    })
}

/// `reproduce`: run again with the bundle's own inputs, then compare with the original.
/// Returns the new run and the comparison (`verdicts_differ` → exit 1).
pub fn reproduce(
    original: &Path,
    opts: &RerunOptions,
    platform: &mut dyn Platform,
    progress: &mut dyn Progress,
    clock: &dyn Clock,
    cancel: &AtomicBool,
) -> Result<(RunOutcome, crate::diff::DiffReport), AppError> {
    let inputs = inputs_from_bundle(original)?;
    if inputs.manifest.run.extra.get("cluster_mode") == Some(&json!("external")) {
        progress.note(
            "the original ran on an external cluster (--kubeconfig): its cluster was not pinned, \
             so this reproduction runs on the pinned kind cluster of the same selection",
        );
    }
    let req = rerun_request(&inputs, original, opts, progress)?;
    if req.image_pins.is_empty() {
        progress.note("the original bundle records no image digests: images are installed by tag");
    }
    let catalog = Catalog::new(inputs.dir.path());
    let outcome = run(&catalog, &req, platform, progress, clock, cancel)?;
    let diff = crate::diff::diff(original, &outcome.bundle, &bundle::Limits::default())?;
    Ok((outcome, diff))
}

/// The digests a parent run installed, keyed by the image references its rendered manifests
/// name: what it pinned itself (`resolved/mesh.json` `pinned_images`, e.g. from a lock file:
/// `nats:2.9-alpine → nats@sha256:…`), then what its pod statuses reported
/// (`resolved/images.json`) for references it left by tag.
pub fn parent_image_pins(
    images_json: Option<&[u8]>,
    mesh_json: Option<&[u8]>,
) -> BTreeMap<String, String> {
    let mut pins: BTreeMap<String, String> = images_json
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    let mesh: Value = mesh_json
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null);
    if let Some(pinned) = mesh.get("pinned_images").and_then(Value::as_object) {
        for (reference, to) in pinned {
            if let Some(to) = to.as_str() {
                pins.insert(reference.clone(), to.to_string());
            }
        }
    }
    pins
}

/// [`parent_image_pins`] of a bundle on disk.
fn bundle_image_pins(bundle_path: &Path) -> Result<BTreeMap<String, String>, AppError> {
    let resolved = bundle::read::read_selected(bundle_path, &bundle::Limits::default(), |p| {
        p == "resolved/images.json" || p == "resolved/mesh.json"
    })?;
    Ok(parent_image_pins(
        resolved.get("resolved/images.json").map(Vec::as_slice),
        resolved.get("resolved/mesh.json").map(Vec::as_slice),
    ))
}

/// `rerun --failed`: run the cases of a bundle that were not Full (see [`failed_cases`]); the
/// new bundle names its parent. `Ok(None)` when every planned case was Full.
pub fn rerun_failed(
    original: &Path,
    opts: &RerunOptions,
    platform: &mut dyn Platform,
    progress: &mut dyn Progress,
    clock: &dyn Clock,
    cancel: &AtomicBool,
) -> Result<Option<RunOutcome>, AppError> {
    let inputs = inputs_from_bundle(original)?;
    let catalog = Catalog::new(inputs.dir.path());
    let (suite, _) = catalog.suite(&inputs.request.suite)?;
    let control = catalog
        .select_mesh(&inputs.request.mesh)?
        .value
        .spec
        .install
        .method
        == crate::spec::mesh::InstallMethod::None;
    let failed = failed_cases(&suite, &inputs.request.only, control, &inputs.verdicts);
    if failed.is_empty() {
        return Ok(None);
    }
    let mut req = rerun_request(&inputs, original, opts, progress)?;
    req.plan.only = failed;
    run(&catalog, &req, platform, progress, clock, cancel).map(Some)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    /// Manifest timestamps: UTC, whole seconds, `Z` (leap days and the epoch included).
    #[test]
    fn timestamps_are_rfc3339_utc_seconds() {
        assert_eq!(super::rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(super::rfc3339(leap_day), "2000-02-29T00:00:00Z");
        let late = UNIX_EPOCH + Duration::new(1_796_199_999, 987_654_321);
        assert_eq!(super::rfc3339(late), "2026-12-02T08:26:39Z");
    }
}
