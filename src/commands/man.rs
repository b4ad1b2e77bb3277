//! `meshproof man`: the man page (roff) on stdout, or one page per command into a directory.

use std::io::Write;
use std::path::Path;

use super::io_err;
use crate::cli::Cli;
use crate::error::AppError;

pub fn command(dir: Option<&Path>, out: &mut dyn Write) -> Result<(), AppError> {
    let cmd = <Cli as clap::CommandFactory>::command();
    match dir {
        None => {
            clap_mangen::Man::new(cmd).render(out).map_err(io_err)?;
            out.flush().map_err(io_err)
        }
        Some(dir) => {
            if !dir.is_dir() {
                return Err(AppError::Usage(format!(
                    "--out-dir {}: not a directory",
                    dir.display()
                )));
            }
            clap_mangen::generate_to(cmd, dir).map_err(AppError::io(dir.display()))?;
            writeln!(out, "wrote the man pages into {}", dir.display()).map_err(io_err)
        }
    }
}
