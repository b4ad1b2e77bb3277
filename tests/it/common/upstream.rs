//! Scripted models of two meshes, written from their upstream source rather than from the SMI text,
//! so the suite can be checked against what those meshes really do with its manifests.
//!
//! - [`Upstream::Osm`] follows openservicemesh/osm at v1.1.3 and v1.2.4 (same logic in both):
//!   `pkg/catalog/inbound_traffic_policies.go` builds the inbound HTTP routes of an `appProtocol: http`
//!   Service only from TrafficTarget rules, looking each rule up as an HTTPRouteGroup by name whatever
//!   its kind and taking only the matches the rule names (`routesFromRules` iterates `rule.Matches`;
//!   an empty pathRegex or method list is wildcarded by `getHTTPPathsPerRoute`);
//!   `pkg/envoy/rds/route/route_config.go` turns each route into an Envoy route with a per-route RBAC
//!   policy of the TrafficTargets' sources. A request no route matches gets Envoy's 404; a matched
//!   route whose RBAC does not list the caller gets 403 `RBAC: access denied`. A caller that no
//!   TrafficTarget names as a source has no outbound route to the destination (non-permissive mode);
//!   the model resets that connection (the wire detail is not modelled further).
//! - [`Upstream::Traefik`] follows traefik/mesh v1.4.8 in ACL mode: `pkg/topology/builder.go` makes
//!   one ServiceTrafficTarget per (TrafficTarget, Service selecting pods of the destination account),
//!   rejected when a rule's HTTPRouteGroup or named match is missing or when `destination.port` is set
//!   and no Service port has that *integer* targetPort (`getTrafficTargetDestinationPorts` compares
//!   `TargetPort.IntVal`, 0 for a named port); `pkg/provider/provider.go` builds a block-all router
//!   (priority 1, IP whitelist 255.255.255.255: 403), one router per valid ServiceTrafficTarget
//!   (priority 2) whose load balancer holds only that target's destination pods and whose whitelist
//!   holds its sources' pods, and for a TrafficSplit a router of priority 4 whose whitelist is the
//!   intersection of the backends' allowed sources, weighting the backends' Services, each reached
//!   through a second hop matched by the backend's "indirect" TrafficTarget routers (priority 3).
//!   Path matches become `PathPrefix(/{path:<regex>})`, modelled as a regex anchored at the start.
//!   Among equal-priority routers with the same rule Traefik's choice is not specified; the model
//!   takes the first by TrafficTarget name.
//!
//! Both keep the objects a run applied and lag one traffic round behind them (the data plane catches
//! up after each round), serve the SMI versions of their pins, and have no traffic-metrics API.

use std::collections::BTreeMap;

use meshproof::observation::{
    CallRecord, MetricsObservation, ObjectResult, PodObservation, SourcePod,
};
use meshproof::spec::case::TrafficCheck;
use meshproof::suite::{HarnessError, SuiteBackend};
use meshproof::verdict::object_ref;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Osm,
    Traefik,
}

impl Upstream {
    /// SMI versions the pins say each serves (meshes/osm/1.2.4.yaml, meshes/traefik-mesh/1.4.8.yaml).
    fn serves(self) -> BTreeMap<String, Vec<String>> {
        let v = |s: &str| vec![s.to_string()];
        let (access, specs, split) = match self {
            Upstream::Osm => ("v1alpha3", "v1alpha4", "v1alpha2"),
            Upstream::Traefik => ("v1alpha2", "v1alpha3", "v1alpha3"),
        };
        BTreeMap::from([
            ("access.smi-spec.io".to_string(), v(access)),
            ("specs.smi-spec.io".to_string(), v(specs)),
            ("split.smi-spec.io".to_string(), v(split)),
        ])
    }
}

/// One pod per Deployment of the workload.
#[derive(Debug, Clone)]
struct Pod {
    labels: BTreeMap<String, String>,
    account: String,
    /// `SERVICE_NAME`: what the probe answers as.
    probe: String,
}

