//! Evidence on a failed create, through the real binary and the real Docker engine: a fake
//! `kind` (v0.11.1, first on PATH) starts a labelled node container — whose `/var/log` holds a
//! PEM private key and a bearer token — then fails like kubeadm does. `meshproof run` must
//! export that node's logs (by the cluster label, before teardown), redact them, pack them into
//! the bundle, tear the node down, and never touch the user's kubeconfig. Skips without an
//! engine unless MESHPROOF_REQUIRE_DOCKER=1.

use crate::docker_fixture;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use docker_fixture::Fixture;

const KEY_BODY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7";
const TOKEN: &str = "s3cr3t-t0ken-value-0123456789abcdef";

/// kind v0.11.1 as far as this run needs it: `create` starts the node (labelled as kind does),
/// plants the secrets in its `/var/log`, then fails; `delete` removes containers by label.
const FAKE_KIND: &str = r#"#!/bin/sh
echo "KUBECONFIG=$KUBECONFIG DOCKER_HOST=$DOCKER_HOST $*" >> "$FAKE_KIND_LOG"
case "$1" in
  version) echo 'kind v0.11.1 go1.16.4 linux/amd64';;
  create)
    name="$4"
    docker run -d --name "$name-control-plane" --label "io.x-k8s.kind.cluster=$name" \
      --label io.x-k8s.kind.role=control-plane -v /var "$FAKE_KIND_IMAGE" \
      /bin/sh -c 'echo fake-node-booted; while true; do sleep 1; done' >/dev/null || exit 3
    docker exec "$name-control-plane" /bin/sh -c "printf '%s\n' '-----BEGIN PRIVATE KEY-----' '$KEY_BODY' '-----END PRIVATE KEY-----' 'GET /apis HTTP/1.1' 'Authorization: Bearer $TOKEN' > /var/log/kubelet-debug.log" || exit 3
    echo 'ERROR: failed to create cluster: failed to init node with kubeadm: exit status 1' >&2
    exit 1;;
  delete)
    name="$4"
    ids=$(docker ps -aq --filter "label=io.x-k8s.kind.cluster=$name")
    [ -n "$ids" ] && docker rm -f -v $ids >/dev/null
    exit 0;;
esac
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // common::engine_clusters_lock: a test-wide lock
async fn a_failed_create_still_yields_redacted_node_logs_in_the_bundle() {
    // Its run makes a `meshproof-*` node: no `gc --yes` of another test may remove it meanwhile.
    let _engine = crate::common::engine_clusters_lock();
    let Some(fx) =
        Fixture::new("a_failed_create_still_yields_redacted_node_logs_in_the_bundle").await
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(bin.join("kind"), FAKE_KIND).unwrap();
    std::fs::set_permissions(bin.join("kind"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = tmp.path().join("kind-calls.log");
    let out = tmp.path().join("bundle.tar.zst");
    // kind first; then this machine's kubectl and docker CLI.
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());

    let ran = assert_cmd::Command::cargo_bin("meshproof")
        .unwrap()
        .args([
            "run",
            "--mesh",
            "none",
            "--cluster",
            "kind-v0.11.1-k8s-1.21",
            "--out",
        ])
        .arg(&out)
        .arg("--root")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", &path)
        .env("HOME", &home)
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .env("DOCKER_HOST", fx.engine.host())
        .env("KEY_BODY", KEY_BODY)
        .env("TOKEN", TOKEN)
        .env("FAKE_KIND_IMAGE", &fx.image)
        .env("FAKE_KIND_LOG", &log)
        .env_remove("KUBECONFIG")
        .env_remove("MESHPROOF_HOME")
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(4), "stderr:\n{stderr}");
    assert!(
        stderr.contains("failed to init node with kubeadm"),
        "{stderr}"
    );

    // Every kind call ran against the scratch kubeconfig and the test's engine.
    let calls = std::fs::read_to_string(&log).unwrap();
    let cluster = calls
        .lines()
        .find_map(|l| l.split(" create cluster --name ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect(&calls)
        .to_string();
    for line in calls.lines() {
        let kubeconfig = line
            .strip_prefix("KUBECONFIG=")
            .and_then(|l| l.split_whitespace().next())
            .unwrap();
        assert!(!kubeconfig.starts_with(&*home.to_string_lossy()), "{line}");
        // `kind version` probes run with /dev/null; everything else with the scratch file.
        assert!(
            kubeconfig.ends_with("/kubeconfig")
                || (kubeconfig == "/dev/null" && line.ends_with(" version")),
            "{line}"
        );
        assert!(
            line.contains(&format!("DOCKER_HOST={} ", fx.engine.host())),
            "{line}"
        );
        if line.contains(" create ") || line.contains(" delete ") {
            assert!(
                line.contains(&format!("--kubeconfig {kubeconfig}")),
                "{line}"
            );
        }
    }
    assert!(
        calls.contains(&format!(" delete cluster --name {cluster} ")),
        "{calls}"
    );
    // The user's kubeconfig was never created or touched.
    assert!(!home.join(".kube").exists());
    // The node is gone after its logs were taken.
    let left = meshproof_cluster::nodes::list_containers(&fx.engine, &cluster)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");

    // The bundle: the node's logs are in it, and neither secret is, anywhere.
    let mut tar_bytes = Vec::new();
    zstd::stream::read::Decoder::new(std::fs::File::open(&out).unwrap())
        .unwrap()
        .read_to_end(&mut tar_bytes)
        .unwrap();
    let mut names = Vec::new();
    let mut debug_log = String::new();
    let mut ar = tar::Archive::new(tar_bytes.as_slice());
    for entry in ar.entries().unwrap() {
        let mut e = entry.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        if name.ends_with("var/log/kubelet-debug.log") {
            e.read_to_string(&mut debug_log).unwrap();
        }
        names.push(name);
    }
    let node = format!("logs/nodes/{cluster}-control-plane");
    for f in [
        "serial.log",
        "inspect.json",
        "journal.log",
        "var/log/kubelet-debug.log",
    ] {
        assert!(
            names.contains(&format!("{node}/{f}")),
            "{f} missing: {names:?}"
        );
    }
    assert!(debug_log.contains("[REDACTED]"), "{debug_log}");
    assert!(
        debug_log.contains("Authorization: Bearer [REDACTED]"),
        "{debug_log}"
    );
    let all = String::from_utf8_lossy(&tar_bytes);
    assert!(!all.contains(KEY_BODY), "the private key is in the bundle");
    assert!(!all.contains(TOKEN), "the bearer token is in the bundle");
    assert!(!all.contains("BEGIN PRIVATE KEY"));
}
