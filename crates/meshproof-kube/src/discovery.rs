//! Discovery: the server version, which SMI API groups/versions the cluster serves, every served
//! API version (for Helm's `.Capabilities`), how a manifest's apiVersion/kind maps to a resource
//! (plural, scope), and raw GETs of aggregated APIs.

use std::collections::{BTreeMap, HashMap};

use http_body_util::BodyExt;
use kube::core::Version;
use kube::discovery::ApiResource;
use serde_json::Value;

use crate::{describe, is_not_found, Kube};

/// Suffix of the API groups of the Service Mesh Interface.
pub const SMI_GROUP_SUFFIX: &str = "smi-spec.io";

/// Asking the API server for its version failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the Kubernetes server version (GET /version): {message}")]
pub struct ServerVersionError {
    /// What went wrong (the API server's message or the transport error).
    pub message: String,
}

/// API discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Listing the API groups (`GET /apis`) failed.
    #[error("cannot list the API groups the cluster serves (GET /apis): {message}")]
    Groups {
        /// What went wrong.
        message: String,
        /// Asking again may succeed (a 5xx answer, a broken connection): see [`crate::is_transient`].
        transient: bool,
    },
    /// Listing the core API versions (`GET /api`) failed.
    #[error("cannot list the core API versions the cluster serves (GET /api): {message}")]
    CoreVersions {
        /// What went wrong.
        message: String,
        /// Asking again may succeed.
        transient: bool,
    },
}

impl DiscoveryError {
    /// Whether asking again may succeed (e.g. the API server answered 503 while an aggregated
    /// API or a new CRD's group was settling).
    pub fn is_transient(&self) -> bool {
        match self {
            DiscoveryError::Groups { transient, .. }
            | DiscoveryError::CoreVersions { transient, .. } => *transient,
        }
    }
}

/// What the API server serves, in the form `helm template --api-versions` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServedApiVersions {
    /// Every served `group/version` (`v1` for the core group) and every `group/version/Kind`
    /// of its resources, sorted and without duplicates.
    pub versions: Vec<String>,
    /// Group versions whose resources could not be listed (e.g. an aggregated API without a
    /// ready backend), with the reason; their `group/version` is still in `versions`.
    pub unlisted: BTreeMap<String, String>,
}

/// A raw GET could not be made at all (an HTTP error status is not this error: it is returned
/// as the status code).
#[derive(Debug, thiserror::Error)]
#[error("GET {path} failed: {message}")]
pub struct RawGetError {
    /// The path asked for.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// A resource the API server serves for one apiVersion/kind, with its scope.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    /// kube-rs's dynamic type information (group, version, kind, plural).
    pub(crate) resource: ApiResource,
    /// True for namespaced resources, false for cluster-scoped ones.
    pub(crate) namespaced: bool,
}

/// Why an apiVersion/kind could not be mapped to a served resource.
#[derive(Debug, Clone)]
pub(crate) enum Unresolved {
    /// The server does not serve this kind in this version (kubectl's "no matches for kind").
    NotServed(String),
    /// Discovery itself failed (transport, permissions, ...).
    Failed(String),
}

impl Unresolved {
    pub(crate) fn message(&self) -> &str {
        match self {
            Unresolved::NotServed(m) | Unresolved::Failed(m) => m,
        }
    }
}

/// kubectl's message for a kind the server does not serve.
pub(crate) fn no_matches(kind: &str, api_version: &str) -> String {
    format!("no matches for kind \"{kind}\" in version \"{api_version}\"")
}

/// A per-operation cache of `GET /api/v1` and `GET /apis/<group>/<version>` answers.
///
/// Deliberately short-lived (one `apply` call, one evidence run): after a CRD is applied, the
/// next call must see the new group.
#[derive(Debug, Default)]
pub(crate) struct Resolver {
    versions: HashMap<
        String,
        Result<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource>, Unresolved>,
    >,
}

