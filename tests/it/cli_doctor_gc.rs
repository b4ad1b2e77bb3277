//! `meshproof doctor` and `meshproof gc` through the real binary: a missing engine (exit 4 with
//! the socket and the root cause), tool versions against the pins' ranges (fake tools on an
//! explicit PATH), and — when a Docker engine answers — the real engine, with leftover
//! meshproof "clusters" made of containers from a busybox rootfs imported on the spot.

// The provider crate's Docker fixture: busybox rootfs imported as an image, containers with
// kind's labels, everything removed on drop (also when a test fails).
use crate::docker_fixture;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use docker_fixture::{test_cluster, unique, Fixture};

const MISSING_SOCKET: &str = "unix:///nonexistent/docker.sock";
const NO_SUCH_FILE: &str = "No such file or directory (os error 2)";

/// The binary with the repository's catalog, a given Docker address and an explicit PATH, so
/// results do not depend on what this machine has installed.
fn meshproof(docker_host: &str, path: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("meshproof").unwrap();
    c.env("DOCKER_HOST", docker_host)
        .env("PATH", path)
        // Nothing cached: what `doctor` says about a provided kind does not depend on this host.
        .env("XDG_CACHE_HOME", path.join("cache"))
        .env_remove("MESHPROOF_HOME")
        .arg("--root")
        .arg(env!("CARGO_MANIFEST_DIR"));
    c
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut assert_cmd::Command) -> Ran {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    // The first line names the inputs root (tests/it/cli_ux.rs checks it); the rest is doctor's.
    let root = format!("inputs: {} (from --root)\n", env!("CARGO_MANIFEST_DIR"));
    Ran {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: stderr.strip_prefix(&root).unwrap_or(&stderr).to_string(),
    }
}

/// The doctor line of check `name`, split into (status, detail).
fn check_line<'a>(stdout: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    stdout.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        let status = parts.next()?;
        if !["ok", "warn", "FAIL"].contains(&status) || parts.next()? != name {
            return None;
        }
        let after_name = &l[l.find(name)? + name.len()..];
        Some((status, after_name.trim()))
    })
}

/// The line that follows check `name`'s line, when it is a fix line.
fn fix_line<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    let lines: Vec<&str> = stdout.lines().collect();
    let i = lines.iter().position(|l| {
        let mut p = l.split_whitespace();
        p.next().is_some() && p.next() == Some(name)
    })?;
    lines.get(i + 1)?.strip_prefix("      fix: ")
}

