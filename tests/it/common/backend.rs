//! The one scripted suite backend of the tests: the reference model ([`World`]) behind the
//! runner's `SuiteBackend`, logging what the runner asked for and failing where a test says.
//!
//! Every test that needs more than the bare model (a recorded URL, a broken port-forward, an API
//! server that answers 503 first, calls that fail before the mesh decides) sets the fields here
//! instead of wrapping the model in a backend of its own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use meshproof::observation::{CallRecord, MetricsObservation, ObjectResult, PodObservation};
use meshproof::spec::case::TrafficCheck;
use meshproof::suite::{HarnessError, SuiteBackend};
use serde_json::Value;

use super::{MeshModel, World};

/// Decides whether traffic call `n` (1-based) to `namespace` fails, and with what error.
pub type TrafficFault<'a> =
    Box<dyn FnMut(usize, &str, &TrafficCheck) -> Option<HarnessError> + Send + 'a>;
/// Rewrites the records of traffic call `n` (1-based) after the model answered.
pub type CallRewrite<'a> = Box<dyn FnMut(usize, &mut Vec<CallRecord>) + Send + 'a>;
/// Looks at every apply: (file, objects).
pub type ApplyCheck<'a> = Box<dyn FnMut(&str, &[Value]) + Send + 'a>;

/// The reference model as a suite backend, with a log and faults.
pub struct Scripted<'a> {
    pub world: World,
    /// Every URL traffic was asked for, in order (failed calls included).
    pub urls: Vec<String>,
    /// Namespace calls in order: `create <ns> <labels:?> <annotations:?>` and `delete <ns>`.
    pub namespaces: Vec<String>,
    /// Traffic calls so far.
    pub traffic_calls: usize,
    /// The next `discovery_failures` discovery calls answer 503 (a transient error).
    pub discovery_failures: usize,
    /// The next `namespace_failures` namespace creations time out in etcd (a transient error).
    pub namespace_failures: usize,
    /// Traffic calls this says fail, fail before the model sees them.
    pub fail_traffic: Option<TrafficFault<'a>>,
    /// Once `n` traffic calls were made, the flag is raised (the user's Ctrl-C).
    pub cancel_after_traffic: Option<(usize, &'a AtomicBool)>,
    /// Applied to the model's answer to every traffic call.
    pub rewrite_calls: Option<CallRewrite<'a>>,
    /// Called with every apply before the model applies it.
    pub on_apply: Option<ApplyCheck<'a>>,
}

impl<'a> Scripted<'a> {
    /// The bare model of `mesh`: logs, no faults.
    pub fn new(mesh: MeshModel) -> Self {
        Scripted::of(World::new(mesh))
    }

    /// A model set up by the test (sidecar name, pods without the data plane, …).
    pub fn of(world: World) -> Self {
        Scripted {
            world,
            urls: Vec::new(),
            namespaces: Vec::new(),
            traffic_calls: 0,
            discovery_failures: 0,
            namespace_failures: 0,
            fail_traffic: None,
            cancel_after_traffic: None,
            rewrite_calls: None,
            on_apply: None,
        }
    }

    /// Traffic calls for which `fault` returns an error fail with it, before the model sees them.
    pub fn fail_traffic_when(
        &mut self,
        fault: impl FnMut(usize, &str, &TrafficCheck) -> Option<HarnessError> + Send + 'a,
    ) {
        self.fail_traffic = Some(Box::new(fault));
    }

    /// `rewrite` edits the model's answer to every traffic call.
    pub fn rewrite_calls_with(
        &mut self,
        rewrite: impl FnMut(usize, &mut Vec<CallRecord>) + Send + 'a,
    ) {
        self.rewrite_calls = Some(Box::new(rewrite));
    }

    /// `check` sees every apply before the model applies it.
    pub fn check_applies(&mut self, check: impl FnMut(&str, &[Value]) + Send + 'a) {
        self.on_apply = Some(Box::new(check));
    }

    /// The namespaces created, in order.
    pub fn created(&self) -> Vec<String> {
        self.logged("create ")
    }

    /// The namespaces deleted, in order.
    pub fn deleted(&self) -> Vec<String> {
        self.logged("delete ")
    }

    fn logged(&self, verb: &str) -> Vec<String> {
        self.namespaces
            .iter()
            .filter_map(|l| l.strip_prefix(verb))
            .map(|rest| rest.split(' ').next().unwrap_or_default().to_string())
            .collect()
    }
}

impl SuiteBackend for Scripted<'_> {
    fn served_smi(&mut self) -> Result<BTreeMap<String, Vec<String>>, HarnessError> {
        if self.discovery_failures > 0 {
            self.discovery_failures -= 1;
            return Err(HarnessError::transient(
                "cannot list the API groups the cluster serves (GET /apis): the server is currently unable to handle the request (503 ServiceUnavailable)",
            ));
        }
        self.world.served_smi()
    }
    fn create_namespace(
        &mut self,
        ns: &str,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<(), HarnessError> {
        if self.namespace_failures > 0 {
            self.namespace_failures -= 1;
            return Err(HarnessError::transient(format!(
                "cannot create namespace {ns}: etcdserver: request timed out (500 InternalError)"
            )));
        }
        self.namespaces
            .push(format!("create {ns} {labels:?} {annotations:?}"));
        self.world.create_namespace(ns, labels, annotations)
    }
    fn delete_namespace(&mut self, ns: &str) -> Result<(), HarnessError> {
        self.namespaces.push(format!("delete {ns}"));
        self.world.delete_namespace(ns)
    }
    fn apply(&mut self, ns: &str, f: &str, o: &[Value]) -> Result<Vec<ObjectResult>, HarnessError> {
        if let Some(check) = &mut self.on_apply {
            check(f, o);
        }
        self.world.apply(ns, f, o)
    }
    fn delete(
        &mut self,
        ns: &str,
        f: &str,
        o: &[Value],
    ) -> Result<Vec<ObjectResult>, HarnessError> {
        SuiteBackend::delete(&mut self.world, ns, f, o)
    }
    fn lookup(&mut self, ns: &str, o: &Value) -> Result<Option<Value>, HarnessError> {
        SuiteBackend::lookup(&mut self.world, ns, o)
    }
    fn traffic(
        &mut self,
        ns: &str,
        c: &TrafficCheck,
        url: &str,
    ) -> Result<Vec<CallRecord>, HarnessError> {
        self.traffic_calls += 1;
        self.urls.push(url.to_string());
        if let Some(fault) = &mut self.fail_traffic {
            if let Some(e) = fault(self.traffic_calls, ns, c) {
                return Err(e);
            }
        }
        if let Some((n, flag)) = self.cancel_after_traffic {
            if self.traffic_calls >= n {
                flag.store(true, Ordering::SeqCst);
            }
        }
        let mut records = self.world.traffic(ns, c, url)?;
        if let Some(rewrite) = &mut self.rewrite_calls {
            rewrite(self.traffic_calls, &mut records);
        }
        Ok(records)
    }
    fn metrics(&mut self, path: &str) -> Result<MetricsObservation, HarnessError> {
        SuiteBackend::metrics(&mut self.world, path)
    }
    fn pods(&mut self, ns: &str) -> Result<Vec<PodObservation>, HarnessError> {
        SuiteBackend::pods(&mut self.world, ns)
    }
}
