//! A cluster's node containers through the Docker API: discovery by kind's labels, inspect,
//! exec (captured, or with stdin streamed in) and safe download of node paths via the archive API.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, ListContainersOptionsBuilder,
};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWriteExt};

use crate::docker::{root_cause, Engine};
use crate::{LABEL_CLUSTER, LABEL_ROLE};

/// Largest archive [`download`] accepts from a node (1 GiB).
pub const DOWNLOAD_LIMIT_BYTES: u64 = 1 << 30;

/// One node container of a kind cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Node {
    /// Container name without the leading `/` (kind: `<cluster>-control-plane`, `<cluster>-worker2`, ...).
    pub name: String,
    /// Full container id.
    pub container_id: String,
    /// Value of `io.x-k8s.kind.role` (empty if missing).
    pub role: String,
    /// Image id (`sha256:...`) the container runs.
    pub image_id: String,
    /// Container state (`running`, `exited`, ...).
    pub state: String,
}

/// What a command run in a node gave back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// Exit code (`-1` if the engine did not report one).
    pub exit_code: i64,
}

impl ExecOutput {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
    /// stdout as (lossy) UTF-8.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// stderr as (lossy) UTF-8.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Listing a cluster's nodes failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list the node containers of cluster {cluster} (label {LABEL_CLUSTER}={cluster}): {cause}")]
pub struct ListNodesError {
    /// Cluster name.
    pub cluster: String,
    /// Root cause.
    pub cause: String,
    /// Underlying error.
    #[source]
    pub source: bollard::errors::Error,
}

/// Inspecting a container failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot inspect container {container}: {cause}")]
pub struct InspectError {
    /// Container name or id.
    pub container: String,
    /// Root cause.
    pub cause: String,
    /// Underlying error.
    #[source]
    pub source: bollard::errors::Error,
}

/// Step of an exec that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecStep {
    /// `POST /containers/{id}/exec`.
    Create,
    /// `POST /exec/{id}/start`.
    Start,
    /// Writing stdin into the exec.
    WriteStdin,
    /// Reading the exec's output stream.
    ReadOutput,
    /// `GET /exec/{id}/json` for the exit code.
    Inspect,
}

impl std::fmt::Display for ExecStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Create => "create exec",
            Self::Start => "start exec",
            Self::WriteStdin => "write stdin",
            Self::ReadOutput => "read output",
            Self::Inspect => "inspect exec",
        })
    }
}

/// Running a command in a node failed (not: the command exited non-zero — that is data in
/// [`ExecOutput::exit_code`]).
#[derive(Debug, thiserror::Error)]
#[error("exec `{command}` in container {container} failed at {step}: {cause}")]
pub struct ExecError {
    /// Container name or id.
    pub container: String,
    /// The command, space-joined.
    pub command: String,
    /// Which step failed.
    pub step: ExecStep,
    /// Root cause.
    pub cause: String,
    /// Underlying error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Downloading a path out of a node failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The archive API call failed (e.g. the path does not exist).
    #[error("cannot download {path} from container {container}: {cause}")]
    Request {
        /// Container name or id.
        container: String,
        /// Path inside the container.
        path: String,
        /// Root cause.
        cause: String,
        /// Underlying error.
        #[source]
        source: bollard::errors::Error,
    },
    /// The archive is larger than [`DOWNLOAD_LIMIT_BYTES`].
    #[error("archive of {path} from container {container} exceeds {limit} bytes")]
    TooLarge {
        /// Container name or id.
        container: String,
        /// Path inside the container.
        path: String,
        /// The limit.
        limit: u64,
    },
    /// Writing or unpacking locally failed.
    #[error("cannot unpack {path} from container {container} into {dest}: {cause}")]
    Unpack {
        /// Container name or id.
        container: String,
        /// Path inside the container.
        path: String,
        /// Local destination.
        dest: PathBuf,
        /// Root cause.
        cause: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// What every file written by [`download`] passes through: redaction of secrets in logs.
pub type Redactor = fn(&[u8]) -> Vec<u8>;

/// What [`download`] leaves out or rewrites.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnpackFilter<'a> {
    /// Directories (relative to the destination, e.g. `journal`) whose entries are not written;
    /// each is reported once in [`Unpacked::skipped`].
    pub skip_dirs: &'a [&'a str],
    /// Applied to the bytes of every regular file before it is written.
    pub redact: Option<Redactor>,
}

