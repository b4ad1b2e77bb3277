//! `meshproof reproduce BUNDLE`: run again with a bundle's exact inputs, then compare the
//! verdicts (exit 1 when they differ).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::session::Session;
use super::{bundle_file, io_err};
use crate::cli::RerunArgs;
use crate::error::AppError;
use crate::pipeline;
use crate::suite::SystemClock;

/// `root` is `--root`: the catalog is read once the bundle argument is known to be a file.
pub fn command(
    root: Option<PathBuf>,
    bundle: &Path,
    args: &RerunArgs,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    bundle_file(bundle)?;
    let (mut s, opts) = Session::rerun(&super::inputs(root)?, args)?;
    let (outcome, diff) = pipeline::reproduce(
        bundle,
        &opts,
        &mut s.platform,
        s.progress.as_mut(),
        &SystemClock::new(),
        &s.cancel,
    )?;
    s.progress.finished(&outcome);
    let mut err = std::io::stderr();
    let out = s.summary(out, &mut err);
    let finished = super::run::finish_run(&outcome, None, out);
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
