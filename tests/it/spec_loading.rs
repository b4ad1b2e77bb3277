//! Spec loading: every input of the repository loads; bad files give errors with file, line and field.

use crate::common;

use meshproof::spec::catalog::Catalog;
use meshproof::spec::{case, cluster, mesh, workload};

#[test]
fn every_input_of_the_repository_loads() {
    let c = Catalog::new(common::repo());
    let clusters = c.clusters().unwrap();
    assert!(clusters.len() >= 2);
    for cl in &clusters {
        assert!(
            meshproof::spec::is_sha256_digest(cl.value.spec.node_image_digest()),
            "{}",
            cl.path
        );
    }
    let meshes = c.meshes().unwrap();
    assert!(meshes.iter().any(|m| m.value.id() == "none"));
    assert!(meshes.iter().any(|m| m.value.id() == "osm@1.2.4"));
    let workloads = c.workloads().unwrap();
    assert_eq!(workloads.len(), 1);
    let w = &workloads[0].value;
    assert_eq!(w.spec.layouts["access"].manifests, ["access.yaml"]);
    assert_eq!(w.spec.layouts["split"].manifests, ["split.yaml"]);
    let (suite, _) = c.suite("smi").unwrap();
    let names: Vec<&str> = suite.cases.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "traffic-access",
            "traffic-spec",
            "traffic-split",
            "traffic-metrics",
            // The harness smoke (`smiSpec: harness`) sorts after the SMI specifications.
            "smoke"
        ]
    );
    // Meshery's step counts: 7, 6, 11.
    let steps: Vec<usize> = suite
        .cases
        .iter()
        .map(|c| c.case.spec.steps.len())
        .collect();
    assert_eq!(steps, [7, 6, 11, 5, 2]);
    for lc in &suite.cases {
        assert!(
            w.spec.layouts.contains_key(&lc.case.spec.layout),
            "{}",
            lc.name()
        );
    }
}

#[test]
fn the_workload_manifests_parse_and_carry_the_image_placeholder() {
    let c = Catalog::new(common::repo());
    let w = c.select_workload("smi-apps").unwrap().value;
    for (name, layout) in &w.spec.layouts {
        for m in &layout.manifests {
            let path = common::repo().join("workloads/smi-apps").join(m);
            let text = std::fs::read_to_string(&path).unwrap();
            let docs = meshproof::yaml::documents(m, &text).unwrap();
            let deployments: Vec<&serde_json::Value> =
                docs.iter().filter(|d| d["kind"] == "Deployment").collect();
            let names: Vec<&str> = deployments
                .iter()
                .map(|d| d["metadata"]["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, layout.ready, "{name}");
            for d in deployments {
                let c = &d["spec"]["template"]["spec"]["containers"][0];
                assert_eq!(c["image"], w.spec.image.placeholder.as_str());
                assert_eq!(c["imagePullPolicy"], "IfNotPresent");
                assert_eq!(c["ports"][0]["containerPort"], w.spec.port);
                assert!(c["readinessProbe"].is_object());
            }
        }
    }
}

fn load(path: &std::path::Path) -> String {
    let name = path.file_name().unwrap().to_str().unwrap();
    let shown = format!("tests/fixtures/specs/bad/{name}");
    let text = std::fs::read_to_string(path).unwrap();
    let err = if name.starts_with("mesh-") {
        mesh::load(&shown, &text).err()
    } else if name.starts_with("cluster-") {
        cluster::load(&shown, &text).err()
    } else if name.starts_with("workload-") {
        workload::load(&shown, &text).err()
    } else {
        case::load(&shown, &text, &|_| false).err()
    };
    match err {
        Some(e) => e.to_string(),
        None => panic!("{shown} loaded but must not"),
    }
}

#[test]
fn bad_specs_are_reported_with_file_line_and_field() {
    let dir = common::repo().join("tests/fixtures/specs/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    let mut report = String::new();
    for f in &files {
        report.push_str(&load(f));
        report.push('\n');
    }
    insta::assert_snapshot!(report);
    // The issue's own example shape: `meshes/osm/1.2.4.yaml:14: install.helm.version: expected a string`.
    let e = load(&dir.join("mesh-helm-version-list.yaml"));
    assert!(
        e.starts_with(
            "tests/fixtures/specs/bad/mesh-helm-version-list.yaml:17: spec.install.helm.version:"
        ),
        "{e}"
    );
}
