//! `meshproof bundle pack` (judge a run directory's observations into a bundle) and
//! `meshproof bundle unpack` (extract a bundle safely into a new directory).

use std::io::Write;
use std::path::Path;

use super::{bundle_file, io_err, scoring};
use crate::bundle::{self, Limits};
use crate::cli::PackArgs;
use crate::error::AppError;
use crate::report::{self, ReportContext};

pub fn pack(args: PackArgs, out: &mut dyn Write) -> Result<(), AppError> {
    let opts = bundle::write::PackOptions {
        scoring: args.scoring.map(scoring),
        force: args.force,
        from: args.from,
        jobs: args.jobs,
        tool: crate::tool(),
    };
    let packed = crate::seal::pack(&args.dir, &args.output, &opts)?;
    writeln!(
        out,
        "wrote {} ({} files, {} bytes, sha256 {})",
        packed.path.display(),
        packed.files,
        packed.bytes,
        crate::sha256_file(&packed.path).map_err(io_err)?
    )
    .map_err(io_err)?;
    let ctx = ReportContext::from_manifest(&packed.manifest, None);
    write!(out, "{}", report::table(&packed.verdicts, &ctx)).map_err(io_err)
}

pub fn unpack(bundle: &Path, output: &Path, out: &mut dyn Write) -> Result<(), AppError> {
    bundle_file(bundle)?;
    let fresh = !output.exists();
    let unpacked = bundle::read::unpack(bundle, output, &Limits::default())
        .map_err(AppError::from)
        .and_then(|n| write_unpack_marker(bundle, output).map(|()| n));
    let n = match unpacked {
        Ok(n) => n,
        Err(e) => {
            // A failed unpack leaves nothing behind, so the same command can be retried.
            if fresh && output.exists() {
                let _ = std::fs::remove_dir_all(output);
            }
            return Err(match e {
                AppError::Bundle(b) => AppError::Bundle(crate::error::naming_bundle(bundle)(b)),
                other => other,
            });
        }
    };
    writeln!(
        out,
        "unpacked {n} files into {} (run `meshproof verify {}` to check integrity)",
        output.display(),
        bundle.display()
    )
    .map_err(io_err)
}

/// Record in a freshly unpacked directory which bundle it came from, so `bundle pack` of it
/// names the original in `rejudged_from`.
fn write_unpack_marker(bundle_path: &Path, dir: &Path) -> Result<(), AppError> {
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
            .map_err(AppError::io(bundle_path.display()))?,
        run_id,
    };
    let p = dir.join(bundle::paths::UNPACK_MARKER);
    std::fs::write(&p, marker.to_json()).map_err(AppError::io(p.display()))
}
