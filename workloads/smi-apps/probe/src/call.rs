//! `POST /call`: parsing the request body into a [`CallSpec`] and making the outbound calls, each
//! on a fresh TCP connection, classifying every transport error into a [`CallErrorKind`].

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::error::CallRequestError;
use crate::metrics::Metrics;
use crate::record::{
    CallErrorKind, CallRecord, RespEntry, MAX_BODY_SNIPPET, MAX_HEADER_VALUE, MAX_RECORDED_HEADERS,
};

/// Header carrying the caller's name, as in the original app.
pub const SERVICE_NAME_HEADER: &str = "ServiceName";
/// Largest `count` accepted in the batch form.
pub const MAX_COUNT: u64 = 10_000;
/// Largest `concurrency` accepted.
pub const MAX_CONCURRENCY: u64 = 64;
/// Default per-call timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Largest `timeout_ms` accepted (5 minutes).
pub const MAX_TIMEOUT_MS: u64 = 300_000;

/// A validated `/call` request.
#[derive(Debug, Clone)]
pub struct CallSpec {
    /// The URL exactly as given.
    pub url: String,
    /// The method as given.
    pub method: Method,
    host: String,
    port: u16,
    authority: String,
    path_and_query: String,
    body: Bytes,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// `Some(n)` for the batch form.
    pub count: Option<u32>,
    /// Number of calls in flight at once in the batch form.
    pub concurrency: u32,
    /// Deadline of each call, from DNS lookup to the end of the response body.
    pub timeout: Duration,
}

impl CallSpec {
    /// Parses and validates a `/call` JSON body.
    pub fn parse(body: &[u8]) -> Result<Self, CallRequestError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| CallRequestError::NotJson(e.to_string()))?;
        let obj = value.as_object().ok_or(CallRequestError::NotObject)?;

        let url = required_str(obj, "url")?;
        let method_text = required_str(obj, "method")?;
        let method = Method::from_bytes(method_text.as_bytes())
            .map_err(|_| CallRequestError::BadMethod(method_text.clone()))?;
        let body = match obj.get("body") {
            None | Some(Value::Null) => Bytes::new(),
            Some(Value::String(s)) => Bytes::from(s.clone()),
            Some(_) => {
                return Err(CallRequestError::WrongType {
                    field: "body",
                    expected: "a string",
                })
            }
        };
        let headers = match obj.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => parse_headers(m)?,
            Some(_) => {
                return Err(CallRequestError::WrongType {
                    field: "headers",
                    expected: "an object mapping header names to string values",
                })
            }
        };
        let count = optional_int(obj, "count", 1, MAX_COUNT)?.map(|c| c as u32);
        let concurrency = optional_int(obj, "concurrency", 1, MAX_CONCURRENCY)?.unwrap_or(1) as u32;
        let timeout_ms =
            optional_int(obj, "timeout_ms", 1, MAX_TIMEOUT_MS)?.unwrap_or(DEFAULT_TIMEOUT_MS);

        let target = parse_url(&url)?;
        Ok(Self {
            url,
            method,
            host: target.host,
            port: target.port,
            authority: target.authority,
            path_and_query: target.path_and_query,
            body,
            headers,
            count,
            concurrency,
            timeout: Duration::from_millis(timeout_ms),
        })
    }

    /// The request as listed in `RespSucceeded`/`RespFailed`, with the headers actually sent.
    pub fn resp_entry(&self, source: &str) -> RespEntry {
        let mut headers = BTreeMap::new();
        for (k, v) in &self.headers {
            headers.insert(
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            );
        }
        headers.insert(SERVICE_NAME_HEADER.to_string(), source.to_string());
        RespEntry {
            url: self.url.clone(),
            method: self.method.to_string(),
            headers,
        }
    }
}

struct Target {
    host: String,
    port: u16,
    authority: String,
    path_and_query: String,
}

fn parse_url(url: &str) -> Result<Target, CallRequestError> {
    let bad = |reason: &str| CallRequestError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => {}
        Some(_) => {
            return Err(bad(
                "only http:// URLs are supported (the probe speaks plain HTTP/1.1)",
            ))
        }
        None => {
            return Err(bad(
                "must be an absolute URL such as http://app-b:9091/echo",
            ))
        }
    }
    let authority = uri.authority().ok_or_else(|| bad("missing host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("user info in URLs is not supported"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if host.is_empty() {
        return Err(bad("missing host"));
    }
    let port = authority.port_u16().unwrap_or(80);
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let path_and_query = if path_and_query.is_empty() {
        "/".to_string()
    } else {
        path_and_query
    };
    Ok(Target {
        host,
        port,
        authority: authority.as_str().to_string(),
        path_and_query,
    })
}

