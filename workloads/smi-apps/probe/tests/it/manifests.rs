//! Checks of the workload manifests in `workloads/smi-apps/` (access and split layouts) and of
//! the probe's Dockerfile: structure, names, selectors, placeholders, the probe's port and env.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(!docs.is_empty());
    docs
}

fn kinds(docs: &[Value]) -> Vec<(String, String)> {
    docs.iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn matches(selector: &BTreeMap<String, String>, pod: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| pod.get(k) == Some(v))
}

/// Common checks; returns pod labels per Deployment name.
fn check_common(docs: &[Value]) -> BTreeMap<String, BTreeMap<String, String>> {
    let accounts: Vec<&str> = docs
        .iter()
        .filter(|d| d["kind"] == "ServiceAccount")
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    let mut pods = BTreeMap::new();
    for d in docs {
        assert!(
            d["metadata"].get("namespace").is_none(),
            "no namespace allowed: {d}"
        );
        if d["kind"] != "Deployment" {
            continue;
        }
        let name = d["metadata"]["name"].as_str().unwrap();
        assert_eq!(d["spec"]["replicas"], 1);
        let pod_labels = labels(&d["spec"]["template"]["metadata"]["labels"]);
        assert!(
            matches(&labels(&d["spec"]["selector"]["matchLabels"]), &pod_labels),
            "{name}"
        );
        let spec = &d["spec"]["template"]["spec"];
        let sa = spec["serviceAccountName"].as_str().unwrap();
        assert!(accounts.contains(&sa), "{name} uses {sa}, not defined");
        assert_eq!(sa, name.replace("app-", "service-"));
        let c = &spec["containers"][0];
        assert_eq!(c["image"], "{{probe_image}}");
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        let env: BTreeMap<&str, &str> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
            .collect();
        assert_eq!(
            env.get("SERVICE_NAME"),
            Some(&name),
            "probe name must equal the Deployment name"
        );
        assert_eq!(env.get("PORT"), Some(&"9091"));
        assert_eq!(c["ports"][0]["containerPort"], 9091);
        assert_eq!(c["ports"][0]["name"], "http");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["resources"]["requests"]["cpu"], "10m");
        assert_eq!(c["resources"]["requests"]["memory"], "16Mi");
        assert!(c["resources"]["limits"]["memory"].is_string());
        assert_eq!(c["securityContext"]["runAsNonRoot"], true);
        assert_eq!(c["securityContext"]["runAsUser"], 65532);
        pods.insert(name.to_string(), pod_labels);
    }
    for d in docs.iter().filter(|d| d["kind"] == "Service") {
        assert_eq!(d["spec"]["type"], "ClusterIP");
        let p = &d["spec"]["ports"][0];
        assert_eq!(
            (
                p["port"].as_u64(),
                p["name"].as_str(),
                p["appProtocol"].as_str()
            ),
            (Some(9091), Some("http"), Some("http"))
        );
        // Numeric, not the port's name: Traefik Mesh compares TrafficTarget ports with the
        // integer value of targetPort (pkg/topology/builder.go at v1.4.8).
        assert_eq!(
            p["targetPort"].as_u64(),
            Some(9091),
            "{}",
            d["metadata"]["name"]
        );
    }
    pods
}

/// Deployments whose pods the Service `name` selects.
fn selected(
    docs: &[Value],
    pods: &BTreeMap<String, BTreeMap<String, String>>,
    name: &str,
) -> Vec<String> {
    let svc = docs
        .iter()
        .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == name)
        .unwrap();
    let sel = labels(&svc["spec"]["selector"]);
    assert!(!sel.is_empty());
    pods.iter()
        .filter(|(_, l)| matches(&sel, l))
        .map(|(n, _)| n.clone())
        .collect()
}

#[test]
fn access_layout_has_three_independent_apps() {
    let docs = load("access.yaml");
    let mut k = kinds(&docs);
    k.sort();
    let want: Vec<(String, String)> = [
        ("Deployment", "app-a"),
        ("Deployment", "app-b"),
        ("Deployment", "app-c"),
        ("Service", "app-a"),
        ("Service", "app-b"),
        ("Service", "app-c"),
        ("ServiceAccount", "service-a"),
        ("ServiceAccount", "service-b"),
        ("ServiceAccount", "service-c"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(k, want);
    let pods = check_common(&docs);
    for x in ["app-a", "app-b", "app-c"] {
        assert_eq!(pods[x].get("app").map(String::as_str), Some(x));
        assert_eq!(selected(&docs, &pods, x), vec![x.to_string()]);
    }
}

#[test]
fn split_layout_has_versions_behind_a_root_service() {
    let docs = load("split.yaml");
    let pods = check_common(&docs);
    assert_eq!(pods.keys().collect::<Vec<_>>(), ["app-a", "app-b", "app-c"]);
    assert_eq!(pods["app-b"].get("version").map(String::as_str), Some("b"));
    assert_eq!(pods["app-c"].get("version").map(String::as_str), Some("c"));
    assert_eq!(pods["app-b"].get("app").map(String::as_str), Some("app"));
    assert_eq!(selected(&docs, &pods, "app-a"), ["app-a"]);
    assert_eq!(selected(&docs, &pods, "app-b"), ["app-b"]);
    assert_eq!(selected(&docs, &pods, "app-c"), ["app-c"]);
    assert_eq!(selected(&docs, &pods, "app-svc"), ["app-b", "app-c"]);
    let accounts = docs
        .iter()
        .filter(|d| d["kind"] == "ServiceAccount")
        .count();
    assert_eq!(accounts, 3);
}

#[test]
fn dockerfile_is_multistage_nonroot_and_pins_no_invented_digest() {
    let text = std::fs::read_to_string(dir().join("probe/Dockerfile")).unwrap();
    let froms = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(froms >= 2, "multi-stage");
    assert!(text.contains("USER 65532:65532"));
    assert!(text.contains("EXPOSE 9091"));
    assert!(text.contains("ENTRYPOINT [\"/usr/local/bin/meshproof-probe\"]"));
    assert!(
        !text.contains("sha256:"),
        "digests are resolved at build time, never written here"
    );
}
