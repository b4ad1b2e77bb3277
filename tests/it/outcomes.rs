//! Outcomes that never overstate: the real `meshproof run` against an API server that refuses
//! namespace creation ends `incomplete` with exit 4, and every rendering of its bundle says so.
//!
//! The API server is the shared fake HTTP server behind a kubeconfig, so the real code path runs:
//! kube-rs client, discovery, the suite runner, evidence, `pack`, `verify`, the exit code.

use crate::common;

use std::path::Path;

use common::bin;
use common::http::{FakeHttp, Reply};
use predicates::prelude::*;
use serde_json::{json, Value};

/// An API server whose RBAC lets the caller read discovery and nodes but nothing else: every
/// write (namespace creation first) and every other read answers 403 Forbidden, as Kubernetes
/// does (a `Status` object). The shared fake HTTP server.
fn forbidding_api_server() -> FakeHttp {
    FakeHttp::start(|req, _| {
        let (status, reply) = answer(&req.method, &req.path);
        Reply::new(status)
            .header("Content-Type", "application/json")
            .header("Connection", "close")
            .body(reply.to_string().as_bytes())
    })
}

fn answer(method: &str, path: &str) -> (u16, Value) {
    match (method, path) {
        ("GET", "/version") => (
            200,
            json!({"major": "1", "minor": "29", "gitVersion": "v1.29.2", "gitCommit": "0",
                   "gitTreeState": "clean", "buildDate": "2024-02-14T10:32:40Z",
                   "goVersion": "go1.21.7", "compiler": "gc", "platform": "linux/amd64"}),
        ),
        ("GET", "/api") => (
            200,
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        ),
        // No SMI group is served: the mesh is "installed" but discovery finds nothing.
        ("GET", "/apis") => (
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
        ),
        ("GET", "/api/v1/nodes") => (
            200,
            json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": []}),
        ),
        _ => {
            let resource = path.trim_start_matches('/').replace('/', " ");
            (
                403,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": format!("forbidden: User \"system:serviceaccount:ci:runner\" cannot {} {resource}", method.to_lowercase()),
                       "reason": "Forbidden", "code": 403}),
            )
        }
    }
}

fn kubeconfig(dir: &Path, server: &str) -> std::path::PathBuf {
    let p = dir.join("kubeconfig.yaml");
    std::fs::write(
        &p,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n"
        ),
    )
    .unwrap();
    p
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

fn show(bundle: &Path, format: &str) -> assert_cmd::assert::Assert {
    bin()
        .args(["show", "--format", format])
        .arg(bundle)
        .assert()
}

