//! `meshproof diff A B`: two bundles' inputs, resolved pins and verdicts compared (exit 1 when
//! the verdicts differ).

use std::io::Write;
use std::path::Path;

use super::{bundle_file, io_err};
use crate::bundle::Limits;
use crate::error::AppError;

pub fn command(a: &Path, b: &Path, out: &mut dyn Write) -> Result<(), AppError> {
    bundle_file(a)?;
    bundle_file(b)?;
    let r = crate::diff::diff(a, b, &Limits::default())?;
    for l in r.sides.iter().chain(&r.lines) {
        writeln!(out, "{l}").map_err(io_err)?;
    }
    if r.lines.is_empty() {
        writeln!(out, "no differences").map_err(io_err)?;
    }
    if r.verdicts_differ {
        Err(AppError::Differs)
    } else {
        Ok(())
    }
}
