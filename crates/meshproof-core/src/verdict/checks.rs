//! Evaluating one check against one recorded attempt: objects present or absent (subset
//! match), traffic by outcome class, metrics values.

use super::*;

use std::collections::BTreeMap;

use crate::calls::Semantics;
use crate::observation::{
    Attempt, CallRecord, CaseObservation, MetricsObservation, PodObservation,
};
use crate::spec::case::{Expect, MetricsCheck, TrafficCheck};
use crate::spec::catalog::LoadedCase;

/// Evaluate every check of step `index` against one attempt.
pub fn evaluate_attempt(
    lc: &LoadedCase,
    obs: &CaseObservation,
    index: usize,
    attempt: &Attempt,
    sem: &Semantics,
) -> Vec<CheckEval> {
    let step = &lc.case.spec.steps[index];
    let specs = check_specs(step);
    let mut out = Vec::with_capacity(specs.len());
    for (id, kind, expected) in specs {
        let mut inconclusive = false;
        let (holds, observed) = if id == "data-plane" {
            let (holds, observed) = data_plane(sem, attempt.pods.as_deref());
            inconclusive = !holds;
            (holds, observed)
        } else if id == "apply" {
            objects_ok(lc, obs, &step.apply, &attempt.applied, "accepted")
        } else if id == "delete" {
            objects_ok(lc, obs, &step.delete, &attempt.deleted, "deleted")
        } else if id == "assert-present" {
            let files = &step.assert.as_ref().expect("has assert").present;
            assert_present(lc, obs, files, attempt)
        } else if id == "assert-absent" {
            let files = &step.assert.as_ref().expect("has assert").absent;
            assert_absent(lc, obs, files, attempt)
        } else if let Some(n) = id.strip_prefix("traffic-") {
            let i: usize = n.parse::<usize>().expect("own id") - 1;
            let records = attempt
                .traffic
                .iter()
                .find(|t| t.check == i)
                .map(|t| t.records.as_slice());
            let t = eval_traffic(&step.traffic[i], records, sem);
            inconclusive = t.inconclusive;
            (t.holds, t.observed)
        } else {
            let i: usize = id
                .strip_prefix("metrics-")
                .and_then(|n| n.parse::<usize>().ok())
                .expect("own id")
                - 1;
            let m = attempt.metrics.iter().find(|m| m.check == i);
            eval_metrics(lc, obs, &step.metrics[i], m)
        };
        out.push(CheckEval {
            id,
            kind,
            expected,
            holds,
            inconclusive: inconclusive && !holds,
            observed,
        });
    }
    out
}

/// The objects of a case file as the run saw them: `{{namespace}}` replaced, documents parsed.
pub fn expected_objects(
    lc: &LoadedCase,
    variant: &str,
    namespace: &str,
    file: &str,
) -> Result<Vec<serde_json::Value>, String> {
    let (path, bytes) = lc
        .resolve(variant, file)
        .ok_or_else(|| format!("{file}: not in the suite"))?;
    let text = std::str::from_utf8(bytes).map_err(|_| format!("{path}: not UTF-8"))?;
    let text = crate::substitute(text, namespace);
    crate::yaml::documents(&path, &text).map_err(|e| e.to_string())
}

/// `Kind/name` of a manifest object.
pub fn object_ref(v: &serde_json::Value) -> String {
    format!(
        "{}/{}",
        v["kind"].as_str().unwrap_or("?"),
        v["metadata"]["name"].as_str().unwrap_or("?")
    )
}

