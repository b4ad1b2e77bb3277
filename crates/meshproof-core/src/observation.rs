//! Observation types: the raw facts a suite run records per case, step and attempt (`observations/<case>.json`).
//!
//! Observations say what happened, never whether it was right; `verdict::judge` decides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the observation file format (bumped on incompatible change). 2: call records
/// carry the response headers and body snippet of answers outside 200–399 and the calling pod's
/// containers; attempts may carry the workload pods (`pods`) a data-plane check looked at.
pub const OBSERVATION_FORMAT: u32 = 2;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CaseObservation {
    pub format: u32,
    pub case: String,
    /// The API-version variant the run used.
    pub variant: String,
    /// The case namespace (`{{namespace}}` in the case files).
    pub namespace: String,
    /// SMI API group → versions the cluster served when the variant was chosen: discovery at
    /// case start, repeated before each attempt of a first step that waits for CRDs
    /// (`crd-present`), since some meshes create their SMI CRDs at run time.
    #[serde(default)]
    pub served: BTreeMap<String, Vec<String>>,
    pub steps: Vec<StepObservation>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepObservation {
    pub name: String,
    pub status: StepStatus,
    /// Harness error text when `status` is `harness-error`; why the step was not run when
    /// `not-run` (e.g. the run was aborted before the case started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Harness errors the runner met and tried again (a broken port-forward, no ready pod yet, a
    /// 5xx from the API server), in order. Evidence only: the judge reads `status` and
    /// `attempts`; an error that persisted to the timeout is also the step's `error`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retried: Vec<RetriedError>,
}

/// A harness error met during a step and tried again.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetriedError {
    /// Milliseconds since the step started.
    pub at_ms: u64,
    pub error: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// The runner ran the step (its expectations held or its timeout passed).
    Completed,
    /// The harness or the cluster broke while running the step.
    HarnessError,
    /// The runner did not run the step (a precondition failed, or the run was aborted).
    NotRun,
}

/// One evaluation of a step; every attempt is recorded.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    /// Milliseconds since the step started.
    pub at_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied: Vec<ObjectResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<ObjectResult>,
    /// Objects looked up for `assert` (present or absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ObjectSnapshot>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficObservation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricsObservation>,
    /// The workload pods as listed for a data-plane check (`dataPlane: true` steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<Vec<PodObservation>>,
}

/// A pod of the case namespace as the API server listed it: enough to tell whether it carries the
/// mesh's data plane.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PodObservation {
    pub name: String,
    /// The pod's `app` label (the workload app it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Names of its containers and init containers, sorted.
    pub containers: Vec<String>,
    /// Phase `Running`, condition `Ready` and not being deleted.
    pub ready: bool,
}

/// `Kind/name` of an object in a file, with what the API server answered.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectResult {
    pub file: String,
    pub object: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectSnapshot {
    pub file: String,
    /// `Kind/name` as in the file.
    pub object: String,
    pub found: bool,
    /// The object as read from the API server (Secrets: metadata only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// The requests of one traffic check in one attempt.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrafficObservation {
    /// Index of the check in the step's `traffic` list.
    pub check: usize,
    pub records: Vec<CallRecord>,
}

/// One request made by a probe, exactly as the probe's `/call` reported it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CallRecord {
    pub source: String,
    pub url: String,
    pub method: String,
    pub status: Option<u16>,
    /// Transport error kind: `dns`, `connect-refused`, `connect-timeout`, `reset`, `timeout`, ...
    pub error: Option<String>,
    #[serde(default)]
    pub error_detail: Option<String>,
    /// Which backend answered (the probe's `x-meshproof-backend` header).
    pub backend: Option<String>,
    pub latency_us: u64,
    /// Response headers (lowercase names) of an answer outside 200–399, bounded by the probe.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The start of the body of an answer outside 200–399 (lossy UTF-8, bounded by the probe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The pod that made the call, as the driver found it (added by the driver, not the probe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_pod: Option<SourcePod>,
}

/// The probe pod a call was made from and the containers it ran.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SourcePod {
    pub name: String,
    /// Names of its containers and init containers, sorted.
    pub containers: Vec<String>,
}

impl CallRecord {
    /// HTTP 200–399, as the original sample app counted success.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..400).contains(&s))
    }

    /// One-word outcome for reports: `200`, `403`, `reset`, ...
    pub fn outcome(&self) -> String {
        match (&self.error, self.status) {
            (Some(e), _) => e.clone(),
            (None, Some(s)) => s.to_string(),
            (None, None) => "no-status".to_string(),
        }
    }
}

/// One read of the SMI metrics API.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsObservation {
    pub check: usize,
    /// API path that was read.
    pub path: String,
    /// HTTP status of the read; `None` when the request failed before a status.
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