fn required_str(obj: &Map<String, Value>, field: &'static str) -> Result<String, CallRequestError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(CallRequestError::Missing(field)),
        Some(Value::String(s)) if s.trim().is_empty() => Err(CallRequestError::Missing(field)),
        Some(Value::String(s)) => Ok(s.trim().to_string()),
        Some(_) => Err(CallRequestError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

fn optional_int(
    obj: &Map<String, Value>,
    field: &'static str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, CallRequestError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(CallRequestError::OutOfRange {
                field,
                min,
                max,
                got: n.to_string(),
            }),
        },
        Some(_) => Err(CallRequestError::WrongType {
            field,
            expected: "an integer",
        }),
    }
}

fn parse_headers(
    m: &Map<String, Value>,
) -> Result<Vec<(HeaderName, HeaderValue)>, CallRequestError> {
    let mut out = Vec::with_capacity(m.len());
    for (k, v) in m {
        let bad = |reason: &str| CallRequestError::BadHeader {
            name: k.clone(),
            reason: reason.to_string(),
        };
        let Value::String(v) = v else {
            return Err(bad("the value must be a string"));
        };
        let name =
            HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad("not a valid header name"))?;
        let value =
            HeaderValue::from_str(v).map_err(|_| bad("the value contains invalid characters"))?;
        out.push((name, value));
    }
    Ok(out)
}

/// Why one call failed, before it is folded into a [`CallRecord`].
#[derive(Debug)]
struct Failure {
    kind: CallErrorKind,
    detail: String,
    backend: Option<String>,
}

fn failure(kind: CallErrorKind, detail: impl Into<String>) -> Failure {
    Failure {
        kind,
        detail: detail.into(),
        backend: None,
    }
}

/// Makes one call on a fresh TCP connection and returns its record. Never fails: transport
/// errors become records with `status: null` and `error` set.
pub async fn perform(spec: &CallSpec, source: &str) -> CallRecord {
    let start = Instant::now();
    let outcome = attempt(spec, source, start + spec.timeout).await;
    let latency_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut rec = CallRecord {
        source: source.to_string(),
        url: spec.url.clone(),
        method: spec.method.to_string(),
        status: None,
        error: None,
        error_detail: None,
        backend: None,
        latency_us,
        headers: BTreeMap::new(),
        body: None,
    };
    match outcome {
        Ok(answer) => {
            rec.status = Some(answer.status);
            rec.backend = answer.backend;
            rec.headers = answer.headers;
            rec.body = answer.body;
        }
        Err(f) => {
            rec.error = Some(f.kind);
            rec.error_detail = Some(f.detail);
            rec.backend = f.backend;
        }
    }
    rec
}

/// A complete answer: its status, backend, and for statuses outside 200–399 the headers and the
/// start of the body (what a mesh's denial looks like).
struct Answer {
    status: u16,
    backend: Option<String>,
    headers: BTreeMap<String, String>,
    body: Option<String>,
}

/// The first bytes of `s` up to `max`, cut at a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Response headers as recorded: lowercase names, bounded count and value length.
fn recorded_headers(h: &http::HeaderMap) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in h {
        if out.len() >= MAX_RECORDED_HEADERS {
            break;
        }
        let value = String::from_utf8_lossy(v.as_bytes());
        out.entry(k.as_str().to_string())
            .or_insert_with(|| cut(&value, MAX_HEADER_VALUE));
    }
    out
}

