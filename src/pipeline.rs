//! `meshproof run`: plan → preflight → cluster → workload image → mesh → cases → evidence →
//! teardown → seal (bundle, judge inside `pack`, verify, attestation), against a `Platform`.
//!
//! The real platform (kind + Docker + kube-rs) and the tests' double implement the same trait.
//! A run that fails for infrastructure reasons, or is interrupted, still writes a bundle with
//! what it had (status `infrastructure-failed` / `aborted`); a failed preflight writes nothing.
//! The phases themselves are in [`phases`]; [`run`] only orders them.

pub mod error;
pub mod outcome;
pub mod phases;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

pub use error::{PlatformError, RunError};
pub use outcome::RunOutcome;
pub use phases::RunContext;

use crate::bundle::{self, paths};
use crate::error::AppError;
use crate::plan::{PlanRequest, RunPlan};
use crate::progress::Progress;
use crate::spec::catalog::{Catalog, FileTree, Sourced};
use crate::spec::mesh::Mesh;
use crate::spec::workload::Workload;
use crate::suite::{Clock, SuiteBackend};
use crate::verdict::{Capability, Verdicts};

/// What a platform knows about the cluster it brought up or connected to.
#[derive(Debug, Clone, Default)]
pub struct ClusterFacts {
    /// The rendered kind config (kind clusters only) — goes to `inputs/kind-config.yaml`.
    pub kind_config: Option<String>,
    /// `resolved/cluster.json`: its name, whether it is external, kind/Kubernetes versions, node
    /// image digest, node ids, commands.
    pub record: bundle::ResolvedCluster,
}

/// The workload image as loaded into the cluster (`resolved/workload-image.json`).
pub use crate::bundle::WorkloadImage as ImageFacts;

/// The mesh as installed.
#[derive(Debug, Clone, Default)]
pub struct MeshFacts {
    /// Rendered manifests that were applied → `inputs/mesh-rendered/`.
    pub rendered: FileTree,
    /// `resolved/mesh.json`: charts, manifests, CLI commands, lock, pinned and unpinned images.
    pub record: bundle::ResolvedMesh,
}

/// What the run gives every platform call that needs it — passed as an argument, so no call
/// depends on a setter having run first.
#[derive(Debug, Clone, Copy)]
pub struct RunInputs<'a> {
    /// The run id (a kind cluster is named `meshproof-<first 8>`).
    pub run_id: &'a str,
    /// The validated plan; its timeout table (scaled by `--timeout-scale`) bounds every apply,
    /// delete, wait and probe call of the platform.
    pub plan: &'a RunPlan,
    /// The catalog this run's inputs come from (for `reproduce`/`rerun`, the bundle's own
    /// inputs): pins and lock files are read from it, never from another checkout.
    pub catalog: &'a Catalog,
    /// Image reference → digest the mesh's manifests are rewritten to when installing:
    /// `reproduce` installs exactly the bits the original run ran.
    pub image_pins: &'a BTreeMap<String, String>,
    /// The probe image an external cluster pulls (`run --kubeconfig --probe-image`).
    pub probe_image: Option<&'a str>,
    /// Keep the cluster after the run (`--keep`): the one place the platform learns it.
    pub keep: bool,
}

/// The cluster-free part of a mesh install (fetching and checking its artifacts, rendering
/// what needs no cluster), detached from the platform — it owns what it needs — so the run
/// does it on another thread while the cluster is created.
pub type MeshPreparation = Box<dyn FnOnce() -> Result<PreparedMesh, PlatformError> + Send>;

/// What a [`MeshPreparation`] produced, for the `install_mesh` of the platform that made it.
pub struct PreparedMesh(Box<dyn std::any::Any + Send>);

impl PreparedMesh {
    pub fn new<T: std::any::Any + Send>(prepared: T) -> Self {
        PreparedMesh(Box::new(prepared))
    }

    /// Nothing to prepare.
    pub fn nothing() -> Self {
        PreparedMesh::new(())
    }

    /// What the platform prepared, if it is a `T`.
    pub fn take<T: std::any::Any>(self) -> Option<T> {
        self.0.downcast().ok().map(|b| *b)
    }
}

impl std::fmt::Debug for PreparedMesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreparedMesh(..)")
    }
}

