//! The structural checks every reader of a bundle runs before using anything in it: checksums,
//! format version, layout, the manifest's inputs and names. `verify` reports each as a line;
//! `show`, `diff`, `unpack`, `reproduce` and `rerun` stop at the first failure (exit 3).

use std::collections::BTreeSet;

use super::{json, paths, BundleError, FormatVersion, Limits, Manifest, Scanned, Sums};

/// Files the structural checks read (always kept in memory by a scan).
pub fn is_structural(path: &str) -> bool {
    path == paths::SHA256SUMS || path == paths::MANIFEST
}

fn integrity(file: &str, reason: impl Into<String>) -> BundleError {
    BundleError::Integrity {
        file: file.to_string(),
        reason: reason.into(),
    }
}

/// Parse a `sha256sum` file: `<64 hex>  <path>` per line.
pub fn parse_sums(text: &str) -> Result<Sums, String> {
    let mut out = Sums::new();
    for (i, line) in text.lines().enumerate() {
        let (hash, path) = line
            .split_once("  ")
            .ok_or_else(|| format!("line {}: expected `<sha256>  <path>`", i + 1))?;
        if !crate::spec::is_sha256_hex(hash) {
            return Err(format!("line {}: `{hash}` is not a sha256", i + 1));
        }
        if out.insert(path.to_string(), hash.to_string()).is_some() {
            return Err(format!("line {}: `{path}` listed twice", i + 1));
        }
    }
    Ok(out)
}

/// `SHA256SUMS` lists every other file of the archive, with the right hash.
pub fn checksums(s: &Scanned) -> Result<String, BundleError> {
    let bytes = s
        .files
        .get(paths::SHA256SUMS)
        .ok_or_else(|| integrity(paths::SHA256SUMS, "missing"))?;
    let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    if lines > s.entries {
        return Err(integrity(
            paths::SHA256SUMS,
            format!("{lines} lines for an archive of {} files", s.entries),
        ));
    }
    let listed = std::str::from_utf8(bytes)
        .map_err(|_| "not UTF-8".to_string())
        .and_then(parse_sums)
        .map_err(|e| integrity(paths::SHA256SUMS, e))?;
    for (path, want) in &listed {
        match s.sums.get(path) {
            None => return Err(integrity(path, "listed in SHA256SUMS but missing")),
            Some(got) if got != want => return Err(integrity(path, "sha256 mismatch")),
            Some(_) => {}
        }
    }
    if let Some(extra) = s
        .sums
        .keys()
        .find(|p| *p != paths::SHA256SUMS && !listed.contains_key(*p))
    {
        return Err(integrity(extra, "extra file not listed in SHA256SUMS"));
    }
    Ok(format!("{} files match SHA256SUMS", listed.len()))
}

/// The manifest: a format this meshproof reads (major version first, so a newer format is
/// named as such even when the rest does not parse), then the whole manifest, with every
/// name that can become a path checked.
pub fn manifest(s: &Scanned) -> Result<Manifest, BundleError> {
    let bytes = s
        .files
        .get(paths::MANIFEST)
        .ok_or_else(|| integrity(paths::MANIFEST, "missing"))?;
    #[derive(serde::Deserialize)]
    struct V {
        format: FormatVersion,
    }
    let v: V = json::parse(paths::MANIFEST, bytes)?;
    v.format.check_readable_by(FormatVersion::CURRENT)?;
    let m: Manifest = json::parse(paths::MANIFEST, bytes)?;
    super::names::check_selection(&m)?;
    Ok(m)
}

