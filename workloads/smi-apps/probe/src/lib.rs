//! meshproof-probe: the instrumented HTTP workload app the SMI suite runs inside each mesh.
//!
//! The binary (`src/main.rs`) reads its configuration from the environment and serves until
//! SIGTERM/SIGINT; tests and the load generator start probes in-process through [`spawn`].
//!
//! Module map, in the order a request flows through them:
//! - [`config`]: environment variables and validated settings;
//! - [`server`]: listener, routing, `/echo`, `/healthz`, `/metrics`, graceful shutdown;
//! - [`call`]: the `/call` request schema and the outbound client with error classification;
//! - [`record`]: the JSON shapes the core parses (`CallRecord`, log entries, metrics snapshot);
//! - [`metrics`]: the bounded in-memory log behind `/metrics`;
//! - [`error`]: the crate's error enums.

pub mod call;
pub mod config;
pub mod error;
pub mod metrics;
pub mod record;
pub mod server;

pub use config::Config;
pub use error::ProbeError;
pub use metrics::{Metrics, DEFAULT_CAP};
pub use record::{
    CallErrorKind, CallRecord, LogEntry, MetricsSnapshot, RespEntry, MAX_BODY_SNIPPET,
    MAX_HEADER_VALUE, MAX_RECORDED_HEADERS,
};
pub use server::{serve, spawn, ProbeHandle, BACKEND_HEADER, SENDER_HEADER};
