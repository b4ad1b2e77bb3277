//! Namespaces: one per case, created (server-side applied) with the mesh's onboarding labels and
//! annotations, and deleted at the end of the case, waiting until the namespace is gone.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use crate::poll::{poll, Check, PollEnd};
use crate::{describe, is_not_found, Kube, FIELD_MANAGER};

/// Creating or deleting a namespace failed.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// The server-side apply of the namespace was refused or failed.
    #[error("cannot create namespace {name}: {message}")]
    Apply {
        /// The namespace.
        name: String,
        /// The API server's message.
        message: String,
        /// Asking again may succeed (a 5xx answer, a broken connection): see [`crate::is_transient`].
        transient: bool,
    },
    /// The DELETE was refused or failed.
    #[error("cannot delete namespace {name}: {message}")]
    Delete {
        /// The namespace.
        name: String,
        /// The API server's message.
        message: String,
        /// Asking again may succeed.
        transient: bool,
    },
    /// The namespace was still there when the timeout passed.
    #[error(
        "namespace {name} still present {timeout:?} after its deletion; last state: {last_state}"
    )]
    DeleteTimeout {
        /// The namespace.
        name: String,
        /// How long was waited.
        timeout: Duration,
        /// Its phase and conditions (e.g. remaining content, finalizers) when last seen.
        last_state: String,
    },
}

impl NamespaceError {
    /// Whether trying again may succeed. A namespace still terminating at the timeout may yet
    /// go; a refused request (4xx) will be refused again.
    pub fn is_transient(&self) -> bool {
        match self {
            NamespaceError::Apply { transient, .. } | NamespaceError::Delete { transient, .. } => {
                *transient
            }
            NamespaceError::DeleteTimeout { .. } => true,
        }
    }
}

impl Kube {
    /// Creates namespace `name` or brings it up to date (server-side apply, field manager
    /// `meshproof`), with the given labels and annotations.
    pub async fn ensure_namespace(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<(), NamespaceError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let body = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
        });
        api.patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map(|_| ())
        .map_err(|e| NamespaceError::Apply {
            name: name.to_string(),
            message: describe(&e),
            transient: crate::is_transient(&e),
        })
    }

    /// Deletes namespace `name` and waits, for at most `timeout`, until the API server no
    /// longer has it. An already absent namespace is fine.
    pub async fn delete_namespace(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<(), NamespaceError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => {
                return Err(NamespaceError::Delete {
                    name: name.to_string(),
                    message: describe(&e),
                    transient: crate::is_transient(&e),
                })
            }
        }
        let gone = poll(timeout, || async {
            match api.get_opt(name).await {
                Ok(None) => Check::Done(()),
                Ok(Some(ns)) => Check::Pending(namespace_state(&ns)),
                Err(e) => Check::Pending(format!("error: {}", describe(&e))),
            }
        })
        .await;
        match gone {
            Ok(()) => Ok(()),
            Err(PollEnd::TimedOut(last_state) | PollEnd::Fatal(last_state)) => {
                Err(NamespaceError::DeleteTimeout {
                    name: name.to_string(),
                    timeout,
                    last_state,
                })
            }
        }
    }
}

/// Phase plus the conditions that explain a slow deletion.
fn namespace_state(ns: &Namespace) -> String {
    let status = ns.status.as_ref();
    let mut s = format!(
        "phase {}",
        status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown")
    );
    let troubles: Vec<String> = status
        .and_then(|s| s.conditions.as_ref())
        .map(|conditions| {
            conditions
                .iter()
                .filter(|c| c.status == "True")
                .map(|c| match &c.message {
                    Some(m) => format!("{}: {m}", c.type_),
                    None => c.type_.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    if !troubles.is_empty() {
        s.push_str("; ");
        s.push_str(&troubles.join("; "));
    }
    s
}
