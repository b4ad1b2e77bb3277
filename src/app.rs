//! The application: each command as a short function over the library; `main` only maps the result to an exit code.

use std::io::Write;

use crate::bundle::{self, Limits};
use std::io::IsTerminal;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::{
    BundleCommand, Cli, Command, LevelArg, ListWhat, OutputMode, PlanFormat, RunArgs, ScoringArg,
    ShowFormat,
};
use crate::error::AppError;
use crate::pipeline;
use crate::plan::{self, PlanRequest};
use crate::platform::KindPlatform;
use crate::progress::{JsonlProgress, Progress, QuietProgress, TerminalProgress, TextProgress};
use crate::provenance;
use crate::report::{self, ReportContext};
use crate::spec::catalog::Catalog;
use crate::suite::SystemClock;
use crate::verdict::{Capability, Scoring};

fn scoring(s: ScoringArg) -> Scoring {
    match s {
        ScoringArg::Strict => Scoring::Strict,
        ScoringArg::Meshery => Scoring::Meshery,
    }
}

fn level(l: LevelArg) -> Capability {
    match l {
        LevelArg::Full => Capability::Full,
        LevelArg::Partial => Capability::Partial,
        LevelArg::None => Capability::None,
    }
}

/// The input catalog of a command that reads inputs: the root must hold `suites/` and
/// `clusters/` (else exit 2 naming the path and how it was chosen); printed once on stderr.
pub fn inputs(flag: Option<std::path::PathBuf>) -> Result<Catalog, AppError> {
    let (root, source) = crate::env::catalog_root(flag);
    check_root(&root, source)?;
    eprintln!("inputs: {} ({})", root.display(), source.describe());
    Ok(Catalog::new(root).with_user_locks(crate::env::data_dir()))
}

/// An unusable root is bad input: it names the path, what is missing and how it was chosen.
fn check_root(root: &std::path::Path, source: crate::env::RootSource) -> Result<(), AppError> {
    let problem = if !root.exists() {
        "does not exist".to_string()
    } else if !root.is_dir() {
        "is not a directory".to_string()
    } else {
        let missing: Vec<String> = ["suites", "clusters"]
            .iter()
            .filter(|d| !root.join(d).is_dir())
            .map(|d| format!("{d}/"))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        format!("has no {}", missing.join(" and no "))
    };
    Err(AppError::Usage(format!(
        "inputs root {} ({}) {problem}; pass --root DIR or set {} to a directory holding \
         clusters/, meshes/, workloads/ and suites/",
        root.display(),
        source.describe(),
        crate::env::MESHPROOF_HOME
    )))
}

/// A bundle argument must be a file: a directory or a missing path is bad input (exit 2) for
/// every command alike.
fn bundle_file(path: &std::path::Path) -> Result<(), AppError> {
    let reason = if path.is_dir() {
        "is a directory, not a bundle file (`meshproof bundle pack DIR --out FILE` makes one)"
    } else if !path.exists() {
        "no such bundle file"
    } else if !path.is_file() {
        "not a regular file"
    } else {
        return Ok(());
    };
    Err(AppError::Bundle(bundle::BundleError::BadInput {
        file: path.display().to_string(),
        reason: reason.into(),
    }))
}