/// Only the files the format defines: the generated ones at the top and in `report/`, and files
/// inside `inputs/`, `resolved/`, `observations/` and `logs/`; the required ones present.
pub fn layout(s: &Scanned) -> Result<String, BundleError> {
    for path in s.sums.keys() {
        let top = path.split('/').next().unwrap_or_default();
        let known = paths::GENERATED.contains(&path.as_str())
            || (path.contains('/') && paths::RUN_DIRS.contains(&top));
        if !known {
            return Err(integrity(
                path,
                format!(
                    "not part of the bundle format (allowed: {}, and files inside {})",
                    paths::GENERATED.join(", "),
                    paths::RUN_DIRS.join(", ")
                ),
            ));
        }
    }
    for required in paths::REQUIRED {
        if !s.sums.contains_key(required) {
            return Err(integrity(required, "missing from the bundle"));
        }
    }
    if !s
        .sums
        .keys()
        .any(|p| p.starts_with(&format!("{}/", paths::INPUT_SUITE)))
    {
        return Err(integrity(
            paths::INPUT_SUITE,
            "missing: a bundle holds the suite it ran",
        ));
    }
    Ok(format!(
        "{} files, all where the format puts them",
        s.sums.len()
    ))
}

/// `manifest.json` `inputs` names exactly the archive's files under `inputs/`, with their hashes.
pub fn inputs(m: &Manifest, sums: &Sums) -> Result<String, BundleError> {
    let prefix = format!("{}/", paths::INPUTS);
    let in_archive: BTreeSet<&String> = sums.keys().filter(|p| p.starts_with(&prefix)).collect();
    for (path, want) in &m.inputs {
        match sums.get(path) {
            _ if !path.starts_with(&prefix) => {
                return Err(integrity(
                    paths::MANIFEST,
                    format!("inputs lists `{path}`, which is not under {prefix}"),
                ))
            }
            None => {
                return Err(integrity(
                    path,
                    "listed in manifest.json inputs but missing from the archive",
                ))
            }
            Some(got) if got != want => {
                return Err(integrity(
                    path,
                    "sha256 differs from manifest.json inputs: the input was changed after the run",
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = in_archive.iter().find(|p| !m.inputs.contains_key(**p)) {
        return Err(integrity(
            extra,
            "in the archive but not listed in manifest.json inputs",
        ));
    }
    Ok(format!(
        "{} input files match manifest.json inputs",
        m.inputs.len()
    ))
}

/// YAML inputs a reader parses (the suite and the mesh pin).
pub fn is_parsed_yaml(path: &str) -> bool {
    path == paths::INPUT_MESH || path.starts_with(&format!("{}/", paths::INPUT_SUITE))
}

/// The files held in memory, before anything parses them: each JSON file's nesting and value
/// count ([`json::shape`]) and their sum, the YAML inputs' sizes and their sum. YAML's own
/// expansion is bounded when it is parsed (`crate::yaml::check_bounds`).
pub fn parse_limits(s: &Scanned, limits: &Limits) -> Result<(), BundleError> {
    let mut values: u64 = 0;
    let mut yaml: u64 = 0;
    for (path, bytes) in &s.files {
        if path.ends_with(".json") {
            values += json::shape(path, bytes)?.values;
            if values > json::MAX_TOTAL_VALUES {
                return Err(BundleError::Limit {
                    entry: path.clone(),
                    reason: format!(
                        "the JSON files read together hold more than {} values",
                        json::MAX_TOTAL_VALUES
                    ),
                });
            }
        } else if is_parsed_yaml(path) {
            let size = bytes.len() as u64;
            yaml += size;
            if size > limits.max_yaml_file {
                return Err(BundleError::Limit {
                    entry: path.clone(),
                    reason: format!(
                        "{size} bytes, more than the {} MiB a YAML input may have",
                        limits.max_yaml_file >> 20
                    ),
                });
            }
            if yaml > limits.max_yaml_total {
                return Err(BundleError::Limit {
                    entry: path.clone(),
                    reason: format!(
                        "the YAML inputs add up to more than {} MiB",
                        limits.max_yaml_total >> 20
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Every structural check in order; the manifest when all hold.
pub fn structure(s: &Scanned, limits: &Limits) -> Result<Manifest, BundleError> {
    parse_limits(s, limits)?;
    checksums(s)?;
    let m = manifest(s)?;
    layout(s)?;
    inputs(&m, &s.sums)?;
    Ok(m)
}
