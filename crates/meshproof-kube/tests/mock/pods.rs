//! Pods as plain data for data-plane checks, and the sidecar injector's readiness wait.

use std::time::Duration;

use meshproof_kube::{Condition, PodSummary};
use serde_json::{json, Value};

use crate::api::*;

/// A workload pod as the API server returns it after the injector ran (or did not).
fn workload_pod(name: &str, app: &str, containers: &[&str], init: &[&str], ready: &str) -> Value {
    let c = |n: &&str| json!({"name": n, "image": format!("{n}:1")});
    json!({"metadata": {"name": name, "namespace": "mp-1-traffic-access", "uid": format!("uid-{name}"),
                        "resourceVersion": "71", "creationTimestamp": "2026-11-26T10:00:00Z",
                        "labels": {"app": app, "pod-template-hash": "6d4cf56db6"}},
           "spec": {"containers": containers.iter().map(c).collect::<Vec<_>>(),
                    "initContainers": init.iter().map(c).collect::<Vec<_>>()},
           "status": {"phase": "Running", "conditions": [
               {"type": "Ready", "status": ready, "lastProbeTime": null,
                "lastTransitionTime": "2026-11-26T10:00:09Z"}]}})
}

#[tokio::test]
async fn pods_list_the_namespace_with_containers_init_containers_and_readiness() {
    let api = start(|req| match req.path.as_str() {
        "/api/v1/namespaces/mp-1-traffic-access/pods" => json_reply(
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "72"},
            "items": [
                workload_pod("app-b-6d4cf56db6-q", "app-b", &["probe"], &[], "True"),
                workload_pod("app-a-6d4cf56db6-z", "app-a", &["probe", "linkerd-proxy"],
                             &["linkerd-init"], "True"),
            ]}),
        ),
        _ => no_such_resource(),
    });
    let pods = api.kube.pods("mp-1-traffic-access", "").await.unwrap();
    assert_eq!(
        pods,
        vec![
            PodSummary {
                name: "app-a-6d4cf56db6-z".into(),
                app: Some("app-a".into()),
                containers: vec![
                    "linkerd-init".into(),
                    "linkerd-proxy".into(),
                    "probe".into()
                ],
                ready: true,
                phase: "Running".into(),
            },
            PodSummary {
                name: "app-b-6d4cf56db6-q".into(),
                app: Some("app-b".into()),
                containers: vec!["probe".into()],
                ready: true,
                phase: "Running".into(),
            },
        ]
    );
    // Every pod of the namespace: no label selector.
    assert_eq!(api.requests()[0].q("labelSelector"), None);
}

fn injector_service() -> Value {
    json!({"kind": "Service", "apiVersion": "v1",
           "metadata": {"name": "linkerd-proxy-injector", "namespace": "linkerd", "uid": "svc-1",
                        "resourceVersion": "300", "creationTimestamp": "2026-11-26T10:00:00Z"},
           "spec": {"ports": [{"name": "proxy-injector", "port": 443, "targetPort": "proxy-injector"}],
                    "selector": {"linkerd.io/control-plane-component": "proxy-injector"},
                    "clusterIP": "10.96.14.2", "type": "ClusterIP"}})
}

fn slices(ready: Option<bool>) -> Value {
    let endpoints = match ready {
        None => json!([]),
        Some(r) => {
            json!([{"addresses": ["10.244.0.12"], "conditions": {"ready": r, "serving": r, "terminating": false},
                           "targetRef": {"kind": "Pod", "namespace": "linkerd", "name": "linkerd-proxy-injector-7f6d9-x"}}])
        }
    };
    json!({"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1", "metadata": {"resourceVersion": "301"},
           "items": [{"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                      "metadata": {"name": "linkerd-proxy-injector-abcde", "namespace": "linkerd",
                                   "labels": {"kubernetes.io/service-name": "linkerd-proxy-injector"}},
                      "addressType": "IPv4", "endpoints": endpoints,
                      "ports": [{"name": "proxy-injector", "port": 8443, "protocol": "TCP"}]}]})
}

const SERVICE: &str = "/api/v1/namespaces/linkerd/services/linkerd-proxy-injector";
const SLICES: &str = "/apis/discovery.k8s.io/v1/namespaces/linkerd/endpointslices";

fn injector() -> Condition {
    Condition::ServiceEndpointsReady {
        namespace: "linkerd".into(),
        name: "linkerd-proxy-injector".into(),
    }
}

#[tokio::test]
async fn the_injector_wait_holds_once_an_endpoint_is_ready() {
    let mut slice_reads = 0;
    let api = start(move |req| match req.path.as_str() {
        SERVICE => json_reply(200, injector_service()),
        SLICES => {
            slice_reads += 1;
            // No endpoint yet, then not ready, then ready: the webhook pod coming up.
            json_reply(
                200,
                slices(match slice_reads {
                    1 => None,
                    2 => Some(false),
                    _ => Some(true),
                }),
            )
        }
        _ => no_such_resource(),
    });
    api.kube
        .wait(&injector(), Duration::from_secs(10))
        .await
        .unwrap();
    let reads: Vec<Seen> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == SLICES)
        .collect();
    assert_eq!(reads.len(), 3);
    assert!(
        reads
            .iter()
            .all(|r| r.q("labelSelector")
                == Some("kubernetes.io/service-name=linkerd-proxy-injector"))
    );
}

#[tokio::test]
async fn the_injector_wait_times_out_naming_the_service_and_its_endpoints() {
    let api = start(|req| match req.path.as_str() {
        SERVICE => json_reply(200, injector_service()),
        SLICES => json_reply(200, slices(Some(false))),
        _ => no_such_resource(),
    });
    let err = api
        .kube
        .wait(&injector(), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "timed out after 300ms waiting for Service linkerd/linkerd-proxy-injector has a ready \
         endpoint; last state: 0 ready endpoints (1 not ready)"
    );
    // A Service that does not exist says so.
    let api = start(|req| match req.path.as_str() {
        SERVICE => not_found("", "services", "linkerd-proxy-injector"),
        _ => no_such_resource(),
    });
    let err = api
        .kube
        .wait(&injector(), Duration::from_millis(150))
        .await
        .unwrap_err();
    assert!(
        err.to_string().ends_with("last state: Service not found"),
        "{err}"
    );
}
