//! `meshproof run`: check the request (external cluster, mesh artifacts) before anything
//! starts, run the pipeline on kind or an existing cluster, print the summary and map the
//! outcome to an exit code.

use std::io::Write;

use super::session::Session;
use super::{check_required, io_err, level};
use crate::bundle::{self, Limits};
use crate::cli::RunArgs;
use crate::error::{AppError, Class};
use crate::pipeline::{self, RunRequest};
use crate::plan;
use crate::report::{self, ReportContext};
use crate::spec::catalog::Catalog;
use crate::suite::SystemClock;
use crate::verdict::Capability;

pub fn command(catalog: &Catalog, args: RunArgs, out: &mut dyn Write) -> Result<(), AppError> {
    let req = RunRequest {
        plan: super::plan::request(args.selection),
        keep: args.keep,
        require: args.require.map(level),
        out: args.out,
        kubeconfig: args.kubeconfig,
        context: args.context,
        mesh_installed: args.mesh_installed,
        sign_key: args.sign_key,
        ..RunRequest::default()
    };
    // The context is resolved once (the file's current-context when none was given), so the
    // bundle and the summary name it.
    let req = match check_external(&req, args.probe_image)? {
        Some((image, context)) => RunRequest {
            probe_image: Some(image),
            context: Some(context),
            ..req
        },
        None => req,
    };
    check_mesh_artifacts(catalog, &req)?;
    let mut s = Session::start(catalog, args.output, args.quiet)?;
    let outcome = pipeline::run(
        catalog,
        &req,
        &mut s.platform,
        s.progress.as_mut(),
        &SystemClock::new(),
        &s.cancel,
    )?;
    s.progress.finished(&outcome);
    let mut err = std::io::stderr();
    finish_run(&outcome, req.require, s.summary(out, &mut err))
}

/// Summary table, then the exit code: infrastructure failure or abort → 4, below `--require` → 1.
pub fn finish_run(
    outcome: &pipeline::RunOutcome,
    require: Option<Capability>,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let files = bundle::read::read_selected(&outcome.bundle, &Limits::default(), |p| {
        p == bundle::paths::MANIFEST || p == bundle::paths::INPUT_MESH
    })?;
    let manifest: bundle::Manifest =
        serde_json::from_slice(&files[bundle::paths::MANIFEST]).map_err(AppError::ReadBack)?;
    let ctx = ReportContext::from_manifest(
        &manifest,
        files.get(bundle::paths::INPUT_MESH).map(Vec::as_slice),
    );
    write!(out, "{}", report::table(&outcome.verdicts, &ctx)).map_err(io_err)?;
    writeln!(out, "bundle: {}", outcome.bundle.display()).map_err(io_err)?;
    if let Some((path, keyid)) = &outcome.attestation {
        writeln!(out, "attestation: {} (keyid {keyid})", path.display()).map_err(io_err)?;
    }
    if let Some(r) = &manifest.tool.flake_ref {
        writeln!(
            out,
            "reproduce: nix run {r} -- reproduce {}",
            outcome.bundle.display()
        )
        .map_err(io_err)?;
    }
    match outcome.status {
        bundle::RunStatus::Complete => {}
        bundle::RunStatus::Incomplete => {
            return Err(AppError::Incomplete {
                why: outcome
                    .status
                    .why_not_complete(&outcome.verdicts)
                    .unwrap_or_else(|| "run incomplete".into()),
                bundle: outcome.bundle.clone(),
            })
        }
        bundle::RunStatus::Aborted | bundle::RunStatus::InfrastructureFailed => {
            if let Some(e) = outcome.ended_early() {
                return Err(e.into());
            }
        }
    }
    match require {
        Some(r) => check_required(outcome.status, &outcome.verdicts, r),
        None => Ok(()),
    }
}

/// `--kubeconfig`: the file, its context and the probe image the cluster must pull are checked
/// before anything touches the cluster or writes a file (exit 2 naming what is wrong).
/// Returns the probe image and the context used.
fn check_external(
    req: &RunRequest,
    flag: Option<String>,
) -> Result<Option<(String, String)>, AppError> {
    let Some(kubeconfig) = &req.kubeconfig else {
        return Ok(None);
    };
    let target = meshproof_kube::check_kubeconfig(kubeconfig, req.context.as_deref())
        .map_err(AppError::Kubeconfig)?;
    let (image, from) = match flag {
        Some(i) => (i, "--probe-image"),
        None => (
            crate::env::probe_image().ok_or_else(|| {
                AppError::Usage(format!(
                    "--kubeconfig {}: an external cluster pulls the probe image from a registry, so \
                     meshproof needs its reference: build workloads/smi-apps/probe/Dockerfile, push \
                     it where the cluster can pull, and pass --probe-image REF or set {}",
                    kubeconfig.display(),
                    crate::env::MESHPROOF_PROBE_IMAGE
                ))
            })?,
            crate::env::MESHPROOF_PROBE_IMAGE,
        ),
    };
    if !is_image_reference(&image) {
        return Err(AppError::Usage(format!(
            "{from} {image:?}: not an image reference (e.g. ghcr.io/me/meshproof-probe:0.1.0)"
        )));
    }
    eprintln!(
        "cluster: external, context {} ({}); probe image {image}",
        target.context, target.server
    );
    Ok(Some((image, target.context)))
}

/// An image reference as the distribution reference grammar defines it (`[domain[:port]/]path`
/// of lowercase components, optional `:tag`, optional `@sha256:` digest).
fn is_image_reference(s: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        let component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
        regex::Regex::new(&format!(
            r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?{component}(?:/{component})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?$"
        ))
        .expect("static regex")
    })
    .is_match(s)
}

/// Before anything is created: an unpinned mesh is refused (exit 2); a lock file next to the pin
/// must agree with the pin and with the artifacts it names (exit 3 otherwise).
fn check_mesh_artifacts(catalog: &Catalog, req: &RunRequest) -> Result<(), AppError> {
    use crate::install::{lock, InstallError};
    use crate::spec::mesh::InstallMethod;
    let p = plan::plan(catalog, &req.plan)?;
    if let Some(b) = &p.blocked {
        if req.kubeconfig.is_none() {
            return Err(AppError::Usage(format!("{b}; pass --force to run anyway")));
        }
    }
    let pin = catalog.select_mesh(&req.plan.mesh)?;
    if req.mesh_installed {
        return Ok(());
    }
    if pin.value.spec.install.method == InstallMethod::Unpinned {
        return Err(AppError::Usage(format!(
            "{} ({}) cannot be installed reproducibly: {}",
            pin.value.id(),
            pin.path,
            pin.value
                .spec
                .install
                .reason
                .as_deref()
                .unwrap_or("unpinned")
        )));
    }
    if let Some(c) = &pin.value.spec.install.cli {
        crate::install::cli::download_for(c, &crate::install::cli::host_platform()).map_err(
            AppError::install(
                Class::BadInput,
                format!("{} ({}): ", pin.value.id(), pin.path),
            ),
        )?;
    }
    let Some(l) = lock::load_for(catalog, &pin)? else {
        return Ok(());
    };
    lock::check(&pin.value, &l.value, &l.path)
        .map_err(AppError::install(Class::VerifyFailed, ""))?;
    lock::verify_artifacts(&pin.value, &l.value).map_err(|e| match e {
        InstallError::DigestMismatch { .. } => {
            AppError::install(Class::VerifyFailed, format!("{}: ", l.path))(e)
        }
        other => AppError::install(Class::Infrastructure, "")(other),
    })
}
