//! Installers: manifest download + sha256 against a local HTTP server, Helm index resolution and
//! chart digests (pin, lock, index), lock files (`run` exits 3 on a mismatch), Linkerd identity
//! certificates, Secret redaction, image-digest rewriting, and `helm template` when helm exists.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use meshproof::install::{self, certs::LinkerdIdentity, helm, images, lock, InstallError};
use meshproof::spec::mesh::{Helm, RemoteFile};

/// A tiny HTTP/1.1 server on 127.0.0.1 serving fixed paths until the test ends.
fn serve(files: BTreeMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let files = Arc::clone(&files);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                        break;
                    }
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = match files.get(path) {
                    Some(b) => ("200 OK", b.clone()),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            });
        }
    });
    format!("http://{addr}")
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

/// A catalog root with the repository's clusters, workloads and suites and one local mesh pin.
fn local_catalog(dir: &Path, repo_url: &str, pin_digest: Option<&str>, lock_sha: &str) {
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
    let digest = pin_digest
        .map(|d| format!("      digest: {d}\n"))
        .unwrap_or_default();
    std::fs::write(
        dir.join("meshes/demo/1.2.3.yaml"),
        format!(
            "apiVersion: meshproof.dev/v1alpha1\nkind: Mesh\nmetadata:\n  name: demo\n  version: \"1.2.3\"\n  description: a local chart\nspec:\n  project: {{name: Demo, url: https://example.invalid, status: active}}\n  install:\n    method: helm\n    helm:\n      repo: {repo_url}\n      chart: demo\n      version: \"1.2.3\"\n      release: demo\n      namespace: demo-system\n{digest}  namespaces: [demo-system]\n  readiness:\n    - {{kind: Deployment, namespace: demo-system, name: demo}}\n  sources: [\"test\"]\n"
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
    let with_key = id.helm_values().to_string();
    assert!(with_key.contains("PRIVATE KEY"));
    let public = id.public_values().to_string();
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

#[test]
fn helm_template_renders_a_local_chart() {
    let found = std::process::Command::new("helm")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("MESHPROOF_REQUIRE_HELM").as_deref() == Ok("1") {
            panic!("MESHPROOF_REQUIRE_HELM=1 but no working `helm` binary is on PATH");
        }
        eprintln!("skipped: no `helm` binary on PATH (set MESHPROOF_REQUIRE_HELM=1 to require it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("demo");
    std::fs::create_dir_all(c.join("templates")).unwrap();
    std::fs::create_dir_all(c.join("crds")).unwrap();
    std::fs::write(
        c.join("Chart.yaml"),
        "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: v9\n",
    )
    .unwrap();
    std::fs::write(c.join("values.yaml"), "mode: allow\nkey: \"\"\n").unwrap();
    std::fs::write(c.join("crds/crd.yaml"), "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: demos.example.com\n").unwrap();
    std::fs::write(
        c.join("templates/all.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n  namespace: {{ .Release.Namespace }}\ndata:\n  mode: {{ .Values.mode | quote }}\n  app: {{ .Chart.AppVersion | quote }}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-key\ndata:\n  key.pem: {{ .Values.key | b64enc }}\n",
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
    let args = helm::template_args(&h, &c, &[values, secret]);
    let out = String::from_utf8(helm::render(Path::new("helm"), &args).unwrap()).unwrap();
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
