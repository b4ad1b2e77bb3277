//! Server-side apply of multi-document manifests through discovery, plus `get` and `delete` of
//! single manifest objects. Every object gets an outcome; one failing object never aborts the
//! others.
//!
//! Order of an apply: CustomResourceDefinitions first (each then waited for `Established`),
//! then Namespaces, then everything else in document order.

use std::collections::BTreeSet;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::Value;
use tokio::time::Instant;

use crate::discovery::{no_matches, split_api_version, Resolver, Served, Unresolved};
use crate::poll::{poll, Check, PollEnd};
use crate::wait::Condition;
use crate::{describe, is_not_found, Kube, FIELD_MANAGER};

/// What happened to one object of an [`apply`](Kube::apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// `Kind/name`, e.g. `Deployment/app-a`.
    pub object: String,
    /// The namespace it was applied to; `None` for cluster-scoped (or unresolved) objects.
    pub namespace: Option<String>,
    /// True when the API server accepted the apply (and, for a CRD, it became Established).
    pub ok: bool,
    /// Why it failed (the API server's message, `no matches for kind ...`, a wait timeout).
    pub message: Option<String>,
}

/// What happened to one object of a [`delete`](Kube::delete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// `Kind/name`.
    pub object: String,
    /// True when the object is gone (including when it was already absent, or its kind is not
    /// served at all).
    pub ok: bool,
    /// Details: why it is not gone, or a note such as "already absent".
    pub message: Option<String>,
}

/// A `get` or `delete` could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The document lacks `apiVersion`, `kind` or `metadata.name`.
    #[error("manifest object {what} is not usable: {reason}")]
    Invalid {
        /// A description of the document (`Kind/name` as far as known).
        what: String,
        /// What is missing.
        reason: String,
    },
    /// Discovery of the object's apiVersion failed (not "not served", which is not an error).
    #[error("cannot resolve {object} ({api_version}): {message}")]
    Discovery {
        /// `Kind/name`.
        object: String,
        /// The apiVersion looked up.
        api_version: String,
        /// What went wrong.
        message: String,
    },
    /// The API server refused or failed the request.
    #[error("{verb} {object}{} failed: {message}", ns_suffix(.namespace))]
    Api {
        /// `get` or `delete`.
        verb: &'static str,
        /// `Kind/name`.
        object: String,
        /// The namespace, for namespaced objects.
        namespace: Option<String>,
        /// The API server's message.
        message: String,
        /// Asking again may succeed (a 5xx answer, a broken connection): see [`crate::is_transient`].
        transient: bool,
    },
}

impl ObjectError {
    /// Whether the same request may succeed if repeated. A failed discovery of the object's
    /// group version is transient (not-served is no error at all, so what fails here is the
    /// API server or an aggregated API without a ready backend); an unusable document is not.
    pub fn is_transient(&self) -> bool {
        match self {
            ObjectError::Invalid { .. } => false,
            ObjectError::Discovery { .. } => true,
            ObjectError::Api { transient, .. } => *transient,
        }
    }
}

fn ns_suffix(namespace: &Option<String>) -> String {
    namespace
        .as_ref()
        .map(|ns| format!(" in namespace {ns}"))
        .unwrap_or_default()
}

/// The identity of one manifest document.
#[derive(Debug, Clone)]
struct Doc {
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
    body: Value,
}

impl Doc {
    fn parse(value: &Value) -> Result<Doc, (String, String)> {
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let kind = value.get("kind").and_then(text);
        let name = value.pointer("/metadata/name").and_then(text);
        let what = format!(
            "{}/{}",
            kind.as_deref().unwrap_or("<no kind>"),
            name.as_deref().unwrap_or("<no name>")
        );
        if !value.is_object() {
            return Err((what, "not a mapping".to_string()));
        }
        let api_version = value
            .get("apiVersion")
            .and_then(text)
            .ok_or_else(|| (what.clone(), "no apiVersion".to_string()))?;
        let kind = kind.ok_or_else(|| (what.clone(), "no kind".to_string()))?;
        let name = name.ok_or_else(|| (what.clone(), "no metadata.name".to_string()))?;
        Ok(Doc {
            api_version,
            kind,
            name,
            namespace: value.pointer("/metadata/namespace").and_then(text),
            body: value.clone(),
        })
    }