impl Resolver {
    /// Maps `api_version` + `kind` to the resource serving it.
    pub(crate) async fn resolve(
        &mut self,
        kube: &Kube,
        api_version: &str,
        kind: &str,
    ) -> Result<Served, Unresolved> {
        if !self.versions.contains_key(api_version) {
            let listed = list_resources(kube, api_version).await;
            self.versions.insert(api_version.to_string(), listed);
        }
        let resources = self.versions[api_version].as_ref().map_err(|e| match e {
            Unresolved::NotServed(_) => Unresolved::NotServed(no_matches(kind, api_version)),
            Unresolved::Failed(m) => Unresolved::Failed(m.clone()),
        })?;
        let found = resources
            .iter()
            .find(|r| r.kind == kind && !r.name.contains('/'))
            .ok_or_else(|| Unresolved::NotServed(no_matches(kind, api_version)))?;
        let (group, version) = split_api_version(api_version);
        Ok(Served {
            resource: ApiResource {
                group: group.to_string(),
                version: version.to_string(),
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                plural: found.name.clone(),
            },
            namespaced: found.namespaced,
        })
    }

    /// Forgets what was learnt about `api_version` (so the next resolve asks again).
    pub(crate) fn forget(&mut self, api_version: &str) {
        self.versions.remove(api_version);
    }

    /// The served, listable resources of one group version (no subresources).
    pub(crate) async fn listable(
        &mut self,
        kube: &Kube,
        api_version: &str,
    ) -> Result<Vec<Served>, Unresolved> {
        if !self.versions.contains_key(api_version) {
            let listed = list_resources(kube, api_version).await;
            self.versions.insert(api_version.to_string(), listed);
        }
        let resources = self.versions[api_version].as_ref().map_err(Clone::clone)?;
        let (group, version) = split_api_version(api_version);
        let mut out: Vec<Served> = resources
            .iter()
            .filter(|r| !r.name.contains('/') && r.verbs.iter().any(|v| v == "list"))
            .map(|r| Served {
                resource: ApiResource {
                    group: group.to_string(),
                    version: version.to_string(),
                    api_version: api_version.to_string(),
                    kind: r.kind.clone(),
                    plural: r.name.clone(),
                },
                namespaced: r.namespaced,
            })
            .collect();
        out.sort_by(|a, b| a.resource.kind.cmp(&b.resource.kind));
        Ok(out)
    }
}

/// Splits `group/version` (or the core `v1`) into group and version.
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

async fn list_resources(
    kube: &Kube,
    api_version: &str,
) -> Result<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource>, Unresolved> {
    let listed = if api_version.contains('/') {
        kube.client.list_api_group_resources(api_version).await
    } else {
        kube.client.list_core_api_resources(api_version).await
    };
    match listed {
        Ok(list) => Ok(list.resources),
        Err(e) if is_not_found(&e) => Err(Unresolved::NotServed(format!(
            "the server does not serve {api_version}"
        ))),
        Err(e) => Err(Unresolved::Failed(format!(
            "discovery of {api_version} failed: {}",
            describe(&e)
        ))),
    }
}

/// One SMI API group as discovery lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SmiGroup {
    pub(crate) name: String,
    pub(crate) preferred: Option<String>,
    pub(crate) versions: Vec<String>,
}

/// Orders versions as Kubernetes does by generation: v1alpha1 < v1alpha2 < v1beta1 < v1 < v2.
fn sort_versions(versions: &mut [String]) {
    versions.sort_by_key(|v| Version::parse(v).generation());
}

impl Kube {
    /// The API server's git version, e.g. `v1.33.1`.
    pub async fn server_version(&self) -> Result<String, ServerVersionError> {
        self.client
            .apiserver_version()
            .await
            .map(|info| info.git_version)
            .map_err(|e| ServerVersionError {
                message: describe(&e),
            })
    }

