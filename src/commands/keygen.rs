//! `meshproof keygen`: a new Ed25519 key pair for `attest` and `run --sign-key`.

use std::io::Write;
use std::path::Path;

use super::io_err;
use crate::error::AppError;
use crate::provenance::files;

pub fn command(output: &Path, out: &mut dyn Write) -> Result<(), AppError> {
    let pair = files::keygen(output)?;
    writeln!(
        out,
        "wrote {} (private, owner-only) and {} (public)\nkeyid {}\nsign with `meshproof attest BUNDLE --key {}`; reviewers verify with `meshproof verify BUNDLE --attestation BUNDLE{} --key {}`",
        pair.private.display(),
        pair.public.display(),
        pair.keyid,
        pair.private.display(),
        files::ATTESTATION_SUFFIX,
        pair.public.display()
    )
    .map_err(io_err)
}
