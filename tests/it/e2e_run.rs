//! End to end on a real kind cluster: `meshproof run --mesh none`, then `verify` on its bundle.
//! The control run's harness smoke (`suites/smi/smoke`) proves the data path: the workload came
//! up, the driver port-forwarded to the probes, and the probes called each other through their
//! Services, every call answered by the app it was sent to.
//!
//! Ignored by default: it needs Docker, kind (matching the default cluster pin), kubectl and
//! internet (to pull the node image). Run it with
//! `cargo test --test it e2e_run -- --ignored --nocapture`.

use crate::common;

#[test]
#[ignore = "needs Docker, kind, kubectl and internet (pulls the kind node image)"]
fn run_none_on_kind_then_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("none.tar.zst");
    // The control run: no mesh, so every SMI case ends None and the smoke Full; the run itself
    // must complete (exit 0).
    common::bin()
        .args(["run", "--mesh", "none", "--timeout-scale", "0.5", "--out"])
        .arg(&out)
        .timeout(std::time::Duration::from_secs(1800))
        .assert()
        .code(0);
    assert!(out.is_file());
    let a = common::bin().arg("verify").arg(&out).assert().code(0);
    let text = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok")).count(),
        5,
        "{text}"
    );
    // The bundle records the pinned node image and the probe image actually loaded.
    let files = meshproof::bundle::read::read_selected(&out, &Default::default(), |p| {
        p.starts_with("resolved/") || p == "verdicts.json" || p == "observations/smoke.json"
    })
    .unwrap();
    // The harness smoke passed: every call between the apps succeeded, answered by its target.
    let verdicts: serde_json::Value = serde_json::from_slice(&files["verdicts.json"]).unwrap();
    let cases = verdicts["cases"].as_array().unwrap();
    let smoke = cases
        .iter()
        .find(|c| c["name"] == "smoke")
        .expect("the control run plans the smoke");
    assert_eq!(smoke["status"], "passed", "{smoke:#}");
    assert_eq!(smoke["capability"], "Full", "{smoke:#}");
    let smi: Vec<_> = cases.iter().filter(|c| c["name"] != "smoke").collect();
    assert_eq!(smi.len(), 4);
    assert!(
        smi.iter().all(|c| c["capability"] == "None"),
        "{verdicts:#}"
    );
    let obs: meshproof::observation::CaseObservation =
        serde_json::from_slice(&files["observations/smoke.json"]).unwrap();
    let reach = obs.steps.iter().find(|s| s.name == "reach").unwrap();
    let held = reach.attempts.last().unwrap();
    assert_eq!(held.traffic.len(), 3);
    for t in &held.traffic {
        assert!(
            t.records
                .iter()
                .all(|r| r.status == Some(200) && r.backend.is_some()),
            "{:?}",
            t.records
        );
    }
    let cluster: serde_json::Value =
        serde_json::from_slice(&files["resolved/cluster.json"]).unwrap();
    assert!(cluster["node_image"].as_str().unwrap().contains("@sha256:"));
    let image: serde_json::Value =
        serde_json::from_slice(&files["resolved/workload-image.json"]).unwrap();
    assert!(image["id"].as_str().unwrap().starts_with("sha256:"));
    // Nothing of the cluster is left behind.
    common::bin()
        .arg("gc")
        .assert()
        .code(0)
        .stdout(predicates::str::contains("no leftover"));
}
