//! `meshproof site BUNDLE_OR_DIR… -o DIR`: build the static site from bundles, verifying each
//! one; print what was rejected and a summary (exit 3 when an input was rejected).

use std::io::Write;

use super::io_err;
use crate::error::AppError;
use crate::site::{self, SiteArgs};

/// `meshproof site …`: build, print what was rejected and a summary; exit 3 when an input was
/// rejected (unless `--allow-rejected`).
pub fn command(args: SiteArgs, out: &mut dyn Write) -> Result<(), AppError> {
    let keys = crate::provenance::files::load_public_keys(&args.keys)?;
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let opts = site::SiteOptions {
        keys,
        require_signed: args.require_signed,
        jobs: jobs.max(1),
    };
    let report = site::build(&args.inputs, &args.output, &opts)?;
    for r in &report.rejected {
        writeln!(out, "rejected {}: {}", r.name, r.reason).map_err(io_err)?;
    }
    writeln!(
        out,
        "wrote {} ({} files): {} verified bundle(s), {} rejected input(s)",
        args.output.display(),
        report.files,
        report.bundles,
        report.rejected.len()
    )
    .map_err(io_err)?;
    if !report.rejected.is_empty() && !args.allow_rejected {
        return Err(AppError::VerifyFailed(format!(
            "{} input(s) rejected (listed above and on the site, never shown as results); \
             --allow-rejected exits 0",
            report.rejected.len()
        )));
    }
    Ok(())
}
