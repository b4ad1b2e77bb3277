//! get / delete of manifest objects and per-case namespaces.

use std::collections::BTreeMap;
use std::time::Duration;

use meshproof_kube::{DeleteOutcome, NamespaceError};
use serde_json::{json, Value};

use crate::api::*;

const APP_A: &str = "/apis/apps/v1/namespaces/smi-test/deployments/app-a";

fn app_a_doc() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app-a"}})
}

fn app_a_live(terminating: bool) -> Value {
    let mut d = as_stored(
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app-a"},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "app-a"}},
                        "template": {"metadata": {"labels": {"app": "app-a"}},
                                     "spec": {"containers": [{"name": "app", "image": "meshproof-probe:0.1.0"}]}}}}),
        Some("smi-test"),
    );
    if terminating {
        d["metadata"]["deletionTimestamp"] = json!("2026-11-26T10:10:00Z");
        d["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        d["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
    }
    d
}

#[tokio::test]
async fn delete_waits_until_the_object_is_gone() {
    let mut gets = 0;
    let api = start(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/apis/apps/v1") => json_reply(200, apps_v1_resources()),
        ("DELETE", APP_A) => json_reply(200, app_a_live(true)),
        ("GET", APP_A) => {
            gets += 1;
            if gets < 3 {
                json_reply(200, app_a_live(true))
            } else {
                not_found("apps", "deployments", "app-a")
            }
        }
        _ => no_such_resource(),
    });
    let outcome = api
        .kube
        .delete(&app_a_doc(), Some("smi-test"), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        DeleteOutcome {
            object: "Deployment/app-a".into(),
            ok: true,
            message: None
        }
    );
    assert_eq!(
        api.lines(),
        [
            "GET /apis/apps/v1".to_string(),
            format!("DELETE {APP_A}"),
            format!("GET {APP_A}"),
            format!("GET {APP_A}"),
            format!("GET {APP_A}"),
        ]
    );
    let delete = &api.requests()[1];
    assert_eq!(delete.json()["propagationPolicy"], "Background");
}

#[tokio::test]
async fn delete_of_an_absent_object_or_unserved_kind_is_ok_and_a_stuck_one_is_not() {
    let api = start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/apis/apps/v1") => json_reply(200, apps_v1_resources()),
        ("GET", "/apis/split.smi-spec.io/v1alpha4") => no_such_resource(),
        ("DELETE", APP_A) => not_found("apps", "deployments", "app-a"),
        ("DELETE", _) | ("GET", _) => json_reply(200, app_a_live(true)),
        _ => no_such_resource(),
    });
    let absent = api
        .kube
        .delete(&app_a_doc(), Some("smi-test"), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        absent,
        DeleteOutcome {
            object: "Deployment/app-a".into(),
            ok: true,
            message: Some("already absent".into())
        }
    );

    let split = json!({"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit", "metadata": {"name": "s"}});
    let unserved = api
        .kube
        .delete(&split, Some("smi-test"), Duration::from_secs(1))
        .await
        .unwrap();
    assert!(unserved.ok);
    assert_eq!(
        unserved.message.as_deref(),
        Some("no matches for kind \"TrafficSplit\" in version \"split.smi-spec.io/v1alpha4\"; nothing to delete")
    );

    let stuck_doc =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app-b"}});
    let stuck = api
        .kube
        .delete(&stuck_doc, Some("smi-test"), Duration::from_millis(250))
        .await
        .unwrap();
    assert!(!stuck.ok);
    assert_eq!(
        stuck.message.as_deref(),
        Some("still present after 250ms: terminating since 2026-11-26T10:10:00Z, finalizers: foregroundDeletion")
    );
    assert!(api
        .lines()
        .contains(&"DELETE /apis/apps/v1/namespaces/smi-test/deployments/app-b".to_string()));
}

#[tokio::test]
async fn get_returns_the_live_object_or_none() {
    let api = start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/apis/apps/v1") => json_reply(200, apps_v1_resources()),
        ("GET", "/api/v1") => json_reply(200, core_v1_resources()),
        ("GET", "/apis/access.smi-spec.io/v1alpha3") => no_such_resource(),
        ("GET", APP_A) => json_reply(200, app_a_live(false)),
        ("GET", "/api/v1/namespaces/other/services/app-b") => not_found("", "services", "app-b"),
        _ => no_such_resource(),
    });
    let live = api
        .kube
        .get(&app_a_doc(), Some("smi-test"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        live["metadata"]["uid"],
        "6c1bd6a5-1b5a-4d8e-9a0e-3f0d3c0b8f51"
    );
    assert_eq!(live["spec"]["replicas"], 1);

    // The document's own namespace wins over the one passed.
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app-b", "namespace": "other"}});
    assert_eq!(api.kube.get(&svc, Some("smi-test")).await.unwrap(), None);

    let tt = json!({"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget", "metadata": {"name": "t"}});
    assert_eq!(api.kube.get(&tt, Some("smi-test")).await.unwrap(), None);

    assert_eq!(
        api.lines(),
        [
            "GET /apis/apps/v1".to_string(),
            format!("GET {APP_A}"),
            "GET /api/v1".to_string(),
            "GET /api/v1/namespaces/other/services/app-b".to_string(),
            "GET /apis/access.smi-spec.io/v1alpha3".to_string(),
        ]
    );

    let err = api
        .kube
        .get(&json!({"kind": "Service"}), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "manifest object Service/<no name> is not usable: no apiVersion"
    );
    assert!(!err.is_transient(), "a bad document stays bad");
}

