//! The input catalog: finds and loads cluster pins, mesh pins, workloads and suites under a root directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::case::{self, Case};
use super::cluster::{self, Cluster};
use super::mesh::{self, Mesh};
use super::workload::{self, Workload};
use super::SpecError;

/// Relative file paths (with `/`) → bytes: a directory read into memory, or a bundle's `inputs/`.
pub type FileTree = BTreeMap<String, Vec<u8>>;

/// The default cluster selector: the pin with the newest Kubernetes version.
pub const DEFAULT_CLUSTER: &str = "kind-default";
pub const DEFAULT_WORKLOAD: &str = "smi-apps";
pub const DEFAULT_SUITE: &str = "smi";
pub const DEFAULT_MESH: &str = "none";

pub use super::is_relative_file;

/// How a chosen cluster pin fits a mesh's `spec.kubernetes.versions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterFit {
    /// In range (or the mesh declares no range).
    Compatible,
    /// Out of range and used anyway (`--force`); the note says why.
    Forced(String),
    /// No compatible pin exists and `--force` was not given: `plan` renders the fallback,
    /// `run` refuses it. The note says what to do.
    Blocked(String),
}

impl ClusterFit {
    /// The note of a forced or blocked choice.
    pub fn note(&self) -> Option<&str> {
        match self {
            ClusterFit::Compatible => None,
            ClusterFit::Forced(n) | ClusterFit::Blocked(n) => Some(n),
        }
    }
}

/// One case with the bytes of every file in its directory.
#[derive(Debug, Clone)]
pub struct LoadedCase {
    pub case: Case,
    /// Files of the case directory, relative to it (`case.yaml`, `common/x.yaml`, `v1alpha3/y.yaml`).
    pub files: FileTree,
}

impl LoadedCase {
    pub fn name(&self) -> &str {
        &self.case.metadata.name
    }

    /// Resolve a step file for a variant: `<variant>/<file>` if present, else `common/<file>`.
    pub fn resolve(&self, variant: &str, file: &str) -> Option<(String, &[u8])> {
        for candidate in [format!("{variant}/{file}"), format!("common/{file}")] {
            if let Some(bytes) = self.files.get(&candidate) {
                return Some((candidate, bytes));
            }
        }
        None
    }
}

/// A suite: its cases in run order (sorted by the order listed in `suite.yaml`, else by name).
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub cases: Vec<LoadedCase>,
}

impl Suite {
    /// Load a suite from a file tree rooted at the suite directory (`<case>/case.yaml`, ...).
    /// `shown` prefixes file names in errors (`suites/smi`).
    pub fn from_tree(name: &str, shown: &str, tree: &FileTree) -> Result<Suite, SpecError> {
        let mut by_case: BTreeMap<String, FileTree> = BTreeMap::new();
        for (path, bytes) in tree {
            if let Some((case_dir, rest)) = path.split_once('/') {
                by_case
                    .entry(case_dir.to_string())
                    .or_default()
                    .insert(rest.to_string(), bytes.clone());
            }
        }
        let mut cases = Vec::new();
        for (dir, files) in by_case {
            let shown_file = format!("{shown}/{dir}/case.yaml");
            let Some(bytes) = files.get("case.yaml") else {
                continue;
            };
            let text = std::str::from_utf8(bytes)
                .map_err(|_| SpecError::Invalid(format!("{shown_file}: not UTF-8")))?;
            let exists = |p: &str| files.contains_key(p);
            let case = case::load(&shown_file, text, &exists)?;
            if case.metadata.name != dir {
                return Err(SpecError::Invalid(format!(
                    "{shown_file}: metadata.name `{}` must match the directory name `{dir}`",
                    case.metadata.name
                )));
            }
            // Every manifest of the case must parse, with the namespace placeholder filled in.
            for (rel, bytes) in files
                .iter()
                .filter(|(k, _)| k.ends_with(".yaml") && *k != "case.yaml")
            {
                let shown_file = format!("{shown}/{dir}/{rel}");
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| SpecError::Invalid(format!("{shown_file}: not UTF-8")))?;
                let docs = crate::yaml::documents(&shown_file, &crate::substitute(text, "ns"))?;
                for (i, d) in docs.iter().enumerate() {
                    let named = d["apiVersion"].is_string()
                        && d["kind"].is_string()
                        && d["metadata"]["name"].is_string();
                    if !named {
                        return Err(SpecError::Invalid(format!(
                            "{shown_file}: document {} needs apiVersion, kind and metadata.name",
                            i + 1
                        )));
                    }
                }
            }
            cases.push(LoadedCase { case, files });
        }
        if cases.is_empty() {
            return Err(SpecError::Invalid(format!(
                "{shown}: no cases (expected <case>/case.yaml)"
            )));
        }
        // Report order: by SMI spec, then name.
        cases.sort_by_key(|c| {
            let spec = &c.case.spec.smi_spec;
            let rank = case::SMI_SPECS
                .iter()
                .position(|s| s == spec)
                .unwrap_or(usize::MAX);
            (rank, c.case.metadata.name.clone())
        });
        Ok(Suite {
            name: name.to_string(),
            cases,
        })
    }

    pub fn case(&self, name: &str) -> Option<&LoadedCase> {
        self.cases.iter().find(|c| c.name() == name)
    }
}

