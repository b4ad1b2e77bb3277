//! Installers: manifest download + sha256 against a local HTTP server, Helm index resolution and
//! chart digests (pin, lock, index), lock files (`run` exits 3 on a mismatch), Linkerd identity
//! certificates, Secret redaction, image-digest rewriting, `helm template` when helm exists, and
//! the `cli` method (a pinned `#!/bin/sh` CLI served locally, plain or in a `.tar.gz`).

use crate::common;
use crate::common::http::{FakeHttp, Reply};

use std::collections::BTreeMap;
use std::path::Path;

use meshproof::install::{self, certs::LinkerdIdentity, cli, helm, images, lock, InstallError};
use meshproof::spec::mesh::{Cli, CliDownload, Helm, RemoteFile, RenderStep};

/// The shared fake HTTP server serving fixed paths (404 otherwise) until the test ends.
fn serve(files: BTreeMap<String, Vec<u8>>) -> String {
    let server = FakeHttp::start(move |req, _| match files.get(&req.target) {
        Some(b) => Reply::new(200).body(b),
        None => Reply::new(404).body(b"not found"),
    });
    server.url()
}

fn sha(b: &[u8]) -> String {
    meshproof::sha256_hex(b)
}

const MANIFEST: &[u8] = b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mesh-system\n";

#[test]
fn manifests_are_downloaded_and_checked() {
    let base = serve(BTreeMap::from([
        ("/deploy/mesh.yaml".to_string(), MANIFEST.to_vec()),
        (
            "/deploy/tampered.yaml".to_string(),
            b"kind: Evil\n".to_vec(),
        ),
    ]));
    let good = RemoteFile {
        url: format!("{base}/deploy/mesh.yaml"),
        sha256: sha(MANIFEST),
    };
    let got = install::manifests::fetch_all(std::slice::from_ref(&good)).unwrap();
    assert_eq!(got[0].bytes, MANIFEST);
    assert_eq!(got[0].name, "01-mesh.yaml");

    let tampered = RemoteFile {
        url: format!("{base}/deploy/tampered.yaml"),
        sha256: sha(MANIFEST),
    };
    let e = install::manifests::fetch_all(&[good, tampered.clone()]).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, InstallError::DigestMismatch { .. }), "{msg}");
    assert!(msg.contains(&tampered.url), "{msg}");
    assert!(
        msg.contains(&format!("but the pin says {}", sha(MANIFEST))),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("has sha256 {}", sha(b"kind: Evil\n"))),
        "{msg}"
    );

    let missing = RemoteFile {
        url: format!("{base}/nope.yaml"),
        sha256: sha(MANIFEST),
    };
    let e = install::manifests::fetch_all(&[missing])
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.yaml") && e.contains("404"), "{e}");
    // Plain http is refused off the loopback interface.
    assert!(install::fetch::get("http://example.invalid/x").is_err());
}

fn chart(repo: &str, digest: Option<&str>) -> Helm {
    serde_json::from_value(serde_json::json!({
        "repo": repo, "chart": "demo", "version": "1.2.3", "release": "demo",
        "namespace": "demo-system", "digest": digest,
    }))
    .unwrap()
}

fn index(tgz_sha: &str) -> Vec<u8> {
    format!(
        "apiVersion: v1\nentries:\n  demo:\n  - name: demo\n    version: 1.2.4\n    urls: [demo-1.2.4.tgz]\n  - name: demo\n    version: 1.2.3\n    digest: {tgz_sha}\n    urls:\n    - charts/demo-1.2.3.tgz\n"
    )
    .into_bytes()
}

#[test]
fn charts_are_located_through_the_index_and_checked_against_pin_lock_and_index() {
    let tgz = b"pretend this is demo-1.2.3.tgz".to_vec();
    let base = serve(BTreeMap::from([
        ("/index.yaml".to_string(), index(&sha(&tgz))),
        ("/charts/demo-1.2.3.tgz".to_string(), tgz.clone()),
    ]));
    let a = helm::fetch_chart(&chart(&base, Some(&sha(&tgz))), None).unwrap();
    assert_eq!(a.url, format!("{base}/charts/demo-1.2.3.tgz"));
    assert_eq!(a.sha256, sha(&tgz));
    assert_eq!(a.index_digest.as_deref(), Some(sha(&tgz).as_str()));

    // A lock that disagrees with the served tarball is refused, naming the lock.
    let wrong = "0".repeat(64);
    let e = helm::fetch_chart(&chart(&base, None), Some(&wrong))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the lock file says") && e.contains(&wrong) && e.contains(&sha(&tgz)),
        "{e}"
    );
    // An unknown version lists what the index has.
    let mut h = chart(&base, None);
    h.version = "9.9.9".into();
    let e = helm::fetch_chart(&h, None).unwrap_err().to_string();
    assert!(e.contains("versions listed: 1.2.4, 1.2.3"), "{e}");
}

/// A catalog root with the repository's clusters, workloads, suites and `meshes/none.yaml`,
/// and an empty `meshes/demo/`.
fn base_catalog(dir: &Path) {
    let copy = |rel: &str| {
        let tree = meshproof::spec::catalog::read_tree(&common::repo().join(rel)).unwrap();
        for (k, v) in tree {
            let p = dir.join(rel).join(k);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, v).unwrap();
        }
    };
    for rel in ["clusters", "workloads", "suites"] {
        copy(rel);
    }
    std::fs::create_dir_all(dir.join("meshes/demo")).unwrap();
    std::fs::write(
        dir.join("meshes/none.yaml"),
        std::fs::read(common::repo().join("meshes/none.yaml")).unwrap(),
    )
    .unwrap();
}

/// A catalog root with the repository's clusters, workloads and suites and one local mesh pin.
fn local_catalog(dir: &Path, repo_url: &str, pin_digest: Option<&str>, lock_sha: &str) {
    base_catalog(dir);
    let digest = pin_digest
        .map(|d| format!("      digest: {d}\n"))
        .unwrap_or_default();
    std::fs::write(
        dir.join("meshes/demo/1.2.3.yaml"),
        format!(
            "apiVersion: meshproof.dev/v1alpha1\nkind: Mesh\nmetadata:\n  name: demo\n  version: \"1.2.3\"\n  description: a local chart\nspec:\n  project: {{name: Demo, url: https://example.invalid, status: active}}\n  install:\n    method: helm\n    helm:\n      repo: {repo_url}\n      chart: demo\n      version: \"1.2.3\"\n      release: demo\n      namespace: demo-system\n{digest}  namespaces: [demo-system]\n  readiness:\n    - {{kind: Deployment, namespace: demo-system, name: demo}}\n  denial: {{unknown: test}}\n  dataPlane: {{container: demo-proxy, sources: [test]}}\n  sources: [\"test\"]\n"
        ),
    )
    .unwrap();
    let l = lock::Lock {
        api_version: "meshproof.dev/v1alpha1".into(),
        kind: "MeshLock".into(),
        metadata: meshproof::spec::Metadata {
            name: "demo".into(),
            version: Some("1.2.3".into()),
            description: "test".into(),
        },
        spec: lock::LockSpec {
            charts: vec![lock::LockedChart {
                repo: repo_url.into(),
                chart: "demo".into(),
                version: "1.2.3".into(),
                url: format!("{repo_url}/charts/demo-1.2.3.tgz"),
                sha256: lock_sha.into(),
            }],
            manifests: vec![],
            cli: vec![],
            images: vec![],
        },
    };
    std::fs::write(dir.join("meshes/demo/1.2.3.lock.yaml"), lock::render(&l)).unwrap();
}

#[test]
fn lock_files_round_trip_and_are_checked_against_the_pin() {
    let tmp = tempfile::tempdir().unwrap();
    local_catalog(
        tmp.path(),
        "https://charts.example.invalid",
        Some(&"a".repeat(64)),
        &"b".repeat(64),
    );
    let catalog = meshproof::spec::catalog::Catalog::new(tmp.path());
    let pin = catalog.select_mesh("demo").unwrap();
    let l = lock::load_for(&catalog, &pin).unwrap().expect("lock found");
    assert_eq!(l.path, "meshes/demo/1.2.3.lock.yaml");
    assert_eq!(l.value.spec.charts[0].sha256, "b".repeat(64));
    // Lock files are not mesh pins.
    assert_eq!(catalog.meshes().unwrap().len(), 2);
    let e = lock::check(&pin.value, &l.value, &l.path)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "the lock says sha256 {}, the pin says {}",
            "b".repeat(64),
            "a".repeat(64)
        )),
        "{e}"
    );
    // `run` refuses the pair before anything starts, exit 3.
    let a = common::bin()
        .env("MESHPROOF_HOME", tmp.path())
        .args(["run", "--mesh", "demo", "--cluster", "kind-v0.32.0"])
        .assert()
        .code(3);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("verification failed") && err.contains("1.2.3.lock.yaml"),
        "{err}"
    );
}