/// Run a parsed command line, writing to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), AppError> {
    let root = cli.root.clone();
    let catalog = || inputs(root.clone());
    let io = io_err;
    match cli.command {
        Command::Run(args) => run_command(&catalog()?, args, out),
        Command::Reproduce { bundle, args } => {
            bundle_file(&bundle)?;
            reproduce_command(&catalog()?, &bundle, &args, out)
        }
        Command::Rerun { bundle, args, .. } => {
            bundle_file(&bundle)?;
            rerun_command(&catalog()?, &bundle, &args, out)
        }
        Command::Lock {
            mesh,
            cluster,
            no_images,
            out: dest,
        } => match (mesh, cluster) {
            (_, Some(cluster)) => lock_cluster_command(&catalog()?, &cluster, dest, out),
            (Some(mesh), None) => lock_command(&catalog()?, &mesh, !no_images, dest, out),
            (None, None) => Err(AppError::Usage("lock needs --mesh or --cluster".into())),
        },
        Command::Doctor { cluster, mesh } => {
            crate::doctor::doctor(&catalog()?, &cluster, &mesh, out)
        }
        Command::Gc { yes } => crate::doctor::gc(yes, out),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "meshproof", out);
            out.flush().map_err(io_err)
        }
        Command::Man { out_dir } => man_command(out_dir.as_deref(), out),
        Command::Plan { selection, format } => {
            let req = PlanRequest {
                cluster: selection.cluster,
                mesh: selection.mesh,
                workload: selection.workload,
                suite: selection.suite,
                only: selection.only,
                scoring: scoring(selection.scoring),
                timeout_scale: selection.timeout_scale,
                force: selection.force,
            };
            let p = plan::plan(&catalog()?, &req)?;
            match format {
                PlanFormat::Text => write!(out, "{}", plan::render(&p)).map_err(io)?,
                PlanFormat::Json => writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&p).expect("plan serializes")
                )
                .map_err(io)?,
            }
            Ok(())
        }
        Command::List { what } => list(&catalog()?, what, out).map_err(|e| match e {
            ListError::Spec(s) => AppError::Spec(s),
            ListError::Io(e) => io(e),
        }),
        Command::Verify {
            bundle,
            require,
            attestation,
        } => {
            bundle_file(&bundle)?;
            let (lines, report) = match &attestation.attestation {
                None => {
                    let report = bundle::verify::verify(&bundle, &Limits::default());
                    (report.lines.clone(), report)
                }
                Some(att) => {
                    let keys = provenance::files::load_public_keys(&attestation.keys)?;
                    let (lines, verified) =
                        provenance::files::verify_with_attestation(&bundle, att, &keys)?;
                    (lines, verified.report)
                }
            };
            // The reader calls the archive itself "(archive)": name the file instead.
            let detail = |d: &str| match d.strip_prefix("(archive)") {
                Some(rest) => format!("{}{rest}", bundle.display()),
                None => d.to_string(),
            };
            for l in &lines {
                writeln!(
                    out,
                    "{} {:<15} {}",
                    if l.ok { "ok  " } else { "FAIL" },
                    l.name,
                    detail(&l.detail)
                )
                .map_err(io)?;
            }
            if let Some(p) = lines.iter().find(|l| !l.ok) {
                return Err(AppError::VerifyFailed(format!(
                    "{}: {}",
                    p.name,
                    detail(&p.detail)
                )));
            }
            if let Some(r) = report
                .manifest
                .as_ref()
                .and_then(|m| m.rejudged_from.as_ref())
            {
                writeln!(out, "note {:<15} {}", "re-judged", r.describe()).map_err(io)?;
            }
            if let (Some(req), Some(v), Some(m)) = (require, &report.verdicts, &report.manifest) {
                check_required(m.run.status, v, level(req))?;
            }
            Ok(())
        }
        Command::Show {
            bundle,
            format,
            attestation,
        } => {
            bundle_file(&bundle)?;
            let signed = match &attestation.attestation {
                None => None,
                Some(att) => {
                    let keys = provenance::files::load_public_keys(&attestation.keys)?;
                    Some(provenance::files::who_signed(&bundle, att, &keys)?)
                }
            };
            let files = bundle::read::read_selected(&bundle, &Limits::default(), |p| {
                p == bundle::paths::MANIFEST
                    || p == bundle::paths::VERDICTS
                    || p == bundle::paths::INPUT_MESH
            })
            .map_err(crate::error::naming_bundle(&bundle))?;
            let need = |p: &str| {
                files.get(p).ok_or_else(|| {
                    AppError::Bundle(bundle::BundleError::Integrity {
                        file: p.to_string(),
                        reason: "missing from the bundle".into(),
                    })
                })
            };
            let bad = |p: &str, e: serde_json::Error| {
                AppError::Bundle(bundle::BundleError::Integrity {
                    file: p.to_string(),
                    reason: e.to_string(),
                })
            };
            let manifest: bundle::Manifest = serde_json::from_slice(need(bundle::paths::MANIFEST)?)
                .map_err(|e| bad(bundle::paths::MANIFEST, e))?;
            let verdicts: crate::verdict::Verdicts =
                serde_json::from_slice(need(bundle::paths::VERDICTS)?)
                    .map_err(|e| bad(bundle::paths::VERDICTS, e))?;
            let ctx = ReportContext::from_manifest(
                &manifest,
                files.get(bundle::paths::INPUT_MESH).map(Vec::as_slice),
            );
            let text = match format {
                ShowFormat::Table => report::table(&verdicts, &ctx),
                ShowFormat::Json => report::json_with_run(&verdicts, &ctx),
                ShowFormat::Junit => report::junit(&verdicts, &ctx),
                ShowFormat::Markdown => report::markdown(&verdicts, &ctx),
                // Refused (exit 2) for a run that is not complete.
                ShowFormat::Meshery => report::meshery_json(&verdicts, &ctx)
                    .map_err(|e| AppError::Usage(format!("{}: {e}", bundle.display())))?,
            };
            write!(out, "{text}").map_err(io)?;
            // The run's phase wall times, after the verdicts (not part of the re-rendered reports).
            if matches!(format, ShowFormat::Table | ShowFormat::Markdown) {
                match crate::timing::recorded(&manifest) {
                    Ok(Some(p)) if !p.is_empty() => {
                        let section = if matches!(format, ShowFormat::Table) {
                            crate::timing::table(&p)
                        } else {
                            crate::timing::markdown(&p)
                        };
                        write!(out, "{section}").map_err(io)?;
                    }
                    Ok(_) => {}
                    Err(e) => writeln!(out, "\nPhase wall times: unreadable ({e})").map_err(io)?,
                }
            }
            if let Some(c) = signed {
                let line = provenance::signed_by(&c);
                match format {
                    ShowFormat::Table | ShowFormat::Markdown => {
                        writeln!(out, "\n{line}").map_err(io)?
                    }
                    _ => eprintln!("{line}"),
                }
            }
            Ok(())
        }
        Command::Keygen { output } => {
            let pair = provenance::files::keygen(&output)?;
            writeln!(
                out,
                "wrote {} (private, owner-only) and {} (public)\nkeyid {}\nsign with `meshproof attest BUNDLE --key {}`; reviewers verify with `meshproof verify BUNDLE --attestation BUNDLE{} --key {}`",
                pair.private.display(),
                pair.public.display(),
                pair.keyid,
                pair.private.display(),
                provenance::files::ATTESTATION_SUFFIX,
                pair.public.display()
            )
            .map_err(io)?;
            Ok(())
        }
        Command::Attest {
            bundle: b,
            key,
            output,
            predicate,
            require,
            url,
            force,
        } => attest_command(&b, key, output, predicate, level(require), url, force, out),
        Command::Site(args) => crate::site::command(args, out),
        Command::Diff { a, b } => {
            bundle_file(&a)?;
            bundle_file(&b)?;
            let r = crate::diff::diff(&a, &b, &Limits::default())?;
            for l in r.sides.iter().chain(&r.lines) {
                writeln!(out, "{l}").map_err(io)?;
            }
            if r.lines.is_empty() {
                writeln!(out, "no differences").map_err(io)?;
            }
            if r.verdicts_differ {
                Err(AppError::Differs)
            } else {
                Ok(())
            }
        }
        Command::Bundle(BundleCommand::Pack {
            dir,
            output,
            scoring: s,
            force,
            from,
            jobs,
        }) => {
            let packed = bundle::write::pack(
                &dir,
                &output,
                &bundle::write::PackOptions {
                    scoring: s.map(scoring),
                    force,
                    from,
                    jobs,
                    tool: crate::tool(),
                },
            )?;
            writeln!(
                out,
                "wrote {} ({} files, {} bytes, sha256 {})",
                packed.path.display(),
                packed.files,
                packed.bytes,
                crate::sha256_file(&packed.path).map_err(io)?
            )
            .map_err(io)?;
            let ctx = ReportContext::from_manifest(&packed.manifest, None);
            write!(out, "{}", report::table(&packed.verdicts, &ctx)).map_err(io)?;
            Ok(())
        }
        Command::Bundle(BundleCommand::Unpack { bundle: b, output }) => {
            bundle_file(&b)?;
            let fresh = !output.exists();
            let unpacked = bundle::read::unpack(&b, &output, &Limits::default())
                .map_err(AppError::from)
                .and_then(|n| write_unpack_marker(&b, &output).map(|()| n));
            let n = match unpacked {
                Ok(n) => n,
                Err(e) => {
                    // A failed unpack leaves nothing behind, so the same command can be retried.
                    if fresh && output.exists() {
                        let _ = std::fs::remove_dir_all(&output);
                    }
                    return Err(match e {
                        AppError::Bundle(b2) => {
                            AppError::Bundle(crate::error::naming_bundle(&b)(b2))
                        }
                        other => other,
                    });
                }
            };
            writeln!(
                out,
                "unpacked {n} files into {} (run `meshproof verify {}` to check integrity)",
                output.display(),
                b.display()
            )
            .map_err(io)?;
            Ok(())
        }
    }
}