#[test]
fn a_run_whose_namespaces_are_refused_is_incomplete_exit_4_and_every_export_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let server = forbidding_api_server();
    let kc = kubeconfig(tmp.path(), &server.url());
    let out = tmp.path().join("refused.tar.zst");
    let run = bin()
        .env("MESHPROOF_PROBE_IMAGE", "meshproof-probe:test")
        .args([
            "run",
            "--mesh",
            "osm",
            "--mesh-installed",
            "--quiet",
            "--kubeconfig",
        ])
        .arg(&kc)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(4)
        .stderr(predicate::str::contains("run status incomplete"));
    let summary = stdout(&run);
    assert!(summary.contains("status incomplete"), "{summary}");
    // The run reached the cases and the API server refused their namespaces.
    let requests: Vec<String> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("PATCH /api/v1/namespaces/mp-")),
        "{requests:?}"
    );

    // The bundle verifies, and says what it is.
    let files =
        meshproof::bundle::read::read_selected(&out, &Default::default(), |_| true).unwrap();
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest["run"]["status"], "incomplete");
    assert!(
        !files.contains_key("report/meshery.json"),
        "no Meshery export is generated for an incomplete run"
    );
    let verify = stdout(&bin().arg("verify").arg(&out).assert().code(0));
    assert!(
        verify.contains("run status      incomplete, 4 cases: 4 error"),
        "{verify}"
    );
    bin()
        .args(["verify", "--require", "none"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("run status incomplete"));

    // Every case is an error, with the API server's refusal, and no capability.
    let table = stdout(&show(&out, "table").code(0));
    assert!(table.contains("status incomplete"), "{table}");
    assert!(table.contains("NOT COMPLETE: run status incomplete: 4 of 4 case(s) did not finish"));
    for case in [
        "traffic-access",
        "traffic-spec",
        "traffic-split",
        "traffic-metrics",
    ] {
        let row = table.lines().find(|l| l.starts_with(case)).unwrap();
        assert!(row.contains(" error "), "{row}");
        assert!(!row.contains("None"), "{row}");
    }
    assert!(table.contains("forbidden"), "{table}");
    let json: Value = serde_json::from_str(&stdout(&show(&out, "json").code(0))).unwrap();
    assert_eq!(json["run"]["status"], "incomplete");
    assert_eq!(json["run"]["complete"], false);
    for c in json["cases"].as_array().unwrap() {
        assert_eq!(c["status"], "error", "{c}");
        assert_eq!(c["capability"], Value::Null, "{c}");
    }
    let junit = stdout(&show(&out, "junit").code(0));
    assert!(
        junit.contains("<testsuite name=\"run\" tests=\"1\" failures=\"0\" errors=\"1\""),
        "{junit}"
    );
    assert!(junit.matches("<error message=\"error in step").count() >= 4);
    let md = stdout(&show(&out, "markdown").code(0));
    assert!(md.contains("status **incomplete**"), "{md}");
    assert!(md.contains("> **Not complete**"), "{md}");
    assert!(md.contains("| traffic-access | traffic-access |"));
    assert!(md.contains("| error |"), "{md}");
    // Meshery's format cannot say "incomplete": refused, exit 2, nothing on stdout.
    let meshery = show(&out, "meshery")
        .code(2)
        .stderr(predicate::str::contains("needs a complete run"));
    assert!(stdout(&meshery).is_empty());
}

#[test]
fn verify_require_fails_on_aborted_and_empty_bundles_and_prints_the_status() {
    let tmp = tempfile::tempdir().unwrap();
    // An aborted run that judged no case, and a "complete" run directory without observations.
    for (name, status) in [("aborted", "aborted"), ("empty", "complete")] {
        let dir = tmp.path().join(name);
        common::write_run_dir_with(&dir, &Default::default(), "osm@1.2.4");
        let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        std::fs::write(
            dir.join("manifest.json"),
            text.replace("\"complete\"", &format!("\"{status}\"")),
        )
        .unwrap();
        let bundle = tmp.path().join(format!("{name}.tar.zst"));
        bin()
            .args(["bundle", "pack"])
            .arg(&dir)
            .arg("-o")
            .arg(&bundle)
            .assert()
            .code(0);
        // `pack` never calls a run without cases complete.
        let want = if name == "aborted" {
            "aborted"
        } else {
            "incomplete"
        };
        let out = stdout(&bin().arg("verify").arg(&bundle).assert().code(0));
        assert!(
            out.contains(&format!("run status      {want}, 0 cases")),
            "{out}"
        );
        for level in ["full", "partial", "none"] {
            bin()
                .args(["verify", "--require", level])
                .arg(&bundle)
                .assert()
                .code(1)
                .stdout(predicate::str::contains(format!("run status      {want}")))
                .stderr(predicate::str::contains(format!(
                    "run status {want}: no case was judged"
                )));
        }
        // JUnit: an error, never zero passing tests.
        let junit = stdout(&show(&bundle, "junit").code(0));
        assert!(
            junit.contains("tests=\"1\" failures=\"0\" errors=\"1\""),
            "{junit}"
        );
        assert!(junit.contains("<error message=\"run 0123456789abcdef is not complete\">"));
        show(&bundle, "meshery").code(2);
    }
}

