//! `bundle pack`: judge a run directory's observations ([`prepare`]) and write the deterministic
//! bundle with the reports its caller rendered from them ([`Prepared::write`]).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{paths, BundleError, FormatVersion, Manifest, Rejudged, RunInfo, Tool};
use super::{FORMAT_MAJOR, FORMAT_MINOR, ZSTD_LEVEL, ZSTD_MIN_WORKERS};
use crate::calls::Semantics;
use crate::observation::CaseObservation;
use crate::spec::catalog::{FileTree, Suite};
use crate::verdict::{judge, Scoring, Verdicts};

#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    /// Override the scoring mode recorded in the run's manifest.
    pub scoring: Option<Scoring>,
    /// Replace an existing output file.
    pub force: bool,
    /// The bundle the run directory was unpacked from (`bundle pack --from`), when the directory
    /// has no `bundle unpack` marker: the result names it in `rejudged_from`.
    pub from: Option<PathBuf>,
    /// Threads for hashing and zstd workers (`--jobs`) [default: one per core]. The bytes do not
    /// depend on it.
    pub jobs: Option<u32>,
    /// The meshproof recorded in the manifest (`meshproof::tool()`: version, revision, flake).
    pub tool: Tool,
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
        if paths::GENERATED.contains(&rel.as_str()) || rel == paths::UNPACK_MARKER {
            continue; // regenerated below; the marker is read by `origin`
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

/// The run metadata of a run directory's `manifest.json` (its `run` section), and whether the
/// file is a whole bundle manifest (it has `format`: the directory holds an unpacked bundle).
fn read_run_info(dir: &Path) -> Result<(RunInfo, bool), BundleError> {
    let p = dir.join(paths::MANIFEST);
    let bytes = std::fs::read(&p).map_err(|e| BundleError::BadInput {
        file: p.display().to_string(),
        reason: format!("cannot read the run's manifest: {e}"),
    })?;
    #[derive(serde::Deserialize)]
    struct RunOnly {
        run: RunInfo,
        #[serde(default)]
        format: Option<serde::de::IgnoredAny>,
    }
    let r: RunOnly = serde_json::from_slice(&bytes).map_err(|e| BundleError::BadInput {
        file: format!("{}:{}", p.display(), e.line()),
        reason: e.to_string(),
    })?;
    Ok((r.run, r.format.is_some()))
}

/// What `bundle unpack` leaves in the directory it fills ([`paths::UNPACK_MARKER`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnpackMarker {
    /// The bundle as named on the command line.
    pub bundle: String,
    pub bundle_sha256: String,
    pub run_id: String,
}

impl UnpackMarker {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("marker serializes");
        out.push(b'\n');
        out
    }
}

/// The bundle a run directory came from: what the new manifest says about it, and the
/// original's `SHA256SUMS` to compare the directory with (when available).
struct Origin {
    rejudged: Rejudged,
    original_sums: Option<BTreeMap<String, String>>,
}

/// Where a run directory came from, when it came from a bundle: `--from`, else the unpack
/// marker, else (an unpacked bundle's manifest without a marker) the run id alone.
fn origin(
    dir: &Path,
    run: &RunInfo,
    bundle_manifest: bool,
    from: Option<&Path>,
) -> Result<Option<Origin>, BundleError> {
    if let Some(from) = from {
        return origin_bundle(from).map(Some);
    }
    let marker = dir.join(paths::UNPACK_MARKER);
    let (run_id, bundle_sha256) = if marker.is_file() {
        let m = read_marker(&marker)?;
        (m.run_id, Some(m.bundle_sha256))
    } else if bundle_manifest {
        (run.id.clone(), None)
    } else {
        return Ok(None);
    };
    Ok(Some(Origin {
        rejudged: Rejudged {
            run_id,
            bundle_sha256,
            changed: Vec::new(),
            compared: false,
        },
        original_sums: own_sums(dir),
    }))
}

