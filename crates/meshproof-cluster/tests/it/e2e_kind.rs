//! End to end on a real kind cluster (ignored by default: needs Docker, the `kind` binary and
//! internet to pull the node image). Run with
//! `cargo test -p meshproof-cluster --test it e2e_kind -- --ignored --nocapture`.
//!
//! Creates a one-node cluster from the repository's default cluster pin (the `clusters/*.yaml`
//! with the newest Kubernetes version; override the image with `MESHPROOF_E2E_NODE_IMAGE`, which
//! must be pinned by digest), finds its node by kind's labels, exports its logs, deletes it
//! through the guard and verifies nothing remains.

use std::sync::Arc;
use std::time::Duration;

use meshproof_cluster::guard::{self, ClusterGuard, TeardownOutcome};
use meshproof_cluster::kind::{self, CreateRequest, KindCli, KindConfigInput, NodeRole};
use meshproof_cluster::{docker, gc, logs, nodes};

/// The default cluster pin (`kind-default`): node image and kind version range of the
/// `clusters/*.yaml` with the newest `kubernetesVersion`.
fn default_pin() -> (String, String) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clusters");
    let mut best: Option<(semver::Version, String, String)> = None;
    for entry in std::fs::read_dir(&dir).expect("clusters/ next to the workspace") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let k8s = semver::Version::parse(v["spec"]["kubernetesVersion"].as_str().unwrap()).unwrap();
        let image = v["spec"]["nodeImage"].as_str().unwrap().to_string();
        let range = v["spec"]["kind"]["version"].as_str().unwrap().to_string();
        if best.as_ref().is_none_or(|(b, _, _)| k8s > *b) {
            best = Some((k8s, image, range));
        }
    }
    let (_, image, range) = best.expect("at least one cluster pin");
    (image, range)
}

