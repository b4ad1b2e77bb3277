//! Application errors and the documented exit codes they map to; `main` prints an error with
//! its cause chain ([`AppError::report`]).

use std::path::PathBuf;

use crate::bundle::BundleError;
use crate::install::InstallError;
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

/// What a layer error means for the command that met it, where the same error means different
/// things in different commands: a lock file that contradicts its pin fails `run`'s verification
/// (3), a chart missing from its Helm index is bad input to `lock` (2), a download that does not
/// answer is infrastructure (4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    BadInput,
    VerifyFailed,
    Infrastructure,
}

impl Class {
    pub fn exit_code(self) -> i32 {
        match self {
            Class::BadInput => exit::BAD_INPUT,
            Class::VerifyFailed => exit::VERIFY_FAILED,
            Class::Infrastructure => exit::INFRASTRUCTURE,
        }
    }
}

/// Every way a command fails. Layer errors are kept whole (`#[from]`/`#[source]`), so `main`
/// prints their cause chain ([`AppError::report`]); only usage messages and check results are
/// words.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input or usage that no layer error describes (exit 2).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Provenance(#[from] ProvenanceError),
    /// `meshproof site`: bad input (2) or reading/writing (4).
    #[error(transparent)]
    Site(#[from] crate::site::SiteError),
    /// A pin's artifacts (downloads, the lock file, charts, registries, a mesh CLI); `context`
    /// (empty, or e.g. the lock file's path and `: `) comes before the install layer's message.
    #[error("{context}{source}")]
    Install {
        class: Class,
        context: String,
        #[source]
        source: Box<InstallError>,
    },
    /// A report format that cannot render this bundle (Meshery's, for a run that is not complete).
    #[error("{}: {source}", bundle.display())]
    Report {
        bundle: PathBuf,
        #[source]
        source: crate::report::ReportError,
    },
    /// `run --kubeconfig` names a file or context that cannot be used (exit 2).
    #[error("--kubeconfig: {0}")]
    Kubeconfig(#[source] meshproof_kube::KubeconfigError),
    /// The Docker engine cannot be reached (`gc`).
    #[error(transparent)]
    Docker(#[from] meshproof_cluster::docker::ConnectError),
    /// `gc` could not list the leftover clusters.
    #[error("{source} (Docker engine at {host})")]
    GcList {
        host: String,
        #[source]
        source: meshproof_cluster::gc::GcError,
    },
    /// `gc --yes` could not remove everything.
    #[error("gc could not remove {}", .0.iter().map(|f| format!("{} ({})", f.object, f.error)).collect::<Vec<_>>().join(", "))]
    GcIncomplete(Vec<meshproof_cluster::gc::GcFailure>),
    /// `doctor`: a check failed, or the checks could not run.
    #[error(transparent)]
    Doctor(#[from] crate::doctor::DoctorError),
    /// A local file or resource meshproof needs: a lock file, the unpack marker, man pages, a
    /// scratch directory, the signal handlers (exit 4).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The bundle a run just wrote does not read back.
    #[error("reading back the manifest: {0}")]
    ReadBack(#[source] serde_json::Error),
    /// The run reached its end, but a case did not finish (exit 4).
    #[error(
        "{why}: the harness kept them from finishing, so they claim no capability; the bundle {} \
         holds what was recorded",
        bundle.display()
    )]
    Incomplete { why: String, bundle: PathBuf },
    #[error("verification failed: {0}")]
    VerifyFailed(String),
    #[error("{0}")]
    BelowRequired(String),
    #[error("the bundles' verdicts differ")]
    Differs,
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
            AppError::Usage(_)
            | AppError::Spec(_)
            | AppError::Report { .. }
            | AppError::Kubeconfig(_) => exit::BAD_INPUT,
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
            AppError::Site(crate::site::SiteError::BadInput { .. }) => exit::BAD_INPUT,
            AppError::Install { class, .. } => class.exit_code(),
            AppError::Site(_)
            | AppError::Docker(_)
            | AppError::GcList { .. }
            | AppError::GcIncomplete(_)
            | AppError::Doctor(_)
            | AppError::Io { .. }
            | AppError::ReadBack(_)
            | AppError::Incomplete { .. }
            | AppError::Run(_) => exit::INFRASTRUCTURE,
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

    /// The install layer's error as this command classifies it, after `context` (and, for a
    /// failed verification, `verification failed: ` as [`AppError::VerifyFailed`] says it).
    pub fn install(class: Class, context: impl Into<String>) -> impl FnOnce(InstallError) -> Self {
        let mut context = context.into();
        if class == Class::VerifyFailed {
            context.insert_str(0, "verification failed: ");
        }
        move |source| AppError::Install {
            class,
            context,
            source: Box::new(source),
        }
    }

    /// A local I/O error, saying what was being done.
    pub fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.to_string();
        move |source| AppError::Io { what, source }
    }

    /// The reader went away (`| head`): exit 0 without a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, AppError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

pub use crate::bundle::naming_bundle;

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose message does not repeat its cause.
    #[derive(Debug, thiserror::Error)]
    #[error("creating kind cluster demo")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("kind create cluster exited 1")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn report_prints_every_source_once() {
        let io = || std::io::Error::other("failed to init node with kubeadm");
        // Sources the message does not say get a line each, outermost first.
        let e = AppError::Io {
            what: "run".into(),
            source: std::io::Error::other(Outer(Middle(io()))),
        };
        assert_eq!(
            e.report(),
            "error: run: creating kind cluster demo\n  caused by: kind create cluster exited 1\n  \
             caused by: failed to init node with kubeadm"
        );
        // A message that embeds its cause (`{what}: {source}`) is not repeated below it.
        let e = AppError::io("meshproof.lock.yaml")(io());
        assert_eq!(
            e.report(),
            "error: meshproof.lock.yaml: failed to init node with kubeadm"
        );
    }

    #[test]
    fn install_errors_exit_by_their_class_and_keep_the_layer_error() {
        let mismatch = || InstallError::Lock {
            file: "meshes/osm/1.2.4.lock.yaml".into(),
            reason: "is for osm@1.1.3".into(),
        };
        let e = AppError::install(Class::VerifyFailed, "")(mismatch());
        assert_eq!(e.exit_code(), exit::VERIFY_FAILED);
        assert_eq!(
            e.to_string(),
            "verification failed: lock file meshes/osm/1.2.4.lock.yaml: is for osm@1.1.3"
        );
        let source = std::error::Error::source(&e).expect("the layer error");
        assert!(source.downcast_ref::<Box<InstallError>>().is_some());
        let e =
            AppError::install(Class::BadInput, "osm@1.2.4 (meshes/osm/1.2.4.yaml): ")(mismatch());
        assert_eq!(e.exit_code(), exit::BAD_INPUT);
        assert!(e
            .to_string()
            .starts_with("osm@1.2.4 (meshes/osm/1.2.4.yaml): lock file"));
        let e = AppError::install(Class::Infrastructure, "")(mismatch());
        assert_eq!(e.exit_code(), exit::INFRASTRUCTURE);
    }
}
