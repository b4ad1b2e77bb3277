//! Sealing a run: [`pack`] a run directory into a bundle with this build's reports, and
//! [`verify`] a bundle against them. The one place the bundle format (`bundle`) and the
//! renderings (`report`) meet, so the bundle layer never imports the reports above it.

use std::path::Path;

use crate::bundle::verify::VerifyReport;
use crate::bundle::write::{PackOptions, Packed};
use crate::bundle::{BundleError, Limits, RenderReports};
use crate::report::BundleReports;

/// Pack `dir` into `out` with this build's reports: judge, render, write. The output appears
/// atomically (temp file + rename) or not at all.
pub fn pack(dir: &Path, out: &Path, opts: &PackOptions) -> Result<Packed, BundleError> {
    let prepared = crate::bundle::write::prepare(dir, out, opts)?;
    let reports = BundleReports.render(&prepared.verdicts, &prepared.manifest, prepared.mesh_pin());
    prepared.write(reports)
}

/// Verify a bundle offline, its reports against this build's renderings. Never needs Docker, a
/// cluster or the network.
pub fn verify(bundle: &Path, limits: &Limits) -> VerifyReport {
    crate::bundle::verify::verify(bundle, limits, &BundleReports)
}