    fn object(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    fn is_crd(&self) -> bool {
        self.kind == "CustomResourceDefinition"
            && split_api_version(&self.api_version).0 == "apiextensions.k8s.io"
    }

    fn is_namespace(&self) -> bool {
        self.kind == "Namespace" && self.api_version == "v1"
    }

    /// The group and kind a CRD document defines.
    fn crd_defines(&self) -> Option<(String, String)> {
        let group = self.body.pointer("/spec/group")?.as_str()?;
        let kind = self.body.pointer("/spec/names/kind")?.as_str()?;
        Some((group.to_string(), kind.to_string()))
    }
}

/// Expands `kind: List` documents and drops empty (null) documents.
fn flatten(docs: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for doc in docs {
        match doc {
            Value::Null => {}
            Value::Object(map)
                if map.get("kind").and_then(Value::as_str) == Some("List")
                    && map.get("items").is_some_and(Value::is_array) =>
            {
                out.extend(flatten(
                    map["items"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                ));
            }
            other => out.push(other.clone()),
        }
    }
    out
}

/// Picks the namespace of a namespaced object: its own, else the caller's default, else the
/// client's default namespace.
fn target_namespace(kube: &Kube, doc: &Doc, default_namespace: Option<&str>) -> String {
    doc.namespace
        .clone()
        .or_else(|| default_namespace.map(str::to_string))
        .unwrap_or_else(|| kube.client.default_namespace().to_string())
}

fn dynamic_api(kube: &Kube, served: &Served, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(kube.client.clone(), ns, &served.resource),
        None => Api::all_with(kube.client.clone(), &served.resource),
    }
}

/// Time left until `deadline`, in whole milliseconds (so messages read "399ms").
fn remaining(deadline: Instant) -> Duration {
    let left = deadline.saturating_duration_since(Instant::now());
    Duration::from_millis(u64::try_from(left.as_millis()).unwrap_or(u64::MAX))
}

impl Kube {
    /// Server-side applies `docs` (parsed manifest documents; `null` documents are skipped and
    /// `kind: List` documents expanded) with field manager `meshproof`, forcing conflicts.
    ///
    /// CustomResourceDefinitions go first and each is waited for `Established`; then Namespaces;
    /// then the rest in document order. Whether an object is namespaced comes from discovery;
    /// namespaced objects without `metadata.namespace` go to `default_namespace` (else the
    /// client's default namespace). `timeout` bounds the whole call, CRD waits included.
    ///
    /// Returns one outcome per object, in the order they were applied. Nothing aborts the
    /// batch: a kind the server does not serve, an invalid object or a refused apply is an outcome
    /// with `ok: false`. Applying the same documents again is idempotent.
    pub async fn apply(
        &self,
        docs: &[Value],
        default_namespace: Option<&str>,
        timeout: Duration,
    ) -> Vec<ApplyOutcome> {
        let deadline = Instant::now() + timeout;
        let mut outcomes = Vec::new();
        let mut parsed = Vec::new();
        for value in flatten(docs) {
            match Doc::parse(&value) {
                Ok(doc) => parsed.push(doc),
                Err((object, reason)) => outcomes.push(ApplyOutcome {
                    object,
                    namespace: None,
                    ok: false,
                    message: Some(format!("not a Kubernetes object: {reason}")),
                }),
            }
        }
        let (crds, rest): (Vec<Doc>, Vec<Doc>) = parsed.into_iter().partition(Doc::is_crd);
        let (namespaces, rest): (Vec<Doc>, Vec<Doc>) =
            rest.into_iter().partition(Doc::is_namespace);

        let mut resolver = Resolver::default();
        // Phase 1: CRDs, then wait for each to be Established.
        let mut crd_outcomes = Vec::new();
        for doc in &crds {
            crd_outcomes.push(
                self.apply_one(&mut resolver, doc, default_namespace, deadline)
                    .await,
            );
        }
        let mut defined = BTreeSet::new();
        for (doc, outcome) in crds.iter().zip(crd_outcomes.iter_mut()) {
            if !outcome.ok {
                continue;
            }
            let condition = Condition::CrdEstablished {
                name: doc.name.clone(),
            };
            match self.wait(&condition, remaining(deadline)).await {
                Ok(()) => {
                    if let Some(defines) = doc.crd_defines() {
                        defined.insert(defines);
                    }
                }
                Err(e) => {
                    outcome.ok = false;
                    outcome.message = Some(format!("applied, but {e}"));
                }
            }
        }
        outcomes.extend(crd_outcomes);
        // Phase 2: namespaces. Phase 3: the rest, in document order.
        for doc in namespaces.iter().chain(rest.iter()) {
            let mut outcome = self
                .apply_one(&mut resolver, doc, default_namespace, deadline)
                .await;
            let (group, _) = split_api_version(&doc.api_version);
            let just_defined = defined.contains(&(group.to_string(), doc.kind.clone()));
            if !outcome.ok
                && just_defined
                && outcome
                    .message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("no matches for kind"))
            {
                // A CRD of this batch defines the kind; discovery can lag behind Established.
                outcome = self
                    .apply_after_discovery(&mut resolver, doc, default_namespace, deadline)
                    .await
                    .unwrap_or(outcome);
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Re-polls discovery for `doc`'s kind until it is served (or the deadline), then applies.
    async fn apply_after_discovery(
        &self,
        resolver: &mut Resolver,
        doc: &Doc,
        default_namespace: Option<&str>,
        deadline: Instant,
    ) -> Option<ApplyOutcome> {
        let served = poll(remaining(deadline), || async {
            // A fresh resolver per check: every attempt asks the server again.
            match Resolver::default()
                .resolve(self, &doc.api_version, &doc.kind)
                .await
            {
                Ok(_) => Check::Done(()),
                Err(e) => Check::Pending(e.message().to_string()),
            }
        })
        .await;
        match served {
            Ok(()) => {
                resolver.forget(&doc.api_version);
                Some(
                    self.apply_one(resolver, doc, default_namespace, deadline)
                        .await,
                )
            }
            Err(PollEnd::TimedOut(_) | PollEnd::Fatal(_)) => None,
        }
    }

    async fn apply_one(
        &self,
        resolver: &mut Resolver,
        doc: &Doc,
        default_namespace: Option<&str>,
        deadline: Instant,
    ) -> ApplyOutcome {
        let object = doc.object();
        let served = match resolver.resolve(self, &doc.api_version, &doc.kind).await {
            Ok(served) => served,
            Err(e) => {
                return ApplyOutcome {
                    object,
                    namespace: doc.namespace.clone(),
                    ok: false,
                    message: Some(e.message().to_string()),
                }
            }
        };
        let mut body = doc.body.clone();
        let namespace = if served.namespaced {
            let ns = target_namespace(self, doc, default_namespace);
            body["metadata"]["namespace"] = Value::String(ns.clone());
            Some(ns)
        } else {
            if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("namespace");
            }
            None
        };
        let api = dynamic_api(self, &served, namespace.as_deref());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let result = tokio::time::timeout(
            remaining(deadline),
            api.patch(&doc.name, &params, &Patch::Apply(&body)),
        )
        .await;
        let message = match result {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(describe(&e)),
            Err(_) => Some("timed out before the API server answered".to_string()),
        };
        ApplyOutcome {
            object,
            namespace,
            ok: message.is_none(),
            message,
        }
    }

    /// Resolves `doc`; `Ok(None)` when its kind is not served.
    async fn resolve_doc(
        &self,
        doc: &Value,
        namespace: Option<&str>,
    ) -> Result<Option<(Doc, Api<DynamicObject>, Option<String>)>, ObjectError> {
        let doc =
            Doc::parse(doc).map_err(|(what, reason)| ObjectError::Invalid { what, reason })?;
        let mut resolver = Resolver::default();
        let served = match resolver.resolve(self, &doc.api_version, &doc.kind).await {
            Ok(served) => served,
            Err(Unresolved::NotServed(_)) => return Ok(None),
            Err(Unresolved::Failed(message)) => {
                return Err(ObjectError::Discovery {
                    object: doc.object(),
                    api_version: doc.api_version.clone(),
                    message,
                })
            }
        };
        let ns = served
            .namespaced
            .then(|| target_namespace(self, &doc, namespace));
        let api = dynamic_api(self, &served, ns.as_deref());
        Ok(Some((doc, api, ns)))
    }

    /// Reads the live object named by `doc` (its apiVersion, kind and `metadata.name`; the
    /// namespace is the document's own, else `namespace`, else the client's default).
    ///
    /// `Ok(None)` when the object does not exist or its kind is not served.
    pub async fn get(
        &self,
        doc: &Value,
        namespace: Option<&str>,
    ) -> Result<Option<Value>, ObjectError> {
        let Some((doc, api, ns)) = self.resolve_doc(doc, namespace).await? else {
            return Ok(None);
        };
        match api.get_opt(&doc.name).await {
            Ok(Some(obj)) => Ok(Some(serde_json::to_value(obj).unwrap_or(Value::Null))),
            Ok(None) => Ok(None),
            Err(e) => Err(ObjectError::Api {
                verb: "get",
                object: doc.object(),
                namespace: ns,
                message: describe(&e),
                transient: crate::is_transient(&e),
            }),
        }
    }

    /// Deletes the object named by `doc` (namespace as for [`get`](Kube::get)) and waits, for at
    /// most `timeout`, until it is gone.
    ///
    /// Already absent (or a kind that is not served) is `ok: true`. Still present at the timeout
    /// is `ok: false` with the object's state (deletion timestamp, finalizers). An error is
    /// returned only for an unusable document, failed discovery or a refused DELETE.
    pub async fn delete(
        &self,
        doc: &Value,
        namespace: Option<&str>,
        timeout: Duration,
    ) -> Result<DeleteOutcome, ObjectError> {
        let parsed =
            Doc::parse(doc).map_err(|(what, reason)| ObjectError::Invalid { what, reason })?;
        let Some((doc, api, ns)) = self.resolve_doc(doc, namespace).await? else {
            return Ok(DeleteOutcome {
                object: parsed.object(),
                ok: true,
                message: Some(format!(
                    "{}; nothing to delete",
                    no_matches(&parsed.kind, &parsed.api_version)
                )),
            });
        };
        let object = doc.object();
        match api.delete(&doc.name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                return Ok(DeleteOutcome {
                    object,
                    ok: true,
                    message: Some("already absent".to_string()),
                })
            }
            Err(e) => {
                return Err(ObjectError::Api {
                    verb: "delete",
                    object,
                    namespace: ns,
                    transient: crate::is_transient(&e),
                    message: describe(&e),
                })
            }
        }
        let gone = poll(timeout, || async {
            match api.get_opt(&doc.name).await {
                Ok(None) => Check::Done(()),
                Ok(Some(obj)) => Check::Pending(still_present(&obj)),
                Err(e) => Check::Pending(format!("error: {}", describe(&e))),
            }
        })
        .await;
        Ok(match gone {
            Ok(()) => DeleteOutcome {
                object,
                ok: true,
                message: None,
            },
            Err(PollEnd::TimedOut(state) | PollEnd::Fatal(state)) => DeleteOutcome {
                object,
                ok: false,
                message: Some(format!("still present after {timeout:?}: {state}")),
            },
        })
    }
}

/// Describes an object that is still there after a delete.
fn still_present(obj: &DynamicObject) -> String {
    let mut s = match &obj.metadata.deletion_timestamp {
        Some(ts) => format!("terminating since {}", ts.0),
        None => "present, no deletion timestamp".to_string(),
    };
    if let Some(finalizers) = obj.metadata.finalizers.as_ref().filter(|f| !f.is_empty()) {
        s.push_str(&format!(", finalizers: {}", finalizers.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_are_expanded_and_empty_documents_dropped() {
        let docs = vec![
            Value::Null,
            json!({"apiVersion": "v1", "kind": "List", "items": [
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}
            ]}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c"}}),
        ];
        let names: Vec<String> = flatten(&docs)
            .iter()
            .map(|d| Doc::parse(d).unwrap().object())
            .collect();
        assert_eq!(names, ["ConfigMap/a", "ConfigMap/b", "Service/c"]);
    }

    #[test]
    fn documents_without_identity_are_rejected_with_a_reason() {
        let (what, reason) =
            Doc::parse(&json!({"kind": "Service", "metadata": {"name": "x"}})).unwrap_err();
        assert_eq!(
            (what.as_str(), reason.as_str()),
            ("Service/x", "no apiVersion")
        );
        let (_, reason) = Doc::parse(&json!({"apiVersion": "v1", "kind": "Service"})).unwrap_err();
        assert_eq!(reason, "no metadata.name");
    }
}
