//! Hostile-input-safe streaming reader of bundles, and `bundle unpack`.
//!
//! Rejected, naming the entry: absolute paths, `..`, empty or `.` segments, backslashes, names
//! that are not UTF-8, symlinks, hard links, devices, FIFOs, directories and other non-regular
//! entries, duplicate paths, a path that is both a file and a folder, files over the per-file
//! limit, totals over the total limit, too many entries. Memory does not grow with bundle size.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use tar::EntryType;

use super::{BundleError, Limits};
pub use super::{Scanned, Sums};

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

/// Most segments in one entry path (`logs/<ns>/pods/<pod>/<container>.log` has five).
pub const MAX_DEPTH: usize = 32;

/// zstd frame magic number, as it appears in the file (RFC 8878 §3.1.1: 0xFD2FB528, little-endian).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Content_Checksum_flag of the Frame_Header_Descriptor (RFC 8878 §3.1.1.1.1, bit 2).
const ZSTD_CHECKSUM_FLAG: u8 = 0x04;
/// What follows the last entry of a tar meshproof writes: two 512-byte zero blocks, nothing more.
const TAR_END: usize = 1024;

fn archive_error(reason: impl Into<String>) -> BundleError {
    BundleError::Integrity {
        file: "(archive)".into(),
        reason: reason.into(),
    }
}

/// The bundle must start with a zstd frame that carries its content checksum (meshproof always
/// writes one); a frame without it could be cut short without anyone noticing.
fn check_frame_header(input: &mut impl BufRead) -> Result<(), BundleError> {
    let head = input.fill_buf().map_err(|e| BundleError::io("bundle", e))?;
    if head.is_empty() {
        return Err(archive_error(
            "empty file: corrupt or not a meshproof bundle",
        ));
    }
    if head.len() < 5 || head[..4] != ZSTD_MAGIC {
        return Err(archive_error(
            "corrupt or not a meshproof bundle: not a zstd frame (bad magic number)",
        ));
    }
    if head[4] & ZSTD_CHECKSUM_FLAG == 0 {
        return Err(archive_error(
            "the zstd frame has no content checksum (meshproof writes one); not a bundle \
             meshproof wrote",
        ));
    }
    Ok(())
}

/// Per-walk bookkeeping of entry names: sorted order, duplicates, files used as folders, and
/// the name limits. Memory is bounded by `max_path_bytes`; time is linear in the name bytes
/// (each name has at most [`MAX_DEPTH`] segments).
struct Names {
    prev: Option<String>,
    files: HashSet<String>,
    bytes: u64,
}

impl Names {
    fn admit(&mut self, path: &str, limits: &Limits) -> Result<(), BundleError> {
        let unsafe_ = |reason: String| BundleError::Unsafe {
            entry: path.to_string(),
            reason,
        };
        self.bytes += path.len() as u64;
        if self.bytes > limits.max_path_bytes {
            return Err(BundleError::Limit {
                entry: path.to_string(),
                reason: format!(
                    "entry names add up to more than {} bytes",
                    limits.max_path_bytes
                ),
            });
        }
        if path.split('/').count() > MAX_DEPTH {
            return Err(unsafe_(format!("more than {MAX_DEPTH} path segments")));
        }
        if let Some(prev) = &self.prev {
            if path == prev.as_str() {
                return Err(unsafe_("duplicate path".into()));
            }
            if path < prev.as_str() {
                let reason = if prev.starts_with(&format!("{path}/")) {
                    format!("path is also a folder of another entry (`{prev}`)")
                } else {
                    format!("entries are not sorted by path (it follows `{prev}`)")
                };
                return Err(unsafe_(reason));
            }
        }
        // Sorted order puts a folder's name before its contents, so a file that is also a
        // folder shows as an earlier file whose name is a prefix of this path.
        for (i, b) in path.bytes().enumerate() {
            if b == b'/' && self.files.contains(&path[..i]) {
                return Err(unsafe_(format!(
                    "its folder `{}` is also a file",
                    &path[..i]
                )));
            }
        }
        self.files.insert(path.to_string());
        self.prev = Some(path.to_string());
        Ok(())
    }
}

