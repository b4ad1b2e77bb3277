//! Evidence collection, best effort, before anything is torn down: per namespace the logs of
//! every container (and of the previous instance of restarted ones), the events, YAML dumps of
//! the objects (Secrets as metadata only) and the image ids the pods run. Anything that looks
//! like a token or a private key is [`redact`]ed before it is written.
//!
//! Layout under the evidence directory:
//!
//! ```text
//! logs/<ns>/<pod>/<container>.log
//! logs/<ns>/<pod>/<container>.previous.log
//! logs/<ns>/events.yaml
//! logs/<ns>/objects/{pod,deployment,service,serviceaccount,configmap,secret}.yaml
//! logs/<ns>/objects/<kind>.<smi group>.yaml      e.g. traffictarget.access.smi-spec.io.yaml
//! ```

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DynamicObject, ListParams, LogParams};
use kube::Resource;
use regex::Regex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::discovery::{Resolver, Served};
use crate::{describe, Kube};

/// The SMI group whose resources are metrics, not objects; never dumped.
const SMI_METRICS_GROUP: &str = "metrics.smi-spec.io";
/// Largest log fetched per container (bytes).
const LOG_LIMIT_BYTES: i64 = 16 * 1024 * 1024;
/// The annotation `kubectl apply` stores the whole applied object in (with Secret data).
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What [`collect_evidence`](Kube::collect_evidence) wrote and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceReport {
    /// Every file written (under the evidence directory), sorted.
    pub files: Vec<PathBuf>,
    /// Image reference → image id (with digest) from the pods' container statuses.
    pub images: BTreeMap<String, String>,
    /// Everything that could not be collected, one line each (`<ns>: <what>: <why>`).
    pub failures: Vec<String>,
}

const PRIVATE_KEY_RE: &str =
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END [A-Z0-9 ]*-----|\z)";
const AUTHORIZATION_RE: &str =
    r#"(?i)(authorization["']?\s*[:=]\s*["']?\s*(?:bearer|basic)\s+)[^\s"',;]+"#;
const BEARER_RE: &str = r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]{16,}=*";
const JWT_RE: &str = r"eyJ[A-Za-z0-9_\-+/=]{8,}(?:\.[A-Za-z0-9_\-+/=]*){0,2}";

static PRIVATE_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(PRIVATE_KEY_RE).expect("valid regex"));
static AUTHORIZATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(AUTHORIZATION_RE).expect("valid regex"));
static BEARER: LazyLock<Regex> = LazyLock::new(|| Regex::new(BEARER_RE).expect("valid regex"));
static JWT: LazyLock<Regex> = LazyLock::new(|| Regex::new(JWT_RE).expect("valid regex"));

/// The same patterns over bytes (node logs may hold bytes that are not UTF-8).
type BytePattern = (regex::bytes::Regex, &'static [u8]);
static BYTE_PATTERNS: LazyLock<[BytePattern; 4]> = LazyLock::new(|| {
    let re = |p: &str| regex::bytes::Regex::new(p).expect("valid regex");
    [
        (re(PRIVATE_KEY_RE), b"[REDACTED]"),
        (re(AUTHORIZATION_RE), b"${1}[REDACTED]"),
        (re(BEARER_RE), b"${1}[REDACTED]"),
        (re(JWT_RE), b"[REDACTED]"),
    ]
});

/// Replaces secrets that may show up in logs and object dumps with `[REDACTED]`:
///
/// - private key blocks, `-----BEGIN ... PRIVATE KEY-----` through the matching `-----END ...-----`
///   (or the end of the text when the block is cut off);
/// - the credentials of `Authorization: Bearer ...` / `Basic ...` headers (the header name and
///   scheme are kept);
/// - long `Bearer <token>` strings anywhere;
/// - JWT-looking strings (`eyJ...`, also base64-encoded JSON such as docker config secrets).
///
/// Certificates (public) are kept. Redacting twice gives the same text.
pub fn redact(text: &str) -> String {
    let text = PRIVATE_KEY.replace_all(text, "[REDACTED]");
    let text = AUTHORIZATION.replace_all(&text, "${1}[REDACTED]");
    let text = BEARER.replace_all(&text, "${1}[REDACTED]");
    let text = JWT.replace_all(&text, "[REDACTED]");
    text.into_owned()
}

/// [`redact`] over bytes: the same patterns and replacements, for files that may not be UTF-8
/// (node logs); bytes outside the matches are kept as they are.
pub fn redact_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (re, with) in BYTE_PATTERNS.iter() {
        let next = match re.replace_all(&out, *with) {
            std::borrow::Cow::Owned(o) => Some(o),
            std::borrow::Cow::Borrowed(_) => None,
        };
        if let Some(o) = next {
            out = o;
        }
    }
    out
}

