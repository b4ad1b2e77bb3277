//! The preflight checks of `meshproof doctor` and of a run's first phase: the provider layer's
//! (`meshproof-cluster`) checks, run on a private current-thread tokio runtime so the rest of
//! the core stays synchronous, plus which kind binary the cluster pin will run with and how it is
//! verified (`kind_binary`), the mesh CLI download and the pins' Kubernetes ranges.

use meshproof_cluster::preflight::{self, Check, PreflightInput, Status, ToolRequirement};

use crate::kind_binary::{self, KindChoice};
use crate::spec::catalog::{Catalog, Sourced};
use crate::spec::cluster::Cluster;
use crate::spec::mesh::InstallMethod;

/// Why the checks could not run, or what they found (exit 4).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// The async runtime the provider layer runs on could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// Checks failed: each with its name and detail.
    #[error("{}", failed_message(.0))]
    Failed(Vec<Check>),
}

/// `preflight failed (2): a, b` and one `  name: detail` line per failed check.
fn failed_message(failed: &[Check]) -> String {
    let names: Vec<&str> = failed.iter().map(|c| c.name.as_str()).collect();
    let mut msg = format!("preflight failed ({}): {}", failed.len(), names.join(", "));
    for c in failed {
        msg.push_str(&format!("\n  {}: {}", c.name, c.detail));
    }
    msg
}

/// The private current-thread runtime the provider layer's async calls run on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, DoctorError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DoctorError::Runtime)
}

/// Whether the mesh pin's Kubernetes range admits the cluster pin's Kubernetes version
/// (the same comparison `plan` warns about). `None` when the mesh declares no range.
fn mesh_kubernetes_check(
    mesh_id: &str,
    range: Option<&str>,
    cluster: &str,
    kubernetes: &str,
) -> Option<Check> {
    let range = range?;
    let (status, detail, fix) = match (
        semver::VersionReq::parse(range),
        semver::Version::parse(kubernetes),
    ) {
        (Ok(req), Ok(v)) if req.matches(&v) => (
            Status::Ok,
            format!("cluster {cluster} runs Kubernetes {kubernetes}; mesh {mesh_id} wants {range}"),
            None,
        ),
        (Ok(_), Ok(_)) => (
            Status::Warn,
            format!(
                "cluster {cluster} runs Kubernetes {kubernetes}; mesh {mesh_id} is known to work on {range}"
            ),
            Some(format!(
                "pick a cluster pin whose Kubernetes is in {range} (`meshproof list clusters`)"
            )),
        ),
        (Err(e), _) => (
            Status::Warn,
            format!("mesh {mesh_id} declares an unreadable Kubernetes range {range:?}: {e}"),
            Some("fix spec.kubernetes.versions in the mesh pin".to_string()),
        ),
        (_, Err(e)) => (
            Status::Warn,
            format!("cluster {cluster} declares an unreadable Kubernetes version {kubernetes:?}: {e}"),
            Some("fix spec.kubernetesVersion in the cluster pin".to_string()),
        ),
    };
    Some(Check {
        name: "mesh-kubernetes".to_string(),
        status,
        detail,
        fix,
    })
}

/// Whether a `cli` mesh pin has a download for `platform` (this machine's, in doctor and `run`).
/// `None` for the other install methods.
fn mesh_cli_check(m: &crate::spec::mesh::Mesh, platform: &str) -> Option<Check> {
    let cli = m.spec.install.cli.as_ref()?;
    Some(match crate::install::cli::download_for(cli, platform) {
        Ok(d) => Check {
            name: "mesh-cli".to_string(),
            status: Status::Ok,
            detail: format!(
                "mesh {} installs with {}: pinned for {platform} ({}), downloaded and checked by `run`",
                m.id(),
                cli.name,
                d.url
            ),
            fix: None,
        },
        Err(e) => Check {
            name: "mesh-cli".to_string(),
            status: Status::Fail,
            detail: e.to_string(),
            fix: Some(format!(
                "run on one of the pinned platforms, or pin a `{platform}` download of {} in spec.install.cli.platforms",
                cli.name
            )),
        },
    })
}

