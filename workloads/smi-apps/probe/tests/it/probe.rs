//! End-to-end tests of the probe over real loopback sockets: three probes (app-a, app-b, app-c)
//! run as tasks with real listeners; misbehaving peers are small raw-TCP servers made here.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use meshproof_probe::{
    spawn, CallErrorKind, CallRecord, LogEntry, MetricsSnapshot, ProbeHandle, DEFAULT_CAP,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LOOPBACK: &str = "127.0.0.1:0";

fn any_port() -> SocketAddr {
    LOOPBACK.parse().unwrap()
}

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn backend(&self) -> Option<&str> {
        self.headers
            .get("x-meshproof-backend")
            .and_then(|v| v.to_str().ok())
    }
}

/// One request on its own connection.
async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let uri: http::Uri = url.parse().unwrap();
    let authority = uri.authority().unwrap().as_str().to_string();
    let stream = TcpStream::connect(&authority).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut b = Request::builder()
        .method(method)
        .uri(uri.path_and_query().unwrap().as_str())
        .header("host", authority);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = sender
        .send_request(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn call(probe: &ProbeHandle, req: Value) -> CallRecord {
    let r = send("POST", &probe.url("/call"), &[], &req.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.backend(), Some(probe.name()));
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not a CallRecord ({e}): {}", r.body))
}

async fn metrics(probe: &ProbeHandle) -> MetricsSnapshot {
    let r = send("GET", &probe.url("/metrics"), &[], "").await;
    assert_eq!(r.status, 200);
    serde_json::from_str(&r.body).unwrap()
}

async fn three() -> (ProbeHandle, ProbeHandle, ProbeHandle) {
    (
        spawn("app-a", any_port(), DEFAULT_CAP).await.unwrap(),
        spawn("app-b", any_port(), DEFAULT_CAP).await.unwrap(),
        spawn("app-c", any_port(), DEFAULT_CAP).await.unwrap(),
    )
}

#[tokio::test]
async fn call_a_to_b_is_recorded_on_both_sides() {
    let (a, b, c) = three().await;
    let url = b.url("/echo?x=1");
    let rec = call(
        &a,
        json!({"url": url, "method": "GET", "headers": {"X-Trace": "t1"}}),
    )
    .await;
    assert_eq!(rec.source, "app-a");
    assert_eq!(rec.url, url);
    assert_eq!(rec.method, "GET");
    assert_eq!(rec.status, Some(200));
    assert_eq!(rec.error, None);
    assert_eq!(rec.error_detail, None);
    assert_eq!(rec.backend.as_deref(), Some("app-b"));
    assert!(rec.latency_us > 0);

    let ma = metrics(&a).await;
    assert_eq!(
        ma.req_received,
        vec!["Unidentified"],
        "the driver's /call has no ServiceName"
    );
    assert_eq!(ma.resp_succeeded.len(), 1);
    assert!(ma.resp_failed.is_empty());
    let sent = &ma.resp_succeeded[0];
    assert_eq!(
        (sent.url.as_str(), sent.method.as_str()),
        (url.as_str(), "GET")
    );
    assert_eq!(
        sent.headers.get("ServiceName").map(String::as_str),
        Some("app-a")
    );
    assert_eq!(sent.headers.get("x-trace").map(String::as_str), Some("t1"));
    match &ma.records[..] {
        [LogEntry::Outbound { seq: 1, call }, LogEntry::Inbound {
            seq: 2,
            method,
            path,
            sender: None,
            status: 200,
        }] => {
            assert_eq!(call, &rec);
            assert_eq!((method.as_str(), path.as_str()), ("POST", "/call"));
        }
        other => panic!("unexpected records on A: {other:?}"),
    }

    let mb = metrics(&b).await;
    assert_eq!(mb.req_received, vec!["app-a"]);
    assert!(mb.resp_succeeded.is_empty() && mb.resp_failed.is_empty());
    match &mb.records[..] {
        [LogEntry::Inbound {
            seq: 1,
            method,
            path,
            sender: Some(s),
            status: 200,
        }] => {
            assert_eq!(
                (method.as_str(), path.as_str(), s.as_str()),
                ("GET", "/echo?x=1", "app-a")
            );
        }
        other => panic!("unexpected records on B: {other:?}"),
    }
    assert!(
        metrics(&c).await.req_received.is_empty(),
        "C was not called"
    );
}

#[tokio::test]
async fn closed_port_is_a_recorded_connect_refused() {
    let a = spawn("app-a", any_port(), DEFAULT_CAP).await.unwrap();
    let closed = TcpListener::bind(any_port())
        .await
        .unwrap()
        .local_addr()
        .unwrap(); // dropped: closed
    let url = format!("http://{closed}/echo");
    let rec = call(&a, json!({"url": url, "method": "GET"})).await;
    assert_eq!(rec.status, None);
    assert_eq!(rec.error, Some(CallErrorKind::ConnectRefused));
    assert!(rec
        .error_detail
        .as_deref()
        .unwrap()
        .contains(&closed.to_string()));
    assert_eq!(rec.backend, None);
    let m = metrics(&a).await;
    assert!(m.resp_succeeded.is_empty());
    assert_eq!(m.resp_failed.len(), 1, "a transport error counts as failed");
    assert_eq!(m.resp_failed[0].url, url);
    assert!(m
        .records
        .iter()
        .any(|e| matches!(e, LogEntry::Outbound { call, .. } if call == &rec)));
    // The raw JSON uses the documented kebab-case kind.
    let raw = send(
        "POST",
        &a.url("/call"),
        &[],
        &json!({"url": url, "method": "GET"}).to_string(),
    )
    .await;
    assert_eq!(raw.json()["error"], "connect-refused");
    assert_eq!(raw.json()["status"], Value::Null);
}

#[tokio::test]
async fn unresolvable_name_is_dns() {
    let a = spawn("app-a", any_port(), DEFAULT_CAP).await.unwrap();
    let rec = call(
        &a,
        json!({"url": "http://does-not-exist.invalid:9091/echo", "method": "GET"}),
    )
    .await;
    assert_eq!(rec.status, None);
    assert_eq!(rec.error, Some(CallErrorKind::Dns), "{rec:?}");
    assert_eq!(metrics(&a).await.resp_failed.len(), 1);
}

/// A raw server that treats every accepted connection with `f`, forever.
async fn raw_server<F, Fut>(f: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind(any_port()).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(f(s));
        }
    });
    addr
}