/// [`redact`]s every string inside a JSON value.
fn redact_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            let redacted = redact(s);
            if redacted != *s {
                *s = redacted;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(map) => map.values_mut().for_each(redact_value),
        _ => {}
    }
}

/// A path component made safe: only `[A-Za-z0-9._-]`, never `.`/`..`/empty.
fn safe(component: &str) -> String {
    let s: String = component
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        "_".to_string()
    } else {
        s
    }
}

/// Drops noise (managed fields) and anything secret-bearing from an object's metadata.
fn clean_metadata(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
}

/// A Secret reduced to its identity and metadata: never `data`/`stringData`, nor the
/// last-applied annotation (which holds the data of `kubectl apply`'d Secrets).
fn secret_metadata_only(api_version: &str, kind: &str, metadata: &Value) -> Value {
    let mut metadata = metadata.clone();
    if let Some(meta) = metadata.as_object_mut() {
        meta.remove("managedFields");
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove(LAST_APPLIED);
        }
    }
    serde_json::to_value(ObjectHead {
        api_version,
        kind,
        metadata,
    })
    .expect("an object's identity serializes")
}

/// An object reduced to its identity and metadata (what is recorded of a Secret).
#[derive(serde::Serialize)]
struct ObjectHead<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: &'a str,
    metadata: Value,
}

/// A `kind: List` document, as `logs/<namespace>/` records objects and events: its items
/// redacted.
#[derive(serde::Serialize)]
struct List {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    items: Vec<Value>,
}

impl List {
    fn of(mut items: Vec<Value>) -> List {
        items.iter_mut().for_each(redact_value);
        List {
            api_version: "v1",
            kind: "List",
            items,
        }
    }
}

fn name_of(v: &Value) -> &str {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Wraps objects as a `kind: List` document, sorted by name, redacted, as YAML.
fn list_yaml(mut items: Vec<Value>) -> Result<String, String> {
    items.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    serde_saphyr::to_string(&List::of(items)).map_err(|e| format!("rendering YAML: {e}"))
}

/// Accumulates the report while collecting.
struct Collector<'a> {
    dir: &'a Path,
    report: EvidenceReport,
}

impl Collector<'_> {
    async fn write(&mut self, relative: &Path, contents: &str) {
        let path = self.dir.join(relative);
        let result = async {
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            tokio::fs::write(&path, contents).await
        }
        .await;
        match result {
            Ok(()) => self.report.files.push(path),
            Err(e) => self
                .report
                .failures
                .push(format!("writing {}: {e}", path.display())),
        }
    }

    fn fail(&mut self, namespace: &str, what: &str, why: impl std::fmt::Display) {
        self.report
            .failures
            .push(format!("{namespace}: {what}: {why}"));
    }
}

impl Kube {
    /// Collects diagnostics for `namespaces` under `dir` (see the module docs for the layout).
    ///
    /// Best effort: an item that cannot be collected is recorded in
    /// [`failures`](EvidenceReport::failures) and the rest goes on. Secrets are fetched as
    /// metadata only; logs and dumps are [`redact`]ed.
    pub async fn collect_evidence(&self, namespaces: &[String], dir: &Path) -> EvidenceReport {
        let mut out = Collector {
            dir,
            report: EvidenceReport::default(),
        };
        let smi = self.smi_resources(&mut out).await;
        let mut seen = std::collections::BTreeSet::new();
        for ns in namespaces {
            if !seen.insert(ns.clone()) {
                continue;
            }
            self.collect_namespace(ns, &smi, &mut out).await;
        }
        out.report.files.sort();
        out.report
    }

