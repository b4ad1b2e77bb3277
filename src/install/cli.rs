//! The `cli` install method: download the pinned mesh CLI for this machine's platform, check its
//! sha256 (pin, lock), take the program out of a `.tar.gz` when the pin names a `member`, and run
//! its render commands offline in a scratch directory; each command's stdout is the YAML the
//! platform applies.
//!
//! The CLI runs with a cleared environment: only `PATH`, and `HOME` and `KUBECONFIG` pointing
//! into the scratch directory (the kubeconfig there names no cluster), so it can neither read nor
//! change the user's cluster configuration.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use meshproof_core::install::cli::*;

use super::{check_sha256, fetch, InstallError};
use crate::spec::mesh::{is_archive_member, Cli, RenderStep};

/// The most a render command may print on stdout.
pub const MAX_RENDER_BYTES: usize = 64 * 1024 * 1024;
/// How many trailing stderr lines a failed render command's error shows.
pub const STDERR_TAIL_LINES: usize = 20;
/// The stderr kept from a render command (its tail is what matters).
const MAX_STDERR_BYTES: usize = 1024 * 1024;

/// A kubeconfig with no clusters, contexts or users: a CLI that looks for one finds it, and it
/// points nowhere.
const EMPTY_KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\ncurrent-context: \"\"\npreferences: {}\n";

/// A downloaded, verified CLI in a scratch directory, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedCli {
    pub name: String,
    pub platform: String,
    /// Where it was downloaded from.
    pub url: String,
    /// sha256 of the downloaded file (the archive when `member` is set).
    pub sha256: String,
    pub member: Option<String>,
    /// The executable (`<scratch>/bin/<name>`).
    pub program: PathBuf,
    /// `HOME` of every render command (`<scratch>/home`).
    pub home: PathBuf,
    /// `KUBECONFIG` of every render command (`<scratch>/kubeconfig`, naming no cluster).
    pub kubeconfig: PathBuf,
}

/// Download the pin's CLI for `platform`, check it against the pin's sha256 and the lock's (when
/// given), and install it executable under `scratch` (taking `member` out of the archive first).
pub fn fetch(
    cli: &Cli,
    platform: &str,
    locked: Option<&str>,
    scratch: &Path,
) -> Result<PreparedCli, InstallError> {
    let download = download_for(cli, platform)?;
    let bytes = download_verified(cli, platform, locked)?;
    let sha256 = crate::sha256_hex(&bytes);
    let member = cli.member_for(platform).map(str::to_string);
    let program_bytes = match &member {
        Some(m) => extract_member(&bytes, m, &download.url)?,
        None => bytes,
    };
    let io = |what: &str, e: std::io::Error| InstallError::Tool {
        program: cli.name.clone(),
        reason: format!("{what}: {e}"),
    };
    let bin = scratch.join("bin");
    let home = scratch.join("home");
    for d in [&bin, &home] {
        std::fs::create_dir_all(d).map_err(|e| io(&format!("creating {}", d.display()), e))?;
    }
    let kubeconfig = scratch.join("kubeconfig");
    std::fs::write(&kubeconfig, EMPTY_KUBECONFIG)
        .map_err(|e| io(&format!("writing {}", kubeconfig.display()), e))?;
    let program = bin.join(&cli.name);
    write_executable(&program, &program_bytes)
        .map_err(|e| io(&format!("writing {}", program.display()), e))?;
    Ok(PreparedCli {
        name: cli.name.clone(),
        platform: platform.to_string(),
        url: download.url.clone(),
        sha256,
        member,
        program,
        home,
        kubeconfig,
    })
}

