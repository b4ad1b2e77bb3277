//! Test support: a small reference model of SMI semantics that plays a mesh, and run-directory builders.
//!
//! The model is a test double of a cluster + mesh: it keeps the objects a run applied, decides
//! each request the way the SMI specs say (default deny, TrafficTarget + route, HTTPRouteGroup
//! path/method matches, TrafficSplit weights), lags one traffic attempt behind policy changes
//! (so eventual expectations need more than one attempt), and records observations exactly as
//! the suite runner does, using the same `evaluate_attempt` to decide when a step holds.
//!
//! Beside it: `backend` (the one scripted suite backend: the model plus a log and faults),
//! `http` (the one fake HTTP server), `upstream` (OSM- and Traefik-Mesh-shaped models), `gate`
//! (skip notices of gated tests).
#![allow(dead_code)]

pub mod backend;
pub mod gate;
pub mod http;
pub mod upstream;

pub use backend::Scripted;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::atomic::AtomicBool;

use meshproof::observation::*;
use meshproof::spec::case::TrafficCheck;
use meshproof::spec::catalog::{Catalog, LoadedCase, Suite};
use meshproof::suite::{run_case, CaseContext, Clock, HarnessError, NoProgress, SuiteBackend};
use meshproof::timeouts::Timeouts;
use meshproof::verdict::object_ref;
use serde_json::{json, Value};

/// The repository root (the catalog the tests load).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn suite() -> Suite {
    Catalog::new(repo()).suite("smi").expect("suite loads").0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshModel {
    /// Implements every SMI API the suite uses, metrics included; denies with a reset.
    Conformant,
    /// No mesh: no SMI CRDs, no policy, round-robin services.
    NoMesh,
    /// Enforces TrafficTargets but treats every HTTPRouteGroup as matching everything; denies with 403.
    IgnoresHttpRouteGroup,
}

impl MeshModel {
    fn serves(self) -> BTreeMap<String, Vec<String>> {
        let mut m = BTreeMap::new();
        if self == MeshModel::NoMesh {
            return m;
        }
        m.insert("access.smi-spec.io".into(), vec!["v1alpha3".into()]);
        m.insert("specs.smi-spec.io".into(), vec!["v1alpha4".into()]);
        m.insert("split.smi-spec.io".into(), vec!["v1alpha4".into()]);
        if self == MeshModel::Conformant {
            m.insert("metrics.smi-spec.io".into(), vec!["v1alpha1".into()]);
        }
        m
    }
}

type Objects = BTreeMap<String, Value>; // "Kind/name" → object
/// A request the model answered: (from, answering backend, succeeded).
type Sent = (String, Option<String>, bool);

pub struct World {
    mesh: MeshModel,
    served: BTreeMap<String, Vec<String>>,
    objects: Objects,
    /// What the data plane currently enforces (lags one traffic attempt behind `objects`).
    visible: Objects,
    /// Every request so far: (from, backend, succeeded).
    sent: Vec<Sent>,
    /// The injector skipped the pods (a webhook that failed open): they run without a sidecar.
    pub unmeshed: bool,
    /// The injected container's name (OSM's `envoy` unless a test plays another pin).
    pub sidecar: &'static str,
}

const CRDS: [(&str, &str, &str, &str); 4] = [
    (
        "traffictargets",
        "access.smi-spec.io",
        "TrafficTarget",
        "tt",
    ),
    (
        "httproutegroups",
        "specs.smi-spec.io",
        "HTTPRouteGroup",
        "htr",
    ),
    ("tcproutes", "specs.smi-spec.io", "TCPRoute", "tr"),
    ("trafficsplits", "split.smi-spec.io", "TrafficSplit", "ts"),
];

impl World {
    pub fn new(mesh: MeshModel) -> Self {
        World {
            mesh,
            served: mesh.serves(),
            objects: Objects::new(),
            visible: Objects::new(),
            sent: Vec::new(),
            unmeshed: false,
            sidecar: "envoy",
        }
    }

    fn kind_served(&self, api_version: &str) -> bool {
        match api_version.split_once('/') {
            Some((g, v)) if g.ends_with("smi-spec.io") => self
                .served
                .get(g)
                .is_some_and(|vs| vs.iter().any(|x| x == v)),
            _ => true,
        }
    }

