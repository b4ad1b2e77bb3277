//! The Docker layer against the real engine (no mocks): discovery, inspect, exec, log export,
//! image-archive load, guard teardown, verify_gone and gc. Each test builds its own image from a
//! busybox rootfs and its own `meshproof-test-<random>` cluster; the fixture removes everything
//! on drop. Without an engine the tests print SKIP and pass, unless MESHPROOF_REQUIRE_DOCKER=1.

use crate::common;

use std::sync::Arc;

use common::{test_cluster, unique, Fixture};
use meshproof_cluster::guard::{self, ClusterGuard, DockerTeardown, TeardownOutcome};
use meshproof_cluster::nodes::{self, ExecStep};
use meshproof_cluster::{gc, images, logs};

#[tokio::test]
async fn engine_info_reports_versions_and_cgroups() {
    let Some(fx) = Fixture::new("engine_info_reports_versions_and_cgroups").await else {
        return;
    };
    let info = fx.engine.info().await.unwrap();
    assert!(!info.server_version.is_empty());
    assert!(info.api_version.starts_with("1."), "{}", info.api_version);
    assert!(
        ["1", "2"].contains(&info.cgroup_version.as_str()),
        "{info:?}"
    );
    assert!(!info.cgroup_driver.is_empty());
    assert!(info.mem_total_bytes > 0);
    assert_eq!(info.host, fx.engine.host());
}

#[tokio::test]
async fn discovery_inspect_and_exec() {
    let Some(fx) = Fixture::new("discovery_inspect_and_exec").await else {
        return;
    };
    let cluster = test_cluster();
    let other = test_cluster();
    // Created out of order: discovery must sort by name.
    let worker = fx
        .node(&cluster, &format!("{cluster}-worker"), "worker")
        .await;
    let cp = fx
        .node(
            &cluster,
            &format!("{cluster}-control-plane"),
            "control-plane",
        )
        .await;
    fx.node(&other, &format!("{other}-control-plane"), "control-plane")
        .await;

    let found = nodes::list_nodes(&fx.engine, &cluster).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].name, format!("{cluster}-control-plane"));
    assert_eq!(found[0].role, "control-plane");
    assert_eq!(found[0].container_id, cp);
    assert_eq!(found[1].name, format!("{cluster}-worker"));
    assert_eq!(found[1].role, "worker");
    assert_eq!(found[1].container_id, worker);
    for n in &found {
        assert_eq!(n.state, "running");
        assert!(n.image_id.starts_with("sha256:"), "{}", n.image_id);
    }
    assert!(nodes::list_nodes(&fx.engine, "meshproof-test-none")
        .await
        .unwrap()
        .is_empty());

    let inspected = nodes::inspect(&fx.engine, &cp).await.unwrap();
    assert_eq!(
        inspected.name.as_deref(),
        Some(format!("/{cluster}-control-plane").as_str())
    );
    assert_eq!(
        inspected.config.unwrap().labels.unwrap()[meshproof_cluster::LABEL_CLUSTER],
        cluster
    );

    let out = nodes::exec(
        &fx.engine,
        &cp,
        &["sh", "-c", "echo out; echo err >&2; exit 3"],
    )
    .await
    .unwrap();
    assert_eq!(out.stdout_text(), "out\n");
    assert_eq!(out.stderr_text(), "err\n");
    assert_eq!(out.exit_code, 3);
    let out = nodes::exec(&fx.engine, &cp, &["cat", "/kind/version"])
        .await
        .unwrap();
    assert!(out.success());
    assert_eq!(out.stdout_text(), common::FAKE_K8S_VERSION);

    // Errors name the container and the step.
    let missing = format!("meshproof-test-missing-{}", unique());
    let err = nodes::exec(&fx.engine, &missing, &["true"])
        .await
        .unwrap_err();
    assert_eq!(err.step, ExecStep::Create);
    assert!(err.to_string().contains(&missing), "{err}");
    let err = nodes::inspect(&fx.engine, &missing).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot inspect container {missing}")),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let err = nodes::download(
        &fx.engine,
        &cp,
        "/no/such/path",
        dir.path(),
        nodes::UnpackFilter::default(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "cannot download /no/such/path from container {cp}"
        )),
        "{err}"
    );
}

/// A stand-in redactor: every file must have passed through it.
fn mark_redacted(b: &[u8]) -> Vec<u8> {
    let mut out = b"[redactor]".to_vec();
    out.extend_from_slice(b);
    out
}

