//! The integration tests of the `meshproof` crate, as one test binary (each `tests/*.rs` would be
//! a binary of its own linking the whole crate). One module per area; the shared fakes live in
//! `common` (the reference model of a mesh and the scripted suite backend around it, the fake
//! HTTP server, run-directory builders, test gates).
//!
//! Run one area with `cargo test --test it <module>::`, e.g. `cargo test --test it cli::`. Every
//! test here shares one process: a test must not change process-wide state (environment
//! variables, the working directory, signal handlers); give a child process what it needs
//! instead (`Command::env`, an explicit binary path).

mod common;

/// The Docker test fixture of the cluster crate's own tests (images from a busybox rootfs,
/// `meshproof-test-*` clusters removed on drop).
#[path = "../../crates/meshproof-cluster/tests/it/common/mod.rs"]
mod docker_fixture;

/// The Kubernetes layer's mock API server (`tower_test`), shared with the kube crate's tests.
#[path = "../../crates/meshproof-kube/tests/mock/api.rs"]
#[allow(dead_code)]
mod kube_mock;

mod addressing;
mod architecture;
mod bringup;
mod bundle;
mod cli;
mod cli_doctor_gc;
mod cli_ux;
mod contributing;
mod crd_schema;
mod diff;
mod e2e_run;
mod failed_create;
mod fuzz_seeds;
mod hostile;
mod install;
mod interop_python;
mod judge;
mod meshes;
mod outcome_classes;
mod outcomes;
mod packaging;
mod phase_timing;
mod pipeline;
mod plan_validation;
mod probe_traffic;
mod provenance;
mod registry;
mod runner;
mod site;
mod smoke;
mod spec_loading;
mod upstream_models;