/// Read every regular file under `dir` into a tree (sorted; symlinks are refused).
pub fn read_tree(dir: &Path) -> Result<FileTree, SpecError> {
    let mut tree = FileTree::new();
    fn walk(base: &Path, dir: &Path, tree: &mut FileTree) -> Result<(), SpecError> {
        let io = |e: std::io::Error| SpecError::Io {
            file: dir.display().to_string(),
            source: e,
        };
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let ft = entry.file_type().map_err(io)?;
            if ft.is_dir() {
                walk(base, &path, tree)?;
            } else if ft.is_file() {
                let rel = path
                    .strip_prefix(base)
                    .expect("walked below base")
                    .to_str()
                    .ok_or_else(|| {
                        SpecError::Invalid(format!("{}: file name is not UTF-8", path.display()))
                    })?
                    .replace(std::path::MAIN_SEPARATOR, "/");
                let bytes = std::fs::read(&path).map_err(|e| SpecError::Io {
                    file: path.display().to_string(),
                    source: e,
                })?;
                tree.insert(rel, bytes);
            } else {
                return Err(SpecError::Invalid(format!(
                    "{}: not a regular file or directory (symlinks are not followed)",
                    path.display()
                )));
            }
        }
        Ok(())
    }
    walk(dir, dir, &mut tree)?;
    Ok(tree)
}

/// A loaded input with its file path (relative to the catalog root) and exact bytes.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    pub value: T,
    pub path: String,
    pub bytes: Vec<u8>,
}

/// The inputs available under a root directory.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub root: PathBuf,
    /// Where `meshproof lock` writes by default (the user's data directory): a lock file there
    /// is used when the root has none next to the pin. Only the user's catalog has one; the
    /// catalog rebuilt from a bundle's inputs never does.
    pub user_locks: Option<PathBuf>,
}