#[test]
fn run_checks_the_served_chart_against_the_lock_and_exits_3() {
    let tgz = b"the chart the lock was made from".to_vec();
    let tampered = b"a chart that changed upstream".to_vec();
    let base = serve(BTreeMap::from([
        ("/index.yaml".to_string(), index(&sha(&tampered))),
        ("/charts/demo-1.2.3.tgz".to_string(), tampered.clone()),
    ]));
    let tmp = tempfile::tempdir().unwrap();
    local_catalog(tmp.path(), &base, None, &sha(&tgz));
    let out = tmp.path().join("run.tar.zst");
    let a = common::bin()
        .env("MESHPROOF_HOME", tmp.path())
        .args([
            "run",
            "--mesh",
            "demo@1.2.3",
            "--cluster",
            "kind-v0.32.0",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(3);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains(&format!("{base}/charts/demo-1.2.3.tgz"))
            && err.contains(&sha(&tgz))
            && err.contains(&sha(&tampered))
            && err.contains("the lock file"),
        "{err}"
    );
    assert!(
        !out.exists(),
        "nothing is written before the artifacts verify"
    );
}

#[test]
fn linkerd_identity_is_a_p256_chain_the_anchor_verifies() {
    use x509_parser::prelude::*;
    let now = ::time::OffsetDateTime::now_utc();
    let id = LinkerdIdentity::generate("cluster.local", now).unwrap();
    let pem_der = |p: &str| {
        ::x509_parser::pem::parse_x509_pem(p.as_bytes())
            .unwrap()
            .1
            .contents
    };
    let anchor_der = pem_der(&id.trust_anchor_pem);
    let issuer_der = pem_der(&id.issuer_cert_pem);
    let (_, anchor) = X509Certificate::from_der(&anchor_der).unwrap();
    let (_, issuer) = X509Certificate::from_der(&issuer_der).unwrap();

    assert_eq!(
        anchor.subject().to_string(),
        "CN=root.linkerd.cluster.local"
    );
    assert_eq!(
        issuer.subject().to_string(),
        "CN=identity.linkerd.cluster.local"
    );
    assert_eq!(issuer.issuer(), anchor.subject());
    // Both are CAs; the issuer is an intermediate that may not sign further CAs.
    assert!(anchor.is_ca() && issuer.is_ca());
    let bc = issuer.basic_constraints().unwrap().unwrap().value;
    assert_eq!(bc.path_len_constraint, Some(0));
    // ECDSA P-256 keys, ECDSA-SHA256 signatures.
    for c in [&anchor, &issuer] {
        let spki = c.public_key();
        assert_eq!(
            spki.algorithm.algorithm,
            x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
        );
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .unwrap()
            .as_oid()
            .unwrap();
        assert_eq!(curve, x509_parser::oid_registry::OID_EC_P256);
        assert_eq!(
            c.signature_algorithm.algorithm,
            x509_parser::oid_registry::OID_SIG_ECDSA_WITH_SHA256
        );
    }
    // The chain verifies: anchor self-signed, issuer signed by the anchor, not by itself.
    anchor.verify_signature(None).unwrap();
    issuer.verify_signature(Some(anchor.public_key())).unwrap();
    assert!(issuer.verify_signature(None).is_err());
    // Currently valid (NotBefore ≤ now ≤ NotAfter), anchor 87600h, issuer 8760h.
    let ts = now.unix_timestamp();
    for (c, hours) in [(&anchor, 87_600i64), (&issuer, 8_760)] {
        let v = c.validity();
        assert!(v.not_before.timestamp() <= ts && ts <= v.not_after.timestamp());
        assert_eq!(v.not_after.timestamp() - ts, hours * 3600);
    }
    // The key is only in the install-time values.
    let with_key = serde_json::to_string(&id.helm_values()).unwrap();
    assert!(with_key.contains("PRIVATE KEY"));
    let public = serde_json::to_string(&id.public_values()).unwrap();
    assert!(
        !public.contains("PRIVATE KEY")
            && public.contains(&id.issuer_cert_pem.replace('\n', "\\n"))
    );
    assert!(!format!("{id:?}").contains("PRIVATE KEY"));
}

#[test]
fn secret_data_is_redacted_from_recorded_manifests() {
    let rendered = "---\nkind: ConfigMap\napiVersion: v1\nmetadata:\n  name: linkerd-identity-trust-roots\ndata:\n  ca-bundle.crt: |\n    -----BEGIN CERTIFICATE-----\n    MIIB\n---\nkind: Secret\napiVersion: v1\nmetadata:\n  name: linkerd-identity-issuer\n  namespace: linkerd\ndata:\n  crt.pem: LS0tLS1CRUdJTg==\n  key.pem: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t\nstringData:\n  extra: |\n    -----BEGIN EC PRIVATE KEY-----\n    abc\ntype: Opaque\n";
    let r = helm::redact_secrets(rendered);
    assert!(
        !r.contains("LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t") && !r.contains("PRIVATE KEY"),
        "{r}"
    );
    assert!(
        r.contains("  key.pem: REDACTED-BY-MESHPROOF\n")
            && r.contains("  extra: REDACTED-BY-MESHPROOF\n"),
        "{r}"
    );
    assert!(
        r.contains("type: Opaque") && r.contains("name: linkerd-identity-issuer"),
        "{r}"
    );
    // Non-secret documents are untouched.
    assert!(r.contains("    MIIB\n"), "{r}");
}

const RENDERED: &str = r#"---
# Source: osm/templates/osm-deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: osm-controller
spec:
  template:
    spec:
      initContainers:
        - name: init-osm-controller
          image: curlimages/curl
          args: ["--retry"]
      containers:
        - name: osm-controller
          image: "openservicemesh/osm-controller:v1.2.4"
          imagePullPolicy: IfNotPresent
        - image: registry.local:5000/team/sidecar:1.0 # the proxy
          name: proxy
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: spire-agent
spec:
  template:
    spec:
      initContainers:
      - name: init
        image: 'docker-registry.nginx.com/nsm/nginx-mesh-init:2.0.0'
      containers:
      - name: spire-agent
        image: ghcr.io/spiffe/spire-agent:1.5.6
---
apiVersion: batch/v1
kind: Job
metadata:
  name: preinstall
spec:
  template:
    spec:
      containers:
      - name: preinstall
        image: openservicemesh/osm-preinstall@sha256:dc0353add9b2efd1d55a9e358172d9595188a3eaa7078bc2d07c38882e731802
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: heartbeat
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: heartbeat
            image: cr.l5d.io/linkerd/controller:stable-2.14.10
"#;

#[test]
fn images_are_rewritten_to_observed_digests() {
    let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let observed = BTreeMap::from([
        // Pod statuses name images as the runtime normalized them.
        (
            "docker.io/curlimages/curl:latest".to_string(),
            format!("docker.io/curlimages/curl@{}", d('1')),
        ),
        (
            "docker.io/curlimages/curl".to_string(),
            format!("docker.io/curlimages/curl@{}", d('1')),
        ),
        (
            "docker.io/openservicemesh/osm-controller:v1.2.4".to_string(),
            format!("docker.io/openservicemesh/osm-controller@{}", d('2')),
        ),
        ("registry.local:5000/team/sidecar:1.0".to_string(), d('3')),
        (
            "docker-registry.nginx.com/nsm/nginx-mesh-init:2.0.0".to_string(),
            format!(
                "docker-pullable://docker-registry.nginx.com/nsm/nginx-mesh-init@{}",
                d('4')
            ),
        ),
        (
            "cr.l5d.io/linkerd/controller:stable-2.14.10".to_string(),
            format!("cr.l5d.io/linkerd/controller@{}", d('5')),
        ),
    ]);
    let r = images::pin_images(RENDERED, &observed);
    let t = &r.text;
    assert!(
        t.contains(&format!("          image: curlimages/curl@{}\n", d('1'))),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "          image: \"openservicemesh/osm-controller@{}\"\n",
            d('2')
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "        - image: registry.local:5000/team/sidecar@{} # the proxy\n",
            d('3')
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "        image: 'docker-registry.nginx.com/nsm/nginx-mesh-init@{}'\n",
            d('4')
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "            image: cr.l5d.io/linkerd/controller@{}\n",
            d('5')
        )),
        "{t}"
    );
    // Already pinned references are kept; unknown ones are reported, not guessed.
    assert!(t.contains(
        "osm-preinstall@sha256:dc0353add9b2efd1d55a9e358172d9595188a3eaa7078bc2d07c38882e731802"
    ));
    assert_eq!(
        r.unresolved,
        vec!["ghcr.io/spiffe/spire-agent:1.5.6".to_string()]
    );
    assert_eq!(r.pinned.len(), 5);
    // Nothing else changed: same number of lines, every other line identical.
    assert_eq!(t.lines().count(), RENDERED.lines().count());
    let changed = t
        .lines()
        .zip(RENDERED.lines())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(changed, 5);
    // The result still parses as the same documents.
    let docs = meshproof::yaml::documents("pinned", t).unwrap();
    assert_eq!(docs.len(), 4);
    assert_eq!(
        images::repository("registry.local:5000/team/sidecar:1.0"),
        "registry.local:5000/team/sidecar"
    );
}

/// True when a working `helm` is on PATH. Otherwise the test is skipped, saying why, unless
/// `MESHPROOF_REQUIRE_HELM=1` (GitHub CI and the flake's checks, which have helm) makes it fail.
fn helm_available() -> bool {
    let found = std::process::Command::new("helm")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !meshproof::env::require_helm(),
            "{}=1 but no working `helm` binary is on PATH",
            meshproof::env::MESHPROOF_REQUIRE_HELM
        );
        common::gate::skip(
            "helm_template_renders_a_local_chart",
            &format!(
                "no working `helm` binary on PATH (set {}=1 to make this a failure)",
                meshproof::env::MESHPROOF_REQUIRE_HELM
            ),
        );
    }
    found
}

/// A stand-in `helm`: records its arguments, one per line, in `argv` and prints `rendered`.
#[cfg(unix)]
fn fake_helm(dir: &Path, argv: &Path, rendered: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("helm");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\ncat <<'EOF'\n{rendered}EOF\n",
            argv.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// The value following each occurrence of `flag` in a recorded argv.
fn flag_values(argv: &Path, flag: &str) -> Vec<String> {
    let text = std::fs::read_to_string(argv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].to_string())
        .collect()
}

