//! Named wait conditions: polling, timeouts that name the condition and the last state.

use std::time::{Duration, Instant};

use meshproof_kube::{Condition, WaitError};
use serde_json::json;

use crate::api::*;

fn osm_controller(available: &str, ready: i64) -> serde_json::Value {
    json!({
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "osm-controller", "namespace": "osm-system", "uid": "0b1c",
                     "resourceVersion": "2211", "generation": 1, "creationTimestamp": "2026-11-26T10:00:00Z",
                     "labels": {"app": "osm-controller"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "osm-controller"}},
                 "template": {"metadata": {"labels": {"app": "osm-controller"}},
                              "spec": {"containers": [{"name": "osm-controller", "image": "openservicemesh/osm-controller:v1.2.4"}]}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                 "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                   "readyReplicas": ready, "availableReplicas": ready, "unavailableReplicas": 1 - ready,
                   "conditions": [
                       {"type": "Available", "status": available,
                        "lastUpdateTime": "2026-11-26T10:00:01Z", "lastTransitionTime": "2026-11-26T10:00:01Z",
                        "reason": if available == "True" { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                        "message": if available == "True" { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." }},
                       {"type": "Progressing", "status": "True",
                        "lastUpdateTime": "2026-11-26T10:00:01Z", "lastTransitionTime": "2026-11-26T10:00:01Z",
                        "reason": "ReplicaSetUpdated", "message": "ReplicaSet \"osm-controller-5d9c\" is progressing."}
                   ]}
    })
}

const DEPLOYMENT_PATH: &str = "/apis/apps/v1/namespaces/osm-system/deployments/osm-controller";

#[tokio::test]
async fn a_deployment_wait_times_out_naming_the_condition_and_the_last_state() {
    let api = start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", DEPLOYMENT_PATH) => json_reply(200, osm_controller("False", 0)),
        _ => no_such_resource(),
    });
    let condition = Condition::DeploymentAvailable {
        namespace: "osm-system".into(),
        name: "osm-controller".into(),
    };
    let started = Instant::now();
    let err = api
        .kube
        .wait(&condition, Duration::from_millis(500))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();

    assert!(matches!(&err, WaitError::Timeout { condition: c, .. } if *c == condition));
    assert_eq!(
        err.to_string(),
        "timed out after 500ms waiting for Deployment osm-system/osm-controller available; last state: \
         Available=False (MinimumReplicasUnavailable: Deployment does not have minimum availability.); 0/1 replicas available"
    );
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    // It polled (checked right away and again), and only ever read the Deployment.
    let lines = api.lines();
    assert!(lines.len() >= 3, "{lines:?}");
    assert!(
        lines.iter().all(|l| l == &format!("GET {DEPLOYMENT_PATH}")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_deployment_wait_returns_as_soon_as_it_is_available() {
    let mut calls = 0;
    let api = start(move |req| match req.path.as_str() {
        DEPLOYMENT_PATH => {
            calls += 1;
            match calls {
                1 => not_found("apps", "deployments", "osm-controller"),
                2 => json_reply(200, osm_controller("False", 0)),
                _ => json_reply(200, osm_controller("True", 1)),
            }
        }
        _ => no_such_resource(),
    });
    let condition = Condition::DeploymentAvailable {
        namespace: "osm-system".into(),
        name: "osm-controller".into(),
    };
    api.kube
        .wait(&condition, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(api.lines().len(), 3);
}

fn pod(name: &str, ready: &str) -> serde_json::Value {
    json!({
        "metadata": {"name": name, "generateName": "app-a-7d9c6b5f4-", "namespace": "smi-test",
                     "uid": format!("uid-{name}"), "resourceVersion": "901",
                     "creationTimestamp": "2026-11-26T10:00:00Z", "labels": {"app": "app-a", "pod-template-hash": "7d9c6b5f4"}},
        "spec": {"containers": [{"name": "app", "image": "meshproof-probe:0.1.0"}], "serviceAccountName": "service-a", "nodeName": "kind-control-plane"},
        "status": {"phase": "Running",
                   "conditions": [
                       {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-26T10:00:00Z"},
                       {"type": "Ready", "status": ready, "lastProbeTime": null, "lastTransitionTime": "2026-11-26T10:00:00Z",
                        "reason": if ready == "True" { serde_json::Value::Null } else { json!("ContainersNotReady") },
                        "message": if ready == "True" { serde_json::Value::Null } else { json!("containers with unready status: [app]") }},
                       {"type": "ContainersReady", "status": ready, "lastProbeTime": null, "lastTransitionTime": "2026-11-26T10:00:00Z"},
                       {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-26T10:00:00Z"}
                   ],
                   "hostIP": "172.18.0.2", "podIP": "10.244.0.7", "startTime": "2026-11-26T10:00:00Z"}
    })
}

fn pod_list(items: Vec<serde_json::Value>) -> serde_json::Value {
    json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "950"}, "items": items})
}

#[tokio::test]
async fn a_pods_wait_lists_by_selector_and_times_out_naming_the_unready_pods() {
    let api = start(|req| match req.path.as_str() {
        "/api/v1/namespaces/smi-test/pods" => json_reply(
            200,
            pod_list(vec![
                pod("app-a-7d9c6b5f4-x2x9q", "True"),
                pod("app-a-7d9c6b5f4-k8s7d", "False"),
            ]),
        ),
        _ => no_such_resource(),
    });
    let condition = Condition::PodsReady {
        namespace: "smi-test".into(),
        selector: "app=app-a".into(),
    };
    let err = api
        .kube
        .wait(&condition, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "timed out after 300ms waiting for pods app=app-a in smi-test ready; last state: \
         1/2 pods ready; not ready: app-a-7d9c6b5f4-k8s7d (Running, Ready=False (ContainersNotReady))"
    );
    let requests = api.requests();
    assert!(requests.len() >= 2);
    for r in &requests {
        assert_eq!(r.line(), "GET /api/v1/namespaces/smi-test/pods");
        assert_eq!(r.q("labelSelector"), Some("app=app-a"));
    }
}

#[tokio::test]
async fn a_pods_wait_with_no_matching_pods_says_so() {
    let api = start(|_| json_reply(200, pod_list(vec![])));
    let condition = Condition::PodsReady {
        namespace: "smi-test".into(),
        selector: "app=app-b".into(),
    };
    let err = api
        .kube
        .wait(&condition, Duration::from_millis(150))
        .await
        .unwrap_err();
    assert!(
        err.to_string().ends_with("last state: no pods match"),
        "{err}"
    );
}

#[tokio::test]
async fn an_api_service_wait_reports_the_missing_service_and_a_forbidden_read_ends_at_once() {
    let api = start(|req| {
        match req.path.as_str() {
        "/apis/apiregistration.k8s.io/v1/apiservices/v1alpha1.metrics.smi-spec.io" => not_found(
            "apiregistration.k8s.io",
            "apiservices",
            "v1alpha1.metrics.smi-spec.io",
        ),
        _ => status(
            403,
            "Forbidden",
            "customresourcedefinitions.apiextensions.k8s.io \"x\" is forbidden: User \"meshproof\" cannot get resource \"customresourcedefinitions\" in API group \"apiextensions.k8s.io\" at the cluster scope",
            json!({"name": "x", "group": "apiextensions.k8s.io", "kind": "customresourcedefinitions"}),
        ),
    }
    });
    let err = api
        .kube
        .wait(
            &Condition::ApiServiceAvailable {
                name: "v1alpha1.metrics.smi-spec.io".into(),
            },
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "timed out after 200ms waiting for APIService v1alpha1.metrics.smi-spec.io available; last state: not found"
    );

    let before = api.requests().len();
    let started = Instant::now();
    let err = api
        .kube
        .wait(
            &Condition::CrdEstablished { name: "x".into() },
            Duration::from_secs(30),
        )
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, WaitError::Refused { .. }));
    assert!(
        err.to_string().starts_with("cannot wait for CustomResourceDefinition x established: customresourcedefinitions.apiextensions.k8s.io \"x\" is forbidden"),
        "{err}"
    );
    assert_eq!(api.requests().len(), before + 1);
}

/// Traefik Mesh's node proxy as the API server returns it while it rolls out on a two-node
/// cluster (chart traefik/mesh-helm-chart mesh/templates/proxy/proxy-daemonset.yaml).
fn traefik_proxy(observed: i64, desired: i32, updated: i32, available: i32) -> serde_json::Value {
    json!({
        "kind": "DaemonSet", "apiVersion": "apps/v1",
        "metadata": {"name": "traefik-mesh-proxy", "namespace": "traefik-mesh", "uid": "5e1f",
                     "resourceVersion": "3102", "generation": 1, "creationTimestamp": "2026-11-26T10:00:00Z",
                     "labels": {"app": "maesh", "component": "maesh-mesh"},
                     "annotations": {"deprecated.daemonset.template.generation": "1"}},
        "spec": {"selector": {"matchLabels": {"app": "maesh", "component": "maesh-mesh"}},
                 "template": {"metadata": {"labels": {"app": "maesh", "component": "maesh-mesh"}},
                              "spec": {"containers": [{"name": "traefik-mesh-proxy", "image": "traefik:v2.8"}]}},
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                 "revisionHistoryLimit": 10},
        "status": {"currentNumberScheduled": desired, "numberMisscheduled": 0,
                   "desiredNumberScheduled": desired, "numberReady": available,
                   "observedGeneration": observed, "updatedNumberScheduled": updated,
                   "numberAvailable": available, "numberUnavailable": desired - available}
    })
}

const DAEMONSET_PATH: &str = "/apis/apps/v1/namespaces/traefik-mesh/daemonsets/traefik-mesh-proxy";

#[tokio::test]
async fn a_daemon_set_wait_holds_once_every_desired_pod_is_updated_and_available() {
    let mut calls = 0;
    let api = start(move |req| match req.path.as_str() {
        DAEMONSET_PATH => {
            calls += 1;
            match calls {
                1 => not_found("apps", "daemonsets", "traefik-mesh-proxy"),
                // Created, not yet seen by the controller.
                2 => json_reply(200, traefik_proxy(0, 0, 0, 0)),
                // Observed, but no node counted yet.
                3 => json_reply(200, traefik_proxy(1, 0, 0, 0)),
                4 => json_reply(200, traefik_proxy(1, 2, 2, 1)),
                _ => json_reply(200, traefik_proxy(1, 2, 2, 2)),
            }
        }
        _ => no_such_resource(),
    });
    let condition = Condition::DaemonSetReady {
        namespace: "traefik-mesh".into(),
        name: "traefik-mesh-proxy".into(),
    };
    api.kube
        .wait(&condition, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(api.lines().len(), 5);
    assert!(api
        .lines()
        .iter()
        .all(|l| l == &format!("GET {DAEMONSET_PATH}")));
}

#[tokio::test]
async fn a_daemon_set_wait_times_out_with_its_pod_counts() {
    let api = start(|req| match req.path.as_str() {
        DAEMONSET_PATH => json_reply(200, traefik_proxy(1, 2, 2, 1)),
        _ => no_such_resource(),
    });
    let condition = Condition::DaemonSetReady {
        namespace: "traefik-mesh".into(),
        name: "traefik-mesh-proxy".into(),
    };
    let err = api
        .kube
        .wait(&condition, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "timed out after 300ms waiting for DaemonSet traefik-mesh/traefik-mesh-proxy ready; last state: \
         1/2 pods available, 2/2 updated"
    );

    // A DaemonSet no node runs is not a ready data plane.
    let api = start(|req| match req.path.as_str() {
        DAEMONSET_PATH => json_reply(200, traefik_proxy(1, 0, 0, 0)),
        _ => no_such_resource(),
    });
    let err = api
        .kube
        .wait(&condition, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("last state: no node is to run it yet (desired 0; 0 misscheduled)"),
        "{err}"
    );
}

/// NGINX Service Mesh's SPIRE server with `mtls.persistentStorage: "on"` (its default):
/// helm-chart/templates/spire-server.yaml at v2.0.0 makes it a StatefulSet.
fn spire_server(observed: i64, ready: i32, current: &str, update: &str) -> serde_json::Value {
    json!({
        "kind": "StatefulSet", "apiVersion": "apps/v1",
        "metadata": {"name": "spire-server", "namespace": "nginx-mesh", "uid": "7a2c",
                     "resourceVersion": "4410", "generation": 2, "creationTimestamp": "2026-11-26T10:00:00Z",
                     "labels": {"app.kubernetes.io/name": "spire-server", "app.kubernetes.io/part-of": "nginx-service-mesh"}},
        "spec": {"replicas": 1, "serviceName": "spire-server",
                 "selector": {"matchLabels": {"app.kubernetes.io/name": "spire-server"}},
                 "template": {"metadata": {"labels": {"app.kubernetes.io/name": "spire-server"}},
                              "spec": {"containers": [{"name": "spire-server", "image": "ghcr.io/spiffe/spire-server:1.5.6"}]}},
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                 "podManagementPolicy": "OrderedReady"},
        "status": {"observedGeneration": observed, "replicas": 1, "readyReplicas": ready,
                   "currentReplicas": 1, "updatedReplicas": 1, "availableReplicas": ready,
                   "currentRevision": current, "updateRevision": update, "collisionCount": 0}
    })
}

const STATEFULSET_PATH: &str = "/apis/apps/v1/namespaces/nginx-mesh/statefulsets/spire-server";

#[tokio::test]
async fn a_stateful_set_wait_needs_the_generation_ready_replicas_and_one_revision() {
    let mut calls = 0;
    let api = start(move |req| match req.path.as_str() {
        STATEFULSET_PATH => {
            calls += 1;
            match calls {
                1 => json_reply(
                    200,
                    spire_server(1, 1, "spire-server-6c9", "spire-server-6c9"),
                ),
                2 => json_reply(
                    200,
                    spire_server(2, 0, "spire-server-6c9", "spire-server-7f1"),
                ),
                3 => json_reply(
                    200,
                    spire_server(2, 1, "spire-server-6c9", "spire-server-7f1"),
                ),
                _ => json_reply(
                    200,
                    spire_server(2, 1, "spire-server-7f1", "spire-server-7f1"),
                ),
            }
        }
        _ => no_such_resource(),
    });
    let condition = Condition::StatefulSetReady {
        namespace: "nginx-mesh".into(),
        name: "spire-server".into(),
    };
    api.kube
        .wait(&condition, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(api.lines().len(), 4);

    let api = start(|req| match req.path.as_str() {
        STATEFULSET_PATH => json_reply(
            200,
            spire_server(2, 1, "spire-server-6c9", "spire-server-7f1"),
        ),
        _ => no_such_resource(),
    });
    let err = api
        .kube
        .wait(&condition, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "timed out after 300ms waiting for StatefulSet nginx-mesh/spire-server ready; last state: \
         rolling update in progress (revision spire-server-6c9 → spire-server-7f1); 1/1 replicas ready"
    );
}
