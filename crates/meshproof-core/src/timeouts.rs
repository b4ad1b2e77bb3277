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

/// The part of a probe batch's timeout kept for everything but the calls themselves (listing the
/// pods, opening the port-forward, the `/call` exchange): at most this, and at most a quarter of
/// the batch timeout.
pub const CALL_OVERHEAD: Duration = Duration::from_secs(5);

/// Timeouts of a run; `--timeout-scale` multiplies every one of them (not the poll interval).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timeouts {
    /// Object assertions (CRD present, workload ready, objects gone), as kuttl's 180 s.
    pub assert_secs: u64,
    /// Traffic expectations (policy propagation to proxies).
    pub traffic_secs: u64,
    /// SMI metrics expectations (metrics windows are tens of seconds).
    pub metrics_secs: u64,
    /// Applying objects (the mesh's install, the workload, a step's files).
    pub apply_secs: u64,
    /// Deleting an object or a case namespace and waiting until it is gone.
    #[serde(default = "default_delete_secs")]
    pub delete_secs: u64,
    /// One probe batch (`POST /call` through a port-forward), its calls included.
    #[serde(default = "default_call_secs")]
    pub call_secs: u64,
    /// The longest deadline of one probe call (DNS lookup to end of body), the probe's own
    /// default; a batch of many calls gives each less (see [`Timeouts::call_budget`]).
    #[serde(default = "default_per_call_ms")]
    pub per_call_ms: u64,
    /// Pause between attempts of an eventual expectation.
    pub poll_interval_ms: u64,
}

fn default_delete_secs() -> u64 {
    120
}

fn default_call_secs() -> u64 {
    120
}

fn default_per_call_ms() -> u64 {
    10_000
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            assert_secs: 180,
            traffic_secs: 120,
            metrics_secs: 180,
            apply_secs: 60,
            delete_secs: default_delete_secs(),
            call_secs: default_call_secs(),
            per_call_ms: default_per_call_ms(),
            poll_interval_ms: 1000,
        }
    }
}

/// How long one probe batch of `count` calls may take, and the deadline of each call, which is
/// sent to the probe (`timeout_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBudget {
    /// The deadline of each call.
    pub per_call: Duration,
    /// The whole batch: pod lookup, port-forward, every call, the answer.
    pub batch: Duration,
}

impl Timeouts {
    pub fn scaled(self, scale: f64) -> Timeouts {
        let s = |v: u64| ((v as f64) * scale).ceil().max(1.0) as u64;
        Timeouts {
            assert_secs: s(self.assert_secs),
            traffic_secs: s(self.traffic_secs),
            metrics_secs: s(self.metrics_secs),
            apply_secs: s(self.apply_secs),
            delete_secs: s(self.delete_secs),
            call_secs: s(self.call_secs),
            per_call_ms: s(self.per_call_ms),
            poll_interval_ms: self.poll_interval_ms,
        }
    }

    pub fn apply(&self) -> Duration {
        Duration::from_secs(self.apply_secs)
    }

    pub fn delete(&self) -> Duration {
        Duration::from_secs(self.delete_secs)
    }

    pub fn assert(&self) -> Duration {
        Duration::from_secs(self.assert_secs)
    }

    /// The budget of a batch of `count` probe calls. The calls run one at a time, so each gets
    /// the per-call deadline or, when `count` of those would not fit, an equal share of the batch
    /// timeout less [`CALL_OVERHEAD`]; a share is never under 1 ms (the probe's minimum), and
    /// where `count` such calls cannot fit the batch timeout grows to hold them. Either way
    /// `count × per_call + overhead ≤ batch`: the batch timeout never cuts a call the probe
    /// would still finish.
    pub fn call_budget(&self, count: u32) -> CallBudget {
        let count = u64::from(count.max(1));
        let call_ms = self.call_secs.saturating_mul(1000);
        let overhead_ms = (CALL_OVERHEAD.as_millis() as u64).min(call_ms / 4);
        let share = (call_ms - overhead_ms) / count;
        let per_call_ms = self.per_call_ms.min(share).max(1);
        let batch_ms = call_ms.max(per_call_ms * count + overhead_ms);
        CallBudget {
            per_call: Duration::from_millis(per_call_ms),
            batch: Duration::from_millis(batch_ms),
        }
    }

