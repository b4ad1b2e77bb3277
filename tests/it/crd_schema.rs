//! Every SMI manifest of the suite validates against the real CRD schemas (`../shared/smi-crds/`,
//! outside the repository: skipped with a notice when absent, required by `.ci/run`).
//!
//! Two checks per manifest: JSON-schema validation of the served version's `openAPIV3Schema`, and
//! the pruning rule of structural schemas (a field the schema does not declare would be silently
//! dropped by the API server, which is how the original suite's top-level `matches` got lost).

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

/// `../shared/smi-crds` next to the repository, or `$MESHPROOF_SMI_CRDS`.
fn crd_dir() -> PathBuf {
    if let Some(p) = std::env::var_os(meshproof::env::MESHPROOF_SMI_CRDS) {
        return PathBuf::from(p);
    }
    common::repo().join("../shared/smi-crds")
}

/// (group, kind, version) → (openAPIV3Schema, file it came from).
type Schemas = BTreeMap<(String, String, String), (Value, String)>;

/// (group, kind, version) → openAPIV3Schema, from every CRD file under the directory; `None`
/// (after saying why) when the directory is absent, which fails the test instead when
/// `MESHPROOF_REQUIRE_SHARED=1` (`.ci/run`, which always has `../shared`).
fn schemas(test: &str) -> Option<Schemas> {
    let dir = crd_dir();
    if !dir.is_dir() {
        let reason = format!(
            "the SMI CRD schemas are not at {} (outside the repository: set {} to their folder)",
            dir.display(),
            meshproof::env::MESHPROOF_SMI_CRDS
        );
        assert!(
            !meshproof::env::require_shared(),
            "{}=1: {reason}",
            meshproof::env::MESHPROOF_REQUIRE_SHARED
        );
        common::gate::skip(
            test,
            &format!(
                "{reason}; {}=1 makes this a failure",
                meshproof::env::MESHPROOF_REQUIRE_SHARED
            ),
        );
        return None;
    }
    let mut out = BTreeMap::new();
    for (rel, bytes) in meshproof::spec::catalog::read_tree(&dir).unwrap() {
        if !rel.ends_with(".yaml") {
            continue;
        }
        let text = String::from_utf8(bytes).unwrap();
        for doc in meshproof::yaml::documents(&rel, &text).unwrap() {
            if doc["kind"] != "CustomResourceDefinition" {
                continue;
            }
            let group = doc["spec"]["group"].as_str().unwrap().to_string();
            let kind = doc["spec"]["names"]["kind"].as_str().unwrap().to_string();
            for v in doc["spec"]["versions"].as_array().unwrap() {
                let schema = &v["schema"]["openAPIV3Schema"];
                if schema.is_object() && schema.as_object().unwrap().contains_key("properties") {
                    out.entry((
                        group.clone(),
                        kind.clone(),
                        v["name"].as_str().unwrap().to_string(),
                    ))
                    .or_insert((schema.clone(), rel.clone()));
                }
            }
        }
    }
    assert!(
        !out.is_empty(),
        "no CRD schema found under {}",
        dir.display()
    );
    Some(out)
}

