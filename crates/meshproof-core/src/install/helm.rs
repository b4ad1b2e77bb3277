//! The `helm` install method's model: where a pinned chart is found in its repository index, the
//! `helm template` arguments and capabilities, the commands shown by `plan`, which hook documents
//! an install keeps, and Secret redaction of rendered manifests. Fetching the chart and running
//! `helm` are effects, in the `meshproof` crate's `install::helm`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::InstallError;
use crate::spec::mesh::Helm;

/// `<repo>/index.yaml`.
pub fn index_url(repo: &str) -> String {
    format!("{}/index.yaml", repo.trim_end_matches('/'))
}

/// `<chart>-<version>.tgz`.
pub fn tarball_name(h: &Helm) -> String {
    format!("{}-{}.tgz", h.chart, h.version)
}

/// The tarball URL and index digest of `chart` at `version` in a Helm repository index.
pub fn resolve_in_index(
    index_text: &str,
    repo: &str,
    chart: &str,
    version: &str,
) -> Result<(String, Option<String>), InstallError> {
    let not_found = |reason: String| InstallError::NotInIndex {
        chart: chart.to_string(),
        version: version.to_string(),
        index: index_url(repo),
        reason,
    };
    let index: Value = crate::yaml::from_str(&index_url(repo), index_text)
        .map_err(|e| not_found(format!("unreadable index: {e}")))?;
    let entries = index["entries"][chart]
        .as_array()
        .ok_or_else(|| not_found(format!("no entries for chart `{chart}`")))?;
    let entry = entries
        .iter()
        .find(|e| e["version"].as_str() == Some(version))
        .ok_or_else(|| {
            let listed: Vec<&str> = entries
                .iter()
                .filter_map(|e| e["version"].as_str())
                .collect();
            not_found(format!("versions listed: {}", listed.join(", ")))
        })?;
    let url = entry["urls"][0]
        .as_str()
        .ok_or_else(|| not_found("the entry has no urls".into()))?;
    let url = if url.contains("://") {
        url.to_string()
    } else {
        format!(
            "{}/{}",
            repo.trim_end_matches('/'),
            url.trim_start_matches('/')
        )
    };
    let digest = entry["digest"].as_str().map(str::to_string);
    Ok((url, digest))
}

/// The cluster `helm template` renders for: `.Capabilities.KubeVersion` (and the chart's
/// `kubeVersion` gate) and `.Capabilities.APIVersions`. Without them Helm renders for its
/// compiled-in default, `v1.20.0` in a Helm built without upstream's `k8sVersionMinor` ldflags
/// (helm/helm `pkg/chartutil/capabilities.go`), which refuses OSM 1.2.4's `>=1.22.9-0`, and
/// `.Capabilities.APIVersions.Has` sees only the API versions compiled into Helm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `--kube-version`: the API server's version (`v1.24.17`); empty: not passed.
    pub kube_version: String,
    /// `--api-versions`, one flag each: every `group/version` and `group/version/Kind` the
    /// cluster serves, as `helm install` computes them (empty: none passed).
    pub api_versions: Vec<String>,
}

impl Capabilities {
    /// `--kube-version V --api-versions A ...` in that order (each API version in its own flag:
    /// Helm 3.5/3.6 parse the flag as a string array that does not split on commas).
    fn args(&self) -> Vec<OsString> {
        let mut args = Vec::with_capacity(2 + 2 * self.api_versions.len());
        if !self.kube_version.is_empty() {
            args.push("--kube-version".into());
            args.push(self.kube_version.clone().into());
        }
        for v in &self.api_versions {
            args.push("--api-versions".into());
            args.push(v.into());
        }
        args
    }

    /// The flags as recorded and shown: the API versions are summarised by their count.
    pub fn summary(&self) -> String {
        let mut out = Vec::new();
        if !self.kube_version.is_empty() {
            out.push(format!("--kube-version {}", self.kube_version));
        }
        if !self.api_versions.is_empty() {
            out.push(format!(
                "--api-versions <{} served API versions>",
                self.api_versions.len()
            ));
        }
        out.join(" ")
    }

    /// The recorded form (`resolved/mesh.json`, `helm_capabilities`).
    pub fn record(&self) -> crate::bundle::HelmCapabilities {
        crate::bundle::HelmCapabilities {
            kube_version: self.kube_version.clone(),
            api_versions: self.api_versions.clone(),
        }
    }
}

/// The `helm template` arguments for a local chart tarball and values files (in order), for the
/// cluster described by `caps`.
pub fn template_args(
    h: &Helm,
    chart: &Path,
    values: &[PathBuf],
    caps: &Capabilities,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "template".into(),
        h.release.clone().into(),
        chart.as_os_str().to_owned(),
        "--namespace".into(),
        h.namespace.clone().into(),
        "--include-crds".into(),
    ];
    for v in values {
        args.push("--values".into());
        args.push(v.as_os_str().to_owned());
    }
    args.extend(caps.args());
    args
}

/// `helm template ...` as recorded in the bundle: the chart by file name, no values paths (they
/// are scratch files; the values are recorded next to it), the capabilities summarised.
pub fn recorded_command(h: &Helm, file_name: &str, caps: &Capabilities) -> String {
    let base = template_args(h, Path::new(file_name), &[], &Capabilities::default());
    let flags = caps.summary();
    if flags.is_empty() {
        format!("helm {}", command_line(&base))
    } else {
        format!("helm {} {flags}", command_line(&base))
    }
}

