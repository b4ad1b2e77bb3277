//! The `meshproof` binary: parse, run, map the result to a documented exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = meshproof::cli::Cli::parse();
    match meshproof::app::run(cli, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // `meshproof plan | head -1`: the reader has what it wanted.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            // stderr may be closed too; nothing else to tell then.
            let _ = writeln!(std::io::stderr(), "{}", e.report());
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(u8::MAX))
        }
    }
}
