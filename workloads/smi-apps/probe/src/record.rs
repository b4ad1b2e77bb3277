//! The JSON shapes the probe emits and the core's observation parser reads.
//!
//! `CallRecord` is the outcome of one outbound call (answer of `POST /call`); `LogEntry` is one
//! line of the `/metrics` `records` log; `MetricsSnapshot` is the whole `GET /metrics` document.
//! All types deserialize too, so clients (tests, the load generator, the core) can parse them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Response header naming the probe that answered; on every response.
pub const BACKEND_HEADER: &str = "x-meshproof-backend";
/// Request header naming the calling probe (`ServiceName`, matched case-insensitively).
pub const SENDER_HEADER: &str = "servicename";

/// Transport-level failure class of an outbound call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallErrorKind {
    /// The host name did not resolve.
    Dns,
    /// The TCP connection was refused (nothing listening, or an RST on SYN).
    ConnectRefused,
    /// The TCP connection was not established before the deadline.
    ConnectTimeout,
    /// The connection was reset or closed before a complete response arrived.
    Reset,
    /// The deadline passed after connecting (waiting for or reading the response).
    Timeout,
    /// The peer answered something that is not valid HTTP/1.x.
    Protocol,
    /// Anything else (unreachable network, local resource errors, ...); see `error_detail`.
    Other,
}

impl CallErrorKind {
    /// The wire name, as in the JSON record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::ConnectRefused => "connect-refused",
            Self::ConnectTimeout => "connect-timeout",
            Self::Reset => "reset",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol",
            Self::Other => "other",
        }
    }
}

/// The outcome of one outbound call. Exactly one of `status` and `error` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// `SERVICE_NAME` of the probe that made the call.
    pub source: String,
    /// The URL as given in the request.
    pub url: String,
    /// The method as given in the request.
    pub method: String,
    /// HTTP status of the response, `null` on a transport error.
    pub status: Option<u16>,
    /// Transport error class, `null` when a complete response arrived.
    pub error: Option<CallErrorKind>,
    /// Human-readable error chain, `null` when `error` is `null`.
    pub error_detail: Option<String>,
    /// Value of the answering probe's `x-meshproof-backend` header, if any.
    pub backend: Option<String>,
    /// Wall time from DNS lookup start to the end of the response body, in microseconds.
    pub latency_us: u64,
    /// Response headers of an answer outside 200–399 (lowercase names; at most
    /// [`MAX_RECORDED_HEADERS`], values cut at [`MAX_HEADER_VALUE`] bytes): how a mesh says it
    /// denied (`l5d-proxy-error`, `server`, ...). Empty otherwise.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The first [`MAX_BODY_SNIPPET`] bytes of the body of an answer outside 200–399 (lossy
    /// UTF-8), e.g. Envoy's `RBAC: access denied`; `null` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// Most response headers recorded for one answer.
pub const MAX_RECORDED_HEADERS: usize = 32;
/// Longest header value recorded, in bytes.
pub const MAX_HEADER_VALUE: usize = 256;
/// Longest body snippet recorded, in bytes.
pub const MAX_BODY_SNIPPET: usize = 512;

impl CallRecord {
    /// True when the call got a 2xx or 3xx answer (the original app's "succeeded").
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Some(s) if (200..400).contains(&s))
    }
}

/// One outbound call in the original app's `RespSucceeded` / `RespFailed` lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RespEntry {
    /// Target URL.
    #[serde(rename = "URL")]
    pub url: String,
    /// Request method.
    #[serde(rename = "Method")]
    pub method: String,
    /// Request headers the probe sent (including `ServiceName`).
    #[serde(rename = "Headers")]
    pub headers: BTreeMap<String, String>,
}

/// One entry of the `/metrics` `records` log, tagged by `direction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "direction", rename_all = "lowercase")]
pub enum LogEntry {
    /// A request this probe served (every path except `/metrics` and `/healthz`).
    Inbound {
        /// Sequence number, 1-based, increasing across both directions; reset by `DELETE /metrics`.
        seq: u64,
        /// Request method.
        method: String,
        /// Request path (and query).
        path: String,
        /// Caller's `ServiceName` header, `null` when absent.
        sender: Option<String>,
        /// Status this probe answered with.
        status: u16,
    },
    /// A call this probe made on behalf of `POST /call`.
    Outbound {
        /// Sequence number (see `Inbound::seq`).
        seq: u64,
        /// The call's outcome, flattened into this object.
        #[serde(flatten)]
        call: CallRecord,
    },
}

impl LogEntry {
    /// The entry's sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            Self::Inbound { seq, .. } | Self::Outbound { seq, .. } => *seq,
        }
    }
}

/// Total number of entries ever appended to each list since start or the last reset.
/// When a total exceeds the list's length, the oldest entries were dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Appended to `ReqReceived`.
    #[serde(rename = "ReqReceived")]
    pub req_received: u64,
    /// Appended to `RespSucceeded`.
    #[serde(rename = "RespSucceeded")]
    pub resp_succeeded: u64,
    /// Appended to `RespFailed`.
    #[serde(rename = "RespFailed")]
    pub resp_failed: u64,
    /// Appended to `records`.
    pub records: u64,
}

/// The `GET /metrics` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// `ServiceName` header of each request served, or `"Unidentified"`.
    #[serde(rename = "ReqReceived")]
    pub req_received: Vec<String>,
    /// Outbound calls answered with 200-399.
    #[serde(rename = "RespSucceeded")]
    pub resp_succeeded: Vec<RespEntry>,
    /// Outbound calls answered with any other status, or failed in transport.
    #[serde(rename = "RespFailed")]
    pub resp_failed: Vec<RespEntry>,
    /// The per-request log, oldest first.
    pub records: Vec<LogEntry>,
    /// Monotonic counters of appended entries.
    pub totals: Totals,
    /// Maximum length of each list.
    pub cap: usize,
    /// `SERVICE_NAME` of the probe answering.
    pub service: String,
}
