//! The probe's integration tests, as one test binary: the app over real loopback sockets
//! (`probe`), the binary as a real process (`binary`), the workload manifests and the
//! Dockerfile (`manifests`).

mod binary;
mod manifests;
mod probe;