/// Walk every entry of a bundle stream. `visit` receives each checked regular file and a reader
/// of exactly its bytes; bytes it does not read are skipped. After the last entry the tar must
/// end with its end-of-archive blocks, the zstd frame must end there with a valid checksum, and
/// nothing may follow it.
pub fn walk<R: BufRead>(
    mut input: R,
    limits: &Limits,
    mut visit: impl FnMut(&EntryMeta, &mut dyn Read) -> Result<(), BundleError>,
) -> Result<u64, BundleError> {
    check_frame_header(&mut input)?;
    let consumed = Rc::new(Cell::new(0u64));
    let input = CountingBufRead {
        inner: input,
        consumed: Rc::clone(&consumed),
    };
    let mut decoder = zstd::stream::read::Decoder::with_buffer(input)
        .map_err(|e| BundleError::io("bundle", e))?
        .single_frame();
    decoder
        .window_log_max(MAX_WINDOW_LOG)
        .map_err(|e| BundleError::io("bundle", e))?;
    let guard = RatioGuard {
        inner: decoder,
        produced: 0,
        consumed,
        limits: *limits,
    };
    let mut archive = tar::Archive::new(guard);
    let count = walk_entries(&mut archive, limits, &mut visit)?;
    check_end(archive.into_inner().inner)?;
    Ok(count)
}

/// The compressed bytes the decoder has taken from the file.
struct CountingBufRead<R> {
    inner: R,
    consumed: Rc<Cell<u64>>,
}

impl<R: BufRead> Read for CountingBufRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.set(self.consumed.get() + n as u64);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingBufRead<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.consumed.set(self.consumed.get() + amt as u64);
        self.inner.consume(amt);
    }
}

/// Why the decompressed stream was cut: more than [`Limits::max_ratio`] times the compressed
/// bytes read, past [`Limits::ratio_floor`].
#[derive(Debug)]
struct Bomb(String);

impl std::fmt::Display for Bomb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Bomb {}

/// Counts decompressed bytes and stops a stream that expands far beyond what real bundles do,
/// so the time a bundle can cost stays proportional to its size on disk.
struct RatioGuard<R> {
    inner: R,
    produced: u64,
    consumed: Rc<Cell<u64>>,
    limits: Limits,
}

impl<R: Read> Read for RatioGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        let allowed = self
            .consumed
            .get()
            .saturating_mul(self.limits.max_ratio)
            .max(self.limits.ratio_floor);
        if self.produced > allowed {
            return Err(std::io::Error::other(Bomb(format!(
                "{} bytes decompressed from {} compressed: more than {}:1 past the first {} MiB \
                 (decompression bomb?)",
                self.produced,
                self.consumed.get(),
                self.limits.max_ratio,
                self.limits.ratio_floor >> 20
            ))));
        }
        Ok(n)
    }
}