/// A local Helm repository serving `demo-1.2.3.tgz` and a pin for it (chart digest pinned).
fn served_demo_chart() -> (meshproof::spec::mesh::Mesh, String) {
    let tgz = b"pretend this is demo-1.2.3.tgz".to_vec();
    let base = serve(BTreeMap::from([
        ("/index.yaml".to_string(), index(&sha(&tgz))),
        ("/charts/demo-1.2.3.tgz".to_string(), tgz.clone()),
    ]));
    let pin = format!(
        "apiVersion: meshproof.dev/v1alpha1\nkind: Mesh\nmetadata:\n  name: demo\n  version: \"1.2.3\"\n  description: d\nspec:\n  project: {{name: Demo, url: https://example.invalid, status: active}}\n  install:\n    method: helm\n    helm:\n      repo: {base}\n      chart: demo\n      version: \"1.2.3\"\n      release: demo\n      namespace: demo-system\n      digest: {}\n  namespaces: [demo-system]\n  denial: {{unknown: test}}\n  dataPlane: {{container: demo-proxy, sources: [test]}}\n  sources: [\"test\"]\n",
        sha(&tgz)
    );
    (meshproof::spec::mesh::load("demo.yaml", &pin).unwrap(), pin)
}

/// `run` renders a chart for the cluster it created: `helm template` gets the API server's
/// version and every served API version, and the bundle records both.
#[cfg(unix)]
#[test]
fn helm_template_receives_the_cluster_version_and_api_versions() {
    let (mesh, _) = served_demo_chart();
    let tmp = tempfile::tempdir().unwrap();
    let argv = tmp.path().join("argv");
    let helm_bin = fake_helm(
        tmp.path(),
        &argv,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n",
    );
    let caps = helm::Capabilities {
        kube_version: "v1.24.17".into(),
        api_versions: vec![
            "apps/v1".into(),
            "apps/v1/Deployment".into(),
            "policy/v1/PodDisruptionBudget".into(),
            "v1".into(),
        ],
    };
    let scratch = tempfile::tempdir().unwrap();
    let r = install::render::render_mesh(&mesh, None, scratch.path(), &helm_bin, &caps).unwrap();
    assert_eq!(r.steps.len(), 1);
    assert!(r.steps[0].text.contains("name: demo"), "{:?}", r.steps);

    let recorded = std::fs::read_to_string(&argv).unwrap();
    assert!(recorded.starts_with("template\ndemo\n"), "{recorded}");
    assert_eq!(
        flag_values(&argv, "--kube-version"),
        ["v1.24.17"],
        "{recorded}"
    );
    assert_eq!(
        flag_values(&argv, "--api-versions"),
        caps.api_versions,
        "{recorded}"
    );
    // The values still go in, next to the capabilities.
    assert_eq!(flag_values(&argv, "--values").len(), 1, "{recorded}");

    // As `resolved/mesh.json` records them.
    let facts = serde_json::to_value(&r.record).unwrap();
    assert_eq!(
        facts["helm_capabilities"],
        serde_json::json!({"kube_version": "v1.24.17", "api_versions": caps.api_versions})
    );
    assert_eq!(
        facts["charts"][0]["command"],
        "helm template demo demo-1.2.3.tgz --namespace demo-system --include-crds --kube-version v1.24.17 --api-versions <4 served API versions>"
    );
}

/// The cluster-free half of rendering (what `run` does while kind creates the cluster) fetches
/// and checks the chart but runs no `helm`; the other half renders it for the cluster exactly as
/// `render_mesh` does in one go.
#[cfg(unix)]
#[test]
fn fetching_a_chart_runs_no_helm_and_rendering_it_later_gives_the_same_manifests() {
    let (mesh, _) = served_demo_chart();
    let tmp = tempfile::tempdir().unwrap();
    let argv = tmp.path().join("argv");
    let helm_bin = fake_helm(
        tmp.path(),
        &argv,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n",
    );
    let caps = helm::Capabilities {
        kube_version: "v1.24.17".into(),
        api_versions: vec!["v1".into()],
    };
    let scratch = tempfile::tempdir().unwrap();
    let fetched = install::render::fetch_mesh(&mesh, None, scratch.path()).unwrap();
    assert!(!argv.exists(), "helm ran before there was a cluster");
    assert!(fetched.rendered.steps.is_empty());
    assert_eq!(fetched.charts.len(), 1);
    assert_eq!(
        std::fs::read(&fetched.charts[0].tgz).unwrap(),
        b"pretend this is demo-1.2.3.tgz"
    );
    let later = install::render::render_fetched(&mesh, fetched, &helm_bin, &caps).unwrap();
    assert!(argv.exists());
    let again = tempfile::tempdir().unwrap();
    let at_once =
        install::render::render_mesh(&mesh, None, again.path(), &helm_bin, &caps).unwrap();
    assert_eq!(later, at_once);
    assert_eq!(later.steps.len(), 1);
}

/// `lock` has no cluster: it renders the chart for the Kubernetes version of the cluster pin `run`
/// picks by default, so a chart's `kubeVersion` gate sees a real cluster version there too.
#[cfg(unix)]
#[test]
fn lock_renders_charts_for_the_default_cluster_version() {
    let (_, pin) = served_demo_chart();
    let tmp = tempfile::tempdir().unwrap();
    base_catalog(tmp.path());
    std::fs::write(tmp.path().join("meshes/demo/1.2.3.yaml"), &pin).unwrap();
    let bin_dir = tmp.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let argv = tmp.path().join("argv");
    // No images in the rendered chart: the lock asks no registry.
    fake_helm(
        &bin_dir,
        &argv,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n",
    );
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let data = tmp.path().join("data");
    let a = common::bin()
        .env("MESHPROOF_HOME", tmp.path())
        .env("XDG_DATA_HOME", &data)
        .env("PATH", path)
        .args(["lock", "--mesh", "demo@1.2.3"])
        .assert()
        .code(0);
    // Into the user's data directory, never the catalog (the build tree, the Nix store).
    let written = data.join("meshproof/meshes/demo/1.2.3.lock.yaml");
    assert!(written.is_file());
    assert!(!tmp.path().join("meshes/demo/1.2.3.lock.yaml").exists());
    assert!(String::from_utf8_lossy(&a.get_output().stdout)
        .contains(&format!("wrote {}", written.display())));
    // `run` and `plan` read it from there.
    let catalog = meshproof::spec::catalog::Catalog::new(tmp.path())
        .with_user_locks(Some(data.join("meshproof")));
    let pin = catalog.select_mesh("demo@1.2.3").unwrap();
    let l = meshproof::install::lock::load_for(&catalog, &pin)
        .unwrap()
        .expect("the user lock is found");
    assert_eq!(l.path, written.display().to_string());
    assert!(meshproof::install::lock::load_for(
        &meshproof::spec::catalog::Catalog::new(tmp.path()),
        &pin
    )
    .unwrap()
    .is_none());
    let catalog = meshproof::spec::catalog::Catalog::new(tmp.path());
    let default = catalog
        .select_cluster(meshproof::spec::catalog::DEFAULT_CLUSTER)
        .unwrap();
    assert_eq!(
        flag_values(&argv, "--kube-version"),
        [format!("v{}", default.value.spec.kubernetes_version)],
        "{}",
        std::fs::read_to_string(&argv).unwrap()
    );
    assert!(flag_values(&argv, "--api-versions").is_empty());
}

