//! What `run`, `reproduce` and `rerun` set up alike before the pipeline starts: the Ctrl-C /
//! SIGTERM flag, the progress reporter, the kind platform listening to that flag, and where the
//! human summary goes.

use std::io::{IsTerminal, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::{OutputMode, RerunArgs};
use crate::error::AppError;
use crate::pipeline::RerunOptions;
use crate::platform::KindPlatform;
use crate::progress::{JsonlProgress, Progress, QuietProgress, TerminalProgress, TextProgress};
use crate::spec::catalog::Catalog;

/// A run about to start: interruptible, reporting progress, on a kind platform.
pub(crate) struct Session {
    pub cancel: Arc<AtomicBool>,
    pub progress: Box<dyn Progress>,
    pub platform: KindPlatform,
    output: OutputMode,
}

impl Session {
    /// Signal handlers first (a second signal exits at once), then the progress reporter and
    /// the platform.
    pub fn start(catalog: &Catalog, output: OutputMode, quiet: bool) -> Result<Session, AppError> {
        let cancel = interrupt_flag()?;
        let progress = progress(output, quiet);
        let mut platform =
            KindPlatform::new(catalog.clone()).map_err(crate::pipeline::RunError::from)?;
        platform.interrupt_on(Arc::clone(&cancel));
        Ok(Session {
            cancel,
            progress,
            platform,
            output,
        })
    }

    /// The setup `reproduce` and `rerun` share: a session and the options from the command
    /// line; the catalog supplies `--cluster` pins and a workload the bundle lacks.
    pub fn rerun(catalog: &Catalog, args: &RerunArgs) -> Result<(Session, RerunOptions), AppError> {
        let session = Session::start(catalog, args.output, args.quiet)?;
        let opts = RerunOptions {
            out: args.out.clone(),
            keep: args.keep,
            cluster: args.cluster.clone(),
            force: args.force,
            catalog: Some(catalog.clone()),
            sign_key: args.sign_key.clone(),
        };
        Ok((session, opts))
    }

    /// Where the human summary goes: stdout, except with `--output jsonl`, whose stdout carries
    /// only JSON lines (the summary goes to stderr then).
    pub fn summary<'a>(
        &self,
        out: &'a mut dyn Write,
        err: &'a mut std::io::Stderr,
    ) -> &'a mut dyn Write {
        match self.output {
            OutputMode::Jsonl => err,
            _ => out,
        }
    }
}

/// The Ctrl-C / SIGTERM flag; a second signal while the run is stopping exits at once (130).
fn interrupt_flag() -> Result<Arc<AtomicBool>, AppError> {
    let cancel = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&cancel))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&cancel)))
            .map_err(AppError::io("cannot install signal handlers"))?;
    }
    announce_interrupt(Arc::clone(&cancel));
    Ok(cancel)
}

/// Say at once that Ctrl-C was seen and what happens next (the run itself stops within a
/// moment: the request in flight is dropped and no new phase starts).
fn announce_interrupt(cancel: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !cancel.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = writeln!(
            std::io::stderr(),
            "\ninterrupted: stopping now (no new phase starts); collecting evidence, tearing down \
             and writing an aborted bundle. Press Ctrl-C again to exit at once (a kind cluster \
             may be left; `meshproof gc` removes it)"
        );
    });
}

fn progress(output: OutputMode, quiet: bool) -> Box<dyn Progress> {
    match (output, quiet) {
        (OutputMode::Jsonl, _) => Box::new(JsonlProgress::new(std::io::stdout())),
        (_, true) => Box::new(QuietProgress),
        (OutputMode::Auto, false) if std::io::stderr().is_terminal() => {
            Box::new(TerminalProgress::default())
        }
        (OutputMode::Auto | OutputMode::Plain, false) => {
            Box::new(TextProgress::new(std::io::stderr()))
        }
    }
}
