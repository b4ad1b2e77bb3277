//! `run` end to end against a test double of the platform (the reference model of a cluster
//! with a mesh), behind the same `Platform` trait the real kind/kube platform implements.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{FakeClock, MeshModel, Scripted};
use meshproof::bundle::RunStatus;
use meshproof::pipeline::{
    self, ClusterFacts, ImageFacts, MeshFacts, MeshPreparation, Platform, PlatformError,
    PreparedMesh, RunInputs, RunRequest,
};
use meshproof::plan::{PlanRequest, RunPlan};
use meshproof::progress::TextProgress;
use meshproof::spec::catalog::{Catalog, Sourced};
use meshproof::spec::mesh::Mesh;
use meshproof::spec::workload::Workload;
use meshproof::suite::SuiteBackend;
use meshproof::verdict::{Capability, CaseStatus};
use serde_json::{json, Value};

/// A simulated activity of the platform: what, when it started, when it ended.
/// The model platform's simulated activities on a virtual clock. An activity that starts while
/// others run records that it overlapped them; one that finds nothing else running waits (at
/// most its `patience`) for another to start before it ends, so whether two activities
/// ran at once is observed, never timed. Their simulated durations then add up on the virtual
/// clock as a run with these overlaps would take: the longer of overlapped ones, else the sum.
#[derive(Debug)]
struct Timeline {
    state: Mutex<TimelineState>,
    changed: Condvar,
    /// How long a lone activity waits for company (only a run that does not overlap waits).
    patience: Duration,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            state: Mutex::default(),
            changed: Condvar::new(),
            patience: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct TimelineState {
    running: Vec<&'static str>,
    started: usize,
    /// Pairs (running, starting) that ran at once.
    overlapped: Vec<(&'static str, &'static str)>,
    /// Simulated durations of the activities that ran.
    durations: Vec<(&'static str, Duration)>,
    /// `start X`, `end X`, `install`, in the order they happened (on any thread).
    events: Vec<String>,
}

impl Timeline {
    fn simulate(&self, what: &'static str, d: Duration) {
        let mut s = self.state.lock().unwrap();
        let others = s.running.clone();
        s.overlapped.extend(others.iter().map(|o| (*o, what)));
        s.running.push(what);
        s.started += 1;
        s.events.push(format!("start {what}"));
        self.changed.notify_all();
        let start_count = s.started;
        let (mut s, _) = self
            .changed
            .wait_timeout_while(s, self.patience, |s| {
                s.running.len() < 2 && s.started == start_count
            })
            .unwrap();
        s.running.retain(|r| *r != what);
        s.durations.push((what, d));
        s.events.push(format!("end {what}"));
        self.changed.notify_all();
    }

    fn event(&self, e: &str) {
        self.state.lock().unwrap().events.push(e.to_string());
    }

    /// Virtual time the two activities took: the longer when they overlapped, else the sum.
    fn span(&self, a: &str, b: &str) -> Duration {
        let s = self.state.lock().unwrap();
        let d = |w: &str| {
            s.durations
                .iter()
                .find(|(x, _)| *x == w)
                .map(|(_, d)| *d)
                .unwrap_or_else(|| panic!("{w} did not run: {s:?}"))
        };
        let together = s.overlapped.iter().any(|p| *p == (a, b) || *p == (b, a));
        if together {
            d(a).max(d(b))
        } else {
            d(a) + d(b)
        }
    }
}

/// A test double of a cluster platform: the model plays the mesh; every call is recorded.
struct TestPlatform<'a> {
    backend: Scripted<'a>,
    calls: Vec<String>,
    fail_preflight: bool,
    /// `kind create cluster` fails (as kubeadm does on a broken node).
    fail_create: bool,
    fail_mesh: bool,
    /// What `install_mesh` reports (e.g. the images it pinned).
    mesh_facts: meshproof::bundle::ResolvedMesh,
    /// Whether the run's inputs were the repository's catalog (`RunInputs::catalog`).
    inputs_from_repo: Option<bool>,
    /// Whether the cluster is kept (`RunInputs::keep`, given to `cluster_up`).
    keep: bool,
    /// Simulated durations of creating the cluster and of preparing the mesh install.
    durations: Option<(Duration, Duration)>,
    /// The simulated activities (`cluster`, `preparation`) and the install, on any thread.
    timeline: Arc<Timeline>,
    /// What `install_mesh` received from the preparation.
    prepared: Option<String>,
    /// The plan preflight was asked to check (what the run would execute).
    preflight_plan: Option<RunPlan>,
}

/// The shared scripted backend, checking that the workload manifests carry the loaded image,
/// not the placeholder.
fn workload_backend<'a>(mesh: MeshModel) -> Scripted<'a> {
    let mut b = Scripted::new(mesh);
    b.check_applies(|f, o| {
        if f == "workload" {
            assert!(o
                .iter()
                .filter(|d| d["kind"] == "Deployment")
                .all(|d| d["spec"]["template"]["spec"]["containers"][0]["image"]
                    == "meshproof-probe:test"));
        }
    });
    b
}

impl<'a> TestPlatform<'a> {
    fn new(mesh: MeshModel) -> Self {
        TestPlatform {
            backend: workload_backend(mesh),
            calls: vec![],
            fail_preflight: false,
            fail_create: false,
            fail_mesh: false,
            mesh_facts: Default::default(),
            inputs_from_repo: None,
            keep: false,
            durations: None,
            timeline: Arc::default(),
            prepared: None,
            preflight_plan: None,
        }
    }

