//! The `meshproof` binary: parse, run, map the result to a documented exit code.

use std::io::Write;

use clap::Parser;

fn main() {
    let cli = meshproof::cli::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let code = match meshproof::app::run(cli, &mut stdout) {
        Ok(()) => meshproof::error::exit::OK,
        // `meshproof plan | head -1`: the reader has what it wanted.
        Err(e) if e.is_broken_pipe() => meshproof::error::exit::OK,
        Err(e) => {
            let mut msg = format!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!("\n  caused by: {s}"));
                source = s.source();
            }
            // stderr may be closed too; nothing else to tell then.
            let _ = writeln!(std::io::stderr(), "{msg}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