#[tokio::test]
async fn log_export_writes_kind_layout_and_survives_failing_items() {
    let Some(fx) = Fixture::new("log_export_writes_kind_layout_and_survives_failing_items").await
    else {
        return;
    };
    let cluster = test_cluster();
    let cp_name = format!("{cluster}-control-plane");
    let w_name = format!("{cluster}-worker");
    fx.node(&cluster, &cp_name, "control-plane").await;
    let w = fx.node(&cluster, &w_name, "worker").await;
    // Break crictl on the worker: its images.log must fail alone.
    let out = nodes::exec(&fx.engine, &w, &["touch", "/tmp/crictl-broken"])
        .await
        .unwrap();
    assert!(out.success());

    let dir = tempfile::tempdir().unwrap();
    let export = logs::export_logs(&fx.engine, &cluster, dir.path(), mark_redacted)
        .await
        .unwrap();
    assert_eq!(export.nodes, vec![cp_name.clone(), w_name.clone()]);
    // Every file went through the redactor exactly once; `read` checks and strips the mark.
    let read = |rel: &str| {
        let text =
            std::fs::read_to_string(dir.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        text.strip_prefix("[redactor]")
            .unwrap_or_else(|| panic!("{rel} was not passed through the redactor"))
            .to_string()
    };
    for rel in &export.written {
        read(&rel.to_string_lossy());
    }
    for node in [&cp_name, &w_name] {
        assert!(read(&format!("{node}/serial.log")).contains(common::BOOT_MARKER));
        assert_eq!(
            read(&format!("{node}/kubernetes-version.txt")),
            common::FAKE_K8S_VERSION
        );
        assert_eq!(
            read(&format!("{node}/journal.log")),
            "fake-journal --no-pager\n"
        );
        assert_eq!(
            read(&format!("{node}/kubelet.log")),
            "fake-journal --no-pager -u kubelet.service\n"
        );
        assert_eq!(
            read(&format!("{node}/containerd.log")),
            "fake-journal --no-pager -u containerd.service\n"
        );
        let inspect: serde_json::Value =
            serde_json::from_str(&read(&format!("{node}/inspect.json"))).unwrap();
        assert_eq!(inspect["Name"], format!("/{node}"));
        assert_eq!(
            read(&format!("{node}/var/log/{}", common::POD_LOG_PATH)),
            common::POD_LOG
        );
        assert_eq!(
            read(&format!("{node}/{}", logs::VAR_LOG_LINKS_FILE)),
            format!(
                "/var/log/containers/pod1_ns1_app-uid1.log -> /var/log/{}\n",
                common::POD_LOG_PATH
            )
        );
        // Links are listed, never created.
        assert!(!dir
            .path()
            .join(format!("{node}/var/log/containers/pod1_ns1_app-uid1.log"))
            .exists());
    }
    assert!(read(&format!("{cp_name}/images.log")).contains("registry.k8s.io/pause"));
    assert_eq!(export.failures.len(), 1, "{:?}", export.failures);
    assert_eq!(export.failures[0].node, w_name);
    assert_eq!(export.failures[0].item, "images.log");
    assert!(export.failures[0]
        .error
        .contains("exited with code 1: crictl: runtime not ready"));
    assert!(read(&format!("{w_name}/images.log.error.txt")).contains("runtime not ready"));
    // `written` is sorted and lists what is on disk.
    let mut sorted = export.written.clone();
    sorted.sort();
    assert_eq!(export.written, sorted);
    for rel in &export.written {
        assert!(dir.path().join(rel).is_file(), "{}", rel.display());
    }
}

#[tokio::test]
async fn image_archive_is_streamed_into_every_node_with_its_snapshotter() {
    let Some(fx) =
        Fixture::new("image_archive_is_streamed_into_every_node_with_its_snapshotter").await
    else {
        return;
    };
    let cluster = test_cluster();
    fx.two_nodes(&cluster).await;
    // kind's haproxy container for clusters with several control planes: it carries the
    // cluster label but is not a node.
    let lb_name = format!("{cluster}-external-load-balancer");
    let lb = fx.node(&cluster, &lb_name, "external-load-balancer").await;
    let found = nodes::list_nodes(&fx.engine, &cluster).await.unwrap();
    assert_eq!(found.len(), 2, "the load balancer is not a node: {found:?}");
    let all = nodes::list_containers(&fx.engine, &cluster).await.unwrap();
    assert_eq!(all.len(), 3, "{all:?}");

    // 3 MiB of patterned bytes: larger than any single pipe/socket buffer.
    let payload: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    std::fs::write(&archive, &payload).unwrap();

    // Given every container (the load balancer too), it loads into the nodes only.
    let report = images::load_image_archive(&fx.engine, &all, &archive)
        .await
        .unwrap();
    assert!(report.all_ok(), "{report:?}");
    assert_eq!(report.nodes.len(), 2);
    assert_eq!(report.skipped, vec![lb_name.clone()]);
    assert_eq!(report.nodes[0].node, found[0].name);
    for (node, entry) in found.iter().zip(&report.nodes) {
        assert_eq!(entry.exit_code, Some(0));
        assert_eq!(entry.snapshotter, common::FAKE_SNAPSHOTTER);
        assert_eq!(entry.stdout, "unpacking fake image\n");
        let args = nodes::exec(&fx.engine, &node.container_id, &["cat", "/tmp/ctr-args"])
            .await
            .unwrap();
        // The snapshotter parsed from the node's `containerd config dump`.
        assert_eq!(
            args.stdout_text(),
            "--namespace=k8s.io images import --all-platforms --digests --snapshotter=native -\n"
        );
        let got = nodes::exec(
            &fx.engine,
            &node.container_id,
            &["cat", "/tmp/imported.tar"],
        )
        .await
        .unwrap();
        assert_eq!(
            got.stdout.len(),
            payload.len(),
            "bytes that arrived in {}",
            node.name
        );
        assert!(got.stdout == payload, "content differs in {}", node.name);
    }
    // Nothing ran in the load balancer.
    let lb_args = nodes::exec(&fx.engine, &lb, &["cat", "/tmp/ctr-args"])
        .await
        .unwrap();
    assert!(!lb_args.success(), "ctr ran in the load balancer");

    // A failing import, or a containerd config that cannot be read, is reported per node.
    let (cp, worker) = (&found[0], &found[1]);
    nodes::exec(&fx.engine, &cp.container_id, &["touch", "/tmp/ctr-broken"])
        .await
        .unwrap();
    nodes::exec(
        &fx.engine,
        &worker.container_id,
        &["touch", "/tmp/containerd-broken"],
    )
    .await
    .unwrap();
    let report = images::load_image_archive(&fx.engine, &found, &archive)
        .await
        .unwrap();
    assert!(!report.all_ok());
    assert_eq!(report.nodes[0].exit_code, Some(2));
    assert_eq!(report.nodes[0].detail, "nope\n");
    assert_eq!(report.nodes[1].exit_code, None);
    assert_eq!(report.nodes[1].snapshotter, "");
    assert_eq!(
        report.nodes[1].detail,
        format!(
            "`containerd config dump` in {} exited with code 1: containerd: cannot load config",
            worker.name
        )
    );

    let err = images::load_image_archive(&fx.engine, &found, &dir.path().join("missing.tar"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("cannot open image archive"),
        "{err}"
    );
}

/// Every node imports at the same time: each node's `ctr` holds until the test releases it, and
/// the test releases nothing before both have started — a load that went node by node would
/// never have the second node's `ctr` running while the first one waits.
#[tokio::test]
async fn an_image_archive_is_loaded_into_every_node_at_once() {
    let Some(fx) = Fixture::new("an_image_archive_is_loaded_into_every_node_at_once").await else {
        return;
    };
    let cluster = test_cluster();
    fx.two_nodes(&cluster).await;
    let found = nodes::list_nodes(&fx.engine, &cluster).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    for n in &found {
        nodes::exec(&fx.engine, &n.container_id, &["touch", "/tmp/ctr-hold"])
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    std::fs::write(&archive, b"a small fake image").unwrap();

    let load = images::load_image_archive(&fx.engine, &found, &archive);
    let watch = async {
        // Both `ctr`s are started and held; bounded well below the fake's own 60 s hold.
        for _ in 0..150 {
            let mut started = 0;
            for n in &found {
                let out = nodes::exec(&fx.engine, &n.container_id, &["ls", "/tmp/ctr-started"])
                    .await
                    .unwrap();
                started += usize::from(out.success());
            }
            if started == found.len() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let mut started = Vec::new();
        for n in &found {
            let out = nodes::exec(&fx.engine, &n.container_id, &["ls", "/tmp/ctr-started"])
                .await
                .unwrap();
            started.push((n.name.clone(), out.success()));
        }
        for n in &found {
            nodes::exec(&fx.engine, &n.container_id, &["touch", "/tmp/ctr-release"])
                .await
                .unwrap();
        }
        started
    };
    let (report, started) = tokio::join!(load, watch);
    assert!(
        started.iter().all(|(_, s)| *s),
        "not every node's import was running at once: {started:?}"
    );
    let report = report.unwrap();
    assert!(report.all_ok(), "{report:?}");
    let names: Vec<&str> = report.nodes.iter().map(|n| n.node.as_str()).collect();
    let expected: Vec<&str> = found.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, expected, "the report keeps node order");
}

#[tokio::test]
async fn a_failed_create_is_exported_by_label_and_redacted() {
    let Some(fx) = Fixture::new("a_failed_create_is_exported_by_label_and_redacted").await else {
        return;
    };
    // What `kind create --retain` leaves when kubeadm fails: a stopped control plane and a
    // load balancer, found by the cluster label only.
    let cluster = test_cluster();
    let cp_name = format!("{cluster}-control-plane");
    let lb_name = format!("{cluster}-external-load-balancer");
    let cp = fx.node(&cluster, &cp_name, "control-plane").await;
    fx.node(&cluster, &lb_name, "external-load-balancer").await;
    let secret =
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
    let out = nodes::exec(
        &fx.engine,
        &cp,
        &[
            "sh",
            "-c",
            &format!("printf '%s\\n' '{secret}' > /var/log/leak.log"),
        ],
    )
    .await
    .unwrap();
    assert!(out.success(), "{}", out.stderr_text());
    fx.engine
        .client()
        .stop_container(&cp, None::<bollard::query_parameters::StopContainerOptions>)
        .await
        .unwrap();

    fn redact(b: &[u8]) -> Vec<u8> {
        String::from_utf8_lossy(b)
            .replace("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "[REDACTED]")
            .into_bytes()
    }
    let dir = tempfile::tempdir().unwrap();
    let export = logs::export_logs(&fx.engine, &cluster, dir.path(), redact)
        .await
        .unwrap();
    assert_eq!(export.nodes, vec![cp_name.clone(), lb_name.clone()]);
    // The stopped node: its serial log, inspect and /var/log (archive API works on stopped
    // containers), redacted; exec items fail and are recorded.
    let leak = std::fs::read_to_string(dir.path().join(&cp_name).join("var/log/leak.log")).unwrap();
    assert!(
        leak.contains("[REDACTED]") && !leak.contains("MIIEvQ"),
        "{leak}"
    );
    assert!(
        std::fs::read_to_string(dir.path().join(&cp_name).join("serial.log"))
            .unwrap()
            .contains(common::BOOT_MARKER)
    );
    assert!(export
        .failures
        .iter()
        .any(|f| f.node == cp_name && f.item == "journal.log"));
    // The load balancer: serial log and inspect only, nothing exec'd.
    let lb_files: Vec<String> = export
        .written
        .iter()
        .filter(|p| p.starts_with(&lb_name))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        lb_files,
        vec![
            format!("{lb_name}/inspect.json"),
            format!("{lb_name}/serial.log")
        ]
    );
    assert!(
        export.failures.iter().all(|f| f.node != lb_name),
        "{:?}",
        export.failures
    );
}

#[tokio::test]
async fn guard_deletes_on_drop_and_verify_gone_is_empty() {
    let Some(fx) = Fixture::new("guard_deletes_on_drop_and_verify_gone_is_empty").await else {
        return;
    };
    let cluster = test_cluster();
    let cp = fx
        .node(
            &cluster,
            &format!("{cluster}-control-plane"),
            "control-plane",
        )
        .await;
    let fp = guard::footprint(&fx.engine, &cluster).await.unwrap();
    assert_eq!(fp.containers, vec![cp.clone()]);
    assert_eq!(fp.volumes.len(), 1, "the anonymous /var volume: {fp:?}");
    assert!(!guard::verify_gone(&fx.engine, &fp)
        .await
        .unwrap()
        .is_empty());
    {
        let _guard = ClusterGuard::new(
            cluster.clone(),
            Arc::new(DockerTeardown::new(fx.engine.clone())),
            false,
        );
        // The run ends here: dropping the guard deletes the cluster.
    }
    let left = guard::verify_gone(&fx.engine, &fp).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert!(!fx.exists(&cp).await);
}

#[tokio::test]
async fn guard_deletes_on_injected_error_and_keeps_when_asked() {
    let Some(fx) = Fixture::new("guard_deletes_on_injected_error_and_keeps_when_asked").await
    else {
        return;
    };
    let cluster = test_cluster();
    fx.node(
        &cluster,
        &format!("{cluster}-control-plane"),
        "control-plane",
    )
    .await;
    let fp = guard::footprint(&fx.engine, &cluster).await.unwrap();

    fn run(cluster: &str, teardown: Arc<DockerTeardown>) -> Result<(), String> {
        let _guard = ClusterGuard::new(cluster, teardown, false);
        Err("injected failure in the middle of a run".to_string())?;
        Ok(())
    }
    let teardown = Arc::new(DockerTeardown::new(fx.engine.clone()));
    assert!(run(&cluster, teardown.clone()).is_err());
    let left = guard::verify_gone(&fx.engine, &fp).await.unwrap();
    assert!(left.is_empty(), "{left:?}");

    // keep: nothing is deleted.
    let kept = test_cluster();
    let id = fx
        .node(&kept, &format!("{kept}-control-plane"), "control-plane")
        .await;
    {
        let g = ClusterGuard::new(kept.clone(), teardown.clone(), true);
        assert_eq!(g.teardown().unwrap(), TeardownOutcome::Kept);
    }
    assert!(fx.exists(&id).await);
    // Explicit teardown reports what it did, once.
    let g = ClusterGuard::new(kept.clone(), teardown, false);
    assert_eq!(g.teardown().unwrap(), TeardownOutcome::Deleted);
    assert_eq!(g.teardown().unwrap(), TeardownOutcome::AlreadyDone);
    assert!(!fx.exists(&id).await);
}

#[tokio::test]
async fn gc_removes_only_meshproof_leftovers() {
    let Some(fx) = Fixture::new("gc_removes_only_meshproof_leftovers").await else {
        return;
    };
    let ours = test_cluster();
    let foreign = format!("kind-test-{}", unique());
    let a = fx
        .node(&ours, &format!("{ours}-control-plane"), "control-plane")
        .await;
    let b = fx.node(&ours, &format!("{ours}-worker"), "worker").await;
    let f = fx
        .node(
            &foreign,
            &format!("{foreign}-control-plane"),
            "control-plane",
        )
        .await;
    let fp = guard::footprint(&fx.engine, &ours).await.unwrap();
    assert_eq!(fp.volumes.len(), 2);

    let mut plan = gc::plan(&fx.engine).await.unwrap();
    assert!(
        plan.clusters
            .iter()
            .all(|c| c.name.starts_with("meshproof-")),
        "{plan:?}"
    );
    assert!(!plan.clusters.iter().any(|c| c.name == foreign));
    // Other tests run concurrently with their own meshproof-test-* clusters: act on ours only.
    plan.clusters.retain(|c| c.name == ours);
    assert_eq!(plan.clusters.len(), 1);
    let leftover = &plan.clusters[0];
    assert_eq!(
        leftover
            .containers
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>(),
        vec![format!("{ours}-control-plane"), format!("{ours}-worker")]
    );
    assert_eq!(leftover.volumes, fp.volumes);

    // A hand-made plan naming a foreign cluster is not acted on.
    let mut hostile = plan.clone();
    hostile.clusters[0].name = foreign.clone();
    hostile.clusters[0].containers[0].id = f.clone();
    let report = gc::apply(&fx.engine, &hostile).await;
    assert!(report.removed_containers.is_empty());
    assert!(fx.exists(&f).await);

    let report = gc::apply(&fx.engine, &plan).await;
    assert!(report.failures.is_empty(), "{report:?}");
    assert_eq!(report.removed_containers.len(), 2);
    assert_eq!(report.removed_volumes, fp.volumes);
    assert!(!fx.exists(&a).await);
    assert!(!fx.exists(&b).await);
    assert!(
        fx.exists(&f).await,
        "the non-meshproof kind container must survive"
    );
    assert!(guard::verify_gone(&fx.engine, &fp)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn preflight_against_the_real_engine() {
    let Some(fx) = Fixture::new("preflight_against_the_real_engine").await else {
        return;
    };
    use meshproof_cluster::preflight::{self, PreflightInput, Status};
    let input = PreflightInput {
        docker_host: Some(fx.engine.host().to_string()),
        tools: vec![],
        ..PreflightInput::default()
    };
    let checks = preflight::run_checks(&input).await;
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "docker-engine",
            "docker-version",
            "cgroups",
            "memory",
            "disk",
            "inotify",
            "leftover-clusters"
        ]
    );
    assert_eq!(checks[0].status, Status::Ok);
    for c in &checks {
        assert!(
            c.status == Status::Ok || c.fix.is_some(),
            "a non-ok check needs a fix: {c:?}"
        );
    }
}
