//! Evidence collection: files written, images recorded, Secret data never written, redaction.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::api::*;
use crate::discovery::api_group_list;

const SECRET_PLAIN: &str = "hunter2-super-secret-value";
const SECRET_B64: &str = "aHVudGVyMi1zdXBlci1zZWNyZXQtdmFsdWU=";
const JWT: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6Ik1rN2cifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0.bm90LWEtcmVhbC1zaWduYXR1cmU";

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "4242"}, "items": items})
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "smi-test", "uid": format!("uid-{name}"), "resourceVersion": "100",
           "creationTimestamp": "2026-11-26T10:00:00Z",
           "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
                              "time": "2026-11-26T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]})
}

fn container_status(
    name: &str,
    image: &str,
    image_id: &str,
    restarts: i64,
    running: bool,
) -> Value {
    let state = if running {
        json!({"running": {"startedAt": "2026-11-26T10:01:00Z"}})
    } else {
        json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-11-26T10:00:10Z",
                              "finishedAt": "2026-11-26T10:00:11Z", "containerID": "containerd://aa"}})
    };
    let last = if restarts > 0 {
        json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-11-26T10:00:20Z",
                              "finishedAt": "2026-11-26T10:00:59Z", "containerID": "containerd://bb"}})
    } else {
        json!({})
    };
    json!({"name": name, "state": state, "lastState": last, "ready": running, "restartCount": restarts,
           "image": image, "imageID": image_id, "containerID": "containerd://cc", "started": running})
}

fn pod() -> Value {
    json!({
        "metadata": meta("app-a-7d9c6b5f4-x2x9q"),
        "spec": {"initContainers": [{"name": "osm-init", "image": "openservicemesh/init:v1.2.4"}],
                 "containers": [{"name": "app", "image": "meshproof-probe:0.1.0",
                                 "env": [{"name": "SERVICE_NAME", "value": "app-a"}]},
                                {"name": "envoy", "image": "envoyproxy/envoy:v1.26.4"}],
                 "serviceAccountName": "service-a"},
        "status": {"phase": "Running",
                   "initContainerStatuses": [container_status("osm-init", "docker.io/openservicemesh/init:v1.2.4",
                        "docker.io/openservicemesh/init@sha256:1111111111111111111111111111111111111111111111111111111111111111", 0, false)],
                   "containerStatuses": [
                        container_status("app", "docker.io/library/meshproof-probe:0.1.0",
                            "sha256:2222222222222222222222222222222222222222222222222222222222222222", 1, true),
                        container_status("envoy", "docker.io/envoyproxy/envoy:v1.26.4",
                            "docker.io/envoyproxy/envoy@sha256:3333333333333333333333333333333333333333333333333333333333333333", 0, true)]}
    })
}