    /// The namespaced SMI resources to dump (preferred version of each served SMI group).
    async fn smi_resources(&self, out: &mut Collector<'_>) -> Vec<Served> {
        let groups = match self.smi_groups().await {
            Ok(groups) => groups,
            Err(e) => {
                out.report.failures.push(format!("SMI objects: {e}"));
                return Vec::new();
            }
        };
        let mut resolver = Resolver::default();
        let mut resources = Vec::new();
        for group in groups.iter().filter(|g| g.name != SMI_METRICS_GROUP) {
            let Some(version) = group
                .preferred
                .clone()
                .or_else(|| group.versions.last().cloned())
            else {
                continue;
            };
            let api_version = format!("{}/{version}", group.name);
            match resolver.listable(self, &api_version).await {
                Ok(listed) => resources.extend(listed.into_iter().filter(|s| s.namespaced)),
                Err(e) => out.report.failures.push(format!(
                    "SMI objects: discovery of {api_version}: {}",
                    e.message()
                )),
            }
        }
        resources
    }

    async fn collect_namespace(&self, ns: &str, smi: &[Served], out: &mut Collector<'_>) {
        let base = PathBuf::from("logs").join(safe(ns));
        let objects = base.join("objects");

        // Pods: dump, images, logs.
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        match pods.list(&ListParams::default()).await {
            Ok(list) => {
                let items = list.items;
                for pod in &items {
                    record_images(pod, &mut out.report.images);
                }
                self.write_typed_dump(ns, &objects.join("pod.yaml"), &items, out)
                    .await;
                for pod in &items {
                    self.collect_pod_logs(ns, pod, &base, &pods, out).await;
                }
            }
            Err(e) => out.fail(ns, "list pods", describe(&e)),
        }

        self.dump_typed::<Deployment>(ns, &objects.join("deployment.yaml"), out)
            .await;
        self.dump_typed::<Service>(ns, &objects.join("service.yaml"), out)
            .await;
        self.dump_typed::<ServiceAccount>(ns, &objects.join("serviceaccount.yaml"), out)
            .await;
        self.dump_typed::<ConfigMap>(ns, &objects.join("configmap.yaml"), out)
            .await;
        self.dump_secrets(ns, &objects.join("secret.yaml"), out)
            .await;

        // Events, oldest first.
        let events: Api<Event> = Api::namespaced(self.client.clone(), ns);
        match events.list(&ListParams::default()).await {
            Ok(list) => {
                let mut items: Vec<Value> = list
                    .items
                    .iter()
                    .filter_map(|e| serde_json::to_value(e).ok())
                    .collect();
                items.iter_mut().for_each(clean_metadata);
                items.sort_by_cached_key(|e| (event_time(e), name_of(e).to_string()));
                match serde_saphyr::to_string(&List::of(items)) {
                    Ok(yaml) => out.write(&base.join("events.yaml"), &yaml).await,
                    Err(e) => out.fail(ns, "events", format!("rendering YAML: {e}")),
                }
            }
            Err(e) => out.fail(ns, "list events", describe(&e)),
        }

        // SMI objects.
        for served in smi {
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), ns, &served.resource);
            let file = objects.join(format!(
                "{}.{}.yaml",
                safe(&served.resource.kind.to_lowercase()),
                safe(&served.resource.group)
            ));
            match api.list(&ListParams::default()).await {
                Ok(list) => {
                    let items: Vec<Value> = list
                        .items
                        .into_iter()
                        .filter_map(|mut obj| {
                            if obj.types.is_none() {
                                obj.types = Some(kube::core::TypeMeta {
                                    api_version: served.resource.api_version.clone(),
                                    kind: served.resource.kind.clone(),
                                });
                            }
                            serde_json::to_value(obj).ok()
                        })
                        .map(|mut v| {
                            clean_metadata(&mut v);
                            v
                        })
                        .collect();
                    self.write_list(ns, &file, items, out).await;
                }
                Err(e) => out.fail(
                    ns,
                    &format!("list {}", served.resource.api_version),
                    format!("{}: {}", served.resource.kind, describe(&e)),
                ),
            }
        }
    }

    async fn write_list(&self, ns: &str, file: &Path, items: Vec<Value>, out: &mut Collector<'_>) {
        match list_yaml(items) {
            Ok(yaml) => out.write(file, &yaml).await,
            Err(e) => out.fail(ns, &file.display().to_string(), e),
        }
    }

    async fn write_typed_dump<K: Serialize>(
        &self,
        ns: &str,
        file: &Path,
        items: &[K],
        out: &mut Collector<'_>,
    ) {
        let values: Vec<Value> = items
            .iter()
            .filter_map(|item| serde_json::to_value(item).ok())
            .map(|mut v| {
                clean_metadata(&mut v);
                v
            })
            .collect();
        self.write_list(ns, file, values, out).await;
    }

    async fn dump_typed<K>(&self, ns: &str, file: &Path, out: &mut Collector<'_>)
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + Debug
            + DeserializeOwned
            + Serialize,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        match api.list(&ListParams::default()).await {
            Ok(list) => self.write_typed_dump(ns, file, &list.items, out).await,
            Err(e) => out.fail(ns, &format!("list {}", K::plural(&())), describe(&e)),
        }
    }

    /// Secrets are listed as metadata only (`PartialObjectMetadataList`), so their data never
    /// leaves the API server; the dump keeps identity and metadata, without the last-applied
    /// annotation.
    async fn dump_secrets(&self, ns: &str, file: &Path, out: &mut Collector<'_>) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        match api.list_metadata(&ListParams::default()).await {
            Ok(list) => {
                let items: Vec<Value> = list
                    .items
                    .iter()
                    .map(|s| {
                        let metadata = serde_json::to_value(&s.metadata).unwrap_or(Value::Null);
                        secret_metadata_only("v1", "Secret", &metadata)
                    })
                    .collect();
                self.write_list(ns, file, items, out).await;
            }
            Err(e) => out.fail(ns, "list secrets (metadata)", describe(&e)),
        }
    }

    async fn collect_pod_logs(
        &self,
        ns: &str,
        pod: &Pod,
        base: &Path,
        api: &Api<Pod>,
        out: &mut Collector<'_>,
    ) {
        let Some(pod_name) = pod.metadata.name.as_deref() else {
            return;
        };
        let Some(status) = pod.status.as_ref() else {
            return;
        };
        let statuses = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
            .chain(status.ephemeral_container_statuses.iter().flatten());
        for cs in statuses {
            let state = cs.state.as_ref();
            let started = state.is_some_and(|s| s.running.is_some() || s.terminated.is_some());
            let restarted = cs.restart_count > 0
                || cs
                    .last_state
                    .as_ref()
                    .is_some_and(|s| s.terminated.is_some());
            let dir = base.join(safe(pod_name));
            for (previous, wanted) in [(false, started), (true, restarted)] {
                if !wanted {
                    continue;
                }
                let params = LogParams {
                    container: Some(cs.name.clone()),
                    previous,
                    limit_bytes: Some(LOG_LIMIT_BYTES),
                    ..LogParams::default()
                };
                let suffix = if previous { ".previous.log" } else { ".log" };
                match api.logs(pod_name, &params).await {
                    Ok(text) => {
                        let file = dir.join(format!("{}{suffix}", safe(&cs.name)));
                        out.write(&file, &redact(&text)).await;
                    }
                    Err(e) => out.fail(
                        ns,
                        &format!(
                            "{}logs of {pod_name}/{}",
                            if previous { "previous " } else { "" },
                            cs.name
                        ),
                        describe(&e),
                    ),
                }
            }
        }
    }
}

