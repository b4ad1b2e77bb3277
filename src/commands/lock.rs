//! `meshproof lock --mesh X@V` (a mesh pin's remote artifacts and image digests) and
//! `meshproof lock --cluster NAME` (a cluster pin's kind binaries) into lock files.

use std::io::Write;

use super::io_err;
use crate::cli::LockArgs;
use crate::error::{AppError, Class};
use crate::spec::catalog::Catalog;

pub fn command(catalog: &Catalog, args: LockArgs, out: &mut dyn Write) -> Result<(), AppError> {
    match (args.mesh, args.cluster) {
        (_, Some(name)) => cluster(catalog, &name, args.out, out),
        (Some(m), None) => mesh(catalog, &m, !args.no_images, args.out, out),
        (None, None) => Err(AppError::Usage("lock needs --mesh or --cluster".into())),
    }
}

/// `meshproof lock --cluster NAME`: download the pin's kind release binaries, check them, and
/// write `clusters/<name>.lock.yaml`.
fn cluster(
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
            .map_err(|e| {
                let class = match e {
                    InstallError::DigestMismatch { .. } => Class::VerifyFailed,
                    InstallError::Lock { .. } => Class::BadInput,
                    _ => Class::Infrastructure,
                };
                AppError::install(class, "")(e)
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
fn mesh(
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
        .map_err(AppError::io("creating a scratch directory"))?;
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
    let resolved = lock::resolve(&pin.value, with_images.then_some(&images)).map_err(|e| {
        let class = match e {
            InstallError::DigestMismatch { .. } => Class::VerifyFailed,
            InstallError::NotInIndex { .. } => Class::BadInput,
            _ => Class::Infrastructure,
        };
        AppError::install(class, "")(e)
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
    print_resolved(&path, &resolved, with_images, out).map_err(io_err)
}

/// What `lock --mesh` wrote: counts, then every artifact with its digest.
fn print_resolved(
    path: &std::path::Path,
    resolved: &crate::install::lock::Lock,
    with_images: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
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
    )?;
    for c in &resolved.spec.charts {
        writeln!(out, "  {} {}  sha256:{}", c.chart, c.version, c.sha256)?;
    }
    for m in &resolved.spec.manifests {
        writeln!(out, "  {}  sha256:{}", m.url, m.sha256)?;
    }
    for c in &resolved.spec.cli {
        writeln!(out, "  {} {}  sha256:{}", c.platform, c.url, c.sha256)?;
    }
    for i in &resolved.spec.images {
        writeln!(out, "  {}  {}", i.reference, i.digest)?;
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
        std::fs::create_dir_all(parent).map_err(AppError::io(parent.display()))?;
    }
    std::fs::write(path, text).map_err(AppError::io(path.display()))
}
