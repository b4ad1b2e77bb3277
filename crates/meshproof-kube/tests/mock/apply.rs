//! Server-side apply through discovery: request shapes, order, unserved kinds, idempotence.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meshproof_kube::ApplyOutcome;
use serde_json::{json, Value};

use crate::api::*;

const CRD_NAME: &str = "httproutegroups.specs.smi-spec.io";
const CRD_PATH: &str =
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/httproutegroups.specs.smi-spec.io";

/// The manifest, deliberately out of order: a namespaced object first, the CRD late.
fn manifest() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "service-a"}}),
        json!({"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
               "metadata": {"name": "allow-a-to-b"},
               "spec": {"destination": {"kind": "ServiceAccount", "name": "service-b", "namespace": "smi-test"},
                        "sources": [{"kind": "ServiceAccount", "name": "service-a", "namespace": "smi-test"}],
                        "rules": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["all"]}]}}),
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "smi-test", "namespace": "ignored", "labels": {"openservicemesh.io/monitored-by": "osm"}}}),
        Value::Null,
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": CRD_NAME},
               "spec": {"group": "specs.smi-spec.io", "scope": "Namespaced",
                        "names": {"kind": "HTTPRouteGroup", "listKind": "HTTPRouteGroupList",
                                  "plural": "httproutegroups", "singular": "httproutegroup", "shortNames": ["htr"]},
                        "versions": [{"name": "v1alpha4", "served": true, "storage": true,
                                      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}),
        json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
               "metadata": {"name": "routes"},
               "spec": {"matches": [{"name": "all", "pathRegex": ".*", "methods": ["*"]}]}}),
    ]
}

/// A CRD as the API server returns it, with its status conditions.
fn crd_with(established: &str) -> Value {
    let mut crd = as_stored(manifest()[4].clone(), None);
    crd["status"] = json!({
        "acceptedNames": {"kind": "HTTPRouteGroup", "listKind": "HTTPRouteGroupList",
                          "plural": "httproutegroups", "singular": "httproutegroup", "shortNames": ["htr"]},
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": "2026-11-26T10:00:00Z",
             "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": established, "lastTransitionTime": "2026-11-26T10:00:00Z",
             "reason": if established == "True" { "InitialNamesAccepted" } else { "Installing" },
             "message": "the initial names have been accepted"}
        ],
        "storedVersions": ["v1alpha4"]
    });
    crd
}

/// A cluster where the CRD becomes Established on the second look, and access.smi-spec.io is
/// not served at all.
fn cluster() -> MockApi {
    let crd_gets = Arc::new(AtomicUsize::new(0));
    start(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1") => json_reply(200, core_v1_resources()),
        ("GET", "/apis/apiextensions.k8s.io/v1") => json_reply(200, apiextensions_v1_resources()),
        ("GET", "/apis/specs.smi-spec.io/v1alpha4") => json_reply(
            200,
            smi_resources(
                "specs.smi-spec.io/v1alpha4",
                &[("httproutegroups", "httproutegroup", "HTTPRouteGroup")],
            ),
        ),
        ("GET", "/apis/access.smi-spec.io/v1alpha3") => no_such_resource(),
        ("GET", CRD_PATH) => {
            let n = crd_gets.fetch_add(1, Ordering::SeqCst);
            json_reply(200, crd_with(if n == 0 { "False" } else { "True" }))
        }
        ("PATCH", path) => {
            let body = req.json();
            let ns = body["metadata"]["namespace"].as_str().map(str::to_string);
            let _ = path;
            json_reply(200, as_stored(body, ns.as_deref()))
        }
        _ => no_such_resource(),
    })
}

fn outcome(object: &str, namespace: Option<&str>, ok: bool, message: Option<&str>) -> ApplyOutcome {
    ApplyOutcome {
        object: object.into(),
        namespace: namespace.map(str::to_string),
        ok,
        message: message.map(str::to_string),
    }
}

#[tokio::test]
async fn apply_sends_server_side_apply_patches_crds_first_then_namespaces_then_the_rest() {
    let api = cluster();
    let outcomes = api
        .kube
        .apply(&manifest(), Some("smi-test"), Duration::from_secs(10))
        .await;

    assert_eq!(
        outcomes,
        vec![
            outcome(&format!("CustomResourceDefinition/{CRD_NAME}"), None, true, None),
            outcome("Namespace/smi-test", None, true, None),
            outcome("ServiceAccount/service-a", Some("smi-test"), true, None),
            outcome(
                "TrafficTarget/allow-a-to-b",
                None,
                false,
                Some("no matches for kind \"TrafficTarget\" in version \"access.smi-spec.io/v1alpha3\""),
            ),
            outcome("HTTPRouteGroup/routes", Some("smi-test"), true, None),
        ]
    );

    assert_eq!(
        api.lines(),
        vec![
            "GET /apis/apiextensions.k8s.io/v1".to_string(),
            format!("PATCH {CRD_PATH}"),
            // Established wait: not yet, then established.
            format!("GET {CRD_PATH}"),
            format!("GET {CRD_PATH}"),
            "GET /api/v1".to_string(),
            "PATCH /api/v1/namespaces/smi-test".to_string(),
            "PATCH /api/v1/namespaces/smi-test/serviceaccounts/service-a".to_string(),
            "GET /apis/access.smi-spec.io/v1alpha3".to_string(),
            "GET /apis/specs.smi-spec.io/v1alpha4".to_string(),
            "PATCH /apis/specs.smi-spec.io/v1alpha4/namespaces/smi-test/httproutegroups/routes"
                .to_string(),
        ]
    );

    let requests = api.requests();
    let patches: Vec<_> = requests.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 4);
    for patch in &patches {
        assert_eq!(
            patch.content_type.as_deref(),
            Some("application/apply-patch+yaml"),
            "{}",
            patch.line()
        );
        assert_eq!(
            patch.q("fieldManager"),
            Some("meshproof"),
            "{}",
            patch.line()
        );
        assert_eq!(patch.q("force"), Some("true"), "{}", patch.line());
    }
    // Bodies: the documents themselves; cluster-scoped objects carry no namespace, namespaced
    // ones the target namespace.
    let crd = patches[0].json();
    assert_eq!(crd, manifest()[4]);
    let ns = patches[1].json();
    assert_eq!(ns["metadata"]["name"], "smi-test");
    assert_eq!(
        ns["metadata"]["labels"]["openservicemesh.io/monitored-by"],
        "osm"
    );
    assert!(ns["metadata"].get("namespace").is_none(), "{ns}");
    let sa = patches[2].json();
    assert_eq!(
        sa,
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "service-a", "namespace": "smi-test"}})
    );
    let routes = patches[3].json();
    assert_eq!(routes["metadata"]["namespace"], "smi-test");
    assert_eq!(routes["spec"], manifest()[5]["spec"]);
}