#[test]
fn helm_template_renders_a_local_chart() {
    if !helm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("demo");
    std::fs::create_dir_all(c.join("templates")).unwrap();
    std::fs::create_dir_all(c.join("crds")).unwrap();
    // OSM 1.2.4's gate: a Helm rendering for its default Kubernetes version (v1.20.0 when built
    // without upstream's ldflags) refuses the chart unless it is told the cluster's.
    std::fs::write(
        c.join("Chart.yaml"),
        "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: v9\nkubeVersion: \">=1.22.9-0\"\n",
    )
    .unwrap();
    std::fs::write(c.join("values.yaml"), "mode: allow\nkey: \"\"\n").unwrap();
    std::fs::write(c.join("crds/crd.yaml"), "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: demos.example.com\n").unwrap();
    std::fs::write(
        c.join("templates/all.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n  namespace: {{ .Release.Namespace }}\ndata:\n  mode: {{ .Values.mode | quote }}\n  app: {{ .Chart.AppVersion | quote }}\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  pdb: {{ .Capabilities.APIVersions.Has \"policy/v1/PodDisruptionBudget\" | quote }}\n  smi: {{ .Capabilities.APIVersions.Has \"split.smi-spec.io/v1alpha2\" | quote }}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-key\ndata:\n  key.pem: {{ .Values.key | b64enc }}\n",
    )
    .unwrap();
    std::fs::write(
        c.join("templates/cleanup.yaml"),
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-cleanup\n  annotations:\n    helm.sh/hook: post-delete\n",
    )
    .unwrap();
    let values = tmp.path().join("values.json");
    std::fs::write(&values, r#"{"mode":"deny"}"#).unwrap();
    let secret = tmp.path().join("secret.json");
    std::fs::write(&secret, r#"{"key":"-----BEGIN EC PRIVATE KEY-----"}"#).unwrap();
    let h = chart("https://charts.example.invalid", None);
    let caps = helm::Capabilities {
        kube_version: "v1.24.17".into(),
        api_versions: vec![
            "v1".into(),
            "policy/v1".into(),
            "policy/v1/PodDisruptionBudget".into(),
            "split.smi-spec.io/v1alpha2".into(),
        ],
    };
    let args = helm::template_args(&h, &c, &[values.clone(), secret.clone()], &caps);
    let out = String::from_utf8(helm::render(Path::new("helm"), &args).unwrap()).unwrap();
    // `.Capabilities` is the cluster's, not Helm's built-in default.
    assert!(
        out.contains("kube: \"v1.24.17\"")
            && out.contains("pdb: \"true\"")
            && out.contains("smi: \"true\""),
        "{out}"
    );
    // Told an older cluster, Helm refuses the chart's kubeVersion gate.
    let old = helm::Capabilities {
        kube_version: "v1.20.0".into(),
        ..caps.clone()
    };
    let e = helm::render(
        Path::new("helm"),
        &helm::template_args(&h, &c, &[values, secret], &old),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(
            "chart requires kubeVersion: >=1.22.9-0 which is incompatible with Kubernetes v1.20.0"
        ),
        "{e}"
    );
    assert!(
        out.contains("name: demos.example.com"),
        "CRDs included:\n{out}"
    );
    assert!(
        out.contains("name: demo-config") && out.contains("namespace: demo-system"),
        "{out}"
    );
    assert!(
        out.contains("mode: \"deny\"") && out.contains("app: \"v9\""),
        "{out}"
    );
    // helm renders the post-delete hook; meshproof does not apply it.
    assert!(out.contains("name: demo-cleanup"), "{out}");
    let hooks = helm::drop_non_install_hooks(&out, "helm template demo").unwrap();
    assert_eq!(hooks.dropped, vec!["Job/demo-cleanup (post-delete)"]);
    assert!(hooks.kept.contains("name: demo-config") && !hooks.kept.contains("demo-cleanup"));
    let recorded = helm::redact_secrets(&out);
    assert!(
        !recorded.contains("LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t"),
        "{recorded}"
    );
    assert!(
        recorded.contains("key.pem: REDACTED-BY-MESHPROOF"),
        "{recorded}"
    );
}

// ---- method `cli` ----

/// A mesh pin with `method: cli`; `platforms` are `(key, url, sha256)`, `extra` is inserted into
/// the `cli` block after the platforms (6-space indented keys).
fn cli_pin(platforms: &[(&str, &str, &str)], extra: &str) -> String {
    let platforms: String = platforms
        .iter()
        .map(|(k, url, sha)| format!("        {k}: {{url: \"{url}\", sha256: \"{sha}\"}}\n"))
        .collect();
    format!(
        "apiVersion: meshproof.dev/v1alpha1\nkind: Mesh\nmetadata:\n  name: demo\n  version: \"1.2.3\"\n  description: a local CLI\nspec:\n  project: {{name: Demo, url: https://example.invalid, status: active}}\n  install:\n    method: cli\n    cli:\n      name: demo\n      platforms:\n{platforms}{extra}      render:\n        - {{args: [\"install\", \"--crds\"], namespace: demo-system}}\n        - {{args: [\"install\"], namespace: demo-system}}\n  namespaces: [demo-system]\n  readiness:\n    - {{kind: Deployment, namespace: demo-system, name: demo}}\n  denial: {{unknown: test}}\n  dataPlane: {{container: demo-proxy, sources: [test]}}\n  sources: [\"test\"]\n"
    )
}

fn load_pin(text: &str) -> Result<meshproof::spec::mesh::Mesh, String> {
    meshproof::spec::mesh::load("meshes/demo/1.2.3.yaml", text).map_err(|e| e.to_string())
}

#[test]
fn cli_pins_load_and_bad_fields_are_named() {
    let a = "a".repeat(64);
    let m = load_pin(&cli_pin(
        &[
            ("linux-x86_64", "https://cli.example.invalid/linux/demo", &a),
            (
                "macos-aarch64",
                "https://cli.example.invalid/macos/demo",
                &a,
            ),
        ],
        "      member: \"demo-1.2.3/demo\"\n",
    ))
    .unwrap();
    let i = &m.spec.install;
    assert_eq!(i.method.as_str(), "cli");
    assert!(i.fully_pinned());
    let c = i.cli.as_ref().unwrap();
    assert_eq!(c.name, "demo");
    assert_eq!(
        c.platforms.keys().collect::<Vec<_>>(),
        ["linux-x86_64", "macos-aarch64"]
    );
    assert_eq!(c.member.as_deref(), Some("demo-1.2.3/demo"));
    assert_eq!(
        c.render[0],
        RenderStep {
            args: vec!["install".into(), "--crds".into()],
            namespace: "demo-system".into()
        }
    );

    // Every bad field is reported with its path (and line).
    let text = cli_pin(
        &[
            ("linux-x86_64", "http://cli.example.invalid/demo", "ABC"),
            ("linux", "https://cli.example.invalid/demo", &a),
        ],
        "      member: \"../demo\"\n",
    )
    .replace("      name: demo\n", "      name: bin/demo\n")
    .replace("args: [\"install\"]", "args: []")
    .replace(
        "args: [\"install\", \"--crds\"], namespace: demo-system",
        "args: [\"install\", \"--crds\"], namespace: Demo_System",
    );
    let e = load_pin(&text).unwrap_err();
    for (field, says) in [
        ("spec.install.cli.name", "program name"),
        ("spec.install.cli.platforms.linux-x86_64.url", "https URL"),
        (
            "spec.install.cli.platforms.linux-x86_64.sha256",
            "64 lowercase hex digits",
        ),
        ("spec.install.cli.platforms.linux", "`<os>-<arch>`"),
        ("spec.install.cli.member", "relative path"),
        ("spec.install.cli.render[0].namespace", "DNS label"),
        ("spec.install.cli.render[1].args", "at least one argument"),
    ] {
        assert!(
            e.contains(&format!("{field}: must")) && e.contains(says),
            "{field} ({says}) not in:\n{e}"
        );
    }
    assert!(
        e.contains("meshes/demo/1.2.3.yaml:14: spec.install.cli.platforms.linux-x86_64.url"),
        "{e}"
    );

    // No platforms, no render steps.
    let e = load_pin(
        &cli_pin(&[], "")
            .replace("      platforms:\n", "      platforms: {}\n")
            .replace(
                "      render:\n        - {args: [\"install\", \"--crds\"], namespace: demo-system}\n        - {args: [\"install\"], namespace: demo-system}\n",
                "      render: []\n",
            ),
    )
    .unwrap_err();
    assert!(
        e.contains("spec.install.cli.platforms: pin at least one platform")
            && e.contains("spec.install.cli.render: list at least one render command"),
        "{e}"
    );
    // `cli` belongs to method `cli` only, and method `cli` takes nothing else.
    let good = cli_pin(
        &[("linux-x86_64", "https://cli.example.invalid/demo", &a)],
        "",
    );
    let e = load_pin(&good.replace("method: cli", "method: manifests")).unwrap_err();
    assert!(
        e.contains("spec.install.cli: only for method `cli`")
            && e.contains("spec.install.manifests: required"),
        "{e}"
    );
    let e = load_pin(&good.replace(
        "    method: cli\n",
        &format!(
            "    method: cli\n    manifests: [{{url: https://x.invalid/a.yaml, sha256: {a}}}]\n"
        ),
    ))
    .unwrap_err();
    assert!(
        e.contains("spec.install: method `cli` takes no helm, charts or manifests"),
        "{e}"
    );
    let no_cli = "apiVersion: meshproof.dev/v1alpha1\nkind: Mesh\nmetadata: {name: demo, version: \"1.2.3\", description: d}\nspec:\n  project: {name: Demo, url: https://example.invalid, status: active}\n  install: {method: cli}\n  denial: {unknown: test}\n  dataPlane: {container: demo-proxy, sources: [test]}\n  sources: [test]\n";
    let e = load_pin(no_cli).unwrap_err();
    assert!(
        e.contains("spec.install.cli: required when method is `cli`"),
        "{e}"
    );
    // Unknown fields are errors inside `cli` too.
    let e = load_pin(&good.replace("      name: demo\n", "      name: demo\n      sha: x\n"))
        .unwrap_err();
    assert!(
        e.contains("spec.install.cli.sha: unknown field `sha`"),
        "{e}"
    );
}

/// A stand-in mesh CLI: prints a ConfigMap naming its arguments and the environment it got.
const FAKE_CLI: &str = r#"#!/bin/sh
cat <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: rendered
data:
  args: "$*"
  home: "$HOME"
  kubeconfig: "$KUBECONFIG"
  inherited: "${CARGO_PKG_NAME:-cleared}"
YAML
"#;

/// A CLI that fails the way a real one does on a bad flag.
const FAILING_CLI: &str =
    "#!/bin/sh\necho 'starting up' >&2\necho \"error: unknown flag: $1\" >&2\nexit 1\n";
const SILENT_CLI: &[u8] = b"#!/bin/sh\nexit 0\n";
/// Hangs, with a background child holding its output pipes open.
const SLOW_CLI: &[u8] = b"#!/bin/sh\nsleep 30 &\necho $! > \"$HOME/background.pid\"\nwait\n";
const EVIL_CLI: &[u8] = b"#!/bin/sh\necho 'kind: Evil'\n";

fn demo_cli(platform: &str, url: &str, sha256: &str, member: Option<&str>) -> Cli {
    Cli {
        name: "demo".into(),
        platforms: BTreeMap::from([(
            platform.to_string(),
            CliDownload {
                url: url.into(),
                sha256: sha256.into(),
                member: None,
            },
        )]),
        member: member.map(str::to_string),
        render: vec![
            RenderStep {
                args: vec!["install".into(), "--crds".into()],
                namespace: "demo-system".into(),
            },
            RenderStep {
                args: vec!["--bogus".into()],
                namespace: "demo-system".into(),
            },
        ],
    }
}

/// What [`FAKE_CLI`] prints for `args` when it runs in `scratch`.
fn expected_render(args: &str, scratch: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rendered\ndata:\n  args: \"{args}\"\n  home: \"{}\"\n  kubeconfig: \"{}\"\n  inherited: \"cleared\"\n",
        scratch.join("home").display(),
        scratch.join("kubeconfig").display()
    )
}

const TIMEOUT: std::time::Duration = meshproof::timeouts::CLI_RENDER;

#[test]
fn cli_is_downloaded_checked_and_rendered_offline() {
    // The render must not see the test's environment: make sure there is something to hide.
    assert!(
        std::env::var_os("CARGO_PKG_NAME").is_some(),
        "cargo sets CARGO_PKG_NAME for test processes"
    );
    let base = serve(BTreeMap::from([
        ("/v1.2.3/demo".to_string(), FAKE_CLI.as_bytes().to_vec()),
        (
            "/v1.2.3/failing".to_string(),
            FAILING_CLI.as_bytes().to_vec(),
        ),
        ("/v1.2.3/silent".to_string(), SILENT_CLI.to_vec()),
        ("/v1.2.3/slow".to_string(), SLOW_CLI.to_vec()),
        ("/v1.2.3/tampered".to_string(), EVIL_CLI.to_vec()),
    ]));
    let host = cli::host_platform();
    let url = format!("{base}/v1.2.3/demo");
    let c = demo_cli(&host, &url, &sha(FAKE_CLI.as_bytes()), None);
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("cli");
    let p = cli::fetch(&c, &host, Some(&sha(FAKE_CLI.as_bytes())), &scratch).unwrap();
    assert_eq!(p.url, url);
    assert_eq!(p.sha256, sha(FAKE_CLI.as_bytes()));
    assert_eq!(p.platform, host);
    assert_eq!(p.program, scratch.join("bin/demo"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p.program).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }
    assert_eq!(std::fs::read(&p.program).unwrap(), FAKE_CLI.as_bytes());
    // The kubeconfig the CLI sees names no cluster.
    let kc = std::fs::read_to_string(scratch.join("kubeconfig")).unwrap();
    assert!(
        kc.contains("clusters: []") && kc.contains("current-context: \"\""),
        "{kc}"
    );

    let out = p.render(&c.render[0], TIMEOUT).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        expected_render("install --crds", &scratch)
    );

    // A failing command: program, args, exit status and its stderr.
    let failing = demo_cli(
        &host,
        &format!("{base}/v1.2.3/failing"),
        &sha(FAILING_CLI.as_bytes()),
        None,
    );
    let p = cli::fetch(&failing, &host, None, &tmp.path().join("failing")).unwrap();
    let e = p.render(&failing.render[1], TIMEOUT).unwrap_err();
    assert!(matches!(e, InstallError::Tool { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "demo --bogus: exit status: 1; stderr (last lines):\n  starting up\n  error: unknown flag: --bogus"
    );
    // Success with nothing on stdout is a failure too.
    let silent = demo_cli(
        &host,
        &format!("{base}/v1.2.3/silent"),
        &sha(SILENT_CLI),
        None,
    );
    let p = cli::fetch(&silent, &host, None, &tmp.path().join("silent")).unwrap();
    let e = p
        .render(&silent.render[0], TIMEOUT)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "demo install --crds: exit status: 0 but printed nothing on stdout (expected the YAML to apply); stderr was empty"
    );
    // A command that hangs is stopped at its timeout.
    let slow = demo_cli(&host, &format!("{base}/v1.2.3/slow"), &sha(SLOW_CLI), None);
    let p = cli::fetch(&slow, &host, None, &tmp.path().join("slow")).unwrap();
    let started = std::time::Instant::now();
    let e = p
        .render(&slow.render[0], std::time::Duration::from_millis(300))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("demo install --crds: did not finish within 300ms and was stopped"),
        "{e}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // What it started is stopped too (its process group).
    let pid = std::fs::read_to_string(tmp.path().join("slow/home/background.pid")).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    let gone = (0..100).any(|_| {
        let alive = std::fs::read_to_string(&stat).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        });
        if alive {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        !alive
    });
    assert!(
        gone,
        "the CLI's background child {} survived the timeout",
        pid.trim()
    );

    // A tampered download: the URL, the pinned and the actual sha256; nothing is installed.
    let tampered_url = format!("{base}/v1.2.3/tampered");
    let tampered = demo_cli(&host, &tampered_url, &sha(FAKE_CLI.as_bytes()), None);
    let e = cli::fetch(&tampered, &host, None, &tmp.path().join("t")).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, InstallError::DigestMismatch { .. }), "{msg}");
    assert!(
        msg.contains(&tampered_url)
            && msg.contains(&format!("but the pin says {}", sha(FAKE_CLI.as_bytes())))
            && msg.contains(&format!("has sha256 {}", sha(EVIL_CLI))),
        "{msg}"
    );
    assert!(!tmp.path().join("t").exists(), "nothing is installed");
    // A lock that disagrees with the served bytes is refused, naming the lock.
    let wrong = "0".repeat(64);
    let e = cli::fetch(&c, &host, Some(&wrong), &tmp.path().join("l"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the lock file says") && e.contains(&wrong),
        "{e}"
    );
    // No download for this machine: the error names the pinned platforms.
    let elsewhere = demo_cli("plan9-mips", &url, &sha(FAKE_CLI.as_bytes()), None);
    let e = cli::fetch(&elsewhere, &host, None, &tmp.path().join("x"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("platform {host}")) && e.contains("the pin has plan9-mips"),
        "{e}"
    );
}

