//! Bring-up readiness through the API: nodes Ready, CoreDNS available, the default
//! ServiceAccount; a timeout names the last state of each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meshproof_kube::ClusterReadyError;
use serde_json::{json, Value};

use crate::api::*;

pub const NODES_PATH: &str = "/api/v1/nodes";
pub const COREDNS_PATH: &str = "/apis/apps/v1/namespaces/kube-system/deployments/coredns";
pub const SA_PATH: &str = "/api/v1/namespaces/default/serviceaccounts/default";

/// A kind node as the API server lists it, `Ready` with `status` (kubelet's reasons).
pub fn node(name: &str, ready: &str) -> Value {
    let (reason, message) = if ready == "True" {
        ("KubeletReady", "kubelet is posting ready status")
    } else {
        (
            "KubeletNotReady",
            "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
        )
    };
    json!({
        "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": "611",
                     "labels": {"kubernetes.io/hostname": name, "node-role.kubernetes.io/control-plane": ""}},
        "spec": {"podCIDR": "10.244.0.0/24", "providerID": format!("kind://docker/kind/{name}")},
        "status": {"conditions": [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
             "message": "kubelet has sufficient memory available",
             "lastHeartbeatTime": "2026-11-26T10:00:00Z", "lastTransitionTime": "2026-11-26T10:00:00Z"},
            {"type": "Ready", "status": ready, "reason": reason, "message": message,
             "lastHeartbeatTime": "2026-11-26T10:00:00Z", "lastTransitionTime": "2026-11-26T10:00:00Z"}
        ],
        "nodeInfo": {"kubeletVersion": "v1.36.1", "containerRuntimeVersion": "containerd://2.1.4",
                     "architecture": "amd64", "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12 (bookworm)",
                     "kernelVersion": "6.1.0", "kubeProxyVersion": "", "machineID": "m", "systemUUID": "s",
                     "bootID": "b"}}
    })
}

pub fn node_list(items: Vec<Value>) -> Value {
    json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "612"}, "items": items})
}

/// kubeadm's CoreDNS Deployment with `available` of 2 replicas.
pub fn coredns(available: i64) -> Value {
    let ok = available >= 2;
    json!({
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "coredns", "namespace": "kube-system", "generation": 1, "resourceVersion": "700",
                     "labels": {"k8s-app": "kube-dns"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                 "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}},
                              "spec": {"containers": [{"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.12.1"}]}}},
        "status": {"observedGeneration": 1, "replicas": 2, "availableReplicas": available,
                   "unavailableReplicas": 2 - available,
                   "conditions": [{"type": "Available", "status": if ok { "True" } else { "False" },
                                   "reason": if ok { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                                   "message": "Deployment does not have minimum availability.",
                                   "lastUpdateTime": "2026-11-26T10:00:00Z", "lastTransitionTime": "2026-11-26T10:00:00Z"}]}
    })
}

pub fn default_sa() -> Value {
    json!({"kind": "ServiceAccount", "apiVersion": "v1",
           "metadata": {"name": "default", "namespace": "default", "uid": "sa", "resourceVersion": "400"}})
}

/// The cluster kind leaves when its `--wait` ran out: the node NotReady (no CNI yet), CoreDNS
/// pending, the ServiceAccount not yet created.
pub fn stuck_cluster() -> MockApi {
    start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", NODES_PATH) => json_reply(
            200,
            node_list(vec![node("meshproof-abc-control-plane", "False")]),
        ),
        ("GET", COREDNS_PATH) => json_reply(200, coredns(0)),
        ("GET", SA_PATH) => not_found("", "serviceaccounts", "default"),
        _ => no_such_resource(),
    })
}

#[tokio::test]
async fn a_stuck_cluster_times_out_naming_nodes_coredns_and_the_service_account() {
    let api = stuck_cluster();
    let err = api
        .kube
        .wait_cluster_ready(1, Duration::from_millis(400))
        .await
        .unwrap_err();
    let ClusterReadyError::Timeout { last_state, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        last_state,
        "nodes: 0/1 Ready, not ready: meshproof-abc-control-plane Ready=False (KubeletNotReady: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized); CoreDNS kube-system/coredns: Available=False (MinimumReplicasUnavailable); 0/2 replicas available; ServiceAccount default/default: not created yet"
    );
    assert!(err
        .to_string()
        .starts_with("timed out after 400ms waiting for the cluster to be ready"));
    // It polled all three, more than once.
    let lines = api.lines();
    for path in [NODES_PATH, COREDNS_PATH, SA_PATH] {
        let n = lines
            .iter()
            .filter(|l| **l == format!("GET {path}"))
            .count();
        assert!(n >= 2, "{path} polled {n} times: {lines:?}");
    }
}

#[tokio::test]
async fn readiness_holds_once_every_node_coredns_and_the_account_are_there() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let api = start(move |req| {
        let round = p.load(Ordering::SeqCst);
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", NODES_PATH) => {
                p.fetch_add(1, Ordering::SeqCst);
                // Round 0: only one of the two nodes registered; then the worker NotReady;
                // then both Ready.
                let items = match round {
                    0 => vec![node("m-control-plane", "True")],
                    1 => vec![node("m-control-plane", "True"), node("m-worker", "False")],
                    _ => vec![node("m-worker", "True"), node("m-control-plane", "True")],
                };
                json_reply(200, node_list(items))
            }
            ("GET", COREDNS_PATH) => json_reply(200, coredns(if round >= 2 { 2 } else { 1 })),
            ("GET", SA_PATH) => json_reply(200, default_sa()),
            _ => no_such_resource(),
        }
    });
    let ready = api
        .kube
        .wait_cluster_ready(2, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(ready.nodes, vec!["m-control-plane", "m-worker"]);
    assert_eq!(polls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_forbidden_answer_ends_the_wait_at_once() {
    let api = start(|req| match req.path.as_str() {
        NODES_PATH => status(
            403,
            "Forbidden",
            "nodes is forbidden: User \"system:anonymous\" cannot list resource \"nodes\"",
            json!({"kind": "nodes"}),
        ),
        COREDNS_PATH => json_reply(200, coredns(2)),
        SA_PATH => json_reply(200, default_sa()),
        _ => no_such_resource(),
    });
    let err = api
        .kube
        .wait_cluster_ready(1, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterReadyError::Refused(_)), "{err}");
    assert!(err.to_string().contains("cannot list resource"), "{err}");
}
