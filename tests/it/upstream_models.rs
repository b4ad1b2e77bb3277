//! The suite against scripted OSM- and Traefik-Mesh-shaped models (`tests/it/common/upstream.rs`, written
//! from their upstream source): the fixed suite passes them, while the old allow policies (TCPRoute
//! only, or a rule naming no matches) fail OSM and the old named target ports fail Traefik Mesh. The
//! old shapes live in `tests/fixtures/upstream/`, never in `suites/`.

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use common::upstream::{Upstream, UpstreamMesh};
use common::{model_timeouts, repo, FakeClock};
use meshproof::spec::catalog::{read_tree, Catalog, FileTree, Suite};
use meshproof::suite::{run_case, CaseContext, NoProgress};
use meshproof::verdict::{judge, CaseVerdict, CheckKind, Outcome, Scoring};
use serde_json::Value;

const FIXTURES: &str = "tests/fixtures/upstream";

fn suite_tree() -> FileTree {
    read_tree(&repo().join("suites/smi")).unwrap()
}

/// The suite with some files replaced by the fixture tree `fixture` (paths relative to the suite).
fn suite_with(fixture: Option<&str>) -> Suite {
    let mut tree = suite_tree();
    if let Some(f) = fixture {
        let over = read_tree(&repo().join(FIXTURES).join(f)).unwrap();
        for (rel, bytes) in over {
            assert!(tree.contains_key(&rel), "{f}/{rel} replaces nothing");
            tree.insert(rel, bytes);
        }
    }
    Suite::from_tree("smi", "suites/smi", &tree).unwrap()
}

/// A workload layout's manifests; with `old_services`, its Services as they were before the fix.
fn layout(name: &str, old_services: bool) -> Vec<Value> {
    let text =
        std::fs::read_to_string(repo().join(format!("workloads/smi-apps/{name}.yaml"))).unwrap();
    let mut docs = meshproof::yaml::documents(name, &text).unwrap();
    if old_services {
        let f = repo().join(format!("{FIXTURES}/named-target-port/{name}-services.yaml"));
        let old = meshproof::yaml::documents(name, &std::fs::read_to_string(f).unwrap()).unwrap();
        for o in old {
            let slot = docs
                .iter_mut()
                .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == o["metadata"]["name"])
                .expect("the fixture replaces a Service of the layout");
            *slot = o;
        }
    }
    docs
}

fn pin(kind: Upstream) -> meshproof::spec::mesh::Mesh {
    let id = match kind {
        Upstream::Osm => "osm@1.2.4",
        Upstream::Traefik => "traefik-mesh@1.4.8",
    };
    Catalog::new(repo()).select_mesh(id).unwrap().value
}

/// Run one case of `suite` against the model and judge it.
fn verdict(kind: Upstream, suite: &Suite, case: &str, old_services: bool) -> CaseVerdict {
    let lc = suite.case(case).unwrap();
    let mesh = pin(kind);
    let cancel = AtomicBool::new(false);
    let ctx = CaseContext {
        mesh: &mesh,
        port: 9091,
        workload: layout(&lc.case.spec.layout, old_services),
        timeouts: model_timeouts(),
        cancel: &cancel,
    };
    let mut model = UpstreamMesh::new(kind);
    let obs = run_case(
        lc,
        &format!("mp-test-{case}"),
        &ctx,
        &mut model,
        &FakeClock::default(),
        &mut NoProgress,
    );
    let v = judge(
        suite,
        &BTreeMap::from([(case.to_string(), obs)]),
        Scoring::Strict,
        &meshproof::calls::Semantics::of(&mesh),
    );
    v.cases.into_iter().next().unwrap()
}

fn step<'a>(v: &'a CaseVerdict, name: &str) -> &'a meshproof::verdict::StepVerdict {
    v.steps.iter().find(|s| s.name == name).unwrap()
}

