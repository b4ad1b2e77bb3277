//! The probe's HTTP/1.1 server: accept loop, routing (`/call`, `/echo`, `/metrics`, `/healthz`),
//! the `x-meshproof-backend` header on every response, and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::call::{perform, perform_batch, CallSpec};
use crate::error::{CallRequestError, ProbeError};
use crate::metrics::Metrics;

pub use crate::record::{BACKEND_HEADER, SENDER_HEADER};
/// Largest `/call` request body accepted.
pub const MAX_CALL_BODY: usize = 1 << 20;
/// How long in-flight connections may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

type Resp = Response<Full<Bytes>>;

/// Settings of one serving probe.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The probe's `SERVICE_NAME`.
    pub name: String,
    /// Log one stderr line per `/call` (on in the binary; tests and benchmarks turn it off).
    pub log_calls: bool,
}

#[derive(Debug)]
struct AppState {
    name: Arc<str>,
    backend: HeaderValue,
    metrics: Arc<Metrics>,
    log_calls: bool,
}

/// Serves HTTP/1.1 on `listener` until `shutdown` resolves, then stops accepting and lets open
/// connections finish (at most [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    opts: ServeOptions,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ProbeError> {
    crate::config::validate_service_name(&opts.name)?;
    let backend = HeaderValue::from_str(&opts.name).map_err(|_| ProbeError::Config {
        var: crate::config::ENV_SERVICE_NAME,
        value: opts.name.clone(),
        reason: "must be a valid HTTP header value",
    })?;
    let state = Arc::new(AppState {
        name: Arc::from(opts.name.as_str()),
        backend,
        metrics,
        log_calls: opts.log_calls,
    });
    let local = listener.local_addr().map_err(ProbeError::LocalAddr)?;
    log(&state.name, &format!("listening on {local}"));

    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let st = state.clone();
                    let conn = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(move |req| handle(st.clone(), req)));
                    let watched = graceful.watch(conn);
                    tokio::spawn(async move {
                        // Client-side disconnects are normal; nothing to report.
                        let _ = watched.await;
                    });
                }
                Err(e) => {
                    // Typically EMFILE under overload: back off briefly instead of spinning.
                    log(&state.name, &format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    log(&state.name, "shutting down: draining open connections");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        log(
            &state.name,
            "grace period over; closing remaining connections",
        );
    }
    log(&state.name, "stopped");
    Ok(())
}

fn log(name: &str, msg: &str) {
    eprintln!("meshproof-probe[{name}]: {msg}");
}

