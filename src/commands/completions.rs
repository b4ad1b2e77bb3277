//! `meshproof completions SHELL`: a shell completion script from the clap definition.

use std::io::Write;

use super::io_err;
use crate::cli::Cli;
use crate::error::AppError;

pub fn command(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<(), AppError> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "meshproof", out);
    out.flush().map_err(io_err)
}
