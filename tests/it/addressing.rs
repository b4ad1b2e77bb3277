//! Per-mesh addressing: a mesh without a transparent proxy (Consul 1.5 Connect) is called through
//! the local upstream ports of the caller's sidecar, the workload pods carry the annotations that
//! declare those upstreams, and a Service the pin cannot address is a harness error, never a verdict.

use crate::common;

use std::sync::atomic::AtomicBool;

use common::{model_timeouts, repo, FakeClock, MeshModel, Scripted, World};
use meshproof::observation::StepStatus;
use meshproof::spec::catalog::Catalog;
use meshproof::spec::mesh::Mesh;
use meshproof::suite::{run_case, CaseContext, NoProgress};
use serde_json::Value;

fn consul() -> Mesh {
    Catalog::new(repo()).select_mesh("consul").unwrap().value
}

fn layout(name: &str) -> Vec<Value> {
    let text =
        std::fs::read_to_string(repo().join(format!("workloads/smi-apps/{name}.yaml"))).unwrap();
    meshproof::yaml::documents(name, &text).unwrap()
}

fn pod_annotations<'a>(docs: &'a [Value], deployment: &str) -> &'a Value {
    let d = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == deployment)
        .unwrap();
    &d["spec"]["template"]["metadata"]["annotations"]
}

#[test]
fn consul_is_called_through_local_upstreams() {
    let m = consul();
    assert_eq!(
        m.authority("app-b", "ns1", 9091).unwrap(),
        "127.0.0.1:19091"
    );
    assert_eq!(
        m.authority("app-c", "ns1", 9091).unwrap(),
        "127.0.0.1:19092"
    );
    let e = m.authority("app-svc", "ns1", 9091).unwrap_err();
    assert!(e.contains("declares none for `app-svc`"), "{e}");
    // Every other pin names services through DNS.
    for pin in Catalog::new(repo()).meshes().unwrap() {
        if pin.value.metadata.name != "consul" {
            let a = pin.value.authority("app-b", "ns1", 9091).unwrap();
            assert_eq!(a, format!("{}:9091", pin.value.host("app-b", "ns1")));
        }
    }
}

#[test]
fn workload_pods_declare_their_connect_service_and_upstreams() {
    let m = consul();
    for name in ["access", "split"] {
        let mut docs = layout(name);
        meshproof::spec::workload::onboard_pods(&mut docs, &m).unwrap();
        for (app, account) in [
            ("app-a", "service-a"),
            ("app-b", "service-b"),
            ("app-c", "service-c"),
        ] {
            let a = pod_annotations(&docs, app);
            assert_eq!(
                a["consul.hashicorp.com/connect-inject"], "true",
                "{name}/{app}"
            );
            assert_eq!(
                a["consul.hashicorp.com/connect-service"], account,
                "{name}/{app}"
            );
            assert_eq!(
                a["consul.hashicorp.com/connect-service-upstreams"],
                "service-a:19090,service-b:19091,service-c:19092",
                "{name}/{app}"
            );
        }
    }
    // A DNS-addressed mesh leaves the pods as they are.
    let osm = Catalog::new(repo()).select_mesh("osm").unwrap().value;
    let mut docs = layout("access");
    let before = docs.clone();
    meshproof::spec::workload::onboard_pods(&mut docs, &osm).unwrap();
    assert_eq!(docs, before);
}

#[test]
fn an_upstream_whose_pods_run_as_several_accounts_cannot_be_named() {
    let mut m = consul();
    m.spec.addressing.upstreams.insert("app-svc".into(), 19093);
    let mut docs = layout("split");
    let e = meshproof::spec::workload::onboard_pods(&mut docs, &m).unwrap_err();
    assert!(
        e.contains("`app-svc`") && e.contains("service-b, service-c"),
        "{e}"
    );
}

#[test]
fn the_runner_calls_local_upstreams_and_cannot_call_an_unaddressed_service() {
    let m = consul();
    let suite = common::suite();
    let cancel = AtomicBool::new(false);
    let run = |case: &str| {
        let lc = suite.case(case).unwrap();
        let ctx = CaseContext {
            mesh: &m,
            port: 9091,
            workload: vec![],
            timeouts: model_timeouts(),
            cancel: &cancel,
        };
        let mut world = World::new(MeshModel::Conformant);
        // The pods carry Consul's injected sidecar, so app-ready's data-plane check holds.
        world.sidecar = "consul-connect-envoy-sidecar";
        // The shared backend records the URLs the runner asks for.
        let mut b = Scripted::of(world);
        let obs = run_case(
            lc,
            "ns1",
            &ctx,
            &mut b,
            &FakeClock::default(),
            &mut NoProgress,
        );
        (obs, b.urls)
    };
    let (_, urls) = run("traffic-access");
    assert!(!urls.is_empty());
    assert!(
        urls.iter().all(|u| u == "http://127.0.0.1:19091/echo"),
        "{urls:?}"
    );
    // traffic-split calls app-svc, which no local upstream reaches: a harness error naming it.
    let (obs, urls) = run("traffic-split");
    assert!(urls.is_empty(), "{urls:?}");
    let s = obs
        .steps
        .iter()
        .find(|s| s.name == "default-spread")
        .unwrap();
    assert_eq!(s.status, StepStatus::HarnessError);
    assert!(s.error.as_deref().unwrap().contains("`app-svc`"), "{s:?}");
}

fn plan_error(edit: impl Fn(&str) -> String) -> String {
    let tmp = tempfile::tempdir().unwrap();
    for sub in ["clusters", "meshes", "suites", "workloads/smi-apps"] {
        for (rel, bytes) in meshproof::spec::catalog::read_tree(&repo().join(sub)).unwrap() {
            if sub.starts_with("workloads") && rel.contains('/') {
                continue;
            }
            let p = tmp.path().join(sub).join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
    }
    let pin = tmp.path().join("meshes/consul/1.5.0.yaml");
    std::fs::write(&pin, edit(&std::fs::read_to_string(&pin).unwrap())).unwrap();
    let a = common::bin()
        .arg("--root")
        .arg(tmp.path())
        .args(["plan", "--mesh", "consul"])
        .assert()
        .code(2);
    String::from_utf8_lossy(&a.get_output().stderr).to_string()
}

#[test]
fn plan_rejects_upstreams_it_cannot_use() {
    let e = plan_error(|t| {
        t.replace(
            "      app-c: 19092\n",
            "      app-c: 19092\n      app-svc: 19093\n",
        )
    });
    assert!(
        e.contains("spec.addressing.upstreams: local upstream `app-svc`"),
        "{e}"
    );
    let e = plan_error(|t| t.replace("      app-c: 19092\n", "      app-x: 19092\n"));
    assert!(
        e.contains("spec.addressing.upstreams.app-x: `app-x` is not a Service"),
        "{e}"
    );
    let e = plan_error(|t| t.replace("app-c: 19092", "app-c: 9091"));
    assert!(
        e.contains("spec.addressing.upstreams.app-c: 9091 is the port"),
        "{e}"
    );
    let e = plan_error(|t| t.replace("mode: local-upstreams", "mode: dns"));
    assert!(
        e.contains("spec.addressing.upstreams: only for mode `local-upstreams`"),
        "{e}"
    );
    let e = plan_error(|t| t.replace("\"{account}\"", "\"{acount}\""));
    assert!(e.contains("spec.onboarding.podAnnotations.consul.hashicorp.com/connect-service: unknown placeholder"), "{e}");
}
