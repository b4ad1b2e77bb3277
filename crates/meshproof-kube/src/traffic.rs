//! The traffic driver: asks a probe pod (e.g. `app-a`) to make calls on its behalf by POSTing to
//! its `/call` endpoint through a pod port-forward of the Kubernetes API, so no NodePort or
//! LoadBalancer is needed. The HTTP/1.1 exchange itself ([`post_call`]) runs over any byte
//! stream, which is how it is tested without a cluster.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::pods::PodSummary;
use crate::{describe, Kube};

/// What a probe answered, and which pod it was (its containers say whether it is meshed).
#[derive(Debug, Clone)]
pub struct ProbeAnswer {
    /// The pod the call went through.
    pub pod: PodSummary,
    /// The probe's JSON answer.
    pub answer: Value,
}

/// Path of the probe's call endpoint.
pub const CALL_PATH: &str = "/call";

/// Driving traffic through a probe failed (the call records themselves, including transport
/// errors between the probes, are data in the returned JSON, not this error).
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    /// Listing the pods behind the selector failed.
    #[error("cannot list pods {selector} in namespace {namespace}: {message}")]
    ListPods {
        /// The namespace searched.
        namespace: String,
        /// The label selector.
        selector: String,
        /// What went wrong.
        message: String,
        /// Asking again may succeed (a 5xx answer, a broken connection): see [`crate::is_transient`].
        transient: bool,
    },
    /// No running, ready pod matches the selector.
    #[error("no ready pod {selector} in namespace {namespace} to send traffic from ({seen}); wait for the workload first")]
    NoReadyPod {
        /// The namespace searched.
        namespace: String,
        /// The label selector.
        selector: String,
        /// What was found instead.
        seen: String,
    },
    /// The port-forward could not be opened or broke.
    #[error("port-forward to pod {namespace}/{pod} port {port} failed: {message}")]
    PortForward {
        /// The pod's namespace.
        namespace: String,
        /// The pod.
        pod: String,
        /// The pod port.
        port: u16,
        /// What went wrong (the API server's or kubelet's message).
        message: String,
        /// Trying again may succeed: anything but the API server refusing the port-forward
        /// (e.g. 403 for a user without `pods/portforward`).
        transient: bool,
    },
    /// The HTTP exchange with the probe failed (handshake, connection closed, bad framing).
    #[error("HTTP POST {CALL_PATH} to {target} failed: {message}")]
    Http {
        /// Which probe (`pod ns/name:port`, or a test label).
        target: String,
        /// What went wrong.
        message: String,
    },
    /// The probe answered with a non-200 status (e.g. 400 for a malformed request).
    #[error("POST {CALL_PATH} to {target} answered {status}: {body}")]
    Status {
        /// Which probe.
        target: String,
        /// The HTTP status.
        status: u16,
        /// The response body (the probe's `{"error": ...}`).
        body: String,
    },
    /// The probe's answer is not JSON.
    #[error("POST {CALL_PATH} to {target} answered something that is not JSON: {message}")]
    Json {
        /// Which probe.
        target: String,
        /// The parse error.
        message: String,
    },
    /// No complete answer within the timeout.
    #[error("POST {CALL_PATH} to {target} did not answer within {timeout:?}")]
    Timeout {
        /// Which probe.
        target: String,
        /// The timeout.
        timeout: Duration,
    },
}

impl TrafficError {
    /// Whether asking the probe again may succeed: the pod list failed with a 5xx or a broken
    /// connection, no pod is ready yet (a restart, a rollout), the port-forward or the HTTP
    /// exchange broke, the probe did not answer in time, or it answered 5xx. A probe that
    /// rejects the request (4xx) or answers something that is not JSON will do so again.
    pub fn is_transient(&self) -> bool {
        match self {
            TrafficError::ListPods { transient, .. } => *transient,
            TrafficError::PortForward { transient, .. } => *transient,
            TrafficError::NoReadyPod { .. }
            | TrafficError::Http { .. }
            | TrafficError::Timeout { .. } => true,
            TrafficError::Status { status, .. } => *status >= 500,
            TrafficError::Json { .. } => false,
        }
    }
}

/// The probe's largest per-call deadline, `timeout_ms` (`MAX_TIMEOUT_MS` in
/// `workloads/smi-apps/probe/src/call.rs`): longer deadlines are cut to it.
pub const PROBE_MAX_CALL_TIMEOUT: Duration = Duration::from_millis(300_000);

/// Builds the probe's batch `/call` request: `count` calls of `method url`, one at a time, each
/// with the deadline `per_call` (DNS lookup to end of body; sent as `timeout_ms`, at least 1 ms
/// and at most [`PROBE_MAX_CALL_TIMEOUT`]), so the batch ends within `count × per_call`.
///
/// The probe answers it with `{"records": [CallRecord, ...]}` (see
/// `workloads/smi-apps/README.md`).
pub fn probe_call_request(url: &str, method: &str, count: u32, per_call: Duration) -> Value {
    let timeout_ms = per_call.min(PROBE_MAX_CALL_TIMEOUT).as_millis().max(1) as u64;
    json!({
        "url": url,
        "method": method,
        "count": count,
        "concurrency": 1,
        "timeout_ms": timeout_ms,
    })
}

