//! `meshproof verify BUNDLE`: re-verify a bundle offline (safety, checksums, format, re-judged
//! verdicts), with `--attestation` its signed statement first.

use std::io::Write;

use super::{bundle_file, check_required, io_err, level};
use crate::bundle::Limits;
use crate::cli::VerifyArgs;
use crate::error::AppError;
use crate::provenance::files;

pub fn command(args: &VerifyArgs, out: &mut dyn Write) -> Result<(), AppError> {
    let (bundle, attestation) = (args.bundle.as_path(), &args.attestation);
    bundle_file(bundle)?;
    let (lines, report) = match &attestation.attestation {
        None => {
            let report = crate::seal::verify(bundle, &Limits::default());
            (report.lines.clone(), report)
        }
        Some(att) => {
            let keys = files::load_public_keys(&attestation.keys)?;
            let (lines, verified) = files::verify_with_attestation(bundle, att, &keys)?;
            (lines, verified.report)
        }
    };
    // The reader calls the archive itself "(archive)": name the file instead.
    let detail = |d: &str| match d.strip_prefix("(archive)") {
        Some(rest) => format!("{}{rest}", bundle.display()),
        None => d.to_string(),
    };
    for l in &lines {
        let status = if l.ok { "ok  " } else { "FAIL" };
        writeln!(out, "{status} {:<15} {}", l.name, detail(&l.detail)).map_err(io_err)?;
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
        writeln!(out, "note {:<15} {}", "re-judged", r.describe()).map_err(io_err)?;
    }
    if let (Some(req), Some(v), Some(m)) = (args.require, &report.verdicts, &report.manifest) {
        check_required(m.run.status, v, level(req))?;
    }
    Ok(())
}
