//! Outcome classes of call records: `success`, `mesh-denied`, `failed` or `inconclusive`, decided
//! from a record and the mesh pin's denial and data-plane signatures; pure, shared by the runner
//! and the judge (`docs/specs.md`, "Outcome classes").
//!
//! Only a call that reached the mesh's decision says something about the mesh. A call from a pod
//! without the mesh's data plane, a name that did not resolve, or a connection nothing accepted
//! (kube-proxy not synced yet, the target not listening) is `inconclusive`: it satisfies no
//! expectation, and when a step's last attempt still has one the step is a harness error.

use serde::Serialize;

use crate::observation::CallRecord;
use crate::spec::mesh::{DataPlane, DenialSignature, Mesh};

/// What one call shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallClass {
    /// HTTP 200–399, sent through the mesh's data plane.
    Success,
    /// The answer matches one of the pin's denial signatures.
    MeshDenied,
    /// Any other answer or transport error after the call reached the mesh (e.g. Envoy's 404 for
    /// a request no route matches, a 503, a timeout): not a success and not the mesh's denial.
    Failed,
    /// The call says nothing about the mesh (see the module docs).
    Inconclusive,
}

impl CallClass {
    pub fn as_str(self) -> &'static str {
        match self {
            CallClass::Success => "success",
            CallClass::MeshDenied => "mesh-denied",
            CallClass::Failed => "failed",
            CallClass::Inconclusive => "inconclusive",
        }
    }
}

/// Transport errors that happen before any mesh decision, unless the pin declares one of them as
/// its own denial (with a source).
pub const PRE_MESH_ERRORS: [&str; 2] = ["dns", "connect-refused"];

/// The parts of a mesh pin the classes depend on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Semantics {
    pub mesh: String,
    pub denial: Vec<DenialSignature>,
    pub data_plane: DataPlane,
}

impl Semantics {
    pub fn of(mesh: &Mesh) -> Semantics {
        Semantics {
            mesh: mesh.id(),
            denial: mesh.spec.denial.signatures.clone(),
            data_plane: mesh.spec.data_plane.clone(),
        }
    }

    /// The class of `rec` and, unless it is a success, the reason in a few words.
    pub fn classify(&self, rec: &CallRecord) -> (CallClass, String) {
        if let Some(missing) = self.missing_data_plane(rec) {
            return (CallClass::Inconclusive, missing);
        }
        if rec.error.is_none() && rec.status.is_some_and(|s| (200..400).contains(&s)) {
            return (CallClass::Success, String::new());
        }
        if rec.backend.is_some() {
            // The app itself answered (its backend header is there): the mesh let the call through.
            let what = rec.status.map_or_else(|| rec.outcome(), |s| s.to_string());
            return (CallClass::Failed, format!("{what} from the app"));
        }
        if let Some(sig) = self.denial.iter().find(|s| matches(s, rec)) {
            return (CallClass::MeshDenied, format!("denied ({})", sig.name));
        }
        match rec.error.as_deref() {
            Some(e) if PRE_MESH_ERRORS.contains(&e) => (
                CallClass::Inconclusive,
                format!("{e}: the call never reached the mesh"),
            ),
            Some(e) => (CallClass::Failed, e.to_string()),
            None => match rec.status {
                Some(s) => (CallClass::Failed, s.to_string()),
                None => (CallClass::Inconclusive, "no status and no error".into()),
            },
        }
    }

    /// Why the call did not go through the data plane, if it did not.
    fn missing_data_plane(&self, rec: &CallRecord) -> Option<String> {
        if let Some(np) = &self.data_plane.node_proxy {
            let suffix = format!(".{}", np.dns_suffix);
            let host = url_host(&rec.url);
            return (!host.ends_with(&suffix)).then(|| {
                format!(
                    "{} is not a {} name: the call bypassed the node proxy",
                    host, np.dns_suffix
                )
            });
        }
        let container = self.data_plane.container.as_ref()?;
        match &rec.source_pod {
            None => Some(format!(
                "the calling pod is not recorded, so its {container} container cannot be confirmed"
            )),
            Some(p) if !p.containers.iter().any(|c| c == container) => Some(format!(
                "pod {} has no {container} container (containers: {})",
                p.name,
                p.containers.join(", ")
            )),
            Some(_) => None,
        }
    }
}