async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let mut resp = match req.uri().path() {
        "/healthz" => healthz(req.method()),
        "/metrics" => metrics_route(&state, req.method()),
        path => {
            let method = req.method().to_string();
            let target = req
                .uri()
                .path_and_query()
                .map_or(path, |p| p.as_str())
                .to_string();
            let sender = req
                .headers()
                .get(SENDER_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let resp = match path {
                "/call" => call_route(&state, req).await,
                "/echo" => echo(&state, req, StatusCode::OK).await,
                // Unknown paths still identify the backend, so a route-level denial by the mesh
                // (403/404 without this header) can be told from the app's own 404.
                _ => echo(&state, req, StatusCode::NOT_FOUND).await,
            };
            state.metrics.record_inbound(
                &method,
                &target,
                sender.as_deref(),
                resp.status().as_u16(),
            );
            resp
        }
    };
    resp.headers_mut()
        .insert(BACKEND_HEADER, state.backend.clone());
    Ok(resp)
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json(status: StatusCode, body: Vec<u8>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn json_error(status: StatusCode, msg: &str) -> Resp {
    json(
        status,
        serde_json::json!({ "error": msg }).to_string().into_bytes(),
    )
}

fn healthz(method: &Method) -> Resp {
    if method == Method::GET || method == Method::HEAD {
        text(StatusCode::OK, "ok")
    } else {
        text(StatusCode::METHOD_NOT_ALLOWED, "use GET /healthz")
    }
}

fn metrics_route(state: &AppState, method: &Method) -> Resp {
    match *method {
        Method::GET => json(StatusCode::OK, state.metrics.snapshot_json(&state.name)),
        Method::DELETE => {
            state.metrics.reset();
            json(StatusCode::OK, br#"{"reset":true}"#.to_vec())
        }
        _ => json_error(
            StatusCode::BAD_REQUEST,
            "/metrics accepts GET (read) and DELETE (reset) only",
        ),
    }
}

async fn echo(state: &AppState, req: Request<Incoming>, status: StatusCode) -> Resp {
    let (parts, body) = req.into_parts();
    let mut out = String::with_capacity(256);
    out.push_str(&format!(
        "{} {} {:?}\n",
        parts.method, parts.uri, parts.version
    ));
    for (k, v) in &parts.headers {
        out.push_str(k.as_str());
        out.push_str(": ");
        out.push_str(&String::from_utf8_lossy(v.as_bytes()));
        out.push('\n');
    }
    // Consume the request body so the connection can be reused; its content is not echoed.
    let mut body = body;
    while let Some(Ok(_)) = body.frame().await {}
    out.push_str("served-by: ");
    out.push_str(&state.name);
    out.push('\n');
    text(status, out)
}

async fn call_route(state: &AppState, req: Request<Incoming>) -> Resp {
    if req.method() != Method::POST {
        return json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST /call with a JSON body",
        );
    }
    let body = match Limited::new(req.into_body(), MAX_CALL_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &CallRequestError::Body(e.to_string()).to_string(),
            )
        }
    };
    let spec = match CallSpec::parse(&body) {
        Ok(s) => s,
        Err(e) => {
            if state.log_calls {
                log(&state.name, &format!("/call rejected: {e}"));
            }
            return json_error(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    if spec.count.is_some() {
        let spec = Arc::new(spec);
        let records = perform_batch(spec.clone(), state.name.clone(), state.metrics.clone()).await;
        if state.log_calls {
            let ok = records.iter().filter(|r| r.succeeded()).count();
            log(
                &state.name,
                &format!(
                    "/call batch {} {} x{}: {ok} succeeded",
                    spec.method,
                    spec.url,
                    records.len()
                ),
            );
        }
        let body = serde_json::to_vec(&serde_json::json!({ "records": records }));
        return match body {
            Ok(b) => json(StatusCode::OK, b),
            Err(e) => json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("serializing records: {e}"),
            ),
        };
    }
    let rec = perform(&spec, &state.name).await;
    state
        .metrics
        .record_outbound(spec.resp_entry(&state.name), &rec);
    if state.log_calls {
        let outcome = match (rec.status, rec.error) {
            (Some(s), _) => s.to_string(),
            (None, Some(k)) => format!(
                "{} ({})",
                k.as_str(),
                rec.error_detail.as_deref().unwrap_or("")
            ),
            (None, None) => "?".to_string(),
        };
        log(
            &state.name,
            &format!(
                "/call {} {} -> {outcome} in {}us",
                rec.method, rec.url, rec.latency_us
            ),
        );
    }
    match serde_json::to_vec(&rec) {
        Ok(b) => json(StatusCode::OK, b),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("serializing the record: {e}"),
        ),
    }
}

/// A probe running as a task of the current tokio runtime (tests, load generator).
#[derive(Debug)]
pub struct ProbeHandle {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its metrics, readable directly.
    pub metrics: Arc<Metrics>,
    name: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ProbeError>>>,
}

impl ProbeHandle {
    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The probe's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Signals shutdown and waits for the server task to finish.
    pub async fn shutdown(mut self) -> Result<(), ProbeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for ProbeHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `addr` (use port 0 for an ephemeral port) and serves a probe named `name` in a task.
pub async fn spawn(name: &str, addr: SocketAddr, cap: usize) -> Result<ProbeHandle, ProbeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ProbeError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(ProbeError::LocalAddr)?;
    let metrics = Arc::new(Metrics::new(cap));
    let (stop, stopped) = oneshot::channel::<()>();
    let opts = ServeOptions {
        name: name.to_string(),
        log_calls: false,
    };
    let task = tokio::spawn(serve(listener, opts, metrics.clone(), async move {
        let _ = stopped.await;
    }));
    Ok(ProbeHandle {
        addr: bound,
        metrics,
        name: name.to_string(),
        stop: Some(stop),
        task: Some(task),
    })
}
