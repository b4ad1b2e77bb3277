//! The cluster crate's integration tests that may share a process: the Docker layer against the
//! real engine (`docker_layer`) and the ignored end-to-end run on a real kind cluster
//! (`e2e_kind`). Tests that change process-wide state (environment, signal handlers) live in the
//! `process` binary instead.

mod common;

mod docker_layer;
mod e2e_kind;