/// Records `image → imageID` for every container status of `pod` that has an id.
fn record_images(pod: &Pod, images: &mut BTreeMap<String, String>) {
    let Some(status) = pod.status.as_ref() else {
        return;
    };
    for cs in status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .chain(status.ephemeral_container_statuses.iter().flatten())
    {
        if !cs.image.is_empty() && !cs.image_id.is_empty() {
            images
                .entry(cs.image.clone())
                .or_insert_with(|| cs.image_id.clone());
        }
    }
}

/// When an event happened, for ordering (`lastTimestamp`, `eventTime`, then creation).
fn event_time(event: &Value) -> String {
    [
        "/lastTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| event.pointer(p).and_then(Value::as_str))
    .unwrap_or_default()
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn byte_redaction_matches_text_redaction_and_keeps_other_bytes() {
        let samples = [
            "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nafter",
            "Authorization: Bearer abc.def",
            "token: bearer 0123456789abcdefghijkl",
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        ];
        for s in samples {
            assert_eq!(redact_bytes(s.as_bytes()), redact(s).into_bytes(), "{s}");
        }
        // Not UTF-8 around a token: the other bytes survive as they are.
        let mut bin = vec![0xff, 0xfe, b'\n'];
        bin.extend_from_slice(b"Authorization: Bearer secret-token-value\n");
        bin.push(0x80);
        let out = redact_bytes(&bin);
        assert_eq!(&out[..3], &[0xff, 0xfe, b'\n']);
        assert_eq!(*out.last().unwrap(), 0x80);
        assert!(!String::from_utf8_lossy(&out).contains("secret-token-value"));
    }

    #[test]
    fn private_key_blocks_are_redacted_whole() {
        let text = "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----\nafter";
        assert_eq!(redact(text), "before\n[REDACTED]\nafter");
        let pkcs8 = "k: -----BEGIN PRIVATE KEY-----\\nMIGHAgEA\\n-----END PRIVATE KEY-----\\n";
        assert_eq!(redact(pkcs8), "k: [REDACTED]\\n");
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nabc\n-----END ENCRYPTED PRIVATE KEY-----";
        assert_eq!(redact(encrypted), "[REDACTED]");
    }

    #[test]
    fn a_cut_off_private_key_is_redacted_to_the_end() {
        let text = "x -----BEGIN EC PRIVATE KEY-----\nMHcCAQEE";
        assert_eq!(redact(text), "x [REDACTED]");
    }

    #[test]
    fn certificates_are_kept() {
        let cert = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----";
        assert_eq!(redact(cert), cert);
    }

    #[test]
    fn authorization_headers_keep_their_scheme_only() {
        assert_eq!(
            redact("GET / HTTP/1.1\nAuthorization: Bearer abc.def\nHost: x"),
            "GET / HTTP/1.1\nAuthorization: Bearer [REDACTED]\nHost: x"
        );
        assert_eq!(
            redact(r#"{"authorization":"Bearer s3cr3t"}"#),
            r#"{"authorization":"Bearer [REDACTED]"}"#
        );
        assert_eq!(
            redact("authorization: basic dXNlcjpwYXNz"),
            "authorization: basic [REDACTED]"
        );
    }

    #[test]
    fn long_bearer_tokens_are_redacted_anywhere() {
        assert_eq!(
            redact("token=Bearer 0123456789abcdefXYZ_-~+/ end"),
            "token=Bearer [REDACTED] end"
        );
        // Prose is left alone.
        assert_eq!(
            redact("bearer token auth enabled"),
            "bearer token auth enabled"
        );
    }

    #[test]
    fn jwt_looking_strings_are_redacted() {
        let jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJl";
        assert_eq!(
            redact(&format!("token: {jwt} done")),
            "token: [REDACTED] done"
        );
        // A base64-encoded docker config (`{"auths":...`).
        assert_eq!(
            redact("eyJhdXRocyI6eyJyZWcuZXhhbXBsZSI6e319fQ=="),
            "[REDACTED]"
        );
    }

    #[test]
    fn redaction_is_idempotent_and_leaves_plain_text_alone() {
        let text = "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc";
        let once = redact(text);
        assert_eq!(once, "Authorization: Bearer [REDACTED]");
        assert_eq!(redact(&once), once);
        let plain = "GET /echo 200 served-by app-b eye";
        assert_eq!(redact(plain), plain);
    }

    #[test]
    fn secrets_keep_metadata_only() {
        let meta = json!({
            "name": "s", "namespace": "n",
            "annotations": {LAST_APPLIED: "{\"data\":{\"k\":\"c2VjcmV0\"}}", "keep": "me"},
            "managedFields": [{"manager": "kubectl"}]
        });
        let v = secret_metadata_only("v1", "Secret", &meta);
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "s", "namespace": "n", "annotations": {"keep": "me"}}})
        );
    }

    #[test]
    fn path_components_are_made_safe() {
        assert_eq!(safe("app-a-7d9c.x"), "app-a-7d9c.x");
        assert_eq!(safe(".."), "_");
        assert_eq!(safe("a/b"), "a_b");
        assert_eq!(safe(""), "_");
    }
}
