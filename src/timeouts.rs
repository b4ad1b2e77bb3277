//! The one timeout table: how long each kind of step may take to hold, and how often it is polled.

use std::time::Duration;

/// How long one offline render command of a pinned mesh CLI (`method: cli`) may run before it is
/// killed. Rendering is local work, so `--timeout-scale` does not apply.
pub const CLI_RENDER: Duration = Duration::from_secs(120);

/// How long resolving one image reference to a digest over the registry API may take, all its
/// requests together (token, `HEAD`, `GET`, redirects). Registry work, not a cluster check, so
/// `--timeout-scale` does not apply.
pub const REGISTRY_RESOLVE: Duration = Duration::from_secs(60);

/// `kind create cluster --wait`: how long kind itself waits for the control plane. kind only
/// warns when this runs out, so it is not the readiness check (see [`CLUSTER_READY`]).
pub const KIND_WAIT: Duration = Duration::from_secs(300);

/// After `kind create`, how long the new cluster may take to be ready through the API: every
/// node Ready, CoreDNS available, the `default` ServiceAccount created.
pub const CLUSTER_READY: Duration = Duration::from_secs(300);

/// Timeouts of a run; `--timeout-scale` multiplies them all.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timeouts {
    /// Object assertions (CRD present, workload ready, objects gone), as kuttl's 180 s.
    pub assert_secs: u64,
    /// Traffic expectations (policy propagation to proxies).
    pub traffic_secs: u64,
    /// SMI metrics expectations (metrics windows are tens of seconds).
    pub metrics_secs: u64,
    /// Applying or deleting objects.
    pub apply_secs: u64,
    /// Pause between attempts of an eventual expectation.
    pub poll_interval_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            assert_secs: 180,
            traffic_secs: 120,
            metrics_secs: 180,
            apply_secs: 60,
            poll_interval_ms: 1000,
        }
    }
}

impl Timeouts {
    pub fn scaled(self, scale: f64) -> Timeouts {
        let s = |v: u64| ((v as f64) * scale).ceil().max(1.0) as u64;
        Timeouts {
            assert_secs: s(self.assert_secs),
            traffic_secs: s(self.traffic_secs),
            metrics_secs: s(self.metrics_secs),
            apply_secs: s(self.apply_secs),
            poll_interval_ms: self.poll_interval_ms,
        }
    }

    /// The timeout of a step: the longest of the kinds of checks it has.
    pub fn for_step(&self, step: &crate::spec::case::Step) -> Duration {
        let mut secs = 0;
        if !step.apply.is_empty() || !step.delete.is_empty() {
            secs = secs.max(self.apply_secs);
        }
        if step.assert.is_some() {
            secs = secs.max(self.assert_secs);
        }
        if !step.traffic.is_empty() {
            secs = secs.max(self.traffic_secs);
        }
        if !step.metrics.is_empty() {
            secs = secs.max(self.metrics_secs);
        }
        Duration::from_secs(secs)
    }
}