fn cluster() -> MockApi {
    start(|req| {
        let path = req.path.as_str();
        match path {
            "/apis" => json_reply(200, api_group_list()),
            "/apis/access.smi-spec.io/v1alpha3" => json_reply(
                200,
                smi_resources("access.smi-spec.io/v1alpha3", &[("traffictargets", "traffictarget", "TrafficTarget")]),
            ),
            "/apis/specs.smi-spec.io/v1alpha4" => json_reply(
                200,
                smi_resources(
                    "specs.smi-spec.io/v1alpha4",
                    &[("httproutegroups", "httproutegroup", "HTTPRouteGroup"), ("tcproutes", "tcproute", "TCPRoute")],
                ),
            ),
            "/apis/split.smi-spec.io/v1alpha4" => json_reply(
                200,
                smi_resources("split.smi-spec.io/v1alpha4", &[("trafficsplits", "trafficsplit", "TrafficSplit")]),
            ),
            "/api/v1/namespaces/smi-test/pods" => json_reply(200, list("PodList", vec![pod()])),
            "/api/v1/namespaces/smi-test/pods/app-a-7d9c6b5f4-x2x9q/log" => {
                match (req.q("container"), req.q("previous")) {
                    (Some("app"), None) => text_reply(&format!(
                        "listening on :9091\nPOST /call from 10.244.0.1 Authorization: Bearer {JWT}\n"
                    )),
                    (Some("app"), Some("true")) => text_reply(
                        "loaded key -----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\nOOM\n",
                    ),
                    (Some("envoy"), None) => text_reply("[info] envoy ready\n"),
                    (Some("osm-init"), None) => status(
                        400,
                        "BadRequest",
                        "container \"osm-init\" in pod \"app-a-7d9c6b5f4-x2x9q\" is terminated and its logs were rotated away",
                        json!({}),
                    ),
                    _ => no_such_resource(),
                }
            }
            "/apis/apps/v1/namespaces/smi-test/deployments" => json_reply(
                200,
                json!({"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {"resourceVersion": "4242"},
                       "items": [{"metadata": meta("app-a"),
                                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "app-a"}},
                                           "template": {"metadata": {"labels": {"app": "app-a"}},
                                                        "spec": {"containers": [{"name": "app", "image": "meshproof-probe:0.1.0"}]}}},
                                  "status": {"replicas": 1, "availableReplicas": 1}}]}),
            ),
            "/api/v1/namespaces/smi-test/services" => json_reply(
                200,
                list("ServiceList", vec![json!({"metadata": meta("app-a"),
                    "spec": {"type": "ClusterIP", "clusterIP": "10.96.10.10", "selector": {"app": "app-a"},
                             "ports": [{"name": "http", "port": 9091, "targetPort": 9091, "protocol": "TCP", "appProtocol": "http"}]}})]),
            ),
            "/api/v1/namespaces/smi-test/serviceaccounts" => json_reply(
                200,
                list("ServiceAccountList", vec![json!({"metadata": meta("service-a")})]),
            ),
            "/api/v1/namespaces/smi-test/configmaps" => status(
                403,
                "Forbidden",
                "configmaps is forbidden: User \"meshproof\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"smi-test\"",
                json!({"kind": "configmaps"}),
            ),
            "/api/v1/namespaces/smi-test/secrets" => {
                let mut m = meta("probe-token");
                m["annotations"] = json!({
                    "kubectl.kubernetes.io/last-applied-configuration":
                        format!("{{\"apiVersion\":\"v1\",\"data\":{{\"token\":\"{SECRET_B64}\"}},\"stringData\":{{\"plain\":\"{SECRET_PLAIN}\"}},\"kind\":\"Secret\",\"metadata\":{{\"name\":\"probe-token\",\"namespace\":\"smi-test\"}}}}\n"),
                    "meshproof.dev/owner": "case traffic-access"
                });
                if req.accept.as_deref().is_some_and(|a| a.contains("as=PartialObjectMetadataList")) {
                    json_reply(200, json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                                           "metadata": {"resourceVersion": "4242"},
                                           "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": m}]}))
                } else {
                    // A full read would carry the data: the collector must never ask for it.
                    json_reply(200, list("SecretList", vec![json!({"metadata": m, "type": "Opaque",
                        "data": {"token": SECRET_B64}})]))
                }
            }
            "/api/v1/namespaces/smi-test/events" => json_reply(
                200,
                list("EventList", vec![
                    json!({"metadata": meta("app-a.2"), "involvedObject": {"kind": "Pod", "namespace": "smi-test", "name": "app-a-7d9c6b5f4-x2x9q"},
                           "reason": "BackOff", "message": "Back-off restarting failed container app", "type": "Warning",
                           "source": {"component": "kubelet"}, "count": 1,
                           "firstTimestamp": "2026-11-26T10:00:59Z", "lastTimestamp": "2026-11-26T10:00:59Z"}),
                    json!({"metadata": meta("app-a.1"), "involvedObject": {"kind": "Pod", "namespace": "smi-test", "name": "app-a-7d9c6b5f4-x2x9q"},
                           "reason": "Pulled", "message": format!("pulled with token {JWT}"), "type": "Normal",
                           "source": {"component": "kubelet"}, "count": 1,
                           "firstTimestamp": "2026-11-26T10:00:05Z", "lastTimestamp": "2026-11-26T10:00:05Z"})
                ]),
            ),
            "/apis/access.smi-spec.io/v1alpha3/namespaces/smi-test/traffictargets" => json_reply(
                200,
                json!({"kind": "TrafficTargetList", "apiVersion": "access.smi-spec.io/v1alpha3", "metadata": {"resourceVersion": "4242"},
                       "items": [{"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget", "metadata": meta("allow-a-to-b"),
                                  "spec": {"destination": {"kind": "ServiceAccount", "name": "service-b", "namespace": "smi-test"},
                                           "rules": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["all"]}],
                                           "sources": [{"kind": "ServiceAccount", "name": "service-a", "namespace": "smi-test"}]}}]}),
            ),
            p if p.starts_with("/apis/specs.smi-spec.io/v1alpha4/namespaces/smi-test/")
                || p.starts_with("/apis/split.smi-spec.io/v1alpha4/namespaces/smi-test/") =>
            {
                let kind = if p.ends_with("trafficsplits") { "TrafficSplitList" } else if p.ends_with("tcproutes") { "TCPRouteList" } else { "HTTPRouteGroupList" };
                json_reply(200, json!({"kind": kind, "apiVersion": "x/v", "metadata": {"resourceVersion": "4242"}, "items": []}))
            }
            _ => no_such_resource(),
        }
    })
}