/// `meshproof attest`: the key is read first (a bad key writes nothing and verifies nothing).
#[allow(clippy::too_many_arguments)]
fn attest_command(
    bundle_path: &std::path::Path,
    key: Option<std::path::PathBuf>,
    output: Option<std::path::PathBuf>,
    predicate: Option<std::path::PathBuf>,
    require: Capability,
    url: Option<String>,
    force: bool,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    bundle_file(bundle_path)?;
    let key = key
        .as_deref()
        .map(provenance::files::load_signing_key)
        .transpose()?;
    let envelope = key
        .as_ref()
        .map(|_| output.unwrap_or_else(|| provenance::files::attestation_path(bundle_path)));
    let opts = provenance::files::AttestOptions {
        require,
        url,
        envelope: envelope.clone(),
        predicate: predicate.clone(),
        force,
    };
    let done = provenance::files::attest(bundle_path, key.as_ref(), &opts)?;
    let p = &done.statement.predicate;
    writeln!(
        out,
        "{} {} (require {}): {} passed, {} warned, {} failed checks",
        bundle_path.display(),
        p.result.as_str(),
        require.as_str().to_ascii_lowercase(),
        p.passed_tests.len(),
        p.warned_tests.len(),
        p.failed_tests.len()
    )
    .map_err(io_err)?;
    if let (Some(path), Some(keyid)) = (&envelope, &done.keyid) {
        writeln!(out, "wrote {} (signed, keyid {keyid})", path.display()).map_err(io_err)?;
    }
    if let Some(path) = &predicate {
        writeln!(
            out,
            "wrote {} (predicate of type {})",
            path.display(),
            provenance::TEST_RESULT_TYPE
        )
        .map_err(io_err)?;
    }
    Ok(())
}

