//! Node log export into a run directory, laid out like `kind export logs`: per node
//! `serial.log`, `kubernetes-version.txt`, `journal.log`, `kubelet.log`, `containerd.log`,
//! `images.log`, `inspect.json` and a copy of `/var/log` (under `var/log/`, without the binary
//! journal, which `journal.log` holds as text). Best effort per item: a failing item leaves a
//! `<file>.error.txt` note and an entry in [`LogExport::failures`]; only a failure to find the
//! containers aborts.
//!
//! Containers are found by the cluster label, so a create that failed (nodes kept with
//! `--retain`) is exported too. Containers that are not Kubernetes nodes (the external load
//! balancer) get only `serial.log` and `inspect.json`: nothing is exec'd in them.
//!
//! Every byte written passes through the caller's [`Redactor`] (the same redaction as pod
//! logs): node logs include `/var/log/pods/*` and the journal, where tokens and keys appear.

use std::path::{Path, PathBuf};

use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use serde::Serialize;

use crate::docker::{error_chain, root_cause, Engine};
pub use crate::nodes::Redactor;
use crate::nodes::{self, ListNodesError, Node, UnpackFilter};

/// Commands run in each node, in order: (file written, argv).
pub const EXEC_ITEMS: &[(&str, &[&str])] = &[
    ("kubernetes-version.txt", &["cat", "/kind/version"]),
    ("journal.log", &["journalctl", "--no-pager"]),
    (
        "kubelet.log",
        &["journalctl", "--no-pager", "-u", "kubelet.service"],
    ),
    (
        "containerd.log",
        &["journalctl", "--no-pager", "-u", "containerd.service"],
    ),
    ("images.log", &["crictl", "images"]),
];

/// File listing the symbolic links found under the node's `/var/log` (not copied as links).
pub const VAR_LOG_LINKS_FILE: &str = "var-log-links.txt";

/// Directories of the node's `/var/log` that are not copied: the binary systemd journal (its
/// text is `journal.log`; binary files cannot be redacted line by line).
pub const VAR_LOG_SKIPPED: &[&str] = &["journal"];

/// One item that could not be collected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LogFailure {
    /// Node (container) name.
    pub node: String,
    /// Item (file name, e.g. `kubelet.log`, or `var/log`).
    pub item: String,
    /// What went wrong.
    pub error: String,
}

/// Result of an export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogExport {
    /// Nodes exported, sorted.
    pub nodes: Vec<String>,
    /// Files written, relative to the export directory, sorted.
    pub written: Vec<PathBuf>,
    /// Items that failed, sorted.
    pub failures: Vec<LogFailure>,
}

