//! Loading an image archive (docker-archive or OCI tar) into every Kubernetes node of a cluster
//! the way `kind load image-archive` does it since kind v0.12: read the node's containerd
//! snapshotter from `containerd config dump`, then stream the archive into
//! `ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=<it> -` over an
//! exec's stdin, reported per node. The external load balancer is never touched.
//!
//! Why the snapshotter matters: kind's node entrypoint switches containerd from `overlayfs` to
//! `native` on ZFS and to `fuse-overlayfs` on fuseblk or rootless hosts
//! (`images/base/files/usr/local/bin/entrypoint` at kind v0.32.0); an import without the flag
//! unpacks into the default snapshotter, which the CRI does not use there. kind's own loader
//! (`pkg/cluster/nodeutils/util.go`, `LoadImageArchive`/`parseSnapshotter`) passes it since
//! v0.12.0; at v0.11.1 it ran a bare `ctr images import -`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::docker::{error_chain, Engine};
use crate::nodes::{self, Node};

/// The command that prints the node's effective containerd configuration (TOML).
pub const CONTAINERD_CONFIG_DUMP: &[&str] = &["containerd", "config", "dump"];

/// The import command run in each node, before `--snapshotter=<name>` and `-` (stdin) are
/// appended (what `kind load image-archive` runs at kind v0.32.0).
pub const CTR_IMPORT_ARGV: &[&str] = &[
    "ctr",
    "--namespace=k8s.io",
    "images",
    "import",
    "--all-platforms",
    "--digests",
];

/// The full import command for a node whose containerd uses `snapshotter`.
pub fn ctr_import_argv(snapshotter: &str) -> Vec<String> {
    CTR_IMPORT_ARGV
        .iter()
        .map(|s| (*s).to_string())
        .chain([format!("--snapshotter={snapshotter}"), "-".to_string()])
        .collect()
}

/// `containerd config dump` could not be read for a snapshotter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotterError {
    /// Not TOML.
    #[error("`containerd config dump` printed no valid TOML: {0}")]
    Toml(String),
    /// The config version is missing or not one kind knows.
    #[error("containerd config version {0} is not supported (kind reads versions 2, 3 and 4)")]
    Version(String),
    /// The key for this config version is missing.
    #[error("containerd config version {version} has no snapshotter at {key}")]
    Missing {
        /// Config version.
        version: i64,
        /// Where it was looked for.
        key: &'static str,
    },
}

/// The CRI snapshotter of a containerd config as `containerd config dump` prints it: config
/// version 2 (containerd 1.3 and later) keeps it at
/// `plugins."io.containerd.grpc.v1.cri".containerd.snapshotter`, versions 3 and 4 (containerd
/// 2.0 / 2.1) at `plugins."io.containerd.cri.v1.images".snapshotter` — the same rules as kind
/// v0.32.0's `parseSnapshotter`.
pub fn parse_snapshotter(config_dump: &str) -> Result<String, SnapshotterError> {
    let doc: toml::Table =
        toml::from_str(config_dump).map_err(|e| SnapshotterError::Toml(e.message().to_string()))?;
    let version = match doc.get("version") {
        Some(toml::Value::Integer(v)) => *v,
        Some(other) => return Err(SnapshotterError::Version(other.to_string())),
        None => return Err(SnapshotterError::Version("(none)".to_string())),
    };
    let (path, key): (&[&str], &'static str) = match version {
        2 => (
            &[
                "plugins",
                "io.containerd.grpc.v1.cri",
                "containerd",
                "snapshotter",
            ],
            "plugins.\"io.containerd.grpc.v1.cri\".containerd.snapshotter",
        ),
        3 | 4 => (
            &["plugins", "io.containerd.cri.v1.images", "snapshotter"],
            "plugins.\"io.containerd.cri.v1.images\".snapshotter",
        ),
        other => return Err(SnapshotterError::Version(other.to_string())),
    };
    let mut cur = doc.get(path[0]);
    for part in &path[1..] {
        cur = cur.and_then(|v| v.get(part));
    }
    match cur.and_then(toml::Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(SnapshotterError::Missing { version, key }),
    }
}

/// Outcome of the import on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeImageLoad {
    /// Node (container) name.
    pub node: String,
    /// `true` when `ctr` exited 0.
    pub ok: bool,
    /// The snapshotter read from the node's containerd config (empty when it could not be read).
    pub snapshotter: String,
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
    /// One entry per Kubernetes node.
    pub nodes: Vec<NodeImageLoad>,
    /// Containers of the cluster that are not Kubernetes nodes (the external load balancer):
    /// left alone.
    pub skipped: Vec<String>,
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