/// Fields of `v` that `schema` does not declare (structural-schema pruning).
fn pruned(v: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == true {
        return;
    }
    match v {
        Value::Object(m) => {
            let props = schema["properties"].as_object();
            let additional = &schema["additionalProperties"];
            for (k, child) in m {
                let p = format!("{path}.{k}");
                match props.and_then(|ps| ps.get(k)) {
                    Some(s) => pruned(child, s, &p, out),
                    None if additional.is_object() => pruned(child, additional, &p, out),
                    None if additional == &Value::Bool(true) => {}
                    None if path.is_empty()
                        && ["apiVersion", "kind", "metadata"].contains(&k.as_str()) => {}
                    None => out.push(p),
                }
            }
        }
        Value::Array(items) => {
            for (i, it) in items.iter().enumerate() {
                pruned(it, &schema["items"], &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Schema errors the suite accepts on purpose, each with its reason: (apiVersion, kind, error).
///
/// smi-sdk-go's later v1alpha1 TrafficTarget schema (`crds/access.yaml`, not served there) requires a
/// numeric `destination.port`, but the v1alpha1 spec text makes `port` optional and the v1alpha1 Go
/// types that the v1alpha1-only controllers decode with (deislabs/smi-sdk-go `access/v1alpha1`, used by
/// smi-adapter-istio v0.1.0 and consul-smi-controller) declare it a string, so a number there would
/// break their decoding. Those controllers ship schema-less apiextensions v1beta1 CRDs. The suite's
/// v1alpha1 TrafficTargets therefore leave `port` out.
const ACCEPTED: [(&str, &str, &str); 1] = [(
    "access.smi-spec.io/v1alpha1",
    "TrafficTarget",
    "\"port\" is a required property at /destination",
)];

/// API versions the suite uses for which `../shared/smi-crds` has no schema, each with its reason.
/// A manifest of such a version is only checked to be one of the kinds listed; the test switches to
/// full validation as soon as a schema for it appears.
const UNSCHEMED: [(&str, &str, &str); 1] = [(
    "split.smi-spec.io/v1alpha1",
    "TrafficSplit",
    "smi-sdk-go main (a143f8bc) no longer defines v1alpha1; its served copies are linkerd-smi's \
     templates/trafficsplit-crd.yaml (v0.2.7), which is not in ../shared/smi-crds",
)];

fn problems(doc: &Value, schemas: &Schemas) -> Result<Vec<String>, String> {
    let api = doc["apiVersion"].as_str().unwrap();
    let (group, version) = api.split_once('/').unwrap();
    let kind = doc["kind"].as_str().unwrap();
    let key = (group.to_string(), kind.to_string(), version.to_string());
    let (schema, _) = schemas
        .get(&key)
        .ok_or_else(|| format!("no CRD schema for {kind} {group}/{version}"))?;
    let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
    let mut errs: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .filter(|e| !ACCEPTED.contains(&(api, kind, e.as_str())))
        .collect();
    let mut p = Vec::new();
    pruned(doc, schema, "", &mut p);
    errs.extend(
        p.into_iter()
            .map(|f| format!("{f} is not in the schema and would be pruned")),
    );
    Ok(errs)
}

#[test]
fn every_smi_manifest_of_the_suite_validates_against_the_crd_schemas() {
    let Some(schemas) =
        schemas("every_smi_manifest_of_the_suite_validates_against_the_crd_schemas")
    else {
        return;
    };
    let suite = common::suite();
    let mut checked = BTreeMap::new();
    let mut unschemed: BTreeMap<String, usize> = BTreeMap::new();
    for lc in &suite.cases {
        for (rel, bytes) in &lc.files {
            if !rel.ends_with(".yaml") || rel == "case.yaml" {
                continue;
            }
            let text = meshproof::substitute(std::str::from_utf8(bytes).unwrap(), "mp-test");
            for doc in meshproof::yaml::documents(rel, &text).unwrap() {
                let api = doc["apiVersion"].as_str().unwrap_or_default();
                if !api.contains("smi-spec.io/") {
                    continue;
                }
                let kind = doc["kind"].as_str().unwrap_or_default();
                let errs = match problems(&doc, &schemas) {
                    Ok(errs) => errs,
                    Err(e) => {
                        let known = UNSCHEMED.iter().any(|(a, k, _)| *a == api && *k == kind);
                        assert!(known, "{}/{rel}: {e}", lc.name());
                        *unschemed.entry(api.to_string()).or_insert(0) += 1;
                        continue;
                    }
                };
                assert!(
                    errs.is_empty(),
                    "{}/{rel} {}: {errs:?}",
                    lc.name(),
                    meshproof::verdict::object_ref(&doc)
                );
                *checked.entry(api.to_string()).or_insert(0) += 1;
            }
        }
    }
    // The suite uses every variant it claims: SMI v0.6.0 and v0.5.0 versions, OSM's split v1alpha2,
    // and the v1alpha1 shapes of Istio's smi-adapter and Consul's SMI controller.
    for api in [
        "access.smi-spec.io/v1alpha3",
        "access.smi-spec.io/v1alpha2",
        "access.smi-spec.io/v1alpha1",
        "specs.smi-spec.io/v1alpha4",
        "specs.smi-spec.io/v1alpha3",
        "specs.smi-spec.io/v1alpha1",
        "split.smi-spec.io/v1alpha4",
        "split.smi-spec.io/v1alpha3",
        "split.smi-spec.io/v1alpha2",
    ] {
        assert!(
            checked.get(api).copied().unwrap_or(0) > 0,
            "no manifest checked for {api}: {checked:?}"
        );
    }
    // What could not be validated is exactly what UNSCHEMED lists (and nothing listed is stale).
    let listed: Vec<&str> = UNSCHEMED.iter().map(|(a, _, _)| *a).collect();
    assert_eq!(
        unschemed.keys().map(String::as_str).collect::<Vec<_>>(),
        listed,
        "APIs without a schema in {}: {unschemed:?}",
        crd_dir().display()
    );
}

#[test]
fn accepted_deviations_are_real() {
    let Some(schemas) = schemas("accepted_deviations_are_real") else {
        return;
    };
    // The one accepted error really is what the schema says about a v1alpha1 TrafficTarget without a
    // port, and the same object with a numeric port validates (so the exception hides nothing else).
    let without: Value = meshproof::yaml::from_str(
        "t.yaml",
        "apiVersion: access.smi-spec.io/v1alpha1\nkind: TrafficTarget\nmetadata: {name: t}\ndestination: {kind: ServiceAccount, name: b, namespace: ns}\nsources: [{kind: ServiceAccount, name: a, namespace: ns}]\nspecs: [{kind: HTTPRouteGroup, name: r, matches: [m]}]\n",
    )
    .unwrap();
    let errs = problems(&without, &schemas).unwrap();
    assert!(errs.is_empty(), "{errs:?}");
    let (schema, _) = &schemas[&(
        "access.smi-spec.io".to_string(),
        "TrafficTarget".to_string(),
        "v1alpha1".to_string(),
    )];
    let raw: Vec<String> = jsonschema::validator_for(schema)
        .unwrap()
        .iter_errors(&without)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert_eq!(raw, [ACCEPTED[0].2], "{raw:?}");
    let mut with = without.clone();
    with["destination"]["port"] = serde_json::json!(9091);
    assert!(jsonschema::validator_for(schema).unwrap().is_valid(&with));
    // A v1alpha1 route wrapped in `spec` (the v1alpha2+ shape) is caught by the pruning rule.
    let wrapped: Value = meshproof::yaml::from_str(
        "t.yaml",
        "apiVersion: specs.smi-spec.io/v1alpha1\nkind: HTTPRouteGroup\nmetadata: {name: r}\nmatches: [{name: m}]\nspec:\n  matches: [{name: m}]\n",
    )
    .unwrap();
    let errs = problems(&wrapped, &schemas).unwrap();
    assert!(
        errs.iter()
            .any(|e| e.contains(".spec is not in the schema")),
        "{errs:?}"
    );
}

#[test]
fn the_checks_can_fail() {
    let Some(schemas) = schemas("the_checks_can_fail") else {
        return;
    };
    // The original suite's HTTPRouteGroup: `matches` at the top level, not under `spec`.
    let original: Value = meshproof::yaml::from_str(
        "t.yaml",
        "apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata: {name: http-rg}\nmatches:\n- name: testMatch\n  pathRegex: /metrics\n  methods: [\"*\"]\n",
    )
    .unwrap();
    let errs = problems(&original, &schemas).unwrap();
    assert!(
        errs.iter()
            .any(|e| e.contains(".matches is not in the schema")),
        "{errs:?}"
    );
    // A weight that is not a number.
    let bad: Value = meshproof::yaml::from_str(
        "t.yaml",
        "apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata: {name: s}\nspec:\n  service: app-svc\n  backends:\n  - {service: app-b, weight: heavy}\n",
    )
    .unwrap();
    let errs = problems(&bad, &schemas).unwrap();
    assert!(errs.iter().any(|e| e.contains("weight")), "{errs:?}");
    // A version no CRD defines.
    let unknown: Value = meshproof::yaml::from_str(
        "t.yaml",
        "apiVersion: split.smi-spec.io/v9\nkind: TrafficSplit\nmetadata: {name: s}\n",
    )
    .unwrap();
    assert!(problems(&unknown, &schemas).is_err());
}
