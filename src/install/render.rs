//! Rendering a mesh pin into the manifests to apply: fetch and check its artifacts (pin and lock
//! digests), run `helm template` or the pinned CLI offline, drop non-install Helm hooks. Shared
//! by `run` (which pins images and applies the result) and `meshproof lock` (which resolves the
//! images the result names), so both see exactly the same manifests.

use std::collections::BTreeMap;
use std::path::Path;

use super::{certs, cli, helm, manifests, InstallError};
use crate::bundle::format::RecordedValues;
use crate::bundle::{ChartRecord, CliCommand, CliRecord, ManifestRecord, ResolvedMesh};
use crate::spec::mesh::{Generated, InstallMethod, Mesh};
use meshproof_core::install::lock::{self, Lock};

/// One rendered file, applied as a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Recorded file name under `inputs/mesh-rendered/` (`01-osm.yaml`).
    pub name: String,
    /// What produced it, for parse errors (`helm template osm`, a URL, a CLI command).
    pub source: String,
    /// The YAML stream, before image pinning and Secret redaction.
    pub text: String,
    /// Namespace to create first and apply namespaced objects into (`None`: as written).
    pub namespace: Option<String>,
}

/// A rendered pin: the steps in apply order, what `resolved/mesh.json` records of the render
/// (charts, manifests, CLI commands), and extra recorded files (Helm values, with generated
/// secrets left out).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    pub steps: Vec<Step>,
    pub record: ResolvedMesh,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// A chart fetched and checked, its tarball and pinned values written to `dir`: all that
/// rendering still needs is the cluster's capabilities.
#[derive(Debug, Clone)]
pub struct FetchedChart {
    /// Position in the pin's chart list (names the step, `01-<release>.yaml`).
    pub index: usize,
    pub chart: helm::ChartArtifact,
    pub dir: std::path::PathBuf,
    pub tgz: std::path::PathBuf,
    pub values: std::path::PathBuf,
}

/// What of a pin can be done before there is a cluster: every artifact fetched and checked
/// (pin and lock digests), manifests and CLI output rendered; Helm charts wait for the
/// cluster's capabilities ([`render_fetched`]).
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// Everything but the Helm charts, already rendered.
    pub rendered: Rendered,
    pub charts: Vec<FetchedChart>,
}

/// Render `mesh` in `scratch` (a private directory the caller removes). `lock`, when given,
/// must already have passed [`lock::check`]; its digests are enforced on every download.
/// `helm` is the program run for `helm template`, for the cluster `caps` describes.
pub fn render_mesh(
    mesh: &Mesh,
    lock: Option<&Lock>,
    scratch: &Path,
    helm: &Path,
    caps: &helm::Capabilities,
) -> Result<Rendered, InstallError> {
    let fetched = fetch_mesh(mesh, lock, scratch)?;
    render_fetched(mesh, fetched, helm, caps)
}

fn write_io(what: &Path, e: std::io::Error) -> InstallError {
    InstallError::Other(format!("writing {}: {e}", what.display()))
}

/// The cluster-free part of [`render_mesh`]: fetch and check every artifact of `mesh` into
/// `scratch`; manifests and the pinned CLI's output are rendered here, charts are only fetched.
pub fn fetch_mesh(
    mesh: &Mesh,
    lock: Option<&Lock>,
    scratch: &Path,
) -> Result<Fetched, InstallError> {
    let mut out = Fetched::default();
    match mesh.spec.install.method {
        InstallMethod::None => {}
        InstallMethod::Unpinned => {
            return Err(InstallError::Other(format!(
                "{} cannot be installed reproducibly: {}",
                mesh.id(),
                mesh.spec.install.reason.as_deref().unwrap_or("unpinned")
            )))
        }
        InstallMethod::Manifests => {
            let mut recorded = Vec::new();
            for f in manifests::fetch_all(&mesh.spec.install.manifests)? {
                recorded.push(ManifestRecord {
                    url: f.url.clone(),
                    sha256: f.sha256.clone(),
                    file: f.name.clone(),
                });
                out.rendered.steps.push(Step {
                    name: f.name,
                    source: f.url,
                    text: String::from_utf8_lossy(&f.bytes).into_owned(),
                    namespace: None,
                });
            }
            out.rendered.record.manifests = Some(recorded);
        }
        InstallMethod::Helm => {
            for (index, h) in mesh.spec.install.helm_charts().into_iter().enumerate() {
                let chart = helm::fetch_chart(h, lock::locked_chart(lock, h))?;
                let dir = scratch.join(format!("chart-{index}"));
                std::fs::create_dir_all(&dir).map_err(|e| write_io(&dir, e))?;
                let tgz = dir.join(&chart.file_name);
                std::fs::write(&tgz, &chart.bytes).map_err(|e| write_io(&tgz, e))?;
                let values = dir.join("values.yaml");
                let pinned = serde_json::to_vec_pretty(&h.values).expect("JSON values serialize");
                std::fs::write(&values, pinned).map_err(|e| write_io(&values, e))?;
                out.charts.push(FetchedChart {
                    index,
                    chart,
                    dir,
                    tgz,
                    values,
                });
            }
        }
        InstallMethod::Cli => out.rendered = render_cli(mesh, lock, scratch)?,
    }
    Ok(out)
}

