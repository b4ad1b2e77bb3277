//! Names a bundle supplies that later become file names (the run's selection): checked against
//! the spec formats' safe-name rules before anything uses them, and a join that refuses anything
//! but plain relative segments.

use std::path::{Component, Path, PathBuf};

use super::{paths, BundleError, Manifest};

/// The run selection of a bundle's manifest, every part checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Cluster pin name (`clusters/<cluster>.yaml`).
    pub cluster: String,
    /// Mesh pin id: `name` or `name@version` (`meshes/<name>.yaml`, `meshes/<name>/<version>.yaml`).
    pub mesh: String,
    /// Workload name (`workloads/<workload>/`).
    pub workload: String,
    /// Suite name (`suites/<suite>/`); `smi` when the manifest names none.
    pub suite: String,
    /// `--only` case names, in order.
    pub only: Vec<String>,
}

impl Selection {
    /// `meshes/<name>.yaml` or `meshes/<name>/<version>.yaml`.
    pub fn mesh_pin_path(&self) -> String {
        match self.mesh.split_once('@') {
            Some((n, v)) => format!("meshes/{n}/{v}.yaml"),
            None => format!("meshes/{}.yaml", self.mesh),
        }
    }
}

/// What a safe name is, in words for error messages.
pub const SAFE_NAME_RULE: &str =
    "lowercase letters, digits, `-` and `.`, starting with a letter or digit, at most 63 characters";

/// A name that can be one path segment: [`crate::spec::is_pin_name`] (`[a-z0-9][a-z0-9.-]*`, ≤ 63).
pub fn is_safe_name(s: &str) -> bool {
    crate::spec::is_pin_name(s)
}

fn unsafe_name(field: &str, value: &str) -> BundleError {
    let shown: String = value.chars().take(80).collect();
    BundleError::Integrity {
        file: paths::MANIFEST.into(),
        reason: format!("run.selection.{field} `{shown}` is not a safe name ({SAFE_NAME_RULE})"),
    }
}

/// Check every name in `run.selection` that reaches the filesystem. Missing fields are allowed
/// here (hand-packed run directories may lack some); [`Selection::from_manifest`] requires them.
pub fn check_selection(m: &Manifest) -> Result<(), BundleError> {
    let sel = &m.run.selection;
    for (field, value) in [
        ("cluster", &sel.cluster),
        ("workload", &sel.workload),
        ("suite", &sel.suite),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !is_safe_name(v)) {
            return Err(unsafe_name(field, v));
        }
    }
    if let Some(mesh) = &sel.mesh {
        check_mesh(mesh)?;
    }
    for case in sel.only.iter().flat_map(|o| o.split(',')) {
        if !crate::spec::is_dns_label(case) {
            return Err(unsafe_name("only", case));
        }
    }
    Ok(())
}

fn check_mesh(value: &str) -> Result<(), BundleError> {
    let ok = match value.split_once('@') {
        Some((n, v)) => is_safe_name(n) && is_safe_name(v),
        None => is_safe_name(value),
    };
    if ok {
        Ok(())
    } else {
        Err(unsafe_name("mesh", value))
    }
}

impl Selection {
    /// The selection `reproduce` and `rerun` run again: cluster, mesh and workload required.
    pub fn from_manifest(m: &Manifest) -> Result<Selection, BundleError> {
        check_selection(m)?;
        let sel = &m.run.selection;
        let need = |k: &str, v: &Option<String>| {
            v.clone().ok_or_else(|| BundleError::Integrity {
                file: paths::MANIFEST.into(),
                reason: format!("run.selection.{k} is missing"),
            })
        };
        Ok(Selection {
            cluster: need("cluster", &sel.cluster)?,
            mesh: need("mesh", &sel.mesh)?,
            workload: need("workload", &sel.workload)?,
            suite: sel.suite_or_default().to_string(),
            only: sel
                .only
                .iter()
                .flat_map(|o| o.split(','))
                .map(str::to_string)
                .collect(),
        })
    }
}

/// `base/rel` when `rel` is made of plain segments only (no root, `..`, `.` or prefix), so the
/// result stays under `base`.
pub fn join_under(base: &Path, rel: &str) -> Result<PathBuf, BundleError> {
    let p = Path::new(rel);
    let plain = !rel.is_empty()
        && !rel.contains('\\')
        && p.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(BundleError::Unsafe {
            entry: rel.to_string(),
            reason: "not a plain relative path; refusing to write it".into(),
        });
    }
    Ok(base.join(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_under_refuses_anything_but_plain_segments() {
        let base = Path::new("/tmp/x");
        assert_eq!(
            join_under(base, "meshes/osm/1.2.4.yaml").unwrap(),
            base.join("meshes/osm/1.2.4.yaml")
        );
        for bad in ["", "../a", "a/../../b", "/etc/passwd", "./a", "a\\..\\b"] {
            assert!(join_under(base, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn safe_names_are_single_plain_segments() {
        for ok in ["osm", "1.2.4", "kind-v0.32.0", "smi"] {
            assert!(is_safe_name(ok), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".x",
            "a/b",
            "../x",
            "A",
            "a b",
            "a\\b",
            &"a".repeat(64),
        ] {
            assert!(!is_safe_name(bad), "{bad}");
        }
        assert!(check_mesh("osm@1.2.4").is_ok());
        assert!(check_mesh("osm@../../x").is_err());
        assert!(check_mesh("../osm@1").is_err());
    }
}