impl Catalog {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Catalog {
            root: root.into(),
            user_locks: None,
        }
    }

    /// The same catalog, also reading lock files from `dir` (see [`Catalog::user_locks`]).
    pub fn with_user_locks(mut self, dir: Option<PathBuf>) -> Self {
        self.user_locks = dir;
        self
    }

    /// The lock file at `rel` (`meshes/osm/1.2.4.lock.yaml`): next to the pin in the root, else
    /// in the user's lock directory; with the name messages use (`rel`, or the full path of a
    /// user lock).
    pub fn lock_file(&self, rel: &str) -> Option<(PathBuf, String)> {
        let in_root = self.root.join(rel);
        if in_root.is_file() {
            return Some((in_root, rel.to_string()));
        }
        let user = self.user_locks.as_ref()?.join(rel);
        user.is_file()
            .then(|| (user.clone(), user.display().to_string()))
    }

    fn read(&self, rel: &str) -> Result<(String, Vec<u8>), SpecError> {
        let bytes = std::fs::read(self.root.join(rel)).map_err(|e| SpecError::Io {
            file: rel.to_string(),
            source: e,
        })?;
        let text = String::from_utf8(bytes.clone())
            .map_err(|_| SpecError::Invalid(format!("{rel}: not UTF-8")))?;
        Ok((text, bytes))
    }

    fn yaml_files(&self, dir: &str) -> Result<Vec<String>, SpecError> {
        let full = self.root.join(dir);
        if !full.is_dir() {
            return Ok(Vec::new());
        }
        let tree = read_tree(&full)?;
        Ok(tree
            .keys()
            .filter(|k| k.ends_with(".yaml") && !k.ends_with(".lock.yaml"))
            .map(|k| format!("{dir}/{k}"))
            .collect())
    }

    pub fn clusters(&self) -> Result<Vec<Sourced<Cluster>>, SpecError> {
        let mut out = Vec::new();
        for rel in self.yaml_files("clusters")? {
            if rel.matches('/').count() != 1 {
                continue;
            }
            let (text, bytes) = self.read(&rel)?;
            let value = cluster::load(&rel, &text)?;
            let stem = rel
                .trim_start_matches("clusters/")
                .trim_end_matches(".yaml");
            if value.metadata.name != stem {
                return Err(SpecError::Invalid(format!(
                    "{rel}: metadata.name `{}` must match the file name `{stem}`",
                    value.metadata.name
                )));
            }
            out.push(Sourced {
                value,
                path: rel,
                bytes,
            });
        }
        Ok(out)
    }

    pub fn meshes(&self) -> Result<Vec<Sourced<Mesh>>, SpecError> {
        let mut out = Vec::new();
        for rel in self.yaml_files("meshes")? {
            let (text, bytes) = self.read(&rel)?;
            let value = mesh::load(&rel, &text)?;
            let parts: Vec<&str> = rel.trim_end_matches(".yaml").split('/').collect();
            let ok = match parts.as_slice() {
                ["meshes", name] => {
                    *name == value.metadata.name && value.metadata.version.is_none()
                }
                ["meshes", name, version] => {
                    *name == value.metadata.name
                        && value.metadata.version.as_deref() == Some(*version)
                }
                _ => false,
            };
            if !ok {
                return Err(SpecError::Invalid(format!(
                    "{rel}: metadata.name/version must match the path `meshes/<name>/<version>.yaml` (or `meshes/<name>.yaml` without a version)"
                )));
            }
            out.push(Sourced {
                value,
                path: rel,
                bytes,
            });
        }
        Ok(out)
    }

    pub fn workloads(&self) -> Result<Vec<Sourced<Workload>>, SpecError> {
        let mut out = Vec::new();
        let dir = self.root.join("workloads");
        if !dir.is_dir() {
            return Ok(out);
        }
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| SpecError::Io {
                file: "workloads".into(),
                source: e,
            })?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("workload.yaml").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            let rel = format!("workloads/{name}/workload.yaml");
            let (text, bytes) = self.read(&rel)?;
            let value = workload::load(&rel, &text)?;
            for layout in value.spec.layouts.values() {
                for m in &layout.manifests {
                    let p = format!("workloads/{name}/{m}");
                    if !self.root.join(&p).is_file() {
                        return Err(SpecError::Invalid(format!(
                            "{rel}: manifest `{m}` does not exist ({p})"
                        )));
                    }
                }
            }
            let w = Sourced {
                value,
                path: rel,
                bytes,
            };
            let apps = self.layout_apps(&w)?;
            SpecError::from_problems(workload::check_ready(&w.path, &text, &w.value, &apps))?;
            out.push(w);
        }
        Ok(out)
    }

    /// Suite names: directories under `suites/`.
    pub fn suite_names(&self) -> Result<Vec<String>, SpecError> {
        let dir = self.root.join("suites");
        let mut names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        Ok(names)
    }

    /// Load a suite and the raw tree it came from.
    pub fn suite(&self, name: &str) -> Result<(Suite, FileTree), SpecError> {
        let names = self.suite_names()?;
        if !names.iter().any(|n| n == name) {
            return Err(SpecError::NotFound {
                what: "suite",
                name: name.to_string(),
                available: names.join(", "),
            });
        }
        let tree = read_tree(&self.root.join("suites").join(name))?;
        let suite = Suite::from_tree(name, &format!("suites/{name}"), &tree)?;
        Ok((suite, tree))
    }

    /// `kind-default` → the pin with the newest Kubernetes version; otherwise by name.
    pub fn select_cluster(&self, selector: &str) -> Result<Sourced<Cluster>, SpecError> {
        let all = self.clusters()?;
        if selector == DEFAULT_CLUSTER {
            return all
                .into_iter()
                .max_by(|a, b| {
                    let va = semver::Version::parse(&a.value.spec.kubernetes_version).ok();
                    let vb = semver::Version::parse(&b.value.spec.kubernetes_version).ok();
                    va.cmp(&vb).then_with(|| b.path.cmp(&a.path))
                })
                .ok_or_else(|| SpecError::NotFound {
                    what: "cluster",
                    name: selector.to_string(),
                    available: "(no clusters/*.yaml)".into(),
                });
        }
        let available = all
            .iter()
            .map(|c| c.value.metadata.name.clone())
            .collect::<Vec<_>>()
            .join(", ");
        all.into_iter()
            .find(|c| c.value.metadata.name == selector)
            .ok_or_else(|| SpecError::NotFound {
                what: "cluster",
                name: selector.to_string(),
                available: format!("{DEFAULT_CLUSTER}, {available}"),
            })
    }

    /// The cluster for a mesh and how it fits the mesh's Kubernetes range. `kind-default` → the newest pin whose Kubernetes version the mesh's
    /// `spec.kubernetes.versions` accepts (the newest pin when the mesh declares no range). An
    /// explicitly named pin outside the range is refused unless `force`; the returned note says
    /// why a forced or fallback choice was made.
    pub fn select_cluster_for(
        &self,
        selector: &str,
        mesh: &Mesh,
        force: bool,
    ) -> Result<(Sourced<Cluster>, ClusterFit), SpecError> {
        let Some(range) = mesh.spec.kubernetes.versions.as_deref() else {
            return Ok((self.select_cluster(selector)?, ClusterFit::Compatible));
        };
        let req = semver::VersionReq::parse(range).map_err(|e| {
            SpecError::Invalid(format!("mesh {}: spec.kubernetes.versions: {e}", mesh.id()))
        })?;
        let fits = |c: &Sourced<Cluster>| {
            semver::Version::parse(&c.value.spec.kubernetes_version)
                .map(|v| req.matches(&v))
                .unwrap_or(false)
        };
        if selector == DEFAULT_CLUSTER {
            let all = self.clusters()?;
            let best = all
                .iter()
                .filter(|c| fits(c))
                .max_by(|a, b| {
                    let va = semver::Version::parse(&a.value.spec.kubernetes_version).ok();
                    let vb = semver::Version::parse(&b.value.spec.kubernetes_version).ok();
                    va.cmp(&vb).then_with(|| b.path.cmp(&a.path))
                })
                .cloned();
            return match best {
                Some(c) => Ok((c, ClusterFit::Compatible)),
                // No compatible pin: fall back to the newest so `plan` still renders; forced, or
                // blocked (`run` refuses it).
                None => {
                    let c = self.select_cluster(selector)?;
                    let note = format!(
                        "{}no cluster pin runs a Kubernetes version mesh {} is known to work on ({range}); \
                         falling back to {} (Kubernetes {}){}",
                        if force { "--force: " } else { "" },
                        mesh.id(),
                        c.value.metadata.name,
                        c.value.spec.kubernetes_version,
                        if force {
                            ""
                        } else {
                            "; `run` refuses this without --force (add a compatible pin under clusters/)"
                        }
                    );
                    let fit = if force {
                        ClusterFit::Forced(note)
                    } else {
                        ClusterFit::Blocked(note)
                    };
                    Ok((c, fit))
                }
            };
        }
        let c = self.select_cluster(selector)?;
        if fits(&c) {
            return Ok((c, ClusterFit::Compatible));
        }
        let what = format!(
            "cluster {} runs Kubernetes {}, but mesh {} is known to work on {range}",
            c.value.metadata.name,
            c.value.spec.kubernetes_version,
            mesh.id()
        );
        if force {
            Ok((c, ClusterFit::Forced(format!("--force: {what}"))))
        } else {
            Err(SpecError::Invalid(format!(
                "{what}; choose a compatible --cluster (or omit it to pick one), or pass --force to run anyway"
            )))
        }
    }

    /// `osm` → newest pinned version; `osm@1.2.4` → that pin; `none` → the control.
    pub fn select_mesh(&self, selector: &str) -> Result<Sourced<Mesh>, SpecError> {
        let all = self.meshes()?;
        let (name, version) = match selector.split_once('@') {
            Some((n, v)) => (n, Some(v.trim_start_matches('v'))),
            None => (selector, None),
        };
        // Listed as a user would pick them: the control, then pins whose artifacts are all
        // pinned by digest, then installable pins without digests, then unpinned ones; newest
        // version first within a mesh.
        let available = || {
            let mut ids: Vec<(u8, String, Option<semver::Version>, String)> = all
                .iter()
                .map(|m| {
                    let i = &m.value.spec.install;
                    let rank = match i.method {
                        mesh::InstallMethod::None => 0,
                        mesh::InstallMethod::Unpinned => 3,
                        _ if i.fully_pinned() => 1,
                        _ => 2,
                    };
                    let v = m
                        .value
                        .metadata
                        .version
                        .as_deref()
                        .and_then(|v| semver::Version::parse(v).ok());
                    (rank, m.value.metadata.name.clone(), v, m.value.id())
                })
                .collect();
            ids.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)).then_with(|| b.2.cmp(&a.2)));
            ids.into_iter().map(|t| t.3).collect::<Vec<_>>().join(", ")
        };
        let candidates: Vec<&Sourced<Mesh>> = all
            .iter()
            .filter(|m| m.value.metadata.name == name)
            .filter(|m| match version {
                None => true,
                Some(v) => m.value.metadata.version.as_deref() == Some(v),
            })
            .collect();
        let best = candidates.into_iter().max_by(|a, b| {
            let pa = a
                .value
                .metadata
                .version
                .as_deref()
                .and_then(|v| semver::Version::parse(v).ok());
            let pb = b
                .value
                .metadata
                .version
                .as_deref()
                .and_then(|v| semver::Version::parse(v).ok());
            pa.cmp(&pb)
        });
        match best {
            Some(m) => Ok(m.clone()),
            None => Err(SpecError::NotFound {
                what: "mesh",
                name: selector.to_string(),
                available: available(),
            }),
        }
    }

    pub fn select_workload(&self, name: &str) -> Result<Sourced<Workload>, SpecError> {
        let all = self.workloads()?;
        let available = all
            .iter()
            .map(|w| w.value.metadata.name.clone())
            .collect::<Vec<_>>()
            .join(", ");
        all.into_iter()
            .find(|w| w.value.metadata.name == name)
            .ok_or_else(|| SpecError::NotFound {
                what: "workload",
                name: name.to_string(),
                available,
            })
    }

    /// What each layout of a workload defines (Deployments, probe names, Services), read from its
    /// manifests.
    pub fn layout_apps(
        &self,
        w: &Sourced<Workload>,
    ) -> Result<BTreeMap<String, workload::LayoutApps>, SpecError> {
        Ok(self
            .layout_docs(w)?
            .iter()
            .map(|(name, docs)| (name.clone(), workload::LayoutApps::from_manifests(docs)))
            .collect())
    }

    /// Each layout's manifests, parsed (the image placeholder left in).
    pub fn layout_docs(
        &self,
        w: &Sourced<Workload>,
    ) -> Result<BTreeMap<String, Vec<serde_json::Value>>, SpecError> {
        let dir = w.path.trim_end_matches("/workload.yaml");
        let mut out = BTreeMap::new();
        for (name, layout) in &w.value.spec.layouts {
            let mut docs = Vec::new();
            for m in &layout.manifests {
                let rel = format!("{dir}/{m}");
                let (text, _) = self.read(&rel)?;
                docs.extend(crate::yaml::documents(&rel, &text)?);
            }
            out.insert(name.clone(), docs);
        }
        Ok(out)
    }

    /// The files of a workload directory (manifests etc.), excluding the probe's source crate.
    pub fn workload_tree(&self, name: &str) -> Result<FileTree, SpecError> {
        let tree = read_tree(&self.root.join("workloads").join(name))?;
        Ok(tree
            .into_iter()
            .filter(|(k, _)| k.ends_with(".yaml"))
            .filter(|(k, _)| !k.contains('/'))
            .collect())
    }
}