fn summary(v: &CaseVerdict) -> String {
    v.steps
        .iter()
        .map(|s| {
            let checks: Vec<String> = s
                .checks
                .iter()
                .map(|c| format!("{}={} ({})", c.id, c.outcome.as_str(), c.observed))
                .collect();
            format!("{} {}: {}", s.name, s.outcome.as_str(), checks.join("; "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn osm_shaped_mesh_passes_the_fixed_suite() {
    let suite = suite_with(None);
    for (case, variant) in [
        ("traffic-access", "access-v1alpha3"),
        ("traffic-spec", "specs-v1alpha4"),
        ("traffic-split", "split-v1alpha2"),
    ] {
        let v = verdict(Upstream::Osm, &suite, case, false);
        assert_eq!(v.variant, variant, "{case}");
        assert_eq!(
            v.capability,
            Some(meshproof::verdict::Capability::Full),
            "{case}:\n{}",
            summary(&v)
        );
    }
}

#[test]
fn osm_shaped_mesh_fails_tcp_route_only_allow_policies() {
    let suite = suite_with(Some("tcp-route-only"));
    // traffic-access: default-deny and denied-again hold, `allowed` gets Envoy's 404 (no route).
    let v = verdict(Upstream::Osm, &suite, "traffic-access", false);
    let allowed = step(&v, "allowed");
    assert_eq!(allowed.outcome, Outcome::Fail, "{}", summary(&v));
    assert!(
        allowed.checks[0].observed.contains("404×3"),
        "{}",
        summary(&v)
    );
    assert_eq!(v.capability, Some(meshproof::verdict::Capability::Partial));
    // traffic-split: no route to either backend, so no weight is ever observed.
    let v = verdict(Upstream::Osm, &suite, "traffic-split", false);
    for s in ["only-b", "only-c", "b-more", "c-more"] {
        assert_eq!(step(&v, s).outcome, Outcome::Fail, "{s}:\n{}", summary(&v));
    }
    assert_eq!(v.capability, Some(meshproof::verdict::Capability::None));
}

#[test]
fn osm_shaped_mesh_fails_a_rule_naming_no_matches() {
    let suite = suite_with(Some("no-matches"));
    let v = verdict(Upstream::Osm, &suite, "traffic-access", false);
    let allowed = step(&v, "allowed");
    assert_eq!(allowed.outcome, Outcome::Fail, "{}", summary(&v));
    assert!(
        allowed.checks[0].observed.contains("404×3"),
        "{}",
        summary(&v)
    );
}

#[test]
fn traefik_shaped_mesh_passes_the_fixed_suite() {
    let suite = suite_with(None);
    for (case, variant) in [
        ("traffic-access", "access-v1alpha2"),
        ("traffic-spec", "specs-v1alpha3"),
        ("traffic-split", "split-v1alpha3"),
    ] {
        let v = verdict(Upstream::Traefik, &suite, case, false);
        assert_eq!(v.variant, variant, "{case}");
        assert_eq!(
            v.capability,
            Some(meshproof::verdict::Capability::Full),
            "{case}:\n{}",
            summary(&v)
        );
    }
}

#[test]
fn traefik_shaped_mesh_cannot_spread_the_root_service_under_acl_and_that_is_informational() {
    // One router per TrafficTarget, each holding only that target's pods: every request to app-svc
    // reaches one version (builder.go evaluateTrafficTarget, provider.go). Reported, never scored.
    let suite = suite_with(None);
    let v = verdict(Upstream::Traefik, &suite, "traffic-split", false);
    let spread = step(&v, "default-spread");
    let check = spread.checks.iter().find(|c| c.id == "traffic-1").unwrap();
    assert_eq!(check.kind, CheckKind::Informational);
    assert_eq!(check.outcome, Outcome::Fail, "{}", summary(&v));
    assert!(
        check.observed.contains("answered by app-b×50"),
        "{}",
        check.observed
    );
    assert_eq!(spread.outcome, Outcome::Pass, "{}", summary(&v));
    assert_eq!(v.capability, Some(meshproof::verdict::Capability::Full));
    // Not in any total either: the failed informational check is the case's only failure.
    let counted = v.steps.iter().flat_map(|s| &s.checks);
    let counted = counted
        .filter(|c| c.kind != CheckKind::Informational)
        .count();
    assert_eq!((v.checks.total, v.checks.fail), (counted, 0));
    // OSM spreads the root Service over both versions: the same check passes there.
    let v = verdict(Upstream::Osm, &suite, "traffic-split", false);
    let spread = step(&v, "default-spread");
    assert!(
        spread.checks.iter().all(|c| c.outcome == Outcome::Pass),
        "{}",
        summary(&v)
    );
}

#[test]
fn traefik_shaped_mesh_rejects_traffic_targets_on_named_target_ports() {
    let suite = suite_with(None);
    let v = verdict(Upstream::Traefik, &suite, "traffic-access", true);
    let allowed = step(&v, "allowed");
    assert_eq!(allowed.outcome, Outcome::Fail, "{}", summary(&v));
    assert!(
        allowed.checks[0].observed.contains("403×3"),
        "{}",
        summary(&v)
    );
    let v = verdict(Upstream::Traefik, &suite, "traffic-split", true);
    for s in ["only-b", "only-c", "b-more", "c-more"] {
        assert_eq!(step(&v, s).outcome, Outcome::Fail, "{s}:\n{}", summary(&v));
    }
    assert_eq!(v.capability, Some(meshproof::verdict::Capability::None));
    // The numeric ports are the whole difference: OSM does not care.
    let v = verdict(Upstream::Osm, &suite, "traffic-access", true);
    assert_eq!(
        v.capability,
        Some(meshproof::verdict::Capability::Full),
        "{}",
        summary(&v)
    );
}

#[test]
fn the_fixtures_are_the_old_shapes() {
    // The TCPRoute-only fixtures have no HTTPRouteGroup, the no-matches one names none, and the old
    // Services use a named target port: if a fixture drifted, the tests above would prove nothing.
    for f in [
        "tcp-route-only/traffic-access/access-v1alpha3/policy.yaml",
        "tcp-route-only/traffic-split/split-v1alpha2/allow.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join(FIXTURES).join(f)).unwrap();
        let docs = meshproof::yaml::documents(f, &text).unwrap();
        assert!(docs.iter().all(|d| d["kind"] != "HTTPRouteGroup"), "{f}");
        assert!(docs.iter().any(|d| d["kind"] == "TCPRoute"), "{f}");
    }
    let f = "no-matches/traffic-access/access-v1alpha3/policy.yaml";
    let text = std::fs::read_to_string(repo().join(FIXTURES).join(f)).unwrap();
    let docs = meshproof::yaml::documents(f, &text).unwrap();
    let tt = docs.iter().find(|d| d["kind"] == "TrafficTarget").unwrap();
    assert!(tt["spec"]["rules"][0]["matches"].is_null());
    for l in ["access", "split"] {
        for d in layout(l, true).iter().filter(|d| d["kind"] == "Service") {
            assert_eq!(d["spec"]["ports"][0]["targetPort"], "http");
        }
    }
}

/// OSM as it really starts: osm-bootstrap creates the SMI CRDs at run time
/// (`cmd/osm-bootstrap/osm-bootstrap.go` at v1.2.4 applies `cmd/osm-bootstrap/crds/*.yaml`), so
/// the first discoveries of a case may see no SMI group at all, and one may even get a 503.
/// Until `after` discoveries have been made the wrapper serves nothing and has no SMI CRD.
struct LateCrds {
    inner: UpstreamMesh,
    after: usize,
    /// Discovery calls (1-based) answered with a transient 503.
    unavailable: Vec<usize>,
    discoveries: usize,
}

impl LateCrds {
    fn created(&self) -> bool {
        self.discoveries > self.after
    }
}

impl meshproof::suite::SuiteBackend for LateCrds {
    fn served_smi(
        &mut self,
    ) -> Result<BTreeMap<String, Vec<String>>, meshproof::suite::HarnessError> {
        self.discoveries += 1;
        if self.unavailable.contains(&self.discoveries) {
            return Err(meshproof::suite::HarnessError::transient(
                "cannot list the API groups the cluster serves (GET /apis): 503 ServiceUnavailable",
            ));
        }
        if self.created() {
            self.inner.served_smi()
        } else {
            Ok(BTreeMap::new())
        }
    }
    fn create_namespace(
        &mut self,
        n: &str,
        l: &BTreeMap<String, String>,
        a: &BTreeMap<String, String>,
    ) -> Result<(), meshproof::suite::HarnessError> {
        self.inner.create_namespace(n, l, a)
    }
    fn delete_namespace(&mut self, n: &str) -> Result<(), meshproof::suite::HarnessError> {
        self.inner.delete_namespace(n)
    }
    fn apply(
        &mut self,
        n: &str,
        f: &str,
        o: &[Value],
    ) -> Result<Vec<meshproof::observation::ObjectResult>, meshproof::suite::HarnessError> {
        self.inner.apply(n, f, o)
    }
    fn delete(
        &mut self,
        n: &str,
        f: &str,
        o: &[Value],
    ) -> Result<Vec<meshproof::observation::ObjectResult>, meshproof::suite::HarnessError> {
        self.inner.delete(n, f, o)
    }
    fn lookup(
        &mut self,
        n: &str,
        o: &Value,
    ) -> Result<Option<Value>, meshproof::suite::HarnessError> {
        if o["kind"] == "CustomResourceDefinition" && !self.created() {
            return Ok(None);
        }
        self.inner.lookup(n, o)
    }
    fn traffic(
        &mut self,
        n: &str,
        c: &meshproof::spec::case::TrafficCheck,
        url: &str,
    ) -> Result<Vec<meshproof::observation::CallRecord>, meshproof::suite::HarnessError> {
        self.inner.traffic(n, c, url)
    }
    fn metrics(
        &mut self,
        path: &str,
    ) -> Result<meshproof::observation::MetricsObservation, meshproof::suite::HarnessError> {
        self.inner.metrics(path)
    }
    fn pods(
        &mut self,
        n: &str,
    ) -> Result<Vec<meshproof::observation::PodObservation>, meshproof::suite::HarnessError> {
        self.inner.pods(n)
    }
}

/// traffic-split against OSM whose CRDs appear after the case started: the case-start snapshot
/// serves nothing, which alone would keep the most preferred variant (split-v1alpha4, which OSM
/// never serves) and fail `crd-present` for ever. Re-discovering while `crd-present` retries
/// picks split-v1alpha2 as soon as OSM serves it, through a 503 on the way, and the case passes.
#[test]
fn the_variant_follows_discovery_while_crd_present_waits_for_runtime_crds() {
    let suite = suite_with(None);
    let lc = suite.case("traffic-split").unwrap();
    let mesh = pin(Upstream::Osm);
    let cancel = AtomicBool::new(false);
    let ctx = CaseContext {
        mesh: &mesh,
        port: 9091,
        workload: layout("split", false),
        timeouts: model_timeouts(),
        cancel: &cancel,
    };
    // Discovery 1 (set-up) and 2 serve nothing, 3 is a 503, 4 sees OSM's CRDs.
    let mut model = LateCrds {
        inner: UpstreamMesh::new(Upstream::Osm),
        after: 3,
        unavailable: vec![3],
        discoveries: 0,
    };
    let obs = run_case(
        lc,
        "mp-test-traffic-split",
        &ctx,
        &mut model,
        &FakeClock::default(),
        &mut NoProgress,
    );
    assert_eq!(obs.variant, "split-v1alpha2");
    assert_eq!(
        obs.served.get("split.smi-spec.io"),
        Some(&vec!["v1alpha2".to_string()]),
        "served records the snapshot the variant came from"
    );
    let crd = &obs.steps[0];
    assert_eq!(crd.name, "crd-present");
    // t=0 (set-up's snapshot, nothing), t=1000 (nothing), t=2000 (503, retried), t=3000 (found).
    assert_eq!(
        crd.attempts.iter().map(|a| a.at_ms).collect::<Vec<_>>(),
        [0, 1000, 3000]
    );
    assert_eq!(crd.retried.len(), 1);
    assert!(crd.retried[0].error.contains("503"));
    assert_eq!(
        model.discoveries, 4,
        "discovery stops once crd-present held"
    );
    let v = judge(
        &suite,
        &BTreeMap::from([("traffic-split".to_string(), obs)]),
        Scoring::Strict,
        &meshproof::calls::Semantics::of(&mesh),
    );
    let v = &v.cases[0];
    assert_eq!(
        step(v, "crd-present").outcome,
        Outcome::Pass,
        "{}",
        summary(v)
    );
    assert_eq!(step(v, "crd-present").passed_at_attempt, Some(3));
    assert_eq!(
        v.capability,
        Some(meshproof::verdict::Capability::Full),
        "{}",
        summary(v)
    );
}