    /// `what` takes `d` (a sleep), recorded as a span.
    /// What every call given the run's inputs records: where they came from.
    fn saw(&mut self, run: &RunInputs<'_>) {
        self.inputs_from_repo = Some(run.catalog.root == common::repo());
    }
}

impl Platform for TestPlatform<'_> {
    fn preflight(&mut self, run: &RunInputs<'_>) -> Result<(), PlatformError> {
        self.saw(run);
        self.calls.push("preflight".into());
        self.preflight_plan = Some(run.plan.clone());
        if self.fail_preflight {
            return Err(PlatformError::Preflight(
                "preflight failed (1): kind\n  kind: `kind` not found".into(),
            ));
        }
        Ok(())
    }
    fn cluster_up(&mut self, run: &RunInputs<'_>) -> Result<ClusterFacts, PlatformError> {
        self.saw(run);
        self.calls.push("cluster_up".into());
        self.keep = run.keep;
        if let Some((cluster, _)) = self.durations {
            self.timeline.simulate("cluster", cluster);
        }
        let (plan, name) = (run.plan, format!("meshproof-{}", &run.run_id[..8]));
        if self.fail_create {
            // What the kind platform returns when `kind create cluster` exits 1.
            let kind = meshproof_cluster::kind::KindError::Failed {
                command: format!("kind create cluster --name {name} --retain"),
                exit_code: Some(1),
                stderr: "ERROR: failed to create cluster: failed to init node with kubeadm: exit status 1".into(),
            };
            return Err(PlatformError::ClusterCreate {
                cluster: name,
                source: meshproof::bringup::BringUpError::Create(kind),
            });
        }
        Ok(ClusterFacts {
            kind_config: Some(format!("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  image: {}\n", plan.cluster.node_image)),
            record: meshproof::bundle::ResolvedCluster {
                name,
                external: false,
                kind_version: Some("0.32.0".into()),
                ..Default::default()
            },
        })
    }
    fn connect_external(
        &mut self,
        kubeconfig: &Path,
        context: Option<&str>,
        run: &RunInputs<'_>,
    ) -> Result<ClusterFacts, PlatformError> {
        self.saw(run);
        self.calls.push(format!(
            "connect_external {} {context:?}",
            kubeconfig.display()
        ));
        Ok(ClusterFacts {
            kind_config: None,
            record: meshproof::bundle::ResolvedCluster {
                name: context.unwrap_or("current").into(),
                external: true,
                ..Default::default()
            },
        })
    }
    fn load_workload_image(
        &mut self,
        _: &Sourced<Workload>,
        run: &RunInputs<'_>,
    ) -> Result<ImageFacts, PlatformError> {
        self.saw(run);
        self.calls.push("load_workload_image".into());
        Ok(ImageFacts {
            reference: "meshproof-probe:test".into(),
            id: "sha256:00".into(),
        })
    }
    fn prepare_mesh(&mut self, mesh: &Mesh, _: &RunInputs<'_>) -> MeshPreparation {
        let (timeline, id) = (Arc::clone(&self.timeline), mesh.id());
        let took = self.durations.map(|(_, preparation)| preparation);
        Box::new(move || {
            if let Some(d) = took {
                timeline.simulate("preparation", d);
            }
            Ok(PreparedMesh::new(format!("{id} prepared")))
        })
    }
    fn install_mesh(
        &mut self,
        mesh: &Mesh,
        prepared: PreparedMesh,
        run: &RunInputs<'_>,
    ) -> Result<MeshFacts, PlatformError> {
        self.timeline.event("install");
        self.prepared = prepared.take::<String>();
        self.saw(run);
        if !run.image_pins.is_empty() {
            self.calls.push(format!("pin_images {:?}", run.image_pins));
        }
        self.calls.push(format!("install_mesh {}", mesh.id()));
        if self.fail_mesh {
            return Err(PlatformError::failed(
                "Deployment osm-system/osm-controller available: timed out after 300s",
            ));
        }
        Ok(MeshFacts {
            record: self.mesh_facts.clone(),
            ..MeshFacts::default()
        })
    }
    fn observe_installed_mesh(&mut self, mesh: &Mesh) -> Result<MeshFacts, PlatformError> {
        self.calls
            .push(format!("observe_installed_mesh {}", mesh.id()));
        Ok(MeshFacts::default())
    }
    fn backend(&mut self) -> &mut dyn SuiteBackend {
        &mut self.backend
    }
    fn collect_evidence(&mut self, namespaces: &[String], dir: &Path) -> Vec<String> {
        for ns in namespaces {
            self.calls.push(format!("evidence {ns}"));
            std::fs::create_dir_all(dir.join(ns)).unwrap();
            std::fs::write(dir.join(ns).join("events.yaml"), "items: []\n").unwrap();
        }
        vec![]
    }
    fn collect_node_logs(&mut self, dir: &Path) -> Vec<String> {
        self.calls.push("node_logs".into());
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("kubelet.log"), "kubelet started\n").unwrap();
        vec![]
    }
    fn resolved(&mut self) -> meshproof::bundle::PlatformResolved {
        meshproof::bundle::PlatformResolved {
            images: Some([("meshproof-probe:test".to_string(), "sha256:00".to_string())].into()),
            kubernetes: None,
        }
    }
    fn teardown(&mut self) -> Result<Option<String>, PlatformError> {
        let keep = self.keep;
        self.calls.push(format!("teardown keep={keep}"));
        Ok(keep.then(|| "kept: kubectl --context kind-meshproof-x".to_string()))
    }
}

fn request(mesh: &str, out: &Path) -> RunRequest {
    RunRequest {
        plan: PlanRequest {
            mesh: mesh.into(),
            timeout_scale: 0.02,
            ..PlanRequest::default()
        },
        out: Some(out.to_path_buf()),
        ..RunRequest::default()
    }
}

fn catalog() -> Catalog {
    Catalog::new(common::repo())
}

/// `reproduce`/`rerun` options writing to `out`, with the repository as the user's catalog.
fn opts(out: Option<std::path::PathBuf>) -> pipeline::RerunOptions {
    pipeline::RerunOptions {
        out,
        catalog: Some(catalog()),
        ..Default::default()
    }
}

