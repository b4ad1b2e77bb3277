//! The mock API server: records every request and answers through a test-supplied router.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use http_body_util::BodyExt;
use kube::client::Body;
use meshproof_kube::Kube;
use serde_json::{json, Value};
use tower_test::mock;

/// One request as the mock API server received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub upgrade: Option<String>,
    pub body: Vec<u8>,
}

impl Seen {
    /// `METHOD /path`, for order assertions.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The request body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn q(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }
}

/// An answer of the mock API server.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// A JSON answer.
pub fn json_reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        content_type: "application/json",
        body: serde_json::to_vec(&body).unwrap(),
    }
}

/// A text answer (pod logs).
pub fn text_reply(body: &str) -> Reply {
    Reply {
        status: 200,
        content_type: "text/plain",
        body: body.as_bytes().to_vec(),
    }
}

/// A `metav1.Status` failure exactly as the API server renders it.
pub fn status(code: u16, reason: &str, message: &str, details: Value) -> Reply {
    json_reply(
        code,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details,
            "code": code
        }),
    )
}

/// The API server's 404 for an object.
pub fn not_found(group: &str, plural: &str, name: &str) -> Reply {
    let qualified = if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    };
    let mut details = json!({"name": name, "kind": plural});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    status(
        404,
        "NotFound",
        &format!("{qualified} \"{name}\" not found"),
        details,
    )
}

/// The API server's 404 for a group version it does not serve.
pub fn no_such_resource() -> Reply {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource",
        json!({}),
    )
}

/// A started mock API server.
pub struct MockApi {
    pub kube: Kube,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl MockApi {
    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    /// `METHOD /path` of every request so far.
    pub fn lines(&self) -> Vec<String> {
        self.requests().iter().map(Seen::line).collect()
    }
}

/// Starts a mock API server answering through `router`; the client's default namespace is
/// `default`. Requests the router does not know should get a 404 `Status` from it.
pub fn start<F>(mut router: F) -> MockApi
where
    F: FnMut(&Seen) -> Reply + Send + 'static,
{
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let log = Arc::new(Mutex::new(Vec::new()));
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Some((request, respond)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.unwrap().to_bytes().to_vec();
            let header = |name: http::header::HeaderName| {
                parts
                    .headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_string())
            };
            let query = parts
                .uri
                .query()
                .map(|q| {
                    q.split('&')
                        .filter(|kv| !kv.is_empty())
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                            (k.to_string(), percent_decode(v))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query,
                content_type: header(http::header::CONTENT_TYPE),
                accept: header(http::header::ACCEPT),
                upgrade: header(http::header::UPGRADE),
                body,
            };
            let reply = router(&seen);
            server_log.lock().unwrap().push(seen);
            let response = Response::builder()
                .status(reply.status)
                .header(http::header::CONTENT_TYPE, reply.content_type)
                .body(Body::from(reply.body))
                .unwrap();
            respond.send_response(response);
        }
    });
    MockApi {
        kube: Kube::new(kube::Client::new(service, "default")),
        log,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// `GET /api/v1` of a real cluster (trimmed to the resources meshproof touches).
pub fn core_v1_resources() -> Value {
    let r = |name: &str, singular: &str, namespaced: bool, kind: &str, verbs: &[&str]| {
        json!({"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind,
               "verbs": verbs, "storageVersionHash": "aaaaaaaaaaa="})
    };
    let all = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            r("configmaps", "configmap", true, "ConfigMap", &all),
            r("events", "event", true, "Event", &all),
            r("namespaces", "namespace", false, "Namespace", &["create", "delete", "get", "list", "patch", "update", "watch"]),
            r("namespaces/finalize", "", false, "Namespace", &["update"]),
            r("namespaces/status", "", false, "Namespace", &["get", "patch", "update"]),
            r("pods", "pod", true, "Pod", &all),
            r("pods/log", "", true, "Pod", &["get"]),
            r("pods/portforward", "", true, "PodPortForwardOptions", &["create", "get"]),
            r("pods/status", "", true, "Pod", &["get", "patch", "update"]),
            r("secrets", "secret", true, "Secret", &all),
            r("serviceaccounts", "serviceaccount", true, "ServiceAccount", &all),
            r("serviceaccounts/token", "", true, "TokenRequest", &["create"]),
            r("services", "service", true, "Service", &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]),
            r("services/status", "", true, "Service", &["get", "patch", "update"])
        ]
    })
}

/// `GET /apis/apps/v1` (trimmed).
pub fn apps_v1_resources() -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "apps/v1",
        "resources": [
            {"name": "deployments", "singularName": "deployment", "namespaced": true, "kind": "Deployment",
             "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
             "shortNames": ["deploy"], "categories": ["all"], "storageVersionHash": "8aSe+NMegvE="},
            {"name": "deployments/scale", "singularName": "", "namespaced": true, "group": "autoscaling",
             "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]},
            {"name": "deployments/status", "singularName": "", "namespaced": true, "kind": "Deployment",
             "verbs": ["get", "patch", "update"]}
        ]
    })
}

/// `GET /apis/apiextensions.k8s.io/v1`.
pub fn apiextensions_v1_resources() -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "apiextensions.k8s.io/v1",
        "resources": [
            {"name": "customresourcedefinitions", "singularName": "customresourcedefinition",
             "namespaced": false, "kind": "CustomResourceDefinition",
             "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
             "shortNames": ["crd", "crds"], "categories": ["api-extensions"],
             "storageVersionHash": "jfWCUB31mvA="},
            {"name": "customresourcedefinitions/status", "singularName": "", "namespaced": false,
             "kind": "CustomResourceDefinition", "verbs": ["get", "patch", "update"]}
        ]
    })
}

/// The APIResourceList of an SMI CRD group version.
pub fn smi_resources(group_version: &str, resources: &[(&str, &str, &str)]) -> Value {
    let resources: Vec<Value> = resources
        .iter()
        .map(|(name, singular, kind)| {
            json!({"name": name, "singularName": singular, "namespaced": true, "kind": kind,
                   "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
                   "storageVersionHash": "x0k2OOE9OSM="})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

/// Server-populated metadata the API server adds to an applied object.
pub fn as_stored(mut object: Value, namespace: Option<&str>) -> Value {
    let api_version = object["apiVersion"].clone();
    let meta = object["metadata"].as_object_mut().unwrap();
    if let Some(ns) = namespace {
        meta.insert("namespace".into(), json!(ns));
    }
    meta.insert("uid".into(), json!("6c1bd6a5-1b5a-4d8e-9a0e-3f0d3c0b8f51"));
    meta.insert("resourceVersion".into(), json!("1234"));
    meta.insert("generation".into(), json!(1));
    meta.insert("creationTimestamp".into(), json!("2026-11-26T10:00:00Z"));
    meta.insert(
        "managedFields".into(),
        json!([{"manager": "meshproof", "operation": "Apply", "apiVersion": api_version,
                "time": "2026-11-26T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}}]),
    );
    object
}