/// What [`download`] wrote, and what it refused to write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unpacked {
    /// Regular files written, relative to the destination, sorted.
    pub files: Vec<PathBuf>,
    /// Symbolic links found (not created): `(path relative to destination, link target)`, sorted.
    pub links: Vec<(PathBuf, String)>,
    /// Entries refused (absolute, `..`, devices, hard links, ...): `(entry path, reason)`, sorted.
    pub skipped: Vec<(String, String)>,
}

/// kind's role label values of the containers that are Kubernetes nodes (kind's
/// `nodeutils.InternalNodes`: `worker` and `control-plane`). The `external-load-balancer`
/// container (haproxy, for clusters with several control planes) carries the cluster label
/// too but is not a node: nothing may exec `ctr` or `journalctl` in it.
pub const NODE_ROLES: &[&str] = &["control-plane", "worker"];

impl Node {
    /// Whether this container is a Kubernetes node (see [`NODE_ROLES`]).
    pub fn is_kubernetes_node(&self) -> bool {
        NODE_ROLES.contains(&self.role.as_str())
    }
}

/// The Kubernetes nodes of cluster `cluster`: its containers (see [`list_containers`]) whose
/// role is `control-plane` or `worker`, sorted by name. The external load balancer is left out.
pub async fn list_nodes(engine: &Engine, cluster: &str) -> Result<Vec<Node>, ListNodesError> {
    let mut all = list_containers(engine, cluster).await?;
    all.retain(Node::is_kubernetes_node);
    Ok(all)
}

/// Every container of cluster `cluster` (label `io.x-k8s.kind.cluster=<cluster>`), running
/// or not, the external load balancer included, sorted by name: what teardown removes and
/// what a failed create leaves behind.
pub async fn list_containers(engine: &Engine, cluster: &str) -> Result<Vec<Node>, ListNodesError> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_CLUSTER}={cluster}")],
    )]);
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let list = engine
        .client()
        .list_containers(Some(opts))
        .await
        .map_err(|e| ListNodesError {
            cluster: cluster.to_string(),
            cause: root_cause(&e),
            source: e,
        })?;
    let mut nodes: Vec<Node> = list
        .into_iter()
        .filter(|c| {
            // The engine filters already; double-check the exact value.
            c.labels
                .as_ref()
                .and_then(|l| l.get(LABEL_CLUSTER))
                .is_some_and(|v| v == cluster)
        })
        .map(|c| Node {
            name: c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            container_id: c.id.unwrap_or_default(),
            role: c
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_ROLE))
                .cloned()
                .unwrap_or_default(),
            image_id: c.image_id.unwrap_or_default(),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
        })
        .collect();
    nodes.sort();
    Ok(nodes)
}

/// `docker inspect` of one container.
pub async fn inspect(
    engine: &Engine,
    container: &str,
) -> Result<ContainerInspectResponse, InspectError> {
    engine
        .client()
        .inspect_container(container, None)
        .await
        .map_err(|e| InspectError {
            container: container.to_string(),
            cause: root_cause(&e),
            source: e,
        })
}

/// Run `argv` in `container` and capture stdout, stderr and the exit code.
pub async fn exec(
    engine: &Engine,
    container: &str,
    argv: &[&str],
) -> Result<ExecOutput, ExecError> {
    exec_inner(engine, container, argv, None::<tokio::io::Empty>).await
}

/// Run `argv` in `container` with `stdin` streamed into its standard input (closed at the end,
/// so the command sees end-of-file), capturing stdout, stderr and the exit code. Used for
/// `ctr -n k8s.io images import -`.
pub async fn exec_with_stdin<R>(
    engine: &Engine,
    container: &str,
    argv: &[&str],
    stdin: R,
) -> Result<ExecOutput, ExecError>
where
    R: AsyncRead + Unpin + Send,
{
    exec_inner(engine, container, argv, Some(stdin)).await
}