/// Reads until the end of the request head so the peer's write has landed.
async fn read_head(s: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test]
async fn reset_and_early_close_are_classified_as_reset() {
    let a = spawn("app-a", any_port(), DEFAULT_CAP).await.unwrap();
    // RST: read the request, then close with SO_LINGER 0.
    let rst = raw_server(|mut s| async move {
        read_head(&mut s).await;
        s.set_zero_linger().unwrap();
        drop(s);
    })
    .await;
    let rec = call(
        &a,
        json!({"url": format!("http://{rst}/echo"), "method": "GET"}),
    )
    .await;
    assert_eq!(
        (rec.status, rec.error),
        (None, Some(CallErrorKind::Reset)),
        "{rec:?}"
    );
    // RST right after accept, before the request is read.
    let rst_now = raw_server(|s| async move {
        s.set_zero_linger().unwrap();
        drop(s);
    })
    .await;
    let rec = call(
        &a,
        json!({"url": format!("http://{rst_now}/echo"), "method": "GET"}),
    )
    .await;
    assert_eq!(
        (rec.status, rec.error),
        (None, Some(CallErrorKind::Reset)),
        "{rec:?}"
    );
    // FIN before any response byte.
    let fin = raw_server(|mut s| async move {
        read_head(&mut s).await;
        let _ = s.shutdown().await;
    })
    .await;
    let rec = call(
        &a,
        json!({"url": format!("http://{fin}/echo"), "method": "GET"}),
    )
    .await;
    assert_eq!(
        (rec.status, rec.error),
        (None, Some(CallErrorKind::Reset)),
        "{rec:?}"
    );
    assert_eq!(metrics(&a).await.resp_failed.len(), 3);
}