    /// What the API server would return for an object named in a suite file.
    fn lookup(&self, want: &Value) -> Option<Value> {
        let kind = want["kind"].as_str()?;
        let name = want["metadata"]["name"].as_str()?;
        match kind {
            "CustomResourceDefinition" => {
                let (plural, group, k, short) =
                    CRDS.iter().find(|c| name == format!("{}.{}", c.0, c.1))?;
                let versions = self.served.get(*group)?;
                Some(json!({
                    "apiVersion": "apiextensions.k8s.io/v1",
                    "kind": "CustomResourceDefinition",
                    "metadata": {"name": name, "uid": "00000000-0000-0000-0000-000000000001", "resourceVersion": "42"},
                    "spec": {
                        "group": group,
                        "scope": "Namespaced",
                        "names": {"kind": k, "plural": plural, "listKind": format!("{k}List"), "shortNames": [short, "extra"]},
                        "versions": versions.iter().map(|v| json!({"name": v, "served": true, "storage": true})).collect::<Vec<_>>(),
                    },
                    "status": {"conditions": [
                        {"type": "NamesAccepted", "status": "True"},
                        {"type": "Established", "status": "True"}
                    ]}
                }))
            }
            "APIService" => self.served.contains_key("metrics.smi-spec.io").then(|| {
                json!({
                    "apiVersion": "apiregistration.k8s.io/v1",
                    "kind": "APIService",
                    "metadata": {"name": name},
                    "spec": {"group": "metrics.smi-spec.io", "version": "v1alpha1", "service": {"name": "smi-metrics"}},
                    "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Passed"}]}
                })
            }),
            "Deployment" => Some(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "generation": 1},
                "spec": {"replicas": 1},
                "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}
            })),
            "ServiceAccount" | "Service" => Some(json!({
                "apiVersion": "v1", "kind": kind, "metadata": {"name": name, "uid": "u"}
            })),
            _ => self.objects.get(&object_ref(want)).cloned(),
        }
    }

    /// The containers a workload pod runs: the probe, and OSM's `envoy` sidecar under a mesh.
    pub fn containers(&self) -> Vec<String> {
        if self.mesh == MeshModel::NoMesh || self.unmeshed {
            vec!["probe".into()]
        } else {
            let mut c = vec![self.sidecar.to_string(), "probe".to_string()];
            c.sort();
            c
        }
    }

    fn pod_of(&self, app: &str) -> SourcePod {
        SourcePod {
            name: format!("{app}-6d4cf56db6-x7k2p"),
            containers: self.containers(),
        }
    }

    fn backend_sa(backend: &str) -> String {
        format!("service-{}", backend.trim_start_matches("app-"))
    }

    fn allowed(&self, from: &str, backend: &str, method: &str, path: &str) -> bool {
        if self.mesh == MeshModel::NoMesh {
            return true;
        }
        let src = Self::backend_sa(from);
        let dst = Self::backend_sa(backend);
        self.visible.values().any(|o| {
            if o["kind"] != "TrafficTarget" {
                return false;
            }
            let spec = &o["spec"];
            if spec["destination"]["name"] != dst.as_str() {
                return false;
            }
            let from_ok = spec["sources"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x["name"] == src.as_str()));
            from_ok
                && spec["rules"]
                    .as_array()
                    .is_some_and(|rules| rules.iter().any(|r| self.rule_matches(r, method, path)))
        })
    }

    fn rule_matches(&self, rule: &Value, method: &str, path: &str) -> bool {
        let name = rule["name"].as_str().unwrap_or_default();
        match rule["kind"].as_str() {
            Some("TCPRoute") => self.visible.contains_key(&format!("TCPRoute/{name}")),
            Some("HTTPRouteGroup") => {
                let Some(hrg) = self.visible.get(&format!("HTTPRouteGroup/{name}")) else {
                    return false;
                };
                if self.mesh == MeshModel::IgnoresHttpRouteGroup {
                    return true;
                }
                let wanted: Option<Vec<&str>> = rule["matches"]
                    .as_array()
                    .map(|m| m.iter().filter_map(|x| x.as_str()).collect());
                hrg["spec"]["matches"].as_array().is_some_and(|ms| {
                    ms.iter().any(|m| {
                        let named = wanted
                            .as_ref()
                            .is_none_or(|w| w.contains(&m["name"].as_str().unwrap_or_default()));
                        let re = regex::Regex::new(&format!(
                            "^(?:{})$",
                            m["pathRegex"].as_str().unwrap_or(".*")
                        ))
                        .unwrap();
                        let methods = m["methods"].as_array().cloned().unwrap_or_default();
                        let method_ok = methods.iter().any(|x| x == "*" || x == method);
                        named && re.is_match(path) && method_ok
                    })
                })
            }
            _ => false,
        }
    }

    fn send(
        &mut self,
        from: &str,
        to: &str,
        method: &str,
        path: &str,
        count: u32,
    ) -> Vec<CallRecord> {
        let backends: Vec<&str> = if to == "app-svc" {
            vec!["app-b", "app-c"]
        } else {
            vec![to]
        };
        let split = self
            .visible
            .values()
            .find(|o| o["kind"] == "TrafficSplit")
            .cloned();
        let weights: Vec<f64> = match (&split, backends.len()) {
            (Some(s), 2) => backends
                .iter()
                .map(|b| {
                    s["spec"]["backends"]
                        .as_array()
                        .and_then(|bs| bs.iter().find(|x| x["service"] == *b))
                        .and_then(|x| x["weight"].as_f64())
                        .unwrap_or(0.0)
                })
                .collect(),
            _ => vec![1.0; backends.len()],
        };
        // Smooth weighted round robin: deterministic and proportional.
        let total: f64 = weights.iter().sum();
        let mut current = vec![0.0; backends.len()];
        let mut out = Vec::new();
        for _ in 0..count {
            for (c, w) in current.iter_mut().zip(&weights) {
                *c += w;
            }
            let pick = (0..backends.len())
                .max_by(|a, b| {
                    current[*a]
                        .partial_cmp(&current[*b])
                        .unwrap()
                        .then(b.cmp(a))
                })
                .unwrap();
            current[pick] -= total;
            let backend = backends[pick];
            let ok = self.allowed(from, backend, method, path);
            let url = format!("http://{to}.ns.svc.cluster.local:9091{path}");
            let base = CallRecord {
                source: from.into(),
                url,
                method: method.into(),
                source_pod: Some(self.pod_of(from)),
                ..CallRecord::default()
            };
            let rec = if ok {
                CallRecord {
                    status: Some(200),
                    backend: Some(backend.into()),
                    latency_us: 800,
                    ..base
                }
            } else if self.mesh == MeshModel::IgnoresHttpRouteGroup {
                // Envoy's RBAC filter (OSM's per-route policy): the pin's `envoy-rbac` signature.
                CallRecord {
                    status: Some(403),
                    headers: BTreeMap::from([
                        ("content-length".to_string(), "19".to_string()),
                        ("content-type".to_string(), "text/plain".to_string()),
                    ]),
                    body: Some("RBAC: access denied".into()),
                    latency_us: 300,
                    ..base
                }
            } else {
                // The pin's `no-filter-chain` signature: the client's sidecar closes the connection.
                CallRecord {
                    error: Some("reset".into()),
                    error_detail: Some("connection reset by peer".into()),
                    latency_us: 200,
                    ..base
                }
            };
            self.sent.push((from.to_string(), rec.backend.clone(), ok));
            out.push(rec);
        }
        out
    }

    fn metrics(&self, resource: &str, edge: Option<&str>) -> MetricsObservation {
        let path = match edge {
            Some(_) => format!(
                "/apis/metrics.smi-spec.io/v1alpha1/namespaces/ns/deployments/{resource}/edges"
            ),
            None => {
                format!("/apis/metrics.smi-spec.io/v1alpha1/namespaces/ns/deployments/{resource}")
            }
        };
        if !self.served.contains_key("metrics.smi-spec.io") {
            return MetricsObservation {
                check: 0,
                path,
                status: Some(404),
                body: None,
                error: None,
            };
        }
        let count = |pred: &dyn Fn(&Sent) -> bool| {
            let s = self.sent.iter().filter(|x| pred(x) && x.2).count();
            let f = self.sent.iter().filter(|x| pred(x) && !x.2).count();
            (s, f)
        };
        let tm = |s: usize, f: usize| {
            json!([
                {"name": "p99_response_latency", "unit": "ms", "value": "3"},
                {"name": "success_count", "value": s.to_string()},
                {"name": "failure_count", "value": f.to_string()}
            ])
        };
        let body = match edge {
            None => {
                let (s, f) = count(&|x| x.1.as_deref() == Some(resource) || x.0 == resource);
                json!({"kind": "TrafficMetrics", "apiVersion": "metrics.smi-spec.io/v1alpha1",
                       "resource": {"kind": "Deployment", "name": resource}, "window": "30s", "metrics": tm(s, f)})
            }
            Some(to) => {
                // Failed requests have no backend; the model attributes them to the intended target.
                let (s, f) =
                    count(&|x| x.0 == resource && (x.1.as_deref() == Some(to) || x.1.is_none()));
                json!({"kind": "TrafficMetricsList", "apiVersion": "metrics.smi-spec.io/v1alpha1", "items": [
                    {"edge": {"direction": "to", "side": "client", "resource": {"kind": "Deployment", "name": to}}, "metrics": tm(s, f)}
                ]})
            }
        };
        MetricsObservation {
            check: 0,
            path,
            status: Some(200),
            body: Some(body),
            error: None,
        }
    }
}