/// `meshproof reproduce`: run the bundle's inputs again, then compare.
fn reproduce_command(
    catalog: &Catalog,
    bundle: &std::path::Path,
    args: &crate::cli::RerunArgs,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let (cancel, mut progress) = run_env(args.output, args.quiet)?;
    let opts = rerun_options(catalog, args);
    let mut platform = KindPlatform::new(catalog.clone()).map_err(pipeline::RunError::from)?;
    platform.interrupt_on(Arc::clone(&cancel));
    let (outcome, diff) = pipeline::reproduce(
        bundle,
        &opts,
        &mut platform,
        progress.as_mut(),
        &SystemClock::new(),
        &cancel,
    )?;
    progress.finished(&outcome);
    let mut err = std::io::stderr();
    let out = summary_writer(args.output, out, &mut err);
    let finished = finish_run(&outcome, None, out);
    writeln!(out, "\ncompared with {}:", bundle.display()).map_err(io_err)?;
    for l in &diff.lines {
        writeln!(out, "  {l}").map_err(io_err)?;
    }
    if diff.lines.is_empty() {
        writeln!(out, "  no differences").map_err(io_err)?;
    }
    // A reproduction that did not complete says so (exit 4) before any comparison.
    finished?;
    if diff.verdicts_differ {
        return Err(AppError::Differs);
    }
    Ok(())
}

/// `meshproof rerun [--failed]`: the cases that were not Full, again.
fn rerun_command(
    catalog: &Catalog,
    bundle: &std::path::Path,
    args: &crate::cli::RerunArgs,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let (cancel, mut progress) = run_env(args.output, args.quiet)?;
    let opts = rerun_options(catalog, args);
    let mut platform = KindPlatform::new(catalog.clone()).map_err(pipeline::RunError::from)?;
    platform.interrupt_on(Arc::clone(&cancel));
    let outcome = pipeline::rerun_failed(
        bundle,
        &opts,
        &mut platform,
        progress.as_mut(),
        &SystemClock::new(),
        &cancel,
    )?;
    let mut err = std::io::stderr();
    let Some(outcome) = outcome else {
        let out = summary_writer(args.output, out, &mut err);
        return writeln!(
            out,
            "every case {} planned is Full: nothing to rerun",
            bundle.display()
        )
        .map_err(io_err);
    };
    progress.finished(&outcome);
    finish_run(&outcome, None, summary_writer(args.output, out, &mut err))
}

/// Where the human summary goes: stdout, except with `--output jsonl`, whose stdout carries
/// only JSON lines (the summary goes to stderr then).
fn summary_writer<'a>(
    mode: OutputMode,
    out: &'a mut dyn Write,
    err: &'a mut std::io::Stderr,
) -> &'a mut dyn Write {
    match mode {
        OutputMode::Jsonl => err,
        _ => out,
    }
}

/// Say at once that Ctrl-C was seen and what happens next (the run itself stops within a
/// moment: the request in flight is dropped and no new phase starts).
fn announce_interrupt(cancel: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !cancel.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = writeln!(
            std::io::stderr(),
            "\ninterrupted: stopping now (no new phase starts); collecting evidence, tearing down \
             and writing an aborted bundle. Press Ctrl-C again to exit at once (a kind cluster \
             may be left; `meshproof gc` removes it)"
        );
    });
}

