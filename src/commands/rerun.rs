//! `meshproof rerun [--failed] BUNDLE`: run the cases of a bundle that were not Full again; the
//! new bundle names its parent.

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
    let outcome = pipeline::rerun_failed(
        bundle,
        &opts,
        &mut s.platform,
        s.progress.as_mut(),
        &SystemClock::new(),
        &s.cancel,
    )?;
    let mut err = std::io::stderr();
    let Some(outcome) = outcome else {
        let out = s.summary(out, &mut err);
        return writeln!(
            out,
            "every case {} planned is Full: nothing to rerun",
            bundle.display()
        )
        .map_err(io_err);
    };
    s.progress.finished(&outcome);
    super::run::finish_run(&outcome, None, s.summary(out, &mut err))
}