impl SuiteBackend for World {
    fn served_smi(&mut self) -> Result<BTreeMap<String, Vec<String>>, HarnessError> {
        Ok(self.served.clone())
    }
    fn create_namespace(
        &mut self,
        _: &str,
        _: &BTreeMap<String, String>,
        _: &BTreeMap<String, String>,
    ) -> Result<(), HarnessError> {
        Ok(())
    }
    fn delete_namespace(&mut self, _: &str) -> Result<(), HarnessError> {
        Ok(())
    }
    fn apply(
        &mut self,
        _: &str,
        file: &str,
        objects: &[Value],
    ) -> Result<Vec<ObjectResult>, HarnessError> {
        let mut out = Vec::new();
        for o in objects {
            let r = object_ref(o);
            let api = o["apiVersion"].as_str().unwrap_or_default().to_string();
            if self.kind_served(&api) {
                self.objects.insert(r.clone(), o.clone());
                out.push(ObjectResult {
                    file: file.into(),
                    object: r,
                    ok: true,
                    message: None,
                });
            } else {
                let kind = r.split('/').next().unwrap().to_string();
                out.push(ObjectResult {
                    file: file.into(),
                    object: r,
                    ok: false,
                    message: Some(format!(
                        "no matches for kind \"{kind}\" in version \"{api}\""
                    )),
                });
            }
        }
        Ok(out)
    }
    fn delete(
        &mut self,
        _: &str,
        file: &str,
        objects: &[Value],
    ) -> Result<Vec<ObjectResult>, HarnessError> {
        Ok(objects
            .iter()
            .map(|o| {
                let r = object_ref(o);
                self.objects.remove(&r);
                ObjectResult {
                    file: file.into(),
                    object: r,
                    ok: true,
                    message: None,
                }
            })
            .collect())
    }
    fn lookup(&mut self, _: &str, object: &Value) -> Result<Option<Value>, HarnessError> {
        Ok(World::lookup(self, object))
    }
    fn traffic(
        &mut self,
        _: &str,
        check: &TrafficCheck,
        _url: &str,
    ) -> Result<Vec<CallRecord>, HarnessError> {
        let records = self.send(
            &check.from,
            &check.to,
            &check.method,
            &check.path,
            check.count,
        );
        // The data plane catches up with the applied policy after each round of traffic.
        self.visible = self.objects.clone();
        Ok(records)
    }
    fn pods(&mut self, _: &str) -> Result<Vec<PodObservation>, HarnessError> {
        Ok(["app-a", "app-b", "app-c"]
            .iter()
            .map(|app| PodObservation {
                name: self.pod_of(app).name,
                app: Some(app.to_string()),
                containers: self.containers(),
                ready: true,
            })
            .collect())
    }
    fn metrics(&mut self, path: &str) -> Result<MetricsObservation, HarnessError> {
        let parts: Vec<&str> = path.trim_end_matches("/edges").rsplit('/').collect();
        let resource = parts[0].to_string();
        let edge = path.ends_with("/edges").then_some("app-b");
        let mut m = World::metrics(self, &resource, edge);
        m.path = path.to_string();
        Ok(m)
    }
}