/// The Ctrl-C / SIGTERM flag (a second signal exits at once) and the progress reporter.
fn run_env(
    output: OutputMode,
    quiet: bool,
) -> Result<(Arc<AtomicBool>, Box<dyn Progress>), AppError> {
    let cancel = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while the run is stopping exits immediately (130).
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&cancel))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&cancel)))
            .map_err(|e| {
                AppError::Infrastructure(format!("cannot install signal handlers: {e}"))
            })?;
    }
    announce_interrupt(Arc::clone(&cancel));
    let progress: Box<dyn Progress> = match (output, quiet) {
        (OutputMode::Jsonl, _) => Box::new(JsonlProgress::new(std::io::stdout())),
        (_, true) => Box::new(QuietProgress),
        (OutputMode::Auto, false) if std::io::stderr().is_terminal() => {
            Box::new(TerminalProgress::default())
        }
        (OutputMode::Auto | OutputMode::Plain, false) => {
            Box::new(TextProgress::new(std::io::stderr()))
        }
    };
    Ok((cancel, progress))
}

fn run_command(catalog: &Catalog, args: RunArgs, out: &mut dyn Write) -> Result<(), AppError> {
    let s = args.selection;
    let req = pipeline::RunRequest {
        plan: PlanRequest {
            cluster: s.cluster,
            mesh: s.mesh,
            workload: s.workload,
            suite: s.suite,
            only: s.only,
            scoring: scoring(s.scoring),
            timeout_scale: s.timeout_scale,
            force: s.force,
        },
        keep: args.keep,
        require: args.require.map(level),
        out: args.out,
        kubeconfig: args.kubeconfig,
        context: args.context,
        mesh_installed: args.mesh_installed,
        overrides: Default::default(),
        parent: None,
        image_pins: Default::default(),
        sign_key: args.sign_key,
        probe_image: None,
    };
    let (probe_image, context) = match check_external(&req, args.probe_image)? {
        Some((image, context)) => (Some(image), Some(context)),
        None => (None, req.context.clone()),
    };
    // The context is resolved once (the file's current-context when none was given), so the
    // bundle and the summary name it.
    let req = pipeline::RunRequest {
        probe_image,
        context,
        ..req
    };
    check_mesh_artifacts(catalog, &req)?;
    let output = args.output;
    let (cancel, mut progress) = run_env(output, args.quiet)?;
    let mut platform = KindPlatform::new(catalog.clone()).map_err(pipeline::RunError::from)?;
    platform.interrupt_on(Arc::clone(&cancel));
    let outcome = pipeline::run(
        catalog,
        &req,
        &mut platform,
        progress.as_mut(),
        &SystemClock::new(),
        &cancel,
    )?;
    progress.finished(&outcome);
    let mut err = std::io::stderr();
    finish_run(&outcome, req.require, summary_writer(output, out, &mut err))
}

/// `--kubeconfig`: the file, its context and the probe image the cluster must pull are checked
/// before anything touches the cluster or writes a file (exit 2 naming what is wrong).
/// Returns the probe image and the context used.
fn check_external(
    req: &pipeline::RunRequest,
    flag: Option<String>,
) -> Result<Option<(String, String)>, AppError> {
    let Some(kubeconfig) = &req.kubeconfig else {
        return Ok(None);
    };
    let target = meshproof_kube::check_kubeconfig(kubeconfig, req.context.as_deref())
        .map_err(|e| AppError::Usage(format!("--kubeconfig: {e}")))?;
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
fn check_mesh_artifacts(catalog: &Catalog, req: &pipeline::RunRequest) -> Result<(), AppError> {
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
        crate::install::cli::download_for(c, &crate::install::cli::host_platform())
            .map_err(|e| AppError::Usage(format!("{} ({}): {e}", pin.value.id(), pin.path)))?;
    }
    let Some(l) = lock::load_for(catalog, &pin)? else {
        return Ok(());
    };
    lock::check(&pin.value, &l.value, &l.path)
        .map_err(|e| AppError::VerifyFailed(e.to_string()))?;
    lock::verify_artifacts(&pin.value, &l.value).map_err(|e| match e {
        InstallError::DigestMismatch { .. } => AppError::VerifyFailed(format!("{}: {e}", l.path)),
        other => AppError::Infrastructure(other.to_string()),
    })
}