async fn attempt(spec: &CallSpec, source: &str, deadline: Instant) -> Result<Answer, Failure> {
    // Resolve ourselves so a DNS failure is told apart from a connect failure.
    let addrs: Vec<SocketAddr> = match timeout_at(
        deadline,
        tokio::net::lookup_host((spec.host.as_str(), spec.port)),
    )
    .await
    {
        Err(_) => {
            return Err(failure(
                CallErrorKind::Timeout,
                format!("timed out resolving {}", spec.host),
            ))
        }
        Ok(Err(e)) => {
            return Err(failure(
                CallErrorKind::Dns,
                format!("resolving {}: {e}", spec.host),
            ))
        }
        Ok(Ok(it)) => it.collect(),
    };
    if addrs.is_empty() {
        return Err(failure(
            CallErrorKind::Dns,
            format!("resolving {}: no addresses", spec.host),
        ));
    }

    let mut stream = None;
    let mut last_err = None;
    for addr in &addrs {
        match timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(failure(
                    CallErrorKind::ConnectTimeout,
                    format!("connecting to {addr}: timed out"),
                ))
            }
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => last_err = Some((*addr, e)),
        }
    }
    let Some(stream) = stream else {
        return Err(match last_err {
            Some((addr, e)) => connect_failure(addr, &e),
            None => failure(CallErrorKind::Other, "no address to connect to"),
        });
    };
    // Latency matters more than throughput for small probe requests.
    let _ = stream.set_nodelay(true);

    let (mut sender, conn) = match timeout_at(
        deadline,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await
    {
        Err(_) => {
            return Err(failure(
                CallErrorKind::Timeout,
                "timed out during HTTP handshake",
            ))
        }
        Ok(Err(e)) => return Err(hyper_failure(&e, "HTTP handshake")),
        Ok(Ok(pair)) => pair,
    };
    // The connection task ends when `sender` is dropped after this one exchange: no pooling.
    let conn_task = tokio::spawn(conn);

    let mut builder = Request::builder()
        .method(spec.method.clone())
        .uri(spec.path_and_query.as_str())
        .header(HOST, spec.authority.as_str());
    if let Some(h) = builder.headers_mut() {
        for (k, v) in &spec.headers {
            h.insert(k.clone(), v.clone());
        }
        if let Ok(v) = HeaderValue::from_str(source) {
            h.insert(HeaderName::from_static("servicename"), v);
        }
    }
    let req = builder
        .body(Full::new(spec.body.clone()))
        .map_err(|e| failure(CallErrorKind::Other, format!("building the request: {e}")))?;

    let result = async {
        let resp = match timeout_at(deadline, sender.send_request(req)).await {
            Err(_) => {
                return Err(failure(
                    CallErrorKind::Timeout,
                    "timed out waiting for the response",
                ))
            }
            Ok(Err(e)) => return Err(hyper_failure(&e, "sending the request")),
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        let backend = resp
            .headers()
            .get(crate::record::BACKEND_HEADER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        // Denials are told apart by their headers and body: keep those of non-2xx/3xx answers.
        let keep = !(200..400).contains(&status);
        let headers = if keep {
            recorded_headers(resp.headers())
        } else {
            BTreeMap::new()
        };
        let mut snippet: Vec<u8> = Vec::new();
        // Drain the body, keeping at most MAX_BODY_SNIPPET bytes of a non-2xx/3xx answer.
        let mut body = resp.into_body();
        loop {
            match timeout_at(deadline, body.frame()).await {
                Err(_) => {
                    return Err(Failure {
                        backend,
                        ..failure(
                            CallErrorKind::Timeout,
                            format!("timed out reading the body after status {status}"),
                        )
                    })
                }
                Ok(None) => break,
                Ok(Some(Ok(frame))) => {
                    if let (true, Some(data)) = (keep, frame.data_ref()) {
                        let room = MAX_BODY_SNIPPET.saturating_sub(snippet.len());
                        snippet.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                Ok(Some(Err(e))) => {
                    let mut f =
                        hyper_failure(&e, &format!("reading the body after status {status}"));
                    f.backend = backend;
                    return Err(f);
                }
            }
        }
        let body = keep.then(|| cut(&String::from_utf8_lossy(&snippet), MAX_BODY_SNIPPET));
        Ok(Answer {
            status,
            backend,
            headers,
            body,
        })
    }
    .await;
    drop(sender);
    conn_task.abort();
    result
}

fn io_kind_class(kind: io::ErrorKind) -> Option<CallErrorKind> {
    use io::ErrorKind as K;
    match kind {
        K::ConnectionRefused => Some(CallErrorKind::ConnectRefused),
        K::ConnectionReset
        | K::ConnectionAborted
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::NotConnected => Some(CallErrorKind::Reset),
        K::TimedOut => Some(CallErrorKind::Timeout),
        _ => None,
    }
}

fn connect_failure(addr: SocketAddr, e: &io::Error) -> Failure {
    let kind = match e.kind() {
        io::ErrorKind::TimedOut => CallErrorKind::ConnectTimeout,
        k => io_kind_class(k).unwrap_or(CallErrorKind::Other),
    };
    failure(kind, format!("connecting to {addr}: {e}"))
}

/// Renders an error and its source chain as `outer: inner: ...`.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// Classifies a hyper client error by walking its source chain.
fn hyper_failure(e: &hyper::Error, phase: &str) -> Failure {
    let detail = format!("{phase}: {}", chain(e));
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if let Some(kind) = io_kind_class(io.kind()) {
                return failure(kind, detail);
            }
        }
        cur = err.source();
    }
    let kind = if e.is_timeout() {
        CallErrorKind::Timeout
    } else if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        // The peer closed the connection before a complete response arrived.
        CallErrorKind::Reset
    } else if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        CallErrorKind::Protocol
    } else {
        CallErrorKind::Other
    };
    failure(kind, detail)
}

