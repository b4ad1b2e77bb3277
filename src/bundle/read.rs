//! Hostile-input-safe streaming reader of bundles, and `bundle unpack`.
//!
//! Rejected, naming the entry: absolute paths, `..`, empty or `.` segments, backslashes, names
//! that are not UTF-8, symlinks, hard links, devices, FIFOs, directories and other non-regular
//! entries, duplicate paths, a path that is both a file and a folder, files over the per-file
//! limit, totals over the total limit, too many entries. Memory does not grow with bundle size.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use tar::EntryType;

use super::{BundleError, Limits};

/// Longest path accepted (GNU long names included).
const MAX_PATH: usize = 4096;
/// zstd window accepted from a bundle: 2^23 = 8 MiB (the writer's level 3 uses far less).
const MAX_WINDOW_LOG: u32 = 23;

/// A checked regular-file entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    pub path: String,
    pub size: u64,
}

/// Check an entry path; returns it as a `String`.
pub fn check_path(raw: &[u8]) -> Result<String, BundleError> {
    let shown = String::from_utf8_lossy(raw).to_string();
    let unsafe_ = |reason: &str| BundleError::Unsafe {
        entry: shown.clone(),
        reason: reason.to_string(),
    };
    let path = std::str::from_utf8(raw).map_err(|_| unsafe_("name is not UTF-8"))?;
    if path.is_empty() {
        return Err(unsafe_("empty name"));
    }
    if path.len() > MAX_PATH {
        return Err(unsafe_("name is too long"));
    }
    if path.starts_with('/') {
        return Err(unsafe_("absolute path"));
    }
    if path.contains('\\') || path.contains('\0') {
        return Err(unsafe_("backslash or NUL in name"));
    }
    for seg in path.split('/') {
        match seg {
            ".." => return Err(unsafe_("`..` in path")),
            "" | "." => return Err(unsafe_("empty or `.` path segment")),
            _ => {}
        }
    }
    Ok(path.to_string())
}

fn type_problem(t: EntryType) -> &'static str {
    match t {
        EntryType::Symlink => "symbolic links are not allowed",
        EntryType::Link => "hard links are not allowed",
        EntryType::Char | EntryType::Block => "device files are not allowed",
        EntryType::Fifo => "FIFOs are not allowed",
        EntryType::Directory => "directory entries are not part of the format",
        EntryType::XHeader | EntryType::XGlobalHeader => "pax headers are not part of the format",
        EntryType::GNULongLink => "long link names are not allowed",
        EntryType::GNUSparse => "sparse files are not allowed",
        _ => "only regular files are allowed",
    }
}

/// Walk every entry of a bundle stream. `visit` receives each checked regular file and a reader
/// of exactly its bytes; bytes it does not read are skipped.
pub fn walk<R: Read>(
    input: R,
    limits: &Limits,
    mut visit: impl FnMut(&EntryMeta, &mut dyn Read) -> Result<(), BundleError>,
) -> Result<u64, BundleError> {
    let mut decoder =
        zstd::stream::read::Decoder::new(input).map_err(|e| BundleError::io("bundle", e))?;
    decoder
        .window_log_max(MAX_WINDOW_LOG)
        .map_err(|e| BundleError::io("bundle", e))?;
    let mut archive = tar::Archive::new(decoder);
    let entries = archive
        .entries()
        .map_err(|e| corrupt("(archive)", e))?
        .raw(true);
    let mut seen_files: BTreeSet<String> = BTreeSet::new();
    let mut seen_dirs: BTreeSet<String> = BTreeSet::new();
    let mut long_name: Option<Vec<u8>> = None;
    let mut total: u64 = 0;
    let mut count: u64 = 0;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt("(archive)", e))?;
        let header_name = entry.header().path_bytes().to_vec();
        let etype = entry.header().entry_type();
        if etype == EntryType::GNULongName {
            if long_name.is_some() {
                return Err(BundleError::Unsafe {
                    entry: String::from_utf8_lossy(&header_name).into(),
                    reason: "two long-name headers for one entry".into(),
                });
            }
            let size = entry.size();
            if size as usize > MAX_PATH + 1 {
                return Err(BundleError::Unsafe {
                    entry: String::from_utf8_lossy(&header_name).into(),
                    reason: "long name is too long".into(),
                });
            }
            let mut buf = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut buf)
                .map_err(|e| corrupt("(long name)", e))?;
            while buf.last() == Some(&0) {
                buf.pop();
            }
            long_name = Some(buf);
            continue;
        }
        let raw_name = long_name.take().unwrap_or(header_name);
        let shown = String::from_utf8_lossy(&raw_name).to_string();
        if !matches!(etype, EntryType::Regular | EntryType::Continuous) {
            return Err(BundleError::Unsafe {
                entry: shown,
                reason: type_problem(etype).into(),
            });
        }
        let path = check_path(&raw_name)?;
        count += 1;
        if count > limits.max_entries {
            return Err(BundleError::Limit {
                entry: path,
                reason: format!("more than {} entries", limits.max_entries),
            });
        }
        if seen_files.contains(&path) {
            return Err(BundleError::Unsafe {
                entry: path,
                reason: "duplicate path".into(),
            });
        }
        if seen_dirs.contains(&path) {
            return Err(BundleError::Unsafe {
                entry: path,
                reason: "path is also a folder of another entry".into(),
            });
        }
        let mut prefix = String::new();
        for seg in path
            .split('/')
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(seg);
            if seen_files.contains(&prefix) {
                return Err(BundleError::Unsafe {
                    entry: path,
                    reason: format!("its folder `{prefix}` is also a file"),
                });
            }
            seen_dirs.insert(prefix.clone());
        }
        seen_files.insert(path.clone());
        let size = entry.size();
        if size > limits.max_file {
            return Err(BundleError::Limit {
                entry: path,
                reason: format!(
                    "{size} bytes, more than the per-file limit of {}",
                    limits.max_file
                ),
            });
        }
        total = total.saturating_add(size);
        if total > limits.max_total {
            return Err(BundleError::Limit {
                entry: path,
                reason: format!(
                    "the bundle expands to more than {} bytes (decompression bomb?)",
                    limits.max_total
                ),
            });
        }
        let meta = EntryMeta { path, size };
        let mut counted = CountingReader {
            inner: &mut entry,
            read: 0,
        };
        visit(&meta, &mut counted)?;
        // Drain what the visitor left so a short read cannot desynchronise the stream.
        std::io::copy(&mut counted, &mut std::io::sink()).map_err(|e| corrupt(&meta.path, e))?;
        if counted.read != size {
            return Err(BundleError::Integrity {
                file: meta.path,
                reason: format!("truncated: {} of {size} bytes", counted.read),
            });
        }
    }
    if long_name.is_some() {
        return Err(BundleError::Unsafe {
            entry: "(end of archive)".into(),
            reason: "long-name header without an entry".into(),
        });
    }
    Ok(count)
}

