//! `bundle pack`: judge a run directory's observations and write the deterministic bundle.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{paths, BundleError, FormatVersion, Manifest, RunInfo, Tool};
use super::{FORMAT_MAJOR, FORMAT_MINOR, ZSTD_LEVEL};
use crate::observation::CaseObservation;
use crate::report::ReportContext;
use crate::spec::catalog::{FileTree, Suite};
use crate::verdict::{judge, Scoring, Verdicts};

#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    /// Override the scoring mode recorded in the run's manifest.
    pub scoring: Option<Scoring>,
    /// Replace an existing output file.
    pub force: bool,
}

#[derive(Debug)]
pub struct Packed {
    pub path: PathBuf,
    pub files: usize,
    pub bytes: u64,
    pub manifest: Manifest,
    pub verdicts: Verdicts,
}

/// A run directory's file: where it is on disk and its size when listed.
#[derive(Debug)]
struct DiskFile {
    full: PathBuf,
    size: u64,
}

enum Source {
    Disk(DiskFile),
    Memory(Vec<u8>),
}

/// List a run directory, checking names and refusing unknown top-level entries.
fn list_run_dir(dir: &Path) -> Result<BTreeMap<String, DiskFile>, BundleError> {
    let mut out = BTreeMap::new();
    fn walk(
        base: &Path,
        dir: &Path,
        out: &mut BTreeMap<String, DiskFile>,
    ) -> Result<(), BundleError> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| BundleError::io(dir.display(), e))?
            .collect::<Result<_, _>>()
            .map_err(|e| BundleError::io(dir.display(), e))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let full = e.path();
            let rel_os = full.strip_prefix(base).expect("below base");
            let rel = rel_os.to_str().ok_or_else(|| BundleError::BadInput {
                file: full.display().to_string(),
                reason: "file name is not UTF-8".into(),
            })?;
            let rel = rel.replace(std::path::MAIN_SEPARATOR, "/");
            let ft = e
                .file_type()
                .map_err(|err| BundleError::io(full.display(), err))?;
            if ft.is_dir() {
                walk(base, &full, out)?;
            } else if ft.is_file() {
                super::read::check_path(rel.as_bytes()).map_err(|err| BundleError::BadInput {
                    file: full.display().to_string(),
                    reason: err.to_string(),
                })?;
                let size = e
                    .metadata()
                    .map_err(|err| BundleError::io(full.display(), err))?
                    .len();
                out.insert(rel, DiskFile { full, size });
            } else {
                return Err(BundleError::BadInput {
                    file: full.display().to_string(),
                    reason: "only regular files and folders can go into a bundle (no symlinks)"
                        .into(),
                });
            }
        }
        Ok(())
    }
    walk(dir, dir, &mut out)?;
    let mut kept = BTreeMap::new();
    for (rel, f) in out {
        if paths::GENERATED.contains(&rel.as_str()) {
            continue; // regenerated below
        }
        let top = rel.split('/').next().unwrap_or_default();
        let inside = rel.contains('/') && paths::RUN_DIRS.contains(&top);
        if !inside {
            return Err(BundleError::BadInput {
                file: f.full.display().to_string(),
                reason: format!(
                    "unexpected in a run directory (allowed: manifest.json and the folders {})",
                    paths::RUN_DIRS.join(", ")
                ),
            });
        }
        kept.insert(rel, f);
    }
    Ok(kept)
}

fn read_small(f: &DiskFile, rel: &str) -> Result<Vec<u8>, BundleError> {
    if f.size > super::Limits::default().max_parsed_file {
        return Err(BundleError::BadInput {
            file: rel.to_string(),
            reason: "too large to parse".into(),
        });
    }
    std::fs::read(&f.full).map_err(|e| BundleError::io(f.full.display(), e))
}

/// The run metadata of a run directory's `manifest.json` (only its `run` section is read).
fn read_run_info(dir: &Path) -> Result<RunInfo, BundleError> {
    let p = dir.join(paths::MANIFEST);
    let bytes = std::fs::read(&p).map_err(|e| BundleError::BadInput {
        file: p.display().to_string(),
        reason: format!("cannot read the run's manifest: {e}"),
    })?;
    #[derive(serde::Deserialize)]
    struct RunOnly {
        run: RunInfo,
    }
    let r: RunOnly = serde_json::from_slice(&bytes).map_err(|e| BundleError::BadInput {
        file: format!("{}:{}", p.display(), e.line()),
        reason: e.to_string(),
    })?;
    Ok(r.run)
}