/// Runs a batch: `count` calls, at most `concurrency` at once, each on its own connection.
/// Records come back in call order and are also appended to `metrics` as they complete.
pub async fn perform_batch(
    spec: Arc<CallSpec>,
    source: Arc<str>,
    metrics: Arc<Metrics>,
) -> Vec<CallRecord> {
    let count = spec.count.unwrap_or(1) as usize;
    let workers = (spec.concurrency as usize).clamp(1, count.max(1));
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (spec, source, metrics, next) =
            (spec.clone(), source.clone(), metrics.clone(), next.clone());
        set.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let rec = perform(&spec, &source).await;
                metrics.record_outbound(spec.resp_entry(&source), &rec);
                done.push((i, rec));
            }
            done
        });
    }
    let mut slots: Vec<Option<CallRecord>> = vec![None; count];
    while let Some(res) = set.join_next().await {
        // A worker can only fail by panicking; its unfinished calls are reported below.
        if let Ok(done) = res {
            for (i, rec) in done {
                slots[i] = Some(rec);
            }
        }
    }
    slots
        .into_iter()
        .map(|s| {
            s.unwrap_or_else(|| CallRecord {
                source: source.to_string(),
                url: spec.url.clone(),
                method: spec.method.to_string(),
                status: None,
                error: Some(CallErrorKind::Other),
                error_detail: Some("internal error: the call's worker task failed".to_string()),
                backend: None,
                latency_us: 0,
                headers: BTreeMap::new(),
                body: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        CallSpec::parse(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn parses_the_original_api_and_extensions() {
        let s = CallSpec::parse(br#"{"url":"http://app-b:9091/echo?x=1","method":"POST","body":"hi","headers":{"X-A":"1"}}"#).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.path_and_query.as_str()),
            ("app-b", 9091, "/echo?x=1")
        );
        assert_eq!(s.count, None);
        assert_eq!(s.concurrency, 1);
        assert_eq!(s.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
        let e = s.resp_entry("app-a");
        assert_eq!(
            e.headers.get("ServiceName").map(String::as_str),
            Some("app-a")
        );
        assert_eq!(e.headers.get("x-a").map(String::as_str), Some("1"));
        let s = CallSpec::parse(
            br#"{"url":"http://[::1]/","method":"GET","count":5,"concurrency":2,"timeout_ms":50}"#,
        )
        .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.count, s.concurrency),
            ("::1", 80, Some(5), 2)
        );
    }

    #[test]
    fn rejections_name_the_field() {
        assert!(err("nope").contains("not valid JSON"));
        assert!(err("[1]").contains("JSON object"));
        assert!(err(r#"{"method":"GET"}"#).contains("`url`"));
        assert!(err(r#"{"url":"http://a/"}"#).contains("`method`"));
        assert!(err(r#"{"url":1,"method":"GET"}"#).contains("`url` must be a string"));
        assert!(err(r#"{"url":"http://a/","method":"G T"}"#).contains("`method`"));
        assert!(err(r#"{"url":"a b","method":"GET"}"#).contains("`url`"));
        assert!(err(r#"{"url":"/echo","method":"GET"}"#).contains("absolute"));
        assert!(err(r#"{"url":"https://a/","method":"GET"}"#).contains("http://"));
        assert!(err(r#"{"url":"http://a/","method":"GET","body":3}"#).contains("`body`"));
        assert!(err(r#"{"url":"http://a/","method":"GET","headers":[]}"#).contains("`headers`"));
        assert!(
            err(r#"{"url":"http://a/","method":"GET","headers":{"a b":"x"}}"#)
                .contains("`headers`")
        );
        assert!(err(r#"{"url":"http://a/","method":"GET","count":0}"#).contains("`count`"));
        assert!(err(r#"{"url":"http://a/","method":"GET","count":"3"}"#).contains("`count`"));
        assert!(
            err(r#"{"url":"http://a/","method":"GET","concurrency":65}"#).contains("`concurrency`")
        );
        assert!(
            err(r#"{"url":"http://a/","method":"GET","timeout_ms":-1}"#).contains("`timeout_ms`")
        );
    }
}