/// Download the pin's CLI for `platform` and check it against the pin's sha256 and the lock's
/// (when given); a mismatch is [`InstallError::DigestMismatch`] naming the URL and both digests.
pub fn download_verified(
    cli: &Cli,
    platform: &str,
    locked: Option<&str>,
) -> Result<Vec<u8>, InstallError> {
    let download = download_for(cli, platform)?;
    let bytes = fetch::get_limited(&download.url, fetch::MAX_CLI_BYTES)?;
    let what = format!("{} CLI for {platform}", cli.name);
    check_sha256(&what, &download.url, &bytes, &download.sha256, "the pin")?;
    if let Some(l) = locked {
        check_sha256(&what, &download.url, &bytes, l, "the lock file")?;
    }
    Ok(bytes)
}

fn write_executable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes)?;
    // Explicitly, so the umask cannot take bits away.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

/// The bytes of the regular file `member` in a `.tar.gz` archive. Nothing is written to disk
/// by its archive path: only this one entry is read, so entries with `..` or absolute paths can
/// never be reached, and a `member` that is not a plain relative path is refused.
pub fn extract_member(archive: &[u8], member: &str, url: &str) -> Result<Vec<u8>, InstallError> {
    let err = |reason: String| InstallError::Archive {
        url: url.to_string(),
        reason,
    };
    if !is_archive_member(member) {
        return Err(err(format!(
            "member `{member}` is not a relative path inside the archive (`..`, `.`, empty parts \
             and absolute paths are refused)"
        )));
    }
    if !archive.starts_with(&[0x1f, 0x8b]) {
        return Err(err(format!(
            "not a .tar.gz archive, but the pin names member `{member}` in it"
        )));
    }
    let want: Vec<&str> = member.split('/').collect();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let entries = tar
        .entries()
        .map_err(|e| err(format!("unreadable archive: {e}")))?;
    let mut seen: Vec<String> = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| err(format!("unreadable archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| err(format!("unreadable entry name: {e}")))?
            .into_owned();
        let parts: Option<Vec<&str>> = path
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .map(|c| match c {
                std::path::Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect();
        let Some(parts) = parts else {
            continue; // `..` or absolute: never a valid member
        };
        if parts != want {
            if seen.len() < 20 && entry.header().entry_type().is_file() {
                seen.push(parts.join("/"));
            }
            continue;
        }
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            return Err(err(format!(
                "member `{member}` is a {kind:?} entry, not a regular file"
            )));
        }
        let limit = fetch::MAX_CLI_BYTES;
        let mut bytes = Vec::new();
        (&mut entry)
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| err(format!("reading member `{member}`: {e}")))?;
        if bytes.len() as u64 > limit {
            return Err(err(format!(
                "member `{member}` is larger than {limit} bytes"
            )));
        }
        return Ok(bytes);
    }
    Err(err(format!(
        "member `{member}` is not in the archive; its files are: {}",
        if seen.is_empty() {
            "none".to_string()
        } else {
            seen.join(", ")
        }
    )))
}

impl PreparedCli {
    /// Run one render command offline and return its stdout (the YAML to apply). A non-zero
    /// exit, empty output or running past `timeout` is an error naming the command, its exit
    /// status and the last lines of its stderr.
    pub fn render(&self, step: &RenderStep, timeout: Duration) -> Result<Vec<u8>, InstallError> {
        let shown = command_line(&self.name, &step.args);
        let fail = |reason: String| InstallError::Tool {
            program: shown.clone(),
            reason,
        };
        let mut cmd = Command::new(&self.program);
        cmd.args(&step.args)
            .env_clear()
            .env(crate::env::PATH, crate::env::search_path())
            .env("HOME", &self.home)
            .env("KUBECONFIG", &self.kubeconfig)
            .current_dir(&self.home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group, so a timeout stops what it started too.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = spawn(&mut cmd)
            .map_err(|e| fail(format!("cannot start {}: {e}", self.program.display())))?;
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let out_tx = tx.clone();
        std::thread::spawn(move || {
            let _ = out_tx.send((true, drain(stdout, MAX_RENDER_BYTES, Keep::Head)));
        });
        std::thread::spawn(move || {
            let _ = tx.send((false, drain(stderr, MAX_STDERR_BYTES, Keep::Tail)));
        });
        let deadline = Instant::now() + timeout;
        let (mut out, mut err) = (None, None);
        while out.is_none() || err.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((true, d)) => out = Some(d),
                Ok((false, d)) => err = Some(d),
                Err(_) => {
                    kill(&mut child);
                    return Err(fail(format!(
                        "did not finish within {timeout:?} and was stopped{}",
                        stderr_tail(&err.map(|d| d.kept).unwrap_or_default())
                    )));
                }
            }
        }
        let (out, err) = (out.expect("read"), err.expect("read"));
        let status = child
            .wait()
            .map_err(|e| fail(format!("waiting for it: {e}")))?;
        let tail = stderr_tail(&err.kept);
        if !status.success() {
            return Err(fail(format!("{status}{tail}")));
        }
        if out.overflow {
            return Err(fail(format!(
                "printed more than {MAX_RENDER_BYTES} bytes on stdout"
            )));
        }
        if out.kept.iter().all(u8::is_ascii_whitespace) {
            return Err(fail(format!(
                "{status} but printed nothing on stdout (expected the YAML to apply){tail}"
            )));
        }
        Ok(out.kept)
    }
}