/// A `.tar.gz` built on the spot: `(path, bytes)` regular files plus one symlink.
fn tar_gz(files: &[(&str, &[u8])], symlink: Option<(&str, &str)>) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    for (path, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *bytes).unwrap();
    }
    if let Some((path, target)) = symlink {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, path, target).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn cli_member_is_taken_out_of_a_tar_gz() {
    let archive = tar_gz(
        &[
            ("./demo-linux/README.md", b"read me\n"),
            ("./demo-linux/demo", FAKE_CLI.as_bytes()),
        ],
        Some(("demo-linux/link", "demo")),
    );
    let base = serve(BTreeMap::from([
        ("/demo.tar.gz".to_string(), archive.clone()),
        ("/plain".to_string(), FAKE_CLI.as_bytes().to_vec()),
    ]));
    let host = cli::host_platform();
    let url = format!("{base}/demo.tar.gz");
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("cli");
    let c = demo_cli(&host, &url, &sha(&archive), Some("demo-linux/demo"));
    let p = cli::fetch(&c, &host, None, &scratch).unwrap();
    // The archive's sha256 is what was checked and is recorded; the program is its member.
    assert_eq!(p.sha256, sha(&archive));
    assert_eq!(p.member.as_deref(), Some("demo-linux/demo"));
    assert_eq!(std::fs::read(&p.program).unwrap(), FAKE_CLI.as_bytes());
    assert_eq!(
        String::from_utf8(p.render(&c.render[0], TIMEOUT).unwrap()).unwrap(),
        expected_render("install --crds", &scratch)
    );

    // A platform's own `member` wins over the pin-wide one (archives name a directory per
    // platform).
    let mut per_platform = demo_cli(&host, &url, &sha(&archive), Some("demo-darwin/demo"));
    per_platform.platforms.get_mut(&host).unwrap().member = Some("demo-linux/demo".into());
    let p = cli::fetch(&per_platform, &host, None, &tmp.path().join("pp")).unwrap();
    assert_eq!(p.member.as_deref(), Some("demo-linux/demo"));
    assert_eq!(std::fs::read(&p.program).unwrap(), FAKE_CLI.as_bytes());
    let plan = cli::planned_commands(&per_platform, &host, None).join("\n");
    assert!(
        plan.contains("extract demo-linux/demo from the downloaded .tar.gz"),
        "{plan}"
    );
    // In a pin, a bad per-platform member is named by its field.
    let e = meshproof::spec::mesh::load(
        "meshes/demo/1.0.0.yaml",
        &format!(
            "apiVersion: meshproof.dev/v1alpha1\nkind: Mesh\nmetadata: {{name: demo, version: \"1.0.0\", description: d}}\nspec:\n  project: {{name: Demo, url: https://example.invalid, status: active}}\n  install:\n    method: cli\n    cli:\n      name: demo\n      platforms:\n        linux-x86_64: {{url: https://cli.example.invalid/demo.tar.gz, sha256: {}, member: ../demo}}\n      render: [{{args: [install], namespace: demo}}]\n  denial: {{unknown: test}}\n  dataPlane: {{container: demo-proxy, sources: [test]}}\n  sources: [test]\n",
            "a".repeat(64)
        ),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("spec.install.cli.platforms.linux-x86_64.member"),
        "{e}"
    );

    // A missing member lists the archive's files.
    let e = cli::fetch(
        &demo_cli(&host, &url, &sha(&archive), Some("demo-darwin/demo")),
        &host,
        None,
        &tmp.path().join("m"),
    )
    .unwrap_err();
    assert!(matches!(e, InstallError::Archive { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!("{url}: member `demo-darwin/demo` is not in the archive; its files are: demo-linux/README.md, demo-linux/demo")
    );
    // Path traversal is refused before the archive is read, and nothing is written.
    for bad in [
        "../demo",
        "/demo-linux/demo",
        "demo-linux/../demo-linux/demo",
    ] {
        let e = cli::fetch(
            &demo_cli(&host, &url, &sha(&archive), Some(bad)),
            &host,
            None,
            &tmp.path().join("t"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(&format!(
                "member `{bad}` is not a relative path inside the archive"
            )),
            "{e}"
        );
    }
    assert!(!tmp.path().join("t").exists(), "nothing was written");
    // A link is not the program.
    let e = cli::extract_member(&archive, "demo-linux/link", &url)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is a Symlink entry, not a regular file"), "{e}");
    // A member of something that is not a .tar.gz.
    let plain = format!("{base}/plain");
    let e = cli::fetch(
        &demo_cli(&host, &plain, &sha(FAKE_CLI.as_bytes()), Some("demo")),
        &host,
        None,
        &tmp.path().join("p"),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        format!("{plain}: not a .tar.gz archive, but the pin names member `demo` in it")
    );
}

#[test]
fn cli_downloads_are_locked_per_platform() {
    let linux = b"#!/bin/sh\necho linux\n".to_vec();
    let macos = b"#!/bin/sh\necho macos\n".to_vec();
    let base = serve(BTreeMap::from([
        ("/linux/demo".to_string(), linux.clone()),
        ("/macos/demo".to_string(), macos.clone()),
    ]));
    let (linux_url, macos_url) = (format!("{base}/linux/demo"), format!("{base}/macos/demo"));
    let m = load_pin(&cli_pin(
        &[
            ("linux-x86_64", &linux_url, &sha(&linux)),
            ("macos-aarch64", &macos_url, &sha(&macos)),
        ],
        "",
    ))
    .unwrap();
    // `meshproof lock` downloads every platform's file and locks its sha256.
    let l = lock::resolve(&m, None).unwrap();
    assert_eq!(
        l.spec.cli,
        vec![
            lock::LockedCli {
                platform: "linux-x86_64".into(),
                url: linux_url.clone(),
                sha256: sha(&linux)
            },
            lock::LockedCli {
                platform: "macos-aarch64".into(),
                url: macos_url.clone(),
                sha256: sha(&macos)
            },
        ]
    );
    assert!(l.spec.charts.is_empty() && l.spec.manifests.is_empty());
    let rendered = lock::render(&l);
    assert!(
        rendered.ends_with(&format!(
            "  charts: []\n  manifests: []\n  cli:\n    - platform: \"linux-x86_64\"\n      url: \"{linux_url}\"\n      sha256: \"{}\"\n    - platform: \"macos-aarch64\"\n      url: \"{macos_url}\"\n      sha256: \"{}\"\n",
            sha(&linux),
            sha(&macos)
        )),
        "{rendered}"
    );
    let back = lock::load("meshes/demo/1.2.3.lock.yaml", &rendered).unwrap();
    assert_eq!(back, l);
    lock::check(&m, &back, "demo.lock.yaml").unwrap();
    assert_eq!(
        lock::locked_cli(Some(&back), "macos-aarch64"),
        Some(sha(&macos).as_str())
    );

    // A lock that disagrees with the pin is refused, naming both digests.
    let mut other = back.clone();
    other.spec.cli[1].sha256 = "c".repeat(64);
    let e = lock::check(&m, &other, "demo.lock.yaml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "lock file demo.lock.yaml: CLI download for macos-aarch64 ({macos_url}): the lock says sha256 {}, the pin says {}",
            "c".repeat(64),
            sha(&macos)
        )
    );
    // A lock missing a platform the pin has is refused.
    let mut fewer = back.clone();
    fewer.spec.cli.remove(0);
    let e = lock::check(&m, &fewer, "demo.lock.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "locks CLI downloads for [macos-aarch64], the pin has [linux-x86_64, macos-aarch64]"
        ),
        "{e}"
    );
    // Chart and manifest locks keep their exact text (no `cli:` list).
    let mut no_cli = back.clone();
    no_cli.spec.cli.clear();
    assert!(lock::render(&no_cli).ends_with("  charts: []\n  manifests: []\n"));

    // A pinned file that changed upstream stops `lock` with the URL and both digests.
    let changed = load_pin(&cli_pin(&[("linux-x86_64", &linux_url, &sha(&macos))], "")).unwrap();
    let e = lock::resolve(&changed, None).unwrap_err();
    assert!(matches!(e, InstallError::DigestMismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&linux_url) && msg.contains(&sha(&linux)) && msg.contains(&sha(&macos)),
        "{msg}"
    );
}

/// The plan section a `cli` pin changes: the mesh block, warnings and the mesh install phase.
fn mesh_part_of_plan(out: &str) -> String {
    let mut keep = Vec::new();
    let mut in_mesh = false;
    for l in out.lines() {
        if l.starts_with("mesh ") {
            in_mesh = true;
        } else if l.starts_with("workload ") {
            in_mesh = false;
        }
        if in_mesh || l.starts_with("warning") || l.contains(" mesh: ") {
            keep.push(l);
        }
    }
    keep.join("\n") + "\n"
}

#[test]
fn plan_shows_the_cli_download_check_and_render_commands() {
    let host = cli::host_platform();
    let tmp = tempfile::tempdir().unwrap();
    base_catalog(tmp.path());
    let a = "a".repeat(64);
    let url = format!("https://cli.example.invalid/demo/1.2.3/{host}/demo.tar.gz");
    std::fs::write(
        tmp.path().join("meshes/demo/1.2.3.yaml"),
        cli_pin(&[(&host, &url, &a)], "      member: \"demo/bin/demo\"\n"),
    )
    .unwrap();
    let l = lock::Lock {
        api_version: "meshproof.dev/v1alpha1".into(),
        kind: "MeshLock".into(),
        metadata: meshproof::spec::Metadata {
            name: "demo".into(),
            version: Some("1.2.3".into()),
            description: "test".into(),
        },
        spec: lock::LockSpec {
            cli: vec![lock::LockedCli {
                platform: host.clone(),
                url: url.clone(),
                sha256: a.clone(),
            }],
            ..Default::default()
        },
    };
    std::fs::write(
        tmp.path().join("meshes/demo/1.2.3.lock.yaml"),
        lock::render(&l),
    )
    .unwrap();
    let plan = || {
        let a = common::bin()
            .env("MESHPROOF_HOME", tmp.path())
            .args([
                "plan",
                "--mesh",
                "demo@1.2.3",
                "--cluster",
                "kind-v0.32.0",
                "--only",
                "traffic-access",
            ])
            .assert()
            .code(0);
        String::from_utf8_lossy(&a.get_output().stdout).into_owned()
    };
    let out = plan();
    assert!(
        out.contains(&format!(
            "4.1 mesh: download demo for {host} from {url} and check sha256 {a} (pin and lock file)"
        )),
        "{out}"
    );
    assert!(!out.contains("warning"), "{out}");
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[digest]");
    settings.add_filter(&regex::escape(&host), "[host-platform]");
    settings.bind(|| insta::assert_snapshot!("plan_cli_pin", mesh_part_of_plan(&out)));

    // A pin with no download for this machine: `plan` says so, `run` refuses it (exit 2).
    std::fs::remove_file(tmp.path().join("meshes/demo/1.2.3.lock.yaml")).unwrap();
    std::fs::write(
        tmp.path().join("meshes/demo/1.2.3.yaml"),
        cli_pin(
            &[("plan9-mips", "https://cli.example.invalid/demo", &a)],
            "",
        ),
    )
    .unwrap();
    let out = plan();
    let why = format!(
        "demo: no download is pinned for this machine's platform {host}; the pin has plan9-mips"
    );
    assert!(
        out.contains(&format!("warning  {why}"))
            && out.contains(&format!("4.1 mesh: cannot install here: {why}")),
        "{out}"
    );
    let a = common::bin()
        .env("MESHPROOF_HOME", tmp.path())
        .args(["run", "--mesh", "demo@1.2.3", "--cluster", "kind-v0.32.0"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains(&why), "{err}");
}

/// `helm template` output shaped like the pinned charts' (Traefik Mesh's post-delete cleanup,
/// NSM's pre-delete hook, OSM-style pre-install checks, a chart test).
#[test]
fn helm_hooks_that_are_not_install_hooks_are_dropped() {
    let rendered = "---\n# Source: mesh/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: mesh-controller\n---\n# Source: mesh/templates/hooks/cleanup.yaml\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: mesh-cleanup\n  annotations:\n    \"helm.sh/hook\": \"post-delete\"\n    \"helm.sh/hook-weight\": \"5\"\n---\n# Source: mesh/templates/hooks/preinstall.yaml\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: mesh-preinstall\n  annotations:\n    helm.sh/hook: pre-install, pre-upgrade\n---\n# Source: mesh/templates/hooks/predelete.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: mesh-pre-delete\n  annotations:\n    helm.sh/hook: pre-delete,pre-upgrade\n---\n# Source: mesh/templates/tests/test.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: mesh-test\n  annotations:\n    helm.sh/hook: test\n---\n# Source: mesh/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: mesh-controller\n  annotations:\n    helm.sh/hook-weight: \"1\"\n";
    let f = helm::drop_non_install_hooks(rendered, "helm template mesh").unwrap();
    assert_eq!(
        f.dropped,
        vec![
            "Job/mesh-cleanup (post-delete)",
            "ServiceAccount/mesh-pre-delete (pre-delete,pre-upgrade)",
            "Pod/mesh-test (test)",
        ]
    );
    let kept = meshproof::yaml::documents("kept", &f.kept).unwrap();
    let names: Vec<&str> = kept
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["mesh-controller", "mesh-preinstall", "mesh-controller"]
    );
    // Kept documents are byte-for-byte what helm printed.
    assert!(f.kept.contains("# Source: mesh/templates/hooks/preinstall.yaml\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: mesh-preinstall\n  annotations:\n    helm.sh/hook: pre-install, pre-upgrade\n"));
    assert!(!f.kept.contains("mesh-cleanup") && !f.kept.contains("mesh-test"));
    // A stream without hooks passes through unchanged.
    let plain = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n";
    let f = helm::drop_non_install_hooks(plain, "plain").unwrap();
    assert_eq!(f.kept, plain);
    assert!(f.dropped.is_empty());
    // Broken YAML names the stream.
    let err = helm::drop_non_install_hooks("a: [\n", "helm template broken").unwrap_err();
    assert!(err.to_string().contains("helm template broken"), "{err}");
}

/// `lock` renders the pin as `run` does and resolves every image named by tag; `run`'s image
/// pinning then rewrites exactly those references, and `plan` says so.
#[test]
fn lock_resolves_the_images_the_rendered_pin_names() {
    let manifest = b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ctl\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: init\n          image: \"example.test/mesh/init:1.0\"\n      containers:\n        - name: ctl\n          image: example.test/mesh/controller:1.0 # the controller\n        - name: nats\n          image: nats:2.9-alpine\n        - name: pinned\n          image: example.test/mesh/pinned@sha256:1111111111111111111111111111111111111111111111111111111111111111\n        - name: again\n          image: nats:2.9-alpine\n".to_vec();
    let base = serve(BTreeMap::from([(
        "/deploy.yaml".to_string(),
        manifest.clone(),
    )]));
    let m = meshproof::spec::mesh::load(
        "m.yaml",
        &format!(
            "apiVersion: meshproof.dev/v1alpha1\nkind: Mesh\nmetadata:\n  name: demo\n  version: \"1.2.3\"\n  description: d\nspec:\n  project: {{name: Demo, url: https://example.invalid, status: active}}\n  install:\n    method: manifests\n    manifests:\n      - url: {base}/deploy.yaml\n        sha256: {}\n  denial: {{unknown: test}}\n  dataPlane: {{container: demo-proxy, sources: [test]}}\n  sources: [\"test\"]\n",
            sha(&manifest)
        ),
    )
    .unwrap();
    // A stand-in registry: digests derived from the reference, and every question recorded.
    let asked = std::sync::Mutex::new(Vec::new());
    let registry = |reference: &str| -> Result<String, InstallError> {
        asked.lock().unwrap().push(reference.to_string());
        Ok(format!("sha256:{}", sha(reference.as_bytes())))
    };
    let scratch = tempfile::tempdir().unwrap();
    let r = lock::ImageResolution {
        helm: Path::new("helm-is-not-needed-for-manifests"),
        scratch: scratch.path(),
        capabilities: helm::Capabilities::default(),
        resolve: &registry,
    };
    let l = lock::resolve(&m, Some(&r)).unwrap();
    let want = [
        "example.test/mesh/controller:1.0",
        "example.test/mesh/init:1.0",
        "nats:2.9-alpine",
    ];
    // Each tag-only image once, sorted; the digest-pinned one is not asked about.
    assert_eq!(*asked.lock().unwrap(), want);
    let locked: Vec<(&str, String)> = l
        .spec
        .images
        .iter()
        .map(|i| (i.reference.as_str(), i.digest.clone()))
        .collect();
    let expected: Vec<(&str, String)> = want
        .iter()
        .map(|w| (*w, format!("sha256:{}", sha(w.as_bytes()))))
        .collect();
    assert_eq!(locked, expected);
    // The lock file round-trips, images included.
    let text = lock::render(&l);
    assert!(
        text.contains("  images:\n    - reference: \"example.test/mesh/controller:1.0\"\n      digest: \"sha256:"),
        "{text}"
    );
    let back = lock::load("demo.lock.yaml", &text).unwrap();
    assert_eq!(back.spec.images, l.spec.images);
    // What `run` applies: every tag-only image rewritten to the locked digest.
    let pinned = images::pin_images(
        std::str::from_utf8(&manifest).unwrap(),
        &lock::locked_images(&back),
    );
    assert!(pinned.unresolved.is_empty(), "{:?}", pinned.unresolved);
    let ctl = format!(
        "image: example.test/mesh/controller@sha256:{} # the controller",
        sha(b"example.test/mesh/controller:1.0")
    );
    assert!(pinned.text.contains(&ctl), "{}", pinned.text);
    assert!(pinned.text.contains(&format!(
        "image: \"example.test/mesh/init@sha256:{}\"",
        sha(b"example.test/mesh/init:1.0")
    )));
    assert!(pinned.text.contains(
        "pinned@sha256:1111111111111111111111111111111111111111111111111111111111111111"
    ));
    // A registry failure stops the lock, naming the reference.
    let failing = |reference: &str| -> Result<String, InstallError> {
        Err(InstallError::Other(format!("{reference}: tag not found")))
    };
    let r = lock::ImageResolution {
        helm: Path::new("helm"),
        scratch: scratch.path(),
        capabilities: helm::Capabilities::default(),
        resolve: &failing,
    };
    let e = lock::resolve(&m, Some(&r)).unwrap_err().to_string();
    assert!(
        e.contains("example.test/mesh/controller:1.0: tag not found"),
        "{e}"
    );
    // A registry answer that is not a sha256 digest is refused.
    let odd = |_: &str| -> Result<String, InstallError> { Ok("md5:abc".to_string()) };
    let r = lock::ImageResolution {
        helm: Path::new("helm"),
        scratch: scratch.path(),
        capabilities: helm::Capabilities::default(),
        resolve: &odd,
    };
    let e = lock::resolve(&m, Some(&r)).unwrap_err().to_string();
    assert!(e.contains("not sha256:<64 hex>"), "{e}");

    // A lock with images: `plan` says the images are pinned to it; bad digests are named.
    let tmp = tempfile::tempdir().unwrap();
    base_catalog(tmp.path());
    std::fs::write(
        tmp.path().join("meshes/demo/1.2.3.yaml"),
        format!(
            "apiVersion: meshproof.dev/v1alpha1\nkind: Mesh\nmetadata:\n  name: demo\n  version: \"1.2.3\"\n  description: d\nspec:\n  project: {{name: Demo, url: https://example.invalid, status: active}}\n  install:\n    method: manifests\n    manifests:\n      - url: {base}/deploy.yaml\n        sha256: {}\n  denial: {{unknown: test}}\n  dataPlane: {{container: demo-proxy, sources: [test]}}\n  sources: [\"test\"]\n",
            sha(&manifest)
        ),
    )
    .unwrap();
    std::fs::write(tmp.path().join("meshes/demo/1.2.3.lock.yaml"), &text).unwrap();
    let out = common::bin()
        .env("MESHPROOF_HOME", tmp.path())
        .args(["plan", "--mesh", "demo", "--cluster", "kind-v0.32.0"])
        .assert()
        .code(0);
    let out = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        out.contains("pin 3 image(s) named by tag to the lock file's registry digests"),
        "{out}"
    );
    let bad = text.replacen("digest: \"sha256:", "digest: \"sha512:", 1);
    let e = lock::load("demo.lock.yaml", &bad).unwrap_err().to_string();
    assert!(e.contains("spec.images[0].digest"), "{e}");
}

