//! Inputs of `site`: bundle files and directories expanded into a sorted list of files, each
//! hashed; files with the same bytes are one bundle (the others are rejected as duplicates).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::model::Rejected;
use super::SiteError;

/// Deepest directory level searched below an input directory.
const MAX_DEPTH: usize = 16;
/// The file name ending of bundles found in directories.
pub const BUNDLE_SUFFIX: &str = ".tar.zst";

/// One distinct bundle file: its sha256 and the name it is shown under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unique {
    pub path: PathBuf,
    /// The file name (never a directory): the same bundles in other folders give the same site.
    pub name: String,
    pub sha256: String,
}

/// The file name a site shows for a path.
pub fn shown_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Files given and `*.tar.zst` files found under directories given, sorted and without repeats
/// of the same path. A path that does not exist is bad input.
pub fn expand(args: &[PathBuf]) -> Result<Vec<PathBuf>, SiteError> {
    let mut out = Vec::new();
    for a in args {
        let meta = std::fs::metadata(a).map_err(|e| SiteError::BadInput {
            path: a.display().to_string(),
            reason: format!("cannot read: {e}"),
        })?;
        if meta.is_dir() {
            search(a, 0, &mut out)?;
        } else {
            out.push(a.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn search(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), SiteError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let io = |e: std::io::Error| SiteError::BadInput {
        path: dir.display().to_string(),
        reason: format!("cannot list: {e}"),
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for p in entries {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            search(&p, depth + 1, out)?;
        } else if meta.is_file() && shown_name(&p).ends_with(BUNDLE_SUFFIX) {
            out.push(p);
        }
    }
    Ok(())
}

/// Group hashed files by content: one [`Unique`] per sha256 (shown under its smallest name), a
/// rejection for every other copy and for every file that could not be read.
pub fn dedupe(hashed: Vec<(PathBuf, Result<String, String>)>) -> (Vec<Unique>, Vec<Rejected>) {
    let mut rejected = Vec::new();
    let mut by_sha: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
    for (path, sha) in hashed {
        let name = shown_name(&path);
        match sha {
            Ok(sha) => by_sha.entry(sha).or_default().push((name, path)),
            Err(reason) => rejected.push(Rejected {
                name,
                sha256: None,
                reason,
            }),
        }
    }
    let mut unique = Vec::new();
    for (sha, mut copies) in by_sha {
        copies.sort();
        let (name, path) = copies.remove(0);
        for (other, _) in copies {
            rejected.push(Rejected {
                name: other,
                sha256: Some(sha.clone()),
                reason: format!("duplicate: the same bytes as {name}"),
            });
        }
        unique.push(Unique {
            path,
            name,
            sha256: sha,
        });
    }
    (unique, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_keep_the_smallest_name_whatever_the_order() {
        let a = || {
            vec![
                (PathBuf::from("x/b.tar.zst"), Ok("11".to_string())),
                (PathBuf::from("y/a.tar.zst"), Ok("11".to_string())),
                (PathBuf::from("z/c.tar.zst"), Err("unreadable".to_string())),
            ]
        };
        let (u1, r1) = dedupe(a());
        let mut rev = a();
        rev.reverse();
        let (u2, mut r2) = dedupe(rev);
        r2.sort();
        let mut r1 = r1;
        r1.sort();
        assert_eq!(u1.len(), 1);
        assert_eq!(u1[0].name, "a.tar.zst");
        assert_eq!(u1[0].name, u2[0].name);
        assert_eq!(r1, r2);
        assert!(r1
            .iter()
            .any(|r| r.name == "b.tar.zst" && r.reason.contains("duplicate")));
    }
}
