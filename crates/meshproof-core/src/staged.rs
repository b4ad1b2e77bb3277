//! Files written beside their destination and moved into place only when complete: a bundle or
//! attestation is either all there or not there at all.
//!
//! A small replacement for `tempfile`'s named files, kept here because `tempfile` pulls `rustix`
//! into a crate whose dependencies must stay free of system-call layers (the `Cargo.toml` rule).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many names are tried before giving up (each collision means another process or an
/// earlier crash left a file with the same name).
const ATTEMPTS: u32 = 64;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file being written in `dir`; removed on drop unless it was moved into place.
#[derive(Debug)]
pub struct StagedFile {
    path: PathBuf,
    file: File,
    placed: bool,
}

impl StagedFile {
    /// Create a new, empty file `<dir>/<prefix><unique>.tmp` (never an existing one), readable
    /// and writable by the owner only until the caller widens it (a private key is never
    /// readable by others, not even while it is being written).
    pub fn new_in(dir: &Path, prefix: &str) -> io::Result<StagedFile> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for _ in 0..ATTEMPTS {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("{prefix}{}-{nanos:08x}-{n}.tmp", std::process::id());
            let path = dir.join(name);
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(file) => {
                    return Ok(StagedFile {
                        path,
                        file,
                        placed: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("no free temporary name in {}", dir.display()),
        ))
    }

    /// The open file.
    pub fn as_file(&self) -> &File {
        &self.file
    }

    /// Where it is while being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Move it to `target`, replacing what is there.
    pub fn persist(mut self, target: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, target)?;
        self.placed = true;
        Ok(())
    }

    /// Move it to `target` only if nothing is there (`AlreadyExists` otherwise): a hard link,
    /// which the file system refuses atomically when the name is taken, then the staged name goes.
    pub fn persist_noclobber(mut self, target: &Path) -> io::Result<()> {
        std::fs::hard_link(&self.path, target)?;
        self.placed = true;
        let _ = std::fs::remove_file(&self.path);
        Ok(())
    }
}

impl io::Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_dropped_file_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("meshproof-staged-{}-a", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        {
            let mut s = StagedFile::new_in(&dir, ".x-").unwrap();
            s.write_all(b"partial").unwrap();
            assert!(s.path().exists());
        }
        assert!(listing(&dir).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn persist_replaces_and_noclobber_refuses() {
        let dir = std::env::temp_dir().join(format!("meshproof-staged-{}-b", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out");
        std::fs::write(&target, b"old").unwrap();
        let mut s = StagedFile::new_in(&dir, ".x-").unwrap();
        s.write_all(b"new").unwrap();
        s.persist(&target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");

        let mut s = StagedFile::new_in(&dir, ".x-").unwrap();
        s.write_all(b"newer").unwrap();
        let e = s.persist_noclobber(&target).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(
            listing(&dir),
            vec!["out".to_string()],
            "the staged file is gone"
        );

        let fresh = dir.join("fresh");
        let mut s = StagedFile::new_in(&dir, ".x-").unwrap();
        s.write_all(b"x").unwrap();
        s.persist_noclobber(&fresh).unwrap();
        assert_eq!(listing(&dir), vec!["fresh".to_string(), "out".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_staged_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("meshproof-staged-{}-d", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = StagedFile::new_in(&dir, ".x-").unwrap();
        let mode = s.as_file().metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_are_unique_in_one_directory() {
        let dir = std::env::temp_dir().join(format!("meshproof-staged-{}-c", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = StagedFile::new_in(&dir, ".x-").unwrap();
        let b = StagedFile::new_in(&dir, ".x-").unwrap();
        assert_ne!(a.path(), b.path());
        drop((a, b));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