struct CountingReader<'a> {
    inner: &'a mut dyn Read,
    read: u64,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

fn corrupt(what: &str, e: std::io::Error) -> BundleError {
    BundleError::Integrity {
        file: what.to_string(),
        reason: format!("corrupt or not a meshproof bundle: {e}"),
    }
}

pub(crate) fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>, BundleError> {
    let f = std::fs::File::open(path).map_err(|e| BundleError::io(path.display(), e))?;
    Ok(std::io::BufReader::with_capacity(1 << 20, f))
}

/// Read the files for which `want` is true into memory (bounded by the parsed-size limits),
/// checking the whole archive on the way.
pub fn read_selected(
    path: &Path,
    limits: &Limits,
    want: impl Fn(&str) -> bool,
) -> Result<BTreeMap<String, Vec<u8>>, BundleError> {
    let mut out = BTreeMap::new();
    let mut held: u64 = 0;
    walk(open(path)?, limits, |meta, r| {
        if want(&meta.path) {
            take(meta, r, limits, &mut held, &mut out)?;
        }
        Ok(())
    })?;
    Ok(out)
}

/// Read one entry into `out`, enforcing the parsed-size limits.
pub(crate) fn take(
    meta: &EntryMeta,
    r: &mut dyn Read,
    limits: &Limits,
    held: &mut u64,
    out: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), BundleError> {
    reserve(meta, limits, held)?;
    let mut buf = Vec::with_capacity(meta.size as usize);
    r.read_to_end(&mut buf)
        .map_err(|e| corrupt(&meta.path, e))?;
    out.insert(meta.path.clone(), buf);
    Ok(())
}

/// Count an entry that is about to be read into memory against the parsed-size limits, before
/// any of it is read.
pub(crate) fn reserve(
    meta: &EntryMeta,
    limits: &Limits,
    held: &mut u64,
) -> Result<(), BundleError> {
    if meta.size > limits.max_parsed_file {
        return Err(BundleError::Limit {
            entry: meta.path.clone(),
            reason: format!(
                "{} bytes, more than {} for a file meshproof reads into memory",
                meta.size, limits.max_parsed_file
            ),
        });
    }
    *held += meta.size;
    if *held > limits.max_parsed_total {
        return Err(BundleError::Limit {
            entry: meta.path.clone(),
            reason: "too much structured data (observations, inputs) to hold in memory".into(),
        });
    }
    Ok(())
}

/// Extract a bundle into `dest`, which must not exist. On any error the partly written
/// directory is removed, so nothing half-done is left behind.
pub fn unpack(bundle: &Path, dest: &Path, limits: &Limits) -> Result<u64, BundleError> {
    if dest.exists() {
        return Err(BundleError::BadInput {
            file: dest.display().to_string(),
            reason: "already exists; unpack writes only into a new directory".into(),
        });
    }
    std::fs::create_dir_all(dest).map_err(|e| BundleError::io(dest.display(), e))?;
    let result = walk(open(bundle)?, limits, |meta, r| {
        let target = dest.join(&meta.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| BundleError::io(parent.display(), e))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| BundleError::io(target.display(), e))?;
        std::io::copy(r, &mut f).map_err(|e| BundleError::io(target.display(), e))?;
        Ok(())
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    result
}