fn matches(sig: &DenialSignature, rec: &CallRecord) -> bool {
    if let Some(e) = &sig.error {
        return rec.error.as_deref() == Some(e.as_str());
    }
    if rec.error.is_some() || rec.status != sig.status {
        return false;
    }
    let header_ok = sig
        .header
        .as_ref()
        .is_none_or(|h| rec.headers.keys().any(|k| k.eq_ignore_ascii_case(h)));
    let body_ok = sig.body_contains.as_ref().is_none_or(|b| {
        rec.body
            .as_deref()
            .is_some_and(|body| body.contains(b.as_str()))
    });
    header_ok && body_ok
}

/// The host of an `http://host:port/path` URL (the whole text when it has no such shape).
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

/// Counts of each class over some records, and the first inconclusive reason per distinct reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub success: usize,
    pub denied: usize,
    pub failed: usize,
    pub inconclusive: usize,
    /// Distinct reasons of the inconclusive calls, in order of first appearance.
    pub inconclusive_why: Vec<String>,
}

impl Semantics {
    pub fn tally(&self, records: &[CallRecord]) -> Tally {
        let mut t = Tally::default();
        for r in records {
            let (class, why) = self.classify(r);
            match class {
                CallClass::Success => t.success += 1,
                CallClass::MeshDenied => t.denied += 1,
                CallClass::Failed => t.failed += 1,
                CallClass::Inconclusive => {
                    t.inconclusive += 1;
                    if !t.inconclusive_why.contains(&why) {
                        t.inconclusive_why.push(why);
                    }
                }
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::SourcePod;
    use crate::spec::mesh::{NodeProxy, ServiceRef};

    fn sig(name: &str, status: Option<u16>, error: Option<&str>) -> DenialSignature {
        DenialSignature {
            name: name.into(),
            status,
            error: error.map(str::to_string),
            source: "test".into(),
            ..DenialSignature::default()
        }
    }

    fn sidecar() -> Semantics {
        let mut rbac = sig("envoy-rbac", Some(403), None);
        rbac.body_contains = Some("RBAC: access denied".into());
        Semantics {
            mesh: "osm@1.2.4".into(),
            denial: vec![rbac, sig("no-route", None, Some("reset"))],
            data_plane: DataPlane {
                container: Some("envoy".into()),
                ..DataPlane::default()
            },
        }
    }

    fn rec(status: Option<u16>, error: Option<&str>, containers: &[&str]) -> CallRecord {
        CallRecord {
            source: "app-a".into(),
            url: "http://app-b.ns.svc.cluster.local:9091/echo".into(),
            method: "GET".into(),
            status,
            error: error.map(str::to_string),
            source_pod: Some(SourcePod {
                name: "app-a-1".into(),
                containers: containers.iter().map(|c| c.to_string()).collect(),
            }),
            ..CallRecord::default()
        }
    }

    #[test]
    fn success_needs_the_data_plane() {
        let s = sidecar();
        assert_eq!(
            s.classify(&rec(Some(200), None, &["envoy", "probe"])).0,
            CallClass::Success
        );
        let (class, why) = s.classify(&rec(Some(200), None, &["probe"]));
        assert_eq!(class, CallClass::Inconclusive);
        assert!(why.contains("pod app-a-1 has no envoy container"), "{why}");
        let mut unknown = rec(Some(200), None, &[]);
        unknown.source_pod = None;
        assert_eq!(s.classify(&unknown).0, CallClass::Inconclusive);
    }

    #[test]
    fn denial_needs_the_declared_signature() {
        let s = sidecar();
        let mut r = rec(Some(403), None, &["envoy", "probe"]);
        assert_eq!(s.classify(&r).0, CallClass::Failed, "403 without the body");
        r.body = Some("RBAC: access denied".into());
        assert_eq!(s.classify(&r).0, CallClass::MeshDenied);
        assert_eq!(
            s.classify(&rec(None, Some("reset"), &["envoy"])).0,
            CallClass::MeshDenied
        );
        assert_eq!(
            s.classify(&rec(Some(404), None, &["envoy"])).0,
            CallClass::Failed
        );
        assert_eq!(
            s.classify(&rec(None, Some("timeout"), &["envoy"])).0,
            CallClass::Failed
        );
    }

    #[test]
    fn dns_and_refused_are_inconclusive_unless_the_pin_says_otherwise() {
        let s = sidecar();
        for e in ["dns", "connect-refused"] {
            let (class, why) = s.classify(&rec(None, Some(e), &["envoy"]));
            assert_eq!(class, CallClass::Inconclusive, "{e}");
            assert!(why.starts_with(e), "{why}");
        }
        let mut s = sidecar();
        s.denial
            .push(sig("no-listener", None, Some("connect-refused")));
        assert_eq!(
            s.classify(&rec(None, Some("connect-refused"), &["envoy"]))
                .0,
            CallClass::MeshDenied
        );
        assert_eq!(
            s.classify(&rec(None, Some("dns"), &["envoy"])).0,
            CallClass::Inconclusive
        );
    }

    #[test]
    fn an_answer_from_the_app_is_never_a_denial() {
        let mut s = sidecar();
        s.denial.push(sig("no-route", Some(404), None));
        let mut r = rec(Some(404), None, &["envoy"]);
        assert_eq!(s.classify(&r).0, CallClass::MeshDenied);
        r.backend = Some("app-b".into());
        let (class, why) = s.classify(&r);
        assert_eq!(class, CallClass::Failed);
        assert_eq!(why, "404 from the app");
    }

    #[test]
    fn headers_match_case_insensitively() {
        let mut l5d = sig("l5d", Some(403), None);
        l5d.header = Some("l5d-proxy-error".into());
        let s = Semantics {
            denial: vec![l5d],
            ..Semantics::default()
        };
        let mut r = rec(Some(403), None, &[]);
        assert_eq!(s.classify(&r).0, CallClass::Failed);
        r.headers
            .insert("L5d-Proxy-Error".into(), "unauthorized".into());
        assert_eq!(s.classify(&r).0, CallClass::MeshDenied);
    }

    #[test]
    fn the_control_denies_nothing_and_needs_no_data_plane() {
        let s = Semantics::default();
        let mut r = rec(Some(200), None, &[]);
        r.source_pod = None;
        assert_eq!(s.classify(&r).0, CallClass::Success);
        assert_eq!(
            s.classify(&rec(None, Some("reset"), &[])).0,
            CallClass::Failed
        );
        assert_eq!(
            s.classify(&rec(None, Some("connect-refused"), &[])).0,
            CallClass::Inconclusive
        );
    }

    #[test]
    fn node_proxy_calls_must_use_its_dns_suffix() {
        let s = Semantics {
            data_plane: DataPlane {
                node_proxy: Some(NodeProxy {
                    daemon_set: ServiceRef {
                        namespace: "traefik-mesh".into(),
                        name: "traefik-mesh-proxy".into(),
                    },
                    dns_suffix: "traefik.mesh".into(),
                }),
                ..DataPlane::default()
            },
            ..Semantics::default()
        };
        let mut r = rec(Some(200), None, &[]);
        assert_eq!(s.classify(&r).0, CallClass::Inconclusive);
        r.url = "http://app-b.ns.traefik.mesh:9091/echo".into();
        assert_eq!(s.classify(&r).0, CallClass::Success);
        assert_eq!(url_host("http://h:1/x"), "h");
        assert_eq!(url_host("h"), "h");
    }
}