/// `meshproof lock --cluster NAME`: download the pin's kind release binaries, check them, and
/// write `clusters/<name>.lock.yaml`.
fn lock_cluster_command(
    catalog: &Catalog,
    cluster: &str,
    dest: Option<std::path::PathBuf>,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    use crate::install::InstallError;
    let pin = catalog.select_cluster(cluster)?;
    let get =
        |url: &str| crate::install::fetch::get_limited(url, crate::kind_binary::MAX_KIND_BYTES);
    let lock =
        crate::kind_binary::resolve_lock(&pin.value, &crate::env::kind_download_base(), &get)
            .map_err(|e| match e {
                InstallError::DigestMismatch { .. } => AppError::VerifyFailed(e.to_string()),
                InstallError::Lock { .. } => AppError::Usage(e.to_string()),
                other => AppError::Infrastructure(other.to_string()),
            })?;
    let rel = crate::kind_binary::lock_path(&pin.path);
    let path = lock_destination(catalog, &rel, dest)?;
    write_lock(&path, &crate::kind_binary::render_lock(&lock))?;
    writeln!(
        out,
        "wrote {} (kind v{}: {} binaries)",
        path.display(),
        lock.spec.kind.version,
        lock.spec.kind.binaries.len()
    )
    .map_err(io_err)
}

/// `meshproof lock --mesh X@V`: download the pin's artifacts and write `<version>.lock.yaml`.
fn lock_command(
    catalog: &Catalog,
    mesh: &str,
    with_images: bool,
    dest: Option<std::path::PathBuf>,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    use crate::install::{lock, InstallError};
    use crate::spec::mesh::InstallMethod;
    let pin = catalog.select_mesh(mesh)?;
    if pin.value.spec.install.method == InstallMethod::Unpinned {
        return Err(AppError::Usage(format!(
            "{} cannot be locked: {}",
            pin.value.id(),
            pin.value
                .spec
                .install
                .reason
                .as_deref()
                .unwrap_or("unpinned")
        )));
    }
    let scratch = tempfile::Builder::new()
        .prefix("meshproof-lock-")
        .tempdir()
        .map_err(|e| AppError::Infrastructure(format!("creating a scratch directory: {e}")))?;
    let registry = |reference: &str| crate::install::registry::resolve(reference);
    // No cluster here: charts render for the Kubernetes version of the pin `run` picks by default.
    let (cluster, _) =
        catalog.select_cluster_for(crate::spec::catalog::DEFAULT_CLUSTER, &pin.value, true)?;
    let images = lock::ImageResolution {
        helm: std::path::Path::new("helm"),
        scratch: scratch.path(),
        capabilities: crate::install::helm::Capabilities {
            kube_version: format!("v{}", cluster.value.spec.kubernetes_version),
            api_versions: Vec::new(),
        },
        resolve: &registry,
    };
    let resolved =
        lock::resolve(&pin.value, with_images.then_some(&images)).map_err(|e| match e {
            InstallError::DigestMismatch { .. } => AppError::VerifyFailed(e.to_string()),
            InstallError::NotInIndex { .. } => AppError::Usage(e.to_string()),
            other => AppError::Infrastructure(other.to_string()),
        })?;
    let rel = crate::spec::mesh::Mesh::lock_path(&pin.path);
    let path = lock_destination(catalog, &rel, dest)?;
    if !with_images {
        if let Ok(Some(previous)) = lock::load_for(catalog, &pin) {
            if !previous.value.spec.images.is_empty() {
                writeln!(
                    out,
                    "note: {rel} had {} image digest(s); --no-images writes it without them (images are installed by tag)",
                    previous.value.spec.images.len()
                )
                .map_err(io_err)?;
            }
        }
    }
    write_lock(&path, &lock::render(&resolved))?;
    let clis = if resolved.spec.cli.is_empty() {
        String::new()
    } else {
        format!(", {} CLI download(s)", resolved.spec.cli.len())
    };
    let images = if with_images {
        format!(", {} image(s)", resolved.spec.images.len())
    } else {
        ", images not resolved (--no-images)".to_string()
    };
    writeln!(
        out,
        "wrote {} ({} chart(s), {} manifest(s){clis}{images})",
        path.display(),
        resolved.spec.charts.len(),
        resolved.spec.manifests.len()
    )
    .map_err(io_err)?;
    for c in &resolved.spec.charts {
        writeln!(out, "  {} {}  sha256:{}", c.chart, c.version, c.sha256).map_err(io_err)?;
    }
    for m in &resolved.spec.manifests {
        writeln!(out, "  {}  sha256:{}", m.url, m.sha256).map_err(io_err)?;
    }
    for c in &resolved.spec.cli {
        writeln!(out, "  {} {}  sha256:{}", c.platform, c.url, c.sha256).map_err(io_err)?;
    }
    for i in &resolved.spec.images {
        writeln!(out, "  {}  {}", i.reference, i.digest).map_err(io_err)?;
    }
    Ok(())
}