#[test]
fn a_manifest_claiming_complete_for_unfinished_cases_fails_verification() {
    // A harness-error case in a run directory whose manifest says `complete`: `pack` records
    // `incomplete`; a bundle whose manifest was edited back to `complete` fails verification.
    let tmp = tempfile::tempdir().unwrap();
    let suite = common::suite();
    let mut obs = common::observe_suite(&suite, common::MeshModel::Conformant);
    let split = obs.get_mut("traffic-split").unwrap();
    split.steps[3].status = meshproof::observation::StepStatus::HarnessError;
    split.steps[3].error = Some("port-forward to app-a closed".into());
    let dir = tmp.path().join("run");
    common::write_run_dir_with(&dir, &obs, "osm@1.2.4");
    let bundle = tmp.path().join("b.tar.zst");
    let packed = meshproof::seal::pack(&dir, &bundle, &Default::default()).unwrap();
    assert_eq!(
        packed.manifest.run.status,
        meshproof::bundle::RunStatus::Incomplete
    );
    let junit = stdout(&show(&bundle, "junit").code(0));
    assert!(
        junit.contains("<error message=\"error in step 04-"),
        "{junit}"
    );
    assert!(junit.contains("port-forward to app-a closed"), "{junit}");

    let mut files =
        meshproof::bundle::read::read_selected(&bundle, &Default::default(), |_| true).unwrap();
    let text = String::from_utf8(files["manifest.json"].clone()).unwrap();
    files.insert(
        "manifest.json".into(),
        text.replace("\"incomplete\"", "\"complete\"").into_bytes(),
    );
    let mut sums = String::new();
    for (k, v) in &files {
        if k != "SHA256SUMS" {
            sums.push_str(&format!("{}  {k}\n", meshproof::sha256_hex(v)));
        }
    }
    files.insert("SHA256SUMS".into(), sums.into_bytes());
    let forged = tmp.path().join("forged.tar.zst");
    let mut enc =
        zstd::stream::write::Encoder::new(std::fs::File::create(&forged).unwrap(), 3).unwrap();
    // Like meshproof's own: readers refuse a frame without its content checksum.
    enc.include_checksum(true).unwrap();
    let mut tar = tar::Builder::new(enc);
    for (k, v) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(v.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, k, v.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    bin()
        .arg("verify")
        .arg(&forged)
        .assert()
        .code(3)
        .stdout(predicate::str::contains(
            "run status `complete` contradicts the verdicts",
        ));
}

/// `--output jsonl`: stdout is JSON lines only (every line parses), ending with a `run` event
/// that says the run is incomplete; the human summary goes to stderr.
#[test]
fn jsonl_stdout_is_only_json_lines_and_the_summary_goes_to_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let server = forbidding_api_server();
    let kc = kubeconfig(tmp.path(), &server.url());
    let out = tmp.path().join("refused.tar.zst");
    let run = bin()
        .args([
            "run",
            "--mesh",
            "osm",
            "--mesh-installed",
            "--output",
            "jsonl",
        ])
        .args(["--probe-image", "meshproof-probe:test", "--kubeconfig"])
        .arg(&kc)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(4);
    let text = stdout(&run);
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert!(events.iter().all(|e| e["event"].is_string()), "{text}");
    assert_eq!(events[0]["event"], "plan", "{text}");
    assert!(events.iter().any(|e| e["event"] == "phase"), "{text}");
    assert_eq!(
        events.iter().filter(|e| e["event"] == "case").count(),
        4,
        "{text}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run");
    assert_eq!(last["status"], "incomplete");
    assert_eq!(last["bundle"], out.display().to_string());
    assert_eq!(last["cases"].as_array().unwrap().len(), 4);
    let err = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    assert!(
        err.contains("status incomplete"),
        "summary on stderr: {err}"
    );
    assert!(err.contains(&format!("bundle: {}", out.display())), "{err}");
    // An external cluster is named by its context and server version, not by a kind pin, and
    // recorded as found.
    assert!(
        err.contains("cluster external fake (Kubernetes v1.29.2)"),
        "{err}"
    );
    let files =
        meshproof::bundle::read::read_selected(&out, &Default::default(), |_| true).unwrap();
    let cluster: Value = serde_json::from_slice(&files["resolved/cluster.json"]).unwrap();
    assert_eq!(cluster["external"], true);
    assert_eq!(cluster["kubernetes_server"], "v1.29.2");
    assert_eq!(cluster["nodes"], json!([]));
    let mesh: Value = serde_json::from_slice(&files["resolved/mesh.json"]).unwrap();
    assert_eq!(mesh["requested_pin"], "osm@1.2.4");
    assert_eq!(mesh["running_images"], json!({}));
    assert!(
        mesh["note"]
            .as_str()
            .unwrap()
            .starts_with("no pod found in the mesh namespaces"),
        "{mesh}"
    );
}
