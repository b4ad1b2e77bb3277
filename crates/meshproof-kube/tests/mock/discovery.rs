//! Discovery: the served SMI groups/versions, the server version, raw GETs of the metrics API.

use std::collections::BTreeMap;

use serde_json::json;

use crate::api::*;

fn group(name: &str, versions: &[&str], preferred: &str) -> serde_json::Value {
    json!({
        "name": name,
        "versions": versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect::<Vec<_>>(),
        "preferredVersion": {"groupVersion": format!("{name}/{preferred}"), "version": preferred}
    })
}

/// `GET /apis` of a cluster with OSM's SMI CRDs and metrics APIService.
pub fn api_group_list() -> serde_json::Value {
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            group("apiregistration.k8s.io", &["v1"], "v1"),
            group("apps", &["v1"], "v1"),
            group("apiextensions.k8s.io", &["v1"], "v1"),
            group("access.smi-spec.io", &["v1alpha3", "v1alpha2"], "v1alpha3"),
            group("specs.smi-spec.io", &["v1alpha4", "v1alpha3", "v1alpha2", "v1alpha1"], "v1alpha4"),
            group("split.smi-spec.io", &["v1alpha4", "v1alpha3", "v1alpha2", "v1alpha1"], "v1alpha4"),
            group("config.openservicemesh.io", &["v1alpha3", "v1alpha2"], "v1alpha3"),
            group("metrics.smi-spec.io", &["v1alpha1"], "v1alpha1"),
            group("smi-spec.io.example.com", &["v1"], "v1")
        ]
    })
}

#[tokio::test]
async fn served_smi_lists_only_smi_groups_with_their_versions_sorted() {
    let api = start(|req| match req.path.as_str() {
        "/apis" => json_reply(200, api_group_list()),
        _ => no_such_resource(),
    });
    let served = api.kube.served_smi().await.unwrap();
    let expected: BTreeMap<String, Vec<String>> = [
        ("access.smi-spec.io", vec!["v1alpha2", "v1alpha3"]),
        ("metrics.smi-spec.io", vec!["v1alpha1"]),
        (
            "specs.smi-spec.io",
            vec!["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"],
        ),
        (
            "split.smi-spec.io",
            vec!["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"],
        ),
    ]
    .into_iter()
    .map(|(g, v)| (g.to_string(), v.into_iter().map(str::to_string).collect()))
    .collect();
    assert_eq!(served, expected);
    assert_eq!(api.lines(), ["GET /apis"]);
}

#[tokio::test]
async fn served_smi_is_empty_without_smi_and_an_error_names_the_request() {
    let api = start(|req| match req.path.as_str() {
        "/apis" => json_reply(
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group("apps", &["v1"], "v1")]}),
        ),
        _ => no_such_resource(),
    });
    assert!(api.kube.served_smi().await.unwrap().is_empty());

    let api = start(|_| {
        status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            json!({}),
        )
    });
    let err = api.kube.served_smi().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot list the API groups the cluster serves (GET /apis): the server is currently unable to handle the request (503 ServiceUnavailable)"
    );
    assert!(err.is_transient(), "a 503 is worth another try");

    // A refusal is final: the runner ends the step at once instead of retrying it.
    let api = start(|_| {
        status(
            403,
            "Forbidden",
            "forbidden: User \"viewer\" cannot list resource \"apis\"",
            json!({}),
        )
    });
    let err = api.kube.served_smi().await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
}

#[tokio::test]
async fn server_version_is_the_git_version() {
    let api = start(|req| match req.path.as_str() {
        "/version" => json_reply(
            200,
            json!({"major": "1", "minor": "33", "emulationMajor": "1", "emulationMinor": "33",
                   "minCompatibilityMajor": "1", "minCompatibilityMinor": "32",
                   "gitVersion": "v1.33.1", "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828",
                   "gitTreeState": "clean", "buildDate": "2025-05-15T08:19:08Z",
                   "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64"}),
        ),
        _ => no_such_resource(),
    });
    assert_eq!(api.kube.server_version().await.unwrap(), "v1.33.1");
    assert_eq!(api.lines(), ["GET /version"]);
}

