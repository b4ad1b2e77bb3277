//! Shared fixture for the tests that run against the real Docker engine: builds a tiny image
//! from a rootfs tarball made on the spot (static busybox plus fake kind-node tools), creates
//! containers carrying kind's labels, and removes everything it created when dropped — also
//! when the test fails.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use futures_util::StreamExt;
use meshproof_cluster::{docker, Engine, LABEL_CLUSTER, LABEL_ROLE};

/// Where the static busybox comes from (`apt-get install busybox-static`); override with
/// `MESHPROOF_TEST_BUSYBOX`.
pub const BUSYBOX: &str = "/bin/busybox";

/// Marker the fake node prints on start (checked in `serial.log`).
pub const BOOT_MARKER: &str = "fake-node-booted";
/// Content of the fake `/kind/version`.
pub const FAKE_K8S_VERSION: &str = "v1.36.1-fake\n";
/// A pod log inside the fake node's `/var/log`.
pub const POD_LOG_PATH: &str = "pods/ns1_pod1_uid1/app/0.log";
/// Its content.
pub const POD_LOG: &str = "pod log line 1\npod log line 2\n";

// Fake tools: kind's node image has journalctl, crictl and ctr; the test image has shell
// scripts with the same names so the collectors call something real and the assertions
// can check exactly what was run.
const FAKE_JOURNALCTL: &str =
    "#!/bin/sh\n# fake journalctl: echoes its arguments\necho \"fake-journal $*\"\n";
const FAKE_CRICTL: &str = "#!/bin/sh\n# fake crictl: lists one image, or fails when /tmp/crictl-broken exists\nif [ -f /tmp/crictl-broken ]; then echo 'crictl: runtime not ready' >&2; exit 1; fi\necho 'IMAGE                     TAG    IMAGE ID   SIZE'\necho 'registry.k8s.io/pause     3.10   873ed7510   320kB'\n";
const FAKE_CTR: &str = "#!/bin/sh\n# fake ctr: records its arguments and stores stdin, or fails when /tmp/ctr-broken exists; with /tmp/ctr-hold it marks /tmp/ctr-started and waits (at most 60 s) for /tmp/ctr-release\necho \"$*\" > /tmp/ctr-args\nif [ -f /tmp/ctr-hold ]; then touch /tmp/ctr-started; i=0; while [ ! -f /tmp/ctr-release ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done; fi\nif [ -f /tmp/ctr-broken ]; then cat >/dev/null; echo nope >&2; exit 2; fi\ncat > /tmp/imported.tar\necho \"unpacking fake image\"\n";
/// The snapshotter the fake node's `containerd config dump` reports (not containerd's default
/// `overlayfs`, so a test can tell it was read).
pub const FAKE_SNAPSHOTTER: &str = "native";
const FAKE_CONTAINERD: &str = "#!/bin/sh\n# fake containerd: `config dump` prints a kind node's config (version 2), or fails when /tmp/containerd-broken exists\nif [ \"$1 $2\" != \"config dump\" ]; then echo \"unexpected: $*\" >&2; exit 64; fi\nif [ -f /tmp/containerd-broken ]; then echo 'containerd: cannot load config' >&2; exit 1; fi\necho 'version = 2'\necho 'root = \"/var/lib/containerd\"'\necho '[plugins]'\necho '  [plugins.\"io.containerd.grpc.v1.cri\"]'\necho '    [plugins.\"io.containerd.grpc.v1.cri\".containerd]'\necho '      default_runtime_name = \"runc\"'\necho '      snapshotter = \"native\"'\n";

/// Random-enough lowercase hex for unique names.
pub fn unique() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    format!("{:016x}", h.finish())[..10].to_string()
}

/// A fresh meshproof test cluster name.
pub fn test_cluster() -> String {
    format!("meshproof-test-{}", unique())
}