#[tokio::test]
async fn evidence_writes_logs_events_and_object_dumps_without_secret_data() {
    let api = cluster();
    let dir = tempfile::tempdir().unwrap();
    let report = api
        .kube
        .collect_evidence(
            &["smi-test".to_string(), "smi-test".to_string()],
            dir.path(),
        )
        .await;

    let rel: Vec<String> = report
        .files
        .iter()
        .map(|p| {
            p.strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        rel,
        [
            "logs/smi-test/app-a-7d9c6b5f4-x2x9q/app.log",
            "logs/smi-test/app-a-7d9c6b5f4-x2x9q/app.previous.log",
            "logs/smi-test/app-a-7d9c6b5f4-x2x9q/envoy.log",
            "logs/smi-test/events.yaml",
            "logs/smi-test/objects/deployment.yaml",
            "logs/smi-test/objects/httproutegroup.specs.smi-spec.io.yaml",
            "logs/smi-test/objects/pod.yaml",
            "logs/smi-test/objects/secret.yaml",
            "logs/smi-test/objects/service.yaml",
            "logs/smi-test/objects/serviceaccount.yaml",
            "logs/smi-test/objects/tcproute.specs.smi-spec.io.yaml",
            "logs/smi-test/objects/trafficsplit.split.smi-spec.io.yaml",
            "logs/smi-test/objects/traffictarget.access.smi-spec.io.yaml",
        ]
    );

    // Image ids from the container statuses (init containers included).
    let images: BTreeMap<String, String> = [
        ("docker.io/envoyproxy/envoy:v1.26.4", "docker.io/envoyproxy/envoy@sha256:3333333333333333333333333333333333333333333333333333333333333333"),
        ("docker.io/library/meshproof-probe:0.1.0", "sha256:2222222222222222222222222222222222222222222222222222222222222222"),
        ("docker.io/openservicemesh/init:v1.2.4", "docker.io/openservicemesh/init@sha256:1111111111111111111111111111111111111111111111111111111111111111"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(report.images, images);

    // Best effort: the failures are recorded, the rest was collected.
    assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
    assert!(
        report.failures[0].starts_with(
            "smi-test: logs of app-a-7d9c6b5f4-x2x9q/osm-init: container \"osm-init\""
        ),
        "{:?}",
        report.failures
    );
    assert!(
        report.failures[1].starts_with("smi-test: list configmaps: configmaps is forbidden"),
        "{:?}",
        report.failures
    );

    let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
    // Logs: redacted, current and previous container.
    let app_log = read("logs/smi-test/app-a-7d9c6b5f4-x2x9q/app.log");
    assert_eq!(
        app_log,
        "listening on :9091\nPOST /call from 10.244.0.1 Authorization: Bearer [REDACTED]\n"
    );
    let previous = read("logs/smi-test/app-a-7d9c6b5f4-x2x9q/app.previous.log");
    assert_eq!(previous, "loaded key [REDACTED]\nOOM\n");

    // Object dumps are YAML `List`s, without managedFields.
    let pods: Value = serde_saphyr::from_str(&read("logs/smi-test/objects/pod.yaml")).unwrap();
    assert_eq!(pods["kind"], "List");
    assert_eq!(pods["items"][0]["kind"], "Pod");
    assert_eq!(
        pods["items"][0]["metadata"]["name"],
        "app-a-7d9c6b5f4-x2x9q"
    );
    assert!(pods["items"][0]["metadata"].get("managedFields").is_none());
    let tt: Value = serde_saphyr::from_str(&read(
        "logs/smi-test/objects/traffictarget.access.smi-spec.io.yaml",
    ))
    .unwrap();
    assert_eq!(tt["items"][0]["kind"], "TrafficTarget");
    assert_eq!(tt["items"][0]["spec"]["destination"]["name"], "service-b");

    // Events, oldest first, redacted.
    let events: Value = serde_saphyr::from_str(&read("logs/smi-test/events.yaml")).unwrap();
    assert_eq!(events["items"][0]["reason"], "Pulled");
    assert_eq!(
        events["items"][0]["message"],
        "pulled with token [REDACTED]"
    );
    assert_eq!(events["items"][1]["reason"], "BackOff");

    // The Secret: metadata only, fetched as metadata only.
    let secrets: Value =
        serde_saphyr::from_str(&read("logs/smi-test/objects/secret.yaml")).unwrap();
    assert_eq!(
        secrets["items"][0],
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "probe-token", "namespace": "smi-test", "uid": "uid-probe-token",
                            "resourceVersion": "100", "creationTimestamp": "2026-11-26T10:00:00Z",
                            "annotations": {"meshproof.dev/owner": "case traffic-access"}}})
    );
    let secret_request = api
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/namespaces/smi-test/secrets")
        .unwrap();
    assert!(secret_request
        .accept
        .unwrap()
        .contains("as=PartialObjectMetadataList"));

    // No written file holds the secret value or the token, in any form.
    for file in walk(dir.path().to_path_buf()) {
        let text = std::fs::read_to_string(&file).unwrap();
        for needle in [
            SECRET_PLAIN,
            SECRET_B64,
            "aHVudGVyMi1zdXBlci1zZWNyZXQtdmFsdWU",
            JWT,
            "MIGHAgEAMBMGByqGSM49",
        ] {
            assert!(
                !text.contains(needle),
                "{} contains {needle}",
                file.display()
            );
        }
    }

    // Namespaces given twice are collected once.
    let pod_lists = api
        .lines()
        .iter()
        .filter(|l| *l == "GET /api/v1/namespaces/smi-test/pods")
        .count();
    assert_eq!(pod_lists, 1);
}

fn walk(dir: PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(path));
        } else {
            out.push(path);
        }
    }
    out
}