/// No redaction in this test (the core passes its redactor).
fn keep_bytes(b: &[u8]) -> Vec<u8> {
    b.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker, the kind binary and internet"]
async fn kind_cluster_create_inspect_export_delete() {
    let engine = docker::connect().await.expect("a Docker engine");

    let scratch = kind::ScratchKubeconfig::temporary().unwrap();
    let (env, remove) = engine.cli_env();
    let kind = Arc::new(KindCli::new("kind", scratch.path()).with_env(env, remove));
    let installed = {
        let k = Arc::clone(&kind);
        tokio::task::spawn_blocking(move || k.version())
            .await
            .unwrap()
            .expect("kind on PATH")
    };
    eprintln!("kind: {}", installed.raw);
    let override_image = std::env::var("MESHPROOF_E2E_NODE_IMAGE")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let (pin_image, pin_range) = default_pin();
    let node_image = override_image.clone().unwrap_or(pin_image);
    if override_image.is_none() {
        // The pin's image is only supported with the kind release it was built for.
        kind::check_kind_version(&installed.version, &pin_range)
            .expect("kind matching the default cluster pin");
    }

    let run_id = format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    let name = kind::cluster_name(&run_id).unwrap();
    let config = kind::render_config(&KindConfigInput {
        name: name.clone(),
        node_image: node_image.clone(),
        roles: vec![NodeRole::ControlPlane],
        extra: None,
    })
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let config_path = work.path().join("kind.yaml");
    std::fs::write(&config_path, &config).unwrap();

    // From here on the cluster is deleted whatever happens (drop on panic included).
    let guard = ClusterGuard::new(name.clone(), kind.clone(), false);
    let req = CreateRequest {
        name: name.clone(),
        config_path,
        wait: Duration::from_secs(300),
        retain: true,
    };
    let created = {
        let k = Arc::clone(&kind);
        tokio::task::spawn_blocking(move || k.create(&req))
            .await
            .unwrap()
    };
    if let Err(e) = &created {
        // Keep the evidence of a failed create before the guard deletes the nodes.
        let dir = work.path().join("logs-failed-create");
        if let Ok(export) = logs::export_logs(&engine, &name, &dir, keep_bytes).await {
            eprintln!("create failed; node logs in {} ({export:?})", dir.display());
        }
        panic!("kind create cluster failed: {e}");
    }

    // Discovery by kind's labels.
    let found = nodes::list_nodes(&engine, &name).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let cp = &found[0];
    assert_eq!(cp.name, format!("{name}-control-plane"));
    assert_eq!(cp.role, "control-plane");
    assert_eq!(cp.state, "running");
    assert!(cp.image_id.starts_with("sha256:"), "{}", cp.image_id);
    let inspected = nodes::inspect(&engine, &cp.container_id).await.unwrap();
    let digest = node_image.rsplit_once('@').map(|(_, d)| d).unwrap();
    let image_ref = inspected.config.and_then(|c| c.image).unwrap_or_default();
    assert!(
        image_ref.contains(digest),
        "the node runs the pinned image {node_image}, got {image_ref}"
    );

    // gc sees it as a meshproof cluster (but is not asked to remove it).
    let plan = gc::plan(&engine).await.unwrap();
    assert!(plan.clusters.iter().any(|c| c.name == name), "{plan:?}");

    // Kubeconfig: kind wrote it into the private scratch file, never the user's.
    let outcome = created.as_ref().unwrap();
    assert!(!kind::timed_out_waiting(outcome), "kind: {outcome:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(scratch.path()).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o077,
            0,
            "kubeconfig private to the user"
        );
    }
    let kc = std::fs::read_to_string(scratch.path()).unwrap();
    assert!(
        kc.contains(&format!("kind-{name}")),
        "context kind-{name} in kubeconfig"
    );
    assert!(
        kc.contains("server: https://"),
        "API server address in kubeconfig"
    );

    // Exec into the node.
    let version = nodes::exec(&engine, &cp.container_id, &["cat", "/kind/version"])
        .await
        .unwrap();
    assert!(version.success(), "{version:?}");
    if override_image.is_none() {
        assert_eq!(version.stdout_text().trim(), "v1.36.1");
    }

    // Node logs, like `kind export logs`.
    let log_dir = work.path().join("logs");
    let export = logs::export_logs(&engine, &name, &log_dir, keep_bytes)
        .await
        .unwrap();
    eprintln!("log export failures: {:?}", export.failures);
    let node_dir = log_dir.join(&cp.name);
    for file in [
        "serial.log",
        "kubernetes-version.txt",
        "journal.log",
        "kubelet.log",
        "containerd.log",
        "images.log",
        "inspect.json",
    ] {
        let meta = std::fs::metadata(node_dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(meta.len() > 0, "{file} is empty");
    }
    assert!(
        std::fs::read_to_string(node_dir.join("kubelet.log"))
            .unwrap()
            .contains("kubelet"),
        "kubelet journal"
    );
    assert!(
        node_dir.join("var/log/pods").is_dir(),
        "copy of /var/log/pods"
    );
    assert!(
        export.failures.iter().all(|f| f.item == "var/log"),
        "only /var/log entries may be skipped: {:?}",
        export.failures
    );

    // Delete, then verify nothing of the run remains.
    let fp = guard::footprint(&engine, &name).await.unwrap();
    assert_eq!(fp.containers.len(), 1);
    assert!(!fp.volumes.is_empty(), "kind's anonymous /var volume");
    let outcome = tokio::task::spawn_blocking(move || guard.teardown())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome, TeardownOutcome::Deleted);
    let left = guard::verify_gone(&engine, &fp).await.unwrap();
    assert!(left.is_empty(), "leftovers after delete: {left:?}");

    let commands: Vec<String> = kind
        .records()
        .iter()
        .map(|r| r.argv[1..].join(" "))
        .collect();
    assert_eq!(commands[0], "version");
    assert!(commands[1..]
        .iter()
        .all(|c| c.contains(&format!("--kubeconfig {}", scratch.path().display()))));
    assert!(commands
        .iter()
        .any(|c| c.starts_with(&format!("create cluster --name {name} --config "))));
    assert_eq!(
        commands.last().unwrap(),
        &format!(
            "delete cluster --name {name} --kubeconfig {}",
            scratch.path().display()
        )
    );
    assert!(
        kind.records().iter().all(|r| r.exit_code == Some(0)),
        "{:?}",
        kind.records()
    );
}
