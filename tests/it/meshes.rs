//! The mesh catalog: every pin loads and validates, `list meshes` shows each, `plan --mesh <each>`
//! renders a full plan (snapshot), and cluster compatibility is enforced (default pick, exit 2, --force).

use crate::common;

use common::{bin, repo};
use meshproof::spec::catalog::Catalog;
use meshproof::spec::mesh::InstallMethod;

const MESHES: [&str; 9] = [
    "none",
    "osm@1.2.4",
    "osm@1.1.3",
    "linkerd@2.14.10",
    "nginx-service-mesh@2.0.0",
    "traefik-mesh@1.4.8",
    "istio@1.1.6",
    "consul@1.5.0",
    "kuma@2.11.0",
];

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn every_pin_loads_and_declares_what_a_run_needs() {
    let catalog = Catalog::new(repo());
    let meshes = catalog.meshes().unwrap();
    let ids: Vec<String> = meshes.iter().map(|m| m.value.id()).collect();
    for want in MESHES {
        assert!(
            ids.contains(&want.to_string()),
            "{want} missing from {ids:?}"
        );
    }
    for m in &meshes {
        let s = &m.value.spec;
        assert!(!s.sources.is_empty(), "{}", m.path);
        // Every pin that installs something says where and how it is known to be ready.
        if matches!(
            s.install.method,
            InstallMethod::Helm | InstallMethod::Manifests
        ) {
            assert!(!s.namespaces.is_empty(), "{}", m.path);
            assert!(!s.readiness.is_empty(), "{}", m.path);
            assert!(s.kubernetes.versions.is_some(), "{}", m.path);
        }
        // A pin that cannot be installed says why, and its project note says what is known.
        if s.install.method == InstallMethod::Unpinned {
            assert!(s.install.reason.is_some(), "{}", m.path);
            assert!(s.project.note.is_some(), "{}", m.path);
        }
        // Expected capability is stated for every case of the suite.
        for case in [
            "traffic-access",
            "traffic-spec",
            "traffic-split",
            "traffic-metrics",
        ] {
            assert!(s.expected.contains_key(case), "{}: {case}", m.path);
        }
        // Every pin but the control says how its mesh denies (or which fact is missing) and what
        // proves a pod joined it, each with its upstream source; the control declares neither.
        let (d, dp) = (&s.denial, &s.data_plane);
        if s.install.method == InstallMethod::None {
            assert!(d.signatures.is_empty() && dp.is_none(), "{}", m.path);
        } else {
            assert!(
                !d.signatures.is_empty() || d.unknown.is_some(),
                "{}: no denial signature",
                m.path
            );
            assert!(
                d.signatures.iter().all(|sig| !sig.source.trim().is_empty()),
                "{}",
                m.path
            );
            assert!(!dp.is_none() && !dp.sources.is_empty(), "{}", m.path);
        }
        // No lock file ships: none was produced by resolving the real artifacts here.
        let lock = repo().join(meshproof::spec::mesh::Mesh::lock_path(&m.path));
        assert!(!lock.exists(), "{} must not be committed", lock.display());
    }
    // Linkerd installs three charts in order, the control plane with generated identity.
    let l = catalog.select_mesh("linkerd").unwrap().value;
    let charts: Vec<(&str, &str)> = l
        .spec
        .install
        .helm_charts()
        .iter()
        .map(|h| (h.chart.as_str(), h.version.as_str()))
        .collect();
    assert_eq!(
        charts,
        [
            ("linkerd-crds", "1.8.0"),
            ("linkerd-control-plane", "1.16.11"),
            ("linkerd-smi", "1.0.4")
        ]
    );
    // Traefik Mesh is reached through its own DNS names.
    let t = catalog.select_mesh("traefik-mesh").unwrap().value;
    assert_eq!(t.host("app-b", "ns1"), "app-b.ns1.traefik.mesh");
    // The denials the outcome classes rely on, as the pins declare them.
    let osm = catalog.select_mesh("osm@1.2.4").unwrap().value;
    let names: Vec<&str> = osm
        .spec
        .denial
        .signatures
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "envoy-rbac",
            "no-route",
            "no-outbound-listener",
            "no-filter-chain"
        ]
    );
    // Egress off, so a caller without an allowed upstream is refused as OSM's e2e tests expect.
    assert_eq!(
        osm.spec.install.helm.as_ref().unwrap().values["osm"]["enableEgress"],
        false
    );
    assert_eq!(osm.spec.data_plane.container.as_deref(), Some("envoy"));
    assert_eq!(
        l.spec.denial.signatures[0].header.as_deref(),
        Some("l5d-proxy-error")
    );
    assert_eq!(
        l.spec.data_plane.container.as_deref(),
        Some("linkerd-proxy")
    );
    let np = t.spec.data_plane.node_proxy.as_ref().unwrap();
    assert_eq!(
        (np.daemon_set.name.as_str(), np.dns_suffix.as_str()),
        ("traefik-mesh-proxy", "traefik.mesh")
    );
    // NSM denies by default so TrafficTargets are enforced.
    let n = catalog.select_mesh("nginx-service-mesh").unwrap().value;
    assert_eq!(
        n.spec.install.helm.as_ref().unwrap().values["accessControlMode"],
        "deny"
    );
}