/// `reproduce` rebuilds a lock from the parent's recorded downloads, but only one that agrees
/// with the pin and covers all of it.
#[test]
fn a_parent_lock_is_built_only_from_facts_that_cover_and_agree_with_the_pin() {
    let catalog = meshproof::spec::catalog::Catalog::new(common::repo());
    let osm = catalog.select_mesh("osm@1.2.4").unwrap().value;
    // As a parent's `resolved/mesh.json` records them (charts without the fields added later).
    let facts = |v: serde_json::Value| -> meshproof::bundle::ResolvedMesh {
        serde_json::from_value(v).unwrap()
    };
    let chart = |sha: &str| {
        facts(
            serde_json::json!({"charts": [{"repo": "https://openservicemesh.github.io/osm", "chart": "osm",
            "version": "1.2.4", "url": "https://openservicemesh.github.io/osm/osm-1.2.4.tgz", "sha256": sha}]}),
        )
    };
    let pinned = "6a072c797c90fe53effaa9b7d6712aadb74ddaa40186a2dad31bf3b5983083fa";
    let l = lock::from_parent(&osm, &chart(pinned)).expect("agrees with the pin");
    assert_eq!(l.spec.charts[0].sha256, pinned);
    assert!(l.spec.images.is_empty());
    // A recorded sha256 that contradicts the pin's digest, or facts without the charts: no lock.
    assert!(lock::from_parent(&osm, &chart(&"b".repeat(64))).is_none());
    assert!(lock::from_parent(&osm, &facts(serde_json::json!({}))).is_none());
    // Linkerd installs three charts: two recorded are not enough.
    let linkerd = catalog.select_mesh("linkerd@2.14.10").unwrap().value;
    let two = facts(serde_json::json!({"charts": [
        {"repo": "https://helm.linkerd.io/stable", "chart": "linkerd-crds", "version": "1.8.0", "url": "u", "sha256": "c".repeat(64)},
        {"repo": "https://helm.linkerd.io/stable", "chart": "linkerd-control-plane", "version": "1.16.11", "url": "u", "sha256": "d".repeat(64)}]}));
    assert!(lock::from_parent(&linkerd, &two).is_none());
}

