//! Application errors and the documented exit codes they map to.

use crate::bundle::BundleError;
use crate::provenance::files::ProvenanceError;
use crate::spec::SpecError;

/// Exit codes (README, "Exit codes").
pub mod exit {
    pub const OK: i32 = 0;
    /// Verdicts below `--require`, or `diff` found a verdict difference.
    pub const BELOW_REQUIRED: i32 = 1;
    /// Bad input or usage.
    pub const BAD_INPUT: i32 = 2;
    /// Bundle verification failed.
    pub const VERIFY_FAILED: i32 = 3;
    /// Infrastructure failure (Docker, kind, apply, harness timeouts, disk).
    pub const INFRASTRUCTURE: i32 = 4;
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Provenance(#[from] ProvenanceError),
    #[error("verification failed: {0}")]
    VerifyFailed(String),
    #[error("{0}")]
    BelowRequired(String),
    #[error("the bundles' verdicts differ")]
    Differs,
    #[error("`meshproof {0}` is not available yet in this build: {1}")]
    NotAvailable(&'static str, &'static str),
    #[error("{0}")]
    Infrastructure(String),
    /// A run that failed or was interrupted, with the platform error and its causes.
    #[error(transparent)]
    Run(#[from] crate::pipeline::error::RunError),
    /// Writing to stdout or stderr failed. A closed pipe (`meshproof plan | head -1`) is not an
    /// error: `main` exits 0 quietly.
    #[error("writing output")]
    Output(#[source] std::io::Error),
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Usage(_) | AppError::Spec(_) | AppError::NotAvailable(..) => exit::BAD_INPUT,
            AppError::Bundle(b) => match b {
                BundleError::BadInput { .. } | BundleError::Spec(_) => exit::BAD_INPUT,
                BundleError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    exit::BAD_INPUT
                }
                BundleError::Io { .. } => exit::INFRASTRUCTURE,
                BundleError::Unsafe { .. }
                | BundleError::Limit { .. }
                | BundleError::Integrity { .. }
                | BundleError::Format { .. } => exit::VERIFY_FAILED,
            },
            AppError::Provenance(p) => match p {
                ProvenanceError::BadInput { .. } => exit::BAD_INPUT,
                ProvenanceError::Failed { .. } | ProvenanceError::Check { .. } => {
                    exit::VERIFY_FAILED
                }
                ProvenanceError::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    exit::BAD_INPUT
                }
                ProvenanceError::Io { .. } => exit::INFRASTRUCTURE,
            },
            AppError::VerifyFailed(_) => exit::VERIFY_FAILED,
            AppError::BelowRequired(_) | AppError::Differs => exit::BELOW_REQUIRED,
            AppError::Infrastructure(_) | AppError::Run(_) => exit::INFRASTRUCTURE,
            AppError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
            AppError::Output(_) => exit::INFRASTRUCTURE,
        }
    }

    /// What `main` prints: `error: <this error>`, then `  caused by: <source>` for every error
    /// in the source chain, outermost first. A source whose text the lines above already say
    /// (a message that embeds its cause) is not repeated.
    pub fn report(&self) -> String {
        let mut msg = format!("error: {self}");
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let text = s.to_string();
            if !msg.contains(&text) {
                msg.push_str(&format!("\n  caused by: {text}"));
            }
            source = s.source();
        }
        msg
    }

    /// The reader went away (`| head`): exit 0 without a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, AppError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

pub use crate::bundle::naming_bundle;
