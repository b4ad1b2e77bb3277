//! RunPlan: the resolved, hashed selection a run would execute. Pure: no Docker, no cluster.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::install::lock::Lock;
use crate::spec::catalog::{Catalog, ClusterFit, LoadedCase, Sourced, Suite};
use crate::spec::mesh::{InstallMethod, Mesh};
use crate::spec::workload::Workload;
use crate::spec::SpecError;
use crate::timeouts::Timeouts;
use crate::verdict::{check_specs, CheckKind, Scoring};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub cluster: String,
    pub mesh: String,
    pub workload: String,
    pub suite: String,
    pub only: Vec<String>,
    pub scoring: Scoring,
    pub timeout_scale: f64,
    /// Run on a cluster pin outside the mesh's known Kubernetes versions (`--force`).
    pub force: bool,
}

impl Default for PlanRequest {
    fn default() -> Self {
        use crate::spec::catalog::*;
        PlanRequest {
            cluster: DEFAULT_CLUSTER.into(),
            mesh: DEFAULT_MESH.into(),
            workload: DEFAULT_WORKLOAD.into(),
            suite: DEFAULT_SUITE.into(),
            only: Vec::new(),
            scoring: Scoring::Strict,
            timeout_scale: 1.0,
            force: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InputFile {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterPlan {
    pub name: String,
    pub kubernetes_version: String,
    pub node_image: String,
    pub kind_version: String,
    pub nodes: usize,
    pub file: InputFile,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MeshPlan {
    pub id: String,
    pub project: String,
    pub status: String,
    pub install: Vec<String>,
    pub namespaces: Vec<String>,
    pub onboarding_labels: BTreeMap<String, String>,
    pub onboarding_annotations: BTreeMap<String, String>,
    pub dns_template: String,
    /// `local-upstreams` meshes: Service → local port the caller's sidecar listens on.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, u16>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
    pub smi: BTreeMap<String, Vec<String>>,
    pub install_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_versions: Option<String>,
    /// Capability per case upstream documentation leads us to expect (reports only).
    pub expected: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How the mesh denies, one line per declared signature (or what is unknown).
    pub denial: Vec<String>,
    /// What proves a workload pod joined the mesh.
    pub data_plane: String,
    /// The lock file next to the pin, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<InputFile>,
    pub file: InputFile,
}

/// The pin's denial signatures in words (`envoy-rbac: 403, body "RBAC: access denied"`).
fn denial_words(m: &Mesh) -> Vec<String> {
    let mut out: Vec<String> = m
        .spec
        .denial
        .signatures
        .iter()
        .map(|s| {
            let mut w = match (&s.error, s.status) {
                (Some(e), _) => e.clone(),
                (None, Some(st)) => st.to_string(),
                (None, None) => "?".to_string(),
            };
            if let Some(h) = &s.header {
                w.push_str(&format!(" with header {h}"));
            }
            if let Some(b) = &s.body_contains {
                w.push_str(&format!(", body {b:?}"));
            }
            format!("{}: {w}", s.name)
        })
        .collect();
    if let Some(u) = &m.spec.denial.unknown {
        out.push(format!(
            "unknown: {}",
            u.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    out
}

/// The pin's data-plane signature in words.
fn data_plane_words(m: &Mesh) -> String {
    let dp = &m.spec.data_plane;
    match (&dp.container, &dp.node_proxy) {
        (Some(c), _) => format!("injected container {c}"),
        (None, Some(np)) => format!(
            "node proxy DaemonSet {}/{} reached through *.{}",
            np.daemon_set.namespace, np.daemon_set.name, np.dns_suffix
        ),
        (None, None) => "none (no mesh)".to_string(),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkloadPlan {
    pub name: String,
    pub image: String,
    pub files: Vec<InputFile>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepPlan {
    pub index: usize,
    pub name: String,
    pub kind: &'static str,
    pub timeout_secs: u64,
    pub does: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CasePlan {
    pub name: String,
    pub smi_spec: String,
    pub layout: String,
    pub variant: String,
    pub variant_note: String,
    pub steps: Vec<StepPlan>,
    pub files: Vec<InputFile>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunPlan {
    pub cluster: ClusterPlan,
    pub mesh: MeshPlan,
    pub workload: WorkloadPlan,
    pub suite: String,
    pub scoring: Scoring,
    pub timeouts: Timeouts,
    pub cases: Vec<CasePlan>,
    pub warnings: Vec<String>,
    /// Why `--force` was needed, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced: Option<String>,
    /// Why `run` refuses this plan without `--force` (no compatible cluster pin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
}

fn input(path: &str, bytes: &[u8]) -> InputFile {
    InputFile {
        path: path.to_string(),
        sha256: crate::sha256_hex(bytes),
    }
}

/// Resolve a request against the catalog; every input is read and hashed, nothing is started.
pub fn plan(catalog: &Catalog, req: &PlanRequest) -> Result<RunPlan, SpecError> {
    if !(req.timeout_scale > 0.0 && req.timeout_scale <= 100.0) {
        return Err(SpecError::Invalid(format!(
            "--timeout-scale {}: must be greater than 0 and at most 100",
            req.timeout_scale
        )));
    }
    let mesh = catalog.select_mesh(&req.mesh)?;
    let (cluster, fit) = catalog.select_cluster_for(&req.cluster, &mesh.value, req.force)?;
    let workload = catalog.select_workload(&req.workload)?;
    let (suite, _tree) = catalog.suite(&req.suite)?;
    let control = mesh.value.spec.install.method == InstallMethod::None;
    check_selection(req, &suite, control)?;
    check_names(catalog, &mesh, &workload, &suite, &req.suite)?;
    let timeouts = Timeouts::default().scaled(req.timeout_scale);
    let mut warnings = unaddressed(&mesh.value, &suite, &req.only);

    let c = &cluster.value.spec;
    let cluster_plan = ClusterPlan {
        name: cluster.value.metadata.name.clone(),
        kubernetes_version: c.kubernetes_version.clone(),
        node_image: c.node_image.clone(),
        kind_version: c.kind.version.clone(),
        nodes: c.nodes.len(),
        file: input(&cluster.path, &cluster.bytes),
    };

    let m = &mesh.value;
    let (forced, blocked) = match fit {
        ClusterFit::Compatible => (None, None),
        ClusterFit::Forced(n) => (Some(n), None),
        ClusterFit::Blocked(n) => (None, Some(n)),
    };
    for n in forced.iter().chain(blocked.iter()) {
        warnings.push(n.clone());
    }
    let lock = crate::install::lock::load_for(catalog, &mesh)?;
    warnings.extend(install_warnings(m, lock.as_ref()));
    let mesh_plan = mesh_plan(&mesh, lock.as_ref());

    let workload_plan = workload_plan(catalog, &workload)?;

    let cases = planned_cases(&suite, req, control, &m.spec.smi, &timeouts);
    Ok(RunPlan {
        cluster: cluster_plan,
        mesh: mesh_plan,
        workload: workload_plan,
        suite: req.suite.clone(),
        scoring: req.scoring,
        timeouts,
        cases,
        warnings,
        forced,
        blocked,
    })
}

/// Every `--only` names a case of the suite, and the harness smoke only in the control run.
fn check_selection(req: &PlanRequest, suite: &Suite, control: bool) -> Result<(), SpecError> {
    for only in &req.only {
        if suite.case(only).is_none() {
            return Err(SpecError::NotFound {
                what: "case",
                name: only.clone(),
                available: suite
                    .cases
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    if let Some(lc) = (!control)
        .then(|| {
            req.only
                .iter()
                .filter_map(|o| suite.case(o))
                .find(|lc| lc.case.spec.is_harness())
        })
        .flatten()
    {
        return Err(SpecError::Invalid(format!(
            "case `{}` is the harness's data-path smoke: it runs only in the control run \
             (--mesh none), since under a mesh its calls depend on policy",
            lc.name()
        )));
    }
    Ok(())
}

/// What `run` will refuse about the pin's install on this machine: a lock that contradicts the
/// pin (exit 3), no CLI download for this platform (exit 2).
fn install_warnings(m: &Mesh, lock: Option<&Sourced<Lock>>) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(l) = lock {
        if let Err(e) = crate::install::lock::check(m, &l.value, &l.path) {
            warnings.push(format!("{e} (run refuses this with exit 3)"));
        }
    }
    if let Some(c) = &m.spec.install.cli {
        if let Err(e) = crate::install::cli::download_for(c, &crate::install::cli::host_platform())
        {
            warnings.push(format!("{e} (run refuses this with exit 2)"));
        }
    }
    warnings
}

/// The mesh part of the plan: identity, install steps, onboarding, addressing, expectations.
fn mesh_plan(mesh: &Sourced<Mesh>, lock: Option<&Sourced<Lock>>) -> MeshPlan {
    let m = &mesh.value;
    let install = install_steps(m, lock.map(|l| &l.value));
    MeshPlan {
        denial: denial_words(m),
        data_plane: data_plane_words(m),
        id: m.id(),
        project: m.spec.project.name.clone(),
        status: m.spec.project.status.as_str().to_string(),
        install,
        namespaces: m.spec.namespaces.clone(),
        onboarding_labels: m.spec.onboarding.labels.clone(),
        onboarding_annotations: m.spec.onboarding.annotations.clone(),
        dns_template: m.spec.dns.template.clone(),
        upstreams: m.spec.addressing.upstreams.clone(),
        pod_annotations: m.spec.onboarding.pod_annotations.clone(),
        smi: m.spec.smi.clone(),
        install_method: m.spec.install.method.as_str().to_string(),
        kubernetes_versions: m.spec.kubernetes.versions.clone(),
        expected: m
            .spec
            .expected
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().to_string()))
            .collect(),
        note: m.spec.project.note.clone(),
        lock: lock.map(|l| input(&l.path, &l.bytes)),
        file: input(&mesh.path, &mesh.bytes),
    }
}

/// The workload part of the plan: its image and every file with its digest.
fn workload_plan(
    catalog: &Catalog,
    workload: &Sourced<Workload>,
) -> Result<WorkloadPlan, SpecError> {
    let wtree = catalog.workload_tree(&workload.value.metadata.name)?;
    let wname = &workload.value.metadata.name;
    Ok(WorkloadPlan {
        name: wname.clone(),
        image: workload.value.spec.image.name.clone(),
        files: wtree
            .iter()
            .map(|(k, v)| input(&format!("workloads/{wname}/{k}"), v))
            .collect(),
    })
}

/// The suite's cases this run plans, in suite order (`--only` filters; the harness smoke only in
/// the control run).
fn planned_cases(
    suite: &Suite,
    req: &PlanRequest,
    control: bool,
    smi: &BTreeMap<String, Vec<String>>,
    timeouts: &Timeouts,
) -> Vec<CasePlan> {
    let mut cases = Vec::new();
    for lc in &suite.cases {
        if !req.only.is_empty() && !req.only.iter().any(|o| o == lc.name()) {
            continue;
        }
        // The harness smoke runs in the control run only (its calls would meet mesh policy).
        if lc.case.spec.is_harness() && !control {
            continue;
        }
        cases.push(case_plan(lc, &req.suite, smi, timeouts));
    }
    cases
}

/// Names that cross files and that only a live run would otherwise reveal: traffic checks against
/// the workload layout they run on (`from`, `to`, the backends they expect), and the pin's
/// `expected` cases against the suite. Every problem names its file, line and field.
fn check_names(
    catalog: &Catalog,
    mesh: &crate::spec::catalog::Sourced<crate::spec::mesh::Mesh>,
    workload: &crate::spec::catalog::Sourced<crate::spec::workload::Workload>,
    suite: &crate::spec::catalog::Suite,
    suite_name: &str,
) -> Result<(), SpecError> {
    let apps = catalog.layout_apps(workload)?;
    let mut problems = Vec::new();
    for lc in &suite.cases {
        let file = format!("suites/{suite_name}/{}/case.yaml", lc.name());
        let text = String::from_utf8_lossy(&lc.files["case.yaml"]);
        match apps.get(&lc.case.spec.layout) {
            Some(layout) => problems.extend(crate::spec::case::check_against_layout(
                &file, &text, &lc.case, layout,
            )),
            None => {
                let mut v = crate::spec::Validator::new(&file, &text);
                v.problem(
                    "spec.layout",
                    format!(
                        "layout `{}` is not defined by workload `{}` (it has {})",
                        lc.case.spec.layout,
                        workload.value.metadata.name,
                        apps.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
                problems.extend(v.into_problems());
            }
        }
    }
    let cases: Vec<&str> = suite.cases.iter().map(|c| c.name()).collect();
    let mesh_text = String::from_utf8_lossy(&mesh.bytes);
    problems.extend(crate::spec::mesh::check_expected(
        &mesh.path,
        &mesh_text,
        &mesh.value,
        &cases,
    ));
    // Local upstreams: each names a Service of the workload, on a port other than the apps' own,
    // and the pod annotations can be rendered for every layout.
    let mut v = crate::spec::Validator::new(&mesh.path, &mesh_text);
    let services: std::collections::BTreeSet<&String> =
        apps.values().flat_map(|a| a.services.iter()).collect();
    for (service, port) in &mesh.value.spec.addressing.upstreams {
        let at = format!("spec.addressing.upstreams.{service}");
        v.check(
            services.contains(service),
            &at,
            format!(
                "`{service}` is not a Service of workload `{}`",
                workload.value.metadata.name
            ),
        );
        v.check(
            *port != workload.value.spec.port,
            &at,
            format!("{port} is the port the workload's apps listen on"),
        );
    }
    for mut docs in catalog.layout_docs(workload)?.into_values() {
        if let Err(e) = crate::spec::workload::onboard_pods(&mut docs, &mesh.value) {
            v.problem("spec.addressing.upstreams", e);
        }
    }
    problems.extend(v.into_problems());
    SpecError::from_problems(problems)
}

/// Services the selected cases call that the pin's local upstreams do not cover: those steps end
/// as harness errors, never as a capability.
fn unaddressed(
    mesh: &crate::spec::mesh::Mesh,
    suite: &crate::spec::catalog::Suite,
    only: &[String],
) -> Vec<String> {
    if mesh.spec.addressing.mode != crate::spec::mesh::AddressingMode::LocalUpstreams {
        return Vec::new();
    }
    let mut out = std::collections::BTreeMap::<String, Vec<String>>::new();
    for lc in &suite.cases {
        if !only.is_empty() && !only.iter().any(|o| o == lc.name()) {
            continue;
        }
        for step in &lc.case.spec.steps {
            for t in &step.traffic {
                if !mesh.spec.addressing.upstreams.contains_key(&t.to) {
                    let cases = out.entry(t.to.clone()).or_default();
                    if !cases.iter().any(|c| c == lc.name()) {
                        cases.push(lc.name().to_string());
                    }
                }
            }
        }
    }
    out.into_iter()
        .map(|(service, cases)| {
            format!(
                "mesh {} has no local upstream for `{service}`: the steps of {} that call it end as harness errors",
                mesh.id(),
                cases.join(", ")
            )
        })
        .collect()
}

/// The install commands `run` performs for a mesh pin, in order (shown by `plan`).
pub fn install_steps(
    m: &crate::spec::mesh::Mesh,
    lock: Option<&crate::install::lock::Lock>,
) -> Vec<String> {
    use crate::install::{helm, lock as lockfile};
    let mut v = Vec::new();
    match m.spec.install.method {
        InstallMethod::None => v.push("no mesh: the control run".to_string()),
        InstallMethod::Unpinned => {
            v.push(format!(
                "not installable reproducibly: {}",
                m.spec
                    .install
                    .reason
                    .as_deref()
                    .unwrap_or("no reason given")
            ));
            v.push("`run` refuses this pin (exit 2); `run --kubeconfig … --mesh-installed` records a mesh you installed yourself".into());
        }
        InstallMethod::Helm => {
            for h in m.spec.install.helm_charts() {
                let locked = lockfile::locked_chart(lock, h);
                for g in &h.generate {
                    match g {
                        crate::spec::mesh::Generated::LinkerdIdentity => v.push(
                            "generate Linkerd identity certificates: ECDSA P-256 trust anchor (87600h) and issuer CA signed by it (8760h); the issuer key goes to helm only and is never recorded"
                                .into(),
                        ),
                    }
                }
                v.extend(helm::planned_commands(h, locked));
                v.push(format!(
                    "apply the rendered {} manifests in namespace {} (server-side apply, CRDs first; Secret data redacted in the bundle)",
                    h.chart, h.namespace
                ));
            }
        }
        InstallMethod::Manifests => {
            for f in &m.spec.install.manifests {
                v.push(format!("download {} and check sha256 {}", f.url, f.sha256));
            }
            v.push("apply the downloaded manifests (server-side apply, CRDs first)".into());
        }
        InstallMethod::Cli => match &m.spec.install.cli {
            Some(c) => {
                let platform = crate::install::cli::host_platform();
                let locked = lockfile::locked_cli(lock, &platform);
                v.extend(crate::install::cli::planned_commands(c, &platform, locked));
            }
            None => v.push("method `cli` without a `cli` block".into()),
        },
    }
    if let Some(l) = lock.filter(|l| !l.spec.images.is_empty()) {
        v.push(format!(
            "pin {} image(s) named by tag to the lock file's registry digests",
            l.spec.images.len()
        ));
    }
    for r in &m.spec.readiness {
        if r.namespaced() {
            v.push(format!(
                "wait for {} {}/{} to be ready",
                r.kind, r.namespace, r.name
            ));
        } else {
            v.push(format!("wait for {} {} to be established", r.kind, r.name));
        }
    }
    if let Some(i) = &m.spec.data_plane.injector {
        v.push(format!(
            "wait for the sidecar injector Service {}/{} to have a ready endpoint",
            i.namespace, i.name
        ));
    }
    v
}

fn case_plan(
    lc: &LoadedCase,
    suite: &str,
    served: &BTreeMap<String, Vec<String>>,
    timeouts: &Timeouts,
) -> CasePlan {
    let spec = &lc.case.spec;
    let (variant, note) = match spec.pick_variant(served) {
        Some(v) if spec.is_harness() => (
            v.name.clone(),
            "uses no SMI API (the harness's data-path smoke, control run only)".to_string(),
        ),
        Some(v) => (v.name.clone(), "served by the mesh pin".to_string()),
        None => (
            spec.variants[0].name.clone(),
            "the mesh pin serves none of this case's API versions; its precondition will fail"
                .to_string(),
        ),
    };
    let steps = spec
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepPlan {
            index: i + 1,
            name: s.name.clone(),
            kind: if s.is_behavioural() {
                "behaviour"
            } else {
                "precondition"
            },
            timeout_secs: timeouts.for_step(s).as_secs(),
            does: check_specs(s)
                .into_iter()
                .map(|(id, kind, expected)| {
                    let tag = match kind {
                        CheckKind::Precondition => "pre",
                        CheckKind::Behaviour => "check",
                        CheckKind::Setup => "send",
                        CheckKind::Informational => "info",
                    };
                    format!("{tag} {id}: {expected}")
                })
                .collect(),
        })
        .collect();
    CasePlan {
        name: lc.name().to_string(),
        smi_spec: spec.smi_spec.clone(),
        layout: spec.layout.clone(),
        variant,
        variant_note: note,
        steps,
        files: lc
            .files
            .iter()
            .map(|(k, v)| input(&format!("suites/{suite}/{}/{k}", lc.name()), v))
            .collect(),
    }
}

/// Human-readable plan.
pub fn render(p: &RunPlan) -> String {
    let mut out = String::new();
    render_cluster(&mut out, p);
    render_mesh(&mut out, p);
    render_workload_and_suite(&mut out, p);
    render_phases(&mut out, p);
    out
}

/// The cluster pin: name, versions, node image, file digest.
fn render_cluster(out: &mut String, p: &RunPlan) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "cluster  {} (Kubernetes {}, kind {})",
        p.cluster.name, p.cluster.kubernetes_version, p.cluster.kind_version
    );
    let _ = writeln!(out, "         node image {}", p.cluster.node_image);
    let _ = writeln!(
        out,
        "         {}  sha256:{}",
        p.cluster.file.path, p.cluster.file.sha256
    );
}

/// The mesh pin: files, install method, APIs, denial and data-plane signatures, addressing.
fn render_mesh(out: &mut String, p: &RunPlan) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "mesh     {} — {} ({})",
        p.mesh.id, p.mesh.project, p.mesh.status
    );
    let _ = writeln!(
        out,
        "         {}  sha256:{}",
        p.mesh.file.path, p.mesh.file.sha256
    );
    if let Some(l) = &p.mesh.lock {
        let _ = writeln!(out, "         {}  sha256:{}", l.path, l.sha256);
    }
    let _ = writeln!(out, "         install method {}", p.mesh.install_method);
    for (g, vs) in &p.mesh.smi {
        let _ = writeln!(out, "         serves {g} {}", vs.join(", "));
    }
    if p.mesh.smi.is_empty() {
        let _ = writeln!(out, "         serves no SMI API");
    }
    if let Some(k) = &p.mesh.kubernetes_versions {
        let _ = writeln!(out, "         known to work on Kubernetes {k}");
    }
    let _ = writeln!(out, "         data plane {}", p.mesh.data_plane);
    if p.mesh.denial.is_empty() {
        let _ = writeln!(out, "         denies nothing (no denial signature)");
    }
    for d in &p.mesh.denial {
        let _ = writeln!(out, "         denies with {d}");
    }
    if !p.mesh.upstreams.is_empty() {
        let _ = writeln!(
            out,
            "         services reached through local upstreams: {}",
            p.mesh
                .upstreams
                .iter()
                .map(|(s, port)| format!("{s} → 127.0.0.1:{port}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    } else if p.mesh.dns_template != crate::spec::mesh::Dns::default().template {
        let _ = writeln!(out, "         service names {}", p.mesh.dns_template);
    }
    if !p.mesh.pod_annotations.is_empty() {
        let _ = writeln!(out, "         pod annotations {:?}", p.mesh.pod_annotations);
    }
    if !p.mesh.expected.is_empty() {
        let _ = writeln!(
            out,
            "         expected (reports only): {}",
            p.mesh
                .expected
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(n) = &p.mesh.note {
        let _ = writeln!(out, "         note: {n}");
    }
}

/// The workload files, the suite with its scoring and timeouts, and the warnings.
fn render_workload_and_suite(out: &mut String, p: &RunPlan) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "workload {} (image {})",
        p.workload.name, p.workload.image
    );
    for f in &p.workload.files {
        let _ = writeln!(out, "         {}  sha256:{}", f.path, f.sha256);
    }
    let _ = writeln!(
        out,
        "suite    {} · scoring {} · timeouts assert {}s, traffic {}s, metrics {}s, apply {}s, delete {}s, probe batch {}s (each call at most {}ms)",
        p.suite,
        p.scoring.as_str(),
        p.timeouts.assert_secs,
        p.timeouts.traffic_secs,
        p.timeouts.metrics_secs,
        p.timeouts.apply_secs,
        p.timeouts.delete_secs,
        p.timeouts.call_secs,
        p.timeouts.per_call_ms
    );
    for w in &p.warnings {
        let _ = writeln!(out, "warning  {w}");
    }
}

/// The phases `run` goes through, every case step by step.
fn render_phases(out: &mut String, p: &RunPlan) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "\nphases");
    let _ = writeln!(
        out,
        "  1. preflight: Docker engine, kind {}, kubectl, helm",
        p.cluster.kind_version
    );
    let _ = writeln!(
        out,
        "  2. cluster: kind create cluster --name meshproof-<run id> --image {}",
        p.cluster.node_image
    );
    let _ = writeln!(
        out,
        "  3. load the workload image {} into every node",
        p.workload.image
    );
    for (i, line) in p.mesh.install.iter().enumerate() {
        let _ = writeln!(out, "  4.{} mesh: {line}", i + 1);
    }
    let _ = writeln!(
        out,
        "  5. cases, each in a fresh namespace (labels {:?}, annotations {:?}):",
        p.mesh.onboarding_labels, p.mesh.onboarding_annotations
    );
    for c in &p.cases {
        let _ = writeln!(
            out,
            "\n  case {} ({}, layout {}, variant {}: {})",
            c.name, c.smi_spec, c.layout, c.variant, c.variant_note
        );
        for s in &c.steps {
            let _ = writeln!(
                out,
                "    {:>2}. {} [{}, ≤{}s]",
                s.index, s.name, s.kind, s.timeout_secs
            );
            for d in &s.does {
                let _ = writeln!(out, "        {d}");
            }
        }
        for f in &c.files {
            let _ = writeln!(out, "      {}  sha256:{}", f.path, f.sha256);
        }
    }
    let _ = writeln!(out, "\n  6. evidence, judge, bundle, teardown");
}