/// Simulated time: sleeping advances it, nothing waits.
#[derive(Default)]
pub struct FakeClock(std::cell::Cell<u64>);

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
    fn sleep_ms(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
    }
}

/// Timeouts of the model runs: three polls after the first attempt, i.e. at most four attempts.
pub fn model_timeouts() -> Timeouts {
    Timeouts {
        assert_secs: 3,
        traffic_secs: 3,
        metrics_secs: 3,
        apply_secs: 3,
        delete_secs: 3,
        call_secs: 3,
        per_call_ms: 1000,
        poll_interval_ms: 1000,
    }
}

pub fn osm() -> meshproof::spec::mesh::Mesh {
    Catalog::new(repo()).select_mesh("osm@1.2.4").unwrap().value
}

pub fn none_pin() -> meshproof::spec::mesh::Mesh {
    Catalog::new(repo()).select_mesh("none").unwrap().value
}

/// The pin a model plays: OSM 1.2.4 (its `envoy` sidecar and denial signatures), or the control.
pub fn pin_of(mesh: MeshModel) -> meshproof::spec::mesh::Mesh {
    if mesh == MeshModel::NoMesh {
        none_pin()
    } else {
        osm()
    }
}

/// The outcome-class semantics of the pin a model plays.
pub fn semantics(mesh: MeshModel) -> meshproof::calls::Semantics {
    meshproof::calls::Semantics::of(&pin_of(mesh))
}