/// `--from ORIGINAL`: its run id, sha256 and `SHA256SUMS`.
fn origin_bundle(from: &Path) -> Result<Origin, BundleError> {
    let files = super::read::read_selected(from, &super::Limits::default(), |p| {
        p == paths::MANIFEST || p == paths::SHA256SUMS
    })?;
    let bad = |reason: String| BundleError::BadInput {
        file: from.display().to_string(),
        reason,
    };
    let manifest: Manifest = files
        .get(paths::MANIFEST)
        .ok_or_else(|| bad("--from: no manifest.json; not a bundle".into()))
        .and_then(|b| {
            serde_json::from_slice(b).map_err(|e| bad(format!("--from: manifest.json: {e}")))
        })?;
    let original_sums = files
        .get(paths::SHA256SUMS)
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|t| super::check::parse_sums(t).ok());
    Ok(Origin {
        rejudged: Rejudged {
            run_id: manifest.run.id,
            bundle_sha256: Some(hash_file(from)?),
            changed: Vec::new(),
            compared: false,
        },
        original_sums,
    })
}

/// The unpack marker, bounded and checked.
fn read_marker(path: &Path) -> Result<UnpackMarker, BundleError> {
    let bad = |reason: String| BundleError::BadInput {
        file: path.display().to_string(),
        reason,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| BundleError::io(path.display(), e))?
        .len();
    if size > 64 << 10 {
        return Err(bad("too large for an unpack marker".into()));
    }
    let bytes = std::fs::read(path).map_err(|e| BundleError::io(path.display(), e))?;
    let m: UnpackMarker = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if !crate::spec::is_sha256_hex(&m.bundle_sha256) {
        return Err(bad(format!("`{}` is not a sha256", m.bundle_sha256)));
    }
    Ok(m)
}

/// The `SHA256SUMS` an unpacked bundle left in the directory, if readable.
fn own_sums(dir: &Path) -> Option<BTreeMap<String, String>> {
    let p = dir.join(paths::SHA256SUMS);
    if std::fs::metadata(&p).ok()?.len() > super::Limits::default().max_parsed_file {
        return None;
    }
    super::check::parse_sums(&std::fs::read_to_string(&p).ok()?).ok()
}

/// Files whose sha256 differs between the original's list and the directory (generated files
/// and the unpack marker aside): edited, added and removed, sorted.
fn changed_files(
    original: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Vec<String> {
    let recorded = |p: &&String| !paths::GENERATED.contains(&p.as_str());
    let mut out: Vec<String> = original
        .keys()
        .chain(now.keys())
        .filter(recorded)
        .filter(|p| original.get(*p) != now.get(*p))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
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
    let sem = bundle_semantics(files)?;
    let verdicts = judge(&suite, &observations, scoring, &sem);
    Ok((suite, observations, verdicts))
}

/// The recorded mesh pin's denial and data-plane signatures (`inputs/mesh.yaml`), which classify
/// every call the judge reads.
fn bundle_semantics(files: &BTreeMap<String, Vec<u8>>) -> Result<Semantics, BundleError> {
    let bad = |reason: String| BundleError::BadInput {
        file: paths::INPUT_MESH.to_string(),
        reason,
    };
    let bytes = files.get(paths::INPUT_MESH).ok_or_else(|| {
        bad("missing: the judge needs the mesh pin's denial and data-plane signatures".into())
    })?;
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
    let mesh = crate::spec::mesh::load(paths::INPUT_MESH, text).map_err(|e| bad(e.to_string()))?;
    Ok(Semantics::of(&mesh))
}

/// Hash files on `workers` threads, largest files first and each worker taking the next file
/// when it is free, so one large log does not leave a core idle.
fn hash_files(files: &[(&String, &DiskFile)], workers: usize) -> Result<Vec<String>, BundleError> {
    let mut results: Vec<Option<Result<String, BundleError>>> =
        (0..files.len()).map(|_| None).collect();
    let workers = workers.clamp(1, files.len().max(1));
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].1.size));
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (order, next) = (&order, &next);
                s.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&i) = order.get(k) else { break };
                        done.push((i, hash_file(&files[i].1.full)));
                    }
                    done
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
    let mut buf = vec![0u8; 256 << 10];
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

/// A run directory judged and hashed, its manifest made: everything of the bundle but the
/// `report/` files, which the caller renders from [`Prepared::verdicts`] and
/// [`Prepared::manifest`] (`crate::seal::pack` with this build's renderings).
#[derive(Debug)]
pub struct Prepared {
    pub manifest: Manifest,
    pub verdicts: Verdicts,
    /// `inputs/mesh.yaml`, which the reports name the mesh from.
    mesh_pin: Option<Vec<u8>>,
    out: PathBuf,
    files: BTreeMap<String, DiskFile>,
    sums: BTreeMap<String, String>,
    jobs: u32,
}