/// Exporting failed before any node could be looked at.
#[derive(Debug, thiserror::Error)]
pub enum ExportLogsError {
    /// The cluster's nodes could not be listed.
    #[error("cannot export node logs: {0}")]
    ListNodes(#[from] ListNodesError),
    /// The export directory could not be created.
    #[error("cannot create the log directory {dir}: {source}")]
    CreateDir {
        /// Directory.
        dir: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Export the logs of every container of `cluster` (by its label, running or not) into
/// `dir/<container>/`, each file passed through `redact`.
pub async fn export_logs(
    engine: &Engine,
    cluster: &str,
    dir: &Path,
    redact: Redactor,
) -> Result<LogExport, ExportLogsError> {
    let nodes = nodes::list_containers(engine, cluster).await?;
    export_node_logs(engine, &nodes, dir, redact).await
}

/// Export the logs of `nodes` into `dir/<node>/`, each file passed through `redact`.
pub async fn export_node_logs(
    engine: &Engine,
    nodes: &[Node],
    dir: &Path,
    redact: Redactor,
) -> Result<LogExport, ExportLogsError> {
    std::fs::create_dir_all(dir).map_err(|source| ExportLogsError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut export = LogExport::default();
    for node in nodes {
        export.nodes.push(node.name.clone());
        let mut sink = Sink {
            root: dir,
            node: &node.name,
            export: &mut export,
            redact,
        };
        if let Err(e) = std::fs::create_dir_all(dir.join(&node.name)) {
            sink.fail("", &e.to_string());
            continue;
        }
        // serial.log: the container's own output (`docker logs`).
        match container_logs(engine, &node.container_id).await {
            Ok(bytes) => sink.write("serial.log", &bytes),
            Err(e) => sink.fail("serial.log", &e),
        }
        if node.is_kubernetes_node() {
            exec_items(engine, node, &mut sink).await;
        }
        match nodes::inspect(engine, &node.container_id).await {
            Ok(inspect) => match serde_json::to_vec_pretty(&inspect) {
                Ok(mut json) => {
                    json.push(b'\n');
                    sink.write("inspect.json", &json);
                }
                Err(e) => sink.fail("inspect.json", &e.to_string()),
            },
            Err(e) => sink.fail("inspect.json", &e.to_string()),
        }
        if node.is_kubernetes_node() {
            var_log(engine, node, dir, &mut sink).await;
        }
    }
    export.nodes.sort();
    export.written.sort();
    export.failures.sort();
    Ok(export)
}

/// The commands of [`EXEC_ITEMS`], run in `node`.
async fn exec_items(engine: &Engine, node: &Node, sink: &mut Sink<'_>) {
    for (file, argv) in EXEC_ITEMS {
        match nodes::exec(engine, &node.container_id, argv).await {
            Ok(out) if out.success() => sink.write(file, &out.stdout),
            Ok(out) => {
                sink.write(file, &out.stdout);
                sink.fail(
                    file,
                    &format!(
                        "`{}` exited with code {}: {}",
                        argv.join(" "),
                        out.exit_code,
                        out.stderr_text().trim()
                    ),
                );
            }
            Err(e) => sink.fail(file, &error_chain(&e).join(": ")),
        }
    }
}

/// A redacted copy of `node`'s `/var/log` under `dir/<node>/var/log`.
async fn var_log(engine: &Engine, node: &Node, dir: &Path, sink: &mut Sink<'_>) {
    let var_log = dir.join(&node.name).join("var").join("log");
    let filter = UnpackFilter {
        skip_dirs: VAR_LOG_SKIPPED,
        redact: Some(sink.redact),
    };
    match nodes::download(engine, &node.container_id, "/var/log", &var_log, filter).await {
        Ok(unpacked) => {
            for f in &unpacked.files {
                sink.export
                    .written
                    .push(PathBuf::from(&node.name).join("var/log").join(f));
            }
            if !unpacked.links.is_empty() {
                let text: String = unpacked
                    .links
                    .iter()
                    .map(|(p, to)| format!("/var/log/{} -> {to}\n", p.display()))
                    .collect();
                sink.write(VAR_LOG_LINKS_FILE, text.as_bytes());
            }
            for (entry, reason) in &unpacked.skipped {
                if VAR_LOG_SKIPPED.iter().any(|d| reason.starts_with(d)) {
                    continue; // by design, not a failure
                }
                sink.export.failures.push(LogFailure {
                    node: node.name.clone(),
                    item: "var/log".into(),
                    error: format!("skipped {entry}: {reason}"),
                });
            }
        }
        Err(e) => sink.fail("var/log", &e.to_string()),
    }
}

/// The container's log (stdout and stderr, as `docker logs` shows them).
pub async fn container_logs(engine: &Engine, container: &str) -> Result<Vec<u8>, String> {
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .build();
    let mut stream = engine.client().logs(container, Some(opts));
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => out.extend_from_slice(&chunk.into_bytes()),
            Err(e) => {
                return Err(format!(
                    "cannot read the logs of container {container}: {}",
                    root_cause(&e)
                ))
            }
        }
    }
    Ok(out)
}

struct Sink<'a> {
    root: &'a Path,
    node: &'a str,
    export: &'a mut LogExport,
    redact: Redactor,
}

impl Sink<'_> {
    fn write(&mut self, file: &str, bytes: &[u8]) {
        let rel = PathBuf::from(self.node).join(file);
        match std::fs::write(self.root.join(&rel), (self.redact)(bytes)) {
            Ok(()) => self.export.written.push(rel),
            Err(e) => self.export.failures.push(LogFailure {
                node: self.node.to_string(),
                item: file.to_string(),
                error: format!("cannot write {}: {e}", rel.display()),
            }),
        }
    }

    fn fail(&mut self, item: &str, error: &str) {
        self.export.failures.push(LogFailure {
            node: self.node.to_string(),
            item: item.to_string(),
            error: error.to_string(),
        });
        if item.is_empty() {
            return;
        }
        let note = PathBuf::from(self.node).join(format!("{}.error.txt", item.replace('/', "-")));
        let text = (self.redact)(format!("{error}\n").as_bytes());
        if std::fs::write(self.root.join(&note), text).is_ok() {
            self.export.written.push(note);
        }
    }
}
