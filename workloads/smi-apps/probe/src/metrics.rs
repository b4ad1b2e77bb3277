//! The bounded in-memory log behind `/metrics`: four ring buffers plus monotonic totals.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

use crate::record::{CallRecord, LogEntry, RespEntry, Totals};

/// Default maximum number of entries kept in each list (`ReqReceived`, `RespSucceeded`,
/// `RespFailed`, `records`). Older entries are dropped first; `totals` keeps counting.
pub const DEFAULT_CAP: usize = 10_000;

/// Label used in `ReqReceived` when the caller sent no `ServiceName` header (as the original).
pub const UNIDENTIFIED: &str = "Unidentified";

#[derive(Debug)]
struct Ring<T> {
    items: VecDeque<T>,
    total: u64,
}

impl<T> Ring<T> {
    fn new() -> Self {
        Self {
            items: VecDeque::new(),
            total: 0,
        }
    }

    fn push(&mut self, cap: usize, item: T) {
        self.total += 1;
        if cap == 0 {
            return;
        }
        while self.items.len() >= cap {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }
}

#[derive(Debug)]
struct Inner {
    req_received: Ring<String>,
    resp_succeeded: Ring<RespEntry>,
    resp_failed: Ring<RespEntry>,
    records: Ring<LogEntry>,
    next_seq: u64,
}

impl Inner {
    fn new() -> Self {
        Self {
            req_received: Ring::new(),
            resp_succeeded: Ring::new(),
            resp_failed: Ring::new(),
            records: Ring::new(),
            next_seq: 1,
        }
    }

    fn seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }
}

/// Shared, thread-safe metrics of one probe. Every list holds at most `cap` entries.
#[derive(Debug)]
pub struct Metrics {
    cap: usize,
    inner: Mutex<Inner>,
}

/// Borrowed view serialized straight from the buffers (no copy of the lists).
#[derive(Serialize)]
struct View<'a> {
    #[serde(rename = "ReqReceived")]
    req_received: &'a VecDeque<String>,
    #[serde(rename = "RespSucceeded")]
    resp_succeeded: &'a VecDeque<RespEntry>,
    #[serde(rename = "RespFailed")]
    resp_failed: &'a VecDeque<RespEntry>,
    records: &'a VecDeque<LogEntry>,
    totals: Totals,
    cap: usize,
    service: &'a str,
}

impl Metrics {
    /// Empty metrics whose lists keep at most `cap` entries each.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            inner: Mutex::new(Inner::new()),
        }
    }

    /// The per-list cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the buffers inconsistent in a way that
        // matters for a log, so recover from poisoning instead of propagating it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a request this probe served.
    pub fn record_inbound(&self, method: &str, path: &str, sender: Option<&str>, status: u16) {
        let cap = self.cap;
        let mut g = self.lock();
        let seq = g.seq();
        g.req_received
            .push(cap, sender.unwrap_or(UNIDENTIFIED).to_string());
        g.records.push(
            cap,
            LogEntry::Inbound {
                seq,
                method: method.to_string(),
                path: path.to_string(),
                sender: sender.map(str::to_string),
                status,
            },
        );
    }

    /// Records an outbound call: its request in `RespSucceeded`/`RespFailed` and its outcome in
    /// `records`. Transport errors count as failed.
    pub fn record_outbound(&self, request: RespEntry, call: &CallRecord) {
        let cap = self.cap;
        let ok = call.succeeded();
        let mut g = self.lock();
        let seq = g.seq();
        if ok {
            g.resp_succeeded.push(cap, request);
        } else {
            g.resp_failed.push(cap, request);
        }
        g.records.push(
            cap,
            LogEntry::Outbound {
                seq,
                call: call.clone(),
            },
        );
    }

    /// Current totals.
    pub fn totals(&self) -> Totals {
        let g = self.lock();
        totals_of(&g)
    }

    /// Serializes the `GET /metrics` document.
    pub fn snapshot_json(&self, service: &str) -> Vec<u8> {
        let g = self.lock();
        let view = View {
            req_received: &g.req_received.items,
            resp_succeeded: &g.resp_succeeded.items,
            resp_failed: &g.resp_failed.items,
            records: &g.records.items,
            totals: totals_of(&g),
            cap: self.cap,
            service,
        };
        // Serializing plain strings/integers into a Vec cannot fail.
        serde_json::to_vec(&view).unwrap_or_else(|e| {
            format!("{{\"error\":\"serializing metrics failed: {e}\"}}").into_bytes()
        })
    }

    /// Drops every entry and resets totals and sequence numbers (`DELETE /metrics`).
    pub fn reset(&self) {
        *self.lock() = Inner::new();
    }
}

fn totals_of(g: &Inner) -> Totals {
    Totals {
        req_received: g.req_received.total,
        resp_succeeded: g.resp_succeeded.total,
        resp_failed: g.resp_failed.total,
        records: g.records.total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::MetricsSnapshot;

    #[test]
    fn ring_keeps_newest_within_cap_and_counts_all() {
        let m = Metrics::new(3);
        for i in 0..5 {
            m.record_inbound(
                "GET",
                &format!("/echo/{i}"),
                if i % 2 == 0 { Some("x") } else { None },
                200,
            );
        }
        let s: MetricsSnapshot = serde_json::from_slice(&m.snapshot_json("me")).unwrap();
        assert_eq!(s.req_received, vec!["x", "Unidentified", "x"]);
        assert_eq!(
            s.records.iter().map(LogEntry::seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(s.totals.req_received, 5);
        assert_eq!(s.totals.records, 5);
        assert_eq!(s.cap, 3);
        m.reset();
        let s: MetricsSnapshot = serde_json::from_slice(&m.snapshot_json("me")).unwrap();
        assert!(s.req_received.is_empty() && s.records.is_empty());
        assert_eq!(s.totals, Totals::default());
    }
}