#[tokio::test]
async fn reapplying_the_same_manifest_sends_the_same_apply_patches_and_succeeds_again() {
    let api = cluster();
    let first = api
        .kube
        .apply(&manifest(), Some("smi-test"), Duration::from_secs(10))
        .await;
    let first_requests = api.requests();
    let second = api
        .kube
        .apply(&manifest(), Some("smi-test"), Duration::from_secs(10))
        .await;
    let all = api.requests();
    let second_requests = &all[first_requests.len()..];

    assert_eq!(first, second);
    let patches = |reqs: &[Seen]| -> Vec<(String, Value)> {
        reqs.iter()
            .filter(|r| r.method == "PATCH")
            .map(|r| (r.path.clone(), r.json()))
            .collect()
    };
    assert_eq!(patches(&first_requests), patches(second_requests));
    // Never a create (POST) or update (PUT) that could conflict with existing objects.
    assert!(
        all.iter().all(|r| r.method == "GET" || r.method == "PATCH"),
        "{:?}",
        api.lines()
    );
}

#[tokio::test]
async fn an_unserved_kind_is_an_outcome_and_the_other_objects_still_apply() {
    let api = start(|req| {
        match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1") => json_reply(200, core_v1_resources()),
        ("GET", "/apis/apps/v1") => json_reply(200, apps_v1_resources()),
        ("GET", "/apis/access.smi-spec.io/v1alpha3") => no_such_resource(),
        ("PATCH", "/api/v1/namespaces/case-1/configmaps/bad") => status(
            422,
            "Invalid",
            "ConfigMap \"bad\" is invalid: data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            json!({"name": "bad", "kind": "ConfigMap", "causes": [{"reason": "FieldValueInvalid", "field": "data[a b]"}]}),
        ),
        ("PATCH", _) => json_reply(200, as_stored(req.json(), Some("case-1"))),
        _ => no_such_resource(),
    }
    });
    let docs = vec![
        json!({"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget", "metadata": {"name": "t"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": {"a b": "x"}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app-b", "namespace": "case-1"},
               "spec": {"selector": {"matchLabels": {"app": "app-b"}},
                        "template": {"metadata": {"labels": {"app": "app-b"}},
                                     "spec": {"containers": [{"name": "app", "image": "probe:1"}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service"}),
    ];
    let outcomes = api
        .kube
        .apply(&docs, Some("case-1"), Duration::from_secs(5))
        .await;
    assert_eq!(
        outcomes,
        vec![
            outcome("Service/<no name>", None, false, Some("not a Kubernetes object: no metadata.name")),
            outcome(
                "TrafficTarget/t",
                None,
                false,
                Some("no matches for kind \"TrafficTarget\" in version \"access.smi-spec.io/v1alpha3\""),
            ),
            outcome(
                "ConfigMap/bad",
                Some("case-1"),
                false,
                Some("ConfigMap \"bad\" is invalid: data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (422 Invalid)"),
            ),
            outcome("Deployment/app-b", Some("case-1"), true, None),
        ]
    );
    assert_eq!(
        api.lines(),
        [
            "GET /apis/access.smi-spec.io/v1alpha3",
            "GET /api/v1",
            "PATCH /api/v1/namespaces/case-1/configmaps/bad",
            "GET /apis/apps/v1",
            "PATCH /apis/apps/v1/namespaces/case-1/deployments/app-b",
        ]
    );
}

#[tokio::test]
async fn a_crd_that_never_becomes_established_fails_its_outcome_with_the_condition() {
    let api = start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/apis/apiextensions.k8s.io/v1") => json_reply(200, apiextensions_v1_resources()),
        ("GET", CRD_PATH) => json_reply(200, crd_with("False")),
        ("PATCH", _) => json_reply(200, as_stored(req.json(), None)),
        _ => no_such_resource(),
    });
    let outcomes = api
        .kube
        .apply(&[manifest()[4].clone()], None, Duration::from_millis(400))
        .await;
    assert_eq!(outcomes.len(), 1);
    assert!(!outcomes[0].ok);
    let message = outcomes[0].message.as_deref().unwrap();
    // The wait got what was left of the call's timeout (whole milliseconds).
    let rest = message
        .strip_prefix("applied, but timed out after ")
        .unwrap_or_else(|| panic!("{message}"));
    let (elapsed, rest) = rest.split_once("ms waiting for ").unwrap();
    assert!(elapsed.parse::<u64>().unwrap() <= 400, "{message}");
    assert_eq!(
        rest,
        format!("CustomResourceDefinition {CRD_NAME} established; last state: Established=False (Installing: the initial names have been accepted)")
    );
}
