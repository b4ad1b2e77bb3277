//! The application: a parsed command line dispatched to its command in `commands`; `main` only
//! maps the result to an exit code.

use std::io::Write;

use crate::cli::{BundleCommand, Cli, Command};
use crate::commands::{self as c, inputs};
use crate::error::AppError;

pub use crate::commands::run::finish_run;

/// Run a parsed command line, writing to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), AppError> {
    let root = cli.root;
    let catalog = || inputs(root.clone());
    match cli.command {
        Command::Run(args) => c::run::command(&catalog()?, args, out),
        Command::Plan { selection, format } => {
            c::plan::command(&catalog()?, selection, format, out)
        }
        Command::Verify(args) => c::verify::command(&args, out),
        Command::Show(args) => c::show::command(&args, out),
        Command::Diff { a, b } => c::diff::command(&a, &b, out),
        Command::Reproduce { bundle, args } => c::reproduce::command(root, &bundle, &args, out),
        Command::Rerun { bundle, args, .. } => c::rerun::command(root, &bundle, &args, out),
        Command::List { what } => c::list::command(&catalog()?, what, out),
        Command::Doctor { cluster, mesh } => c::doctor::command(&catalog()?, &cluster, &mesh, out),
        Command::Gc { yes } => c::gc::command(yes, out),
        Command::Lock(args) => c::lock::command(&catalog()?, args, out),
        Command::Bundle(BundleCommand::Pack(args)) => c::bundle::pack(args, out),
        Command::Bundle(BundleCommand::Unpack { bundle, output }) => {
            c::bundle::unpack(&bundle, &output, out)
        }
        Command::Site(args) => c::site::command(args, out),
        Command::Completions { shell } => c::completions::command(shell, out),
        Command::Man { out_dir } => c::man::command(out_dir.as_deref(), out),
        Command::Keygen { output } => c::keygen::command(&output, out),
        Command::Attest(args) => c::attest::command(args, out),
    }
}