/// Which kind runs `pin` here, as a check: ok with the binary and how it is verified, or a
/// failure saying why none can run. The choice comes along when there is one.
pub fn kind_check(catalog: &Catalog, pin: &Sourced<Cluster>) -> (Check, Option<KindChoice>) {
    let range = &pin.value.spec.kind.version;
    let lock = match kind_binary::load_lock_for(catalog, pin) {
        Ok(l) => l,
        Err(e) => {
            return (
                Check {
                    name: "kind".into(),
                    status: Status::Fail,
                    detail: e.to_string(),
                    fix: Some(format!(
                        "fix or remove {}",
                        kind_binary::lock_path(&pin.path)
                    )),
                },
                None,
            )
        }
    };
    let choice = kind_binary::choose(
        pin,
        lock.as_ref(),
        kind_binary::probe_path(&crate::env::search_path()),
        kind_binary::host_platform(),
        crate::env::cache_dir().as_deref(),
        &crate::env::kind_download_base(),
    );
    match choice {
        Ok(c) => (
            Check {
                name: "kind".into(),
                status: Status::Ok,
                detail: c.describe(range),
                fix: None,
            },
            Some(c),
        ),
        Err(e) => (
            Check {
                name: "kind".into(),
                status: Status::Fail,
                detail: e.to_string(),
                fix: Some(e.fix(&pin.value)),
            },
            None,
        ),
    }
}

/// The preflight checks of a cluster pin and a mesh pin (also the first phase of `run`), and
/// the kind the run will use when one can run.
pub fn preflight_checks(
    catalog: &Catalog,
    pin: &Sourced<Cluster>,
    m: &crate::spec::mesh::Mesh,
) -> Result<(Vec<Check>, Option<KindChoice>), DoctorError> {
    let c = &pin.value;
    let helm_required = m.spec.install.method == InstallMethod::Helm;
    let input = PreflightInput {
        kubernetes_version: semver::Version::parse(&c.spec.kubernetes_version).ok(),
        tools: vec![
            ToolRequirement::kubectl(None),
            ToolRequirement::helm(None, helm_required),
        ],
        ..PreflightInput::default()
    };
    let mut checks = runtime()?.block_on(preflight::run_checks(&input));
    // The kind check goes before the other tools, where `doctor` always listed it.
    let (kind, choice) = kind_check(catalog, pin);
    let at = checks
        .iter()
        .position(|c| c.name == "kubectl")
        .unwrap_or(checks.len());
    checks.insert(at, kind);
    checks.extend(mesh_cli_check(m, &crate::install::cli::host_platform()));
    checks.extend(mesh_kubernetes_check(
        &m.id(),
        m.spec.kubernetes.versions.as_deref(),
        &c.metadata.name,
        &c.spec.kubernetes_version,
    ));
    Ok((checks, choice))
}

/// The failed checks as one error, or `None` when nothing failed.
pub fn failed_checks_error(checks: &[Check]) -> Option<DoctorError> {
    let failed: Vec<Check> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .cloned()
        .collect();
    (!failed.is_empty()).then_some(DoctorError::Failed(failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesh_kubernetes_range_is_compared() {
        let c =
            mesh_kubernetes_check("osm@1.2.4", Some(">=1.22.9, <1.25"), "k", "1.24.17").unwrap();
        assert_eq!(c.status, Status::Ok);
        let c = mesh_kubernetes_check("osm@1.2.4", Some(">=1.22.9, <1.25"), "k", "1.36.1").unwrap();
        assert_eq!(c.status, Status::Warn);
        assert_eq!(
            c.detail,
            "cluster k runs Kubernetes 1.36.1; mesh osm@1.2.4 is known to work on >=1.22.9, <1.25"
        );
        assert!(mesh_kubernetes_check("none", None, "k", "1.36.1").is_none());
    }

    #[test]
    fn a_cli_pin_needs_a_download_for_this_platform() {
        let text = format!(
            "apiVersion: meshproof.dev/v1alpha1\nkind: Mesh\nmetadata: {{name: demo, version: \"1.0.0\", description: d}}\nspec:\n  project: {{name: Demo, url: https://example.invalid, status: active}}\n  install:\n    method: cli\n    cli:\n      name: demo\n      platforms:\n        linux-x86_64: {{url: https://cli.example.invalid/demo, sha256: {}}}\n      render: [{{args: [install], namespace: demo}}]\n  denial: {{unknown: test}}\n  dataPlane: {{container: demo-proxy, sources: [test]}}\n  sources: [test]\n",
            "a".repeat(64)
        );
        let m = crate::spec::mesh::load("meshes/demo/1.0.0.yaml", &text).unwrap();
        let ok = mesh_cli_check(&m, "linux-x86_64").unwrap();
        assert_eq!(ok.status, Status::Ok);
        assert!(
            ok.detail.contains("https://cli.example.invalid/demo"),
            "{}",
            ok.detail
        );
        let bad = mesh_cli_check(&m, "macos-aarch64").unwrap();
        assert_eq!(bad.status, Status::Fail);
        assert!(
            bad.detail.contains("macos-aarch64") && bad.detail.contains("the pin has linux-x86_64"),
            "{}",
            bad.detail
        );
        let mut helm = m.clone();
        helm.spec.install.method = InstallMethod::Helm;
        helm.spec.install.cli = None;
        assert!(mesh_cli_check(&helm, "linux-x86_64").is_none());
    }
}