#[tokio::test]
async fn raw_get_returns_status_and_json_body_for_the_metrics_api() {
    const EDGES: &str =
        "/apis/metrics.smi-spec.io/v1alpha1/namespaces/smi-test/deployments/app-b/edges";
    let api = start(|req| match req.path.as_str() {
        EDGES => json_reply(
            200,
            json!({"kind": "TrafficMetricsList", "apiVersion": "metrics.smi-spec.io/v1alpha1",
                   "metadata": {}, "resource": {"kind": "Deployment", "namespace": "smi-test", "name": "app-b"},
                   "items": [{"kind": "TrafficMetrics", "apiVersion": "metrics.smi-spec.io/v1alpha1",
                              "metadata": {"name": "app-b", "namespace": "smi-test", "creationTimestamp": null},
                              "timestamp": "2026-11-26T10:05:00Z", "window": "30s",
                              "resource": {"kind": "Deployment", "namespace": "smi-test", "name": "app-b"},
                              "edge": {"direction": "from", "resource": {"kind": "Deployment", "namespace": "smi-test", "name": "app-a"}},
                              "metrics": [{"name": "p99_response_latency", "unit": "ms", "value": "10m"},
                                          {"name": "success_count", "value": "100"},
                                          {"name": "failure_count", "value": "0"}]}]}),
        ),
        _ => status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            json!({}),
        ),
    });
    let (code, body) = api.kube.raw_get(EDGES).await.unwrap();
    assert_eq!(code, 200);
    let body = body.unwrap();
    assert_eq!(body["kind"], "TrafficMetricsList");
    assert_eq!(body["items"][0]["metrics"][1]["value"], "100");

    let (code, body) = api
        .kube
        .raw_get("/apis/metrics.smi-spec.io/v1alpha1/namespaces/smi-test/pods")
        .await
        .unwrap();
    assert_eq!(code, 503);
    assert_eq!(body.unwrap()["reason"], "ServiceUnavailable");

    let requests = api.requests();
    assert_eq!(requests[0].line(), format!("GET {EDGES}"));
    assert_eq!(requests[0].accept.as_deref(), Some("application/json"));
}

/// Helm's `.Capabilities.APIVersions`: every group version and `group/version/Kind`, with
/// subresource kinds (`apps/v1/Scale`), and an aggregated API whose resources cannot be listed
/// keeps its group version (as `helm install` does) and is reported.
#[tokio::test]
async fn served_api_versions_are_group_versions_and_their_kinds() {
    let api = start(|req| match req.path.as_str() {
        "/api" => json_reply(
            200,
            json!({"kind": "APIVersions", "versions": ["v1"],
                   "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.2:6443"}]}),
        ),
        "/apis" => json_reply(
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                group("apps", &["v1"], "v1"),
                group("apiextensions.k8s.io", &["v1"], "v1"),
                group("metrics.smi-spec.io", &["v1alpha1"], "v1alpha1"),
                group("policy", &["v1", "v1beta1"], "v1")
            ]}),
        ),
        "/api/v1" => json_reply(200, core_v1_resources()),
        "/apis/apps/v1" => json_reply(200, apps_v1_resources()),
        "/apis/apiextensions.k8s.io/v1" => json_reply(200, apiextensions_v1_resources()),
        "/apis/policy/v1" | "/apis/policy/v1beta1" => json_reply(
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1",
                   "groupVersion": req.path.trim_start_matches("/apis/"),
                   "resources": [{"name": "poddisruptionbudgets", "singularName": "poddisruptionbudget",
                                  "namespaced": true, "kind": "PodDisruptionBudget",
                                  "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]}),
        ),
        "/apis/metrics.smi-spec.io/v1alpha1" => status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            json!({}),
        ),
        _ => no_such_resource(),
    });
    let served = api.kube.served_api_versions().await.unwrap();
    for v in [
        "v1",
        "v1/ConfigMap",
        "v1/Namespace",
        "v1/PodPortForwardOptions",
        "apps/v1",
        "apps/v1/Deployment",
        "apps/v1/Scale",
        "apiextensions.k8s.io/v1/CustomResourceDefinition",
        "policy/v1",
        "policy/v1/PodDisruptionBudget",
        "policy/v1beta1/PodDisruptionBudget",
        "metrics.smi-spec.io/v1alpha1",
    ] {
        assert!(
            served.versions.contains(&v.to_string()),
            "{v} missing: {:?}",
            served.versions
        );
    }
    let mut sorted = served.versions.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(served.versions, sorted, "sorted, no duplicates");
    assert!(!served
        .versions
        .iter()
        .any(|v| v.starts_with("metrics.smi-spec.io/v1alpha1/")));
    assert_eq!(
        served.unlisted.keys().collect::<Vec<_>>(),
        ["metrics.smi-spec.io/v1alpha1"]
    );
    assert!(
        served.unlisted["metrics.smi-spec.io/v1alpha1"].contains("unable to handle the request"),
        "{:?}",
        served.unlisted
    );
    assert_eq!(api.lines()[..2], ["GET /api", "GET /apis"]);

    // Without the group list there is no answer at all.
    let api = start(|req| match req.path.as_str() {
        "/api" => json_reply(200, json!({"kind": "APIVersions", "versions": ["v1"]})),
        _ => status(
            403,
            "Forbidden",
            "forbidden: User \"x\" cannot get path \"/apis\"",
            json!({}),
        ),
    });
    let err = api
        .kube
        .served_api_versions()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("GET /apis") && err.contains("forbidden"),
        "{err}"
    );
}