/// Where `lock` writes: `--out`, else `<data dir>/<rel>` (which `run` reads when the catalog has
/// no lock next to the pin, see `Catalog::user_locks`) — never the catalog itself, which may be the build tree or the
/// read-only Nix store. Commit a lock by passing `--out <root>/<rel>`.
fn lock_destination(
    catalog: &Catalog,
    rel: &str,
    dest: Option<std::path::PathBuf>,
) -> Result<std::path::PathBuf, AppError> {
    if let Some(p) = dest {
        return Ok(p);
    }
    let dir = catalog.user_locks.clone().ok_or_else(|| {
        AppError::Usage(format!(
            "no data directory (set {} or {}): pass --out FILE",
            crate::env::XDG_DATA_HOME,
            crate::env::HOME
        ))
    })?;
    let path = dir.join(rel);
    if catalog.root.join(rel).is_file() {
        eprintln!(
            "note: {} exists and is what `run` uses for this pin; the new lock goes to {} (pass --out {} to replace it)",
            catalog.root.join(rel).display(),
            path.display(),
            catalog.root.join(rel).display()
        );
    }
    Ok(path)
}

fn write_lock(path: &std::path::Path, text: &str) -> Result<(), AppError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| AppError::Infrastructure(format!("{}: {e}", parent.display())))?;
    }
    std::fs::write(path, text)
        .map_err(|e| AppError::Infrastructure(format!("{}: {e}", path.display())))
}

