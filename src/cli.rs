//! Command-line types (clap derive) only; `app` dispatches them to `commands`.

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
    /// Every check counts
    Strict,
    /// Meshery's historical formula, to compare with old dashboard numbers
    Meshery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    /// Every behavioural check of every case passes
    Full,
    /// Every case passes at least one behavioural check
    Partial,
    /// Only that the run completed
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
    /// Multiply every timeout of the run: steps, mesh readiness, apply, delete and probe calls
    /// (slow machines: 2, quick local checks: 0.5); a positive number
    #[arg(long, default_value_t = 1.0, value_name = "X", allow_hyphen_values = true,
          value_parser = timeout_scale)]
    pub timeout_scale: f64,
    /// Use a --cluster outside the Kubernetes versions the mesh pin is known to work on (recorded in the bundle)
    #[arg(long)]
    pub force: bool,
}

/// `--timeout-scale X`: a positive factor up to 100, with a message that says so (a negative
/// number is a value here, not an option).
fn timeout_scale(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number; give a factor such as 2 or 0.5"))?;
    if x > 0.0 && x <= 100.0 && x.is_finite() {
        Ok(x)
    } else {
        Err(format!(
            "{s} is out of range: the timeout scale multiplies every step timeout and must be \
             greater than 0 and at most 100 (e.g. 2 for slow machines, 0.5 for quick checks)"
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Human-readable steps with every input's sha256
    Text,
    /// The resolved plan as JSON
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// One row per case with status, capability and the failed checks
    Table,
    /// Verdicts with the run status, as JSON
    Json,
    /// JUnit XML for CI (harness errors and incomplete runs as <error>)
    Junit,
    /// A Markdown report (CI job summaries)
    Markdown,
    /// Meshery's SmiResult JSON; refused (exit 2) for a run that is not complete
    Meshery,
}

/// How `run`, `reproduce` and `rerun` report progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    /// A progress bar on a terminal, plain lines otherwise; the summary on stdout
    #[value(alias = "text")]
    Auto,
    /// Plain lines on stderr (CI logs); the summary on stdout
    Plain,
    /// Only JSON lines on stdout, one event per phase, step, check and case, and a final `run`
    /// event; the human summary goes to stderr
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListWhat {
    /// Mesh pins (`meshes/<mesh>/<version>.yaml`) with their status and SMI versions
    Meshes,
    /// Cluster pins (`clusters/*.yaml`) with their Kubernetes and kind versions
    Clusters,
    /// Workloads (`workloads/*/`) and their layouts
    Workloads,
    /// Every case of every suite with its SMI spec and step count
    Suites,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the SMI suite on a fresh kind cluster and write a verified bundle
    #[command(
        after_help = "Examples:\n  meshproof run --mesh osm\n  meshproof run --mesh osm@1.2.4 --only traffic-split --keep\n  meshproof run --mesh none --require none --out control.tar.zst\n  meshproof run --mesh osm --output jsonl > events.jsonl\n  meshproof run --kubeconfig ~/.kube/config --mesh osm --mesh-installed --probe-image ghcr.io/me/meshproof-probe:0.1.0\n\nExit 0 when the run completed (and met --require), 1 below --require, 2 for bad input (nothing is written), 4 when the run is not complete (the bundle says why)."
    )]
    Run(RunArgs),
    /// Show what a run would do, step by step, with every input's sha256 (touches nothing)
    #[command(
        after_help = "Examples:\n  meshproof plan --mesh osm\n  meshproof plan --mesh none --only traffic-access --format json"
    )]
    Plan {
        #[command(flatten)]
        selection: Selection,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        format: PlanFormat,
    },
    /// Re-verify a bundle offline: safety, checksums, format, re-judged verdicts
    #[command(
        after_help = "Examples:\n  meshproof verify meshproof-osm.tar.zst\n  meshproof verify meshproof-osm.tar.zst --require partial\n  meshproof verify run.tar.zst --attestation run.tar.zst.intoto.json --key maker.pub\n\nPrints one line per check, the run status (complete, incomplete, aborted, infrastructure-failed) and the case count, and where a re-judged bundle came from. With --attestation, first the attestation's checks (envelope, signature by one of the --key files, payload type, statement, subject = this bundle's sha256), then the bundle's, then results (the statement says what the re-derived verdicts say) and re-judged (an attested bundle must be what a run recorded). docs/provenance.md explains them.\n\nExit 0 when every check passes, 3 naming the first failed check, 2 for an unreadable key or attestation file, 1 with --require when the run is not complete, has no case, or a case is below the level."
    )]
    Verify(VerifyArgs),
    /// Render a bundle's verdicts
    #[command(
        after_help = "Examples:\n  meshproof show run.tar.zst\n  meshproof show run.tar.zst --format junit > junit.xml\n  meshproof show run.tar.zst --format meshery\n  meshproof show run.tar.zst --attestation run.tar.zst.intoto.json --key maker.pub\n\nWith --attestation, also prints who signed it (the --key file and keyid that verified its signature) after the table or markdown, on stderr for the other formats; exit 3 when it does not verify or is about another bundle. `verify --attestation` checks the results too."
    )]
    Show(ShowArgs),
    /// Compare two bundles' inputs, resolved pins and verdicts (exit 1 when verdicts differ)
    #[command(
        after_help = "For every input and resolved file that differs, the fields that changed (selection, versions, digests), labelled A and B, and a unified diff of small text files; then the verdicts that differ.\n\nExamples:\n  meshproof diff first.tar.zst reproduced.tar.zst\n  meshproof diff osm-1.1.3.tar.zst osm-1.2.4.tar.zst | less\n\nExit 0 when the verdicts agree (inputs may differ), 1 when they differ, 2 or 3 for a bundle that cannot be read."
    )]
    Diff {
        /// Bundle A (the lines marked `-`/A)
        a: PathBuf,
        /// Bundle B (the lines marked `+`/B)
        b: PathBuf,
    },
    /// Run again with a bundle's exact inputs and compare the verdicts (exit 1 when they differ)
    #[command(
        after_help = "The pins, workload and suite come from the bundle. A bundle whose cluster pin is outside the mesh pin's known Kubernetes versions needs --force or another --cluster; a bundle without inputs/workload/ takes the workload from the catalog. Every such difference is recorded in the new bundle (`run.overrides`) and printed.\n\nExamples:\n  meshproof reproduce meshproof-osm.tar.zst --out reproduced.tar.zst\n  meshproof reproduce old.tar.zst --cluster kind-v0.21.0-k8s-1.24"
    )]
    Reproduce {
        /// The bundle whose inputs are run again
        bundle: PathBuf,
        #[command(flatten)]
        args: RerunArgs,
    },
    /// Rerun the cases of a bundle that were not Full; the new bundle names its parent
    #[command(
        after_help = "Reruns every case the bundle planned that is not Full: failed cases, cases with status `error` or `not-run`, and cases an aborted run never reached. `--failed` is the only mode and the default: `rerun BUNDLE` and `rerun --failed BUNDLE` do the same (the flag is kept for scripts and for clarity). To run every case again, use `meshproof reproduce BUNDLE`.\n\nExamples:\n  meshproof rerun --failed meshproof-osm.tar.zst\n  meshproof rerun meshproof-osm.tar.zst --out second-try.tar.zst"
    )]
    Rerun {
        /// Rerun the cases that were not Full (the default and only mode; optional)
        #[arg(long)]
        failed: bool,
        /// The bundle whose cases that were not Full are run again
        bundle: PathBuf,
        #[command(flatten)]
        args: RerunArgs,
    },
    /// List the meshes, clusters, workloads or suites available
    #[command(after_help = "Examples:\n  meshproof list meshes\n  meshproof list clusters")]
    List {
        /// What to list
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
    /// digests; needs network) into a lock file (your data directory, or --out); `run` then
    /// checks the downloads and installs the images by digest
    #[command(
        after_help = "Images: the pin is rendered as `run` renders it (Helm pins need `helm`), and every image it names by tag is resolved to the digest its registry serves (anonymous pulls; multi-platform images lock the index digest). --no-images skips this.\n\nExamples:\n  meshproof lock --mesh osm@1.2.4\n  meshproof lock --mesh linkerd\n  meshproof lock --mesh nginx-service-mesh --no-images\n  meshproof lock --cluster kind-v0.11.1-k8s-1.21   # kind binaries of a cluster pin\n\nExit 2 for an unknown or unpinned mesh, 3 when a download contradicts the pin, 4 when the network, a registry or helm fails."
    )]
    Lock(LockArgs),
    /// Pack or unpack bundles
    #[command(
        subcommand,
        after_help = "Examples:\n  meshproof bundle unpack run.tar.zst --out run-dir\n  meshproof bundle pack run-dir --out rejudged.tar.zst"
    )]
    Bundle(BundleCommand),
    /// Build a static site (matrix, history, bundle and log pages, index.json) from bundles,
    /// verifying each one
    #[command(
        after_help = "Every bundle is verified as `meshproof verify` does while the site is built (and its attestation BUNDLE.intoto.json, with --key); one that fails, or repeats another, is listed as rejected with the reason and never shown as a result. The same bundles give the same bytes in any order. The output is plain HTML, one stylesheet and one small script: open index.html from disk or publish the directory (docs/site.md).\n\nExamples:\n  meshproof site results/ -o site\n  meshproof site a.tar.zst b.tar.zst -o site --key maker.pub\n  meshproof site artifacts/ -o public --allow-rejected\n\nExit 0 when every input verified, 3 when one was rejected (0 with --allow-rejected; the site is written either way), 2 for a missing input or an output directory that exists and is not a site meshproof wrote."
    )]
    Site(crate::site::SiteArgs),
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  meshproof completions bash > ~/.local/share/bash-completion/completions/meshproof\n  meshproof completions zsh > \"${fpath[1]}/_meshproof\"\n  meshproof completions fish > ~/.config/fish/completions/meshproof.fish"
    )]
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a directory
    #[command(
        after_help = "Examples:\n  meshproof man | man -l -\n  meshproof man --out-dir ~/.local/share/man/man1"
    )]
    Man {
        /// Write meshproof.1 and one meshproof-<command>.1 per command into this directory
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Write a new Ed25519 key pair for `attest` and `run --sign-key`
    #[command(
        after_help = "Writes the private key (PKCS#8 PEM, owner-only permissions) and the public key beside it (`NAME.key` → `NAME.pub`, SPKI PEM), as `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` would. Never replaces a file. Publish the .pub file; reviewers pass it to `verify --key`.\n\nExamples:\n  meshproof keygen\n  meshproof keygen -o ~/.config/meshproof/signing.key"
    )]
    Keygen {
        /// Private key file to write; the public key goes beside it with the extension `.pub`
        /// (`--output` is a deprecated alias)
        #[arg(
            short = 'o',
            long = "out",
            alias = "output",
            value_name = "FILE",
            default_value = "meshproof.key"
        )]
        output: PathBuf,
    },
    /// Sign a verified bundle: an in-toto test-result statement in a DSSE envelope (Ed25519)
    #[command(
        after_help = "The bundle is verified first (as `meshproof verify`); a bundle that does not verify, or that `bundle pack` re-judged, is refused and nothing is written. The statement's subject is the bundle file (name, sha256); `result` is PASSED when the run is complete and every case passed, FAILED when the run is not complete or a case is below --require, else WARNED. docs/provenance.md describes every field.\n\nExamples:\n  meshproof attest run.tar.zst --key maker.key\n  meshproof attest run.tar.zst --key maker.key --require partial -o run.att.json\n  meshproof attest run.tar.zst --predicate predicate.json   # for actions/attest (keyless)\n\nExit 0 when written, 2 for a bad key or option or an existing output, 3 when the bundle does not verify or was re-judged, 4 when writing fails."
    )]
    Attest(AttestArgs),
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
    /// Progress: a bar on a terminal (auto), plain lines, or only JSON lines on stdout (jsonl)
    #[arg(long, value_enum, default_value = "auto", value_name = "FORMAT")]
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
    /// The mesh is already installed (with --kubeconfig): record what runs in its namespaces
    /// (images, image ids, version labels) instead of installing it
    #[arg(long, requires = "kubeconfig")]
    pub mesh_installed: bool,
    /// With --kubeconfig: the probe image the cluster pulls (build
    /// workloads/smi-apps/probe/Dockerfile and push it where the cluster can pull) [default:
    /// $MESHPROOF_PROBE_IMAGE]
    #[arg(long, value_name = "REF", requires = "kubeconfig")]
    pub probe_image: Option<String>,
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
    /// Progress: a bar on a terminal (auto), plain lines, or only JSON lines on stdout (jsonl)
    #[arg(long, value_enum, default_value = "auto", value_name = "FORMAT")]
    pub output: OutputMode,
    /// Print only the summary
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Judge a run directory's observations and write its bundle
    #[command(
        after_help = "A directory that holds an unpacked bundle is re-judged: the new bundle's manifest names the original (`rejudged_from`: its run id, sha256 and the files that changed), and `verify`/`show` print it.\n\nExample:\n  meshproof bundle unpack run.tar.zst --out run-dir\n  $EDITOR run-dir/observations/traffic-split.json\n  meshproof bundle pack run-dir --out rejudged.tar.zst"
    )]
    Pack(PackArgs),
    /// Extract a bundle safely into a new directory
    #[command(
        after_help = "DIR must not exist; nothing is left behind when unpacking fails.\n\nExample:\n  meshproof bundle unpack run.tar.zst --out run-dir"
    )]
    Unpack {
        /// The bundle file to extract
        bundle: PathBuf,
        /// A new directory to extract into (`--output` is a deprecated alias)
        #[arg(short = 'o', long = "out", alias = "output", value_name = "DIR")]
        output: PathBuf,
    },
}