/// Judge `dir` for a bundle at `out` (refused when it exists, unless `opts.force`).
pub fn prepare(dir: &Path, out: &Path, opts: &PackOptions) -> Result<Prepared, BundleError> {
    if out.exists() && !opts.force {
        return Err(BundleError::BadInput {
            file: out.display().to_string(),
            reason: "already exists (use --force to replace it)".into(),
        });
    }
    let (run, bundle_manifest) = read_run_info(dir)?;
    let files = list_run_dir(dir)?;
    let origin = origin(dir, &run, bundle_manifest, opts.from.as_deref())?;
    let mut parsed = judged_files(dir, &files)?;
    let scoring = opts.scoring.unwrap_or(run.scoring);
    let suite_name = run.selection.suite_or_default().to_string();
    let (_suite, _obs, verdicts) = judge_files(&parsed, &suite_name, scoring)?;

    let listed: Vec<(&String, &DiskFile)> = files.iter().collect();
    let jobs = opts
        .jobs
        .unwrap_or_else(super::default_jobs)
        .max(ZSTD_MIN_WORKERS);
    let hashes = hash_files(&listed, jobs as usize)?;
    let sums: BTreeMap<String, String> = listed
        .iter()
        .zip(hashes)
        .map(|((rel, _), h)| ((*rel).clone(), h))
        .collect();
    let inputs: BTreeMap<String, String> = sums
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{}/", paths::INPUTS)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut run = run;
    run.scoring = scoring;
    // A run is complete only when every case it judged finished (and it judged one).
    run.status = run.status.given(&verdicts);
    let rejudged_from = origin.map(|o| {
        let mut r = o.rejudged;
        if let Some(original) = o.original_sums {
            r.changed = changed_files(&original, &sums);
            r.compared = true;
        }
        r
    });
    let manifest = Manifest {
        format: FormatVersion {
            major: FORMAT_MAJOR,
            minor: FORMAT_MINOR,
        },
        tool: opts.tool.clone(),
        run,
        inputs,
        rejudged_from,
    };
    Ok(Prepared {
        manifest,
        verdicts,
        mesh_pin: parsed.remove(paths::INPUT_MESH),
        out: out.to_path_buf(),
        files,
        sums,
        jobs,
    })
}

/// The structured inputs the judge reads (the suite, the observations, the mesh pin), in memory.
fn judged_files(
    dir: &Path,
    files: &BTreeMap<String, DiskFile>,
) -> Result<BTreeMap<String, Vec<u8>>, BundleError> {
    let mut parsed: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (rel, f) in files {
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
    Ok(parsed)
}

impl Prepared {
    /// The recorded mesh pin (`inputs/mesh.yaml`), for the reports.
    pub fn mesh_pin(&self) -> Option<&[u8]> {
        self.mesh_pin.as_deref()
    }

    /// Write the bundle with `reports` (path under `report/` → bytes, as the caller rendered them
    /// from these verdicts and this manifest). The output appears atomically (temp file +
    /// rename) or not at all.
    pub fn write(self, reports: BTreeMap<String, Vec<u8>>) -> Result<Packed, BundleError> {
        let Prepared {
            manifest,
            verdicts,
            out,
            files,
            mut sums,
            jobs,
            ..
        } = self;
        if let Some(bad) = reports.keys().find(|k| {
            !(k.starts_with(&format!("{}/", paths::REPORT))
                && paths::GENERATED.contains(&k.as_str()))
        }) {
            return Err(BundleError::BadInput {
                file: bad.clone(),
                reason: format!(
                    "not a report file of the bundle format (reports: {}, {}, {})",
                    paths::REPORT_JUNIT,
                    paths::REPORT_SUMMARY,
                    paths::REPORT_MESHERY
                ),
            });
        }
        let mut generated = reports;
        generated.insert(paths::VERDICTS.into(), verdicts.to_json());
        generated.insert(paths::MANIFEST.into(), manifest.to_json());
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
        let bytes = write_atomically(&out, &entries, &sums, jobs)?;
        Ok(Packed {
            path: out,
            files: count,
            bytes,
            manifest,
            verdicts,
        })
    }
}

/// Write the archive to a temporary file beside `out`, then rename it to `out`; its size.
fn write_atomically(
    out: &Path,
    entries: &BTreeMap<String, Source>,
    sums: &BTreeMap<String, String>,
    jobs: u32,
) -> Result<u64, BundleError> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = crate::staged::StagedFile::new_in(parent, ".meshproof-pack-")
        .map_err(|e| BundleError::io(parent.display(), e))?;
    write_archive(tmp.as_file(), entries, sums, jobs)?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| BundleError::io(out.display(), e))?;
    let bytes = tmp
        .as_file()
        .metadata()
        .map_err(|e| BundleError::io(out.display(), e))?
        .len();
    // A bundle is meant to be shared: readable by others, like any file the user writes.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| BundleError::io(out.display(), e))?;
    }
    tmp.persist(out)
        .map_err(|e| BundleError::io(out.display(), e))?;
    Ok(bytes)
}