/// Everything a run needs from the outside world.
pub trait Platform {
    /// Check the machine before anything starts.
    fn preflight(&mut self, run: &RunInputs<'_>) -> Result<(), PlatformError>;
    /// Create an ephemeral cluster for `run.plan.cluster` (kept after the run if `run.keep`).
    fn cluster_up(&mut self, run: &RunInputs<'_>) -> Result<ClusterFacts, PlatformError>;
    /// Use an existing cluster instead (never created or deleted by meshproof).
    fn connect_external(
        &mut self,
        kubeconfig: &Path,
        context: Option<&str>,
        run: &RunInputs<'_>,
    ) -> Result<ClusterFacts, PlatformError>;
    /// Build or take the workload image and load it into every node (no registry); an
    /// external cluster pulls `run.probe_image`.
    fn load_workload_image(
        &mut self,
        workload: &Sourced<Workload>,
        run: &RunInputs<'_>,
    ) -> Result<ImageFacts, PlatformError>;
    /// The cluster-free part of installing `mesh`, as work the run does while the cluster is
    /// created; its result goes to [`Platform::install_mesh`]. Nothing to prepare by default.
    fn prepare_mesh(&mut self, _mesh: &Mesh, _run: &RunInputs<'_>) -> MeshPreparation {
        Box::new(|| Ok(PreparedMesh::nothing()))
    }
    /// Install the mesh from what [`Platform::prepare_mesh`] prepared (its images pinned to
    /// `run.image_pins`) and wait for its readiness checks.
    fn install_mesh(
        &mut self,
        mesh: &Mesh,
        prepared: PreparedMesh,
        run: &RunInputs<'_>,
    ) -> Result<MeshFacts, PlatformError>;
    /// Record the already-installed mesh instead (`--mesh-installed`).
    fn observe_installed_mesh(&mut self, mesh: &Mesh) -> Result<MeshFacts, PlatformError>;
    /// The suite backend on the cluster.
    fn backend(&mut self) -> &mut dyn SuiteBackend;
    /// Best-effort evidence of namespaces (pod logs, events, objects) into `dir`; returns failures.
    fn collect_evidence(&mut self, namespaces: &[String], dir: &Path) -> Vec<String>;
    /// Node logs of the cluster into `dir` (kind clusters); returns failures.
    fn collect_node_logs(&mut self, dir: &Path) -> Vec<String>;
    /// What the run pinned, for `resolved/<name>.json` (image digests from pod statuses, versions).
    fn resolved(&mut self) -> bundle::PlatformResolved;
    /// Delete the cluster `cluster_up` created, unless its run keeps it; returns a note (how to
    /// reach a kept cluster).
    fn teardown(&mut self) -> Result<Option<String>, PlatformError>;
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
        std::fs::create_dir_all(parent).map_err(AppError::io(parent.display()))?;
    }
    std::fs::write(&p, bytes).map_err(AppError::io(p.display()))
}

/// Run the suite end to end. Bad input is an error before anything starts; afterwards every
/// outcome writes a bundle, and the cluster is torn down (unless kept) in every case.
///
/// The phases run in order; the work after preflight (cluster, workload image, mesh, each
/// case) stops at the first failure or Ctrl-C — decided in one place, [`phases::work`] — and
/// evidence, teardown and the seal always run.
pub fn run(
    catalog: &Catalog,
    req: &RunRequest,
    platform: &mut dyn Platform,
    progress: &mut dyn Progress,
    clock: &dyn Clock,
    cancel: &AtomicBool,
) -> Result<RunOutcome, AppError> {
    // Plan, pins, output and signing key: validated before anything touches Docker.
    let mut cx = RunContext::new(catalog, req, progress, clock, cancel)?;
    // Preflight: nothing is written when it fails.
    phases::preflight(&mut cx, platform).map_err(RunError::from)?;
    // The run directory lives next to the output and becomes the bundle.
    cx.open_run_dir()?;
    let ended = cx
        .work()
        .into_iter()
        .try_for_each(|unit| phases::work(&mut cx, platform, unit));
    if let Err(e) = ended {
        cx.fail(e);
    }
    phases::evidence(&mut cx, platform);
    phases::teardown(&mut cx, platform);
    phases::seal(cx)
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
    let report = crate::seal::verify(path, &bundle::Limits::default());
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
    let dir = tempfile::tempdir().map_err(AppError::io("creating a scratch directory"))?;
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
            .and_then(|b| serde_json::from_slice::<bundle::ResolvedMesh>(b).ok()),
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
    let timeout_scale = manifest.run.extra.timeout_scale.unwrap_or(1.0);
    let request = PlanRequest {
        cluster,
        mesh,
        workload,
        suite,
        only,
        scoring: manifest.run.scoring,
        timeout_scale,
        force: manifest.run.extra.force.unwrap_or(false),
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
    if inputs.manifest.run.extra.cluster_mode == Some(bundle::ClusterMode::External) {
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
    let mesh: Option<bundle::ResolvedMesh> = mesh_json.and_then(|b| serde_json::from_slice(b).ok());
    for (reference, to) in mesh
        .iter()
        .flat_map(|m| m.pinned_images.iter().flat_map(|p| p.iter()))
    {
        pins.insert(reference.clone(), to.clone());
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