/// A cluster pin whose kind release 0.21.0 has `sha256` (when given) for linux-amd64.
fn kind_pin(
    sha256: Option<&str>,
) -> meshproof::spec::catalog::Sourced<meshproof::spec::cluster::Cluster> {
    let sha = sha256.map_or_else(String::new, |s| {
        format!("      sha256:\n        linux-amd64: {s}\n")
    });
    let text = format!(
        "apiVersion: meshproof.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: kind-test\n  description: d\nspec:\n  kind:\n    version: \">=0.21.0, <0.22.0\"\n    release:\n      version: \"0.21.0\"\n{sha}  kubernetesVersion: \"1.24.17\"\n  nodeImage: kindest/node:v1.24.17@sha256:{}\n  sources: [test]\n",
        "e".repeat(64)
    );
    let value = meshproof::spec::cluster::load("clusters/kind-test.yaml", &text).unwrap();
    meshproof::spec::catalog::Sourced {
        value,
        path: "clusters/kind-test.yaml".into(),
        bytes: text.into_bytes(),
    }
}

const FAKE_KIND: &[u8] = b"#!/bin/sh\necho 'kind v0.21.0 go1.21.6 linux/amd64'\n";

#[test]
fn kind_on_path_is_used_when_it_fits_else_the_pinned_release_is_downloaded_verified_and_cached() {
    use meshproof::kind_binary::{self, KindChoice, KindChoiceError};
    let base = serve(BTreeMap::from([
        ("/v0.21.0/kind-linux-amd64".to_string(), FAKE_KIND.to_vec()),
        (
            "/v0.21.0/kind-darwin-arm64".to_string(),
            b"tampered".to_vec(),
        ),
    ]));
    let cache = tempfile::tempdir().unwrap();
    let pin = kind_pin(Some(&sha(FAKE_KIND)));
    let path_kind = |v: &str| {
        Ok((
            Path::new("/usr/bin/kind").to_path_buf(),
            semver::Version::parse(v).unwrap(),
        ))
    };
    let choose = |pin, lock, on_path| {
        kind_binary::choose(
            pin,
            lock,
            on_path,
            Some("linux-amd64"),
            Some(cache.path()),
            &base,
        )
    };

    // The kind on PATH fits the range: it is used as it is.
    let c = choose(&pin, None, path_kind("0.21.3")).unwrap();
    assert_eq!(
        c,
        KindChoice::OnPath {
            binary: "/usr/bin/kind".into(),
            version: "0.21.3".into()
        }
    );
    assert_eq!(
        kind_binary::provide(&c).unwrap(),
        Path::new("/usr/bin/kind")
    );

    // The wrong kind first on PATH: the pinned release, downloaded and checked.
    let c = choose(&pin, None, path_kind("0.32.0")).unwrap();
    let expected_cache = cache.path().join("kind/v0.21.0/kind-linux-amd64");
    assert_eq!(
        c.describe(">=0.21.0, <0.22.0"),
        format!(
            "the run downloads kind v0.21.0 from {base}/v0.21.0/kind-linux-amd64 and checks sha256 {} from clusters/kind-test.yaml before use (cached as {}); kind on PATH: v0.32.0 at /usr/bin/kind is outside >=0.21.0, <0.22.0",
            sha(FAKE_KIND),
            expected_cache.display()
        )
    );
    let bin = kind_binary::provide(&c).unwrap();
    assert_eq!(bin, expected_cache);
    assert_eq!(std::fs::read(&bin).unwrap(), FAKE_KIND);
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }
    let v = meshproof_cluster::kind::probe_version(&bin.to_string_lossy()).unwrap();
    assert_eq!(v.version, semver::Version::new(0, 21, 0));

    // Next time it is cached (and re-hashed at every use).
    let c = choose(&pin, None, Err("not found".into())).unwrap();
    let KindChoice::Pinned(p) = &c else {
        panic!("{c:?}")
    };
    assert!(p.cached);
    assert!(c.describe("r").starts_with(&format!(
        "the run uses kind v0.21.0 from {} (cached; sha256 ",
        expected_cache.display()
    )));
    // A cached file that changed is not used: downloaded again.
    std::fs::write(&bin, b"#!/bin/sh\necho evil\n").unwrap();
    assert_eq!(kind_binary::provide(&c).unwrap(), expected_cache);
    assert_eq!(std::fs::read(&bin).unwrap(), FAKE_KIND);

    // What the server sends must have the pinned sha256.
    let wrong = kind_pin(Some(&"0".repeat(64)));
    std::fs::remove_file(&bin).unwrap();
    let c = choose(&wrong, None, Err("not found".into())).unwrap();
    let err = kind_binary::provide(&c).unwrap_err();
    assert!(
        matches!(&err, KindChoiceError::Install(e) if matches!(**e, InstallError::DigestMismatch { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("refusing to use it"), "{err}");
    assert!(!bin.exists(), "an unverified download is never cached");

    // No recorded sha256: refused, with the way to record one.
    let unverified = kind_pin(None);
    let err = choose(&unverified, None, path_kind("0.32.0")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "kind on PATH: v0.32.0 at /usr/bin/kind is outside >=0.21.0, <0.22.0; kind v0.21.0 for linux-amd64 has no recorded sha256 in clusters/kind-test.yaml or clusters/kind-test.lock.yaml, and meshproof does not run an unverified binary"
    );
    assert!(err
        .fix(&unverified.value)
        .starts_with("run `meshproof lock --cluster kind-test` on a machine with network"));

    // The lock supplies it; pin and lock must agree.
    let lock_text = |s: &str| {
        format!("apiVersion: meshproof.dev/v1alpha1\nkind: ClusterLock\nmetadata:\n  name: kind-test\n  description: d\nspec:\n  kind:\n    version: \"0.21.0\"\n    binaries:\n      - platform: linux-amd64\n        url: {base}/v0.21.0/kind-linux-amd64\n        sha256: {s}\n")
    };
    let lock = |s: &str| {
        let t = lock_text(s);
        meshproof::spec::catalog::Sourced {
            value: kind_binary::load_lock("clusters/kind-test.lock.yaml", &t).unwrap(),
            path: "clusters/kind-test.lock.yaml".into(),
            bytes: t.into_bytes(),
        }
    };
    let (good_lock, bad_lock) = (lock(&sha(FAKE_KIND)), lock(&"1".repeat(64)));
    let c = choose(&unverified, Some(&good_lock), Err("not found".into())).unwrap();
    let KindChoice::Pinned(p) = c else { panic!() };
    assert_eq!(p.verified_by, vec!["clusters/kind-test.lock.yaml"]);
    let err = choose(&pin, Some(&bad_lock), Err("not found".into())).unwrap_err();
    assert!(matches!(err, KindChoiceError::Conflict { .. }), "{err}");
    // A pin without a release cannot help a wrong kind on PATH.
    let mut bare = kind_pin(None);
    bare.value.spec.kind.release = None;
    let err = choose(&bare, None, path_kind("0.32.0")).unwrap_err();
    assert!(matches!(err, KindChoiceError::NoRelease { .. }), "{err}");
}

#[test]
fn lock_cluster_hashes_every_platform_and_cross_checks_sha256sum_files_and_the_pin() {
    use meshproof::kind_binary;
    let pin = kind_pin(Some(&sha(b"bin-linux-amd64")));
    let served = |sums_ok: bool| {
        move |url: &str| -> Result<Vec<u8>, InstallError> {
            let platform = url.rsplit("kind-").next().unwrap().to_string();
            match platform.strip_suffix(".sha256sum") {
                Some(p) => {
                    let digest = if sums_ok {
                        sha(format!("bin-{p}").as_bytes())
                    } else {
                        "f".repeat(64)
                    };
                    Ok(format!("{digest}  kind-{p}\n").into_bytes())
                }
                None => Ok(format!("bin-{platform}").into_bytes()),
            }
        }
    };
    let lock = kind_binary::resolve_lock(&pin.value, "https://dl.example", &served(true)).unwrap();
    assert_eq!(lock.spec.kind.version, "0.21.0");
    let platforms: Vec<&str> = lock
        .spec
        .kind
        .binaries
        .iter()
        .map(|b| b.platform.as_str())
        .collect();
    assert_eq!(platforms, meshproof::spec::cluster::KIND_PLATFORMS);
    let amd = &lock.spec.kind.binaries[0];
    assert_eq!(amd.url, "https://dl.example/v0.21.0/kind-linux-amd64");
    assert_eq!(amd.sha256, sha(b"bin-linux-amd64"));
    assert_eq!(
        amd.checked_against,
        vec!["kind-linux-amd64.sha256sum", "the pin"]
    );
    // The rendered lock reads back.
    let text = kind_binary::render_lock(&lock);
    assert_eq!(
        kind_binary::load_lock("clusters/kind-test.lock.yaml", &text).unwrap(),
        lock
    );
    // A published .sha256sum that disagrees is a verification failure.
    let err =
        kind_binary::resolve_lock(&pin.value, "https://dl.example", &served(false)).unwrap_err();
    assert!(matches!(err, InstallError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(".sha256sum says"), "{err}");
    // kind v0.11.1 publishes no .sha256sum: the download is hashed and the pin checked.
    let mut old = kind_pin(None);
    old.value.spec.kind.version = ">=0.11.1, <0.12.0".into();
    old.value.spec.kind.release.as_mut().unwrap().version = "0.11.1".into();
    let no_sums = |url: &str| -> Result<Vec<u8>, InstallError> {
        assert!(!url.ends_with(".sha256sum"), "{url}");
        Ok(url.as_bytes().to_vec())
    };
    let lock = kind_binary::resolve_lock(&old.value, "https://dl.example", &no_sums).unwrap();
    assert!(lock
        .spec
        .kind
        .binaries
        .iter()
        .all(|b| b.checked_against.is_empty()));
}