/// Start `cmd`, retrying briefly when the freshly written program is still open for writing in a
/// process another thread is forking (`ETXTBSY`).
fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    const ETXTBSY: i32 = 26;
    let mut attempt = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && attempt < 10 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(20 * attempt));
            }
            other => return other,
        }
    }
}

/// Stop the CLI and everything it started: it runs in its own process group (see `render`), so
/// a child that holds the output pipes open does not outlive the timeout.
fn kill(child: &mut Child) {
    #[cfg(unix)]
    {
        use rustix::process::{kill_process_group, Pid, Signal};
        let _ = kill_process_group(Pid::from_child(child), Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[derive(Debug, Default)]
struct Drained {
    kept: Vec<u8>,
    overflow: bool,
}

/// Which part of an overlong output to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Head,
    Tail,
}

/// Read a pipe to its end, keeping at most `limit` bytes (the first or the last ones); the rest
/// is read and dropped, so the child never blocks on a full pipe.
fn drain(mut r: impl Read, limit: usize, keep: Keep) -> Drained {
    let mut d = Drained::default();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => return d,
            Ok(n) => match keep {
                Keep::Head => {
                    let room = limit.saturating_sub(d.kept.len());
                    d.kept.extend_from_slice(&buf[..n.min(room)]);
                    d.overflow |= n > room;
                }
                Keep::Tail => {
                    d.kept.extend_from_slice(&buf[..n]);
                    let excess = d.kept.len().saturating_sub(limit);
                    if excess > 0 {
                        d.kept.drain(..excess);
                        d.overflow = true;
                    }
                }
            },
        }
    }
}

/// `; stderr (last lines):` and the last [`STDERR_TAIL_LINES`] non-empty lines, or nothing.
fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "; stderr was empty".to_string();
    }
    let tail = &lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..];
    format!("; stderr (last lines):\n  {}", tail.join("\n  "))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        let many: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let t = stderr_tail(many.as_bytes());
        assert!(t.starts_with("; stderr (last lines):\n  line 11\n"), "{t}");
        assert!(t.ends_with("line 30") && !t.contains("line 10\n"), "{t}");
        assert_eq!(stderr_tail(b"\n \n"), "; stderr was empty");
    }

    #[test]
    fn drain_keeps_at_most_the_limit_and_flags_the_rest() {
        let d = drain(&b"0123456789"[..], 4, Keep::Head);
        assert_eq!(d.kept, b"0123");
        assert!(d.overflow);
        let d = drain(&b"0123456789"[..], 4, Keep::Tail);
        assert_eq!(d.kept, b"6789");
        assert!(d.overflow);
        let d = drain(&b"0123"[..], 4, Keep::Head);
        assert_eq!(d.kept, b"0123");
        assert!(!d.overflow);
    }
}
