//! `meshproof doctor`: the cluster and mesh pins a run would use, and whether this machine can
//! run them (Docker, kind, kubectl, helm, the mesh CLI), one line per check.

use std::io::Write;

use meshproof_cluster::preflight::{Check, Status};

use super::io_err;
use crate::error::AppError;
use crate::spec::catalog::Catalog;
use crate::spec::mesh::InstallMethod;

/// Check that this machine can run `cluster` with `mesh`: the Docker engine and its resources,
/// leftover clusters, and `kind`/`kubectl`/`helm` against the pins' requirements. Any failed
/// check is an infrastructure error (exit 4) naming the failed checks.
pub fn command(
    catalog: &Catalog,
    cluster: &str,
    mesh: &str,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let mesh_pin = catalog.select_mesh(mesh)?;
    // The cluster a run of this mesh would get (`kind-default`: the newest compatible pin).
    let (cluster_pin, _) = catalog.select_cluster_for(cluster, &mesh_pin.value, true)?;
    let c = &cluster_pin.value;
    let m = &mesh_pin.value;
    let kind_range = c.spec.kind.version.clone();
    let helm_required = m.spec.install.method == InstallMethod::Helm;
    writeln!(
        out,
        "cluster {} ({}): kind {kind_range}, Kubernetes {}",
        c.metadata.name, cluster_pin.path, c.spec.kubernetes_version
    )
    .map_err(io_err)?;
    writeln!(
        out,
        "mesh {} ({}): helm {}",
        m.id(),
        mesh_pin.path,
        if helm_required {
            "required (installed with helm)"
        } else {
            "optional"
        }
    )
    .map_err(io_err)?;

    let (checks, _) = crate::doctor::preflight_checks(catalog, &cluster_pin, m)?;
    print_checks(&checks, out).map_err(io_err)?;
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    writeln!(
        out,
        "{} checks: {} ok, {} warn, {} failed",
        checks.len(),
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail)
    )
    .map_err(io_err)?;
    if let Some(e) = crate::doctor::failed_checks_error(&checks) {
        return Err(e.into());
    }
    writeln!(
        out,
        "ready: `meshproof run --cluster {} --mesh {}` can start",
        c.metadata.name,
        m.id()
    )
    .map_err(io_err)?;
    Ok(())
}

/// The one-word status column: `ok`, `warn`, `FAIL`.
fn label(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Warn => "warn",
        Status::Fail => "FAIL",
    }
}

/// Write one line per check (`ok|warn|FAIL  <name>  <detail>`, plus `      fix: ...` when not ok).
fn print_checks(checks: &[Check], out: &mut dyn Write) -> std::io::Result<()> {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in checks {
        writeln!(
            out,
            "{:<4}  {:<width$}  {}",
            label(c.status),
            c.name,
            c.detail
        )?;
        if c.status != Status::Ok {
            if let Some(fix) = &c.fix {
                writeln!(out, "      fix: {fix}")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_print_with_status_name_detail_and_fix() {
        let checks = vec![
            Check {
                name: "docker-engine".into(),
                status: Status::Ok,
                detail: "reachable".into(),
                fix: None,
            },
            Check {
                name: "kind".into(),
                status: Status::Fail,
                detail: "`kind` not found".into(),
                fix: Some("install kind".into()),
            },
        ];
        let mut buf = Vec::new();
        print_checks(&checks, &mut buf).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "ok    docker-engine  reachable\nFAIL  kind           `kind` not found\n      fix: install kind\n"
        );
    }
}
