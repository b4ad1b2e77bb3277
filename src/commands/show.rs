//! `meshproof show BUNDLE`: a bundle's verdicts in one [`Format`], the run's phase wall times
//! after a table or Markdown, and with `--attestation` who signed it.

use std::collections::BTreeMap;
use std::io::Write;

use super::{bundle_file, io_err};
use crate::bundle::{self, paths, BundleError, Limits};
use crate::cli::{ShowArgs, ShowFormat};
use crate::error::AppError;
use crate::provenance::{self, files};
use crate::report::{Format, ReportContext};

impl From<ShowFormat> for Format {
    fn from(f: ShowFormat) -> Format {
        match f {
            ShowFormat::Table => Format::Table,
            ShowFormat::Json => Format::Json,
            ShowFormat::Junit => Format::Junit,
            ShowFormat::Markdown => Format::Markdown,
            ShowFormat::Meshery => Format::Meshery,
        }
    }
}

pub fn command(args: &ShowArgs, out: &mut dyn Write) -> Result<(), AppError> {
    let (bundle, attestation) = (args.bundle.as_path(), &args.attestation);
    let format = Format::from(args.format);
    bundle_file(bundle)?;
    let signed = match &attestation.attestation {
        None => None,
        Some(att) => {
            let keys = files::load_public_keys(&attestation.keys)?;
            Some(files::who_signed(bundle, att, &keys)?)
        }
    };
    let files = bundle::read::read_selected(bundle, &Limits::default(), |p| {
        p == paths::MANIFEST || p == paths::VERDICTS || p == paths::INPUT_MESH
    })
    .map_err(crate::error::naming_bundle(bundle))?;
    let manifest: bundle::Manifest = parse(&files, paths::MANIFEST)?;
    let verdicts: crate::verdict::Verdicts = parse(&files, paths::VERDICTS)?;
    let ctx =
        ReportContext::from_manifest(&manifest, files.get(paths::INPUT_MESH).map(Vec::as_slice));
    // Refused (exit 2) for a run that is not complete.
    let text = format
        .render(&verdicts, &ctx)
        .map_err(|source| AppError::Report {
            bundle: bundle.to_path_buf(),
            source,
        })?;
    write!(out, "{text}").map_err(io_err)?;
    let human = matches!(format, Format::Table | Format::Markdown);
    if human {
        phase_times(&manifest, format, out)?;
    }
    if let Some(c) = signed {
        let line = provenance::signed_by(&c);
        if human {
            writeln!(out, "\n{line}").map_err(io_err)?;
        } else {
            eprintln!("{line}");
        }
    }
    Ok(())
}

/// A bundle file parsed as JSON; a missing or unreadable one is an integrity failure.
fn parse<T: serde::de::DeserializeOwned>(
    files: &BTreeMap<String, Vec<u8>>,
    p: &str,
) -> Result<T, AppError> {
    let integrity = |reason: String| {
        AppError::Bundle(BundleError::Integrity {
            file: p.to_string(),
            reason,
        })
    };
    let bytes = files
        .get(p)
        .ok_or_else(|| integrity("missing from the bundle".into()))?;
    serde_json::from_slice(bytes).map_err(|e| integrity(e.to_string()))
}

/// The run's phase wall times, after the verdicts (not part of the re-rendered reports).
fn phase_times(
    manifest: &bundle::Manifest,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    match crate::timing::recorded(manifest) {
        Ok(Some(p)) if !p.is_empty() => {
            let section = if format == Format::Table {
                crate::timing::table(&p)
            } else {
                crate::timing::markdown(&p)
            };
            write!(out, "{section}").map_err(io_err)
        }
        Ok(_) => Ok(()),
        Err(e) => writeln!(out, "\nPhase wall times: unreadable ({e})").map_err(io_err),
    }
}