#[test]
fn list_meshes_shows_version_smi_versions_and_status() {
    let out = stdout(&bin().args(["list", "meshes"]).assert().code(0));
    for (id, status) in [
        ("osm@1.1.3", "archived"),
        ("linkerd@2.14.10", "active"),
        ("nginx-service-mesh@2.0.0", "archived"),
        ("traefik-mesh@1.4.8", "unmaintained"),
        ("istio@1.1.6", "unmaintained"),
        ("consul@1.5.0", "unmaintained"),
        ("kuma@2.11.0", "active"),
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not listed:\n{out}"));
        assert!(line.contains(status), "{line}");
    }
    assert!(out.contains("split:v1alpha1+v1alpha2"), "{out}");
    assert!(
        out.contains("access:v1alpha2 specs:v1alpha3 split:v1alpha3"),
        "{out}"
    );
}

#[test]
fn plan_renders_for_every_mesh() {
    for id in MESHES {
        let a = bin().args(["plan", "--mesh", id]).assert().code(0);
        let out = stdout(&a);
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[digest]");
        settings.add_filter(r"sha256 [0-9a-f]{64}", "sha256 [digest]");
        settings.set_snapshot_suffix(id.replace('@', "-"));
        settings.bind(|| insta::assert_snapshot!("plan", out));
    }
}

#[test]
fn plan_shows_helm_commands_and_chosen_variants() {
    let out = stdout(&bin().args(["plan", "--mesh", "linkerd"]).assert().code(0));
    for want in [
        "helm template linkerd-crds linkerd-crds-1.8.0.tgz --namespace linkerd --include-crds",
        "helm template linkerd-control-plane linkerd-control-plane-1.16.11.tgz --namespace linkerd --include-crds --values <generated values> --kube-version <the cluster's version> --api-versions <each API version the cluster serves>",
        "check chart tarball sha256 065a24a4aa05a3b5fa72e4605bd87ffcd154a0db176103d7f29bc04c6fab45a7 (pin)",
        "generate Linkerd identity certificates",
        "variant split-v1alpha2-open",
        "cluster  kind-v0.25.0-k8s-1.28",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let out = stdout(
        &bin()
            .args(["plan", "--mesh", "nginx-service-mesh"])
            .assert()
            .code(0),
    );
    assert!(out.contains("variant split-v1alpha3"), "{out}");
    assert!(out.contains("variant access-v1alpha2"), "{out}");
    assert!(
        out.contains("check chart tarball sha256 021eadef587547ffef1fcaa936c2ad10a7dcf7a3aeca3453bdefe0ef9831d8f6 (pin)"),
        "{out}"
    );
    // Traefik Mesh: chart 3.0.8 runs the v1.4.8 controller; v1beta1 CRDs pick the Kubernetes 1.21 pin.
    let out = stdout(
        &bin()
            .args(["plan", "--mesh", "traefik-mesh"])
            .assert()
            .code(0),
    );
    for want in [
        "cluster  kind-v0.11.1-k8s-1.21",
        "helm template traefik-mesh traefik-mesh-3.0.8.tgz --namespace traefik-mesh --include-crds --values <pinned values>",
        "check chart tarball sha256 7f5e9e6c6b07d43e081e01adf40ab42df496c855f911b48aa98e41b01c417261 (pin)",
        "drop rendered Helm hooks other than pre-install/post-install",
        "service names {service}.{namespace}.traefik.mesh",
        "variant access-v1alpha2",
        "variant split-v1alpha3",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

#[test]
fn the_default_cluster_is_the_newest_compatible_pin() {
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["plan", "--format", "json"];
        all.extend_from_slice(args);
        serde_json::from_str(&stdout(&bin().args(&all).assert().code(0))).unwrap()
    };
    assert_eq!(
        json(&["--mesh", "osm"])["cluster"]["name"],
        "kind-v0.21.0-k8s-1.24"
    );
    assert_eq!(
        json(&["--mesh", "linkerd"])["cluster"]["name"],
        "kind-v0.25.0-k8s-1.28"
    );
    assert_eq!(json(&["--mesh", "none"])["cluster"]["name"], "kind-v0.32.0");
    // NSM 2.0.0 is built against client-go 0.26 (Kubernetes 1.26): its range stops before 1.27.
    assert_eq!(
        json(&["--mesh", "nginx-service-mesh"])["cluster"]["name"],
        "kind-v0.21.0-k8s-1.24"
    );
    // OSM 1.1.x and the v1beta1-CRD charts need Kubernetes < 1.23 / < 1.22.
    assert_eq!(
        json(&["--mesh", "osm@1.1.3"])["cluster"]["name"],
        "kind-v0.11.1-k8s-1.21"
    );
    assert_eq!(
        json(&["--mesh", "traefik-mesh"])["cluster"]["name"],
        "kind-v0.11.1-k8s-1.21"
    );
    // No cluster pin fits: the plan renders but says run refuses.
    let home = catalog_with_future_mesh();
    let out = bin()
        .env("MESHPROOF_HOME", home.path())
        .args(["plan", "--format", "json", "--mesh", "future@1.0.0"])
        .assert()
        .code(0);
    let p: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        p["blocked"].as_str().unwrap().contains("no cluster pin"),
        "{p}"
    );
}

/// The repository's catalog plus a mesh pin no cluster pin can run (Kubernetes >= 9).
fn catalog_with_future_mesh() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    common::copy_catalog(home.path());
    let none = std::fs::read_to_string(repo().join("meshes/none.yaml")).unwrap();
    let future = none
        .replacen("name: none", "name: future\n  version: \"1.0.0\"", 1)
        .replacen(
            "spec:\n",
            "spec:\n  kubernetes:\n    versions: \">=9.0.0\"\n",
            1,
        );
    assert!(
        future.contains(">=9.0.0") && future.contains("name: future"),
        "{future}"
    );
    std::fs::create_dir_all(home.path().join("meshes/future")).unwrap();
    std::fs::write(home.path().join("meshes/future/1.0.0.yaml"), future).unwrap();
    home
}