#[test]
fn none_mesh_run_writes_a_verified_bundle_and_tears_down() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("none.tar.zst");
    let mut p = TestPlatform::new(MeshModel::NoMesh);
    let mut text = TextProgress::new(Vec::new());
    let cancel = AtomicBool::new(false);
    let outcome = pipeline::run(
        &catalog(),
        &request("none", &out),
        &mut p,
        &mut text,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    assert_eq!(outcome.status, RunStatus::Complete);
    assert!(meshproof::seal::verify(&out, &Default::default()).ok());
    assert_eq!(outcome.verdicts.cases.len(), 5);
    // Every SMI case stops at its precondition (no CRDs), so none shows the data path...
    assert!(outcome
        .verdicts
        .cases
        .iter()
        .filter(|c| c.name != "smoke")
        .all(|c| c.capability == Some(Capability::None)));
    // ...which the harness smoke exercises: the probes called each other through the driver,
    // each call answered by the app it was sent to.
    let smoke = outcome
        .verdicts
        .cases
        .iter()
        .find(|c| c.name == "smoke")
        .expect("the control run plans the smoke");
    assert_eq!(smoke.status, CaseStatus::Passed, "{:?}", smoke.steps);
    assert_eq!(smoke.capability, Some(Capability::Full));
    assert_eq!((smoke.behaviour.pass, smoke.behaviour.total), (3, 3));
    assert_eq!(
        p.backend.traffic_calls, 3,
        "the smoke's three checks, nothing else"
    );
    // A harness case is no SMI specification: no rollup.
    assert!(outcome
        .verdicts
        .specs
        .iter()
        .all(|r| r.smi_spec != "harness"));
    // The guard ran: exactly one teardown, after the evidence.
    let calls = &p.calls;
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("teardown")).count(),
        1
    );
    assert_eq!(calls.last().unwrap(), "teardown keep=false");
    assert!(
        calls.iter().position(|c| c == "node_logs")
            < calls.iter().position(|c| c.starts_with("teardown"))
    );
    assert_eq!(
        calls[..4],
        [
            "preflight",
            "cluster_up",
            "load_workload_image",
            "install_mesh none"
        ]
    );
    // Every case namespace the run made is deleted after its evidence.
    assert_eq!(p.backend.created().len(), 5);
    assert_eq!(p.backend.created(), p.backend.deleted());
    // The bundle holds the inputs, the kind config, evidence and resolved pins; no temp dir is left.
    let files =
        meshproof::bundle::read::read_selected(&out, &Default::default(), |_| true).unwrap();
    for f in [
        "inputs/kind-config.yaml",
        "inputs/cluster.yaml",
        "inputs/mesh.yaml",
        "inputs/workload/workload.yaml",
        "inputs/workload/access.yaml",
        "resolved/cluster.json",
        "resolved/workload-image.json",
        "resolved/served-smi.json",
        "logs/nodes/kubelet.log",
    ] {
        assert!(files.contains_key(f), "{f} missing");
    }
    assert!(files
        .keys()
        .any(|k| k.starts_with("logs/mp-") && k.ends_with("events.yaml")));
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest["run"]["status"], "complete");
    assert_eq!(
        manifest["run"]["phases"].as_array().unwrap().len(),
        11,
        "{}",
        manifest["run"]["phases"]
    );
    // `show` reads them back as typed records (the runner and the reader share one type).
    let typed: meshproof::bundle::Manifest =
        serde_json::from_slice(&files["manifest.json"]).unwrap();
    let recorded = meshproof::timing::recorded(&typed)
        .unwrap()
        .expect("phases");
    assert_eq!(
        recorded.len(),
        manifest["run"]["phases"].as_array().unwrap().len()
    );
    assert_eq!(recorded[0].phase, meshproof::timing::Phase::Preflight);
    assert!(recorded.iter().all(|p| p.ok), "{recorded:?}");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("none.tar.zst")]);
    // The non-interactive progress: one line per phase with elapsed time, step k/n lines.
    let text = String::from_utf8(text.into_inner()).unwrap();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"meshproof-[0-9a-f]{8}", "meshproof-[run]");
    settings.add_filter(r"mp-[0-9a-f]{8}-", "mp-[run]-");
    settings.add_filter(r"bundle .*none\.tar\.zst", "bundle [out]/none.tar.zst");
    settings.bind(|| insta::assert_snapshot!("run_none_progress", text));
}

#[test]
fn only_and_require() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("osm.tar.zst");
    let mut p = TestPlatform::new(MeshModel::IgnoresHttpRouteGroup);
    let mut req = request("osm", &out);
    req.plan.only = vec!["traffic-spec".into(), "traffic-access".into()];
    let cancel = AtomicBool::new(false);
    let outcome = pipeline::run(
        &catalog(),
        &req,
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    let names: Vec<&str> = outcome
        .verdicts
        .cases
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["traffic-access", "traffic-spec"]);
    assert_eq!(p.backend.created().len(), 2);
    assert!(outcome.verdicts.below(Capability::Partial).is_empty());
    assert_eq!(outcome.verdicts.below(Capability::Full).len(), 1);
    // Through the binary: --require maps to exit 1 only below the level (run itself is checked in
    // the real-platform e2e test; here the same rule on the written bundle).
    common::bin()
        .args(["verify", "--require", "partial"])
        .arg(&out)
        .assert()
        .code(0);
    common::bin()
        .args(["verify", "--require", "full"])
        .arg(&out)
        .assert()
        .code(1);
}

#[test]
fn an_interrupt_writes_an_aborted_bundle_and_still_tears_down() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("aborted.tar.zst");
    let cancel = AtomicBool::new(false);
    let mut p = TestPlatform::new(MeshModel::Conformant);
    p.backend.cancel_after_traffic = Some((1, &cancel));
    let outcome = pipeline::run(
        &catalog(),
        &request("osm", &out),
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    assert_eq!(outcome.status, RunStatus::Aborted);
    assert!(outcome
        .failure
        .as_ref()
        .unwrap()
        .to_string()
        .contains("interrupted"));
    assert!(meshproof::seal::verify(&out, &Default::default()).ok());
    let files =
        meshproof::bundle::read::read_selected(&out, &Default::default(), |p| p == "manifest.json")
            .unwrap();
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest["run"]["status"], "aborted");
    // The interrupted case is recorded (an error: it did not finish), its evidence collected
    // and its namespace deleted; the cases it never reached are `not-run`. None claims a
    // capability.
    let status: Vec<(&str, CaseStatus)> = outcome
        .verdicts
        .cases
        .iter()
        .map(|c| (c.name.as_str(), c.status))
        .collect();
    assert_eq!(
        status,
        [
            ("traffic-access", CaseStatus::Error),
            ("traffic-spec", CaseStatus::NotRun),
            ("traffic-split", CaseStatus::NotRun),
            ("traffic-metrics", CaseStatus::NotRun)
        ]
    );
    assert!(outcome
        .verdicts
        .cases
        .iter()
        .all(|c| c.capability.is_none()));
    let split = &outcome.verdicts.cases[2];
    assert_eq!(
        split.steps[0].checks[0].observed,
        "skipped: not run (the run was aborted before the case started)"
    );
    assert_eq!(p.backend.created().len(), 1);
    assert_eq!(p.backend.created(), p.backend.deleted());
    assert_eq!(p.calls.last().unwrap(), "teardown keep=false");
}

