//! `meshproof plan`: what a run would do, step by step, with every input's sha256.

use std::io::Write;

use super::io_err;
use crate::cli::{PlanFormat, Selection};
use crate::error::AppError;
use crate::plan::{self, PlanRequest};
use crate::spec::catalog::Catalog;

/// The plan request of a command-line selection (`plan` and `run` alike).
pub(crate) fn request(s: Selection) -> PlanRequest {
    PlanRequest {
        cluster: s.cluster,
        mesh: s.mesh,
        workload: s.workload,
        suite: s.suite,
        only: s.only,
        scoring: super::scoring(s.scoring),
        timeout_scale: s.timeout_scale,
        force: s.force,
    }
}

pub fn command(
    catalog: &Catalog,
    selection: Selection,
    format: PlanFormat,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let p = plan::plan(catalog, &request(selection))?;
    match format {
        PlanFormat::Text => write!(out, "{}", plan::render(&p)),
        PlanFormat::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&p).expect("plan serializes")
        ),
    }
    .map_err(io_err)
}