#[test]
fn an_incompatible_cluster_is_refused_unless_forced() {
    let a = bin()
        .args(["plan", "--mesh", "osm@1.2.4", "--cluster", "kind-v0.32.0"])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(
        err.contains("cluster kind-v0.32.0 runs Kubernetes 1.36.1, but mesh osm@1.2.4 is known to work on >=1.22.9, <1.25")
            && err.contains("--force"),
        "{err}"
    );
    bin()
        .args(["run", "--mesh", "osm@1.2.4", "--cluster", "kind-v0.32.0"])
        .assert()
        .code(2);
    let a = bin()
        .args([
            "plan",
            "--mesh",
            "osm@1.2.4",
            "--cluster",
            "kind-v0.32.0",
            "--force",
            "--format",
            "json",
        ])
        .assert()
        .code(0);
    let p: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert!(
        p["forced"]
            .as_str()
            .unwrap()
            .starts_with("--force: cluster kind-v0.32.0"),
        "{p}"
    );
    // Without --force, a mesh with no compatible pin is refused by `run` before anything starts.
    let home = catalog_with_future_mesh();
    let a = bin()
        .env("MESHPROOF_HOME", home.path())
        .args(["run", "--mesh", "future@1.0.0"])
        .assert()
        .code(2);
    assert!(stderr(&a).contains("--force"), "{}", stderr(&a));
}

#[test]
fn unpinned_meshes_render_but_do_not_run() {
    let out = stdout(&bin().args(["plan", "--mesh", "istio"]).assert().code(0));
    assert!(out.contains("not installable reproducibly"), "{out}");
    assert!(out.contains("smi-adapter-istio:latest"), "{out}");
    let a = bin()
        .args(["run", "--mesh", "istio", "--force"])
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("cannot be installed reproducibly"),
        "{}",
        stderr(&a)
    );
    bin().args(["lock", "--mesh", "consul"]).assert().code(2);
}

/// The e2e workflow runs every installable pin, each on the cluster `plan` picks for it.
#[test]
fn the_e2e_matrix_covers_every_installable_pin_on_its_default_cluster() {
    let text = std::fs::read_to_string(repo().join(".github/workflows/e2e.yml")).unwrap();
    let wf: serde_json::Value = meshproof::yaml::from_str("e2e.yml", &text).unwrap();
    let include = wf["jobs"]["run"]["strategy"]["matrix"]["include"]
        .as_array()
        .expect("matrix.include");
    let rows: Vec<(String, String)> = include
        .iter()
        .map(|r| {
            (
                r["mesh"].as_str().unwrap().to_string(),
                r["cluster"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let catalog = Catalog::new(repo());
    for m in catalog.meshes().unwrap() {
        let id = m.value.id();
        let installable = m.value.spec.install.method != InstallMethod::Unpinned;
        let in_matrix = rows.iter().any(|(mesh, _)| *mesh == id);
        assert_eq!(
            installable, in_matrix,
            "{id}: installable={installable}, in the e2e matrix={in_matrix}"
        );
        if !installable {
            continue;
        }
        let plan: serde_json::Value = serde_json::from_str(&stdout(
            &bin()
                .args(["plan", "--format", "json", "--mesh", &id])
                .assert()
                .code(0),
        ))
        .unwrap();
        let default = plan["cluster"]["name"].as_str().unwrap();
        assert!(
            rows.contains(&(id.clone(), default.to_string())),
            "{id} runs on {default} by default, but the e2e matrix has {rows:?}"
        );
    }
    // Every row names a real cluster pin.
    for (_, cluster) in &rows {
        catalog.select_cluster(cluster).unwrap();
    }
}