/// Size of the chunks the reader thread hands to the compressor.
const CHUNK: usize = 256 << 10;
/// Chunks in flight between the reader thread and the compressor (bounds memory: ~1 MiB).
const IN_FLIGHT: usize = 4;

/// What the reader thread sends for one disk file, in entry order.
enum Piece {
    /// The file could not be opened.
    OpenFailed(std::io::Error),
    /// The next bytes of the file: the first `usize` bytes of the buffer.
    Data(Vec<u8>, usize),
    /// Reading failed after `Data` pieces.
    ReadFailed(std::io::Error),
    /// End of the file: sha256 of what was read and how many bytes.
    Done { sha256: String, read: u64 },
}

/// Reads the disk files in entry order on its own thread, hashing them there, so the thread that
/// compresses only copies bytes into the tar stream.
fn read_and_hash(
    files: Vec<(PathBuf, u64)>,
    tx: std::sync::mpsc::SyncSender<Piece>,
    free: std::sync::mpsc::Receiver<Vec<u8>>,
) {
    for (full, size) in files {
        let file = match std::fs::File::open(&full) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.send(Piece::OpenFailed(e));
                return;
            }
        };
        let mut inner = file.take(size);
        let mut hasher = Sha256::new();
        let mut read = 0u64;
        loop {
            // Recycled buffers keep their full length, so only new ones are zeroed.
            let mut buf = match free.try_recv() {
                Ok(b) if b.len() == CHUNK => b,
                _ => vec![0u8; CHUNK],
            };
            let n = match read_full(&mut inner, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.send(Piece::ReadFailed(e));
                    return;
                }
            };
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            read += n as u64;
            if tx.send(Piece::Data(buf, n)).is_err() {
                return; // the writer stopped
            }
        }
        let done = Piece::Done {
            sha256: hex::encode(hasher.finalize()),
            read,
        };
        if tx.send(done).is_err() {
            return;
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A `Read` over the pieces of one disk file, as the reader thread sends them.
struct PieceReader<'a> {
    rx: &'a std::sync::mpsc::Receiver<Piece>,
    free: &'a std::sync::mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    len: usize,
    pos: usize,
    done: Option<(String, u64)>,
}

impl Read for PieceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.len {
            if self.done.is_some() {
                return Ok(0);
            }
            let finished = std::mem::take(&mut self.current);
            if finished.len() == CHUNK {
                let _ = self.free.send(finished);
            }
            self.pos = 0;
            self.len = 0;
            match self.rx.recv() {
                Ok(Piece::Data(b, n)) => (self.current, self.len) = (b, n),
                Ok(Piece::Done { sha256, read }) => self.done = Some((sha256, read)),
                Ok(Piece::OpenFailed(e)) | Ok(Piece::ReadFailed(e)) => return Err(e),
                Err(_) => return Err(std::io::Error::other("file reader stopped")),
            }
        }
        let n = buf.len().min(self.len - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Write the sorted entries as a deterministic tar inside one zstd stream.
///
/// A second thread reads and hashes the disk files (in entry order, a few chunks ahead) while
/// this one builds the tar stream and compresses it; the bytes written are the same as reading
/// each file here.
/// Size of the writes handed to the compressor.
const WRITE_CHUNK: usize = 256 << 10;

fn write_archive(
    file: &std::fs::File,
    entries: &BTreeMap<String, Source>,
    sums: &BTreeMap<String, String>,
    workers: u32,
) -> Result<(), BundleError> {
    let disk: Vec<(PathBuf, u64)> = entries
        .values()
        .filter_map(|s| match s {
            Source::Disk(f) => Some((f.full.clone(), f.size)),
            Source::Memory(_) => None,
        })
        .collect();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Piece>(IN_FLIGHT);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        scope.spawn(move || read_and_hash(disk, tx, free_rx));
        // `rx` and `free_tx` are dropped when this returns, which stops the reader thread.
        write_entries(file, entries, sums, workers, rx, free_tx)
    })
}

