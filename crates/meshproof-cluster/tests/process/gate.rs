//! The Docker test gate and `DOCKER_HOST` handling (in the `process` binary: it changes
//! environment variables).

use meshproof_cluster::{docker, REQUIRE_DOCKER_ENV};

#[tokio::test]
async fn docker_host_is_honoured_and_the_gate_skips_or_fails() {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("unix://{}/absent.sock", dir.path().display());
    std::env::set_var("DOCKER_HOST", &host);
    assert_eq!(docker::docker_host(), host);

    let err = docker::connect().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot reach the Docker engine at {host}: No such file or directory (os error 2) — start Docker or set DOCKER_HOST")
    );

    std::env::remove_var(REQUIRE_DOCKER_ENV);
    assert!(
        docker::engine_for_tests("gate").await.is_none(),
        "skips without the env var"
    );

    std::env::set_var(REQUIRE_DOCKER_ENV, "1");
    let joined = tokio::spawn(async { docker::engine_for_tests("gate").await.is_some() }).await;
    let panic = joined
        .expect_err("must fail when MESHPROOF_REQUIRE_DOCKER=1")
        .into_panic();
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("MESHPROOF_REQUIRE_DOCKER=1 but no Docker engine answers"),
        "{msg}"
    );
    std::env::remove_var(REQUIRE_DOCKER_ENV);
    std::env::remove_var("DOCKER_HOST");
}
