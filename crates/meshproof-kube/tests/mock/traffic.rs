//! The traffic driver. Mocking a successful websocket upgrade through `tower_test` is not
//! practical, so the HTTP-over-stream half ([`post_call`]) is tested against a
//! `tokio::io::duplex` with a fake probe on the other end, and the Kubernetes half
//! ([`Kube::call_probe`]) against the mock API server up to the port-forward request.

use std::time::Duration;

use meshproof_kube::{post_call, probe_call_request, TrafficError};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use crate::api::*;

/// What the fake probe received.
#[derive(Debug)]
struct Received {
    head: String,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (head + Content-Length body) and answers `status` with `body`.
async fn fake_probe(mut io: DuplexStream, status: &str, body: &str) -> Received {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 1024];
        let n = io.read(&mut chunk).await.unwrap();
        assert!(n > 0, "client closed before sending a request");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("content-length header");
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 1024];
        let n = io.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nx-meshproof-backend: app-a\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    io.write_all(response.as_bytes()).await.unwrap();
    io.flush().await.unwrap();
    Received {
        head,
        body: buf[head_end..head_end + length].to_vec(),
    }
}

fn records() -> Value {
    json!({"records": [
        {"source": "app-a", "url": "http://app-b:9091/echo", "method": "GET",
         "status": 200, "error": null, "error_detail": null, "backend": "app-b", "latency_us": 1234},
        {"source": "app-a", "url": "http://app-b:9091/echo", "method": "GET",
         "status": null, "error": "reset", "error_detail": "connection reset by peer (os error 104)",
         "backend": null, "latency_us": 987}
    ]})
}

#[test]
fn probe_call_request_is_the_batch_form() {
    assert_eq!(
        probe_call_request(
            "http://app-b.smi-test.svc.cluster.local:9091/echo",
            "GET",
            10,
            Duration::from_millis(2500)
        ),
        json!({"url": "http://app-b.smi-test.svc.cluster.local:9091/echo", "method": "GET", "count": 10, "concurrency": 1, "timeout_ms": 2500})
    );
}

/// The per-call deadline always reaches the probe within the range it accepts (1 ms to
/// `MAX_TIMEOUT_MS`, workloads/smi-apps/probe/src/call.rs): a longer one is cut, a zero one is 1 ms.
#[test]
fn probe_call_request_keeps_the_per_call_timeout_in_the_probes_range() {
    let ms = |d: Duration| probe_call_request("http://a/", "GET", 1, d)["timeout_ms"].clone();
    assert_eq!(ms(Duration::from_secs(1000)), json!(300_000));
    assert_eq!(
        meshproof_kube::traffic::PROBE_MAX_CALL_TIMEOUT,
        Duration::from_millis(300_000)
    );
    assert_eq!(ms(Duration::ZERO), json!(1));
    assert_eq!(ms(Duration::from_micros(1500)), json!(1));
}

#[tokio::test]
async fn post_call_speaks_http_1_1_to_the_probe_and_returns_its_records() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let answer = records().to_string();
    let probe = tokio::spawn(async move { fake_probe(server, "200 OK", &answer).await });
    let request = probe_call_request("http://app-b:9091/echo", "GET", 2, Duration::from_secs(1));

    let response = post_call(client, "test probe", &request, Duration::from_secs(10))
        .await
        .unwrap();
    let received = probe.await.unwrap();

    let mut lines = received.head.lines();
    assert_eq!(lines.next(), Some("POST /call HTTP/1.1"));
    let headers: Vec<String> = lines
        .filter(|l| !l.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    assert!(
        headers.contains(&"host: localhost".to_string()),
        "{headers:?}"
    );
    assert!(
        headers.contains(&"content-type: application/json".to_string()),
        "{headers:?}"
    );
    let sent: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(sent, request);

    assert_eq!(response, records());
    let recs = response["records"].as_array().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["status"], 200);
    assert_eq!(recs[0]["backend"], "app-b");
    assert_eq!(recs[1]["status"], Value::Null);
    assert_eq!(recs[1]["error"], "reset");
}

#[tokio::test]
async fn post_call_reports_a_probe_error_status_with_its_body() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let probe = tokio::spawn(async move {
        fake_probe(
            server,
            "400 Bad Request",
            r#"{"error":"count: must be between 1 and 10000"}"#,
        )
        .await
    });
    let err = post_call(
        client,
        "pod smi-test/app-a-1:9091",
        &json!({"url": "http://app-b:9091/echo", "method": "GET", "count": 0}),
        Duration::from_secs(10),
    )
    .await
    .unwrap_err();
    probe.await.unwrap();
    assert!(matches!(err, TrafficError::Status { status: 400, .. }));
    assert!(!err.is_transient(), "a rejected request is rejected again");
    assert_eq!(
        err.to_string(),
        r#"POST /call to pod smi-test/app-a-1:9091 answered 400: {"error":"count: must be between 1 and 10000"}"#
    );
}

