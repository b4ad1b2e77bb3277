//! An external cluster (`run --kubeconfig`): the kubeconfig checked without a request, the
//! nodes recorded from their kubelets, and what a user-installed mesh actually runs.

use meshproof_kube::{check_kubeconfig, KubeconfigError};
use serde_json::{json, Value};

use crate::api::*;
use crate::cluster::{node, node_list, NODES_PATH};

/// An OSM controller pod as the API server lists it after the kubelet pulled its images:
/// the status carries the resolved image ids, the labels Helm set.
fn osm_controller_pod() -> Value {
    json!({
        "metadata": {"name": "osm-controller-5d8f7c9b4-x2x7k", "namespace": "osm-system",
                     "labels": {"app": "osm-controller", "app.kubernetes.io/version": "1.2.4",
                                "helm.sh/chart": "osm-1.2.4"}},
        "spec": {
            "initContainers": [{"name": "init-osm-controller", "image": "openservicemesh/init-osm-controller:v1.2.4"}],
            "containers": [
                {"name": "osm-controller", "image": "openservicemesh/osm-controller:v1.2.4"},
                {"name": "envoy", "image": "envoyproxy/envoy:v1.22.2"}
            ]
        },
        "status": {
            "phase": "Running",
            "initContainerStatuses": [{"name": "init-osm-controller", "ready": false, "restartCount": 0,
                "image": "docker.io/openservicemesh/init-osm-controller:v1.2.4",
                "imageID": "docker.io/openservicemesh/init-osm-controller@sha256:1111111111111111111111111111111111111111111111111111111111111111"}],
            "containerStatuses": [{"name": "osm-controller", "ready": true, "restartCount": 0,
                "image": "docker.io/openservicemesh/osm-controller:v1.2.4",
                "imageID": "docker.io/openservicemesh/osm-controller@sha256:2222222222222222222222222222222222222222222222222222222222222222"}]
        }
    })
}

fn pod_list(items: Vec<Value>) -> Value {
    json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "900"}, "items": items})
}

#[tokio::test]
async fn node_info_records_every_kubelet_sorted_by_name() {
    let api = start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", NODES_PATH) => json_reply(
            200,
            node_list(vec![node("worker-b", "True"), node("control-a", "False")]),
        ),
        _ => no_such_resource(),
    });
    let nodes = api.kube.node_info().await.unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["control-a", "worker-b"]);
    assert_eq!(nodes[0].kubelet_version, "v1.36.1");
    assert_eq!(nodes[0].container_runtime_version, "containerd://2.1.4");
    assert_eq!(nodes[0].os_image, "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(nodes[0].architecture, "amd64");
    assert_eq!(api.lines(), [format!("GET {NODES_PATH}")]);
}

#[tokio::test]
async fn node_info_fails_with_the_api_servers_message_when_nodes_are_forbidden() {
    let api = start(|_| {
        status(
            403,
            "Forbidden",
            "nodes is forbidden: User \"ci\" cannot list resource \"nodes\" in API group \"\" at the cluster scope",
            json!({"kind": "nodes"}),
        )
    });
    let e = api.kube.node_info().await.unwrap_err().to_string();
    assert!(e.starts_with("cannot list the cluster's nodes"), "{e}");
    assert!(
        e.contains("cannot list resource \\\"nodes\\\"")
            || e.contains("cannot list resource \"nodes\""),
        "{e}"
    );
}

#[tokio::test]
async fn running_mesh_records_images_ids_and_version_labels_and_names_unlistable_namespaces() {
    let api = start(|req| {
        match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/namespaces/osm-system/pods") => {
            json_reply(200, pod_list(vec![osm_controller_pod()]))
        }
        ("GET", "/api/v1/namespaces/osm-extra/pods") => status(
            403,
            "Forbidden",
            "pods is forbidden: User \"ci\" cannot list resource \"pods\" in API group \"\" in the namespace \"osm-extra\"",
            json!({"kind": "pods"}),
        ),
        _ => no_such_resource(),
    }
    });
    let running = api
        .kube
        .running_mesh(&["osm-system".to_string(), "osm-extra".to_string()])
        .await;
    let rows: Vec<(&str, &str, &str)> = running
        .containers
        .iter()
        .map(|c| (c.container.as_str(), c.image.as_str(), c.image_id.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            // Not started yet: the spec's image, no id.
            ("envoy", "envoyproxy/envoy:v1.22.2", ""),
            (
                "init-osm-controller",
                "docker.io/openservicemesh/init-osm-controller:v1.2.4",
                "docker.io/openservicemesh/init-osm-controller@sha256:1111111111111111111111111111111111111111111111111111111111111111"
            ),
            (
                "osm-controller",
                "docker.io/openservicemesh/osm-controller:v1.2.4",
                "docker.io/openservicemesh/osm-controller@sha256:2222222222222222222222222222222222222222222222222222222222222222"
            ),
        ]
    );
    assert!(running
        .containers
        .iter()
        .all(|c| c.pod == "osm-system/osm-controller-5d8f7c9b4-x2x7k"));
    assert_eq!(
        running.version_labels["app.kubernetes.io/version"],
        ["1.2.4"]
    );
    assert_eq!(running.version_labels["helm.sh/chart"], ["osm-1.2.4"]);
    assert!(
        running.unlisted["osm-extra"].contains("forbidden"),
        "{:?}",
        running.unlisted
    );
}

fn write(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("kubeconfig.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://10.0.0.1:6443\n- name: empty\n  cluster: {}\ncontexts:\n- name: main\n  context:\n    cluster: prod\n    user: me\n- name: broken\n  context:\n    cluster: gone\n    user: me\n- name: serverless\n  context:\n    cluster: empty\n    user: me\ncurrent-context: main\nusers:\n- name: me\n  user: {}\n";

#[test]
fn a_kubeconfig_is_checked_without_contacting_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let kc = write(tmp.path(), KUBECONFIG);
    let t = check_kubeconfig(&kc, None).unwrap();
    assert_eq!(
        (t.context.as_str(), t.cluster.as_str(), t.server.as_str()),
        ("main", "prod", "https://10.0.0.1:6443")
    );
    let e = check_kubeconfig(&kc, Some("nope")).unwrap_err();
    assert!(matches!(e, KubeconfigError::Context { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            "kubeconfig {}: no context \"nope\"; contexts in the file: main, broken, serverless",
            kc.display()
        )
    );
    let e = check_kubeconfig(&kc, Some("broken"))
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("context broken names cluster gone, which is not in the file"),
        "{e}"
    );
    let e = check_kubeconfig(&kc, Some("serverless"))
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("which has no server"), "{e}");
    let missing = tmp.path().join("missing.yaml");
    let e = check_kubeconfig(&missing, None).unwrap_err().to_string();
    assert!(e.contains(&missing.display().to_string()), "{e}");
    let no_current = write(
        tmp.path(),
        &KUBECONFIG.replace("current-context: main\n", ""),
    );
    let e = check_kubeconfig(&no_current, None).unwrap_err().to_string();
    assert!(
        e.contains("no current-context (pass --context NAME)"),
        "{e}"
    );
}
