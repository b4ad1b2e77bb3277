//! Loading an image archive (docker-archive or OCI tar) into every node of a cluster by
//! streaming it into `ctr --namespace=k8s.io images import ... -` over an exec's stdin,
//! reported per node.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::docker::{error_chain, Engine};
use crate::nodes::{self, Node};

/// The import command run in each node (what `kind load image-archive` runs, minus the
/// snapshotter flag, which defaults to the node's configured snapshotter).
pub const CTR_IMPORT_ARGV: &[&str] = &[
    "ctr",
    "--namespace=k8s.io",
    "images",
    "import",
    "--digests",
    "--all-platforms",
    "-",
];

/// Outcome of the import on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeImageLoad {
    /// Node (container) name.
    pub node: String,
    /// `true` when `ctr` exited 0.
    pub ok: bool,
    /// `ctr`'s exit code (`None` when the exec itself failed).
    pub exit_code: Option<i64>,
    /// `ctr`'s stdout (lists the imported images).
    pub stdout: String,
    /// `ctr`'s stderr, or the exec error.
    pub detail: String,
}

/// Per-node report of [`load_image_archive`], sorted by node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageLoadReport {
    /// Archive loaded.
    pub archive: PathBuf,
    /// One entry per node.
    pub nodes: Vec<NodeImageLoad>,
}

impl ImageLoadReport {
    /// Every node imported the archive.
    pub fn all_ok(&self) -> bool {
        !self.nodes.is_empty() && self.nodes.iter().all(|n| n.ok)
    }
}

/// The archive could not be opened (per-node failures are data in the report).
#[derive(Debug, thiserror::Error)]
#[error("cannot open image archive {path}: {source}")]
pub struct ImageArchiveError {
    /// Archive path.
    pub path: PathBuf,
    /// Underlying error.
    #[source]
    pub source: std::io::Error,
}

/// Stream the archive at `archive` into [`CTR_IMPORT_ARGV`] on every node in `nodes`, one after
/// the other; a node that fails does not stop the others.
pub async fn load_image_archive(
    engine: &Engine,
    nodes: &[Node],
    archive: &Path,
) -> Result<ImageLoadReport, ImageArchiveError> {
    load_image_archive_with(engine, nodes, archive, CTR_IMPORT_ARGV).await
}

/// [`load_image_archive`] with another import command (the archive is streamed to its stdin).
pub async fn load_image_archive_with(
    engine: &Engine,
    nodes: &[Node],
    archive: &Path,
    argv: &[&str],
) -> Result<ImageLoadReport, ImageArchiveError> {
    let open_err = |source| ImageArchiveError {
        path: archive.to_path_buf(),
        source,
    };
    // Fail early (before touching any node) when the archive is unreadable.
    tokio::fs::metadata(archive).await.map_err(open_err)?;
    let mut sorted: Vec<&Node> = nodes.iter().collect();
    sorted.sort();
    let mut report = ImageLoadReport {
        archive: archive.to_path_buf(),
        nodes: Vec::new(),
    };
    for node in sorted {
        let file = tokio::fs::File::open(archive).await.map_err(open_err)?;
        let entry = match nodes::exec_with_stdin(engine, &node.container_id, argv, file).await {
            Ok(out) => NodeImageLoad {
                node: node.name.clone(),
                ok: out.success(),
                exit_code: Some(out.exit_code),
                stdout: out.stdout_text(),
                detail: out.stderr_text(),
            },
            Err(e) => NodeImageLoad {
                node: node.name.clone(),
                ok: false,
                exit_code: None,
                stdout: String::new(),
                detail: error_chain(&e).join(": "),
            },
        };
        report.nodes.push(entry);
    }
    Ok(report)
}