fn rootfs_tar() -> Vec<u8> {
    let busybox_path = std::env::var("MESHPROOF_TEST_BUSYBOX").unwrap_or_else(|_| BUSYBOX.into());
    let busybox = std::fs::read(&busybox_path).unwrap_or_else(|e| {
        panic!("cannot read a static busybox at {busybox_path}: {e} — install it (`apt-get install busybox-static`) or set MESHPROOF_TEST_BUSYBOX")
    });
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        b.append_data(&mut h, path, std::io::empty()).unwrap();
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    };
    let link = |b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        b.append_link(&mut h, path, target).unwrap();
    };
    for d in [
        "bin",
        "dev",
        "etc",
        "proc",
        "sys",
        "usr",
        "usr/bin",
        "usr/local",
        "usr/local/bin",
        "kind",
        "var",
        "var/log",
        "var/log/pods",
        "var/log/pods/ns1_pod1_uid1",
        "var/log/pods/ns1_pod1_uid1/app",
        "var/log/containers",
    ] {
        dir(&mut b, d, 0o755);
    }
    dir(&mut b, "tmp", 0o1777);
    file(&mut b, "bin/busybox", 0o755, &busybox);
    for applet in [
        "sh", "cat", "echo", "sleep", "ls", "mkdir", "touch", "true", "false", "wc", "md5sum", "rm",
    ] {
        link(&mut b, &format!("bin/{applet}"), "busybox");
    }
    file(
        &mut b,
        "usr/bin/journalctl",
        0o755,
        FAKE_JOURNALCTL.as_bytes(),
    );
    file(&mut b, "usr/bin/crictl", 0o755, FAKE_CRICTL.as_bytes());
    file(&mut b, "usr/local/bin/ctr", 0o755, FAKE_CTR.as_bytes());
    file(
        &mut b,
        "usr/local/bin/containerd",
        0o755,
        FAKE_CONTAINERD.as_bytes(),
    );
    file(&mut b, "kind/version", 0o644, FAKE_K8S_VERSION.as_bytes());
    file(
        &mut b,
        &format!("var/log/{POD_LOG_PATH}"),
        0o644,
        POD_LOG.as_bytes(),
    );
    link(
        &mut b,
        "var/log/containers/pod1_ns1_app-uid1.log",
        &format!("/var/log/{POD_LOG_PATH}"),
    );
    b.into_inner().unwrap()
}

/// A Docker engine, a freshly imported test image, and everything created with them.
pub struct Fixture {
    pub engine: Engine,
    pub image: String,
    containers: Mutex<Vec<String>>,
}

impl Fixture {
    /// `None` (after printing why) when no engine answers, unless `MESHPROOF_REQUIRE_DOCKER=1`.
    pub async fn new(test: &str) -> Option<Self> {
        let engine = docker::engine_for_tests(test).await?;
        let tag = unique();
        let image = format!("meshproof-test-rootfs:{tag}");
        let fixture = Self {
            engine,
            image: image.clone(),
            containers: Mutex::new(Vec::new()),
        };
        let opts = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo("meshproof-test-rootfs")
            .tag(&tag)
            .build();
        let mut stream = fixture.engine.client().create_image(
            Some(opts),
            Some(bollard::body_full(rootfs_tar().into())),
            None,
        );
        while let Some(item) = stream.next().await {
            item.unwrap_or_else(|e| panic!("importing the test rootfs as {image} failed: {e}"));
        }
        Some(fixture)
    }

    /// A kind-like cluster of a control plane and a worker (`<cluster>-control-plane`,
    /// `<cluster>-worker`); returns their container ids in that order.
    pub async fn two_nodes(&self, cluster: &str) -> [String; 2] {
        [
            self.node(
                cluster,
                &format!("{cluster}-control-plane"),
                "control-plane",
            )
            .await,
            self.node(cluster, &format!("{cluster}-worker"), "worker")
                .await,
        ]
    }

    /// Create and start a container named `name` in `cluster` with kind's labels (a fake
    /// node: prints [`BOOT_MARKER`], then sleeps), with an anonymous `/var` volume like kind's
    /// nodes. Returns the container id.
    pub async fn node(&self, cluster: &str, name: &str, role: &str) -> String {
        let labels = HashMap::from([
            (LABEL_CLUSTER.to_string(), cluster.to_string()),
            (LABEL_ROLE.to_string(), role.to_string()),
        ]);
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("echo {BOOT_MARKER}; while true; do sleep 1; done"),
            ]),
            env: Some(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ]),
            labels: Some(labels),
            volumes: Some(vec!["/var".into()]),
            host_config: Some(HostConfig::default()),
            ..Default::default()
        };
        let created = self
            .engine
            .client()
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(name).build()),
                body,
            )
            .await
            .unwrap_or_else(|e| panic!("creating container {name}: {e}"));
        self.containers.lock().unwrap().push(created.id.clone());
        self.engine
            .client()
            .start_container(&created.id, None)
            .await
            .unwrap_or_else(|e| panic!("starting container {name}: {e}"));
        // Wait (bounded) until the boot marker is in the container's log.
        for _ in 0..50 {
            let log = meshproof_cluster::logs::container_logs(&self.engine, &created.id)
                .await
                .unwrap();
            if String::from_utf8_lossy(&log).contains(BOOT_MARKER) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        created.id
    }

    /// Whether a container exists.
    pub async fn exists(&self, id: &str) -> bool {
        self.engine
            .client()
            .inspect_container(id, None)
            .await
            .is_ok()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let engine = self.engine.clone();
        let containers = std::mem::take(&mut *self.containers.lock().unwrap());
        let image = self.image.clone();
        // Drop cannot await, and may run inside the test's runtime: use a private one.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let rm = RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build();
                for id in containers {
                    let _ = engine
                        .client()
                        .remove_container(&id, Some(rm.clone()))
                        .await;
                }
                let _ = engine
                    .client()
                    .remove_image(
                        &image,
                        Some(RemoveImageOptionsBuilder::default().force(true).build()),
                        None,
                    )
                    .await;
            });
        })
        .join()
        .ok();
        let _ = std::io::stderr().flush();
    }
}
