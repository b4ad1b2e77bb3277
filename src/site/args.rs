//! Command-line options of `meshproof site` (clap derive), kept beside the site so `cli.rs` only names them.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct SiteArgs {
    /// Bundles (`.tar.zst`) and directories searched for `*.tar.zst` (recursively, symbolic links
    /// not followed)
    #[arg(required = true, value_name = "BUNDLE_OR_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Directory to write the site into: new, or a site an earlier `meshproof site` wrote
    /// (replaced as a whole once the new one is built); `--output` is a deprecated alias
    #[arg(short = 'o', long = "out", alias = "output", value_name = "DIR")]
    pub output: PathBuf,
    /// A trusted Ed25519 public key (SPKI PEM); repeat for several. Each bundle's attestation
    /// `BUNDLE.intoto.json` (as `meshproof attest` and `run --sign-key` write it beside the
    /// bundle) is then checked as `verify --attestation BUNDLE.intoto.json --key PUB` does, and
    /// the bundle page shows who signed it
    #[arg(long = "key", value_name = "PUB")]
    pub keys: Vec<PathBuf>,
    /// Reject bundles without an attestation that verifies with one of the --key files
    #[arg(long, requires = "keys")]
    pub require_signed: bool,
    /// Exit 0 even when inputs were rejected (they are still listed on the site, never shown as
    /// results)
    #[arg(long)]
    pub allow_rejected: bool,
    /// Bundles verified at once [default: the number of CPUs]
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}