#[derive(Debug, Clone)]
struct Service {
    selector: BTreeMap<String, String>,
    /// (port, targetPort as written, appProtocol)
    ports: Vec<(u64, Value, Option<String>)>,
}

/// What a request came to.
enum Answer {
    Backend(String),
    Status(u16, &'static str),
    Reset,
}

pub struct UpstreamMesh {
    kind: Upstream,
    served: BTreeMap<String, Vec<String>>,
    objects: BTreeMap<String, Value>,
    visible: BTreeMap<String, Value>,
    pods: BTreeMap<String, Pod>,
    services: BTreeMap<String, Service>,
    /// Round-robin position per Service (kube-proxy / load balancer spreading).
    rr: BTreeMap<String, usize>,
    /// Smooth weighted round robin state per TrafficSplit.
    wrr: BTreeMap<String, Vec<f64>>,
}

fn strings(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A TrafficTarget's fields, whatever its version (v1alpha2+ under `spec`).
fn tt_spec(tt: &Value) -> &Value {
    &tt["spec"]
}

impl UpstreamMesh {
    pub fn new(kind: Upstream) -> Self {
        UpstreamMesh {
            kind,
            served: kind.serves(),
            objects: BTreeMap::new(),
            visible: BTreeMap::new(),
            pods: BTreeMap::new(),
            services: BTreeMap::new(),
            rr: BTreeMap::new(),
            wrr: BTreeMap::new(),
        }
    }

    fn learn_workload(&mut self, docs: &[Value]) {
        for d in docs {
            let name = d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match d["kind"].as_str() {
                Some("Deployment") => {
                    let t = &d["spec"]["template"];
                    let env = &t["spec"]["containers"][0]["env"];
                    let probe = env
                        .as_array()
                        .and_then(|e| e.iter().find(|x| x["name"] == "SERVICE_NAME"))
                        .and_then(|x| x["value"].as_str())
                        .unwrap_or(&name)
                        .to_string();
                    self.pods.insert(
                        name,
                        Pod {
                            labels: strings(&t["metadata"]["labels"]),
                            account: t["spec"]["serviceAccountName"]
                                .as_str()
                                .unwrap_or("default")
                                .to_string(),
                            probe,
                        },
                    );
                }
                Some("Service") => {
                    let ports = d["spec"]["ports"]
                        .as_array()
                        .map(|ps| {
                            ps.iter()
                                .map(|p| {
                                    (
                                        p["port"].as_u64().unwrap_or(0),
                                        p["targetPort"].clone(),
                                        p["appProtocol"].as_str().map(str::to_string),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    self.services.insert(
                        name,
                        Service {
                            selector: strings(&d["spec"]["selector"]),
                            ports,
                        },
                    );
                }
                _ => {}
            }
        }
    }

    /// Pods (Deployment names) a Service selects, sorted.
    fn endpoints(&self, service: &str) -> Vec<String> {
        let Some(s) = self.services.get(service) else {
            return Vec::new();
        };
        self.pods
            .iter()
            .filter(|(_, p)| {
                !s.selector.is_empty() && s.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v))
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn next_rr(&mut self, key: &str, n: usize) -> usize {
        let i = self.rr.entry(key.to_string()).or_default();
        let pick = *i % n.max(1);
        *i += 1;
        pick
    }

    fn visible_of(&self, kind: &str) -> impl Iterator<Item = &Value> {
        let kind = kind.to_string();
        self.visible
            .values()
            .filter(move |o| o["kind"] == kind.as_str())
    }

    fn route_group(&self, name: &str) -> Option<&Value> {
        self.visible.get(&format!("HTTPRouteGroup/{name}"))
    }

    /// The TrafficSplit whose root is `service`, as (name, [(backend Service, weight)]).
    fn split_of(&self, service: &str) -> Option<(String, Vec<(String, f64)>)> {
        let ts = self
            .visible_of("TrafficSplit")
            .find(|t| t["spec"]["service"] == service)?;
        let backends = ts["spec"]["backends"]
            .as_array()?
            .iter()
            .map(|b| {
                (
                    b["service"].as_str().unwrap_or_default().to_string(),
                    b["weight"].as_f64().unwrap_or(0.0),
                )
            })
            .collect();
        Some((object_ref(ts), backends))
    }

    /// Smooth weighted round robin over a split's backends (deterministic and proportional).
    fn pick_weighted(&mut self, key: &str, backends: &[(String, f64)]) -> Option<String> {
        let total: f64 = backends.iter().map(|b| b.1).sum();
        if total <= 0.0 {
            return None;
        }
        let cur = self
            .wrr
            .entry(key.to_string())
            .or_insert_with(|| vec![0.0; backends.len()]);
        for (c, b) in cur.iter_mut().zip(backends) {
            *c += b.1;
        }
        let i = (0..backends.len())
            .max_by(|a, b| cur[*a].partial_cmp(&cur[*b]).unwrap().then(b.cmp(a)))
            .unwrap();
        cur[i] -= total;
        Some(backends[i].0.clone())
    }

    fn answer(&mut self, from: &str, to: &str, method: &str, path: &str) -> Answer {
        match self.kind {
            Upstream::Osm => self.osm(from, to, method, path),
            Upstream::Traefik => self.traefik(from, to, method, path),
        }
    }

    // ---- OSM ----

    fn osm(&mut self, from: &str, to: &str, method: &str, path: &str) -> Answer {
        let Some(client) = self.pods.get(from).map(|p| p.account.clone()) else {
            return Answer::Reset;
        };
        // The client's sidecar routes the root Service by the TrafficSplit when there is one.
        let service = match self.split_of(to) {
            Some((key, backends)) => match self.pick_weighted(&key, &backends) {
                Some(b) => b,
                None => return Answer::Status(503, "no healthy upstream"),
            },
            None => to.to_string(),
        };
        let eps = self.endpoints(&service);
        if eps.is_empty() {
            return Answer::Status(503, "no healthy upstream");
        }
        let pod_name = eps[self.next_rr(&service, eps.len())].clone();
        let pod = self.pods[&pod_name].clone();
        let targets: Vec<Value> = self
            .visible_of("TrafficTarget")
            .filter(|tt| tt_spec(tt)["destination"]["name"] == pod.account.as_str())
            .cloned()
            .collect();
        let named_source = |tt: &Value| {
            tt_spec(tt)["sources"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x["name"] == client.as_str()))
        };
        if !targets.iter().any(named_source) {
            return Answer::Reset;
        }
        let protocol = self.services[&service]
            .ports
            .first()
            .and_then(|p| p.2.clone())
            .unwrap_or_else(|| "http".to_string());
        if protocol != "http" {
            // TCP services are authorized per TrafficTarget, not per route (not exercised here).
            return Answer::Backend(pod.probe);
        }
        // routesFromRules: every rule is looked up as an HTTPRouteGroup, and only its named
        // matches become routes; each route carries the sources of the TrafficTarget it came from.
        let mut routes: Vec<(String, Vec<String>, bool)> = Vec::new();
        for tt in &targets {
            for rule in tt_spec(tt)["rules"].as_array().into_iter().flatten() {
                let Some(group) = self.route_group(rule["name"].as_str().unwrap_or_default())
                else {
                    continue;
                };
                for wanted in names(&rule["matches"]) {
                    let Some(m) = group["spec"]["matches"]
                        .as_array()
                        .and_then(|ms| ms.iter().find(|m| m["name"] == wanted.as_str()))
                    else {
                        continue;
                    };
                    let re = m["pathRegex"].as_str().filter(|r| !r.is_empty());
                    let mut methods = names(&m["methods"]);
                    if methods.is_empty() {
                        methods.push("*".into());
                    }
                    routes.push((re.unwrap_or(".*").to_string(), methods, named_source(tt)));
                }
            }
        }
        let matching: Vec<&(String, Vec<String>, bool)> = routes
            .iter()
            .filter(|(re, methods, _)| {
                full_match(re, path) && methods.iter().any(|m| m == "*" || m == method)
            })
            .collect();
        if matching.is_empty() {
            Answer::Status(404, "no route")
        } else if matching.iter().any(|r| r.2) {
            Answer::Backend(pod.probe)
        } else {
            Answer::Status(403, "RBAC: access denied")
        }
    }

    // ---- Traefik Mesh ----

    /// The valid ServiceTrafficTargets of `service`: (TrafficTarget name, destination pods, source
    /// accounts, HTTP matches as (pathRegex, methods)).
    #[allow(clippy::type_complexity)]
    fn traefik_targets(
        &self,
        service: &str,
    ) -> Vec<(String, Vec<String>, Vec<String>, Vec<(String, Vec<String>)>)> {
        let mut out = Vec::new();
        let Some(svc) = self.services.get(service) else {
            return out;
        };
        for tt in self.visible_of("TrafficTarget") {
            let spec = tt_spec(tt);
            let dest = spec["destination"]["name"].as_str().unwrap_or_default();
            let pods: Vec<String> = self
                .endpoints(service)
                .into_iter()
                .filter(|p| self.pods[p].account == dest)
                .collect();
            if pods.is_empty() {
                continue;
            }
            // getTrafficTargetDestinationPorts: the port must equal a targetPort's integer value.
            if let Some(port) = spec["destination"]["port"].as_u64() {
                let exposed = svc.ports.iter().any(|(_, target, _)| {
                    let int_val = target.as_u64().unwrap_or(0); // a named port's IntVal is 0
                    int_val == port
                });
                if !exposed {
                    continue;
                }
            }
            // buildTrafficTargetRules: a missing group or named match rejects the target.
            let mut matches = Vec::new();
            let mut valid = true;
            for rule in spec["rules"].as_array().into_iter().flatten() {
                if rule["kind"] != "HTTPRouteGroup" {
                    continue;
                }
                let Some(group) = self.route_group(rule["name"].as_str().unwrap_or_default())
                else {
                    valid = false;
                    break;
                };
                let all = group["spec"]["matches"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let wanted = names(&rule["matches"]);
                let picked: Vec<&Value> = if wanted.is_empty() {
                    all.iter().collect()
                } else {
                    let found: Vec<&Value> = wanted
                        .iter()
                        .filter_map(|w| all.iter().find(|m| m["name"] == w.as_str()))
                        .collect();
                    if found.len() != wanted.len() {
                        valid = false;
                        break;
                    }
                    found
                };
                for m in picked {
                    matches.push((
                        m["pathRegex"].as_str().unwrap_or_default().to_string(),
                        names(&m["methods"]),
                    ));
                }
            }
            if valid {
                let sources = spec["sources"]
                    .as_array()
                    .map(|s| {
                        s.iter()
                            .filter_map(|x| x["name"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let name = tt["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                out.push((name, pods, sources, matches));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn traefik_rule_matches(matches: &[(String, Vec<String>)], method: &str, path: &str) -> bool {
        // No HTTP match: the router's rule is the Service's Host alone.
        matches.is_empty()
            || matches.iter().any(|(re, methods)| {
                let path_ok = re.is_empty() || prefix_match(re.trim_start_matches('/'), path);
                let method_ok =
                    methods.is_empty() || methods.iter().any(|m| m == "*" || m == method);
                path_ok && method_ok
            })
    }

    fn traefik(&mut self, from: &str, to: &str, method: &str, path: &str) -> Answer {
        let Some(client) = self.pods.get(from).map(|p| p.account.clone()) else {
            return Answer::Reset;
        };
        if let Some((key, backends)) = self.split_of(to) {
            // Priority 4: the TrafficSplit router, whitelisting the pods every backend allows.
            let allowed_everywhere = backends.iter().all(|(b, _)| {
                self.traefik_targets(b)
                    .iter()
                    .any(|t| t.2.contains(&client))
            });
            if !allowed_everywhere {
                return Answer::Status(403, "Forbidden");
            }
            let Some(backend) = self.pick_weighted(&key, &backends) else {
                return Answer::Status(503, "no backend");
            };
            // Second hop to `<backend>.<ns>.traefik.mesh`: the backend's indirect routers.
            return self.traefik_direct(&client, &backend, method, path);
        }
        self.traefik_direct(&client, to, method, path)
    }

    fn traefik_direct(&mut self, client: &str, to: &str, method: &str, path: &str) -> Answer {
        // Priority 2 routers, one per ServiceTrafficTarget; the first by name among those whose
        // rule matches serves the request. Otherwise the priority-1 block-all router: 403.
        let targets = self.traefik_targets(to);
        let Some(t) = targets
            .iter()
            .find(|t| Self::traefik_rule_matches(&t.3, method, path))
        else {
            return Answer::Status(403, "Forbidden");
        };
        if !t.2.iter().any(|s| s == client) {
            return Answer::Status(403, "Forbidden");
        }
        let pods = t.1.clone();
        let pod = pods[self.next_rr(&format!("{to}/{}", t.0), pods.len())].clone();
        Answer::Backend(self.pods[&pod].probe.clone())
    }
}

fn full_match(re: &str, path: &str) -> bool {
    regex::Regex::new(&format!("^(?:{re})$")).is_ok_and(|r| r.is_match(path))
}

/// Traefik's `PathPrefix(/{path:<re>})`: the path after `/` starts with a match of the regex.
fn prefix_match(re: &str, path: &str) -> bool {
    let rest = path.trim_start_matches('/');
    regex::Regex::new(&format!("^(?:{re})")).is_ok_and(|r| r.is_match(rest))
}

/// A call record as the probe reports it; `containers` are the calling pod's (the driver adds them).
fn record(from: &str, url: &str, method: &str, a: Answer, containers: &[&str]) -> CallRecord {
    let (status, error, detail, backend, body) = match a {
        Answer::Backend(b) => (Some(200), None, None, Some(b), None),
        // The text is the answer's body (Envoy's `RBAC: access denied`, Traefik's `Forbidden`).
        Answer::Status(s, text) => (Some(s), None, None, None, Some(text.to_string())),
        Answer::Reset => (
            None,
            Some("reset".to_string()),
            Some("connection reset by peer".to_string()),
            None,
            None,
        ),
    };
    CallRecord {
        source: from.to_string(),
        url: url.to_string(),
        method: method.to_string(),
        status,
        error,
        error_detail: detail,
        backend,
        latency_us: 500,
        body,
        source_pod: Some(SourcePod {
            name: format!("{from}-0"),
            containers: containers.iter().map(|c| c.to_string()).collect(),
        }),
        ..CallRecord::default()
    }
}

impl UpstreamMesh {
    /// The containers of a workload pod: OSM injects `envoy`; Traefik Mesh injects nothing (its
    /// proxies are a DaemonSet).
    fn containers(&self) -> Vec<&'static str> {
        match self.kind {
            Upstream::Osm => vec!["envoy", "probe"],
            Upstream::Traefik => vec!["probe"],
        }
    }
}

impl SuiteBackend for UpstreamMesh {
    fn served_smi(&mut self) -> Result<BTreeMap<String, Vec<String>>, HarnessError> {
        Ok(self.served.clone())
    }
    fn create_namespace(
        &mut self,
        _: &str,
        _: &BTreeMap<String, String>,
        _: &BTreeMap<String, String>,
    ) -> Result<(), HarnessError> {
        Ok(())
    }
    fn delete_namespace(&mut self, _: &str) -> Result<(), HarnessError> {
        Ok(())
    }
    fn apply(
        &mut self,
        _: &str,
        file: &str,
        objects: &[Value],
    ) -> Result<Vec<ObjectResult>, HarnessError> {
        if file == "workload" {
            self.learn_workload(objects);
        }
        Ok(objects
            .iter()
            .map(|o| {
                let r = object_ref(o);
                let api = o["apiVersion"].as_str().unwrap_or_default();
                let served = match api.split_once('/') {
                    Some((g, v)) if g.ends_with("smi-spec.io") => self
                        .served
                        .get(g)
                        .is_some_and(|vs| vs.iter().any(|x| x == v)),
                    _ => true,
                };
                if served && file != "workload" {
                    self.objects.insert(r.clone(), o.clone());
                }
                ObjectResult {
                    file: file.to_string(),
                    object: r,
                    ok: served,
                    message: (!served).then(|| format!("no matches for {api}")),
                }
            })
            .collect())
    }
    fn delete(
        &mut self,
        _: &str,
        file: &str,
        objects: &[Value],
    ) -> Result<Vec<ObjectResult>, HarnessError> {
        Ok(objects
            .iter()
            .map(|o| {
                let r = object_ref(o);
                self.objects.remove(&r);
                ObjectResult {
                    file: file.to_string(),
                    object: r,
                    ok: true,
                    message: None,
                }
            })
            .collect())
    }
    fn lookup(&mut self, _: &str, want: &Value) -> Result<Option<Value>, HarnessError> {
        let kind = want["kind"].as_str().unwrap_or_default();
        let name = want["metadata"]["name"].as_str().unwrap_or_default();
        Ok(match kind {
            "CustomResourceDefinition" => {
                let group = name.split_once('.').map(|x| x.1).unwrap_or_default();
                self.served.get(group).map(|versions| {
                    json!({
                        "apiVersion": "apiextensions.k8s.io/v1",
                        "kind": kind,
                        "metadata": {"name": name},
                        "spec": {
                            "group": group,
                            "names": want["spec"]["names"],
                            "versions": versions.iter().map(|v| json!({"name": v, "served": true})).collect::<Vec<_>>(),
                        },
                        "status": {"conditions": [{"type": "Established", "status": "True"}]}
                    })
                })
            }
            "Deployment" => self.pods.contains_key(name).then(|| {
                json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
                       "status": {"readyReplicas": 1}})
            }),
            "Service" => self
                .services
                .contains_key(name)
                .then(|| json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}})),
            "ServiceAccount" => self
                .pods
                .values()
                .any(|p| p.account == name)
                .then(|| json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}})),
            _ => self.objects.get(&object_ref(want)).cloned(),
        })
    }
    fn traffic(
        &mut self,
        _: &str,
        check: &TrafficCheck,
        url: &str,
    ) -> Result<Vec<CallRecord>, HarnessError> {
        let containers = self.containers();
        let records = (0..check.count)
            .map(|_| {
                let a = self.answer(&check.from, &check.to, &check.method, &check.path);
                record(&check.from, url, &check.method, a, &containers)
            })
            .collect();
        // The data plane catches up with the applied objects after each round of traffic.
        self.visible = self.objects.clone();
        Ok(records)
    }
    fn pods(&mut self, _: &str) -> Result<Vec<PodObservation>, HarnessError> {
        let containers = self.containers();
        Ok(self
            .pods
            .iter()
            .map(|(name, p)| PodObservation {
                name: format!("{name}-0"),
                app: p.labels.get("app").cloned(),
                containers: containers.iter().map(|c| c.to_string()).collect(),
                ready: true,
            })
            .collect())
    }
    fn metrics(&mut self, path: &str) -> Result<MetricsObservation, HarnessError> {
        // Neither mesh serves metrics.smi-spec.io (OSM: "in progress"; Traefik Mesh: none).
        Ok(MetricsObservation {
            check: 0,
            path: path.to_string(),
            status: Some(404),
            body: None,
            error: None,
        })
    }
}