#[tokio::test]
async fn post_call_times_out_when_the_probe_never_answers_and_fails_on_a_closed_stream() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let err = post_call(client, "silent", &json!({}), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "POST /call to silent did not answer within 200ms"
    );
    assert!(err.is_transient());
    drop(server);

    let (client, server) = tokio::io::duplex(64 * 1024);
    drop(server);
    let err = post_call(client, "closed", &json!({}), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, TrafficError::Http { .. }), "{err}");
    assert!(err.is_transient(), "a broken exchange is worth another try");
}

fn probe_pod(name: &str, phase: &str, ready: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "smi-test", "uid": format!("uid-{name}"),
                        "resourceVersion": "50", "creationTimestamp": "2026-11-26T10:00:00Z",
                        "labels": {"app": "app-a"}},
           "spec": {"containers": [{"name": "app", "image": "meshproof-probe:0.1.0",
                                    "ports": [{"name": "http", "containerPort": 9091, "protocol": "TCP"}]}]},
           "status": {"phase": phase, "conditions": [
               {"type": "Ready", "status": ready, "lastProbeTime": null, "lastTransitionTime": "2026-11-26T10:00:00Z"}]}})
}

#[tokio::test]
async fn call_probe_port_forwards_to_the_first_ready_pod_and_reports_a_refused_forward() {
    let api = start(|req| {
        match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/namespaces/smi-test/pods") => json_reply(
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "60"},
                   "items": [probe_pod("app-a-zzz", "Running", "True"),
                             probe_pod("app-a-pending", "Pending", "False"),
                             probe_pod("app-a-aaa", "Running", "True")]}),
        ),
        ("GET", "/api/v1/namespaces/smi-test/pods/app-a-aaa/portforward") => status(
            403,
            "Forbidden",
            "pods \"app-a-aaa\" is forbidden: User \"viewer\" cannot create resource \"pods/portforward\" in API group \"\" in the namespace \"smi-test\"",
            json!({"name": "app-a-aaa", "kind": "pods"}),
        ),
        _ => no_such_resource(),
    }
    });
    let err = api
        .kube
        .call_probe(
            "smi-test",
            "app=app-a",
            9091,
            &probe_call_request("http://app-b:9091/echo", "GET", 1, Duration::from_secs(1)),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "port-forward to pod smi-test/app-a-aaa port 9091 failed: pods \"app-a-aaa\" is forbidden: User \"viewer\" cannot create resource \"pods/portforward\" in API group \"\" in the namespace \"smi-test\" (403 Forbidden)"
    );
    assert!(
        !err.is_transient(),
        "a forbidden port-forward stays forbidden"
    );
    let requests = api.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].q("labelSelector"), Some("app=app-a"));
    let forward = &requests[1];
    assert_eq!(
        forward.line(),
        "GET /api/v1/namespaces/smi-test/pods/app-a-aaa/portforward"
    );
    assert_eq!(forward.q("ports"), Some("9091"));
    assert_eq!(forward.upgrade.as_deref(), Some("websocket"));
}

#[tokio::test]
async fn call_probe_without_a_ready_pod_says_what_it_saw() {
    let api = start(|_| {
        json_reply(
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "60"},
                   "items": [probe_pod("app-a-pending", "Pending", "False")]}),
        )
    });
    let err = api
        .kube
        .call_probe(
            "smi-test",
            "app=app-a",
            9091,
            &json!({}),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no ready pod app=app-a in namespace smi-test to send traffic from (not ready: app-a-pending Pending); wait for the workload first"
    );
    assert!(err.is_transient(), "a pod may become ready");
}

/// An API server that is briefly unavailable (503 on the pod list, 500 on the port-forward)
/// gives errors the runner retries within the step's timeout.
#[tokio::test]
async fn call_probe_errors_from_a_struggling_api_server_are_transient() {
    let api = start(|_| {
        status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            json!({}),
        )
    });
    let err = api
        .kube
        .call_probe(
            "smi-test",
            "app=app-a",
            9091,
            &json!({}),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TrafficError::ListPods { .. }), "{err}");
    assert!(err.is_transient(), "{err}");

    let api = start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/namespaces/smi-test/pods") => json_reply(
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "60"},
                   "items": [probe_pod("app-a-aaa", "Running", "True")]}),
        ),
        _ => status(
            500,
            "InternalError",
            "error dialing backend: EOF",
            json!({}),
        ),
    });
    let err = api
        .kube
        .call_probe(
            "smi-test",
            "app=app-a",
            9091,
            &json!({}),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TrafficError::PortForward { .. }), "{err}");
    assert!(err.is_transient(), "{err}");
}