/// An executable shell script standing in for a tool that prints `version_output`.
fn fake_tool(dir: &Path, name: &str, version_output: &str) {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\necho '{version_output}'\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn doctor_without_engine_names_socket_and_root_cause() {
    let empty = tempfile::tempdir().unwrap();
    let r = run(meshproof(MISSING_SOCKET, empty.path()).arg("doctor"));
    assert_eq!(r.code, 4, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);

    let (status, detail) = check_line(&r.stdout, "docker-engine").expect(&r.stdout);
    assert_eq!(status, "FAIL");
    assert_eq!(
        detail,
        format!("cannot reach the Docker engine at {MISSING_SOCKET}: {NO_SUCH_FILE} — start Docker or set DOCKER_HOST")
    );
    assert!(fix_line(&r.stdout, "docker-engine")
        .expect(&r.stdout)
        .contains("DOCKER_HOST"));
    // Without an engine, no engine facts are claimed.
    assert!(
        check_line(&r.stdout, "docker-version").is_none(),
        "{}",
        r.stdout
    );
    assert!(check_line(&r.stdout, "leftover-clusters").is_none());
    // The tools are still checked; kind is missing but the default pin's release is provided.
    let (kind, detail) = check_line(&r.stdout, "kind").expect(&r.stdout);
    assert_eq!(kind, "ok");
    assert!(detail.starts_with("the run downloads kind v0.32.0 from https://github.com/kubernetes-sigs/kind/releases/download/v0.32.0/kind-"), "{detail}");
    assert!(detail.ends_with("; kind on PATH: not found"), "{detail}");

    assert!(
        r.stderr
            .starts_with("error: preflight failed (2): docker-engine, kubectl\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "docker-engine: cannot reach the Docker engine at {MISSING_SOCKET}: {NO_SUCH_FILE}"
        )),
        "{}",
        r.stderr
    );
    // docker-engine, kubectl (FAIL), kind (ok: provided) and helm (warn: no helm-installed mesh).
    assert!(
        r.stdout.ends_with("\n4 checks: 1 ok, 1 warn, 2 failed\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn doctor_checks_tool_versions_against_the_pins() {
    let bin = tempfile::tempdir().unwrap();
    fake_tool(bin.path(), "kind", "kind v0.31.0 go1.24.2 linux/amd64");
    fake_tool(bin.path(), "kubectl", "Client Version: v1.35.0");

    // The default cluster pin wants kind 0.32: the 0.31 first on PATH is not used; the pin's
    // kind v0.32.0 is, downloaded and checked against the pin's sha256.
    let r = run(meshproof(MISSING_SOCKET, bin.path()).arg("doctor"));
    assert_eq!(r.code, 4);
    assert!(
        r.stdout
            .starts_with("cluster kind-v0.32.0 (clusters/kind-v0.32.0.yaml): kind >=0.32.0, <0.33.0, Kubernetes 1.36.1\nmesh none (meshes/none.yaml): helm optional\n"),
        "{}",
        r.stdout
    );
    let (status, detail) = check_line(&r.stdout, "kind").expect(&r.stdout);
    assert_eq!(status, "ok");
    assert!(
        detail.ends_with(&format!(
            "; kind on PATH: v0.31.0 at {} is outside >=0.32.0, <0.33.0",
            bin.path().join("kind").display()
        )),
        "{detail}"
    );
    assert_eq!(check_line(&r.stdout, "kubectl"), Some(("ok", "v1.35.0")));
    // helm is optional without a helm-installed mesh.
    let (helm, detail) = check_line(&r.stdout, "helm").unwrap();
    assert_eq!(helm, "warn");
    assert!(detail.starts_with("`helm` not found"), "{detail}");
    assert!(
        r.stderr.contains("preflight failed (1): docker-engine\n"),
        "{}",
        r.stderr
    );

    // The pin made for kind 0.31 accepts it; OSM is helm-installed, so helm is now required,
    // and OSM's Kubernetes range (<1.25) does not cover this pin's 1.35.0.
    let r = run(meshproof(MISSING_SOCKET, bin.path()).args([
        "doctor",
        "--cluster",
        "kind-v0.31.0",
        "--mesh",
        "osm",
    ]));
    assert_eq!(r.code, 4);
    assert!(r.stdout.contains(
        "\nmesh osm@1.2.4 (meshes/osm/1.2.4.yaml): helm required (installed with helm)\n"
    ));
    assert_eq!(
        check_line(&r.stdout, "kind"),
        Some((
            "ok",
            format!(
                "v0.31.0 at {} (on PATH, inside the pin's >=0.31.0, <0.32.0)",
                bin.path().join("kind").display()
            )
            .as_str()
        ))
    );
    assert_eq!(check_line(&r.stdout, "helm").unwrap().0, "FAIL");
    assert_eq!(
        check_line(&r.stdout, "mesh-kubernetes"),
        Some((
            "warn",
            "cluster kind-v0.31.0 runs Kubernetes 1.35.0; mesh osm@1.2.4 is known to work on >=1.22.9, <1.25"
        ))
    );
    assert!(
        r.stderr
            .contains("preflight failed (2): docker-engine, helm\n"),
        "{}",
        r.stderr
    );

    // With the Kubernetes 1.24 pin the mesh's range holds (kind 0.21 is then provided).
    let r = run(meshproof(MISSING_SOCKET, bin.path()).args([
        "doctor",
        "--cluster",
        "kind-v0.21.0-k8s-1.24",
        "--mesh",
        "osm@1.2.4",
    ]));
    assert_eq!(check_line(&r.stdout, "mesh-kubernetes").unwrap().0, "ok");
    assert_eq!(check_line(&r.stdout, "kind").unwrap().0, "ok");

    // An unknown pin is bad input (exit 2), before anything is checked.
    let r = run(meshproof(MISSING_SOCKET, bin.path()).args(["doctor", "--cluster", "nope"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("unknown cluster `nope`"), "{}", r.stderr);
    assert!(check_line(&r.stdout, "docker-engine").is_none());
}

#[test]
fn gc_without_engine_exits_4_with_root_cause() {
    let empty = tempfile::tempdir().unwrap();
    for args in [&["gc"][..], &["gc", "--yes"][..]] {
        let r = run(meshproof(MISSING_SOCKET, empty.path()).args(args));
        assert_eq!(r.code, 4, "{args:?}: {}", r.stderr);
        assert_eq!(
            r.stderr,
            format!("error: cannot reach the Docker engine at {MISSING_SOCKET}: {NO_SUCH_FILE} — start Docker or set DOCKER_HOST\n")
        );
        assert_eq!(r.stdout, "");
    }
}

#[tokio::test]
async fn doctor_against_the_real_engine() {
    let Some(engine) =
        meshproof_cluster::docker::engine_for_tests("doctor_against_the_real_engine").await
    else {
        return;
    };
    // An empty PATH: kind, kubectl and helm are all missing, whatever this machine has.
    let empty = tempfile::tempdir().unwrap();
    let r = run(meshproof(engine.host(), empty.path()).arg("doctor"));
    assert_eq!(r.code, 4, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);

    assert_eq!(
        check_line(&r.stdout, "docker-engine"),
        Some((
            "ok",
            format!(
                "reachable at {} (DOCKER_HOST; kind is run against the same engine)",
                engine.host()
            )
            .as_str()
        ))
    );
    assert!(fix_line(&r.stdout, "docker-engine").is_none());
    let info = engine.info().await.unwrap();
    let (_, version) = check_line(&r.stdout, "docker-version").expect(&r.stdout);
    assert!(
        version.starts_with(&format!(
            "engine {} (API {})",
            info.server_version, info.api_version
        )),
        "{version}"
    );
    for name in ["cgroups", "memory", "disk", "leftover-clusters"] {
        assert!(
            check_line(&r.stdout, name).is_some(),
            "{name}: {}",
            r.stdout
        );
    }

    assert!(check_line(&r.stdout, "inotify").is_some(), "{}", r.stdout);
    // No kind on PATH: the default pin's release is what the run would use.
    let (kind, detail) = check_line(&r.stdout, "kind").expect(&r.stdout);
    assert_eq!(kind, "ok");
    assert!(detail.ends_with("; kind on PATH: not found"), "{detail}");
    // kubectl is missing; cgroups fail only on a cgroup v1 host (Kubernetes 1.36 pin).
    let first_err = r.stderr.lines().next().unwrap();
    assert!(
        first_err.starts_with("error: preflight failed"),
        "{first_err}"
    );
    assert!(first_err.contains("kubectl"), "{first_err}");
    assert_eq!(
        first_err.contains("cgroups"),
        info.cgroup_version == "1",
        "{first_err}"
    );
    assert!(
        !first_err.contains("docker-engine"),
        "the engine answered: {first_err}"
    );
}

fn has_line(stdout: &str, want: &str) -> bool {
    stdout
        .lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == want)
}

#[tokio::test]
#[allow(clippy::await_holding_lock)] // common::engine_clusters_lock: a test-wide lock
async fn gc_lists_then_removes_only_meshproof_leftovers() {
    // `gc --yes` removes every meshproof leftover: not while another test's node exists.
    let _engine = crate::common::engine_clusters_lock();
    let Some(fx) = Fixture::new("gc_lists_then_removes_only_meshproof_leftovers").await else {
        return;
    };
    let host = fx.engine.host().to_string();
    let ours = test_cluster();
    let foreign = format!("kind-test-{}", unique());
    let ours_node = format!("{ours}-control-plane");
    let foreign_node = format!("{foreign}-control-plane");
    let a = fx.node(&ours, &ours_node, "control-plane").await;
    let f = fx.node(&foreign, &foreign_node, "control-plane").await;
    let fp = meshproof_cluster::guard::footprint(&fx.engine, &ours)
        .await
        .unwrap();
    assert_eq!(
        fp.volumes.len(),
        1,
        "the fake node has an anonymous /var volume"
    );
    let volume = &fp.volumes[0];
    let empty = tempfile::tempdir().unwrap();

    // Dry run: lists ours (with its container and volume), not the foreign one; removes nothing.
    let r = run(meshproof(&host, empty.path()).arg("gc"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        has_line(&r.stdout, &format!("{ours} (1 container(s), 1 volume(s))")),
        "{}",
        r.stdout
    );
    assert!(
        has_line(
            &r.stdout,
            &format!("container {ours_node} {} control-plane running", &a[..12])
        ),
        "{}",
        r.stdout
    );
    assert!(
        has_line(&r.stdout, &format!("volume {volume}")),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(&foreign), "{}", r.stdout);
    assert!(
        r.stdout
            .ends_with("dry run: nothing removed; run `meshproof gc --yes` to remove them\n"),
        "{}",
        r.stdout
    );
    assert!(fx.exists(&a).await, "a dry run must not remove anything");
    assert!(fx.exists(&f).await);

    // --yes: ours is removed with its volume, the non-meshproof kind container survives.
    let r = run(meshproof(&host, empty.path()).args(["gc", "--yes"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        has_line(&r.stdout, &format!("removed container {ours_node}")),
        "{}",
        r.stdout
    );
    assert!(
        has_line(&r.stdout, &format!("removed volume {volume}")),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(&foreign), "{}", r.stdout);
    assert!(!fx.exists(&a).await, "gc --yes must remove {ours_node}");
    assert!(
        fx.exists(&f).await,
        "the non-meshproof kind container must survive"
    );
    assert!(
        meshproof_cluster::guard::verify_gone(&fx.engine, &fp)
            .await
            .unwrap()
            .is_empty(),
        "nothing of {ours} may remain"
    );

    // Listing again: ours is gone (other meshproof-* leftovers may exist on a shared engine;
    // when there are none, gc says so).
    let r = run(meshproof(&host, empty.path()).arg("gc"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains(&ours), "{}", r.stdout);
    if !r.stdout.contains("leftover meshproof cluster(s):") {
        assert_eq!(
            r.stdout,
            format!("no leftover meshproof clusters (Docker engine at {host})\n")
        );
    }
}