fn write_entries(
    file: &std::fs::File,
    entries: &BTreeMap<String, Source>,
    sums: &BTreeMap<String, String>,
    workers: u32,
    rx: std::sync::mpsc::Receiver<Piece>,
    free: std::sync::mpsc::Sender<Vec<u8>>,
) -> Result<(), BundleError> {
    let out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut enc = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)
        .map_err(|e| BundleError::io("zstd", e))?;
    enc.include_checksum(true)
        .map_err(|e| BundleError::io("zstd", e))?;
    enc.include_contentsize(false)
        .map_err(|e| BundleError::io("zstd", e))?;
    // zstd's multi-threaded mode compresses on worker threads while this one builds the tar.
    // Its output is the same for any worker count ≥ 1 (but differs from single-threaded mode),
    // so the mode is part of the format and the count only sets the speed.
    enc.multithread(workers.max(ZSTD_MIN_WORKERS))
        .map_err(|e| BundleError::io("zstd", e))?;
    // Hand zstd large writes: tar writes 512-byte headers and small copies, and many small
    // writes keep the streaming compressor on a slower path. Buffering does not change the
    // compressed bytes (zstd's streaming output does not depend on how input is chunked; the
    // fixture bundle test checks the bytes).
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(WRITE_CHUNK, enc));
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
                let mut pieces = PieceReader {
                    rx: &rx,
                    free: &free,
                    current: Vec::new(),
                    len: 0,
                    pos: 0,
                    done: None,
                };
                // Open errors are reported before anything of the entry is written.
                match rx.recv() {
                    Ok(Piece::OpenFailed(e)) => return Err(BundleError::io(f.full.display(), e)),
                    Ok(Piece::Data(b, n)) => (pieces.current, pieces.len) = (b, n),
                    Ok(Piece::Done { sha256, read }) => pieces.done = Some((sha256, read)),
                    Ok(Piece::ReadFailed(e)) => {
                        // Nothing was read: fail like a read error inside the entry.
                        return Err(BundleError::io(f.full.display(), e));
                    }
                    Err(_) => {
                        return Err(BundleError::io(
                            f.full.display(),
                            std::io::Error::other("file reader stopped"),
                        ))
                    }
                }
                header.set_size(f.size);
                // Hash what is actually written (hashed by the reader thread): a file changed
                // since it was listed must not produce a bundle whose SHA256SUMS lies.
                tar.append_data(&mut header, path, &mut pieces)
                    .map_err(|e| BundleError::io(f.full.display(), e))?;
                // tar stops after the header's size; take the file's end marker (and hash).
                std::io::copy(&mut pieces, &mut std::io::sink())
                    .map_err(|e| BundleError::io(f.full.display(), e))?;
                let (got, read) = pieces.done.take().unwrap_or_default();
                if read != f.size || sums.get(path) != Some(&got) {
                    return Err(BundleError::BadInput {
                        file: f.full.display().to_string(),
                        reason: "changed while it was being packed; pack again when the run has finished".into(),
                    });
                }
            }
        }
    }
    let buffered = tar.into_inner().map_err(|e| BundleError::io("bundle", e))?;
    let enc = buffered
        .into_inner()
        .map_err(|e| BundleError::io("bundle", e.into_error()))?;
    let mut out = enc.finish().map_err(|e| BundleError::io("zstd", e))?;
    out.flush().map_err(|e| BundleError::io("bundle", e))?;
    Ok(())
}