async fn exec_inner<R>(
    engine: &Engine,
    container: &str,
    argv: &[&str],
    stdin: Option<R>,
) -> Result<ExecOutput, ExecError>
where
    R: AsyncRead + Unpin + Send,
{
    let command = argv.join(" ");
    let err = |step: ExecStep, e: Box<dyn std::error::Error + Send + Sync>| ExecError {
        container: container.to_string(),
        command: command.clone(),
        step,
        cause: root_cause(e.as_ref()),
        source: e,
    };
    let created = engine
        .client()
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(argv.to_vec()),
                attach_stdin: Some(stdin.is_some()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| err(ExecStep::Create, Box::new(e)))?;
    let started = engine
        .client()
        .start_exec(
            &created.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            }),
        )
        .await
        .map_err(|e| err(ExecStep::Start, Box::new(e)))?;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = started
    else {
        return Err(err(
            ExecStep::Start,
            "engine started the exec detached".into(),
        ));
    };
    let mut out = ExecOutput::default();
    let reader = async {
        while let Some(item) = output.next().await {
            match item {
                Ok(bollard::container::LogOutput::StdErr { message }) => {
                    out.stderr.extend_from_slice(&message);
                }
                Ok(
                    bollard::container::LogOutput::StdOut { message }
                    | bollard::container::LogOutput::Console { message },
                ) => out.stdout.extend_from_slice(&message),
                Ok(bollard::container::LogOutput::StdIn { .. }) => {}
                Err(e) => return Err(err(ExecStep::ReadOutput, Box::new(e))),
            }
        }
        Ok(())
    };
    let writer = async {
        if let Some(mut src) = stdin {
            tokio::io::copy(&mut src, &mut input)
                .await
                .map_err(|e| err(ExecStep::WriteStdin, Box::new(e)))?;
        }
        // Half-close: the command sees end-of-file on stdin.
        input
            .shutdown()
            .await
            .map_err(|e| err(ExecStep::WriteStdin, Box::new(e)))
    };
    let (r, w) = tokio::join!(reader, writer);
    r?;
    w?;
    // The output stream ends when the process exits, but the engine may take a moment to
    // record the exit code: poll briefly (bounded).
    for attempt in 0..50 {
        let inspected = engine
            .client()
            .inspect_exec(&created.id)
            .await
            .map_err(|e| err(ExecStep::Inspect, Box::new(e)))?;
        match (inspected.running, inspected.exit_code) {
            (Some(true), _) | (_, None) if attempt < 49 => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            (_, code) => {
                out.exit_code = code.unwrap_or(-1);
                break;
            }
        }
    }
    Ok(out)
}

/// Download `path` out of `container` through the archive API and unpack it safely under
/// `dest` (created if needed). The archive's top-level directory (the basename of `path`) is
/// stripped, so `/var/log/pods/x` lands at `dest/pods/x`. Only directories and regular files
/// are written; symbolic links are reported in [`Unpacked::links`] (never created, never
/// followed); absolute paths, `..`, hard links and devices are refused into
/// [`Unpacked::skipped`]. Nothing is written outside `dest`.
pub async fn download(
    engine: &Engine,
    container: &str,
    path: &str,
    dest: &Path,
    filter: UnpackFilter<'static>,
) -> Result<Unpacked, DownloadError> {
    let opts = DownloadFromContainerOptionsBuilder::default()
        .path(path)
        .build();
    let mut stream = engine
        .client()
        .download_from_container(container, Some(opts));
    let unpack_err = |e: std::io::Error| DownloadError::Unpack {
        container: container.to_string(),
        path: path.to_string(),
        dest: dest.to_path_buf(),
        cause: root_cause(&e),
        source: e,
    };
    let spool = tempfile::tempfile().map_err(unpack_err)?;
    let mut spool = tokio::fs::File::from_std(spool);
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| DownloadError::Request {
            container: container.to_string(),
            path: path.to_string(),
            cause: root_cause(&e),
            source: e,
        })?;
        total += chunk.len() as u64;
        if total > DOWNLOAD_LIMIT_BYTES {
            return Err(DownloadError::TooLarge {
                container: container.to_string(),
                path: path.to_string(),
                limit: DOWNLOAD_LIMIT_BYTES,
            });
        }
        spool.write_all(&chunk).await.map_err(unpack_err)?;
    }
    spool.flush().await.map_err(unpack_err)?;
    let spool = spool.into_std().await;
    let dest_owned = dest.to_path_buf();
    tokio::task::spawn_blocking(move || unpack_safely(spool, &dest_owned, filter))
        .await
        .map_err(|e| unpack_err(std::io::Error::other(e)))?
        .map_err(unpack_err)
}