#[test]
fn an_infrastructure_failure_still_writes_a_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("failed.tar.zst");
    let mut p = TestPlatform::new(MeshModel::Conformant);
    p.fail_mesh = true;
    let cancel = AtomicBool::new(false);
    let mut req = request("osm", &out);
    req.keep = true;
    let outcome = pipeline::run(
        &catalog(),
        &req,
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    assert_eq!(outcome.status, RunStatus::InfrastructureFailed);
    assert!(outcome
        .failure
        .as_ref()
        .unwrap()
        .to_string()
        .contains("osm-controller"));
    // Every planned case is recorded as not run, saying why.
    assert_eq!(outcome.verdicts.cases.len(), 4);
    assert_eq!(outcome.verdicts.summary.cases.not_run, 4);
    assert!(outcome.verdicts.cases[0].steps[0].checks[0]
        .observed
        .contains("the run failed before the case started: Deployment osm-system/osm-controller"));
    assert!(meshproof::seal::verify(&out, &Default::default()).ok());
    assert!(
        p.calls.contains(&"node_logs".to_string()),
        "evidence is collected after a failure"
    );
    assert_eq!(p.calls.last().unwrap(), "teardown keep=true");
}

/// A failed `kind create cluster` reaches the CLI as a typed error whose causes are the
/// platform's and kind's own, so `main` prints each as a "caused by" line; the bundle records
/// the same failure, and the failed create's retained nodes still give their logs.
#[test]
fn a_failed_kind_create_reaches_the_cli_with_its_cause_chain() {
    use meshproof::bringup::BringUpError;
    use meshproof_cluster::kind::KindError;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("no-cluster.tar.zst");
    let mut p = TestPlatform::new(MeshModel::Conformant);
    p.fail_create = true;
    let outcome = pipeline::run(
        &catalog(),
        &request("osm", &out),
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(outcome.status, RunStatus::InfrastructureFailed);
    assert_eq!(
        p.calls,
        [
            "preflight",
            "cluster_up",
            "node_logs",
            "teardown keep=false"
        ]
    );
    assert_eq!(outcome.verdicts.summary.cases.not_run, 4);
    let e = meshproof::app::finish_run(&outcome, None, &mut Vec::new()).unwrap_err();
    assert_eq!(e.exit_code(), 4);
    let mut causes: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut next = std::error::Error::source(&e);
    while let Some(c) = next {
        causes.push(c);
        next = c.source();
    }
    assert!(causes.len() >= 2, "{causes:?}");
    // The run's failure (shared by the outcome and the error), then kind's.
    let platform = causes[0]
        .downcast_ref::<std::sync::Arc<PlatformError>>()
        .map(|a| &**a);
    assert!(
        matches!(platform, Some(PlatformError::ClusterCreate { cluster, .. }) if cluster.starts_with("meshproof-")),
        "{:?}",
        causes[0]
    );
    assert!(
        matches!(
            causes[1].downcast_ref::<BringUpError>(),
            Some(BringUpError::Create(KindError::Failed {
                exit_code: Some(1),
                ..
            }))
        ),
        "{:?}",
        causes[1]
    );
    assert!(
        causes[1]
            .to_string()
            .contains("failed to init node with kubeadm"),
        "{}",
        causes[1]
    );
    assert!(
        e.to_string()
            .starts_with("infrastructure failure: creating kind cluster meshproof-"),
        "{e}"
    );
    let m = manifest_of(&out);
    assert_eq!(m["run"]["status"], "infrastructure-failed");
    assert_eq!(
        m["run"]["failure"],
        outcome.failure.as_ref().unwrap().to_string()
    );
}

/// The mesh install's cluster-free part (fetching and checking artifacts, rendering) runs
/// while the cluster is created: the model platform observes both running at once, so on its
/// virtual clock (cluster 600 ms, preparation 500 ms) they take the longer, 600 ms, not the sum,
/// 1.1 s; the install starts only after both, with what the preparation produced.
#[test]
fn the_mesh_preparation_overlaps_the_cluster_creation() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = TestPlatform::new(MeshModel::Conformant);
    let (cluster, preparation) = (Duration::from_millis(600), Duration::from_millis(500));
    p.durations = Some((cluster, preparation));
    let mut req = request("osm", &tmp.path().join("overlap.tar.zst"));
    req.plan.only = vec!["traffic-spec".into()];
    let outcome = pipeline::run(
        &catalog(),
        &req,
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(outcome.status, RunStatus::Complete);
    assert_eq!(p.prepared.as_deref(), Some("osm@1.2.4 prepared"));
    let state = p.timeline.state.lock().unwrap().clone();
    assert_eq!(
        p.timeline.span("cluster", "preparation"),
        cluster.max(preparation),
        "cluster and preparation did not run at once: {state:?}"
    );
    let at = |e: &str| {
        state
            .events
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("{e}: {state:?}"))
    };
    assert!(at("install") > at("end cluster") && at("install") > at("end preparation"));
}