/// A lookup that meets a struggling API server (500 on the object, 503 on discovery of its
/// group) is transient; a forbidden one is not.
#[tokio::test]
async fn get_errors_say_whether_trying_again_may_help() {
    let api = start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/apis/apps/v1") => json_reply(200, apps_v1_resources()),
        ("GET", APP_A) => status(
            500,
            "InternalError",
            "etcdserver: leader changed",
            json!({}),
        ),
        ("GET", "/apis/access.smi-spec.io/v1alpha3") => status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            json!({}),
        ),
        _ => no_such_resource(),
    });
    let err = api
        .kube
        .get(&app_a_doc(), Some("smi-test"))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    let tt = json!({"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget", "metadata": {"name": "t"}});
    let err = api.kube.get(&tt, Some("smi-test")).await.unwrap_err();
    assert!(err.is_transient(), "{err}");

    let api = start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/apis/apps/v1") => json_reply(200, apps_v1_resources()),
        ("GET", APP_A) => status(
            403,
            "Forbidden",
            "deployments.apps \"app-a\" is forbidden",
            json!({}),
        ),
        _ => no_such_resource(),
    });
    let err = api
        .kube
        .get(&app_a_doc(), Some("smi-test"))
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err}");
}

#[tokio::test]
async fn ensure_namespace_applies_labels_and_annotations() {
    let api = start(|req| json_reply(200, as_stored(req.json(), None)));
    let labels: BTreeMap<String, String> = [(
        "openservicemesh.io/monitored-by".to_string(),
        "osm".to_string(),
    )]
    .into();
    let annotations: BTreeMap<String, String> = [(
        "openservicemesh.io/sidecar-injection".to_string(),
        "enabled".to_string(),
    )]
    .into();
    api.kube
        .ensure_namespace("smi-access-1", &labels, &annotations)
        .await
        .unwrap();
    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.line(), "PATCH /api/v1/namespaces/smi-access-1");
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(r.q("fieldManager"), Some("meshproof"));
    assert_eq!(r.q("force"), Some("true"));
    assert_eq!(
        r.json(),
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "smi-access-1",
                            "labels": {"openservicemesh.io/monitored-by": "osm"},
                            "annotations": {"openservicemesh.io/sidecar-injection": "enabled"}}})
    );
}

fn namespace(phase: &str) -> Value {
    json!({"kind": "Namespace", "apiVersion": "v1",
    "metadata": {"name": "smi-access-1", "uid": "9f0e", "resourceVersion": "777",
                 "creationTimestamp": "2026-11-26T10:00:00Z", "deletionTimestamp": "2026-11-26T10:20:00Z",
                 "labels": {"kubernetes.io/metadata.name": "smi-access-1"}},
    "spec": {"finalizers": ["kubernetes"]},
    "status": {"phase": phase, "conditions": [
        {"type": "NamespaceDeletionDiscoveryFailure", "status": "False", "lastTransitionTime": "2026-11-26T10:20:05Z",
         "reason": "ResourcesDiscovered", "message": "All resources successfully discovered"},
        {"type": "NamespaceContentRemaining", "status": "True", "lastTransitionTime": "2026-11-26T10:20:05Z",
         "reason": "SomeResourcesRemain", "message": "Some resources are remaining: pods. has 1 resource instances"}
    ]}})
}

#[tokio::test]
async fn delete_namespace_waits_until_gone_and_times_out_with_its_state() {
    let mut gets = 0;
    let api = start(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("DELETE", "/api/v1/namespaces/smi-access-1") => json_reply(200, namespace("Terminating")),
        ("GET", "/api/v1/namespaces/smi-access-1") => {
            gets += 1;
            if gets == 1 {
                json_reply(200, namespace("Terminating"))
            } else {
                not_found("", "namespaces", "smi-access-1")
            }
        }
        ("DELETE", "/api/v1/namespaces/gone") => not_found("", "namespaces", "gone"),
        _ => json_reply(200, namespace("Terminating")),
    });
    api.kube
        .delete_namespace("smi-access-1", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        api.lines(),
        [
            "DELETE /api/v1/namespaces/smi-access-1",
            "GET /api/v1/namespaces/smi-access-1",
            "GET /api/v1/namespaces/smi-access-1",
        ]
    );
    api.kube
        .delete_namespace("gone", Duration::from_secs(1))
        .await
        .unwrap();

    let err = api
        .kube
        .delete_namespace("stuck", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, NamespaceError::DeleteTimeout { .. }));
    assert_eq!(
        err.to_string(),
        "namespace stuck still present 200ms after its deletion; last state: phase Terminating; \
         NamespaceContentRemaining: Some resources are remaining: pods. has 1 resource instances"
    );
}
