//! Bring-up that really waits, without a cluster: a fake `kind` that does what kind
//! v0.11.1–v0.32.0 do when their `--wait` runs out (print `WARNING: Timed out waiting for Ready`
//! and exit 0), and the API server as a `tower_test` mock. Bring-up must then poll nodes,
//! CoreDNS and the default ServiceAccount itself and time out naming the last state; every
//! kind invocation carries the scratch kubeconfig. (The fake kind is named by its path, not put
//! on PATH: the tests share one process.)

// The Kubernetes layer's mock API server.
use crate::kube_mock as api;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use meshproof::bringup::{bring_up, BringUpError};
use meshproof_cluster::kind::{CreateRequest, KindCli, ScratchKubeconfig};
use meshproof_kube::ClusterReadyError;
use serde_json::json;

const NODES: &str = "/api/v1/nodes";
const COREDNS: &str = "/apis/apps/v1/namespaces/kube-system/deployments/coredns";
const SA: &str = "/api/v1/namespaces/default/serviceaccounts/default";

/// kind's behaviour when its wait runs out (`waitforready.go`: log the warning, return nil):
/// write the kubeconfig where `--kubeconfig` says, warn, exit 0. Every call is logged.
const FAKE_KIND: &str = r#"#!/bin/sh
echo "KUBECONFIG=$KUBECONFIG $*" >> "$(dirname "$0")/calls.log"
case "$1" in
  version) echo 'kind v0.32.0 go1.24.2 linux/amd64';;
  create)
    kc=""; while [ $# -gt 0 ]; do [ "$1" = --kubeconfig ] && kc="$2"; shift; done
    printf 'apiVersion: v1\nkind: Config\n' > "$kc"
    echo 'Creating cluster "meshproof-slow" ...' >&2
    echo ' ✗ Waiting ≤ 5m0s for control-plane = Ready ⏳' >&2
    echo ' • WARNING: Timed out waiting for Ready ⚠️' >&2
    exit 0;;
  delete) exit 0;;
esac
"#;

#[test]
fn kind_exiting_0_after_its_timeout_is_not_taken_as_ready() {
    let bin = tempfile::tempdir().unwrap();
    let kind_path = bin.path().join("kind");
    std::fs::write(&kind_path, FAKE_KIND).unwrap();
    std::fs::set_permissions(&kind_path, std::fs::Permissions::from_mode(0o755)).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // The cluster kind left behind: node NotReady (no CNI yet), CoreDNS pending, no default
    // ServiceAccount.
    let mock = rt.block_on(async {
        api::start(|req| match (req.method.as_str(), req.path.as_str()) {
            ("GET", NODES) => api::json_reply(200, json!({
                "kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"},
                "items": [{"metadata": {"name": "meshproof-slow-control-plane"},
                           "status": {"conditions": [{"type": "Ready", "status": "False",
                               "reason": "KubeletNotReady", "message": "cni plugin not initialized",
                               "lastHeartbeatTime": "2026-11-26T10:00:00Z", "lastTransitionTime": "2026-11-26T10:00:00Z"}]}}]})),
            ("GET", COREDNS) => api::json_reply(200, json!({
                "kind": "Deployment", "apiVersion": "apps/v1",
                "metadata": {"name": "coredns", "namespace": "kube-system", "generation": 1},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                         "template": {"spec": {"containers": [{"name": "coredns"}]}}},
                "status": {"observedGeneration": 1, "replicas": 2, "availableReplicas": 0,
                           "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}]}})),
            ("GET", SA) => api::not_found("", "serviceaccounts", "default"),
            _ => api::no_such_resource(),
        })
    });

    let scratch = ScratchKubeconfig::temporary().unwrap();
    // The fake kind, by its path (`KindCli` takes a path or a name looked up on PATH).
    let kind = KindCli::new(kind_path.to_str().unwrap(), scratch.path());
    let req = CreateRequest {
        name: "meshproof-slow".into(),
        config_path: PathBuf::from("/tmp/kind-config.yaml"),
        wait: Duration::from_secs(300),
        retain: true,
    };
    let mock_kube = mock.kube.clone();
    let mut connected_with = None;
    let err = bring_up(
        rt.handle(),
        &kind,
        &req,
        1,
        Duration::from_millis(600),
        |path, context| {
            connected_with = Some((path.to_path_buf(), context.to_string()));
            Ok(mock_kube)
        },
    )
    .unwrap_err();

    // Connected with what kind wrote into the scratch kubeconfig, kind's context.
    assert_eq!(
        connected_with,
        Some((
            scratch.path().to_path_buf(),
            "kind-meshproof-slow".to_string()
        ))
    );
    // Timed out through the API, naming the last state of nodes, CoreDNS and the account,
    // and what kind said.
    let BringUpError::NotReady {
        kind_warnings,
        source: ClusterReadyError::Timeout { last_state, .. },
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(
        kind_warnings,
        &vec!["• WARNING: Timed out waiting for Ready ⚠️".to_string()]
    );
    assert_eq!(
        last_state,
        "nodes: 0/1 Ready, not ready: meshproof-slow-control-plane Ready=False (KubeletNotReady: cni plugin not initialized); CoreDNS kube-system/coredns: Available=False (MinimumReplicasUnavailable); 0/2 replicas available; ServiceAccount default/default: not created yet"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("cluster meshproof-slow is not ready: timed out after 600ms"),
        "{msg}"
    );
    assert!(
        msg.ends_with("(kind said: • WARNING: Timed out waiting for Ready ⚠️)"),
        "{msg}"
    );
    // It polled nodes and CoreDNS (more than once each).
    let lines = mock.lines();
    for p in [NODES, COREDNS, SA] {
        assert!(
            lines.iter().filter(|l| **l == format!("GET {p}")).count() >= 2,
            "{p}: {lines:?}"
        );
    }
    // The fake kind ran with the scratch kubeconfig, flag and environment.
    let calls = std::fs::read_to_string(bin.path().join("calls.log")).unwrap();
    let kc = scratch.path().display().to_string();
    assert_eq!(
        calls,
        format!("KUBECONFIG={kc} create cluster --name meshproof-slow --config /tmp/kind-config.yaml --wait 300s --kubeconfig {kc} --retain\n")
    );
}