// `meshproof verify` (no `///` here: the variant's doc comment is the command's about).
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The bundle file (`.tar.zst`) to verify
    pub bundle: PathBuf,
    /// Also exit 1 when the run is not complete (aborted, failed, a case with status
    /// `error`/`not-run`, no case at all) or a case is below this capability
    #[arg(long, value_enum)]
    pub require: Option<LevelArg>,
    #[command(flatten)]
    pub attestation: AttestationArgs,
}

// `meshproof show` (no `///` here: the variant's doc comment is the command's about).
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The bundle file (`.tar.zst`) to render
    pub bundle: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: ShowFormat,
    #[command(flatten)]
    pub attestation: AttestationArgs,
}

// `meshproof lock` (no `///` here: the variant's doc comment is the command's about).
#[derive(Debug, Clone, Args)]
pub struct LockArgs {
    /// Mesh pin: `osm` (newest pinned version) or `osm@1.2.4`
    #[arg(long, required_unless_present = "cluster", conflicts_with = "cluster")]
    pub mesh: Option<String>,
    /// Cluster pin instead: download its kind release binaries (every platform), check
    /// them against kind's `.sha256sum` files (kind >= 0.12) and the pin, and write their
    /// sha256 to `clusters/<name>.lock.yaml` (under your data directory, or --out)
    #[arg(long)]
    pub cluster: Option<String>,
    /// Lock downloads only; do not render the pin or ask registries for image digests
    #[arg(long)]
    pub no_images: bool,
    /// Write the lock file here [default: the same relative path under your data directory,
    /// `$XDG_DATA_HOME/meshproof` or `~/.local/share/meshproof`, which `run` also reads]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

// `meshproof attest` (no `///` here: the variant's doc comment is the command's about).
#[derive(Debug, Clone, Args)]
pub struct AttestArgs {
    /// The bundle file to verify and sign
    pub bundle: PathBuf,
    /// Ed25519 private key (PKCS#8 PEM, unencrypted) to sign with
    #[arg(long, value_name = "KEY", required_unless_present = "predicate")]
    pub key: Option<PathBuf>,
    /// Where to write the signed envelope [default: BUNDLE.intoto.json] (`--output` is a
    /// deprecated alias)
    #[arg(
        short = 'o',
        long = "out",
        alias = "output",
        value_name = "FILE",
        requires = "key"
    )]
    pub output: Option<PathBuf>,
    /// Also (or, without --key, only) write the bare predicate JSON, as GitHub's
    /// `actions/attest` reads it with `predicate-path`
    #[arg(long, value_name = "FILE")]
    pub predicate: Option<PathBuf>,
    /// The capability every case must reach for `result` not to be FAILED
    #[arg(long, value_enum, default_value = "full")]
    pub require: LevelArg,
    /// A link to the test run, recorded as the predicate's `url` (e.g. the CI run)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Replace output files that exist
    #[arg(long)]
    pub force: bool,
}

// `meshproof bundle pack` (no `///` here: the variant's doc comment is the command's about).
#[derive(Debug, Clone, Args)]
pub struct PackArgs {
    /// A run directory (as `bundle unpack` writes it, or a run's own directory)
    pub dir: PathBuf,
    /// The bundle file to write (`--output` is a deprecated alias)
    #[arg(short = 'o', long = "out", alias = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Scoring mode [default: the one the run recorded]
    #[arg(long, value_enum)]
    pub scoring: Option<ScoringArg>,
    /// Replace FILE if it exists
    #[arg(long)]
    pub force: bool,
    /// The bundle DIR was unpacked from, named in the new bundle's `rejudged_from` [default:
    /// the marker `bundle unpack` leaves in DIR]
    #[arg(long, value_name = "ORIGINAL")]
    pub from: Option<PathBuf>,
    /// Threads for hashing and zstd compression workers; the bundle's bytes are the same for
    /// every value [default: one per core]
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: Option<u32>,
}
