//! One module per command of the command line (`app` dispatches to them), and what several
//! commands share: the input catalog, the bundle-file check, `--require`, and output errors.

pub mod attest;
pub mod bundle;
pub mod completions;
pub mod diff;
pub mod doctor;
pub mod gc;
pub mod keygen;
pub mod list;
pub mod lock;
pub mod man;
pub mod plan;
pub mod reproduce;
pub mod rerun;
pub mod run;
mod session;
pub mod show;
pub mod site;
pub mod verify;

use std::path::{Path, PathBuf};

use crate::bundle::{BundleError, RunStatus};
use crate::cli::{LevelArg, ScoringArg};
use crate::env::RootSource;
use crate::error::AppError;
use crate::spec::catalog::Catalog;
use crate::verdict::{Capability, Scoring, Verdicts};

/// Writing to stdout failed (a closed pipe is not an error: see `AppError::is_broken_pipe`).
pub(crate) fn io_err(e: std::io::Error) -> AppError {
    AppError::Output(e)
}

pub(crate) fn scoring(s: ScoringArg) -> Scoring {
    match s {
        ScoringArg::Strict => Scoring::Strict,
        ScoringArg::Meshery => Scoring::Meshery,
    }
}

pub(crate) fn level(l: LevelArg) -> Capability {
    match l {
        LevelArg::Full => Capability::Full,
        LevelArg::Partial => Capability::Partial,
        LevelArg::None => Capability::None,
    }
}

/// The input catalog of a command that reads inputs: the root must hold `suites/` and
/// `clusters/` (else exit 2 naming the path and how it was chosen); printed once on stderr.
pub fn inputs(flag: Option<PathBuf>) -> Result<Catalog, AppError> {
    let (root, source) = crate::env::catalog_root(flag);
    check_root(&root, source)?;
    eprintln!("inputs: {} ({})", root.display(), source.describe());
    Ok(Catalog::new(root).with_user_locks(crate::env::data_dir()))
}

/// An unusable root is bad input: it names the path, what is missing and how it was chosen.
fn check_root(root: &Path, source: RootSource) -> Result<(), AppError> {
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
pub(crate) fn bundle_file(path: &Path) -> Result<(), AppError> {
    let reason = if path.is_dir() {
        "is a directory, not a bundle file (`meshproof bundle pack DIR --out FILE` makes one)"
    } else if !path.exists() {
        "no such bundle file"
    } else if !path.is_file() {
        "not a regular file"
    } else {
        return Ok(());
    };
    Err(AppError::Bundle(BundleError::BadInput {
        file: path.display().to_string(),
        reason: reason.into(),
    }))
}

/// `--require`: the run must be complete (every planned case finished, at least one case), and
/// every case at least `required`; otherwise exit 1 naming the status or the cases.
pub(crate) fn check_required(
    status: RunStatus,
    v: &Verdicts,
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
