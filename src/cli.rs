//! Command-line types (clap derive) only; behaviour lives in `app`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "meshproof",
    version,
    about = "Reproduce SMI conformance runs on ephemeral kind clusters and archive verifiable bundles",
    long_about = "meshproof spins up a kind cluster through Docker, installs a pinned service mesh and an \
instrumented workload, runs the SMI conformance suite, and archives every input, observation and \
verdict in one deterministic bundle that anyone can re-verify offline.",
    after_help = "Examples:\n  meshproof run --mesh osm\n  meshproof verify meshproof-osm.tar.zst\n  meshproof show meshproof-osm.tar.zst --format markdown\n\nExit codes: 0 ok, 1 below --require or verdicts differ, 2 bad input, 3 verification failed, 4 infrastructure failure."
)]
pub struct Cli {
    /// Directory holding clusters/, meshes/, workloads/ and suites/ [default: $MESHPROOF_HOME, the current directory, or the build's source tree]
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScoringArg {
    Strict,
    Meshery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    Full,
    Partial,
    None,
}

#[derive(Debug, Clone, Args)]
pub struct Selection {
    /// Mesh to test: `osm` (newest pinned version), `osm@1.2.4`, or `none` (the control)
    #[arg(long, default_value = "none")]
    pub mesh: String,
    /// Cluster pin (a file name in clusters/); `kind-default` picks the newest node image
    #[arg(long, default_value = "kind-default")]
    pub cluster: String,
    /// Workload (a folder in workloads/)
    #[arg(long, default_value = "smi-apps")]
    pub workload: String,
    /// Suite (a folder in suites/)
    #[arg(long, default_value = "smi")]
    pub suite: String,
    /// Run only this case (repeatable)
    #[arg(long = "only", value_name = "CASE")]
    pub only: Vec<String>,
    /// strict counts every check; meshery reproduces the historical Meshery formula
    #[arg(long, value_enum, default_value = "strict")]
    pub scoring: ScoringArg,
    /// Multiply every timeout of the run: steps, mesh readiness, apply, delete and probe calls (slow machines: 2, quick local checks: 0.5)
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub timeout_scale: f64,
    /// Use a --cluster outside the Kubernetes versions the mesh pin is known to work on (recorded in the bundle)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Table,
    Json,
    Junit,
    Markdown,
    Meshery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    Text,
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListWhat {
    Meshes,
    Clusters,
    Workloads,
    Suites,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the SMI suite on a fresh kind cluster and write a verified bundle
    #[command(
        after_help = "Examples:\n  meshproof run --mesh osm\n  meshproof run --mesh osm@1.2.4 --only traffic-split --keep\n  meshproof run --mesh none --require none --out control.tar.zst"
    )]
    Run(RunArgs),
    /// Show what a run would do, step by step, with every input's sha256 (touches nothing)
    #[command(
        after_help = "Examples:\n  meshproof plan --mesh osm\n  meshproof plan --mesh none --only traffic-access --format json"
    )]
    Plan {
        #[command(flatten)]
        selection: Selection,
        #[arg(long, value_enum, default_value = "text")]
        format: PlanFormat,
    },
    /// Re-verify a bundle offline: safety, checksums, format, re-judged verdicts
    #[command(
        after_help = "Examples:\n  meshproof verify meshproof-osm.tar.zst\n  meshproof verify meshproof-osm.tar.zst --require partial\n  meshproof verify run.tar.zst --attestation run.tar.zst.intoto.json --key maker.pub\n\nPrints one line per check, the run status (complete, incomplete, aborted, infrastructure-failed) and the case count, and where a re-judged bundle came from. With --attestation, first the attestation's checks (envelope, signature by one of the --key files, payload type, statement, subject = this bundle's sha256), then the bundle's, then results (the statement says what the re-derived verdicts say) and re-judged (an attested bundle must be what a run recorded). docs/provenance.md explains them.\n\nExit 0 when every check passes, 3 naming the first failed check, 2 for an unreadable key or attestation file, 1 with --require when the run is not complete, has no case, or a case is below the level."
    )]
    Verify {
        bundle: PathBuf,
        /// Also exit 1 when the run is not complete (aborted, failed, a case with status
        /// `error`/`not-run`, no case at all) or a case is below this capability
        #[arg(long, value_enum)]
        require: Option<LevelArg>,
        #[command(flatten)]
        attestation: AttestationArgs,
    },
    /// Render a bundle's verdicts
    #[command(
        after_help = "Examples:\n  meshproof show run.tar.zst\n  meshproof show run.tar.zst --format junit > junit.xml\n  meshproof show run.tar.zst --format meshery\n  meshproof show run.tar.zst --attestation run.tar.zst.intoto.json --key maker.pub\n\nWith --attestation, also prints who signed it (the --key file and keyid that verified its signature) after the table or markdown, on stderr for the other formats; exit 3 when it does not verify or is about another bundle. `verify --attestation` checks the results too."
    )]
    Show {
        bundle: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
        #[command(flatten)]
        attestation: AttestationArgs,
    },
    /// Compare two bundles' inputs, resolved pins and verdicts (exit 1 when verdicts differ)
    #[command(after_help = "Example:\n  meshproof diff first.tar.zst reproduced.tar.zst")]
    Diff { a: PathBuf, b: PathBuf },
    /// Run again with a bundle's exact inputs and compare the verdicts (exit 1 when they differ)
    #[command(
        after_help = "The pins, workload and suite come from the bundle. A bundle whose cluster pin is outside the mesh pin's known Kubernetes versions needs --force or another --cluster; a bundle without inputs/workload/ takes the workload from the catalog. Every such difference is recorded in the new bundle (`run.overrides`) and printed.\n\nExamples:\n  meshproof reproduce meshproof-osm.tar.zst --out reproduced.tar.zst\n  meshproof reproduce old.tar.zst --cluster kind-v0.21.0-k8s-1.24"
    )]
    Reproduce {
        bundle: PathBuf,
        #[command(flatten)]
        args: RerunArgs,
    },
    /// Rerun the cases of a bundle that were not Full; the new bundle names its parent
    #[command(
        after_help = "Reruns every case the bundle planned that is not Full: failed cases, cases with status `error` or `not-run`, and cases an aborted run never reached. `--failed` is the only mode and the default; `rerun BUNDLE` means the same.\n\nExamples:\n  meshproof rerun --failed meshproof-osm.tar.zst\n  meshproof rerun meshproof-osm.tar.zst --out second-try.tar.zst"
    )]
    Rerun {
        /// Rerun the cases that were not Full (the default and only mode)
        #[arg(long)]
        failed: bool,
        bundle: PathBuf,
        #[command(flatten)]
        args: RerunArgs,
    },
    /// List the meshes, clusters, workloads or suites available
    #[command(after_help = "Examples:\n  meshproof list meshes\n  meshproof list clusters")]
    List {
        #[arg(value_enum)]
        what: ListWhat,
    },
    /// Check Docker, kind, kubectl and helm before a run, against the cluster and mesh pins' version ranges
    #[command(
        after_help = "Examples:\n  meshproof doctor\n  meshproof doctor --cluster kind-v0.31.0 --mesh osm\n  DOCKER_HOST=unix:///run/user/1000/docker.sock meshproof doctor\n\nExit 0 when no check fails (warnings allowed), 4 naming the failed checks."
    )]
    Doctor {
        /// Cluster pin whose kind version range is checked (a file name in clusters/)
        #[arg(long, default_value = "kind-default")]
        cluster: String,
        /// Mesh pin whose needs are checked (`helm`-installed meshes require helm)
        #[arg(long, default_value = "none")]
        mesh: String,
    },
    /// List (and with --yes remove) leftover meshproof clusters
    #[command(
        after_help = "Examples:\n  meshproof gc          # dry run: list leftover meshproof-* clusters, their containers and volumes\n  meshproof gc --yes    # remove them\n\nOnly clusters named meshproof-* are ever touched. Exit 4 when the Docker engine cannot be reached."
    )]
    Gc {
        /// Remove them (default: dry run)
        #[arg(long)]
        yes: bool,
    },
    /// Resolve a mesh pin's remote artifacts (chart tarballs, manifests, CLI downloads, image
    /// digests; needs network) and write them into `<version>.lock.yaml` next to the pin; `run`
    /// then checks the downloads and installs the images by digest
    #[command(
        after_help = "Images: the pin is rendered as `run` renders it (Helm pins need `helm`), and every image it names by tag is resolved to the digest its registry serves (anonymous pulls; multi-platform images lock the index digest). --no-images skips this.\n\nExamples:\n  meshproof lock --mesh osm@1.2.4\n  meshproof lock --mesh linkerd\n  meshproof lock --mesh nginx-service-mesh --no-images\n  meshproof lock --cluster kind-v0.11.1-k8s-1.21   # kind binaries of a cluster pin\n\nExit 2 for an unknown or unpinned mesh, 3 when a download contradicts the pin, 4 when the network, a registry or helm fails."
    )]
    Lock {
        /// Mesh pin: `osm` (newest pinned version) or `osm@1.2.4`
        #[arg(long, required_unless_present = "cluster", conflicts_with = "cluster")]
        mesh: Option<String>,
        /// Cluster pin instead: download its kind release binaries (every platform), check
        /// them against kind's `.sha256sum` files (kind >= 0.12) and the pin, and write their
        /// sha256 to `clusters/<name>.lock.yaml`
        #[arg(long)]
        cluster: Option<String>,
        /// Lock downloads only; do not render the pin or ask registries for image digests
        #[arg(long)]
        no_images: bool,
    },
    /// Pack or unpack bundles
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Build a static site (matrix, history, bundle and log pages, index.json) from bundles,
    /// verifying each one
    #[command(
        after_help = "Every bundle is verified as `meshproof verify` does while the site is built (and its attestation BUNDLE.intoto.json, with --key); one that fails, or repeats another, is listed as rejected with the reason and never shown as a result. The same bundles give the same bytes in any order. The output is plain HTML, one stylesheet and one small script: open index.html from disk or publish the directory (docs/site.md).\n\nExamples:\n  meshproof site results/ -o site\n  meshproof site a.tar.zst b.tar.zst -o site --key maker.pub\n  meshproof site artifacts/ -o public --allow-rejected\n\nExit 0 when every input verified, 3 when one was rejected (0 with --allow-rejected; the site is written either way), 2 for a missing input or an output directory that exists and is not a site meshproof wrote."
    )]
    Site(crate::site::SiteArgs),
    /// Write a new Ed25519 key pair for `attest` and `run --sign-key`
    #[command(
        after_help = "Writes the private key (PKCS#8 PEM, owner-only permissions) and the public key beside it (`NAME.key` → `NAME.pub`, SPKI PEM), as `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` would. Never replaces a file. Publish the .pub file; reviewers pass it to `verify --key`.\n\nExamples:\n  meshproof keygen\n  meshproof keygen -o ~/.config/meshproof/signing.key"
    )]
    Keygen {
        /// Private key file to write; the public key goes beside it with the extension `.pub`
        #[arg(short, long, value_name = "FILE", default_value = "meshproof.key")]
        output: PathBuf,
    },
    /// Sign a verified bundle: an in-toto test-result statement in a DSSE envelope (Ed25519)
    #[command(
        after_help = "The bundle is verified first (as `meshproof verify`); a bundle that does not verify, or that `bundle pack` re-judged, is refused and nothing is written. The statement's subject is the bundle file (name, sha256); `result` is PASSED when the run is complete and every case passed, FAILED when the run is not complete or a case is below --require, else WARNED. docs/provenance.md describes every field.\n\nExamples:\n  meshproof attest run.tar.zst --key maker.key\n  meshproof attest run.tar.zst --key maker.key --require partial -o run.att.json\n  meshproof attest run.tar.zst --predicate predicate.json   # for actions/attest (keyless)\n\nExit 0 when written, 2 for a bad key or option or an existing output, 3 when the bundle does not verify or was re-judged, 4 when writing fails."
    )]
    Attest {
        bundle: PathBuf,
        /// Ed25519 private key (PKCS#8 PEM, unencrypted) to sign with
        #[arg(long, value_name = "KEY", required_unless_present = "predicate")]
        key: Option<PathBuf>,
        /// Where to write the signed envelope [default: BUNDLE.intoto.json]
        #[arg(short, long, value_name = "FILE", requires = "key")]
        output: Option<PathBuf>,
        /// Also (or, without --key, only) write the bare predicate JSON, as GitHub's
        /// `actions/attest` reads it with `predicate-path`
        #[arg(long, value_name = "FILE")]
        predicate: Option<PathBuf>,
        /// The capability every case must reach for `result` not to be FAILED
        #[arg(long, value_enum, default_value = "full")]
        require: LevelArg,
        /// A link to the test run, recorded as the predicate's `url` (e.g. the CI run)
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Replace output files that exist
        #[arg(long)]
        force: bool,
    },
}