/// The model's check can fail: activities run one after the other add up on its clock.
#[test]
fn the_timeline_adds_up_activities_that_did_not_overlap() {
    let t = Timeline {
        patience: Duration::from_millis(20),
        ..Timeline::default()
    };
    t.simulate("cluster", Duration::from_millis(600));
    t.simulate("preparation", Duration::from_millis(500));
    assert_eq!(
        t.span("cluster", "preparation"),
        Duration::from_millis(1100)
    );
    let overlapped = Timeline::default();
    std::thread::scope(|s| {
        s.spawn(|| overlapped.simulate("cluster", Duration::from_millis(600)));
        s.spawn(|| overlapped.simulate("preparation", Duration::from_millis(500)));
    });
    assert_eq!(
        overlapped.span("cluster", "preparation"),
        Duration::from_millis(600)
    );
}

#[test]
fn a_failed_preflight_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never.tar.zst");
    let mut p = TestPlatform::new(MeshModel::NoMesh);
    p.fail_preflight = true;
    let cancel = AtomicBool::new(false);
    let e = pipeline::run(
        &catalog(),
        &request("none", &out),
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 4);
    assert!(e.to_string().contains("kind"));
    assert_eq!(p.calls, ["preflight"]);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn an_external_cluster_is_never_created_or_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ext.tar.zst");
    let mut p = TestPlatform::new(MeshModel::Conformant);
    let cancel = AtomicBool::new(false);
    let mut req = request("osm", &out);
    req.kubeconfig = Some(tmp.path().join("kubeconfig"));
    req.context = Some("prod-like".into());
    req.mesh_installed = true;
    let outcome = pipeline::run(
        &catalog(),
        &req,
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    assert_eq!(outcome.status, RunStatus::Complete);
    assert!(
        !p.calls.iter().any(|c| c == "preflight"
            || c == "cluster_up"
            || c.starts_with("teardown")
            || c.starts_with("install_mesh")),
        "{:?}",
        p.calls
    );
    assert!(p
        .calls
        .iter()
        .any(|c| c.starts_with("connect_external") && c.contains("prod-like")));
    assert!(p
        .calls
        .contains(&"observe_installed_mesh osm@1.2.4".to_string()));
    // Only the run's own namespaces are removed.
    assert_eq!(p.backend.created(), p.backend.deleted());
    assert!(p
        .backend
        .deleted()
        .iter()
        .all(|n| n.starts_with(&format!("mp-{}-", &outcome.run_id[..8]))));
    let files = meshproof::bundle::read::read_selected(&out, &Default::default(), |p| {
        p == "manifest.json" || p == "resolved/cluster.json"
    })
    .unwrap();
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest["run"]["cluster_mode"], "external");
    let cluster: Value = serde_json::from_slice(&files["resolved/cluster.json"]).unwrap();
    assert_eq!(cluster["external"], true);
}