/// Observations of one case played by the real runner against a mesh model.
pub fn observe_case(lc: &LoadedCase, mesh: MeshModel) -> CaseObservation {
    observe_case_in(lc, World::new(mesh))
}

/// Observations of one case played by the real runner against a prepared world.
pub fn observe_case_in(lc: &LoadedCase, mut world: World) -> CaseObservation {
    let pin = pin_of(world.mesh);
    observe_case_with(lc, &pin, &mut world)
}

/// Observations of one case played by the real runner against any backend, with the pin it plays.
pub fn observe_case_with(
    lc: &LoadedCase,
    pin: &meshproof::spec::mesh::Mesh,
    backend: &mut dyn SuiteBackend,
) -> CaseObservation {
    let cancel = AtomicBool::new(false);
    let ctx = CaseContext {
        mesh: pin,
        port: 9091,
        workload: vec![],
        timeouts: model_timeouts(),
        cancel: &cancel,
    };
    run_case(
        lc,
        &format!("mp-test-{}", lc.name()),
        &ctx,
        backend,
        &FakeClock::default(),
        &mut NoProgress,
    )
}

/// Observations of the cases a run plans for the model: the harness smoke only for `NoMesh`
/// (the control run), as `plan` does.
pub fn observe_suite(suite: &Suite, mesh: MeshModel) -> BTreeMap<String, CaseObservation> {
    suite
        .cases
        .iter()
        .filter(|lc| mesh == MeshModel::NoMesh || !lc.case.spec.is_harness())
        .map(|lc| (lc.name().to_string(), observe_case(lc, mesh)))
        .collect()
}

/// Write a run directory (what a run leaves before `bundle pack`) for a mesh model.
pub fn write_run_dir(dir: &Path, mesh: MeshModel, mesh_selector: &str) {
    let suite = suite();
    let obs = observe_suite(&suite, mesh);
    // The no-mesh model plays the control: its calls are judged by the `none` pin.
    let selector = if mesh == MeshModel::NoMesh {
        "none"
    } else {
        mesh_selector
    };
    write_run_dir_with(dir, &obs, selector);
}