/// The pinned CLI, fetched and checked, run offline for each render step.
fn render_cli(mesh: &Mesh, lock: Option<&Lock>, scratch: &Path) -> Result<Rendered, InstallError> {
    let mut out = Rendered::default();
    let c =
        mesh.spec.install.cli.as_ref().ok_or_else(|| {
            InstallError::Other(format!("{}: method `cli` without `cli`", mesh.id()))
        })?;
    let platform = cli::host_platform();
    let prepared = cli::fetch(
        c,
        &platform,
        lock::locked_cli(lock, &platform),
        &scratch.join("cli"),
    )?;
    let mut commands = Vec::new();
    for (i, step) in c.render.iter().enumerate() {
        let command = cli::command_line(&c.name, &step.args);
        let rendered = prepared.render(step, crate::timeouts::CLI_RENDER)?;
        out.steps.push(Step {
            name: format!("{:02}-{}.yaml", i + 1, c.name),
            source: command.clone(),
            text: String::from_utf8_lossy(&rendered).into_owned(),
            namespace: Some(step.namespace.clone()),
        });
        commands.push(CliCommand {
            command,
            namespace: step.namespace.clone(),
        });
    }
    out.record.cli = Some(CliRecord {
        name: prepared.name.clone(),
        platform: prepared.platform.clone(),
        url: prepared.url.clone(),
        sha256: prepared.sha256.clone(),
        member: prepared.member.clone(),
        commands,
    });
    Ok(out)
}

/// The part of [`render_mesh`] that needs the cluster: `helm template` of each fetched chart
/// for the cluster `caps` describes (nothing to do for the other methods).
pub fn render_fetched(
    mesh: &Mesh,
    fetched: Fetched,
    helm: &Path,
    caps: &helm::Capabilities,
) -> Result<Rendered, InstallError> {
    let mut out = fetched.rendered;
    if mesh.spec.install.method != InstallMethod::Helm {
        return Ok(out);
    }
    let charts = mesh.spec.install.helm_charts();
    let mut recorded = Vec::new();
    for f in &fetched.charts {
        let h = charts[f.index];
        let i = f.index;
        let (chart, dir, tgz) = (&f.chart, &f.dir, &f.tgz);
        let mut value_files = vec![f.values.clone()];
        let mut recorded_values = RecordedValues {
            pinned: h.values.clone(),
            generated_linkerd_identity: None,
        };
        // Generated values with secrets live in a file removed right after rendering.
        let mut secret_files = Vec::new();
        for g in &h.generate {
            match g {
                Generated::LinkerdIdentity => {
                    let id = certs::LinkerdIdentity::generate(
                        "cluster.local",
                        time::OffsetDateTime::now_utc(),
                    )?;
                    let f = dir.join("identity-values.yaml");
                    let v = serde_json::to_vec(&id.helm_values()).expect("JSON values serialize");
                    std::fs::write(&f, v).map_err(|e| write_io(&f, e))?;
                    value_files.push(f.clone());
                    secret_files.push(f);
                    recorded_values.generated_linkerd_identity = Some(id.public_values());
                }
            }
        }
        let args = helm::template_args(h, tgz, &value_files, caps);
        let rendered = helm::render(helm, &args);
        for f in &secret_files {
            let _ = std::fs::remove_file(f);
        }
        let source = format!("helm template {}", h.chart);
        let hooks = helm::drop_non_install_hooks(&String::from_utf8_lossy(&rendered?), &source)?;
        let name = format!("{:02}-{}", i + 1, h.release);
        out.steps.push(Step {
            name: format!("{name}.yaml"),
            source,
            text: hooks.kept,
            namespace: Some(h.namespace.clone()),
        });
        out.files.insert(
            format!("{name}-values.json"),
            serde_json::to_vec_pretty(&recorded_values).expect("JSON values serialize"),
        );
        recorded.push(ChartRecord {
            repo: h.repo.clone(),
            chart: h.chart.clone(),
            version: h.version.clone(),
            url: chart.url.clone(),
            sha256: chart.sha256.clone(),
            index_digest: chart.index_digest.clone(),
            dropped_hooks: hooks.dropped,
            command: helm::recorded_command(h, &chart.file_name, caps),
        });
    }
    out.record.charts = Some(recorded);
    out.record.helm_capabilities = Some(caps.record());
    Ok(out)
}
