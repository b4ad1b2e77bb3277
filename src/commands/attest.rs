//! `meshproof attest BUNDLE`: verify a bundle, then sign an in-toto test-result statement about
//! it (DSSE, Ed25519) and/or write the bare predicate.

use std::io::Write;

use super::{bundle_file, io_err, level};
use crate::cli::AttestArgs;
use crate::error::AppError;
use crate::provenance::{self, files};

/// The key is read first (a bad key writes nothing and verifies nothing).
pub fn command(args: AttestArgs, out: &mut dyn Write) -> Result<(), AppError> {
    let bundle_path = &args.bundle;
    bundle_file(bundle_path)?;
    let key = args
        .key
        .as_deref()
        .map(files::load_signing_key)
        .transpose()?;
    let envelope = key.as_ref().map(|_| {
        args.output
            .clone()
            .unwrap_or_else(|| files::attestation_path(bundle_path))
    });
    let require = level(args.require);
    let opts = files::AttestOptions {
        require,
        url: args.url,
        envelope: envelope.clone(),
        predicate: args.predicate.clone(),
        force: args.force,
    };
    let done = files::attest(bundle_path, key.as_ref(), &opts)?;
    let p = &done.statement.predicate;
    writeln!(
        out,
        "{} {} (require {}): {} passed, {} warned, {} failed checks",
        bundle_path.display(),
        p.result.as_str(),
        require.as_str().to_ascii_lowercase(),
        p.passed_tests.len(),
        p.warned_tests.len(),
        p.failed_tests.len()
    )
    .map_err(io_err)?;
    if let (Some(path), Some(keyid)) = (&envelope, &done.keyid) {
        writeln!(out, "wrote {} (signed, keyid {keyid})", path.display()).map_err(io_err)?;
    }
    if let Some(path) = &args.predicate {
        writeln!(
            out,
            "wrote {} (predicate of type {})",
            path.display(),
            provenance::TEST_RESULT_TYPE
        )
        .map_err(io_err)?;
    }
    Ok(())
}