#[tokio::test]
async fn denial_answers_keep_their_headers_and_body_start_and_successes_do_not() {
    let a = spawn("app-a", any_port(), DEFAULT_CAP).await.unwrap();
    // A mesh-style denial: 403, a proxy error header, a body longer than the snippet.
    let long = format!("RBAC: access denied{}", "x".repeat(2000));
    let denier = raw_server(move |mut s| {
        let long = long.clone();
        async move {
            read_head(&mut s).await;
            let head = format!(
                "HTTP/1.1 403 Forbidden\r\nL5d-Proxy-Error: unauthorized request\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                long.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(long.as_bytes()).await;
        }
    })
    .await;
    let rec = call(
        &a,
        json!({"url": format!("http://{denier}/echo"), "method": "GET"}),
    )
    .await;
    assert_eq!((rec.status, rec.error), (Some(403), None), "{rec:?}");
    assert_eq!(
        rec.headers.get("l5d-proxy-error").map(String::as_str),
        Some("unauthorized request")
    );
    let body = rec.body.as_deref().unwrap();
    assert!(body.starts_with("RBAC: access denied"), "{body}");
    assert_eq!(body.len(), meshproof_probe::MAX_BODY_SNIPPET);
    // A success records neither (the echo body and headers are not evidence of anything).
    let (_, b, _) = three().await;
    let rec = call(&a, json!({"url": b.url("/echo"), "method": "GET"})).await;
    assert_eq!(rec.status, Some(200));
    assert!(rec.headers.is_empty() && rec.body.is_none(), "{rec:?}");
}

#[tokio::test]
async fn garbage_answer_is_protocol_and_silence_is_timeout() {
    let a = spawn("app-a", any_port(), DEFAULT_CAP).await.unwrap();
    let garbage = raw_server(|mut s| async move {
        read_head(&mut s).await;
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
        let _ = s.shutdown().await;
    })
    .await;
    let rec = call(
        &a,
        json!({"url": format!("http://{garbage}/"), "method": "GET"}),
    )
    .await;
    assert_eq!(
        (rec.status, rec.error),
        (None, Some(CallErrorKind::Protocol)),
        "{rec:?}"
    );

    let silent = raw_server(|mut s| async move {
        read_head(&mut s).await;
        // Hold the connection open without answering until the client gives up.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
    })
    .await;
    let rec = call(
        &a,
        json!({"url": format!("http://{silent}/"), "method": "GET", "timeout_ms": 200}),
    )
    .await;
    assert_eq!(
        (rec.status, rec.error),
        (None, Some(CallErrorKind::Timeout)),
        "{rec:?}"
    );
    assert!(rec.latency_us >= 200_000, "{rec:?}");
}

/// A TCP forwarder that sends each accepted connection to the next upstream in turn.
async fn round_robin(upstreams: Vec<SocketAddr>) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind(any_port()).await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut down, _)) = l.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let target = upstreams[n % upstreams.len()];
            tokio::spawn(async move {
                if let Ok(mut up) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn batch_calls_use_fresh_connections_and_reach_both_backends() {
    let (a, b, c) = three().await;
    let (front, accepted) = round_robin(vec![b.addr, c.addr]).await;
    let url = format!("http://{front}/echo");
    let r = send(
        "POST",
        &a.url("/call"),
        &[],
        &json!({"url": url, "method": "GET", "count": 20, "concurrency": 4}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let records: Vec<CallRecord> = serde_json::from_value(r.json()["records"].clone()).unwrap();
    assert_eq!(records.len(), 20);
    assert!(
        records
            .iter()
            .all(|r| r.status == Some(200) && r.source == "app-a"),
        "{records:?}"
    );
    let to_b = records
        .iter()
        .filter(|r| r.backend.as_deref() == Some("app-b"))
        .count();
    let to_c = records
        .iter()
        .filter(|r| r.backend.as_deref() == Some("app-c"))
        .count();
    assert_eq!(
        (to_b, to_c),
        (10, 10),
        "one connection per call, alternated by the forwarder"
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        20,
        "each call opened its own connection"
    );
    assert_eq!(metrics(&b).await.req_received, vec!["app-a"; 10]);
    assert_eq!(metrics(&c).await.req_received, vec!["app-a"; 10]);
    let ma = metrics(&a).await;
    assert_eq!(ma.resp_succeeded.len(), 20);
    assert_eq!(ma.totals.records, 21, "20 outbound + the inbound /call");

    // Two single calls in a row also alternate: no pooled connection is reused.
    let first = call(&a, json!({"url": url, "method": "GET"})).await;
    let second = call(&a, json!({"url": url, "method": "GET"})).await;
    let mut pair = [first.backend.unwrap(), second.backend.unwrap()];
    pair.sort();
    assert_eq!(pair, ["app-b", "app-c"]);

    // Batch records come back in call order even when calls fail: mix via a closed port.
    let closed = TcpListener::bind(any_port())
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let r = send(
        "POST",
        &a.url("/call"),
        &[],
        &json!({"url": format!("http://{closed}/"), "method": "DELETE", "count": 3}).to_string(),
    )
    .await;
    let records: Vec<CallRecord> = serde_json::from_value(r.json()["records"].clone()).unwrap();
    assert_eq!(records.len(), 3);
    assert!(records
        .iter()
        .all(|r| r.error == Some(CallErrorKind::ConnectRefused) && r.method == "DELETE"));
}

#[tokio::test]
async fn metrics_json_keeps_the_original_field_names() {
    let (a, b, _c) = three().await;
    call(
        &a,
        json!({"url": b.url("/echo"), "method": "POST", "body": "x"}),
    )
    .await;
    let closed = TcpListener::bind(any_port())
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    call(
        &a,
        json!({"url": format!("http://{closed}/"), "method": "GET"}),
    )
    .await;
    call(&a, json!({"url": b.url("/nope"), "method": "GET"})).await; // 404 counts as failed
                                                                     // /metrics and /healthz are not counted.
    assert_eq!(send("GET", &a.url("/healthz"), &[], "").await.body, "ok");

    let v = send("GET", &a.url("/metrics"), &[], "").await.json();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "ReqReceived",
        "RespSucceeded",
        "RespFailed",
        "records",
        "totals",
        "cap",
    ] {
        assert!(keys.contains(&k), "missing {k} in {keys:?}");
    }
    assert_eq!(
        v["ReqReceived"],
        json!(["Unidentified", "Unidentified", "Unidentified"])
    );
    let entry_keys = |e: &Value| {
        let mut k: Vec<String> = e.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(v["RespSucceeded"].as_array().unwrap().len(), 1);
    assert_eq!(
        entry_keys(&v["RespSucceeded"][0]),
        ["Headers", "Method", "URL"]
    );
    assert_eq!(v["RespSucceeded"][0]["Method"], "POST");
    assert_eq!(v["RespSucceeded"][0]["Headers"]["ServiceName"], "app-a");
    assert_eq!(v["RespFailed"].as_array().unwrap().len(), 2);
    assert_eq!(
        entry_keys(&v["RespFailed"][1]),
        ["Headers", "Method", "URL"]
    );
    let out = &v["records"][0];
    assert_eq!(out["direction"], "outbound");
    assert_eq!(out["seq"], 1);
    for k in [
        "source",
        "url",
        "method",
        "status",
        "error",
        "error_detail",
        "backend",
        "latency_us",
    ] {
        assert!(out.get(k).is_some(), "outbound record lacks {k}: {out}");
    }
    assert_eq!(v["records"][1]["direction"], "inbound");
    assert_eq!(v["totals"]["ReqReceived"], 3);
    assert_eq!(v["totals"]["RespFailed"], 2);
    assert_eq!(v["cap"], DEFAULT_CAP);
    let bad = send("PUT", &a.url("/metrics"), &[], "").await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().contains("GET"));
}

#[tokio::test]
async fn delete_metrics_resets_everything() {
    let (a, b, _c) = three().await;
    call(&a, json!({"url": b.url("/echo"), "method": "GET"})).await;
    assert_eq!(metrics(&a).await.totals.records, 2);
    let r = send("DELETE", &a.url("/metrics"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.backend(), Some("app-a"));
    let m = metrics(&a).await;
    assert!(
        m.req_received.is_empty()
            && m.resp_succeeded.is_empty()
            && m.resp_failed.is_empty()
            && m.records.is_empty()
    );
    assert_eq!(m.totals, Default::default());
    // Sequence numbers restart too.
    call(&a, json!({"url": b.url("/echo"), "method": "GET"})).await;
    assert_eq!(
        metrics(&a).await.records.first().map(LogEntry::seq),
        Some(1)
    );
}

#[tokio::test]
async fn malformed_call_bodies_get_400_with_a_reason() {
    let a = spawn("app-a", any_port(), DEFAULT_CAP).await.unwrap();
    let cases: &[(&str, &str)] = &[
        ("not json", "JSON"),
        ("", "JSON"),
        ("[]", "object"),
        (r#"{"method":"GET"}"#, "`url`"),
        (r#"{"url":"http://x/"}"#, "`method`"),
        (r#"{"url":42,"method":"GET"}"#, "`url`"),
        (r#"{"url":"http://x/","method":["GET"]}"#, "`method`"),
        (r#"{"url":"http://x/","method":"GE T"}"#, "`method`"),
        (r#"{"url":"not a url","method":"GET"}"#, "`url`"),
        (r#"{"url":"ftp://x/","method":"GET"}"#, "`url`"),
        (
            r#"{"url":"http://x/","method":"GET","headers":"a:b"}"#,
            "`headers`",
        ),
        (
            r#"{"url":"http://x/","method":"GET","headers":{"ok":1}}"#,
            "`headers`",
        ),
        (r#"{"url":"http://x/","method":"GET","body":{}}"#, "`body`"),
        (
            r#"{"url":"http://x/","method":"GET","count":-1}"#,
            "`count`",
        ),
        (
            r#"{"url":"http://x/","method":"GET","count":1.5}"#,
            "`count`",
        ),
        (
            r#"{"url":"http://x/","method":"GET","count":2,"concurrency":1000}"#,
            "`concurrency`",
        ),
        (
            r#"{"url":"http://x/","method":"GET","timeout_ms":"soon"}"#,
            "`timeout_ms`",
        ),
    ];
    for (body, reason) in cases {
        let r = send("POST", &a.url("/call"), &[], body).await;
        assert_eq!(r.status, 400, "body {body:?} gave {}", r.body);
        assert_eq!(r.backend(), Some("app-a"));
        let msg = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(
            msg.contains(reason),
            "body {body:?}: error {msg:?} should mention {reason}"
        );
    }
    let r = send("GET", &a.url("/call"), &[], "").await;
    assert_eq!(r.status, 405);
    // Still alive and nothing was called.
    assert_eq!(send("GET", &a.url("/healthz"), &[], "").await.status, 200);
    let m = metrics(&a).await;
    assert!(m.resp_succeeded.is_empty() && m.resp_failed.is_empty());
    assert_eq!(m.totals.req_received, cases.len() as u64 + 1);
}

#[tokio::test]
async fn echo_reports_request_line_headers_and_name() {
    let b = spawn("app-b", any_port(), DEFAULT_CAP).await.unwrap();
    let r = send(
        "PUT",
        &b.url("/echo?q=1"),
        &[("x-test", "yes"), ("ServiceName", "app-z")],
        "payload",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.backend(), Some("app-b"));
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines.first(), Some(&"PUT /echo?q=1 HTTP/1.1"));
    assert!(lines.contains(&"x-test: yes"), "{}", r.body);
    assert!(lines.contains(&"servicename: app-z"), "{}", r.body);
    assert_eq!(lines.last(), Some(&"served-by: app-b"));
    let nf = send("GET", &b.url("/elsewhere"), &[], "").await;
    assert_eq!(nf.status, 404);
    assert_eq!(nf.backend(), Some("app-b"));
    let h = send("GET", &b.url("/healthz"), &[], "").await;
    assert_eq!(
        (h.status, h.body.as_str(), h.backend()),
        (200, "ok", Some("app-b"))
    );
    assert_eq!(
        metrics(&b).await.req_received,
        vec!["app-z", "Unidentified"]
    );
}

/// Sends `total` pipelined `GET /echo` requests on one connection, `window` at a time, and
/// returns how many `200 OK` responses came back.
async fn pipelined_echo(addr: SocketAddr, total: usize, window: usize) -> usize {
    const REQ: &[u8] = b"GET /echo HTTP/1.1\r\nhost: b\r\nservicename: load\r\n\r\n";
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\n";
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let (mut sent, mut ok) = (0, 0);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    while sent < total {
        let n = window.min(total - sent);
        s.write_all(&REQ.repeat(n)).await.unwrap();
        sent += n;
        // Read until all n responses of this window arrived (each starts with a status line;
        // the echoed body never contains one).
        let target = ok + n;
        let mut scanned = 0;
        while ok < target {
            let got = s.read(&mut chunk).await.unwrap();
            assert!(got > 0, "server closed the connection after {ok} responses");
            buf.extend_from_slice(&chunk[..got]);
            while let Some(pos) = buf[scanned..].windows(OK.len()).position(|w| w == OK) {
                ok += 1;
                scanned += pos + OK.len();
            }
        }
        buf.drain(..scanned.min(buf.len()));
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_log_stays_within_cap_under_100k_requests() {
    const TOTAL: usize = 100_000;
    const CONNS: usize = 20;
    let b = spawn("app-b", any_port(), DEFAULT_CAP).await.unwrap();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..CONNS {
        set.spawn(pipelined_echo(b.addr, TOTAL / CONNS, 50));
    }
    let mut ok = 0;
    while let Some(n) = set.join_next().await {
        ok += n.unwrap();
    }
    assert_eq!(ok, TOTAL);
    let m = metrics(&b).await;
    assert_eq!(m.cap, DEFAULT_CAP);
    assert_eq!(m.req_received.len(), DEFAULT_CAP);
    assert!(m.req_received.iter().all(|s| s == "load"));
    assert_eq!(m.records.len(), DEFAULT_CAP);
    assert!(m.resp_succeeded.len() <= DEFAULT_CAP && m.resp_failed.len() <= DEFAULT_CAP);
    assert_eq!(m.totals.req_received, TOTAL as u64);
    assert_eq!(m.totals.records, TOTAL as u64);
    // The newest entries are the ones kept.
    assert_eq!(m.records.last().map(LogEntry::seq), Some(TOTAL as u64));
    assert_eq!(
        m.records.first().map(LogEntry::seq),
        Some((TOTAL - DEFAULT_CAP + 1) as u64)
    );
}

#[tokio::test]
async fn shutdown_stops_the_listener() {
    let a = spawn("app-a", any_port(), DEFAULT_CAP).await.unwrap();
    let addr = a.addr;
    assert_eq!(send("GET", &a.url("/healthz"), &[], "").await.status, 200);
    tokio::time::timeout(Duration::from_secs(5), a.shutdown())
        .await
        .unwrap()
        .unwrap();
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}