/// `meshproof man`: the top-level page on stdout, or every page into `dir`.
fn man_command(dir: Option<&std::path::Path>, out: &mut dyn Write) -> Result<(), AppError> {
    let cmd = <Cli as clap::CommandFactory>::command();
    match dir {
        None => {
            clap_mangen::Man::new(cmd).render(out).map_err(io_err)?;
            out.flush().map_err(io_err)
        }
        Some(dir) => {
            if !dir.is_dir() {
                return Err(AppError::Usage(format!(
                    "--out-dir {}: not a directory",
                    dir.display()
                )));
            }
            clap_mangen::generate_to(cmd, dir)
                .map_err(|e| AppError::Infrastructure(format!("{}: {e}", dir.display())))?;
            writeln!(out, "wrote the man pages into {}", dir.display()).map_err(io_err)
        }
    }
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
    let manifest: bundle::Manifest = serde_json::from_slice(&files[bundle::paths::MANIFEST])
        .map_err(|e| AppError::Infrastructure(format!("reading back the manifest: {e}")))?;
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
            return Err(AppError::Infrastructure(format!(
                "{}: the harness kept them from finishing, so they claim no capability; the \
                 bundle {} holds what was recorded",
                outcome
                    .status
                    .why_not_complete(&outcome.verdicts)
                    .unwrap_or_else(|| "run incomplete".into()),
                outcome.bundle.display()
            )))
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

/// `reproduce`/`rerun` options from the command line; the catalog supplies `--cluster` pins and
/// a workload the bundle lacks.
fn rerun_options(catalog: &Catalog, args: &crate::cli::RerunArgs) -> pipeline::RerunOptions {
    pipeline::RerunOptions {
        out: args.out.clone(),
        keep: args.keep,
        cluster: args.cluster.clone(),
        force: args.force,
        catalog: Some(catalog.clone()),
        sign_key: args.sign_key.clone(),
    }
}

/// Record in a freshly unpacked directory which bundle it came from, so `bundle pack` of it
/// names the original in `rejudged_from`.
fn write_unpack_marker(
    bundle_path: &std::path::Path,
    dir: &std::path::Path,
) -> Result<(), AppError> {
    let files = bundle::read::read_selected(bundle_path, &Limits::default(), |p| {
        p == bundle::paths::MANIFEST
    })?;
    let run_id = files
        .get(bundle::paths::MANIFEST)
        .and_then(|b| serde_json::from_slice::<bundle::Manifest>(b).ok())
        .map(|m| m.run.id)
        .ok_or_else(|| {
            AppError::Bundle(bundle::BundleError::Integrity {
                file: format!("{}: {}", bundle_path.display(), bundle::paths::MANIFEST),
                reason: "missing or unreadable".into(),
            })
        })?;
    let marker = bundle::write::UnpackMarker {
        bundle: bundle_path.display().to_string(),
        bundle_sha256: crate::sha256_file(bundle_path)
            .map_err(|e| AppError::Infrastructure(format!("{}: {e}", bundle_path.display())))?,
        run_id,
    };
    let p = dir.join(bundle::paths::UNPACK_MARKER);
    std::fs::write(&p, marker.to_json())
        .map_err(|e| AppError::Infrastructure(format!("{}: {e}", p.display())))
}

fn io_err(e: std::io::Error) -> AppError {
    AppError::Output(e)
}

/// `--require`: the run must be complete (every planned case finished, at least one case), and
/// every case at least `required`; otherwise exit 1 naming the status or the cases.
fn check_required(
    status: bundle::RunStatus,
    v: &crate::verdict::Verdicts,
    required: Capability,
) -> Result<(), AppError> {
    if let Some(why) = status.why_not_complete(v) {
        return Err(AppError::BelowRequired(format!(
            "--require {}: {why}; only a complete run can meet a required capability",
            required.as_str().to_ascii_lowercase()
        )));
    }
    let below = v.below(required);
    if below.is_empty() {
        return Ok(());
    }
    Err(AppError::BelowRequired(format!(
        "below the required capability {}: {}",
        required.as_str(),
        below
            .iter()
            .map(|c| format!("{} ({})", c.name, v.capability_word(c)))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

enum ListError {
    Spec(crate::spec::SpecError),
    Io(std::io::Error),
}

impl From<crate::spec::SpecError> for ListError {
    fn from(e: crate::spec::SpecError) -> Self {
        ListError::Spec(e)
    }
}
impl From<std::io::Error> for ListError {
    fn from(e: std::io::Error) -> Self {
        ListError::Io(e)
    }
}

fn list(catalog: &Catalog, what: ListWhat, out: &mut dyn Write) -> Result<(), ListError> {
    match what {
        ListWhat::Meshes => {
            let mut rows = vec![[
                "MESH".to_string(),
                "STATUS".into(),
                "SMI".into(),
                "DESCRIPTION".into(),
            ]];
            for m in catalog.meshes()? {
                let smi = if m.value.spec.smi.is_empty() {
                    "-".to_string()
                } else {
                    m.value
                        .spec
                        .smi
                        .iter()
                        .map(|(g, v)| {
                            format!("{}:{}", g.split('.').next().unwrap_or(g), v.join("+"))
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                rows.push([
                    m.value.id(),
                    m.value.spec.project.status.as_str().to_string(),
                    smi,
                    m.value.metadata.description.clone(),
                ]);
            }
            print_rows(out, &rows)?;
        }
        ListWhat::Clusters => {
            let all = catalog.clusters()?;
            let default = catalog
                .select_cluster(crate::spec::catalog::DEFAULT_CLUSTER)
                .ok();
            let mut rows = vec![[
                "CLUSTER".to_string(),
                "KUBERNETES".into(),
                "KIND".into(),
                "DESCRIPTION".into(),
            ]];
            for c in all {
                let mut name = c.value.metadata.name.clone();
                if default.as_ref().is_some_and(|d| d.path == c.path) {
                    name.push_str(" (kind-default)");
                }
                rows.push([
                    name,
                    c.value.spec.kubernetes_version.clone(),
                    c.value.spec.kind.version.clone(),
                    c.value.metadata.description.clone(),
                ]);
            }
            print_rows(out, &rows)?;
        }
        ListWhat::Workloads => {
            let mut rows = vec![[
                "WORKLOAD".to_string(),
                "LAYOUTS".into(),
                "DESCRIPTION".into(),
                String::new(),
            ]];
            for w in catalog.workloads()? {
                rows.push([
                    w.value.metadata.name.clone(),
                    w.value
                        .spec
                        .layouts
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                    w.value.metadata.description.clone(),
                    String::new(),
                ]);
            }
            print_rows(out, &rows)?;
        }
        ListWhat::Suites => {
            let mut rows = vec![[
                "SUITE/CASE".to_string(),
                "SMI SPEC".into(),
                "STEPS".into(),
                "DESCRIPTION".into(),
            ]];
            for name in catalog.suite_names()? {
                let (suite, _) = catalog.suite(&name)?;
                for c in &suite.cases {
                    rows.push([
                        format!("{name}/{}", c.name()),
                        c.case.spec.smi_spec.clone(),
                        c.case.spec.steps.len().to_string(),
                        c.case.metadata.description.clone(),
                    ]);
                }
            }
            print_rows(out, &rows)?;
        }
    }
    Ok(())
}

fn print_rows(out: &mut dyn Write, rows: &[[String; 4]]) -> std::io::Result<()> {
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}