/// Unpack a tar (from the Docker archive API) under `dest`, stripping its first path component.
/// See [`download`] for the rules; `filter` skips directories and redacts file contents.
pub fn unpack_safely(
    mut archive: std::fs::File,
    dest: &Path,
    filter: UnpackFilter<'_>,
) -> std::io::Result<Unpacked> {
    use std::io::{Seek, SeekFrom};
    archive.seek(SeekFrom::Start(0))?;
    std::fs::create_dir_all(dest)?;
    let mut result = Unpacked::default();
    let mut ar = tar::Archive::new(archive);
    for entry in ar.entries()? {
        let mut entry = entry?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(rel) = safe_relative(&raw) else {
            result
                .skipped
                .push((raw, "absolute path or `..` component".into()));
            continue;
        };
        let kind = entry.header().entry_type();
        if rel.as_os_str().is_empty() {
            continue; // the top-level directory itself
        }
        if let Some(dir) = filter
            .skip_dirs
            .iter()
            .find(|d| rel.starts_with(Path::new(d)))
        {
            let reason = format!("{dir}/ is not copied");
            if !result.skipped.iter().any(|(_, r)| r == &reason) {
                result.skipped.push((raw, reason));
            }
            continue;
        }
        let target = dest.join(&rel);
        match kind {
            tar::EntryType::Directory => std::fs::create_dir_all(&target)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                // Never write through a link that might already be there.
                if std::fs::symlink_metadata(&target).is_ok() {
                    std::fs::remove_file(&target)?;
                }
                let mut f = std::fs::File::create(&target)?;
                match filter.redact {
                    None => {
                        std::io::copy(&mut entry, &mut f)?;
                    }
                    Some(redact) => {
                        let mut bytes = Vec::new();
                        std::io::Read::read_to_end(&mut entry, &mut bytes)?;
                        std::io::Write::write_all(&mut f, &redact(&bytes))?;
                    }
                }
                result.files.push(rel);
            }
            tar::EntryType::Symlink => {
                let to = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                result.links.push((rel, to));
            }
            other => result
                .skipped
                .push((raw, format!("unsupported entry type {other:?}"))),
        }
    }
    result.files.sort();
    result.links.sort();
    result.skipped.sort();
    Ok(result)
}

/// `a/b/c` → `b/c` (first component stripped); `None` when absolute or containing `..`.
fn safe_relative(raw: &str) -> Option<PathBuf> {
    let p = Path::new(raw);
    let mut out = PathBuf::new();
    let mut first = true;
    for c in p.components() {
        match c {
            Component::Normal(part) => {
                if first {
                    first = false;
                } else {
                    out.push(part);
                }
            }
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> std::fs::File {
        let f = tempfile::tempfile().unwrap();
        let mut b = tar::Builder::new(f);
        for (path, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Write the raw name so hostile names survive the builder's own checks.
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn unpack_strips_top_dir_and_refuses_escapes() {
        let f = tar_with(&[
            ("log/", tar::EntryType::Directory, b"", None),
            ("log/pods/a/0.log", tar::EntryType::Regular, b"hello", None),
            ("log/../../evil", tar::EntryType::Regular, b"x", None),
            ("/etc/passwd", tar::EntryType::Regular, b"x", None),
            (
                "log/containers/a.log",
                tar::EntryType::Symlink,
                b"",
                Some("/var/log/pods/a/0.log"),
            ),
            ("log/dev", tar::EntryType::Char, b"", None),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let out = unpack_safely(f, dir.path(), UnpackFilter::default()).unwrap();
        assert_eq!(out.files, vec![PathBuf::from("pods/a/0.log")]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("pods/a/0.log")).unwrap(),
            "hello"
        );
        assert_eq!(
            out.links,
            vec![(
                PathBuf::from("containers/a.log"),
                "/var/log/pods/a/0.log".to_string()
            )]
        );
        assert_eq!(out.skipped.len(), 3, "{:?}", out.skipped);
        assert!(!dir.path().join("containers/a.log").exists());
        assert!(!dir.path().parent().unwrap().join("evil").exists());
    }

    #[test]
    fn unpack_skips_directories_and_redacts_files() {
        fn upper(b: &[u8]) -> Vec<u8> {
            b.to_ascii_uppercase()
        }
        let f = tar_with(&[
            ("log/", tar::EntryType::Directory, b"", None),
            ("log/journal/", tar::EntryType::Directory, b"", None),
            (
                "log/journal/m/system.journal",
                tar::EntryType::Regular,
                b"bin",
                None,
            ),
            (
                "log/journal/m/user.journal",
                tar::EntryType::Regular,
                b"bin",
                None,
            ),
            ("log/journalish.log", tar::EntryType::Regular, b"text", None),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let filter = UnpackFilter {
            skip_dirs: &["journal"],
            redact: Some(upper),
        };
        let out = unpack_safely(f, dir.path(), filter).unwrap();
        assert_eq!(out.files, vec![PathBuf::from("journalish.log")]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("journalish.log")).unwrap(),
            "TEXT"
        );
        assert!(!dir.path().join("journal").exists());
        assert_eq!(
            out.skipped,
            vec![(
                "log/journal/".to_string(),
                "journal/ is not copied".to_string()
            )]
        );
    }
}