#[test]
fn reproduce_reruns_the_bundles_own_inputs_and_compares() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first.tar.zst");
    let cancel = AtomicBool::new(false);
    let mut p = TestPlatform::new(MeshModel::IgnoresHttpRouteGroup);
    // The first run installed one image pinned by digest (from a lock file), from the pinned
    // chart tarball.
    let mut pinned = meshproof::bundle::PinnedImages::default();
    pinned.insert(
        "nats:2.9-alpine",
        &format!("nats@sha256:{}", "a".repeat(64)),
    );
    p.mesh_facts.pinned_images = Some(pinned);
    p.mesh_facts.charts = Some(vec![meshproof::bundle::ChartRecord {
        repo: "https://openservicemesh.github.io/osm".into(),
        chart: "osm".into(),
        version: "1.2.4".into(),
        url: "https://openservicemesh.github.io/osm/osm-1.2.4.tgz".into(),
        sha256: "6a072c797c90fe53effaa9b7d6712aadb74ddaa40186a2dad31bf3b5983083fa".into(),
        index_digest: None,
        dropped_hooks: Vec::new(),
        command: String::new(),
    }]);
    let a = pipeline::run(
        &catalog(),
        &request("osm", &first),
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    assert_eq!(p.inputs_from_repo, Some(true));
    // The parent's downloads become the lock next to the bundle's pin: a reproduction must get
    // the same chart bytes and images.
    let inputs = pipeline::inputs_from_bundle(&first).unwrap();
    let lock_text =
        std::fs::read_to_string(inputs.dir.path().join("meshes/osm/1.2.4.lock.yaml")).unwrap();
    let lock = meshproof::install::lock::load("lock", &lock_text).unwrap();
    assert_eq!(lock.spec.charts.len(), 1);
    assert_eq!(
        lock.spec.charts[0].sha256,
        "6a072c797c90fe53effaa9b7d6712aadb74ddaa40186a2dad31bf3b5983083fa"
    );
    assert_eq!(lock.spec.images[0].reference, "nats:2.9-alpine");
    assert_eq!(
        lock.spec.images[0].digest,
        format!("sha256:{}", "a".repeat(64))
    );
    // Same behaviour → same verdicts.
    let again = tmp.path().join("again.tar.zst");
    let mut p2 = TestPlatform::new(MeshModel::IgnoresHttpRouteGroup);
    let (b, diff) = pipeline::reproduce(
        &first,
        &opts(Some(again.clone())),
        &mut p2,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    assert!(!diff.verdicts_differ, "{:?}", diff.lines);
    assert_eq!(b.verdicts.cases, a.verdicts.cases);
    // The mesh is installed pinned to the image digests the first run resolved (pod statuses)
    // and pinned itself (its lock), and the pins and locks come from the bundle's inputs.
    let want = format!(
        r#"pin_images {{"meshproof-probe:test": "sha256:00", "nats:2.9-alpine": "nats@sha256:{}"}}"#,
        "a".repeat(64)
    );
    assert!(p2.calls.contains(&want), "{:?}", p2.calls);
    assert_eq!(p2.inputs_from_repo, Some(false), "the bundle's inputs");
    let install = p2
        .calls
        .iter()
        .position(|c| c.starts_with("install_mesh"))
        .unwrap();
    let pin = p2
        .calls
        .iter()
        .position(|c| c.starts_with("pin_images"))
        .unwrap();
    assert!(pin < install);
    let files = meshproof::bundle::read::read_selected(&again, &Default::default(), |p| {
        p == "manifest.json"
    })
    .unwrap();
    let m: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(m["run"]["parent"], a.run_id.as_str());
    assert_eq!(
        m["run"]["timeout_scale"], 0.02,
        "the original's timeout table is reused"
    );
    // The inputs are byte-identical to the original's.
    let ia = meshproof::bundle::read::read_selected(&first, &Default::default(), |p| {
        p.starts_with("inputs/")
    })
    .unwrap();
    let ib = meshproof::bundle::read::read_selected(&again, &Default::default(), |p| {
        p.starts_with("inputs/")
    })
    .unwrap();
    let strip = |m: BTreeMap<String, Vec<u8>>| {
        m.into_iter()
            .filter(|(k, _)| k != "inputs/kind-config.yaml")
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(strip(ia), strip(ib));
    // A mesh that behaves differently → the comparison says so.
    let other = tmp.path().join("other.tar.zst");
    let mut p3 = TestPlatform::new(MeshModel::Conformant);
    let (_, diff) = pipeline::reproduce(
        &first,
        &opts(Some(other)),
        &mut p3,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    assert!(diff.verdicts_differ);
    assert!(
        diff.lines.iter().any(|l| l.contains("traffic-spec")),
        "{:?}",
        diff.lines
    );
}

#[test]
fn rerun_failed_runs_only_the_cases_that_were_not_full() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first.tar.zst");
    let cancel = AtomicBool::new(false);
    let mut p = TestPlatform::new(MeshModel::IgnoresHttpRouteGroup);
    let a = pipeline::run(
        &catalog(),
        &request("osm", &first),
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    let mut p2 = TestPlatform::new(MeshModel::Conformant);
    let out = tmp.path().join("rerun.tar.zst");
    let b = pipeline::rerun_failed(
        &first,
        &opts(Some(out.clone())),
        &mut p2,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap()
    .unwrap();
    let names: Vec<&str> = b.verdicts.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["traffic-spec", "traffic-metrics"]);
    // The rerun installs the parent's image digests too.
    assert!(
        p2.calls
            .contains(&r#"pin_images {"meshproof-probe:test": "sha256:00"}"#.to_string()),
        "{:?}",
        p2.calls
    );
    assert!(b
        .verdicts
        .cases
        .iter()
        .all(|c| c.capability == Some(Capability::Full)));
    let files =
        meshproof::bundle::read::read_selected(&out, &Default::default(), |p| p == "manifest.json")
            .unwrap();
    let m: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(m["run"]["parent"], a.run_id.as_str());
    assert_eq!(m["run"]["only"], Value::Null);
    assert_eq!(
        m["run"]["selection"]["only"],
        "traffic-spec,traffic-metrics"
    );
    // Nothing to rerun after an all-Full bundle.
    let mut p3 = TestPlatform::new(MeshModel::Conformant);
    assert!(pipeline::rerun_failed(
        &out,
        &opts(None),
        &mut p3,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel
    )
    .unwrap()
    .is_none());
}

#[test]
fn run_exit_codes_follow_require_and_status() {
    let tmp = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    let code = |outcome: &pipeline::RunOutcome, require: Option<Capability>| {
        let mut out = Vec::new();
        let r = meshproof::app::finish_run(outcome, require, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("CAPABILITY") && text.contains("bundle:"),
            "{text}"
        );
        r.map(|()| 0).unwrap_or_else(|e| e.exit_code())
    };
    let blind = pipeline::run(
        &catalog(),
        &request("osm", &tmp.path().join("b.tar.zst")),
        &mut TestPlatform::new(MeshModel::IgnoresHttpRouteGroup),
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    assert_eq!(code(&blind, None), 0);
    assert_eq!(code(&blind, Some(Capability::None)), 0);
    assert_eq!(
        code(&blind, Some(Capability::Partial)),
        1,
        "traffic-metrics is None"
    );
    assert_eq!(code(&blind, Some(Capability::Full)), 1);
    let mut p = TestPlatform::new(MeshModel::Conformant);
    let full = pipeline::run(
        &catalog(),
        &request("osm", &tmp.path().join("f.tar.zst")),
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    assert_eq!(code(&full, Some(Capability::Full)), 0);
    // An infrastructure failure or an abort is exit 4 whatever --require says.
    let mut p = TestPlatform::new(MeshModel::Conformant);
    p.fail_mesh = true;
    let failed = pipeline::run(
        &catalog(),
        &request("osm", &tmp.path().join("x.tar.zst")),
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    assert_eq!(code(&failed, None), 4);
    let stop = AtomicBool::new(false);
    let mut p = TestPlatform::new(MeshModel::Conformant);
    p.backend.cancel_after_traffic = Some((1, &stop));
    let aborted = pipeline::run(
        &catalog(),
        &request("osm", &tmp.path().join("a.tar.zst")),
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &stop,
    )
    .unwrap();
    assert_eq!(code(&aborted, Some(Capability::None)), 4);
}

#[test]
fn reproduce_of_the_committed_fixture_reaches_preflight_with_the_bundles_exact_inputs() {
    let fixture = common::repo().join("tests/fixtures/bundles/osm-model-conformant.tar.zst");
    let tmp = tempfile::tempdir().unwrap();
    let mut p = TestPlatform::new(MeshModel::Conformant);
    p.fail_preflight = true; // the stop: nothing after preflight runs
    let cancel = AtomicBool::new(false);
    let e = pipeline::reproduce(
        &fixture,
        &opts(Some(tmp.path().join("again.tar.zst"))),
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 4, "{e}");
    assert_eq!(p.calls, ["preflight"]);
    assert_eq!(p.inputs_from_repo, Some(false), "the bundle's inputs");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    // The plan it would execute is the bundle's: every input file with the same sha256, the
    // same selection, no cluster forced, every case.
    let plan = p.preflight_plan.expect("preflight saw the plan");
    let files = meshproof::bundle::read::read_selected(&fixture, &Default::default(), |p| {
        p == "manifest.json"
    })
    .unwrap();
    let manifest: meshproof::bundle::Manifest =
        serde_json::from_slice(&files["manifest.json"]).unwrap();
    let mut planned: BTreeMap<String, String> = BTreeMap::new();
    planned.insert(
        "inputs/cluster.yaml".into(),
        plan.cluster.file.sha256.clone(),
    );
    planned.insert("inputs/mesh.yaml".into(), plan.mesh.file.sha256.clone());
    for f in &plan.workload.files {
        let rel = f.path.strip_prefix("workloads/smi-apps/").unwrap();
        planned.insert(format!("inputs/workload/{rel}"), f.sha256.clone());
    }
    for c in &plan.cases {
        for f in &c.files {
            let rel = f.path.strip_prefix("suites/smi/").unwrap();
            planned.insert(format!("inputs/suite/{rel}"), f.sha256.clone());
        }
    }
    // The bundle records the suite tree whole; the harness smoke is not planned under a mesh.
    let mut recorded = manifest.inputs.clone();
    recorded.retain(|k, _| !k.starts_with("inputs/suite/smoke/"));
    assert_eq!(planned, recorded);
    assert_eq!(
        Some(&plan.cluster.name),
        manifest.run.selection.cluster.as_ref()
    );
    assert_eq!(Some(&plan.mesh.id), manifest.run.selection.mesh.as_ref());
    assert_eq!((plan.forced, plan.blocked), (None, None));
    assert!(plan.mesh.lock.is_none());
    let cases: Vec<&str> = plan.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        cases,
        [
            "traffic-access",
            "traffic-spec",
            "traffic-split",
            "traffic-metrics"
        ]
    );
}

#[test]
fn reproduce_of_a_bundle_without_a_workload_or_with_an_incompatible_cluster_records_what_it_changed(
) {
    // A hand-made run directory: no inputs/workload/, and a cluster the mesh pin is not known
    // to work on (what the fixture used to be).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    common::write_run_dir(&dir, MeshModel::Conformant, "osm@1.2.4");
    std::fs::remove_dir_all(dir.join("inputs/workload")).unwrap();
    std::fs::copy(
        common::repo().join("clusters/kind-v0.32.0.yaml"),
        dir.join("inputs/cluster.yaml"),
    )
    .unwrap();
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let mut m: Value = serde_json::from_str(&manifest).unwrap();
    m["run"]["selection"]["cluster"] = json!("kind-v0.32.0");
    std::fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
    let bundle = tmp.path().join("old.tar.zst");
    meshproof::seal::pack(&dir, &bundle, &Default::default()).unwrap();
    let cancel = AtomicBool::new(false);
    // As recorded, the cluster is refused (exit 2) with what to do.
    let e = pipeline::reproduce(
        &bundle,
        &opts(Some(tmp.path().join("a.tar.zst"))),
        &mut TestPlatform::new(MeshModel::Conformant),
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(e.to_string().contains("--force"), "{e}");
    // --force: runs, and the new bundle records the force and the workload taken from the catalog.
    let mut o = opts(Some(tmp.path().join("forced.tar.zst")));
    o.force = true;
    let mut p = TestPlatform::new(MeshModel::Conformant);
    let mut progress = TextProgress::new(Vec::new());
    let (outcome, _) = pipeline::reproduce(
        &bundle,
        &o,
        &mut p,
        &mut progress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    assert_eq!(outcome.status, RunStatus::Complete);
    let text = String::from_utf8(progress.into_inner()).unwrap();
    assert!(
        text.contains("note: workload smi-apps from") && text.contains("no inputs/workload/"),
        "{text}"
    );
    let m = manifest_of(&outcome.bundle);
    assert_eq!(m["run"]["force"], true);
    assert!(m["run"]["overrides"]["force"].is_string(), "{m}");
    assert!(m["run"]["overrides"]["workload"].is_string(), "{m}");
    // --cluster: a compatible pin from the catalog instead of the bundle's.
    let mut o = opts(Some(tmp.path().join("moved.tar.zst")));
    o.cluster = Some("kind-v0.21.0-k8s-1.24".into());
    let (outcome, _) = pipeline::reproduce(
        &bundle,
        &o,
        &mut TestPlatform::new(MeshModel::Conformant),
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    let m = manifest_of(&outcome.bundle);
    assert_eq!(m["run"]["selection"]["cluster"], "kind-v0.21.0-k8s-1.24");
    assert!(m["run"]["overrides"]["cluster"]
        .as_str()
        .unwrap()
        .contains("instead of the bundle's kind-v0.32.0"));
}

fn manifest_of(bundle: &Path) -> Value {
    let files = meshproof::bundle::read::read_selected(bundle, &Default::default(), |p| {
        p == "manifest.json"
    })
    .unwrap();
    serde_json::from_slice(&files["manifest.json"]).unwrap()
}

#[test]
fn rerun_failed_of_an_aborted_bundle_plans_every_case() {
    let tmp = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    // Aborted during the first case: one `error` case, three `not-run` ones.
    let aborted = tmp.path().join("aborted.tar.zst");
    let mut p = TestPlatform::new(MeshModel::Conformant);
    p.backend.cancel_after_traffic = Some((1, &cancel));
    pipeline::run(
        &catalog(),
        &request("osm", &aborted),
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &cancel,
    )
    .unwrap();
    // An aborted bundle with no case at all (a run directory packed before any case).
    let dir = tmp.path().join("empty");
    common::write_run_dir_with(&dir, &BTreeMap::new(), "osm@1.2.4");
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        text.replace("\"complete\"", "\"aborted\""),
    )
    .unwrap();
    let empty = tmp.path().join("empty.tar.zst");
    meshproof::seal::pack(&dir, &empty, &Default::default()).unwrap();
    for (name, parent) in [("from-aborted", &aborted), ("from-empty", &empty)] {
        let stop = AtomicBool::new(false);
        let mut p2 = TestPlatform::new(MeshModel::Conformant);
        let out = tmp.path().join(format!("{name}.tar.zst"));
        let b = pipeline::rerun_failed(
            parent,
            &opts(Some(out.clone())),
            &mut p2,
            &mut meshproof::progress::QuietProgress,
            &FakeClock::default(),
            &stop,
        )
        .unwrap()
        .expect("cases to rerun");
        let names: Vec<&str> = b.verdicts.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "traffic-access",
                "traffic-spec",
                "traffic-split",
                "traffic-metrics"
            ],
            "{name}"
        );
        assert_eq!(b.status, RunStatus::Complete, "{name}");
        assert_eq!(p2.backend.created().len(), 4, "{name}");
        let m = manifest_of(&out);
        assert_eq!(
            m["run"]["selection"]["only"],
            "traffic-access,traffic-spec,traffic-split,traffic-metrics"
        );
    }
}

#[test]
fn jsonl_progress_has_one_event_per_check_with_expected_and_observed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("osm.tar.zst");
    let mut req = request("osm", &out);
    req.plan.only = vec!["traffic-spec".into()];
    let mut progress = meshproof::progress::JsonlProgress::new(Vec::new());
    let outcome = pipeline::run(
        &catalog(),
        &req,
        &mut TestPlatform::new(MeshModel::IgnoresHttpRouteGroup),
        &mut progress,
        &FakeClock::default(),
        &AtomicBool::new(false),
    )
    .unwrap();
    let text = String::from_utf8(progress.into_inner()).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let checks: Vec<&Value> = events.iter().filter(|e| e["event"] == "check").collect();
    // Exactly the judged checks of the bundle, in order, with their expected/observed values.
    let judged: Vec<_> = outcome.verdicts.cases[0]
        .steps
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
        .collect();
    assert_eq!(checks.len(), judged.len());
    for (e, (s, c)) in checks.iter().zip(&judged) {
        assert_eq!(e["case"], "traffic-spec");
        assert_eq!(e["step"], s.name.as_str());
        assert_eq!(e["k"], s.index);
        assert_eq!(e["check"], c.id.as_str());
        assert_eq!(e["outcome"], c.outcome.as_str());
        assert_eq!(e["expected"], c.expected.as_str());
        assert_eq!(e["observed"], c.observed.as_str());
    }
    let failing = checks
        .iter()
        .find(|e| e["step"] == "path-rules" && e["outcome"] == "fail")
        .expect("the blind mesh fails path-rules");
    assert!(failing["expected"].as_str().unwrap().contains("all denied"));
    assert!(failing["observed"].as_str().unwrap().contains("200×2"));
    let case = events.iter().find(|e| e["event"] == "case").unwrap();
    assert_eq!(case["status"], "failed");
    assert_eq!(case["capability"], "Partial");
}

#[test]
fn run_with_sign_key_writes_an_attestation_that_verifies() {
    use meshproof::provenance::files;
    let tmp = tempfile::tempdir().unwrap();
    let keys = files::keygen(&tmp.path().join("maker.key")).unwrap();
    let out = tmp.path().join("osm.tar.zst");
    let mut req = request("osm", &out);
    req.sign_key = Some(keys.private.clone());
    req.require = Some(Capability::None);
    let outcome = pipeline::run(
        &catalog(),
        &req,
        &mut TestPlatform::new(MeshModel::IgnoresHttpRouteGroup),
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &AtomicBool::new(false),
    )
    .unwrap();
    let (path, keyid) = outcome.attestation.clone().unwrap();
    assert_eq!(path, tmp.path().join("osm.tar.zst.intoto.json"));
    assert_eq!(keyid, keys.keyid);
    let trusted = files::load_public_keys(std::slice::from_ref(&keys.public)).unwrap();
    let (lines, _) = files::verify_with_attestation(&out, &path, &trusted).unwrap();
    assert!(
        lines.iter().all(|l| l.ok) && lines.iter().any(|l| l.name == "results"),
        "{lines:?}"
    );
    // The model ignores HTTPRouteGroups: complete, some cases below Full, none below --require.
    let checked = files::who_signed(&out, &path, &trusted).unwrap();
    assert_eq!(
        checked.statement.predicate.result,
        meshproof_attest::TestOutcome::Warned
    );
    assert!(!checked.statement.predicate.failed_tests.is_empty());
    let mut text = Vec::new();
    meshproof::app::finish_run(&outcome, req.require, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains(&format!("attestation: {} (keyid {keyid})", path.display())),
        "{text}"
    );
    // The key never enters the bundle: no file holds its seed, in raw bytes, hex or base64.
    use base64::Engine;
    let pem = std::fs::read_to_string(&keys.private).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&body)
        .unwrap();
    let seed = der[der.len() - 32..].to_vec();
    let needles = [
        seed.clone(),
        hex::encode(&seed).into_bytes(),
        body.as_bytes()[24..].to_vec(),
    ];
    let files =
        meshproof::bundle::read::read_selected(&out, &Default::default(), |_| true).unwrap();
    for (name, bytes) in files {
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_slice()),
                "{name} holds the key"
            );
        }
    }

    // `reproduce --sign-key` signs the reproduction the same way.
    let again = tmp.path().join("again.tar.zst");
    let mut o = opts(Some(again.clone()));
    o.sign_key = Some(keys.private.clone());
    let (b, _) = pipeline::reproduce(
        &out,
        &o,
        &mut TestPlatform::new(MeshModel::IgnoresHttpRouteGroup),
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &AtomicBool::new(false),
    )
    .unwrap();
    let (path, _) = b.attestation.unwrap();
    assert_eq!(path, files::attestation_path(&again));
    let (lines, _) = files::verify_with_attestation(&again, &path, &trusted).unwrap();
    assert!(lines.iter().all(|l| l.ok), "{lines:?}");

    // A key that cannot sign stops the run before it starts: nothing runs, nothing is written.
    let out = tmp.path().join("never.tar.zst");
    let mut req = request("osm", &out);
    req.sign_key = Some(keys.public.clone());
    let mut p = TestPlatform::new(MeshModel::Conformant);
    let e = pipeline::run(
        &catalog(),
        &req,
        &mut p,
        &mut meshproof::progress::QuietProgress,
        &FakeClock::default(),
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().contains("maker.pub: key: a public key"),
        "{e}"
    );
    assert!(p.calls.is_empty(), "{:?}", p.calls);
    assert!(!out.exists());
    assert!(!files::attestation_path(&out).exists());
}