    /// Every API version the cluster serves, as `helm install` computes `.Capabilities.APIVersions`
    /// (Helm's `action.GetVersionSet`): each `group/version` from `GET /api` and `GET /apis`, plus
    /// `group/version/Kind` for every resource listed under it. A group version whose resources
    /// cannot be listed keeps its `group/version` and is reported in `unlisted`, as Helm
    /// tolerates partial discovery; failing to list the versions or groups themselves is an error.
    pub async fn served_api_versions(&self) -> Result<ServedApiVersions, DiscoveryError> {
        let core = self.client.list_core_api_versions().await.map_err(|e| {
            DiscoveryError::CoreVersions {
                message: describe(&e),
                transient: crate::is_transient(&e),
            }
        })?;
        let groups = self
            .client
            .list_api_groups()
            .await
            .map_err(|e| DiscoveryError::Groups {
                message: describe(&e),
                transient: crate::is_transient(&e),
            })?;
        let group_versions = core.versions.into_iter().chain(
            groups
                .groups
                .into_iter()
                .flat_map(|g| g.versions.into_iter().map(|v| v.group_version)),
        );
        let mut versions = std::collections::BTreeSet::new();
        let mut unlisted = BTreeMap::new();
        for gv in group_versions {
            if !versions.insert(gv.clone()) {
                continue;
            }
            match list_resources(self, &gv).await {
                Ok(resources) => {
                    versions.extend(resources.into_iter().map(|r| format!("{gv}/{}", r.kind)));
                }
                Err(e) => {
                    unlisted.insert(gv, e.message().to_string());
                }
            }
        }
        Ok(ServedApiVersions {
            versions: versions.into_iter().collect(),
            unlisted,
        })
    }

    /// The SMI API groups (names ending in `smi-spec.io`) the cluster serves, each with its
    /// served versions, oldest first (v1alpha1 < v1alpha2 < ... < v1beta1 < v1).
    pub async fn served_smi(&self) -> Result<BTreeMap<String, Vec<String>>, DiscoveryError> {
        Ok(self
            .smi_groups()
            .await?
            .into_iter()
            .map(|g| (g.name, g.versions))
            .collect())
    }

    pub(crate) async fn smi_groups(&self) -> Result<Vec<SmiGroup>, DiscoveryError> {
        let list = self
            .client
            .list_api_groups()
            .await
            .map_err(|e| DiscoveryError::Groups {
                message: describe(&e),
                transient: crate::is_transient(&e),
            })?;
        let mut groups: Vec<SmiGroup> = list
            .groups
            .into_iter()
            .filter(|g| g.name.ends_with(SMI_GROUP_SUFFIX))
            .map(|g| {
                let mut versions: Vec<String> = g.versions.into_iter().map(|v| v.version).collect();
                sort_versions(&mut versions);
                versions.dedup();
                SmiGroup {
                    name: g.name,
                    preferred: g.preferred_version.map(|v| v.version),
                    versions,
                }
            })
            .collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(groups)
    }

    /// A raw `GET` of `path` (e.g. `/apis/metrics.smi-spec.io/v1alpha1/namespaces/x/pods`), for
    /// aggregated APIs such as the SMI metrics API. Returns the HTTP status and the body parsed as
    /// JSON (`None` when the body is empty or not JSON). Error statuses are returned, not raised.
    pub async fn raw_get(&self, path: &str) -> Result<(u16, Option<Value>), RawGetError> {
        let err = |message: String| RawGetError {
            path: path.to_string(),
            message,
        };
        let request = http::Request::get(path)
            .header(http::header::ACCEPT, "application/json")
            .body(kube::client::Body::empty())
            .map_err(|e| err(e.to_string()))?;
        let response = self
            .client
            .send(request)
            .await
            .map_err(|e| err(describe(&e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| err(format!("reading the body: {e}")))?
            .to_bytes();
        let body = if bytes.is_empty() {
            None
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_by_kubernetes_generation() {
        let mut v: Vec<String> = ["v1", "v1alpha2", "v1beta1", "v1alpha10", "v1alpha1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        sort_versions(&mut v);
        assert_eq!(v, ["v1alpha1", "v1alpha2", "v1alpha10", "v1beta1", "v1"]);
    }

    #[test]
    fn api_versions_split_into_group_and_version() {
        assert_eq!(split_api_version("v1"), ("", "v1"));
        assert_eq!(
            split_api_version("access.smi-spec.io/v1alpha3"),
            ("access.smi-spec.io", "v1alpha3")
        );
    }
}
