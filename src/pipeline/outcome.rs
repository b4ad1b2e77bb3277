//! What a run produced: its id, status, bundle, verdicts, and why it ended early. Below the
//! pipeline and its progress reporters, which both speak of it.

use std::path::PathBuf;
use std::sync::Arc;

use super::error::{PlatformError, RunError};
use crate::bundle::RunStatus;
use crate::verdict::Verdicts;

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub run_id: String,
    /// As the bundle records it: `incomplete` when a case did not finish.
    pub status: RunStatus,
    pub bundle: PathBuf,
    pub verdicts: Verdicts,
    /// The infrastructure error (or the interrupt) that ended the run early, if any.
    pub failure: Option<Arc<PlatformError>>,
    /// The attestation written with `sign_key`, and the signing key's keyid.
    pub attestation: Option<(PathBuf, String)>,
}

impl RunOutcome {
    /// Why the run ended early (status `aborted` or `infrastructure-failed`), with the platform
    /// error and its causes; `None` for a run that got to its cases' end.
    pub fn ended_early(&self) -> Option<RunError> {
        let source = |fallback: &str| {
            self.failure
                .clone()
                .unwrap_or_else(|| Arc::new(PlatformError::failed(fallback)))
        };
        let bundle = self.bundle.clone();
        match self.status {
            RunStatus::Aborted => Some(RunError::Aborted {
                bundle,
                source: source("interrupted"),
            }),
            RunStatus::InfrastructureFailed => Some(RunError::Infrastructure {
                bundle,
                source: source("unknown"),
            }),
            RunStatus::Complete | RunStatus::Incomplete => None,
        }
    }
}