/// The commands `run` performs for one chart, as shown by `plan`.
pub fn planned_commands(h: &Helm, locked: Option<&str>) -> Vec<String> {
    let mut out = vec![format!(
        "fetch {} from {} (chart {} {}, located through {})",
        tarball_name(h),
        h.repo,
        h.chart,
        h.version,
        index_url(&h.repo)
    )];
    match (h.digest.as_deref(), locked) {
        (Some(d), _) => out.push(format!("check chart tarball sha256 {d} (pin)")),
        (None, Some(l)) => out.push(format!("check chart tarball sha256 {l} (lock file)")),
        (None, None) => out.push(
            "chart tarball digest not pinned: only the index digest is checked (run `meshproof lock`)"
                .into(),
        ),
    }
    let mut values = Vec::new();
    if !h.values.is_empty() {
        values.push(PathBuf::from("<pinned values>"));
    }
    if !h.generate.is_empty() {
        values.push(PathBuf::from("<generated values>"));
    }
    let args = template_args(
        h,
        Path::new(&tarball_name(h)),
        &values,
        &Capabilities::default(),
    );
    out.push(format!(
        "helm {} --kube-version <the cluster's version> --api-versions <each API version the cluster serves>",
        command_line(&args)
    ));
    out.push(format!(
        "drop rendered Helm hooks other than {} (delete, upgrade, rollback and test hooks must not run at install)",
        INSTALL_HOOKS.join("/")
    ));
    out
}

/// Helm hook events that belong to an install: hook documents naming one of these are applied
/// with the rest of the chart; every other hook (delete, upgrade, rollback, test) is dropped.
pub const INSTALL_HOOKS: [&str; 2] = ["pre-install", "post-install"];

/// The rendered stream without the hook documents that must not run at install time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookFilter {
    /// The documents to apply, byte-for-byte as `helm template` printed them.
    pub kept: String,
    /// `Kind/name (events)` of every dropped hook document, in rendering order.
    pub dropped: Vec<String>,
}

/// `helm template` prints hook documents (`helm.sh/hook` annotation) along with the chart, but
/// only Helm's release machinery knows when to run them: applying a `post-delete` cleanup Job
/// at install time would tear the mesh down again. Keep install hooks, drop the others.
/// `source` names the stream in parse errors.
pub fn drop_non_install_hooks(rendered: &str, source: &str) -> Result<HookFilter, InstallError> {
    let mut kept = String::with_capacity(rendered.len());
    let mut dropped = Vec::new();
    let mut doc = String::new();
    let mut flush = |doc: &mut String, separator: Option<&str>| -> Result<(), InstallError> {
        let parsed = crate::yaml::documents(source, doc)
            .map_err(|e| InstallError::Other(format!("reading rendered chart: {e}")))?;
        let hook = parsed.iter().find_map(|d| {
            d.pointer("/metadata/annotations/helm.sh~1hook")
                .and_then(|v| v.as_str())
                .map(|events| (d, events.to_string()))
        });
        match hook {
            Some((d, events)) if !events.split(',').any(|e| INSTALL_HOOKS.contains(&e.trim())) => {
                let field = |p: &str| d.pointer(p).and_then(|v| v.as_str()).unwrap_or("?");
                dropped.push(format!(
                    "{}/{} ({})",
                    field("/kind"),
                    field("/metadata/name"),
                    events.trim()
                ));
            }
            _ => kept.push_str(doc),
        }
        if let Some(sep) = separator {
            kept.push_str(sep);
        }
        doc.clear();
        Ok(())
    };
    for line in rendered.split_inclusive('\n') {
        if line.trim_end() == "---" {
            flush(&mut doc, Some(line))?;
        } else {
            doc.push_str(line);
        }
    }
    flush(&mut doc, None)?;
    Ok(HookFilter { kept, dropped })
}

/// Arguments joined for display.
pub fn command_line(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Replace every value under `data:` / `stringData:` of `kind: Secret` documents in a
/// multi-document YAML stream with a redaction marker (rendered manifests are recorded in the
/// bundle; Secret data — e.g. Linkerd's issuer key — never is).
pub fn redact_secrets(rendered: &str) -> String {
    let mut out = String::with_capacity(rendered.len());
    let mut doc: Vec<&str> = Vec::new();
    let flush = |doc: &mut Vec<&str>, out: &mut String| {
        let is_secret = doc.iter().any(|l| l.trim_end() == "kind: Secret");
        if !is_secret {
            for l in doc.iter() {
                out.push_str(l);
                out.push('\n');
            }
        } else {
            let mut in_data = false;
            let mut child_indent: Option<usize> = None;
            for l in doc.iter() {
                let indent = l.len() - l.trim_start().len();
                let t = l.trim_end();
                if indent == 0 && !t.is_empty() {
                    in_data = t == "data:" || t == "stringData:";
                    child_indent = None;
                    out.push_str(l);
                    out.push('\n');
                    continue;
                }
                if !in_data || t.trim().is_empty() {
                    if !in_data {
                        out.push_str(l);
                        out.push('\n');
                    }
                    continue;
                }
                let ci = *child_indent.get_or_insert(indent);
                if indent == ci {
                    if let Some((key, _)) = t.split_once(':') {
                        out.push_str(key);
                        out.push_str(": REDACTED-BY-MESHPROOF\n");
                    }
                }
                // Deeper lines (block scalars) are dropped.
            }
        }
        doc.clear();
    };
    for line in rendered.lines() {
        if line.trim_end() == "---" {
            flush(&mut doc, &mut out);
            out.push_str(line);
            out.push('\n');
        } else {
            doc.push(line);
        }
    }
    flush(&mut doc, &mut out);
    out
}