fn objects_ok(
    lc: &LoadedCase,
    obs: &CaseObservation,
    files: &[String],
    results: &[crate::observation::ObjectResult],
    verb: &str,
) -> (bool, String) {
    let mut missing = Vec::new();
    let mut rejected = Vec::new();
    for f in files {
        let objects = match expected_objects(lc, &obs.variant, &obs.namespace, f) {
            Ok(o) => o,
            Err(e) => return (false, format!("suite file unreadable: {e}")),
        };
        for o in objects {
            let r = object_ref(&o);
            match results.iter().find(|x| x.file == *f && x.object == r) {
                None => missing.push(r),
                Some(x) if !x.ok => rejected.push(format!(
                    "{r}: {}",
                    x.message.as_deref().unwrap_or("rejected")
                )),
                Some(_) => {}
            }
        }
    }
    if missing.is_empty() && rejected.is_empty() {
        (true, format!("all {verb}"))
    } else {
        let mut parts = Vec::new();
        if !rejected.is_empty() {
            parts.push(format!("not {verb}: {}", rejected.join("; ")));
        }
        if !missing.is_empty() {
            parts.push(format!("not attempted: {}", missing.join(", ")));
        }
        (false, parts.join("; "))
    }
}

fn assert_present(
    lc: &LoadedCase,
    obs: &CaseObservation,
    files: &[String],
    attempt: &Attempt,
) -> (bool, String) {
    let mut problems = Vec::new();
    let mut count = 0;
    for f in files {
        let objects = match expected_objects(lc, &obs.variant, &obs.namespace, f) {
            Ok(o) => o,
            Err(e) => return (false, format!("suite file unreadable: {e}")),
        };
        for want in objects {
            count += 1;
            let r = object_ref(&want);
            match attempt
                .objects
                .iter()
                .find(|s| s.file == *f && s.object == r)
            {
                None => problems.push(format!("{r} not looked up")),
                Some(s) if !s.found => problems.push(format!("{r} not found")),
                Some(s) => {
                    let got = s.value.clone().unwrap_or(serde_json::Value::Null);
                    if let Err(path) = subset(&want, &got, "") {
                        problems.push(format!("{r} differs at {path}"));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        (true, format!("{count} object(s) present and matching"))
    } else {
        (false, problems.join("; "))
    }
}

fn assert_absent(
    lc: &LoadedCase,
    obs: &CaseObservation,
    files: &[String],
    attempt: &Attempt,
) -> (bool, String) {
    let mut problems = Vec::new();
    let mut count = 0;
    for f in files {
        let objects = match expected_objects(lc, &obs.variant, &obs.namespace, f) {
            Ok(o) => o,
            Err(e) => return (false, format!("suite file unreadable: {e}")),
        };
        for want in objects {
            count += 1;
            let r = object_ref(&want);
            match attempt
                .objects
                .iter()
                .find(|s| s.file == *f && s.object == r)
            {
                None => problems.push(format!("{r} not looked up")),
                Some(s) if s.found => problems.push(format!("{r} still exists")),
                Some(_) => {}
            }
        }
    }
    if problems.is_empty() {
        (true, format!("{count} object(s) absent"))
    } else {
        (false, problems.join("; "))
    }
}

/// Subset match: every field of `want` is in `got` with an equal value. Arrays match when every
/// element of `want` matches a distinct element of `got`, in any order (kuttl required equal
/// lengths, which made a CRD with an extra shortName fail).
pub fn subset(want: &serde_json::Value, got: &serde_json::Value, path: &str) -> Result<(), String> {
    use serde_json::Value;
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match g.get(k) {
                    Some(gv) => subset(wv, gv, &p)?,
                    None => return Err(p),
                }
            }
            Ok(())
        }
        (Value::Array(w), Value::Array(g)) => {
            let mut used = vec![false; g.len()];
            for (i, wv) in w.iter().enumerate() {
                let hit = g
                    .iter()
                    .enumerate()
                    .find(|(j, gv)| !used[*j] && subset(wv, gv, "").is_ok());
                match hit {
                    Some((j, _)) => used[j] = true,
                    None => return Err(format!("{path}[{i}]")),
                }
            }
            Ok(())
        }
        (Value::Number(a), Value::Number(b)) => {
            if a.as_f64() == b.as_f64() {
                Ok(())
            } else {
                Err(path.to_string())
            }
        }
        (w, g) if w == g => Ok(()),
        _ => Err(if path.is_empty() {
            ".".into()
        } else {
            path.to_string()
        }),
    }
}

fn tally<'a>(items: impl Iterator<Item = String> + 'a) -> String {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    m.iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A traffic check's evaluation on one attempt.
struct TrafficEval {
    holds: bool,
    inconclusive: bool,
    observed: String,
}

fn eval_traffic(
    check: &TrafficCheck,
    records: Option<&[CallRecord]>,
    sem: &Semantics,
) -> TrafficEval {
    let Some(records) = records else {
        return TrafficEval {
            holds: false,
            inconclusive: false,
            observed: "no requests recorded".to_string(),
        };
    };
    let n = records.len();
    let t = sem.tally(records);
    let success = |r: &CallRecord| sem.classify(r).0 == crate::calls::CallClass::Success;
    let outcomes = tally(records.iter().map(|r| r.outcome()));
    let classes = tally(
        records
            .iter()
            .map(|r| sem.classify(r).0.as_str().to_string()),
    );
    let backends = tally(
        records
            .iter()
            .filter(|r| success(r))
            .map(|r| r.backend.clone().unwrap_or_else(|| "unknown".into())),
    );
    let mut observed = format!("{n} request(s): {outcomes} ({classes})");
    if !backends.is_empty() {
        observed.push_str(&format!("; answered by {backends}"));
    }
    if !t.inconclusive_why.is_empty() {
        observed.push_str(&format!(
            "; inconclusive calls from {} to {}: {}",
            check.from,
            records.first().map(|r| r.url.as_str()).unwrap_or("?"),
            t.inconclusive_why.join("; ")
        ));
    }
    if n < check.count as usize {
        return TrafficEval {
            holds: false,
            inconclusive: false,
            observed: format!(
                "only {n} of {} request(s) recorded; {observed}",
                check.count
            ),
        };
    }
    let ok = t.success;
    let by = |b: &str| {
        records
            .iter()
            .filter(|r| success(r) && r.backend.as_deref() == Some(b))
            .count()
    };
    let holds = match &check.expect {
        Expect::Any => true,
        Expect::Allowed => ok == n,
        Expect::Denied => t.denied == n,
        Expect::Only(b) => ok == n && by(b) == n,
        Expect::Spread(bs) => ok == n && bs.iter().all(|b| by(b) > 0),
        Expect::Greater(bs) => match bs.as_slice() {
            [more, less] => ok == n && by(more) > by(less),
            _ => false,
        },
    };
    // A denial the mesh did not give in its declared way, with nothing let through, is not a
    // statement about the mesh; neither is any expectation met or missed on inconclusive calls.
    let inconclusive = !holds
        && match &check.expect {
            Expect::Any => false,
            Expect::Denied => ok == 0 && (t.inconclusive > 0 || t.failed > 0),
            _ => t.inconclusive > 0,
        };
    TrafficEval {
        holds,
        inconclusive,
        observed,
    }
}

/// Every listed workload pod runs the pin's injected container (node-proxy meshes and the control
/// inject nothing: their pods only have to be listed).
fn data_plane(sem: &Semantics, pods: Option<&[PodObservation]>) -> (bool, String) {
    let Some(pods) = pods else {
        return (false, "workload pods not listed".to_string());
    };
    if pods.is_empty() {
        return (false, "no workload pod in the namespace".to_string());
    }
    let Some(container) = &sem.data_plane.container else {
        let what = match &sem.data_plane.node_proxy {
            Some(np) => format!(
                "node proxy {}/{} (no container injected)",
                np.daemon_set.namespace, np.daemon_set.name
            ),
            None => "no mesh, no data plane".to_string(),
        };
        return (true, format!("{} pod(s) listed; {what}", pods.len()));
    };
    let missing: Vec<String> = pods
        .iter()
        .filter(|p| !p.containers.iter().any(|c| c == container))
        .map(|p| format!("{} (containers: {})", p.name, p.containers.join(", ")))
        .collect();
    if missing.is_empty() {
        (
            true,
            format!("{} pod(s), each with a {container} container", pods.len()),
        )
    } else {
        (
            false,
            format!("no {container} container in pod {}", missing.join(", pod ")),
        )
    }
}

/// A metric value as TrafficMetrics carries it: a number or a quantity string (`"12"`, `"1500m"`).
fn metric_value(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => {
            let s = s.trim();
            if let Some(m) = s.strip_suffix('m') {
                m.parse::<f64>().ok().map(|x| x / 1000.0)
            } else if let Some(k) = s.strip_suffix('k') {
                k.parse::<f64>().ok().map(|x| x * 1000.0)
            } else {
                s.parse::<f64>().ok()
            }
        }
        _ => None,
    }
}