/// Load suite, observations and run info from in-memory files (`inputs/suite/...`, `observations/...`).
pub fn judge_files(
    files: &BTreeMap<String, Vec<u8>>,
    suite_name: &str,
    scoring: Scoring,
) -> Result<(Suite, BTreeMap<String, CaseObservation>, Verdicts), BundleError> {
    let prefix = format!("{}/", paths::INPUT_SUITE);
    let tree: FileTree = files
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|r| (r.to_string(), v.clone())))
        .collect();
    let suite = Suite::from_tree(suite_name, paths::INPUT_SUITE, &tree)?;
    let mut observations = BTreeMap::new();
    let oprefix = format!("{}/", paths::OBSERVATIONS);
    for (k, v) in files {
        if let Some(rest) = k.strip_prefix(&oprefix) {
            if rest.contains('/') || !rest.ends_with(".json") {
                return Err(BundleError::BadInput {
                    file: k.clone(),
                    reason: "expected observations/<case>.json".into(),
                });
            }
            let obs = super::parse_observation(k, v)?;
            observations.insert(obs.case.clone(), obs);
        }
    }
    let verdicts = judge(&suite, &observations, scoring);
    Ok((suite, observations, verdicts))
}

/// Hash files on two threads (the machine budget is two cores).
fn hash_files(files: &[(&String, &DiskFile)]) -> Result<Vec<String>, BundleError> {
    let mut results: Vec<Option<Result<String, BundleError>>> =
        (0..files.len()).map(|_| None).collect();
    let workers = 2usize;
    std::thread::scope(|s| {
        let chunks: Vec<Vec<(usize, &(&String, &DiskFile))>> = (0..workers)
            .map(|w| files.iter().enumerate().skip(w).step_by(workers).collect())
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(i, (_, f))| (i, hash_file(&f.full)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, r) in h.join().expect("hash worker panicked") {
                results[i] = Some(r);
            }
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every file hashed"))
        .collect()
}

fn hash_file(p: &Path) -> Result<String, BundleError> {
    let mut f = std::fs::File::open(p).map_err(|e| BundleError::io(p.display(), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| BundleError::io(p.display(), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Pack `dir` into `out`. The output appears atomically (temp file + rename) or not at all.
pub fn pack(dir: &Path, out: &Path, opts: &PackOptions) -> Result<Packed, BundleError> {
    if out.exists() && !opts.force {
        return Err(BundleError::BadInput {
            file: out.display().to_string(),
            reason: "already exists (use --force to replace it)".into(),
        });
    }
    let run = read_run_info(dir)?;
    let files = list_run_dir(dir)?;
    // Structured inputs the judge reads.
    let mut parsed: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (rel, f) in &files {
        if rel.starts_with(&format!("{}/", paths::INPUT_SUITE))
            || rel.starts_with(&format!("{}/", paths::OBSERVATIONS))
            || rel == paths::INPUT_MESH
        {
            parsed.insert(rel.clone(), read_small(f, rel)?);
        }
    }
    if !parsed.keys().any(|k| k.starts_with(paths::INPUT_SUITE)) {
        return Err(BundleError::BadInput {
            file: dir.join(paths::INPUT_SUITE).display().to_string(),
            reason: "missing: the run directory must hold the suite it ran".into(),
        });
    }
    let scoring = opts.scoring.unwrap_or(run.scoring);
    let suite_name = run
        .selection
        .get("suite")
        .cloned()
        .unwrap_or_else(|| crate::spec::catalog::DEFAULT_SUITE.to_string());
    let (_suite, _obs, verdicts) = judge_files(&parsed, &suite_name, scoring)?;

    let listed: Vec<(&String, &DiskFile)> = files.iter().collect();
    let hashes = hash_files(&listed)?;
    let mut sums: BTreeMap<String, String> = BTreeMap::new();
    for ((rel, _), h) in listed.iter().zip(hashes) {
        sums.insert((*rel).clone(), h);
    }
    let inputs: BTreeMap<String, String> = sums
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{}/", paths::INPUTS)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut run = run;
    run.scoring = scoring;
    let manifest = Manifest {
        format: FormatVersion {
            major: FORMAT_MAJOR,
            minor: FORMAT_MINOR,
        },
        tool: Tool::current(),
        run,
        inputs,
    };
    let ctx =
        ReportContext::from_manifest(&manifest, parsed.get(paths::INPUT_MESH).map(Vec::as_slice));
    let mut generated: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    generated.insert(paths::VERDICTS.into(), verdicts.to_json());
    generated.insert(paths::MANIFEST.into(), manifest.to_json());
    generated.insert(
        paths::REPORT_JUNIT.into(),
        crate::report::junit(&verdicts, &ctx).into_bytes(),
    );
    generated.insert(
        paths::REPORT_SUMMARY.into(),
        crate::report::markdown(&verdicts, &ctx).into_bytes(),
    );
    generated.insert(
        paths::REPORT_MESHERY.into(),
        crate::report::meshery_json(&verdicts, &ctx).into_bytes(),
    );
    for (k, v) in &generated {
        sums.insert(k.clone(), crate::sha256_hex(v));
    }
    let mut sumfile = String::new();
    for (k, v) in &sums {
        sumfile.push_str(&format!("{v}  {k}\n"));
    }
    generated.insert(paths::SHA256SUMS.into(), sumfile.into_bytes());

    let mut entries: BTreeMap<String, Source> = BTreeMap::new();
    for (k, f) in files {
        entries.insert(k, Source::Disk(f));
    }
    for (k, v) in generated {
        entries.insert(k, Source::Memory(v));
    }
    let count = entries.len();
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".meshproof-pack-")
        .suffix(".tmp")
        .tempfile_in(parent)
        .map_err(|e| BundleError::io(parent.display(), e))?;
    write_archive(tmp.as_file(), &entries, &sums)?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| BundleError::io(out.display(), e))?;
    let bytes = tmp
        .as_file()
        .metadata()
        .map_err(|e| BundleError::io(out.display(), e))?
        .len();
    tmp.persist(out)
        .map_err(|e| BundleError::io(out.display(), e.error))?;
    Ok(Packed {
        path: out.to_path_buf(),
        files: count,
        bytes,
        manifest,
        verdicts,
    })
}

/// Write the sorted entries as a deterministic tar inside one zstd stream.
fn write_archive(
    file: &std::fs::File,
    entries: &BTreeMap<String, Source>,
    sums: &BTreeMap<String, String>,
) -> Result<(), BundleError> {
    let out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut enc = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)
        .map_err(|e| BundleError::io("zstd", e))?;
    enc.include_checksum(true)
        .map_err(|e| BundleError::io("zstd", e))?;
    enc.include_contentsize(false)
        .map_err(|e| BundleError::io("zstd", e))?;
    let mut tar = tar::Builder::new(enc);
    for (path, src) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match src {
            Source::Memory(bytes) => {
                header.set_size(bytes.len() as u64);
                tar.append_data(&mut header, path, bytes.as_slice())
                    .map_err(|e| BundleError::io(path, e))?;
            }
            Source::Disk(f) => {
                let file = std::fs::File::open(&f.full)
                    .map_err(|e| BundleError::io(f.full.display(), e))?;
                header.set_size(f.size);
                // Hash what is actually written: a file changed since it was listed must not
                // produce a bundle whose SHA256SUMS lies.
                let mut hashing = HashingReader {
                    inner: file.take(f.size),
                    hasher: Sha256::new(),
                    read: 0,
                };
                tar.append_data(&mut header, path, &mut hashing)
                    .map_err(|e| BundleError::io(f.full.display(), e))?;
                let got = hex::encode(hashing.hasher.finalize());
                if hashing.read != f.size || sums.get(path) != Some(&got) {
                    return Err(BundleError::BadInput {
                        file: f.full.display().to_string(),
                        reason: "changed while it was being packed; pack again when the run has finished".into(),
                    });
                }
            }
        }
    }
    let enc = tar.into_inner().map_err(|e| BundleError::io("bundle", e))?;
    let mut out = enc.finish().map_err(|e| BundleError::io("zstd", e))?;
    out.flush().map_err(|e| BundleError::io("bundle", e))?;
    Ok(())
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}