pub fn write_run_dir_with(
    dir: &Path,
    obs: &BTreeMap<String, CaseObservation>,
    mesh_selector: &str,
) {
    let copy = |from: &Path, to: &Path| {
        for (rel, bytes) in meshproof::spec::catalog::read_tree(from).unwrap() {
            let p = to.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
    };
    copy(&repo().join("suites/smi"), &dir.join("inputs/suite"));
    // The workload as `run` records it: its pin and manifests, so `reproduce` has every input.
    let catalog = Catalog::new(repo());
    for (rel, bytes) in catalog.workload_tree("smi-apps").unwrap() {
        let p = dir.join("inputs/workload").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let mesh_file = if mesh_selector == "none" {
        "meshes/none.yaml".to_string()
    } else {
        "meshes/osm/1.2.4.yaml".to_string()
    };
    // The cluster `run` would pick for the mesh (one its pin is known to work on).
    let mesh = catalog
        .select_mesh(if mesh_selector == "none" {
            "none"
        } else {
            "osm@1.2.4"
        })
        .unwrap();
    let (cluster, fit) = catalog
        .select_cluster_for("kind-default", &mesh.value, false)
        .unwrap();
    assert_eq!(fit, meshproof::spec::catalog::ClusterFit::Compatible);
    std::fs::create_dir_all(dir.join("inputs")).unwrap();
    std::fs::copy(repo().join(&cluster.path), dir.join("inputs/cluster.yaml")).unwrap();
    std::fs::copy(repo().join(mesh_file), dir.join("inputs/mesh.yaml")).unwrap();
    std::fs::create_dir_all(dir.join("observations")).unwrap();
    for (name, o) in obs {
        let mut bytes = serde_json::to_vec_pretty(o).unwrap();
        bytes.push(b'\n');
        std::fs::write(dir.join(format!("observations/{name}.json")), bytes).unwrap();
    }
    std::fs::create_dir_all(dir.join("resolved")).unwrap();
    std::fs::write(
        dir.join("resolved/versions.json"),
        "{\n  \"kind\": \"v0.32.0\",\n  \"kubernetes\": \"v1.36.1\"\n}\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("logs/app-a")).unwrap();
    std::fs::write(
        dir.join("logs/app-a/probe.log"),
        "listening on 0.0.0.0:9091\n",
    )
    .unwrap();
    let manifest = json!({
        "run": {
            "id": "0123456789abcdef",
            "status": "complete",
            "started_at": "2026-11-26T10:00:00Z",
            "finished_at": "2026-11-26T10:12:00Z",
            "scoring": "strict",
            "selection": {"cluster": cluster.value.metadata.name, "mesh": mesh_selector, "workload": "smi-apps", "suite": "smi"}
        }
    });
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

/// Copies the input catalog into `dir`, for tests that edit inputs: `clusters/`, `meshes/` and
/// `suites/` whole, and of each workload its top-level files (the manifests; not the probe's
/// source crate, which is no input).
pub fn copy_catalog(dir: &Path) {
    for sub in ["clusters", "meshes", "suites"] {
        for (rel, bytes) in meshproof::spec::catalog::read_tree(&repo().join(sub)).unwrap() {
            let p = dir.join(sub).join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
    }
    for workload in std::fs::read_dir(repo().join("workloads")).unwrap() {
        let workload = workload.unwrap();
        let to = dir.join("workloads").join(workload.file_name());
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(workload.path()).unwrap() {
            let f = f.unwrap();
            if f.file_type().unwrap().is_file() {
                std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
            }
        }
    }
}

/// Held by the tests that make `meshproof-*` clusters on the real Docker engine or remove them:
/// `gc --yes` removes every meshproof leftover it finds, and the tests share one process, so a
/// `gc --yes` must not run while another test's node exists. (A std mutex across `.await`: each
/// test has a runtime of its own, so a waiting test blocks only its own thread.)
pub fn engine_clusters_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The `meshproof` binary under test, with a fixed catalog root.
pub fn bin() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("meshproof").unwrap();
    c.env("MESHPROOF_HOME", repo());
    // `lock` writes and `run` reads user locks here: never the real data directory in tests.
    c.env(
        meshproof::env::XDG_DATA_HOME,
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-user-data"),
    );
    // Recorded in manifests: keep bundles comparable whatever the caller's environment says.
    c.env_remove(meshproof::env::MESHPROOF_FLAKE_REF);
    c.env_remove(meshproof::env::MESHPROOF_GIT_REV);
    c
}
