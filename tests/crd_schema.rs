//! Every SMI manifest of the suite validates against the real CRD schemas (`../shared/smi-crds/`,
//! outside the repository: skipped with a notice when absent, required by `.ci/run`).
//!
//! Two checks per manifest: JSON-schema validation of the served version's `openAPIV3Schema`, and
//! the pruning rule of structural schemas (a field the schema does not declare would be silently
//! dropped by the API server, which is how the original suite's top-level `matches` got lost).

mod common;

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

fn problems(doc: &Value, schemas: &Schemas) -> Result<Vec<String>, String> {
    let (group, version) = doc["apiVersion"].as_str().unwrap().split_once('/').unwrap();
    let kind = doc["kind"].as_str().unwrap();
    let key = (group.to_string(), kind.to_string(), version.to_string());
    let (schema, _) = schemas
        .get(&key)
        .ok_or_else(|| format!("no CRD schema for {kind} {group}/{version}"))?;
    let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
    let mut errs: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
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
                let errs =
                    problems(&doc, &schemas).unwrap_or_else(|e| panic!("{}/{rel}: {e}", lc.name()));
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
    // The suite uses every variant it claims: SMI v0.6.0 and v0.5.0 versions, and OSM's split v1alpha2.
    for api in [
        "access.smi-spec.io/v1alpha3",
        "access.smi-spec.io/v1alpha2",
        "specs.smi-spec.io/v1alpha4",
        "specs.smi-spec.io/v1alpha3",
        "split.smi-spec.io/v1alpha4",
        "split.smi-spec.io/v1alpha3",
        "split.smi-spec.io/v1alpha2",
    ] {
        assert!(
            checked.get(api).copied().unwrap_or(0) > 0,
            "no manifest checked for {api}: {checked:?}"
        );
    }
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