/// POSTs `request` as JSON to `/call` over `io` (one HTTP/1.1 connection, hyper's client
/// handshake) and returns the parsed JSON answer. `target` names the peer in errors.
///
/// Used by [`Kube::call_probe`] over a port-forward stream; works over any byte stream, e.g. a
/// `tokio::io::duplex` in tests.
pub async fn post_call<S>(
    io: S,
    target: &str,
    request: &Value,
    timeout: Duration,
) -> Result<Value, TrafficError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match tokio::time::timeout(timeout, exchange(io, target, request)).await {
        Ok(result) => result,
        Err(_) => Err(TrafficError::Timeout {
            target: target.to_string(),
            timeout,
        }),
    }
}

async fn exchange<S>(io: S, target: &str, request: &Value) -> Result<Value, TrafficError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http_err = |message: String| TrafficError::Http {
        target: target.to_string(),
        message,
    };
    let body = serde_json::to_vec(request).map_err(|e| http_err(e.to_string()))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(io))
            .await
            .map_err(|e| http_err(format!("handshake: {e}")))?;
    let driver = tokio::spawn(connection);
    let req = http::Request::post(CALL_PATH)
        .header(http::header::HOST, "localhost")
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| http_err(e.to_string()))?;
    let result = async {
        let response = sender
            .send_request(req)
            .await
            .map_err(|e| http_err(error_chain(&e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| http_err(format!("reading the body: {}", error_chain(&e))))?
            .to_bytes();
        if status != 200 {
            return Err(TrafficError::Status {
                target: target.to_string(),
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| TrafficError::Json {
            target: target.to_string(),
            message: e.to_string(),
        })
    }
    .await;
    drop(sender);
    driver.abort();
    result
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        s.push_str(": ");
        s.push_str(&e.to_string());
        source = e.source();
    }
    s
}

impl Kube {
    /// Asks a probe to make calls: picks a running, ready pod matching `selector` (e.g.
    /// `app=app-a`; the first by name), opens a port-forward to its `port` through the API
    /// server, POSTs `request` (see [`probe_call_request`]) to `/call` and returns the probe's
    /// JSON answer (`{"records": [...]}` for the batch form).
    pub async fn call_probe(
        &self,
        namespace: &str,
        selector: &str,
        port: u16,
        request: &Value,
        timeout: Duration,
    ) -> Result<ProbeAnswer, TrafficError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let summary = self.ready_pod(namespace, selector).await?;
        let pod = summary.name.clone();
        let pf_err = |message: String, transient: bool| TrafficError::PortForward {
            namespace: namespace.to_string(),
            pod: pod.clone(),
            port,
            message,
            transient,
        };
        let mut forwarder =
            match tokio::time::timeout(timeout, api.portforward(&pod, &[port])).await {
                Ok(Ok(f)) => f,
                Ok(Err(e)) => return Err(pf_err(describe(&e), crate::is_transient(&e))),
                Err(_) => return Err(pf_err(format!("not opened within {timeout:?}"), true)),
            };
        let stream = forwarder
            .take_stream(port)
            .ok_or_else(|| pf_err("no stream for the port".to_string(), true))?;
        let port_error = forwarder.take_error(port);
        let target = format!("pod {namespace}/{pod}:{port}");
        let call = post_call(stream, &target, request, timeout);
        let result = match port_error {
            Some(port_error) => {
                tokio::pin!(call);
                tokio::select! {
                    result = &mut call => result,
                    Some(message) = port_error => {
                        // The kubelet reported an error on the port (e.g. nothing listens).
                        Err(pf_err(message, true))
                    }
                }
            }
            None => call.await,
        };
        forwarder.abort();
        result.map(|answer| ProbeAnswer {
            pod: summary,
            answer,
        })
    }

    async fn ready_pod(&self, namespace: &str, selector: &str) -> Result<PodSummary, TrafficError> {
        let pods = self.pods(namespace, selector).await?;
        let others: Vec<String> = pods
            .iter()
            .filter(|p| !p.ready)
            .map(|p| format!("{} {}", p.name, p.phase))
            .collect();
        // `pods` is sorted by name: the first ready pod, as before.
        pods.into_iter()
            .find(|p| p.ready)
            .ok_or_else(|| TrafficError::NoReadyPod {
                namespace: namespace.to_string(),
                selector: selector.to_string(),
                seen: if others.is_empty() {
                    "no pods match".to_string()
                } else {
                    format!("not ready: {}", others.join(", "))
                },
            })
    }
}

impl Kube {
    /// The pods of `namespace` matching `selector` (every pod when empty), sorted by name.
    pub async fn pods(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<PodSummary>, TrafficError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let mut lp = ListParams::default();
        if !selector.is_empty() {
            lp = lp.labels(selector);
        }
        let mut pods: Vec<PodSummary> = api
            .list(&lp)
            .await
            .map_err(|e| TrafficError::ListPods {
                namespace: namespace.to_string(),
                selector: selector.to_string(),
                message: describe(&e),
                transient: crate::is_transient(&e),
            })?
            .items
            .iter()
            .map(PodSummary::of)
            .collect();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(pods)
    }
}