/// `success_count` and `failure_count` of a TrafficMetrics object, as the judge reads them.
pub fn counts(tm: &serde_json::Value) -> Option<(f64, f64)> {
    let metrics = tm.get("metrics")?.as_array()?;
    let get = |name: &str| {
        metrics
            .iter()
            .find(|m| m.get("name").and_then(|n| n.as_str()) == Some(name))
            .and_then(|m| m.get("value"))
            .and_then(metric_value)
    };
    Some((get("success_count")?, get("failure_count")?))
}

fn eval_metrics(
    lc: &LoadedCase,
    obs: &CaseObservation,
    check: &MetricsCheck,
    m: Option<&MetricsObservation>,
) -> (bool, String) {
    let Some(m) = m else {
        return (false, "metrics API not read".to_string());
    };
    if let Some(e) = &m.error {
        return (false, format!("read {} failed: {e}", m.path));
    }
    if m.status != Some(200) {
        return (
            false,
            format!(
                "read {} answered {}",
                m.path,
                m.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "nothing".into())
            ),
        );
    }
    let Some(body) = &m.body else {
        return (false, "empty metrics response".to_string());
    };
    let tm = match &check.edge {
        None => Some(body.clone()),
        Some(target) => body
            .get("items")
            .and_then(|i| i.as_array())
            .and_then(|items| {
                items
                    .iter()
                    .find(|it| it["edge"]["resource"]["name"].as_str() == Some(target.as_str()))
                    .cloned()
            }),
    };
    let Some(tm) = tm else {
        return (
            false,
            format!(
                "no edge to {} in the TrafficMetricsList",
                check.edge.as_deref().unwrap_or("?")
            ),
        );
    };
    let Some((succ, fail)) = counts(&tm) else {
        return (
            false,
            "TrafficMetrics lacks numeric success_count/failure_count".to_string(),
        );
    };
    let observed = format!("success_count={succ}, failure_count={fail}");
    let Some(from) = &check.counts_from else {
        return (true, observed);
    };
    // Successes and failures of the last attempt of the step that generated the traffic.
    let sent = obs
        .steps
        .iter()
        .find(|s| &s.name == from)
        .and_then(|s| s.attempts.last())
        .map(|a| {
            let recs = a.traffic.iter().flat_map(|t| t.records.iter());
            recs.fold((0usize, 0usize), |(s, f), r| {
                if r.succeeded() {
                    (s + 1, f)
                } else {
                    (s, f + 1)
                }
            })
        });
    let _ = lc;
    match sent {
        None => (false, format!("{observed}; step `{from}` sent no traffic")),
        Some((s, f)) => (
            succ >= s as f64 && fail >= f as f64,
            format!("{observed}; sent {s} succeeded, {f} failed in `{from}`"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_ignores_extra_fields_and_array_order() {
        let want = json!({"spec": {"names": {"shortNames": ["tt"]}}});
        let got =
            json!({"spec": {"names": {"shortNames": ["x", "tt"], "kind": "K"}}, "status": {}});
        assert!(subset(&want, &got, "").is_ok());
        let bad = json!({"spec": {"names": {"shortNames": ["x"]}}});
        assert_eq!(
            subset(&want, &bad, "").unwrap_err(),
            "spec.names.shortNames[0]"
        );
    }

    #[test]
    fn metric_values_parse_quantities() {
        assert_eq!(metric_value(&json!("12")), Some(12.0));
        assert_eq!(metric_value(&json!("1500m")), Some(1.5));
        assert_eq!(metric_value(&json!(3)), Some(3.0));
        assert_eq!(metric_value(&json!("x")), None);
    }
}