    /// The timeout of a step: the longest of the kinds of checks it has.
    pub fn for_step(&self, step: &crate::spec::case::Step) -> Duration {
        let mut secs = 0;
        if !step.apply.is_empty() {
            secs = secs.max(self.apply_secs);
        }
        if !step.delete.is_empty() {
            secs = secs.max(self.delete_secs);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every count the case schema allows (1–1000) at every scale `--timeout-scale` allows
    /// (above 0, at most 100): the calls always fit inside the batch timeout with the overhead
    /// to spare, no call gets more than the per-call deadline, and with the defaults the batch
    /// is the call timeout itself.
    #[test]
    fn count_times_the_per_call_timeout_always_fits_the_call_timeout() {
        for scale in [0.001, 0.01, 0.1, 0.5, 1.0, 2.0, 10.0, 100.0] {
            let t = Timeouts::default().scaled(scale);
            for count in 1..=1000u32 {
                let b = t.call_budget(count);
                let calls = b.per_call * count;
                assert!(
                    calls + CALL_OVERHEAD.min(Duration::from_secs(t.call_secs) / 4) <= b.batch,
                    "scale {scale}, count {count}: {b:?}"
                );
                assert!(b.per_call >= Duration::from_millis(1));
                assert!(b.per_call <= Duration::from_millis(t.per_call_ms));
                assert!(b.batch >= Duration::from_secs(t.call_secs));
                if scale >= 0.1 {
                    assert_eq!(b.batch, Duration::from_secs(t.call_secs), "scale {scale}");
                }
            }
        }
    }

    #[test]
    fn small_batches_get_the_full_per_call_deadline_and_large_ones_a_share() {
        let t = Timeouts::default();
        // 3 calls × 10 s = 30 s fit 120 s.
        let b = t.call_budget(3);
        assert_eq!(b.per_call, Duration::from_secs(10));
        assert_eq!(b.batch, Duration::from_secs(120));
        // 50 calls × 10 s = 500 s would not: each gets (120 − 5) / 50 = 2.3 s.
        let b = t.call_budget(50);
        assert_eq!(b.per_call, Duration::from_millis(2300));
        assert_eq!(b.batch, Duration::from_secs(120));
        // The schema's largest count still leaves each call 115 ms.
        assert_eq!(t.call_budget(1000).per_call, Duration::from_millis(115));
    }

    /// `--timeout-scale` reaches every timeout the run uses, apply, delete and call included;
    /// the poll interval is a pace, not a timeout.
    #[test]
    fn the_scale_multiplies_every_timeout() {
        let t = Timeouts::default();
        let d = t.scaled(2.0);
        assert_eq!(
            (
                d.assert_secs,
                d.traffic_secs,
                d.metrics_secs,
                d.apply_secs,
                d.delete_secs,
                d.call_secs,
                d.per_call_ms
            ),
            (360, 240, 360, 120, 240, 240, 20_000)
        );
        assert_eq!(d.poll_interval_ms, t.poll_interval_ms);
        assert_eq!(d.apply(), Duration::from_secs(120));
        assert_eq!(d.delete(), Duration::from_secs(240));
        assert_eq!(d.call_budget(1).batch, Duration::from_secs(240));
        assert_eq!(d.call_budget(1).per_call, Duration::from_secs(20));
    }

    /// Plans written before delete, call and per-call timeouts existed still read.
    #[test]
    fn older_timeout_tables_read_with_the_defaults() {
        let t: Timeouts = serde_json::from_str(
            r#"{"assert_secs":1,"traffic_secs":2,"metrics_secs":3,"apply_secs":4,"poll_interval_ms":5}"#,
        )
        .unwrap();
        assert_eq!(t.delete_secs, 120);
        assert_eq!(t.call_secs, 120);
        assert_eq!(t.per_call_ms, 10_000);
    }
}