/// `--attestation FILE --key PUB…` of `verify` and `show`.
#[derive(Debug, Clone, Args)]
pub struct AttestationArgs {
    /// A DSSE attestation of the bundle (as `meshproof attest` writes it) to check
    #[arg(long, value_name = "FILE", requires = "keys")]
    pub attestation: Option<PathBuf>,
    /// A trusted Ed25519 public key (SPKI PEM); repeat for several. The attestation must be
    /// signed by one of them
    #[arg(long = "key", value_name = "PUB", requires = "attestation")]
    pub keys: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Keep the cluster after the run (prints how to reach and delete it)
    #[arg(long)]
    pub keep: bool,
    /// Exit 1 when a case is below this capability (a run that is not complete exits 4 anyway)
    #[arg(long, value_enum)]
    pub require: Option<LevelArg>,
    /// Where to write the bundle [default: meshproof-<mesh>-<run id>.tar.zst]
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Progress as text, or one JSON event per line
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputMode,
    /// Print only the summary
    #[arg(long, short)]
    pub quiet: bool,
    /// Run on an existing cluster instead of kind (never created or deleted; only the run's
    /// own namespaces are removed)
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Context of --kubeconfig [default: its current context]
    #[arg(long, value_name = "NAME", requires = "kubeconfig")]
    pub context: Option<String>,
    /// The mesh is already installed (with --kubeconfig): record its version instead of installing
    #[arg(long, requires = "kubeconfig")]
    pub mesh_installed: bool,
    /// Sign the bundle at the end with this Ed25519 private key (PKCS#8 PEM): writes
    /// BUNDLE.intoto.json as `meshproof attest` does, `result` against --require (default full)
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RerunArgs {
    /// Keep the cluster after the run
    #[arg(long)]
    pub keep: bool,
    /// Run on this cluster pin (from the catalog) instead of the bundle's; recorded in the new bundle
    #[arg(long, value_name = "PIN")]
    pub cluster: Option<String>,
    /// Run even when the cluster is outside the Kubernetes versions the mesh pin is known to work on (recorded)
    #[arg(long)]
    pub force: bool,
    /// Where to write the new bundle
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Sign the new bundle with this Ed25519 private key (PKCS#8 PEM): writes
    /// BUNDLE.intoto.json as `meshproof attest` does
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Progress as text, or one JSON event per line
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputMode,
    /// Print only the summary
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Judge a run directory's observations and write its bundle
    #[command(
        after_help = "A directory that holds an unpacked bundle is re-judged: the new bundle's manifest names the original (`rejudged_from`: its run id, sha256 and the files that changed), and `verify`/`show` print it.\n\nExample:\n  meshproof bundle unpack run.tar.zst -o run-dir\n  $EDITOR run-dir/observations/traffic-split.json\n  meshproof bundle pack run-dir -o rejudged.tar.zst"
    )]
    Pack {
        dir: PathBuf,
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Scoring mode [default: the one the run recorded]
        #[arg(long, value_enum)]
        scoring: Option<ScoringArg>,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
        /// The bundle DIR was unpacked from, named in the new bundle's `rejudged_from` [default:
        /// the marker `bundle unpack` leaves in DIR]
        #[arg(long, value_name = "ORIGINAL")]
        from: Option<PathBuf>,
    },
    /// Extract a bundle safely into a new directory
    #[command(after_help = "Example:\n  meshproof bundle unpack run.tar.zst -o run-dir")]
    Unpack {
        bundle: PathBuf,
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
    },
}