fn walk_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    limits: &Limits,
    visit: &mut dyn FnMut(&EntryMeta, &mut dyn Read) -> Result<(), BundleError>,
) -> Result<u64, BundleError> {
    let entries = archive
        .entries()
        .map_err(|e| corrupt("(archive)", e))?
        .raw(true);
    let mut names = Names {
        prev: None,
        files: HashSet::new(),
        bytes: 0,
    };
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
        names.admit(&path, limits)?;
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

/// After the entries: the tar reader stopped at the first zero block (or at the end of the
/// data); exactly one more zero block must follow, then the end of the zstd frame (whose
/// checksum the decoder verifies on the way), then the end of the file.
fn check_end<R: BufRead>(
    mut decoder: zstd::stream::read::Decoder<'static, R>,
) -> Result<(), BundleError> {
    let mut rest = Vec::with_capacity(TAR_END / 2 + 1);
    (&mut decoder)
        .take((TAR_END / 2 + 1) as u64)
        .read_to_end(&mut rest)
        .map_err(|e| corrupt("(archive)", e))?;
    if rest.len() < TAR_END / 2 {
        return Err(archive_error(
            "the tar stream ends without its end-of-archive marker (two zero blocks): \
             truncated, or not a bundle meshproof wrote",
        ));
    }
    if rest.len() > TAR_END / 2 || rest.iter().any(|b| *b != 0) {
        return Err(archive_error(
            "data after the tar end-of-archive marker (entries or bytes a tar reader would \
             silently skip)",
        ));
    }
    let mut inner = decoder.finish();
    let after = inner
        .fill_buf()
        .map_err(|e| BundleError::io("bundle", e))?
        .len();
    if after > 0 {
        return Err(archive_error(format!(
            "data after the zstd frame ({after}+ bytes): a bundle is exactly one zstd frame"
        )));
    }
    Ok(())
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
    if let Some(bomb) = e.get_ref().and_then(|x| x.downcast_ref::<Bomb>()) {
        return BundleError::Limit {
            entry: what.to_string(),
            reason: bomb.0.clone(),
        };
    }
    let text = e.to_string();
    let reason = if text.contains("incomplete frame") {
        "truncated: the zstd frame ends early (its last block or content checksum is missing)"
            .to_string()
    } else {
        format!("corrupt or not a meshproof bundle: {text}")
    };
    BundleError::Integrity {
        file: what.to_string(),
        reason,
    }
}

pub(crate) fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>, BundleError> {
    let f = std::fs::File::open(path).map_err(|e| BundleError::io(path.display(), e))?;
    Ok(std::io::BufReader::with_capacity(1 << 20, f))
}

enum Msg {
    Start(String),
    Data(Vec<u8>, usize),
    End,
}

const CHUNK: usize = 256 << 10;

/// Stream the bundle once: per-file sha256 (hashed on a second thread, so decompression and
/// hashing overlap), the files `keep` selects held in memory (bounded by the parsed-size
/// limits), and, with `dest`, every file written below `dest` (which must exist and be empty).
pub fn scan(
    bundle: &Path,
    limits: &Limits,
    keep: &dyn Fn(&str) -> bool,
    dest: Option<&Path>,
) -> Result<Scanned, BundleError> {
    let input = open(bundle)?;
    let (tx, rx) = mpsc::sync_channel::<Msg>(8);
    let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
    let hasher = std::thread::spawn(move || {
        let mut sums = BTreeMap::new();
        let mut current: Option<(String, Sha256)> = None;
        for msg in rx {
            match msg {
                Msg::Start(p) => current = Some((p, Sha256::new())),
                Msg::Data(buf, n) => {
                    if let Some((_, h)) = current.as_mut() {
                        h.update(&buf[..n]);
                    }
                    let _ = free_tx.send(buf);
                }
                Msg::End => {
                    if let Some((p, h)) = current.take() {
                        sums.insert(p, hex::encode(h.finalize()));
                    }
                }
            }
        }
        sums
    });
    let mut files = BTreeMap::new();
    let mut held = 0u64;
    let walked = walk(input, limits, |meta: &EntryMeta, r: &mut dyn Read| {
        let send = |m: Msg| {
            tx.send(m)
                .map_err(|_| BundleError::io("bundle", std::io::Error::other("hasher stopped")))
        };
        send(Msg::Start(meta.path.clone()))?;
        let kept = keep(&meta.path);
        // Kept files count against the parsed-size limits before any byte is held, so a
        // hostile bundle cannot make a reader buffer a huge "observation".
        if kept {
            reserve(meta, limits, &mut held)?;
        }
        let mut out = match dest {
            Some(d) => Some(create_entry(d, &meta.path)?),
            None => None,
        };
        let mut buf_kept = Vec::with_capacity(if kept { meta.size as usize } else { 0 });
        loop {
            let mut buf = free_rx.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
            let n = read_full(r, &mut buf).map_err(|e| corrupt(&meta.path, e))?;
            if n == 0 {
                break;
            }
            if kept {
                buf_kept.extend_from_slice(&buf[..n]);
            }
            if let Some((f, target)) = out.as_mut() {
                f.write_all(&buf[..n])
                    .map_err(|e| unpack_error(target, &meta.path, e))?;
            }
            send(Msg::Data(buf, n))?;
        }
        send(Msg::End)?;
        if kept {
            files.insert(meta.path.clone(), buf_kept);
        }
        Ok(())
    });
    drop(tx);
    let sums = hasher.join().expect("hasher thread panicked");
    let entries = walked?;
    Ok(Scanned {
        sums,
        files,
        entries,
    })
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
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

/// Read the files for which `want` is true into memory (bounded by the parsed-size limits),
/// after checking the whole bundle's structure ([`super::check::structure`]): archive safety,
/// trailing data, checksums, format version, layout, the manifest's inputs and names.
pub fn read_selected(
    path: &Path,
    limits: &Limits,
    want: impl Fn(&str) -> bool,
) -> Result<BTreeMap<String, Vec<u8>>, BundleError> {
    let keep = |p: &str| want(p) || super::check::is_structural(p);
    let scanned = scan(path, limits, &keep, None)?;
    super::check::structure(&scanned, limits)?;
    let mut files = scanned.files;
    files.retain(|k, _| want(k));
    Ok(files)
}

/// Count an entry that is about to be read into memory against the parsed-size limits, before
/// any of it is read.
pub fn reserve(meta: &EntryMeta, limits: &Limits, held: &mut u64) -> Result<(), BundleError> {
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

/// A filesystem error while unpacking, in the user's terms: the bundle's entry and what the
/// filesystem refused (a name too long for it, ...), as bad input (exit 2) rather than an
/// infrastructure failure, unless the disk itself failed.
fn unpack_error(target: &Path, entry: &str, e: std::io::Error) -> BundleError {
    use std::io::ErrorKind as K;
    let what = match e.kind() {
        K::InvalidFilename => Some("the name is too long or invalid for this filesystem"),
        K::AlreadyExists => Some("something already exists at that path"),
        K::NotADirectory => Some("a folder on the way is not a directory"),
        K::PermissionDenied => Some("permission denied"),
        _ => None,
    };
    match what {
        Some(w) => BundleError::BadInput {
            file: target.display().to_string(),
            reason: format!("cannot unpack entry `{entry}`: {w}"),
        },
        None => BundleError::io(target.display(), e),
    }
}

/// Create the file for `entry` below `dest` (folders as needed), refusing anything that exists.
fn create_entry(dest: &Path, entry: &str) -> Result<(std::fs::File, PathBuf), BundleError> {
    let target = super::names::join_under(dest, entry)?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| unpack_error(parent, entry, e))?;
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(|e| unpack_error(&target, entry, e))?;
    Ok((f, target))
}

/// Extract a bundle into `dest`, which must not exist (not even as a dangling link). Every
/// structural check of [`read_selected`] runs on the way; on any error the partly written
/// directory is removed, so nothing half-done is left behind.
pub fn unpack(bundle: &Path, dest: &Path, limits: &Limits) -> Result<u64, BundleError> {
    if std::fs::symlink_metadata(dest).is_ok() {
        return Err(BundleError::BadInput {
            file: dest.display().to_string(),
            reason: "already exists; unpack writes only into a new directory".into(),
        });
    }
    // Open the bundle first: a missing bundle creates nothing.
    drop(open(bundle)?);
    std::fs::create_dir_all(dest).map_err(|e| unpack_error(dest, "(output folder)", e))?;
    let result = scan(bundle, limits, &super::check::is_structural, Some(dest)).and_then(|s| {
        super::check::structure(&s, limits)?;
        Ok(s.entries)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    result
}