/// Load the archive at `archive` into every Kubernetes node in `nodes` (others, such as the
/// external load balancer, are skipped and listed), all nodes at once: read each node's
/// snapshotter, then stream the archive into [`ctr_import_argv`]. A node that fails does not
/// stop the others; the report lists the nodes in name order.
pub async fn load_image_archive(
    engine: &Engine,
    nodes: &[Node],
    archive: &Path,
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
        skipped: Vec::new(),
    };
    let (kube_nodes, others): (Vec<&Node>, Vec<&Node>) =
        sorted.into_iter().partition(|n| n.is_kubernetes_node());
    report.skipped = others.into_iter().map(|n| n.name.clone()).collect();
    // Every node at once (each streams its own read of the archive); the report keeps node order.
    let loads = kube_nodes.into_iter().map(|node| async move {
        Ok::<_, ImageArchiveError>(match node_snapshotter(engine, node).await {
            Ok(snapshotter) => {
                let file = tokio::fs::File::open(archive).await.map_err(open_err)?;
                import(engine, node, &snapshotter, file).await
            }
            Err(detail) => NodeImageLoad {
                node: node.name.clone(),
                ok: false,
                snapshotter: String::new(),
                exit_code: None,
                stdout: String::new(),
                detail,
            },
        })
    });
    report.nodes = futures_util::future::join_all(loads)
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    Ok(report)
}

/// The snapshotter of `node`'s containerd, or why it could not be read.
async fn node_snapshotter(engine: &Engine, node: &Node) -> Result<String, String> {
    let what = format!("`{}`", CONTAINERD_CONFIG_DUMP.join(" "));
    match nodes::exec(engine, &node.container_id, CONTAINERD_CONFIG_DUMP).await {
        Ok(out) if out.success() => parse_snapshotter(&out.stdout_text())
            .map_err(|e| format!("cannot tell the snapshotter of {}: {e}", node.name)),
        Ok(out) => Err(format!(
            "{what} in {} exited with code {}: {}",
            node.name,
            out.exit_code,
            out.stderr_text().trim()
        )),
        Err(e) => Err(error_chain(&e).join(": ")),
    }
}

async fn import(
    engine: &Engine,
    node: &Node,
    snapshotter: &str,
    archive: tokio::fs::File,
) -> NodeImageLoad {
    let argv = ctr_import_argv(snapshotter);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    match nodes::exec_with_stdin(engine, &node.container_id, &argv, archive).await {
        Ok(out) => NodeImageLoad {
            node: node.name.clone(),
            ok: out.success(),
            snapshotter: snapshotter.to_string(),
            exit_code: Some(out.exit_code),
            stdout: out.stdout_text(),
            detail: out.stderr_text(),
        },
        Err(e) => NodeImageLoad {
            node: node.name.clone(),
            ok: false,
            snapshotter: snapshotter.to_string(),
            exit_code: None,
            stdout: String::new(),
            detail: error_chain(&e).join(": "),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of `containerd config dump` in a kind node (config version 2; trimmed to the
    /// CRI plugin), with the snapshotter the entrypoint switches to on ZFS.
    const DUMP_V2: &str = r#"disabled_plugins = []
imports = ["/etc/containerd/config.toml"]
oom_score = 0
root = "/var/lib/containerd"
state = "/run/containerd"
version = 2

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins]

  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.7"

    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"
      discard_unpacked_layers = true
      snapshotter = "native"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
"#;

    /// containerd 2.x (config version 3) on a rootless host: fuse-overlayfs.
    const DUMP_V3: &str = r#"version = 3
root = "/var/lib/containerd"

[plugins]
  [plugins."io.containerd.cri.v1.images"]
    snapshotter = "fuse-overlayfs"
    discard_unpacked_layers = true

  [plugins."io.containerd.cri.v1.runtime"]
    enable_selinux = false
"#;

    #[test]
    fn snapshotter_is_read_per_config_version() {
        assert_eq!(parse_snapshotter(DUMP_V2).unwrap(), "native");
        assert_eq!(parse_snapshotter(DUMP_V3).unwrap(), "fuse-overlayfs");
        assert_eq!(
            parse_snapshotter(&DUMP_V3.replace("version = 3", "version = 4")).unwrap(),
            "fuse-overlayfs"
        );
        assert_eq!(
            ctr_import_argv("native").join(" "),
            "ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=native -"
        );
    }

    #[test]
    fn unreadable_configs_are_errors_not_a_default() {
        assert_eq!(
            parse_snapshotter("root = \"/x\"\n").unwrap_err(),
            SnapshotterError::Version("(none)".into())
        );
        assert_eq!(
            parse_snapshotter("version = 9\n").unwrap_err().to_string(),
            "containerd config version 9 is not supported (kind reads versions 2, 3 and 4)"
        );
        assert_eq!(
            parse_snapshotter("version = 2\n[plugins]\n").unwrap_err().to_string(),
            "containerd config version 2 has no snapshotter at plugins.\"io.containerd.grpc.v1.cri\".containerd.snapshotter"
        );
        // v2 key in a v3 config: not taken.
        assert!(matches!(
            parse_snapshotter(&DUMP_V2.replace("version = 2", "version = 3")),
            Err(SnapshotterError::Missing { version: 3, .. })
        ));
        assert!(matches!(
            parse_snapshotter("version = [").unwrap_err(),
            SnapshotterError::Toml(_)
        ));
    }
}
