//! `meshproof gc [--yes]`: list (and remove) leftover `meshproof-*` kind clusters, their
//! containers and volumes, through the provider layer.

use std::io::Write;

use meshproof_cluster::gc::{GcPlan, GcReport};

use super::io_err;
use crate::error::AppError;

/// Connect to the Docker engine (`DOCKER_HOST` or the default socket); the error names the
/// address and the root cause of bollard's error.
async fn engine() -> Result<meshproof_cluster::Engine, AppError> {
    // The message already carries the address and the root cause of bollard's error chain.
    Ok(meshproof_cluster::connect().await?)
}

fn print_plan(plan: &GcPlan, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{} leftover meshproof cluster(s):",
        plan.clusters.len()
    )?;
    for cluster in &plan.clusters {
        writeln!(
            out,
            "  {}  ({} container(s), {} volume(s))",
            cluster.name,
            cluster.containers.len(),
            cluster.volumes.len()
        )?;
        for c in &cluster.containers {
            let short: String = c.id.chars().take(12).collect();
            let role = if c.role.is_empty() { "-" } else { &c.role };
            let state = if c.state.is_empty() { "-" } else { &c.state };
            writeln!(out, "    container  {}  {short}  {role}  {state}", c.name)?;
        }
        for v in &cluster.volumes {
            writeln!(out, "    volume     {v}")?;
        }
    }
    Ok(())
}

fn print_report(report: &GcReport, out: &mut dyn Write) -> std::io::Result<()> {
    for c in &report.removed_containers {
        writeln!(out, "removed container {c}")?;
    }
    for v in &report.removed_volumes {
        writeln!(out, "removed volume {v}")?;
    }
    for f in &report.failures {
        writeln!(out, "FAILED to remove {}: {}", f.object, f.error)?;
    }
    writeln!(
        out,
        "removed {} container(s) and {} volume(s){}",
        report.removed_containers.len(),
        report.removed_volumes.len(),
        if report.failures.is_empty() {
            String::new()
        } else {
            format!("; {} could not be removed", report.failures.len())
        }
    )
}

/// List leftover `meshproof-*` kind clusters (containers and volumes); with `yes`, remove them.
/// Only clusters whose kind label starts with `meshproof-` are ever touched.
pub fn command(yes: bool, out: &mut dyn Write) -> Result<(), AppError> {
    let rt = crate::doctor::runtime()?;
    rt.block_on(async {
        let engine = engine().await?;
        let plan = meshproof_cluster::gc::plan(&engine)
            .await
            .map_err(|source| AppError::GcList {
                host: engine.host().to_string(),
                source,
            })?;
        if plan.is_empty() {
            writeln!(
                out,
                "no leftover meshproof clusters (Docker engine at {})",
                engine.host()
            )
            .map_err(io_err)?;
            return Ok(());
        }
        print_plan(&plan, out).map_err(io_err)?;
        if !yes {
            writeln!(
                out,
                "dry run: nothing removed; run `meshproof gc --yes` to remove them"
            )
            .map_err(io_err)?;
            return Ok(());
        }
        let report = meshproof_cluster::gc::apply(&engine, &plan).await;
        print_report(&report, out).map_err(io_err)?;
        if report.failures.is_empty() {
            Ok(())
        } else {
            Err(AppError::GcIncomplete(report.failures))
        }
    })
}
