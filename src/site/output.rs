//! Where the site goes: a new directory, an empty one, or one an earlier `meshproof site` wrote
//! (it carries the marker file); anything else is refused before any work. The site is built in
//! a staging directory beside it and moved into place only when complete.

use std::path::{Path, PathBuf};

use super::SiteError;

/// Marker file of a site meshproof wrote (its content names the generator).
pub const MARKER: &str = ".meshproof-site";
const MARKER_TEXT: &str = "meshproof site\n";

/// Refuse an output that exists and is neither empty nor a previous site.
pub fn check_target(out: &Path) -> Result<(), SiteError> {
    let meta = match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SiteError::io(out, e)),
        Ok(m) => m,
    };
    let refuse = |why: &str| SiteError::BadInput {
        path: out.display().to_string(),
        reason: format!(
            "{why}; the site is written only into a new or empty directory or over a site an \
             earlier `meshproof site` wrote (it has {MARKER}), so nothing else is overwritten"
        ),
    };
    if !meta.is_dir() {
        return Err(refuse("exists and is not a directory"));
    }
    let marker = std::fs::read(out.join(MARKER)).ok();
    if marker.as_deref() == Some(MARKER_TEXT.as_bytes()) {
        return Ok(());
    }
    let empty = std::fs::read_dir(out)
        .map_err(|e| SiteError::io(out, e))?
        .next()
        .is_none();
    if empty {
        Ok(())
    } else {
        Err(refuse("exists and is not a meshproof site"))
    }
}

/// A staging directory beside `out`, removed on drop unless [`Staging::finish`] moved it.
#[derive(Debug)]
pub struct Staging {
    pub dir: PathBuf,
    out: PathBuf,
    done: bool,
}

impl Staging {
    pub fn new(out: &Path) -> Result<Staging, SiteError> {
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| SiteError::io(&parent, e))?;
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "site".into());
        let dir = parent.join(format!(".{name}.staging-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| SiteError::io(&dir, e))?;
        }
        std::fs::create_dir(&dir).map_err(|e| SiteError::io(&dir, e))?;
        Ok(Staging {
            dir,
            out: out.to_path_buf(),
            done: false,
        })
    }

    /// Write a file of the site (relative path made only by the site, never from a bundle).
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<(), SiteError> {
        let p = self.dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| SiteError::io(parent, e))?;
        }
        std::fs::write(&p, bytes).map_err(|e| SiteError::io(&p, e))
    }

    /// Write a JSON file of the site, streamed (pretty, with a final newline).
    pub fn write_json<T: serde::Serialize>(&self, rel: &str, value: &T) -> Result<(), SiteError> {
        use std::io::Write;
        let p = self.dir.join(rel);
        let file = std::fs::File::create(&p).map_err(|e| SiteError::io(&p, e))?;
        let mut w = std::io::BufWriter::new(file);
        serde_json::to_writer_pretty(&mut w, value)
            .map_err(|e| SiteError::io(&p, std::io::Error::other(e)))?;
        w.write_all(b"\n")
            .and_then(|()| w.flush())
            .map_err(|e| SiteError::io(&p, e))
    }

    /// Mark it as a site and move it into place (replacing a previous site or an empty
    /// directory, checked again just before).
    pub fn finish(mut self) -> Result<(), SiteError> {
        self.write(MARKER, MARKER_TEXT.as_bytes())?;
        check_target(&self.out)?;
        if self.out.exists() {
            let old = self.dir.with_extension("old");
            std::fs::rename(&self.out, &old).map_err(|e| SiteError::io(&self.out, e))?;
            std::fs::rename(&self.dir, &self.out).map_err(|e| SiteError::io(&self.out, e))?;
            std::fs::remove_dir_all(&old).map_err(|e| SiteError::io(&old, e))?;
        } else {
            std::fs::rename(&self.dir, &self.out).map_err(|e| SiteError::io(&self.out, e))?;
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
